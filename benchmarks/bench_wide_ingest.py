"""Benchmark: ingest a customer table with thousands of extra (attribute) columns.

Issue 16 (21): 10,000 extra customer columns took 559 s to ingest 20 rows, because the
mapped frame was built one column at a time (quadratic). Target: linear in the number of
columns, 10,000 columns of 20 rows in under 15 s. Prints the median of 3 runs per width,
side by side in one run.

    .venv/bin/python benchmarks/bench_wide_ingest.py
"""
from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from cxlib.core.config import load_config
from cxlib.ingest import ingest_client


def write_client(folder: Path, n_rows: int, n_extra: int) -> Path:
    rng = np.random.default_rng(0)
    base = pd.DataFrame({"id": [f"C{i}" for i in range(n_rows)], "seg": "a"})
    extra = pd.DataFrame(rng.integers(0, 5, (n_rows, n_extra)).astype(str), columns=[f"x{j}" for j in range(n_extra)])
    pd.concat([base, extra], axis=1).to_csv(folder / "customers.csv", index=False)
    cfg = {"name": "wide", "tables": {"customers": [{"path": "customers.csv",
                                                     "columns": {"id": "customer_id", "seg": "segment"}}]}}
    (folder / "client.yml").write_text(yaml.safe_dump(cfg))
    return folder / "client.yml"


def main() -> None:
    print(f"{'extra columns':>14} {'rows':>6} {'median s':>9} {'s per 1k columns':>17}")
    for n_extra in (1_000, 3_000, 10_000):
        with tempfile.TemporaryDirectory() as tmp:
            cfg = write_client(Path(tmp), 20, n_extra)
            times = []
            for _ in range(3):
                t0 = time.perf_counter()
                ingest_client(load_config(cfg), tmp)
                times.append(time.perf_counter() - t0)
            med = statistics.median(times)
            print(f"{n_extra:>14,} {20:>6} {med:>9.2f} {med / n_extra * 1000:>17.3f}")


if __name__ == "__main__":
    main()
