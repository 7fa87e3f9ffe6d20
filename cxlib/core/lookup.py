"""Lookups on columns of millions of rows: a value per key, and whether a key is known.

pandas' ``Series.map`` and ``Series.isin`` on Arrow-backed text walk Python values, about a second
per million rows. These do the same with hash lookups: on the distinct keys (a handful of journey
types) or on an index (a customer table), and give the values ``map`` and ``isin`` would.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd


def map_values(keys: pd.Series, mapping: Mapping | pd.Series) -> pd.Series:
    """``keys.map(mapping)``: the value of each key in a dict or in a Series with a unique index,
    missing (NaN, NaT) for an unknown or missing key; same index, name and dtype as ``map`` gives."""
    codes, uniques = pd.factorize(keys)        # each distinct key once; -1 for a missing key
    per_key = pd.Series(uniques, dtype=keys.dtype).map(mapping) if isinstance(mapping, Mapping) \
        else mapping.reindex(uniques)
    # label -1 is not among 0..n-1: a missing key reads a missing value, in the values' own dtype
    return per_key.reset_index(drop=True).reindex(codes).set_axis(keys.index).rename(keys.name)


def is_in(keys: pd.Series, index: pd.Index) -> np.ndarray:
    """``keys.isin(index)`` as a boolean array, by a hash lookup on ``index``."""
    known = index if index.is_unique else index.unique()
    return known.get_indexer(keys) >= 0
