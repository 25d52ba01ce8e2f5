"""Relevancy screening models RelRNN and RelLSTM (THEORY.md section 7, bound B7).

At step t the model attends, with one additive-attention softmax, over the short-term buffer
(the last nu states h_{t-nu+1..t}, h_0 excluded) and the relevant set (at most rho older
states, empty slots masked), then steps the cell on ``s_t = (h_t + c_t)/2``:

    c_t = sum_{i in S_t} alpha[t, i] h_i,   |S_t| <= nu + rho,   h_{t+1} = cell(x_{t+1}, s_t)

Relevant-set members are the probed states themselves, so they keep their autograd graph: the
gradient shortcuts of B7. Scores use detached weights (:mod:`verify.screening`). Buffer and
relevant set are (B, slots, n) tensors with masks; nothing loops over the batch.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from bounds.domains import NONNEG_INT, POSITIVE_INT
from verify import screening
from verify.attention import AdditiveAttention
from verify.cells import LSTMCell, VanillaCell, check_inputs
from verify.rollout import Rollout


class Screened(nn.Module):
    """A recurrent cell with relevancy screening: buffer ``nu`` >= 1, relevant set ``rho`` >= 0,
    score function ``score`` (a name in :data:`verify.screening.SCORES` or a callable; kept as
    the attribute ``score_fn``, which may be swapped between runs).

    ``forward(x, probe=, detach_attention=, record_alpha=)`` follows the probe convention of
    :mod:`verify.rollout`. With ``record_alpha`` (default) the Rollout carries ``alpha``
    (B, T, T) and ``extra``: ``relevant_time`` (B, T, rho), the time index held by each
    relevant-set slot when step t attends (-1: empty), ``relevant_score`` (B, T, rho) their
    frozen scores, and ``score`` (B, T+1), every state's score (frozen on leaving the buffer;
    running for the last nu states; 0 for h_0, never attended).
    """

    beta = 0.5
    gamma = 0.5
    #: Attention weights are learned (``measure`` reports the score-term gap in full mode).
    learned = True

    def __init__(self, cell: nn.Module, hidden: int, *, nu: int = 10, rho: int = 15,
                 score: str | screening.ScoreFn = "accumulated",
                 dtype: torch.dtype = torch.float32,
                 device: torch.device | str | None = None) -> None:
        super().__init__()
        POSITIVE_INT.check("nu", nu)
        NONNEG_INT.check("rho", rho)
        self.cell, self.hidden, self.nu, self.rho = cell, hidden, int(nu), int(rho)
        self.score_fn = screening.score_fn(score)
        self.attention = AdditiveAttention(hidden, dtype=dtype, device=device)
        for lin in (self.attention.W_s, self.attention.W_h, self.attention.v):
            nn.init.normal_(lin.weight, std=hidden ** -0.5)

    def forward(self, x: Tensor, *, probe: Tensor | None = None,
                detach_attention: bool = False, record_alpha: bool = True) -> Rollout:
        check_inputs(x, probe, self.cell.inputs, self.hidden)
        B, T, _ = x.shape
        nu, n = self.nu, self.hidden
        h = x.new_zeros(B, n)
        if probe is not None:
            h = h + probe[:, 0]
        carry = self.cell.initial(B, h)
        s_prev = torch.zeros_like(h)
        # The buffer: the last nu states as [h_i | W_h h_i] rows, oldest first, with their
        # running scores; the relevant set: (B, rho, 2n) rows, their times (-1: empty) and
        # frozen scores.
        buffer, buffer_score = [], h.new_zeros(B, 0)
        members = h.new_zeros(B, self.rho, 2 * n)
        when, frozen = screening.empty(B, self.rho, dtype=h.dtype, device=h.device)
        hs, pre, final_score = [h], [], [h.new_zeros(B)]
        alphas, trace_t, trace_score = [], [], []
        for t in range(T):
            if record_alpha:
                trace_t.append(when)
                trace_score.append(frozen)
            if buffer:
                nb = len(buffer)
                live = torch.cat([when.new_ones(B, nb, dtype=torch.bool), when >= 0], dim=1)
                slots = torch.cat([torch.stack(buffer, 1), members], dim=1)
                w = self.attention(s_prev, slots[..., n:], live)
                buffer_score = buffer_score + self.score_fn(w.detach(), live)[:, :nb]
                if detach_attention:
                    w = w.detach()
                c = torch.einsum("bs,bsn->bn", w, slots[..., :n])
                if record_alpha:
                    times = torch.arange(t - nb + 1, t + 1, device=h.device).expand(B, nb)
                    where = torch.cat([times, when.clamp(min=0)], dim=1)
                    alphas.append(w.new_zeros(B, T).scatter_add(
                        1, where, w.detach().masked_fill(~live, 0)))
            else:
                c = torch.zeros_like(h)
                if record_alpha:
                    alphas.append(h.new_zeros(B, T))
            s = self.beta * h + self.gamma * c
            h, a, carry = self.cell(x[:, t], s, carry)
            if probe is not None:
                h = h + probe[:, t + 1]
            hs.append(h)
            pre.append(a)
            buffer.append(torch.cat([h, self.attention.key(h)], dim=-1))
            buffer_score = torch.cat([buffer_score, h.new_zeros(B, 1)], dim=1)
            if len(buffer) > nu:
                leaving = buffer_score[:, 0]
                hit = screening.admit(when, frozen, leaving)
                members = screening.place(hit, buffer.pop(0), members)
                when = when.masked_fill(hit, t + 1 - nu)
                frozen = screening.place(hit, leaving, frozen)
                buffer_score = buffer_score[:, 1:]
                final_score.append(leaving)
            s_prev = s
        extra = {}
        if record_alpha:
            final_score.extend(buffer_score.unbind(1))
            extra = {"relevant_time": torch.stack(trace_t, 1),
                     "relevant_score": torch.stack(trace_score, 1),
                     "score": torch.stack(final_score, 1)}
        return Rollout(h=torch.stack(hs, 1),
                       alpha=torch.stack(alphas, 1) if record_alpha else None,
                       a=torch.stack(pre, 1) if pre[0] is not None else None,
                       extra=extra)


class RelRNN(Screened):
    """Relevancy screening over a vanilla cell, tanh by default (THEORY.md section 7, B7)."""

    def __init__(self, hidden: int, inputs: int, *, nu: int = 10, rho: int = 15,
                 score: str | screening.ScoreFn = "accumulated", phi: str = "tanh",
                 seed: int = 0, dtype: torch.dtype = torch.float32,
                 device: torch.device | str | None = None) -> None:
        cell = VanillaCell(hidden, inputs, phi=phi, seed=seed, dtype=dtype, device=device)
        super().__init__(cell, hidden, nu=nu, rho=rho, score=score, dtype=dtype, device=device)

    def step_jacobians(self, rollout: Rollout, batch_index: int = 0) -> Tensor:
        """``J_k = diag(phi'(a_k)) V`` for k = 1..T of one sequence: (T, n, n), so ``measure``
        runs Lemma 1's adjoint recursion on the attended pattern (THEORY.md section 2)."""
        return self.cell.jacobians(rollout.a[batch_index])


class RelLSTM(Screened):
    """Relevancy screening over an LSTM cell fed ``s_t`` (THEORY.md section 7)."""

    def __init__(self, hidden: int, inputs: int, *, nu: int = 10, rho: int = 15,
                 score: str | screening.ScoreFn = "accumulated",
                 dtype: torch.dtype = torch.float32,
                 device: torch.device | str | None = None) -> None:
        super().__init__(LSTMCell(hidden, inputs, dtype=dtype, device=device),
                         hidden, nu=nu, rho=rho, score=score, dtype=dtype, device=device)
