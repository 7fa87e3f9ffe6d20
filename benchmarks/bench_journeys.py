"""Benchmark: journey reconstruction on demo logs of 1M and 10M events.

Prints events/s and peak memory for cxlib's DuckDB reconstruction (journey assignment,
step and journey tables, variants and directly-follows graph), and, when a Python with
pm4py is given, the same figures for pm4py's variants and directly-follows graph on
the same (already reconstructed) log. pm4py is not a project dependency: install it
in its own environment, e.g.

    python -m venv /tmp/pm4py && /tmp/pm4py/bin/pip install pm4py pyarrow
    python benchmarks/bench_journeys.py --pm4py-python /tmp/pm4py/bin/python

Beside it, the floor: DuckDB reading the same file and writing it back sorted by customer
and time (the least any reconstruction must do). Then what any reconstruction writing these
outputs pays at least: cxlib's own sort of the events (its phase 'sort events') plus DuckDB
writing the two tables cxlib wrote (from memory, labels as ENUMs, as cxlib holds them). Sizes above the cached 10M log are built by
stacking copies of it with renamed customers (``--sizes 30000000,100000000``), so they run out
of core under ``--memory-limit``.

``--engines compiled,duckdb`` runs both engines of ``reconstruct_journeys`` by turns on the same
log (the default, ``auto``, is what a client gets: the compiled passes when the log fits in
memory under ``--memory-limit``, else DuckDB).

cxlib's children set up their process as the command line and the report's kernels do
(:func:`cxlib.core.memory.keep_freed_memory`: freed memory kept for reuse, no huge-page advice).

Targets (issue 17, 2 cores): 10M events <= 8 s and <= 3 GB peak, within 3x of the floor;
30M and 100M complete under a 12 GB limit. Each measurement runs in a fresh process so peak
memory is its own.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
EVENTS_PER_CUSTOMER = 22.9   # demo, seed 42: 458,000 events / 20,000 customers


BASE = 10_000_000   # larger logs are copies of this one


def make_log(n_events: int, cache: Path, seed: int = 42) -> Path:
    """Demo events (canonical schema) as Parquet, about ``n_events`` rows; cached. Above
    ``BASE`` events, copies of the BASE log with customer ids suffixed per copy."""
    path = cache / f"demo_events_{n_events}.parquet"
    if path.exists():
        return path
    if n_events > BASE:
        import duckdb
        base = make_log(BASE, cache, seed)
        copies = -(-n_events // BASE)
        t0 = time.perf_counter()
        con = duckdb.connect()
        con.execute("SET memory_limit = '4GB'")
        con.execute(f"COPY (SELECT * REPLACE (customer_id || '-' || k AS customer_id, case_id || '-' || k AS case_id) "
                    f"FROM read_parquet('{base}'), range({copies}) r(k)) TO '{path}' (FORMAT parquet)")
        print(f"  stacked {copies} copies of the {BASE:,}-event log in {time.perf_counter() - t0:.0f} s", flush=True)
        return path
    from cxlib.demo import canonical_events, simulate_demo
    n_customers = int(n_events / EVENTS_PER_CUSTOMER)
    t0 = time.perf_counter()
    ev = canonical_events(simulate_demo(n_customers, seed))
    cache.mkdir(parents=True, exist_ok=True)
    ev.to_parquet(path, index=False)
    print(f"  generated {len(ev):,} events for {n_customers:,} customers in {time.perf_counter() - t0:.0f} s",
          flush=True)
    return path


CHILD_CXLIB = r"""
import json, resource, sys, time
from cxlib.core.memory import keep_freed_memory
keep_freed_memory()    # as the command line and the report's kernels set up their processes
import duckdb
from cxlib.core.config import load_config
from cxlib.journeys.reconstruct import reconstruct_journeys
from cxlib.journeys.stats import journey_paths_sql
from cxlib.journeys.reconstruct import choose_engine
path, threads, out, memory_limit, engine = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[5], sys.argv[6]
cfg = load_config(sys.argv[4])
t0 = time.perf_counter()
ran = choose_engine(path, memory_limit) if engine == "auto" else engine
j = reconstruct_journeys(path, cfg.analysis.journeys, threads=threads, to_pandas=False, journeys_path=f'{out}/journeys.parquet',
                         steps_path=f'{out}/journey_steps.parquet',
                         memory_limit=memory_limit, engine=ran)
t1 = time.perf_counter()
peak_reconstruct = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2
con = duckdb.connect(); con.execute(f"SET threads = {threads}"); con.execute("SET enable_progress_bar = false")
con.execute(f"SET memory_limit = '{memory_limit}'")
con.execute(f"CREATE VIEW st AS SELECT * FROM read_parquet('{out}/journey_steps.parquet')")
# every journey's path counted, as cxlib.journeys.stats joins paths (once per hash of the steps)
nv = con.execute(f"SELECT path, sum(n) FROM ({journey_paths_sql(per_journey=False)}) GROUP BY path").fetchall()
nd = con.execute("SELECT count(*) FROM st WHERE step > 1 GROUP BY prev_touchpoint, touchpoint").fetchall()
t2 = time.perf_counter()
print("\n" + json.dumps({"engine": ran, "events": j.n_events, "journeys": j.n_journeys, "reconstruct_s": t1 - t0,
                  "variants_dfg_s": t2 - t1, "variants": len(nv), "dfg_edges": len(nd), "phases": j.timings,
                  "peak_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2,
                  "peak_reconstruct_gb": peak_reconstruct}))
"""

CHILD_FLOOR = r"""
import json, resource, sys, time
import duckdb
path, threads, out, memory_limit = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
con = duckdb.connect(); con.execute(f"SET threads = {threads}"); con.execute("SET enable_progress_bar = false")
con.execute(f"SET memory_limit = '{memory_limit}'")
t0 = time.perf_counter()
con.execute(f"COPY (SELECT * FROM read_parquet('{path}') ORDER BY customer_id, timestamp) TO '{out}/sorted.parquet' (FORMAT parquet)")
print("\n" + json.dumps({"read_sort_write_s": time.perf_counter() - t0,
                         "peak_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2}))
"""

CHILD_WRITES = r"""
import json, sys, time
import duckdb
out, threads, memory_limit = sys.argv[1], int(sys.argv[2]), sys.argv[3]
con = duckdb.connect(); con.execute(f"SET threads = {threads}"); con.execute("SET enable_progress_bar = false")
con.execute(f"SET memory_limit = '{memory_limit}'"); con.execute("SET preserve_insertion_order = false")
seconds = {}
for name in ("journey_steps", "journeys"):
    con.execute(f"CREATE TABLE {name} AS SELECT * FROM read_parquet('{out}/{name}.parquet')")
    # the labels as ENUMs, as the reconstruction holds them when it writes (cheaper to write than text)
    for col, typ in con.execute(f"SELECT column_name, column_type FROM (DESCRIBE {name})").fetchall():
        if typ == "VARCHAR" and con.execute(f"SELECT count(DISTINCT {col}) FROM {name}").fetchall()[0][0] < 1000:
            con.execute(f"CREATE TYPE e_{name}_{col} AS ENUM (SELECT DISTINCT {col} FROM {name} WHERE {col} IS NOT NULL)")
            con.execute(f"ALTER TABLE {name} ALTER {col} TYPE e_{name}_{col}")
    t0 = time.perf_counter()
    con.execute(f"COPY {name} TO '{out}/{name}_again.parquet' (FORMAT parquet)")
    seconds[name] = time.perf_counter() - t0
print("\n" + json.dumps({"write_s": sum(seconds.values()), **{f"{k}_s": v for k, v in seconds.items()}}))
"""

CHILD_PM4PY = r"""
import json, resource, sys, time
import pandas as pd
import pm4py
path = sys.argv[1]
t0 = time.perf_counter()
df = pd.read_parquet(path, columns=["journey_id", "touchpoint", "timestamp"])
df["journey_id"] = df["journey_id"].astype(str)
df = pm4py.format_dataframe(df, case_id="journey_id", activity_key="touchpoint", timestamp_key="timestamp")
t1 = time.perf_counter()
variants = pm4py.get_variants(df)
dfg, starts, ends = pm4py.discover_dfg(df)
t2 = time.perf_counter()
print("\n" + json.dumps({"events": len(df), "load_s": t1 - t0, "variants_dfg_s": t2 - t1, "variants": len(variants),
                  "dfg_edges": len(dfg), "peak_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2,
                  "pm4py": pm4py.__version__}))
"""


def run_child(python: str, code: str, *args) -> dict:
    r = subprocess.run([python, "-c", code, *map(str, args)], capture_output=True, text=True, cwd=REPO)
    if r.returncode != 0:
        raise RuntimeError(r.stderr[-3000:])
    return json.loads(next(line for line in reversed(r.stdout.splitlines()) if line.startswith("{")))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="1000000,10000000", help="comma-separated event counts")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--memory-limit", default="5GB",
                    help="DuckDB memory limit (it spills to disk beyond it); 10GB keeps 30M/100M under 12 GB")
    ap.add_argument("--cache", default=str(HERE / ".cache"), help="where generated logs and outputs go")
    ap.add_argument("--pm4py-python", default=None, help="a Python interpreter with pm4py installed")
    ap.add_argument("--engines", default="auto",
                    help="comma-separated engines of reconstruct_journeys to run by turns: auto (what a client "
                         "gets: the compiled passes when the log fits in memory), compiled, duckdb")
    args = ap.parse_args(argv)
    cache = Path(args.cache)
    config = REPO / "data" / "demo" / "client.yml"
    print(f"journey reconstruction benchmark (threads = {args.threads}, DuckDB memory limit {args.memory_limit})",
          flush=True)
    for size in (int(s) for s in args.sizes.split(",")):
        print(f"\n== {size:,} events ==", flush=True)
        log = make_log(size, cache)
        out = cache / f"out_{size}"
        out.mkdir(parents=True, exist_ok=True)
        floor = run_child(sys.executable, CHILD_FLOOR, log, args.threads, out, args.memory_limit)
        for engine in args.engines.split(","):
            r = run_child(sys.executable, CHILD_CXLIB, log, args.threads, out, config, args.memory_limit, engine)
            total = report_cxlib(r, floor)
        w = run_child(sys.executable, CHILD_WRITES, out, args.threads, args.memory_limit)
        fixed = r["phases"].get("sort events", float("nan")) + w["write_s"]
        print(f"What any reconstruction with these outputs pays (last engine's sort and files): its sort of the events "
              f"{r['phases'].get('sort events', float('nan')):.1f} s + DuckDB writing the two tables alone "
              f"{w['write_s']:.1f} s (steps {w['journey_steps_s']:.1f}, journeys {w['journeys_s']:.1f}) = {fixed:.1f} s; "
              f"the rest of cxlib's total, {total - fixed:.1f} s, is the journey work itself")
        if args.pm4py_python:
            p = run_child(args.pm4py_python, CHILD_PM4PY, out / "journey_steps.parquet")
            print(f"pm4py {p['pm4py']} (same journeys as cases):")
            print(f"  load + format      {p['load_s']:6.1f} s")
            print(f"  variants + DFG     {p['variants_dfg_s']:6.1f} s  ({p['events'] / p['variants_dfg_s']:,.0f} events/s; "
                  f"{p['variants']:,} variants, {p['dfg_edges']:,} edges), peak {p['peak_gb']:.2f} GB")
    return 0


def report_cxlib(r: dict, floor: dict) -> float:
    """Print one cxlib run beside the floor; return its total seconds."""
    total = r["reconstruct_s"] + r["variants_dfg_s"]
    print(f"cxlib ({r['engine']}): {r['events']:,} events -> {r['journeys']:,} journeys")
    print(f"  reconstruction     {r['reconstruct_s']:6.1f} s  ({r['events'] / r['reconstruct_s']:,.0f} events/s)")
    print("    phases: " + ", ".join(f"{k} {v:.1f} s" for k, v in r["phases"].items()))
    print(f"  variants + DFG     {r['variants_dfg_s']:6.1f} s  ({r['variants']:,} variants, {r['dfg_edges']:,} edges)")
    print(f"  total              {total:6.1f} s  ({r['events'] / total:,.0f} events/s), peak {r['peak_gb']:.2f} GB "
          f"({r['peak_reconstruct_gb']:.2f} GB by the end of the reconstruction)")
    print(f"DuckDB read + sort + write of the same file (the floor): {floor['read_sort_write_s']:.1f} s, "
          f"peak {floor['peak_gb']:.2f} GB; cxlib total is {total / floor['read_sort_write_s']:.1f}x the floor")
    return total


if __name__ == "__main__":
    sys.exit(main())
