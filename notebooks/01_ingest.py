# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Data received and its quality
#
# This section accounts for every row the client sent: each one is either **loaded** into the
# canonical tables (customers, events, surveys) or **quarantined** with a reason. It then profiles
# what was loaded: the period covered, the channel mix, how many interactions a customer has, and
# how many customers answer surveys.

# %%
from IPython.display import Markdown, display

from cxlib.core.formatting import format_bullets, style_table
from cxlib.ingest import ingest_client, list_quarantine_examples, write_ingest
from cxlib.ingest.semantics import describe_event_semantics, semantics_table
from cxlib.ingest.profile import (count_events_per_customer, count_events_per_week, describe_interactions,
                                  describe_standard_headlines, measure_standard_headlines, profile_coverage,
                                  summarize_channel_mix, summarize_contact_reasons, summarize_survey_response)
from cxlib.plotting import (plot_channel_mix, plot_events_over_time, plot_events_per_customer,
                            plot_quarantine_reasons, plot_row_accounting, plot_score_distributions)
from cxlib.report.metrics import record_metrics
from cxlib.report.notebooks import open_section
from cxlib.report.provenance import list_inputs

# %% tags=["parameters"]
client: str = "demo"
data_root: str = "../data"
reports_root: str = "../reports"
seed: int = 42
n_boot: int = 0  # bootstrap resamples (0: as configured; 50: a quick look while iterating)
engine: str = ""  # duckdb or spark for the events (empty: as client.yml says)

# %%
# Reads the client's files (client.yml); writes paths.tables_dir, paths.quarantine_dir and the ingest figures.
paths, config = open_section(client, data_root, reports_root)
engine = engine or config.engine

# %%
result = ingest_client(config, paths.data_dir, engine=engine, spark=config.spark)   # on Spark the events stay there
write_ingest(result, paths)
record_metrics(paths.metrics, "ingest", result.metrics())
tables = result.tables
headlines = measure_standard_headlines(tables, scales=config.all_scales(), green=config.analysis.green_threshold,
                                       undated=config.undated_tables())
record_metrics(paths.metrics, "headlines", headlines)
display(Markdown(format_bullets(describe_standard_headlines(headlines) + result.summary(config.name))))

# %% [markdown]
# ## Row accounting
#
# One row per table; the reason columns add up to the quarantined rows. Rows from wide survey
# exports (one row per respondent) are counted after melting: one row per rating.

# %%
accounting = result.reason_table()
display(style_table(accounting, counts=accounting.columns))
plot_row_accounting(accounting);

# %% [markdown]
# ## Identity stitching
#
# Some systems know the customer by another identifier (a phone number, a hashed e-mail address).
# The client's identities table maps those to customer ids. Per table: rows whose id was already a
# customer id (*direct*), rows matched through the map (*stitched*), and rows matched by neither
# (*unmatched*, quarantined as an unknown customer).

# %%
if result.identity:
    display(style_table(result.identity_table(), counts=["direct", "stitched", "unmatched"],
                        shares=["match_rate"], share_digits=2))
else:
    display(Markdown("No identities table: every source identifies customers by the customer id itself."))

# %% [markdown]
# ## Why rows were quarantined
#
# Each reason with what it means and up to three example rows (file, line and the offending value).
# Customer ids are shown as pseudonyms unless the client's privacy settings allow them. The full list, with every raw
# row, is in the run folder's `quarantine/` folder, for the analyst only.

# %%
if len(result.quarantine):
    plot_quarantine_reasons(result.quarantine)
    display(style_table(result.reasons(), counts=["rows"], hide_index=True))
    examples = list_quarantine_examples(result.quarantine, 3, show_identifiers=config.privacy.show_identifiers,
                                        salt=client)
    display(style_table(examples, hide_index=True))
else:
    display(Markdown("No rows were quarantined."))

# %% [markdown]
# ## Loaded, but worth a look
#
# Rows that were loaded but deserve a question to the client: tables that arrived without rows,
# and events or survey answers dated before the customer's signup date.

# %%
notes = result.note_table()
if len(notes):
    display(style_table(notes[["table", "check", "rows", "message"]], counts=["rows"], hide_index=True))
else:
    display(Markdown("Nothing to note: every loaded table has rows and no row predates its customer."))

# %% [markdown]
# ## What the data covers

# %%
display(style_table(profile_coverage(tables), counts=["rows", "days"]))

# %% [markdown]
# ## Interactions
#
# How busy each channel is and how many interactions a customer has. Agent-handled contacts are the
# ones the contact cascade (section 4) works on.

# %%
if "events" in tables:
    events = tables["events"]
    per_customer = count_events_per_customer(events)    # counted where the events are (pandas or Spark)
    mix = summarize_channel_mix(events)
    display(Markdown(describe_interactions(per_customer, mix)))
    plot_channel_mix(mix)
    display(style_table(mix, counts=["events", "with_agent"], shares=["share", "agent_share"]))
else:
    display(Markdown("**No events table.** Journeys, contact volumes and the contact cascade cannot be analysed."))

# %% [markdown]
# ### What the events are
#
# Only contacts the customer started count as contacts: a bill, a letter, a workflow step or an
# outbound call is not the customer getting in touch. Where the data does not say, the channel's
# default is used and counted here.

# %%
if result.semantics is not None:
    display(Markdown(describe_event_semantics(result.semantics)))
    display(style_table(semantics_table(result.semantics), counts=["events", "inferred"], hide_index=True))

# %% [markdown]
# ### Why customers get in touch
#
# The customer's own contacts by reason, with 95% intervals on each share. Reasons are the
# client's codes, or groups of free text where the config sets reason rules.

# %%
reasons = summarize_contact_reasons(tables["events"]) if "events" in tables else None
if reasons is not None and len(reasons):
    display(style_table(reasons, counts=["contacts", "customers"], shares=["share", "share_lo", "share_hi"],
                        hide_index=True))
else:
    display(Markdown("The events carry no contact reasons: why customers get in touch is not analysed."))

# %%
if "events" in tables:
    plot_events_over_time(count_events_per_week(tables["events"]))
    plot_events_per_customer(per_customer);

# %% [markdown]
# ## Surveys
#
# Responses per survey level and metric. *Rated share* is the share of responses with a score: a
# 'not rated' answer is kept as missing, never as zero.

# %%
if "surveys" in tables:
    response = summarize_survey_response(tables["surveys"], tables.get("customers"))
    display(style_table(response, counts=["responses", "respondents"], shares=["rated_share", "response_rate"],
                        decimals={"mean_score": 2}))
    plot_score_distributions(tables["surveys"]);
else:
    display(Markdown("**No surveys table.** Scores, the watermelon check and driver analysis are not possible."))

# %% [markdown]
# ## Inputs
#
# The exact files this report was built from (SHA-256, shortened here). The full hashes are in the
# run's provenance record.

# %%
display(style_table(list_inputs(config, paths.config), counts=["bytes"], hide_index=True))
