"""The attention's tanh (:mod:`verify.models.tanh`): values against tanh in extended
precision, its derivative against autograd's and torch.func's of torch's own tanh, and both
entry points equal bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from verify.models.tanh import tanh, tanh_values

#: ulp of the result allowed against tanh in long double: numpy's ufunc is within 1.4 ulp in
#: float32 and 1.2 in float64 on the recorded CPU; 2 leaves room for other SIMD builds
ULPS = 2.0
DTYPES = {np.float32: torch.float32, np.float64: torch.float64}


def arrays(dtype):
    """Values from subnormal through saturated, both signs, zeros and infinities."""
    return hnp.arrays(dtype, hnp.array_shapes(max_dims=3, max_side=6),
                      elements=st.floats(allow_nan=False, width=np.finfo(dtype).bits))


@pytest.mark.parametrize("dtype", list(DTYPES))
@given(data=st.data())
def test_values_within_two_ulp_of_extended_precision(dtype, data):
    x = data.draw(arrays(dtype))
    got = tanh(torch.from_numpy(x)).numpy()
    assert got.dtype == dtype and got.shape == x.shape
    want = np.tanh(x.astype(np.longdouble))
    ulp = np.spacing(np.abs(want).astype(dtype)).astype(np.longdouble)
    assert np.all(np.abs(got - want) <= ULPS * ulp)
    assert np.array_equal(np.signbit(got), np.signbit(x))  # odd: tanh(-0) = -0
    assert torch.equal(tanh_values(torch.from_numpy(x)), torch.from_numpy(got))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_any_shape_and_dtype(dtype):
    """A 0-d tensor gives a 0-d tensor; dtypes numpy lacks (bfloat16) take torch's tanh."""
    for x in (torch.tensor(0.5, dtype=dtype), torch.linspace(-2, 2, 6, dtype=dtype)[::2]):
        got = tanh(x)
        assert got.dtype == dtype and got.shape == x.shape
        assert torch.allclose(got.double(), torch.tanh(x.double()), rtol=1e-2 if
                              dtype == torch.bfloat16 else 1e-6, atol=0)


def test_special_values():
    x = torch.tensor([np.inf, -np.inf, np.nan, 0.0, -0.0, 20.0], dtype=torch.float64)
    got = tanh(x)
    assert got[:2].tolist() == [1.0, -1.0] and bool(got[2].isnan())
    assert got[3].item() == 0.0 and got[4].item() == 0.0 and bool(got[4].signbit())
    assert got[5].item() == 1.0


@given(hnp.arrays(np.float64, st.tuples(st.integers(1, 4), st.integers(1, 4)),
                  elements=st.floats(-4, 4)))
def test_derivatives_equal_those_of_torch_tanh(x):
    """Reverse mode (autograd, batched gradients, jacrev) and forward mode (jacfwd) against
    torch's tanh on the same inputs (float64; 1e-15: the values differ by <= 2 ulp)."""
    x = torch.from_numpy(x)
    W = torch.linspace(-1, 1, x.shape[1] ** 2, dtype=torch.float64).view(x.shape[1], -1)
    ours, theirs = (lambda z: tanh(z @ W)), (lambda z: torch.tanh(z @ W))
    for jac in (torch.func.jacrev, torch.func.jacfwd):
        np.testing.assert_allclose(jac(ours)(x), jac(theirs)(x), rtol=0, atol=1e-15)
    xr = x.clone().requires_grad_(True)
    basis = torch.eye(x.numel(), dtype=x.dtype).view(-1, *x.shape)
    got, want = (torch.autograd.grad(f(xr), xr, basis, is_grads_batched=True)[0]
                 for f in (ours, theirs))
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-15)
    # under vmap, over either dimension, it is torch's tanh
    for dim in (0, 1):
        np.testing.assert_allclose(torch.func.vmap(tanh, in_dims=dim)(x),
                                   torch.tanh(x.movedim(dim, 0)), rtol=0, atol=1e-15)


def test_gradcheck():
    x = torch.linspace(-3, 3, 7, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(tanh, (x,)) and torch.autograd.gradgradcheck(tanh, (x,))
    assert not tanh_values(x).requires_grad


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here")
def test_cuda_is_torch_tanh():
    x = torch.randn(5, 7, device="cuda", dtype=torch.float64)
    assert torch.equal(tanh(x), torch.tanh(x)) and torch.equal(tanh_values(x), torch.tanh(x))
