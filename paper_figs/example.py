"""Exploring from a script (the README's example, step for step): a bound over a parameter grid,
plotted in one call; a network measured, its verdicts printed and plotted.

    python -m paper_figs.example OUT_DIR

writes ``b5_grid.png``, ``measured.png`` and ``b6_verdict.png`` into OUT_DIR (an existing
folder; anything else is refused in one line, exit status 2).
"""

import sys
from pathlib import Path

import torch

from bounds import get, patterns
from bounds.explore import grid
from verify import controlled, measure


def main(out: str) -> None:
    """The README's example, writing into the folder ``out`` (a ValueError unless it is an
    existing folder)."""
    folder = Path(out)
    if not folder.is_dir():
        raise ValueError(f"parameter 'out' must be an existing folder, got {out!r}")
    # B5, (gamma mu / kappa)^d, over kappa = 1..32 for d in {1, 2, 4}
    g = grid(get("sparse_lower"), kappa=range(1, 33), d=[1, 2, 4], gamma=0.5, mu=0.9)
    print(f"B5 at kappa = 8, d = 2: {g.select(kappa=8, d=2).values:.3g}")
    g.plot(x="kappa", lines="d").savefig(folder / "b5_grid.png")

    # a tanh network with V = 0.9 I and a window of 8, measured over T = 64 steps
    model = controlled("identity", 8, 8, "tanh", scale=0.9, input_scale=0.5,
                       pattern=patterns.window(64, 8))
    x = torch.randn(1, 64, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    m = measure(model, x)
    for v in m.verdicts.values():
        print(v.summary())
    m.plot(folder / "measured.png")                            # every applicable bound
    m.verdicts["window_lower"].plot(folder / "b6_verdict.png")  # B6 and its margin


if __name__ == "__main__":
    try:
        main(sys.argv[1] if len(sys.argv) > 1 else ".")
    except ValueError as err:
        print(f"python -m paper_figs.example: {err}", file=sys.stderr)
        sys.exit(2)
