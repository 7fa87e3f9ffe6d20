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
from cxlib.core.paths import is_remote, resolve_source_path
from cxlib.core.schema import TABLE_NAMES

PACKAGES = ("cxlib", "pandas", "numpy", "pyarrow", "duckdb", "numba", "scipy", "scikit-learn", "matplotlib", "seaborn",
            "pydantic", "pyyaml", "openpyxl", "papermill", "nbconvert", "nbformat", "ipykernel")


def hash_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def hash_inputs(config: ClientConfig, config_path: str | Path) -> list[dict]:
    """Path, size and SHA-256 of the config and every configured source file. A Parquet folder
    (read by Spark) is hashed part by part (the hash of its parts' names and hashes, in name
    order); a Spark catalogue table or an object-store URI is not local and is recorded by name
    with ``sha256`` null and ``hashed`` saying why."""
    config_path = Path(config_path)
    files = [("config", config_path)]
    for table in TABLE_NAMES:
        for s in config.sources(table):
            remote = s.format == "table" or is_remote(s.path)
            files.append((table, s.path if remote else resolve_source_path(s, config_path.parent)))
    out = []
    for role, path in files:
        if isinstance(path, str):
            out.append({"role": role, "path": path, "bytes": None, "sha256": None,
                        "hashed": "no: read by Spark where it lies (a catalogue table or an object-store URI)"})
            continue
        exists = path.exists()
        parts = sorted(path.glob("*.parquet")) if path.is_dir() else []
        if parts:
            digest = hashlib.sha256("".join(f"{p.name}:{hash_file(p)}\n" for p in parts).encode()).hexdigest()
            out.append({"role": role, "path": str(path), "bytes": sum(p.stat().st_size for p in parts),
                        "sha256": digest})
            continue
        out.append({"role": role, "path": str(path), "bytes": path.stat().st_size if exists and path.is_file() else None,
                    "sha256": hash_file(path) if exists and path.is_file() else None})
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
