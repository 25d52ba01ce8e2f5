"""Sweeps (THEORY.md's laws over parameters: Omega(1/T), Omega(kappa^-d), floors independent
of T): a grid of measurements or training runs, parameters times seeds, run on local worker
processes or a Dask cluster, one row per point in a resumable JSON Lines table.

``spec`` (the JSON spec, checked: keys, types, ranges) -> ``grid`` (its points and their
keys) -> ``points`` (a function per kind: parameters -> result) -> ``runner`` (the table
claimed and the points' memory checked by ``estimate`` first, then mapped over an executor from
``executors``, with ``memory`` per point) -> ``table`` (appended rows, read back).
"""

from verify.sweeps.grid import Point, expand, point_key
from verify.sweeps.params import PARAMS, Param
from verify.sweeps.points import POINTS, measure_point, measure_row, train_point
from verify.sweeps.runner import LostPoints, evaluate, execute, run
from verify.sweeps.spec import Spec, load, parse
from verify.sweeps.table import read

__all__ = ["PARAMS", "POINTS", "LostPoints", "Param", "Point", "Spec", "evaluate", "execute",
           "expand", "load", "measure_point", "measure_row", "parse", "point_key", "read", "run",
           "train_point"]
