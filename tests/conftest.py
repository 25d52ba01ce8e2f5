"""Hypothesis profiles: ``ci`` (chosen when the CI variable is set) has no deadline and a bounded
number of examples so the suite fits CI's time on 2 cores; ``dev`` is the local default.

torch runs on one thread in the tests: their tensors are tiny, and on a shared 2-core machine
a second thread only spins against other processes."""

import os

import torch
from hypothesis import HealthCheck, settings

torch.set_num_threads(1)

settings.register_profile(
    "ci", max_examples=40, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", max_examples=60, deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")
