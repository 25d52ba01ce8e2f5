"""Hypothesis profiles: ``ci`` (chosen when the CI variable is set) has no deadline and a bounded
number of examples so the suite fits CI's time on 2 cores; ``dev`` is the local default."""

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", max_examples=40, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", max_examples=60, deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")
