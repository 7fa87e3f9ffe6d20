"""The contact cascade's first two steps: avoidable agent contacts and self-service fit.

An agent contact is *avoidable* when the customer should not have needed it:

* ``repeat``: the same reason again within the window after an agent contact that left it
  unresolved, or a touchpoint a journey already had (the fault reported a second time);
* ``status_chasing``: "where is my ..." contacts (reason or touchpoint matches a pattern);
* ``failure_demand``: a contact within the window after a known failure (a failed visit,
  an incorrect bill) that is not the trigger of the journey handling it;
* a configured rule per contact reason (for what the data cannot show by itself).

Each avoidable contact gets the root cause it points to and the event it follows, so
costs can be added up per root cause, per journey and per agent. The first matching cause
wins, in the order above.

Self-service fit is measured per contact reason × segment: how often a self-service
attempt for the reason succeeds without an agent (containment), how complex the reason is
for agents, and how satisfied customers are in each channel.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from cxlib.journeys.reconstruct import UNCLASSIFIED
from cxlib.ingest.semantics import flag_customer_contacts
from cxlib.core.schema import AGENT_CHANNELS, SELF_SERVICE_CHANNELS
from cxlib.core.uncertainty import poisson_rate_interval, wilson_interval

CAUSES = ("repeat", "status_chasing", "failure_demand")
STATUS_PATTERN = r"status|where is|chasing|progress"


def flag_agent_contacts(events: pd.DataFrame, *, agent: str = "agent_id", channel: str = "channel",
                        kind: str = "kind", initiated_by: str = "initiated_by") -> pd.Series:
    """True for the customer's contacts a person handled: rows with an agent id when the
    source records agents at all, else rows on an agent channel (call, chat, e-mail, store,
    social). When the events say what they are (``kind``), only contacts count: a work step
    with a resource, a notification or a bill is not a customer's contact; when they say who
    started them (``initiated_by``), a contact the company or a system started (an outbound
    call) does not count either."""
    if agent in events and events[agent].notna().any():
        flag = events[agent].notna()
    else:
        flag = events[channel].isin(AGENT_CHANNELS)
    flag &= flag_customer_contacts(events, kind=kind, initiated_by=initiated_by)
    return flag.rename("agent_contact")


def link_journeys(events: pd.DataFrame, steps: pd.DataFrame | None, *, customer_id: str = "customer_id",
                  timestamp: str = "timestamp", touchpoint: str = "touchpoint") -> pd.DataFrame:
    """``events`` with the journey each event belongs to (``journey_id``, ``journey_type``,
    ``step``, ``rework``, ``failed_step``) from the step table of
    :func:`cxlib.journeys.reconstruct_journeys`. When these are the events the steps were built
    from, each step's ``event_row`` points at its event (checked: customer, time and touchpoint
    must agree on every row). Otherwise events are matched on customer, time and touchpoint (and
    their order among exact ties). Events without a step keep nulls."""
    cols = ["journey_id", "journey_type", "step", "rework", "failed_step"]
    out = events.copy()
    if steps is None or not len(steps):
        for c in cols:
            out[c] = None
        return out
    key = [customer_id, timestamp, touchpoint]
    rows = _event_rows(events, steps, key)
    if rows is not None:   # the events the steps came from: one positional take, no key join
        at = np.full(len(events), -1, dtype=np.int64)
        at[rows] = np.arange(len(steps))
        found = at >= 0
        for c in cols:
            v = steps[c].to_numpy()[np.where(found, at, 0)]
            out[c] = pd.Series(v, index=events.index).where(found, None) if not found.all() else v
        return out
    left = events[key].copy()
    left["_pos"] = np.arange(len(events))
    left["_tie"] = left.groupby(key, dropna=False).cumcount()
    right = steps.sort_values("eid")[[*key, *cols]].copy()
    right["_tie"] = right.groupby(key, dropna=False).cumcount()
    m = left.merge(right, on=[*key, "_tie"], how="left").sort_values("_pos")
    for c in cols:
        out[c] = m[c].to_numpy()
    return out


def _event_rows(events: pd.DataFrame, steps: pd.DataFrame, key: list[str]) -> np.ndarray | None:
    """The positions in ``events`` of the steps' events, when ``event_row`` says so and every
    step's customer, time and touchpoint equal its event's; else None."""
    if "event_row" not in steps:
        return None
    rows = steps["event_row"].to_numpy()
    if len(rows) > len(events) or rows.min() < 0 or rows.max() >= len(events):
        return None
    seen = np.zeros(len(events), dtype=bool)
    seen[rows] = True
    if seen.sum() != len(rows):   # an event taken twice: not rows of these events
        return None
    for c in key:
        a, b = events[c].iloc[rows].reset_index(drop=True), steps[c].reset_index(drop=True)
        try:
            same = a.eq(b) | (a.isna() & b.isna())
        except TypeError:   # not comparable (a time zone on one side only): not the same events
            return None
        if not same.all():
            return None
    return rows


def price_contacts(events: pd.DataFrame, cost_per_contact: Mapping[str, float], *, channel: str = "channel",
                   cost: str = "cost") -> pd.Series:
    """Cost of each event: the source's own ``cost`` where it has one, else the configured
    cost of its channel (NaN when neither is known)."""
    by_channel = events[channel].map(dict(cost_per_contact)).astype(float)
    if cost in events:
        return pd.to_numeric(events[cost], errors="coerce").fillna(by_channel).rename("contact_cost")
    return by_channel.rename("contact_cost")


def classify_avoidable_contacts(events: pd.DataFrame, *, window_days: float = 7,
                                failure_outcomes: Iterable[str] = ("failed", "incorrect"),
                                unresolved_outcomes: Iterable[str] = ("unresolved",),
                                status_pattern: str = STATUS_PATTERN, rules: Iterable[Mapping] = (),
                                repeat_rule: str = "unresolved", failure_touchpoints: Iterable[str] = (),
                                agent_contact: str = "agent_contact", customer_id: str = "customer_id",
                                timestamp: str = "timestamp", reason: str = "contact_reason",
                                touchpoint: str = "touchpoint", outcome: str = "outcome",
                                journey_id: str = "journey_id", journey_type: str = "journey_type",
                                step: str = "step", rework: str = "rework") -> pd.DataFrame:
    """Classify every agent contact in ``events`` as avoidable or not.

    ``events`` holds all events (self-service and failures matter too) with a boolean
    ``agent_contact`` column and, optionally, the journey columns of :func:`link_journeys`.
    ``rules`` are mappings with ``reason`` and ``cause`` and optional ``touchpoint``,
    ``journey`` and ``root_cause``. Returns one row per agent contact (indexed like
    ``events``) with ``avoidable_cause`` (null when not avoidable), ``root_cause`` and
    ``follows`` (index label of the event it follows, where there is one).

    ``repeat_rule`` says when the same reason again within the window is a repeat:
    ``"unresolved"`` (after an agent contact whose outcome is in ``unresolved_outcomes``) or
    ``"same_reason"`` (after any agent contact about it: for extracts without outcomes, or
    where any second contact counts as failure to resolve).
    """
    if repeat_rule not in ("unresolved", "same_reason"):
        raise ValueError(f"repeat_rule must be 'unresolved' or 'same_reason', not {repeat_rule!r}")
    used = [c for c in dict.fromkeys((customer_id, timestamp, agent_contact, reason, touchpoint, outcome, journey_id,
                                      journey_type, step, rework)) if c in events]
    ev = events[used].take(_customer_time_order(events, customer_id, timestamp))   # only the columns used
    is_agent = ev[agent_contact].astype(bool)
    t = pd.to_datetime(ev[timestamp])
    window = pd.Timedelta(days=window_days)
    n = len(ev)
    cause = np.full(n, None, dtype=object)
    root = np.full(n, None, dtype=object)
    follows = np.full(n, None, dtype=object)
    has_journey = journey_id in ev and ev[journey_id].notna().any()
    jtype = ev[journey_type].astype(object).where(ev[journey_type].notna(), None) if journey_type in ev \
        else pd.Series(None, index=ev.index, dtype=object)
    typed = jtype.notna() & jtype.ne(UNCLASSIFIED)

    def assign(mask: np.ndarray, label, why, prior=None):
        """Label the agent contacts in ``mask`` not labelled yet; ``why`` is the root cause, or
        a function giving it for the rows labelled (text is built for those rows only)."""
        free = mask & is_agent.to_numpy() & pd.isna(cause)
        if not free.any():
            return
        cause[free] = label if np.ndim(label) == 0 else np.asarray(label, dtype=object)[free]
        root[free] = why(np.flatnonzero(free)) if callable(why) else \
            (np.asarray(why, dtype=object)[free] if np.ndim(why) else why)
        if prior is not None:
            follows[free] = np.asarray(prior, dtype=object)[free]

    # 1a. repeat: same reason again within the window after an agent contact that left it unresolved
    # (or, with repeat_rule "same_reason", after any agent contact about it)
    by_reason_only = repeat_rule == "same_reason"
    if reason in ev and (outcome in ev or by_reason_only):
        a = ev[is_agent & ev[reason].notna()]
        g = a.groupby([customer_id, reason], sort=False)
        prev_t = g[timestamp].shift()
        prev_out = g[outcome].shift() if outcome in a else pd.Series(None, index=a.index, dtype=object)
        prev_idx = pd.Series(a.index, index=a.index).groupby([a[customer_id], a[reason]], sort=False).shift()
        hit = (pd.to_datetime(a[timestamp]) - pd.to_datetime(prev_t)) <= window
        if not by_reason_only:
            hit &= prev_out.isin(list(unresolved_outcomes))
        mask = ev.index.isin(a.index[hit.to_numpy()])
        prefix = "repeated " if by_reason_only else "unresolved "
        prior = pd.Series(prev_idx, index=a.index).reindex(ev.index).to_numpy()
        assign(mask, "repeat", lambda rows: (prefix + ev[reason].iloc[rows].astype(str)).to_numpy(), prior)
    # 1b. repeat: a touchpoint the journey already had (rework), in a typed journey
    if has_journey and rework in ev:
        again = ev[rework].fillna(False).astype(bool) & typed
        tj = ev[typed.to_numpy()]     # a journey's steps are all of its type: the typed rows hold every group
        prior = pd.Series(tj.index, index=tj.index).groupby([tj[journey_id], tj[touchpoint]], sort=False).shift() \
            .reindex(ev.index)
        assign(again.to_numpy(), "repeat", lambda rows: (ev[touchpoint].iloc[rows].astype(str) + " repeated in "
                                                         + jtype.iloc[rows].astype(str)).to_numpy(), prior.to_numpy())
    # 2. status chasing
    text = ev[touchpoint].astype(str)
    if reason in ev:
        text = text + " | " + ev[reason].fillna("").astype(str)
    chasing = text.str.contains(status_pattern, case=False, regex=True).to_numpy()
    other = ev[reason] if reason in ev else ev[touchpoint]

    def no_update(rows):
        about = np.where(typed.iloc[rows], jtype.iloc[rows].astype(str), other.iloc[rows].astype(str))
        return np.char.add("no update on ", about.astype(str))
    assign(chasing, "status_chasing", no_update)
    # 3. failure demand: after a failure event (a failure outcome or a failure touchpoint; not a
    # journey's trigger) within the window
    if outcome in ev or failure_touchpoints:
        fail = ev[outcome].isin(list(failure_outcomes)) if outcome in ev else pd.Series(False, index=ev.index)
        fail |= ev[touchpoint].isin(list(failure_touchpoints))
        if has_journey and step in ev:
            fail &= ~(typed & (pd.to_numeric(ev[step], errors="coerce") == 1))
        failed_as = ev[outcome].where(ev[outcome].isin(list(failure_outcomes))) if outcome in ev \
            else pd.Series(None, index=ev.index, dtype=object)
        why = ev[touchpoint].astype(str) + (" " + failed_as.astype("string")).fillna("")
        f = pd.DataFrame({"_t": t[fail], "_c": ev.loc[fail, customer_id].astype(str), "_why": why[fail],
                          "_idx": ev.index[fail]}).sort_values("_t")
        ag = np.flatnonzero(is_agent.to_numpy())      # only agent contacts can be failure demand
        q = pd.DataFrame({"_t": t.iloc[ag], "_c": ev[customer_id].iloc[ag].astype(str), "_pos": ag}).sort_values("_t")
        if len(f) and len(q):
            m = pd.merge_asof(q, f, on="_t", by="_c", direction="backward", tolerance=window,
                              allow_exact_matches=False).sort_values("_pos")
            whys, after = np.full(n, None, dtype=object), np.full(n, None, dtype=object)
            whys[ag], after[ag] = m["_why"].to_numpy(dtype=object), m["_idx"].to_numpy()
            assign(pd.notna(after), "failure_demand", whys, after)
    # 4. configured rules per contact reason
    for rule in rules:
        mask = ev[reason].eq(rule["reason"]) if reason in ev else pd.Series(False, index=ev.index)
        if rule.get("touchpoint"):
            mask &= ev[touchpoint].eq(rule["touchpoint"])
        if rule.get("journey"):
            mask &= jtype.eq(rule["journey"])
        assign(mask.to_numpy(), rule["cause"], rule.get("root_cause") or f"{rule['reason']} (rule)")
    agent = is_agent.to_numpy()
    out = pd.DataFrame({"avoidable_cause": cause[agent], "root_cause": root[agent], "follows": follows[agent]},
                       index=ev.index[agent])
    return out.reindex(events.index[events[agent_contact].astype(bool).to_numpy()])


def _customer_time_order(events: pd.DataFrame, customer_id: str, timestamp: str) -> np.ndarray:
    """Positions that sort ``events`` by customer, then time, then their order (missing last),
    as a stable ``sort_values`` does, without moving the other columns."""
    try:
        codes, _ = pd.factorize(events[customer_id], sort=True)
    except TypeError:     # ids of mixed types: let pandas order them
        return events.reset_index(drop=True).sort_values([customer_id, timestamp], kind="stable").index.to_numpy()
    codes = np.where(codes < 0, len(codes), codes)
    t = pd.to_datetime(events[timestamp], utc=True)
    ti = np.where(t.isna().to_numpy(), np.iinfo(np.int64).max,
                  t.dt.tz_convert(None).to_numpy(dtype="datetime64[ns]", na_value=np.datetime64(0, "ns")).view("int64"))
    return np.lexsort((ti, codes))


def summarize_avoidable(contacts: pd.DataFrame, *, by: str | list[str] | None = None, per_year: float = 1.0,
                        cause: str = "avoidable_cause", cost: str = "contact_cost") -> pd.DataFrame:
    """Avoidable agent contacts overall (``by`` None) or per group with any: the group's
    ``contacts``, the ``avoidable`` ones, their ``share`` of the group and ``share_all`` of
    all agent contacts (Wilson intervals), and their ``cost_per_year`` with an exact Poisson
    interval on the count (scaled by the group's mean avoidable contact cost)."""
    avoid = contacts[cause].notna()
    c = contacts.assign(_avoid=avoid, _cost=contacts[cost].where(avoid, 0.0).fillna(0.0) if cost in contacts else 0.0)
    total = len(c)
    groups = [((), c)] if by is None else list(c.groupby(by, sort=False))
    names = [] if by is None else ([by] if isinstance(by, str) else list(by))
    rows = []
    for key, g in groups:
        k, n = int(g["_avoid"].sum()), len(g)
        if by is not None and k == 0:
            continue
        lo, hi = wilson_interval(k, n)
        lo_all, hi_all = wilson_interval(k, total)
        yearly = float(g["_cost"].sum()) * per_year
        c_lo, c_hi = poisson_rate_interval(k, 1.0)
        unit = yearly / k if k else 0.0
        rows.append({**dict(zip(names, key if isinstance(key, tuple) else (key,))),
                     "contacts": n, "avoidable": k, "share": k / n if n else np.nan, "share_lo": lo, "share_hi": hi,
                     "share_all": k / total if total else np.nan, "share_all_lo": lo_all, "share_all_hi": hi_all,
                     "cost_per_year": yearly, "cost_lo": c_lo * unit, "cost_hi": c_hi * unit})
    out = pd.DataFrame(rows, columns=[*names, "contacts", "avoidable", "share", "share_lo", "share_hi", "share_all",
                                      "share_all_lo", "share_all_hi", "cost_per_year", "cost_lo", "cost_hi"])
    return out.sort_values("cost_per_year", ascending=False).reset_index(drop=True) if by is not None else out


def link_touchpoint_scores(events: pd.DataFrame, surveys: pd.DataFrame | None, *, within_days: float = 3,
                           customer_id: str = "customer_id", timestamp: str = "timestamp",
                           touchpoint: str = "touchpoint", metric: str | None = None) -> pd.Series:
    """The touchpoint survey score each event received: the customer's first touchpoint
    rating of the same touchpoint within ``within_days`` after it (NaN when none). With
    ``metric`` only ratings of that metric count; otherwise the most common metric is used."""
    out = pd.Series(np.nan, index=events.index, name="score")
    if surveys is None or not len(surveys):
        return out
    s = surveys[(surveys["level"] == "touchpoint") & surveys["score"].notna() & surveys["subject"].notna()]
    if not len(s):
        return out
    metric = metric or s["metric"].mode().iat[0]
    s = s[s["metric"] == metric]
    key = lambda c, tp: c.astype(str) + "\x1f" + tp.astype(str)  # noqa: E731
    r = pd.DataFrame({"_t": pd.to_datetime(s["timestamp"]), "_k": key(s["customer_id"], s["subject"]),
                      "score": s["score"].astype(float)}).sort_values("_t")
    pos = np.arange(len(events))
    if events[customer_id].dtype == s["customer_id"].dtype and events[touchpoint].dtype == s["subject"].dtype:
        # only events of a rated customer at a rated touchpoint can have a score: the rest stay NaN
        pos = np.flatnonzero((events[customer_id].isin(s["customer_id"].unique())
                              & events[touchpoint].isin(s["subject"].unique())).to_numpy())
    ev = events.iloc[pos]
    q = pd.DataFrame({"_t": pd.to_datetime(ev[timestamp]), "_k": key(ev[customer_id], ev[touchpoint]),
                      "_pos": pos}).sort_values("_t")
    m = pd.merge_asof(q, r, on="_t", by="_k", direction="forward", tolerance=pd.Timedelta(days=within_days))
    m = m.sort_values("_pos")
    values = out.to_numpy(copy=True)
    values[m["_pos"].to_numpy()] = m["score"].to_numpy()
    return pd.Series(values, index=events.index, name="score")


def measure_self_service(events: pd.DataFrame, *, segment: str | None = "segment", containment_days: float = 3,
                         per_year: float = 1.0, min_attempts: int = 30, agent_contact: str = "agent_contact",
                         customer_id: str = "customer_id", timestamp: str = "timestamp",
                         channel: str = "channel", reason: str = "contact_reason",
                         handle_time: str = "handle_time_s", outcome: str = "outcome",
                         score: str | None = "score", cost: str = "contact_cost") -> pd.DataFrame:
    """Self-service fit per contact reason × segment (``segment`` is a column of ``events``).

    * ``attempts``: self-service events (IVR, web, app) with the reason; ``containment``:
      the share not followed by an agent contact about the same reason within
      ``containment_days`` (Wilson interval ``containment_lo/hi``);
    * ``agent_contacts`` (per year) about the reason, their ``complexity`` (mean handle time
      over the mean of all agent contacts) and ``not_resolved`` share;
    * ``score_self`` and ``score_assisted``: mean touchpoint score in each (NaN when unrated);
    * ``fit`` = containment × min(1, 1 / complexity) × a satisfaction penalty when
      self-service scores lower (by the gap as a share of the scale's observed range);
    * ``movable`` agent contacts per year (× containment, with its interval) and the
      ``saving`` per year at the channels' cost difference.

    Only groups with at least ``min_attempts`` self-service attempts are scored."""
    ev = events.copy()
    ev["_seg"] = ev[segment].fillna("(none)").astype(str) if segment and segment in ev else "all"
    is_agent = ev[agent_contact].astype(bool)
    ss = ev[ev[channel].isin(SELF_SERVICE_CHANNELS) & ev[reason].notna()]
    ag = ev[is_agent & ev[reason].notna()]
    cols = ["contact_reason", "segment", "attempts", "containment", "containment_lo", "containment_hi",
            "agent_contacts", "complexity", "not_resolved", "score_self", "score_assisted", "fit",
            "movable", "movable_lo", "movable_hi", "saving", "saving_lo", "saving_hi"]
    if not len(ss) or not len(ag):
        return pd.DataFrame(columns=cols)
    key = lambda f: f[customer_id].astype(str) + "\x1f" + f[reason].astype(str)  # noqa: E731
    q = pd.DataFrame({"_t": pd.to_datetime(ss[timestamp]), "_k": key(ss), "_pos": np.arange(len(ss))}).sort_values("_t")
    r = pd.DataFrame({"_t": pd.to_datetime(ag[timestamp]), "_k": key(ag), "_hit": True}).sort_values("_t")
    m = pd.merge_asof(q, r, on="_t", by="_k", direction="forward", tolerance=pd.Timedelta(days=containment_days),
                      allow_exact_matches=True).sort_values("_pos")
    ss = ss.assign(_contained=m["_hit"].isna().to_numpy())
    ht = pd.to_numeric(ag[handle_time], errors="coerce") if handle_time in ag else pd.Series(np.nan, index=ag.index)
    mean_ht = float(ht.mean()) if ht.notna().any() else np.nan
    sc = score if score and score in ev else None
    span = float(ev[sc].max() - ev[sc].min()) if sc and ev[sc].notna().any() else np.nan
    rows = []
    for (rsn, seg), g in ss.groupby([reason, "_seg"]):
        if len(g) < min_attempts:
            continue
        a = ag[(ag[reason] == rsn) & (ag["_seg"] == seg)]
        k, n = int(g["_contained"].sum()), len(g)
        p = k / n
        lo, hi = wilson_interval(k, n)
        cx = float(ht.loc[a.index].mean() / mean_ht) if len(a) and ht.loc[a.index].notna().any() else np.nan
        unres = float(a[outcome].isin(["unresolved", "transferred"]).mean()) if outcome in a and len(a) else np.nan
        s_self = float(g[sc].mean()) if sc else np.nan
        s_ass = float(a[sc].mean()) if sc and len(a) else np.nan
        penalty = 1.0 if np.isnan(s_self) or np.isnan(s_ass) or not span else min(1.0, 1 + (s_self - s_ass) / span)
        fit = p * (min(1.0, 1 / cx) if cx and not np.isnan(cx) else 1.0) * max(penalty, 0.0)
        vol = len(a) * per_year
        unit = (float(a[cost].mean()) - float(g[cost].mean())) if cost in ev and len(a) else np.nan
        rows.append({"contact_reason": rsn, "segment": seg, "attempts": n, "containment": p, "containment_lo": lo,
                     "containment_hi": hi, "agent_contacts": vol, "complexity": cx, "not_resolved": unres,
                     "score_self": s_self, "score_assisted": s_ass, "fit": fit, "movable": vol * p,
                     "movable_lo": vol * lo, "movable_hi": vol * hi, "saving": vol * p * unit,
                     "saving_lo": vol * lo * unit, "saving_hi": vol * hi * unit})
    return pd.DataFrame(rows, columns=cols).sort_values("saving", ascending=False).reset_index(drop=True)
