"""The report pipeline: run every notebook for one client with papermill, render each to
HTML, and write the front page, the figures and the provenance into the client's run folder
(the files are named by :class:`~cxlib.core.paths.ClientPaths`)."""
from __future__ import annotations

import json
import os
import sys
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from cxlib.core.config import DEFAULT_SEED, load_config
from cxlib.core.formatting import display_names
from cxlib.core.jsonio import read_json
from cxlib.core.paths import ClientPaths, resolve_client_paths
from cxlib.journeys.reconstruct import ENGINES
from cxlib.report.notebooks import (NotebookError, check_parameters, list_notebooks, load_notebook, notebook_parameters,
                                    notebook_title)
from cxlib.report.appendix import write_appendix
from cxlib.report.kernels import KernelQueue
from cxlib.report.pages import (CSS, NotebookRun, build_nav, check_privacy, data_period, describe_empty_page,
                                describe_report_date, describe_run, render_html, render_nav, write_index)
from cxlib.report.provenance import build_provenance, write_provenance

REPO_ROOT = Path(__file__).resolve().parents[2]


class ReportError(RuntimeError):
    """A report could not be produced; the message says which notebook, cell and error."""


def run_report(client: str, data_root: str | Path = "data", reports_root: str | Path = "reports",
               seed: int = DEFAULT_SEED, notebooks_dir: str | Path | None = None,
               extra_parameters: dict | None = None, progress: bool = True, engine: str | None = None) -> Path:
    """Run the whole report for ``client``; return the path of its front page. ``engine``
    (duckdb or spark) overrides client.yml's ``engine`` in the notebooks that take it.

    Stops at the first failing notebook, keeps its partial output, and raises
    ReportError naming the notebook, the cell and the error.
    """
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    paths = resolve_client_paths(client, data_root, reports_root)
    config = load_config(paths.config)  # fail before any notebook runs
    parameters = {"client": client, "data_root": str(Path(data_root).resolve()),
                  "reports_root": str(Path(reports_root).resolve()), "seed": int(seed),
                  **(extra_parameters or {})}
    if engine:
        if engine not in ENGINES:
            raise ReportError(f"engine must be one of {', '.join(ENGINES)}, not {engine!r}")
        parameters["engine"] = engine
    try:
        notebooks = list_notebooks(notebooks_dir)
        for nb in notebooks:
            check_parameters(nb, _parameters_for(nb, parameters))
    except NotebookError as err:
        raise ReportError(str(err)) from None
    paths.run_dir.mkdir(parents=True, exist_ok=True)
    say = (lambda msg: print(msg, file=sys.stderr, flush=True)) if progress else (lambda msg: None)
    with hold_run_lock(paths, client):
        return _run(pm, PapermillExecutionError, paths, config, parameters, notebooks, client, say)


OPTIONAL_PARAMETERS = ("engine", "n_boot")
"""Parameters passed only to the notebooks that declare them: the engine matters to 01, 02, 04 and 05
(the event-level work), the bootstrap size to the sections that bootstrap."""


def _parameters_for(notebook: Path, parameters: dict) -> dict:
    declared = notebook_parameters(notebook)
    return {k: v for k, v in parameters.items() if k not in OPTIONAL_PARAMETERS or k in declared}


def _run(pm, PapermillExecutionError, paths: ClientPaths, config, parameters: dict, notebooks, client: str,
         say) -> Path:
    previous = read_json(paths.provenance, {}) if paths.provenance.exists() else {}
    if isinstance(previous, dict) and previous.get("status") == "running":
        say(f"note: the previous run of {client!r} (started {previous.get('started_at')}) was interrupted; "
            "this run replaces it")
    for stale in [paths.metrics, paths.provenance, paths.index, paths.journey_findings, paths.scenarios]:
        stale.unlink(missing_ok=True)
    say(f"cxlib report: client {client!r} ({config.name}) -> {paths.run_dir}")
    started = datetime.now(timezone.utc)
    stamp = started.isoformat(timespec="seconds")
    shown = started.strftime("%Y-%m-%d %H:%M UTC")
    # until the run ends, the folder says a run is under way: a run killed on the spot leaves that behind
    write_provenance(paths.provenance, {"parameters": parameters, "seed": parameters.get("seed"),
                                        "status": "running", "started_at": stamp, "pid": os.getpid()})
    write_index(paths, config.name, [], "running",
                f"the run started {shown} has not finished; if no run is in progress, it was interrupted "
                "and this report must be run again")
    runs: list[NotebookRun] = []
    executed: list[tuple[Path, str]] = []
    status, error = "ok", None
    try:
        with KernelQueue(notebooks) as kernels:      # the next notebook's kernel starts while one runs
            for i, nb in enumerate(notebooks, 1):
                out = paths.executed(nb.stem)
                say(f"[{i}/{len(notebooks)}] {nb.stem} ...")
                t0 = time.perf_counter()
                km = kernels.take(nb)
                try:
                    pm.execute_notebook(load_notebook(nb), str(out), parameters=_parameters_for(nb, parameters),
                                        cwd=str(nb.parent), progress_bar=False, kernel_name="python3", km=km)
                except PapermillExecutionError as err:
                    status = "failed"
                    error = (f"{nb.stem} failed in cell {err.cell_index} (In [{err.exec_count}]): "
                             f"{err.ename}: {err.evalue}")
                    raise ReportError(f"{error}\nThe partial notebook is kept at {out}") from None
                finally:
                    kernels.release(km)
                seconds = time.perf_counter() - t0
                title = notebook_title(nb)
                runs.append(NotebookRun(nb.stem, title, seconds, paths.page(nb.stem)))
                executed.append((out, title))
                say(f"[{i}/{len(notebooks)}] {nb.stem} done in {seconds:.1f}s")
    except BaseException as err:     # a full disk, an interrupt: the record must not say ok
        if status == "ok":
            status, error = "failed", f"{type(err).__name__}: {err}"
        raise
    finally:
        try:
            provenance = build_provenance(parameters, config, paths.config, repo=REPO_ROOT, status=status,
                                          error=error, started_at=stamp,
                                          notebooks={r.name: round(r.seconds, 2) for r in runs})
            write_provenance(paths.provenance, provenance)
            _write_pages(paths, config, runs, executed, provenance, status, error)
        except Exception as page_err:
            if status != "ok":   # the first error is the one to read; this one only adds to it
                print(f"(the failure could not be recorded in {paths.run_dir} either: "
                      f"{type(page_err).__name__}: {page_err})", file=sys.stderr, flush=True)
            else:
                raise ReportError(f"every notebook ran, but the report could not be written to {paths.run_dir}: "
                                  f"{type(page_err).__name__}: {page_err}") from None
    say(f"report ready: {paths.index}")
    return paths.index


@contextmanager
def hold_run_lock(paths: ClientPaths, client: str):
    """Hold the run folder's lock for one run: a second run of the same client while one is in
    progress stops with a message saying so. A lock left by a run that no longer exists (killed)
    is taken over."""
    for _ in range(2):
        try:
            fd = os.open(paths.lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            held = read_json(paths.lock, {}) if paths.lock.stat().st_size else {}
            pid = held.get("pid") if isinstance(held, dict) else None
            if pid and _alive(int(pid)):
                raise ReportError(f"another run of {client!r} is in progress (process {pid}, started "
                                  f"{held.get('started_at')}); wait for it to finish. Its lock is {paths.lock}") from None
            paths.lock.unlink(missing_ok=True)          # stale: its run was killed
            continue
        with os.fdopen(fd, "w") as fh:
            json.dump({"pid": os.getpid(), "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}, fh)
        break
    else:  # pragma: no cover - another process took the stale lock between our two attempts
        raise ReportError(f"another run of {client!r} took the lock {paths.lock}; wait for it to finish")
    try:
        yield
    finally:
        paths.lock.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return pid != 0


def _write_pages(paths: ClientPaths, config, runs: list[NotebookRun], executed: list[tuple[Path, str]],
                 provenance: dict, status: str, error: str | None) -> None:
    """Render every executed notebook and the front page, each with the provenance footer,
    scan them all for customer identifiers, and put the result on the front page."""
    period = data_period(paths, config)
    footer, subtitle = describe_run(paths.client, provenance, period), describe_report_date(provenance, period)
    for run, (out, _) in zip(runs, executed):
        run.empty = describe_empty_page(out)
        if run.empty:
            run.html.unlink(missing_ok=True)
    for run, (out, title) in zip(runs, executed):
        if not run.empty:
            render_html(out, run.html, f"{config.name}: {title}", footer=footer,
                        nav=build_nav(config.name, subtitle, runs, run.html.name))
    top = config.analysis.recommendations.top
    nav = build_nav(config.name, subtitle, runs, paths.index.name)
    with display_names(config.display_names):   # the front page's prose names things as the sections do
        index = write_index(paths, config.name, runs, status, error, top=top, footer=footer, subtitle=subtitle,
                            nav=nav)
    appendix = write_appendix(paths, provenance, name=config.name, css=CSS, footer=footer,
                              nav_html=render_nav(build_nav(config.name, subtitle, runs, paths.appendix.name)))
    # scan the sections, the appendix and the front page as written, then put the result on the front page
    # failed runs too: a failure page is a page a client may be sent
    privacy = check_privacy(paths, [*(r.html for r in runs if not r.empty), appendix, index], config)
    with display_names(config.display_names):
        write_index(paths, config.name, runs, status, error, top=top, privacy=privacy, footer=footer,
                    subtitle=subtitle, nav=nav)
    if privacy and privacy["found"]:
        print(f"PRIVACY WARNING: {privacy['found']} identifier(s) or e-mail address(es) on {privacy['pages']}",
              file=sys.stderr, flush=True)
