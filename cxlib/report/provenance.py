"""The provenance record (:attr:`~cxlib.core.paths.ClientPaths.provenance`): parameters, input hashes, package versions, seed and git commit."""
from __future__ import annotations

import hashlib
import platform
import subprocess
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from cxlib.core.config import ClientConfig
from cxlib.core.jsonio import write_json
from cxlib.core.paths import resolve_source_path
from cxlib.core.schema import TABLE_NAMES

PACKAGES = ("cxlib", "pandas", "numpy", "pyarrow", "duckdb", "scipy", "scikit-learn", "matplotlib", "seaborn",
            "pydantic", "pyyaml", "openpyxl", "papermill", "nbconvert", "nbformat", "ipykernel")


def hash_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def hash_inputs(config: ClientConfig, config_path: str | Path) -> list[dict]:
    """Path, size and SHA-256 of the config and every configured source file."""
    config_path = Path(config_path)
    files = [("config", config_path)]
    for table in TABLE_NAMES:
        files += [(table, resolve_source_path(s, config_path.parent)) for s in config.sources(table)]
    out = []
    for role, path in files:
        exists = path.exists()
        out.append({"role": role, "path": str(path), "bytes": path.stat().st_size if exists else None,
                    "sha256": hash_file(path) if exists else None})
    return out


def package_versions(names=PACKAGES) -> dict[str, str | None]:
    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def git_commit(repo: str | Path = ".") -> dict:
    """The commit and whether the work tree had uncommitted changes; nulls outside git."""
    def run(*args):
        return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, timeout=10)
    try:
        head = run("rev-parse", "HEAD")
        if head.returncode != 0:
            return {"commit": None, "dirty": None}
        dirty = run("status", "--porcelain", "--untracked-files=no").stdout.strip() != ""
        return {"commit": head.stdout.strip(), "dirty": dirty}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def build_provenance(parameters: dict, config: ClientConfig, config_path: str | Path,
                     repo: str | Path = ".", **extra) -> dict:
    return {
        "parameters": parameters,
        "seed": parameters.get("seed"),
        "inputs": hash_inputs(config, config_path),
        "packages": package_versions(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "git": git_commit(repo),
        "written_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **extra,
    }


def write_provenance(path: str | Path, provenance: dict) -> None:
    """Write the provenance record atomically: a reader sees the old record or the new one,
    never a half-written (or, on a full disk, empty) file."""
    write_json(path, provenance)


def list_inputs(config: ClientConfig, config_path: str | Path):
    """The input files as a table for the report: role, file name, bytes and the first 16
    characters of the SHA-256 (the full hashes are in the provenance record)."""
    import pandas as pd
    inputs = pd.DataFrame(hash_inputs(config, config_path))
    inputs["file"] = inputs["path"].map(lambda p: Path(p).name)
    inputs["sha256"] = inputs["sha256"].str[:16] + "…"
    return inputs[["role", "file", "bytes", "sha256"]]
