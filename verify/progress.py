"""Progress of long loops, shown on stderr by the commands (light at import: standard library
only).

A loop over many steps (the time steps of a forward or backward pass, the blocks of the
adjoint, the chunks of the norms) takes an optional ``tick``: a callable given the number of
steps done since its last call, typically a tqdm bar's ``update``. The loop calls it about
:data:`TICKS` times in all (every :func:`period` steps, and once more for the rest), never
every step, so that the cost of the calls stays negligible against the loop's.
"""

from __future__ import annotations

from collections.abc import Callable

#: Calls of a tick per loop: about every 1% of its steps.
TICKS = 100

#: ``tick(steps)``: ``steps`` more steps of a loop are done.
Tick = Callable[[int], None]


def period(total: int) -> int:
    """Steps between two ticks of a loop over ``total`` steps (at least 1)."""
    return max(1, int(total) // TICKS)


class Batched:
    """A tick that passes steps on to ``tick`` in batches of at least ``period(total)``:
    for loops whose own steps are uneven (blocks, chunks). :meth:`flush` passes the rest."""

    def __init__(self, tick: Tick, total: int) -> None:
        self.tick, self.every, self.pending = tick, period(total), 0

    def __call__(self, steps: int = 1) -> None:
        self.pending += steps
        if self.pending >= self.every:
            self.tick(self.pending)
            self.pending = 0

    def flush(self) -> None:
        """Pass on the steps not yet passed."""
        if self.pending:
            self.tick(self.pending)
            self.pending = 0
