"""Benchmark: a client's ingest with the events read and validated on Spark (local mode) beside
pandas, on the same files.

Uses (or generates, cached) the demo client of ``--customers`` in the large layout of
bench_scale.py (plain CSV), and ingests it in a fresh process per engine and round: with
``duckdb`` the events go through pandas (a large file a million rows at a time), with ``spark``
Spark reads them and runs ingest's row-level code on its partitions (issue 18). The other tables
are read by pandas either way. Printed per run: wall time, the events loaded and quarantined (the
two must agree), and peak memory of the Python driver and of the Spark JVM. On 2 cores Spark is
expected to be slower: the point is that the same code runs on a cluster.

    .venv/bin/python benchmarks/bench_spark_ingest.py --customers 50000 --repeat 3
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
from bench_scale import GENERATE, large_config  # noqa: E402

CHILD = r"""
import json, resource, sys, time
from cxlib.core.config import load_config
from cxlib.ingest import ingest_client
data_dir, engine, cores, memory = sys.argv[1:5]
cfg = load_config(f"{data_dir}/client.yml")
spark = None
if engine == "spark":
    from cxlib.core.spark import get_spark
    spark = get_spark(f"local[{cores}]", conf={"spark.driver.memory": memory})
t0 = time.perf_counter()
r = ingest_client(cfg, data_dir, engine=engine, spark=spark)
wall = time.perf_counter() - t0
ev = r.metrics()["events"]
jvm = 0.0
if spark is not None:
    for line in open(f"/proc/{spark.sparkContext._gateway.proc.pid}/status"):
        if line.startswith("VmHWM"):
            jvm = int(line.split()[1]) / 1024 ** 2
    spark.stop()
print(json.dumps({"wall": wall, "rows_in": ev["rows_in"], "loaded": ev["loaded"], "quarantined": ev["quarantined"],
                  "peak_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2, "jvm_gb": jvm}))
"""


def client(customers: int, cache: Path) -> Path:
    """The large-layout demo client of ``customers`` customers, generated once into ``cache``."""
    data = cache / "data" / f"demo_{customers}"
    if not (data / "client.yml").exists():
        print(f"generating {customers:,} customers into {data} ...", flush=True)
        subprocess.run([sys.executable, "-c", GENERATE, str(data), str(customers)], cwd=REPO, check=True)
        (data / "client.yml").write_text(large_config((REPO / "data" / "demo" / "client.yml").read_text()))
    return data


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--customers", type=int, default=50_000)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--memory", default="8g", help="Spark driver memory")
    ap.add_argument("--cache", type=Path, default=HERE / ".cache" / "scale")
    args = ap.parse_args()
    data = client(args.customers, args.cache)
    runs: dict[str, list[dict]] = {"duckdb": [], "spark": []}
    for i in range(args.repeat):          # interleaved: both engines see the same machine
        for engine in runs:
            out = subprocess.run([sys.executable, "-c", CHILD, str(data), engine, str(args.cores), args.memory],
                                 cwd=REPO, check=True, text=True, stdout=subprocess.PIPE).stdout
            r = json.loads(out.strip().splitlines()[-1])
            runs[engine].append(r)
            print(f"round {i + 1} {engine:6s}: {r['wall']:7.1f} s  events in {r['rows_in']:,}, loaded {r['loaded']:,}, "
                  f"quarantined {r['quarantined']:,}; peak driver {r['peak_gb']:.2f} GB, JVM {r['jvm_gb']:.2f} GB",
                  flush=True)
    a, b = runs["duckdb"][0], runs["spark"][0]
    same = all(a[k] == b[k] for k in ("rows_in", "loaded", "quarantined"))
    print(f"\n{args.customers:,} customers, {a['rows_in']:,} event rows in; the same accounting on both: {same}")
    for engine, rs in runs.items():
        print(f"  {engine:6s} median {statistics.median(r['wall'] for r in rs):7.1f} s over {len(rs)} run(s)")
    if not same:
        sys.exit("the two engines disagree on the events' accounting")


if __name__ == "__main__":
    main()
