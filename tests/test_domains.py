"""The parameter domains of the catalog and the toolkit (``bounds/domains.py``): which values
each accepts, how a refusal names the range, the sympy assumptions of its symbol, and the
physical-memory check."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import sympy as sp
from hypothesis import given
from hypothesis import strategies as st

from bounds import domains
from bounds.domains import (
    NONNEG_INT,
    NONNEGATIVE,
    POSITIVE,
    POSITIVE_INT,
    UNIT,
    UNIT_CLOSED,
    Domain,
)

TINY, ABOVE_1 = 5e-324, float(np.nextafter(1.0, 2.0))

#: (domain, how a refusal states it, its symbol's sign assumption, accepted, refused values)
CASES = [
    (POSITIVE, "a real number in (0, inf)", "positive", [TINY, 1.0, 1e300],
     [0.0, -TINY, math.inf, math.nan]),
    (NONNEGATIVE, "a real number in [0, inf)", "nonnegative", [0.0, TINY, 1e300],
     [-TINY, -1.0, math.inf]),
    (UNIT, "a real number in (0, 1]", "positive", [TINY, 0.5, 1.0], [0.0, ABOVE_1, -1.0]),
    (UNIT_CLOSED, "a real number in [0, 1]", "nonnegative", [0.0, 0.5, 1.0],
     [-TINY, ABOVE_1, 2.0]),
    (POSITIVE_INT, "an integer >= 1", "positive", [1, 2.0, 2**60], [0, -1, 1.5, math.inf]),
    (NONNEG_INT, "an integer >= 0", "nonnegative", [0, 3, 2**60], [-1, 0.5, math.nan]),
]


@pytest.mark.parametrize("domain, said, sign, accepted, refused", CASES,
                         ids=["POSITIVE", "NONNEGATIVE", "UNIT", "UNIT_CLOSED", "POSITIVE_INT",
                              "NONNEG_INT"])
def test_each_domain_accepts_its_range_and_names_it_when_it_refuses(domain, said, sign,
                                                                    accepted, refused):
    assert str(domain) == said
    for value in accepted:
        np.testing.assert_array_equal(domain.check("x", value), float(value))
    for value in refused:
        with pytest.raises(ValueError, match=rf"^parameter 'x' must be {re.escape(said)}, "
                                             rf"got {re.escape(f'{value:g}')}$"):
            domain.check("x", value)
    assumptions = domain.assumptions()
    assert assumptions.pop(sign) and assumptions.pop("real")
    assert assumptions == ({"integer": True} if "integer" in said else {})
    symbol = sp.Symbol("x", **domain.assumptions())
    assert getattr(symbol, f"is_{sign}") and symbol.is_real


@given(st.floats(-3, 3), st.floats(0, 3), st.booleans(), st.booleans(),
       st.lists(st.floats(-5, 5), min_size=1, max_size=6), st.data())
def test_an_interval_accepts_exactly_its_values(lo, width, lo_open, hi_open, values, data):
    """An array is accepted iff every value lies in the interval (a loop over the values with
    the interval's comparisons written out; the ends themselves are drawn too); the refusal
    names the first value outside. Its symbol is positive iff every value it accepts is > 0,
    else nonnegative iff every one is >= 0."""
    d = Domain(lo=lo, hi=lo + width, lo_open=lo_open, hi_open=hi_open)
    values = values + data.draw(st.lists(st.sampled_from([d.lo, d.hi]), max_size=2))
    symbol = sp.Symbol("x", **d.assumptions())
    assert bool(symbol.is_positive) == (lo > 0 or (lo == 0 and lo_open))
    assert bool(symbol.is_nonnegative) == (lo >= 0)
    inside = [(v > d.lo if lo_open else v >= d.lo) and (v < d.hi if hi_open else v <= d.hi)
              for v in values]
    if all(inside):
        np.testing.assert_array_equal(d.check("v", values), values)
    else:
        first = values[inside.index(False)]
        with pytest.raises(ValueError, match=f"got {re.escape(f'{first:g}')}$"):
            d.check("v", values)


def test_a_value_that_is_not_a_number_is_refused_by_name():
    with pytest.raises(ValueError, match=r"^parameter 'beta' must be a real number in \[0, 1\], "
                                         r"got 'half'$"):
        UNIT_CLOSED.check("beta", "half")



@given(st.sampled_from([d for d, *_ in CASES]), st.booleans(),
       st.sampled_from([lambda b: b, np.bool_, lambda b: [1, b], lambda b: (2.0, [b]),
                        lambda b: np.array([b, b])]))
def test_a_boolean_is_not_a_number(domain, flag, wrap):
    """True is not 1 and False is not 0 in any domain, alone, in numpy or inside a list."""
    value = wrap(flag)
    with pytest.raises(ValueError, match=rf"^parameter 'T' must be {re.escape(str(domain))}, "
                                         rf"got "):
        domain.check("T", value)

@given(st.sampled_from([d for d, *_ in CASES]),
       st.sampled_from(["3", b"3", " 0.5", "1e3", 1 + 0j, 0.5 + 0j, 2 + 1j, np.complex128(1)]),
       st.sampled_from([lambda v: v, lambda v: [1, v], lambda v: (2.0, [v]),
                        lambda v: np.array([v, v])]))
def test_text_and_complex_numbers_are_not_real_numbers(domain, value, wrap):
    """A string is text even where it spells a number in range, and a complex number is not
    real even with a zero imaginary part (a cast would drop it without a word): alone, in a
    list or in numpy, each is refused naming the parameter and the range."""
    with pytest.raises(ValueError, match=rf"^parameter 'T' must be {re.escape(str(domain))}, "
                                         rf"got "):
        domain.check("T", wrap(value))


def test_numbers_of_other_types_are_still_numbers():
    """numpy scalars, sympy rationals and 0-d arrays in range are accepted as their values."""
    assert UNIT_CLOSED.check("beta", sp.Rational(1, 2)) == 0.5
    assert POSITIVE_INT.check("T", np.int64(3)) == 3.0
    assert POSITIVE.check("x", np.float32(0.25)) == 0.25
    assert NONNEGATIVE.check("x", np.array(2.0)) == 2.0


def test_check_fits_refuses_only_what_exceeds_physical_memory(monkeypatch):
    """A size needing more bytes than the machine has is refused, naming the parameter, its
    value, what it sizes and both byte counts; as much as the machine has passes; where the OS
    does not say how much it has, nothing is refused."""
    monkeypatch.setattr(domains, "physical_memory", lambda: 1000)
    domains.check_fits("T", 7, 1000.0, "the pattern")
    with pytest.raises(ValueError, match=r"^parameter 'T' = 7 is too large: the pattern would "
                                         r"take at least 1001 bytes, more than this machine's "
                                         r"memory \(1000 bytes\)$"):
        domains.check_fits("T", 7, 1001.0, "the pattern")
    monkeypatch.setattr(domains, "physical_memory", lambda: None)
    domains.check_fits("T", 7, 1e30, "the pattern")


@pytest.mark.parametrize("x, said", [(0, "0"), (999_999_999, "999999999"), (1e9, "1e+09"),
                                     (1.5e9, "1.5e+09"), (2**40, "1.1e+12")])
def test_count_is_exact_below_a_billion_and_four_digits_above(x, said):
    assert domains.count(x) == said
