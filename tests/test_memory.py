"""Freed memory kept in the process for reuse (cxlib.core.memory).

Each check runs in a fresh interpreter: the settings are process-wide and last until it ends."""
import json
import os
import subprocess
import sys

import pytest

from cxlib.core.memory import _glibc

pytestmark = pytest.mark.skipif(_glibc() is None, reason="glibc's malloc only (Linux with glibc)")

CHILD = r"""
import json, sys
import numpy as np

def rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20

from cxlib.core.memory import keep_freed_memory
{call}
import pyarrow as pa
a = np.ones(256 * 2**20 // 8)            # 256 MB, every page touched
held = rss_mb()
del a
freed = rss_mb()
b = np.ones(256 * 2**20 // 8)            # the same size again
again = rss_mb()
print(json.dumps({{"set": set_, "held": held, "freed": freed, "again": again,
                  "pool": pa.default_memory_pool().backend_name}}))
"""


def run_child(call: str, keep: str | None = None, child: str = CHILD, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("CXLIB_KEEP_FREED_MEMORY", "NUMPY_MADVISE_HUGEPAGE")}
    env.update(extra)
    if keep is not None:
        env["CXLIB_KEEP_FREED_MEMORY"] = keep
    out = subprocess.run([sys.executable, "-c", child.format(call=call)], capture_output=True, text=True,
                         env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_a_freed_large_array_stays_in_the_process_and_the_next_one_reuses_it():
    kept = run_child("set_ = keep_freed_memory()")
    assert kept["set"] == {"malloc": True, "arrow": True, "numpy": True} and kept["pool"] == "system"
    assert kept["freed"] > kept["held"] - 16          # the 256 MB were not handed back
    assert kept["again"] < kept["held"] + 16          # and the next array took them: no growth
    default = run_child("set_ = None")                # malloc as it comes: the block is unmapped when freed
    assert default["freed"] < default["held"] - 200
    assert default["pool"] != "system"


def test_the_setting_can_be_turned_off_and_calling_twice_is_harmless():
    off = run_child("set_ = keep_freed_memory()", keep="0")
    assert off["set"] == {"malloc": False, "arrow": False, "numpy": False} and off["pool"] != "system"
    assert off["freed"] < off["held"] - 200
    twice = run_child("keep_freed_memory(); set_ = keep_freed_memory()")
    assert twice["set"] == {"malloc": True, "arrow": True, "numpy": True} and twice["freed"] > twice["held"] - 16


def test_every_notebook_keeps_freed_memory_from_its_first_call(tmp_path):
    """open_section is each notebook's first cxlib call: the kernel's allocators are set there."""
    root = tmp_path / "data" / "c"
    root.mkdir(parents=True)
    (root / "client.yml").write_text("name: C\ntables:\n  events:\n    - path: raw/events.csv\n")
    code = (f"from cxlib.report.notebooks import open_section; open_section('c', {str(tmp_path / 'data')!r}, "
            f"{str(tmp_path / 'reports')!r}); import pyarrow as pa; print(pa.default_memory_pool().backend_name)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={k: v for k, v in os.environ.items() if k != "CXLIB_KEEP_FREED_MEMORY"})
    assert out.stdout.strip().splitlines()[-1] == "system"


HUGE = r"""
import json
import numpy as np
from cxlib.core.memory import keep_freed_memory
{call}
a = np.ones(256 * 2**20 // 8)            # 256 MB, every page touched
with open("/proc/self/smaps_rollup") as f:
    huge = next(int(line.split()[1]) for line in f if line.startswith("AnonHugePages:"))
print(json.dumps({{"set": set_, "huge_kb": huge}}))
"""


def _thp_mode() -> str | None:
    try:
        text = open("/sys/kernel/mm/transparent_hugepage/enabled").read()
    except OSError:
        return None
    return text[text.index("[") + 1:text.index("]")] if "[" in text else None


@pytest.mark.skipif(_thp_mode() != "madvise", reason="huge pages only where asked for (THP 'madvise')")
def test_numpy_arrays_get_no_huge_pages_unless_numpy_is_told_otherwise():
    default = run_child("set_ = None", child=HUGE)
    assert default["huge_kb"] >= 64 * 1024          # numpy asks for them by default
    kept = run_child("set_ = keep_freed_memory()", child=HUGE)
    assert kept["set"]["numpy"] is True and kept["huge_kb"] == 0
    told = run_child("set_ = keep_freed_memory()", child=HUGE, NUMPY_MADVISE_HUGEPAGE="1")
    assert told["set"]["numpy"] is False and told["huge_kb"] >= 64 * 1024


def test_memory_budget_reads_duckdb_limits_and_falls_back_to_half_the_memory_available():
    from cxlib.core.memory import memory_budget
    assert memory_budget("5GB") == 5e9 and memory_budget("500MB") == 5e8 and memory_budget(" 2GiB ") == 2 * 2**30
    assert memory_budget("1.5gb") == 1.5e9 and memory_budget("4096") == 4096
    available = memory_budget()        # half of what the machine has free now (it moves a little)
    assert available > 0
    for other in (memory_budget("not a size"), memory_budget(None)):
        assert other == pytest.approx(available, rel=0.1)
