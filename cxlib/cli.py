"""Command line: ``python -m cxlib <command>`` (the Makefile's targets call these)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cxlib.core.config import DEFAULT_SEED, ConfigError, load_config
from cxlib.ingest import IngestError
from cxlib.core.paths import ClientNameError


def _parse_param(text: str) -> tuple[str, object]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    key, value = text.split("=", 1)
    import yaml
    return key.strip(), yaml.safe_load(value)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cxlib", description="Customer-experience diagnostics.")
    sub = parser.add_subparsers(dest="command", required=True)

    rep = sub.add_parser("report", help="run every notebook for one client and render its report")
    rep.add_argument("--client", default="demo")
    rep.add_argument("--data-root", default="data")
    rep.add_argument("--reports-root", default="reports")
    rep.add_argument("--seed", type=int, default=DEFAULT_SEED)
    rep.add_argument("--engine", choices=["duckdb", "spark"], default=None,
                     help="where the event-level work runs: the events' ingest, the journeys, the contact "
                          "cascade, the touchpoint inventory (default: the client.yml's engine, else duckdb)")
    rep.add_argument("-p", "--param", action="append", type=_parse_param, default=[],
                     help="extra notebook parameter NAME=VALUE (must be declared in the notebooks)")

    bat = sub.add_parser("reports", help="run the report of every configured client (in parallel) and write "
                                          "reports/index.html")
    bat.add_argument("--data-root", default="data")
    bat.add_argument("--reports-root", default="reports")
    bat.add_argument("--seed", type=int, default=DEFAULT_SEED)
    bat.add_argument("--jobs", type=int, default=None, help="reports at a time (default: one per core)")
    bat.add_argument("--clients", default=None, help="comma-separated client names (default: every folder with a client.yml)")
    bat.add_argument("-p", "--param", action="append", type=_parse_param, default=[],
                     help="extra notebook parameter NAME=VALUE for every client (must be declared in the notebooks)")

    br = sub.add_parser("check-report", help="read every page of a rendered report for what a client should not "
                                             "see (nan, errors, decimal counts, printed progress, empty headings), "
                                             "then open it in headless Chromium with the network cut off; "
                                             "screenshots go to reports/<client>/screenshots/ (and, with "
                                             "--pdf, the whole report to report.pdf)")
    br.add_argument("--client", default="demo")
    br.add_argument("--reports-root", default="reports")
    br.add_argument("--width", type=int, default=1440)
    br.add_argument("--pdf", action="store_true", help="also print the whole report to reports/<client>/report.pdf")

    demo = sub.add_parser("demo", help="generate the demo client's raw files and truth.json")
    demo.add_argument("--out", default="data/demo")
    demo.add_argument("--customers", type=int, default=20_000)
    demo.add_argument("--seed", type=int, default=DEFAULT_SEED)
    demo.add_argument("--layout", choices=["demo", "large"], default="demo",
                      help="large: plain CSV instead of gzip and Excel, for hundreds of thousands of customers "
                           "(above 250,000 simulated in parts, one process per core)")

    chk = sub.add_parser("check-config", help="validate a client.yml and report every problem")
    chk.add_argument("path")

    cl = sub.add_parser("clients", help="list the configured clients (folders with a client.yml)")
    cl.add_argument("--data-root", default="data")

    sub.add_parser("config-keys", help="print the documented list of client.yml keys")

    args = parser.parse_args(argv)
    from cxlib.core.memory import keep_freed_memory
    keep_freed_memory()    # the command's process ends with its work: freed memory is kept for reuse
    try:
        if args.command == "report":
            from cxlib.report.runner import ReportError, run_report
            try:
                run_report(args.client, args.data_root, args.reports_root, seed=args.seed,
                           extra_parameters=dict(args.param), engine=args.engine)
            except ReportError as err:
                print(f"error: {err}", file=sys.stderr)
                return 1
        elif args.command == "reports":
            from cxlib.core.paths import list_clients
            from cxlib.report.batch import run_batch
            clients = args.clients.split(",") if args.clients else list_clients(args.data_root)
            if not clients:
                print(f"error: no client.yml under {args.data_root}/", file=sys.stderr)
                return 2
            runs = run_batch(clients, args.data_root, args.reports_root, seed=args.seed, jobs=args.jobs,
                             parameters=dict(args.param))
            return 1 if any(r.status != "ok" for r in runs) else 0
        elif args.command == "check-report":
            from cxlib.core.paths import run_folder_paths, validate_client_name
            from cxlib.report.browser import check_report, find_chromium
            from cxlib.report.content import check_report_content
            run_dir = Path(args.reports_root) / validate_client_name(args.client)
            problems = check_report_content(run_dir)
            print(f"content check: {len(problems)} problem(s) on the pages of {run_dir}")
            if find_chromium() is None:
                print("browser check and PDF skipped: no chromium on PATH (apt-get install chromium)", file=sys.stderr)
                for p in problems:
                    print(f"problem: {p}", file=sys.stderr)
                return 1 if problems else 0
            pdf = run_folder_paths(run_dir).report_pdf if args.pdf else None
            checks = check_report(run_dir, width=args.width, pdf=pdf)
            problems += [p for c in checks for p in c.problems]
            for c in checks:
                print(f"{c.page}: {c.images} image(s), {len(c.problems)} problem(s) -> {c.screenshot}")
            if pdf:
                print(f"PDF of the whole report: {pdf}")
            for p in problems:
                print(f"problem: {p}", file=sys.stderr)
            return 1 if problems else 0
        elif args.command == "demo":
            from cxlib.demo import generate_demo
            generate_demo(args.out, n_customers=args.customers, seed=args.seed, progress=True,
                          layout=args.layout)
        elif args.command == "check-config":
            cfg = load_config(args.path)
            print(f"{args.path}: ok ({cfg.name}; tables: "
                  f"{', '.join(t for t in ('customers', 'events', 'surveys') if cfg.sources(t)) or 'none'})")
        elif args.command == "clients":
            from cxlib.core.paths import list_clients
            for name in list_clients(args.data_root):
                print(name)
        elif args.command == "config-keys":
            from cxlib.core.config import describe_config_keys
            print(describe_config_keys())
    except (ConfigError, IngestError, ClientNameError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0
