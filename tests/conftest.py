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
