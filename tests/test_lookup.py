"""map_values and is_in give what pandas' map and isin give, on Arrow text, objects and numbers,
with missing and unknown keys, for dict and Series mappings of any value dtype."""
import numpy as np
import pandas as pd
import pytest

from cxlib.core.lookup import _locate_text, is_in, locate, map_values, take_values


def _keys(dtype):
    return pd.Series(["b", None, "a", "zz", "a", "c"], dtype=dtype, index=[5, 4, 3, 2, 1, 0], name="k")


@pytest.mark.parametrize("dtype", ["str", object])
@pytest.mark.parametrize("mapping", [
    {"a": 1.5, "b": 2},
    {"a": True},
    {},
    pd.Series(pd.to_datetime(["2025-01-02", None, "2025-03-04"], utc=True), index=["a", "b", "c"]),
    pd.Series([1, 2], index=pd.Index(["c", "a"], dtype="str")),
    pd.Series(["x", "y"], index=["a", "b"], dtype="str"),
])
def test_map_values_is_series_map(dtype, mapping):
    keys = _keys(dtype)
    pd.testing.assert_series_equal(map_values(keys, mapping), keys.map(mapping))


def test_map_values_of_numbers_and_of_nothing():
    keys = pd.Series([3, 1, 3, 7], name="n")
    pd.testing.assert_series_equal(map_values(keys, {1: "one", 3: "three"}), keys.map({1: "one", 3: "three"}))
    empty = pd.Series([], dtype="str")
    pd.testing.assert_series_equal(map_values(empty, {"a": 1.0}), empty.map({"a": 1.0}))


def test_is_in_is_isin_also_with_a_repeated_index():
    keys = _keys("str")
    for index in (pd.Index(["a", "c"]), pd.Index(["a", "a", "q"], dtype="str"), pd.Index([], dtype="str")):
        assert np.array_equal(is_in(keys, index), keys.isin(index).to_numpy())


@pytest.mark.parametrize("index", [
    pd.Index(["a", "c", "q"], dtype="str"),
    pd.Index(["c", "a"], dtype=object),
    pd.Index(["a", None, "c"], dtype=object),      # a missing value in the index: pandas' own lookup
    pd.Index([], dtype="str"),
    pd.Index([1, 2]),
])
@pytest.mark.parametrize("dtype", ["str", object])
def test_locate_is_get_indexer(index, dtype):
    keys = _keys(dtype)
    assert np.array_equal(locate(keys, index), index.get_indexer(keys))


def test_locate_finds_text_in_chunks_by_arrow_and_refuses_a_repeated_index():
    import pyarrow as pa
    chunked = pd.Series(pd.arrays.ArrowStringArray(pa.chunked_array([["b", None], ["a", "zz", "a", "c"]])))
    index = pd.Index(["c", "a", "b"], dtype="str")
    assert _locate_text(chunked, index) is not None       # the fast path is taken for Arrow text
    assert np.array_equal(locate(chunked, index), index.get_indexer(chunked.astype(object)))
    mixed = pd.Series(["a", 1, None], dtype=object)
    assert np.array_equal(locate(mixed, index), index.get_indexer(mixed))
    with pytest.raises(pd.errors.InvalidIndexError):
        locate(chunked, pd.Index(["a", "a"]))


@pytest.mark.parametrize("values", [
    pd.Series([3, 1, 2], name="v"), pd.Series([True, False, True]), pd.Series(["x", None, "z"], dtype="str"),
    pd.Series([1.5, np.nan, 2.0]), pd.Series([True, None, False], dtype="boolean"),
    pd.Series(pd.to_datetime(["2025-01-02", None, "2025-03-04"], utc=True)), pd.Series(["a", 1, None], dtype=object),
])
def test_take_values_is_reindex_by_position(values):
    for at in ([2, 0, 1, 1], [2, -1, 0, -1], []):
        expected = values.reset_index(drop=True).reindex(at).reset_index(drop=True)
        pd.testing.assert_series_equal(take_values(values, np.array(at, dtype=int)), expected)
