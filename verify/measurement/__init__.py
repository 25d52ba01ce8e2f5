"""Measuring real networks (THEORY.md sections 2, 3 and 5): the Jacobian profile
``G_t = dh_T/dh_t`` of every t by Lemma 1's adjoint recursion or autograd, its norms, and the
catalog's bounds evaluated on the same run."""

from verify.measurement.adjoint import adjoint, blocked_adjoint
from verify.measurement.jacobian_profile import MODES, Measurement, measure
from verify.measurement.norms import norms

__all__ = ["MODES", "Measurement", "adjoint", "blocked_adjoint", "measure", "norms"]
