"""Spark parity: journey reconstruction on Spark (local mode) gives the same step and journey
tables, variants and directly-follows graph as DuckDB, on the demo and on a real event log, and
a whole report run with engine spark gives the same journey and recommendation figures.

The SQL is DuckDB's, transpiled by sqlglot (cxlib.core.spark); these tests are what keeps the
two engines equal. They skip with a clear message when pyspark or Java 17 is missing (make
setup installs both)."""
import json

import pandas as pd
import pytest

from conftest import REPO, SHORT_JVM, shared_file, spark_missing
from cxlib.core.config import load_config
from cxlib.journeys.reconstruct import reconstruct_journeys
from cxlib.core.schema import AGENT_CHANNELS
from cxlib.journeys.stats import (assign_owners, build_dfg, count_channel_switches, find_failure_signature,
                                 find_variants, map_stages, summarize_journeys, summarize_rework)

pytestmark = pytest.mark.slow

@pytest.fixture(scope="session")
def spark():
    why = spark_missing()
    if why:
        pytest.skip(f"Spark tests skipped: {why}")
    from cxlib.core.spark import get_spark
    session = get_spark("local[2]", conf=SHORT_JVM)
    yield session
    session.stop()


def assert_same_journeys(a, b):
    """The two results agree row for row, column for column, dtype for dtype."""
    assert (a.n_events, a.n_journeys) == (b.n_events, b.n_journeys)
    for name in ("steps", "journeys"):
        x, y = getattr(a, name), getattr(b, name)
        key = ["journey_id", "step"] if name == "steps" else ["journey_id"]
        pd.testing.assert_frame_equal(x.sort_values(key).reset_index(drop=True),
                                      y.sort_values(key).reset_index(drop=True), check_exact=False, rtol=1e-12)
    variants, dfg = find_variants(a.steps, a.journeys, top=50), build_dfg(a.steps)
    pd.testing.assert_frame_equal(variants, find_variants(b.steps, b.journeys, top=50))
    pd.testing.assert_frame_equal(dfg, build_dfg(b.steps))
    # counted on Spark itself, where a large client's events stay: only the aggregates come back
    assert b.engine_steps is not None and type(b.engine_steps).__module__.startswith("pyspark")
    pd.testing.assert_frame_equal(variants, find_variants(b.engine_steps, b.journeys, top=50))
    pd.testing.assert_frame_equal(dfg, build_dfg(b.engine_steps), check_exact=False, rtol=1e-12)
    jt = a.journeys["journey_type"].value_counts().index[0]
    pd.testing.assert_frame_equal(build_dfg(a.steps, journey_type=jt), build_dfg(b.engine_steps, journey_type=jt),
                                  check_exact=False, rtol=1e-12)
    # the step statistics of the journey maps, loops, switches and owners, counted on Spark too
    types = sorted(set(a.journeys["journey_type"]) - {"unclassified"})
    for t in types:
        pd.testing.assert_frame_equal(map_stages(a.steps, a.journeys, t), map_stages(b.engine_steps, b.journeys, t),
                                      check_exact=False, rtol=1e-9)
    pd.testing.assert_frame_equal(summarize_rework(a.steps, journey_types=types),
                                  summarize_rework(b.engine_steps, journey_types=types), check_exact=False, rtol=1e-12)
    pd.testing.assert_frame_equal(count_channel_switches(a.steps, journey_types=types),
                                  count_channel_switches(b.engine_steps, journey_types=types))
    cat = summarize_journeys(a.journeys)
    pd.testing.assert_series_equal(assign_owners(cat, a.steps, {}), assign_owners(cat, b.engine_steps, {}))
    # 04's failure signature: what went-wrong journeys have, counted where the steps are
    sig = find_failure_signature(a.steps, a.journeys, contact_channels=AGENT_CHANNELS)
    pd.testing.assert_frame_equal(sig, find_failure_signature(b.engine_steps, b.journeys,
                                                              contact_channels=AGENT_CHANNELS), check_exact=False, rtol=1e-12)
    return sig


def test_spark_reconstructs_the_demo_as_duckdb_does(spark, small_demo):
    from cxlib.ingest import ingest_client
    root, _ = small_demo
    cfg = load_config(root / "demo" / "client.yml")
    events = ingest_client(cfg, root / "demo").tables["events"]
    a = config_run(events, cfg, "duckdb", None)
    b = config_run(events, cfg, "spark", spark)
    assert a.n_journeys > 1000 and set(a.journeys["journey_type"]) >= {"new_install", "move", "repair"}
    assert len(summarize_rework(a.steps)) and count_channel_switches(a.steps, normalize=False).to_numpy().sum() > 100
    sig = assert_same_journeys(a, b)
    assert len(sig) and sig["day"].notna().all() and sig["department"].notna().all()


def test_the_contact_cascade_runs_on_spark_as_in_duckdb(spark, small_demo):
    """04's avoidable-contact query, transpiled and run on Spark, labels every agent contact of
    the demo as DuckDB does (cause, root cause and the event each follows), and each event's
    touchpoint score, self-service containment and fit per reason, each agent's figures and each
    customer's cost to serve are the same."""
    from cxlib.actions.contacts import (classify_avoidable_contacts, flag_agent_contacts, link_journeys,
                                        link_touchpoint_scores, measure_self_service, price_contacts)
    from cxlib.ingest import ingest_client
    root, _ = small_demo
    cfg = load_config(root / "demo" / "client.yml")
    tables = ingest_client(cfg, root / "demo").tables
    events = tables["events"]
    ev = link_journeys(events, config_run(events, cfg, "duckdb", None).steps)
    ev["agent_contact"] = flag_agent_contacts(ev)
    cs = cfg.analysis.contacts
    kw = dict(window_days=cfg.analysis.repeat_window_days, failure_outcomes=cs.failure_outcomes,
              unresolved_outcomes=cs.unresolved_outcomes, status_pattern=cs.status_pattern,
              failure_touchpoints=cs.failure_touchpoints,
              rules=[{"reason": "bill_explanation", "journey": "billing_dispute", "cause": "failure_demand"}])
    a = classify_avoidable_contacts(ev, **kw)
    assert set(a["avoidable_cause"].dropna()) == {"repeat", "status_chasing", "failure_demand"}
    pd.testing.assert_frame_equal(a, classify_avoidable_contacts(ev, spark=spark, **kw))
    ev["contact_cost"] = price_contacts(ev, cfg.analysis.cost_per_contact)
    surveys = tables["surveys"]
    ev["score"] = link_touchpoint_scores(ev, surveys)
    assert ev["score"].notna().sum() > 100
    pd.testing.assert_series_equal(ev["score"], link_touchpoint_scores(ev, surveys, spark=spark))
    ss = measure_self_service(ev, segment=None, min_attempts=5)
    assert len(ss) and ss["saving"].notna().all()
    pd.testing.assert_frame_equal(ss, measure_self_service(ev, segment=None, min_attempts=5, spark=spark),
                                  check_exact=False, rtol=1e-12)
    from cxlib.actions.agents import score_agents
    contacts = ev.loc[a.index].join(a)
    agents = score_agents(contacts, min_contacts=5)
    assert len(agents) > 10 and agents.attrs["metrics"] == ["fcr", "aht_s", "csat"]
    pd.testing.assert_frame_equal(agents, score_agents(contacts, min_contacts=5, spark=spark), check_exact=False,
                                  rtol=1e-12)
    from cxlib.actions.value import estimate_cost_to_serve
    as_of = ev["timestamp"].max()
    value = estimate_cost_to_serve(tables["customers"], ev, as_of=as_of)
    assert value["contact_cost"].gt(0).mean() > 0.5
    pd.testing.assert_frame_equal(value, estimate_cost_to_serve(tables["customers"], ev, as_of=as_of, spark=spark),
                                  check_exact=False, rtol=1e-12)


def test_spark_reads_the_run_folders_files_where_they_lie(spark, small_demo, tmp_path, monkeypatch):
    """On Spark, 04's contact table and 05's touchpoint inventory read the events' and steps'
    Parquet files in place (each event's row in its file as ``pos``), never through pandas, and
    give DuckDB's rows and values."""
    from cxlib.actions.contacts import build_contact_events
    from cxlib.actions.inventory import build_touchpoint_inventory
    from cxlib.core.spark import to_pandas
    from cxlib.core.sql import ParquetTable, is_spark_frame
    from cxlib.ingest import ingest_client
    root, _ = small_demo
    cfg = load_config(root / "demo" / "client.yml")
    tables = ingest_client(cfg, root / "demo").tables
    tables["events"].to_parquet(tmp_path / "events.parquet", index=False)
    config_run(tables["events"], cfg, "duckdb", None).steps.to_parquet(tmp_path / "steps.parquet", index=False)
    events, steps = ParquetTable(str(tmp_path / "events.parquet")), ParquetTable(str(tmp_path / "steps.parquet"))
    kw = dict(customers=tables["customers"], surveys=tables["surveys"], cost_per_contact=cfg.analysis.cost_per_contact)
    inv_kw = dict(surveys=tables["surveys"], cost_per_contact=cfg.analysis.cost_per_contact,
                  green_threshold=cfg.analysis.green_threshold)
    a = build_contact_events(events, steps, **kw).to_pandas().sort_values("pos", ignore_index=True)
    inventory = build_touchpoint_inventory(events, **inv_kw)
    assert a["journey_id"].notna().mean() > 0.9 and a["score"].notna().sum() > 100 and a["agent_contact"].any()

    def through_pandas(self):
        raise AssertionError(f"{self.path} was read into pandas on the way to Spark")
    monkeypatch.setattr(ParquetTable, "to_pandas", through_pandas)
    b = build_contact_events(events, steps, spark=spark, **kw)
    assert is_spark_frame(b)
    b = to_pandas(b).sort_values("pos", ignore_index=True)
    pd.testing.assert_frame_equal(a, b[a.columns], check_dtype=False, check_exact=False, rtol=1e-12)
    pd.testing.assert_frame_equal(inventory, build_touchpoint_inventory(events, spark=spark, **inv_kw),
                                  check_exact=False, rtol=1e-12)


def config_run(events, cfg, engine, spark):
    an = cfg.analysis
    return reconstruct_journeys(events, an.journeys, gap_days=an.unclassified_gap_days,
                                repeat_window_days=an.repeat_window_days,
                                failure_touchpoints=an.contacts.failure_touchpoints, engine=engine, spark=spark)


def test_spark_reads_a_real_log_from_parquet_with_the_same_tie_breaks(spark, tmp_path):
    """The Helpdesk log has the same activity twice in one second: the source row decides
    their order, read by Spark from the Parquet file's row index as DuckDB reads it."""
    shared_file("helpdesk_eventlog", "Helpdesk.csv.gz")
    from cxlib.ingest import ingest_client
    cfg = load_config(REPO / "data" / "helpdesk" / "client.yml")
    events = ingest_client(cfg, REPO / "data" / "helpdesk").tables["events"]
    path = tmp_path / "events.parquet"
    events.to_parquet(path, index=False)
    ties = events.duplicated(["customer_id", "timestamp"]).sum()
    assert ties > 0, "the log no longer has equal timestamps: the tie-break is not exercised"
    a = config_run(path, cfg, "duckdb", None)
    b = config_run(path, cfg, "spark", spark)
    assert a.n_events == len(events)
    assert_same_journeys(a, b)


def test_eid_is_the_global_order_without_a_global_sort():
    """eid (the journey key) is a customer's offset plus the event's rank within the customer:
    it must equal the row number over all events ordered by customer, time and source row."""
    import duckdb

    from cxlib.demo import canonical_events, simulate_demo
    events = canonical_events(simulate_demo(200, 3))
    cfg = load_config(REPO / "data" / "demo" / "client.yml")
    steps = config_run(events, cfg, "duckdb", None).steps
    expected = duckdb.sql("SELECT row_number() OVER (ORDER BY customer_id, timestamp, src_row) AS eid, customer_id, "
                          "timestamp FROM (SELECT *, row_number() OVER () AS src_row FROM events)").df()
    got = steps.sort_values("eid")[["eid", "customer_id", "timestamp"]].reset_index(drop=True)
    pd.testing.assert_series_equal(got["eid"], expected["eid"], check_dtype=False)
    assert got["customer_id"].tolist() == expected["customer_id"].tolist()


def _sections(metrics_path, names):
    def drop_times(v):
        if isinstance(v, dict):
            return {k: drop_times(x) for k, x in v.items() if "seconds" not in k and "timing" not in k}
        return [drop_times(x) for x in v] if isinstance(v, list) else v
    m = json.loads(metrics_path.read_text())
    return {n: drop_times(m.get(n)) for n in names}


def assert_same_figures(a, b, path="", rel=1e-12):
    """The same figures: equal structure, text and counts; floats to ``rel`` (the engines add up
    a mean's terms in different orders)."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), path
        for k in a:
            assert_same_figures(a[k], b[k], f"{path}.{k}", rel)
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same_figures(x, y, f"{path}[{i}]", rel)
    elif isinstance(a, float) and isinstance(b, float):
        assert b == pytest.approx(a, rel=rel, abs=1e-12, nan_ok=True), path
    else:
        assert a == b, path


def test_a_report_on_spark_gives_the_same_figures(spark, small_report, spark_report):
    """make report ENGINE=spark: the notebooks run the events' ingest (01), the reconstruction (02),
    the contact cascade's event-level queries (04) and the touchpoint inventory (05) on Spark (their
    own local session)
    and every figure of metrics.json (ingest, headlines, journeys, drivers, recommendations,
    management) is the one DuckDB gives (floats to 1e-12). The run on Spark started with the
    session (conftest.background_reports), beside the other tests."""
    from cxlib.journeys.reconstruct import read_journeys
    figures, tables = {}, {}
    runs = {"duckdb": small_report,       # the demo's client.yml says duckdb; the same seed and resamples
            "spark": spark_report}
    for engine, index in runs.items():
        run = index.parent / "journeys"
        tables[engine] = read_journeys(run / "journeys.parquet", run / "journey_steps.parquet")
        figures[engine] = _sections(index.parent / "metrics.json",
                                    ["ingest", "headlines", "journeys", "drivers", "recommendations", "management"])
        # 01 ingested the events on Spark, which wrote them as Parquet parts (pandas writes one file)
        assert (index.parent / "tables" / "events.parquet").is_dir() == (engine == "spark")
        provenance = json.loads((index.parent / "provenance.json").read_text())
        assert provenance["parameters"].get("engine", "duckdb") == engine   # unset: as client.yml says
        assert figures[engine]["journeys"].pop("engine") == engine     # it did run there
        assert figures[engine]["recommendations"].pop("engine") == engine
        assert figures[engine]["management"].pop("engine") == engine
    assert figures["duckdb"]["journeys"] and figures["duckdb"]["recommendations"]["actions"]
    assert figures["duckdb"]["management"]["inventory"]
    assert_same_figures(figures["spark"], figures["duckdb"])
    # the step table Spark wrote itself (02 never pulls it to pandas) reads back as DuckDB's, dtypes too
    assert (spark_report.parent / "journeys" / "journey_steps.parquet").is_dir()
    for x, y in zip(tables["duckdb"], tables["spark"]):
        pd.testing.assert_frame_equal(x, y, check_exact=False, rtol=1e-12)


# ----------------------------------------------------------------------------- ingest on Spark

def assert_same_ingest(a, b):
    """Ingest on Spark gives what ingest on pandas gives: the events row for row (Spark's read
    back to pandas), the other tables, the quarantine (reasons, files, lines, values and raw rows,
    in the same order), the accounting, the notes, identity counts and the event semantics."""
    from cxlib.core.spark import to_pandas
    assert a.tables.keys() == b.tables.keys()
    for name, frame in a.tables.items():
        other = to_pandas(b.tables[name]) if name == "events" else b.tables[name]
        pd.testing.assert_frame_equal(frame.reset_index(drop=True), other, check_dtype=name != "events")
        if name == "events":
            assert [str(t).replace("string", "str") for t in frame.dtypes] == [str(t) for t in other.dtypes]
    missing_as_none = lambda q: q.astype({c: object for c in ("column", "value", "raw")}).where(q.notna(), None)  # noqa: E731
    pd.testing.assert_frame_equal(missing_as_none(a.quarantine), missing_as_none(b.quarantine))
    pd.testing.assert_frame_equal(a.accounting, b.accounting)
    assert a.notes == b.notes and a.identity == b.identity and a.metrics() == b.metrics()
    pd.testing.assert_frame_equal(a.semantics, b.semantics)


def test_events_ingested_on_spark_are_what_pandas_ingest_gives(spark, small_demo):
    """The demo's events (a gzip CSV with every kind of bad row the generator plants, secondary
    ids to stitch, duplicates and unknown customers) ingested on Spark: the same loaded events,
    quarantine, accounting and notes as on pandas."""
    from cxlib.ingest import ingest_client
    root, _ = small_demo
    cfg = load_config(root / "demo" / "client.yml")
    a = ingest_client(cfg, root / "demo")
    b = ingest_client(cfg, root / "demo", engine="spark", spark=spark)
    assert a.metrics()["events"]["quarantined"] > 100 and a.identity["events"]["stitched"] > 100
    assert type(b.tables["events"]).__module__.startswith("pyspark.")      # the events stayed on Spark
    assert_same_ingest(a, b)


def test_an_awkward_csv_ingested_on_spark_in_many_partitions(spark, tmp_path):
    """Every quarantine reason, a short line, a long line, a blank line, a line of empty fields,
    quoted delimiters, an invisible character, a personal column, reason rules, a second source
    whose duplicates are kept, and the file split into many partitions (so each line's number
    is its partition's offset plus its place): the same result as pandas, line numbers included."""
    from test_ingest import AS_OF, CUSTOMER_SOURCE, EVENT_SOURCE, EVENTS, make_config
    from cxlib.core.config import parse_config
    from cxlib.ingest import ingest_client
    lines = EVENTS.strip("\n").split("\n")
    lines = [lines[0] + ",why,email"] + [ln + ",bill query,a@b.c" for ln in lines[1:]]
    lines.insert(4, "C1,2025-03-04 10:00:00,Phone")                       # too few fields
    lines.insert(5, "C1,2025-03-04 10:00:00,Phone,Call,CS,,x,y,z")         # too many
    lines.insert(7, "")                                                   # a blank line
    lines.insert(9, ",,,,,,,")                                            # a row of missing values
    lines.append("C1,2025-03-05 10:00:00,Phone,Ca\u200bll,CS,,other thing,a@b.c")
    lines.append('C1,2025-03-06 10:00:00,Phone,"Call, again",CS,,"bill, again",a@b.c')
    lines.append("C3,2025-03-07 10:00:00,WEB,Login,Digital,NA,n/a,a@b.c")  # pandas' missing-value strings
    source = {**EVENT_SOURCE, "columns": {**EVENT_SOURCE["columns"], "why": "contact_reason"},
              "reason_rules": {"billing": "bill"}}
    make_config(tmp_path, {"events": "\n".join(lines) + "\n"}, customers=CUSTOMER_SOURCE, events=source)
    (tmp_path / "more.csv").write_text("\n".join([lines[0], lines[1], lines[1], lines[2]]) + "\n")
    cfg = parse_config({"name": "Test", "timezone": "Europe/Amsterdam", "tables": {
        "customers": [{"path": "customers.csv", **CUSTOMER_SOURCE}],
        "events": [{"path": "events.csv", **source}, {"path": "more.csv", **source, "duplicates": "keep"}]}})
    a = ingest_client(cfg, tmp_path, as_of=AS_OF)
    spark.conf.set("spark.sql.files.maxPartitionBytes", "96")
    try:
        assert spark.read.text(str(tmp_path / "events.csv")).rdd.getNumPartitions() > 5
        b = ingest_client(cfg, tmp_path, as_of=AS_OF, engine="spark", spark=spark)
    finally:
        spark.conf.unset("spark.sql.files.maxPartitionBytes")
    by_reason = a.metrics()["events"]["by_reason"]
    assert by_reason["malformed_row"] == 2 and by_reason["duplicate"] == 1 and by_reason["unknown_customer"] >= 1
    assert by_reason["missing_customer_id"] == 2            # the row of missing values is quarantined, not lost
    assert a.accounting.set_index("source").loc["more.csv", "quarantined"] == 0     # its duplicates are kept
    assert {n["check"] for n in a.notes} >= {"text_normalized", "personal_columns_dropped", "reasons_not_grouped"}
    assert_same_ingest(a, b)


def test_a_parquet_source_and_a_config_error_on_spark(spark, tmp_path):
    """A Parquet export (typed columns, UTC timestamps) ingests on Spark as on pandas; a column
    that mostly fails to parse stops the run with pandas' message, judged over all partitions."""
    from test_ingest import AS_OF, EVENT_SOURCE, make_config
    from cxlib.ingest import IngestError, ingest_client
    from cxlib.core.config import parse_config
    n = 40
    pd.DataFrame({"customer_id": [f"C{i % 7}" for i in range(n)],
                  "timestamp": pd.date_range("2025-01-01 10:00", periods=n, freq="37h", tz="UTC"),
                  "channel": ["web", "call", "Pigeon", "app"] * 10, "touchpoint": ["A", "B"] * 20,
                  "department": ["CS"] * (n - 1) + [None], "handle_time_s": [60.0, -1.0, None, 5.5] * 10}
                 ).to_parquet(tmp_path / "e.parquet")
    cfg = parse_config({"name": "T", "tables": {"events": [{"path": "e.parquet"}]}})
    a = ingest_client(cfg, tmp_path, as_of=AS_OF)
    assert set(a.metrics()["events"]["by_reason"]) == {"unknown_channel", "negative_value", "missing_department"}
    assert_same_ingest(a, ingest_client(cfg, tmp_path, as_of=AS_OF, engine="spark", spark=spark))
    rows = "\n".join(f"C1,{'not a time' if i % 3 else '2025-03-01 10:00:00'},Phone,Call,CS," for i in range(30))
    cfg = make_config(tmp_path, {"events": "cust,when,chan,what,dept,aht\n" + rows + "\n"}, events=EVENT_SOURCE)
    with pytest.raises(IngestError) as pandas_error:
        ingest_client(cfg, tmp_path, as_of=AS_OF)
    spark.conf.set("spark.sql.files.maxPartitionBytes", "200")
    try:
        with pytest.raises(IngestError) as spark_error:
            ingest_client(cfg, tmp_path, as_of=AS_OF, engine="spark", spark=spark)
    finally:
        spark.conf.unset("spark.sql.files.maxPartitionBytes")
    assert str(spark_error.value) == str(pandas_error.value) and "20 of 30 values" in str(spark_error.value)


def test_parquet_parts_are_numbered_in_table_order_on_both_engines(spark, tmp_path):
    """A table Spark wrote as several ordered parts: each row's position in the whole table, on
    Spark and in DuckDB, is its place in the order it was written (what ties in the journeys
    and the contact table's join by event row rely on)."""
    from cxlib.core.spark import from_pandas, number_parquet_rows, to_pandas, write_parquet
    from cxlib.core.sql import ParquetTable, query_frames
    frame = pd.DataFrame({"k": range(500), "v": [f"x{i}" for i in range(500)]})
    write_parquet(from_pandas(spark, frame.sample(frac=1, random_state=3)).orderBy("k").repartitionByRange(5, "k")
                  .sortWithinPartitions("k"), tmp_path / "t.parquet")
    assert len(list((tmp_path / "t.parquet").glob("*.parquet"))) == 5
    on_spark = to_pandas(number_parquet_rows(spark, str(tmp_path / "t.parquet"), "pos")).sort_values("pos")
    assert on_spark["pos"].tolist() == list(range(500)) and on_spark["k"].tolist() == list(range(500))
    in_duckdb = query_frames("SELECT k, pos FROM t ORDER BY pos",
                             t=ParquetTable(str(tmp_path / "t.parquet")).with_row_numbers("pos"))
    assert in_duckdb["pos"].tolist() == list(range(500)) and in_duckdb["k"].tolist() == list(range(500))


def test_events_from_a_catalogue_table_or_a_parquet_folder_on_spark(spark, tmp_path):
    """Where a large client's events already live: a table in the Spark catalogue (format: table)
    or a folder of Parquet parts. Both ingest on Spark to what pandas ingests from the same rows
    in one Parquet file; pandas itself refuses them with the fix; the provenance record hashes a
    folder part by part and names a table without a hash."""
    from cxlib.core.config import parse_config
    from cxlib.core.spark import from_pandas, write_parquet
    from cxlib.ingest import IngestError, ingest_client
    from cxlib.report.provenance import hash_inputs
    n = 60
    events = pd.DataFrame({"customer_id": [f"C{i % 9}" for i in range(n)],
                           "timestamp": pd.date_range("2025-01-01 10:00", periods=n, freq="29h", tz="UTC"),
                           "channel": ["web", "call", "Pigeon"] * 20, "touchpoint": ["A", "B", "A", None] * 15,
                           "department": ["CS"] * n, "handle_time_s": [60.0, -1.0, None, 5.5, 7.0] * 12})
    events.to_parquet(tmp_path / "one.parquet")
    write_parquet(from_pandas(spark, events).repartitionByRange(4, "timestamp").sortWithinPartitions("timestamp"),
                  tmp_path / "parts.parquet")         # the rows in their order (times rise), in four parts
    assert len(list((tmp_path / "parts.parquet").glob("*.parquet"))) == 4
    from_pandas(spark, events).createOrReplaceTempView("crm_events")
    config = lambda source: parse_config({"name": "T", "tables": {"events": [source]}})  # noqa: E731
    a = ingest_client(config({"path": "one.parquet"}), tmp_path)
    assert a.metrics()["events"]["quarantined"] > 10
    for source in ({"path": "parts.parquet"}, {"path": "crm_events", "format": "table"}):
        b = ingest_client(config(source), tmp_path, engine="spark", spark=spark)
        assert b.metrics() == a.metrics()
        pd.testing.assert_frame_equal(to_pandas_sorted(b.tables["events"]), to_pandas_sorted(a.tables["events"]),
                                      check_dtype=False)
        with pytest.raises(IngestError, match="is read by Spark: set engine: spark") if source.get("format") \
                else pytest.raises(IngestError, match="not a regular file"):
            ingest_client(config(source), tmp_path)
    with pytest.raises(IngestError, match="Spark has no such table"):
        ingest_client(config({"path": "no_such_events", "format": "table"}), tmp_path, engine="spark", spark=spark)
    (tmp_path / "client.yml").write_text("name: T\n")
    inputs = {r["path"]: r for r in hash_inputs(parse_config({"name": "T", "tables": {"events": [
        {"path": "parts.parquet"}, {"path": "crm_events", "format": "table"}]}}), tmp_path / "client.yml")}
    folder = inputs[str(tmp_path / "parts.parquet")]
    assert folder["bytes"] > 0 and len(folder["sha256"]) == 64
    assert inputs["crm_events"]["sha256"] is None and "read by Spark" in inputs["crm_events"]["hashed"]


def to_pandas_sorted(frame) -> pd.DataFrame:
    from cxlib.core.spark import to_pandas
    out = to_pandas(frame) if not isinstance(frame, pd.DataFrame) else frame
    return out.sort_values(["timestamp", "customer_id"]).reset_index(drop=True)
