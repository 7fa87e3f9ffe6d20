"""All of cxlib's figures, in one house style.

Every function takes ``ax=`` (a new figure is made when it is None), draws one
figure with a title, labelled axes and units, and returns the ``ax``.
"""
from __future__ import annotations

import matplotlib

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import matplotlib.ticker as mticker
import numpy as np
import pandas as pd
import seaborn as sns

from cxlib.core.formatting import humanize

PALETTE = ["#1f4e79", "#c0504d", "#9bbb59", "#8064a2", "#4bacc6", "#f79646", "#7f7f7f", "#2c7f6f", "#b8860b"]
GOOD, BAD, NEUTRAL = "#2c7f6f", "#c0504d", "#7f7f7f"


def set_house_style() -> None:
    """Apply the house style to every later figure. Text is never parsed as maths: a client's
    label with ``$`` signs draws as written."""
    sns.set_theme(context="notebook", style="whitegrid", palette=PALETTE, font_scale=0.95)
    matplotlib.rcParams.update({
        "figure.figsize": (8, 4), "figure.dpi": 100, "savefig.dpi": 120, "savefig.bbox": "tight",
        "axes.titleweight": "bold", "axes.titlelocation": "left", "axes.spines.top": False,
        "axes.spines.right": False, "legend.frameon": False,
        # labels are client text drawn as written: "Fee $100^$" is not TeX, "$5 or $10" keeps its $
        "text.parse_math": False, "text.usetex": False,
    })


def _ax(ax):
    if ax is None:
        _, ax = plt.subplots()
    return ax


def _thousands(ax, axis="x"):
    fmt = mticker.FuncFormatter(lambda v, _: f"{v:,.0f}")
    (ax.xaxis if axis == "x" else ax.yaxis).set_major_formatter(fmt)


def plot_row_accounting(accounting: pd.DataFrame, ax=None):
    """Loaded and quarantined rows per table (``accounting`` has table index and
    'loaded' and 'quarantined' columns), shares labelled."""
    ax = _ax(ax)
    data = accounting[["loaded", "quarantined"]].astype(float)
    total = data.sum(axis=1)
    ax.barh(data.index, data["loaded"], color=GOOD, label="loaded")
    ax.barh(data.index, data["quarantined"], left=data["loaded"], color=BAD, label="quarantined")
    for i, (name, row) in enumerate(data.iterrows()):
        label = f"  {row['quarantined'] / total[name]:.2%} quarantined" if total[name] else "  no rows"
        ax.text(total[name], i, label, va="center", fontsize=9)
    ax.set_xlim(0, total.max() * 1.35)
    ax.set_title("Every input row is loaded or quarantined")
    ax.set_xlabel("rows")
    ax.set_ylabel("")
    _thousands(ax)
    ax.legend(loc="lower right")
    return ax


def plot_quarantine_reasons(quarantine: pd.DataFrame, ax=None):
    """Quarantined rows by reason, coloured by table."""
    ax = _ax(ax)
    counts = quarantine.groupby(["reason", "table"]).size().rename("rows").reset_index()
    counts = counts.sort_values("rows", ascending=False)
    sns.barplot(data=counts, y="reason", x="rows", hue="table", ax=ax, orient="h")
    ax.set_title("Why rows were quarantined")
    ax.set_xlabel("rows")
    ax.set_ylabel("")
    _thousands(ax)
    return ax


def plot_events_over_time(per: pd.DataFrame, ax=None, time_col: str = "timestamp",
                          channel_col: str = "channel", period: str = "week"):
    """Events per period by channel (``per``: one row per channel and period, as
    :func:`cxlib.ingest.profile.count_events_per_week` counts them)."""
    ax = _ax(ax)
    sns.lineplot(data=per, x=time_col, y="events", hue=channel_col, ax=ax, linewidth=1.2)
    ax.set_title(f"Events per {period} by channel")
    ax.set_xlabel("date (UTC)")
    ax.set_ylabel(f"events per {period}")
    _thousands(ax, "y")
    ax.legend(title="channel", bbox_to_anchor=(1.01, 1), loc="upper left")
    return ax


def plot_channel_mix(mix: pd.DataFrame, ax=None):
    """Share of events per channel (``mix`` from profile.summarize_channel_mix)."""
    ax = _ax(ax)
    ax.barh(mix.index[::-1], mix["share"][::-1], color=PALETTE[0])
    for i, (share, n) in enumerate(zip(mix["share"][::-1], mix["events"][::-1])):
        ax.text(share, i, f"  {share:.1%} ({n:,})", va="center", fontsize=9)
    ax.set_xlim(0, mix["share"].max() * 1.4)
    ax.xaxis.set_major_formatter(mticker.PercentFormatter(1.0))
    ax.set_title("Channel mix")
    ax.set_xlabel("share of events")
    return ax


def plot_events_per_customer(counts: pd.Series, ax=None):
    """Distribution of events per customer (log-scaled count axis)."""
    ax = _ax(ax)
    sns.histplot(counts, bins=50, ax=ax, color=PALETTE[0])
    ax.axvline(counts.median(), color=BAD, linestyle="--", label=f"median {counts.median():,.0f}")
    ax.set_yscale("log")
    ax.set_title("Events per customer")
    ax.set_xlabel("events per customer")
    ax.set_ylabel("customers (log scale)")
    ax.legend()
    return ax


def plot_score_distributions(surveys: pd.DataFrame, ax=None):
    """Score distribution per survey level and metric (share of rated responses)."""
    ax = _ax(ax)
    rated = surveys.dropna(subset=["score"])
    rated = rated.assign(survey=rated["level"] + " " + rated["metric"])
    share = (rated.groupby("survey")["score"].value_counts(normalize=True).rename("share").reset_index())
    sns.barplot(data=share, x="score", y="share", hue="survey", ax=ax)
    ax.yaxis.set_major_formatter(mticker.PercentFormatter(1.0))
    ax.set_title("Score distributions by survey")
    ax.set_xlabel("score")
    ax.set_ylabel("share of rated responses")
    return ax


# --------------------------------------------------------------------------- journeys

def _wrap(text: str, width: int = 16) -> str:
    """A tick label in words (the client's display name, else the raw name humanised), wrapped."""
    import textwrap
    text = humanize(text)
    return "\n".join(textwrap.wrap(text, width)) or text


def _dodge(x: pd.Series, lane: pd.Series, min_gap: float) -> pd.Series:
    """Vertical offsets that keep touchpoints of one lane apart when they happen at
    nearly the same time (alternating above and below the lane line)."""
    off = pd.Series(0.0, index=x.index)
    for _, idx in lane.groupby(lane).groups.items():
        xs = x.loc[idx].sort_values()
        k = 0
        for prev, cur in zip(xs.index[:-1], xs.index[1:]):
            k = k + 1 if xs[cur] - xs[prev] < min_gap else 0
            off[cur] = 0.0 if k == 0 else (0.28 if k % 2 else -0.28)
    return off


def plot_journey_map(stages: pd.DataFrame, dfg: pd.DataFrame | None = None, ax=None, *, title: str = "",
                     min_reach: float = 0.02, n_journeys: int | None = None):
    """A journey map: touchpoints in time order (x: median day since the journey started),
    one lane per department (y), marker size = share of journeys reaching the step.
    Grey arrows are the main directly-follows transitions, labelled with the median
    wait; red rings mark rework or repeat contacts, black crosses where journeys drop out,
    and a red dot where steps fail. ``stages`` comes from journey_stats.map_stages."""
    ax = _ax(ax)
    s = stages[stages["reach"] >= min_reach].reset_index(drop=True)
    if not len(s):
        ax.text(0.5, 0.5, "no touchpoints", ha="center", transform=ax.transAxes)
        return ax
    lanes = list(dict.fromkeys(s.sort_values("median_day")["department"]))
    y = s["department"].map({d: i for i, d in enumerate(lanes)}).astype(float)
    x = s["median_day"]
    y = y + _dodge(x, y, min_gap=0.03 * max(float(x.max() - x.min()), 1.0))
    for i in range(len(lanes)):
        ax.axhspan(i - 0.5, i + 0.5, color="#f2f2f2" if i % 2 else "white", zorder=0)
    pos = dict(zip(s["touchpoint"], zip(x, y)))
    if dfg is not None and len(dfg):
        e = dfg[dfg["source"].isin(pos) & dfg["target"].isin(pos) & (dfg["source"] != dfg["target"])]
        e = e[e["journeys"] >= 0.05 * e["journeys"].max()] if len(e) else e
        for _, r in e.iterrows():
            (x0, y0), (x1, y1) = pos[r["source"]], pos[r["target"]]
            w = 0.5 + 3 * r["journeys"] / e["journeys"].max()
            ax.annotate("", xy=(x1, y1), xytext=(x0, y0), zorder=1,
                        arrowprops=dict(arrowstyle="-|>", color=NEUTRAL, alpha=0.45, lw=w,
                                        shrinkA=7, shrinkB=7, connectionstyle="arc3,rad=0.12"))
            if r["journeys"] >= 0.3 * e["journeys"].max() and pd.notna(r.get("median_wait_days")) \
                    and r["median_wait_days"] >= 1:
                ax.text((x0 + x1) / 2, (y0 + y1) / 2 + 0.18, f"{r['median_wait_days']:.0f} d", fontsize=7,
                        color=NEUTRAL, ha="center", zorder=4)
    sizes = 40 + 360 * s["reach"]
    ax.scatter(x, y, s=sizes, color=PALETTE[0], alpha=0.85, zorder=3, edgecolor="white")
    trouble = s["rework"] + s["repeat_contacts"]
    if trouble.max() > 0:
        ax.scatter(x[trouble > 0], y[trouble > 0], s=sizes[trouble > 0] * 2.2, facecolor="none",
                   edgecolor=BAD, linewidth=1.5, zorder=2, label="rework or repeat contacts")
    if s["failed"].max() > 0:
        f = s["failed"] > 0
        ax.scatter(x[f], y[f] - 0.28, s=25, color=BAD, marker="o", zorder=4, label="failed steps (count)")
        for i in s.index[f]:
            ax.text(x[i], y[i] - 0.3, f"  {s.at[i, 'failed']:,}", color=BAD, fontsize=7, va="center", zorder=5)
    if s["dropouts"].max() > 0:
        d = s["dropouts"] > 0
        ax.scatter(x[d], y[d] + 0.3, s=20 + 200 * s["dropouts"][d] / s["dropouts"].max(), color="black",
                   marker="x", zorder=4, label="drop-outs")
    for i, r in s.iterrows():
        ax.annotate(_wrap(r["touchpoint"]), (x[i], y[i]), xytext=(0, 9 if i % 2 else -9),
                    textcoords="offset points", ha="center", va="bottom" if i % 2 else "top", fontsize=7, zorder=5)
    ax.set_yticks(range(len(lanes)), lanes)
    ax.set_ylim(len(lanes) - 0.5, -0.5)
    ax.set_xlabel("median days since the journey started")
    ax.set_title(title or "Journey map")
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        ax.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=3, fontsize=8)
    if n_journeys:
        ax.text(1.0, 1.01, f"n = {n_journeys:,} journeys; dot size = share reaching the step",
                transform=ax.transAxes, ha="right", va="bottom", fontsize=8, color=NEUTRAL)
    return ax


def plot_watermelon(catalogue: pd.DataFrame, ax=None, *, flags: pd.Series | None = None):
    """Per journey type: the share of green touchpoint ratings beside the share of green
    journey ratings, with 95% intervals; flagged types (watermelons) are marked."""
    ax = _ax(ax)
    c = catalogue.dropna(subset=["touchpoint_green_share", "journey_green_share"], how="all")
    idx = np.arange(len(c))
    for off, col, colour, label in ((-0.2, "touchpoint_green", GOOD, "touchpoint ratings green"),
                                    (0.2, "journey_green", PALETTE[0], "journey ratings green")):
        v = c[f"{col}_share"]
        err = np.vstack([v - c[f"{col}_ci_low"], c[f"{col}_ci_high"] - v]).clip(min=0)
        ax.barh(idx + off, v, height=0.38, color=colour, label=label, xerr=err, error_kw={"lw": 1, "capsize": 2})
    labels = []
    for jt in c.index:
        flag = flags is not None and bool(flags.get(jt, False))
        labels.append(f"{humanize(jt)}  ◆ watermelon" if flag else humanize(jt))
    ax.set_yticks(idx, labels)
    for t, jt in zip(ax.get_yticklabels(), c.index):
        if flags is not None and bool(flags.get(jt, False)):
            t.set_color(BAD)
            t.set_fontweight("bold")
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.xaxis.set_major_formatter(mticker.PercentFormatter(1.0))
    ax.set_xlabel("share of ratings at or above the green threshold (95% CI)")
    ax.set_title("Touchpoints green, journey red?")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=2)
    return ax


def plot_bimodality(hist: pd.Series, ax=None, *, antimode: float | None = None, title: str = "", n: int | None = None):
    """Distribution of journey scores (share per score) with the antimode that splits
    the two groups, when there is one."""
    ax = _ax(ax)
    colours = [BAD if antimode is not None and v < antimode else PALETTE[0] for v in hist.index]
    width = np.min(np.diff(hist.index)) * 0.8 if len(hist) > 1 else 0.8
    ax.bar(hist.index, hist.to_numpy(), width=width, color=colours)
    if antimode is not None:
        ax.axvline(antimode, color=NEUTRAL, linestyle="--", lw=1)
        ax.text(antimode, ax.get_ylim()[1] * 0.95, " split", color=NEUTRAL, fontsize=8, va="top")
    ax.yaxis.set_major_formatter(mticker.PercentFormatter(1.0))
    ax.set_xlabel("journey score")
    ax.set_ylabel("share of scores")
    ax.set_title(title or "Journey score distribution" + (f" (n = {n:,})" if n else ""))
    return ax


def plot_channel_switches(matrix: pd.DataFrame, ax=None, *, title: str = ""):
    """Heat map of the from-channel × to-channel share of consecutive steps."""
    ax = _ax(ax)
    sns.heatmap(matrix, annot=True, fmt=".0%", cmap="Blues", cbar=False, ax=ax, annot_kws={"fontsize": 7},
                vmin=0, vmax=1)
    ax.set_title(title or "Where customers go next: channel of the next step")
    ax.set_xlabel("to channel")
    ax.set_ylabel("from channel")
    return ax


def plot_variants(variants: pd.DataFrame, ax=None, *, top: int = 8, title: str = ""):
    """The top paths of one journey type: share of journeys, with the mean journey
    score and 90-day churn where known."""
    ax = _ax(ax)
    v = variants.sort_values("n", ascending=False).head(top).reset_index(drop=True)
    labels = [f"#{i + 1}: {r['length']} steps" for i, r in v.iterrows()]
    ax.barh(labels[::-1], v["share"][::-1], color=PALETTE[0])
    for i, (_, r) in enumerate(v[::-1].iterrows()):
        bits = [f"{r['share']:.0%} (n = {r['n']:,})"]
        if "journey_score_mean" in r and pd.notna(r["journey_score_mean"]):
            bits.append(f"score {r['journey_score_mean']:.1f}")
        if "churn_in_window" in r and pd.notna(r["churn_in_window"]):
            bits.append(f"churn {r['churn_in_window']:.0%}")
        ax.text(r["share"], i, "  " + " · ".join(bits), va="center", fontsize=8)
    ax.set_xlim(0, v["share"].max() * 1.9)
    ax.set_xticks([t for t in ax.get_xticks() if 0 <= t <= 1])  # room for labels, no ticks past 100%
    ax.xaxis.set_major_formatter(mticker.PercentFormatter(1.0))
    ax.set_xlabel("share of journeys")
    ax.set_title(title or "Most common paths")
    return ax


def plot_journey_catalogue(catalogue: pd.DataFrame, ax=None):
    """90-day churn per journey type (95% CI) against the baseline of all customers."""
    ax = _ax(ax)
    c = catalogue.sort_values("churn_in_window", ascending=True)
    err = np.vstack([c["churn_in_window"] - c["churn_in_window_ci_low"], c["churn_in_window_ci_high"] - c["churn_in_window"]]).clip(min=0)
    ax.barh([humanize(j) for j in c.index], c["churn_in_window"], xerr=err, color=PALETTE[0],
            error_kw={"lw": 1, "capsize": 2})
    base = c["churn_in_window_baseline"].dropna()
    if len(base):
        ax.axvline(base.iloc[0], color=BAD, linestyle="--", lw=1, label=f"all customers: {base.iloc[0]:.1%}")
        ax.legend(loc="lower right")
    for i, (jt, r) in enumerate(c.iterrows()):
        ax.text(r["churn_in_window_ci_high"], i, f"  {r['churn_in_window']:.1%} (n = {int(r['churn_in_window_n']):,})", va="center",
                fontsize=8)
    ax.xaxis.set_major_formatter(mticker.PercentFormatter(1.0))
    ax.set_xlim(0, max(c["churn_in_window_ci_high"].max(), 0.01) * 1.4)
    ax.set_xlabel("customers who left within 90 days after the journey (95% CI)")
    ax.set_title("Churn after each journey")
    return ax


# --------------------------------------------------------------------------- drivers

def plot_driver_importance(importance: pd.DataFrame, ax=None, *, title: str = ""):
    """Each driver's share of explained variance by both methods (Shapley and relative
    weights) with 95% bootstrap intervals, most important first."""
    ax = _ax(ax)
    imp = importance.sort_values("shapley_share")
    idx = np.arange(len(imp))
    for off, col, colour, label in ((0.2, "shapley", PALETTE[0], "Shapley share of R²"),
                                    (-0.2, "rw", PALETTE[4], "relative weight")):
        v = imp[f"{col}_share"] if f"{col}_share" in imp else imp["shapley_share"]
        err = None
        if f"{col}_lo" in imp:
            err = np.vstack([v - imp[f"{col}_lo"], imp[f"{col}_hi"] - v]).clip(min=0)
        ax.barh(idx + off, v, height=0.38, color=colour, label=label, xerr=err, error_kw={"lw": 1, "capsize": 2})
    ax.set_yticks(idx, [_wrap(d, 40) for d in imp.index])
    ax.xaxis.set_major_formatter(mticker.PercentFormatter(1.0))
    ax.set_xlabel("share of explained variance (95% CI)")
    ax.set_title(title or "What drives the outcome")
    ax.legend(loc="lower right")
    return ax


def plot_importance_performance(importance: pd.DataFrame, ax=None, *, title: str = ""):
    """Importance (Shapley share) against performance (mean score) per driver, split into
    quadrants at the medians: top-left is 'fix first' (important, performing poorly). Drivers
    flagged in the ``fix_first`` column (:func:`cxlib.drivers.flag_fix_first`) are drawn in red."""
    ax = _ax(ax)
    imp = importance
    perf = "performance" if "performance" in imp and imp["performance"].notna().all() else "mean_score"
    x, y = imp[perf], imp["shapley_share"]
    fix = imp["fix_first"] if "fix_first" in imp else pd.Series(False, index=imp.index)
    ax.scatter(x, y, s=60, color=np.where(fix, BAD, PALETTE[0]), zorder=3)
    if "shapley_lo" in imp:
        ax.errorbar(x, y, yerr=np.vstack([y - imp["shapley_lo"], imp["shapley_hi"] - y]).clip(min=0), fmt="none",
                    ecolor=NEUTRAL, lw=1, zorder=2)
    xm, ym = x.median(), y.median()
    ax.axvline(xm, color=NEUTRAL, ls="--", lw=1)
    ax.axhline(ym, color=NEUTRAL, ls="--", lw=1)
    for d in imp.index:
        ax.annotate(_wrap(d, 22), (x[d], y[d]), xytext=(5, 3), textcoords="offset points", fontsize=7)
    ax.text(0.01, 0.98, "fix first", transform=ax.transAxes, va="top", color=BAD, fontweight="bold", fontsize=9)
    ax.text(0.99, 0.98, "keep up", transform=ax.transAxes, va="top", ha="right", color=GOOD, fontweight="bold",
            fontsize=9)
    ax.yaxis.set_major_formatter(mticker.PercentFormatter(1.0))
    if perf == "performance":
        ax.xaxis.set_major_formatter(mticker.PercentFormatter(1.0))
    ax.set_xlabel("performance: mean score as a share of its scale" if perf == "performance"
                  else "performance: mean score")
    ax.set_ylabel("importance: share of R²")
    ax.set_title(title or "Importance against performance")
    return ax


def plot_segment_drivers(segments: pd.DataFrame, ax=None, *, top: int = 8, title: str = ""):
    """Driver shares per segment with 95% intervals (the drivers most important overall)."""
    ax = _ax(ax)
    order = segments.groupby("driver")["share"].mean().sort_values(ascending=False).index[:top][::-1]
    segs = list(dict.fromkeys(segments["segment"]))
    width = 0.8 / max(len(segs), 1)
    for k, sg in enumerate(segs):
        s = segments[segments["segment"] == sg].set_index("driver").reindex(order)
        pos = np.arange(len(order)) + (k - (len(segs) - 1) / 2) * width
        err = np.vstack([s["share"] - s["lo"], s["hi"] - s["share"]]).clip(min=0) if s["lo"].notna().any() else None
        n = int(s["n"].dropna().iloc[0]) if s["n"].notna().any() else 0
        ax.barh(pos, s["share"], height=width * 0.9, xerr=err, color=PALETTE[k % len(PALETTE)],
                label=f"{sg} (n = {n:,})", error_kw={"lw": 1, "capsize": 2})
    ax.set_yticks(range(len(order)), [_wrap(d, 40) for d in order])
    ax.xaxis.set_major_formatter(mticker.PercentFormatter(1.0))
    ax.set_xlabel("share of explained variance (95% CI)")
    ax.set_title(title or "Drivers by segment")
    ax.legend(loc="lower right", fontsize=8)
    return ax


def plot_penalty_reward(asymmetry: pd.DataFrame, ax=None, *, title: str = "", unit: str = "points"):
    """Per driver: the drop in the outcome after a poor score (left, red) and the gain after
    an excellent one (right, green), with 95% intervals."""
    ax = _ax(ax)
    a = asymmetry.sort_values("penalty")
    idx = np.arange(len(a))
    ax.barh(idx, -a["penalty"], color=BAD, label="penalty for a poor score",
            xerr=np.vstack([a["penalty_hi"] - a["penalty"], a["penalty"] - a["penalty_lo"]]).clip(min=0),
            error_kw={"lw": 1, "capsize": 2})
    ax.barh(idx, a["reward"], color=GOOD, label="reward for an excellent score",
            xerr=np.vstack([a["reward"] - a["reward_lo"], a["reward_hi"] - a["reward"]]).clip(min=0),
            error_kw={"lw": 1, "capsize": 2})
    ax.axvline(0, color="black", lw=0.8)
    ax.set_yticks(idx, [f"{_wrap(d, 34)}  ({t})" for d, t in zip(a.index, a["type"])])
    ax.set_xlabel(f"change in the outcome ({unit}, 95% CI)")
    ax.set_title(title or "Must-haves and delighters")
    ax.legend(loc="lower right", fontsize=8)
    return ax


def plot_calibration(calibration: pd.DataFrame, ax=None, *, title: str = ""):
    """Observed churn (95% Wilson interval) against predicted churn per prediction group;
    a calibrated model sits on the diagonal."""
    ax = _ax(ax)
    c = calibration
    top = float(max(c["hi"].max(), c["predicted"].max())) * 1.05
    ax.plot([0, top], [0, top], color=NEUTRAL, lw=1, ls="--", label="perfect calibration")
    ax.errorbar(c["predicted"], c["observed"], yerr=np.vstack([c["observed"] - c["lo"], c["hi"] - c["observed"]]).clip(min=0),
                fmt="o", color=PALETTE[0], capsize=2, label=f"observed (groups of ~{int(c['n'].median()):,})")
    ax.xaxis.set_major_formatter(mticker.PercentFormatter(1.0))
    ax.yaxis.set_major_formatter(mticker.PercentFormatter(1.0))
    ax.set_xlabel("predicted churn (out of fold)")
    ax.set_ylabel("observed churn (95% CI)")
    ax.set_title(title or "Calibration of the churn model")
    ax.legend(loc="upper left")
    return ax


def plot_odds_ratios(drivers: pd.DataFrame, ax=None, *, top: int = 15, title: str = ""):
    """Odds ratio per churn driver with its 95% interval on a log scale; red raises churn,
    green lowers it, grey is not distinguishable from no effect."""
    ax = _ax(ax)
    d = drivers.head(top).iloc[::-1]
    idx = np.arange(len(d))
    colour = np.where(d["lo"] > 1, BAD, np.where(d["hi"] < 1, GOOD, NEUTRAL))
    # the axis spans the estimates and their intervals, at most 1/limit to limit: an interval
    # that runs beyond is cut at the edge and ends in an arrow
    limit = 50.0
    left = max(min(d["lo"].min(), d["odds_ratio"].min(), 0.8), 1 / limit)
    right = min(max(d["hi"].max(), d["odds_ratio"].max(), 1.25), limit)
    lo, hi = d["lo"].clip(left, right), d["hi"].clip(left, right)
    ax.hlines(idx, lo, hi, colors=colour, lw=1.4)
    ax.scatter(d["odds_ratio"].clip(left, right), idx, c=colour, zorder=3)
    for i, (l_cut, r_cut) in enumerate(zip(d["lo"] < left, d["hi"] > right)):
        if l_cut:
            ax.plot(left, i, marker="<", color=colour[i], ms=6)
        if r_cut:
            ax.plot(right, i, marker=">", color=colour[i], ms=6)
    ax.axvline(1, color=NEUTRAL, lw=1)
    ax.set_xscale("log")
    ax.set_xlim(left / 1.15, right * 1.15)
    decades = np.log10(right / left)
    subs = (tuple(np.arange(1.0, 10.0)) if decades <= 0.5 else (1.0, 2.0, 3.0, 5.0) if decades <= 1.2
            else (1.0, 2.0, 5.0) if decades <= 2.5 else (1.0,))
    ax.xaxis.set_major_locator(mticker.LogLocator(base=10, subs=subs, numticks=12))
    ax.xaxis.set_minor_locator(mticker.LogLocator(base=10, subs=np.arange(2, 10), numticks=12))
    ax.xaxis.set_minor_formatter(mticker.NullFormatter())
    ax.xaxis.set_major_formatter(mticker.FuncFormatter(lambda v, _: f"{v:g}×"))
    ax.set_yticks(idx, [_wrap(f"{humanize(n)} ({p})", 44) for n, p in zip(d.index, d["per"])])
    ax.set_xlabel("odds ratio for churn (95% CI, log scale; arrows: the interval runs on)")
    ax.set_title(title or "What raises and lowers churn")
    return ax


def plot_churn_reasons(reasons: pd.DataFrame, ax=None, *, title: str = ""):
    """Pareto of stated churn reasons (bars, 95% CI) with the cumulative share, and the
    classic benchmark share per category as a marker."""
    ax = _ax(ax)
    r = reasons[reasons["n"] > 0]
    x = np.arange(len(r))
    ax.bar(x, r["share"], color=PALETTE[0], yerr=np.vstack([r["share"] - r["lo"], r["hi"] - r["share"]]).clip(min=0),
           error_kw={"lw": 1, "capsize": 2}, label="this client (95% CI)")
    if r["benchmark"].notna().any():
        ax.scatter(x, r["benchmark"], marker="D", color=BAD, zorder=3, label="classic benchmark")
    ax.plot(x, r["cumulative"], color=NEUTRAL, marker=".", label="cumulative")
    ax.set_xticks(x, [_wrap(c, 16) for c in r.index], fontsize=8)
    ax.yaxis.set_major_formatter(mticker.PercentFormatter(1.0))
    ax.set_ylabel(f"share of churners (n = {int(r['n'].sum()):,})")
    ax.set_title(title or "Why customers say they left")
    ax.legend(loc="center right")
    return ax


def plot_money(values: pd.DataFrame, ax=None, *, value: str = "value", currency: str = "", title: str = "",
               xlabel: str = ""):
    """Money per row (e.g. revenue at risk per journey type, or revenue kept per scenario) with
    its 95% interval, largest first."""
    ax = _ax(ax)
    lo, hi = (f"{value}_lo", f"{value}_hi") if f"{value}_lo" in values else ("lo", "hi")
    v = values.sort_values(value)
    idx = np.arange(len(v))
    ax.barh(idx, v[value], color=PALETTE[0], xerr=np.vstack([v[value] - v[lo], v[hi] - v[value]]).clip(min=0),
            error_kw={"lw": 1, "capsize": 2})
    ax.set_yticks(idx, [_wrap(str(i), 44) for i in v.index])
    _thousands(ax)
    ax.axvline(0, color=NEUTRAL, lw=1)
    ax.set_xlabel(xlabel or f"{currency} per year (95% CI)")
    ax.set_title(title or "Revenue at risk")
    return ax


# --------------------------------------------------------------------------- recommendations

def plot_shares(values: pd.DataFrame, ax=None, *, value: str = "share", title: str = "", xlabel: str = ""):
    """Shares per row (e.g. avoidable share per cause) with their 95% interval, largest first."""
    ax = _ax(ax)
    v = values.sort_values(value)
    idx = np.arange(len(v))
    lo, hi = v[f"{value}_lo"], v[f"{value}_hi"]
    ax.barh(idx, v[value] * 100, color=PALETTE[0], xerr=np.vstack([v[value] - lo, hi - v[value]]).clip(min=0) * 100,
            error_kw={"lw": 1, "capsize": 2})
    ax.set_yticks(idx, [_wrap(str(i), 44) for i in v.index])
    ax.set_xlabel(xlabel or "% (95% CI)")
    ax.set_title(title)
    return ax


AGENT_METRICS = {"fcr": ("First-contact resolution", "first-contact resolution (%)"),
                 "aht_s": ("Handle time", "handle time (minutes)"), "csat": ("CSAT", "CSAT")}


def plot_agent_funnel(agents: pd.DataFrame, ax=None, *, metric: str = "fcr", title: str = "", ylabel: str = ""):
    """Funnel plot: each agent's raw metric against the number it rests on, with the team
    value; flagged outliers in the alert colour and labelled."""
    ax = _ax(ax)
    title = title or f"{AGENT_METRICS.get(metric, (metric,))[0]} per agent"
    ylabel = ylabel or AGENT_METRICS.get(metric, (metric, metric))[1]
    a = agents.dropna(subset=[metric])
    bad = a[f"{metric}_outlier"].astype(bool)
    scale = 100 if metric == "fcr" else (1 / 60 if metric == "aht_s" else 1)
    ax.scatter(a.loc[~bad, f"{metric}_n"], a.loc[~bad, metric] * scale, color=PALETTE[0], s=18, label="agent")
    ax.scatter(a.loc[bad, f"{metric}_n"], a.loc[bad, metric] * scale, color=BAD, s=30, label="outlier")
    for name, r in a[bad].iterrows():
        ax.annotate(str(name), (r[f"{metric}_n"], r[metric] * scale), xytext=(4, 2), textcoords="offset points",
                    fontsize=8, color=BAD)
    ax.axhline(a[f"{metric}_team"].iat[0] * scale, color=NEUTRAL, lw=1, ls="--", label="team")
    funnel = agents.attrs.get("funnel", {}).get(metric)
    if funnel and np.isfinite(funnel["unit_sd"]) and len(a):
        n = np.linspace(max(a[f"{metric}_n"].min() * 0.8, 1), a[f"{metric}_n"].max() * 1.2, 100)
        half = funnel["z"] * np.sqrt(funnel["unit_sd"] ** 2 / n + funnel["tau"] ** 2)
        ax.plot(n, (funnel["team"] + half) * scale, color=NEUTRAL, lw=1, label="99.8% limits")
        ax.plot(n, (funnel["team"] - half) * scale, color=NEUTRAL, lw=1)
    ax.set_xlabel("contacts behind the figure (n)")
    ax.set_ylabel(ylabel or metric)
    ax.set_title(title)
    ax.legend(loc="best", frameon=False)
    return ax


def plot_value_deciles(deciles: pd.DataFrame, ax=None, *, currency: str = "", title: str = ""):
    """Mean monthly revenue and cost to serve per revenue decile, with the unprofitable share
    on a second axis."""
    ax = _ax(ax)
    x = np.arange(len(deciles))
    ax.bar(x - 0.2, deciles["revenue"], width=0.4, color=PALETTE[0], label="revenue")
    ax.bar(x + 0.2, deciles["cost_to_serve"], width=0.4, color=PALETTE[1], label="cost to serve")
    ax.set_xticks(x, deciles.index.astype(str))
    ax.set_xlabel("revenue decile (1 = lowest)")
    ax.set_ylabel(f"{currency} per customer per month")
    ax2 = ax.twinx()
    ax2.plot(x, deciles["unprofitable_share"] * 100, color=BAD, marker="o", label="unprofitable")
    ax2.fill_between(x, deciles["lo"] * 100, deciles["hi"] * 100, color=BAD, alpha=0.15)
    ax2.set_ylabel("% unprofitable (95% CI)")
    ax2.grid(False)
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, loc="upper center", frameon=False, ncol=3)
    ax.set_title(title or "Revenue against cost to serve")
    return ax


def plot_comment_themes(themes: pd.DataFrame, ax=None, *, groups: list[str] | None = None, title: str = ""):
    """Share of comments mentioning each theme, per group (e.g. detractors against
    promoters) with 95% intervals; ``themes`` is :func:`comments.summarize_comment_themes`."""
    ax = _ax(ax)
    keys = [f"{g} " for g in groups] if groups else [""]
    t = themes.iloc[::-1]
    idx = np.arange(len(t))
    height = 0.8 / len(keys)
    colors = {"detractor ": BAD, "promoter ": GOOD}
    for k, key in enumerate(keys):
        v, lo, hi = t[f"{key}share"], t[f"{key}share_lo"], t[f"{key}share_hi"]
        ax.barh(idx + (k - (len(keys) - 1) / 2) * height, v * 100, height=height,
                color=colors.get(key, PALETTE[k % len(PALETTE)]), label=(key.strip() + "s") if key else "all",
                xerr=np.vstack([v - lo, hi - v]).clip(min=0) * 100, error_kw={"lw": 1, "capsize": 2})
    ax.set_yticks(idx, [_wrap(str(i), 30) for i in t.index])
    ax.set_xlabel("% of comments mentioning the theme (95% CI)")
    ax.set_title(title or "What customers write about")
    if len(keys) > 1:
        ax.legend(loc="lower right", frameon=False)
    return ax


def plot_against_reference(table: pd.DataFrame, ax=None, *, value: str = "estimate", reference: str = "believed",
                           label: str = "claim", reference_name: str = "believed", title: str = "",
                           xlabel: str = "% (95% CI)"):
    """Each row's estimate with its 95% interval (``lo``/``hi``) beside a reference value
    (a belief or a benchmark) drawn as a diamond; shares are shown in percent. Rows without an
    estimate are left out. ``verdict`` or ``outside`` (when present) colours the row: refuted
    or outside in the alert colour."""
    ax = _ax(ax)
    t = table[table[value].notna()].iloc[::-1]
    idx = np.arange(len(t))
    alert = (t["verdict"] == "refuted") if "verdict" in t else t.get("outside", pd.Series(False, index=t.index))
    colours = [BAD if a else PALETTE[0] for a in alert.fillna(False).astype(bool)]
    est = t[value].to_numpy(float) * 100
    err = np.vstack([est - t["lo"].to_numpy(float) * 100, t["hi"].to_numpy(float) * 100 - est]).clip(min=0)
    for i, (e, c) in enumerate(zip(est, colours)):
        ax.errorbar(e, i, xerr=err[:, [i]], fmt="o", color=c, capsize=3, lw=1.5)
    ax.scatter(t[reference].to_numpy(float) * 100, idx, marker="D", color=NEUTRAL, zorder=3, label=reference_name)
    ax.set_yticks(idx, [_wrap(str(s), 48) for s in t[label]])
    ax.set_xlabel(xlabel)
    ax.legend(loc="best", frameon=False)
    ax.set_title(title)
    return ax


def plot_touchpoint_inventory(inventory: pd.DataFrame, ax=None, *, currency: str = "", per: str = "a year",
                              label_top: int = 6, title: str = "Touchpoints: cost against ratings"):
    """Each rated touchpoint as a point: share of its ratings satisfied (x, with its 95%
    interval) against its cost (y); moments that matter in the alert colour; the ``label_top``
    with the most at stake (the inventory's order) labelled."""
    ax = _ax(ax)
    rated = inventory[inventory["rated"] > 0]
    if not len(rated):
        ax.text(0.5, 0.5, "no touchpoint has ratings", ha="center", va="center", transform=ax.transAxes)
        return ax
    colours = [BAD if m else PALETTE[0] for m in rated["moment_that_matters"]]
    x = rated["satisfied"].to_numpy(float) * 100
    err = np.vstack([x - rated["satisfied_lo"].to_numpy(float) * 100,
                     rated["satisfied_hi"].to_numpy(float) * 100 - x]).clip(min=0)
    y = rated["cost_per_year"].fillna(0).to_numpy(float)
    ax.errorbar(x, y, xerr=err, fmt="none", ecolor=NEUTRAL, lw=0.8, zorder=1)
    ax.scatter(x, y, c=colours, s=36, zorder=2)
    for _, r in rated.head(label_top).iterrows():
        ax.annotate(_wrap(str(r["touchpoint"]), 24), (r["satisfied"] * 100, r["cost_per_year"] or 0),
                    xytext=(5, 3), textcoords="offset points", fontsize=8)
    ax.set_xlabel("ratings satisfied (%, 95% CI)")
    ax.set_ylabel(f"cost {per} ({currency}{', log scale' if y.min() > 0 and y.max() > 100 * y.min() else ''})"
                  if currency else f"cost {per}")
    if y.min() > 0 and y.max() > 100 * y.min():     # one field visit line would flatten every call centre line
        ax.set_yscale("log")
    ax.yaxis.set_major_formatter(mticker.FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.set_title(title)
    return ax


def _date_axis(ax, max_ticks: int = 5):
    """A readable date axis: a few ticks, labelled concisely ('Apr', '2025')."""
    loc = mdates.AutoDateLocator(minticks=3, maxticks=max_ticks)
    ax.xaxis.set_major_locator(loc)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(loc))
    ax.tick_params(axis="x", labelsize=8)


def plot_kpi_series(series: pd.DataFrame, ax=None, *, kpi: str, journey_types: list[str] | None = None,
                    change: pd.Timestamp | None = None, highlight: str | None = None, title: str = "",
                    ylabel: str = ""):
    """One KPI over time (``series`` from ``build_kpi_series``: journey_type, period, kpi, value,
    lo, hi), a line per journey type with its 95% band; ``highlight`` draws one journey type
    strongly and the others faintly (labelled 'other journeys'); ``change`` marks the day of a
    change with a dashed line."""
    ax = _ax(ax)
    s = series[series["kpi"] == kpi]
    types = journey_types or sorted(s["journey_type"].unique())
    grey_labelled = False
    for i, jt in enumerate(types):
        g = s[s["journey_type"] == jt].sort_values("period")
        if not len(g):
            continue
        strong = highlight is None or jt == highlight
        color = PALETTE[i % len(PALETTE)] if highlight is None else BAD if strong else NEUTRAL
        label = humanize(jt) if strong else ("_nolegend_" if grey_labelled else "other journeys")
        grey_labelled |= not strong
        ax.plot(g["period"], g["value"], color=color, lw=2 if strong else 1, alpha=1 if strong else 0.6, label=label)
        ax.fill_between(g["period"], g["lo"], g["hi"], color=color, alpha=0.18 if strong else 0.06, lw=0)
    if change is not None:
        ax.axvline(pd.Timestamp(change), color=NEUTRAL, ls="--", lw=1.2)
        ax.annotate("change", (pd.Timestamp(change), 1), xycoords=("data", "axes fraction"), ha="left", va="top",
                    color=NEUTRAL, fontsize=9, xytext=(3, -2), textcoords="offset points")
    ax.set_title(title or humanize(kpi))
    ax.set_ylabel(ylabel)
    ax.set_xlabel("")
    _date_axis(ax)
    return ax


def plot_nps_series(nps: pd.DataFrame, ax=None, *, title: str = "Relationship NPS over time"):
    """Relationship NPS per period (``build_nps_series``) with its 95% band."""
    ax = _ax(ax)
    ax.plot(nps["period"], nps["value"], color=PALETTE[0], lw=2)
    ax.fill_between(nps["period"], nps["lo"], nps["hi"], color=PALETTE[0], alpha=0.18, lw=0)
    ax.axhline(0, color=NEUTRAL, lw=0.8)
    ax.set_title(title)
    ax.set_ylabel("NPS (points)")
    ax.set_xlabel("")
    _date_axis(ax, max_ticks=8)
    return ax


def plot_barriers(ranking: pd.DataFrame, ax=None, *, top: int = 12, title: str = "What stops staff"):
    """Barriers by the share of staff who agree (``rank_barriers``: barrier, agree, lo, hi, n),
    with 95% intervals, the most agreed first."""
    ax = _ax(ax)
    r = ranking.head(top).iloc[::-1]
    y = np.arange(len(r))
    ax.barh(y, r["agree"], color=PALETTE[0], alpha=0.85)
    ax.errorbar(r["agree"], y, xerr=[r["agree"] - r["lo"], r["hi"] - r["agree"]], fmt="none", ecolor="black",
                capsize=3, lw=1)
    ax.set_yticks(y, [_wrap(str(b), 40) for b in r["barrier"]], fontsize=9)
    ax.xaxis.set_major_formatter(mticker.PercentFormatter(1.0))
    ax.set_xlim(0, 1)
    ax.set_xlabel("staff who agree (95% CI)")
    ax.set_title(title)
    return ax
