"""The papermill pipeline end to end on a small demo, and its failure modes."""
import json
from html import escape as html_escape
import re
import shutil

import pandas as pd
import pytest

from conftest import SMALL_REPORT_SEED
from cxlib.core.privacy import visible_text
from cxlib.report.notebooks import list_notebooks
from cxlib.report.runner import ReportError, run_report
from cxlib.report.summary import SECTIONS

pytestmark = pytest.mark.slow



@pytest.fixture(scope="module")
def report(small_report, small_demo):
    """The small demo's report (shared with the Spark test: conftest.small_report) and its truth."""
    return small_report, small_demo[1]


def test_index_links_every_rendered_notebook(report):
    index, _ = report
    html = index.read_text()
    for nb in list_notebooks():
        assert f"href='{nb.stem}.html'" in html
        page = index.parent / f"{nb.stem}.html"
        assert page.exists() and "Traceback" not in page.read_text()
        assert (index.parent / f"{nb.stem}.ipynb").exists()  # the executed notebook is kept
        nav = re.search(r"<nav class=.cx-nav.>(.*?)</nav>", page.read_text(), re.S).group(1)
        assert 'href="index.html"' in nav and f"<b>{SECTIONS[nb.stem]}</b>" in nav     # back to the summary
        assert all(f'href="{other.stem}.html"' in nav for other in list_notebooks() if other != nb)
        assert "Demo Telecom" in nav and "Report of " in nav


def test_every_page_passes_the_content_check(report, tmp_path):
    from cxlib.report.content import check_report_content
    index, _ = report
    assert check_report_content(index.parent) == []
    # and the check is live on these very pages: a planted 'nan' is caught
    page = (index.parent / "02_journeys.html").read_text()
    (tmp_path / "index.html").write_text(page.replace("</h1>", "</h1><p>mean nan</p>", 1))
    assert any("'nan'" in p for p in check_report_content(tmp_path))


def test_rendered_html_has_no_code(report):
    index, _ = report
    page = (index.parent / "01_ingest.html").read_text()
    assert "ingest_client(" not in page and "resolve_client_paths(" not in page
    assert "<img" in page  # figures are inline


def test_metrics_ingest_section_shape_and_accounting(report):
    index, truth = report
    metrics = json.loads((index.parent / "metrics.json").read_text())
    ingest = metrics["ingest"]
    assert set(ingest) == {"customers", "identities", "events", "surveys", "staff"}
    assert 0.99 < ingest["events"]["identity"]["stitched"] / truth["dirt"]["identity"]["events_hashed_id_rows"] <= 1
    assert ingest.pop("identities")["quarantined"] == 0
    for table, m in ingest.items():
        assert set(m) - {"identity", "notes", "semantics"} == {"rows_in", "loaded", "quarantined", "by_reason"}
        assert all(isinstance(m[k], int) for k in ("rows_in", "loaded", "quarantined"))
        assert m["rows_in"] == m["loaded"] + m["quarantined"]
        assert m["quarantined"] > 0
        assert m["by_reason"] == truth["dirt"][table]
    sem = ingest["events"]["semantics"]   # the demo says what each event is: nothing inferred
    assert 0 < sem["customer_contacts"] < ingest["events"]["loaded"] and sem["inferred"] == 0


def test_prose_numbers_come_from_the_data(report):
    index, _ = report
    metrics = json.loads((index.parent / "metrics.json").read_text())["ingest"]
    rows_in = sum(m["rows_in"] for m in metrics.values())
    assert f"<strong>{rows_in:,}</strong> rows" in (index.parent / "01_ingest.html").read_text()


def test_provenance(report):
    index, _ = report
    prov = json.loads((index.parent / "provenance.json").read_text())
    assert prov["seed"] == SMALL_REPORT_SEED and prov["parameters"]["client"] == "demo" and prov["status"] == "ok"
    assert prov["parameters"]["n_boot"] == 20
    roles = {i["role"] for i in prov["inputs"]}
    assert roles == {"config", "customers", "identities", "events", "surveys", "staff"}
    assert all(re.fullmatch(r"[0-9a-f]{64}", i["sha256"]) for i in prov["inputs"])
    assert prov["packages"]["pandas"] and prov["packages"]["papermill"]
    assert "commit" in prov["git"]
    assert set(prov["notebooks"]) == {p.stem for p in list_notebooks()}
    appendix = (index.parent / "appendix.html").read_text()      # the analyst's copy, off the client pages
    assert all(i["sha256"] in appendix for i in prov["inputs"]) and f"<td>{prov['packages']['pandas']}</td>" in appendix
    assert "<h2>Client settings</h2>" in appendix and "href='appendix.html'" in index.read_text()
    assert "sha256" not in index.read_text().lower() and "href='index.html'" in appendix


def test_tables_written_for_later_notebooks(report, small_demo):
    """The tables 01 writes, read back whole or only those a section asks for (02 and 03 leave the
    events out); a misspelt table name is an error, not an empty dict."""
    from cxlib.core.paths import resolve_client_paths
    from cxlib.ingest import read_tables
    index, _ = report
    assert sorted(p.name for p in (index.parent / "tables").glob("*.parquet")) == \
        ["customers.parquet", "events.parquet", "identities.parquet", "staff.parquet", "surveys.parquet"]
    assert (index.parent / "quarantine" / "quarantine.csv").exists()
    paths = resolve_client_paths("demo", small_demo[0], index.parent.parent)
    assert set(read_tables(paths)) >= {"events", "customers", "surveys"}
    some = read_tables(paths, ["surveys", "customers"])
    assert sorted(some) == ["customers", "surveys"] and len(some["surveys"]) > 100
    with pytest.raises(ValueError, match="no canonical table named event;"):
        read_tables(paths, ["event"])


def test_unknown_parameter_is_an_error(small_demo, tmp_path):
    root, _ = small_demo
    with pytest.raises(ReportError, match=r"unknown parameter\(s\) \['colour'\]"):
        run_report("demo", data_root=root, reports_root=tmp_path, extra_parameters={"colour": "red"},
                   progress=False)


def test_failing_notebook_names_notebook_cell_and_error(small_demo, tmp_path):
    root, _ = small_demo
    nbs = tmp_path / "notebooks"
    nbs.mkdir()
    source = {nb.stem: nb for nb in list_notebooks()}
    shutil.copy(source["01_ingest"], nbs)
    broken = source["02_journeys"].read_text() + "\n# %%\nraise ValueError('planted failure')\n"
    (nbs / "02_journeys.py").write_text(broken)
    with pytest.raises(ReportError) as err:
        run_report("demo", data_root=root, reports_root=tmp_path / "reports", notebooks_dir=nbs, progress=False)
    msg = str(err.value)
    assert "02_journeys failed in cell" in msg and "ValueError: planted failure" in msg
    partial = tmp_path / "reports" / "demo" / "02_journeys.ipynb"
    assert partial.exists() and "planted failure" in partial.read_text()
    prov = json.loads((tmp_path / "reports" / "demo" / "provenance.json").read_text())
    assert prov["status"] == "failed"


def test_invalid_client_name_is_refused(small_demo, tmp_path):
    root, _ = small_demo
    with pytest.raises(ValueError, match="invalid client name"):
        run_report("../demo", data_root=root, reports_root=tmp_path, progress=False)


def test_journeys_section_outputs_and_prose(report):
    index, _ = report
    run = index.parent
    m = json.loads((run / "metrics.json").read_text())["journeys"]
    assert set(m["types"]) == {"new_install", "move", "repair", "billing_dispute", "onboarding"}
    journeys = pd.read_parquet(run / "journeys" / "journeys.parquet")
    steps = pd.read_parquet(run / "journeys" / "journey_steps.parquet")
    events = pd.read_parquet(run / "tables" / "events.parquet")
    assert len(steps) == len(events)                     # every event is in exactly one journey
    assert m["types"]["move"]["n"] == int((journeys["journey_type"] == "move").sum())
    html = (run / "02_journeys.html").read_text()
    assert f"<strong>{len(journeys):,} journey instances</strong>" in html
    assert "Journey maps" in html and "<img" in html


def test_drivers_section_shape(report):
    index, _ = report
    m = json.loads((index.parent / "metrics.json").read_text())["drivers"]
    assert {"outcome", "n", "r2", "importance", "journey_block_share", "touchpoint_block_share", "churn",
            "revenue_at_risk"} <= set(m)
    assert m["outcome"] == "relationship nps" and m["n"] > 0 and 0 < m["r2"] < 1
    assert sum(v["share"] for v in m["importance"].values()) == pytest.approx(1)
    assert sorted(v["rank"] for v in m["importance"].values()) == list(range(1, len(m["importance"]) + 1))
    vw = m["value_weighted"]                         # the demo has monthly revenue: shares weighted by it too
    assert vw["basis"] == "monthly_revenue" and set(vw["importance"]) == set(m["importance"])
    assert sum(v["share"] for v in vw["importance"].values()) == pytest.approx(1)
    for block in ("journey_block_share", "touchpoint_block_share"):
        assert m[block]["lo"] <= m[block]["share"] <= m[block]["hi"]
    html = (index.parent / "03_drivers.html").read_text()
    assert "Journeys explain" in html
    c = m["churn"]
    assert c["design"] == "landmark" and c["auc_lo"] <= c["auc_cv"] <= c["auc_hi"] and c["n"] > 0
    assert "Cross-validated AUC" in html and "Revenue at risk" in html and "Improvement scenarios" in html
    for jt, v in m["revenue_at_risk"].items():
        assert 0 <= v["lo"] <= v["value"] <= v["hi"], jt
    assert all({"scenario", "revenue_kept", "revenue_kept_lo", "revenue_kept_hi"} <= set(s) for s in m["scenarios"])


def test_recommendations_section_shape_and_executive_summary(report):
    index, _ = report
    m = json.loads((index.parent / "metrics.json").read_text())
    r = m["recommendations"]
    assert {"avoidable_share", "avoidable_cost", "unprofitable_share", "agent_outliers", "actions"} <= set(r)
    assert 0 < r["avoidable_share"] < 1 and r["avoidable_cost"] > 0 and 0 < r["unprofitable_share"] < 1
    assert isinstance(r["agent_outliers"], list)
    assert r["actions"] and [a["priority"] for a in r["actions"]] == list(range(1, len(r["actions"]) + 1))
    priced = [a["value"] is not None for a in r["actions"]]
    assert priced == sorted(priced, reverse=True)                 # unpriced (survey-only) actions come last
    for a in r["actions"]:
        assert {"title", "owner", "priority", "value_lo", "value_hi", "evidence"} <= set(a) and a["evidence"]
        assert a["value_lo"] <= a["value_hi"] if a["value"] is not None else a["kind"] == "driver"
    html = index.read_text()
    summary = html[html.index("id='summary'"):html.index("</section>")]
    assert f"{r['avoidable_share']:.1%}" in summary                 # generated from metrics.json
    assert html_escape(r["actions"][0]["title"]) in summary
    watermelons = [jt for jt, v in m["journeys"]["types"].items() if v["watermelon"]]
    assert all(f"Watermelon, {jt.replace('_', ' ')}" in summary for jt in watermelons)
    page = (index.parent / "04_recommendations.html").read_text()
    assert "The action list" in page and "Contact cascade, step 3: agent performance" in page and "<img" in page
    assert r["actions"][0]["title"].split("'")[0] in page        # the Styler escapes quotes its own way


def test_reports_show_no_customer_ids_names_emails_or_comments(report, small_demo):
    """Scan every rendered page for the demo's planted identifiers: account numbers, hashed
    e-mail ids, names and e-mail addresses from the CRM, and the comments as written."""
    from cxlib.demo.simulate import _COMMENTS
    index, truth = report
    root, _ = small_demo
    raw = root / "demo" / "raw"
    crm = pd.read_csv(raw / "crm_customers.csv", sep=";", dtype=str)
    hashed = pd.read_csv(raw / "identity_map.csv", dtype=str)["email_sha1"]
    rel = pd.read_excel(raw / "relationship_survey.xlsx", sheet_name="Responses", dtype=str, engine="calamine")
    assert truth["dirt"]["privacy"]["comments_with_personal_data"] > 0 and crm["Email"].notna().all()
    forbidden = (set(crm["AccountNo"].dropna()) | set(hashed) | set(crm["Name"]) | set(crm["Email"]))
    pages = sorted(index.parent.glob("*.html"))
    assert len(pages) == len(list_notebooks()) + 2     # index, every section, appendix
    for page in pages:
        text = visible_text(page.read_text())
        words = set(re.findall(r"[\w@.+-]+", text))
        assert not words & forbidden, (page.name, sorted(words & forbidden)[:5])
        assert not any(name in text for name in crm["Name"].unique()), page.name
        assert "@" not in text and not re.search(r"06-\d{8}", text), page.name
        assert not any(c in text for band in _COMMENTS.values() for c in band), page.name
        assert not any(c in text for c in rel["Comment"].dropna().unique()), page.name
    drivers = (index.parent / "03_drivers.html").read_text()
    assert "What customers write" in drivers and "detractors" in drivers
    assert "none found" in index.read_text()
    scan = json.loads((index.parent / "privacy.json").read_text())
    assert scan["scanned"] == len(pages) and scan["found"] == 0 and scan["identifiers"] > 2_000   # the front page too
    tables = index.parent / "tables" / "customers.parquet"
    assert not {"Name", "Email"} & set(pd.read_parquet(tables).columns)   # dropped at ingest


@pytest.fixture(scope="module")
def batch(small_demo, tmp_path_factory):
    """One batch of three clients made from the small demo, run two at a time as
    ``make reports`` runs them: ``broken`` (its events file is missing: the run fails),
    ``partial`` (no events table) and ``flat`` (flat survey scores, a journey definition that
    matches nothing and an identity map with a header only). The runs, the data and reports
    roots, and the batch's progress output."""
    import contextlib
    import io

    import yaml
    from cxlib.core.paths import list_clients
    from cxlib.report.batch import run_batch
    root, _ = small_demo
    tmp = tmp_path_factory.mktemp("batch")
    data = tmp / "data"
    (data / "broken").mkdir(parents=True)
    (data / "broken" / "client.yml").write_text("name: Broken\ntables:\n  events:\n    - path: raw/nowhere.csv\n")

    shutil.copytree(root / "demo", data / "partial")
    cfg = yaml.safe_load((data / "partial" / "client.yml").read_text())
    del cfg["tables"]["events"]
    (data / "partial" / "client.yml").write_text(yaml.safe_dump(cfg))

    shutil.copytree(root / "demo", data / "flat")
    folder, raw = data / "flat", data / "flat" / "raw"
    cfg = yaml.safe_load((folder / "client.yml").read_text())
    cfg["analysis"]["journeys"]["ghost"] = {"start": ["Nonexistent step"], "end": ["Never"]}
    (folder / "client.yml").write_text(yaml.safe_dump(cfg))
    sv = pd.read_csv(raw / "survey_responses.csv", dtype=str)
    sv["answer"] = "4"
    sv.to_csv(raw / "survey_responses.csv", index=False)
    book = pd.read_excel(raw / "relationship_survey.xlsx", sheet_name=None, dtype=str, engine="calamine")
    for col in book["Responses"]:
        if "(0-10" in col or "(1-5" in col:
            book["Responses"][col] = book["Responses"][col].where(book["Responses"][col].isna(), "4")
    with pd.ExcelWriter(raw / "relationship_survey.xlsx") as w:
        for name, frame in book.items():
            frame.to_excel(w, sheet_name=name, index=False)
    (raw / "identity_map.csv").write_text("email_sha1,account\n")

    assert list_clients(data) == ["broken", "flat", "partial"]
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        runs = run_batch(list_clients(data), data, tmp / "reports", seed=3, jobs=2, parameters={"n_boot": 20})
    return {r.client: r for r in runs}, data, tmp / "reports", err.getvalue()


def test_summary_of_a_client_without_events_says_what_was_not_analysed(batch):
    runs, _, reports, _ = batch
    assert runs["partial"].status == "ok", runs["partial"].error
    index = reports / "partial" / "index.html"
    html = index.read_text()
    assert "Not analysed" in html and "no events table" in html
    assert "journeys: no events table: journeys cannot be reconstructed without events" in html
    assert not (index.parent / "02_journeys.html").exists() and "href='02_journeys.html'" not in html
    for nb in ("03_drivers", "04_recommendations"):
        page = (index.parent / f"{nb}.html").read_text()
        assert "Traceback" not in page and "02_journeys.html" not in page   # the nav skips the missing page
    from cxlib.report.content import check_report_content
    assert check_report_content(index.parent) == []       # no empty journey sections, no vacuous lines


def test_degraded_client_reports_without_tracebacks(batch):
    """Flat survey scores, a journey definition that matches nothing and an identity map with
    a header only: the report completes and each section says what it could not do."""
    runs, _, reports, _ = batch
    assert runs["flat"].status == "ok", runs["flat"].error
    index = reports / "flat" / "index.html"
    pages = {nb: (index.parent / f"{nb}.html").read_text() for nb in
             ("01_ingest", "02_journeys", "03_drivers", "04_recommendations")}
    for page in pages.values():
        text = visible_text(page)
        assert not any(word in text for word in ("Traceback", "Error", "Warning")), text[:2000]
    assert "no identities rows were loaded" in pages["01_ingest"]
    assert "Journey type &#39;ghost&#39; matched no journeys" in pages["02_journeys"] \
        or "Journey type 'ghost' matched no journeys" in pages["02_journeys"]
    assert "relationship nps ratings is 4 (zero variance), so there is nothing for drivers" in pages["03_drivers"]
    assert "The action list" in pages["04_recommendations"]
    from cxlib.report.content import check_report_content
    assert check_report_content(index.parent) == []


def test_batch_runs_carry_on_past_a_failure_and_write_a_landing_page(batch):
    runs, _, reports, err = batch
    assert [(c, r.status) for c, r in runs.items()] == [("broken", "failed"), ("flat", "ok"), ("partial", "ok")]
    assert "nowhere.csv: file not found" in runs["broken"].error
    assert "broken: FAILED" in err and "flat: ok" in err and "partial: ok" in err and "2 ok, 1 failed" in err
    landing = (reports / "index.html").read_text()
    metrics = json.loads((reports / "flat" / "metrics.json").read_text())
    rows_in = sum(v["rows_in"] for v in metrics["ingest"].values())
    assert "href='flat/index.html'" in landing and f"{rows_in:,}" in landing
    assert f"{metrics['headlines']['churn']['value']:.1%} of customers churned" in landing   # a headline figure
    assert "nowhere.csv: file not found" in landing and "href='broken.log'" in landing
    provenance = json.loads((reports / "flat" / "provenance.json").read_text())
    assert provenance["parameters"]["n_boot"] == 20 and provenance["seed"] == 3    # the batch's notebook parameters


@pytest.fixture(scope="session")
def chromium():
    """Debian's chromium: found, or installed with apt-get, or the test is skipped saying why."""
    pytest.importorskip("playwright", reason="playwright is not installed (pip install -e '.[dev]')")
    from cxlib.report.browser import install_chromium
    path, how = install_chromium()
    if path is None:
        pytest.skip(f"headless browser test skipped: no chromium and it could not be installed ({how})")
    return path


def test_report_in_headless_chromium_offline(report, chromium):
    """Every page opens with the network cut off: no console errors, no request leaves the
    file system, no broken image or link, every image inline; a desktop screenshot of each."""
    import struct
    from cxlib.report.browser import check_report
    index, _ = report
    pdf = index.parent / "report.pdf"
    checks = check_report(index.parent, chromium=chromium, pdf=pdf)
    assert [c.page for c in checks] == ["index.html", "01_ingest.html", "02_journeys.html", "03_drivers.html",
                                        "04_recommendations.html", "05_management.html", "appendix.html"]
    assert [p for c in checks for p in c.problems] == []
    assert all(c.images >= 3 for c in checks[1:5])                      # figures render, inline
    from pypdf import PdfReader
    printed = PdfReader(pdf)                                              # the whole report, summary first
    assert len(printed.pages) >= len(checks) and "Executive summary" in printed.pages[0].extract_text()
    assert all(c.title.startswith("Demo Telecom") for c in checks)
    for c in checks:
        png = c.screenshot.read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        assert struct.unpack(">I", png[16:20])[0] == 1440                # desktop width
    # the check itself catches a page that needs the network and a broken image
    bad = index.parent / "99_bad.html"
    bad.write_text("<html><head><title>Demo Telecom: bad</title><script src='https://cdn.example.com/x.js'>"
                   "</script></head><body><img src='missing.png'><a href='nowhere.html'>x</a></body></html>")
    try:
        problems = [p for c in check_report(index.parent, chromium=chromium) for p in c.problems]
    finally:
        bad.unlink()
    assert any("network request: https://cdn.example.com/x.js" in p for p in problems)
    assert any("broken image" in p for p in problems) and any("broken link" in p for p in problems)
