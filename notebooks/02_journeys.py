# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Journeys: where they break
#
# Customers do not experience touchpoints, they experience journeys: a new installation, a house
# move, a repair, a billing dispute. This section rebuilds every journey instance from the event
# log, then asks which journeys break, where (steps, waits, handoffs between departments, repeat
# contacts, rework, drop-outs) and for whom. It checks for the *watermelon* (touchpoints green,
# journey red) and for journey scores that split into two groups, and finds what separates them.

# %%
import matplotlib.pyplot as plt
from IPython.display import Markdown, display

from cxlib.core.dates import extract_time
from cxlib.core.formatting import format_bullets, humanize, style_table
from cxlib.drivers.journey_measures import describe_journey_measures, journey_measure_table, rank_journey_measures
from cxlib.ingest import read_tables
from cxlib.journeys import (build_dfg, count_channel_switches, describe_variants, diagnose_journeys, find_variants,
                            map_stages, summarize_rework, top_transitions)
from cxlib.plotting import (plot_bimodality, plot_channel_switches, plot_journey_catalogue, plot_journey_map,
                            plot_variants, plot_watermelon)
from cxlib.report.metrics import record_metrics
from cxlib.report.notebooks import open_section

# %% tags=["parameters"]
client: str = "demo"
data_root: str = "../data"
reports_root: str = "../reports"
seed: int = 42
n_boot: int = 0  # bootstrap resamples (0: as configured; 50: a quick look while iterating)
engine: str = ""  # duckdb or spark for the reconstruction (empty: as client.yml says)

# %%
# Reads paths.table(...) (01); writes paths.journeys, paths.journey_steps, paths.journey_catalogue and
# paths.journey_findings (read by 04) and the journey figures.
paths, config = open_section(client, data_root, reports_root)
tables, as_of = read_tables(paths, ["customers", "surveys"]), extract_time(config)   # the engine reads the events
has_events = paths.table("events").exists()     # ingest writes a table only when it loaded rows
engine = engine or config.engine

# %%
if has_events:
    dx = diagnose_journeys(paths.table("events"), config.analysis, customers=tables.get("customers"),
                           surveys=tables.get("surveys"), as_of=as_of, seed=seed, engine=engine, spark=config.spark)
    dx.score_measures = rank_journey_measures(dx.journeys, n_boot=n_boot or config.analysis.drivers.n_boot, seed=seed)
    dx.write(paths)
    record_metrics(paths.metrics, "journeys", dx.metrics())
    cat = dx.catalogue
    if not dx.has_paths():
        display(Markdown(dx.describe_no_paths()))
        dx = None
else:
    dx = None
    display(Markdown("**No events table:** journeys cannot be reconstructed without events."))

# %% [markdown]
# ## Summary

# %%
if dx is not None:
    display(Markdown(format_bullets(dx.summary())))

# %% [markdown]
# ## How events became journeys
#
# Events that carry a case id (an order or ticket) form one journey per case. Other events join a
# journey when their touchpoint belongs to a configured journey type and they fall between its
# start and end touchpoints; the rest become *unclassified* episodes, split by a gap of inactivity.

# %%
if dx is not None:
    how = dx.assignment_table()
    display(style_table(how, counts=[c for c in how.columns if c != "share of events"], shares=["share of events"]))

# %% [markdown]
# ## Journey catalogue
#
# Per journey type: volume, completion (reached an end touchpoint; journeys still within their
# maximum duration at the extract date are left out), duration, touchpoints, handoffs between
# departments, the journey score and churn within the churn window after the journey ended.
# Intervals are 95%; *n* is the number of journeys each figure rests on.

# %%
if dx is not None and len(cat):
    display(style_table(dx.catalogue_table(), counts=["n", "median_touchpoints", "median_departments",
                                                      "median_handoffs", "journey_score_n", "churn_in_window_n"],
                        shares=["completion_rate", "rework_share", "churn_in_window"],
                        decimals={"median_duration_days": 1, "p90_duration_days": 1, "mean_repeat_contacts": 2,
                                  "journey_score_mean": 2}))
    if dx.most_churn() is not None:
        plot_journey_catalogue(cat);

# %% [markdown]
# ## Journey maps
#
# One map per journey type. Touchpoints are placed at the median day they happen (first
# occurrence) and in their department's lane, so every vertical move is a handoff. Dot size is
# the share of journeys that reach the step; arrows are the main transitions with their median
# wait; red rings mark rework or repeat contacts, red counts failed steps and black crosses the
# steps where dropped-out journeys stopped. Below each map: its most common paths.

# %%
if dx is not None:
    variants = find_variants(dx.engine_steps, dx.journeys, top=8, journey_types=dx.types)
    for jt in dx.types:
        stages = map_stages(dx.engine_steps, dx.journeys, jt)
        fig, ax = plt.subplots(figsize=(12, 1.2 + 0.55 * max(stages["department"].nunique(), 1)))
        dfg = build_dfg(dx.engine_steps, journey_type=jt)     # counted where the events are (Spark or DuckDB)
        plot_journey_map(stages, dfg, ax=ax, title=f"{humanize(jt)}: journey map", n_journeys=int(cat.loc[jt, "n"]))
        plt.show()
        v = variants[variants["journey_type"] == jt]
        fig, ax = plt.subplots(figsize=(9, 0.4 + 0.35 * len(v)))
        plot_variants(v, ax=ax, title=f"{humanize(jt)}: most common paths")
        plt.show()
        display(style_table(v[["rank", "n", "share", "variant"]], counts=["rank", "n"], shares=["share"],
                            hide_index=True))
        display(Markdown(describe_variants(variants, jt)))

# %% [markdown]
# ## Directly-follows graph and waits
#
# The most frequent transitions per journey type, with how long customers wait between the two
# steps (median and 90th percentile, in days). Long waits and transitions back to an earlier step
# are where journeys stall.

# %%
if dx is not None and dx.types:
    display(style_table(top_transitions(dx.engine_steps, dx.types), counts=["n", "journeys"],
                        decimals={"median_wait_days": 1, "p90_wait_days": 1}, hide_index=True))

# %% [markdown]
# ## Rework loops
#
# Touchpoints that journeys go through more than once (a second technician visit, a ticket taken
# in charge again after a wait), how many journeys loop there, and the step that most often leads
# back to it.

# %%
if dx is not None and dx.types:
    loops = summarize_rework(dx.engine_steps, top=5, journey_types=dx.types)
    if len(loops):
        display(style_table(loops, counts=["repeats", "journeys"], shares=["share_of_journeys"], hide_index=True))
    else:
        display(Markdown("No journey repeats a touchpoint."))

# %% [markdown]
# ## Channel switches
#
# Within journeys: for each channel, where the next step happens. Off-diagonal cells are channel
# switches; a switch from a digital channel to the phone often means self-service failed.

# %%
if dx is not None and dx.types:
    switches = count_channel_switches(dx.engine_steps, journey_types=dx.types)
    if len(switches):
        fig, ax = plt.subplots(figsize=(7, 5))
        plot_channel_switches(switches, ax=ax)
        plt.show()

# %% [markdown]
# ## The watermelon: touchpoints green, journey red
#
# For each journey type, the share of touchpoint ratings at or above the client's green threshold
# beside the share of journey ratings that are green. A type is flagged when its touchpoints are
# green and its journey red, both at 95% confidence (the thresholds are the client's settings,
# listed in the appendix of figures). The same test then runs inside each type, for each customer
# segment and each of its most frequent paths with at least 30 ratings of each kind: a red part
# can hide inside a type that is not red as a whole.

# %%
if dx is not None and dx.has_ratings():
    plot_watermelon(cat, flags=dx.watermelon)
    display(style_table(dx.watermelon_table(), counts=["touchpoint_ratings_n", "journey_score_n"],
                        shares=["touchpoint_green_share", "journey_green_share", "churn_in_window"]))
elif dx is not None:
    display(Markdown("*Skipped:* the watermelon check needs both touchpoint and journey ratings."))

# %%
if dx is not None and dx.has_ratings() and len(dx.watermelon_pockets):
    display(style_table(dx.watermelon_pocket_table(), counts=["touchpoint ratings", "journey ratings"],
                        shares=["touchpoints green", "journeys green", "journeys green low", "journeys green high"],
                        hide_index=True))
elif dx is not None and dx.has_ratings():
    display(Markdown("No segment or frequent path of any journey type is a watermelon on its own."))

# %% [markdown]
# ## What moves the journey score
#
# Where journeys carry the customer's score, the journey's own measures (duration, the longest
# wait, handoffs, repeat contacts, rework, failed steps, channel switches) are drivers of that
# score: their share of what the measures explain together (Shapley shares of R², bootstrap 95%
# intervals, the same method as the survey drivers) and the direction each pulls in (correlation
# with the score, 95% interval).

# %%
if dx is not None and len(dx.score_measures):
    display(Markdown(format_bullets(describe_journey_measures(dx.score_measures))))
    display(style_table(journey_measure_table(dx.score_measures), counts=["scored journeys"],
                        shares=["share of R²", "share low", "share high"],
                        decimals={"correlation": 2, "correlation low": 2, "correlation high": 2,
                                  "R² of the type": 2}, hide_index=True))
elif dx is not None:
    display(Markdown("*Skipped:* no journey type has 100 scored journeys, so the journey measures are not "
                     "ranked as drivers of the journey score."))

# %% [markdown]
# ## Bimodal journey scores and what separates the groups
#
# A journey type's scores are called bimodal when a two-group mixture fits much better than one
# (ΔBIC ≥ 10) *and* the distribution has a real valley between the groups. For each bimodal type,
# a shallow decision tree finds the journey feature that best separates the low-scoring group; the
# contrast table compares every feature between the groups with a bootstrap 95% interval.

# %%
if dx is not None and not dx.has_journey_scores():
    display(Markdown("*Skipped:* there are no journey ratings to test."))
elif dx is not None and dx.bimodality:
    display(style_table(dx.bimodality_table(), counts=["n scores"], rounded=["ΔBIC"], decimals={"valley/peak": 2}))
    for jt, sep in dx.separations.items():
        b = dx.bimodality[jt]
        plot_bimodality(b.hist, antimode=b.antimode, title=f"{humanize(jt)}: journey scores (n = {b.n:,})")
        plt.show()
        display(Markdown(dx.separation_sentence(jt)))
        contrasts = sep["contrasts"].head(8)[["label", "low_mean", "high_mean", "difference", "ci_low", "ci_high"]]
        display(style_table(contrasts, decimals=dict.fromkeys(contrasts.columns[1:], 2), hide_index=True))
