"""Journey measures as drivers of the journey score: the planted measure ranks first, its
direction is right and sure, and nothing is said when nothing moves the score."""
import numpy as np
import pandas as pd
import pytest

from cxlib.drivers.journey_measures import (correlation_interval, describe_journey_measures, rank_journey_measures,
                                            top_journey_measures)


def _journeys(n=400, effect=-0.8, seed=0):
    rng = np.random.default_rng(seed)
    wait = rng.exponential(3, n)
    return pd.DataFrame({"journey_id": np.arange(n), "journey_type": "repair", "max_wait_days": wait,
                         "n_handoffs": rng.integers(0, 4, n), "n_rework": 0,
                         "journey_score": np.clip(8 + effect * wait + rng.normal(0, 1, n), 0, 10)})


def test_the_planted_measure_ranks_first_with_its_direction():
    ranked = rank_journey_measures(_journeys(), n_boot=50)
    assert list(ranked["driver"]) == ["max_wait_days", "n_handoffs"]      # rework never varies: left out
    top = top_journey_measures(ranked).iloc[0]
    assert top["driver"] == "max_wait_days" and top["r_hi"] < 0 and top["shapley_lo"] > 0.5
    assert top["n"] == 400 and ranked["shapley_share"].sum() == pytest.approx(1)
    text = describe_journey_measures(ranked)[0]
    assert "longest wait" in text and "Journeys with longer waits score lower" in text and "n = 400" in text
    # the measure names a plural thing ('handoffs between departments'): no verb to agree with it
    assert f"score:** {top['label']}, with " in text


def test_nothing_is_said_when_no_measure_moves_the_score_or_too_few_journeys_are_scored():
    flat = _journeys(effect=0.0, seed=3)
    flat["journey_score"] = np.random.default_rng(2).normal(7, 1, len(flat))
    assert describe_journey_measures(rank_journey_measures(flat, n_boot=20)) == []
    assert rank_journey_measures(_journeys(n=60), n_boot=20, min_n=100).empty


def test_correlation_interval_covers_the_truth_about_95_percent_of_the_time():
    rng = np.random.default_rng(3)
    hits = 0
    for _ in range(300):
        x = rng.normal(size=80)
        y = 0.5 * x + rng.normal(scale=np.sqrt(1 - 0.25), size=80)
        lo, hi = correlation_interval(float(np.corrcoef(x, y)[0, 1]), 80)
        hits += lo <= 0.5 <= hi
    assert 0.91 <= hits / 300 <= 0.985
