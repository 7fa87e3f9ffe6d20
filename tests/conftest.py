from pathlib import Path
import shutil
import subprocess

import pytest

from cxlib.demo import generate_demo

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = (REPO.parent / "shared" / "data").resolve()
SMALL_DEMO_CUSTOMERS = 2_000
SMALL_REPORT_SEED = 5


def pytest_configure(config):
    """The test process keeps the memory it frees, as the notebooks' kernels and the cxlib
    command do (cxlib.core.memory): the tests run the code as it runs for a client."""
    from cxlib.core.memory import keep_freed_memory
    keep_freed_memory()


@pytest.fixture(scope="session")
def small_demo(tmp_path_factory):
    """A small demo client (data root with data/demo/{client.yml, raw/, truth.json})."""
    root = tmp_path_factory.mktemp("data")
    truth = generate_demo(root / "demo", n_customers=SMALL_DEMO_CUSTOMERS, seed=7)
    shutil.copy(REPO / "data" / "demo" / "client.yml", root / "demo" / "client.yml")
    return root, truth


# The tests' Spark sessions run a few dozen small queries each, where the JIT's first tier alone
# does best: the small demo's Spark report took 142 and 149 s against 163 and 171 s on 2 cores.
# Only here: on a long job it is far slower (a 10M-event reconstruction took 575 s against 396 s,
# benchmarks/README.md), so cxlib leaves the JVM's defaults to the client (spark.conf).
SHORT_JVM = {"spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1"}


class BackgroundReport:
    """A client's report run in its own process (``python -m cxlib report``), started at once;
    :meth:`index` waits for it. Its output goes to ``log``."""

    def __init__(self, client: str, data_root: Path, reports_root: Path, *args: str):
        import sys
        self.index_path = reports_root / client / "index.html"
        self.log = reports_root.parent / f"{client}-{reports_root.name}.log"
        with open(self.log, "w") as fh:
            self.proc = subprocess.Popen([sys.executable, "-m", "cxlib", "report", "--client", client,
                                          "--data-root", str(data_root), "--reports-root", str(reports_root),
                                          *args], stdout=fh, stderr=subprocess.STDOUT, cwd=REPO)

    def index(self) -> Path:
        """Its index.html once the run has finished; the test fails with the run's last lines
        when it failed."""
        code = self.proc.wait()
        assert code == 0, f"the report failed (exit {code}), {self.log}:\n" + \
            "\n".join(self.log.read_text().splitlines()[-30:])
        return self.index_path

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=60)


def spark_missing() -> str | None:
    """Why Spark cannot run here (pyspark, sqlglot or Java 17+ missing), or None."""
    import importlib.util
    missing = [m for m in ("pyspark", "sqlglot") if importlib.util.find_spec(m) is None]
    if missing:
        return f"{' and '.join(missing)} not installed; run make setup"
    java = shutil.which("java")
    if not java:
        return "Java is not installed (Spark needs Java 17+); make setup installs openjdk-17-jre-headless"
    out = subprocess.run([java, "-version"], capture_output=True, text=True).stderr
    return None if any(f'version "{v}' in out for v in range(17, 40)) else f"Java 17+ needed, found: {out[:80]}"


@pytest.fixture(scope="session", autouse=True)
def background_reports(request, tmp_path_factory):
    """The session's two shared reports of the small demo, started as the session starts when a
    selected test needs them, so that they run beside the other tests (a report's kernels and
    JVMs leave much of 2 cores idle): ``small`` (:func:`small_report`) and ``spark``
    (:func:`spark_report`, when pyspark and Java are there). Same seed and resamples for both."""
    needed = {name for item in request.session.items for name in getattr(item, "fixturenames", ())}
    runs = {}
    if {"small_report", "spark_report"} & needed:
        root, _ = request.getfixturevalue("small_demo")
        common = ("--seed", str(SMALL_REPORT_SEED), "-p", "n_boot=20")
        if "spark_report" in needed and spark_missing() is None:
            import yaml
            tmp = tmp_path_factory.mktemp("spark")
            shutil.copytree(root / "demo", tmp / "data" / "demo")    # the same client, its JVMs as SHORT_JVM
            settings = yaml.safe_load((root / "demo" / "client.yml").read_text())
            assert "spark" not in settings
            (tmp / "data" / "demo" / "client.yml").write_text(yaml.safe_dump({**settings, "spark": {"conf": SHORT_JVM}}))
            runs["spark"] = BackgroundReport("demo", tmp / "data", tmp / "reports", *common, "--engine", "spark")
        runs["small"] = BackgroundReport("demo", root, tmp_path_factory.mktemp("reports"), *common)
    yield runs
    for run in runs.values():     # a run whose test was not reached
        run.stop()


@pytest.fixture(scope="session")
def small_report(background_reports):
    """The small demo's whole report on its own settings (seed SMALL_REPORT_SEED, 20 bootstrap
    resamples, the client.yml's engine: duckdb), run once per session: the pipeline tests read
    its pages and files, and the Spark test compares a run on Spark with it. Its index.html."""
    return background_reports["small"].index()


@pytest.fixture(scope="session")
def spark_report(background_reports):
    """The index.html of the small demo's report on Spark (the same client, seed and resamples
    as :func:`small_report`, engine spark), once it has finished."""
    if "spark" not in background_reports:
        pytest.skip(f"Spark tests skipped: {spark_missing()}")
    return background_reports["spark"].index()


def shared_file(*parts) -> Path:
    """A file of ../shared/data, or skip the test with a clear message when it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real dataset not available: {path} (see ../shared/data/README.md)")
    return path


@pytest.fixture(scope="session")
def demo_client(tmp_path_factory):
    """The full-size demo client (20,000 customers, seed 42): the repository's generated
    data/demo when present (make demo-data), else generated into a temporary folder."""
    import json
    here = REPO / "data" / "demo"
    if (here / "raw" / ".generated").exists() and (here / "truth.json").exists():
        return here, json.loads((here / "truth.json").read_text())
    root = tmp_path_factory.mktemp("fulldemo")
    truth = generate_demo(root / "demo", n_customers=20_000, seed=42)
    shutil.copy(here / "client.yml", root / "demo" / "client.yml")
    return root / "demo", truth


@pytest.fixture(scope="session")
def demo_journeys(demo_client):
    """The full-size demo ingested and its journeys diagnosed (shared by the journey, churn
    and money tests): ``{config, tables, diagnosis, truth, as_of}``."""
    from cxlib.core.config import load_config
    from cxlib.core.dates import extract_time
    from cxlib.ingest import ingest_client
    from cxlib.journeys.diagnosis import diagnose_journeys

    data_dir, truth = demo_client
    cfg = load_config(data_dir / "client.yml")
    t = ingest_client(cfg, data_dir).tables
    as_of = extract_time(cfg)
    dx = diagnose_journeys(t["events"], cfg.analysis, customers=t["customers"], surveys=t["surveys"],
                           as_of=as_of, seed=42)
    return {"config": cfg, "tables": t, "diagnosis": dx, "truth": truth, "as_of": as_of}
