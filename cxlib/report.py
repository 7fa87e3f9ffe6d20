"""The report pipeline: run every notebook for one client with papermill, render HTML,
and write index.html, metrics.json and provenance.json into ``reports/<client>/``."""
from __future__ import annotations

import html
import json
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from .config import load_config
from .metrics import read_metrics
from .paths import resolve_client_paths
from .provenance import build_provenance, write_provenance
from .summary import render_executive_summary

REPO_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
DEFAULT_SEED = 42


class ReportError(RuntimeError):
    """A report could not be produced; the message says which notebook, cell and error."""


@dataclass
class NotebookRun:
    name: str
    seconds: float
    html: Path | None


def list_notebooks(notebooks_dir: str | Path = NOTEBOOKS_DIR) -> list[Path]:
    """The numbered notebooks, in order."""
    found = sorted(p for p in Path(notebooks_dir).glob("[0-9][0-9]_*.ipynb"))
    if not found:
        raise ReportError(f"{notebooks_dir}: no numbered notebooks found")
    return found


def check_parameters(notebook: Path, parameters: dict) -> None:
    """Raise ReportError when a parameter is not declared in the notebook's parameters cell."""
    import papermill as pm
    declared = pm.inspect_notebook(str(notebook))
    if not declared:
        raise ReportError(f"{notebook.name}: no cell tagged 'parameters'")
    unknown = sorted(set(parameters) - set(declared))
    if unknown:
        raise ReportError(f"{notebook.name}: unknown parameter(s) {unknown}; "
                          f"the notebook declares {sorted(declared)}")


def render_html(executed: Path, out: Path, title: str) -> Path:
    """Render an executed notebook to one self-contained HTML file: no code cells or prompts,
    images inline and no script or font fetched from a CDN (templates/cxlib)."""
    import nbformat
    from nbconvert import HTMLExporter
    nb = nbformat.read(executed, as_version=4)
    exporter = HTMLExporter(template_name="cxlib", extra_template_basedirs=[str(TEMPLATES_DIR)],
                            exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True,
                            embed_images=True)
    nb.metadata["title"] = title
    body, _ = exporter.from_notebook_node(nb)
    out.write_text(body, encoding="utf-8")
    return out


def run_report(client: str, data_root: str | Path = "data", reports_root: str | Path = "reports",
               seed: int = DEFAULT_SEED, notebooks_dir: str | Path = NOTEBOOKS_DIR,
               extra_parameters: dict | None = None, progress: bool = True) -> Path:
    """Run the whole report for ``client``; return the path of its index.html.

    Stops at the first failing notebook, keeps its partial output, and raises
    ReportError naming the notebook, the cell and the error.
    """
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    paths = resolve_client_paths(client, data_root, reports_root)
    config = load_config(paths.config)  # fail before any notebook runs
    notebooks = list_notebooks(notebooks_dir)
    parameters = {"client": client, "data_root": str(Path(data_root).resolve()),
                  "reports_root": str(Path(reports_root).resolve()), "seed": int(seed),
                  **(extra_parameters or {})}
    for nb in notebooks:
        check_parameters(nb, parameters)
    paths.run_dir.mkdir(parents=True, exist_ok=True)
    for stale in [paths.metrics, paths.provenance, paths.run_dir / "index.html"]:
        stale.unlink(missing_ok=True)
    say = (lambda msg: print(msg, file=sys.stderr, flush=True)) if progress else (lambda msg: None)
    say(f"cxlib report: client {client!r} ({config.name}) -> {paths.run_dir}")
    started = datetime.now(timezone.utc)
    runs: list[NotebookRun] = []
    status, error = "ok", None
    try:
        for i, nb in enumerate(notebooks, 1):
            out = paths.run_dir / nb.name
            say(f"[{i}/{len(notebooks)}] {nb.stem} ...")
            t0 = time.perf_counter()
            try:
                pm.execute_notebook(str(nb), str(out), parameters=parameters, cwd=str(nb.parent),
                                    progress_bar=False, kernel_name="python3")
            except PapermillExecutionError as err:
                status = "failed"
                error = (f"{nb.name} failed in cell {err.cell_index} (In [{err.exec_count}]): "
                         f"{err.ename}: {err.evalue}")
                raise ReportError(f"{error}\nThe partial notebook is kept at {out}") from None
            seconds = time.perf_counter() - t0
            page = render_html(out, paths.run_dir / f"{nb.stem}.html", f"{config.name}: {_title(nb)}")
            runs.append(NotebookRun(nb.stem, seconds, page))
            say(f"[{i}/{len(notebooks)}] {nb.stem} done in {seconds:.1f}s -> {page.name}")
    finally:
        provenance = build_provenance(parameters, config, paths.config, repo=REPO_ROOT, status=status,
                                      error=error, started_at=started.isoformat(timespec="seconds"),
                                      notebooks={r.name: round(r.seconds, 2) for r in runs})
        write_provenance(paths.provenance, provenance)
        top = config.analysis.recommendations.top
        index = write_index(paths.run_dir, config.name, runs, status, error, top=top)
        # scan the sections and the front page as written, then put the result on the front page
        privacy = check_privacy(paths.run_dir, [*(r.html for r in runs), index], config) if runs else None
        write_index(paths.run_dir, config.name, runs, status, error, top=top, privacy=privacy)
        if privacy and privacy["found"]:
            say(f"PRIVACY WARNING: {privacy['found']} identifier(s) or e-mail address(es) on {privacy['pages']}")
    say(f"report ready: {paths.run_dir / 'index.html'}")
    return paths.run_dir / "index.html"


def _title(nb: Path) -> str:
    """The first markdown heading of a notebook, or its file name."""
    cells = json.loads(nb.read_text()).get("cells", [])
    for cell in cells:
        if cell.get("cell_type") == "markdown":
            for line in "".join(cell.get("source", [])).splitlines():
                if line.startswith("#"):
                    return line.lstrip("#").strip()
    return nb.stem


_CSS = """body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;max-width:960px;margin:2rem auto;
padding:0 1rem;color:#222}h1{color:#1f4e79}table{border-collapse:collapse;margin:1rem 0}
td,th{padding:.35rem .8rem;border-bottom:1px solid #ddd;text-align:right}th:first-child,td:first-child{text-align:left}
.failed{color:#c0504d;font-weight:bold}.muted{color:#777;font-size:.9em}
#summary{background:#f5f8fb;border-left:4px solid #1f4e79;padding:.5rem 1.2rem;margin:1rem 0}
#summary li{margin:.3rem 0}"""


def check_privacy(run_dir: Path, pages: list[Path], config) -> dict:
    """Scan the rendered pages for the client's customer ids (customers, secondary ids and
    quarantined ids) and for e-mail addresses. Returns {'identifiers', 'pages', 'found'};
    the result goes on index.html and into privacy.json."""
    import pandas as pd
    from .ingest import ID_COLUMNS
    from .privacy import scan_for_identifiers, scannable_identifiers
    ids: set[str] = set()
    if not config.privacy.show_identifiers:
        for table, col in (("customers", "customer_id"), ("identities", "secondary_id")):
            f = run_dir / "tables" / f"{table}.parquet"
            if f.exists():
                ids |= scannable_identifiers(pd.read_parquet(f, columns=[col])[col])
        q = run_dir / "quarantine" / "quarantine.parquet"
        if q.exists():
            qq = pd.read_parquet(q, columns=["column", "value"])
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
    (run_dir / "privacy.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


def write_index(run_dir: Path, name: str, runs: list[NotebookRun], status: str = "ok",
                error: str | None = None, top: int = 5, privacy: dict | None = None) -> Path:
    """index.html: status, the executive summary and the ingestion accounting from
    metrics.json, and links to each section."""
    metrics = read_metrics(run_dir / "metrics.json")
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(name)}: "
             f"customer-experience diagnostic</title><style>{_CSS}</style></head><body>",
             f"<h1>{html.escape(name)}: customer-experience diagnostic</h1>"]
    if status != "ok":
        parts.append(f"<p class='failed'>The report is incomplete: {html.escape(error or status)}</p>")
    sections = [(r.html.name, _title_from_html(r)) for r in runs]
    if metrics:
        parts.append(render_executive_summary(metrics, sections=sections, top=top))
    ingest = metrics.get("ingest")
    if ingest:
        parts.append("<h2>Data received</h2><table><tr><th>table</th><th>rows in</th><th>loaded</th>"
                     "<th>quarantined</th></tr>")
        for table, v in ingest.items():
            parts.append(f"<tr><td>{html.escape(table)}</td><td>{v['rows_in']:,}</td><td>{v['loaded']:,}</td>"
                         f"<td>{v['quarantined']:,} ({v['quarantined'] / max(v['rows_in'], 1):.1%})</td></tr>")
        parts.append("</table>")
    parts.append("<h2>Sections</h2><ol>")
    for r, (page, title) in zip(runs, sections):
        parts.append(f"<li><a href='{page}'>{html.escape(title)}</a> "
                     f"<span class='muted'>({r.seconds:.0f}s)</span></li>")
    parts.append("</ol>")
    if privacy is not None:
        if privacy["found"]:
            parts.append(f"<p class='failed'>Privacy check: {privacy['found']:,} customer identifier(s) or e-mail "
                         f"address(es) appear on {html.escape(', '.join(privacy['pages']))}. Do not circulate "
                         "this report before they are removed.</p>")
        else:
            parts.append(f"<p class='muted'>Privacy check: {privacy['scanned']} page(s) scanned for "
                         f"{privacy['identifiers']:,} customer identifiers and for e-mail addresses; none found.</p>")
    parts.append("<p class='muted'>Figures: <a href='metrics.json'>metrics.json</a> · "
                 "Reproducibility: <a href='provenance.json'>provenance.json</a> · "
                 "Quarantined rows (raw, for the analyst): <a href='quarantine/quarantine.csv'>quarantine.csv</a></p>"
                 "</body></html>")
    out = run_dir / "index.html"
    out.write_text("\n".join(parts), encoding="utf-8")
    return out


def _title_from_html(run: NotebookRun) -> str:
    text = run.html.read_text(encoding="utf-8")
    start = text.find("<title>")
    if start >= 0:
        title = text[start + 7:text.find("</title>", start)]
        return html.unescape(title.split(": ", 1)[-1])
    return run.name
