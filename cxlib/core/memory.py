"""Process memory: keep what numpy, pandas and Arrow free, so the next large array reuses it.

A report allocates and frees arrays of hundreds of megabytes over and over (a column, a
bootstrap block, a part of a large file). By default, glibc's malloc gives each block above a
few megabytes a mapping of its own and unmaps it when freed, and Arrow's bundled allocator
(mimalloc) hands freed pages back within milliseconds. The next array then faults in fresh
pages. On a virtual machine that returns freed guest memory to its host (free page reporting:
Firecracker, many cloud VMs), a fresh page costs far more than a reused one: on the 2-core
machine of issue 17, filling a new 125 MB array took 0.46-0.57 s a moment after the last one
was freed, against 0.005 s in memory the process kept.

:func:`keep_freed_memory` keeps that memory in the process:

- glibc's malloc serves every block from its heap (``M_MMAP_MAX`` 0), hands back the top of the
  heap only beyond 2 GB free (``M_TRIM_THRESHOLD``) and uses one arena for every thread
  (``M_ARENA_MAX`` 1: a worker thread's large arrays are reused too);
- Arrow allocates with the system allocator, that same malloc, instead of mimalloc;
- numpy no longer asks for transparent huge pages for its large arrays (``madvise``), unless
  ``NUMPY_MADVISE_HUGEPAGE`` is set: on such a VM a fresh huge page costs far more to fault in
  than it saves. 4 GB of fresh numpy arrays took 14-45 s with huge pages and 2.0-2.8 s without;
  the churn model of a 1M-customer client 94-98 s against 116-120 s (user time about the same,
  kernel time 13-22 s against 42-55 s).

The process's memory then stays near its peak until it ends instead of falling back after each
step: right for a report's kernels and the command line, which end when the work is done. A
long-lived JupyterLab kernel keeps its peak too; set ``CXLIB_KEEP_FREED_MEMORY=0`` to leave the
allocators as they are. Elsewhere than glibc (macOS, musl) malloc is left alone.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

M_TRIM_THRESHOLD, M_MMAP_MAX, M_ARENA_MAX = -1, -4, -8
"""glibc's ``mallopt`` parameters (malloc.h)."""

TRIM_THRESHOLD = 2**31 - 1
"""Bytes free at the top of the heap before malloc hands them back (mallopt takes an int: 2 GB)."""

_done: dict[str, bool] | None = None


def keep_freed_memory() -> dict[str, bool]:
    """Keep freed memory in the process for reuse (see the module's text); safe to call often.
    Returns what was set: ``{"malloc": ..., "arrow": ..., "numpy": ...}``, each False where it
    was left alone (not glibc, no pyarrow, ``NUMPY_MADVISE_HUGEPAGE`` set, or
    ``CXLIB_KEEP_FREED_MEMORY=0``)."""
    global _done
    if _done is not None:
        return dict(_done)
    _done = {"malloc": False, "arrow": False, "numpy": False}
    if os.environ.get("CXLIB_KEEP_FREED_MEMORY", "1").strip().lower() in ("0", "false", "no", "off"):
        return dict(_done)
    libc = _glibc()
    if libc is not None:
        _done["malloc"] = all(libc.mallopt(param, value) == 1 for param, value in
                              ((M_MMAP_MAX, 0), (M_TRIM_THRESHOLD, TRIM_THRESHOLD), (M_ARENA_MAX, 1)))
        if _done["malloc"]:
            try:
                import pyarrow as pa
            except ImportError:
                pass
            else:
                pa.set_memory_pool(pa.system_memory_pool())
                _done["arrow"] = True
        _done["numpy"] = _no_numpy_huge_pages()
    return dict(_done)


def _no_numpy_huge_pages() -> bool:
    """Stop numpy advising huge pages for its large arrays, unless the user set
    ``NUMPY_MADVISE_HUGEPAGE`` (numpy's own switch, read when it is imported). True when done."""
    if "NUMPY_MADVISE_HUGEPAGE" in os.environ:
        return False
    import numpy as np
    core = getattr(np, "_core", None) or getattr(np, "core", None)
    switch = getattr(getattr(core, "multiarray", None), "_set_madvise_hugepage", None)
    if switch is None:
        return False
    switch(False)
    return True


def _glibc():
    """The C library when it is glibc (it has ``mallopt`` and ``gnu_get_libc_version``), else None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
    if not (hasattr(libc, "gnu_get_libc_version") and hasattr(libc, "mallopt")):
        return None
    libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    libc.mallopt.restype = ctypes.c_int
    return libc


def memory_budget(memory_limit: str | None = None) -> float:
    """Bytes a step may hold: ``memory_limit`` as DuckDB writes it ('4GB', '500MB', '2GiB'), else half
    of the memory available now."""
    if memory_limit:
        import re
        m = re.fullmatch(r"\s*([\d.]+)\s*([KMGT]?)(i?)B?\s*", str(memory_limit), re.IGNORECASE)
        if m:
            base = 1024 if m.group(3) else 1000
            return float(m.group(1)) * base ** " KMGT".index(m.group(2).upper() or " ")
    try:
        with open("/proc/meminfo") as f:
            info = dict(line.split(":", 1) for line in f)
        return int(info["MemAvailable"].split()[0]) * 1024 / 2
    except (OSError, KeyError, ValueError):
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES") / 2
