"""The numbered notebooks: where they are, how they load and what parameters they take.

The notebooks are ``py:percent`` scripts (``notebooks/NN_name.py``), paired by jupytext with
an ``.ipynb`` that JupyterLab opens and git ignores. The script is the source: the runner
reads it, never the ``.ipynb``, so a report always runs what is committed.
"""
from __future__ import annotations

import importlib.resources
from pathlib import Path

PATTERN = "[0-9][0-9]_*.py"


class NotebookError(RuntimeError):
    """A notebook is missing, malformed or declares parameters the runner does not expect."""


def notebooks_dir() -> Path:
    """The checkout's ``notebooks/`` folder (an editable install), else the copy shipped inside
    the installed package (``cxlib/notebooks``)."""
    checkout = Path(__file__).resolve().parents[2] / "notebooks"
    if any(checkout.glob(PATTERN)):
        return checkout
    return Path(str(importlib.resources.files("cxlib") / "notebooks"))


def list_notebooks(folder: str | Path | None = None) -> list[Path]:
    """The numbered notebooks, in order."""
    folder = Path(folder) if folder is not None else notebooks_dir()
    found = sorted(folder.glob(PATTERN))
    if not found:
        raise NotebookError(f"{folder}: no numbered notebooks (NN_name.py) found")
    return found


def load_notebook(path: str | Path):
    """The notebook in ``path`` (a py:percent script or an .ipynb) as an nbformat node, with
    stable cell ids ('02-07' is cell 7 of notebook 02) so executed copies diff cleanly."""
    import jupytext
    path = Path(path)
    nb = jupytext.read(path)
    prefix = path.stem.split("_")[0]
    for i, cell in enumerate(nb.cells):
        cell.id = f"{prefix}-{i:02d}"
        cell.metadata.setdefault("tags", [])
    nb.metadata.setdefault("kernelspec", {"name": "python3", "display_name": "Python 3", "language": "python"})
    nb.metadata.setdefault("language_info", {"name": "python"})
    return nb


def notebook_parameters(path: str | Path) -> dict[str, dict]:
    """The parameters a notebook declares, as papermill infers them from its ``parameters``
    cell: name -> {name, inferred_type_name, default, help} (empty without such a cell)."""
    from papermill.translators import papermill_translators
    from papermill.utils import find_first_tagged_cell_index
    nb = load_notebook(path)
    i = find_first_tagged_cell_index(nb, "parameters")
    if i < 0:
        return {}
    translator = papermill_translators.find_translator(nb.metadata["kernelspec"]["name"], "python")
    return {p.name: p._asdict() for p in translator.inspect(nb.cells[i])}


def notebook_title(path: str | Path) -> str:
    """The first markdown heading of a notebook, or its file name."""
    for cell in load_notebook(path).cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("#"):
                    return line.lstrip("#").strip()
    return Path(path).stem


def check_parameters(path: str | Path, parameters: dict) -> None:
    """Raise NotebookError when a parameter is not declared in the notebook's parameters cell."""
    declared = notebook_parameters(path)
    name = Path(path).name
    if not declared:
        raise NotebookError(f"{name}: no cell tagged 'parameters'")
    unknown = sorted(set(parameters) - set(declared))
    if unknown:
        raise NotebookError(f"{name}: unknown parameter(s) {unknown}; the notebook declares {sorted(declared)}")


def open_section(client: str, data_root: str, reports_root: str):
    """What every notebook does first: resolve the client's folders, load and validate its
    config, set the house plotting style and the client's display names, and keep freed memory
    in the kernel for reuse (:func:`~cxlib.core.memory.keep_freed_memory`). Returns
    ``(paths, config)``."""
    from cxlib.core.config import load_config
    from cxlib.core.formatting import use_display_names
    from cxlib.core.memory import keep_freed_memory
    from cxlib.core.paths import resolve_client_paths
    from cxlib.plotting import set_house_style
    paths = resolve_client_paths(client, data_root, reports_root)
    config = load_config(paths.config)
    set_house_style()
    use_display_names(config.display_names)
    keep_freed_memory()
    return paths, config
