"""Benchmark: journey reconstruction on Spark (local mode) beside DuckDB, on the same file.

The same SQL runs on both (DuckDB's, transpiled to Spark SQL by sqlglot). Each engine runs in
a fresh process on the cached demo logs of bench_journeys.py and writes the step and journey
tables as Parquet; printed: wall time, and peak memory of the process (DuckDB) or of the
Python driver plus the Spark JVM. On 2 cores Spark is expected to be slower than DuckDB: the
point is that the same code runs on a cluster (README, "Beyond one machine").

    .venv/bin/python benchmarks/bench_spark.py --sizes 1000000,10000000
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
from bench_journeys import make_log  # noqa: E402

CHILD = r"""
import json, os, resource, sys, time
from cxlib.core.config import load_config
from cxlib.journeys.reconstruct import reconstruct_journeys
path, out, config, engine, cores, memory = sys.argv[1:7]
cfg = load_config(config)
spark = None
if engine == "spark":
    from cxlib.core.spark import get_spark
    t = time.perf_counter()
    import tempfile
    log_dir = tempfile.mkdtemp(prefix="cxlib-spark-events-")
    spark = get_spark(f"local[{cores}]", conf={"spark.driver.memory": memory, "spark.eventLog.enabled": "true", "spark.eventLog.compress": "false",
                                               "spark.eventLog.dir": f"file://{log_dir}"})
    start_s = time.perf_counter() - t
else:
    start_s = 0.0
t0 = time.perf_counter()
j = reconstruct_journeys(path, cfg.analysis.journeys, engine=engine, spark=spark, to_pandas=False,
                         threads=int(cores), memory_limit=memory if engine == "duckdb" else None,
                         journeys_path=f"{out}/{engine}_journeys.parquet", steps_path=f"{out}/{engine}_steps.parquet")
wall = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2
jvm = 0.0
if spark is not None:
    pid = spark.sparkContext._gateway.proc.pid
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM"):
            jvm = int(line.split()[1]) / 1024 ** 2
    spark.stop()
shuffle = 0
if engine == "spark":   # the event log's task metrics: bytes every task wrote to the shuffle
    import glob
    for name in glob.glob(f"{log_dir}/**/*", recursive=True):
        if os.path.isdir(name):
            continue
        for line in open(name):
            if '"SparkListenerTaskEnd"' in line:
                m = json.loads(line).get("Task Metrics") or {}
                shuffle += (m.get("Shuffle Write Metrics") or {}).get("Shuffle Bytes Written", 0)
    import shutil
    shutil.rmtree(log_dir, ignore_errors=True)   # read; the event log is not kept
print("\n" + json.dumps({"events": j.n_events, "journeys": j.n_journeys, "wall": wall, "start": start_s,
                         "phases": j.timings, "peak_gb": peak + jvm, "jvm_gb": jvm, "shuffle_gb": shuffle / 1024 ** 3}))
"""


def run(engine: str, log: Path, out: Path, config: Path, cores: int, memory: str) -> dict:
    r = subprocess.run([sys.executable, "-c", CHILD, str(log), str(out), str(config), engine, str(cores), memory],
                       capture_output=True, text=True, cwd=REPO)
    if r.returncode != 0:
        raise RuntimeError(f"{engine} failed:\n{r.stderr[-3000:]}")
    return json.loads(next(line for line in reversed(r.stdout.splitlines()) if line.startswith("{")))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="1000000,10000000")
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--memory", default="6g", help="DuckDB memory limit and Spark driver memory")
    ap.add_argument("--cache", default=str(HERE / ".cache"))
    args = ap.parse_args(argv)
    cache = Path(args.cache)
    config = REPO / "data" / "demo" / "client.yml"
    print(f"journey reconstruction, DuckDB vs Spark local[{args.cores}] (memory {args.memory})", flush=True)
    for size in (int(s) for s in args.sizes.split(",")):
        log = make_log(size, cache)
        out = cache / f"spark_out_{size}"
        out.mkdir(parents=True, exist_ok=True)
        print(f"\n== {size:,} events ==", flush=True)
        res = {e: run(e, log, out, config, args.cores, args.memory) for e in ("duckdb", "spark")}
        assert res["duckdb"]["journeys"] == res["spark"]["journeys"], "the engines disagree on the journey count"
        for e, r in res.items():
            extra = (f" (+ {r['start']:.0f} s session start; JVM {r['jvm_gb']:.2f} GB; shuffle written "
                     f"{r['shuffle_gb']:.2f} GB = {r['shuffle_gb'] * 1024 ** 3 / r['events']:.0f} bytes/event)"
                     if e == "spark" else "")
            print(f"{e:<7} {r['wall']:7.1f} s  {r['events'] / r['wall']:>10,.0f} events/s  peak {r['peak_gb']:.2f} GB"
                  f"{extra}; " + ", ".join(f"{k} {v:.1f}" for k, v in r["phases"].items()), flush=True)
        print(f"Spark / DuckDB: {res['spark']['wall'] / res['duckdb']['wall']:.1f}x; "
              f"{res['duckdb']['journeys']:,} journeys on both", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
