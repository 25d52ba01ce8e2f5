"""THEORY.md section 6 constructions: spectra of V and nonlinearities with their derivatives.
(The attention patterns are bounds/patterns.py's, tested with bounds.)"""

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from bounds import patterns
from verify.models import Classifier, build, nonlin, spectra
from verify.models.spectra import KINDS, build_spectrum
from verify.training import Config

# Tolerances: constructions are a handful of float64 QR/matrix products of O(1) entries, exact
# to a few ulps, so 1e-12 absolute. Eigenvalues of a non-normal matrix are ill-conditioned:
# a perturbation eps moves them by up to ~ eps * kappa(eigenvectors), hence 1e-8 there.
TOL = 1e-12


@pytest.mark.parametrize("kind", KINDS)
def test_seeded_and_real(kind):
    a = build_spectrum(kind, 5, scale=0.8, seed=3)
    assert a.shape == (5, 5) and a.dtype == np.float64 and np.all(np.isfinite(a))
    np.testing.assert_array_equal(a, build_spectrum(kind, 5, scale=0.8, seed=3))
    if kind != "identity":
        assert not np.array_equal(a, build_spectrum(kind, 5, scale=0.8, seed=4))


#: Every construction that takes a seed, as ``seed -> something comparable``: the spectrum, a
#: sparse pattern's supports, the read-out (drawn from :func:`verify.models.seeding.generator`
#: alone), a training config.
SEEDED = {
    "build_spectrum": lambda seed: build_spectrum("gaussian", 4, seed=seed),
    "patterns.sparse": lambda seed: patterns.sparse(12, 3, seed=seed).indices,
    "read-out": lambda seed: Classifier(build("rnn", 2, hidden=3), 4, seed=seed).W.detach(),
    "Config": lambda seed: Config(seed=seed).seed,
}
BAD_SEEDS = st.one_of(st.integers(max_value=-1), st.floats(allow_nan=True), st.booleans(),
                      st.text(max_size=3), st.none(), st.just(np.float64(2.0)))


@given(st.sampled_from(sorted(SEEDED)), BAD_SEEDS)
def test_a_seed_that_is_not_an_int_at_least_0_is_refused_by_name(where, seed):
    with pytest.raises(ValueError, match=r"parameter 'seed' must be an integer >= 0"):
        SEEDED[where](seed)


@pytest.mark.parametrize("where", sorted(set(SEEDED) - {"Config"}))
@pytest.mark.parametrize("seed", [2**53, 2**80])
def test_a_large_seed_is_taken_whole(where, seed):
    """Seeds one apart beyond float64's 2^53 draw different values (through a float they
    would be one seed); numpy integers are ints."""
    a, b = SEEDED[where](seed), SEEDED[where](seed + 1)
    assert not np.array_equal(np.asarray(a), np.asarray(b))
    np.testing.assert_array_equal(np.asarray(SEEDED[where](np.int64(7))),
                                  np.asarray(SEEDED[where](7)))


def test_identity():
    np.testing.assert_array_equal(build_spectrum("identity", 4, scale=0.3), 0.3 * np.eye(4))


def test_orthogonal_is_c_times_orthogonal():
    v = build_spectrum("orthogonal", 6, scale=0.5, seed=1)
    np.testing.assert_allclose(v.T @ v, 0.25 * np.eye(6), atol=TOL)


def test_orthogonal_is_haar():
    # Haar on O(2): the rotation angle is uniform and det = +-1 with probability 1/2 each.
    # Without the sign fix of the QR, the angle concentrates (a classic bug). 2000 draws:
    # the standard error of a mean of cos is ~0.016, so 0.1 is a > 6-sigma margin.
    vs = np.array([build_spectrum("orthogonal", 2, seed=s) for s in range(2000)])
    det = np.linalg.det(vs)
    cos = vs[:, 0, 0]
    assert abs(np.mean(det > 0) - 0.5) < 0.05
    assert abs(np.mean(cos)) < 0.1 and abs(np.mean(cos ** 2) - 0.5) < 0.05


def test_singular_values_prescribed():
    sigma = [2.0, 1.0, 0.5, 0.0]
    v = build_spectrum("singular", 4, sigma=sigma, seed=2)
    np.testing.assert_allclose(np.linalg.svd(v, compute_uv=False), sigma, atol=TOL)
    d = build_spectrum("singular", 3, scale=0.7, seed=2)
    np.testing.assert_allclose(np.linalg.svd(d, compute_uv=False), [0.7, 0.7 / 10 ** 0.5, 0.07],
                               atol=TOL)


@pytest.mark.parametrize("nonnormal", [0.0, 0.5, 3.0])
def test_eigen_spectrum_and_departure_from_normality(nonnormal):
    lam = np.array([0.9, 0.5 + 0.2j, 0.5 - 0.2j, -0.3, 0.1 + 0.7j, 0.1 - 0.7j])
    v = build_spectrum("eigen", 6, eigenvalues=lam, nonnormal=nonnormal, seed=5)
    np.testing.assert_allclose(np.sort_complex(np.linalg.eigvals(v)), np.sort_complex(lam),
                               atol=1e-8)
    # Henrici: ||V||_F^2 = sum |lambda|^2 + ||N||_F^2 for V = Q (D + N) Q^T, Q orthogonal.
    assert np.linalg.norm(v) ** 2 == pytest.approx(np.sum(np.abs(lam) ** 2) + nonnormal ** 2,
                                                    abs=1e-10)
    commutator = np.linalg.norm(v @ v.T - v.T @ v)
    assert (commutator < 1e-12) == (nonnormal == 0)


def test_eigen_default_is_scaled_roots_of_unity():
    v = build_spectrum("eigen", 5, scale=0.6, seed=0)
    np.testing.assert_allclose(np.abs(np.linalg.eigvals(v)), 0.6, atol=1e-12)


def test_eigen_without_room_above_its_blocks_is_normal():
    """n = 1 (and a single 2x2 block) leaves no entry above the Schur blocks: nonnormal = 0
    is then the only choice and is accepted, V holding exactly the given spectrum."""
    np.testing.assert_allclose(build_spectrum("eigen", 1, scale=0.7, seed=0), [[0.7]], atol=1e-15)
    v = build_spectrum("eigen", 2, eigenvalues=[0.3 + 0.4j, 0.3 - 0.4j], seed=0)
    np.testing.assert_allclose(np.sort_complex(np.linalg.eigvals(v)), [0.3 - 0.4j, 0.3 + 0.4j],
                               atol=1e-12)


@pytest.mark.parametrize("imag", [1e-12, -1e-12])
def test_an_imaginary_part_within_the_tolerance_is_real(imag):
    """An eigenvalue whose imaginary part is at most CONJ_ATOL in size (the tolerance itself
    included) is a real eigenvalue: it needs no conjugate."""
    assert spectra.CONJ_ATOL == 1e-12
    v = build_spectrum("eigen", 2, eigenvalues=[0.5 + imag * 1j, 0.2], seed=0)
    np.testing.assert_allclose(np.sort(np.linalg.eigvals(v).real), [0.2, 0.5], atol=1e-12)


def test_a_matrix_larger_than_memory_is_refused_before_it_is_made():
    """n = 10^7 would need 8 10^14 bytes: refused by name, not a MemoryError."""
    with pytest.raises(ValueError, match=r"^parameter 'n' = 10000000 is too large: an n x n "
                                         r"float64 matrix would take at least 8e\+14 bytes"):
        build_spectrum("identity", 10**7)


def test_gaussian_gain():
    # Entries N(0, g^2/n): 200^2 samples, the sample variance is within 2% (sd ~0.7%).
    v = build_spectrum("gaussian", 200, gain=1.5, seed=0)
    assert v.var() * 200 == pytest.approx(1.5 ** 2, rel=0.02)
    assert abs(v.mean()) < 0.01


def test_nonneg():
    v = build_spectrum("nonneg", 7, scale=0.9, seed=1)
    assert np.all(v >= 0)
    assert np.linalg.norm(v, 2) == pytest.approx(0.9, abs=TOL)


@pytest.mark.parametrize(("kw", "name"), [
    ({"kind": "hermitian"}, "spectrum"),
    ({"n": 0}, "n"),
    ({"scale": 0.0}, "scale"),
    ({"scale": float("nan")}, "scale"),
    ({"gain": float("inf"), "kind": "gaussian"}, "gain"),
    ({"kind": "singular", "sigma": [1.0, float("nan"), 1.0]}, "sigma"),
    ({"kind": "singular", "sigma": [1.0, 1.0]}, "sigma"),
    ({"kind": "singular", "sigma": [1.0, -1.0, 1.0]}, "sigma"),
    ({"kind": "eigen", "eigenvalues": [1.0, 1j, 0.5]}, "eigenvalues"),
    ({"kind": "eigen", "nonnormal": -1.0}, "nonnormal"),
    ({"kind": "eigen", "n": 1, "nonnormal": 1.0}, "nonnormal"),
])
def test_bad_spectrum_input(kw, name):
    args = {"kind": "orthogonal", "n": 3, **kw}
    with pytest.raises(ValueError, match=f"'{name}'"):
        build_spectrum(args.pop("kind"), args.pop("n"), **args)


def test_unknown_spectrum_lists_the_kinds():
    with pytest.raises(ValueError, match="identity, orthogonal, singular, eigen, gaussian, nonneg"):
        build_spectrum("hermitian", 3)


SOFTPLUS = nonlin.Nonlinearity(lambda a: torch.log1p(torch.exp(a)), torch.sigmoid, "softplus")


@pytest.mark.parametrize("phi", ["linear", "tanh", "relu", SOFTPLUS])
def test_derivative_is_what_autograd_differentiates(phi):
    p = nonlin.get(phi)
    a = torch.tensor([-30.0, -2.0, -0.3, 0.0, 0.4, 3.0, 25.0], dtype=torch.float64,
                     requires_grad=True)
    (grad,) = torch.autograd.grad(p(a).sum(), a)
    # Same formula up to rounding: a few ulps.
    torch.testing.assert_close(p.derivative(a.detach()), grad, rtol=1e-14, atol=1e-15)


def test_bad_nonlinearity():
    with pytest.raises(ValueError, match="'phi'.*linear, tanh, relu"):
        nonlin.get("sigmoid")
    with pytest.raises(ValueError, match="'phi'"):
        nonlin.Nonlinearity(torch.tanh, "not callable")


def test_spectra_default_to_scale_and_gain_one():
    """``scale`` defaults to 1: the identity is I, the orthogonal and nonneg kinds have
    ||V||_2 = 1 (to rounding, 1e-12); ``gain`` too: gaussian entries have variance 1/n (4096
    entries: the sample variance is within 2.2% of it to one standard deviation, so [0.8,
    1.25] fails by chance with probability below 1e-15, and gain 2 is 4 times off)."""
    np.testing.assert_array_equal(build_spectrum("identity", 4), np.eye(4))
    for kind in ("orthogonal", "nonneg"):
        assert abs(np.linalg.norm(build_spectrum(kind, 6, seed=2), 2) - 1.0) < 1e-12, kind
    assert 0.8 < np.mean(build_spectrum("gaussian", 64, seed=2) ** 2) * 64 < 1.25
