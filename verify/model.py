"""The self-attentive RNN of THEORY.md section 1, with a controlled spectrum and attention.

    c_t = sum_{i in S_t} alpha[t, i] h_i,   s_t = beta h_t + gamma c_t,
    h_{t+1} = phi(V s_t + U x_{t+1} + b)

``alpha`` is a fixed :class:`bounds.patterns.Pattern` or learned additive attention
(:class:`verify.attention.AdditiveAttention`) over the pattern's support (full causal support
when no pattern is given: MemRNN). Batch-first, float64 by default, and it obeys the probe
convention of :mod:`verify.rollout`, so ``measure`` can take dh_T/dh_t of it.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from bounds.domains import NONNEGATIVE, POSITIVE_INT
from bounds.patterns import Pattern, as_pattern
from verify import nonlin
from verify.attention import AdditiveAttention
from verify.cells import check_inputs, step_jacobians
from verify.device import resolve_device, resolve_dtype
from verify.rollout import Rollout
from verify.spectra import build_spectrum


def _matrix(name: str, value: object, shape: tuple[int, int]) -> np.ndarray:
    arr = np.asarray(value.detach().cpu() if isinstance(value, Tensor) else value, dtype=float)
    if arr.shape != shape:
        raise ValueError(f"parameter {name!r} must have shape {shape}, got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"parameter {name!r} must be finite (found NaN or inf)")
    return arr


class SelfAttentiveRNN(nn.Module):
    """THEORY.md section 1's model; ``V`` given (see :meth:`from_spectrum`), U and b drawn.

    ``U`` has entries N(0, input_scale^2 / inputs) and ``b`` entries N(0, bias_scale^2), both
    from ``seed``: large scales push tanh into saturation (small phi'), small ones keep it
    linear (THEORY.md section 6). ``beta``/``gamma`` default to 1/0 for the plain RNN (no
    pattern, or the ``none`` pattern, and not learned) and to 1/2, 1/2 otherwise. With
    ``learned=True`` the attention weights come from additive attention restricted to the
    pattern's support ``S_t`` (all of 0..t when ``pattern`` is None). ``pattern`` is a
    :class:`bounds.patterns.Pattern` or a user's T x T matrix, validated by
    :func:`bounds.patterns.from_matrix` (shape, causal, rows on the simplex, finite).
    """

    def __init__(self, hidden: int, inputs: int, V: object, phi: str | nonlin.Nonlinearity = "tanh",
                 *, beta: float | None = None, gamma: float | None = None,
                 pattern: Pattern | object | None = None, learned: bool = False,
                 input_scale: float = 1.0, bias_scale: float = 0.0, seed: int = 0,
                 device: str | torch.device = "auto",
                 dtype: str | torch.dtype = "float64") -> None:
        super().__init__()
        self.hidden = n = int(POSITIVE_INT.check("hidden", hidden))
        self.inputs = m = int(POSITIVE_INT.check("inputs", inputs))
        pattern = None if pattern is None else as_pattern(pattern)
        if pattern is not None and pattern.exact:
            raise ValueError("parameter 'pattern' must have float weights, not exact ones")
        self.pattern = None if pattern is not None and pattern.empty and not learned else pattern
        self.learned = bool(learned)
        if self.learned and pattern is not None and pattern.empty:
            raise ValueError("parameter 'pattern': learned attention needs a non-empty support; "
                             "use uniform (full attention), window, strided, sparse or events")
        attends = self.learned or self.pattern is not None
        self.beta = float(NONNEGATIVE.check(
            "beta", (0.5 if attends else 1.0) if beta is None else beta))
        self.gamma = float(NONNEGATIVE.check(
            "gamma", (0.5 if attends else 0.0) if gamma is None else gamma))
        self.phi = nonlin.get(phi)
        device, dtype = resolve_device(device), resolve_dtype(dtype)
        rng = np.random.default_rng(seed)
        scale_u = float(NONNEGATIVE.check("input_scale", input_scale))
        scale_b = float(NONNEGATIVE.check("bias_scale", bias_scale))

        def param(arr: np.ndarray) -> nn.Parameter:
            return nn.Parameter(torch.as_tensor(arr, dtype=dtype, device=device))

        self.V = param(_matrix("V", V, (n, n)))
        self.U = param(rng.standard_normal((n, m)) * (scale_u / np.sqrt(m)))
        self.b = param(rng.standard_normal(n) * scale_b)
        self.attention = AdditiveAttention(n, dtype=dtype, device=device) if learned else None
        if self.attention is not None:
            with torch.no_grad():
                for lin in (self.attention.W_s, self.attention.W_h, self.attention.v):
                    w = rng.standard_normal(tuple(lin.weight.shape)) / np.sqrt(n)
                    lin.weight.copy_(torch.as_tensor(w))

    @classmethod
    def from_spectrum(cls, spectrum: str, hidden: int, inputs: int,
                      phi: str | nonlin.Nonlinearity = "tanh", *, scale: float = 1.0,
                      gain: float = 1.0, sigma: object = None, eigenvalues: object = None,
                      nonnormal: float = 0.0, seed: int = 0, **kw: object) -> SelfAttentiveRNN:
        """The model with ``V = build_spectrum(spectrum, hidden, ...)`` (same ``seed``)."""
        hidden = int(POSITIVE_INT.check("hidden", hidden))
        V = build_spectrum(spectrum, hidden, scale=scale, gain=gain, sigma=sigma,
                           eigenvalues=eigenvalues, nonnormal=nonnormal, seed=seed)
        return cls(hidden, inputs, V, phi, seed=seed, **kw)

    @property
    def attends(self) -> bool:
        """True unless this is the plain RNN (``S_t`` empty, ``c_t = 0``)."""
        return self.learned or self.pattern is not None

    def _check_inputs(self, x: Tensor, probe: Tensor | None) -> Tensor:
        check_inputs(x, probe, self.inputs, self.hidden)
        if self.pattern is not None and self.pattern.T != x.shape[1]:
            raise ValueError(f"parameter 'x' must have T = {self.pattern.T} steps (the "
                             f"pattern's), got {x.shape[1]}")
        return x.to(self.V)

    def forward(self, x: Tensor, *, probe: Tensor | None = None,
                detach_attention: bool = False, record_alpha: bool = True) -> Rollout:
        """Run on ``x`` (B, T, inputs) from ``h_0 = 0``; ``probe`` as in :mod:`verify.rollout`.

        ``detach_attention`` holds learned weights fixed (Lemma 1's setting; a fixed pattern
        is fixed anyway). ``record_alpha=False`` leaves ``Rollout.alpha`` None for a fixed
        pattern (a dense (B, T, T) copy is wasteful at long T); learned weights are always
        recorded.
        """
        x = self._check_inputs(x, probe)
        B, T = x.shape[:2]
        drive = x @ self.U.T + self.b
        h = [x.new_zeros(B, self.hidden) + (0 if probe is None else probe[:, 0])]
        keys, rows, pre = [], [], []
        s = x.new_zeros(B, self.hidden)
        mask = (torch.as_tensor(self.pattern.mask(), device=x.device)
                if self.learned and self.pattern is not None else None)
        for t in range(T):
            if self.learned:
                keys.append(self.attention.key(h[t]))
                live = (torch.ones(t + 1, dtype=torch.bool, device=x.device) if mask is None
                        else mask[t, :t + 1]).expand(B, t + 1)
                w = self.attention(s, torch.stack(keys, 1), live)
                w = w.detach() if detach_attention else w
                rows.append(nn.functional.pad(w, (0, T - t - 1)))
                c = torch.einsum("bi,bin->bn", w, torch.stack(h, 1))
                s = self.beta * h[t] + self.gamma * c
            elif self.pattern is not None:
                idx, w = self.pattern.row(t)
                w = torch.as_tensor(w, dtype=x.dtype, device=x.device)
                c = torch.einsum("i,bin->bn", w, torch.stack([h[i] for i in idx], 1))
                s = self.beta * h[t] + self.gamma * c
            else:
                s = self.beta * h[t]
            pre.append(s @ self.V.T + drive[:, t])
            h.append(self.phi(pre[-1]) + (0 if probe is None else probe[:, t + 1]))
        if self.learned:
            alpha = torch.stack(rows, 1)
        elif self.pattern is not None and record_alpha:
            alpha = torch.as_tensor(self.pattern.dense(), dtype=x.dtype,
                                    device=x.device).expand(B, T, T)
        else:
            alpha = None
        return Rollout(torch.stack(h, 1), alpha, torch.stack(pre, 1))

    def step_jacobians(self, rollout: Rollout, batch_index: int = 0) -> Tensor:
        """``J_k = diag(phi'(a_k)) V`` for k = 1..T of one sequence: (T, n, n), entry k-1 is
        J_k (THEORY.md section 2)."""
        return step_jacobians(self.phi, self.V, rollout.a[batch_index])
