"""Tracking a fix over time (cxlib.actions.tracking): KPI series with intervals, and the
before/after test of a change that allows for the trend and for what the untouched journeys
did. The demo plants a fix on the move journey (truth.json 'interventions')."""
import numpy as np
import pandas as pd
import pytest

from cxlib.actions.tracking import (build_kpi_series, build_nps_series, estimate_intervention_effect,
                                    track_journeys)
from cxlib.core.config import Intervention
from cxlib.core.uncertainty import wilson_interval

CHANGE = pd.Timestamp("2025-06-02", tz="UTC")


def _journeys(step=-2.0, trend=0.0, seed=0, weeks=40, per_week=40, season=1.5):
    """Two journey types over ``weeks`` weeks: 'fixed' gets ``step`` handoffs from CHANGE on;
    both share a seasonal bump and a trend of ``trend`` handoffs a year."""
    rng = np.random.default_rng(seed)
    first = CHANGE - pd.Timedelta(weeks=weeks // 2)
    rows = []
    for jt in ("fixed", "other"):
        start = first + pd.to_timedelta(rng.uniform(0, weeks * 7, weeks * per_week), unit="D")
        years = (start - CHANGE).total_seconds().to_numpy() / (365.25 * 86400)
        season_effect = season * np.sin(2 * np.pi * years)
        h = 6 + trend * years + season_effect + rng.normal(0, 1, len(start))
        if jt == "fixed":
            h = h + step * (start >= CHANGE)
        done = rng.random(len(start)) < 0.9
        rows.append(pd.DataFrame({"journey_type": jt, "start": start, "n_handoffs": h, "completed": done,
                                  "status": np.where(done, "completed", "dropped_out")}))
    return pd.concat(rows, ignore_index=True)


def test_a_planted_step_is_found_net_of_the_untouched_journeys():
    """A season both journeys share bends the trend of each: the changed journey's own trend
    line misreads it, the untouched journey shows it, and the difference recovers the step."""
    e = estimate_intervention_effect(_journeys(), "fixed", CHANGE, kpis=("handoffs",), n_boot=300)
    h = e.set_index("kpi").loc["handoffs"]
    assert not h["lo"] < -2 < h["hi"]                              # alone, the season biases the step ...
    assert h["untouched_lo"] > 0                                   # ... the untouched journey carries it ...
    assert h["net_lo"] < -2 < h["net_hi"] and h["net_hi"] < -1    # ... and net of it, the planted -2
    assert h["verdict"] == "better"
    assert set(e.attrs["untouched_by_type"]["handoffs"]) == {"other"}
    flat = estimate_intervention_effect(_journeys(season=0.0), "fixed", CHANGE, kpis=("handoffs",), n_boot=300)
    assert flat["lo"].iloc[0] < -2 < flat["hi"].iloc[0]           # without a season the trend line alone suffices


def test_a_trend_already_under_way_is_not_credited_to_the_change():
    e = estimate_intervention_effect(_journeys(step=0.0, trend=-3.0, seed=1, season=0.0), "fixed", CHANGE, kpis=("handoffs",),
                                     n_boot=300)
    h = e.iloc[0]
    assert h["before"] - h["after"] > 0.5                          # a naive before/after sees a big drop ...
    assert h["lo"] < 0 < h["hi"] and h["verdict"] == "no clear change"   # ... the trend explains it


def test_too_few_periods_says_why():
    j = _journeys(weeks=4)
    with pytest.raises(ValueError, match=r"start in 2 weeks before the change and 2 after it; at least 4"):
        estimate_intervention_effect(j, "fixed", CHANGE)
    with pytest.raises(ValueError, match="no fixed journey"):
        estimate_intervention_effect(j[j["journey_type"] == "other"], "fixed", CHANGE)


def test_kpi_series_has_intervals_and_leaves_out_thin_periods():
    j = _journeys(weeks=6, per_week=10)
    s = build_kpi_series(j, period="week", min_n=5)
    # the journey KPIs of 04, where the table can measure them: a dropped-out journey did not go right
    assert set(s["kpi"]) == {"handoffs", "completion", "first_time_right"} and (s["n"] >= 5).all()
    row = s[(s["kpi"] == "completion") & (s["journey_type"] == "fixed")].iloc[0]
    week = j[(j["journey_type"] == "fixed")
             & (j["start"].dt.tz_localize(None).dt.to_period("W-SUN").dt.start_time == row["period"])]
    assert row["n"] == len(week) and row["value"] == pytest.approx(week["completed"].mean())
    assert (row["lo"], row["hi"]) == pytest.approx(wilson_interval(week["completed"].sum(), len(week)))
    assert build_kpi_series(j, min_n=1000).empty


def test_nps_series_per_week():
    ts = pd.Timestamp("2025-03-03", tz="UTC")
    scores = [10, 9, 8, 7, 6, 0] * 5
    s = pd.DataFrame({"timestamp": [ts] * 30 + [ts + pd.Timedelta(days=7)] * 3, "level": "relationship",
                      "metric": "nps", "score": scores + [10, 10, 0]})
    out = build_nps_series(s, min_n=20)
    assert len(out) == 1 and out["value"].iloc[0] == pytest.approx(0.0) and out["n"].iloc[0] == 30
    assert out["lo"].iloc[0] < 0 < out["hi"].iloc[0]
    assert build_nps_series(None).empty


def test_without_typed_journeys_tracking_says_why():
    trk, why = track_journeys(pd.DataFrame({"journey_type": ["unclassified"], "start": [CHANGE]}), None, [])
    assert trk is None and why == "there are no typed journeys to follow over time"


def test_the_demo_fix_on_the_move_journey_is_found_and_nothing_else_moves(demo_journeys):
    truth = demo_journeys["truth"]["interventions"]
    planted = truth["planted"]
    iv = Intervention(journey=truth["journey"], date=truth["date"], description="the planted fix")
    trk, why = track_journeys(demo_journeys["diagnosis"].journeys, demo_journeys["tables"]["surveys"], [iv], seed=42)
    assert why == "" and len(trk.series) and len(trk.nps)
    _, table, why = trk.effects[0]
    t = table.set_index("kpi")
    h, s = t.loc["handoffs"], t.loc["journey_score"]
    # handoffs: two fewer, clearly; the score: up by about the planted average (+1 on moves that go right)
    assert h["net_lo"] < planted["handoffs_change"] + 0.5 and h["net_hi"] < -1 and h["verdict"] == "better"
    assert s["net_lo"] < planted["score_change_mean"] < s["net_hi"] and s["net_lo"] > 0 and s["verdict"] == "better"
    # the journeys the fix did not touch: no clear change in either, pooled
    for kpi in ("handoffs", "journey_score"):
        assert t.loc[kpi, "untouched_lo"] < 0 < t.loc[kpi, "untouched_hi"], kpi
    assert set(table.attrs["untouched_by_type"]["handoffs"]) == set(truth["untouched"])
    # the KPIs the fix was not aimed at do not move
    assert (t.drop(index=["handoffs", "journey_score"])["verdict"] == "no clear change").all()
    lines = trk.describe()
    assert len(lines) == 1 and "handoffs" in lines[0] and "journey score" in lines[0] and "completion" not in lines[0]


def test_the_executive_summary_reports_each_change_tested():
    from cxlib.core.config import Intervention
    from cxlib.report.summary import render_executive_summary
    iv = Intervention(journey="fixed", date=CHANGE.date(), description="Forms checked at the counter")
    trk, _ = track_journeys(_journeys(), None, [iv, Intervention(journey="absent", date=CHANGE.date())])
    html = render_executive_summary({"management": {"tracking": trk.metrics()}})
    assert "<h3>Changes tested</h3>" in html and "<b>Forms checked at the counter</b> (fixed, 02 Jun 2025)" in html
    assert "handoffs" in html and "(better;" in html
    assert "<b>The change to absent</b> on 02 Jun 2025: not measured, there is no absent journey in the data." in html
    assert "Changes tested" not in render_executive_summary({"management": {"tracking": None}})
