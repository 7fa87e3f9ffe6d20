# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # The management loop: beliefs, benchmarks, touchpoints, fixes, staff and call-backs
#
# Executives start with beliefs from a workshop ("half of our install customers are unhappy");
# this section tests each one against the data: confirmed, refuted, not settled or not testable,
# with the estimate, its interval and the n it rests on. It then sets the client's own figures
# beside industry or competitor benchmarks and says which gaps are larger than the uncertainty,
# lists every touchpoint with its cost, its ratings and whether it is a moment that matters, tests
# whether the changes made to a journey worked, sets what staff say stops them beside the journeys
# that break, and counts the recent detractors on the call-back list that leaders work through.

# %%
import matplotlib.pyplot as plt
from IPython.display import Markdown, display

from cxlib.actions.callbacks import read_churn_risk
from cxlib.actions.management import diagnose_management
from cxlib.actions.tracking import name_kpi
from cxlib.core.formatting import format_bullets, style_table
from cxlib.core.jsonio import read_json
from cxlib.ingest import open_table, read_tables
from cxlib.journeys import read_journeys
from cxlib.plotting import (plot_against_reference, plot_barriers, plot_kpi_series, plot_nps_series,
                            plot_touchpoint_inventory)
from cxlib.report.metrics import record_metrics
from cxlib.report.notebooks import open_section

# %% tags=["parameters"]
client: str = "demo"
data_root: str = "../data"
reports_root: str = "../reports"
seed: int = 42
engine: str = ""  # duckdb or spark for the touchpoint inventory's counts (empty: as client.yml says)

# %%
# Reads paths.table(...) (01), paths.journeys and paths.journey_steps (02), paths.churn_risk (03) and
# paths.metrics (the figures of 02-04); writes paths.callbacks and the management figures.
paths, config = open_section(client, data_root, reports_root)
tables, metrics = read_tables(paths, ["customers", "surveys", "staff"]), read_json(paths.metrics, {})
events = open_table(paths, "events")     # left in its file: the inventory counts it there
engine = engine or config.engine
journeys, steps = read_journeys(paths.journeys, paths.journey_steps, steps_in_place=True, typed_only=True) \
    if paths.journeys.exists() else (None, None)     # tracking and call-backs follow the typed journeys only

# %%
mx = diagnose_management(config, metrics, customers=tables.get("customers"), events=events,
                         steps=steps, surveys=tables.get("surveys"), journeys=journeys,
                         churn_risk=read_churn_risk(paths.churn_risk), staff=tables.get("staff"),
                         client_dir=paths.data_dir, seed=seed, engine=engine, spark=config.spark)
mx.write(paths)
record_metrics(paths.metrics, "management", mx.metrics())
hyp, bench, inv, calls, trk, bar = mx.hypotheses, mx.benchmarks, mx.inventory, mx.callbacks, mx.tracking, mx.barriers
if not len(hyp) and not len(bench) and not len(inv) and calls is None and trk is None and bar is None:
    display(Markdown("*Skipped:* " + "; ".join(mx.skipped) + "."))

# %% [markdown]
# ## Summary

# %%
if len(hyp) or len(bench) or len(inv) or calls is not None or trk is not None or bar is not None:
    display(Markdown(format_bullets(mx.summary())))

# %% [markdown]
# ## Beliefs tested against the data
#
# A belief is confirmed when the estimate's 95% interval meets it (within its tolerance for
# "about", wholly on its side for "at least" or "at most"), refuted when the interval lies clear of
# it, and not settled when a bound falls inside the interval.

# %%
if len(hyp):
    display(Markdown(format_bullets(mx.describe_hypotheses())))
    shares = hyp[(hyp["unit"] == "share") & hyp["estimate"].notna()]
    if len(shares):
        fig, ax = plt.subplots(figsize=(9, 0.9 + 0.55 * len(shares)))
        plot_against_reference(shares, ax=ax, title="Beliefs against the data")
        plt.show()
    display(style_table(hyp[["claim", "verdict", "believed", "estimate", "lo", "hi", "n"]],
                        shares=["believed", "estimate", "lo", "hi"], counts=["n"], share_digits=0, hide_index=True))
else:
    display(Markdown("*Skipped:* " + mx.skipped_about("executives") + "."))

# %% [markdown]
# ## Against benchmarks
#
# Each benchmark beside the client's estimate: the gap is "outside" when the benchmark lies
# outside the client's 95% interval (and the interval misses the benchmark's own range, when it
# has one).

# %%
if len(bench):
    display(Markdown(format_bullets(mx.describe_benchmarks())))
    shares = bench[(bench["unit"] == "share") & bench["client"].notna()]
    if len(shares):
        fig, ax = plt.subplots(figsize=(9, 0.9 + 0.55 * len(shares)))
        plot_against_reference(shares, ax=ax, value="client", reference="benchmark", label="label",
                               reference_name="benchmark", title="The client against benchmarks")
        plt.show()
    display(style_table(bench[["label", "client", "lo", "hi", "n", "benchmark", "gap", "source", "year"]],
                        shares=["client", "lo", "hi", "benchmark", "gap"], counts=["n"], share_digits=1,
                        hide_index=True))
else:
    display(Markdown("*Skipped:* " + mx.skipped_about("benchmarks") + "."))

# %% [markdown]
# ## The touchpoint inventory
#
# Every touchpoint in the events: its channel and owning department, its volume and reach, the
# journeys that use it, its cost at the configured cost per contact, its ratings and its share of
# repeat contacts. Sorted by what is at stake: cost times the share not satisfied (an unrated
# touchpoint counts as satisfying as the rated ones are on average).

# %%
if len(inv):
    display(Markdown(format_bullets(mx.describe_inventory())))
    if ((inv["rated"] > 0) & inv["cost_per_year"].notna()).any():
        fig, ax = plt.subplots(figsize=(9, 5.5))
        plot_touchpoint_inventory(inv, ax=ax, currency=config.currency, per=inv.attrs.get("per", "a year"))
        plt.show()
    display(style_table(mx.inventory_table(15), counts=["per_year", "rated"],
                        money=["cost_per_year"], shares=["reach", "satisfied", "satisfied_lo", "satisfied_hi",
                                                         "repeat_share"], share_digits=0, hide_index=True))
else:
    display(Markdown("*Skipped:* " + mx.skipped_about("touchpoint inventory") + "."))

# %% [markdown]
# ## Tracking fixes over time
#
# Did a change a journey owner made work? Each journey's KPIs by the week it started in, with 95%
# intervals. For each change named with its journey and date, the journeys started before and after
# are compared while allowing for the trend that was already under way (an interrupted time series:
# the effect is how far the journeys after the change sit from the earlier trend), and set against
# the journeys the change did not touch, which carry the same seasons and shocks (the difference is
# the net effect). Intervals come from drawing whole weeks again at random.

# %%
if trk is not None:
    display(Markdown(format_bullets(trk.describe()) if trk.effects else "No change to a journey was named (journey and "
                     "date), so none is tested; each journey's KPIs over time follow."))
    for iv, table, _ in trk.effects:
        if table is None:
            continue
        kpis = trk.figure_kpis(table)
        fig, axes = plt.subplots(1, len(kpis), figsize=(4.2 * len(kpis), 3.4), squeeze=False)
        for ax, kpi in zip(axes[0], kpis):
            plot_kpi_series(trk.series, ax=ax, kpi=kpi, highlight=iv.journey, change=iv.date,
                            title=name_kpi(kpi, trk.window_days))
        axes[0][0].legend(fontsize=8)
        plt.show()
        display(style_table(trk.effect_table(table), counts=["n before", "n after"], hide_index=True))
else:
    display(Markdown("*Skipped:* " + mx.skipped_about("tracking over time") + "."))

# %%
if trk is not None and len(trk.series):
    kpis = list(dict.fromkeys(trk.series["kpi"]))
    fig, axes = plt.subplots((len(kpis) + 2) // 3, 3, figsize=(13, 3.3 * ((len(kpis) + 2) // 3)), squeeze=False)
    for ax, kpi in zip(axes.flat, kpis):
        plot_kpi_series(trk.series, ax=ax, kpi=kpi, title=name_kpi(kpi, trk.window_days))
    for ax in list(axes.flat)[len(kpis):]:
        ax.set_visible(False)
    axes.flat[0].legend(fontsize=8)
    plt.show()
    if len(trk.nps):
        fig, ax = plt.subplots(figsize=(9, 3.2))
        plot_nps_series(trk.nps, ax=ax)
        plt.show()

# %% [markdown]
# ## What stops staff
#
# What stops staff from giving a good experience: systems, rules, fear of blame, missing training,
# information from other departments. From the staff pulse survey, each statement's share of staff who
# agree (the top two points of the scale) with its 95% interval, overall and by department; then, for
# each journey that breaks, the step that fails, the department that owns it, and what that
# department's staff say stops them most.

# %%
if bar is not None:
    display(Markdown(format_bullets(bar.describe())))
    fig, ax = plt.subplots(figsize=(9, 0.8 + 0.45 * len(bar.ranking)))
    plot_barriers(bar.ranking, ax=ax)
    plt.show()
    if len(bar.beside_breaks):
        display(style_table(bar.beside_table(), counts=["n"], shares=["agree", "lo", "hi", "other staff agree"],
                            share_digits=0, hide_index=True))
    display(style_table(bar.by_department.groupby("department").head(1), counts=["n"], shares=["agree", "lo", "hi"],
                        decimals={"mean_score": 1}, share_digits=0, hide_index=True))
    if len(bar.themes):
        display(Markdown("Staff comments by theme, per department (counts only; the comments are not shown):"))
        display(style_table(bar.themes, counts=list(bar.themes.columns)))
else:
    display(Markdown("*Skipped:* " + mx.skipped_about("employee barriers") + "."))

# %% [markdown]
# ## The call-back list
#
# Each month a leader calls a few customers who were recently dissatisfied, hears what went wrong
# in their own words and closes the loop. The list (recent detractors who are still customers and
# agreed to be contacted, with the journey they went through, what went wrong in it, their revenue
# and churn risk, the most at stake first) is a file for the client's team; this page shows counts only.

# %%
if calls is not None:
    display(Markdown(calls.describe()))
    display(style_table(calls.counts, counts=["detractors", "may_be_called", "listed"], hide_index=True))
else:
    display(Markdown("*Skipped:* " + mx.skipped_about("call-back list") + "."))
