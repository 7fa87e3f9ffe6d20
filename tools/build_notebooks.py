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
from cxlib.ingest import REASONS, ingest_client, write_ingest
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
    new_markdown_cell("""## Why rows were quarantined

Each reason with what it means and up to three example rows (file, line and the offending value).
The full list, with every raw row, is in the run folder's `quarantine/quarantine.csv`."""),
    new_code_cell("""q = result.quarantine
if len(q):
    plot_quarantine_reasons(q)
    reasons = q.groupby(["table", "reason"]).size().rename("rows").reset_index()
    reasons["meaning"] = reasons["reason"].map(REASONS)
    display(reasons.style.format({"rows": "{:,}"}).hide(axis="index"))
    examples = q.groupby(["table", "reason"]).head(3)[["table", "source", "row", "reason", "column", "value"]]
    display(examples.style.hide(axis="index"))
else:
    display(Markdown("No rows were quarantined."))"""),
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


def stub(title: str, question: str, needs: str, issue: str):
    return [
        new_markdown_cell(f"# {title}\n\n{question}"),
        new_code_cell("""from IPython.display import Markdown, display

from cxlib.config import load_config
from cxlib.ingest import read_tables
from cxlib.paths import resolve_client_paths
from cxlib.plotting import set_house_style"""),
        params_cell(),
        new_code_cell(DERIVED + "\ntables = read_tables(paths.tables_dir)"),
        new_code_cell(f'''available = ", ".join(f"{{name}} ({{len(frame):,}} rows)" for name, frame in tables.items()) or "none"
display(Markdown(
    f"**Status: not yet analysed.** This section needs {needs}; the ingested tables available are: {{available}}. "
    "The analysis is being built ({issue}); until then the report makes no claims here."))'''),
    ]


NOTEBOOKS = {
    "01_ingest.ipynb": INGEST,
    "02_journeys.ipynb": stub("Journeys: where they break",
                              "Which customer journeys break, where and why: journey maps, waits, handoffs, "
                              "repeat contacts, the watermelon check and bimodal scores.",
                              "the events table (and surveys for scores)", "journey reconstruction"),
    "03_drivers.ipynb": stub("Drivers: what matters most and what it is worth",
                             "Which journeys and touchpoints drive satisfaction and churn, how sure we are, "
                             "and the revenue at risk.", "surveys and customers", "driver modelling"),
    "04_recommendations.ipynb": stub("Recommendations: what to fix first",
                                     "The contact cascade, value-based service, journey KPIs with owners, and a "
                                     "costed, prioritised action list.", "events, surveys and customers",
                                     "recommendations"),
}

if __name__ == "__main__":
    HERE.mkdir(exist_ok=True)
    for name, cells in NOTEBOOKS.items():
        nbformat.write(notebook(cells), HERE / name)
        print("wrote", HERE / name)
