"""Seeded parameters: each part of a model draws from its own numpy generator, derived from the
model's seed and the part's name, in float64 on the host, and is then cast and moved.

So a seed determines every parameter, on every call and on every device, the parts are
independent streams (the read-out does not share draws with the recurrent matrix), and no
global random state (torch's, numpy's or Python's) is read or changed.
"""

from __future__ import annotations

import zlib

import numpy as np
import torch
from torch import nn

from bounds.domains import check_seed


def generator(seed: int, part: str) -> np.random.Generator:
    """The generator of ``part`` (e.g. ``"U"``, ``"attention"``) of the model seeded ``seed``."""
    return np.random.default_rng([check_seed(seed), zlib.crc32(part.encode())])


def parameter(value: np.ndarray, dtype: torch.dtype, device: torch.device | str | None
              ) -> nn.Parameter:
    """A float64 host array as a parameter of ``dtype`` on ``device``."""
    return nn.Parameter(torch.as_tensor(np.asarray(value, dtype=np.float64)).to(device, dtype))


def uniform(rng: np.random.Generator, shape: tuple[int, ...], bound: float) -> np.ndarray:
    """Entries Uniform(-bound, bound): torch's default for linear and LSTM layers with
    ``bound = 1/sqrt(fan_in)``."""
    return rng.uniform(-bound, bound, shape)
