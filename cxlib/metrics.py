"""metrics.json: the key figures each notebook records under its own section."""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any


def _clean(value: Any) -> Any:
    """Make numpy/pandas scalars JSON-safe; NaN and inf become null."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def read_metrics(path: str | Path) -> dict:
    """Read metrics.json; an absent file is an empty dict."""
    path = Path(path)
    return json.loads(path.read_text()) if path.exists() else {}


def record_metrics(path: str | Path, section: str, values: dict) -> dict:
    """Write ``values`` as ``section`` of metrics.json, keeping the other sections."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = read_metrics(path)
    data[section] = _clean(values)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
    tmp.replace(path)
    return data
