"""The one rollout (verify/models/rollout.py) keeps the backward pass linear in T for every
model of the zoo: inputs and probes are split along time once, never sliced step by step.

A per-step slice ``x[:, t]`` of a time-indexed tensor costs nothing forward, but its backward
node materialises a gradient of the full size of ``x`` (zeros but one step), once per step:
O(T^2) work and traffic. Checked on the autograd graph of ``model(x, probe=p).h.sum()`` at
T and 2T, not on time: (1) the view nodes (select, slice, unbind, index, ...) whose input
has a time dimension are O(1) in number, not one per step; (2) the bytes of the gradients
that view nodes produce in backward at most double (<= 2.2x) from T to 2T; (3) the bytes of
the tensors saved for backward at most double as well (full attention, memrnn, excepted: it
saves its t attended states at every step t, O(T^2) by construction, so there the bound is
quadratic, <= 4.4x).

The training path (``trace=False``, no probe) of the models the fused path of
:mod:`verify.models.fused` takes keeps its own tape outside autograd's saved tensors: there the
same bounds hold for the saved bytes plus the tape's (:func:`verify.models.fused.kept_tensors`,
itself checked against a walk of every tape's fields).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pytest
import torch
from torch.autograd.graph import Node

from verify.models import MODELS, build, fused

T0, BATCH, INPUTS, HIDDEN, NU, RHO = 50, 2, 3, 4, 3, 2  # no size but time equals T or T+1
VIEWS = re.compile(r"(Select|Slice|Unbind|Index|AsStrided|Narrow|Split|Chunk|Gather|Diagonal)")
QUADRATIC = {"memrnn"}


def nodes(root: Node) -> list[Node]:
    """Every node of the autograd graph below ``root``."""
    seen, todo = {root}, [root]
    while todo:
        for child, _ in todo.pop().next_functions:
            if child is not None and child not in seen:
                seen.add(child)
                todo.append(child)
    return list(seen)


@contextmanager
def saved_bytes() -> Iterator[list[int]]:
    """``[bytes]`` that autograd saves for backward within the block (filled in as it runs)."""
    saved = [0]

    def pack(t: torch.Tensor) -> torch.Tensor:
        saved[0] += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        yield saved


def watch_views(root: Node, T: int) -> list[int]:
    """[view nodes whose gradient has a time dimension, bytes of the gradients view nodes
    produce], filled in by hooks on the graph below ``root`` as its backward runs."""
    counts = [0, 0]

    def hook(grad_inputs: tuple, _: tuple) -> None:
        grads = [g for g in grad_inputs if g is not None]
        counts[1] += sum(g.numel() * g.element_size() for g in grads)
        counts[0] += any(set(g.shape) & {T, T + 1} for g in grads)

    for node in nodes(root):
        if VIEWS.search(type(node).__name__):
            node.register_hook(hook)
    return counts


def backward_profile(name: str, T: int) -> tuple[int, int, int]:
    """(view nodes whose input has a time dimension, bytes of the gradients view nodes
    produce in backward, bytes saved for backward) for one forward/backward with a probe."""
    model = build(name, INPUTS, hidden=HIDDEN, nu=NU, rho=RHO, dtype=torch.float64)
    x = torch.as_tensor(np.random.default_rng(T).standard_normal((BATCH, T, INPUTS)))
    probe = x.new_zeros(BATCH, T + 1, HIDDEN, requires_grad=True)
    with saved_bytes() as saved:
        out = model(x, probe=probe).h.sum()
    views = watch_views(out.grad_fn, T)
    out.backward()
    assert probe.grad is not None and torch.isfinite(probe.grad).all()
    return views[0], views[1], saved[0]


@pytest.mark.parametrize("name", MODELS)
def test_backward_is_linear_in_T(name):
    (timed1, grads1, saved1), (timed2, grads2, saved2) = (backward_profile(name, T)
                                                          for T in (T0, 2 * T0))
    assert timed1 == timed2 <= 4, f"{name}: view nodes on time-indexed tensors {timed1, timed2}"
    assert grads2 <= 2.2 * grads1, f"{name}: view-gradient bytes x{grads2 / grads1:.2f}"
    bound = 4.4 if name in QUADRATIC else 2.2
    assert saved2 <= bound * saved1, f"{name}: saved bytes x{saved2 / saved1:.2f}"


def walk(obj: object) -> Iterator[torch.Tensor]:
    """Every tensor that ``obj`` holds in its dataclass fields, lists and tuples."""
    if isinstance(obj, torch.Tensor):
        yield obj
    elif dataclasses.is_dataclass(obj):
        for f in dataclasses.fields(obj):
            yield from walk(getattr(obj, f.name))
    elif isinstance(obj, list | tuple):
        for item in obj:
            yield from walk(item)


def training_profile(name: str, T: int) -> tuple[int, int, int]:
    """(view nodes whose input has a time dimension, bytes saved by autograd plus kept on the
    fused path's tapes, fused nodes) for one untraced forward/backward."""
    model = build(name, INPUTS, hidden=HIDDEN, nu=NU, rho=RHO, dtype=torch.float64)
    x = torch.as_tensor(np.random.default_rng(T).standard_normal((BATCH, T, INPUTS)))
    with saved_bytes() as saved:
        out = model(x, trace=False).h.sum()
    tapes = [node.tape for node in nodes(out.grad_fn) if getattr(node, "tape", None) is not None]
    kept = fused.kept_tensors(out)
    assert sorted(map(id, kept)) == sorted(id(t) for tape in tapes for t in walk(tape))
    views = watch_views(out.grad_fn, T)
    out.backward()
    return views[0], saved[0] + sum(t.numel() * t.element_size() for t in kept), len(tapes)


@pytest.mark.parametrize("name", MODELS)
def test_training_path_backward_is_linear_in_T(name):
    (timed1, kept1, tapes1), (timed2, kept2, tapes2) = (training_profile(name, T)
                                                        for T in (T0, 2 * T0))
    plain_lstm = name == "lstm"  # torch's own multi-step LSTM: autograd's saved tensors
    assert tapes1 == tapes2 == (0 if plain_lstm else 1), name
    assert timed1 == timed2 <= 4, f"{name}: view nodes on time-indexed tensors {timed1, timed2}"
    bound = 4.4 if name in QUADRATIC else 2.2
    assert kept2 <= bound * kept1, f"{name}: kept bytes x{kept2 / kept1:.2f}"
    assert kept2 >= 1.8 * kept1, f"{name}: kept bytes x{kept2 / kept1:.2f} (at least linear)"
