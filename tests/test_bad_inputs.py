"""The bad-input corpus: messy client extracts, one small fixture per case.

Every case starts from the same small, valid client (``base_client``) and breaks one
thing. The toolkit must then either load the data correctly, or fail (or quarantine
the rows) with a message naming the file, the column and example rows. Whatever loads,
the row accounting must prove that no row was lost: ``assert_accounted`` counts each
file's data lines independently of the ingest code.
"""
from __future__ import annotations

import copy
import csv
import io
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import pytest
import yaml

from cxlib.core.config import ConfigError, load_config
from cxlib.ingest import IngestError, ingest_client
from cxlib.core.paths import ClientNameError, resolve_client_paths
from cxlib.actions.contacts import flag_agent_contacts
from cxlib.ingest.semantics import describe_event_semantics

AS_OF = datetime(2026, 1, 1, tzinfo=timezone.utc)

CUSTOMERS = [
    ["id", "segment", "since", "mrr", "name", "email"],
    ["C1", "home", "2024-01-15", "30.5", "Anna de Vries", "anna.devries@example.com"],
    ["C2", "home", "2024-03-01", "25", "Bram Jansen", "bram.jansen@example.com"],
    ["C3", "business", "2024-06-30", "80", "Chris Bakker", "chris.bakker@example.com"],
    ["C4", "business", "2025-01-10", "120", "Dana Visser", "dana.visser@example.com"],
]
EVENTS = [
    ["cust", "when", "chan", "what", "dept"],
    ["C1", "2025-02-01 09:00:00", "call", "Fault reported", "Support"],
    ["C1", "2025-02-03 10:00:00", "field_visit", "Fault resolved", "Field"],
    ["C2", "2025-03-01 11:00:00", "web", "Move notice", "Digital"],
    ["C2", "2025-03-20 12:00:00", "bill", "First bill new address", "Billing"],
    ["C3", "2025-04-02 13:00:00", "call", "Fault reported", "Support"],
    ["C3", "2025-04-09 14:00:00", "field_visit", "Fault resolved", "Field"],
    ["C4", "2025-05-05 15:00:00", "chat", "Bill question", "Billing"],
    ["C4", "2025-05-06 16:00:00", "email", "Bill answer", "Billing"],
]
SURVEYS = [
    ["cust", "when", "level", "about", "metric", "score", "comment"],
    ["C1", "2025-02-04", "journey", "repair", "nps", "9", "Quick fix"],
    ["C2", "2025-03-25", "journey", "move", "nps", "3", "Bill was wrong"],
    ["C3", "2025-04-10", "journey", "repair", "nps", "8", ""],
    ["C4", "2025-05-07", "relationship", "", "nps", "6", ""],
]
SOURCES = {
    "customers": {"path": "customers.csv", "columns": {"id": "customer_id", "segment": "segment",
                                                        "since": "signup_date", "mrr": "monthly_revenue"}},
    "events": {"path": "events.csv", "columns": {"cust": "customer_id", "when": "timestamp", "chan": "channel",
                                                  "what": "touchpoint", "dept": "department"}},
    "surveys": {"path": "surveys.csv", "columns": {"cust": "customer_id", "when": "timestamp", "level": "level",
                                                    "about": "subject", "metric": "metric", "score": "score",
                                                    "comment": "comment"}},
}


def to_csv(rows: list[list[str]], sep: str = ",") -> str:
    buf = io.StringIO()
    csv.writer(buf, delimiter=sep, lineterminator="\n").writerows(rows)
    return buf.getvalue()


class Client:
    """A client folder in ``tmp_path``: raw files plus a client.yml, editable per case."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.config = {"name": "Corpus", "timezone": "Europe/Amsterdam",
                       "tables": {t: [copy.deepcopy(s)] for t, s in SOURCES.items()}}
        for table, rows in (("customers", CUSTOMERS), ("events", EVENTS), ("surveys", SURVEYS)):
            self.write(f"{table}.csv", to_csv(rows))

    def write(self, name: str, content: str | bytes) -> Path:
        path = self.folder / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
        return path

    def source(self, table: str, **changes) -> dict:
        src = self.config["tables"][table][0]
        src.update(changes)
        return src

    def ingest(self):
        (self.folder / "client.yml").write_text(yaml.safe_dump(self.config, allow_unicode=True))
        return ingest_client(load_config(self.folder / "client.yml"), self.folder, as_of=AS_OF)


@pytest.fixture
def client(tmp_path) -> Client:
    return Client(tmp_path)


def data_lines(path: Path, encoding: str = "utf-8-sig", sep: str = ",") -> int:
    """Data rows in a CSV file, counted with the csv module (not with the ingest code)."""
    with open(path, encoding=encoding, newline="") as fh:
        return sum(1 for rec in csv.reader(fh, delimiter=sep) if rec) - 1


def assert_accounted(result, client: Client, encodings: dict | None = None, seps: dict | None = None) -> None:
    """rows in = loaded + quarantined for every source, and rows in = the file's data lines."""
    m = result.metrics()
    for table, sources in client.config["tables"].items():
        src = sources[0]
        path = client.folder / src["path"]
        if path.suffix == ".csv":
            expected = data_lines(path, (encodings or {}).get(table, "utf-8-sig"), (seps or {}).get(table, ","))
            assert m[table]["rows_in"] == expected, table
        assert m[table]["rows_in"] == m[table]["loaded"] + m[table]["quarantined"], table
        assert len(result.tables.get(table, [])) == m[table]["loaded"], table
        assert sum(m[table]["by_reason"].values()) == m[table]["quarantined"], table
    q = result.quarantine
    assert q["source"].notna().all() and q["row"].notna().all() and q["reason"].notna().all()


def quarantined(result, table: str) -> pd.DataFrame:
    q = result.quarantine
    return q[q["table"] == table].set_index("row")


def test_the_base_client_loads_cleanly(client):
    r = client.ingest()
    assert_accounted(r, client)
    assert len(r.quarantine) == 0
    assert {t: len(f) for t, f in r.tables.items()} == {"customers": 4, "events": 8, "surveys": 4}
    # names and e-mail addresses are personal data the diagnosis does not need: dropped at ingest
    assert not {"name", "email"} & set(r.tables["customers"].columns)
    assert r.note_table()["check"].tolist() == ["personal_columns_dropped"]


# --------------------------------------------------------------------------- columns and config

def test_missing_required_column_names_file_column_and_rows(client):
    client.write("events.csv", to_csv([r[:4] for r in EVENTS]))  # no department column
    del client.source("events")["columns"]["dept"]
    with pytest.raises(IngestError) as err:
        client.ingest()
    msg = str(err.value)
    assert "events.csv" in msg and "['department']" in msg and "columns found" in msg
    assert "line 2 {'cust': 'C1'" in msg  # example rows


def test_mapped_column_with_a_typo_suggests_the_real_one(client):
    cols = client.source("events")["columns"]
    cols["chanel"] = cols.pop("chan")
    with pytest.raises(IngestError, match=r"events.csv: column 'chanel' \(mapped to channel\) not found; "
                                          r"did you mean 'chan'\?.*line 2"):
        client.ingest()


def test_misspelt_config_key_names_the_file_the_key_and_the_fix(client):
    client.source("customers", delimeter=";")
    with pytest.raises(ConfigError) as err:
        client.ingest()
    msg = str(err.value)
    assert "client.yml" in msg and "tables.customers[0].delimeter" in msg and "did you mean 'delimiter'" in msg


@pytest.mark.parametrize("bad", ["../elsewhere", "a/b", "a\\b", "..", "/etc"])
def test_client_name_with_path_separators_is_refused(bad, tmp_path):
    with pytest.raises(ClientNameError, match="client name"):
        resolve_client_paths(bad, tmp_path / "data", tmp_path / "reports")
    assert not (tmp_path / "reports").exists()


# --------------------------------------------------------------------------- values

def test_a_few_unparsable_dates_are_quarantined_with_file_line_and_value(client):
    rows = [r[:] for r in CUSTOMERS]
    rows[3][2] = "31-02-2024"
    client.write("customers.csv", to_csv(rows))
    r = client.ingest()
    assert_accounted(r, client)
    q = quarantined(r, "customers").loc[4]
    assert (q["source"], q["reason"], q["column"], q["value"]) == ("customers.csv", "unparsable_date",
                                                                   "signup_date", "31-02-2024")
    assert '"since": "31-02-2024"' in q["raw"]
    # C3's events and survey now have no customer: quarantined as unknown, not lost
    assert set(quarantined(r, "events")["reason"]) == {"unknown_customer"}


def test_a_date_column_in_another_format_fails_with_the_fix(client):
    rows = [CUSTOMERS[0]] + [[*r[:2], pd.Timestamp(r[2]).strftime("%d/%m/%Y"), *r[3:]] for r in CUSTOMERS[1:]]
    client.write("customers.csv", to_csv(rows))
    with pytest.raises(IngestError) as err:
        client.ingest()
    msg = str(err.value)
    assert "customers.csv" in msg and "'since' (signup_date)" in msg and "4 of 4" in msg
    assert "line 2 '15/01/2024'" in msg and "formats.signup_date" in msg
    client.source("customers", formats={"signup_date": "%d/%m/%Y"})
    r = client.ingest()
    assert r.tables["customers"]["signup_date"].iloc[0] == pd.Timestamp("2024-01-15")


def test_mixed_time_zones_and_daylight_saving_transitions(client):
    rows = [EVENTS[0],
            ["C1", "2025-03-30 02:30:00", "call", "A", "S"],        # local time in the spring-forward gap
            ["C1", "2025-10-26 02:30:00", "call", "B", "S"],        # the repeated hour in autumn: summer time
            ["C1", "2025-10-26T02:30:00+01:00", "call", "C", "S"],  # the same wall time, winter offset given
            ["C1", "2025-07-01T12:00:00Z", "call", "D", "S"],       # UTC
            ["C1", "2025-07-01T12:00:00-04:00", "call", "E", "S"],  # another zone's offset
            ["C1", "2025-01-15 08:00:00", "call", "F", "S"]]        # plain winter time
    client.write("events.csv", to_csv(rows))
    r = client.ingest()
    assert_accounted(r, client)
    got = r.tables["events"].set_index("touchpoint")["timestamp"]
    want = {"A": "2025-03-30 01:00", "B": "2025-10-26 00:30", "C": "2025-10-26 01:30", "D": "2025-07-01 12:00",
            "E": "2025-07-01 16:00", "F": "2025-01-15 07:00"}
    assert {k: got[k] for k in want} == {k: pd.Timestamp(v, tz="UTC") for k, v in want.items()}


def test_duplicate_events_are_quarantined_or_kept_on_request(client):
    rows = EVENTS + [EVENTS[1], EVENTS[1], EVENTS[5]]
    client.write("events.csv", to_csv(rows))
    r = client.ingest()
    assert_accounted(r, client)
    q = quarantined(r, "events")
    assert q["reason"].tolist() == ["duplicate"] * 3 and sorted(q.index) == [10, 11, 12]
    client.source("events", duplicates="keep")
    kept = client.ingest()
    assert len(kept.tables["events"]) == len(rows) - 1 and not len(kept.quarantine)


def test_negative_nan_and_out_of_scale_scores(client):
    rows = SURVEYS + [["C1", "2025-06-01", "relationship", "", "nps", "NaN", ""],  # not rated: kept as missing
                      ["C2", "2025-06-01", "relationship", "", "nps", "-1", ""],
                      ["C3", "2025-06-01", "relationship", "", "nps", "11", ""],
                      ["C4", "2025-06-01", "touchpoint", "Call", "csat", "6", ""],
                      ["C4", "2025-06-02", "touchpoint", "Call", "csat", "4.5", ""],
                      ["C1", "2025-06-02", "relationship", "", "nps", "", ""]]
    client.write("surveys.csv", to_csv(rows))
    r = client.ingest()
    assert_accounted(r, client)
    q = quarantined(r, "surveys")
    assert dict(zip(q.index, q["reason"])) == {7: "score_out_of_range", 8: "score_out_of_range",
                                               9: "score_out_of_range"}
    assert q.loc[7, "value"] == "-1" and q.loc[7, "column"] == "score"
    s = r.tables["surveys"]
    assert s["score"].isna().sum() == 2 and 4.5 in s["score"].tolist()


def test_text_scores_fail_with_a_hint_to_map_them(client):
    rows = [SURVEYS[0]] + [[*r[:5], "Very good", r[6]] for r in SURVEYS[1:]]
    client.write("surveys.csv", to_csv(rows))
    with pytest.raises(IngestError, match=r"surveys.csv: column 'score' \(score\): 4 of 4 values.*"
                                          r"line 2 'Very good'.*values.score"):
        client.ingest()


# --------------------------------------------------------------------------- files

def test_latin1_file_fails_with_line_and_suggested_encoding_then_loads(client):
    rows = [r[:] for r in CUSTOMERS]
    rows[2][1] = "Privé"
    client.write("customers.csv", to_csv(rows).encode("latin-1"))
    with pytest.raises(IngestError) as err:
        client.ingest()
    msg = str(err.value)
    assert "customers.csv" in msg and "line 3" in msg and "C2,Priv" in msg and "encoding: cp1252" in msg
    client.source("customers", encoding="cp1252")
    r = client.ingest()
    assert_accounted(r, client, encodings={"customers": "cp1252"})
    assert "Privé" in r.tables["customers"]["segment"].tolist()


def test_utf16_export_is_recognised_by_its_byte_order_mark(client):
    client.write("events.csv", to_csv(EVENTS).encode("utf-16"))
    with pytest.raises(IngestError, match=r"events.csv: cannot decode.*encoding: utf-16"):
        client.ingest()
    client.source("events", encoding="utf-16")
    r = client.ingest()
    assert_accounted(r, client, encodings={"events": "utf-16"})
    assert len(r.tables["events"]) == len(EVENTS) - 1


def test_utf8_byte_order_mark_is_stripped(client):
    client.write("customers.csv", b"\xef\xbb\xbf" + to_csv(CUSTOMERS).encode("utf-8"))
    r = client.ingest()
    assert_accounted(r, client)
    assert r.tables["customers"]["customer_id"].tolist() == ["C1", "C2", "C3", "C4"]


def test_semicolon_file_read_as_commas_fails_with_the_fix(client):
    rows = [r[:] for r in CUSTOMERS]
    for r in rows[1:]:
        r[3] = r[3].replace(".", ",")
    client.write("customers.csv", to_csv(rows, sep=";"))
    with pytest.raises(IngestError, match=r"customers.csv: the header was read as one column.*"
                                          r"looks ';'-separated\. Set delimiter: ';'"):
        client.ingest()
    client.source("customers", delimiter=";", decimal=",")
    r = client.ingest()
    assert_accounted(r, client, seps={"customers": ";"})
    assert r.tables["customers"]["monthly_revenue"].tolist() == [30.5, 25.0, 80.0, 120.0]


def test_excel_with_several_sheets(client):
    path = client.folder / "customers.xlsx"
    with pd.ExcelWriter(path) as book:
        pd.DataFrame({"About": ["exported by CRM"]}).to_excel(book, sheet_name="Info", index=False)
        pd.DataFrame(CUSTOMERS[1:], columns=CUSTOMERS[0]).to_excel(book, sheet_name="Customers", index=False)
    client.source("customers", path="customers.xlsx")
    with pytest.raises(IngestError, match=r"customers.xlsx: the workbook has 2 sheets \['Info', 'Customers'\]; "
                                          r"set 'sheet'"):
        client.ingest()
    client.source("customers", sheet="Clients")
    with pytest.raises(IngestError, match=r"no sheet named 'Clients'; the sheets are \['Info', 'Customers'\]"):
        client.ingest()
    client.source("customers", sheet="Customers")
    r = client.ingest()
    assert_accounted(r, client)
    assert r.metrics()["customers"]["rows_in"] == 4 and len(r.tables["customers"]) == 4


def test_empty_file_fails_naming_it(client):
    client.write("surveys.csv", "")
    with pytest.raises(IngestError, match=r"surveys.csv: the file is empty \(no header row\)"):
        client.ingest()


def test_header_only_events_load_as_no_rows_and_are_treated_as_absent(client):
    client.write("events.csv", to_csv(EVENTS[:1]))
    r = client.ingest()
    assert_accounted(r, client)
    assert "events" not in r.tables and r.metrics()["events"]["rows_in"] == 0
    notes = r.note_table()
    assert notes.loc[notes["table"] == "events", "check"].tolist() == ["no_rows"]
    assert "events.csv" in notes.loc[notes["table"] == "events", "message"].iloc[0]


def test_header_only_customers_do_not_quarantine_every_event(client):
    client.write("customers.csv", to_csv(CUSTOMERS[:1]))
    r = client.ingest()
    assert_accounted(r, client)
    assert len(r.tables["events"]) == len(EVENTS) - 1 and not len(r.quarantine)
    notes = r.note_table().set_index("check")
    assert "not checked against customer ids" in notes.loc["no_rows", "message"]


def test_very_long_comments_load_whole_even_beside_a_malformed_line(client):
    long = "The engineer did not come. " * 40_000  # ~1 MB, beyond the csv module's default field limit
    rows = SURVEYS + [["C4", "2025-06-01", "relationship", "", "nps", "2", long]]
    text = to_csv(rows) + "C1,2025-06-02,relationship,,nps,5,,one field too many\n"
    client.write("surveys.csv", text)
    r = client.ingest()
    assert_accounted(r, client)
    assert r.tables["surveys"]["comment"].str.len().max() == len(long.strip())
    q = quarantined(r, "surveys")
    assert q["reason"].tolist() == ["malformed_row"] and q.index.tolist() == [7]
    assert len(q["raw"].iloc[0]) <= 500


# --------------------------------------------------------------------------- references and time

def test_unknown_customer_ids_are_quarantined_with_the_id(client):
    rows = EVENTS + [["C99", "2025-02-01 09:00:00", "call", "Fault reported", "Support"]]
    client.write("events.csv", to_csv(rows))
    r = client.ingest()
    assert_accounted(r, client)
    q = quarantined(r, "events").loc[10]
    assert (q["reason"], q["column"], q["value"]) == ("unknown_customer", "customer_id", "C99")


def test_events_before_signup_load_with_a_note_and_future_events_are_quarantined(client):
    rows = EVENTS + [["C4", "2024-12-01 09:00:00", "web", "Order placed", "Sales"],     # 40 days before signup
                     ["C4", "2027-01-01 09:00:00", "call", "Bill question", "Billing"]]  # after the extract
    client.write("events.csv", to_csv(rows))
    r = client.ingest()
    assert_accounted(r, client)
    assert "Order placed" in r.tables["events"]["touchpoint"].tolist()
    note = r.note_table().set_index("check").loc["before_signup"]
    assert note["rows"] == 1 and "40 days" in note["message"] and note["examples"] == "events.csv line 10"
    assert r.metrics()["events"]["notes"] == {"before_signup": 1}
    assert quarantined(r, "events").loc[11, "reason"] == "future_timestamp"


def test_zero_variance_survey_loads(client):
    rows = [SURVEYS[0]] + [[*r[:5], "7", r[6]] for r in SURVEYS[1:]]
    client.write("surveys.csv", to_csv(rows))
    r = client.ingest()
    assert_accounted(r, client)
    assert r.tables["surveys"]["score"].nunique() == 1


# --------------------------------------------------------------------------- analyses on degraded data

def test_a_journey_definition_that_matches_nothing_is_named_with_near_misses(client):
    from cxlib.core.config import parse_config
    from cxlib.journeys.diagnosis import diagnose_journeys
    client.config["analysis"] = {"journeys": {
        "repair": {"start": ["Fault reported"], "end": ["Fault resolved"]},
        "move": {"start": ["Move notise"], "end": ["First bill new address"]},
        "ghost": {"start": ["Nothing like it"], "end": ["Never"]}}}
    r = client.ingest()
    analysis = parse_config(client.config).analysis
    dx = diagnose_journeys(r.tables["events"], analysis, customers=r.tables["customers"],
                           surveys=r.tables["surveys"], as_of=AS_OF)
    assert set(dx.types) == {"repair"}
    notes = [s for s in dx.skipped if s.startswith("Journey type")]
    assert len(notes) == 2
    assert "'move' matched no journeys" in notes[0] and "['Move notise']" in notes[0] and "'Move notice'" in notes[0]
    assert "'ghost'" in notes[1] and "analysis.journeys.ghost" in notes[1]


def test_zero_variance_outcome_or_driver_is_explained_not_crashed(client):
    from cxlib.core.config import parse_config
    from cxlib.drivers.diagnosis import diagnose_drivers
    rows = [SURVEYS[0]]
    for i in range(40):  # 40 respondents: relationship NPS and two touchpoint ratings each
        cid, day = f"R{i}", f"2025-{i % 12 + 1:02d}-{i % 27 + 1:02d}"
        rows += [[cid, day, "relationship", "", "nps", str(i % 11), ""],
                 [cid, day, "touchpoint", "Call", "csat", str(i % 5 + 1), ""],
                 [cid, day, "touchpoint", "Bill", "csat", "3", ""]]
    client.write("surveys.csv", to_csv(rows))
    client.config["analysis"] = {"drivers": {"driver_levels": ["touchpoint"], "min_rated": 5, "n_boot": 20}}
    del client.config["tables"]["customers"]  # respondents R0..R39 are not in the small customer table
    r = client.ingest()
    cfg = parse_config(client.config)
    dx = diagnose_drivers(r.tables["surveys"], cfg, seed=1)
    assert list(dx.X.columns) == ["Call"]
    assert any("'Bill' has one rating value" in s for s in dx.skipped)
    flat = [rows[0]] + [[*x[:5], "7" if x[2] == "relationship" else x[5], x[6]] for x in rows[1:]]
    client.write("surveys.csv", to_csv(flat))
    r = client.ingest()
    with pytest.raises(ValueError, match=r"relationship nps ratings is 7 \(zero variance\)"):
        diagnose_drivers(r.tables["surveys"], cfg, seed=1)


def test_new_channels_load_and_an_unknown_kind_is_quarantined(client):
    rows = [EVENTS[0] + ["kind"]] + [r + ["contact"] for r in EVENTS[1:]]
    rows[1][2], rows[3][2], rows[5][2], rows[7][2] = "sms", "letter", "social", "other"
    rows[2][5] = "task"                                          # not a kind
    client.write("events.csv", to_csv(rows))
    client.source("events", columns={**SOURCES["events"]["columns"], "kind": "kind"})
    r = client.ingest()
    ev = r.tables["events"]
    assert {"sms", "letter", "social", "other"} <= set(ev["channel"]) and len(ev) == len(EVENTS) - 2
    q = r.quarantine
    assert q.loc[q["table"] == "events", "reason"].tolist() == ["unknown_kind"]
    assert q.loc[q["reason"] == "unknown_kind", "value"].tolist() == ["task"]
    assert_accounted(r, client)


def test_event_kind_and_initiator_are_inferred_from_the_channel_where_missing(client):
    """A bill is the company's, an SMS a notification, channel 'other' a work step, a call the
    customer's contact; a mapped value always wins; every filled row is counted."""
    rows = [EVENTS[0] + ["initiated_by"]] + [r + [""] for r in EVENTS[1:]]
    rows[1][2], rows[3][2], rows[5][2] = "bill", "sms", "other"
    rows[7][-1] = "company"                                      # an outbound chat the data marks
    client.write("events.csv", to_csv(rows))
    client.source("events", columns={**SOURCES["events"]["columns"], "initiated_by": "initiated_by"})
    r = client.ingest()
    ev = r.tables["events"]
    said = lambda ch: set(map(tuple, ev.loc[ev["channel"] == ch, ["kind", "initiated_by"]].values.tolist()))  # noqa: E731
    assert said("bill") == {("bill", "company")} and said("sms") == {("notification", "company")}
    assert said("other") == {("work_step", "company")} and said("field_visit") == {("visit", "company")}
    assert ev.loc[ev["channel"] == "chat", "initiated_by"].tolist() == ["company"]  # the mapped value kept
    assert said("email") == {("contact", "customer")}
    sem = r.semantics
    assert sem["events"].sum() == len(ev) and sem["inferred"].sum() == len(ev)   # kind was missing everywhere
    own = ev["kind"].eq("contact") & ev["initiated_by"].eq("customer")
    assert r.metrics()["events"]["semantics"]["customer_contacts"] == own.sum() < len(ev)
    assert flag_agent_contacts(ev).sum() <= own.sum()
    assert f"{own.sum():,}" in describe_event_semantics(sem)


def test_two_sources_reading_one_file_are_accounted_separately(client):
    """A ticket export read twice (say, opened and closed events): each source's rows are its
    own, and a bad row is quarantined once per source that reads it, not twice per source."""
    rows = [r[:] for r in EVENTS]
    rows[2][1] = "not a date"
    client.write("events.csv", to_csv(rows))
    second = copy.deepcopy(SOURCES["events"])
    second["columns"] = {k: v for k, v in second["columns"].items() if v != "touchpoint"}
    second["constants"] = {"touchpoint": "Ticket closed"}
    client.config["tables"]["events"].append(second)
    r = client.ingest()
    m = r.metrics()["events"]
    n = data_lines(client.folder / "events.csv")
    assert m["rows_in"] == 2 * n and m["quarantined"] == 2 and m["loaded"] == 2 * n - 2 == len(r.tables["events"])
    acc = r.accounting[r.accounting["table"] == "events"]
    assert acc["quarantined"].tolist() == [1, 1] and (acc["rows_in"] == acc["loaded"] + acc["quarantined"]).all()


def test_a_row_filter_counts_what_it_leaves_out_and_columns_can_be_combined(client):
    rows = [["cust", "day", "hour", "chan", "what", "dept", "status"]]
    for r in EVENTS[1:]:
        day, hour = r[1].split(" ")
        rows.append([r[0], day, hour, r[2], r[3], r[4], "Closed" if r[0] in ("C1", "C3") else "open "])
    rows[1][2] = ""                                                   # no time: the date alone
    client.write("events.csv", to_csv(rows))
    client.source("events", columns={"cust": "customer_id", "chan": "channel", "what": "touchpoint", "dept": "department"},
                  combine={"timestamp": ["day", "hour"]}, keep={"status": ["closed"]})
    r = client.ingest()
    m = r.metrics()["events"]
    n = data_lines(client.folder / "events.csv")
    kept = sum(1 for row in rows[1:] if row[-1].strip().lower() == "closed")
    assert m["rows_in"] == n and m["filtered"] == n - kept and m["loaded"] == kept == len(r.tables["events"])
    assert m["quarantined"] == 0 and r.reason_table().loc["events", "filtered"] == n - kept
    ts = r.tables["events"].sort_values("timestamp")["timestamp"]
    assert ts.iloc[0] == pd.Timestamp("2025-01-31 23:00", tz="UTC")   # 2025-02-01 00:00 Amsterdam, date only
    assert ts.iloc[1] == pd.Timestamp("2025-02-03 09:00", tz="UTC")   # 10:00 Amsterdam
    assert any("left out by the client's row filters" in line for line in r.summary())
    client.source("events", keep={"Statuss": ["closed"]})
    with pytest.raises(IngestError, match="keep.Statuss: column not found"):
        client.ingest()


def test_free_text_reasons_are_grouped_by_rules_and_the_rest_is_reported(client):
    rows = [EVENTS[0] + ["why"]] + [r + [w] for r, w in zip(EVENTS[1:], [
        "My INVOICE is wrong", "technician did not come", "moving house", "bill too high",
        "", "no engineer showed up", "question about my bill", "something else entirely"])]
    client.write("events.csv", to_csv(rows))
    client.source("events", columns={**SOURCES["events"]["columns"], "why": "contact_reason"},
                  reason_rules={"billing": "bill|invoice", "field visit": "technician|engineer", "move": "moving"})
    r = client.ingest()
    got = r.tables["events"].sort_values("timestamp")["contact_reason"].tolist()
    assert got[:4] == ["billing", "field visit", "move", "billing"] and pd.isna(got[4])   # blank stays missing
    assert got[5:] == ["field visit", "billing", "other"]
    note = next(n for n in r.notes if n["check"] == "reasons_not_grouped")
    assert note["rows"] == 1 and "12.5% of the contact reasons match no reason rule" in note["message"]
    client.source("events", reason_rules={"billing": "bill("})
    with pytest.raises(ConfigError, match="reason_rules.billing"):
        client.ingest()
