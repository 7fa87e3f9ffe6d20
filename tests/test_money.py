"""Revenue at risk per journey type and improvement scenarios, on hand-made journeys."""
import numpy as np
import pandas as pd
import pytest

from cxlib.drivers.money import (estimate_failure_effect, estimate_journey_revenue_at_risk, net_promoter_score,
                         simulate_failure_reduction, simulate_nps_shift)


def _journeys(n=4000, seed=0, wrong_share=0.3, churn_wrong=0.30, churn_right=0.05):
    """One year of 'install' journeys (365 days from first start to last end) plus a repair type
    with baseline churn; half the customers pay 40 a month, half 80."""
    rng = np.random.default_rng(seed)
    wrong = rng.random(n) < wrong_share
    churn = rng.random(n) < np.where(wrong, churn_wrong, churn_right)
    start = pd.Timestamp("2025-01-01", tz="UTC") + pd.to_timedelta(rng.random(n) * 360, unit="D")
    start = start.where(np.arange(n) != 0, pd.Timestamp("2025-01-01", tz="UTC"))
    end = start + pd.Timedelta(days=2)
    end = end.where(np.arange(n) != 1, pd.Timestamp("2026-01-01", tz="UTC"))
    j = pd.DataFrame({"journey_type": np.where(np.arange(n) % 2 == 0, "install", "repair"),
                      "customer_id": [f"c{i}" for i in range(n)], "start": start, "end": end,
                      "n_failed_steps": wrong.astype(int), "n_rework": 0, "status": "completed",
                      "journey_score": np.where(wrong, 2.0, 8.0), "churned_in_window": churn})
    repair = j["journey_type"] == "repair"
    j.loc[repair, "churned_in_window"] = rng.random(repair.sum()) < 0.05
    j.loc[repair, ["n_failed_steps", "journey_score"]] = [0, 8.0]
    customers = pd.DataFrame({"customer_id": j["customer_id"], "monthly_revenue": np.where(np.arange(n) % 4 < 2, 40.0, 80.0)})
    return j, customers


def test_revenue_at_risk_is_volume_times_uplift_times_revenue_times_horizon():
    j, c = _journeys()
    base = {"rate": 0.05, "ci_low": 0.049, "ci_high": 0.051}
    r = estimate_journey_revenue_at_risk(j, c, baseline=base, horizon_months=12, n_boot=300)
    ins = j[j["journey_type"] == "install"]
    rev = c.set_index("customer_id")["monthly_revenue"].reindex(ins["customer_id"]).mean()
    by_hand = len(ins) * (365.25 / 365) * (ins["churned_in_window"].mean() - 0.05) * rev * 12
    row = r.loc["install"]
    assert row["value"] == pytest.approx(by_hand)
    assert row["lo"] < row["value"] < row["hi"] and row["n"] == len(ins)
    # planted uplift: 0.3 * 0.30 + 0.7 * 0.05 - 0.05 = 0.075
    assert row["uplift_lo"] < 0.075 < row["uplift_hi"]
    # a type at the baseline has (close to) nothing at risk, never a negative amount
    assert r.loc["repair", "value"] >= 0 and r.loc["repair", "lo"] >= 0
    assert r.loc["repair", "value"] < row["lo"]


def test_failure_effect_and_reduction_scenario():
    j, c = _journeys()
    e = estimate_failure_effect(j, "install", n_boot=300)
    assert e["wrong_share"] == pytest.approx(0.3, abs=0.03)
    assert e["churn_diff_lo"] < 0.25 < e["churn_diff_hi"]
    assert e["score_diff"] == pytest.approx(-6)
    s = simulate_failure_reduction(j, c, "install", to_share=0.1, n_boot=300)
    volume = (j["journey_type"] == "install").sum() * 365.25 / 365
    assert s["churners_saved"] == pytest.approx(volume * (e["wrong_share"] - 0.1) * e["churn_diff"])
    assert s["revenue_kept"] == pytest.approx(s["churners_saved"] * 60 * 12, rel=0.02)
    assert s["churners_saved_lo"] < s["churners_saved"] < s["churners_saved_hi"]
    with pytest.raises(ValueError, match="no journeys"):
        estimate_failure_effect(j, "teleport")


def test_nps_and_the_nps_shift():
    assert net_promoter_score([10, 9, 8, 7, 6, 0, np.nan]) == pytest.approx(100 * (2 / 6 - 2 / 6))
    rng = np.random.default_rng(1)
    n = 3000
    x = rng.integers(0, 11, n).astype(float)
    y = pd.Series(np.clip(np.round(0.5 * x + 3 + rng.normal(0, 0.5, n)), 0, 10))
    X = pd.DataFrame({"journey: move": x, "other": rng.normal(size=n)})
    X.loc[: n // 2, "journey: move"] = np.nan            # half did not go through the journey
    s = simulate_nps_shift(X, y, "journey: move", 2.0, n_boot=100)
    assert s["effect_per_point"] == pytest.approx(0.5, abs=0.05)
    # only the raters move, by about effect x delta points
    share_rated = X["journey: move"].notna().mean()
    assert s["score_change"] == pytest.approx(share_rated * 0.5 * 2.0, abs=0.08)
    assert s["nps_change"] > 0 and s["nps_change_lo"] > 0 and s["n_affected"] == X["journey: move"].notna().sum()
    with pytest.raises(ValueError, match="not a driver"):
        simulate_nps_shift(X, y, "journey: install", 1.0)


def test_the_nps_shift_is_the_same_on_any_number_of_threads(monkeypatch):
    """The resamples and the rounding draws are taken in order before the threads fit them, so
    a seeded run gives the same figures on one thread as on several."""
    import cxlib.drivers.money as money
    rng = np.random.default_rng(2)
    n = 2000
    x = rng.integers(0, 11, n).astype(float)
    X = pd.DataFrame({"d": x, "e": rng.normal(size=n)})
    y = pd.Series(np.clip(np.round(0.4 * x + 4 + rng.normal(0, 1, n)), 0, 10))
    threaded = money.simulate_nps_shift(X, y, "d", 1.5, n_boot=60, seed=3)
    monkeypatch.setattr(money, "map_in_threads", lambda fn, items, n_jobs=None: [fn(i) for i in items])
    assert money.simulate_nps_shift(X, y, "d", 1.5, n_boot=60, seed=3) == threaded
    assert money.simulate_nps_shift(X, y, "d", 1.5, n_boot=60, seed=4) != threaded     # the seed does matter


def test_scenarios_share_the_nps_regressions_resamples():
    """Scenarios on the same driver draw the same resamples: the effects kept by one call are
    each resample's regression on its rows, and a later call that reuses them gives what a
    call on its own gives."""
    import cxlib.drivers.money as money
    rng = np.random.default_rng(5)
    n = 1500
    x = rng.integers(0, 11, n).astype(float)
    X = pd.DataFrame({"d": x, "e": rng.integers(0, 11, n).astype(float)})
    X.loc[X.index % 4 == 0, "d"] = np.nan
    y = pd.Series(np.clip(np.round(0.4 * x + 3 + rng.normal(0, 1, n)), 0, 10))
    effects = {}
    money.simulate_nps_shift(X, y, "d", 0.5, n_boot=40, seed=7, effects=effects)
    kept = effects[("d", 40, 7)]
    draw = np.random.default_rng(7)                 # the point's rounding draws, then the first resample
    draw.random(int(X["d"].notna().sum()))
    i = draw.integers(0, n, n)
    A = np.column_stack([np.ones(n), X.fillna(X.mean()).to_numpy()])[i]
    assert kept[1] == pytest.approx(np.linalg.lstsq(A, y.to_numpy()[i], rcond=None)[0][1], rel=1e-10)
    alone = money.simulate_nps_shift(X, y, "d", 2.0, n_boot=40, seed=7)
    assert money.simulate_nps_shift(X, y, "d", 2.0, n_boot=40, seed=7, effects=effects) == alone
    effects[("d", 40, 7)] = np.zeros_like(kept)     # the kept effects are what a later call uses
    assert money.simulate_nps_shift(X, y, "d", 2.0, n_boot=40, seed=7, effects=effects)["nps_change_hi"] == 0


def test_churn_after_another_journeys_failure_is_not_counted_twice():
    from cxlib.drivers.money import flag_other_failure_nearby
    ts = lambda s: pd.Timestamp(s, tz="UTC")  # noqa: E731
    j = pd.DataFrame({"journey_type": ["install", "onboarding", "onboarding", "install", "onboarding"],
                      "customer_id": ["a", "a", "b", "c", "c"],
                      "end": [ts("2025-03-01"), ts("2025-03-20"), ts("2025-03-20"), ts("2025-01-01"), ts("2025-09-01")],
                      "n_failed_steps": [1, 0, 0, 1, 0], "n_rework": 0, "status": "completed"})
    flag = flag_other_failure_nearby(j, window_days=90)
    # a's onboarding followed a failed install within 90 days; b had none; c's was months later
    assert list(flag) == [False, True, False, False, False]


def test_fit_logistic_1d_matches_scikit_learn_and_treats_weights_as_repeated_rows():
    from sklearn.linear_model import LogisticRegression

    from cxlib.drivers.money import fit_logistic_1d
    rng = np.random.default_rng(5)
    x = rng.integers(0, 11, 3000).astype(float)
    y = (rng.random(3000) < 1 / (1 + np.exp(-(1.5 - 0.4 * x)))).astype(int)
    ref = LogisticRegression(C=1e6, tol=1e-10, max_iter=1000).fit(x[:, None], y)
    b0, b1 = fit_logistic_1d(x, y, np.ones(len(x)))
    assert abs(b0 - ref.intercept_[0]) < 1e-5 and abs(b1 - ref.coef_[0, 0]) < 1e-5
    assert abs(b1 - (-0.4)) < 0.1                      # and it recovers the slope that made the data
    # grouped: one row per (x, y) pair weighted by its count gives the same fit as the rows
    pairs, counts = np.unique(np.column_stack([x, y]), axis=0, return_counts=True)
    g0, g1 = fit_logistic_1d(pairs[:, 0], pairs[:, 1], counts)
    assert abs(g0 - b0) < 1e-9 and abs(g1 - b1) < 1e-9
    # a strong penalty pulls the slope to zero, as scikit-learn's C does
    s0, s1 = fit_logistic_1d(x, y, np.ones(len(x)), C=1e-6)
    ref = LogisticRegression(C=1e-6).fit(x[:, None], y)
    assert abs(s1) < abs(b1) / 10 and abs(s1 - ref.coef_[0, 0]) < 1e-5


def test_resampled_means_are_drawn_in_blocks_from_the_same_random_numbers():
    """Bootstrap means are drawn a block of resamples at a time (so a large table's index
    matrix is never held whole): they must be exactly the means of the one-shot draw, for one
    array and for several resampled together, whatever the block size."""
    from cxlib.core.uncertainty import resample_means
    rng = np.random.default_rng(4)
    for n in (1, 37, 1001):
        y, v = (rng.random(n) < 0.2).astype(float), rng.normal(50, 9, n)
        idx = np.random.default_rng(9).integers(0, n, (203, n))
        for cells in (n, 7 * n + 3, 10**7):
            np.testing.assert_array_equal(resample_means(np.random.default_rng(9), y, 203, cells=cells),
                                          y[idx].mean(axis=1))
            both = resample_means(np.random.default_rng(9), [y, v], 203, cells=cells)
            np.testing.assert_array_equal(both, np.vstack([y[idx].mean(axis=1), v[idx].mean(axis=1)]))
