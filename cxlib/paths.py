"""Where a client's inputs and outputs live.

``data/<client>/client.yml`` and raw files are inputs; ``reports/<client>/`` is the
client's run folder. Notebooks hand data to each other only through files here.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

_CLIENT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


class ClientNameError(ValueError):
    pass


def validate_client_name(client: str) -> str:
    """Return ``client`` if it is a safe folder name, else raise ClientNameError.

    Client names become folder names under ``data/`` and ``reports/``, so path
    separators, ``..`` and leading dots are refused.
    """
    if not isinstance(client, str) or not _CLIENT_NAME.match(client):
        raise ClientNameError(
            f"invalid client name {client!r}: use letters, digits, '-' and '_' only "
            "(no path separators, no '..', at most 64 characters)"
        )
    return client


@dataclass(frozen=True)
class ClientPaths:
    client: str
    data_dir: Path
    run_dir: Path

    @property
    def config(self) -> Path:
        return self.data_dir / "client.yml"

    @property
    def tables_dir(self) -> Path:
        return self.run_dir / "tables"

    @property
    def quarantine_dir(self) -> Path:
        return self.run_dir / "quarantine"

    @property
    def journeys_dir(self) -> Path:
        """Journey and step tables written by notebooks/02_journeys."""
        return self.run_dir / "journeys"

    @property
    def metrics(self) -> Path:
        return self.run_dir / "metrics.json"

    @property
    def provenance(self) -> Path:
        return self.run_dir / "provenance.json"

    def table(self, name: str) -> Path:
        return self.tables_dir / f"{name}.parquet"


def resolve_client_paths(client: str, data_root: str | Path = "data",
                         reports_root: str | Path = "reports") -> ClientPaths:
    """Resolve the input and run folders of ``client``; relative roots resolve from the cwd."""
    validate_client_name(client)
    return ClientPaths(
        client=client,
        data_dir=(Path(data_root) / client).resolve(),
        run_dir=(Path(reports_root) / client).resolve(),
    )
