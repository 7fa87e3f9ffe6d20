"""All of cxlib's figures, in one house style.

Every function takes ``ax=`` (a new figure is made when it is None), draws one
figure with a title, labelled axes and units, and returns the ``ax``.
"""
from __future__ import annotations

import matplotlib

import matplotlib.pyplot as plt
import matplotlib.ticker as mticker
import pandas as pd
import seaborn as sns

PALETTE = ["#1f4e79", "#c0504d", "#9bbb59", "#8064a2", "#4bacc6", "#f79646", "#7f7f7f", "#2c7f6f", "#b8860b"]
GOOD, BAD, NEUTRAL = "#2c7f6f", "#c0504d", "#7f7f7f"


def set_house_style() -> None:
    """Apply the house style to every later figure."""
    sns.set_theme(context="notebook", style="whitegrid", palette=PALETTE, font_scale=0.95)
    matplotlib.rcParams.update({
        "figure.figsize": (8, 4), "figure.dpi": 100, "savefig.dpi": 120, "savefig.bbox": "tight",
        "axes.titleweight": "bold", "axes.titlelocation": "left", "axes.spines.top": False,
        "axes.spines.right": False, "legend.frameon": False,
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
        ax.text(total[name], i, f"  {row['quarantined'] / total[name]:.2%} quarantined", va="center", fontsize=9)
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


def plot_events_over_time(events: pd.DataFrame, ax=None, time_col: str = "timestamp",
                          channel_col: str = "channel", freq: str = "W"):
    """Events per period by channel."""
    ax = _ax(ax)
    per = (events.set_index(time_col).groupby(channel_col).resample(freq).size()
           .rename("events").reset_index())
    sns.lineplot(data=per, x=time_col, y="events", hue=channel_col, ax=ax, linewidth=1.2)
    ax.set_title(f"Events per {'week' if freq == 'W' else freq} by channel")
    ax.set_xlabel("date (UTC)")
    ax.set_ylabel(f"events per {'week' if freq == 'W' else freq}")
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
