"""Running independent numeric work (bootstrap resamples) on the machine's cores.

Threads, not processes: the work is numpy, which releases the GIL, and threads share the
arrays without copying them. Inside the pool the BLAS library is held to one thread per
worker (threadpoolctl), so two workers on two cores do not start four BLAS threads.
Results come back in the order of the inputs, so a seeded bootstrap gives the same
figures with any number of workers.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from itertools import islice
from typing import TypeVar

from threadpoolctl import threadpool_limits

T = TypeVar("T")
R = TypeVar("R")

MAX_JOBS = 8


def count_jobs(n_jobs: int | None) -> int:
    """Workers to use: ``n_jobs`` itself when positive; ``None`` or ``-1`` means every core
    this process may run on (at most ``MAX_JOBS``)."""
    if n_jobs is not None and n_jobs > 0:
        return int(n_jobs)
    if n_jobs not in (None, -1):
        raise ValueError(f"n_jobs must be a positive number of workers, or -1 / None for every core; got {n_jobs!r}")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(cores, MAX_JOBS))


def map_in_threads(fn: Callable[[T], R], items: Iterable[T], n_jobs: int | None = None, *,
                   chunk: int = 8) -> list[R]:
    """``[fn(x) for x in items]`` on ``n_jobs`` threads, in order. ``items`` is consumed
    ``chunk`` per worker at a time, so a generator of large inputs (bootstrap weights) is
    never held in memory all at once."""
    jobs = count_jobs(n_jobs)
    if jobs == 1:
        return [fn(x) for x in items]
    out: list[R] = []
    it: Iterator[T] = iter(items)
    with threadpool_limits(limits=1), ThreadPoolExecutor(max_workers=jobs) as pool:
        while batch := list(islice(it, jobs * chunk)):
            out.extend(pool.map(fn, batch))
    return out
