"""The bound catalog of THEORY.md section 4 (B0-B7), symbolic and numeric.

>>> from bounds import get, patterns
>>> get("B7").evaluate(gamma=0.5, mu=1.0, nu=10, rho=15)
array(0.02)
>>> get("path_sum_upper").log10(pattern=patterns.none(100_000), beta=1, gamma=0, lam=0.5)[0]
-30102.99...
"""

from bounds import patterns
from bounds.catalog import CATALOG, Bound, ClosedFormBound, ProfileBound, get
from bounds.hypotheses import HYPOTHESES, Hypothesis
from bounds.patterns import Pattern, as_pattern
from bounds.recursions import (
    dependency_depth,
    dominant_path,
    graph,
    max_path,
    path_sum,
    sparsity,
)

__all__ = [
    "CATALOG",
    "HYPOTHESES",
    "Bound",
    "ClosedFormBound",
    "Hypothesis",
    "Pattern",
    "ProfileBound",
    "as_pattern",
    "dependency_depth",
    "dominant_path",
    "get",
    "graph",
    "max_path",
    "path_sum",
    "patterns",
    "sparsity",
]
