"""Nonlinearities phi with their derivatives phi' (THEORY.md sections 2 and 6).

The derivative is what ``J_k = diag(phi'(a_k)) V`` uses, so it must agree with what autograd
differentiates: relu's is ``[a > 0]`` (0 at a = 0, as torch's backward), tanh's ``1 - tanh^2``.
Tensor methods only: importing this module does not import torch (the CLI parser uses it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import Tensor

KINDS = ("linear", "tanh", "relu")


@dataclass(frozen=True)
class Nonlinearity:
    """An elementwise ``phi`` and its derivative ``phi'``, both Tensor -> Tensor."""

    fn: Callable[[Tensor], Tensor]
    derivative: Callable[[Tensor], Tensor]
    name: str = "custom"

    def __post_init__(self) -> None:
        if not (callable(self.fn) and callable(self.derivative)):
            raise ValueError("parameter 'phi' must be one of linear, tanh, relu, or a "
                             "Nonlinearity(fn, derivative) of two callables")

    def __call__(self, a: Tensor) -> Tensor:
        return self.fn(a)


LINEAR = Nonlinearity(lambda a: a, lambda a: a.new_ones(a.shape), "linear")
TANH = Nonlinearity(lambda a: a.tanh(), lambda a: 1 - a.tanh() ** 2, "tanh")
RELU = Nonlinearity(lambda a: a.relu(), lambda a: (a > 0).to(a.dtype), "relu")

_BY_NAME = {p.name: p for p in (LINEAR, TANH, RELU)}


def get(phi: str | Nonlinearity) -> Nonlinearity:
    """A :class:`Nonlinearity` as is, or the named one of :data:`KINDS`."""
    if isinstance(phi, Nonlinearity):
        return phi
    if isinstance(phi, str) and phi in _BY_NAME:
        return _BY_NAME[phi]
    raise ValueError(f"parameter 'phi' must be one of {', '.join(KINDS)} or a Nonlinearity, "
                     f"got {phi!r}")
