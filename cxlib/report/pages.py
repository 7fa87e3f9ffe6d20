"""The pages of a client's report: each executed notebook rendered to HTML without code, the
front page (index.html) with the executive summary, the privacy scan of every page, and the
provenance footer that every page carries."""
from __future__ import annotations

import html
import importlib.resources
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from cxlib.core.jsonio import write_json
from cxlib.core.privacy import redact_error
from cxlib.core.paths import ClientPaths
from cxlib.report.metrics import read_metrics
from cxlib.report.summary import SECTIONS, render_executive_summary


@dataclass
class NotebookRun:
    name: str          # the notebook's stem, e.g. '02_journeys'
    title: str
    seconds: float
    html: Path | None
    empty: str | None = None   # why the page has nothing to show (it is then not rendered)


CSS = """body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;max-width:960px;margin:2rem auto;
padding:0 1rem;color:#222}h1{color:#1f4e79}table{border-collapse:collapse;margin:1rem 0}
td,th{padding:.35rem .8rem;border-bottom:1px solid #ddd;text-align:right}th:first-child,td:first-child{text-align:left}
.failed{color:#c0504d;font-weight:bold}.muted{color:#777;font-size:.9em}
#summary{background:#f5f8fb;border-left:4px solid #1f4e79;padding:.5rem 1.2rem;margin:1rem 0}
#summary li{margin:.3rem 0}nav.cx-nav{font-size:.9em;border-bottom:1px solid #ddd;padding:.3rem 0 .5rem}
.cx-client{font-weight:bold;color:#1f4e79}@media print{nav.cx-nav{display:none}a{color:inherit;text-decoration:none}
#summary li{break-inside:avoid}}footer.cx-provenance{color:#777;font-size:.8em;border-top:1px solid #ddd;
margin-top:2rem;padding-top:.5rem}"""


def templates_dir() -> Path:
    """The nbconvert templates shipped inside the package."""
    return Path(str(importlib.resources.files("cxlib.report") / "templates"))


def describe_run(client: str, provenance: dict, period: tuple[str, str] | None = None) -> str:
    """The provenance line every page carries: client, data period, run date, commit, seed and
    config hash, in plain text."""
    git = provenance.get("git") or {}
    commit = (git.get("commit") or "")[:10] or "not in git"
    if git.get("dirty"):
        commit += " (uncommitted changes)"
    config = next((i for i in provenance.get("inputs", []) if i.get("role") == "config"), {})
    parts = [f"Client {client}",
             f"data {period[0]} to {period[1]}" if period else None,
             f"run {str(provenance.get('written_at', ''))[:10]}",
             f"commit {commit}", f"seed {provenance.get('seed')}",
             f"config {str(config.get('sha256') or '')[:12] or 'n/a'}"]
    return " · ".join(p for p in parts if p)


def describe_report_date(provenance: dict, period: tuple[str, str] | None) -> str:
    """'Report of 2026-12-02 on data from 2025-01-01 to 2026-03-30.'"""
    when = str(provenance.get("written_at", ""))[:10]
    if not period:
        return f"Report of {when}."
    return f"Report of {when} on data " + (f"of {period[0]}." if period[0] == period[1] else
                                           f"from {period[0]} to {period[1]}.")


def data_period(paths: ClientPaths, config=None) -> tuple[str, str] | None:
    """First and last date in the loaded events (else surveys), or None when neither exists.
    A table whose every source sets its timestamp as a constant in ``config`` (an export
    without dates) has no period of its own and is passed over."""
    from cxlib.core.sql import ParquetTable, query_frames
    for table, col in (("events", "timestamp"), ("surveys", "timestamp")):
        if config is not None and table in config.undated_tables():
            continue
        f = paths.table(table)      # a file, or the parts Spark wrote: read where it lies, one column
        if f.exists() and col in ParquetTable(str(f)).columns:
            r = query_frames(f'SELECT min("{col}") AS first, max("{col}") AS last FROM t', t=ParquetTable(str(f))).iloc[0]
            if r["first"] is not None and r["first"] == r["first"]:
                return (f"{r['first']:%Y-%m-%d}", f"{r['last']:%Y-%m-%d}")
    return None


def _heading_level(cell) -> int | None:
    if cell.cell_type != "markdown":
        return None
    first = cell.source.lstrip().splitlines()[0] if cell.source.strip() else ""
    hashes = len(first) - len(first.lstrip("#"))
    return hashes if 0 < hashes <= 6 and first[hashes:hashes + 1] == " " else None


SKIPPED = "*Skipped:*"


def _shows_something(output) -> bool:
    """An output a reader learns from: anything but a '*Skipped:* ...' line (what was skipped
    and why is listed once, under 'Not analysed' on the front page and in the section summary)."""
    text = output.get("data", {}).get("text/markdown") if output.get("output_type") == "display_data" else None
    if not isinstance(text, str):
        return True
    lines = [line.strip().removeprefix("- ") for line in text.splitlines() if line.strip()]
    return bool(lines) and not all(line.startswith((SKIPPED, "*Not analysed:*")) for line in lines)


def prune_empty_sections(nb):
    """Drop every section (a markdown cell headed ``##`` or deeper, with the cells up to the
    next heading of the same or a higher level) whose code printed or drew nothing but a
    '*Skipped:*' line: a client page never shows a heading and its method text with nothing
    under it. Sections without code (pure text) stay. Returns the notebook, pruned in place."""
    cells = nb.cells
    keep = [True] * len(cells)
    for i, cell in enumerate(cells):
        level = _heading_level(cell)
        if level is None or level < 2:
            continue
        end = next((k for k in range(i + 1, len(cells))
                    if (lv := _heading_level(cells[k])) is not None and lv <= level), len(cells))
        code = [c for c in cells[i + 1:end] if c.cell_type == "code"]
        if code and not any(_shows_something(o) for c in code for o in c.get("outputs", [])):
            keep[i:end] = [False] * (end - i)
    nb.cells = [c for c, k in zip(cells, keep) if k]
    return nb


def _shows_content(out) -> bool:
    data = out.get("data", {})
    return "image/png" in data or "image/svg+xml" in data or "<table" in str(data.get("text/html", ""))


def describe_empty_page(executed: Path) -> str | None:
    """Why an executed section has nothing to show once its empty sections are pruned (no
    ``##`` section left, no figure and no table), from the notes it printed; None when it
    shows something. Such a page is not rendered: the front page lists the reason under
    'Not analysed'."""
    import nbformat
    nb = prune_empty_sections(nbformat.read(executed, as_version=4))
    if any((_heading_level(c) or 0) >= 2 for c in nb.cells):
        return None
    outs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    if any(_shows_content(o) for o in outs):
        return None
    notes = [str(o.get("data", {}).get("text/markdown", "")) for o in outs]
    text = " ".join(" ".join(n.replace("*", "").split()).removeprefix("Skipped: ") for n in notes if n.strip())
    return text or "nothing to show from the tables received"


def strip_stderr(nb) -> list[str]:
    """Remove what cells wrote to stderr (library warnings, kernel log lines) from a notebook
    about to become a client page, and return it for the analyst's console and log."""
    removed = []
    for cell in nb.cells:
        kept = []
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream" and out.get("name") == "stderr":
                removed.append(out.get("text", ""))
            else:
                kept.append(out)
        if "outputs" in cell:
            cell.outputs = kept
    return removed


def build_nav(client_name: str, subtitle: str, runs: list[NotebookRun], current: str) -> dict:
    """The navigation bar every page carries: the client, the report date, a link back to the
    summary and one per section (``current`` is the page it sits on)."""
    links = [{"href": "index.html", "title": "Summary"}]
    links += [{"href": r.html.name, "title": SECTIONS.get(r.name, r.title)} for r in runs if not r.empty]
    links.append({"href": "appendix.html", "title": "Appendix"})
    for link in links:
        link["current"] = link["href"] == current
    return {"client": client_name, "subtitle": subtitle, "links": links}


def render_nav(nav: dict | None) -> str:
    """The navigation bar as HTML, every client string escaped (the front page's copy; the
    section pages get the same markup from the template)."""
    if not nav:
        return ""
    links = " · ".join(f"<b>{html.escape(x['title'])}</b>" if x["current"] else
                       f"<a href='{html.escape(x['href'])}'>{html.escape(x['title'])}</a>" for x in nav["links"])
    return (f"<nav class='cx-nav'><span class='cx-client'>{html.escape(nav['client'])}</span> "
            f"<span class='muted'>{html.escape(nav['subtitle'])}</span><br>{links}</nav>")


def make_inert(markdown: str) -> str:
    """Markdown whose raw HTML and links cannot come alive: ``<`` and ``>`` become entities and
    ``[`` is escaped outside code spans, so a client string such as ``<svg onload=…>`` or
    ``[x](javascript:…)`` that reached a sentence shows as text. The report's own prose uses
    Markdown emphasis and lists, never raw HTML or links, so nothing it writes changes."""
    parts = re.split(r"(`[^`]*`)", markdown)
    return "".join(p if p.startswith("`") and p.endswith("`") and len(p) > 1
                   else p.replace("<", "&lt;").replace(">", "&gt;").replace("[", "\\[") for p in parts)


def make_outputs_inert(nb):
    """:func:`make_inert` on every Markdown output of the notebook (what the code cells
    displayed, where client strings land); the notebook's own Markdown cells are left alone."""
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if "text/markdown" in data:
                text = data["text/markdown"]
                data["text/markdown"] = make_inert("".join(text) if isinstance(text, list) else text)
    return nb


def render_html(executed: Path, out: Path, title: str, footer: str = "", nav: dict | None = None) -> Path:
    """Render an executed notebook to one self-contained HTML file: no code cells or prompts,
    nothing written to stderr (:func:`strip_stderr`; the console gets it), no section that came
    out empty (:func:`prune_empty_sections`), images inline, no script or
    font fetched from a CDN (templates/cxlib), and ``footer`` (plain text, escaped by the
    template) at the bottom."""
    import nbformat
    from nbconvert import HTMLExporter
    nb = nbformat.read(executed, as_version=4)
    stderr = strip_stderr(nb)
    if stderr:
        lines = sum(s.count("\n") for s in stderr) or len(stderr)
        print(f"{executed.stem}: {lines} line(s) written to stderr are left off the page (kept in {executed.name}):\n"
              + "".join(stderr)[:2000], file=sys.stderr, flush=True)
    nb = make_outputs_inert(prune_empty_sections(nb))
    exporter = HTMLExporter(template_name="cxlib", extra_template_basedirs=[str(templates_dir())],
                            exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True,
                            embed_images=True)
    nb.metadata["title"] = title
    nb.metadata["cxlib"] = {"footer": footer, "nav": render_nav(nav)}
    body, _ = exporter.from_notebook_node(nb)
    out.write_text(body, encoding="utf-8")
    return out


def check_privacy(paths: ClientPaths, pages: list[Path], config) -> dict:
    """Scan the rendered pages for the client's customer ids (customers, secondary ids and
    quarantined ids) and for e-mail addresses. Returns {'identifiers', 'pages', 'scanned',
    'found'}; the result goes on the front page and into the run folder's privacy record."""
    import pandas as pd
    from cxlib.core.privacy import scan_for_identifiers, scannable_identifiers
    from cxlib.core.schema import ID_COLUMNS
    ids: set[str] = set()
    if not config.privacy.show_identifiers:
        for table, col in (("customers", "customer_id"), ("identities", "secondary_id")):
            f = paths.table(table)
            if f.exists():
                ids |= scannable_identifiers(pd.read_parquet(f, columns=[col])[col])
        if paths.quarantine.exists():
            qq = pd.read_parquet(paths.quarantine, columns=["column", "value"])
            ids |= scannable_identifiers(qq.loc[qq["column"].isin(ID_COLUMNS), "value"])
    found, where = 0, []
    for page in pages:
        if page.exists():
            hits = scan_for_identifiers(page.read_text(encoding="utf-8"), ids)
            if config.privacy.comments == "verbatim":
                hits["emails"] = 0
            if hits["identifiers"] or hits["emails"]:
                found += hits["identifiers"] + hits["emails"]
                where.append(page.name)
    result = {"identifiers": len(ids), "pages": where, "scanned": len(pages), "found": found}
    write_json(paths.privacy, result)
    return result


def write_index(paths: ClientPaths, name: str, runs: list[NotebookRun], status: str = "ok",
                error: str | None = None, top: int = 5, privacy: dict | None = None, footer: str = "",
                subtitle: str = "", nav: dict | None = None) -> Path:
    """The front page: status, the executive summary and the ingestion accounting from the
    report's figures, links to each section and the provenance footer."""
    metrics = read_metrics(paths.metrics)
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(name)}: "
             f"customer-experience diagnostic</title><style>{CSS}</style></head><body>{render_nav(nav)}",
             f"<h1>{html.escape(name)}: customer-experience diagnostic</h1>"]
    if subtitle:
        parts.append(f"<p class='muted'>{html.escape(subtitle)}</p>")
    if status != "ok":
        parts.append(f"<p class='failed'>The report is incomplete: {html.escape(redact_error(error) or status)}</p>")
    shown = [r for r in runs if not r.empty]
    sections = [(r.html.name, r.title) for r in shown]
    if metrics:
        parts.append(render_executive_summary(metrics, sections=sections, top=top,
                                              empty={r.name: r.empty for r in runs if r.empty}))
    ingest = metrics.get("ingest")
    if ingest:
        filtered = any(v.get("filtered") for v in ingest.values())
        parts.append("<h2>Data received</h2><table><tr><th>table</th><th>rows in</th><th>loaded</th>"
                     "<th>quarantined</th>" + ("<th>filtered out</th>" if filtered else "") + "</tr>")
        for table, v in ingest.items():
            parts.append(f"<tr><td>{html.escape(table)}</td><td>{v['rows_in']:,}</td><td>{v['loaded']:,}</td>"
                         f"<td>{v['quarantined']:,} ({v['quarantined'] / max(v['rows_in'], 1):.1%})</td>"
                         + (f"<td>{v.get('filtered', 0):,}</td>" if filtered else "") + "</tr>")
        parts.append("</table>")
    parts.append("<h2>Sections</h2><ol>")
    for r, (page, title) in zip(shown, sections):
        parts.append(f"<li><a href='{html.escape(page)}'>{html.escape(title)}</a></li>")
    parts.append("</ol>")
    if privacy is not None:
        if privacy["found"]:
            parts.append(f"<p class='failed'>Privacy check: {privacy['found']:,} customer identifier(s) or e-mail "
                         f"address(es) appear on {html.escape(', '.join(privacy['pages']))}. Do not circulate "
                         "this report before they are removed.</p>")
        elif privacy["identifiers"]:
            parts.append(f"<p class='muted'>Privacy check: {privacy['scanned']} page(s) scanned for "
                         f"{privacy['identifiers']:,} customer identifiers and for e-mail addresses; none found.</p>")
        else:
            parts.append(f"<p class='muted'>Privacy check: {privacy['scanned']} page(s) scanned for e-mail addresses; "
                         "none found. Customer identifiers could not be checked: the run has no customer ids to look "
                         "for (no customer table, or identifiers are shown by the client's settings).</p>")
    rel = lambda p: html.escape(p.relative_to(paths.run_dir).as_posix())  # noqa: E731
    parts.append(f"<p class='muted'>For the analyst: <a href='{rel(paths.appendix)}'>how this report was made</a> "
                 f"(input hashes, package versions, settings) · figures: <a href='{rel(paths.metrics)}'>"
                 f"{rel(paths.metrics)}</a> · quarantined rows, raw: <a href='{rel(paths.quarantine_csv)}'>"
                 f"{paths.quarantine_csv.name}</a></p>")
    if footer:
        parts.append(f"<footer class='cx-provenance'>{html.escape(footer)}</footer>")
    parts.append("</body></html>")
    paths.index.write_text("\n".join(parts), encoding="utf-8")
    return paths.index
