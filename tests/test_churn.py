"""Churn model, landmark table, money per driver and churn reasons, on hand-made data."""
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from cxlib.drivers.churn import (CHURN_REASON_BENCHMARK, ChurnModel, _resample_counts, build_churn_table, calibrate,
                         estimate_driver_revenue_at_risk, roc_auc, summarize_churn_reasons)


def test_roc_auc_matches_sklearn_with_ties():
    rng = np.random.default_rng(0)
    y = rng.random(500) < 0.3
    s = np.round(rng.random(500) + 0.3 * y, 1)       # rounded: many ties
    assert roc_auc(y, s) == pytest.approx(roc_auc_score(y, s))


def _planted(n=6000, seed=0, odds_ratio=3.0, beta_sd=0.5):
    rng = np.random.default_rng(seed)
    x_bin = (rng.random(n) < 0.3).astype(float)
    x_num = rng.normal(50, 10, n)
    eta = -2 + np.log(odds_ratio) * x_bin + beta_sd * (x_num - 50) / 10
    p = 1 / (1 + np.exp(-eta))
    y = (rng.random(n) < p).astype(int)
    X = pd.DataFrame({"failed install": x_bin, "charges": x_num, "noise": rng.normal(size=n)})
    return X, pd.Series(y), p


def test_model_recovers_planted_odds_ratios_and_is_calibrated():
    X, y, p = _planted()
    m = ChurnModel(n_boot=60, seed=0, C=100).fit(X, y)
    d = m.drivers_
    assert d.loc["failed install", "lo"] < 3.0 < d.loc["failed install", "hi"]
    assert d.loc["charges", "lo"] < np.exp(0.5) < d.loc["charges", "hi"]          # per SD (10)
    assert d.loc["failed install", "per"] == "yes vs no" and d.loc["charges", "per"] == "+1 SD"
    assert abs(d.loc["noise", "z"]) < 3 and d.index[-1] == "noise"               # pure noise ranks last
    # the cross-validated AUC is close to what the true probabilities achieve, inside its interval
    assert m.auc_ci_[0] <= m.auc_cv_ <= m.auc_ci_[1]
    assert m.auc_cv_ == pytest.approx(roc_auc(y, p), abs=0.02)
    cal = m.calibration_
    assert cal["n"].sum() == len(y)
    assert ((cal["observed"] - cal["predicted"]).abs() < 0.05).all()


def test_model_refuses_a_one_class_outcome():
    X, y, _ = _planted(n=200)
    with pytest.raises(ValueError, match="one value"):
        ChurnModel(n_boot=0).fit(X, pd.Series(np.zeros(len(y), int)))


def test_calibrate_groups_and_intervals():
    y = np.r_[np.zeros(90), np.ones(10)]
    p = np.linspace(0, 1, 100)
    cal = calibrate(y, p, bins=4)
    assert list(cal["n"]) == [25, 25, 25, 25]
    assert cal["observed"].iloc[-1] == pytest.approx(10 / 25)
    assert (cal["lo"] <= cal["observed"]).all() and (cal["observed"] <= cal["hi"]).all()


def test_grouped_resampler_draws_whole_customers():
    groups = np.array(["a", "a", "a", "b", "c", "c"])
    draw, codes = _resample_counts(groups, len(groups))
    rng = np.random.default_rng(3)
    drawn = []
    for _ in range(200):
        counts = draw(rng)[codes]
        per = pd.Series(counts).groupby(groups).agg(["min", "max"])
        assert (per["min"] == per["max"]).all()            # a customer's rows come together
        assert per["max"].sum() == 3                        # three customers drawn, with replacement
        drawn.append(per["max"])
    assert pd.concat(drawn, axis=1).mean(axis=1).between(0.8, 1.2).all()   # each about once on average
    draw, codes = _resample_counts(None, 6)
    plain = draw(rng)[codes]
    assert plain.sum() == 6 and len(plain) == 6


def _landmark_data():
    ts = lambda s: pd.Timestamp(s, tz="UTC")  # noqa: E731
    customers = pd.DataFrame({
        "customer_id": ["A", "B", "C", "D", "E"],
        "segment": ["res", "res", "bus", "bus", "res"],
        "monthly_revenue": [50.0, 60.0, 70.0, 80.0, 90.0],
        "signup_date": pd.to_datetime(["2020-01-01"] * 4 + ["2025-11-01"]),
        "churned": [True, True, False, False, False],
        # A leaves before the landmark, B within the horizon after it
        "churn_date": pd.to_datetime(["2025-12-01", "2026-02-01", None, None, None]),
        "churn_reason": ["Price", "Moved", None, None, None]})
    journeys = pd.DataFrame({
        "journey_type": ["move", "move", "repair", "unclassified"],
        "customer_id": ["B", "C", "C", "D"],
        "start": [ts("2025-11-01"), ts("2025-11-10"), ts("2026-01-20"), ts("2025-06-01")],
        "end": [ts("2025-12-20"), ts("2025-12-15"), ts("2026-01-25"), ts("2025-06-01")],
        "n_failed_steps": [1, 0, 1, 0], "n_rework": [0, 0, 0, 0], "n_handoffs": [3, 1, 1, 0],
        "n_repeat_contacts": [0, 0, 0, 0], "status": ["completed"] * 3 + ["unclassified"],
        "journey_score": [2.0, None, 9.0, None]})
    return customers, journeys


def test_landmark_table_uses_only_the_past_and_the_horizon():
    customers, journeys = _landmark_data()
    X, y, info = build_churn_table(customers, journeys, as_of="2026-03-31", horizon_days=90, lookback_days=90,
                                   min_carriers=1, min_share=0.0)
    # landmarks one horizon apart while the lookback before them stays inside the data (from 2025-06-01)
    assert info["design"] == "landmark" and info["landmarks"] == [pd.Timestamp("2025-12-31"), pd.Timestamp("2025-10-02")]
    lm, early = info["landmarks"]
    assert set(X.xs(lm, level="landmark").index) == {"B", "C", "D", "E"}      # A left before it
    assert set(X.xs(early, level="landmark").index) == {"A", "B", "C", "D"}   # E had not signed up yet
    assert y.loc[("A", early)] == 1 and y.loc[("B", early)] == 0   # A left within 90 days of it, B later
    assert y.loc[("B", lm)] == 1 and y.loc[("C", lm)] == 0
    # the move before the landmark counts; the repair after it does not leak in
    assert X.loc[("B", lm), "move: went wrong"] == 1 and X.loc[("C", lm), "move"] == 1
    assert "repair" not in X.columns
    assert X.loc[("B", lm), "handoffs"] == 3 and X.loc[("D", lm), "handoffs"] == 0


def test_cross_sectional_table_encodes_against_the_lowest_churn_level():
    rng = np.random.default_rng(0)
    n = 2000
    contract = rng.choice(["monthly", "yearly", "two-year"], n, p=[0.5, 0.3, 0.2])
    p = np.select([contract == "monthly", contract == "yearly"], [0.4, 0.1], 0.03)
    df = pd.DataFrame({"customer_id": [f"c{i}" for i in range(n)], "contract": contract,
                       "total": np.where(rng.random(n) < 0.01, " ", "12.5"),
                       "churned": rng.random(n) < p, "monthly_revenue": 30.0})
    X, y, info = build_churn_table(df)
    assert info["design"] == "cross-sectional" and len(y) == n
    assert info["encoding"]["contract"]["reference"] == "two-year"
    assert {"contract = monthly", "contract = yearly"} <= set(X.columns)
    with pytest.raises(ValueError, match="'plan'"):
        build_churn_table(df, attributes=["plan"])
    with pytest.raises(ValueError, match="'churned'"):
        build_churn_table(df.drop(columns="churned"))


def test_driver_revenue_at_risk_is_the_excess_probability_times_revenue():
    X, y, _ = _planted(n=3000)
    m = ChurnModel(n_boot=30, seed=0).fit(X, y)
    revenue = pd.Series(np.linspace(20, 80, len(X)), index=X.index)
    money = estimate_driver_revenue_at_risk(m, X, revenue, horizon_months=12)
    assert list(money.index) == ["failed install"]           # the only 0/1 driver
    on = X["failed install"] == 1
    off = X[on].assign(**{"failed install": 0.0})
    by_hand = ((m.predict_proba(X[on]) - m.predict_proba(off)) * revenue[on] * 12).sum()
    r = money.loc["failed install"]
    assert r["value"] == pytest.approx(by_hand) and r["lo"] < r["value"] < r["hi"] and r["lo"] > 0
    assert r["customers"] == on.sum()


def test_money_per_driver_is_summed_over_blocks_of_rows_and_every_bootstrap_fit(monkeypatch):
    """The money per driver is computed a block of rows at a time, every fit at once: each
    driver's value and interval must be what each fit's predictions give by hand."""
    import cxlib.drivers.churn as churn
    X, y, _ = _planted(n=3000)
    X["second"] = (np.arange(len(X)) % 3 == 0).astype(float)
    m = ChurnModel(n_boot=20, seed=1).fit(X, y)
    revenue = pd.Series(np.linspace(20, 80, len(X)), index=X.index)
    monkeypatch.setattr(churn, "ROWS_PER_TASK", 700)      # five blocks, the last one short
    money = estimate_driver_revenue_at_risk(m, X, revenue, horizon_months=12, per_year=0.5)
    assert set(money.index) == {"failed install", "second"}
    for driver in money.index:
        on = X[driver] == 1
        off = X[on].assign(**{driver: 0.0})

        def value(coef=None, intercept=None):
            d = m.predict_proba(X[on], coef=coef, intercept=intercept) - m.predict_proba(off, coef=coef, intercept=intercept)
            return (d * revenue[on] * 12 * 0.5).sum(), d.sum() * 0.5
        boot = [value(c, i)[0] for c, i in zip(m.boot_coef_, m.boot_intercept_)]
        r = money.loc[driver]
        assert r["value"] == pytest.approx(value()[0], rel=1e-12)
        assert r["excess_churners"] == pytest.approx(value()[1], rel=1e-12)
        assert (r["lo"], r["hi"]) == pytest.approx(tuple(np.quantile(boot, [0.025, 0.975])), rel=1e-12)


def test_many_logistic_fits_at_once_are_scikit_learns_fits(monkeypatch):
    """Bootstrap refits and fold fits are solved together, with one shared Hessian: each must
    be the optimum scikit-learn finds for its weights, and a fit that does not converge is
    handed to scikit-learn."""
    from sklearn.linear_model import LogisticRegression

    import cxlib.drivers.churn as churn
    X, y, _ = _planted(n=4000, seed=3)
    Z = ((X - X.mean()) / X.std(ddof=0)).to_numpy()
    y = y.to_numpy()
    groups = np.arange(len(y)) // 3                           # customers of three rows each
    draw, codes = _resample_counts(groups, len(y))
    rng = np.random.default_rng(0)
    weights = np.column_stack([draw(rng) for _ in range(6)] + [(np.arange(codes.max() + 1) % 5 != 0).astype(int)])
    full = LogisticRegression(C=0.5, solver="newton-cholesky", tol=1e-12).fit(Z, y)
    monkeypatch.setattr(churn, "ROWS_PER_TASK", 900)
    beta, converged = churn.fit_logistic_many(Z, y, weights, codes, C=0.5, coef=full.coef_[0],
                                              intercept=float(full.intercept_[0]), n_jobs=2)
    assert converged.all()
    for b in range(weights.shape[1]):
        w = weights[codes, b].astype(float)
        ref = LogisticRegression(C=0.5, solver="newton-cholesky", tol=1e-12).fit(Z[w > 0], y[w > 0], sample_weight=w[w > 0])
        np.testing.assert_allclose(beta[:, b], np.r_[ref.intercept_, ref.coef_[0]], atol=1e-9)
    _, stopped = churn.fit_logistic_many(Z, y, weights, codes, C=0.5, coef=full.coef_[0],
                                         intercept=float(full.intercept_[0]), max_iter=1)
    assert not stopped.any()

    solved = ChurnModel(n_boot=8, seed=2).fit(X, y, groups=groups)
    real = churn.fit_logistic_many
    monkeypatch.setattr(churn, "fit_logistic_many", lambda *a, **k: (real(*a, **k)[0] * np.nan, np.zeros(a[2].shape[1], bool)))
    handed_over = ChurnModel(n_boot=8, seed=2).fit(X, y, groups=groups)
    np.testing.assert_allclose(handed_over.boot_coef_, solved.boot_coef_, atol=1e-6)
    np.testing.assert_allclose(handed_over.oof_, solved.oof_, atol=1e-6)


def test_churn_reasons_account_for_every_churner():
    customers, _ = _landmark_data()
    customers.loc[len(customers)] = {"customer_id": "F", "churned": True, "churn_reason": None}
    r = summarize_churn_reasons(customers, categories={"Moved": "Moved", "Price": "Competition"})
    assert r["n"].sum() == int(customers["churned"].sum())
    assert r.loc["Moved", "n"] == 1 and r.loc["Competition", "n"] == 1 and r.loc["not stated", "n"] == 1
    assert set(CHURN_REASON_BENCHMARK) <= set(r.index)
    assert r.loc["Staff attitude", "benchmark"] == 0.68 and r.loc["Staff attitude", "n"] == 0
    assert r["cumulative"].iloc[-1] == pytest.approx(1)


def test_money_counts_customers_not_landmark_rows_and_prices_only_what_can_be_acted_on():
    from cxlib.drivers.churn_diagnosis import flag_actionable
    X, y, _ = _planted(n=1500)
    # the same customers seen at two landmarks: two rows each
    X2 = pd.concat([X, X], keys=["2025-01", "2025-04"]).swaplevel(0, 1)
    y2 = pd.concat([y, y], keys=["2025-01", "2025-04"]).swaplevel(0, 1)
    m = ChurnModel(n_boot=20, seed=0).fit(X2, y2, groups=X2.index.get_level_values(0))
    money = estimate_driver_revenue_at_risk(m, X2, pd.Series(50.0, index=X.index), per_year=0.5)
    assert money.loc["failed install", "customers"] == int((X["failed install"] == 1).sum())   # not 2x
    flags = flag_actionable(["segment = residential", "Contract = Month-to-month", "move: went wrong", "tenure (months)"],
                            controls=["segment = residential", "Contract = Month-to-month", "tenure (months)"],
                            actionable=["Contract"])
    assert flags.tolist() == [False, True, True, False]


def test_levels_the_other_features_determine_are_left_out_and_named():
    from cxlib.drivers.churn import drop_collinear
    rng = np.random.default_rng(1)
    kind = rng.choice(["none", "dsl", "fiber"], 500)
    X = pd.DataFrame({"internet = dsl": (kind == "dsl") * 1.0, "internet = fiber": (kind == "fiber") * 1.0,
                      "security = no": ((kind != "none") & (rng.random(500) < 0.5)) * 1.0,
                      "noise": rng.normal(size=500)})
    X["security = yes"] = X["internet = dsl"] + X["internet = fiber"] - X["security = no"]   # the complement
    X["revenue"] = rng.normal(50, 10, 500)
    X["total"] = X["revenue"] * 12 + rng.normal(0, 0.1, 500)                                  # derived
    kept, dropped = drop_collinear(X, first=("revenue",))
    assert set(dropped) == {"security = yes", "total"} and all(r2 > 0.99 for r2 in dropped.values())
    assert list(kept.columns) == ["internet = dsl", "internet = fiber", "security = no", "noise", "revenue"]
    assert np.linalg.matrix_rank(np.column_stack([np.ones(500), kept])) == kept.shape[1] + 1
    # each R² is the regression on the rows of the columns kept before it (here: all of them)
    A = np.column_stack([np.ones(500), kept])
    for col, r2 in dropped.items():
        z = X[col].to_numpy()
        resid = z - A @ np.linalg.lstsq(A, z, rcond=None)[0]
        assert r2 == pytest.approx(1 - resid @ resid / ((z - z.mean()) @ (z - z.mean())), abs=1e-9)


def test_money_spanning_more_than_a_factor_of_ten_is_not_sized():
    from cxlib.drivers.churn_diagnosis import TOO_UNCERTAIN, ChurnDiagnosis
    money = pd.DataFrame({"value": [500.0, 300.0, 80.0], "lo": [400.0, 10.0, -5.0], "hi": [600.0, 900.0, 160.0],
                          "customers": [10, 10, 10], "actionable": [True, True, True]}, index=["a", "b", "c"])
    cx = ChurnDiagnosis(driver_money=money)
    assert TOO_UNCERTAIN == 10 and list(cx.priced_drivers().index) == ["a"]   # b spans 90x, c crosses zero


def test_only_the_priced_customer_attributes_go_to_the_action_list_as_churn_drivers(tmp_path):
    """The churn drivers 04 turns into churn-driver actions: priced ones that are customer columns
    the client listed as actionable. A priced journey driver is a journey action's, and a control
    is never priced; the records carry the money's period."""
    from cxlib.core.jsonio import read_json
    from cxlib.core.paths import resolve_client_paths
    from cxlib.drivers.churn_diagnosis import ChurnDiagnosis
    money = pd.DataFrame({"customers": [3875, 900, 4000, 2000], "excess_churners": [927.0, 80.0, 50.0, 40.0],
                          "value": [8e5, 2e5, 1e5, 5e4], "lo": [7e5, 1.5e5, 8e4, 3e4], "hi": [9e5, 2.5e5, 1.2e5, 7e4],
                          "actionable": [True, True, False, True]},
                         index=["Contract = Month-to-month", "move: went wrong", "segment = residential",
                                "Contract = One year"])
    cx = ChurnDiagnosis(driver_money=money, per="over the churn flag's period",
                        info={"controls": ["Contract = Month-to-month", "segment = residential", "Contract = One year"]})
    got = cx.attribute_drivers()
    assert [d["driver"] for d in got] == ["Contract = Month-to-month", "Contract = One year"]
    assert got[0] == {"driver": "Contract = Month-to-month", "customers": 3875, "excess_churners": 927.0,
                      "value": 8e5, "lo": 7e5, "hi": 9e5, "per": "over the churn flag's period"}
    assert ChurnDiagnosis().attribute_drivers() == []
    paths = resolve_client_paths("x", tmp_path / "data", tmp_path / "reports")
    cx.X = None
    cx.write(paths)
    assert read_json(paths.churn_drivers, None) == got


def test_the_resampled_auc_from_counts_equals_the_auc_of_the_resampled_rows():
    """The AUC bootstrap scores a resample from its row counts (one sort) instead of ranking
    each resample: the figures must be identical, ties included."""
    from cxlib.drivers.churn import _weighted_auc, roc_auc
    rng = np.random.default_rng(1)
    y = rng.random(3000) < 0.3
    score = np.round(rng.random(3000) + 0.3 * y, 2)          # many ties
    auc = _weighted_auc(y, score)
    for _ in range(20):
        i = rng.integers(0, 3000, 3000)
        assert auc(np.bincount(i, minlength=3000)) == pytest.approx(roc_auc(y[i], score[i]), abs=1e-12)
    assert np.isnan(auc(np.where(y, 1, 0)))                   # only churners drawn: undefined
    codes = np.arange(3000) // 4                              # counts per customer of four rows
    by_customer = _weighted_auc(y, score, codes)
    for _ in range(10):
        c = np.bincount(rng.integers(0, 750, 750), minlength=750)
        rows = np.repeat(np.arange(3000), c[codes])
        assert by_customer(c) == pytest.approx(roc_auc(y[rows], score[rows]), abs=1e-12)


def test_stratified_group_folds_are_scikit_learns_folds():
    """Our fast fold assignment must give exactly StratifiedGroupKFold's folds (ties included),
    so the churn model's out-of-fold figures do not depend on which one runs."""
    from sklearn.model_selection import StratifiedGroupKFold

    from cxlib.drivers.churn import split_stratified_groups
    rng = np.random.default_rng(0)
    for trial in range(25):
        n = int(rng.integers(50, 2000))
        groups = rng.integers(0, int(rng.integers(10, n // 2 + 11)), n)
        n_classes = int(rng.integers(2, 4))
        y = (rng.random(n) < rng.uniform(0.05, 0.5)).astype(int) if n_classes == 2 else rng.integers(0, n_classes, n)
        k, seed = int(rng.integers(2, 6)), int(rng.integers(0, 100))
        ref = StratifiedGroupKFold(k, shuffle=True, random_state=seed).split(np.zeros(n), y, groups)
        got = split_stratified_groups(y, groups, k, seed)
        assert len(got) == k
        for (tr_ref, te_ref), (tr, te) in zip(ref, got):
            np.testing.assert_array_equal(te, te_ref, err_msg=f"trial {trial}")
            np.testing.assert_array_equal(tr, tr_ref, err_msg=f"trial {trial}")
        test_groups = [set(groups[te]) for _, te in got]
        assert all(not (a & b) for i, a in enumerate(test_groups) for b in test_groups[i + 1:])


def test_text_attributes_are_parsed_as_numbers_once_per_value_as_to_numeric_would():
    import numpy as np
    import pandas as pd

    from cxlib.drivers.churn import _as_numbers
    cases = [pd.Series(["1", "2.5", None, "x", " 3 "], dtype="str"), pd.Series(["a", "b"], dtype="str"),
             pd.Series([], dtype="str"), pd.Series([None, None], dtype="str"),
             pd.Series(["1e3", "-2", "inf", "NaN"], dtype=object), pd.Series(["7", "8"], dtype="str", index=[5, 9]),
             pd.Series([True, "1", 2.0], dtype=object)]
    for s in cases:
        expected = pd.to_numeric(s, errors="coerce").astype(float)
        got = _as_numbers(s)
        assert np.array_equal(got.to_numpy(), expected.to_numpy(), equal_nan=True) and got.index.equals(s.index)


def _journey_features_by_text(journeys, customers, start, stop):
    """The per-customer journey features by grouping on the text ids: the plain pandas way."""
    from cxlib.journeys.stats import flag_went_wrong
    j = journeys[(journeys["journey_type"] != "unclassified") & (journeys["end"] > start) & (journeys["end"] <= stop)]
    j = j[j["customer_id"].isin(customers)].copy()
    j["_wrong"] = flag_went_wrong(j)
    out = pd.DataFrame(index=customers)
    for jt, g in j.groupby("journey_type"):
        by = g.groupby("customer_id")
        out[jt] = by.size().reindex(customers).notna().astype(float)
        out[f"{jt}: went wrong"] = by["_wrong"].any().reindex(customers).fillna(False).astype(float)
    by = j.groupby("customer_id")
    for col, name in (("n_handoffs", "handoffs"), ("n_repeat_contacts", "repeat contacts")):
        out[name] = by[col].sum().reindex(customers).fillna(0.0).astype(float)
    if j["journey_score"].notna().any():
        out["journey score"] = by["journey_score"].mean().reindex(customers)
    return out


@pytest.mark.parametrize("text", ["str", "object"])
def test_journey_features_by_customer_position_are_the_features_grouped_by_id(text):
    from cxlib.drivers.churn import _journey_features
    rng = np.random.default_rng(3)
    n = 4000
    ids = np.array([f"c{i}" for i in range(600)])
    journeys = pd.DataFrame({
        "journey_type": rng.choice(["move", "repair", "unclassified", "billing"], n, p=[0.3, 0.3, 0.3, 0.1]),
        "customer_id": rng.choice(ids, n),
        "start": pd.Timestamp("2025-01-01", tz="UTC") + pd.to_timedelta(rng.integers(0, 300, n), unit="D"),
        "n_failed_steps": rng.integers(0, 2, n), "n_rework": rng.integers(0, 2, n) * (rng.random(n) < 0.2),
        "n_handoffs": rng.integers(0, 5, n), "n_repeat_contacts": rng.integers(0, 3, n),
        "status": rng.choice(["completed", "dropped_out", "in_progress"], n),
        "journey_score": np.where(rng.random(n) < 0.6, np.nan, rng.integers(0, 11, n).astype(float))})
    journeys["end"] = journeys["start"] + pd.to_timedelta(rng.integers(0, 30, n), unit="D")
    journeys = journeys.astype({"journey_type": text, "customer_id": text})
    # customers of the table, some with no journeys; journeys of customers not in it are left out
    customers = pd.Index(np.r_[ids[:500], ["nobody", "none"]], dtype=text)
    start, stop = pd.Timestamp("2025-03-01", tz="UTC"), pd.Timestamp("2025-08-01", tz="UTC")
    got = _journey_features(journeys, customers, start, stop)
    want = _journey_features_by_text(journeys, customers, start, stop)
    assert got.columns.tolist() == ["billing", "billing: went wrong", "move", "move: went wrong", "repair",
                                    "repair: went wrong", "handoffs", "repeat contacts", "journey score"]
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    assert got["move"].sum() > 0 and got["journey score"].notna().sum() > 0
    # an empty window: every customer without journeys, no type columns, no score
    empty = _journey_features(journeys, customers, stop, stop)
    assert empty.columns.tolist() == ["handoffs", "repeat contacts"] and (empty.to_numpy() == 0).all()


def test_repeated_columns_are_found_bit_for_bit():
    from cxlib.drivers.churn import _flag_repeated_columns, _is_binary
    rng = np.random.default_rng(0)
    a, b = rng.random(1000), (rng.random(1000) < 0.3).astype(float)
    X = pd.DataFrame({"a": a, "b": b, "a again": a.copy(), "b shuffled": rng.permutation(b), "b again": b.copy(),
                      "a, one bit off": np.nextafter(a, 2)})
    assert _flag_repeated_columns(X).tolist() == [False, False, True, False, True, False]
    assert _is_binary(b) and _is_binary([]) and not _is_binary(a) and not _is_binary([0.0, 1.0, np.nan])
    assert not _is_binary([0.0, 2.0])


def test_repeated_columns_survive_equal_weighted_sums(monkeypatch):
    """Columns whose fingerprints collide are still compared in full."""
    import cxlib.drivers.churn as churn
    monkeypatch.setattr(churn.np.random, "default_rng", lambda seed: type("R", (), {"random": lambda self, n: np.zeros(n)})())
    X = pd.DataFrame({"x": [1.0, 0.0, 0.0], "y": [0.0, 1.0, 0.0], "x again": [1.0, 0.0, 0.0]})
    assert churn._flag_repeated_columns(X).tolist() == [False, False, True]


def test_money_looks_revenue_up_by_customer_id_in_any_order():
    X, y, _ = _planted(n=1500)
    ids = pd.Index([f"c{i}" for i in range(len(X))], dtype="str")
    X2 = pd.concat([X.set_axis(ids), X.set_axis(ids)], keys=["2025-01", "2025-04"]).swaplevel(0, 1)
    y2 = pd.concat([y.set_axis(ids), y.set_axis(ids)], keys=["2025-01", "2025-04"]).swaplevel(0, 1)
    m = ChurnModel(n_boot=10, seed=0).fit(X2, y2, groups=X2.index.get_level_values(0))
    rev = pd.Series(np.arange(len(X), dtype=float) + 10, index=ids)
    aligned = rev.copy()
    aligned.iloc[:100] = 0.0                                     # customers the revenue table lacks count 0
    shuffled = pd.concat([rev.iloc[100:].sample(frac=1, random_state=0), pd.Series([5.0], index=["someone else"])])
    want = estimate_driver_revenue_at_risk(m, X2, aligned)
    got = estimate_driver_revenue_at_risk(m, X2, shuffled.set_axis(shuffled.index.astype("str")))
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    assert got.loc["failed install", "customers"] == int((X["failed install"] == 1).sum())
