# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Drivers: what matters most, and how sure we are
#
# Which journeys and touchpoints move the outcome the client cares about (relationship NPS,
# overall satisfaction or satisfied yes/no)? Two relative-importance methods that are built for
# correlated ratings answer side by side: the **Shapley decomposition of R²** (each driver's average
# gain in explained variance over every order of entry) and **Johnson's relative weights**. Every
# share carries a 95% bootstrap interval, and so does every rank. A rating that was not given is
# never read as a zero.

# %%
import matplotlib.pyplot as plt
from IPython.display import Markdown, display

from cxlib.core.dates import extract_time
from cxlib.core.formatting import format_bullets, style_table
from cxlib.drivers import (build_driver_metrics, comment_frame, describe_comment_themes, diagnose_churn,
                           diagnose_drivers_if_possible, list_comment_groups, pick_excerpts, summarize_comment_themes)
from cxlib.ingest import read_tables
from cxlib.journeys import read_journeys
from cxlib.plotting import (plot_calibration, plot_churn_reasons, plot_comment_themes, plot_driver_importance,
                            plot_importance_performance, plot_money, plot_odds_ratios, plot_penalty_reward,
                            plot_segment_drivers)
from cxlib.report.metrics import record_metrics
from cxlib.report.notebooks import open_section

# %% tags=["parameters"]
client: str = "demo"
data_root: str = "../data"
reports_root: str = "../reports"
seed: int = 42
n_boot: int = 0  # bootstrap resamples (0: as configured; 50: a quick look while iterating)

# %%
# Reads paths.table(...) (01) and paths.journeys (02); writes paths.scenarios (read by 04), paths.churn_risk
# (read by 05) and the driver figures.
paths, config = open_section(client, data_root, reports_root)
tables, as_of = read_tables(paths, ["customers", "surveys"]), extract_time(config)
journeys = read_journeys(paths.journeys, typed_only=True)[0] if paths.journeys.exists() else None   # no steps

# %%
dx, why_not = diagnose_drivers_if_possible(tables.get("surveys"), config, customers=tables.get("customers"),
                                           n_boot=n_boot or None, seed=seed)
if dx is None:
    display(Markdown(f"**Skipped:** {why_not}"))
cx = diagnose_churn(tables.get("customers"), config, journeys=journeys, as_of=as_of, n_boot=n_boot or None,
                    driver_X=dx.X if dx is not None else None, driver_y=dx.y if dx is not None else None, seed=seed)
cx.write(paths)
if dx is not None:
    dx.write(paths)
record_metrics(paths.metrics, "drivers", build_driver_metrics(dx, cx))
cur = cx.currency

# %% [markdown]
# ## Summary

# %%
display(Markdown(format_bullets((dx.summary() if dx is not None else []) + cx.summary())))

# %% [markdown]
# ## Key drivers, two methods
#
# Shares of explained variance; the two methods agree when the bars agree. Intervals come from
# resampling respondents; the rank interval says how sure the ordering is.

# %%
if dx is not None:
    fig, ax = plt.subplots(figsize=(9, 0.6 + 0.42 * len(dx.importance)))
    plot_driver_importance(dx.importance, ax=ax, title=f"What drives {dx.outcome}")
    plt.show()
    shares = [c for c in dx.importance if c.startswith(("shapley", "rw"))]
    display(style_table(dx.importance.drop(columns=["fix_first"]), shares=shares + ["performance"], share_digits=1,
                        counts=["rank", "rank_lo", "rank_hi", "n_rated"], decimals={"mean_score": 2}))
    if dx.model.shapley_se_ is not None:
        display(Markdown(f"With {len(dx.importance)} drivers the Shapley values are sampled over permutations; "
                         f"the largest Monte-Carlo standard error is {dx.model.shapley_se_.max():.4f} (in R² units)."))

# %% [markdown]
# ## Importance against performance
#
# Drivers in the top-left quadrant matter more than most and score lower than most: the first
# candidates for improvement (drawn in red). Bottom-right drivers score well but matter little.

# %%
if dx is not None:
    fig, ax = plt.subplots(figsize=(8, 5.5))
    plot_importance_performance(dx.importance, ax=ax)
    plt.show()

# %% [markdown]
# ## Journeys or touchpoints?
#
# The same decomposition with the journey ratings as one block and the touchpoint ratings as the
# other: the client's own answer to whether journeys predict the outcome better than touchpoints.

# %%
if dx is not None and getattr(dx.model, "groups_", None) is not None:
    display(style_table(dx.model.groups_, shares=["share", "lo", "hi"], decimals={"r2": 3}))
elif dx is not None:
    display(Markdown("*Skipped:* the drivers come from one survey level only, so there are no blocks to compare."))

# %% [markdown]
# ## Drivers by segment
#
# Does the ranking differ between segments? Each segment gets its own analysis and intervals;
# overlapping intervals mean the data cannot tell the segments apart on that driver.

# %%
if dx is not None and dx.segments:
    for col, seg in dx.segments.items():
        if not len(seg):
            display(Markdown(f"*{col}:* no segment has enough respondents."))
            continue
        fig, ax = plt.subplots(figsize=(9, 5))
        plot_segment_drivers(seg, ax=ax, title=f"Drivers by {col}")
        plt.show()
        display(Markdown(dx.top_by_segment(col)))
elif dx is not None:
    display(Markdown("*Skipped:* the client's settings name no segment columns to compare."))

# %% [markdown]
# ## Drivers weighted by customer value
#
# The same analysis with each respondent weighted by what the customer is worth (lifetime value
# where the client sends it, else monthly revenue): what matters to the customers worth most,
# beside what matters to all.

# %%
if dx is not None and dx.value_model is not None:
    vt = dx.value_table()
    display(style_table(vt, shares=list(vt.columns), share_digits=1))
elif dx is not None:
    display(Markdown("*Skipped:* the customer table has no lifetime value or monthly revenue to weight by."))

# %% [markdown]
# ## Must-haves and delighters
#
# The outcome's drop after a poor score (below the green threshold) and its gain after an
# excellent one (the top of the scale), against a middling score, with every driver in the model at
# once. A *must-have* clearly punishes failure but earns nothing measurable for excellence; a
# *delighter* is the reverse; *both ways* does both; *no clear effect* has neither interval clear
# of zero; *unexpected* (a poor score with a better outcome) is a reason to check the data.

# %%
if dx is not None and dx.asymmetry is not None:
    fig, ax = plt.subplots(figsize=(9, 0.6 + 0.42 * len(dx.asymmetry)))
    plot_penalty_reward(dx.asymmetry, ax=ax, unit=dx.effect_unit)
    plt.show()

# %% [markdown]
# ## Who leaves: the churn model
#
# A logistic regression of churn on customer attributes, value and, where there are events, the
# journeys each customer went through and whether they went wrong. With churn dates the model
# uses *landmarks*: at each landmark it looks only at what happened before it and predicts who
# leaves in the period after, so nothing from the future leaks in. Its quality is the
# cross-validated ROC AUC (0.5 is guessing, 1 is perfect) with a bootstrap interval, and the
# calibration: do customers given a 10% risk leave 10% of the time?

# %%
if cx.model is not None:
    display(Markdown(cx.describe_design()))
    fig, axes = plt.subplots(1, 2, figsize=(13, 5.5), gridspec_kw={"width_ratios": [1, 1.3]})
    plot_calibration(cx.model.calibration_, ax=axes[0])
    plot_odds_ratios(cx.model.drivers_, ax=axes[1])
    plt.tight_layout()
    plt.show()
    display(style_table(cx.model.drivers_[["odds_ratio", "lo", "hi", "per", "prevalence", "rank"]],
                        decimals={"odds_ratio": 2, "lo": 2, "hi": 2}, shares=["prevalence"], counts=["rank"]))
else:
    display(Markdown(f"*Skipped:* {cx.skipped_about('churn model', 'the client')}"))

# %% [markdown]
# ## What customers write
#
# Free-text comments grouped into themes, with the share of commenting detractors and promoters
# who mention each one (95% intervals). A theme that detractors mention far more often than
# promoters points at a break. Comments are never shown as written unless the client's privacy
# settings allow it; excerpts have e-mail addresses, phone numbers and ids masked.

# %%
commented = comment_frame(tables.get("surveys"))
themes = summarize_comment_themes(commented, group="group", themes=config.privacy.comment_themes or None) \
    if len(commented) else None
if themes is not None:
    display(Markdown(describe_comment_themes(themes, len(commented))))
if themes is not None and len(themes):
    groups = list_comment_groups(themes)
    plot_comment_themes(themes, groups=groups)
    plt.show()
    cols = ["comments", "share"] + [f"{g} share" for g in groups]
    display(style_table(themes[cols], counts=["comments"], shares=cols[1:], share_digits=0))
elif themes is None:
    display(Markdown("*Skipped:* the surveys carry no free-text comments."))

# %%
if themes is not None and len(themes) and config.privacy.comments != "themes":
    for theme in themes.index[:3]:
        quotes = pick_excerpts(commented, theme, themes=config.privacy.comment_themes or None, seed=seed,
                               verbatim=config.privacy.comments == "verbatim")
        display(Markdown(f"**{theme}**: " + " · ".join(f"“{q}”" for q in quotes)))

# %% [markdown]
# ## Why customers say they left
#
# Stated reasons, grouped into the classic benchmark categories where the client's settings map
# them, against the benchmark: 1% die, 3% move away, 5% follow
# other relationships, 9% leave for the competition, 14% are dissatisfied with the product and
# 68% leave because of staff indifference.

# %%
if cx.reasons is not None:
    fig, ax = plt.subplots(figsize=(11, 4.5))
    plot_churn_reasons(cx.reasons, ax=ax)
    plt.show()
    display(Markdown(cx.describe_reasons()))
else:
    display(Markdown("*Skipped:* the customer table has no stated churn reasons."))

# %% [markdown]
# ## Revenue at risk
#
# Per journey type: journeys per year × the churn it adds above the baseline × monthly revenue ×
# the revenue horizon, only for types whose customers churn more after a journey that went wrong
# than after one that went right (fixing the journey can remove only that churn). Types overlap (a
# new customer goes through installation and onboarding), so the rows are not additive. Per churn
# driver: for the customers who carry it, the churn probability it adds in the model × their
# revenue × the horizon. Only what the client can act on is priced: journeys and what happened in
# them, and the customer columns the client's settings name as actionable; other customer attributes
# (segment, tenure, services) stay in the model as controls.

# %%
jm, priced = cx.journey_money, cx.priced_drivers()
if jm is not None and len(jm):
    fig, ax = plt.subplots(figsize=(9, 0.8 + 0.45 * len(jm)))
    plot_money(jm, ax=ax, currency=cur, title=f"Revenue at risk per journey type ({cx.horizon_months}-month horizon)")
    plt.show()
    display(style_table(jm, counts=["journeys_per_year", "n", "n_excluded"], money=["value", "lo", "hi"],
                        shares=["churn", "uplift", "uplift_lo", "uplift_hi", "wrong_churn_diff", "wrong_churn_diff_lo",
                                "wrong_churn_diff_hi"], decimals={"monthly_revenue": 2}))
if priced is not None and len(priced):
    fig, ax = plt.subplots(figsize=(9, 0.8 + 0.45 * len(priced)))
    plot_money(priced, ax=ax, currency=cur, title=f"Revenue at risk per churn driver ({cx.horizon_months}-month horizon)",
               xlabel=f"{cur} {cx.per} (95% CI)")
    plt.show()
if cx.driver_money is not None:
    display(style_table(cx.driver_money_table(), counts=["customers"], rounded=["excess_churners"],
                        money=["value", "lo", "hi"]))
if jm is None and cx.driver_money is None:
    display(Markdown("*Skipped:* " + "; ".join(cx.skipped)))

# %% [markdown]
# ## Improvement scenarios
#
# What would a fix be worth? Each scenario changes one journey (fewer journeys that go wrong, or a
# higher journey score) and predicts the churners saved, the revenue kept over the horizon and the
# change in relationship NPS, with 95% intervals. Unless the client's settings name other
# scenarios, each journey's went-wrong share falls by the share a fix is assumed to remove (half,
# by default) and each rated journey score rises by one point.

# %%
sc = cx.scenarios
if sc is not None and len(sc):
    fig, ax = plt.subplots(figsize=(9, 0.8 + 0.45 * len(sc)))
    plot_money(sc, ax=ax, value="revenue_kept", currency=cur, title="Revenue kept per year, by scenario",
               xlabel=f"{cur} kept per year ({cx.horizon_months}-month horizon, 95% CI)")
    plt.show()
    cols = [c for c in sc if c.startswith(("churners_saved", "revenue_kept", "nps_change"))]
    display(style_table(sc[cols], money=[c for c in cols if c.startswith("revenue")],
                        rounded=[c for c in cols if c.startswith("churners")],
                        decimals={c: 1 for c in cols if c.startswith("nps")}))
else:
    display(Markdown("*Skipped:* " + (cx.skipped_about("scenario") or "no scenarios apply.")))
