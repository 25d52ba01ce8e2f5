"""Batched norms (THEORY.md section 5) against numpy's SVD of the same matrices (generic
non-symmetric ones), against the singular values an ill-conditioned matrix was built from,
on zero, subnormal and huge matrices, with carried log10 scales far outside the float
range."""

from __future__ import annotations

import importlib
import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from verify.measurement.norms import norms

U = float(np.finfo(np.float64).eps) / 2
KEYS = ("norm2", "fro", "sigma_min")


def haar(rng: np.random.Generator, n: int) -> np.ndarray:
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    return q * np.sign(np.diag(r))


def numpy_reference(X: np.ndarray, scale: np.ndarray) -> dict[str, np.ndarray]:
    """log10 of numpy's singular values of X (float64), plus the scale."""
    sv = np.linalg.svd(X.astype(np.float64), compute_uv=False)
    with np.errstate(divide="ignore"):
        return {"norm2": np.log10(sv[:, 0]) + scale,
                "fro": np.log10(np.sqrt(np.sum(sv**2, axis=1))) + scale,
                "sigma_min": np.log10(sv[:, -1]) + scale}, sv


def assert_matches_svd(X: np.ndarray, got: dict[str, np.ndarray] | None = None
                       ) -> dict[str, np.ndarray]:
    """Against numpy's SVD of X as given: ||X||_2 within 8 n u relative and sigma_min within
    8 n u ||X||_2 absolute (a backward-stable SVD's accuracy, on both sides); ||X||_F within
    (n^2 + 2) u relative. Compared as log10, where a relative error r is r / ln 10, plus the
    rounding of the two logarithms. Linear and log10 values agree. ``got``: the norms of X
    measured otherwise (default: ``norms(X)``)."""
    n = X.shape[-1]
    got = norms(X, np.zeros(len(X))) if got is None else got
    ref, sv = numpy_reference(X, np.zeros(len(X)))
    live = sv[:, 0] > 0
    assert np.all(np.isneginf(got["log10_norm2"][~live]))
    rel = {"norm2": np.full(live.sum(), 8 * n * U),
           "fro": np.full(live.sum(), (n * n + 2) * U),
           "sigma_min": 8 * n * U * sv[live, 0] / sv[live, -1]}
    for k in KEYS:
        want = ref[k][live]
        err = np.abs(got[f"log10_{k}"][live] - want)
        np.testing.assert_array_less(err, rel[k] / math.log(10) + 4 * U * (np.abs(want) + 1))
        np.testing.assert_array_equal(got[k], 10.0 ** got[f"log10_{k}"])
    return got


@given(st.integers(1, 6), st.integers(1, 9), st.integers(0, 2**31),
       st.floats(-4e4, 300.0))
def test_generic_matrices_match_numpy_svd(T, n, seed, shift):
    """Gaussian non-symmetric matrices; with carried scales from 10^-40000 to 10^300 the log10
    values shift by exactly the scale (to the rounding of one addition, 2u |scale|)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((T, n, n))
    plain = assert_matches_svd(X)
    scale = shift + rng.uniform(-5, 5, T)
    got = norms(X, scale)
    for k in KEYS:
        np.testing.assert_allclose(got[f"log10_{k}"], plain[f"log10_{k}"] + scale, rtol=0,
                                   atol=4 * U * (np.abs(scale).max() + 10))
    assert np.all(np.isfinite(got["log10_norm2"]))
    if shift < -400:
        assert np.all(got["norm2"] == 0.0)  # the linear value underflows, the log10 does not


@given(st.integers(1, 3), st.integers(0, 200), st.integers(2, 8), st.integers(0, 2**31))
def test_threads_split_the_batches_without_changing_a_bit(threads, extra, n, seed):
    """On the CPU the batches go to as many threads as torch has: every value equals one
    thread's, in the matrices' order (a batch taken out of turn would put another matrix's
    norms there), with T spanning one batch to several and a ragged last one."""
    from verify.measurement.norms import CHUNK_ENTRIES
    T = CHUNK_ENTRIES // n**2 * (extra % 3) + extra
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((T, n, n)) * rng.uniform(0.1, 10.0, (T, 1, 1))
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = norms(X, np.zeros(T))
        torch.set_num_threads(threads)
        many = norms(X, np.zeros(T))
    finally:
        torch.set_num_threads(before)
    for k in one:
        np.testing.assert_array_equal(many[k], one[k])
    if T:
        np.testing.assert_array_less(np.abs(one["log10_norm2"] - numpy_reference(
            X, np.zeros(T))[0]["norm2"]), 1e-12)


@given(st.integers(2, 12), st.floats(0.0, 15.0), st.integers(0, 2**31))
def test_ill_conditioned_matrices_have_their_singular_values(n, log_kappa, seed):
    """``P diag(sigma) Q^T`` with sigma log-spaced from 1 to 10^-log_kappa (kappa up to
    10^15), against the sigma it was built from: ||X||_2 within 16 n u relative, sigma_min
    within 16 n u absolute (building X rounds it by about n u ||X||_2, the SVD as much again)."""
    rng = np.random.default_rng(seed)
    sigma = np.logspace(0, -log_kappa, n)
    X = np.stack([haar(rng, n) @ np.diag(sigma) @ haar(rng, n).T for _ in range(3)])
    got = norms(X, np.zeros(3))
    np.testing.assert_allclose(got["norm2"], 1.0, rtol=16 * n * U)
    np.testing.assert_allclose(got["sigma_min"], sigma[-1], rtol=0, atol=16 * n * U)
    np.testing.assert_allclose(got["fro"], np.linalg.norm(sigma), rtol=(n * n + 16 * n) * U)


def test_extreme_entries_zero_and_singular_matrices():
    """A zero matrix is -inf everywhere (linear 0); a subnormal one (1e-310) and a huge one
    (1e300) are measured as exactly as an O(1) one (the power-of-two rescaling is exact);
    a rank-deficient one has a sigma_min at SVD noise level, never above 8 n u ||X||."""
    rng = np.random.default_rng(1)
    Z = rng.standard_normal((2, 5, 5))
    base = rng.standard_normal((4, 5))
    base = np.concatenate([base, base[:1]])  # rank 4
    X = np.stack([np.zeros((5, 5)), Z[0] * 1e-310, Z[1] * 1e300, base])
    got = norms(X, np.zeros(4))
    for k in KEYS:
        assert got[f"log10_{k}"][0] == -np.inf and got[k][0] == 0.0
    # subnormal entries keep ~44 bits, so 1e-12 in log10 (also against the rounding of 1e300)
    want, _ = numpy_reference(Z, np.array([-310.0, 300.0]))
    for i in (1, 2):
        for k in KEYS:
            np.testing.assert_allclose(got[f"log10_{k}"][i], want[k][i - 1], rtol=0, atol=1e-12)
    assert got["sigma_min"][3] <= 8 * 5 * U * got["norm2"][3]


def test_float32_mantissa_is_measured_as_given():
    """A float32 M is measured in float64, exactly as stored (against numpy on its upcast)."""
    rng = np.random.default_rng(2)
    X = rng.standard_normal((5, 7, 7)).astype(np.float32)
    got = assert_matches_svd(X)
    assert np.all(np.isfinite(got["log10_sigma_min"]))


def test_tensor_inputs_and_minus_inf_scale():
    """A tensor M and a tensor scale; a scale of -inf (G_t = 0 carried by the scale) is -inf."""
    M = torch.eye(3, dtype=torch.float64).repeat(2, 1, 1) * 0.5
    got = norms(M, torch.tensor([-2.0, -math.inf], dtype=torch.float64))
    np.testing.assert_allclose(got["log10_norm2"][0], math.log10(0.5) - 2, rtol=1e-15)
    np.testing.assert_allclose(got["log10_fro"][0], math.log10(0.5 * math.sqrt(3)) - 2,
                               rtol=1e-15)
    assert all(got[f"log10_{k}"][1] == -np.inf and got[k][1] == 0.0 for k in KEYS)


@pytest.mark.parametrize(("M", "scale", "name"), [
    (np.zeros((2, 3)), np.zeros(2), "M"),
    (np.zeros((2, 3, 4)), np.zeros(2), "M"),
    (np.zeros((2, 3, 3), dtype=np.int64), np.zeros(2), "M"),
    (np.zeros((2, 3, 3)), np.zeros(3), "log10_scale"),
    (np.zeros((2, 3, 3)), np.array([0.0, np.nan]), "log10_scale"),
    (np.zeros((2, 3, 3)), np.array([0.0, np.inf]), "log10_scale"),
    (10**30, np.zeros(2), "M"),  # no array at all: torch cannot hold it, or it is no number
    ("x", np.zeros(2), "M"),
    (None, np.zeros(2), "M"),
    (np.zeros((2, 3, 3)), "x", "log10_scale"),
    (np.zeros((2, 3, 3)), None, "log10_scale"),
    (np.zeros((2, 3, 3)), [10**30, 0], "log10_scale"),
    (np.zeros((2, 3, 3)), np.array([True, False]), "log10_scale"),
])
def test_bad_input_is_refused(M, scale, name):
    with pytest.raises(ValueError, match=f"parameter '{name}'"):
        norms(M, scale)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available here")
def test_cuda_matches_cpu():
    """torch's SVD on the device against LAPACK's on the host, within both SVDs' accuracy."""
    rng = np.random.default_rng(3)
    n = 6
    X = torch.as_tensor(np.stack([haar(rng, n) @ np.diag(np.logspace(0, -k, n)) @ haar(rng, n).T
                                  for k in range(12)]))
    scale = np.linspace(-500, 0, 12)
    cpu, gpu = norms(X, scale), norms(X.cuda(), scale)
    for k in ("norm2", "fro"):
        np.testing.assert_allclose(gpu[f"log10_{k}"], cpu[f"log10_{k}"], rtol=0, atol=1e-13)
    kappa = 10.0 ** np.arange(12)
    np.testing.assert_array_less(np.abs(gpu["log10_sigma_min"] - cpu["log10_sigma_min"]),
                                 16 * n * U * kappa / math.log(10) + 1e-13)


@given(st.integers(2, 8), st.integers(1, 6), st.integers(0, 2**31),
       st.lists(st.sampled_from(["inf", "-inf", "nan", "both"]), min_size=1, max_size=3))
def test_non_finite_matrices_are_reported_not_refused(T, n, seed, kinds):
    """Matrices with an inf entry (an overflowed measurement) give norms inf and sigma_min
    nan, with a nan entry nan for all three; the finite ones beside them are numpy's SVD
    values exactly as without the bad ones (no SVD of the bad ones is taken)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((T, n, n))
    bad = rng.choice(T, size=min(len(kinds), T - 1), replace=False)
    for i, kind in zip(bad, kinds, strict=False):
        r, c = rng.integers(n, size=2)
        X[i, r, c] = {"inf": np.inf, "-inf": -np.inf, "nan": np.nan, "both": np.inf}[kind]
        if kind == "both":
            X[i, (r + 1) % n, c] = np.nan
    got = norms(X, np.zeros(T))
    good = np.setdiff1d(np.arange(T), bad)
    want = norms(X[good], np.zeros(len(good)))
    nan = np.isnan(X).any(axis=(1, 2))
    for k in KEYS:
        np.testing.assert_array_equal(got[f"log10_{k}"][good], want[f"log10_{k}"])
        assert np.isnan(got[f"log10_{k}"][nan]).all()
    inf = np.isin(np.arange(T), bad) & ~nan
    assert (got["log10_norm2"][inf] == np.inf).all() and (got["fro"][inf] == np.inf).all()
    assert np.isnan(got["sigma_min"][inf]).all()


@given(st.integers(2, 40), st.integers(1, 6), st.integers(0, 2**31))
def test_step_jacobians_of_one_matrix_are_measured_once_and_alike(T, n, seed):
    """diag(d) V with the same d at every step (a linear cell) takes one SVD; its norms are
    those of the dense J_k (4 u relative: one batch or another may sum the Frobenius norm in
    another order). A d that differs at one step, even by one ulp, is measured step by step."""
    from verify.measurement.norms import _one_matrix
    from verify.models.jacobians import DiagTimes

    rng = np.random.default_rng(seed)
    V = torch.as_tensor(rng.standard_normal((n, n)))
    d = torch.as_tensor(rng.uniform(0.5, 1.5, n)).expand(T, n).clone()
    J = DiagTimes(d, V)
    assert _one_matrix(J)
    got, dense = norms(J, np.zeros(T)), norms(J.dense(), np.zeros(T))
    for k in KEYS:
        np.testing.assert_allclose(got[f"log10_{k}"], dense[f"log10_{k}"], rtol=4 * U,
                                   atol=4 * U)
    d[-1, 0] = np.nextafter(d[-1, 0].item(), 2.0)
    assert not _one_matrix(DiagTimes(d, V))
    d[-1] *= 2.0
    got, dense = norms(DiagTimes(d, V), np.zeros(T)), norms(DiagTimes(d, V).dense(),
                                                            np.zeros(T))
    np.testing.assert_allclose(got["log10_norm2"], dense["log10_norm2"], rtol=4 * U, atol=4 * U)
    assert got["log10_norm2"][-1] > got["log10_norm2"][0] + 0.2  # (2 d) V: norm about x2


def _no_svd(*args, **kwargs):
    raise AssertionError("an SVD was taken")


@given(st.integers(1, 8), st.integers(1, 10), st.integers(0, 2**31),
       st.sampled_from(["identity", "orthogonal"]), st.floats(-250.0, 250.0),
       st.floats(-280.0, 0.0))
def test_orthogonal_rows_take_no_svd_and_match_it(T, n, seed, kind, log10_c, log10_tiny):
    """diag(d_k) c Q with Q orthogonal (the identity and orthogonal spectra) has singular
    values c |d_k|: no SVD is taken (one would raise here); the norms are c max |d|, c min
    |d| and c ||d|| (-inf for a zero row) in log10 to 8 n u everywhere (c of 10^+-250, d in
    [0, 1] with zeros and entries down to 10^-280), and where the dense J_k and their
    squares are representable, numpy's SVD of them within its own accuracy
    (assert_matches_svd)."""
    from verify.models.jacobians import DiagTimes

    rng = np.random.default_rng(seed)
    Q = np.eye(n) if kind == "identity" else haar(rng, n)
    d = rng.uniform(0.0, 1.0, (T, n))
    d[rng.random((T, n)) < 0.2] = 0.0
    d[rng.random((T, n)) < 0.2] *= 10.0 ** log10_tiny
    c = 10.0 ** log10_c
    J = DiagTimes(torch.as_tensor(d), torch.as_tensor(c * Q))
    module = importlib.import_module("verify.measurement.norms")  # the package exports norms()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(module, "_svdvals", _no_svd)
        got = norms(J, np.zeros(T))
    peak = np.abs(d).max(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        unit = np.nan_to_num(d / peak[:, None])  # rows of largest entry 1 (a zero row: 0)
        want = {"norm2": np.log10(c) + np.log10(peak),
                "sigma_min": np.log10(c) + np.log10(np.abs(d).min(axis=1)),
                "fro": np.log10(c) + np.log10(peak) + np.log10(np.sqrt((unit**2).sum(axis=1)))}
    for k in KEYS:
        finite = np.isfinite(want[k])
        assert np.array_equal(got[f"log10_{k}"][~finite], want[k][~finite])
        np.testing.assert_array_less(np.abs(got[f"log10_{k}"][finite] - want[k][finite]),
                                     8 * n * U * (np.abs(want[k][finite]) + 1))
    dense, small = J.dense().numpy(), np.abs(d) < 1e-100
    if abs(log10_c) < 100 and not small.any():  # the dense J_k and their squares are exact
        assert_matches_svd(dense, got)


def test_orthogonal_rows_have_sigma_min_to_rounding_where_the_svd_cannot():
    """diag(1, 1e-9, 0.5) Q: sigma_min = 1e-9 exactly in exact arithmetic; 50-digit mpmath SVD
    of the float64 matrix says so to 1e-15 relative, and so do the norms (4 n u), where the
    SVD route is only good to n u ||J|| absolute (1e-7 relative here)."""
    import mpmath

    from verify.models.jacobians import DiagTimes

    Q = haar(np.random.default_rng(3), 3)
    d = np.array([[1.0, 1e-9, 0.5]])
    got = norms(DiagTimes(torch.as_tensor(d), torch.as_tensor(Q)), np.zeros(1))
    with mpmath.workdps(50):
        sv = mpmath.svd_r(mpmath.matrix((d[0][:, None] * Q).tolist()), compute_uv=False)
        exact = float(min(sv))
    assert abs(got["sigma_min"][0] / exact - 1) <= 4 * 3 * U
    assert abs(exact / 1e-9 - 1) < 1e-15


@given(st.integers(2, 6), st.integers(2, 5), st.integers(0, 2**31), st.floats(1e-9, 1e-3))
def test_nearly_orthogonal_rows_take_the_svd(T, n, seed, eps):
    """A V whose rows are orthogonal only to 1e-9 .. 1e-3 (far beyond 4 n u), or float32
    factors, take the SVD: the norms match numpy's SVD of the dense J_k."""
    from verify.measurement.norms import _orthogonal_rows
    from verify.models.jacobians import DiagTimes

    rng = np.random.default_rng(seed)
    V = haar(rng, n)
    V[0, 0] += eps
    d = rng.uniform(0.1, 1.0, (T, n))
    J = DiagTimes(torch.as_tensor(d), torch.as_tensor(V))
    assert _orthogonal_rows(J) is None
    got = norms(J, np.zeros(T))
    assert_matches_svd(J.dense().numpy())
    for k in KEYS:
        np.testing.assert_array_equal(got[f"log10_{k}"],
                                      norms(J.dense(), np.zeros(T))[f"log10_{k}"])
    single = DiagTimes(torch.as_tensor(d, dtype=torch.float32),
                       torch.as_tensor(haar(rng, n), dtype=torch.float32))
    assert _orthogonal_rows(single) is None


def test_orthogonal_rows_with_non_finite_or_zero_factors_are_measured_as_dense():
    """A nan or an infinite d_k beside an orthogonal V, or V = 0, is reported as the dense
    J_k are (nan; inf, inf, nan; -inf for J_k = 0), not taken by the no-SVD route."""
    from verify.models.jacobians import DiagTimes

    Q = torch.as_tensor(haar(np.random.default_rng(5), 3))
    d = torch.rand(4, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    d[1, 0], d[2, 2] = math.nan, math.inf
    for J in (DiagTimes(d, Q), DiagTimes(d[[0, 3]], torch.zeros(3, 3, dtype=torch.float64))):
        got, dense = norms(J, np.zeros(len(J))), norms(J.dense(), np.zeros(len(J)))
        for k in KEYS:
            np.testing.assert_array_equal(got[f"log10_{k}"], dense[f"log10_{k}"])
    assert np.isneginf(got["log10_norm2"]).all()
    bad = norms(DiagTimes(d, Q), np.zeros(4))
    assert np.isnan(bad["norm2"][1]) and bad["norm2"][2] == np.inf
