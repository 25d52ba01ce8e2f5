"""Certificates of THEORY.md's lemmas and closed forms (symbolic, exact and numeric).

Each family module registers zero-argument certificate functions on import
(:func:`proofs.certificate.register_certificate`); :func:`run_all` runs them family by family in
the order of :data:`FAMILIES`, and in definition order within a family.

>>> from proofs import path_count
>>> path_count.path_count().passed
True
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from tqdm import tqdm

from proofs import (
    catalog_bounds,
    counterexample,
    lemma1,
    lower_bounds,
    path_count,
    uniform_closed_form,
)
from proofs.certificate import Certificate, registered

#: The families of certificates, in run order (THEORY.md sections 2 to 4).
FAMILIES = (lemma1, path_count, uniform_closed_form, catalog_bounds, lower_bounds,
            counterexample)


def certificates() -> list[Callable[[], Certificate]]:
    """Every registered certificate function, in the stable run order."""
    rank = {m.__name__: r for r, m in enumerate(FAMILIES)}
    return sorted(registered(), key=lambda fn: rank.get(fn.__module__, len(rank)))


def run_all(progress: bool = False) -> list[Certificate]:
    """Run every certificate in the order of :func:`certificates`; with ``progress``, show a
    tqdm bar on stderr."""
    fns = certificates()
    bar = tqdm(fns, desc="certificates", unit="cert", file=sys.stderr, disable=not progress)
    out = []
    for fn in bar:
        bar.set_postfix_str(fn.__name__)
        out.append(fn())
    return out


__all__ = ["FAMILIES", "Certificate", "certificates", "run_all"]
