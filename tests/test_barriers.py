"""Employee barriers (cxlib.actions.barriers): a staff pulse survey ranked with intervals and
set beside the journeys that break. The demo plants a back-office barrier, 'information from
sales is incomplete', behind the install journey's order errors (truth.json 'barriers')."""
import numpy as np
import pandas as pd
import pytest

from cxlib.actions.barriers import diagnose_barriers, find_breaks, rank_barriers
from cxlib.core.uncertainty import wilson_interval


def _staff():
    """Two departments: 'Ops' agrees with 'Forms are wrong' 16 times in 20; everyone else
    agrees with anything 5 times in 20."""
    rows = []
    for dept in ("Ops", "Front", "Field"):
        for item in ("Forms are wrong", "Systems are slow"):
            agree = 16 if (dept, item) == ("Ops", "Forms are wrong") else 5
            scores = [5] * agree + [2] * (20 - agree)
            rows += [{"department": dept, "barrier": item, "score": float(x), "metric": None, "category": "c",
                      "journey": "install" if item == "Forms are wrong" else None,
                      "respondent_id": f"{dept}{i}", "comment": None} for i, x in enumerate(scores)]
    rows.append({"department": "Ops", "barrier": "Forms are wrong", "score": np.nan, "metric": None, "category": "c",
                 "journey": "install", "respondent_id": "Ops99", "comment": None})    # not answered: not counted
    return pd.DataFrame(rows)


METRICS = {"journeys": {"types": {
    "install": {"bimodal": True, "bimodal_separator": "has: Fix order", "journey_green_share": 0.7, "bimodal_n": 90},
    "repair": {"bimodal": False, "watermelon": True, "journey_green_share": 0.5, "touchpoint_green_share": 0.9,
               "touchpoint_ratings_n": 200, "journey_score_n": 80},
    "billing": {"bimodal": False, "journey_green_share": 0.9}}}}
STEPS = pd.DataFrame({"journey_type": ["install", "install", "install", "repair", "repair"],
                      "touchpoint": ["Fix order", "Fix order", "Visit", "Visit", "Visit"],
                      "department": ["Ops", "Ops", "Field", "Field", "Field"],
                      "failed_step": [False, False, True, True, True]})


def test_barriers_are_ranked_by_share_agreeing_with_wilson_intervals():
    r = rank_barriers(_staff())
    assert r["barrier"].tolist() == ["Forms are wrong", "Systems are slow"]
    top = r.iloc[0]
    assert top["n"] == 60 and top["agree"] == pytest.approx(26 / 60)
    assert (top["lo"], top["hi"]) == pytest.approx(wilson_interval(26, 60))
    by = rank_barriers(_staff(), by="department").set_index(["department", "barrier"])
    assert by.loc[("Ops", "Forms are wrong"), "agree"] == pytest.approx(0.8)
    assert rank_barriers(_staff(), by="department", min_n=25).empty        # thin groups are left out
    assert rank_barriers(_staff().assign(metric="nps", score=lambda f: f["score"] * 2), scales={"nps": (0, 10)}
                         )["agree"].max() == pytest.approx(26 / 60)         # top two points of any scale


def test_breaking_journeys_get_their_failing_step_owner_and_what_its_staff_say():
    b = find_breaks(METRICS, STEPS).set_index("journey_type")
    assert set(b.index) == {"install", "repair"}                          # billing does not break
    assert (b.loc["install", "failing_step"], b.loc["install", "department"]) == ("Fix order", "Ops")
    assert (b.loc["repair", "failing_step"], b.loc["repair", "department"]) == ("Visit", "Field")
    assert b.loc["repair", "why"] == "watermelon; 50% of its ratings satisfied"
    assert b.loc["install", "why"] == "two groups"
    # a separator that is the customer getting in touch is a symptom: the failing step is the one that fails
    symptom = {"journeys": {"types": {"install": METRICS["journeys"]["types"]["install"]
                                      | {"bimodal_separator_is_symptom": True}}}}
    assert find_breaks(symptom, STEPS).set_index("journey_type").loc["install", "failing_step"] == "Visit"
    bar = diagnose_barriers(_staff(), METRICS, steps=STEPS)
    side = bar.beside_breaks.set_index("journey_type")
    assert side.loc["install", "barrier"] == "Forms are wrong" and bool(side.loc["install", "stands_out"])
    assert side.loc["install", "others_agree"] == pytest.approx(10 / 40)
    assert not bool(side.loc["repair", "stands_out"])                    # Field's staff: nothing above the rest
    lines = bar.describe()
    assert "**Forms are wrong**" in lines[0] and bar.respondents == 61 and bar.answers == 120
    assert any("owned by Ops: its staff say **Forms are wrong**" in x for x in lines)
    assert any("owned by Field: no barrier stands out" in x for x in lines)
    assert set(bar.beside_table()["stands out"]) == {"yes", "no"}


def test_without_a_staff_survey_the_page_says_so(demo_journeys):
    from cxlib.actions.management import diagnose_management
    mx = diagnose_management(demo_journeys["config"], {}, staff=None)
    assert mx.barriers is None
    assert mx.skipped_about("employee barriers").startswith("employee barriers: there is no staff pulse survey")


def test_the_demo_back_office_barrier_is_found_behind_the_install_order_errors(demo_journeys):
    from cxlib.drivers import diagnose_drivers_if_possible
    d = demo_journeys
    planted = d["truth"]["barriers"]
    staff = d["tables"]["staff"]
    drivers, _ = diagnose_drivers_if_possible(d["tables"]["surveys"], d["config"], customers=d["tables"]["customers"],
                                              seed=42)
    metrics = {"journeys": d["diagnosis"].metrics(), "drivers": drivers.metrics()}
    bar = diagnose_barriers(staff, metrics, steps=d["diagnosis"].steps, scales=d["config"].all_scales())
    assert bar.ranking.iloc[0]["barrier"] == planted["barrier"]
    side = bar.beside_breaks.set_index("journey_type").loc[planted["journey"]]
    assert (side["failing_step"], side["department"]) == (planted["failing_step"], planted["department"])
    assert side["barrier"] == planted["barrier"] and bool(side["stands_out"])
    assert side["lo"] <= planted["agree_share"][planted["department"]] <= side["hi"]
    assert bar.respondents == planted["respondents"]
    top = bar.by_department.groupby("department").head(1).set_index("department")
    assert top.loc[planted["department"], "barrier"] == planted["barrier"]


def test_the_executive_summary_names_only_barriers_that_stand_out():
    from cxlib.report.summary import render_executive_summary
    bar = diagnose_barriers(_staff(), METRICS, steps=STEPS)
    html = render_executive_summary({"management": {"barriers": bar.metrics()}})
    assert "<h3>What stops staff</h3>" in html
    assert "owned by Ops: its staff say <b>Forms are wrong</b>" in html
    assert "owned by Field" not in html                                  # nothing stands out there
