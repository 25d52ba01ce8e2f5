"""Sweeps (:mod:`verify.sweeps`, ``untangle sweep``): spec checks, the grid against a naive
loop, rows from local processes and from a Dask cluster, rows against direct measurements
(THEORY.md section 5), resuming, failed points, peak memory per point, the command's
contract. Tiny points (T <= 12, n = 4)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import event, given
from hypothesis import strategies as st
from sweep_cli import untangle, write_spec

from bounds.patterns import KINDS as PATTERNS
from bounds.patterns import build
from verify.measurement import measure
from verify.models import controlled
from verify.sweeps import (
    PARAMS,
    POINTS,
    LostPoints,
    Point,
    evaluate,
    expand,
    load,
    measure_point,
    measure_row,
    parse,
    point_key,
    read,
    run,
    train_point,
)
from verify.sweeps import points as points_module
from verify.sweeps.memory import POINT
from verify.sweeps.table import jsonable
from verify.training.config import Config

#: 3 patterns x learned or not x 2 seeds; learned attention over the none pattern (no
#: support) raises a ValueError: 2 failing points of 12.
SMALL = {"kind": "measure",
         "grid": {"pattern": ["none", "window", "sparse"], "learned": [False, True]},
         "fixed": {"T": 9, "hidden": 4, "profile": True}, "seeds": [0, 1]}
#: 3 horizons x 2 seeds, for the resume tests (run in this process).
TINY = {"kind": "measure", "grid": {"T": [3, 4, 5]}, "fixed": {"hidden": 4}, "seeds": [0, 1]}
#: what differs between two runs of the same point
VOLATILE = ("wall_s", "peak_mem_mb", "peak_mem_kind", "peak_gpu_mb")


def stable(row: dict) -> dict:
    return {k: v for k, v in row.items() if k not in VOLATILE}



class Counting:
    """The measure point function, recording (T, seed) of every call. With ``interrupt_at``
    the call of that number waits until the calls before it have their rows in ``table``
    (each row is appended as its point completes), then raises KeyboardInterrupt (Ctrl-C)."""

    def __init__(self, interrupt_at: int | None = None, table: Path | None = None) -> None:
        self.calls: list[tuple[int, int]] = []
        self.interrupt_at, self.table = interrupt_at, table

    def __call__(self, params: dict) -> dict:
        self.calls.append((params["T"], params["seed"]))
        if len(self.calls) == self.interrupt_at:
            deadline = time.monotonic() + 20
            while len(self.table.read_text().splitlines()) < self.interrupt_at:  # header + rows
                assert time.monotonic() < deadline, "finished rows were not appended"
                time.sleep(0.01)
            raise KeyboardInterrupt
        return measure_point(params)


def run_counting(monkeypatch, spec: dict, out: Path, fn: Counting, **kw) -> list[dict]:
    """``run`` on one thread of this process with ``fn`` as the measure point function."""
    monkeypatch.setitem(POINTS, "measure", fn)
    with ThreadPoolExecutor(1) as pool:
        return run(spec, out, executor=pool, threads=None, **kw)


def T_seed(rows: list[dict]) -> set[tuple[int, int]]:
    return {(r["params"]["T"], r["params"]["seed"]) for r in rows}


ALL_TINY = {(T, s) for T in (3, 4, 5) for s in (0, 1)}


# --- the spec --------------------------------------------------------------------------------

BAD_SPECS = [
    ([], r"spec: expected a JSON object"),
    ({"kind": "measure", "grids": {}}, r"spec: unknown key 'grids'"),
    ({"grid": {"T": [3]}}, r"spec 'kind': must be one of measure, train; is missing"),
    ({"kind": "fit"}, r"spec 'kind': must be one of measure, train; got 'fit'"),
    ({"kind": "measure", "grid": [1]}, r"spec 'grid': expected an object"),
    ({"kind": "measure", "grid": {"T": [3], "hiden": [4]}},
     r"spec 'grid.hiden': unknown parameter of kind 'measure'"),
    ({"kind": "measure", "fixed": {"T": 3, "steps": 4}},
     r"spec 'fixed.steps': unknown parameter of kind 'measure'"),
    ({"kind": "measure", "grid": {"T": []}}, r"spec 'grid.T': empty list"),
    ({"kind": "measure", "grid": {"T": 10}}, r"spec 'grid.T': expected a list of values"),
    ({"kind": "measure", "grid": {"T": [10, "20"]}}, r"spec 'grid.T\[1\]': expected an integer"),
    ({"kind": "measure", "grid": {"T": [True]}}, r"spec 'grid.T\[0\]': expected an integer"),
    ({"kind": "measure", "grid": {"T": [10.0]}}, r"spec 'grid.T\[0\]': expected an integer"),
    ({"kind": "measure", "grid": {"T": [10, 10]}}, r"spec 'grid.T': value 10 is repeated"),
    ({"kind": "measure", "grid": {"T": [3], "scale": [1, 1.0]}},
     r"spec 'grid.scale': value 1.0 is repeated"),
    ({"kind": "measure", "fixed": {"T": 3, "scale": "big"}},
     r"spec 'fixed.scale': expected a finite number"),
    ({"kind": "measure", "fixed": {"T": 3, "hidden": None}},
     r"spec 'fixed.hidden': expected an integer, got None"),
    ({"kind": "measure", "fixed": {"T": 3, "pattern": "windo"}},
     r"spec 'fixed.pattern': must be one of none, uniform"),
    ({"kind": "measure", "fixed": {"T": 3, "events": [1, "x"]}},
     r"spec 'fixed.events': expected a list of integers"),
    ({"kind": "measure", "fixed": {"T": 3, "eigenvalues": ["0.5+j2"]}},
     r"spec 'fixed.eigenvalues': expected a list of numbers or complex strings"),
    ({"kind": "measure", "fixed": {"T": 3, "eigenvalues": [0.5, "inf"]}},
     r"spec 'fixed.eigenvalues': expected a list of numbers or complex strings"),
    ({"kind": "measure", "fixed": {"T": 3, "eigenvalues": ["0.5+nanj"]}},
     r"spec 'fixed.eigenvalues': expected a list of numbers or complex strings"),
    ({"kind": "measure", "grid": {"T": [3]}, "fixed": {"T": 4}},
     r"spec 'fixed.T': also in 'grid'"),
    ({"kind": "measure", "grid": {"T": [3], "seed": [1]}}, r"spec 'grid.seed': seeds go in"),
    ({"kind": "measure", "fixed": {"T": 3}, "seeds": []}, r"spec 'seeds': empty list"),
    ({"kind": "measure", "fixed": {"T": 3}, "seeds": [0, -1]}, r"spec 'seeds': must be "
     r"integers >= 0, got -1"),
    ({"kind": "measure", "fixed": {"T": 3}, "seeds": ["0"]}, r"spec 'seeds\[0\]'"),
    ({"kind": "measure", "grid": {"hidden": [4]}},
     r"spec: parameter 'T' of kind 'measure' is required"),
    ({"kind": "train", "fixed": {"T": 10}}, r"spec: parameter 'steps' of kind 'train' is required"),
    ({"kind": "train", "fixed": {"steps": 3, "lr": "fast"}},
     r"spec 'fixed.lr': expected a finite number"),
]


@pytest.mark.parametrize(("spec", "message"), BAD_SPECS)
def test_bad_spec_is_refused_naming_the_key(spec, message):
    with pytest.raises(ValueError, match=message):
        parse(spec)


def test_train_seeds_stop_at_torchs_largest_seed():
    """A train point seeds a torch.Generator, whose seed is a signed int64: 2^63 - 1 is the
    largest; a measure point's numpy seed has no such limit."""
    top = 2**63 - 1
    assert parse({"kind": "train", "fixed": {"steps": 1}, "seeds": [0, top]}).seeds == [0, top]
    with pytest.raises(ValueError, match=rf"^spec 'seeds': must be integers >= 0 and <= {top} "
                                         rf"for kind 'train', got {top + 1}$"):
        parse({"kind": "train", "fixed": {"steps": 1}, "seeds": [top + 1]})
    assert parse({"kind": "measure", "fixed": {"T": 3}, "seeds": [top + 1]}).seeds == [top + 1]


#: (parameter, the options that use it, a value out of the range `untangle measure` accepts,
#: that range as the commands state it): written out from THEORY.md section 6 and the
#: commands' refusals, not read from the parameter table
OUT_OF_RANGE = [
    ("scale", {"spectrum": "identity"}, 0, r"be a real number in \(0, inf\), got 0"),
    ("scale", {"spectrum": "nonneg"}, -0.5, r"be a real number in \(0, inf\), got -0.5"),
    ("gain", {"spectrum": "gaussian"}, -1, r"be a real number in \(0, inf\), got -1"),
    ("nonnormal", {"spectrum": "eigen"}, -0.1, r"be a real number in \[0, inf\), got -0.1"),
    ("sigma", {"spectrum": "singular", "hidden": 2}, [1.0, -1.0],
     r"be a real number in \[0, inf\), got -1"),
    ("input_scale", {}, -2, r"be a real number in \[0, inf\), got -2"),
    ("bias_scale", {}, -1e-300, r"be a real number in \[0, inf\), got -1e-300"),
    ("beta", {"pattern": "uniform"}, -1, r"be a real number in \[0, inf\), got -1"),
    ("gamma", {"pattern": "window"}, -0.5, r"be a real number in \[0, inf\), got -0.5"),
    ("events", {"pattern": "events"}, [2, -1], r"be an integer >= 0, got -1"),
    ("events", {"pattern": "events"}, [1, 2, 1], r"name each time step once, got 1 2 times"),
]


@pytest.mark.parametrize(("name", "uses", "value", "said"), OUT_OF_RANGE)
@pytest.mark.parametrize("where", ["fixed", "grid"])
def test_a_value_out_of_range_is_refused_before_any_point_runs(name, uses, value, said, where):
    """The spec's own check, naming its key and the parameter, as `untangle measure` refuses
    the option (not a failed point at run time); the value in range passes."""
    given = {"fixed": {"T": 5, **uses, name: value}} if where == "fixed" else {
        "fixed": {"T": 5, **uses}, "grid": {name: [value]}}
    key = f"{where}.{name}" + ("[0]" if where == "grid" else "")
    with pytest.raises(ValueError, match=rf"^spec {re.escape(repr(key))}: parameter "
                                         rf"{re.escape(repr(name))} must {said}$"):
        parse({"kind": "measure", **given})
    fine = {"fixed": {"T": 5, **uses, name: [2, 0] if name == "events" else
                      [1.0, 0.0] if name == "sigma" else 0.5}}
    assert parse({"kind": "measure", **fine}).fixed[name] is not None


#: (kind, grid, fixed) where no point uses an option that only some patterns, spectra,
#: attention kinds or models use, and the key the refusal names: written out here, not read
#: from the rule's table
UNUSED_SPECS = [
    ("measure", {}, {"eigenvalues": [0.5]}, "fixed.eigenvalues"),  # default spectrum orthogonal
    ("measure", {"spectrum": ["gaussian", "singular"]}, {"nonnormal": 0.1}, "fixed.nonnormal"),
    ("measure", {"sigma": [[0.5], [0.7]]}, {"spectrum": "eigen"}, "grid.sigma"),
    ("measure", {}, {"spectrum": "gaussian", "scale": 0.5}, "fixed.scale"),
    ("measure", {"gain": [0.5, 2.0]}, {}, "grid.gain"),
    ("measure", {"width": [2, 3]}, {}, "grid.width"),  # default pattern none
    ("measure", {"pattern": ["window", "sparse"]}, {"stride": 3}, "fixed.stride"),
    ("measure", {}, {"pattern": "window", "kappa": 2}, "fixed.kappa"),
    ("measure", {}, {"pattern": "window", "events": [2]}, "fixed.events"),
    ("measure", {"include_h0": [False, True]}, {}, "grid.include_h0"),
    ("measure", {"pattern": ["window", "uniform"]}, {"rho": 3}, "fixed.rho"),
    ("measure", {"score": ["accumulated", "normalised"]}, {"pattern": "window"}, "grid.score"),
    ("train", {"nu": [3, 5]}, {"model": "rnn"}, "grid.nu"),
    ("train", {"model": ["lstm", "memrnn"]}, {"score": "normalised"}, "fixed.score"),
    ("train", {}, {"model": "rnn", "rho": 0}, "fixed.rho"),
]
#: the same options where some point uses them, or given as null or false (left out)
USED_SPECS = [
    ("measure", {}, {"eigenvalues": [0.5], "spectrum": "eigen"}),
    ("measure", {"spectrum": ["gaussian", "eigen"]}, {"eigenvalues": [0.5], "nonnormal": 0.1}),
    ("measure", {"sigma": [[0.5], [0.7]]}, {"spectrum": "singular"}),
    ("measure", {}, {"scale": 0.5, "sigma": None}),  # default spectrum orthogonal
    ("measure", {"pattern": ["none", "events"]}, {"width": 2, "events": [2]}),
    ("measure", {"pattern": ["window", "strided"]}, {"stride": 3}),
    ("measure", {}, {"pattern": "sparse", "kappa": 2}),
    ("measure", {"learned": [False, True]}, {"include_h0": True}),
    ("measure", {}, {"include_h0": False}),
    ("measure", {"pattern": ["window", "relevancy"]}, {"width": 2, "rho": 3}),
    ("measure", {"score": ["accumulated", "normalised"]}, {"pattern": "relevancy"}),
    ("train", {"nu": [3, 5]}, {}),  # default model relrnn
    ("train", {"model": ["rnn", "rellstm"]}, {"score": "normalised", "rho": 0}),
]


@pytest.mark.parametrize(("kind", "grid", "fixed", "key"), UNUSED_SPECS)
def test_an_option_no_point_uses_is_refused(kind, grid, fixed, key):
    """As the commands refuse an option their run would not use, a sweep refuses one that
    none of its points uses, naming the key and what would use it."""
    required = {"measure": {"T": 3}, "train": {"steps": 1}}[kind]
    with pytest.raises(ValueError, match=rf"spec '{key}': no point of the sweep uses it; it "
                                         rf"goes with "):
        parse({"kind": kind, "grid": grid, "fixed": {**required, **fixed}})


@pytest.mark.parametrize(("kind", "grid", "fixed"), USED_SPECS)
def test_an_option_some_point_uses_is_accepted(kind, grid, fixed):
    required = {"measure": {"T": 3}, "train": {"steps": 1}}[kind]
    spec = parse({"kind": kind, "grid": grid, "fixed": {**required, **fixed}})
    assert set(spec.grid) == set(grid) and set(spec.fixed) == {*required, *fixed}


def test_spec_values_take_one_canonical_form():
    """A float parameter's 1 is 1.0, complex numbers are str(complex), null is accepted where
    the default is null, and seeds default to [0]."""
    spec = parse({"kind": "measure", "grid": {"scale": [1, 0.5]},
                  "fixed": {"T": 3, "spectrum": "eigen", "eigenvalues": [0.5, "0.5 + 0.2j"],
                            "inputs": None}})
    assert spec.grid == {"scale": [1.0, 0.5]}
    assert isinstance(spec.grid["scale"][0], float)
    assert spec.fixed["eigenvalues"] == ["(0.5+0j)", "(0.5+0.2j)"]
    assert spec.fixed["inputs"] is None
    assert spec.seeds == [0]


def test_load_reports_an_unreadable_or_invalid_file(tmp_path):
    with pytest.raises(ValueError, match="parameter 'spec': .* does not exist"):
        load(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{kind: measure}")
    with pytest.raises(ValueError, match="is not valid JSON"):
        load(tmp_path / "bad.json")


def test_every_kind_has_a_point_function():
    assert set(POINTS) == set(PARAMS) == {"measure", "train"}


# --- the grid --------------------------------------------------------------------------------

#: measure parameters and how to draw a list of distinct values of each
DRAWS = {
    "T": st.lists(st.integers(1, 60), min_size=1, max_size=3, unique=True),
    "hidden": st.lists(st.integers(1, 32), min_size=1, max_size=3, unique=True),
    "scale": st.lists(st.floats(0.1, 2.0), min_size=1, max_size=2, unique=True),
    "pattern": st.lists(st.sampled_from(PATTERNS), min_size=1, max_size=3, unique=True),
    "learned": st.lists(st.booleans(), min_size=1, max_size=2, unique=True),
    "events": st.lists(st.lists(st.integers(1, 9), max_size=3, unique=True), min_size=1,
                       max_size=2, unique_by=tuple),
}


@st.composite
def grids(draw: st.DrawFn) -> tuple[list[tuple[str, list]], dict, list[int]]:
    """Grid parameters (in a drawn order) with their lists, fixed values of some others (T
    fixed when not in the grid) and seeds."""
    names = draw(st.permutations(list(DRAWS)))
    in_grid = names[:draw(st.integers(0, len(names)))]
    grid = [(name, draw(DRAWS[name])) for name in in_grid]
    fixed = {name: draw(DRAWS[name])[0] for name in names[len(in_grid):]
             if name == "T" or draw(st.booleans())}
    seeds = draw(st.lists(st.integers(0, 1000), min_size=1, max_size=3, unique=True))
    if "events" in fixed or "events" in in_grid:  # some point must use the events
        at = in_grid.index("pattern") if "pattern" in in_grid else None
        if at is not None and "events" not in grid[at][1]:
            grid[at] = ("pattern", [*grid[at][1], "events"])
        elif at is None:
            fixed["pattern"] = "events"
    return grid, fixed, seeds


@given(grids())
def test_grid_expands_as_a_naive_loop(drawn):
    """The points are every grid combination (the last parameter varying fastest) times the
    seeds (fastest of all), each with the fixed values over the kind's defaults."""
    grid, fixed, seeds = drawn
    combos = [{}]
    for name, values in grid:  # the naive loop: one nesting level per parameter
        combos = [{**c, name: v} for c in combos for v in values]
    defaults = {name: p.default for name, p in PARAMS["measure"].items()}
    want = [{**defaults, **fixed, **c, "seed": s} for c in combos for s in seeds]
    points = expand(parse({"kind": "measure", "grid": dict(grid), "fixed": fixed,
                           "seeds": seeds}))
    assert [p.params for p in points] == want
    assert len({p.key for p in points}) == len(want)  # distinct points, distinct keys


@given(grids())
def test_point_keys_do_not_depend_on_order(drawn):
    """Reordering the grid or the parameters, or writing a default out, keeps every key (and
    what each point computes)."""
    grid, fixed, seeds = drawn
    spec = {"kind": "measure", "grid": dict(grid), "fixed": fixed, "seeds": seeds}
    keys = {p.key for p in expand(parse(spec))}
    explicit = {"hidden": 16} if "hidden" not in spec["grid"] and "hidden" not in fixed else {}
    other = {**spec, "grid": dict(reversed(grid)), "fixed": {**explicit, **fixed}}
    assert {p.key for p in expand(parse(other))} == keys
    for p in expand(parse(spec)):
        again = Point("measure", dict(reversed(p.params.items())))
        assert (again.key, again.computes) == (p.key, p.computes)


def test_point_key_is_pinned():
    """The key of a point is part of the table format: tables written before must resume.
    (A pinned value: it changes only with the key's definition.)"""
    assert point_key("measure", {"T": 3, "seed": 0}) == point_key("measure", {"seed": 0, "T": 3})
    assert point_key("measure", {"T": 3, "seed": 0}) == "2840077902519130"
    assert point_key("train", {"T": 3, "seed": 0}) != point_key("measure", {"T": 3, "seed": 0})


def test_parameters_added_later_leave_earlier_keys_alone():
    """rho and score (relevancy screening) enter a key only where the point's pattern is
    relevancy: the points of a spec written before they existed keep their keys (pinned:
    computed before they were added), and relevancy points differ in them."""
    spec = {"kind": "measure", "grid": {"pattern": ["none", "window", "uniform"]},
            "fixed": {"T": 5}, "seeds": [0, 1]}
    assert [p.key for p in expand(parse(spec))] == [
        "6c5ab424ba54add8", "26957e345a086dae", "19999ff32604f371", "42a08df98d391407",
        "2bc0cc44e3f372b0", "101d9b0737d434ed"]
    screened = {"kind": "measure", "grid": {"rho": [2, 3], "score": ["accumulated",
                                                                     "normalised"]},
                "fixed": {"T": 5, "pattern": "relevancy"}}
    assert len({p.key for p in expand(parse(screened))}) == 4


#: An option's two values, and which points use it (THEORY.md sections 1, 6 and 7: the
#: pattern and spectrum each read their own options; relevancy screening's attention is
#: learned whatever ``learned`` says, and it refuses h_0 in its buffer).
VARIED = {
    "width": ([2, 3], lambda p: p["pattern"] in ("window", "events", "relevancy")),
    "stride": ([2, 3], lambda p: p["pattern"] == "strided"),
    "kappa": ([2, 3], lambda p: p["pattern"] == "sparse"),
    "events": ([[1], [1, 3]], lambda p: p["pattern"] == "events"),
    "rho": ([0, 2], lambda p: p["pattern"] == "relevancy"),
    "score": (["accumulated", "normalised"], lambda p: p["pattern"] == "relevancy"),
    "learned": ([False, True], lambda p: p["pattern"] != "relevancy"),
    "include_h0": ([False, True], lambda p: p["learned"] or p["pattern"] == "relevancy"),
    "scale": ([0.9, 1.1], lambda p: p["spectrum"] != "gaussian"),
    "gain": ([0.5, 1.5], lambda p: p["spectrum"] == "gaussian"),
    "sigma": ([[0.5, 0.9, 0.7], [1.2, 0.3, 0.8]], lambda p: p["spectrum"] == "singular"),
    "eigenvalues": ([["0.5", "0.2+0.3j", "0.2-0.3j"], [0.9, -0.4, 0.1]],
                    lambda p: p["spectrum"] == "eigen"),
    "nonnormal": ([0.0, 1.0], lambda p: p["spectrum"] == "eigen"),
    "T": ([6, 7], lambda p: True),
}


@st.composite
def point_pairs(draw):
    """Two measure points on small networks (n = 3, T 6 or 7) that differ in some of the
    options of :data:`VARIED`, and whether every option they differ in is one neither uses."""
    base = {name: draw(st.sampled_from(values)) for name, (values, _) in VARIED.items()}
    base.update(pattern=draw(st.sampled_from(["none", "window", "strided", "sparse", "events",
                                              "uniform", "relevancy"])),
                spectrum=draw(st.sampled_from(["gaussian", "singular", "eigen", "nonneg"])),
                seed=draw(st.integers(0, 3)))
    params = {**{name: p.default for name, p in PARAMS["measure"].items()}, "hidden": 3}
    idle = [name for name, (_, uses) in VARIED.items() if not uses({**params, **base})]
    names = idle if idle and draw(st.booleans()) else sorted(VARIED)  # half aimed at merges
    changed = draw(st.lists(st.sampled_from(names), min_size=1, max_size=3, unique=True))
    other = {**base, **{name: next(v for v in VARIED[name][0] if v != base[name])
                        for name in changed}}
    a, b = ({**params, **base}, {**params, **other})
    unused = not any(VARIED[name][1](a) or VARIED[name][1](b) for name in changed)
    return a, b, unused


@given(point_pairs())
def test_points_compute_the_same_exactly_when_they_differ_only_in_unused_options(pair):
    """A sweep computes once the points that differ only in options they do not use, so that
    must be exact: the two points' rows (result or error) are equal, computed here one by
    one. And only then: differing in an option either point uses, they are not merged."""
    a, b, unused = pair
    pa, pb = Point("measure", a), Point("measure", b)
    event(f"unused: {unused}")
    assert (pa.computes == pb.computes) == unused
    if unused:
        ra, rb = evaluate(measure_point, pa, None), evaluate(measure_point, pb, None)
        assert (ra["result"], ra["error"]) == (rb["result"], rb["error"])


def test_train_points_of_unscreened_models_ignore_the_relevant_set():
    """nu, rho and score change nothing for rnn (a train point's result, less its timing),
    and are its own computation for relrnn."""
    def point(model: str, **kw) -> Point:
        params = {name: p.default for name, p in PARAMS["train"].items()}
        return Point("train", {**params, "model": model, "T": 10, "hidden": 3, "batch": 2,
                               "steps": 2, "seed": 0, **kw})

    rows = []
    for kw in ({}, {"nu": 3, "rho": 2, "score": "normalised"}):
        rnn, relrnn = point("rnn", **kw), point("relrnn", **kw)
        row = evaluate(train_point, rnn, None)
        rows.append({k: v for k, v in row["result"].items() if k != "sec_per_step"})
        assert rnn.computes != relrnn.computes
    assert rows[0] == rows[1]
    assert point("rnn").computes == point("rnn", nu=3, rho=2, score="normalised").computes
    assert point("relrnn").computes != point("relrnn", nu=3).computes


# --- rows: local processes, Dask, direct measurement -------------------------------------------

@pytest.fixture(scope="module")
def local_rows(tmp_path_factory) -> list[dict]:
    """SMALL on two local worker processes."""
    return run(SMALL, tmp_path_factory.mktemp("local") / "small.jsonl", workers=2)


@pytest.fixture(scope="module")
def dask_client():
    """A Dask cluster on this machine: one worker process with one thread."""
    distributed = pytest.importorskip(
        "distributed", reason="dask.distributed is not installed (the cluster extra)")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        yield client


def test_local_rows_hold_every_point_in_grid_order(local_rows):
    points = expand(parse(SMALL))
    assert [r["key"] for r in local_rows] == [p.key for p in points]
    assert [r["params"] for r in local_rows] == [p.params for p in points]
    for r in local_rows:
        assert r["wall_s"] > 0 and r["peak_mem_mb"] > 0 and r["peak_gpu_mb"] is None


def test_dask_rows_equal_local_rows(local_rows, dask_client, tmp_path):
    rows = run(SMALL, tmp_path / "dask.jsonl", client=dask_client)
    assert [stable(r) for r in rows] == [stable(r) for r in local_rows]


def test_cli_scheduler_runs_on_the_cluster(local_rows, dask_client, tmp_path, capsys):
    spec = write_spec(tmp_path / "small.json", SMALL)
    code, out, err = untangle(capsys, spec, "--scheduler", dask_client.scheduler.address,
                              "--json")
    assert code == 0, err
    assert json.loads(out) == {"out": str(tmp_path / "small.jsonl"), "points": 12, "repeats": 0,
                               "finished": 12, "computed": 12, "failed": 2}
    rows = read(tmp_path / "small.jsonl")[1]
    assert sorted(map(json.dumps, map(stable, rows))) == sorted(
        map(json.dumps, map(stable, local_rows)))


def test_rows_match_a_direct_measurement(local_rows):
    """Each successful row holds what measure() gives on the network and inputs built here
    from the spec's values (THEORY.md section 5). Tolerance 1e-12 relative: the worker ran
    torch on one thread, this process may use more (another summation order)."""
    ok = [r for r in local_rows if r["error"] is None]
    assert len(ok) == 10
    for row in ok:
        kind, learned, seed = (row["params"][k] for k in ("pattern", "learned", "seed"))
        pattern = build(kind, 9, nu=4, k=2, kappa=3, seed=seed)
        model = controlled("orthogonal", 4, 4, "tanh", pattern=pattern, learned=learned,
                           seed=seed, device="cpu", dtype="float64")
        x = torch.as_tensor(np.random.default_rng([seed, 1]).standard_normal((1, 9, 4)))
        m = measure(model, x, mode="fixed")
        got = row["result"]
        assert got["kappa"] == m.kappa and got["depth_0"] == m.depth[0]
        for name in ("log10_norm2", "log10_fro", "log10_sigma_min"):
            assert got[f"{name}_0"] == pytest.approx(getattr(m, name)[0], rel=1e-12)
            assert got["profile"][name] == pytest.approx(list(getattr(m, name)), rel=1e-12)
        assert set(got["bounds_log10_0"]) == set(m.bounds_log10)
        for name, v in m.bounds_log10.items():
            if np.isfinite(v[0]):
                assert got["bounds_log10_0"][name] == pytest.approx(v[0], rel=1e-12)
            else:  # a vacuous lower bound, log10 -inf: null in JSON
                assert v[0] == -np.inf and got["bounds_log10_0"][name] is None
        assert got["hypotheses"] == m.hypotheses


def test_a_relevancy_point_is_the_screened_network():
    """A point with pattern "relevancy" measures relevancy screening run online with the
    spec's buffer, relevant set and score (against the network built here), and its memory
    estimate counts nu + rho states a step (more than the window of nu alone) and the set's
    trace."""
    from verify.sweeps.estimate import estimate
    from verify.sweeps.points import measure_point

    fixed = {"T": 12, "pattern": "relevancy", "width": 3, "rho": 2, "score": "normalised",
             "hidden": 4, "profile": True}
    (point,) = expand(parse({"kind": "measure", "fixed": fixed}))
    got = measure_point(point.params)
    model = controlled("orthogonal", 4, 4, "tanh", relevant_set=(3, 2), score="normalised",
                       seed=0, device="cpu", dtype="float64")
    x = torch.as_tensor(np.random.default_rng([0, 1]).standard_normal((1, 12, 4)))
    m = measure(model, x)
    assert got["profile"]["log10_norm2"] == pytest.approx(list(m.log10_norm2), rel=1e-12)
    assert got["kappa"] == m.kappa <= 5 and got["hypotheses"] == m.hypotheses
    alone = {k: v for k, v in fixed.items() if k not in ("rho", "score")}
    (window,) = expand(parse({"kind": "measure", "fixed": {**alone, "pattern": "window"}}))
    assert estimate(point) > estimate(window)
    (big,) = expand(parse({"kind": "measure", "fixed": {**fixed, "rho": 10**6}}))
    # the set's trace holds rho entries a step, filled or not (32 bytes each, measured)
    assert estimate(big) - estimate(point) >= 32 * 13 * (10**6 - 2)


def test_a_failing_point_keeps_its_error_and_the_others_go_on(local_rows):
    failed = [r for r in local_rows if r["error"] is not None]
    assert {(r["params"]["pattern"], r["params"]["learned"]) for r in failed} == {("none", True)}
    assert len(failed) == 2
    for r in failed:
        assert r["error"].startswith("ValueError: parameter 'pattern': learned attention")
        assert "Traceback" not in r["error"] and "\n" not in r["error"]
        assert r["result"] is None and r["wall_s"] >= 0


def test_measure_row_adds_verdicts_when_the_measurement_has_them(monkeypatch):
    model = controlled("orthogonal", 3, 3, "tanh", seed=0, device="cpu")
    m = measure(model, torch.zeros(1, 4, 3, dtype=torch.float64))
    plain = m.to_json()
    plain.pop("verdicts", None)
    monkeypatch.setattr(m, "to_json", lambda: plain)
    assert "verdicts" not in measure_row(m) and "profile" not in measure_row(m)
    verdicts = {"path_sum_upper": {"applicable": True, "holds_at": 4, "worst": None}}
    monkeypatch.setattr(m, "to_json", lambda: {**plain, "verdicts": verdicts})
    assert measure_row(m)["verdicts"] == verdicts


def test_measure_row_takes_every_value_at_t_0():
    """G_0's norms, d(0, T) and the score-term gap of a full-mode measurement of learned
    attention, and each bound of a fixed pattern's, where all of them differ between t = 0
    and t = 1."""
    x = torch.randn(1, 7, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    for learned, mode in ((True, "full"), (False, "fixed")):
        model = controlled("orthogonal", 3, 3, "tanh", pattern=build("window", 7, nu=2),
                           learned=learned, seed=0, device="cpu")
        m = measure(model, x, mode=mode)
        row = measure_row(m)
        want = {"log10_norm2_0": m.log10_norm2, "log10_fro_0": m.log10_fro,
                "log10_sigma_min_0": m.log10_sigma_min, "depth_0": m.depth}
        if learned:
            want["gap_0"] = m.gap
        for key, values in want.items():
            assert values[0] != values[1] and row[key] == values[0], key
    finite = {k: v[0] for k, v in m.bounds_log10.items() if np.isfinite(v[:2]).all()
              and v[0] != v[1]}
    assert finite and {k: row["bounds_log10_0"][k] for k in finite} == finite


def test_jsonable_makes_plain_json():
    assert jsonable({"a": np.float64(0.5), "b": (1, np.nan), 3: np.arange(2), "c": None}) == {
        "a": 0.5, "b": [1, None], "3": [0, 1], "c": None}
    assert json.dumps(jsonable({"x": [-np.inf, np.bool_(True)]})) == '{"x": [null, true]}'
    # a dataclass (a Config in a row) becomes the object of its fields
    cfg = Config(model="rnn", T=12, lr=0.5)
    assert jsonable({"config": cfg}) == {"config": vars(cfg)}
    # anything else JSON has no type for is written as its text
    assert jsonable({"device": torch.device("cpu"), "dtype": torch.float32}) == {
        "device": "cpu", "dtype": "torch.float32"}


def test_train_point_passes_every_parameter(monkeypatch):
    """The Config and the steps/device train() gets are the point's (train itself is tested
    in test_train.py)."""
    seen = {}

    def fake(cfg, steps, *, device, progress):
        seen.update(cfg=cfg, steps=steps, device=device, progress=progress)
        return {"eval_accuracy": 0.5, "eval_loss": 1.0, "last_accuracy": 0.25, "last_loss": 2.0,
                "sec_per_step": 0.1, "peak_mem_mb": 9.0}

    monkeypatch.setattr(points_module, "train", fake)
    spec = parse({"kind": "train", "fixed": {"model": "lstm", "T": 12, "hidden": 5, "lr": 0.01,
                                             "batch": 3, "steps": 7}, "seeds": [4]})
    result = POINTS["train"](expand(spec)[0].params)
    cfg = seen["cfg"]
    assert (cfg.model, cfg.T, cfg.hidden, cfg.lr, cfg.batch, cfg.seed) == ("lstm", 12, 5, 0.01,
                                                                            3, 4)
    assert (cfg.task, cfg.nu, cfg.rho) == ("copy", 10, 15)  # the Config's defaults
    assert (seen["steps"], seen["device"], seen["progress"]) == (7, "cpu", False)
    assert result == {"eval_accuracy": 0.5, "eval_loss": 1.0, "last_accuracy": 0.25,
                      "last_loss": 2.0, "sec_per_step": 0.1}


# --- resuming --------------------------------------------------------------------------------

def test_resume_after_deleted_rows_recomputes_only_those(monkeypatch, tmp_path):
    out = tmp_path / "t.jsonl"
    first = Counting()
    rows = run_counting(monkeypatch, TINY, out, first)
    assert set(first.calls) == ALL_TINY and len(first.calls) == 6
    lines = out.read_text().splitlines()
    gone = [json.loads(line) for line in lines[2:4]]
    out.write_text("\n".join(lines[:2] + lines[4:]) + "\n")
    again = Counting()
    rerun = run_counting(monkeypatch, TINY, out, again)
    assert sorted(again.calls) == sorted(T_seed(gone))
    assert [stable(r) for r in rerun] == [stable(r) for r in rows]
    kept = {r["key"]: r["wall_s"] for r in rows if r["key"] not in {g["key"] for g in gone}}
    assert {r["key"]: r["wall_s"] for r in rerun if r["key"] in kept} == kept  # untouched


@given(patterns=st.lists(st.just("window"), max_size=1).flatmap(
           lambda others: st.permutations(["relevancy", "none", *others])),
       widths=st.lists(st.integers(1, 4), min_size=3, max_size=3, unique=True),
       rhos=st.lists(st.integers(0, 5), min_size=1, max_size=3, unique=True),
       scores=st.lists(st.sampled_from(["accumulated", "normalised"]), min_size=1, unique=True),
       learned=st.lists(st.booleans(), min_size=1, unique=True),
       seeds=st.lists(st.integers(0, 3), min_size=1, max_size=2, unique=True),
       interrupted=st.booleans())
def test_points_differing_only_in_unused_options_run_once(tmp_path_factory, patterns, widths,
                                                          rhos, scores, learned, seeds,
                                                          interrupted):
    """rho and score beside a pattern other than relevancy, width beside none, and learned
    beside relevancy
    (learned either way), change nothing the point computes: such points run once, each gets
    a row, a copy marked ``same_as`` the computed one. Expected: the distinct (pattern, width
    where used, rho and score where screened, learned where not, seed) counted here.
    ``interrupted``: half the copies are lost (a kill after the computed rows), and the rerun
    restores them, naming the computed row, without computing anything."""
    out = tmp_path_factory.mktemp("dup") / "t.jsonl"
    spec = {"kind": "measure",
            "grid": {"pattern": patterns, "width": widths, "rho": rhos, "score": scores,
                     "learned": learned},
            "fixed": {"T": 3, "hidden": 2}, "seeds": seeds}
    calls: list[tuple] = []

    def record(params: dict) -> dict:
        calls.append(used(params))
        return {"call": len(calls)}

    def used(p: dict) -> tuple:
        if p["pattern"] == "relevancy":
            return p["pattern"], p["width"], p["rho"], p["score"], p["seed"]
        if p["pattern"] == "window":
            return p["pattern"], p["width"], p["learned"], p["seed"]
        return p["pattern"], p["learned"], p["seed"]

    def sweep() -> list[dict]:
        with ThreadPoolExecutor(1) as pool:
            return run(spec, out, executor=pool, threads=None)

    before = POINTS["measure"]
    POINTS["measure"] = record
    try:
        rows = sweep()
        if interrupted:
            header, *lines = out.read_text().splitlines()
            copies = [x for x in lines if "same_as" in x]
            lost = set(copies[::2])  # some copies of a computation may stay, some not
            out.write_text("\n".join([header, *(x for x in lines if x not in lost)]) + "\n")
            calls_before, rows = list(calls), sweep()
            assert calls == calls_before
    finally:
        POINTS["measure"] = before
    grid = [{"pattern": p, "width": w, "rho": r, "score": s, "learned": lr, "seed": seed}
            for p in patterns for w in widths for r in rhos for s in scores for lr in learned
            for seed in seeds]
    assert sorted(calls) == sorted({used(g) for g in grid})
    stored = {r["key"]: r for r in read(out)[1]}
    computed = {used(r["params"]): r for r in stored.values() if "same_as" not in r}
    assert len(computed) == len(calls) and len(rows) == len(grid)
    for point, row in zip(grid, rows, strict=True):  # each point gets the row of its computation
        assert used(row["params"]) == used(point) and stored[row["key"]] == row
        assert row["result"] == computed[used(point)]["result"]
        assert row.get("same_as", row["key"]) == computed[used(point)]["key"]


def test_an_empty_file_is_taken_as_a_new_table(monkeypatch, tmp_path):
    """An existing empty output (touched beforehand, or left by a crash before the header)
    needs no --force: every point is computed into it, as into a new path."""
    out = tmp_path / "t.jsonl"
    out.touch()
    calls = Counting()
    rows = run_counting(monkeypatch, TINY, out, calls)
    assert set(calls.calls) == ALL_TINY and T_seed(rows) == ALL_TINY
    assert T_seed(read(out)[1]) == ALL_TINY


def test_interrupted_sweep_keeps_its_rows_and_resumes(monkeypatch, tmp_path):
    """Ctrl-C at the third call (after the first two rows are in the table): the rows stay,
    and the next run computes exactly the points without a row."""
    out = tmp_path / "t.jsonl"
    with pytest.raises(KeyboardInterrupt):
        run_counting(monkeypatch, TINY, out, Counting(interrupt_at=3, table=out))
    kept = read(out)[1]
    assert T_seed(kept) == {(3, 0), (3, 1)}
    again = Counting()
    rows = run_counting(monkeypatch, TINY, out, again)
    assert sorted(again.calls) == sorted(ALL_TINY - T_seed(kept))
    assert T_seed(rows) == ALL_TINY and len(out.read_text().splitlines()) == 7


def test_a_torn_last_line_is_dropped(monkeypatch, tmp_path):
    out = tmp_path / "t.jsonl"
    run_counting(monkeypatch, TINY, out, Counting())
    with out.open("a") as f:
        f.write('{"key": "5a1d')  # the writer killed mid-line
    again = Counting()
    assert T_seed(run_counting(monkeypatch, TINY, out, again)) == ALL_TINY
    assert again.calls == []
    assert out.read_text().endswith("}\n") and len(out.read_text().splitlines()) == 7


def test_failed_points_are_kept_unless_retried(monkeypatch, tmp_path):
    spec = {"kind": "measure", "grid": {"T": [3, 4], "pattern": ["none", "uniform"]},
            "fixed": {"hidden": 4, "learned": True}}
    out = tmp_path / "t.jsonl"
    run_counting(monkeypatch, spec, out, Counting())
    again = Counting()
    run_counting(monkeypatch, spec, out, again)
    assert again.calls == []
    retry = Counting()
    rows = run_counting(monkeypatch, spec, out, retry, retry_failed=True)
    assert sorted(retry.calls) == [(3, 0), (4, 0)]  # the pattern none ones
    assert len(rows) == 4 and [r["params"]["pattern"] for r in rows if r["error"]] == ["none"] * 2


def test_another_spec_is_refused_and_force_keeps_the_rows_in_common(monkeypatch, tmp_path):
    out = tmp_path / "t.jsonl"
    run_counting(monkeypatch, TINY, out, Counting())
    same = {"kind": "measure", "fixed": {"hidden": 4, "pattern": "none"}, "seeds": [0, 1],
            "grid": {"T": [5, 4, 3]}}  # reordered, a default written out: the same points
    again = Counting()
    run_counting(monkeypatch, same, out, again)
    assert again.calls == []
    grown = {**TINY, "grid": {"T": [4, 5, 6]}}
    with pytest.raises(ValueError, match=r"parameter 'out': .* holds another sweep \(its spec "
                                         r"has 6 points, this one 6, 4 in common\); --force"):
        run_counting(monkeypatch, grown, out, Counting())
    forced = Counting()
    rows = run_counting(monkeypatch, grown, out, forced, force=True)
    assert sorted(forced.calls) == [(6, 0), (6, 1)]
    assert T_seed(rows) == {(T, s) for T in (4, 5, 6) for s in (0, 1)}
    header, stored = read(out)
    assert header["spec"]["grid"] == {"T": [4, 5, 6]} and len(stored) == 6


def test_a_file_that_is_no_table_is_refused_unless_forced(monkeypatch, tmp_path):
    out = tmp_path / "notes.jsonl"
    out.write_text("my notes\n")
    with pytest.raises(ValueError, match="not a sweep table .*--force overwrites it"):
        run_counting(monkeypatch, TINY, out, Counting())
    assert T_seed(run_counting(monkeypatch, TINY, out, Counting(), force=True)) == ALL_TINY


def test_a_table_of_another_version_is_refused_naming_both(monkeypatch, tmp_path):
    out = tmp_path / "t.jsonl"
    run_counting(monkeypatch, TINY, out, Counting())
    header, *rows = out.read_text().splitlines()
    out.write_text("\n".join([json.dumps({**json.loads(header), "version": 2}), *rows]) + "\n")
    with pytest.raises(ValueError, match=r"sweep table version 2, this untangle reads 1"):
        run_counting(monkeypatch, TINY, out, Counting())


class LosingPool(ThreadPoolExecutor):
    """One thread; the points with T = 4 fail outside the point function (a lost worker)."""

    def submit(self, fn, *args):
        if args[1].params["T"] == 4:
            future = Future()
            future.set_exception(RuntimeError("worker lost\n(killed by the OS)"))
            return future
        return super().submit(fn, *args)


def test_points_of_a_lost_worker_get_no_row_and_are_retried(monkeypatch, tmp_path):
    out = tmp_path / "t.jsonl"
    monkeypatch.setitem(POINTS, "measure", Counting())
    with LosingPool(1) as pool, pytest.raises(
            LostPoints, match=r"^2 of 6 points did not run \(the first: RuntimeError: worker "
                              r"lost \(killed by the OS\)\); the others' rows are in"):
        run(TINY, out, executor=pool, threads=None)
    assert T_seed(read(out)[1]) == ALL_TINY - {(4, 0), (4, 1)}
    again = Counting()
    assert T_seed(run_counting(monkeypatch, TINY, out, again)) == ALL_TINY
    assert sorted(again.calls) == [(4, 0), (4, 1)]


def test_a_row_times_its_point():
    """wall_s is the point function's own time: at least what it slept, at most the whole
    call around it (a bound, not a speed assertion)."""
    def sleeps(params):
        time.sleep(0.05)
        return {}

    start = time.perf_counter()
    row = evaluate(sleeps, Point("x", {"a": 1}), None)
    assert 0.04 <= row["wall_s"] <= time.perf_counter() - start  # 0.04: clock granularity


def test_a_point_error_is_one_line():
    def fails(params):
        raise ZeroDivisionError("no\n  steps")

    row = evaluate(fails, Point("x", {"a": 1}), None)
    assert row["error"] == "ZeroDivisionError: no steps" and row["result"] is None


def test_cli_lost_points_exit_1_in_one_line(capsys, tmp_path, monkeypatch):
    def losing(*args, **kw):
        raise LostPoints("1 of 6 points did not run")

    monkeypatch.setattr("verify.sweeps.run", losing)
    code, _, err = untangle(capsys, write_spec(tmp_path / "s.json", TINY))
    assert (code, err) == (1, "untangle sweep: error: 1 of 6 points did not run\n")


def test_executor_and_client_together_are_refused(tmp_path):
    with ThreadPoolExecutor(1) as pool, pytest.raises(ValueError, match="'executor' and"):
        run(TINY, tmp_path / "t.jsonl", executor=pool, client=object())


# --- peak memory -----------------------------------------------------------------------------

def test_peak_memory_is_per_point():
    """A point that touches 200 MiB peaks at least 150 MiB above the small point after it:
    the worker's peak is reset before each point."""
    big = evaluate(lambda p: {"n": float(np.ones(200 * 2**17).sum())}, Point("x", {"a": 1}),
                   None)
    if big["peak_mem_kind"] != POINT:
        pytest.skip("the resident peak cannot be reset here (no /proc/self/clear_refs)")
    small = evaluate(lambda p: {"n": 1}, Point("x", {"a": 2}), None)
    assert big["result"] == {"n": 200 * 2**17} and small["peak_mem_kind"] == POINT
    assert big["peak_mem_mb"] > small["peak_mem_mb"] + 150


# --- the command -----------------------------------------------------------------------------

@pytest.mark.parametrize(("spec", "message"), [
    ({"kind": "fit"}, "spec 'kind'"),
    ({"kind": "measure", "grid": {"T": [3], "hiden": [4]}}, "spec 'grid.hiden'"),
    ({"kind": "measure", "grid": {"T": ["3"]}}, r"spec 'grid.T[0]'"),
    ({"kind": "measure", "grid": {"T": []}}, "spec 'grid.T': empty list"),
    ({"kind": "measure", "grid": {"T": [3]}, "fixed": {"gain": 2.0}},
     "spec 'fixed.gain': no point of the sweep uses it"),
    ("{not json", "is not valid JSON"),
])
def test_cli_bad_spec_exits_2_in_one_line(capsys, tmp_path, spec, message):
    path = tmp_path / "s.json"
    path.write_text(spec if isinstance(spec, str) else json.dumps(spec))
    code, out, err = untangle(capsys, path)
    assert code == 2 and out == ""
    assert err.startswith("untangle: error: ") and message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "s.jsonl").exists()


@pytest.mark.parametrize(("args", "message"), [
    (["--scheduler", "tcp://127.0.0.1:1", "--workers", "2"], "parameter 'workers'"),
    (["--workers", "0"], "parameter 'workers' must be an integer >= 1"),
    (["--out", "{spec}"], "parameter 'out': the table would overwrite the spec"),
])
def test_cli_bad_options_exit_2(capsys, tmp_path, args, message):
    spec = write_spec(tmp_path / "s.json", TINY)
    code, _, err = untangle(capsys, spec, *(a.format(spec=spec) for a in args))
    assert code == 2 and message in err and "Traceback" not in err


def test_cli_scheduler_without_dask_names_the_extra(capsys, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed fails
    spec = write_spec(tmp_path / "s.json", TINY)
    code, _, err = untangle(capsys, spec, "--scheduler", "tcp://127.0.0.1:8786")
    assert code == 2 and "Traceback" not in err
    assert "dask.distributed" in err and "pip install -e '.[cluster]'" in err


def test_cli_force_rule_for_another_spec(capsys, tmp_path, monkeypatch):
    spec = write_spec(tmp_path / "s.json", TINY)
    rows = run_counting(monkeypatch, TINY, tmp_path / "s.jsonl", Counting())
    write_spec(spec, {**TINY, "grid": {"T": [3, 4]}})
    code, out, err = untangle(capsys, spec, "--json")
    assert code == 2 and "holds another sweep" in err and "--force" in err
    code, out, err = untangle(capsys, spec, "--json", "--force")
    assert code == 0, err
    assert json.loads(out) == {"out": str(tmp_path / "s.jsonl"), "points": 4, "repeats": 0,
                               "finished": 4, "computed": 0, "failed": 0}
    kept = {r["key"]: r for r in rows if r["params"]["T"] < 5}
    assert {r["key"]: r for r in read(tmp_path / "s.jsonl")[1]} == kept  # not recomputed


def test_cli_ctrl_c_exits_130_keeping_the_finished_rows(monkeypatch, tmp_path):
    """``untangle sweep`` in a subprocess: rows appear in the table while it runs (each is
    flushed as it completes); SIGINT stops it with exit 130 and one line on stderr; the next
    run computes exactly the points without a row."""
    spec = {"kind": "measure", "fixed": {"T": 800, "hidden": 32}, "seeds": list(range(60))}
    path = write_spec(tmp_path / "long.json", spec)
    out = tmp_path / "long.jsonl"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    proc = subprocess.Popen([sys.executable, "-m", "verify.cli", "sweep", str(path)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not out.exists() or len(out.read_text().splitlines()) < 3:
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130
    assert err.strip().splitlines() == [
        f"untangle sweep: interrupted; the finished rows are kept in {str(out)!r}; run the "
        f"same command to resume"]
    kept = read(out)[1]
    assert 2 <= len(kept) < 60
    calls = []

    def record(params: dict) -> dict:
        calls.append(params["seed"])
        return {}

    monkeypatch.setitem(POINTS, "measure", record)
    with ThreadPoolExecutor(1) as pool:
        rows = run(path, out, executor=pool, threads=None)
    assert sorted(calls) == sorted(set(range(60)) - {r["params"]["seed"] for r in kept})
    assert [r["params"]["seed"] for r in rows] == list(range(60))
