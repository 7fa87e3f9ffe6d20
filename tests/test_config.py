import textwrap
from pathlib import Path

import pytest

from cxlib.core.config import ConfigError, describe_config_keys, load_config, parse_config
from cxlib.core.paths import ClientNameError, resolve_client_paths, validate_client_name

from conftest import REPO

MINIMAL = {"name": "X", "tables": {"events": [{"path": "e.csv"}]}}


def test_demo_config_is_valid():
    cfg = load_config(REPO / "data" / "demo" / "client.yml")
    assert cfg.timezone == "Europe/Amsterdam"
    assert set(cfg.analysis.journeys) == {"new_install", "move", "repair", "billing_dispute", "onboarding"}


def test_every_committed_client_config_is_valid():
    for path in sorted((REPO / "data").glob("*/client.yml")):
        load_config(path)


@pytest.mark.parametrize("data, key, hint", [
    ({**MINIMAL, "nmae": "typo"}, "nmae", "did you mean 'name'"),
    ({"name": "X", "tables": {"events": [{"path": "e.csv", "colums": {}}]}}, "tables.events[0].colums",
     "did you mean 'columns'"),
    ({"name": "X", "tables": {"event": [{"path": "e.csv"}]}}, "tables.event", "did you mean 'events'"),
    ({**MINIMAL, "analysis": {"journeys": {"move": {"start": ["a"], "end": ["b"], "ownr": "x"}}}},
     "analysis.journeys.move.ownr", "did you mean 'owner'"),
])
def test_unknown_keys_are_errors_naming_the_key(data, key, hint):
    with pytest.raises(ConfigError) as err:
        parse_config(data, "client.yml")
    msg = str(err.value)
    assert "client.yml" in msg and key in msg and "unknown key" in msg and hint in msg


def test_missing_required_key():
    with pytest.raises(ConfigError, match=r"tables: required key is missing"):
        parse_config({"name": "X"})


@pytest.mark.parametrize("patch, fragment", [
    ({"timezone": "Mars/Base"}, "unknown time zone 'Mars/Base'"),
    ({"analysis": {"cost_per_contact": {"phone": 3}}}, "unknown channel(s) ['phone']"),
    ({"tables": {"events": [{"path": "e.csv", "columns": {"acct": "customer_idd"}}]}},
     "'customer_idd' is not a column of events"),
    ({"tables": {"surveys": [{"path": "s.csv", "wide": [{"columns": ["q1"], "level": "touchpoint",
                                                        "metric": "stars"}]}]}}, "unknown metric 'stars'"),
    ({"scales": {"stars": {"min": 5, "max": 1}}}, "min (5.0) must be below max"),
    ({"tables": {"events": [{"path": "e.csv", "wide": [{"columns": ["q"], "level": "journey",
                                                       "metric": "nps"}]}]}}, "only survey sources can be wide"),
])
def test_invalid_values_are_explained(patch, fragment):
    with pytest.raises(ConfigError) as err:
        parse_config({**MINIMAL, **patch})
    assert fragment in str(err.value)


def test_configured_scale_makes_metric_known():
    cfg = parse_config({**MINIMAL, "scales": {"stars": {"min": 1, "max": 5}},
                        "tables": {"surveys": [{"path": "s.csv", "wide": [
                            {"columns": ["q1"], "level": "touchpoint", "metric": "stars"}]}]}})
    assert cfg.all_scales()["stars"] == (1, 5)


def test_duplicate_yaml_keys_are_refused(tmp_path):
    p = tmp_path / "client.yml"
    p.write_text(textwrap.dedent("""\
        name: A
        name: B
        tables: {}
        """))
    with pytest.raises(ConfigError, match=r"duplicate key 'name' at line 2"):
        load_config(p)


def test_every_key_is_documented():
    doc = describe_config_keys()
    for key in ("tables.<table>[].columns", "tables.<table>[].wide[].missing", "analysis.journeys.<type>.end",
                "analysis.cost_per_contact", "as_of", "scales.<metric>.max"):
        assert f"`{key}`" in doc
    assert "(): " not in doc and ": \n" not in doc + "\n"  # no key without a description


def test_the_readme_reference_is_the_schema():
    """The README's configuration reference is the schema's own description, key for key."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    assert describe_config_keys().strip() in readme, "regenerate the README section with python -m cxlib config-keys"


def test_every_yaml_example_in_the_readme_is_a_valid_client_config():
    """The README's examples of real extracts (a process-mining log, an NPS survey with
    operational fields) are configurations the schema accepts, not sketches."""
    import re
    import yaml
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    blocks = [b for b in re.findall(r"```yaml\n(.*?)```", readme, flags=re.S) if b.lstrip().startswith("tables:")]
    assert len(blocks) >= 2
    for block in blocks:
        cfg = parse_config({"name": "example", **yaml.safe_load(block)})
        assert cfg.sources("events") or cfg.sources("surveys")


@pytest.mark.parametrize("bad", ["../etc", "a/b", "a\\b", "..", ".hidden", "", "x" * 65])
def test_client_names_cannot_escape_their_folder(bad):
    with pytest.raises(ClientNameError):
        validate_client_name(bad)
    with pytest.raises(ClientNameError):
        resolve_client_paths(bad)


def test_client_paths(tmp_path):
    p = resolve_client_paths("acme-1", tmp_path / "data", tmp_path / "reports")
    assert p.config == tmp_path / "data" / "acme-1" / "client.yml"
    assert p.table("events") == tmp_path / "reports" / "acme-1" / "tables" / "events.parquet"


def test_churn_scenario_needs_exactly_one_change():
    from cxlib.core.config import ConfigError, parse_config
    base = {"name": "x", "tables": {}}
    ok = parse_config({**base, "analysis": {"churn": {"scenarios": [{"journey": "move", "score_change": 1}]}}})
    assert ok.analysis.churn.scenarios[0].score_change == 1
    for bad in ({"journey": "move"}, {"journey": "move", "score_change": 1, "wrong_share_to": 0.1}):
        with pytest.raises(ConfigError, match="exactly one"):
            parse_config({**base, "analysis": {"churn": {"scenarios": [bad]}}})
