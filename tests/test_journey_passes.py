"""The compiled journey passes (cxlib.journeys.passes) against the SQL they stand in for: the same
step and journey tables, column by column, on random logs built to hit the rules' corners, on
Parquet files and on the real logs."""
import numpy as np
import pandas as pd
import pytest

from cxlib.core.config import JourneyDefinition
from cxlib.journeys.reconstruct import choose_engine, reconstruct_journeys

pytest.importorskip("numba", reason="the compiled passes need numba (a dependency of cxlib: make setup)")

T0 = pd.Timestamp("2025-01-01", tz="UTC")

# three types sharing touchpoints; none both starts and ends one type (the SQL leaves the order of
# an event's two markers undefined there)
DEFS = {"install": JourneyDefinition(start=["order", "sign up"], end=["activated"], touchpoints=["visit", "call"],
                                     max_duration_days=20),
        "repair": JourneyDefinition(start=["fault"], end=["fixed", "activated"], touchpoints=["visit", "call", "chat"],
                                    max_duration_days=10),
        "move": JourneyDefinition(start=["move notice", "order"], end=["first bill"], touchpoints=["call", "visit"],
                                  max_duration_days=45)}
TOUCHPOINTS = ["order", "sign up", "activated", "visit", "call", "fault", "fixed", "chat", "move notice",
               "first bill", "bill", "survey", "Technician no-show"]


def random_log(seed: int, n: int = 6000) -> pd.DataFrame:
    """Events of 80 customers over 120 days on a coarse grid (many ties in time), a fifth with case
    ids (some shared by two customers), nulls in every label, rows without customer or time."""
    rng = np.random.default_rng(seed)
    tps = rng.choice(TOUCHPOINTS, n).astype(object)
    tps[rng.random(n) < 0.02] = None
    ev = pd.DataFrame({
        "customer_id": rng.choice([f"C{i:03d}" for i in range(80)] + ["c10", "Ä1"], n).astype(object),
        "timestamp": T0 + pd.to_timedelta(rng.integers(0, 120 * 6, n) * 4, unit="h"),
        "touchpoint": tps, "department": rng.choice(["CS", "Field", "Billing", None], n),
        "channel": rng.choice(["call", "web", "app", None], n),
        "contact_reason": rng.choice(["fault", "bill", "move", None], n),
        "outcome": rng.choice(["completed", "failed", "incorrect", None], n),
        "case_id": np.where(rng.random(n) < 0.2, rng.choice([f"K{i}" for i in range(40)], n), None),
        "kind": rng.choice(["contact", "notification", "visit", None], n),
        "initiated_by": rng.choice(["customer", "company", None], n)})
    ev.loc[rng.random(n) < 0.01, "customer_id"] = None
    ev.loc[rng.random(n) < 0.01, "timestamp"] = pd.NaT
    return ev


def both(events, **kw):
    """The SQL's result and the compiled passes' on the same events."""
    return (reconstruct_journeys(events, DEFS, engine="duckdb", **kw),
            reconstruct_journeys(events, DEFS, engine="compiled", **kw))


def assert_same(sql, compiled):
    pd.testing.assert_frame_equal(compiled.steps, sql.steps)
    pd.testing.assert_frame_equal(compiled.journeys, sql.journeys)
    assert (compiled.n_events, compiled.n_journeys) == (sql.n_events, sql.n_journeys)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_compiled_passes_give_the_sql_tables_on_a_random_log(seed):
    ev = random_log(seed)
    sql, compiled = both(ev, failure_touchpoints=["Technician no-show"], as_of=T0 + pd.Timedelta(days=100))
    st, j = sql.steps, sql.journeys
    # the log reaches the corners: every way of assigning, typed and dropped journeys, repeats,
    # rework, failures, waits of zero (ties) and journeys of one and of many steps
    assert set(st["assigned_by"]) == {"case", "definition", "episode"}
    assert set(j["journey_type"]) == {*DEFS, "unclassified"}
    assert {"completed", "dropped_out", "in_progress"} <= set(j["status"])
    for flag in ("repeat_contact", "rework", "failed_step", "handoff", "channel_switch"):
        assert st[flag].sum() > 10, flag
    assert (st["wait_days"] == 0).sum() > 10 and (j["n_touchpoints"] == 1).any() and j["n_touchpoints"].max() > 10
    assert j["customer_id"].nunique() > 70 and st["touchpoint"].isna().any()
    assert_same(sql, compiled)


def test_compiled_passes_follow_the_settings():
    ev = random_log(4)
    for kw in ({"gap_days": 2, "repeat_window_days": 1}, {"gap_days": 60, "repeat_window_days": 30}):
        assert_same(*both(ev, **kw))


def test_compiled_passes_keep_the_steps_and_episodes_in_files_as_the_sql_does(tmp_path):
    from cxlib.core.sql import ParquetTable
    ev = random_log(5)
    sql, compiled = both(ev, lazy_steps=True, lazy_unclassified=True)
    assert isinstance(compiled.live_steps, ParquetTable) and compiled.steps is None
    pd.testing.assert_frame_equal(compiled.journeys, sql.journeys)
    assert compiled.journeys.attrs["span"] == sql.journeys.attrs["span"]
    pd.testing.assert_frame_equal(compiled.fetch_steps(), sql.fetch_steps())
    for r, name in ((sql, "sql"), (compiled, "compiled")):
        r.write(tmp_path / f"{name}_journeys.parquet", tmp_path / f"{name}_steps.parquet")
    for table in ("journeys", "steps"):
        pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / f"compiled_{table}.parquet"),
                                      pd.read_parquet(tmp_path / f"sql_{table}.parquet"))


def test_compiled_passes_leave_an_empty_file_of_episodes_when_every_event_is_typed():
    ev = random_log(9)
    ev["case_id"] = ev["customer_id"].astype(object) + "-case"       # every event in a case, every case typed
    ev["touchpoint"] = ev["touchpoint"].fillna("order")
    ev = pd.concat([ev, ev.drop_duplicates("case_id").assign(touchpoint="order")], ignore_index=True)
    sql, compiled = both(ev, lazy_steps=True, lazy_unclassified=True)
    assert len(compiled.unclassified) == len(sql.unclassified) == 0
    assert (compiled.journeys["journey_type"] != "unclassified").all() and compiled.has_paths()
    pd.testing.assert_frame_equal(compiled.journeys, sql.journeys)


def test_compiled_passes_read_and_write_parquet_as_the_sql_does(tmp_path):
    """A file of several row groups (each with dictionaries of its own) in, the tables written
    straight from the engine out: a reader sees the same columns, types and values."""
    ev = random_log(6).reset_index(drop=True)
    path = tmp_path / "events.parquet"
    ev.to_parquet(path, row_group_size=700)
    for engine in ("duckdb", "compiled"):
        r = reconstruct_journeys(path, DEFS, engine=engine, to_pandas=False,
                                 journeys_path=tmp_path / engine / "journeys.parquet",
                                 steps_path=tmp_path / engine / "steps.parquet")
        assert r.n_events == ev["customer_id"].notna().mul(ev["timestamp"].notna()).sum()
    for table, key in (("steps", ["journey_id", "step"]), ("journeys", ["journey_id"])):
        got, want = (pd.read_parquet(tmp_path / e / f"{table}.parquet").sort_values(key).reset_index(drop=True)
                     for e in ("compiled", "duckdb"))
        pd.testing.assert_frame_equal(got, want)
    # a DataFrame and its file give the same tables, event rows included
    assert_same(reconstruct_journeys(path, DEFS, engine="compiled"), reconstruct_journeys(ev, DEFS, engine="compiled"))


def test_compiled_passes_on_an_empty_log_and_a_log_without_optional_columns(tmp_path):
    ev = random_log(7)[["customer_id", "timestamp", "touchpoint"]]
    assert_same(*both(ev))
    empty = ev.iloc[:0]
    sql, compiled = both(empty)
    assert len(compiled.steps) == 0 and len(compiled.journeys) == 0
    assert list(compiled.steps.columns) == list(sql.steps.columns)
    r = reconstruct_journeys(empty, DEFS, engine="compiled", to_pandas=False,
                             journeys_path=tmp_path / "j.parquet", steps_path=tmp_path / "s.parquet")
    assert r.n_events == 0 and len(pd.read_parquet(tmp_path / "s.parquet")) == 0


def test_auto_engine_runs_compiled_in_memory_and_duckdb_beyond_it(tmp_path):
    ev = random_log(8)
    assert choose_engine(ev) == "compiled"
    assert choose_engine(ev, memory_limit="1MB") == "duckdb"       # 6,000 events need about 1.8 MB
    assert choose_engine(ev, memory_limit="1GiB") == "compiled"
    path = tmp_path / "events.parquet"
    ev.to_parquet(path)
    assert choose_engine(path) == "compiled"
    assert choose_engine([path, path]) == "duckdb" and choose_engine(tmp_path) == "duckdb"
    # numeric customer or case ids, numeric labels: the SQL types and orders them its own way
    for column, values in (("customer_id", 7), ("case_id", 3), ("channel", 1.5)):
        other = ev.assign(**{column: values})
        assert choose_engine(other) == "duckdb", column
        with pytest.raises(ValueError, match=f"{column}: "):
            reconstruct_journeys(other, DEFS, engine="compiled")
    assert_same(*both(ev.assign(customer_id=ev["customer_id"].astype("category"))))
    with pytest.raises(ValueError, match="engine must be one of"):
        reconstruct_journeys(ev, DEFS, engine="numba")


def _engines_agree(events, analysis):
    kw = dict(gap_days=analysis.unclassified_gap_days, repeat_window_days=analysis.repeat_window_days,
              failure_touchpoints=analysis.contacts.failure_touchpoints)
    sql = reconstruct_journeys(events, analysis.journeys, engine="duckdb", **kw)
    compiled = reconstruct_journeys(events, analysis.journeys, engine="compiled", **kw)
    assert_same(sql, compiled)
    return sql


def test_compiled_passes_give_the_sql_tables_on_the_demo_events(demo_journeys):
    sql = _engines_agree(demo_journeys["tables"]["events"], demo_journeys["config"].analysis)
    assert sql.n_events > 400_000 and sql.steps["repeat_contact"].sum() > 1000


REAL_LOGS = {"helpdesk": ("helpdesk_eventlog", "Helpdesk.csv.gz"),
             "bpic16": ("bpic16_complaints", "BPI2016_Complaints.csv"),
             "call_center": ("call_center", "call_center.csv")}


@pytest.mark.parametrize("client", sorted(REAL_LOGS))
def test_compiled_passes_give_the_sql_tables_on_the_real_logs(client):
    from conftest import REPO, shared_file
    from cxlib.core.config import load_config
    from cxlib.ingest import ingest_client
    shared_file(*REAL_LOGS[client])
    cfg = load_config(REPO / "data" / client / "client.yml")
    events = ingest_client(cfg, REPO / "data" / client).tables["events"]
    sql = _engines_agree(events, cfg.analysis)
    assert sql.n_events == len(events) > 200
