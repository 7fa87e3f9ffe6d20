from pathlib import Path
import shutil

import pytest

from cxlib.demo import generate_demo

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = (REPO.parent / "shared" / "data").resolve()
SMALL_DEMO_CUSTOMERS = 2_000
SMALL_REPORT_SEED = 5


@pytest.fixture(scope="session")
def small_demo(tmp_path_factory):
    """A small demo client (data root with data/demo/{client.yml, raw/, truth.json})."""
    root = tmp_path_factory.mktemp("data")
    truth = generate_demo(root / "demo", n_customers=SMALL_DEMO_CUSTOMERS, seed=7)
    shutil.copy(REPO / "data" / "demo" / "client.yml", root / "demo" / "client.yml")
    return root, truth


@pytest.fixture(scope="session")
def small_report(small_demo, tmp_path_factory):
    """The small demo's whole report on its own settings (seed SMALL_REPORT_SEED, 20 bootstrap
    resamples), run once per session: the pipeline tests read its pages and files, and the Spark
    test compares a run on Spark with it. Its index.html."""
    from cxlib.report.runner import run_report
    root, _ = small_demo
    return run_report("demo", data_root=root, reports_root=tmp_path_factory.mktemp("reports"),
                      seed=SMALL_REPORT_SEED, extra_parameters={"n_boot": 20}, progress=False)


# The tests' Spark sessions run a few dozen small queries each, where the JIT's first tier alone
# does best: the small demo's Spark report took 142 and 149 s against 163 and 171 s on 2 cores.
# Only here: on a long job it is far slower (a 10M-event reconstruction took 575 s against 396 s,
# benchmarks/README.md), so cxlib leaves the JVM's defaults to the client (spark.conf).
SHORT_JVM = {"spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1"}
SPARK_REPORT_TEST = "test_spark.py::test_a_report_on_spark_gives_the_same_figures"


@pytest.fixture(scope="session", autouse=True)
def spark_report_started(request, tmp_path_factory):
    """The small demo's report on Spark, started in the background as the session starts when
    the Spark report test is selected (and pyspark and Java are there), so that it runs beside
    the other tests: its notebooks' JVMs leave about a third of 2 cores idle. The same client
    as :func:`small_report` (its notebooks' JVMs as ``SHORT_JVM``), seed and resamples.
    ``(process, index.html, log)`` or None; :func:`spark_report` waits for it."""
    import importlib.util
    import subprocess
    import sys

    import yaml
    if not any(SPARK_REPORT_TEST in item.nodeid for item in request.session.items) or \
            importlib.util.find_spec("pyspark") is None or shutil.which("java") is None:
        yield None
        return
    root, _ = request.getfixturevalue("small_demo")
    tmp = tmp_path_factory.mktemp("spark")
    shutil.copytree(root / "demo", tmp / "data" / "demo")
    settings = yaml.safe_load((root / "demo" / "client.yml").read_text())
    assert "spark" not in settings
    (tmp / "data" / "demo" / "client.yml").write_text(yaml.safe_dump({**settings, "spark": {"conf": SHORT_JVM}}))
    log = tmp / "report.log"
    with open(log, "w") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "cxlib", "report", "--client", "demo", "--data-root",
                                 str(tmp / "data"), "--reports-root", str(tmp / "reports"), "--seed",
                                 str(SMALL_REPORT_SEED), "--engine", "spark", "-p", "n_boot=20"],
                                stdout=fh, stderr=subprocess.STDOUT, cwd=REPO)
    yield proc, tmp / "reports" / "demo" / "index.html", log
    if proc.poll() is None:      # its test was not reached
        proc.terminate()
        proc.wait(timeout=60)


@pytest.fixture(scope="session")
def spark_report(spark_report_started):
    """The index.html of the small demo's report on Spark (:func:`spark_report_started`), once it
    has finished; the test fails with the run's last lines when the run failed."""
    if spark_report_started is None:
        pytest.skip("the Spark report was not started: its test was not selected, or pyspark or Java is missing")
    proc, index, log = spark_report_started
    code = proc.wait()
    assert code == 0, f"the report on Spark failed (exit {code}):\n" + "\n".join(log.read_text().splitlines()[-30:])
    return index


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
