"""select_rows gives what ``frame.loc[mask].reset_index(drop=True)`` gives: the same columns,
dtypes, values and attrs, on every dtype ingest produces, on Arrow text held in several chunks."""
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from cxlib.core.frames import select_rows


def _frame(n=11):
    f = pd.DataFrame({
        "text": pd.Series(["a", None, "c", "d", "é", "f", None, "h", "i", "j", "k"][:n], dtype="str"),
        "object": pd.Series(["a", None, 3, "d", 5.0, "f", None, "h", "i", "j", "k"][:n], dtype=object),
        "arrow": pd.Series(list("abcdefghijk")[:n], dtype=pd.ArrowDtype(pa.large_string())),
        "float": np.arange(n, dtype=float),
        "int": np.arange(n),
        "bool": np.arange(n) % 2 == 0,
        "Int64": pd.array([1, None, *range(3, n + 1)], dtype="Int64"),
        "local": pd.date_range("2024-03-30", periods=n, freq="6h", tz="Europe/Amsterdam"),
        "naive": pd.date_range("2024-01-01", periods=n, freq="D"),
        "span": pd.to_timedelta(np.arange(n), unit="s"),
        "category": pd.Categorical(list("xyxyxyxyxyx")[:n]),
    }, index=np.arange(100, 100 + n))
    f.attrs["source"] = "x.csv"
    return f


def test_select_rows_is_loc_on_every_dtype():
    f = _frame()
    keep = np.array([True, False, True, True, False, True, True, False, True, True, False])
    for mask in (keep, pd.Series(keep, index=f.index), ~keep, np.ones(len(f), bool), np.zeros(len(f), bool)):
        got = select_rows(f, mask)
        pd.testing.assert_frame_equal(got, f.loc[np.asarray(mask)].reset_index(drop=True))
        assert isinstance(got.index, pd.RangeIndex) and got.attrs == {"source": "x.csv"}


def test_select_rows_on_text_in_many_chunks():
    # a large file read in parts: each Arrow-backed column is a chunked array, one chunk per part
    rng = np.random.default_rng(4)
    parts = [_frame().sample(11, replace=True, random_state=i) for i in range(7)]
    f = pd.concat(parts, ignore_index=True)
    assert f["text"].array._pa_array.num_chunks == 7
    for _ in range(20):
        mask = rng.random(len(f)) < rng.random()
        pd.testing.assert_frame_equal(select_rows(f, mask), f.loc[mask].reset_index(drop=True))


def test_select_rows_keeps_repeated_names_and_frames_without_columns():
    f = pd.DataFrame([[1, "a"], [2, "b"], [3, "c"]], columns=["x", "x"])
    mask = np.array([True, False, True])
    pd.testing.assert_frame_equal(select_rows(f, mask), f.loc[mask].reset_index(drop=True))
    empty = pd.DataFrame(index=range(3))
    pd.testing.assert_frame_equal(select_rows(empty, mask), empty.loc[mask].reset_index(drop=True))


def test_select_rows_refuses_a_mask_of_another_length():
    with pytest.raises(ValueError, match="a mask of .* for 11 rows"):
        select_rows(_frame(), np.ones(10, bool))


def test_select_rows_can_consume_the_frame_column_by_column():
    import weakref
    f = _frame()
    keep = np.arange(len(f)) % 3 != 0
    expected = f.loc[keep].reset_index(drop=True)
    big = np.arange(len(f), dtype=float)
    f["big"] = big.copy()          # a column of its own: freed once filtered
    expected["big"] = big[keep]
    held = weakref.ref(f["text"].array)
    got = select_rows(f, keep, consume=True)
    pd.testing.assert_frame_equal(got, expected)
    assert f.shape[1] == 0 and len(f) == len(keep)      # the input is left without columns
    assert held() is None                               # and its columns are gone, not held twice


def test_select_rows_consumes_a_wide_frame_in_one_deletion(monkeypatch):
    """Deleting a frame's columns one at a time rebuilds the remaining ones each time: a customer
    table with 3,000 extra columns took two minutes to ingest. The columns go in one deletion."""
    wide = pd.DataFrame({f"x{j}": pd.array(["a", "b", None, "c"], dtype="string[pyarrow]") for j in range(300)})
    expected = wide.loc[[True, False, True, True]].reset_index(drop=True)
    deletions = []
    original = pd.DataFrame.__delitem__
    monkeypatch.setattr(pd.DataFrame, "__delitem__", lambda self, key: (deletions.append(key), original(self, key))[1])
    got = select_rows(wide, [True, False, True, True], consume=True)
    pd.testing.assert_frame_equal(got, expected)
    assert wide.shape == (4, 0) and len(deletions) == 1
