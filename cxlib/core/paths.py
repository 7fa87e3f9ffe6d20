"""Where a client's inputs and outputs live.

``data/<client>/client.yml`` and raw files are inputs; ``reports/<client>/`` is the
client's run folder. Notebooks hand data to each other only through files here.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

SECTIONS = {"01_ingest": "Data received", "02_journeys": "Journeys", "03_drivers": "Drivers",
            "04_recommendations": "Recommendations", "05_management": "Management loop"}
"""Each section page of a run folder (by notebook) and its short name in the nav and in prose."""

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
    """Every file of a client's run folder, named here and nowhere else.

    The notebooks pass data to each other only through these files:

    ==================  =====================  ==========================================
    written by          file                   read by
    ==================  =====================  ==========================================
    01_ingest           tables/<table>.parquet  02, 03, 04, 05, the privacy scan
    01_ingest           quarantine/*           the analyst (CSV), the privacy scan
    02_journeys         journeys/*.parquet     03, 04, 05
    02_journeys         journeys/findings.json 04 (watermelon and two-group findings)
    03_drivers          drivers/scenarios.json 04 (improvement scenarios)
    03_drivers          drivers/priorities.json 04 (fix-first drivers)
    03_drivers          drivers/churn_drivers.json 04 (priced churn drivers the client can act on)
    03_drivers          drivers/churn_risk.parquet 05 (the call-back list's ranking)
    05_management       callbacks.csv          the client's team (real ids; never a page)
    every notebook      metrics.json           index.html, reports/index.html
    the runner          provenance.json, privacy.json, index.html, <notebook>.html
    ==================  =====================  ==========================================
    """
    client: str
    data_dir: Path
    run_dir: Path

    @property
    def config(self) -> Path:
        return self.data_dir / "client.yml"

    # 01_ingest
    @property
    def tables_dir(self) -> Path:
        return self.run_dir / "tables"

    def table(self, name: str) -> Path:
        return self.tables_dir / f"{name}.parquet"

    @property
    def quarantine_dir(self) -> Path:
        return self.run_dir / "quarantine"

    @property
    def quarantine(self) -> Path:
        """Quarantined rows with their reasons (Parquet, for the pipeline)."""
        return self.quarantine_dir / "quarantine.parquet"

    @property
    def quarantine_csv(self) -> Path:
        """The same rows as CSV, for the analyst who fixes the data."""
        return self.quarantine_dir / "quarantine.csv"

    @property
    def accounting(self) -> Path:
        return self.quarantine_dir / "accounting.csv"

    # 02_journeys
    @property
    def journeys_dir(self) -> Path:
        return self.run_dir / "journeys"

    @property
    def journeys(self) -> Path:
        """One row per journey, with its score and churn flag."""
        return self.journeys_dir / "journeys.parquet"

    @property
    def journey_steps(self) -> Path:
        """One row per event in a journey, with waits, handoffs, repeats and rework."""
        return self.journeys_dir / "journey_steps.parquet"

    @property
    def journey_catalogue(self) -> Path:
        return self.journeys_dir / "catalogue.csv"

    @property
    def journey_findings(self) -> Path:
        """The watermelon and two-group findings of 02, for the action list of 04."""
        return self.journeys_dir / "findings.json"

    # 03_drivers
    @property
    def drivers_dir(self) -> Path:
        return self.run_dir / "drivers"

    @property
    def driver_priorities(self) -> Path:
        """The fix-first drivers of 03 (important, performing below the median), for 04."""
        return self.drivers_dir / "priorities.json"

    @property
    def scenarios(self) -> Path:
        """The improvement scenarios of 03, for the journey actions of 04."""
        return self.drivers_dir / "scenarios.json"

    @property
    def churn_drivers(self) -> Path:
        """The priced churn drivers of 03 that are customer attributes the client listed as
        actionable (a contract type, a payment method), for the churn-driver actions of 04."""
        return self.drivers_dir / "churn_drivers.json"

    # the report
    @property
    def churn_risk(self) -> Path:
        """Each active customer's modelled churn probability (03), for the call-back list of 05."""
        return self.drivers_dir / "churn_risk.parquet"

    @property
    def callbacks(self) -> Path:
        """The call-back list (05): recent detractors who agreed to be contacted, with their real
        identifiers. A file for the client's team, never a page of the report."""
        return self.run_dir / "callbacks.csv"

    @property
    def metrics(self) -> Path:
        return self.run_dir / "metrics.json"

    @property
    def provenance(self) -> Path:
        return self.run_dir / "provenance.json"

    @property
    def lock(self) -> Path:
        """Held while a run writes this folder: two runs of one client never interleave."""
        return self.run_dir / ".run.lock"

    @property
    def privacy(self) -> Path:
        return self.run_dir / "privacy.json"

    @property
    def index(self) -> Path:
        return self.run_dir / "index.html"

    def executed(self, notebook: str) -> Path:
        """The executed copy of a notebook (its stem, e.g. '02_journeys')."""
        return self.run_dir / f"{notebook}.ipynb"

    def page(self, notebook: str) -> Path:
        """The rendered HTML page of a notebook."""
        return self.run_dir / f"{notebook}.html"

    def pages(self) -> list[Path]:
        """The rendered section pages that exist, in order."""
        return sorted(self.run_dir.glob("[0-9][0-9]_*.html"))

    @property
    def screenshots_dir(self) -> Path:
        return self.run_dir / "screenshots"

    @property
    def appendix(self) -> Path:
        """The analyst's page: run, input hashes, package versions and client settings."""
        return self.run_dir / "appendix.html"

    @property
    def report_pdf(self) -> Path:
        """The whole report (summary, then each section) as one PDF, printed by Chromium."""
        return self.run_dir / "report.pdf"

    @property
    def log(self) -> Path:
        """The console output of a batch run (beside the run folder)."""
        return self.run_dir.parent / f"{self.client}.log"


def run_folder_paths(run_dir: str | Path) -> ClientPaths:
    """The paths of an existing run folder, without its client's data folder (for checks that
    read a finished report)."""
    run_dir = Path(run_dir).resolve()
    return ClientPaths(client=run_dir.name, data_dir=Path(), run_dir=run_dir)


def batch_index(reports_root: str | Path) -> Path:
    """The landing page of a batch run: one row per client."""
    return Path(reports_root) / "index.html"


def batch_record(reports_root: str | Path) -> Path:
    return Path(reports_root) / "batch.json"


def list_clients(data_root: str | Path = "data") -> list[str]:
    """The configured clients: folders under ``data_root`` with a client.yml."""
    return sorted(p.parent.name for p in Path(data_root).glob("*/client.yml"))


def resolve_client_paths(client: str, data_root: str | Path = "data",
                         reports_root: str | Path = "reports") -> ClientPaths:
    """Resolve the input and run folders of ``client``; relative roots resolve from the cwd."""
    validate_client_name(client)
    return ClientPaths(
        client=client,
        data_dir=(Path(data_root) / client).resolve(),
        run_dir=(Path(reports_root) / client).resolve(),
    )


def check_source_path(path: Path, base_dir: str | Path, external: list[str] | tuple = (), *,
                      folders: bool = False) -> Path:
    """``path`` resolved (symbolic links followed) when it is a regular file inside the client's
    folder ``base_dir`` or inside one of the ``external`` folders the config opts into; else a
    ValueError that says which rule it breaks. A device (``/dev/zero``) or a FIFO is never read,
    nor a folder unless ``folders`` (a Parquet table of parts, read by Spark), and nothing of the
    file is echoed."""
    base = Path(base_dir).resolve()
    target = Path(path).resolve()
    roots = [base, *((Path(r) if Path(r).is_absolute() else base / r).resolve() for r in external)]
    if not any(target == r or target.is_relative_to(r) for r in roots):
        raise ValueError(f"{path}: outside the client's folder ({base}); to read it, list its folder under "
                         "external_data in client.yml")
    if target.exists() and not target.is_file() and not (folders and target.is_dir()):
        raise ValueError(f"{path}: not a regular file (a folder, device or pipe); a source must be a data file")
    return target


def is_remote(path: str) -> bool:
    """Whether a source path is an object-store or cluster URI (``s3://``, ``abfss://``, ...),
    which only Spark reads."""
    return "://" in str(path)


def resolve_source_path(source, base_dir: str | Path) -> Path:
    """A source's file: its ``path`` as given when absolute, else relative to ``base_dir``
    (the folder of the client's ``client.yml``)."""
    p = Path(source.path)
    return p if p.is_absolute() else (Path(base_dir) / p)
