"""The demo generator is deterministic, and truth.json matches what it wrote."""
import hashlib
import json
import time

import numpy as np
import pandas as pd
import pytest

from cxlib.core.config import load_config
from cxlib.demo import PLANTED, generate_demo
from cxlib.ingest import ingest_client


def digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_generator_is_deterministic(tmp_path):
    generate_demo(tmp_path / "a", n_customers=300, seed=3)
    time.sleep(1.1)  # wall-clock stamps (zip entries, workbook properties) must not leak into the files
    generate_demo(tmp_path / "b", n_customers=300, seed=3)
    generate_demo(tmp_path / "c", n_customers=300, seed=4)
    a, b, c = digest(tmp_path / "a"), digest(tmp_path / "b"), digest(tmp_path / "c")
    assert a == b
    assert a["contact_history.csv.gz"] != c["contact_history.csv.gz"]


def test_a_large_client_generated_in_parts_is_one_client_with_every_planted_flaw_counted(tmp_path):
    """layout='large' above part_customers: each part has its own customers and cases, the files
    are appended part by part, and ingest finds exactly the dirt planted in all parts together."""
    from conftest import REPO
    from cxlib.demo.export import LARGE_NAMES
    truth = generate_demo(tmp_path / "big", n_customers=2500, seed=5, layout="large", part_customers=1000, n_jobs=2)
    assert truth["parts"]["count"] == 3 and truth["n_customers"] == 2500
    # the parts are simulated side by side, but the files are those of one part after another
    generate_demo(tmp_path / "one", n_customers=2500, seed=5, layout="large", part_customers=1000, n_jobs=1)
    assert digest(tmp_path / "one") == digest(tmp_path / "big")      # truth.json included
    config = (REPO / "data" / "demo" / "client.yml").read_text()
    for old, new in LARGE_NAMES.items():
        config = config.replace(f"raw/{old}", f"raw/{new}")
    (tmp_path / "big" / "client.yml").write_text(
        "\n".join(line for line in config.splitlines() if line.strip() != "sheet: Responses") + "\n")
    raw_dir = tmp_path / "big" / "raw"
    crm = pd.read_csv(raw_dir / "crm_customers.csv", sep=";", dtype=str)
    staff = pd.read_csv(raw_dir / "staff_pulse.csv", dtype=str)
    assert truth["raw_rows"]["crm_customers.csv"] == len(crm) and truth["raw_rows"]["staff_pulse.csv"] == len(staff)
    assert crm["AccountNo"].dropna().nunique() == 2500
    assert truth["raw_rows"]["contact_history.csv"] == len(pd.read_csv(raw_dir / "contact_history.csv", dtype=str))
    result = ingest_client(load_config(tmp_path / "big" / "client.yml"), tmp_path / "big")
    m = result.metrics()
    for table in ("customers", "events", "surveys", "staff"):
        assert m[table]["by_reason"] == truth["dirt"][table], table
    customers, ev = result.tables["customers"], result.tables["events"]
    assert len(customers) == customers["customer_id"].nunique() == 2500
    # a case (an order or a move) belongs to one customer: no two parts share a case number
    per_case = ev.dropna(subset=["case_id"]).groupby("case_id")["customer_id"].nunique()
    assert len(per_case) > 100 and per_case.max() == 1


@pytest.fixture(scope="module")
def raw(small_demo):
    root, truth = small_demo
    d = root / "demo" / "raw"
    return truth, {
        "crm": pd.read_csv(d / "crm_customers.csv", sep=";", dtype=str),
        "events": pd.read_csv(d / "contact_history.csv.gz", dtype=str),
        "surveys": pd.read_csv(d / "survey_responses.csv", dtype=str),
        "rel": pd.read_excel(d / "relationship_survey.xlsx", sheet_name="Responses", dtype=str, engine="calamine"),
        "ids": pd.read_csv(d / "identity_map.csv", dtype=str),
        "staff": pd.read_csv(d / "staff_pulse.csv", dtype=str),
    }


def test_truth_file_is_written(small_demo):
    root, truth = small_demo
    on_disk = json.loads((root / "demo" / "truth.json").read_text())
    assert on_disk["generator"]["seed"] == 7 and on_disk["dirt"] == truth["dirt"]


def test_raw_row_counts_match_truth(raw):
    truth, f = raw
    assert truth["raw_rows"] == {"crm_customers.csv": len(f["crm"]), "contact_history.csv.gz": len(f["events"]),
                                 "survey_responses.csv": len(f["surveys"]), "relationship_survey.xlsx": len(f["rel"]),
                                 "identity_map.csv": len(f["ids"]), "staff_pulse.csv": len(f["staff"])}


def test_ingest_quarantines_exactly_the_planted_dirt(small_demo):
    root, truth = small_demo
    cfg = load_config(root / "demo" / "client.yml")
    result = ingest_client(cfg, root / "demo")
    m = result.metrics()
    # raw columns renamed in the mapping (Plan: plan) and unmapped ones are kept as attributes
    assert {"plan", "region"} <= set(result.tables["customers"].columns)
    for table in ("customers", "events", "surveys", "staff"):
        assert m[table]["by_reason"] == truth["dirt"][table], table
        assert m[table]["rows_in"] == m[table]["loaded"] + m[table]["quarantined"]
        assert m[table]["quarantined"] > 0
    # hashed e-mail ids on chat/e-mail contacts are stitched back to their accounts
    ident = m["events"]["identity"]
    q = result.quarantine
    hashed_held_back = int((q["raw"].str.contains('"acct": "EM-', regex=False)
                            & ~q["reason"].isin(["duplicate", "unknown_customer"])).sum())
    assert ident["stitched"] + hashed_held_back == truth["dirt"]["identity"]["events_hashed_id_rows"] > 0
    assert ident["unmatched"] == m["events"]["by_reason"]["unknown_customer"]
    assert ident["direct"] + ident["stitched"] + ident["unmatched"] == m["events"]["rows_in"] - sum(
        v for k, v in m["events"]["by_reason"].items() if k not in ("unknown_customer", "duplicate"))
    assert m["identities"]["quarantined"] == 0


def _clean_events(f):
    ev = f["events"].drop_duplicates()
    ids = f["ids"].set_index("email_sha1")["account"]
    ev = ev.assign(acct=ev["acct"].map(ids).fillna(ev["acct"]))
    return ev[ev["acct"].isin(f["crm"]["AccountNo"])]


def test_failed_installs_match_truth_and_are_bimodal(raw):
    truth, f = raw
    ev = _clean_events(f)
    inst = ev[ev["order_ref"].str.startswith("ORD", na=False)]
    failed_orders = inst.loc[(inst["activity"] == "Technician visit") & (inst["result"] == "Failed"), "order_ref"]
    assert failed_orders.nunique() == truth["journeys"]["new_install"]["n_failed_visits"]
    share = truth["journeys"]["new_install"]["failed_share"]
    assert abs(share - PLANTED["install_order_error_rate"]) < 0.06
    js = f["surveys"][(f["surveys"]["survey_type"] == "JRN") & (f["surveys"]["about"] == "new_install")]
    scores = pd.to_numeric(js["answer"], errors="coerce")
    scores = scores[scores.between(0, 10)]
    # bimodal: every score is either 1-3 or 8-9
    assert scores.isin([1, 2, 3, 8, 9]).all() and scores.isin([1, 2, 3]).any() and scores.isin([8, 9]).any()


def test_churn_after_failed_install_matches_truth(raw):
    truth, f = raw
    ev = _clean_events(f)
    crm = f["crm"].drop_duplicates().dropna(subset=["AccountNo"]).set_index("AccountNo")
    inst = ev[ev["order_ref"].str.startswith("ORD", na=False)]
    failed = set(inst.loc[(inst["activity"] == "Technician visit") & (inst["result"] == "Failed"), "order_ref"])
    act = inst[(inst["activity"] == "Service activated")].copy()
    act["failed"] = act["order_ref"].isin(failed)
    act["end"] = pd.to_datetime(act["event_time"], errors="coerce").dt.normalize()
    churn = pd.to_datetime(crm["CancelDate"], format="%d-%m-%Y")
    act["churn"] = act["acct"].map(churn)
    act["c90"] = (act["churn"] >= act["end"]) & (act["churn"] <= act["end"] + pd.Timedelta(days=90))
    rate = act.groupby("failed")["c90"].mean()
    assert abs(rate[True] - truth["journeys"]["new_install"]["churn_90d_failed"]) < 0.02
    assert rate[True] > 3 * rate[False]  # failed installs churn far more


def test_move_journeys_have_15_to_20_touchpoints_over_5_plus_departments(raw):
    truth, f = raw
    ev = _clean_events(f)
    mv = ev[ev["order_ref"].str.startswith("MOV", na=False)]
    completed = mv.groupby("order_ref")["activity"].apply(lambda a: a.isin(["Corrected bill"]).any() or
                                                          a.isin(["First bill new address"]).any())
    counts = mv[mv["order_ref"].isin(completed[completed].index)].groupby("order_ref").size()
    lo, hi = PLANTED["move_touchpoints"]
    assert counts.between(lo, hi).mean() > 0.97
    assert mv["dept"].nunique() >= 5


def test_move_is_a_watermelon(raw):
    truth, f = raw
    m = truth["journeys"]["move"]
    # red even after the planted fix of June 2025 lifts the moves that go right by a point
    assert m["touchpoint_csat_green_share"] >= 0.75 and m["journey_nps_green_share"] <= 0.40


def test_contact_and_value_plants(raw):
    truth, f = raw
    assert 0.10 <= truth["contacts"]["avoidable_share"] <= 0.15
    assert 0.06 <= truth["value"]["unprofitable_share"] <= 0.14
    ev = _clean_events(f)
    agents = ev.dropna(subset=["agent"])
    resolved = agents[agents["result"].isin(["Resolved", "Not resolved", "Transferred"])]
    fcr = resolved.groupby("agent")["result"].apply(lambda r: (r == "Resolved").mean())
    worst = set(fcr.nsmallest(3).index)
    assert worst == set(truth["contacts"]["outlier_agents"])


def test_relationship_nps_weights_recorded(raw):
    truth, f = raw
    w = truth["planted"]["relationship_nps"]["weights"]
    assert set(w) == {"new_install", "move", "repair", "billing_dispute", "onboarding"}
    nps = pd.to_numeric(f["rel"]["How likely are you to recommend us? (0-10)"])
    assert len(nps) == truth["relationship_nps"]["n"]
    assert np.isclose(nps[nps <= 10].mean(), truth["relationship_nps"]["mean"], atol=0.05)


def test_event_times_are_written_as_strftime_writes_them_across_daylight_saving():
    """The demo's event times are formatted by table lookups (millions of rows); they must be
    the local-time text strftime gives, through both clock changes and across years."""
    from cxlib.demo.export import _local_datetime_text, _local_str
    rng = np.random.default_rng(3)
    edges = np.array(["2025-03-30T00:59:59", "2025-03-30T01:00:00", "2025-10-26T00:59:59", "2025-10-26T01:00:00",
                      "2024-12-31T23:00:00", "2026-02-28T23:59:59"], dtype="datetime64[s]")
    ts = np.concatenate([edges, np.datetime64("2023-01-01T00:00:00") + rng.integers(0, 4 * 365 * 86400, 20_000)
                         .astype("timedelta64[s]")])
    fast = np.asarray(_local_datetime_text(ts), dtype=object)
    assert (fast == _local_str(ts, "%Y-%m-%d %H:%M:%S")).all()
    assert fast[1] == "2025-03-30 03:00:00" and fast[3] == "2025-10-26 02:00:00"
