"""The report's figures (the file :attr:`~cxlib.core.paths.ClientPaths.metrics`): the key figures each notebook records under its own section."""
from __future__ import annotations

from pathlib import Path

from cxlib.core.jsonio import read_json, write_json


def read_metrics(path: str | Path) -> dict:
    """Read the figures file; an absent file is an empty dict."""
    return read_json(path, default={})


def record_metrics(path: str | Path, section: str, values: dict) -> dict:
    """Write ``values`` as ``section`` of the figures file, keeping the other sections."""
    data = read_metrics(path)
    data[section] = values
    write_json(path, data)
    return read_metrics(path)
