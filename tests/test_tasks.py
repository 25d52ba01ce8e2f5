"""The copy and denoise tasks exactly as THEORY.md section 8 lays them out, checked position by
position on seeded batches; their loss and accuracy windows."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from verify.training import tasks


def draw(task: str, T: int, size: int, seed: int):
    return tasks.batch(task, T, size, torch.Generator().manual_seed(seed))


@given(st.sampled_from(["copy", "denoise"]), st.integers(10, 60), st.integers(1, 5),
       st.integers(0, 2**31))
def test_layout(task, T, size, seed):
    x, y = draw(task, T, size, seed)
    spec, L = tasks.get(task), T + 20
    assert x.shape == (size, L, spec.inputs) and y.shape == (size, L)
    assert x.dtype == torch.float32 and y.dtype == torch.long
    assert torch.equal(x.sum(-1), torch.ones(size, L))
    sym = x.argmax(-1)
    for b in range(size):
        s, t = sym[b].tolist(), y[b].tolist()
        if task == "copy":
            assert all(1 <= v <= 8 for v in s[:10])
            assert s[10:T + 9] == [0] * (T - 1)
            seq = s[:10]
        else:
            noise = s[:T + 9]
            seq = [v for v in noise if v]
            assert len(seq) == 10 and all(1 <= v <= 8 for v in seq)
        assert s[T + 9] == spec.marker and s[T + 10:] == [0] * 10
        assert t[:T + 10] == [0] * (T + 10) and t[T + 10:] == seq
        assert max(t) < spec.classes


@pytest.mark.parametrize(("task", "sizes"), [("copy", (10, 9, 9, 10, 15)),
                                             ("denoise", (11, 10, 10, 15, 15))])
def test_sizes_are_theory_section_8s(task, sizes):
    """One-hot inputs, output classes, marker and the reference nu, rho as THEORY.md section 8
    states them, and the batch's one-hot width and the classifier's outputs follow them."""
    from verify.training.config import Config, build

    spec = tasks.get(task)
    assert (spec.inputs, spec.classes, spec.marker, spec.nu, spec.rho) == sizes
    x, _ = draw(task, 12, 2, 0)
    assert x.shape[-1] == sizes[0]
    model = build(Config(task=task, model="rnn", T=12, hidden=4))
    logits, _ = model(x)
    assert logits.shape == (2, 32, sizes[1])


def test_seeds_and_spread():
    a, b = draw("denoise", 30, 4, 7), draw("denoise", 30, 4, 7)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], draw("denoise", 30, 4, 8)[0])
    x64, _ = tasks.batch("copy", 30, 4, torch.Generator().manual_seed(7), dtype=torch.float64)
    assert torch.equal(x64.float(), draw("copy", 30, 4, 7)[0])
    # Denoise positions cover all of the first T + 9 steps and nothing after them.
    x, _ = draw("denoise", 20, 200, 0)
    hits = (x.argmax(-1) > 0).sum(0)
    assert (hits[:29] > 0).all() and hits[:29].sum() == 2000 and hits[29] == 200
    # Symbols cover 1..8.
    assert set(x.argmax(-1)[:, :29].unique().tolist()) == set(range(9))


def test_loss_and_accuracy_windows():
    _, y = draw("copy", 12, 3, 0)
    uniform = torch.zeros(3, 32, 9)
    assert tasks.loss(uniform, y).item() == pytest.approx(math.log(9))
    perfect = torch.nn.functional.one_hot(y, 9).float()
    assert tasks.accuracy(perfect, y).item() == 1.0
    wrong_tail = perfect.clone()
    wrong_tail[:, -10:] = perfect[:, -10:].roll(1, dims=-1)
    assert tasks.accuracy(wrong_tail, y).item() == 0.0
    wrong_head = perfect.clone()
    wrong_head[:, :-10] = perfect[:, :-10].roll(1, dims=-1)
    assert tasks.accuracy(wrong_head, y).item() == 1.0


@pytest.mark.parametrize("T, message", [(9, "'T' must be an integer >= K = 10, got 9"),
                                        (0, "'T' must be an integer >= K = 10, got 0"),
                                        (-3, "'T' must be an integer >= K = 10, got -3"),
                                        (10.5, "'T' must be an integer"),
                                        ("12", "'T' must be an integer >= K = 10, got '12'"),
                                        (True, "'T' must be an integer >= K = 10, got True")])
def test_bad_T(T, message):
    with pytest.raises(ValueError, match=message):
        draw("copy", T, 2, 0)


def test_unknown_task_and_bad_batch():
    with pytest.raises(ValueError, match="parameter 'task': unknown task 'add'; known: copy, "
                                         "denoise"):
        draw("add", 20, 2, 0)
    with pytest.raises(ValueError, match="parameter 'task': unknown task \\['add'\\]"):
        draw(["add"], 20, 2, 0)  # unhashable: no TypeError from the lookup
    with pytest.raises(ValueError, match="parameter 'size' must be an integer >= 1"):
        draw("copy", 20, 0, 0)


@pytest.mark.parametrize("generator", [0, None, np.random.default_rng(0), "seed"])
def test_a_generator_that_is_not_torch_s_is_refused_by_name(generator):
    for call in (lambda: tasks.batch("copy", 20, 2, generator),
                 lambda: tasks.symbols("denoise", 20, 2, generator)):
        with pytest.raises(ValueError, match="parameter 'generator' must be a torch.Generator "
                                             "on the CPU"):
            call()


@pytest.mark.parametrize("dtype", ["float32", torch.int64, torch.bool, None])
def test_a_dtype_that_is_not_a_floating_torch_dtype_is_refused_by_name(dtype):
    with pytest.raises(ValueError, match="parameter 'dtype' must be a floating torch.dtype"):
        tasks.batch("copy", 20, 2, torch.Generator().manual_seed(0), dtype=dtype)
