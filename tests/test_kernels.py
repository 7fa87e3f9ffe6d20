"""Kernels started one notebook ahead (cxlib.report.kernels)."""
import os
import tempfile

import pytest
from jupyter_core.utils import run_sync

from cxlib.report.kernels import KernelQueue


def alive(km) -> bool:
    return bool(km.has_kernel) and run_sync(km.is_alive)()


def test_the_next_kernel_starts_while_a_notebook_runs_and_none_outlives_the_run(tmp_path, capfd):
    nbs = [tmp_path / "01_a.py", tmp_path / "02_b.py", tmp_path / "03_c.py"]
    taken = []
    with pytest.raises(RuntimeError, match="planted"):
        with KernelQueue(nbs) as kernels:
            assert kernels.waiting == [nbs[0]]
            taken.append(kernels.take(nbs[0]))
            assert kernels.waiting == [nbs[1]] and alive(taken[0])     # the second starts with the first
            taken.append(kernels.take(nbs[1]))
            assert kernels.waiting == [nbs[2]]
            kernels.release(taken[0])
            assert not alive(taken[0]) and alive(taken[1])
            raise RuntimeError("planted failure in the second notebook")
    assert not any(alive(km) for km in taken)                            # a failed run leaves no kernel behind
    if os.name == "posix":    # local sockets, removed with their kernel; no TCP warning in the progress output
        assert not [f for f in os.listdir(tempfile.gettempdir()) if f.startswith(f"cxlib-kernel-{os.getpid()}-")]
        assert "without encryption" not in capfd.readouterr().err


def test_a_taken_kernel_is_new_and_runs_in_its_notebooks_folder(tmp_path):
    (tmp_path / "nb").mkdir()
    nb = tmp_path / "nb" / "01_a.py"
    printed = []
    with KernelQueue([nb]) as kernels:
        kc = kernels.take(nb).client()
        kc.start_channels()
        try:
            run_sync(kc.wait_for_ready)(timeout=60)
            reply = run_sync(kc.execute_interactive)(
                "import os; print(os.getcwd(), len(In))", timeout=60,
                output_hook=lambda msg: printed.append(msg["content"].get("text", "")))
        finally:
            kc.stop_channels()
    assert reply["content"]["status"] == "ok"
    cwd, n_inputs = "".join(printed).split()
    assert cwd == str(nb.parent) and int(n_inputs) == 2    # In[0] is empty; this cell is the first run
