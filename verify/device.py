"""Device and dtype by name: ``auto`` is CUDA when present, else CPU; float64 by default
(THEORY.md section 5)."""

from __future__ import annotations

import torch

DTYPES = {"float64": torch.float64, "float32": torch.float32}


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``auto``, ``cpu``, ``cuda`` or ``cuda:N``; a ValueError when CUDA is asked for but absent."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cpu" or (isinstance(device, str) and device.split(":")[0] == "cuda"):
        try:
            dev = torch.device(device)
        except RuntimeError:
            raise ValueError(f"parameter 'device' must be auto, cpu, cuda or cuda:N, "
                             f"got {device!r}") from None
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"parameter 'device': {device!r} asked for but CUDA is not "
                             f"available; use auto or cpu")
        return dev
    raise ValueError(f"parameter 'device' must be auto, cpu, cuda or cuda:N, got {device!r}")


def resolve_dtype(dtype: str | torch.dtype = "float64") -> torch.dtype:
    """``float64`` (default) or ``float32``."""
    if dtype in DTYPES.values():
        return dtype
    if isinstance(dtype, str) and dtype in DTYPES:
        return DTYPES[dtype]
    raise ValueError(f"parameter 'dtype' must be one of {', '.join(DTYPES)}, got {dtype!r}")
