"""Write the numbered notebooks from their cell sources (kept here so diffs stay readable).

Run ``python tools/build_notebooks.py`` after editing; the notebooks are committed
without outputs.
"""
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent.parent / "notebooks"

PARAMETERS = '''client: str = "demo"
data_root: str = "../data"
reports_root: str = "../reports"
seed: int = 42'''

DERIVED = '''paths = resolve_client_paths(client, data_root, reports_root)
config = load_config(paths.config)
set_house_style()'''


def params_cell():
    return new_code_cell(PARAMETERS, metadata={"tags": ["parameters"]})


def notebook(cells):
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    return nb


INGEST = [
    new_markdown_cell("""# Data received and its quality

This section accounts for every row the client sent: each one is either **loaded** into the
canonical tables (customers, events, surveys) or **quarantined** with a reason. It then profiles
what was loaded: the period covered, the channel mix, how many interactions a customer has, and
how many customers answer surveys."""),
    new_code_cell("""import pandas as pd
from IPython.display import Markdown, display

from cxlib.config import load_config
from cxlib.ingest import REASONS, ingest_client, list_quarantine_examples, write_ingest
from cxlib.metrics import record_metrics
from cxlib.paths import resolve_client_paths
from cxlib.plotting import (plot_channel_mix, plot_events_over_time, plot_events_per_customer,
                            plot_quarantine_reasons, plot_row_accounting, plot_score_distributions,
                            set_house_style)
from cxlib.profile import (count_events_per_customer, profile_coverage, summarize_channel_mix,
                           summarize_survey_response)
from cxlib.provenance import hash_inputs"""),
    params_cell(),
    new_code_cell(DERIVED),
    new_code_cell("""result = ingest_client(config, paths.data_dir)
write_ingest(result, paths.tables_dir, paths.quarantine_dir)
ingest_metrics = record_metrics(paths.metrics, "ingest", result.metrics())["ingest"]
tables = result.tables
rows_in = sum(v["rows_in"] for v in ingest_metrics.values())
loaded = sum(v["loaded"] for v in ingest_metrics.values())
quarantined = sum(v["quarantined"] for v in ingest_metrics.values())
display(Markdown(
    f"**{config.name}** sent **{rows_in:,}** rows across {len(ingest_metrics)} table(s). "
    f"**{loaded:,}** ({loaded / max(rows_in, 1):.1%}) were loaded and **{quarantined:,}** "
    f"({quarantined / max(rows_in, 1):.1%}) were quarantined with a reason. Nothing was dropped silently: "
    f"for every table, rows in = loaded + quarantined."))
if result.absent:
    display(Markdown(
        f"**Not provided:** {', '.join(result.absent)}. The later sections say what they cannot "
        "analyse without these tables and do the rest."))"""),
    new_markdown_cell("""## Row accounting

One row per table; the reason columns add up to the quarantined rows. Rows from wide survey
exports (one row per respondent) are counted after melting: one row per rating."""),
    new_code_cell("""accounting = result.reason_table()
assert (accounting["rows in"] == accounting["loaded"] + accounting["quarantined"]).all()
display(accounting.style.format("{:,}"))
plot_row_accounting(accounting);"""),
    new_markdown_cell("""## Identity stitching

Some systems know the customer by another identifier (a phone number, a hashed e-mail address).
The client's identities table maps those to customer ids. Per table: rows whose id was already a
customer id (*direct*), rows matched through the map (*stitched*), and rows matched by neither
(*unmatched*, quarantined as `unknown_customer`)."""),
    new_code_cell("""if result.identity:
    ident = pd.DataFrame(result.identity).T
    display(ident.style.format({"direct": "{:,}", "stitched": "{:,}", "unmatched": "{:,}", "match_rate": "{:.2%}"}))
    ev_id = result.identity.get("events")
    if ev_id:
        display(Markdown(f"{ev_id['stitched']:,} events were linked to their customer through a secondary id; "
                         f"the event match rate is {ev_id['match_rate']:.2%}."))
else:
    display(Markdown("No identities table: every source identifies customers by the customer id itself."))"""),
    new_markdown_cell("""## Why rows were quarantined

Each reason with what it means and up to three example rows (file, line and the offending value).
Customer ids are shown as pseudonyms (`privacy.show_identifiers`). The full list, with every raw
row, is in the run folder's `quarantine/quarantine.csv`, for the analyst only."""),
    new_code_cell("""q = result.quarantine
if len(q):
    plot_quarantine_reasons(q)
    reasons = q.groupby(["table", "reason"]).size().rename("rows").reset_index()
    reasons["meaning"] = reasons["reason"].map(REASONS)
    display(reasons.style.format({"rows": "{:,}"}).hide(axis="index"))
    examples = list_quarantine_examples(q, 3, show_identifiers=config.privacy.show_identifiers, salt=client)
    display(examples.style.format(na_rep="–").hide(axis="index"))
else:
    display(Markdown("No rows were quarantined."))"""),
    new_markdown_cell("""## Loaded, but worth a look

Rows that were loaded but deserve a question to the client: tables that arrived without rows,
and events or survey answers dated before the customer's signup date."""),
    new_code_cell("""notes = result.note_table()
if len(notes):
    display(notes[["table", "check", "rows", "message"]].style.format({"rows": "{:,}"}).hide(axis="index"))
else:
    display(Markdown("Nothing to note: every loaded table has rows and no row predates its customer."))"""),
    new_markdown_cell("""## What the data covers"""),
    new_code_cell("""coverage = profile_coverage(tables)
display(coverage.style.format({"rows": "{:,}", "days": "{:,.0f}"}, na_rep="-"))"""),
    new_markdown_cell("""## Interactions

How busy each channel is and how many interactions a customer has. Agent-handled contacts are the
ones the contact cascade (section 4) works on."""),
    new_code_cell("""if "events" in tables:
    events = tables["events"]
    per_customer = count_events_per_customer(events)
    mix = summarize_channel_mix(events)
    display(Markdown(
        f"{len(events):,} events from {per_customer.size:,} customers: a median of "
        f"{per_customer.median():,.0f} events per customer (90% of customers have at most "
        f"{per_customer.quantile(0.9):,.0f}). {mix['with_agent'].sum() / len(events):.1%} of events were "
        f"handled by an agent."))
    plot_channel_mix(mix)
    display(mix.style.format({"events": "{:,}", "with_agent": "{:,}", "share": "{:.1%}", "agent_share": "{:.1%}"}))
else:
    display(Markdown("**No events table.** Journeys, contact volumes and the contact cascade cannot be analysed."))"""),
    new_code_cell("""if "events" in tables:
    plot_events_over_time(tables["events"])
    plot_events_per_customer(per_customer);"""),
    new_markdown_cell("""## Surveys

Responses per survey level and metric. *Rated share* is the share of responses with a score: a
'not rated' answer is kept as missing, never as zero."""),
    new_code_cell("""if "surveys" in tables:
    response = summarize_survey_response(tables["surveys"], tables.get("customers"))
    fmt = {"responses": "{:,}", "respondents": "{:,}", "rated_share": "{:.1%}", "mean_score": "{:.2f}",
           "response_rate": "{:.1%}"}
    display(response.style.format({k: v for k, v in fmt.items() if k in response.columns}))
    plot_score_distributions(tables["surveys"]);
else:
    display(Markdown("**No surveys table.** Scores, the watermelon check and driver analysis are not possible."))"""),
    new_markdown_cell("""## Inputs

The exact files this report was built from (SHA-256). The same hashes are in `provenance.json`."""),
    new_code_cell("""inputs = pd.DataFrame(hash_inputs(config, paths.config))
inputs["file"] = inputs["path"].str.rsplit("/", n=1).str[-1]
inputs["sha256"] = inputs["sha256"].str[:16] + "…"
display(inputs[["role", "file", "bytes", "sha256"]].style.format({"bytes": "{:,}"}).hide(axis="index"))"""),
]


JOURNEYS = [
    new_markdown_cell("""# Journeys: where they break

Customers do not experience touchpoints, they experience journeys: a new installation, a house
move, a repair, a billing dispute. This section rebuilds every journey instance from the event
log, then asks which journeys break, where (steps, waits, handoffs between departments, repeat
contacts, rework, drop-outs) and for whom. It checks for the *watermelon* (touchpoints green,
journey red) and for journey scores that split into two groups, and finds what separates them."""),
    new_code_cell("""import pandas as pd
from IPython.display import Markdown, display

from cxlib.config import load_config
from cxlib.ingest import extract_time, read_tables
from cxlib.journey_report import diagnose_journeys
from cxlib.journey_stats import build_dfg, count_channel_switches, find_variants, map_stages, summarize_rework
from cxlib.metrics import read_metrics, record_metrics
from cxlib.paths import resolve_client_paths
from cxlib.plotting import (plot_bimodality, plot_channel_switches, plot_journey_catalogue, plot_journey_map,
                            plot_variants, plot_watermelon, set_house_style)
from cxlib.uncertainty import format_share"""),
    params_cell(),
    new_code_cell(DERIVED + """
tables = read_tables(paths.tables_dir)
as_of = extract_time(config)
has_events = "events" in tables and len(tables["events"]) > 0"""),
    new_code_cell("""if has_events:
    dx = diagnose_journeys(paths.table("events"), config.analysis, customers=tables.get("customers"),
                           surveys=tables.get("surveys"), as_of=as_of, seed=seed)
    dx.write(paths.journeys_dir)
    record_metrics(paths.metrics, "journeys", dx.metrics())
    cat = dx.catalogue
else:
    dx = None
    display(Markdown("**No events table:** journeys cannot be reconstructed, so this section is empty."))"""),
    new_markdown_cell("""## Summary"""),
    new_code_cell("""if dx is not None:
    lines = [f"- **{len(dx.journeys):,} journey instances** were rebuilt from {len(dx.steps):,} events; "
             f"{dx.coverage:.1%} of events belong to a defined journey type."]
    unclassified = dx.steps.loc[dx.steps["journey_type"] == "unclassified", "touchpoint"].value_counts()
    if len(unclassified):
        lines[-1] += (" The rest form unclassified episodes; their most common touchpoints are "
                      + ", ".join(f"'{t}' ({n:,})" for t, n in unclassified.head(3).items()) + ".")
    if len(cat):
        worst = cat["churn_90d"].idxmax() if cat["churn_90d"].notna().any() else None
        if worst is not None and pd.notna(cat.loc[worst, "churn_90d_baseline"]):
            r = cat.loc[worst]
            lines.append(f"- **{worst}** is followed by the most churn: "
                         f"{format_share(r['churn_90d'], (r['churn_90d_ci_low'], r['churn_90d_ci_high']), int(r['churn_90d_n']), 1)} "
                         f"of customers leave within {config.analysis.churn_window_days} days, against "
                         f"{r['churn_90d_baseline']:.1%} of all customers in any such window.")
        for jt in cat.index[dx.watermelon.reindex(cat.index, fill_value=False)]:
            r = cat.loc[jt]
            lines.append(f"- **Watermelon: {jt}.** {r['touchpoint_green_share']:.0%} of its touchpoint ratings are green "
                         f"(n = {int(r['touchpoint_ratings_n']):,}) but only {r['journey_green_share']:.0%} of journey "
                         f"ratings are (95% CI {r['journey_green_ci_low']:.0%}–{r['journey_green_ci_high']:.0%}, "
                         f"n = {int(r['journey_score_n']):,}).")
        for jt in dx.separations:
            lines.append(f"- **Two groups of {jt} scores.** " + dx.separation_sentence(jt))
        if not dx.separations and any(b.n for b in dx.bimodality.values()):
            lines.append("- No journey type has a bimodal score distribution.")
    for s in dx.skipped:
        lines.append(f"- *Skipped:* {s}")
    display(Markdown("\\n".join(lines)))"""),
    new_markdown_cell("""## How events became journeys

Events that carry a case id (an order or ticket) form one journey per case. Other events join a
journey when their touchpoint belongs to a configured journey type and they fall between its
start and end touchpoints; the rest become *unclassified* episodes, split by a gap of inactivity."""),
    new_code_cell("""ident = read_metrics(paths.metrics).get("ingest", {}).get("events", {}).get("identity")
if dx is not None and ident:
    display(Markdown(f"Identity: {ident['direct']:,} events carried the customer id and {ident['stitched']:,} were "
                     f"linked through a secondary id; {ident['unmatched']:,} matched no customer and were "
                     f"quarantined (match rate {ident['match_rate']:.2%})."))
if dx is not None:
    how = dx.steps.groupby(["journey_type", "assigned_by"]).size().unstack(fill_value=0)
    how["events"] = how.sum(axis=1)
    how["share of events"] = how["events"] / how["events"].sum()
    display(how.style.format({c: "{:,}" for c in how.columns if c != "share of events"} | {"share of events": "{:.1%}"}))"""),
    new_markdown_cell("""## Journey catalogue

Per journey type: volume, completion (reached an end touchpoint; journeys still within their
maximum duration at the extract date are left out), duration, touchpoints, handoffs between
departments, the journey score and churn within the churn window after the journey ended.
Intervals are 95%; *n* is the number of journeys each figure rests on."""),
    new_code_cell("""if dx is not None and len(cat):
    show = cat[["owner", "n", "completion_rate", "median_duration_days", "p90_duration_days", "median_touchpoints",
                "median_departments", "median_handoffs", "mean_repeat_contacts", "rework_share",
                "journey_score_mean", "journey_score_n", "churn_90d", "churn_90d_n"]]
    display(show.style.format({"n": "{:,}", "completion_rate": "{:.1%}", "median_duration_days": "{:.1f}",
                               "p90_duration_days": "{:.1f}", "median_touchpoints": "{:.0f}",
                               "median_departments": "{:.0f}", "median_handoffs": "{:.0f}",
                               "mean_repeat_contacts": "{:.2f}", "rework_share": "{:.1%}",
                               "journey_score_mean": "{:.2f}", "journey_score_n": "{:,}",
                               "churn_90d": "{:.1%}", "churn_90d_n": "{:,}"}, na_rep="-"))
    if cat["churn_90d"].notna().any():
        plot_journey_catalogue(cat);"""),
    new_markdown_cell("""## Journey maps

One map per journey type. Touchpoints are placed at the median day they happen (first
occurrence) and in their department's lane, so every vertical move is a handoff. Dot size is
the share of journeys that reach the step; arrows are the main transitions with their median
wait; red rings mark rework or repeat contacts, red counts failed steps and black crosses the
steps where dropped-out journeys stopped. Below each map: its most common paths."""),
    new_code_cell("""if dx is not None:
    import matplotlib.pyplot as plt
    variants = find_variants(dx.steps, dx.journeys, top=8)
    for jt in dx.types:
        stages = map_stages(dx.steps, dx.journeys, jt)
        n_lanes = stages["department"].nunique() if len(stages) else 1
        fig, ax = plt.subplots(figsize=(12, 1.2 + 0.55 * n_lanes))
        plot_journey_map(stages, build_dfg(dx.steps, journey_type=jt), ax=ax, title=f"{jt}: journey map",
                         n_journeys=int(cat.loc[jt, "n"]))
        plt.show()
        v = variants[variants["journey_type"] == jt]
        fig, ax = plt.subplots(figsize=(9, 0.4 + 0.35 * len(v)))
        plot_variants(v, ax=ax, title=f"{jt}: most common paths")
        plt.show()
        display(v[["rank", "n", "share", "variant"]].style.format({"n": "{:,}", "share": "{:.1%}"}).hide(axis="index"))"""),
    new_markdown_cell("""## Directly-follows graph and waits

The most frequent transitions per journey type, with how long customers wait between the two
steps (median and 90th percentile, in days). Long waits and transitions back to an earlier step
are where journeys stall."""),
    new_code_cell("""if dx is not None:
    dfg = build_dfg(dx.steps, with_start_end=False)
    dfg = dfg[dfg["journey_type"].isin(dx.types)]
    top = dfg.sort_values("n", ascending=False).groupby("journey_type").head(8)
    display(top.sort_values(["journey_type", "n"], ascending=[True, False])
            .style.format({"n": "{:,}", "journeys": "{:,}", "median_wait_days": "{:.1f}", "p90_wait_days": "{:.1f}"})
            .hide(axis="index"))"""),
    new_markdown_cell("""## Rework loops

Touchpoints that journeys go through more than once (a second technician visit, a ticket taken
in charge again after a wait), how many journeys loop there, and the step that most often leads
back to it."""),
    new_code_cell("""if dx is not None:
    loops = summarize_rework(dx.steps[dx.steps["journey_type"].isin(dx.types)], top=5)
    if len(loops):
        display(loops.style.format({"repeats": "{:,}", "journeys": "{:,}", "share_of_journeys": "{:.1%}"})
                .hide(axis="index"))
    else:
        display(Markdown("No journey repeats a touchpoint."))"""),
    new_markdown_cell("""## Channel switches

Within journeys: for each channel, where the next step happens. Off-diagonal cells are channel
switches; a switch from a digital channel to the phone often means self-service failed."""),
    new_code_cell("""if dx is not None and dx.types:
    typed = dx.steps[dx.steps["journey_type"].isin(dx.types)]
    m = count_channel_switches(typed)
    if len(m):
        fig, ax = plt.subplots(figsize=(7, 5))
        plot_channel_switches(m, ax=ax)
        plt.show()"""),
    new_markdown_cell("""## The watermelon: touchpoints green, journey red

For each journey type, the share of touchpoint ratings at or above the client's green threshold
beside the share of journey ratings that are green. A type is flagged when its touchpoints are
green and its journey red, both at 95% confidence (thresholds in the config:
`watermelon_touchpoint_green`, `watermelon_journey_green`)."""),
    new_code_cell("""if dx is not None and len(cat) and cat["touchpoint_ratings_n"].sum() > 0 and cat["journey_score_n"].sum() > 0:
    plot_watermelon(cat, flags=dx.watermelon)
    wm = cat[["touchpoint_green_share", "touchpoint_ratings_n", "journey_green_share", "journey_score_n",
              "churn_90d"]].assign(watermelon=dx.watermelon)
    display(wm.style.format({"touchpoint_green_share": "{:.1%}", "touchpoint_ratings_n": "{:,}",
                             "journey_green_share": "{:.1%}", "journey_score_n": "{:,}", "churn_90d": "{:.1%}"},
                            na_rep="-"))
elif dx is not None:
    display(Markdown("*Skipped:* the watermelon check needs both touchpoint and journey ratings."))"""),
    new_markdown_cell("""## Bimodal journey scores and what separates the groups

A journey type's scores are called bimodal when a two-group mixture fits much better than one
(ΔBIC ≥ 10) *and* the distribution has a real valley between the groups. For each bimodal type,
a shallow decision tree finds the journey feature that best separates the low-scoring group; the
contrast table compares every feature between the groups with a bootstrap 95% interval."""),
    new_code_cell("""if dx is not None and (not len(cat) or cat["journey_score_n"].sum() == 0):
    display(Markdown("*Skipped:* there are no journey ratings to test."))
elif dx is not None and dx.bimodality:
    tests = pd.DataFrame([{"journey_type": jt, "n scores": b.n, "bimodal": b.bimodal, "ΔBIC": b.delta_bic,
                           "valley/peak": b.valley_ratio, "verdict": b.reason}
                          for jt, b in dx.bimodality.items()]).set_index("journey_type")
    display(tests.style.format({"n scores": "{:,}", "ΔBIC": "{:.1f}", "valley/peak": "{:.2f}"}, na_rep="-"))
    for jt, sep in dx.separations.items():
        b = dx.bimodality[jt]
        plot_bimodality(b.hist, antimode=b.antimode, title=f"{jt}: journey scores (n = {b.n:,})")
        plt.show()
        display(Markdown(dx.separation_sentence(jt)))
        display(sep["contrasts"].head(8)[["label", "low_mean", "high_mean", "difference", "ci_low", "ci_high"]]
                .style.format({c: "{:.2f}" for c in ["low_mean", "high_mean", "difference", "ci_low", "ci_high"]})
                .hide(axis="index"))"""),
    new_markdown_cell("""## Outputs

The journey table (one row per journey, with its score and churn flag) and the step table (one
row per event, with waits, handoffs, repeats and rework) are in the run folder's `journeys/`
for the driver and recommendation sections."""),
]


DRIVERS = [
    new_markdown_cell("""# Drivers: what matters most, and how sure we are

Which journeys and touchpoints move the outcome the client cares about (relationship NPS,
overall satisfaction or satisfied yes/no)? Two relative-importance methods that are built for
correlated ratings answer side by side: the **Shapley decomposition of R²** (each driver's average
gain in explained variance over every order of entry) and **Johnson's relative weights**. Every
share carries a 95% bootstrap interval, and so does every rank. A rating that was not given is
never read as a zero."""),
    new_code_cell("""import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import Markdown, display

from cxlib.churn_report import build_driver_metrics, diagnose_churn
from cxlib.comments import comment_frame, pick_excerpts, summarize_comment_themes
from cxlib.config import load_config
from cxlib.driver_report import diagnose_drivers
from cxlib.ingest import extract_time, read_tables
from cxlib.journeys import read_journeys
from cxlib.metrics import record_metrics
from cxlib.paths import resolve_client_paths
from cxlib.plotting import (plot_calibration, plot_churn_reasons, plot_comment_themes, plot_driver_importance,
                            plot_importance_performance, plot_money, plot_odds_ratios, plot_penalty_reward, plot_segment_drivers, set_house_style)"""),
    params_cell(),
    new_code_cell(DERIVED + """
tables = read_tables(paths.tables_dir)
as_of = extract_time(config)
settings = config.analysis.drivers
try:
    journeys, _ = read_journeys(paths.journeys_dir)
except FileNotFoundError:
    journeys = None   # no events, so 02_journeys wrote no journey table"""),
    new_code_cell("""dx, reason = None, None
if "surveys" not in tables:
    reason = "the client sent no survey table"
else:
    try:
        dx = diagnose_drivers(tables["surveys"], config, customers=tables.get("customers"), seed=seed)
    except ValueError as err:
        reason = str(err)
if dx is None:
    display(Markdown(f"**Skipped:** the key-driver analysis needs {settings.outcome_level} "
                     f"{settings.outcome_metric} ratings and driver ratings from the same respondents; {reason}."))
print("Fitting the churn model and pricing the scenarios ...", flush=True)
cx = diagnose_churn(tables.get("customers"), config, journeys=journeys, as_of=as_of,
                    driver_X=dx.X if dx is not None else None, driver_y=dx.y if dx is not None else None, seed=seed)
record_metrics(paths.metrics, "drivers", build_driver_metrics(dx, cx))
cur = cx.currency"""),
    new_markdown_cell("""## Summary"""),
    new_code_cell("""if dx is not None:
    imp = dx.importance
    top = imp.index[0]
    r = imp.iloc[0]
    lines = [f"- The analysis explains **{dx.outcome}** from {len(imp)} drivers, using {dx.model.n_:,} respondents; "
             f"together the drivers explain R² = {dx.model.r2_:.2f} of its variance."]
    if "shapley_lo" in imp:
        lines.append(f"- **{top}** matters most: {r['shapley_share']:.0%} of the explained variance "
                     f"(95% CI {r['shapley_lo']:.0%}–{r['shapley_hi']:.0%}, rank {int(r['rank_lo'])}–{int(r['rank_hi'])} "
                     f"in the bootstrap; n rated = {int(r['n_rated']):,}).")
    jb, tb = dx.block_share("journey"), dx.block_share("touchpoint")
    if jb and tb:
        verdict = "more" if jb["share"] > tb["share"] else "less"
        lines.append(f"- **Journeys explain {verdict} than touchpoints:** the journey ratings hold "
                     f"{jb['share']:.0%} of the explained variance (95% CI {jb['lo']:.0%}–{jb['hi']:.0%}), "
                     f"the touchpoint ratings {tb['share']:.0%} ({tb['lo']:.0%}–{tb['hi']:.0%}).")
    fix = imp[(imp["shapley_share"] >= imp["shapley_share"].median())
              & (imp["performance"] <= imp["performance"].median())].index.tolist()
    if fix:
        lines.append("- **Fix first** (important and below-median performance): " + ", ".join(fix) + ".")
    if dx.asymmetry is not None and len(dx.asymmetry):
        must = dx.asymmetry[dx.asymmetry["type"] == "must-have"].sort_values("penalty", ascending=False)
        if len(must):
            m = must.iloc[0]
            lines.append(f"- **Biggest must-have:** a poor score on {must.index[0]} costs {m['penalty']:.2f} "
                         f"(95% CI {m['penalty_lo']:.2f}–{m['penalty_hi']:.2f}) on the outcome.")
    lines += [f"- *Skipped:* {x}" for x in dx.skipped]
else:
    lines = []
if cx.model is not None:
    m = cx.model
    lines.append(f"- **Churn model:** cross-validated ROC AUC {m.auc_cv_:.2f} (95% CI {m.auc_ci_[0]:.2f}–{m.auc_ci_[1]:.2f}; "
                 f"n = {m.n_:,} {'customer-periods' if cx.info['design'] == 'landmark' else 'customers'}, "
                 f"{m.churners_:,} churners).")
    risers = m.drivers_[m.drivers_["lo"] > 1].head(3)
    if len(risers):
        lines.append("- **Biggest churn raisers:** " + "; ".join(
            f"{d} (odds × {r['odds_ratio']:.1f}, 95% CI {r['lo']:.1f}–{r['hi']:.1f})" for d, r in risers.iterrows()) + ".")
if cx.journey_money is not None and len(cx.journey_money):
    r = cx.journey_money.iloc[0]
    lines.append(f"- **Most revenue at risk:** {cx.journey_money.index[0]}, {cur} {r['value']:,.0f} "
                 f"(95% CI {r['lo']:,.0f}–{r['hi']:,.0f}) over {cx.horizon_months} months per year of journeys.")
if cx.driver_money is not None and len(cx.driver_money) and cx.driver_money.iloc[0]["lo"] > 0:
    r = cx.driver_money.iloc[0]
    lines.append(f"- **Churn driver with the most revenue at risk:** {cx.driver_money.index[0]}, {cur} {r['value']:,.0f} "
                 f"a year (95% CI {r['lo']:,.0f}–{r['hi']:,.0f}; {int(r['customers']):,} customers carry it).")
if cx.scenarios is not None and len(cx.scenarios):
    best = cx.scenarios.sort_values("revenue_kept", ascending=False).iloc[0]
    lines.append(f"- **Best-paying scenario:** {best.name}: {cur} {best['revenue_kept']:,.0f} kept per year "
                 f"(95% CI {best['revenue_kept_lo']:,.0f}–{best['revenue_kept_hi']:,.0f}).")
lines += [f"- *Skipped:* {x}" for x in cx.skipped]
display(Markdown("\\n".join(lines)))"""),
    new_markdown_cell("""## Key drivers, two methods

Shares of explained variance; the two methods agree when the bars agree. Intervals come from
resampling respondents; the rank interval says how sure the ordering is."""),
    new_code_cell("""if dx is not None:
    fig, ax = plt.subplots(figsize=(9, 0.6 + 0.42 * len(dx.importance)))
    plot_driver_importance(dx.importance, ax=ax, title=f"What drives {dx.outcome}")
    plt.show()
    cols = [c for c in ["rank", "rank_lo", "rank_hi", "shapley_share", "shapley_lo", "shapley_hi", "rw_share",
                        "rw_lo", "rw_hi", "mean_score", "performance", "n_rated"] if c in dx.importance]
    display(dx.importance[cols].style.format({c: "{:.1%}" for c in cols if c.startswith(("shapley", "rw"))}
                                             | {"mean_score": "{:.2f}", "performance": "{:.0%}", "n_rated": "{:,}"}))
    if dx.model.shapley_se_ is not None:
        display(Markdown(f"With {len(dx.importance)} drivers the Shapley values are sampled over permutations; "
                         f"the largest Monte-Carlo standard error is {dx.model.shapley_se_.max():.4f} (in R² units)."))"""),
    new_markdown_cell("""## Importance against performance

Drivers in the top-left quadrant matter more than most and score lower than most: the first
candidates for improvement. Bottom-right drivers score well but matter little."""),
    new_code_cell("""if dx is not None:
    fig, ax = plt.subplots(figsize=(8, 5.5))
    plot_importance_performance(dx.importance, ax=ax)
    plt.show()"""),
    new_markdown_cell("""## Journeys or touchpoints?

The same decomposition with the journey ratings as one block and the touchpoint ratings as the
other: the client's own answer to whether journeys predict the outcome better than touchpoints."""),
    new_code_cell("""if dx is not None and getattr(dx.model, "groups_", None) is not None:
    display(dx.model.groups_.style.format({"share": "{:.1%}", "lo": "{:.1%}", "hi": "{:.1%}", "r2": "{:.3f}"}))
elif dx is not None:
    display(Markdown("*Skipped:* the drivers come from one survey level only, so there are no blocks to compare."))"""),
    new_markdown_cell("""## Drivers by segment

Does the ranking differ between segments? Each segment gets its own analysis and intervals;
overlapping intervals mean the data cannot tell the segments apart on that driver."""),
    new_code_cell("""if dx is not None and dx.segments:
    for col, seg in dx.segments.items():
        if not len(seg):
            display(Markdown(f"*{col}:* no segment has enough respondents."))
            continue
        fig, ax = plt.subplots(figsize=(9, 5))
        plot_segment_drivers(seg, ax=ax, title=f"Drivers by {col}")
        plt.show()
        tops = seg[seg["rank"] == 1].set_index("segment")["driver"]
        display(Markdown(f"Top driver by {col}: " + "; ".join(f"{k}: {v}" for k, v in tops.items()) + "."))
elif dx is not None:
    display(Markdown("*Skipped:* no segment columns are configured (`analysis.drivers.segments`)."))"""),
    new_markdown_cell("""## Must-haves and delighters

The outcome's drop after a poor score (below the green threshold) and its gain after an
excellent one (the top of the scale), against a middling score, with every driver in the model at
once. A must-have punishes failure but earns little for excellence; a delighter is the reverse."""),
    new_code_cell("""if dx is not None and dx.asymmetry is not None:
    fig, ax = plt.subplots(figsize=(9, 0.6 + 0.42 * len(dx.asymmetry)))
    plot_penalty_reward(dx.asymmetry, ax=ax)
    plt.show()"""),
    new_markdown_cell("""## Who leaves: the churn model

A logistic regression of churn on customer attributes, value and, where there are events, the
journeys each customer went through and whether they went wrong. With churn dates the model
uses *landmarks*: at each landmark it looks only at what happened before it and predicts who
leaves in the period after, so nothing from the future leaks in. Its quality is the
cross-validated ROC AUC (0.5 is guessing, 1 is perfect) with a bootstrap interval, and the
calibration: do customers given a 10% risk leave 10% of the time?"""),
    new_code_cell("""if cx.model is not None:
    m = cx.model
    design = (f"{len(cx.info['landmarks'])} landmarks, {cx.info['horizon_days']} days apart"
              if cx.info["design"] == "landmark" else "one row per customer")
    display(Markdown(f"Design: {cx.info['design']} ({design}); {cx.info['customers']:,} customers, {m.n_:,} rows, "
                     f"{m.churners_:,} churners. Cross-validated AUC **{m.auc_cv_:.3f}** "
                     f"(95% CI {m.auc_ci_[0]:.3f}–{m.auc_ci_[1]:.3f})."))
    fig, axes = plt.subplots(1, 2, figsize=(13, 5.5), gridspec_kw={"width_ratios": [1, 1.3]})
    plot_calibration(m.calibration_, ax=axes[0])
    plot_odds_ratios(m.drivers_, ax=axes[1])
    plt.tight_layout()
    plt.show()
    display(m.drivers_[["odds_ratio", "lo", "hi", "per", "prevalence", "rank"]].style.format(
        {"odds_ratio": "{:.2f}", "lo": "{:.2f}", "hi": "{:.2f}", "prevalence": "{:.1%}"}, na_rep="–"))
else:
    display(Markdown("*Skipped:* " + "; ".join(x for x in cx.skipped if x.startswith(("churn model", "the client")))))"""),
    new_markdown_cell("""## What customers write

Free-text comments grouped into themes, with the share of commenting detractors and promoters
who mention each one (95% intervals). A theme that detractors mention far more often than
promoters points at a break. Comments are never shown as written unless the client's privacy
settings allow it (`privacy.comments`); excerpts have e-mail addresses, phone numbers and ids masked."""),
    new_code_cell("""commented = comment_frame(tables.get("surveys"))
if len(commented):
    themes = summarize_comment_themes(commented, group="group", themes=config.privacy.comment_themes or None)
    groups = [g for g in ("detractor", "promoter") if f"{g} n" in themes.columns]
    top = themes.index[0]
    display(Markdown(
        f"{len(commented):,} comments; the most common theme is **{top}** "
        f"({themes.loc[top, 'share']:.0%} of comments, 95% CI {themes.loc[top, 'share_lo']:.0%}–"
        f"{themes.loc[top, 'share_hi']:.0%}, n = {themes.loc[top, 'n']:,})."))
    plot_comment_themes(themes, groups=groups)
    plt.show()
    cols = ["comments", "share"] + [f"{g} share" for g in groups]
    display(themes[cols].style.format({"comments": "{:,}", **{c: "{:.0%}" for c in cols[1:]}}, na_rep="–"))
    if config.privacy.comments != "themes":
        for theme in themes.index[:3]:
            quotes = pick_excerpts(commented, theme, themes=config.privacy.comment_themes or None, seed=seed,
                                   verbatim=config.privacy.comments == "verbatim")
            display(Markdown(f"**{theme}**: " + " · ".join(f"“{q}”" for q in quotes)))
else:
    display(Markdown("*Skipped:* the surveys carry no free-text comments."))"""),
    new_markdown_cell("""## Why customers say they left

Stated reasons, grouped into the classic benchmark categories where the configuration maps them
(`analysis.churn.reason_categories`), against the benchmark: 1% die, 3% move away, 5% follow
other relationships, 9% leave for the competition, 14% are dissatisfied with the product and
68% leave because of staff indifference."""),
    new_code_cell("""if cx.reasons is not None:
    fig, ax = plt.subplots(figsize=(11, 4.5))
    plot_churn_reasons(cx.reasons, ax=ax)
    plt.show()
    top = cx.reasons.iloc[0]
    display(Markdown(f"The most common stated reason is **{cx.reasons.index[0]}**: {top['share']:.0%} of "
                     f"{int(cx.reasons['n'].sum()):,} churners (95% CI {top['lo']:.0%}–{top['hi']:.0%})."))
else:
    display(Markdown("*Skipped:* the customer table has no stated churn reasons."))"""),
    new_markdown_cell("""## Revenue at risk

Per journey type: journeys per year × the churn it adds above the baseline × monthly revenue ×
the revenue horizon. Types overlap (a new customer goes through installation and onboarding),
so the rows are not additive. Per churn driver: for the customers who carry it, the churn
probability it adds in the model × their revenue × the horizon, per year."""),
    new_code_cell("""if cx.journey_money is not None and len(cx.journey_money):
    fig, ax = plt.subplots(figsize=(9, 0.8 + 0.45 * len(cx.journey_money)))
    plot_money(cx.journey_money, ax=ax, currency=cur, title=f"Revenue at risk per journey type ({cx.horizon_months}-month horizon)")
    plt.show()
    display(cx.journey_money.style.format({"journeys_per_year": "{:,.0f}", "churn": "{:.1%}", "uplift": "{:+.1%}",
                                           "uplift_lo": "{:+.1%}", "uplift_hi": "{:+.1%}", "monthly_revenue": "{:,.2f}",
                                           "value": "{:,.0f}", "lo": "{:,.0f}", "hi": "{:,.0f}", "n": "{:,}"}))
if cx.driver_money is not None and len(cx.driver_money):
    dm = cx.driver_money[cx.driver_money["lo"] > 0]
    if len(dm):
        fig, ax = plt.subplots(figsize=(9, 0.8 + 0.45 * len(dm)))
        plot_money(dm, ax=ax, currency=cur, title=f"Revenue at risk per churn driver ({cx.horizon_months}-month horizon)")
        plt.show()
    display(cx.driver_money.style.format({"customers": "{:,}", "excess_churners": "{:,.1f}", "value": "{:,.0f}",
                                          "lo": "{:,.0f}", "hi": "{:,.0f}"}))
if cx.journey_money is None and cx.driver_money is None:
    display(Markdown("*Skipped:* " + "; ".join(cx.skipped)))"""),
    new_markdown_cell("""## Improvement scenarios

What would a fix be worth? Each scenario changes one journey (fewer journeys that go wrong, or a
higher journey score) and predicts the churners saved, the revenue kept over the horizon and the
change in relationship NPS, with 95% intervals. Scenarios are set in
`analysis.churn.scenarios`; by default each journey's went-wrong share is halved and each rated
journey score rises by one point."""),
    new_code_cell("""if cx.scenarios is not None and len(cx.scenarios):
    sc = cx.scenarios
    fig, ax = plt.subplots(figsize=(9, 0.8 + 0.45 * len(sc)))
    plot_money(sc, ax=ax, value="revenue_kept", currency=cur, title="Revenue kept per year, by scenario",
               xlabel=f"{cur} kept per year ({cx.horizon_months}-month horizon, 95% CI)")
    plt.show()
    cols = [c for c in ["churners_saved", "churners_saved_lo", "churners_saved_hi", "revenue_kept", "revenue_kept_lo",
                        "revenue_kept_hi", "nps_change", "nps_change_lo", "nps_change_hi"] if c in sc]
    display(sc[cols].style.format({c: "{:,.0f}" if c.startswith("revenue") else "{:,.1f}" for c in cols}, na_rep="–"))
else:
    display(Markdown("*Skipped:* " + ("; ".join(x for x in cx.skipped if "scenario" in x) or "no scenarios apply.")))"""),
]


RECOMMENDATIONS = [
    new_markdown_cell("""# Recommendations: what to fix first

What should the client do, in what order, and what is each step worth? This section works
down the contact cascade (remove avoidable contacts, move suitable contacts to self-service,
manage agent performance), compares each customer's revenue with the cost of serving them,
sets journey KPIs with owners and targets, and turns every finding of this report into a
costed, ranked action."""),
    new_code_cell("""import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import Markdown, display

from cxlib.config import load_config
from cxlib.ingest import extract_time, read_tables
from cxlib.journeys import read_journeys
from cxlib.metrics import read_metrics, record_metrics
from cxlib.paths import resolve_client_paths
from cxlib.plotting import plot_agent_funnel, plot_money, plot_shares, plot_value_deciles, set_house_style
from cxlib.recommendation_report import diagnose_recommendations"""),
    params_cell(),
    new_code_cell(DERIVED + """
tables = read_tables(paths.tables_dir)
as_of = extract_time(config)
try:
    journeys, steps = read_journeys(paths.journeys_dir)
except FileNotFoundError:
    journeys, steps = None, None   # no events, so 02_journeys wrote no journey table"""),
    new_code_cell("""rx = diagnose_recommendations(config, customers=tables.get("customers"), events=tables.get("events"),
                              surveys=tables.get("surveys"), journeys=journeys, steps=steps, as_of=as_of,
                              metrics=read_metrics(paths.metrics), seed=seed, progress=True)
rec = record_metrics(paths.metrics, "recommendations", rx.metrics())["recommendations"]
cur = rx.currency
fix = config.analysis.recommendations.fix_share
money = lambda v: f"{cur} {v:,.0f}"
interval = lambda lo, hi: f"{cur} {lo:,.0f}–{hi:,.0f}\""""),
    new_markdown_cell("## Summary"),
    new_code_cell("""lines = []
acts = rx.actions
top = config.analysis.recommendations.top
if len(acts):
    lines.append(f"**The {min(top, len(acts))} priorities**, ranked by the lower end of their yearly value:")
    for _, a in acts.head(top).iterrows():
        lines.append(f"{a['priority']}. **{a['title']}** (owner: {a['owner']}; effort: {a['effort']}): "
                     f"{money(a['value'])} a year (95% CI {interval(a['value_lo'], a['value_hi'])}).")
    lines.append("")
if rx.avoidable:
    v = rx.avoidable
    lines.append(f"- **Avoidable contacts:** {v['share_all']:.1%} of {v['contacts']:,} agent contacts "
                 f"(95% CI {v['share_all_lo']:.1%}–{v['share_all_hi']:.1%}) should not have been needed; they cost "
                 f"{money(v['cost_per_year'])} a year ({interval(v['cost_lo'], v['cost_hi'])}).")
if rx.unprofitable:
    u = rx.unprofitable
    lines.append(f"- **Unprofitable customers:** {u['share']:.1%} (95% CI {u['lo']:.1%}–{u['hi']:.1%}, "
                 f"n = {u['n']:,}) cost more to serve than they pay.")
if rx.agents is not None:
    out = rec["agent_outliers"]
    lines.append(f"- **Agents:** {len(out)} of {len(rx.agents)} scored agents lie outside the team's 99.8% range"
                 + (f": {', '.join(out)}." if out else "."))
lines += [f"- *Not analysed:* {x}." for x in rx.skipped]
display(Markdown("\\n".join(lines) or "*No recommendation could be made from the tables received.*"))"""),
    new_markdown_cell("""## The action list

Every finding of this report is a candidate action with its evidence, an owner, an effort
level and the yearly value of doing it, as a 95% interval. Journey fixes are valued with the
went-wrong scenario of the drivers section (churners kept) plus the avoidable contacts of that
journey; contact, agent and cost-to-serve actions assume the configured share of the problem is
removed. The values overlap, so they do not add up."""),
    new_code_cell("""if len(acts):
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(acts) + 1.2))
    plot_money(acts.set_index("title"), ax=ax, currency=cur, title="Yearly value of each action",
               xlabel=f"{cur} per year (95% CI)")
    plt.show()
    table = acts[["priority", "title", "owner", "effort", "value", "value_lo", "value_hi", "evidence"]]
    display(table.style.hide(axis="index").format({c: "{:,.0f}" for c in ["value", "value_lo", "value_hi"]}))
else:
    display(Markdown("*No action could be priced from the tables received.*"))"""),
    new_markdown_cell("""## 1. Avoidable contacts

An agent contact is **avoidable** when the customer should not have needed it: a **repeat**
(the same reason again within the repeat window after a contact that left it unresolved, or a
step a journey already had), **status chasing** ("where is my ..."), **failure demand** (a
contact right after a known failure such as a failed visit or an incorrect bill, other than the
journey that handles that failure) or a configured rule. Each points to a root cause."""),
    new_code_cell("""if rx.by_cause is not None and len(rx.by_cause):
    plot_shares(rx.by_cause.set_index("avoidable_cause"), value="share_all",
                title="Avoidable contacts by cause", xlabel="% of agent contacts (95% CI)")
    plt.show()
    cols = ["avoidable_cause", "root_cause", "owner", "avoidable", "share_all", "cost_per_year", "cost_lo", "cost_hi"]
    display(Markdown("**Top root causes** (contacts and cost per year):"))
    display(rx.by_root[cols].head(12).style.hide(axis="index").format(
        {"share_all": "{:.1%}", "avoidable": "{:,.0f}", "cost_per_year": "{:,.0f}", "cost_lo": "{:,.0f}",
         "cost_hi": "{:,.0f}"}))
    display(Markdown("**By journey** (share of each journey's agent contacts that is avoidable):"))
    display(rx.by_journey.fillna({"journey_type": "outside typed journeys"})[
        ["journey_type", "contacts", "avoidable", "share", "share_lo", "share_hi", "cost_per_year"]]
        .style.hide(axis="index").format({"share": "{:.1%}", "share_lo": "{:.1%}", "share_hi": "{:.1%}",
                                          "contacts": "{:,.0f}", "avoidable": "{:,.0f}", "cost_per_year": "{:,.0f}"}))
else:
    display(Markdown("*Skipped:* " + ("; ".join(x for x in rx.skipped if "contact" in x) or "no agent contacts.")))"""),
    new_markdown_cell("""## 2. Self-service fit

For each contact reason and segment: how often a self-service attempt (IVR, web, app) succeeds
without an agent contact about the same reason in the next days (**containment**), how complex the
reason is for agents (handle time against the average), and how satisfied customers are in each
channel. **Fit** combines the three; the contacts that could move and their saving follow from
the containment self-service already achieves."""),
    new_code_cell("""ss = rx.self_service
if ss is not None and len(ss):
    cols = ["contact_reason", "segment", "attempts", "containment", "containment_lo", "containment_hi",
            "complexity", "score_self", "score_assisted", "fit", "movable", "saving", "saving_lo", "saving_hi"]
    display(ss[cols].style.hide(axis="index").format(
        {"attempts": "{:,.0f}", "containment": "{:.0%}", "containment_lo": "{:.0%}", "containment_hi": "{:.0%}",
         "complexity": "{:.2f}", "score_self": "{:.2f}", "score_assisted": "{:.2f}", "fit": "{:.2f}",
         "movable": "{:,.0f}", "saving": "{:,.0f}", "saving_lo": "{:,.0f}", "saving_hi": "{:,.0f}"}, na_rep="–"))
    unrated = ss["score_self"].isna().mean()
    display(Markdown(f"**Risk to satisfaction:** {unrated:.0%} of these groups have no self-service ratings, so their "
                     "satisfaction cost cannot be measured; move them in a pilot with a survey before rolling out."
                     if unrated else "Satisfaction in self-service is measured for every group (see the scores)."))
else:
    display(Markdown("*Skipped:* no self-service attempts with a contact reason in the events."))"""),
    new_markdown_cell("""## 3. Agent performance

First-contact resolution (FCR), handle time (adjusted for channel mix) and CSAT per agent,
shrunk toward the team for small numbers (empirical Bayes) with 95% intervals. An agent is
flagged when they lie outside the 99.8% limits of a funnel plot that allows for the normal
spread between agents: about one false alarm per thousand agent-metrics."""),
    new_code_cell("""ag = rx.agents
metrics_ = ag.attrs.get("metrics", []) if ag is not None else []
if ag is not None and len(ag) and metrics_:
    fig, axes = plt.subplots(1, min(2, len(metrics_)), figsize=(11, 4), squeeze=False)
    labels = {"fcr": "first-contact resolution (%)", "aht_s": "handle time (minutes)", "csat": "CSAT"}
    for ax, m in zip(axes[0], [m for m in ("fcr", "aht_s") if m in metrics_]):
        plot_agent_funnel(ag, ax=ax, metric=m, title=labels[m].split(" (")[0].capitalize() + " per agent",
                          ylabel=labels[m])
    plt.tight_layout()
    plt.show()
    cols = [c for c in ["contacts", "fcr", "fcr_shrunk", "fcr_lo", "fcr_hi", "aht_s", "aht_s_shrunk", "csat",
                        "csat_n", "csat_shrunk"] if c in ag]
    flagged = ag[ag["outlier"]]
    display(Markdown(f"**{len(flagged)} flagged agents** of {len(ag)} with at least "
                     f"{config.analysis.contacts.min_agent_contacts} contacts:"))
    display(flagged[cols].style.format({c: "{:.0%}" for c in cols if c.startswith("fcr")} |
                                       {c: "{:,.0f}" for c in cols if c.startswith("aht") or c in ("contacts", "csat_n")} |
                                       {c: "{:.2f}" for c in cols if c.startswith("csat") and c != "csat_n"}))
else:
    display(Markdown("*Skipped:* " + ("; ".join(x for x in rx.skipped if "agent" in x) or
                                      "the agent contacts have no outcome, handle time or rating to score.")))"""),
    new_markdown_cell("""## 4. Value-based service

Revenue per customer against the cost of serving them: the fixed monthly service cost plus
their contacts priced by channel, over the months observed. Serve the most valuable customers
best, and find the unprofitable ones and what drives their cost."""),
    new_code_cell("""if rx.value is not None:
    plot_value_deciles(rx.deciles, currency=cur)
    plt.show()
    d = rx.unprofitable_drivers
    display(Markdown("**What drives the unprofitable customers' cost** (monthly cost per channel and attribute "
                     "levels, unprofitable against the rest):"))
    display(d.head(12).style.hide(axis="index").format({"unprofitable": "{:.2f}", "rest": "{:.2f}", "ratio": "{:.1f}×"},
                                                       na_rep="–"))
    display(Markdown("**Suggested service tier per segment and value band:**"))
    display(rx.tiers.style.hide(axis="index").format({"revenue": "{:,.2f}", "cost_to_serve": "{:,.2f}",
                                                      "margin": "{:,.2f}", "unprofitable_share": "{:.1%}",
                                                      "customers": "{:,.0f}"}))
else:
    display(Markdown("*Skipped:* " + ("; ".join(x for x in rx.skipped if "value" in x) or "no revenue data.")))"""),
    new_markdown_cell("""## 5. Journey KPIs and owners

The KPIs to manage per journey type, with today's value (95% interval), a target (a configured
benchmark, else the best customer segment) and the owning department (configured, else the
department with the most touchpoints in the journey)."""),
    new_code_cell("""k = rx.kpis
if k is not None and len(k):
    fmt = lambda r, c: (f"{r[c]:.1%}" if r["kpi"] in ("completion", "first_time_right", "churn_90d") else f"{r[c]:,.2f}") \\
        if pd.notna(r[c]) else "–"
    show = pd.DataFrame({"journey": k["journey_type"], "owner": k["owner"], "KPI": k["label"],
                         "value (95% CI)": [f"{fmt(r, 'value')} ({fmt(r, 'lo')}–{fmt(r, 'hi')})" for _, r in k.iterrows()],
                         "n": k["n"], "target": [fmt(r, "target") for _, r in k.iterrows()],
                         "target from": k["target_source"]})
    display(show.style.hide(axis="index").format({"n": "{:,}"}))
else:
    display(Markdown("*Skipped:* " + ("; ".join(x for x in rx.skipped if "KPI" in x) or "no journeys.")))"""),
]


NOTEBOOKS = {
    "01_ingest.ipynb": INGEST,
    "02_journeys.ipynb": JOURNEYS,
    "03_drivers.ipynb": DRIVERS,
    "04_recommendations.ipynb": RECOMMENDATIONS,
}

if __name__ == "__main__":
    HERE.mkdir(exist_ok=True)
    for name, cells in NOTEBOOKS.items():
        nb = notebook(cells)
        for i, cell in enumerate(nb.cells):  # stable ids keep rebuilds diff-free
            cell.id = f"{name.split('_')[0]}-{i:02d}"
        nbformat.write(nb, HERE / name)
        print("wrote", HERE / name)
