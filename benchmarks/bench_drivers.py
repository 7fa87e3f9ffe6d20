"""Benchmark: key-driver bootstrap, 200 resamples x 14 drivers on ~100k respondents.

Target (issue 4): under 60 s on 2 cores. Uses the public airline survey when
../shared/data is present (binary outcome: Shapley on the linear-probability R² plus
logistic relative weights), else a simulated survey of the same shape; prints both
a continuous and a binary outcome.

    .venv/bin/python benchmarks/bench_drivers.py
"""
from __future__ import annotations

import resource
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from cxlib.drivers.importance import DriverAnalysis

REPO = Path(__file__).resolve().parent.parent
AIRLINE = REPO.parent / "shared" / "data" / "airline_satisfaction" / "train.csv.gz"
RATINGS = ["Inflight wifi service", "Departure/Arrival time convenient", "Ease of Online booking", "Gate location",
           "Food and drink", "Online boarding", "Seat comfort", "Inflight entertainment", "On-board service",
           "Leg room service", "Baggage handling", "Checkin service", "Inflight service", "Cleanliness"]


def survey() -> tuple[pd.DataFrame, pd.Series, str]:
    if AIRLINE.exists():
        raw = pd.read_csv(AIRLINE)
        X = raw[RATINGS].replace(0, np.nan).astype(float)
        return X, (raw["satisfaction"] == "satisfied").astype(float), "airline survey"
    rng = np.random.default_rng(0)
    n = 103_904
    X = pd.DataFrame(np.clip(np.round(3 + 0.8 * rng.normal(size=(n, 1)) + rng.normal(size=(n, 14))), 1, 5),
                     columns=[f"rating {i}" for i in range(14)])
    X[rng.random(X.shape) < 0.02] = np.nan
    y = (X.fillna(3) @ np.linspace(1, 0.1, 14) + rng.normal(size=n) * 3 > 22).astype(float)
    return X, y, "simulated survey"


def main() -> int:
    X, y_bin, source = survey()
    rng = np.random.default_rng(1)
    y_num = pd.Series(X.fillna(X.mean()).to_numpy() @ rng.uniform(0, 1, X.shape[1]) + rng.normal(size=len(X)) * 2,
                      index=X.index)
    print(f"key-driver bootstrap on the {source}: {len(X):,} respondents x {X.shape[1]} drivers, 200 resamples")
    for name, y in (("numeric outcome", y_num), ("binary outcome", y_bin)):
        t0 = time.perf_counter()
        m = DriverAnalysis(n_boot=200, seed=0).fit(X, y)
        dt = time.perf_counter() - t0
        print(f"  {name:16s} {dt:6.1f} s  ({200 / dt:.1f} resamples/s; R² {m.r2_:.3f}; top driver "
              f"{m.importance_.index[0]!r})", flush=True)
    print(f"  peak memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2:.2f} GB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
