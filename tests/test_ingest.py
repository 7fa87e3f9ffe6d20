"""Ingestion: mapping, coercion, every quarantine reason, and the loud failures."""
import re
from datetime import datetime, timezone

import numpy as np
import pandas as pd
import pytest

from cxlib.core.config import parse_config
from cxlib.ingest import REASONS, IngestError, ingest_client, parse_numbers, parse_timestamps

AS_OF = datetime(2026, 1, 1, tzinfo=timezone.utc)

CUSTOMERS = """id;seg;since;mrr;status;left;why
C1;Home;01-02-2020;10,50;Active;;
C2;Home;15-03-2021;20,00;Cancelled;01-06-2025;Price
C3;Biz;31-02-2021;30,00;Active;;
C4;Biz;01-01-2022;-5,00;Active;;
C5;Biz;01-01-2022;12,00;Maybe;;
;Home;01-01-2022;12,00;Active;;
C1;Home;01-02-2020;10,50;Active;;
C1;Biz;01-02-2020;99,00;Active;;
"""

EVENTS = """cust,when,chan,what,dept,aht
C1,2025-03-01 10:00:00,Phone,Call,CS,00:05:30
C1,2025-03-01 10:00:00,Phone,Call,CS,00:05:30
C2,2025-03-30 02:30:00,Web,Login,Digital,
C2,2025-10-26T02:30:00+02:00,Web,Login,Digital,
,2025-03-02 10:00:00,Phone,Call,CS,
C1,yesterday,Phone,Call,CS,
C1,,Phone,Call,CS,
C1,2025-03-03 10:00:00,Pigeon,Call,CS,
C1,2025-03-03 11:00:00,Phone,,CS,
C1,2025-03-03 12:00:00,Phone,Call,CS,abc
C1,2025-03-03 13:00:00,Phone,Call,CS,-10
C1,2027-03-03 13:00:00,Phone,Call,CS,
C9,2025-03-03 14:00:00,Phone,Call,CS,
"""

SURVEYS = """cust,when,lvl,about,metric,score
C1,2025-04-01,TP,Call,CSAT,5
C1,2025-04-02,TP,Call,CSAT,6
C1,2025-04-03,TP,Call,CSAT,abc
C1,2025-04-04,galaxy,Call,CSAT,4
C1,2025-04-05,TP,Call,stars,4
C1,2025-04-06,TP,,CSAT,4
C1,2025-04-07,REL,,NPS,
C1,2025-04-01,TP,Call,CSAT,5
"""


def make_config(tmp_path, texts: dict | None = None, **tables):
    """A config for ``tables`` ({table: source}), their files written from the texts above or
    from ``texts`` ({table: file text})."""
    files = {"customers": ("customers.csv", CUSTOMERS), "events": ("events.csv", EVENTS),
             "surveys": ("surveys.csv", SURVEYS)}
    cfg = {"name": "Test", "timezone": "Europe/Amsterdam", "tables": {}}
    for table, source in tables.items():
        fname, text = files[table][0], (texts or {}).get(table, files[table][1])
        (tmp_path / fname).write_text(text, encoding="utf-8")
        cfg["tables"][table] = [{"path": fname, **source}]
    return parse_config(cfg)


CUSTOMER_SOURCE = {"delimiter": ";", "decimal": ",",
                   "columns": {"id": "customer_id", "seg": "segment", "since": "signup_date", "mrr": "monthly_revenue",
                               "status": "churned", "left": "churn_date", "why": "churn_reason"},
                   "values": {"churned": {"Active": False, "Cancelled": True}},
                   "formats": {"signup_date": "%d-%m-%Y", "churn_date": "%d-%m-%Y"}}
EVENT_SOURCE = {"columns": {"cust": "customer_id", "when": "timestamp", "chan": "channel", "what": "touchpoint",
                            "dept": "department", "aht": "handle_time_s"},
                "values": {"channel": {"phone": "call", "WEB": "web"}}}
SURVEY_SOURCE = {"columns": {"cust": "customer_id", "when": "timestamp", "lvl": "level", "about": "subject",
                             "metric": "metric", "score": "score"},
                 "values": {"level": {"TP": "touchpoint", "REL": "relationship"}, "metric": {"CSAT": "csat", "NPS": "nps"}}}


@pytest.fixture
def result(tmp_path):
    cfg = make_config(tmp_path, customers=CUSTOMER_SOURCE, events=EVENT_SOURCE, surveys=SURVEY_SOURCE)
    return ingest_client(cfg, tmp_path, as_of=AS_OF)


def reasons(result, table):
    q = result.quarantine[result.quarantine["table"] == table]
    return dict(zip(q["row"], q["reason"]))


def test_customers_mapping_and_types(result):
    c = result.tables["customers"].set_index("customer_id")
    assert list(c.index) == ["C1", "C2"]
    assert c.loc["C1", "monthly_revenue"] == 10.5                       # decimal comma
    assert c.loc["C2", "churned"] and not c.loc["C1", "churned"]         # value mapping to bool
    assert c.loc["C2", "churn_date"] == pd.Timestamp("2025-06-01")       # dd-mm-yyyy
    assert c.loc["C2", "churn_reason"] == "Price"


def test_customer_quarantine_reasons(result):
    assert reasons(result, "customers") == {4: "unparsable_date", 5: "negative_value", 6: "invalid_bool",
                                            7: "missing_customer_id", 8: "duplicate", 9: "duplicate_customer_id"}


def test_event_quarantine_reasons(result):
    assert reasons(result, "events") == {
        3: "duplicate", 6: "missing_customer_id", 7: "unparsable_timestamp", 8: "missing_timestamp",
        9: "unknown_channel", 10: "missing_touchpoint", 11: "unparsable_number", 12: "negative_value",
        13: "future_timestamp", 14: "unknown_customer"}


def test_survey_quarantine_reasons(result):
    assert reasons(result, "surveys") == {3: "score_out_of_range", 4: "unparsable_score", 5: "invalid_level",
                                          6: "unknown_metric", 7: "missing_subject", 9: "duplicate"}
    s = result.tables["surveys"]
    not_rated = s[s["level"] == "relationship"]
    assert len(not_rated) == 1 and not_rated["score"].isna().all()   # blank score = not rated, kept


def test_every_reason_is_explained(result):
    assert set(result.quarantine["reason"]) <= set(REASONS)


def test_row_accounting_adds_up(result):
    for table, m in result.metrics().items():
        assert m["rows_in"] == m["loaded"] + m["quarantined"] == len(result.tables[table]) + m["quarantined"]
        assert sum(m["by_reason"].values()) == m["quarantined"]
    assert result.metrics()["events"]["rows_in"] == EVENTS.count("\n") - 1


def test_quarantine_names_file_column_and_raw_row(result):
    q = result.quarantine
    row = q[(q["table"] == "events") & (q["reason"] == "unparsable_timestamp")].iloc[0]
    assert row["source"] == "events.csv" and row["column"] == "timestamp" and row["value"] == "yesterday"
    assert '"when": "yesterday"' in row["raw"]


def test_timestamps_are_utc_with_dst_handled(result):
    e = result.tables["events"]
    c2 = e[e["customer_id"] == "C2"]["timestamp"].sort_values().tolist()
    # 02:30 on 2025-03-30 does not exist in Amsterdam: shifted forward to 03:00 CEST = 01:00 UTC
    assert c2[0] == pd.Timestamp("2025-03-30 01:00", tz="UTC")
    # an explicit offset wins over the client's time zone
    assert c2[1] == pd.Timestamp("2025-10-26 00:30", tz="UTC")
    assert str(e["timestamp"].dtype) == "datetime64[us, UTC]"


def test_durations_in_hh_mm_ss(result):
    e = result.tables["events"]
    assert e.loc[e["channel"] == "call", "handle_time_s"].dropna().tolist() == [330.0]


def test_parsers_directly():
    assert parse_numbers(pd.Series(["1.234,5", "€ 3,0", "x"]), decimal=",", thousands=".").tolist()[:2] == [1234.5, 3.0]
    ts = parse_timestamps(pd.Series(["2025-01-01T00:00:00Z", "2025-07-01 12:00"]), "Europe/Amsterdam")
    assert ts.tolist() == [pd.Timestamp("2025-01-01", tz="UTC"), pd.Timestamp("2025-07-01 10:00", tz="UTC")]


def test_missing_required_column_fails_loudly(tmp_path):
    source = {**EVENT_SOURCE, "columns": {k: v for k, v in EVENT_SOURCE["columns"].items() if v != "department"}}
    cfg = make_config(tmp_path, events=source)
    with pytest.raises(IngestError) as err:
        ingest_client(cfg, tmp_path, as_of=AS_OF)
    msg = str(err.value)
    assert "events.csv" in msg and "department" in msg and "columns found" in msg and "'dept'" in msg


def test_mapped_column_absent_from_file_fails_loudly(tmp_path):
    cfg = make_config(tmp_path, events={**EVENT_SOURCE, "columns": {**EVENT_SOURCE["columns"], "agent": "agent_id"}})
    with pytest.raises(IngestError, match=r"events.csv: column 'agent' \(mapped to agent_id\) not found"):
        ingest_client(cfg, tmp_path, as_of=AS_OF)


def test_constants_supply_missing_columns(tmp_path):
    source = {**EVENT_SOURCE, "columns": {k: v for k, v in EVENT_SOURCE["columns"].items() if v != "department"},
              "constants": {"department": "Contact centre"}}
    r = ingest_client(make_config(tmp_path, events=source), tmp_path, as_of=AS_OF)
    assert set(r.tables["events"]["department"]) == {"Contact centre"}
    assert r.absent == ["customers", "surveys"]
    # without a customers table there is no unknown-customer check
    assert "unknown_customer" not in r.metrics()["events"]["by_reason"]


def test_missing_file_fails_loudly(tmp_path):
    cfg = parse_config({"name": "T", "tables": {"events": [{"path": "nope.csv"}]}})
    with pytest.raises(IngestError, match="nope.csv: file not found"):
        ingest_client(cfg, tmp_path)


def test_wrong_encoding_is_explained_and_fixable(tmp_path):
    (tmp_path / "e.csv").write_bytes("cust,when,chan,what,dept\nC1,2025-01-01,web,Caf\xe9,CS\n".encode("latin-1"))
    src = {"path": "e.csv", "columns": {k: v for k, v in EVENT_SOURCE["columns"].items() if k != "aht"}}
    with pytest.raises(IngestError, match=r"e.csv: cannot decode the file as 'utf-8-sig'.*encoding"):
        ingest_client(parse_config({"name": "T", "tables": {"events": [src]}}), tmp_path)
    r = ingest_client(parse_config({"name": "T", "tables": {"events": [{**src, "encoding": "latin-1"}]}}), tmp_path)
    assert r.tables["events"]["touchpoint"].tolist() == ["Café"]


def test_malformed_lines_are_quarantined_not_lost(tmp_path):
    (tmp_path / "e.csv").write_text("cust,when,chan,what,dept\nC1,2025-01-01,web,A,CS\nC1,2025-01-02,web,B,CS,extra\n"
                                    "C1,2025-01-03,web,C,CS\n")
    src = {"path": "e.csv", "columns": {k: v for k, v in EVENT_SOURCE["columns"].items() if k != "aht"}}
    r = ingest_client(parse_config({"name": "T", "tables": {"events": [src]}}), tmp_path, as_of=AS_OF)
    assert r.tables["events"]["touchpoint"].tolist() == ["A", "C"]
    assert r.quarantine[["row", "reason"]].values.tolist() == [[3, "malformed_row"]]
    assert r.metrics()["events"]["rows_in"] == 3


def test_wide_survey_is_melted_with_not_rated_as_missing(tmp_path):
    pd.DataFrame({"resp": ["R1", "R2"], "date": ["2025-01-01", "2025-01-02"], "Wifi": [0, 4], "Food": [5, 0],
                  "satisfaction": ["satisfied", "neutral or dissatisfied"]}).to_excel(tmp_path / "s.xlsx", index=False)
    cfg = parse_config({"name": "T", "scales": {"rating": {"min": 1, "max": 5}}, "tables": {"surveys": [{
        "path": "s.xlsx", "columns": {"resp": "customer_id", "date": "timestamp"},
        "wide": [{"columns": {"Wifi": "inflight_wifi", "Food": "food"}, "level": "touchpoint", "metric": "rating",
                  "missing": [0]},
                 {"columns": ["satisfaction"], "level": "relationship", "metric": "satisfied",
                  "values": {"satisfied": 1, "neutral or dissatisfied": 0}}]}]}})
    r = ingest_client(cfg, tmp_path, as_of=AS_OF)
    s = r.tables["surveys"]
    assert len(s) == 6 and r.metrics()["surveys"]["quarantined"] == 0
    wifi = s[s["subject"] == "inflight_wifi"].set_index("customer_id")["score"]
    assert pd.isna(wifi["R1"]) and wifi["R2"] == 4
    sat = s[s["metric"] == "satisfied"].set_index("customer_id")["score"]
    assert sat.to_dict() == {"R1": 1.0, "R2": 0.0} and s[s["metric"] == "satisfied"]["subject"].isna().all()


def test_excel_with_several_sheets_needs_a_sheet(tmp_path):
    with pd.ExcelWriter(tmp_path / "e.xlsx") as xl:
        pd.DataFrame({"a": [1]}).to_excel(xl, sheet_name="Notes", index=False)
        pd.DataFrame({"cust": ["C1"], "when": ["2025-01-01"], "chan": ["web"], "what": ["A"],
                      "dept": ["CS"]}).to_excel(xl, sheet_name="Data", index=False)
    src = {"path": "e.xlsx", "columns": {k: v for k, v in EVENT_SOURCE["columns"].items() if k != "aht"}}
    with pytest.raises(IngestError, match=r"e.xlsx: the workbook has 2 sheets \['Notes', 'Data'\]; set 'sheet'"):
        ingest_client(parse_config({"name": "T", "tables": {"events": [src]}}), tmp_path)
    r = ingest_client(parse_config({"name": "T", "tables": {"events": [{**src, "sheet": "Data"}]}}), tmp_path,
                      as_of=AS_OF)
    assert len(r.tables["events"]) == 1


def test_parquet_source(tmp_path):
    pd.DataFrame({"customer_id": ["C1"], "timestamp": pd.to_datetime(["2025-01-01 10:00"]).tz_localize("UTC"),
                  "channel": ["web"], "touchpoint": ["A"], "department": ["CS"]}).to_parquet(tmp_path / "e.parquet")
    r = ingest_client(parse_config({"name": "T", "tables": {"events": [{"path": "e.parquet"}]}}), tmp_path, as_of=AS_OF)
    assert r.tables["events"]["timestamp"].tolist() == [pd.Timestamp("2025-01-01 10:00", tz="UTC")]


def test_identity_stitching_maps_secondary_ids_and_reports_the_match_rate(tmp_path):
    (tmp_path / "customers.csv").write_text("id\nC1\nC2\n")
    (tmp_path / "ids.csv").write_text("phone,acct\n0611,C1\n0622,C2\n0699,C1\n0699,C2\n0655,C7\n")
    (tmp_path / "events.csv").write_text(
        "who,when,what\nC1,2025-01-01 10:00,Call\n0611,2025-01-02 10:00,Call\n0622,2025-01-03 10:00,Call\n"
        "0699,2025-01-04 10:00,Call\n0000,2025-01-05 10:00,Call\n")
    cfg = parse_config({"name": "T", "tables": {
        "customers": [{"path": "customers.csv", "columns": {"id": "customer_id"}}],
        "identities": [{"path": "ids.csv", "columns": {"phone": "secondary_id", "acct": "customer_id"},
                        "constants": {"id_type": "phone"}}],
        "events": [{"path": "events.csv", "columns": {"who": "customer_id", "when": "timestamp", "what": "touchpoint"},
                    "constants": {"channel": "call", "department": "CS"}}]}})
    r = ingest_client(cfg, tmp_path, as_of=AS_OF)
    m = r.metrics()
    # 0699 belongs to two customers and 0655 to an unknown one: both quarantined with a reason
    assert m["identities"]["by_reason"] == {"ambiguous_identity": 2, "unknown_customer": 1}
    assert m["events"]["identity"] == {"direct": 1, "stitched": 2, "unmatched": 2, "match_rate": 0.6}
    assert sorted(r.tables["events"]["customer_id"]) == ["C1", "C1", "C2"]
    assert m["events"]["by_reason"] == {"unknown_customer": 2}
    assert r.absent == ["surveys"]


@pytest.mark.parametrize("values, allowed", [
    (pd.Series(["a", "b", None, "c", "a"], dtype="str"), ["a", "c"]),
    (pd.Series(["a", "b", None, "c"], dtype=object), pd.Index(["c", "x"])),
    (pd.Series([1, 2, 3, 2], dtype="int64"), [2, 9]),
    (pd.Series([1, 2, 3], dtype="int64"), ["1", "2"]),                  # text ids against numbers: none match
    (pd.Series(["a", "b", "a"], dtype="category"), ["b"]),
    (pd.Series([1.0, float("nan"), 3.0]), [3.0, float("nan")]),           # a missing id is never known
])
def test_fast_is_in_agrees_with_pandas(values, allowed):
    from cxlib.ingest.validate import is_in
    expected = values.isin(allowed) & values.notna()
    pd.testing.assert_series_equal(is_in(values, allowed), expected, check_names=False)


# Text that takes the fast paths (printable ASCII) and text that must not: tabs, a vertical
# tab, no-break and ideographic spaces, Arabic-Indic digits, accents, a trailing newline.
TRICKY_TEXT = pd.Series(["2025-01-01 10:00:00+02", "2025-01-01 10:00 Z", "2025-01-01 10:00:00\t+01:00",
                         "2025-01-01 10:00:00\x0b+01:00", "2025-01-01 10:00:00\u00a0+0100", "١٢:٣٠ +02",
                         "12:30", "00:07:49", "7:05", "99:99", "1.0", "1234.0", "١٢٣.0", "12.05", "Café 1.0",
                         "€ 12,50", "12 EUR", "12\u3000EUR", "$5", "5$\n", None, ""], dtype="str")


@pytest.mark.parametrize("pattern", [r"\d:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:Z|[+-]\d{2}(?::?\d{2})?)$",
                                     r"\d+:[0-5]?\d(?::[0-5]?\d(?:\.\d+)?)?", r"^\d+\.0$",
                                     r"^[€$£]\s*|\s*(?:EUR|USD|GBP|€|\$|£)$", r"(?<=1)2"])
@pytest.mark.parametrize("full", [False, True])
def test_match_text_agrees_with_pythons_re(pattern, full):
    # Arrow's RE2 reads printable ASCII; everything else (and a pattern RE2 lacks: the
    # lookbehind) must still be matched as Python's re matches it
    from cxlib.ingest.coerce import match_text
    text = pd.concat([TRICKY_TEXT] * 3, ignore_index=True)
    expected = (text.astype(object).map(lambda v: isinstance(v, str) and bool(
        (re.fullmatch if full else re.search)(pattern, v)))).to_numpy(dtype=bool)
    assert (match_text(text, pattern, full=full) == expected).all()


def test_durations_are_read_as_pandas_reads_them():
    from cxlib.ingest.coerce import _duration_seconds
    hms = pd.Series(["0:00:07", "1:02:03", "00:07:49", "0:7:5", "12:00:00.5", "0:0:7.123456789", "99:59:59",
                     "٣:00:00", "5000000000:00:00", None, "0:00:00"], dtype="string")
    expected = pd.to_timedelta(hms, errors="coerce").dt.total_seconds().to_numpy()
    np.testing.assert_array_equal(_duration_seconds(hms), expected)


def test_value_mapping_keeps_text_columns_text():
    # the Arrow path (text mapped to text) gives what the general path gives, as a text column
    from cxlib.ingest.mapping import map_values
    values = pd.Series(["Phone", " PHONE ", None, "Web", "Fax", "web"], dtype="str")
    mapping = {"phone": "call", "web": None}
    fast = map_values(values, mapping)
    general = map_values(values.astype(object), mapping)
    assert fast.dtype == "str"
    assert fast.isna().tolist() == general.isna().tolist()
    assert fast.dropna().tolist() == general.dropna().tolist() == ["call", "call", "Fax"]
    assert map_values(values, {"phone": True}).tolist()[:2] == [True, True]   # not text: the general path


@pytest.mark.parametrize("extra", [0, 60], ids=["schema values", "many unknown values"])
def test_event_semantics_are_decided_per_row(extra):
    """Per row, as the defaults say, whether the triples are counted over every possible one
    (a few known values) or numbered as they occur (more than the rows could hold)."""
    from cxlib.ingest.semantics import DEFAULT_INITIATOR, DEFAULT_KIND, infer_event_semantics
    rng = np.random.default_rng(3)
    n = 400
    odd = [f"x{j}" for j in range(extra)]
    events = pd.DataFrame({
        "channel": rng.choice(["call", "bill", "sms", "web", "field_visit", "other", None, *odd], n),
        "kind": rng.choice(["contact", "notification", "work_step", None, None, *odd], n),
        "initiated_by": rng.choice(["customer", "company", None, *odd], n)}).astype("str")
    out, table = infer_event_semantics(events)
    for row, got_kind, got_by in zip(events.itertuples(), out["kind"], out["initiated_by"]):
        kind = row.kind if isinstance(row.kind, str) else DEFAULT_KIND.get(row.channel, "contact")
        assert got_kind == kind
        by = row.initiated_by if isinstance(row.initiated_by, str) else DEFAULT_INITIATOR.get(kind)
        assert got_by == by or (by is None and pd.isna(got_by))     # an unknown kind has no default initiator
    inferred = events["kind"].isna() | events["initiated_by"].isna()
    known = events["channel"].notna() & out["initiated_by"].notna()    # the table counts what was decided
    assert table["events"].sum() == known.sum() and table["inferred"].sum() == (inferred & known).sum()
    assert table["events"].is_monotonic_decreasing


def test_duplicates_are_found_across_all_columns():
    from cxlib.ingest.validate import find_duplicates
    rng = np.random.default_rng(5)
    frame = pd.DataFrame({"customer_id": rng.choice(["A", "B", "C"], 300), "timestamp": rng.integers(0, 4, 300),
                          "touchpoint": rng.choice(["x", "y"], 300), "cost": rng.choice([1.0, np.nan], 300)})
    cols = list(frame.columns)
    pd.testing.assert_series_equal(find_duplicates(frame, cols), frame.duplicated(keep="first"))


@pytest.mark.parametrize("kind", ["utc", "naive", "text"])
def test_duplicates_are_found_on_missing_ids_and_times(kind):
    """The rows that repeat on the customer and time are found by a hash of the key's codes:
    missing ids and missing times match each other, as in pandas' duplicated."""
    from cxlib.ingest.validate import _may_repeat, find_duplicates
    rng = np.random.default_rng(6)
    n = 2000
    times = pd.Series(pd.to_datetime("2026-01-01") + pd.to_timedelta(rng.integers(0, 6, n), unit="h"))
    times[rng.random(n) < 0.1] = pd.NaT
    times = {"utc": times.dt.tz_localize("UTC"), "naive": times, "text": times.astype(str)}[kind]
    ids = pd.Series(rng.choice(["A", "B", "C", None], n), dtype="string[pyarrow]")
    frame = pd.DataFrame({"customer_id": ids, "timestamp": times, "touchpoint": rng.choice(["x", "y"], n),
                          "cost": rng.choice([1.0, np.nan], n)})
    cols = list(frame.columns)
    pd.testing.assert_series_equal(find_duplicates(frame, cols), frame.duplicated(keep="first"))
    key = ["customer_id", "timestamp"]
    assert (_may_repeat(frame, key) >= frame[key].duplicated(keep=False).to_numpy()).all()
    unique = frame.drop_duplicates(key)
    assert not _may_repeat(unique, key).any()      # no row of distinct keys is sent to the exact check


def _ingest_whole_and_in_parts(tmp_path, monkeypatch, rows: int, texts: dict, **tables):
    import cxlib.ingest.read as read
    cfg = make_config(tmp_path, texts, **tables)
    monkeypatch.setattr(read, "CHUNK_ROWS", 10**9)
    whole = ingest_client(cfg, tmp_path, as_of=AS_OF)
    monkeypatch.setattr(read, "CHUNK_ROWS", rows)
    return whole, ingest_client(cfg, tmp_path, as_of=AS_OF)


@pytest.mark.parametrize("rows", [1, 2, 3, 5])
def test_a_file_read_in_parts_gives_what_reading_it_at_once_gives(tmp_path, monkeypatch, rows):
    # every quarantine reason, a malformed line (too few fields), a blank line, a personal column,
    # invisible characters and reason rules: tables, quarantine, notes and accounting all equal
    lines = EVENTS.strip("\n").split("\n")
    lines = [lines[0] + ",why,email"] + [ln + ",bill query,a@b.c" for ln in lines[1:]]
    lines.insert(4, "C1,2025-03-04 10:00:00,Phone")               # too few fields
    lines.insert(6, "")                                           # a blank record
    lines.append("C1,2025-03-05 10:00:00,Phone,Ca\u200bll,CS,,other thing,a@b.c")   # a zero-width space
    lines.append('C1,2025-03-06 10:00:00,Phone,"Call, again",CS,,"bill, again",a@b.c')
    source = {**EVENT_SOURCE, "columns": {**EVENT_SOURCE["columns"], "why": "contact_reason"},
              "reason_rules": {"billing": "bill"}}
    whole, parts = _ingest_whole_and_in_parts(tmp_path, monkeypatch, rows, {"events": "\n".join(lines) + "\n"},
                                              customers=CUSTOMER_SOURCE, events=source)
    assert whole.metrics()["events"]["by_reason"].get("malformed_row") == 1
    assert {n["check"] for n in whole.notes} >= {"text_normalized", "personal_columns_dropped", "reasons_not_grouped"}
    for name, frame in whole.tables.items():
        pd.testing.assert_frame_equal(frame, parts.tables[name])
    pd.testing.assert_frame_equal(whole.quarantine, parts.quarantine)
    pd.testing.assert_frame_equal(whole.accounting, parts.accounting)
    assert whole.notes == parts.notes and whole.identity == parts.identity
    pd.testing.assert_frame_equal(whole.semantics, parts.semantics)


def _events_with_bad_times(n_bad: int, n_good: int) -> str:
    rows = [f"C1,not a time {i},Phone,Call,CS," for i in range(n_bad)]
    rows += [f"C1,2025-03-{1 + i % 28:02d} 10:00:00,Phone,Call,CS," for i in range(n_good)]
    return "cust,when,chan,what,dept,aht\n" + "\n".join(rows) + "\n"


def test_parse_failures_are_judged_over_the_whole_file_not_a_part(tmp_path, monkeypatch):
    import cxlib.ingest.read as read
    monkeypatch.setattr(read, "CHUNK_ROWS", 4)
    # the first part is all unreadable, the file is not mostly: rows are quarantined, no error
    r = ingest_client(make_config(tmp_path, {"events": _events_with_bad_times(4, 8)}, events=EVENT_SOURCE),
                      tmp_path, as_of=AS_OF)
    assert r.metrics()["events"]["by_reason"] == {"unparsable_timestamp": 4}
    # most of the file is unreadable, though no single part holds three failures
    rows = ["cust,when,chan,what,dept,aht"]
    rows += [f"C1,not a time {i},Phone,Call,CS," if i % 4 else f"C1,2025-03-0{1 + i // 4} 10:00:00,Phone,Call,CS,"
             for i in range(12)]
    monkeypatch.setattr(read, "CHUNK_ROWS", 2)
    with pytest.raises(IngestError, match=r"9 of 12 values could not be read as timestamp \(e\.g\. line 3 'not a time 1'"):
        ingest_client(make_config(tmp_path, {"events": "\n".join(rows) + "\n"}, events=EVENT_SOURCE), tmp_path,
                      as_of=AS_OF)


def test_mixed_date_conventions_are_found_across_parts(tmp_path, monkeypatch):
    import cxlib.ingest.read as read
    monkeypatch.setattr(read, "CHUNK_ROWS", 2)
    customers = "id;since\n" + "\n".join(
        [f"A{i};25-12-2020" for i in range(4)] + [f"B{i};12-25-2020" for i in range(4)]) + "\n"
    source = {"delimiter": ";", "columns": {"id": "customer_id", "since": "signup_date"},
              "formats": {"signup_date": "%d-%m-%Y"}}
    with pytest.raises(IngestError, match=r"mixes day-first and month-first dates: 4 read only as .* line 2 '25-12-2020'"):
        ingest_client(make_config(tmp_path, {"customers": customers}, customers=source), tmp_path, as_of=AS_OF)


@pytest.mark.parametrize("encoding", ["utf-8-sig", "latin-1"])
def test_a_large_file_read_by_arrow_gives_what_pandas_gives(tmp_path, monkeypatch, encoding):
    """A file of more records than a part is read by Arrow's parser (UTF-8) instead of pandas':
    every value must be what pandas reads, missing-value strings, the source's own, quoting,
    line breaks in quotes and spaces included, with the same line numbers and malformed lines."""
    from pandas._libs.parsers import STR_NA_VALUES

    import cxlib.ingest.read as read
    from cxlib.core.config import Source
    values = sorted(STR_NA_VALUES) + ["-", " NA", "NA ", '"NA"', '"a, b"', '"two\nlines"', '""', "  ", "x y",
                                      "é ü", "0001", "1e5", '"say ""hi"""', "None", "#N/A"]
    lines = ["id,value,other"] + [f"{i},{v},o{i}" for i, v in enumerate(values)]
    lines.insert(5, "99,short")                       # too few fields: malformed
    lines.insert(8, "")                               # a blank line
    text = "\n".join(lines) + "\n"
    path = tmp_path / "big.csv"
    path.write_bytes(text.encode(encoding))
    source = Source(path="big.csv", encoding=encoding, na_values=["-"])
    used = []
    real = read._open_arrow_csv
    monkeypatch.setattr(read, "_open_arrow_csv", lambda *a: used.append(real(*a)) or used[-1])
    whole, whole_bad = next(read.read_source_chunks(source, tmp_path, chunk_rows=None))
    parts = list(read.read_source_chunks(source, tmp_path, chunk_rows=4))
    assert (used[0] is not None) == (encoding == "utf-8-sig")        # Arrow reads UTF-8 only
    got = pd.concat([p for p, _ in parts], ignore_index=True)
    pd.testing.assert_frame_equal(got, whole)
    pd.testing.assert_frame_equal(pd.concat([m for _, m in parts], ignore_index=True), whole_bad)
    assert len(got) == len(values) and whole_bad[read.ROW].tolist() == [6]
    assert got["value"].isna().sum() == len(STR_NA_VALUES) + 5      # the defaults and '-', '"NA"', '""', 'None', '#N/A'


def test_a_line_of_delimiters_only_is_a_row_of_missing_values_not_a_lost_record(tmp_path):
    # pandas reads ",,,,," as a row of missing values; the record scan must count it (it once
    # skipped it as blank, and the reader's extra row stopped ingest with "rows would be lost")
    text = EVENTS.replace("C9,2025-03-03 14:00:00,Phone,Call,CS,\n", "C9,2025-03-03 14:00:00,Phone,Call,CS,\n,,,,,\n\n")
    r = ingest_client(make_config(tmp_path, {"events": text}, events=EVENT_SOURCE), tmp_path, as_of=AS_OF)
    q = r.quarantine[r.quarantine["table"] == "events"]
    line = len(text.strip("\n").split("\n"))           # its line; the blank line after it is not a row
    assert q.loc[q["row"] == line, "reason"].tolist() == ["missing_customer_id"]
    acc = r.accounting.set_index("table").loc["events"]
    data_rows = len(EVENTS.strip("\n").split("\n")) - 1
    assert acc["rows_in"] == data_rows + 1 and acc["rows_in"] == acc["loaded"] + acc["quarantined"]


def test_quarantined_rows_as_json_are_json_dumps_of_each_row():
    import json

    from cxlib.ingest.validate import find_before_signup, format_rows_as_json
    frame = pd.DataFrame({"id": ["C1", 'say "hi"\\', None, "C1", "Zoë\n\t"],
                          "score": [1.5, np.nan, 2.0, 1.5, 0.0],
                          "at": pd.to_datetime(["2025-01-01", None, "2025-01-02", "2025-01-01", "2025-03-01"], utc=True)})
    for text in (frame.astype(str), frame.astype(object).astype(str), frame.iloc[:0].astype(str)):
        assert format_rows_as_json(text) == [json.dumps(r, ensure_ascii=False) for r in text.to_dict("records")]
    # rows dated before signup, found by the customer's position in the customer table
    events = frame.assign(customer_id=["C1", "C2", "C9", "C1", None], _source="f.csv", _row=[2, 3, 4, 5, 6],
                          timestamp=pd.to_datetime(["2024-12-31 23:30", "2025-02-01 00:00", "2025-01-01 00:00", "2025-01-03 00:00",
                                                    "2025-01-01 00:00"], utc=True))
    customers = pd.DataFrame({"customer_id": ["C2", "C1"], "signup_date": pd.to_datetime(["2025-01-15", "2025-01-02"])})
    note, = find_before_signup(events.astype({"customer_id": "str"}), customers.astype({"customer_id": "str"}),
                               "events", "Europe/Amsterdam")
    assert note["rows"] == 1 and note["examples"] == ["f.csv line 2"]    # the others: on or after signup, or unknown
