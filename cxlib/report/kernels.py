"""Kernels started one notebook ahead.

A Jupyter kernel takes about a second to start (a new Python process importing ipykernel).
papermill starts one per notebook and waits for it; :class:`KernelQueue` starts the next
notebook's kernel while the current notebook runs, so that second overlaps with work. The
waiting kernel also loads the modules its notebook imports (pandas, DuckDB, matplotlib through
cxlib: about 1.5 s per notebook), without binding a name or counting an execution. Its
namespace, history and execution count are those of a new kernel, so a notebook sees exactly
what "Restart & Run All" gives it; only its import statements find their modules loaded.
"""
from __future__ import annotations

import ast
import os
import tempfile
import threading
from pathlib import Path
from typing import Sequence


def list_imports(script: str | Path) -> list[str]:
    """The modules a notebook script imports at its top level (``import a.b``, ``from a.b import
    c``: ``a.b``), in order; none when the script cannot be read or parsed."""
    try:
        tree = ast.parse(Path(script).read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError, UnicodeDecodeError):
        return []
    names = []
    for node in tree.body:
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.append(node.module)
    return list(dict.fromkeys(names))


def _load_modules(connection: dict, modules: list[str], stop: threading.Event, timeout: float = 120) -> None:
    """Import ``modules`` in the kernel at ``connection``: a silent execution (no history, no
    execution count, no output) whose list comprehension binds no name in the user namespace.
    A module that fails to import is left for the notebook, which reports it in its own cell.
    Gives up when ``stop`` is set (the kernel is being shut down) or after ``timeout`` seconds."""
    import queue
    import time
    from jupyter_client.blocking import BlockingKernelClient
    kc = BlockingKernelClient()
    kc.load_connection_info(connection)
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)
        msg_id = kc.execute(f"[__import__('importlib').import_module(m) for m in {modules!r}]",
                            silent=True, store_history=False)
        end = time.monotonic() + timeout
        while not stop.is_set() and time.monotonic() < end:
            try:
                if kc.get_shell_msg(timeout=0.2)["parent_header"].get("msg_id") == msg_id:
                    break
            except queue.Empty:
                continue
    except Exception:   # noqa: BLE001 - loading ahead is an optimisation; the notebook imports for itself
        pass
    finally:
        kc.stop_channels()


class KernelQueue:
    """Hands out started kernels for ``notebooks`` in order, each started with its notebook's
    folder as working directory, and always one ahead::

        with KernelQueue(notebooks) as kernels:
            for nb in notebooks:
                km = kernels.take(nb)          # the next one starts now
                pm.execute_notebook(..., km=km)
                kernels.release(km)

    Every kernel it started is shut down on leaving the block, used or not.
    """

    def __init__(self, notebooks: Sequence[Path], kernel_name: str = "python3"):
        self.notebooks = [Path(nb) for nb in notebooks]
        self.kernel_name = kernel_name
        self._started: dict[Path, object] = {}
        self._live: list = []
        self._n_launched = 0
        self._loading: dict[int, tuple[threading.Thread, threading.Event]] = {}

    def __enter__(self) -> "KernelQueue":
        if self.notebooks:
            self._started[self.notebooks[0]] = self._launch(self.notebooks[0])
        return self

    def __exit__(self, *exc) -> None:
        for km in list(self._live):
            self.release(km)

    def _launch(self, notebook: Path):
        from jupyter_client.manager import AsyncKernelManager
        from jupyter_core.utils import run_sync
        if os.name == "posix":   # local sockets: no open TCP ports, and no "running over TCP without encryption"
            # warning from every kernel in the consultant's progress output; the files go when it shuts down
            prefix = os.path.join(tempfile.gettempdir(), f"cxlib-kernel-{os.getpid()}-{id(self)}-{self._n_launched}")
            km = AsyncKernelManager(kernel_name=self.kernel_name, transport="ipc", ip=prefix)
        else:
            km = AsyncKernelManager(kernel_name=self.kernel_name)
        self._n_launched += 1
        run_sync(km.start_kernel)(cwd=str(notebook.parent))   # returns once the process is launched
        self._live.append(km)
        modules = list_imports(notebook)
        if modules:   # on a thread: the kernel loads its notebook's modules while the current notebook runs
            stop = threading.Event()
            loader = threading.Thread(target=_load_modules, args=(km.get_connection_info(), modules, stop),
                                      daemon=True)
            loader.start()
            self._loading[id(km)] = (loader, stop)
        return km

    def _loaded(self, km, *, stop: bool = False) -> None:
        """Wait until ``km`` has loaded its notebook's modules or given up (at once with ``stop``)."""
        loader, event = self._loading.pop(id(km), (None, None))
        if loader is not None:
            if stop:
                event.set()
            loader.join()

    @property
    def waiting(self) -> list[Path]:
        """The notebooks whose kernel is started and not yet taken."""
        return list(self._started)

    def take(self, notebook: Path):
        """The started kernel for ``notebook`` (launched now if it was not); launches the next one."""
        notebook = Path(notebook)
        km = self._started.pop(notebook, None) or self._launch(notebook)
        if notebook in self.notebooks:
            later = self.notebooks[self.notebooks.index(notebook) + 1:]
            if later and later[0] not in self._started:
                self._started[later[0]] = self._launch(later[0])
        self._loaded(km)    # its modules loaded: the notebook's first cell is the next thing it runs
        return km

    def release(self, km) -> None:
        """Shut ``km``'s kernel down (at once: its notebook has finished or failed)."""
        from jupyter_core.utils import run_sync
        if km in self._live:
            self._live.remove(km)
        self._loaded(km, stop=True)
        try:
            if run_sync(km.is_alive)():
                run_sync(km.shutdown_kernel)(now=True)
        finally:
            run_sync(km.cleanup_resources)()
