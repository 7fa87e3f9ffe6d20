"""Kernels started one notebook ahead.

A Jupyter kernel takes about a second to start (a new Python process importing ipykernel).
papermill starts one per notebook and waits for it; :class:`KernelQueue` starts the next
notebook's kernel while the current notebook runs, so that second overlaps with work. Each
kernel is new and unused when its notebook starts: nothing runs in it beforehand, so a
notebook sees exactly what "Restart & Run All" gives it.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Sequence


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
        return km

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
        return km

    def release(self, km) -> None:
        """Shut ``km``'s kernel down (at once: its notebook has finished or failed)."""
        from jupyter_core.utils import run_sync
        if km in self._live:
            self._live.remove(km)
        try:
            if run_sync(km.is_alive)():
                run_sync(km.shutdown_kernel)(now=True)
        finally:
            run_sync(km.cleanup_resources)()
