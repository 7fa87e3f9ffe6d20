"""Agent performance: first-contact resolution, handle time and CSAT per agent, shrunk
toward the team for small n (empirical Bayes), with intervals and outlier flags.

Every metric goes through one model. Agent *i* has an observed value ``y_i`` with sampling
error ``se_i``; true agent values spread around the team value with variance ``tau²``
(DerSimonian-Laird, from all agents). The shrunk estimate is the posterior mean
``y0 + B (y_i - y0)``, ``B = tau² / (tau² + se_i²)``, with a normal interval. An agent is
an outlier when it lies outside the 99.8% limits of the overdispersed funnel,
``|y_i - y0| > 3.09 sqrt(se_i² + tau_w²)``, where ``tau_w²`` comes from z-scores winsorised
at 10%/90% so that the outliers do not widen their own funnel (Spiegelhalter 2005): about
1 false alarm in 1,000 agent-metrics when nothing is wrong.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from cxlib.core.sql import on_engine, query_frames, select_columns, sql_literal
from cxlib.core.uncertainty import poisson_rate_interval

FUNNEL_LEVEL = 0.998


def shrink_toward_mean(y, se, *, level: float = 0.95, funnel_level: float = FUNNEL_LEVEL) -> pd.DataFrame:
    """Empirical-Bayes shrinkage of estimates ``y`` with standard errors ``se``.

    Returns ``estimate`` (shrunk), ``lo``, ``hi``, ``z`` (distance from the team value in
    overdispersed standard errors) and ``outlier`` (outside the funnel limits), indexed like
    ``y``, with the team value ``y0`` and ``tau`` in ``.attrs``."""
    y = pd.Series(y, dtype=float)
    se = pd.Series(se, index=y.index, dtype=float).clip(lower=1e-12)
    ok = y.notna() & se.notna() & np.isfinite(se)
    w = 1 / se[ok] ** 2
    y0 = float((w * y[ok]).sum() / w.sum()) if ok.any() else np.nan
    k = int(ok.sum())
    tau2 = tau2_funnel = 0.0
    if k >= 3:
        z = (y[ok] - y0) / se[ok]
        denom = w.sum() - (w ** 2).sum() / w.sum()
        tau2 = max(0.0, float(((z ** 2).sum() - (k - 1)) / denom))
        zw = z.clip(z.quantile(0.1), z.quantile(0.9))
        # winsorising shrinks E[z²]; rescale by its value for a standard normal so that the
        # funnel keeps its nominal false-alarm rate
        a = stats.norm.ppf(0.9)
        c = (2 * stats.norm.cdf(a) - 1) - 2 * a * stats.norm.pdf(a) + a * a * 0.2
        tau2_funnel = max(0.0, float(((zw - zw.mean()) ** 2).sum() / c - (k - 1)) / denom)
    b = tau2 / (tau2 + se ** 2)
    est = y0 + b * (y - y0)
    post_sd = np.sqrt(b) * se
    zq = stats.norm.ppf(0.5 + level / 2)
    z_out = (y - y0) / np.sqrt(se ** 2 + tau2_funnel)
    out = pd.DataFrame({"estimate": est, "lo": est - zq * post_sd, "hi": est + zq * post_sd, "z": z_out,
                        "outlier": z_out.abs() > stats.norm.ppf(0.5 + funnel_level / 2)}, index=y.index)
    out.attrs.update(y0=y0, tau=float(np.sqrt(tau2)), tau_funnel=float(np.sqrt(tau2_funnel)))
    return out


def score_agents(contacts: pd.DataFrame, *, agent: str = "agent_id", outcome: str = "outcome",
                 handle_time: str = "handle_time_s", channel: str = "channel", score: str | None = "score",
                 resolved: tuple[str, ...] = ("resolved",),
                 judged: tuple[str, ...] = ("resolved", "unresolved", "transferred"),
                 min_contacts: int = 30, level: float = 0.95, spark=None) -> pd.DataFrame:
    """One row per agent with at least ``min_contacts`` contacts: ``contacts`` and, per
    metric (``fcr``, ``aht_s``, ``csat``), the raw value, the shrunk estimate with its
    interval, the number it rests on and an outlier flag in the worse direction
    (lower FCR and CSAT, longer handle time). ``outlier`` is True when any metric is.

    FCR is the share of contacts with a judged outcome that were resolved. Handle time is
    adjusted for channel mix: each contact's time over its channel's mean, averaged per
    agent, times the overall mean. CSAT is the mean touchpoint score linked to the contact
    (see :func:`cxlib.actions.contacts.link_touchpoint_scores`). The sums per agent are one SQL
    query (in DuckDB, or on ``spark`` when given); only a row per agent comes back."""
    a = _agent_sums(contacts, agent=agent, outcome=outcome, handle_time=handle_time, channel=channel, score=score,
                    resolved=resolved, judged=judged, min_contacts=min_contacts, spark=spark)
    keep = pd.Index(a["agent"], name=agent)
    a = a.set_index(keep)
    out = pd.DataFrame({"contacts": a["contacts"].astype(int)})
    metrics = []
    if len(a) and a["fcr_m"].sum() > 0:
        k, m = a["fcr_k"].fillna(0).astype(float), a["fcr_m"].fillna(0).astype(float)
        p0 = k.sum() / m.sum()
        metrics.append(("fcr", k / m, np.sqrt(p0 * (1 - p0) / m.where(m > 0)), m, -1))
    if len(a) and a["n_ht"].iat[0] > 0:
        mean_ht, sd = float(a["mean_ht"].iat[0]), float(a["aht_sd"].iat[0])
        m = a["aht_m"].fillna(0).astype(float)
        y = a["aht_ratio"].astype(float) * mean_ht
        metrics.append(("aht_s", y, sd * mean_ht / np.sqrt(m.where(m > 0)), m, +1))
    if len(a) and a["n_score"].iat[0] > 0:
        sd = float(a["csat_sd"].iat[0])
        m = a["csat_m"].fillna(0).astype(float)
        metrics.append(("csat", a["csat_y"].astype(float), sd / np.sqrt(m.where(m >= 5)), m, -1))
    for name, y, se, m, worse in metrics:
        sh = shrink_toward_mean(y, se, level=level)
        out[name] = y
        out[f"{name}_n"] = m.astype(int)
        out[f"{name}_shrunk"] = sh["estimate"]
        out[f"{name}_lo"] = sh["lo"]
        out[f"{name}_hi"] = sh["hi"]
        out[f"{name}_team"] = sh.attrs["y0"]
        out[f"{name}_outlier"] = sh["outlier"] & (np.sign(sh["z"]) == worse)
        # the funnel's shape: a standard error of unit / sqrt(n), widened by the spread between agents
        out.attrs.setdefault("funnel", {})[name] = {
            "team": sh.attrs["y0"], "unit_sd": float((se * np.sqrt(m)).median()), "tau": sh.attrs["tau_funnel"],
            "z": float(stats.norm.ppf(0.5 + FUNNEL_LEVEL / 2))}
    flags = [f"{name}_outlier" for name, *_ in metrics]
    out["outlier"] = out[flags].any(axis=1) if flags else False
    out.attrs["metrics"] = [name for name, *_ in metrics]
    return out.rename_axis("agent_id")


def _agent_sums(contacts: pd.DataFrame, *, agent: str, outcome: str, handle_time: str, channel: str,
                score: str | None, resolved: tuple[str, ...], judged: tuple[str, ...], min_contacts: int,
                spark=None) -> pd.DataFrame:
    """One row per agent with at least ``min_contacts`` contacts, in agent order: ``contacts``;
    judged and resolved contacts (``fcr_m``, ``fcr_k``); handle time as the mean of each contact's
    time over its channel's mean (``aht_ratio``, of ``aht_m`` contacts with a positive time); the
    mean score (``csat_y``, of ``csat_m``). Over all these agents' contacts, repeated on every row:
    ``mean_ht``, the spread of the ratios and scores within agents (``aht_sd``, ``csat_sd``) and
    how many contacts have a handle time or a score at all (``n_ht``, ``n_score``)."""
    present = list(contacts.columns)

    def col(name):
        return f'"{name}"' if name and name in present else "CAST(NULL AS DOUBLE)"

    def text(name):
        return f'"{name}"' if name and name in present else "CAST(NULL AS VARCHAR)"

    def values(xs):
        return ", ".join(sql_literal(x) for x in xs) or "NULL"
    c = select_columns(contacts, [x for x in (agent, outcome, handle_time, channel, score) if x and x in present])
    c = on_engine(c, spark)
    return query_frames(f"""
        WITH c AS (SELECT "{agent}" AS agent, {text(outcome)} AS outcome, CAST({col(handle_time)} AS DOUBLE) AS ht,
                          {text(channel)} AS channel, CAST({col(score)} AS DOUBLE) AS score
                   FROM contacts WHERE "{agent}" IS NOT NULL),
        n AS (SELECT agent, count(*) AS contacts FROM c GROUP BY agent),
        k AS (SELECT c.* FROM c JOIN n ON c.agent = n.agent WHERE n.contacts >= {int(min_contacts)}),
        f AS (SELECT agent, count(*) AS fcr_m, sum(CASE WHEN outcome IN ({values(resolved)}) THEN 1 ELSE 0 END) AS fcr_k
              FROM k WHERE outcome IN ({values(judged)}) GROUP BY agent),
        h AS (SELECT agent, ht, ratio, ratio - avg(ratio) OVER (PARTITION BY agent) AS dev
              FROM (SELECT agent, ht, CASE WHEN channel IS NOT NULL
                                           THEN ht / avg(ht) OVER (PARTITION BY channel) END AS ratio
                    FROM k WHERE ht > 0) r),
        ha AS (SELECT agent, avg(ratio) AS aht_ratio, count(*) AS aht_m FROM h GROUP BY agent),
        s AS (SELECT agent, score, score - avg(score) OVER (PARTITION BY agent) AS dev FROM k WHERE score IS NOT NULL),
        sa AS (SELECT agent, avg(score) AS csat_y, count(*) AS csat_m FROM s GROUP BY agent),
        g AS (SELECT (SELECT avg(ht) FROM h) AS mean_ht, (SELECT stddev_samp(dev) FROM h) AS aht_sd,
                     (SELECT stddev_samp(dev) FROM s) AS csat_sd, (SELECT count(ht) FROM k) AS n_ht,
                     (SELECT count(score) FROM k) AS n_score)
        SELECT n.agent, n.contacts, f.fcr_m, f.fcr_k, ha.aht_ratio, ha.aht_m, sa.csat_y, sa.csat_m, g.*
        FROM n LEFT JOIN f ON n.agent = f.agent LEFT JOIN ha ON n.agent = ha.agent LEFT JOIN sa ON n.agent = sa.agent
             CROSS JOIN g
        WHERE n.contacts >= {int(min_contacts)} ORDER BY n.agent""", contacts=c)


def count_caused_repeats(contacts, *, agent: str = "agent_id", cause: str = "avoidable_cause",
                         follows: str = "follows", cost: str = "contact_cost", per_year: float = 1.0) -> pd.DataFrame:
    """Per agent: repeat contacts that followed their contacts (``follows`` points at the
    contact a repeat came back about: its index label in pandas, its ``pos`` in a table of
    :func:`cxlib.actions.contacts.classify_avoidable_contacts`), the number expected at the team
    rate, the excess and its yearly cost with an exact Poisson interval on the observed count.
    Counted where ``contacts`` lives; a row per agent comes back."""
    present = list(contacts.columns)
    t = contacts.assign(pos=contacts.index) if isinstance(contacts, pd.DataFrame) else contacts
    t = select_columns(t, ["pos", agent, cause, follows, *([cost] if cost in present else [])])
    paid = f'"{cost}"' if cost in present else "CAST(NULL AS DOUBLE)"
    g = query_frames(f"""
        WITH rep AS (SELECT "{follows}" AS follows, {paid} AS cost FROM c
                     WHERE "{cause}" = 'repeat' AND "{follows}" IS NOT NULL),
        n AS (SELECT "{agent}" AS agent, count(*) AS n FROM c WHERE "{agent}" IS NOT NULL GROUP BY "{agent}"),
        caused AS (SELECT o."{agent}" AS agent, count(*) AS k FROM rep JOIN c o ON o.pos = rep.follows
                   GROUP BY o."{agent}")
        SELECT n.agent, n.n, coalesce(caused.k, 0) AS caused, (SELECT avg(cost) FROM rep) AS unit,
               (SELECT count(*) FROM rep) AS repeats
        FROM n LEFT JOIN caused ON caused.agent = n.agent ORDER BY n.agent""", c=t)
    n = pd.Series(g["n"].to_numpy(), index=pd.Index(g["agent"], name=agent))
    caused = pd.Series(g["caused"].to_numpy(dtype=float), index=n.index)
    rate = caused.sum() / n.sum() if n.sum() else 0.0
    repeats = int(g["repeats"].iat[0]) if len(g) else 0
    unit = float(g["unit"].iat[0]) * per_year if cost in present and repeats else 0.0
    expected = n * rate
    ci = [poisson_rate_interval(k, 1.0) for k in caused]
    out = pd.DataFrame({"contacts": n, "caused": caused.astype(int), "expected": expected,
                        "excess": caused - expected}, index=n.index)
    out["excess_cost"] = out["excess"] * unit
    out["excess_cost_lo"] = (np.array([c[0] for c in ci]) - expected) * unit
    out["excess_cost_hi"] = (np.array([c[1] for c in ci]) - expected) * unit
    return out.rename_axis("agent_id")
