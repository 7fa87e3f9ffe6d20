"""Journey diagnosis recovers what the demo generator planted (full-size demo, seed 42)."""
import pytest


# The planted cause of the bimodal install scores is a back-office order error that makes
# the first technician visit fail and be rescheduled: any of these features names it.
PLANTED_CAUSE = {"has: Order corrected", "n_failed_steps", "not_first_time_right", "n_rework"}  # not the customer's call


@pytest.fixture(scope="module")
def demo(demo_journeys):
    dx, truth = demo_journeys["diagnosis"], demo_journeys["truth"]
    return dx, truth, dx.metrics()


def test_new_install_is_bimodal_and_the_separator_names_the_planted_cause(demo):
    dx, truth, m = demo
    ni = m["types"]["new_install"]
    assert ni["bimodal"] is True
    assert ni["bimodal_separator"] in PLANTED_CAUSE
    sep = dx.separations["new_install"]
    assert sep["ci_low"] > 0                       # the low group has clearly more of it
    # the low-scoring group is about the planted failed share of installs
    share_low = sep["n_low"] / (sep["n_low"] + sep["n_high"])
    assert share_low == pytest.approx(truth["journeys"]["new_install"]["failed_share"], abs=0.05)


def test_only_move_is_a_watermelon(demo):
    _, _, m = demo
    flagged = {t for t, v in m["types"].items() if v["watermelon"]}
    assert flagged == {"move"}


def test_churn_after_failed_install_matches_the_planted_rate(demo):
    dx, truth, _ = demo
    j, s = dx.journeys, dx.steps
    failed_visit = s.loc[(s["journey_type"] == "new_install") & (s["outcome"] == "failed"), "journey_id"].unique()
    ni = j[(j["journey_type"] == "new_install") & (j["status"] == "completed")]
    rate = ni.loc[ni["journey_id"].isin(failed_visit), "churned_in_window"].astype(float).mean()
    planted = truth["planted"]["install_failed_churn_90d"]
    assert rate == pytest.approx(planted, abs=0.05)
    ok_rate = ni.loc[~ni["journey_id"].isin(failed_visit), "churned_in_window"].astype(float).mean()
    assert ok_rate == pytest.approx(truth["planted"]["journey_ok_churn_90d"], abs=0.03)


def test_move_touchpoints_in_the_planted_range(demo):
    _, truth, m = demo
    lo, hi = truth["planted"]["move_touchpoints"]
    assert lo <= m["types"]["move"]["median_touchpoints"] <= hi


def test_journey_volumes_match_the_generator(demo):
    dx, truth, m = demo
    for jt in ("new_install", "move", "repair", "billing_dispute"):
        assert m["types"][jt]["n"] == pytest.approx(truth["journeys"][jt]["n"], rel=0.03), jt
    assert 0 < m["coverage"] < 1


def test_metrics_section_has_the_documented_shape(demo):
    _, _, m = demo
    keys = {"n", "completion_rate", "completion_lo", "completion_hi", "completion_n", "median_duration_days", "median_touchpoints", "median_handoffs",
            "journey_score_mean", "touchpoint_green_share", "touchpoint_ratings_n", "journey_green_share",
            "journey_score_n", "watermelon", "bimodal", "bimodal_n", "bimodal_separator", "bimodal_separator_is_symptom",
            "churn_in_window", "churn_in_window_baseline", "churn_in_window_lo", "churn_in_window_hi",
            "churn_in_window_n"}
    assert set(m) == {"coverage", "types", "engine"} and m["engine"] == "duckdb"
    for v in m["types"].values():
        assert set(v) - {"watermelon_pockets", "score_driver"} == keys
        assert isinstance(v["n"], int) and isinstance(v["watermelon"], bool)
        assert v["churn_in_window"] > v["churn_in_window_baseline"] > 0
        assert v["churn_in_window_lo"] <= v["churn_in_window"] <= v["churn_in_window_hi"] and v["churn_in_window_n"] > 0


def test_summary_sentences_carry_the_findings_with_counts_and_intervals(demo):
    dx, _, m = demo
    lines = dx.summary()
    # every journey instance is counted, the unclassified episodes kept apart from dx.journeys too
    assert dx.n_journeys == len(dx.journeys) + len(dx.recon.unclassified) == dx.recon.n_journeys
    assert lines[0].startswith(f"**{dx.n_journeys:,} journey instances**")
    flagged = [jt for jt, v in m["types"].items() if v["watermelon"]]
    assert flagged == ["move"]                                          # the planted watermelon
    assert sum(line.startswith("**Watermelon: move.**") for line in lines) == 1
    assert any(line.startswith("**Two groups of new install scores.**") for line in lines)
    worst = dx.most_churn()
    assert any(line.startswith(f"**{worst.replace('_', ' ').capitalize()}** is followed by the most churn") and "95% CI" in line
               and f"within {dx.churn_window_days} days" in line for line in lines)
    assert not any("nan" in line for line in lines)


def test_findings_for_the_action_list_match_the_metrics(demo):
    dx, _, m = demo
    found = {(f["journey_type"], f["finding"]) for f in dx.findings()}
    expected = {(jt, "Watermelon") for jt, v in m["types"].items() if v["watermelon"]} | \
               {(jt, "Two groups") for jt, v in m["types"].items() if v["bimodal"]} | \
               {(jt, "Watermelon inside") for jt, v in m["types"].items() if v.get("watermelon_pockets")}
    assert found == expected and expected


def test_repairs_fixed_only_the_second_time_are_a_watermelon_inside_repair(demo):
    """Not first-time-right repairs (planted) score low while their touchpoints stay green:
    repair is no watermelon as a type, but its path with a second fault report is."""
    dx, _, m = demo
    assert not m["types"]["repair"]["watermelon"]
    paths = [p["group"] for p in m["types"]["repair"].get("watermelon_pockets", []) if p["by"] == "variant"]
    assert paths and all(p.count("Fault reported") == 2 for p in paths)
    assert any(line.startswith("**Watermelon inside repair, on the path") for line in dx.summary())


def test_front_page_findings_quote_the_same_n_as_the_section(demo):
    """The watermelon line quotes rating counts and the two-group line the scores tested, as the
    journey section does, not the number of journeys."""
    dx, _, m = demo
    from cxlib.journeys import list_journey_findings
    found = {(jt, label): text for jt, label, text in list_journey_findings(m["types"])}
    move = dx.catalogue.loc["move"]
    assert f"(n = {int(move['journey_score_n']):,})" in found[("move", "Watermelon")]
    assert f"only {move['journey_green_share']:.0%} of its journey ratings" in found[("move", "Watermelon")]
    assert f"(n = {dx.bimodality['new_install'].n:,} scores)" in found[("new_install", "Two groups")]
    assert int(move["journey_score_n"]) != int(move["n"])          # the two counts really differ here


def test_journey_measures_name_the_planted_breaks_as_drivers_of_the_journey_score(demo):
    """Repairs not fixed the first time (a second fault report: rework and a repeat contact)
    and moves with a failed first bill score low: those measures lead, and pull scores down."""
    from dataclasses import replace
    from cxlib.drivers.journey_measures import rank_journey_measures
    dx, _, _ = demo
    m = replace(dx, score_measures=rank_journey_measures(dx.journeys, n_boot=50)).metrics()
    repair, move = m["types"]["repair"]["score_driver"], m["types"]["move"]["score_driver"]
    assert repair["driver"] in {"n_rework", "n_repeat_contacts"} and repair["r_hi"] < 0
    assert move["driver"] in {"n_failed_steps", "duration_days", "n_rework"} and move["r_hi"] < 0
    assert repair["n"] == m["types"]["repair"]["journey_score_n"]


def test_the_directly_follows_graph_does_not_depend_on_row_order(demo):
    """Edges with equal counts come in one order whatever order the steps arrive in (the
    engines and the SQL's grouping return rows in no fixed order)."""
    import pandas as pd

    from cxlib.journeys.stats import build_dfg
    dx, _, _ = demo
    steps = dx.recon.steps
    a = build_dfg(steps)
    assert a.duplicated(["journey_type", "n"]).any()          # there are ties to order
    pd.testing.assert_frame_equal(a, build_dfg(steps.sample(frac=1, random_state=3)))


def test_unclassified_episodes_stay_in_a_file_and_are_written_after_the_typed_journeys(demo_journeys, tmp_path):
    """diagnose_journeys keeps the unclassified episodes (most rows of a large log) out of pandas:
    dx.journeys holds the typed journeys, the episodes stay in DuckDB's file, and the written
    table is the typed journeys as diagnosed, then every episode as the reconstruction gives it
    (with its status), its scores and churn flags null."""
    import pandas as pd
    from cxlib.core.sql import ParquetTable
    from cxlib.journeys.reconstruct import (UNCLASSIFIED, get_journey_span, read_journeys, reconstruct_journeys,
                                            write_journey_table)
    dx, a = demo_journeys["diagnosis"], demo_journeys["config"].analysis
    assert isinstance(dx.recon.unclassified, ParquetTable) and len(dx.recon.unclassified) > len(dx.journeys)
    assert (dx.journeys["journey_type"] != UNCLASSIFIED).all() and dx.has_paths()
    eager = reconstruct_journeys(demo_journeys["tables"]["events"], a.journeys, gap_days=a.unclassified_gap_days,
                                 repeat_window_days=a.repeat_window_days, as_of=demo_journeys["as_of"],
                                 failure_touchpoints=a.contacts.failure_touchpoints).journeys
    assert get_journey_span(dx.journeys) == (eager["start"].min(), eager["end"].max())
    path = tmp_path / "journeys.parquet"
    write_journey_table(path, dx.journeys, dx.recon.unclassified)
    written = pd.read_parquet(path)
    assert len(written) == dx.n_journeys == len(eager)
    typed = (written["journey_type"] != UNCLASSIFIED).to_numpy()
    assert typed[:len(dx.journeys)].all() and not typed[len(dx.journeys):].any()     # the typed journeys first
    back = read_journeys(path, typed_only=True)[0]
    write_journey_table(tmp_path / "typed.parquet", dx.journeys)   # as pandas writes the typed journeys alone
    pd.testing.assert_frame_equal(back, pd.read_parquet(tmp_path / "typed.parquet"))     # dtypes included
    assert back.attrs["span"] == get_journey_span(dx.journeys)
    episodes = written[~typed].reset_index(drop=True)
    expected = eager[eager["journey_type"] == UNCLASSIFIED].reset_index(drop=True)
    missing_as_none = lambda f: f.astype(object).where(f.notna(), None)  # noqa: E731  (NaN in pandas, None read back)
    pd.testing.assert_frame_equal(missing_as_none(episodes[expected.columns]), missing_as_none(expected))
    measured = written.columns.difference(expected.columns)
    assert {"journey_score", "tp_n_rated", "churned_in_window"} <= set(measured)
    assert episodes[measured].isna().all().all()
