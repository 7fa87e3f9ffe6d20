"""Key-driver analysis: exactness, missing ratings, intervals that cover the population values."""
import math
from itertools import combinations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr
from sklearn.linear_model import LinearRegression, LogisticRegression

from cxlib.core.parallel import count_jobs, map_in_threads
from cxlib.drivers.importance import (DriverAnalysis, _logistic_irls, _logistic_relative_weights, build_driver_table,
                                      correlation_matrix, group_shapley, logistic_relative_weights, moment_blocks,
                                      relative_weights, shapley_r2, shapley_sampled, shapley_from_subsets, subset_r2)


def correlated(n, p, seed=0, load=0.6, beta=None, noise=2.0):
    rng = np.random.default_rng(seed)
    X = load * rng.normal(size=(n, 1)) + rng.normal(size=(n, p))
    beta = np.linspace(1, 0.1, p) if beta is None else np.asarray(beta)
    y = X @ beta + noise * rng.normal(size=n)
    return X, y


def population_corr(p, load=0.6, beta=None, noise=2.0):
    """Exact correlation matrix of [X, y] for the model in ``correlated``."""
    beta = np.linspace(1, 0.1, p) if beta is None else np.asarray(beta)
    Sxx = load ** 2 * np.ones((p, p)) + np.eye(p)
    sxy = Sxx @ beta
    vy = beta @ Sxx @ beta + noise ** 2
    S = np.block([[Sxx, sxy[:, None]], [sxy[None, :], np.array([[vy]])]])
    d = np.sqrt(np.diag(S))
    return S / np.outer(d, d)


def brute_force_shapley(X, y):
    p = X.shape[1]

    def r2(idx):
        return LinearRegression().fit(X[:, idx], y).score(X[:, idx], y) if idx else 0.0
    out = np.zeros(p)
    for j in range(p):
        others = [i for i in range(p) if i != j]
        for k in range(p):
            for S in combinations(others, k):
                w = math.factorial(k) * math.factorial(p - k - 1) / math.factorial(p)
                out[j] += w * (r2(list(S) + [j]) - r2(list(S)))
    return out


def test_exact_shapley_equals_brute_force_ols_and_sums_to_r2():
    X, y = correlated(3000, 5)
    C = correlation_matrix(X, y)
    phi, se = shapley_r2(C)
    assert se is None
    np.testing.assert_allclose(phi, brute_force_shapley(X, y), atol=1e-10)
    r2_full = LinearRegression().fit(X, y).score(X, y)
    assert phi.sum() == pytest.approx(r2_full)
    assert relative_weights(C).sum() == pytest.approx(r2_full)


def test_orthogonal_drivers_get_their_squared_correlations():
    X, y = correlated(50_000, 4, load=0.0, beta=[1, 0.5, 0.25, 0])
    C = correlation_matrix(X, y)
    phi, _ = shapley_r2(C)
    np.testing.assert_allclose(phi, C[:4, 4] ** 2, atol=2e-3)
    np.testing.assert_allclose(relative_weights(C), C[:4, 4] ** 2, atol=2e-3)


def test_sampled_shapley_agrees_with_exact_within_its_error():
    C = population_corr(10)
    exact = shapley_from_subsets(subset_r2(C), 10)
    approx, se = shapley_sampled(C, n_permutations=400, seed=3)
    assert np.all(np.abs(approx - exact) <= 4 * se + 1e-9)
    assert se.max() < 0.01


def test_pairwise_missing_ratings_are_not_zero():
    X, y = correlated(20_000, 4, seed=1)
    rng = np.random.default_rng(2)
    Xm = X.copy()
    Xm[rng.random(X.shape) < 0.3] = np.nan
    C = correlation_matrix(Xm, y)
    expected = pd.DataFrame(np.column_stack([Xm, y])).corr().to_numpy()   # pandas: pairwise complete
    np.testing.assert_allclose(C, expected, atol=1e-10)
    # missing completely at random: shares stay close to the complete-data shares ...
    full = shapley_r2(correlation_matrix(X, y))[0]
    assert np.abs(shapley_r2(C)[0] / shapley_r2(C)[0].sum() - full / full.sum()).max() < 0.02
    # ... whereas reading 'not rated' as 0 would distort them
    zeroed = shapley_r2(correlation_matrix(np.nan_to_num(Xm), y))[0]
    assert np.abs(zeroed / zeroed.sum() - full / full.sum()).max() > np.abs(
        shapley_r2(C)[0] / shapley_r2(C)[0].sum() - full / full.sum()).max()
    listwise = correlation_matrix(Xm, y, missing="listwise")
    assert listwise.shape == C.shape
    meaned = correlation_matrix(Xm, y, missing="mean")
    filled = np.where(np.isnan(Xm), np.nanmean(Xm, axis=0), Xm)
    np.testing.assert_allclose(meaned, np.corrcoef(np.column_stack([filled, y]).T), atol=1e-10)
    with pytest.raises(ValueError, match="missing must be"):
        correlation_matrix(Xm, y, missing="zero")


def test_complete_data_correlations_weighted_and_not():
    # 'mean' and 'listwise' leave every pair complete and take the short route: the same
    # matrix as the pairwise moments on those complete rows, and as numpy's weighted covariance
    from cxlib.drivers.importance import _mean_filled_corr, _weighted_pairwise_corr
    X, y = correlated(5_000, 5, seed=3)
    rng = np.random.default_rng(4)
    Xm = np.where(rng.random(X.shape) < 0.2, np.nan, X)
    w = rng.integers(0, 4, len(y)).astype(float) * rng.gamma(2.0, 1.0, len(y))
    for missing in ("mean", "listwise"):
        for weights in (None, w):
            C = correlation_matrix(Xm, y, missing=missing, weights=weights)
            Z, ww = np.column_stack([Xm, y]), np.ones(len(y)) if weights is None else weights
            if missing == "mean":
                means = np.nansum(Z * ww[:, None], axis=0) / ((~np.isnan(Z)) * ww[:, None]).sum(axis=0)
                Z = np.where(np.isnan(Z), means, Z)
            else:
                keep = ~np.isnan(Z).any(axis=1)
                Z, ww = Z[keep], ww[keep]
            np.testing.assert_allclose(C, _weighted_pairwise_corr(Z, ww)[0], rtol=1e-12, atol=1e-13)
            S = np.cov(Z.T, aweights=ww)
            np.testing.assert_allclose(C, S / np.sqrt(np.outer(np.diag(S), np.diag(S))), atol=1e-10)
    # a bootstrap's 'mean' route reads the blocks of every row with the counts as weights, zeros included
    blocks = moment_blocks(np.column_stack([Xm, y]))
    for weights in (None, w):
        kept = slice(None) if weights is None else weights > 0
        np.testing.assert_allclose(
            _mean_filled_corr(blocks, weights),
            correlation_matrix(Xm[kept], y[kept], missing="mean", weights=None if weights is None else w[kept]),
            rtol=1e-12, atol=1e-13)


def test_bootstrap_intervals_cover_population_shares_and_ranking_matches():
    p = 8
    pop = shapley_from_subsets(subset_r2(population_corr(p)), p)
    pop_share = pop / pop.sum()
    X, y = correlated(4000, p, seed=5)
    m = DriverAnalysis(n_boot=200, seed=1).fit(pd.DataFrame(X, columns=[f"d{i}" for i in range(p)]), y)
    imp = m.importance_.reindex([f"d{i}" for i in range(p)])
    covered = ((imp["shapley_lo"] <= pop_share) & (pop_share <= imp["shapley_hi"])).mean()
    assert covered >= 0.75
    assert spearmanr(imp["shapley_share"], pop_share).statistic >= 0.9
    assert imp["shapley_share"].sum() == pytest.approx(1) and imp["rw_share"].sum() == pytest.approx(1)
    assert (imp["rank_lo"] <= imp["rank"]).all() and (imp["rank"] <= imp["rank_hi"]).all()
    assert m.n_ == 4000 and 0 < m.r2_ < 1 and not m.binary_


def test_group_shares_sum_to_r2_and_favour_the_stronger_block():
    C = population_corr(6, beta=[1, 1, 1, 0.2, 0.2, 0.2])
    g = group_shapley(C, {"strong": [0, 1, 2], "weak": [3, 4, 5]})
    assert sum(g.values()) == pytest.approx(shapley_r2(C)[0].sum())
    assert g["strong"] > g["weak"]
    X, y = correlated(3000, 6, beta=[1, 1, 1, 0.2, 0.2, 0.2])
    m = DriverAnalysis(n_boot=50, groups={"strong": ["a", "b", "c"], "weak": ["d", "e", "f"]}).fit(
        pd.DataFrame(X, columns=list("abcdef")), y)
    assert m.groups_.loc["strong", "share"] > 0.5 and m.groups_.loc["strong", "lo"] > m.groups_.loc["weak", "hi"]
    with pytest.raises(ValueError, match="not columns"):
        DriverAnalysis(groups={"x": ["zz"]}).fit(pd.DataFrame(X, columns=list("abcdef")), y)


def test_binary_outcome_uses_logistic_relative_weights():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(20_000, 3))
    yb = (X @ [1.5, 0.7, 0.0] + rng.logistic(size=20_000) > 0).astype(float)
    rw = logistic_relative_weights(X, yb)
    assert rw[0] > rw[1] > rw[2] >= 0 and rw[2] < 0.01
    intercept, *coef = _logistic_irls(X, yb, np.ones(len(yb)))
    sk = LogisticRegression(C=1e9, max_iter=1000).fit(X, yb)
    np.testing.assert_allclose(coef, sk.coef_[0], atol=1e-4)
    m = DriverAnalysis(n_boot=20).fit(pd.DataFrame(X, columns=["a", "b", "c"]), yb)
    assert m.binary_ and list(m.importance_.index[:2]) == ["a", "b"]


def test_driver_table_from_long_surveys():
    rows = []
    for i in range(40):
        rows.append({"customer_id": f"C{i}", "timestamp": pd.Timestamp("2025-01-01"), "level": "relationship",
                     "subject": None, "metric": "nps", "score": i % 11})
        rows.append({"customer_id": f"C{i}", "timestamp": pd.Timestamp("2025-01-01"), "level": "touchpoint",
                     "subject": "Call", "metric": "csat", "score": 1 + i % 5})
        if i % 2:
            rows.append({"customer_id": f"C{i}", "timestamp": pd.Timestamp("2025-01-01"), "level": "touchpoint",
                         "subject": "Shop", "metric": "csat", "score": np.nan})
    X, y = build_driver_table(pd.DataFrame(rows), min_rated=10)
    assert list(X.columns) == ["Call"] and len(y) == 40        # 'Shop' never rated: dropped, not zero
    assert X.loc["C3", "Call"] == 4 and y["C3"] == 3
    with pytest.raises(ValueError, match="no rated relationship ces"):
        build_driver_table(pd.DataFrame(rows), outcome_metric="ces")


def test_segments_show_different_rankings():
    rng = np.random.default_rng(8)
    n = 4000
    X = pd.DataFrame(rng.normal(size=(n, 3)), columns=["a", "b", "c"])
    seg = pd.Series(np.where(rng.random(n) < 0.5, "biz", "home"), index=X.index)
    y = np.where(seg == "biz", 1.0 * X["a"] + 0.2 * X["b"], 0.2 * X["a"] + 1.0 * X["b"]) + rng.normal(size=n)
    from cxlib.drivers.importance import compare_segments
    out = compare_segments(X, pd.Series(y, index=X.index), seg, n_boot=50)
    top = out[out["rank"] == 1].set_index("segment")["driver"]
    assert top["biz"] == "a" and top["home"] == "b"
    biz_a = out[(out.segment == "biz") & (out.driver == "a")].iloc[0]
    assert biz_a["lo"] < biz_a["share"] < biz_a["hi"] and biz_a["n"] == (seg == "biz").sum()


def test_asymmetry_separates_must_haves_from_delighters():
    rng = np.random.default_rng(9)
    n = 20_000
    X = pd.DataFrame(rng.integers(1, 6, size=(n, 2)).astype(float), columns=["basic", "delight"])
    y = -2.0 * (X["basic"] <= 2) + 1.5 * (X["delight"] == 5) + rng.normal(size=n)
    X.loc[rng.random(n) < 0.1, "delight"] = np.nan                     # not rated is its own category
    from cxlib.drivers.importance import estimate_asymmetry
    a = estimate_asymmetry(X, y, low_below=3, high_at=5, n_boot=50)
    assert a.loc["basic", "penalty"] == pytest.approx(2.0, abs=0.1) and abs(a.loc["basic", "reward"]) < 0.1
    assert a.loc["delight", "reward"] == pytest.approx(1.5, abs=0.1) and abs(a.loc["delight", "penalty"]) < 0.1
    assert a.loc["basic", "type"] == "must-have" and a.loc["delight", "type"] == "delighter"
    r = a.loc["basic"]
    assert r["penalty_lo"] < r["penalty"] < r["penalty_hi"] and 0 < r["penalty_hi"] - r["penalty_lo"] < 0.2


def test_asymmetry_without_excellent_scores_is_still_a_must_have():
    rng = np.random.default_rng(10)
    n = 5000
    X = pd.DataFrame({"capped": rng.integers(1, 5, n).astype(float)})     # nobody gives a 5
    y = -1.0 * (X["capped"] <= 2) + rng.normal(size=n)
    from cxlib.drivers.importance import estimate_asymmetry
    a = estimate_asymmetry(X, y, low_below=3, high_at=5, n_boot=20)
    assert np.isnan(a.loc["capped", "reward"]) and a.loc["capped", "type"] == "must-have"


def test_fix_first_is_important_and_below_median_performance_with_a_raw_score_fallback():
    from cxlib.drivers import flag_fix_first
    imp = pd.DataFrame({"shapley_share": [0.4, 0.3, 0.2, 0.1], "performance": [0.2, 0.9, 0.1, 0.3],
                        "mean_score": [9.0, 1.0, 2.0, 3.0]}, index=list("abcd"))
    assert flag_fix_first(imp).tolist() == [True, False, False, False]
    # an unknown scale: the rule falls back to the mean score for every driver, as the plot does
    imp.loc["b", "performance"] = np.nan
    assert flag_fix_first(imp).tolist() == [False, True, False, False]


def test_asymmetry_types_follow_the_sign_and_interval_of_the_effects():
    from cxlib.drivers.importance import type_asymmetry
    a = pd.DataFrame({"penalty": [2.0, 0.0, 1.0, 0.02, -0.5], "penalty_lo": [1.8, -0.1, 0.8, -0.05, -0.7],
                      "penalty_hi": [2.2, 0.1, 1.2, 0.09, -0.3], "reward": [0.0, 1.5, 1.0, 0.01, 0.2],
                      "reward_lo": [-0.1, 1.3, 0.7, -0.05, -0.1], "reward_hi": [0.1, 1.7, 1.3, 0.07, 0.5]},
                     index=["basic", "delight", "linear", "flat", "odd"])
    assert type_asymmetry(a).tolist() == ["must-have", "delighter", "both ways", "no clear effect", "unexpected"]



def test_operational_facts_are_drivers_beside_the_ratings_but_never_fix_first():
    from cxlib.drivers.importance import build_operational_drivers, flag_fix_first
    rng = np.random.default_rng(4)
    n = 3000
    ids = [f"C{i}" for i in range(n)]
    delay = rng.exponential(30, n)
    cls = rng.choice(["Eco", "Business", "Eco Plus"], n, p=[0.6, 0.3, 0.1])
    rating = rng.integers(1, 6, n).astype(float)
    y = pd.Series(5 - delay / 15 + 0.5 * rating + 1.5 * (cls == "Business") + rng.normal(0, 1, n), index=ids)
    customers = pd.DataFrame({"customer_id": ids, "delay": np.where(np.arange(n) < 20, np.nan, delay), "class": cls})
    ops = build_operational_drivers(customers, ["delay", "class"], pd.Index(ids))
    assert list(ops.columns) == ["operational: delay", "operational: class = Business", "operational: class = Eco Plus"]
    assert ops["operational: delay"].isna().sum() == 20                       # missing stays missing
    X = pd.concat([pd.DataFrame({"Seat comfort": rating}, index=ids), ops], axis=1)
    m = DriverAnalysis(n_boot=30, seed=1).fit(X, y)
    imp = m.importance_
    assert imp.index[0] == "operational: delay" and imp.loc["operational: delay", "shapley_lo"] > 0.3
    imp = imp.assign(performance=[0.2 if d == "Seat comfort" else np.nan for d in imp.index])
    flags = flag_fix_first(imp)
    assert not flags[imp.index.str.startswith("operational: ")].any() and flags["Seat comfort"]
    with pytest.raises(ValueError, match="not in the customer table"):
        build_operational_drivers(customers, ["delays"], pd.Index(ids))


def test_value_weights_say_what_matters_to_the_customers_worth_most():
    """Speed drives the score of the few high-value customers, price that of the many others:
    unweighted, price leads; weighted by value, speed does. Equal weights change nothing."""
    rng = np.random.default_rng(4)
    n = 1200
    valuable = np.arange(n) < 300
    X = pd.DataFrame({"speed": rng.normal(size=n), "price": rng.normal(size=n)})
    y = np.where(valuable, 2 * X["speed"], 2 * X["price"]) + rng.normal(size=n)
    value = np.where(valuable, 20.0, 1.0)
    plain = DriverAnalysis(n_boot=30, seed=1).fit(X, y)
    weighted = DriverAnalysis(n_boot=30, seed=1).fit(X, y, sample_weight=value)
    assert plain.importance_.index[0] == "price" and weighted.importance_.index[0] == "speed"
    assert weighted.importance_.loc["speed", "shapley_lo"] > 0.5
    same = DriverAnalysis(n_boot=0).fit(X, y, sample_weight=np.full(n, 3.0))
    assert np.allclose(same.importance_["shapley_share"], DriverAnalysis(n_boot=0).fit(X, y).importance_["shapley_share"])
    half = DriverAnalysis(n_boot=0).fit(X, y, sample_weight=np.where(valuable, 1.0, 0.0))   # zero weight: left out
    assert half.n_ == 300
    with pytest.raises(ValueError, match="non-negative"):
        DriverAnalysis(n_boot=0).fit(X, y, sample_weight=-value)


def test_subset_r2_sweeps_match_a_solve_for_every_subset():
    rng = np.random.default_rng(7)
    X = rng.normal(size=(400, 9)) + rng.normal(size=(400, 1))
    C = correlation_matrix(X, X @ rng.uniform(size=9) + rng.normal(size=400))
    r2 = subset_r2(C)
    for mask in range(1, 1 << 9):
        idx = [j for j in range(9) if mask >> j & 1]
        b = C[idx, 9]
        assert r2[mask] == pytest.approx(b @ np.linalg.solve(C[np.ix_(idx, idx)], b), abs=1e-12)
    assert r2[0] == 0


def test_logistic_relative_weights_match_the_fit_on_orthogonal_counterparts():
    """The fit on the standardised drivers, mapped back, is the definition: a logistic
    regression on Z = Xs Rxx^(-1/2), whatever the missing ratings and weights."""
    rng = np.random.default_rng(8)
    X = rng.normal(size=(5000, 4)) + 0.7 * rng.normal(size=(5000, 1))
    yb = (X @ [1.2, 0.6, 0.3, 0.0] + rng.logistic(size=5000) > 0).astype(float)
    X[rng.random(X.shape) < 0.1] = np.nan
    w = rng.integers(0, 3, 5000).astype(float)
    got = logistic_relative_weights(X, yb, sample_weight=w)
    # reference: impute, standardise, orthogonalise, fit, map back (Tonidandel & LeBreton)
    u = w > 0
    Xu, yu, wu = X[u], yb[u], w[u]
    mean = np.nansum(Xu * wu[:, None], axis=0) / (~np.isnan(Xu) * wu[:, None]).sum(axis=0)
    Xs = np.where(np.isnan(Xu), mean, Xu) - mean
    Xs /= np.sqrt((Xs ** 2 * wu[:, None]).sum(axis=0) / wu.sum())
    vals, vecs = np.linalg.eigh((Xs * (wu / wu.sum())[:, None]).T @ Xs)
    lam = (vecs * np.sqrt(vals)) @ vecs.T
    Z = Xs @ np.linalg.inv(lam)
    sk = LogisticRegression(C=1e12, max_iter=1000, tol=1e-10).fit(Z, yu, sample_weight=wu)
    logit = sk.decision_function(Z)
    var = np.cov(logit, aweights=wu, bias=True)
    b = sk.coef_[0] / math.sqrt(var + math.pi ** 2 / 3)
    raw = (lam ** 2) @ b ** 2
    np.testing.assert_allclose(got, raw / raw.sum() * var / (var + math.pi ** 2 / 3), rtol=1e-4)
    # a warm start from other coefficients reaches the same fit
    L = moment_blocks(X)
    cold_rw, cold = _logistic_relative_weights(L[:, :4], L[:, 4:8], yb, w)
    warm_rw, warm = _logistic_relative_weights(L[:, :4], L[:, 4:8], yb, w, start=cold + 0.05)
    np.testing.assert_allclose(warm, cold, atol=1e-9)
    np.testing.assert_allclose(warm_rw, cold_rw, atol=1e-10)


def test_bootstrap_gives_the_same_figures_on_any_number_of_threads():
    X, y = correlated(3000, 5, seed=9)
    yb = (y > np.median(y)).astype(float)
    frame = pd.DataFrame(X, columns=list("abcde"))
    one = DriverAnalysis(n_boot=30, seed=3, n_jobs=1).fit(frame, yb).importance_
    two = DriverAnalysis(n_boot=30, seed=3, n_jobs=2).fit(frame, yb).importance_
    pd.testing.assert_frame_equal(one, two)
    lean = DriverAnalysis(n_boot=30, seed=3, n_jobs=2, relative_weights=False).fit(frame, yb).importance_
    assert not any(c.startswith("rw_") for c in lean)
    pd.testing.assert_frame_equal(lean, one[lean.columns])


def test_map_in_threads_keeps_order_and_checks_jobs():
    assert map_in_threads(lambda x: x * x, (i for i in range(50)), 3, chunk=2) == [i * i for i in range(50)]
    assert count_jobs(2) == 2 and count_jobs(None) >= 1 and count_jobs(-1) == count_jobs(None)
    with pytest.raises(ValueError, match="n_jobs"):
        count_jobs(-3)
