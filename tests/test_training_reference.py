"""A short training run checked step by step against an independent loop written here:
cross-entropy over every step, global-norm gradient clipping at 1 and RMSprop (alpha 0.99,
eps 1e-8) written out, on the same initial weights and batches (THEORY.md section 8)."""

from __future__ import annotations

import math

import pytest
import torch

from verify.training import Config, build, load, tasks, train

RMS_ALPHA, EPS, CLIP = 0.99, 1e-8, 1.0


def manual_steps(cfg: Config, steps: int) -> tuple[dict[str, torch.Tensor], list[float]]:
    """Parameters after ``steps`` updates, and the unclipped gradient norm of each step."""
    model = build(cfg)
    params = dict(model.named_parameters())
    square = {k: torch.zeros_like(p) for k, p in params.items()}
    gen = torch.Generator().manual_seed(cfg.seed)
    norms = []
    for _ in range(steps):
        x, y = tasks.batch(cfg.task, cfg.T, cfg.batch, gen, dtype=torch.float64)
        logits, _ = model(x)
        log_norm = torch.logsumexp(logits, dim=-1)
        picked = logits.gather(-1, y.unsqueeze(-1)).squeeze(-1)
        loss = (log_norm - picked).mean()
        grads = torch.autograd.grad(loss, list(params.values()))
        total = math.sqrt(sum(float((g ** 2).sum()) for g in grads))
        norms.append(total)
        scale = min(1.0, CLIP / (total + 1e-6))
        with torch.no_grad():
            for (k, p), g in zip(params.items(), grads, strict=True):
                g = g * scale
                square[k] = RMS_ALPHA * square[k] + (1 - RMS_ALPHA) * g * g
                p -= cfg.lr * g / (square[k].sqrt() + EPS)
    return {k: p.detach() for k, p in params.items()}, norms


@pytest.mark.parametrize("name", ["rnn", "relrnn", "lstm"])
def test_training_matches_an_independent_loop(name, tmp_path):
    """float64; after 1 and 3 steps the weights agree to 1e-12 relative (a few rounding
    differences in summation order, amplified by at most 3 RMSprop steps). A large learning
    rate makes some step's gradient norm exceed the clipping threshold, so clipping is
    exercised."""
    cfg = Config(task="copy", model=name, T=10, hidden=6, nu=3, rho=2, lr=0.3, batch=3,
                 dtype="float64")
    for steps in (1, 3):
        want, norms = manual_steps(cfg, steps)
        train(cfg, steps, save=tmp_path / f"{steps}.pt", progress=False)
        got = load(tmp_path / f"{steps}.pt")["model"]
        assert got.keys() == want.keys()
        for k, w in want.items():
            err = float((got[k] - w).abs().max()) / float(w.abs().max())
            assert err <= 1e-12, (steps, k, err)
    assert max(norms) > CLIP


def test_task_sizes_are_theory_section_8():
    """Pinned literals, not read from the code under test: copy has 10 input symbols and 9
    classes with marker 9; denoise 11 input symbols and 10 classes with marker 10; K = 10; the
    reference nu, rho per task."""
    copy, denoise = tasks.get("copy"), tasks.get("denoise")
    assert (copy.inputs, copy.classes, copy.marker, copy.nu, copy.rho) == (10, 9, 9, 10, 15)
    assert (denoise.inputs, denoise.classes, denoise.marker, denoise.nu, denoise.rho) == (
        11, 10, 10, 15, 15)
    assert tasks.K == 10 and tasks.sequence_length(100) == 120
    x, y = tasks.batch("denoise", 12, 2, torch.Generator().manual_seed(0))
    assert x.shape == (2, 32, 11) and int(y.max()) <= 9
    assert Config(task="denoise").nu == 15 and Config(task="copy").nu == 10
