"""Every example client on real data, reported end to end as a client would receive it: the
content check finds nothing a client should not see, the front page opens with the standard
figures the data allows, and nothing is headlined that was not measured. Bootstrap resamples
are cut to 50 (the ``n_boot`` parameter) to keep the suite fast; the figures' point values do
not depend on it. Each client skips when its public dataset is absent."""
import html
import re

import pytest

from conftest import REPO, SHARED_DATA, shared_file
from cxlib.report.content import check_report_content

DATASETS = {"telco": ("telco_churn", "Telco-Customer-Churn.csv"),
            "airline": ("airline_satisfaction", "train.csv.gz"),
            "helpdesk": ("helpdesk_eventlog", "Helpdesk.csv.gz"),
            "call_center": ("call_center", "call_center.csv"),
            "bpic16": ("bpic16_complaints", "BPI2016_Complaints.csv")}


def _selected_clients(session) -> list[str]:
    """The example clients the selected tests of this module read: a parametrised test's
    ``client``, else the client its name starts with (``test_telco_...``); every client when a
    test names none."""
    wanted = set()
    for item in session.items:
        if getattr(getattr(item, "module", None), "__name__", None) != __name__:
            continue
        client = item.callspec.params.get("client") if hasattr(item, "callspec") else None
        named = {c for c in DATASETS if item.originalname.startswith(f"test_{c}_")}
        wanted |= {client} if client else named or set(DATASETS)
    return sorted(wanted)


@pytest.fixture(scope="module")
def reports(request, tmp_path_factory):
    """The selected example clients whose datasets are present, reported once, two at a time as
    ``make reports`` runs them (on 2 cores the five took 79 and 83 s this way against 116 and
    125 s one after the other). ``reports(client)`` is its run folder and front page; the test
    skips when the client's dataset is absent."""
    from cxlib.report.batch import run_batch
    root = tmp_path_factory.mktemp("reports")
    present = [c for c in _selected_clients(request.session) if SHARED_DATA.joinpath(*DATASETS[c]).exists()]
    runs = {r.client: r for r in run_batch(present, REPO / "data", root, seed=42, jobs=2, progress=False,
                                           parameters={"n_boot": 50})} if present else {}

    def report(client):
        shared_file(*DATASETS[client])
        run = runs.get(client)
        assert run is not None, f"{client} was not reported: its tests were not selected"
        assert run.status == "ok", f"{client}: {run.error} (log: {run.log})"
        return root / client, (root / client / "index.html").read_text(encoding="utf-8")
    return report


def _summary(index_html: str) -> str:
    """The executive summary's text, tags stripped."""
    part = index_html.split("<section id='summary'>", 1)[1].split("</section>", 1)[0]
    return html.unescape(re.sub(r"<[^>]+>", "", part))


@pytest.mark.parametrize("client", sorted(DATASETS))
def test_the_report_passes_the_content_check(reports, client):
    run_dir, _ = reports(client)
    assert check_report_content(run_dir) == []


def test_telco_opens_with_its_churn_rate_and_prices_only_what_it_can_act_on(reports):
    import json
    run_dir, index = reports("telco")
    summary = _summary(index)
    assert re.search(r"Executive summary\s*\d+\.\d% of customers churned \(95% CI", summary)
    assert "snapshot" in summary
    drivers = json.loads((run_dir / "metrics.json").read_text())["drivers"]
    priced = drivers.get("revenue_at_risk_by_driver") or {}
    assert priced and all(k.split(" = ")[0] in ("Contract", "PaymentMethod", "PaperlessBilling") for k in priced)
    # those priced drivers are its action list (it has no events, so no journeys or contacts to fix),
    # by the lower end of their value, over the churn flag's period as the money is
    from cxlib.actions.ranking import FixAssumption
    from cxlib.core.config import load_config
    rs = load_config(REPO / "data" / "telco" / "client.yml").analysis.recommendations
    rec = json.loads((run_dir / "metrics.json").read_text())["recommendations"]
    by_low = sorted(priced, key=lambda k: -priced[k]["lo"])
    assert [a["title"] for a in rec["actions"]] == [f"Cut churn among customers with {k}" for k in by_low]
    top = rec["actions"][0]
    assert [top["value"], top["value_lo"], top["value_hi"]] == pytest.approx(
        list(FixAssumption(rs.fix_share, *rs.fix_share_range).apply(*(priced[by_low[0]][x] for x in ("value", "lo", "hi")))))
    assert rec["money_per"] == drivers["churn"]["money_per"] and "churn flag" in rec["money_per"]
    assert f"The {min(5, len(priced))} priorities" in summary and "Cut churn among customers with" in summary
    assert (run_dir / "04_recommendations.html").exists()


def test_airline_gets_a_ranked_fix_first_action_list(reports):
    run_dir, index = reports("airline")
    page = (run_dir / "04_recommendations.html").read_text(encoding="utf-8")
    assert "Improve &#x27;" in page or "Improve '" in page
    assert "not priced (it rests on survey data alone)" in index
    assert not (run_dir / "02_journeys.html").exists()          # no events: no journey page, named instead
    assert "journeys: no events table" in _summary(index)
    # client.yml names the outcome 'overall satisfaction': the front page (written by the runner, not
    # a notebook) and the action list's evidence use that name, never the raw 'relationship satisfied'
    assert "drives overall satisfaction most" in _summary(index)
    assert "explained variance in overall satisfaction" in page
    assert "relationship satisfied" not in _summary(index) + page


@pytest.mark.parametrize("client, expected", [
    ("telco", {"quarter_leave": "confirmed", "few_leave": "refuted"}),          # 26.5% of 7,043 churned
    ("airline", {"boarding_leads": "confirmed", "food_matters": "refuted"})])   # boarding 33%, food 2%
def test_workshop_beliefs_are_tested_on_real_data(reports, client, expected):
    """The example beliefs in each client.yml are judged from the real data's estimates, and the
    verdicts are on the management page and in the executive summary."""
    import json
    run_dir, index = reports(client)
    rows = json.loads((run_dir / "metrics.json").read_text())["management"]["hypotheses"]
    assert {r["id"]: r["verdict"] for r in rows} == expected
    assert all(r["lo"] <= r["estimate"] <= r["hi"] and r["n"] > 1000 for r in rows)
    page = (run_dir / "05_management.html").read_text(encoding="utf-8")
    summary = _summary(index)
    for r in rows:
        assert html.escape(r["claim"], quote=False) in page and r["claim"] in summary


def test_call_center_headlines_only_what_it_measured(reports):
    run_dir, index = reports("call_center")
    summary = _summary(index).split("Not analysed")[0]
    assert "of CSAT ratings satisfied" in summary
    assert "avoidable" not in summary and "EUR 0" not in summary and "USD 0" not in summary
    assert not (run_dir / "02_journeys.html").exists()          # one call per case: nothing to map


def test_helpdesk_work_steps_are_not_headlined_as_avoidable_contacts(reports):
    _, index = reports("helpdesk")
    summary = _summary(index)
    assert "avoidable" not in summary.split("Not analysed")[0]
    assert "every event is a work step, not a customer contact" in summary


def test_helpdesk_an_event_only_client_gets_a_journey_action(reports):
    import json
    run_dir, _ = reports("helpdesk")
    actions = json.loads((run_dir / "metrics.json").read_text())["recommendations"]["actions"]
    ticket = [a for a in actions if a["journey_type"] == "ticket"]
    assert ticket and ticket[0]["value"] is None                      # no churn, no costs: ranked, not priced
    assert "of the journeys that went wrong against" in ticket[0]["evidence"]


def test_bpic16_complaints_open_with_what_customers_complain_about(reports):
    """A latin-1, ';'-separated complaint export whose free-text topics are grouped by the
    config's reason rules: the front page names the top group with its interval and n."""
    run_dir, index = reports("bpic16")
    summary = _summary(index).split("Not analysed")[0]
    assert re.search(r"Why customers get in touch: '[a-z ]+' is the most common reason, \d+\.\d% \(95% CI", summary)
    assert "of 289 customer contacts with a reason" in summary
    ingest = (run_dir / "01_ingest.html").read_text(encoding="utf-8")
    assert "staff attitude" in ingest and "all other reasons" not in ingest      # 8 groups, none left over
    # no typed journeys, agent contacts or customer table: no action, so no recommendations page,
    # and the front page says so (it held only the period the yearly figures would rest on)
    assert not (run_dir / "04_recommendations.html").exists()
    assert "recommendations: nothing to show" in _summary(index).split("Not analysed")[1]
