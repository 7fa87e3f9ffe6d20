"""Ingestion on real public datasets in ../shared/data (skipped when they are absent)."""
import pandas as pd
import pytest

from cxlib.core.config import parse_config
from cxlib.ingest import ingest_client

from conftest import shared_file

pytestmark = pytest.mark.realdata


def test_helpdesk_event_log_with_offsets_and_cases():
    path = shared_file("helpdesk_eventlog", "Helpdesk.csv.gz")
    cfg = parse_config({"name": "Helpdesk", "timezone": "Europe/Rome", "tables": {"events": [{
        "path": str(path),
        "columns": {"case:concept:name": ["case_id", "customer_id"], "concept:name": "touchpoint",
                    "time:timestamp": "timestamp", "org:resource": "agent_id"},
        "constants": {"channel": "web", "department": "Helpdesk"}}]}})
    r = ingest_client(cfg, path.parent)
    m = r.metrics()["events"]
    assert m["rows_in"] == 21_348 and m["rows_in"] == m["loaded"] + m["quarantined"]
    ev = r.tables["events"]
    assert ev["case_id"].nunique() == 4_580
    # the only rows held back are the file's exact duplicates (same case, activity, resource and second)
    exact_duplicates = int(pd.read_csv(path, dtype=str).duplicated().sum())
    assert m["by_reason"] == {"duplicate": exact_duplicates}
    # '2010-01-13 08:40:25+02:00' is 06:40:25 UTC
    first = ev[ev["case_id"] == "Case3608"]["timestamp"].min()
    assert first == pd.Timestamp("2010-01-13 06:40:25", tz="UTC")


def test_call_center_with_bom_hms_durations_and_blank_ratings():
    path = shared_file("call_center", "call_center.csv")
    common = {"path": str(path), "constants": {}}
    cfg = parse_config({"name": "Calls", "tables": {
        "events": [{**common, "columns": {"Call Id": ["case_id", "customer_id"], "Date": "timestamp",
                                          "Topic": "contact_reason", "Agent": "agent_id",
                                          "Resolved": "outcome", "AvgTalkDuration": "handle_time_s"},
                    "values": {"outcome": {"Y": "resolved", "N": "unresolved"}},
                    "constants": {"channel": "call", "department": "Contact centre", "touchpoint": "Inbound call"}}],
        "surveys": [{**common, "columns": {"Call Id": "customer_id", "Date": "timestamp",
                                           "Satisfaction rating": "score"},
                     "constants": {"level": "touchpoint", "subject": "Inbound call", "metric": "csat"}}]}})
    r = ingest_client(cfg, path.parent)
    for table in ("events", "surveys"):
        m = r.metrics()[table]
        assert m["rows_in"] == 5_000 and m["loaded"] + m["quarantined"] == 5_000
    ev = r.tables["events"].set_index("case_id")
    assert ev.loc["ID0001", "handle_time_s"] == 143.0          # 00:02:23
    assert ev.loc["ID0002", "outcome"] == "unresolved"
    raw = pd.read_csv(path, encoding="utf-8-sig")
    assert "Call Id" in raw.columns                            # the BOM is stripped
    s = r.tables["surveys"]
    assert s["score"].isna().sum() == raw["Satisfaction rating"].isna().sum()  # blank = not rated, kept


def test_bpic16_latin1_semicolon_complaints():
    path = shared_file("bpic16_complaints", "BPI2016_Complaints.csv")
    cfg = parse_config({"name": "UWV", "tables": {"events": [{
        "path": str(path), "delimiter": ";", "encoding": "latin-1",
        "columns": {"CustomerID": "customer_id", "ContactDate": "timestamp", "ComplaintTopic_EN": "touchpoint",
                    "ComplaintTheme_EN": "contact_reason", "ComplaintID": "case_id"},
        "constants": {"channel": "web", "department": "Complaints"}}]}})
    r = ingest_client(cfg, path.parent)
    m = r.metrics()["events"]
    assert m["rows_in"] == 289 and m["loaded"] + m["quarantined"] == 289
    assert r.tables["events"]["customer_id"].nunique() == 226


def test_airline_wide_survey_zero_means_not_rated():
    path = shared_file("airline_satisfaction", "train.csv.gz")
    ratings = ["Inflight wifi service", "Departure/Arrival time convenient", "Ease of Online booking",
               "Gate location", "Food and drink", "Online boarding", "Seat comfort", "Inflight entertainment",
               "On-board service", "Leg room service", "Baggage handling", "Checkin service", "Inflight service",
               "Cleanliness"]
    cfg = parse_config({"name": "Airline", "scales": {"rating": {"min": 1, "max": 5}}, "tables": {"surveys": [{
        "path": str(path), "columns": {"id": "customer_id"}, "constants": {"timestamp": "2019-01-01"},
        "wide": [{"columns": ratings, "level": "touchpoint", "metric": "rating", "missing": [0]},
                 {"columns": ["satisfaction"], "level": "relationship", "metric": "satisfied",
                  "values": {"satisfied": 1, "neutral or dissatisfied": 0}}]}]}})
    r = ingest_client(cfg, path.parent)
    m = r.metrics()["surveys"]
    assert m["rows_in"] == 103_904 * 15 and m["quarantined"] == 0
    raw = pd.read_csv(path)
    s = r.tables["surveys"]
    assert s[s["level"] == "touchpoint"]["score"].isna().sum() == int((raw[ratings] == 0).sum().sum())
    assert s[s["metric"] == "satisfied"]["score"].mean() == pytest.approx((raw["satisfaction"] == "satisfied").mean())


def test_helpdesk_client_journeys_variants_waits_and_rework():
    """data/helpdesk/client.yml: every event of the public log comes through, one journey per ticket."""
    from cxlib.core.config import load_config
    from cxlib.journeys.diagnosis import diagnose_journeys
    from cxlib.journeys.stats import build_dfg, find_variants
    from conftest import REPO

    shared_file("helpdesk_eventlog", "Helpdesk.csv.gz")
    data_dir = REPO / "data" / "helpdesk"
    cfg = load_config(data_dir / "client.yml")
    r = ingest_client(cfg, data_dir)
    assert r.metrics()["events"] == {"rows_in": 21_348, "loaded": 21_348, "quarantined": 0, "by_reason": {},
                                     "semantics": {"customer_contacts": 0, "inferred": 21_348}}  # all work steps
    dx = diagnose_journeys(r.tables["events"], cfg.analysis)
    assert len(dx.steps) == 21_348 and dx.coverage == 1.0
    assert (dx.journeys["journey_type"] == "ticket").sum() == 4_580
    assert any("No survey table" in s for s in dx.skipped)
    raw = pd.read_csv(shared_file("helpdesk_eventlog", "Helpdesk.csv.gz"), dtype=str)
    # variants: the most common path and its count, checked against the raw file
    raw_paths = (raw.assign(t=pd.to_datetime(raw["time:timestamp"], utc=True), i=range(len(raw)))
                 .sort_values(["case:concept:name", "t", "i"]).groupby("case:concept:name")["concept:name"]
                 .agg(" → ".join).value_counts())
    v = find_variants(dx.steps, dx.journeys)
    assert v.iloc[0]["variant"] == raw_paths.index[0] and v.iloc[0]["n"] == raw_paths.iloc[0]
    # rework loops: repeated activities and 'Wait' / 'Require upgrade' detours
    rework_tickets = raw.groupby("case:concept:name")["concept:name"].apply(lambda s: s.duplicated().any()).sum()
    assert (dx.journeys["n_rework"] > 0).sum() == rework_tickets
    dfg = build_dfg(dx.steps).set_index(["source", "target"])
    assert dfg.loc[("Wait", "Take in charge ticket"), "n"] > 0
    assert dfg.loc[("Resolve ticket", "Closed"), "median_wait_days"] > 1


def test_airline_client_drivers_with_segments():
    """data/airline/client.yml: 14 ratings (0 = not rated) against satisfied, by Class and Type of Travel."""
    from cxlib.core.config import load_config
    from cxlib.drivers.diagnosis import diagnose_drivers
    from conftest import REPO

    path = shared_file("airline_satisfaction", "train.csv.gz")
    data_dir = REPO / "data" / "airline"
    cfg = load_config(data_dir / "client.yml")
    r = ingest_client(cfg, data_dir)
    dx = diagnose_drivers(r.tables["surveys"], cfg, customers=r.tables["customers"], n_boot=40, seed=1)
    raw = pd.read_csv(path)
    assert dx.model.n_ == len(raw) == 103_904 and dx.model.binary_
    imp = dx.importance
    assert len(imp) == 15 and imp["shapley_share"].sum() == pytest.approx(1)
    # the arrival delay is an operational driver: every respondent has one but the 310 blanks; never 'fix first'
    ops = imp[imp.index.str.startswith("operational: ")]
    assert list(ops.index) == ["operational: Arrival Delay in Minutes"]
    assert ops.loc["operational: Arrival Delay in Minutes", "n_rated"] == int(raw["Arrival Delay in Minutes"].notna().sum())
    assert not ops["fix_first"].any() and (ops["shapley_lo"] >= 0).all()
    assert set(dx.model.groups_.index) == {"ratings", "operational"}
    assert any(line.startswith("**Operational facts** (Arrival Delay in Minutes) hold ")
               for line in dx.summary())
    # 'not rated' (0) is missing, not a low score: n rated per driver matches the raw file
    assert imp.loc["Inflight wifi service", "n_rated"] == int((raw["Inflight wifi service"] != 0).sum())
    # online boarding is the clear top driver in this survey, well ahead of the runner-up
    assert imp.index[0] == "Online boarding" and imp.iloc[0]["shapley_lo"] > imp.iloc[1]["shapley_hi"]
    assert 0.3 < dx.model.r2_ < 0.7
    seg = dx.segments["type_of_travel"]
    assert set(seg["segment"]) == {"Business travel", "Personal Travel"}
    assert set(dx.segments["class"]["segment"]) == {"Business", "Eco", "Eco Plus"}
    m = dx.metrics()
    assert m["n"] == 103_904 and m["journey_block_share"] is None
    lines = dx.summary()
    assert lines[0].startswith("The analysis explains **relationship satisfied** from 15 drivers, using 103,904 respondents")
    assert any(line.startswith("**Online boarding** matters most") and "95% CI" in line for line in lines)
    fix = imp.index[imp["fix_first"]]
    assert any(line.startswith("**Fix first**") for line in lines) == bool(len(fix))


def test_telco_client_churn_auc_and_revenue_at_risk():
    """data/telco/client.yml: churn from customer attributes, at or above the published logistic
    baseline (ROC AUC about 0.84), and revenue at risk from MonthlyCharges."""
    from cxlib.drivers import build_driver_metrics, diagnose_churn
    from cxlib.core.config import load_config
    from conftest import REPO

    path = shared_file("telco_churn", "Telco-Customer-Churn.csv")
    data_dir = REPO / "data" / "telco"
    cfg = load_config(data_dir / "client.yml")
    r = ingest_client(cfg, data_dir)
    raw = pd.read_csv(path)
    assert r.metrics()["customers"]["loaded"] == len(raw) == 7_043
    cx = diagnose_churn(r.tables["customers"], cfg, n_boot=40, seed=1)
    m = cx.model
    assert cx.info["design"] == "cross-sectional"
    assert m.n_ == 7_043 and m.churners_ == int((raw["Churn"] == "Yes").sum())
    assert m.auc_cv_ >= 0.84 and m.auc_ci_[0] < m.auc_cv_ < m.auc_ci_[1]
    # month-to-month contracts are the best-known churn driver in this extract
    d = m.drivers_
    assert d.loc["Contract = Month-to-month", "lo"] > 1
    assert cx.info["encoding"]["Contract"]["reference"] == "Two year"
    money = cx.driver_money
    assert money.index[0] == "Contract = Month-to-month" and money.iloc[0]["lo"] > 0
    # its carriers' excess churn times their MonthlyCharges times 12 cannot exceed all their revenue
    carriers = raw[raw["Contract"] == "Month-to-month"]
    assert money.iloc[0]["value"] < carriers["MonthlyCharges"].sum() * 12
    assert money.loc["Contract = Month-to-month", "customers"] == len(carriers)
    out = build_driver_metrics(None, cx)
    assert out["churn"]["auc_cv"] == m.auc_cv_ and out["revenue_at_risk"] is None   # no journeys
    assert "revenue at risk per journey type and scenarios: there are no typed journeys" in cx.skipped
    lines = cx.summary()
    assert lines[0].startswith(f"**Churn model:** cross-validated ROC AUC {m.auc_cv_:.2f} (95% CI")
    assert "churn flag's period" in " ".join(lines)
    assert "n = 7,043 customers" in lines[0]
    assert any(line.startswith("**Churn driver with the most revenue at risk:** Contract = Month-to-month") and
               f"({len(carriers):,} customers carry it)" in line for line in lines)
    assert lines[-1] == "*Skipped:* revenue at risk per journey type and scenarios: there are no typed journeys"


def test_call_center_client_agents_scored_from_the_raw_file():
    """data/call_center/client.yml: per-agent FCR, handle time and CSAT (ratings linked back to
    their calls through the survey table) agree with the raw file, and the eight agents of
    this simulated extract differ no more than chance: none is flagged."""
    from cxlib.core.config import load_config
    from cxlib.core.dates import extract_time
    from cxlib.actions.diagnosis import diagnose_recommendations
    from conftest import REPO

    path = shared_file("call_center", "call_center.csv")
    data_dir = REPO / "data" / "call_center"
    cfg = load_config(data_dir / "client.yml")
    t = ingest_client(cfg, data_dir).tables
    rx = diagnose_recommendations(cfg, customers=None, events=t["events"], surveys=t["surveys"], journeys=None,
                                  steps=None, as_of=extract_time(cfg))
    raw = pd.read_csv(path, encoding="utf-8-sig")
    by = raw.groupby("Agent")
    a = rx.agents
    assert sorted(a.index) == sorted(raw["Agent"].unique())
    assert a["fcr"].to_dict() == pytest.approx((raw["Resolved"] == "Y").groupby(raw["Agent"]).mean().to_dict())
    assert a["csat"].to_dict() == pytest.approx(by["Satisfaction rating"].mean().to_dict())
    assert a["csat_n"].to_dict() == by["Satisfaction rating"].count().to_dict()
    talk = pd.to_timedelta(raw["AvgTalkDuration"]).dt.total_seconds()
    assert a["aht_s"].to_dict() == pytest.approx(talk.groupby(raw["Agent"]).mean().to_dict())   # one channel
    assert rx.metrics()["agent_outliers"] == []
    # one call per caller id: repeats cannot be seen, so no avoidable share is headlined (it would be 0 by construction)
    assert rx.avoidable is None and rx.metrics()["avoidable_share"] is None
    assert any(s.startswith("avoidable contacts: every customer has a single event") for s in rx.skipped)
    assert "value-based service: there is no customer table" in rx.skipped   # the extract has none
