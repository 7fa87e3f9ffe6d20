"""Key-driver analysis recovers the demo's planted relationship-NPS drivers."""
import numpy as np
import pytest
from scipy.stats import spearmanr

from cxlib.core.config import load_config
from cxlib.demo import POPULATION_DRIVER_SHARES, population_driver_shares
from cxlib.drivers.importance import DriverAnalysis, build_driver_table
from cxlib.ingest import ingest_client


@pytest.fixture(scope="module")
def fitted(demo_client):
    data_dir, truth = demo_client
    cfg = load_config(data_dir / "client.yml")
    d = cfg.analysis.drivers
    surveys = ingest_client(cfg, data_dir).tables["surveys"]
    X, y = build_driver_table(surveys, outcome_level=d.outcome_level, outcome_metric=d.outcome_metric,
                              driver_levels=tuple(d.driver_levels), min_rated=d.min_rated)
    groups = {lvl: [c for c in X if c.startswith(f"{lvl}: ")] for lvl in d.driver_levels}
    m = DriverAnalysis(missing=d.missing, n_boot=200, groups=groups, seed=42).fit(X, y)
    return m, truth


def test_truth_records_the_population_shares(fitted):
    _, truth = fitted
    assert truth["drivers"]["population_shares"] == POPULATION_DRIVER_SHARES
    assert sum(POPULATION_DRIVER_SHARES.values()) == pytest.approx(1, abs=1e-3)


def test_ranking_matches_the_population(fitted):
    m, _ = fitted
    pop = m.importance_.index.map(POPULATION_DRIVER_SHARES)
    assert set(m.importance_.index) == set(POPULATION_DRIVER_SHARES)
    assert spearmanr(m.importance_["shapley_share"], pop).statistic >= 0.9


def test_population_shares_inside_most_intervals(fitted):
    m, _ = fitted
    imp = m.importance_
    pop = imp.index.map(POPULATION_DRIVER_SHARES).to_numpy()
    inside = (imp["shapley_lo"].to_numpy() <= pop) & (pop <= imp["shapley_hi"].to_numpy())
    assert inside.mean() >= 0.75, imp.assign(population=pop)


def test_journey_block_explains_more_than_touchpoints(fitted):
    m, _ = fitted
    assert m.groups_.loc["journey", "share"] > m.groups_.loc["touchpoint", "share"]
    assert m.groups_.loc["journey", "lo"] > 0.5


@pytest.mark.slow
def test_population_constant_is_current():
    """The committed constant matches the generating model (a fresh large sample, other seed)."""
    fresh = population_driver_shares(n_customers=150_000, seed=7)
    for k, v in POPULATION_DRIVER_SHARES.items():
        assert fresh[k] == pytest.approx(v, abs=0.03), k
    assert np.isclose(sum(fresh.values()), 1)
