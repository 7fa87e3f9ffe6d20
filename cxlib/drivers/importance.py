"""Key-driver analysis: which drivers matter most for an outcome, and how sure we are.

Two relative-importance methods, both built for correlated drivers:

* **Shapley (dominance) decomposition of R²**: each driver's average gain in R² over
  all orders in which drivers can enter the model. Exact for up to
  ``MAX_EXACT_DRIVERS`` drivers (all 2^p subsets, R² from the correlation matrix);
  beyond that, a permutation-sampling approximation whose Monte-Carlo standard
  error is reported in ``shapley_se_``.
* **Johnson's relative weights**: the drivers are replaced by their closest
  orthogonal counterparts, whose contributions are mapped back. For a binary outcome
  the logistic variant (Tonidandel & LeBreton, 2010) is used: a logistic regression on
  the orthogonal counterparts, with standardised coefficients.

For a binary outcome the Shapley decomposition uses the linear-probability R²
(the R² of the outcome's correlation with the drivers), a documented approximation
that keeps the exact decomposition affordable.

**Missing ratings** ("not rated") are never zero. ``missing="pairwise"`` (default)
builds the correlation matrix from pairwise-complete observations and, if needed,
repairs it to the nearest positive-definite matrix: right when ratings are skipped at
random. ``missing="listwise"`` keeps only respondents who rated every driver.
``missing="mean"`` is for *not applicable* drivers (a journey the respondent never
went through): the driver is set to its mean, so it adds nothing for them; pairwise
correlations would pretend the few who rate two rare journeys stand for everyone. The number of respondents behind each driver is
kept in ``n_rated_``.

**Intervals**: :class:`DriverAnalysis` bootstraps respondents and reports percentile
intervals on each driver's share and rank.
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import pandas as pd
from scipy.special import expit

from cxlib.core.lookup import is_in
from cxlib.core.parallel import map_in_threads

MAX_EXACT_DRIVERS = 15


# --------------------------------------------------------------------------- correlations

def moment_blocks(Z: np.ndarray) -> np.ndarray:
    """``[present, value, value²]`` side by side for the columns of ``Z`` (NaN = missing, read
    as 0 in the value blocks): every weighted pairwise moment is a product of these blocks, so
    a bootstrap builds them once and only reweights rows."""
    present = ~np.isnan(Z)
    Z0 = np.where(present, Z, 0.0)
    return np.hstack([present.astype(float), Z0, Z0 * Z0])


def _corr_from_blocks(L: np.ndarray, w: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Pairwise-complete (weighted) correlations and pairwise counts from :func:`moment_blocks`."""
    q = L.shape[1] // 3
    Mf, X0 = L[:, :q], L[:, q:2 * q]
    Lw = L if w is None else L * w[:, None]
    G = Lw.T @ Mf                      # [n_ij; sum x_i where j present; sum x_i^2 where j present]
    n, sx, sxx = G[:q], G[q:2 * q], G[2 * q:]
    sxy = Lw[:, q:2 * q].T @ X0        # sum of x_i x_j where both present
    with np.errstate(invalid="ignore", divide="ignore"):
        mi = sx / n
        mj = sx.T / n
        cov = sxy / n - mi * mj
        vi = sxx / n - mi ** 2
        vj = sxx.T / n - mj ** 2
        corr = cov / np.sqrt(vi * vj)
    np.fill_diagonal(corr, 1.0)
    return corr, n


def _weighted_pairwise_corr(X: np.ndarray, w: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Pairwise-complete (weighted) correlation matrix of the columns of ``X`` (NaN = missing)
    and the pairwise counts."""
    return _corr_from_blocks(moment_blocks(X), w)


def _complete_corr(Z: np.ndarray, w: np.ndarray | None = None) -> np.ndarray:
    """(Weighted) correlation matrix of the columns of ``Z``, which has no missing value: the
    raw moments :func:`_corr_from_blocks` forms when every pair is complete (n, sums, sums of
    squares and cross-products), without its presence blocks, a third of the work."""
    Zw = Z if w is None else Z * w[:, None]
    n = float(len(Z)) if w is None else float(w.sum())
    sxy = Zw.T @ Z
    with np.errstate(invalid="ignore", divide="ignore"):
        m = Zw.sum(axis=0) / n
        cov = sxy / n - np.outer(m, m)
        v = np.diag(sxy) / n - m ** 2
        corr = cov / np.sqrt(np.outer(v, v))
    np.fill_diagonal(corr, 1.0)
    return corr


def _mean_filled_corr(L: np.ndarray, w: np.ndarray | None = None) -> np.ndarray:
    """``correlation_matrix(..., missing='mean')`` from the :func:`moment_blocks` ``L`` of the
    columns: each column's missing values read as its (weighted) mean over the rows that have
    one. A bootstrap passes its counts as ``w`` instead of copying the drawn rows."""
    q = L.shape[1] // 3
    sums = L[:, :2 * q].sum(axis=0) if w is None else w @ L[:, :2 * q]    # [rated, sum of ratings]
    return _complete_corr(np.where(L[:, :q] > 0, L[:, q:2 * q], sums[q:] / sums[:q]), w)


def _usable(C: np.ndarray) -> np.ndarray:
    """``C`` repaired to positive definite, or a plain error when a correlation is undefined."""
    if np.isnan(C).any():
        bad = sorted({int(i) for i in np.argwhere(np.isnan(C))[:, 0]})
        raise ValueError(f"correlations undefined for column(s) {bad} (the outcome is column {C.shape[1] - 1}): "
                         "a driver is constant or never rated together with another")
    return _nearest_pd(C)


def _nearest_pd(C: np.ndarray, eps: float = 1e-8) -> np.ndarray:
    """Clip negative eigenvalues and rescale to a unit diagonal (pairwise matrices may not be PSD)."""
    vals, vecs = np.linalg.eigh(C)
    if vals.min() > eps:
        return C
    C2 = (vecs * np.clip(vals, eps, None)) @ vecs.T
    d = np.sqrt(np.diag(C2))
    return C2 / np.outer(d, d)


def correlation_matrix(X: np.ndarray, y: np.ndarray, *, missing: str = "pairwise",
                       weights: np.ndarray | None = None) -> np.ndarray:
    """Correlation matrix of ``[X, y]`` (y last) with the chosen missing-data rule."""
    Z = np.column_stack([X, y]).astype(float)
    if missing == "mean":  # 'not applicable' counts as an average experience (contributes nothing)
        w = np.ones(len(Z)) if weights is None else weights
        present = ~np.isnan(Z)
        means = np.nansum(Z * w[:, None], axis=0) / (present * w[:, None]).sum(axis=0)
        Z = np.where(present, Z, means)
    elif missing == "listwise":
        keep = ~np.isnan(Z).any(axis=1)
        Z = Z[keep]
        weights = weights[keep] if weights is not None else None
    elif missing != "pairwise":
        raise ValueError(f"missing must be 'pairwise', 'listwise' or 'mean', got {missing!r}")
    if missing != "pairwise":   # every pair complete now
        return _usable(_complete_corr(Z, weights))
    return _usable(_weighted_pairwise_corr(Z, weights)[0])


# --------------------------------------------------------------------------- R² of subsets

def subset_r2(C: np.ndarray) -> np.ndarray:
    """R² of every subset of drivers, indexed by bitmask (bit j = driver j), from the
    correlation matrix ``C`` of [drivers, outcome].

    One sweep per driver, vectorised over subsets: a subset S whose highest driver is h is
    its parent S - {h} swept on h, and R²(S) = R²(S - {h}) + e_hy² / e_hh, where e is the
    parent's residual (partial) covariance of the drivers after h and the outcome. Each
    subset keeps only that residual block, so the work is about 2^p small updates instead
    of 2^p linear solves."""
    p = C.shape[0] - 1
    r2 = np.zeros(1 << p)
    masks = np.zeros(1, dtype=np.int64)
    E = C[None, :, :].astype(float)          # residual covariance of [drivers h.., outcome] given each subset
    for h in range(p):
        pivot = E[:, 0, 0]
        r2[masks | (1 << h)] = r2[masks] + E[:, 0, -1] ** 2 / pivot
        swept = E[:, 1:, 1:] - E[:, 1:, :1] * (E[:, :1, 1:] / pivot[:, None, None])
        E = np.concatenate([E[:, 1:, 1:], swept])
        masks = np.concatenate([masks, masks | (1 << h)])
    return r2


def _popcount(a: np.ndarray) -> np.ndarray:
    c = np.zeros_like(a)
    x = a.copy()
    while x.any():
        c += x & 1
        x >>= 1
    return c


@lru_cache(maxsize=4)
def _shapley_operator(p: int) -> np.ndarray:
    """The (p x 2^p) matrix D with Shapley values = D @ R²(every subset): D[j, S] is
    +w(|S| - 1) when j is in S and -w(|S|) when it is not, w(s) = s! (p - s - 1)! / p!."""
    masks = np.arange(1 << p)
    size = _popcount(masks)
    fact = np.array([math.factorial(i) for i in range(p + 1)], dtype=float)
    D = np.zeros((p, 1 << p))
    for j in range(p):
        has = (masks >> j) & 1 == 1
        D[j, has] = fact[size[has] - 1] * fact[p - size[has]] / fact[p]
        D[j, ~has] = -fact[size[~has]] * fact[p - size[~has] - 1] / fact[p]
    D.setflags(write=False)
    return D


def shapley_from_subsets(r2: np.ndarray, p: int) -> np.ndarray:
    """Exact Shapley values of each driver given the R² of every subset."""
    return _shapley_operator(p) @ r2


def _r2_of(C: np.ndarray, idx: list[int]) -> float:
    if not idx:
        return 0.0
    p = C.shape[0] - 1
    A = C[np.ix_(idx, idx)]
    b = C[idx, p]
    return float(b @ np.linalg.solve(A, b))


def shapley_sampled(C: np.ndarray, n_permutations: int = 2000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Permutation-sampling Shapley values (for many drivers) and their Monte-Carlo standard errors."""
    p = C.shape[0] - 1
    rng = np.random.default_rng(seed)
    contrib = np.zeros((n_permutations, p))
    for m in range(n_permutations):
        order = rng.permutation(p)
        prev = 0.0
        for k in range(p):
            cur = _r2_of(C, sorted(order[:k + 1].tolist()))
            contrib[m, order[k]] = cur - prev
            prev = cur
    return contrib.mean(axis=0), contrib.std(axis=0, ddof=1) / math.sqrt(n_permutations)


def shapley_r2(C: np.ndarray, *, n_permutations: int = 2000, seed: int = 0) -> tuple[np.ndarray, np.ndarray | None]:
    """Shapley decomposition of R²: exact up to ``MAX_EXACT_DRIVERS`` drivers, sampled beyond.
    Returns (values, standard errors or None when exact)."""
    p = C.shape[0] - 1
    if p <= MAX_EXACT_DRIVERS:
        return shapley_from_subsets(subset_r2(C), p), None
    return shapley_sampled(C, n_permutations, seed)


def group_shapley(C: np.ndarray, groups: dict[str, list[int]]) -> dict[str, float]:
    """Shapley values of blocks of drivers (each block one player) in R²."""
    names = list(groups)
    g = len(names)
    r2 = {}
    for mask in range(1 << g):
        idx = sorted(i for b in range(g) if mask >> b & 1 for i in groups[names[b]])
        r2[mask] = _r2_of(C, idx)
    out = {}
    for b, name in enumerate(names):
        total = 0.0
        for mask in range(1 << g):
            if mask >> b & 1:
                continue
            s = bin(mask).count("1")
            total += math.factorial(s) * math.factorial(g - s - 1) / math.factorial(g) * (r2[mask | 1 << b] - r2[mask])
        out[name] = total
    return out


# --------------------------------------------------------------------------- relative weights

def relative_weights(C: np.ndarray) -> np.ndarray:
    """Johnson's relative weights (sum to R²) from the correlation matrix of [drivers, outcome]."""
    p = C.shape[0] - 1
    vals, vecs = np.linalg.eigh(C[:p, :p])
    lam = (vecs * np.sqrt(np.clip(vals, 0, None))) @ vecs.T      # Rxx^(1/2)
    beta = np.linalg.solve(lam, C[:p, p])
    return (lam ** 2) @ (beta ** 2)


def logistic_relative_weights(X: np.ndarray, y: np.ndarray, *, sample_weight: np.ndarray | None = None) -> np.ndarray:
    """Relative weights for a binary outcome (Tonidandel & LeBreton, 2010): a logistic
    regression on the drivers' closest orthogonal counterparts, with coefficients
    standardised on the latent scale; the weights sum to the McKelvey-Zavoina R².
    Missing driver values are mean-imputed here (the orthogonalisation needs complete
    rows). ``sample_weight`` (bootstrap counts) weights every moment and the fit."""
    L = moment_blocks(np.asarray(X, float))
    p = L.shape[1] // 3
    return _logistic_relative_weights(L[:, :p], L[:, p:2 * p], np.asarray(y, float), sample_weight)[0]


def _logistic_relative_weights(present: np.ndarray, X0: np.ndarray, y: np.ndarray, w: np.ndarray | None = None,
                               start: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """:func:`logistic_relative_weights` from the drivers' presence (0/1) and values (0 where
    missing), and the fitted [intercept, coefficients] on the standardised drivers, which
    ``start`` takes back to warm-start a bootstrap refit.

    The orthogonal counterparts are Z = Xs Rxx^(-1/2), a linear map of the standardised
    drivers Xs, so the logistic fit on Z is the fit on Xs with coefficients b = Rxx^(1/2) a
    (the same logits); the ridge |b|² becomes a' Rxx a. Fitting on Xs saves building Z and
    lets every resample start from the full sample's coefficients."""
    w = np.ones(len(X0)) if w is None else np.asarray(w, float)
    sw = w.sum()
    mean = (w @ X0) / (w @ present)
    Xs = X0 - present * mean                                      # mean-imputed and centred (imputing keeps the mean)
    Xs /= np.sqrt((w @ (Xs * Xs)) / sw)
    R = (Xs * (w / sw)[:, None]).T @ Xs                           # weighted Rxx
    vals, vecs = np.linalg.eigh(R)
    lam = (vecs * np.sqrt(np.clip(vals, 1e-12, None))) @ vecs.T   # Rxx^(1/2)
    beta = _logistic_irls(Xs, y, w, start=start, penalty=R)
    logit = Xs @ beta[1:] + beta[0]
    m = (w @ logit) / sw
    var_logit = (w @ (logit - m) ** 2) / sw
    r2 = var_logit / (var_logit + math.pi ** 2 / 3)              # McKelvey-Zavoina R²
    b_std = (lam @ beta[1:]) / math.sqrt(var_logit + math.pi ** 2 / 3)
    raw = (lam ** 2) @ (b_std ** 2)
    return (raw / raw.sum() * r2 if raw.sum() > 0 else raw), beta


def _logistic_irls(X: np.ndarray, y: np.ndarray, w: np.ndarray, n_iter: int = 25, tol: float = 1e-6, *,
                   start: np.ndarray | None = None, penalty: np.ndarray | None = None) -> np.ndarray:
    """Weighted logistic regression by Newton-Raphson (IRLS): [intercept, coefficients].
    A tiny ridge (``1e-6 · penalty``, identity by default) keeps separable data finite.
    Newton converges quadratically, so stopping once a step is below ``tol`` leaves an
    error of about tol²; ``start`` warm-starts the iterations."""
    A = np.column_stack([np.ones(len(X)), X])
    beta = np.zeros(A.shape[1]) if start is None else np.array(start, float)
    ridge = np.zeros((A.shape[1], A.shape[1]))
    ridge[1:, 1:] = 1e-6 * (np.eye(A.shape[1] - 1) if penalty is None else penalty)
    for _ in range(n_iter):
        eta = np.clip(A @ beta, -30, 30)
        mu = expit(eta)
        B = A * np.sqrt(w * mu * (1 - mu))[:, None]
        H = B.T @ B + ridge                  # A' W A, computed as a symmetric product
        g = A.T @ (w * (y - mu)) - ridge @ beta
        step = np.linalg.solve(H, g)
        beta += step
        if np.abs(step).max() < tol:
            break
    return beta


# --------------------------------------------------------------------------- estimator

class DriverAnalysis:
    """Relative importance of drivers for one outcome, with bootstrap intervals.

    Parameters: ``missing`` ('pairwise' or 'listwise'), ``n_boot`` bootstrap resamples,
    ``groups`` (block name -> driver names, for the grouped Shapley shares, e.g. journey
    vs touchpoint scores), ``n_permutations`` for sampled Shapley beyond
    ``MAX_EXACT_DRIVERS`` drivers, ``seed``, and ``relative_weights`` (False leaves Johnson's
    relative weights out, e.g. for per-segment rankings that read the Shapley shares only;
    for a binary outcome each of them is a logistic fit), and ``n_jobs`` (threads for the
    bootstrap; None or -1: every core; the figures are the same for any number).

    ``fit(X, y)`` takes drivers as columns of a DataFrame (NaN = not rated) and a numeric
    or binary outcome. Learned attributes:

    * ``importance_``: one row per driver: Shapley share of R² with 95% interval and rank
      (with rank interval), relative-weight share with interval (unless left out), mean
      score and n rated;
    * ``r2_``, ``n_``, ``binary_``, ``shapley_se_`` (None when exact), ``groups_``.

    Shares sum to 1 over the drivers.
    """

    def __init__(self, *, missing: str = "pairwise", n_boot: int = 200, groups: dict[str, list[str]] | None = None,
                 n_permutations: int = 2000, seed: int = 0, level: float = 0.95, relative_weights: bool = True,
                 n_jobs: int | None = None):
        self.missing = missing
        self.n_jobs = n_jobs
        self.relative_weights = relative_weights
        self.n_boot = n_boot
        self.groups = groups
        self.n_permutations = n_permutations
        self.seed = seed
        self.level = level

    def _estimate(self, X: np.ndarray, y: np.ndarray, L: np.ndarray, w: np.ndarray | None,
                  start: np.ndarray | None = None) -> dict:
        """One estimate of every share from drivers ``X``, outcome ``y`` and their
        :func:`moment_blocks` ``L``; ``w`` weights the rows (bootstrap counts times any sample
        weight). ``start`` (the full sample's logistic coefficients) warm-starts a
        resample's logistic relative weights."""
        if self.missing == "mean":   # from the blocks as they are: a row drawn zero times weighs nothing
            C = _usable(_mean_filled_corr(L, w))
        if w is not None:  # a bootstrap resample: rows drawn zero times do not count
            used = w > 0
            y, L, w = y[used], L[used], w[used]
        if self.missing == "pairwise":
            C = _usable(_corr_from_blocks(L, w)[0])
        elif self.missing == "listwise":
            C = correlation_matrix(X if w is None else X[used], y, missing=self.missing, weights=w)
        phi, se = shapley_r2(C, n_permutations=self.n_permutations, seed=self.seed)
        r2 = float(phi.sum())
        if not self.relative_weights:
            rw, beta = None, None
        elif self.binary_:
            p, q = X.shape[1], X.shape[1] + 1
            rw, beta = _logistic_relative_weights(L[:, :p], L[:, q:q + p], y, w, start=start)
        else:
            rw, beta = relative_weights(C), None
        out = {"r2": r2, "shapley": phi, "shapley_se": se, "rw": rw, "beta": beta}
        if self.groups:
            idx = {g: [self.drivers_.index(d) for d in names] for g, names in self.groups.items()}
            out["groups"] = group_shapley(C, idx)
        return out

    def fit(self, X: pd.DataFrame, y, sample_weight=None) -> "DriverAnalysis":
        """Fit on drivers ``X`` and outcome ``y``. ``sample_weight`` (one non-negative weight
        per row, e.g. the customer's value) weights every moment, so the shares say what
        matters to the customers who weigh most; the bootstrap resamples rows and keeps each
        row's weight. Rows with a missing or zero weight are left out."""
        if not isinstance(X, pd.DataFrame):
            raise TypeError("X must be a DataFrame with one column per driver")
        y = pd.Series(y, index=X.index).astype(float)
        keep = y.notna() & X.notna().any(axis=1)
        if sample_weight is not None:
            sw = pd.Series(np.asarray(sample_weight, float), index=X.index)
            if (sw < 0).any():
                raise ValueError("sample_weight must be non-negative")
            keep &= sw.notna() & (sw > 0)
        X, y = X.loc[keep], y.loc[keep]
        base = None if sample_weight is None else (sw.loc[keep] / sw.loc[keep].mean()).to_numpy(float)
        if len(X) < X.shape[1] + 10:
            raise ValueError(f"too few respondents ({len(X)}) for {X.shape[1]} drivers")
        if self.groups:
            unknown = sorted({d for names in self.groups.values() for d in names} - set(X.columns))
            if unknown:
                raise ValueError(f"groups name drivers that are not columns of X: {unknown}")
        self.drivers_ = list(X.columns)
        self.n_ = int(len(X))
        self.n_rated_ = X.notna().sum()
        self.binary_ = bool(set(np.unique(y)) <= {0.0, 1.0})
        Xa, ya = X.to_numpy(float), y.to_numpy(float)
        L = moment_blocks(np.column_stack([Xa, ya]))
        point = self._estimate(Xa, ya, L, base)
        self.r2_ = point["r2"]
        self.shapley_se_ = None if point["shapley_se"] is None else pd.Series(point["shapley_se"], self.drivers_)
        rng = np.random.default_rng(self.seed)

        def draws():   # in seed order, so the figures do not depend on the number of workers
            for _ in range(self.n_boot):
                w = rng.multinomial(self.n_, np.full(self.n_, 1 / self.n_)).astype(float)
                yield w if base is None else w * base

        boots = map_in_threads(lambda w: self._estimate(Xa, ya, L, w, start=point["beta"]), draws(), self.n_jobs)
        self.importance_ = self._summarize(point, boots, X)
        if self.groups:
            self.groups_ = self._summarize_groups(point, boots)
        return self

    def _interval(self, a: np.ndarray, axis=0):
        q = (1 - self.level) / 2
        return np.quantile(a, q, axis=axis), np.quantile(a, 1 - q, axis=axis)

    def _summarize(self, point: dict, boots: list[dict], X: pd.DataFrame) -> pd.DataFrame:
        out = pd.DataFrame({"shapley_share": point["shapley"] / point["shapley"].sum()}, index=self.drivers_)
        if point["rw"] is not None:
            out["rw_share"] = point["rw"] / point["rw"].sum()
        if boots:
            bs = np.array([b["shapley"] / b["shapley"].sum() for b in boots])
            ranks = (-bs).argsort(axis=1).argsort(axis=1) + 1
            out["shapley_lo"], out["shapley_hi"] = self._interval(bs)
            if point["rw"] is not None:
                out["rw_lo"], out["rw_hi"] = self._interval(np.array([b["rw"] / b["rw"].sum() for b in boots]))
            out["rank_lo"], out["rank_hi"] = (np.floor(v).astype(int) for v in self._interval(ranks))
        out["rank"] = out["shapley_share"].rank(ascending=False, method="first").astype(int)
        out["mean_score"] = X.mean()
        out["n_rated"] = self.n_rated_.astype(int)
        cols = ["rank", "shapley_share", "shapley_lo", "shapley_hi", "rank_lo", "rank_hi", "rw_share", "rw_lo",
                "rw_hi", "mean_score", "n_rated"]
        return out.reindex(columns=[c for c in cols if c in out]).sort_values("rank").rename_axis("driver")

    def _summarize_groups(self, point: dict, boots: list[dict]) -> pd.DataFrame:
        names = list(self.groups)
        total = sum(point["groups"].values())
        rows = {}
        for g in names:
            bs = np.array([b["groups"][g] / sum(b["groups"].values()) for b in boots]) if boots else np.array([np.nan])
            lo, hi = self._interval(bs)
            rows[g] = {"share": point["groups"][g] / total, "lo": float(lo), "hi": float(hi),
                       "r2": point["groups"][g]}
        return pd.DataFrame(rows).T.rename_axis("block")


# --------------------------------------------------------------------------- data

def build_driver_table(surveys: pd.DataFrame, *, outcome_level: str = "relationship", outcome_metric: str = "nps",
                       driver_levels: tuple[str, ...] = ("touchpoint",), respondent: str = "customer_id",
                       min_rated: int = 30, same_response: bool = True) -> tuple[pd.DataFrame, pd.Series]:
    """One row per respondent: the outcome (their latest rating at ``outcome_level`` /
    ``outcome_metric``) and one column per driver (their mean rating of each subject at
    ``driver_levels``; with several levels the column is '<level>: <subject>').
    With ``same_response`` only ratings given in the same response as the outcome (same
    respondent and timestamp, i.e. the same questionnaire) are drivers.
    Not rated stays NaN. Drivers rated by fewer than ``min_rated`` respondents are dropped.
    Returns ``(X, y)`` aligned on the respondent."""
    out = surveys[(surveys["level"] == outcome_level) & (surveys["metric"] == outcome_metric)
                  & surveys["score"].notna()]
    if not len(out):
        raise ValueError(f"no rated {outcome_level} {outcome_metric} responses to use as the outcome")
    last = out.sort_values("timestamp").groupby(respondent).tail(1)
    y = last.set_index(respondent)["score"].rename(outcome_metric)
    d = surveys[surveys["level"].isin(driver_levels) & is_in(surveys[respondent], y.index)]
    if same_response:
        d = d.merge(last[[respondent, "timestamp"]], on=[respondent, "timestamp"])
    if not len(d):
        raise ValueError(f"no {'/'.join(driver_levels)} ratings from the outcome's respondents")
    name = d["subject"] if len(driver_levels) == 1 else d["level"] + ": " + d["subject"]
    X = d.assign(driver=name).pivot_table(index=respondent, columns="driver", values="score", aggfunc="mean")
    X = X.loc[:, X.notna().sum() >= min_rated]
    X = X.reindex(y.index)
    X.columns.name = None
    return X, y


OPERATIONAL = "operational"


def build_operational_drivers(customers: pd.DataFrame, columns: list[str], index: pd.Index, *,
                              respondent: str = "customer_id", max_levels: int = 8) -> pd.DataFrame:
    """Operational facts as drivers beside the ratings: one column per numeric customer column
    (a delay in minutes, a wait, a handle time) and one 0/1 column per level of a categorical one
    ('class = Business', the most common level left out as the reference; at most
    ``max_levels``), named 'operational: <column>', one row per respondent in ``index``.
    A value the customer table lacks stays NaN, never 0."""
    missing = [c for c in columns if c not in customers]
    if missing:
        raise ValueError(f"operational driver column(s) {missing} are not in the customer table; "
                         f"its columns are {list(customers.columns)}")
    c = customers.drop_duplicates(respondent).set_index(respondent).reindex(index)
    out = {}
    for col in columns:
        v = c[col]
        num = pd.to_numeric(v, errors="coerce")
        if num.notna().sum() >= 0.9 * v.notna().sum() and v.notna().any():
            out[f"{OPERATIONAL}: {col}"] = num
            continue
        levels = v.dropna().astype(str).value_counts().index[1:max_levels + 1]   # the most common is the reference
        for level in levels:
            out[f"{OPERATIONAL}: {col} = {level}"] = v.astype("string").eq(level).astype(float).where(v.notna())
    return pd.DataFrame(out, index=index)


# --------------------------------------------------------------------------- reading the drivers

def compare_segments(X: pd.DataFrame, y: pd.Series, segment: pd.Series, *, min_n: int = 200, n_boot: int = 100,
                     missing: str = "pairwise", seed: int = 0) -> pd.DataFrame:
    """Driver shares with 95% intervals per segment (one DriverAnalysis per segment value
    with at least ``min_n`` respondents). Long format: segment, driver, share, lo, hi, rank, n."""
    seg = segment.reindex(X.index)
    rows = []
    for value, idx in seg.dropna().groupby(seg.dropna()).groups.items():
        if len(idx) < max(min_n, X.shape[1] + 10):
            continue
        m = DriverAnalysis(n_boot=n_boot, missing=missing, seed=seed, relative_weights=False).fit(X.loc[idx], y.loc[idx])
        imp = m.importance_
        for d, r in imp.iterrows():
            rows.append({"segment": value, "driver": d, "share": r["shapley_share"], "lo": r.get("shapley_lo"),
                         "hi": r.get("shapley_hi"), "rank": int(r["rank"]), "n": m.n_, "r2": m.r2_})
    return pd.DataFrame(rows, columns=["segment", "driver", "share", "lo", "hi", "rank", "n", "r2"])


def estimate_asymmetry(X: pd.DataFrame, y: pd.Series, *, low_below, high_at, n_boot: int = 200,
                       seed: int = 0, level: float = 0.95) -> pd.DataFrame:
    """Penalty-reward analysis: regress the outcome on, per driver, a 'poor' dummy (score
    below ``low_below``) and an 'excellent' dummy (score at or above ``high_at``), the middle
    being the reference, with a 'not rated' dummy so missing ratings are never read as a
    score. ``low_below`` and ``high_at`` are numbers or mappings by driver (drivers on
    different scales). ``penalty`` is the outcome drop for a poor score, ``reward`` the gain for an
    excellent one, each with a bootstrap interval. A driver whose penalty outweighs its
    reward is a must-have (basic); the reverse, a delighter."""
    cols, blocks = [], []
    for d in X.columns:
        s = X[d]
        lo_t = low_below[d] if isinstance(low_below, dict) else low_below
        hi_t = high_at[d] if isinstance(high_at, dict) else high_at
        blocks += [(s < lo_t).astype(float).to_numpy(), (s >= hi_t).astype(float).to_numpy(),
                   s.isna().astype(float).to_numpy()]
        cols += [(d, "low"), (d, "high"), (d, "na")]
    A = np.column_stack([np.ones(len(X)), *blocks])
    keep = [0] + [i + 1 for i, b in enumerate(blocks) if b.std() > 0]
    A = A[:, keep]
    names = [None] + [cols[i - 1] for i in keep[1:]]
    yv = y.reindex(X.index).to_numpy(float)

    def coefs(w):
        Aw = A * w[:, None]
        return np.linalg.lstsq(Aw.T @ A, Aw.T @ yv, rcond=None)[0]

    point = coefs(np.ones(len(yv)))
    rng = np.random.default_rng(seed)
    boots = np.array([coefs(rng.multinomial(len(yv), np.full(len(yv), 1 / len(yv))).astype(float))
                      for _ in range(n_boot)]) if n_boot else np.full((1, len(point)), np.nan)
    q = (1 - level) / 2
    lo, hi = np.quantile(boots, q, axis=0), np.quantile(boots, 1 - q, axis=0)
    rows = {}
    for i, name in enumerate(names[1:], start=1):
        d, kind = name
        if kind == "na":
            continue
        r = rows.setdefault(d, {"driver": d})
        sign = -1.0 if kind == "low" else 1.0      # penalty reported as a positive drop
        key = "penalty" if kind == "low" else "reward"
        r[key] = sign * point[i]
        r[f"{key}_lo"], r[f"{key}_hi"] = sorted((sign * lo[i], sign * hi[i]))
        r[f"share_{kind}"] = float(blocks[cols.index(name)].mean())
    out = pd.DataFrame(list(rows.values())).set_index("driver")
    for key in ("penalty", "reward"):   # a driver nobody scored poorly (or excellently) has no such effect
        for suffix in ("", "_lo", "_hi"):
            if key + suffix not in out:
                out[key + suffix] = np.nan
    out["type"] = type_asymmetry(out)
    return out


def type_asymmetry(asymmetry: pd.DataFrame) -> pd.Series:
    """Each driver's type by the sign and interval of its two effects, not their sizes alone:
    *must-have* (a poor score clearly costs, an excellent one earns nothing measurable),
    *delighter* (the reverse), *both ways* (each clearly matters), *no clear effect* (neither
    interval clears zero), and *unexpected* (a poor score goes with a better outcome, or an
    excellent one with a worse: a reason to check the data, not a finding)."""
    pen_lo, pen_hi = asymmetry["penalty_lo"].fillna(0), asymmetry["penalty_hi"].fillna(0)
    rew_lo, rew_hi = asymmetry["reward_lo"].fillna(0), asymmetry["reward_hi"].fillna(0)
    hurts, pays = pen_lo > 0, rew_lo > 0
    odd = (pen_hi < 0) | (rew_hi < 0)
    kind = np.select([odd, hurts & pays, hurts, pays], ["unexpected", "both ways", "must-have", "delighter"],
                     "no clear effect")
    return pd.Series(kind, index=asymmetry.index, name="type")


def flag_fix_first(importance: pd.DataFrame, *, share: str = "shapley_share", performance: str = "performance",
                   fallback: str = "mean_score") -> pd.Series:
    """The 'fix first' drivers: importance at or above the median and performance at or below
    the median. Performance is the score as a share of its scale; where a driver's scale is
    unknown the raw ``fallback`` column (mean score) is used for every driver instead.
    Operational drivers (facts, not ratings) are never 'fix first': they have no scale to
    improve on, and the rule compares ratings only."""
    rated = importance[~importance.index.astype(str).str.startswith(f"{OPERATIONAL}: ")]   # facts have no scale
    perf = performance if performance in rated and rated[performance].notna().all() else fallback
    imp, x = rated[share], rated[perf]
    flag = (imp >= imp.median()) & (x <= x.median())
    return flag.reindex(importance.index, fill_value=False).rename("fix_first")
