# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Recommendations: what to fix first
#
# What should the client do, in what order, and what is each step worth? This section works
# down the contact cascade (remove avoidable contacts, move suitable contacts to self-service,
# manage agent performance), compares each customer's revenue with the cost of serving them,
# sets journey KPIs with owners and targets, and turns every finding of this report into a
# costed, ranked action.

# %%
import matplotlib.pyplot as plt
from IPython.display import Markdown, display

from cxlib.actions import diagnose_recommendations, format_kpi_table
from cxlib.core.dates import extract_time
from cxlib.core.formatting import format_bullets, format_numbered, style_table
from cxlib.core.jsonio import read_json
from cxlib.ingest import open_table, read_tables
from cxlib.journeys import read_journeys
from cxlib.plotting import plot_agent_funnel, plot_money, plot_shares, plot_value_deciles
from cxlib.report.metrics import record_metrics
from cxlib.report.notebooks import open_section

# %% tags=["parameters"]
client: str = "demo"
data_root: str = "../data"
reports_root: str = "../reports"
seed: int = 42
n_boot: int = 0  # bootstrap resamples (0: as configured; 50: a quick look while iterating)
engine: str = ""  # duckdb or spark for the event-level queries (empty: as client.yml says)

# %%
# Reads paths.table(...) (01), paths.journeys, paths.journey_steps and paths.journey_findings (02) and
# paths.scenarios and paths.churn_drivers (03); writes the recommendation figures. Only typed journeys are read; the events and
# the step table (a row per event) stay in their files, where the contact queries read them.
paths, config = open_section(client, data_root, reports_root)
tables, as_of = read_tables(paths, ["customers", "surveys"]), extract_time(config)
events = open_table(paths, "events")
journeys, steps = read_journeys(paths.journeys, paths.journey_steps, steps_in_place=True, typed_only=True) \
    if paths.journeys.exists() else (None, None)
top = config.analysis.recommendations.top
engine = engine or config.engine

# %%
rx = diagnose_recommendations(config, customers=tables.get("customers"), events=events,
                              surveys=tables.get("surveys"), journeys=journeys, steps=steps, as_of=as_of,
                              scenarios=read_json(paths.scenarios, []),
                              journey_findings=read_json(paths.journey_findings, []),
                              driver_priorities=read_json(paths.driver_priorities, []),
                              churn_drivers=read_json(paths.churn_drivers, []), seed=seed,
                              engine=engine, spark=config.spark)
record_metrics(paths.metrics, "recommendations", rx.metrics())
cur, acts = rx.currency, rx.actions

# %% [markdown]
# ## Summary

# %%
if len(acts):
    display(Markdown(rx.describe_ranking(top) + "\n\n" + format_numbered(rx.list_priorities(top))))
display(Markdown(format_bullets(rx.summary()) or "*No recommendation could be made from the tables received.*"))

# %% [markdown]
# ## The action list
#
# Every finding of this report is a candidate action with its evidence, the data it rests on,
# an owner, an effort level and the value of doing it (a year where the data's period allows),
# as a 95% interval. A fix is assumed to remove a share of its problem (half, within a range of
# a quarter to three quarters, unless the client's settings say otherwise); each value says so,
# and its interval is widened to carry that range. Journey fixes keep churners (revenue kept), and
# so do churn-driver actions: customers with a trait the client can change (a contract type, a
# payment method) who churn more for it. Contact, agent and cost-to-serve actions save cost. The
# values overlap, so they do not add up.

# %%
priced = rx.priced_actions()
if len(priced):
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(priced) + 1.2))
    plot_money(priced.set_index("title"), ax=ax, currency=cur, title="Value of each action",
               xlabel=f"{cur} {rx.per} (95% CI, assumption included)")
    plt.show()
if len(acts):
    display(Markdown(rx.describe_values()))
    display(style_table(rx.action_table(), counts=["priority"], hide_index=True))
else:
    display(Markdown("*Skipped:* no action could be proposed from the tables received."))

# %% [markdown]
# ## Contact cascade, step 1: avoidable contacts
#
# An agent contact is **avoidable** when the customer should not have needed it: a **repeat**
# (the same reason again within the repeat window after a contact that left it unresolved, or a
# step a journey already had), **status chasing** ("where is my ..."), **failure demand** (a
# contact right after a known failure such as a failed visit or an incorrect bill, other than the
# journey that handles that failure) or a configured rule. Each points to a root cause.

# %%
if rx.by_cause is not None and len(rx.by_cause):
    plot_shares(rx.by_cause.set_index("avoidable_cause"), value="share_all",
                title="Avoidable contacts by cause", xlabel="% of agent contacts (95% CI)")
    plt.show()
    cols = ["avoidable_cause", "root_cause", "owner", "avoidable", "share_all", "cost_per_year", "cost_lo", "cost_hi"]
    display(Markdown("**Top root causes** (contacts and cost per year):"))
    display(style_table(rx.by_root[cols].head(12), counts=["avoidable"], shares=["share_all"],
                        money=["cost_per_year", "cost_lo", "cost_hi"], hide_index=True))
    display(Markdown("**By journey** (share of each journey's agent contacts that is avoidable):"))
    by_journey = rx.by_journey.fillna({"journey_type": "outside typed journeys"})
    display(style_table(by_journey[["journey_type", "contacts", "avoidable", "share", "share_lo", "share_hi",
                                    "cost_per_year"]], counts=["contacts", "avoidable"],
                        shares=["share", "share_lo", "share_hi"], money=["cost_per_year"], hide_index=True))
else:
    display(Markdown("*Skipped:* " + (rx.skipped_about("contact") or "no agent contacts.")))

# %% [markdown]
# ## Contact cascade, step 2: self-service fit
#
# For each contact reason and segment: how often a self-service attempt (IVR, web, app) succeeds
# without an agent contact about the same reason in the next days (**containment**), how complex the
# reason is for agents (handle time against the average), and how satisfied customers are in each
# channel. **Fit** combines the three; the contacts that could move and their saving follow from
# the containment self-service already achieves.

# %%
ss = rx.self_service
if ss is not None and len(ss):
    cols = ["contact_reason", "segment", "attempts", "containment", "containment_lo", "containment_hi",
            "complexity", "score_self", "score_assisted", "fit", "movable", "saving", "saving_lo", "saving_hi"]
    display(style_table(ss[cols], counts=["attempts", "movable"], money=["saving", "saving_lo", "saving_hi"],
                        shares=["containment", "containment_lo", "containment_hi"], share_digits=0,
                        decimals={"complexity": 2, "score_self": 2, "score_assisted": 2, "fit": 2}, hide_index=True))
    display(Markdown(rx.describe_self_service_risk()))
else:
    display(Markdown("*Skipped:* no self-service attempts with a contact reason in the events."))

# %% [markdown]
# ## Contact cascade, step 3: agent performance
#
# First-contact resolution (FCR), handle time (adjusted for channel mix) and CSAT per agent,
# shrunk toward the team for small numbers (empirical Bayes) with 95% intervals. An agent is
# flagged when they lie outside the 99.8% limits of a funnel plot that allows for the normal
# spread between agents: about one false alarm per thousand agent-metrics.

# %%
funnels = [m for m in ("fcr", "aht_s") if m in rx.agent_metrics()]
if rx.agents is not None and len(rx.agents) and rx.agent_metrics():
    fig, axes = plt.subplots(1, max(len(funnels), 1), figsize=(11, 4), squeeze=False)
    for ax, m in zip(axes[0], funnels):
        plot_agent_funnel(rx.agents, ax=ax, metric=m)
    plt.tight_layout()
    plt.show()
    flagged = rx.flagged_agents()
    display(Markdown(rx.describe_flagged_agents(config.analysis.contacts.min_agent_contacts)))
    if len(flagged):
        display(style_table(flagged, shares=[c for c in flagged if c.startswith("fcr")], share_digits=0,
                            counts=[c for c in flagged if c.startswith("aht") or c in ("contacts", "csat_n")],
                            decimals={c: 2 for c in flagged if c.startswith("csat") and c != "csat_n"}))
else:
    display(Markdown("*Skipped:* " + (rx.skipped_about("agent") or
                                      "the agent contacts have no outcome, handle time or rating to score.")))

# %% [markdown]
# ## Value-based service
#
# Revenue per customer against the cost of serving them: the fixed monthly service cost plus
# their contacts priced by channel, over the months observed. Serve the most valuable customers
# best, and find the unprofitable ones and what drives their cost.

# %%
if rx.value is not None:
    plot_value_deciles(rx.deciles, currency=cur)
    plt.show()
    display(Markdown("**What drives the unprofitable customers' cost** (monthly cost per channel and attribute "
                     "levels, unprofitable against the rest):"))
    display(style_table(rx.unprofitable_drivers.head(12), decimals={"unprofitable": 2, "rest": 2, "ratio": 1},
                        hide_index=True))
    display(Markdown("**Suggested service tier per segment and value band:**"))
    display(style_table(rx.tiers, decimals={"revenue": 2, "cost_to_serve": 2, "margin": 2},
                        shares=["unprofitable_share"], counts=["customers"], hide_index=True))
else:
    display(Markdown("*Skipped:* " + (rx.skipped_about("value") or "no revenue data.")))

# %% [markdown]
# ## Journey KPIs and owners
#
# The KPIs to manage per journey type, with today's value (95% interval), a target (a configured
# benchmark, else the best customer segment) and the owning department (configured, else the
# department with the most touchpoints in the journey).

# %%
if rx.kpis is not None and len(rx.kpis):
    display(style_table(format_kpi_table(rx.kpis), counts=["n"], hide_index=True))
else:
    display(Markdown("*Skipped:* " + (rx.skipped_about("KPI") or "no journeys.")))
