"""Benchmark: a generated client of many customers, reported end to end.

Generates the demo client at ``--customers`` (default 1,000,000, about 23M events) in the
large layout (plain CSV: gzip and Excel are slow to write and read at this size; parts of
250,000 customers simulated side by side, so memory stays about 6 GB per process), writes a
``client.yml`` for it (the demo's, pointed at those files), and runs the whole report. Prints
generation and per-notebook wall time, CPU time and the peak memory of the largest process.

Target (issue 17, 2 cores): 1M customers, generation included, <= 10 minutes.

    .venv/bin/python benchmarks/bench_scale.py --customers 1000000
"""
from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

GENERATE = """
import sys
from cxlib.core.memory import keep_freed_memory
from cxlib.demo import generate_demo
keep_freed_memory()    # as `cxlib demo` does
generate_demo(sys.argv[1], n_customers=int(sys.argv[2]), progress=True, layout="large")
"""

REPORT = """
import json, sys, time
from cxlib.report.runner import run_report
index = run_report(sys.argv[1], data_root=sys.argv[2], reports_root=sys.argv[3], progress=True)
print(json.dumps({"notebooks": json.loads((index.parent / "provenance.json").read_text()).get("notebooks", {})}))
"""


def large_config(demo_config: str) -> str:
    """The demo's client.yml, reading the large layout's plain CSV files."""
    from cxlib.demo.export import LARGE_NAMES
    text = demo_config
    for old, new in LARGE_NAMES.items():
        if f"raw/{old}" not in text:
            raise ValueError(f"data/demo/client.yml no longer reads raw/{old}; update {__file__}")
        text = text.replace(f"raw/{old}", f"raw/{new}")
    return "\n".join(line for line in text.splitlines() if line.strip() != "sheet: Responses") + "\n"


def run(step: str, code: str, *args) -> tuple[float, float, float, str]:
    """Run ``code`` in a child process; (wall s, CPU s, peak GB of the largest child, last line)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code, *map(str, args)], cwd=REPO, text=True,
                          stdout=subprocess.PIPE)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{step} failed (exit {proc.returncode}); its output is above")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    lines = proc.stdout.strip().splitlines()
    return wall, cpu, after.ru_maxrss / 1024 ** 2, lines[-1] if lines else ""


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--cache", default=str(HERE / ".cache" / "scale"), help="where the client and its report go")
    ap.add_argument("--keep-data", action="store_true", help="reuse generated data from an earlier run")
    args = ap.parse_args(argv)
    name = f"demo_{args.customers}"
    root = Path(args.cache)
    client = root / "data" / name
    if client.exists() and not args.keep_data:
        shutil.rmtree(client)
    print(f"{args.customers:,} customers -> {client}", flush=True)
    gen_wall = gen_cpu = 0.0
    if not (client / "truth.json").exists():
        gen_wall, gen_cpu, gen_peak, _ = run("generation", GENERATE, client, args.customers)
        print(f"generation: {gen_wall:.0f} s wall, {gen_cpu:.0f} s CPU, peak {gen_peak:.2f} GB", flush=True)
    (client / "client.yml").write_text(large_config((REPO / "data" / "demo" / "client.yml").read_text()))
    truth = json.loads((client / "truth.json").read_text())
    print("raw rows: " + ", ".join(f"{k} {v:,}" for k, v in truth["raw_rows"].items()), flush=True)
    reports = root / "reports"
    wall, cpu, peak, last = run("report", REPORT, name, root / "data", reports)
    per = json.loads(last)["notebooks"]
    print(f"\nreport: {wall:.0f} s wall, {cpu:.0f} s CPU, peak {peak:.2f} GB (largest process)")
    print("  per notebook: " + ", ".join(f"{k} {v:.0f} s" for k, v in per.items()))
    print(f"end to end, generation included: {gen_wall + wall:.0f} s ({(gen_wall + wall) / 60:.1f} min); "
          f"report at {reports / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
