"""Batch runs: every configured client's report, in parallel where the cores allow, with
progress, carrying on past failures, and a landing page (``reports/index.html``) that
lists each client's report with its status and headline figures."""
from __future__ import annotations

import html
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from cxlib.core.config import DEFAULT_SEED
from cxlib.core.jsonio import write_json
from cxlib.core.paths import batch_index, batch_record, resolve_client_paths
from cxlib.core.privacy import redact_error
from cxlib.report.content import check_report_content
from cxlib.report.metrics import read_metrics
from cxlib.report.summary import headline_figures


@dataclass
class ClientRun:
    client: str
    status: str          # ok | failed
    seconds: float
    error: str | None
    log: Path
    problems: list[str] = field(default_factory=list)   # the content check's findings on its pages


def default_jobs(n_clients: int) -> int:
    """One report per core: a report is one notebook kernel at a time."""
    return max(1, min(n_clients, os.cpu_count() or 1))


def _last_error(log_text: str) -> str:
    """The line of a failed run's log that says what went wrong."""
    lines = [ln.strip() for ln in log_text.splitlines() if ln.strip()]
    for ln in reversed(lines):
        if ln.startswith("error:"):
            return ln[len("error:"):].strip()
    return lines[-1] if lines else "no output"


THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def run_client(client: str, data_root: str | Path, reports_root: str | Path, seed: int,
               threads: int | None = None, parameters: dict | None = None) -> ClientRun:
    """Run one client's report in its own process; its output goes to the client's log.
    ``threads`` caps the numeric libraries' threads in that process (and its kernels), so
    reports running side by side share the cores instead of oversubscribing them.
    ``parameters`` are extra notebook parameters (``cxlib report -p NAME=VALUE``)."""
    log = resolve_client_paths(client, data_root, reports_root).log
    log.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    if threads:
        env |= {v: str(threads) for v in THREAD_VARIABLES if v not in os.environ}
    extra = [a for k, v in (parameters or {}).items() for a in ("-p", f"{k}={json.dumps(v)}")]
    t0 = time.perf_counter()
    with open(log, "w", encoding="utf-8") as fh:
        code = subprocess.run([sys.executable, "-m", "cxlib", "report", "--client", client, "--data-root",
                               str(data_root), "--reports-root", str(reports_root), "--seed", str(seed), *extra],
                              stdout=fh, stderr=subprocess.STDOUT, env=env).returncode
    seconds = time.perf_counter() - t0
    error = None if code == 0 else _last_error(log.read_text(encoding="utf-8"))
    problems = check_report_content(resolve_client_paths(client, data_root, reports_root).run_dir) if code == 0 else []
    return ClientRun(client, "ok" if code == 0 else "failed", seconds, error, log, problems)


def run_batch(clients: list[str], data_root: str | Path = "data", reports_root: str | Path = "reports",
              seed: int = DEFAULT_SEED, jobs: int | None = None, progress: bool = True,
              parameters: dict | None = None) -> list[ClientRun]:
    """Run every client's report (``jobs`` at a time), say each one's outcome as it
    finishes, write the landing page and return the runs in client order. ``parameters`` go
    to every client's notebooks (as :func:`~cxlib.report.runner.run_report`'s
    ``extra_parameters``), e.g. ``{"n_boot": 50}``."""
    jobs = jobs or default_jobs(len(clients))
    say = (lambda msg: print(msg, file=sys.stderr, flush=True)) if progress else (lambda msg: None)
    say(f"cxlib reports: {len(clients)} client(s), {jobs} at a time -> {batch_index(reports_root)}")
    runs: dict[str, ClientRun] = {}
    started = datetime.now(timezone.utc)
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        threads = max(1, (os.cpu_count() or 1) // jobs)
        futures = {pool.submit(run_client, c, data_root, reports_root, seed, threads, parameters): c for c in clients}
        for c in clients[:jobs]:
            say(f"  started {c}")
        for fut in as_completed(futures):
            r = fut.result()
            runs[r.client] = r
            outcome = ("ok" + (f", {len(r.problems)} content problem(s)" if r.problems else "")
                       if r.status == "ok" else f"FAILED: {r.error}")
            say(f"[{len(runs)}/{len(clients)}] {r.client}: {outcome} ({r.seconds:.0f}s, log {r.log})")
    ordered = [runs[c] for c in clients]
    write_landing_page(reports_root, ordered, started=started)
    failed = [r for r in ordered if r.status != "ok"]
    say(f"done: {len(ordered) - len(failed)} ok, {len(failed)} failed -> {batch_index(reports_root)}")
    for r in failed:
        say(f"  {r.client} failed: {r.error}")
    for r in ordered:
        for p in r.problems:
            say(f"  {r.client}: {p}")
    return ordered


_CSS = """body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;max-width:1100px;margin:2rem auto;
padding:0 1rem;color:#222}h1{color:#1f4e79}table{border-collapse:collapse;width:100%}
td,th{padding:.5rem .7rem;border-bottom:1px solid #ddd;vertical-align:top;text-align:left}
td.num{text-align:right;white-space:nowrap}.ok{color:#2e7d32;font-weight:bold}.failed{color:#c0504d;font-weight:bold}
.muted{color:#777;font-size:.9em}ul{margin:0;padding-left:1.1rem}"""


def write_landing_page(reports_root: str | Path, runs: list[ClientRun], started: datetime | None = None) -> Path:
    """The batch landing page: one row per client with its status, its size and its headline
    figures, linking to its report or, for a failure, its log."""
    root = Path(reports_root)
    rows = []
    for r in runs:
        paths = resolve_client_paths(r.client, root, root)
        metrics = read_metrics(paths.metrics)
        rows_in = sum(v["rows_in"] for v in (metrics.get("ingest") or {}).values())
        heads = headline_figures(metrics)[:3] if metrics else []
        page = paths.index.relative_to(root.resolve()).as_posix()
        link = (f"<a href='{html.escape(page)}'>{html.escape(r.client)}</a>"
                if paths.index.exists() else html.escape(r.client))
        checked = (f"<br><span class='failed'>{len(r.problems)} content problem(s)</span>" if r.problems
                   else "<br><span class='muted'>content check passed</span>")
        status = ("<span class='ok'>ok</span>" + checked if r.status == "ok" else
                  f"<span class='failed'>failed</span><br><span class='muted'>{html.escape(redact_error(r.error) or '')}</span>"
                  f"<br><a href='{html.escape(r.log.name)}'>log</a>")
        figures = "<ul>" + "".join(f"<li>{h}</li>" for h in heads) + "</ul>" if heads else "–"
        rows.append(f"<tr><td>{link}</td><td>{status}</td><td class='num'>{rows_in:,}</td>"
                    f"<td class='num'>{r.seconds:.0f}s</td><td>{figures}</td></tr>")
    n_ok = sum(r.status == "ok" for r in runs)
    when = (started or datetime.now(timezone.utc)).strftime("%Y-%m-%d %H:%M UTC")
    page = (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Customer-experience diagnostics"
            f"</title><style>{_CSS}</style></head><body><h1>Customer-experience diagnostics</h1>"
            f"<p>{len(runs)} client report(s), {n_ok} ok, {len(runs) - n_ok} failed; run started {when}.</p>"
            "<table><tr><th>client</th><th>status</th><th>rows in</th><th>time</th><th>headline figures</th></tr>"
            + "".join(rows) + "</table></body></html>")
    out = batch_index(root)
    out.write_text(page, encoding="utf-8")
    write_json(batch_record(root), [{**asdict(r), "log": r.log.name} for r in runs])
    return out
