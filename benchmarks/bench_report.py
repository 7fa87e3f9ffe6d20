"""Benchmark: a whole client report end to end (all four notebooks, rendering, checks).

Prints wall time per notebook (from the run's provenance), total wall and CPU time and the
peak memory of the report process and its kernels. Targets (issue 17, 2 cores): demo with
its data present <= 45 s, airline <= 40 s. Each client runs in its own process; repeat with
--repeat and the median is printed.

    .venv/bin/python benchmarks/bench_report.py --clients demo,airline --repeat 1
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

CHILD = """
import json, sys, time
from cxlib.report.runner import run_report
t = time.perf_counter()
index = run_report(sys.argv[1], data_root=sys.argv[2], reports_root=sys.argv[3], progress=False)
prov = json.loads((index.parent / "provenance.json").read_text())
print(json.dumps({"wall": time.perf_counter() - t, "notebooks": prov.get("notebooks", {})}))
"""


def run_once(client: str, reports: Path) -> dict:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run([sys.executable, "-c", CHILD, client, str(REPO / "data"), str(reports)],
                         capture_output=True, text=True, check=True, cwd=REPO)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    res = json.loads(out.stdout.strip().splitlines()[-1])
    res["cpu"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    res["peak_mb"] = after.ru_maxrss / 1024       # the largest child so far (report process or a kernel)
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clients", default="demo,airline")
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args(argv)
    print(f"{'client':<12} {'wall s':>7} {'cpu s':>7} {'peak MB':>8}  per notebook (s)")
    for client in args.clients.split(","):
        runs = []
        for _ in range(args.repeat):
            with tempfile.TemporaryDirectory() as tmp:
                runs.append(run_once(client, Path(tmp)))
        med = lambda k: statistics.median(r[k] for r in runs)  # noqa: E731
        per = {k: statistics.median(r["notebooks"].get(k, 0) for r in runs) for k in runs[0]["notebooks"]}
        print(f"{client:<12} {med('wall'):>7.1f} {med('cpu'):>7.1f} {max(r['peak_mb'] for r in runs):>8.0f}  "
              + ", ".join(f"{k} {v:.1f}" for k, v in per.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
