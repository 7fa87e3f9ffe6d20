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


def _run(km, code: str) -> tuple[dict, str]:
    kc = km.client()
    kc.start_channels()
    printed = []
    try:
        run_sync(kc.wait_for_ready)(timeout=60)
        reply = run_sync(kc.execute_interactive)(code, timeout=60, output_hook=lambda msg: printed.append(
            msg["content"].get("text", "") or str(msg["content"].get("data", {}).get("text/plain", ""))))
    finally:
        kc.stop_channels()
    return reply, "".join(printed)


def test_a_waiting_kernel_loads_its_notebooks_modules_and_nothing_else(tmp_path):
    """The next notebook's kernel imports what the notebook imports while the current one runs;
    its namespace, history and execution count stay those of a new kernel."""
    from cxlib.report.kernels import list_imports
    script = tmp_path / "02_b.py"
    script.write_text("# %%\nimport wave\nimport xml.dom.minidom as md\nfrom colorsys import rgb_to_hls\n"
                      "from . import nothing\nimport no_such_module_here\nimport json\n\n# %%\nx = 1\n")
    assert list_imports(script) == ["wave", "xml.dom.minidom", "colorsys", "no_such_module_here", "json"]
    assert list_imports(tmp_path / "missing.py") == [] and list_imports(tmp_path) == []
    probe = ("import sys; print(sorted(m for m in ('wave', 'xml.dom.minidom', 'colorsys') if m in sys.modules), "
             "len(In), sorted(n for n in dir() if not n.startswith('_') and n not in ('In', 'Out', 'exit', 'quit', "
             "'get_ipython', 'open', 'sys')))")
    with KernelQueue([tmp_path / "01_a.py", script]) as kernels:
        first = kernels.take(tmp_path / "01_a.py")          # no such script: nothing to load
        reply, fresh = _run(first, probe)
        second = kernels.take(script)
        reply2, loaded = _run(second, probe)
    assert reply["content"]["status"] == reply2["content"]["status"] == "ok"
    assert fresh.split() == ["[]", "2", "[]"]                # a new kernel has none of them loaded
    # the modules up to the one that fails are loaded; no name, no history, the first count is 1
    assert loaded.split() == ["['colorsys',", "'wave',", "'xml.dom.minidom']", "2", "[]"]
    assert reply2["content"]["execution_count"] == 1
