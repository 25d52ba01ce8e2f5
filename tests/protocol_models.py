"""A model seen through the protocol of :mod:`verify.models.rollout` only."""

from __future__ import annotations

import torch


class HiddenCell(torch.nn.Module):
    """Another engineer's model, seen through the protocol of verify.models.rollout only: no
    step Jacobians (so measure must go through the probes) and no ``tick`` argument."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner
        self.hidden, self.inputs = inner.hidden, inner.inputs
        self.beta, self.gamma = inner.beta, inner.gamma
        self.learned, self.pattern = inner.learned, inner.pattern

    def forward(self, x, *, probe=None, detach_attention=False, trace=True):
        return self.inner(x, probe=probe, detach_attention=detach_attention, trace=trace)

    def step_jacobians(self, rollout, batch_index=0):
        return None


class DenseJacobians(HiddenCell):
    """The same model giving its step Jacobians as the protocol's plain (T, n, n) tensor, not
    the toolkit's factored form."""

    def step_jacobians(self, rollout, batch_index=0):
        J = self.inner.step_jacobians(rollout, batch_index)
        assert isinstance(J, torch.Tensor) and J.ndim == 3
        return J
