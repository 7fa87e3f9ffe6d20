"""The journey diagnosis of one client in one call: reconstruct, score, describe, flag.

:func:`diagnose_journeys` is what ``notebooks/02_journeys`` runs; tests and analysts
call it directly. Each step is also available on its own in :mod:`cxlib.journeys`,
:mod:`cxlib.journeys.stats` and :mod:`cxlib.journeys.bimodality`.
"""
from __future__ import annotations

import difflib
import time
from dataclasses import dataclass, field

import pandas as pd

from cxlib.journeys.findings import describe_largest_journey, list_journey_findings
from cxlib.journeys.bimodality import Bimodality, describe_separation, detect_bimodality, explain_bimodality, journey_features
from cxlib.core.config import Analysis
from cxlib.core.formatting import capitalize, format_count, format_estimate, format_interval, format_value, humanize
from cxlib.core.csvio import write_csv
from cxlib.core.jsonio import write_json
from cxlib.core.paths import ClientPaths
from cxlib.core.schema import AGENT_CHANNELS
from cxlib.core.lookup import map_values
from cxlib.core.sql import query_frames, select_columns
from cxlib.journeys.stats import (assign_owners, build_journey_metrics, count_steps, estimate_baseline_churn,
                                  find_watermelon_pockets, flag_contact_touchpoints, flag_watermelons,
                                  label_variants, summarize_journeys, top_journey_measures)
from cxlib.journeys.reconstruct import (UNCLASSIFIED, Journeys, assign_journey_scores, flag_churn_after,
                                        flag_ended_by_departure, get_journey_span, reconstruct_journeys,
                                        write_journey_table)


@dataclass
class JourneyDiagnosis:
    recon: Journeys
    # the typed journeys with scores and churn; the unclassified episodes stay in recon.unclassified
    journeys: pd.DataFrame
    catalogue: pd.DataFrame          # one row per typed journey
    baseline: dict                   # churn baseline of all customers
    watermelon: pd.Series            # per type
    bimodality: dict[str, Bimodality] = field(default_factory=dict)
    separations: dict[str, dict] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)   # what could not be analysed, and why
    timings: dict[str, float] = field(default_factory=dict)
    churn_window_days: int = 90      # churn within this many days after a journey counts against it
    watermelon_pockets: pd.DataFrame = field(default_factory=pd.DataFrame)  # red parts inside a type
    # journey measures as drivers of the journey score, when the caller ranks them
    # (cxlib.drivers.journey_measures.rank_journey_measures: the driver method lives a layer up)
    score_measures: pd.DataFrame = field(default_factory=pd.DataFrame)
    engine: str = "duckdb"           # where the reconstruction ran (duckdb or spark)
    # the step table counted where it lives (cxlib.journeys.stats.count_steps): events per type and
    # assignment with their first and last time, and per touchpoint
    step_counts: pd.DataFrame = field(default_factory=pd.DataFrame)
    touchpoint_counts: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def steps(self) -> pd.DataFrame:
        """The step table as pandas (on Spark it is fetched from the cluster on first use)."""
        return self.recon.fetch_steps()

    @property
    def engine_steps(self):
        """The step table where the reconstruction ran: a Spark DataFrame on Spark (variants and
        the directly-follows graph are counted there), else the pandas table."""
        return self.recon.live_steps

    @property
    def n_events(self) -> int:
        return int(self.step_counts["n"].sum()) if len(self.step_counts) else self.recon.n_events

    @property
    def coverage(self) -> float:
        """Share of events assigned to a typed (configured) journey."""
        c = self.step_counts
        if not len(c):
            return self.recon.coverage
        return float(c.loc[c["journey_type"] != UNCLASSIFIED, "n"].sum() / c["n"].sum()) if c["n"].sum() else float("nan")

    @property
    def types(self) -> list[str]:
        return [t for t in self.catalogue.index if t != UNCLASSIFIED]

    @property
    def n_journeys(self) -> int:
        """Every journey instance rebuilt, the unclassified episodes included."""
        return self.recon.count_journeys()

    def has_paths(self) -> bool:
        """Whether any journey has more than one step: with one event per case there is nothing
        to map (no steps, waits, handoffs or rework), whatever the extract calls a case."""
        return self.recon.has_paths()

    def describe_no_paths(self) -> str:
        """Why a page of one-step journeys shows nothing."""
        return (f"**Every case has a single event** ({format_count(self.n_journeys)} cases): there are no steps, "
                "waits, handoffs or rework to map, so journeys are not analysed. Events that share a case or "
                "customer id across touchpoints would make them visible.")

    def separation_sentence(self, journey_type: str) -> str:
        return describe_separation(self.separations.get(journey_type, {}), journey_type)

    def most_churn(self) -> str | None:
        """The journey type followed by the most churn, when churn after journeys was measured."""
        c = self.catalogue
        if not len(c) or "churn_in_window" not in c or c["churn_in_window"].isna().all():
            return None
        worst = c["churn_in_window"].idxmax()
        return worst if pd.notna(c.loc[worst, "churn_in_window_baseline"]) else None

    def summary(self) -> list[str]:
        """The section's findings as sentences: how many journeys, the one followed by the most
        churn, the watermelons, the two-group journeys and what was skipped."""
        cat = self.catalogue
        lines = [f"**{format_count(self.n_journeys)} journey instances** were rebuilt from "
                 f"{format_count(self.n_events)} events; {format_value(self.coverage, 'share', digits=1)} of events "
                 "belong to a defined journey type."]
        tc = self.touchpoint_counts
        unclassified = tc[tc["n_unclassified"] > 0].sort_values(["n_unclassified", "touchpoint"], ascending=[False, True]) \
            .set_index("touchpoint")["n_unclassified"] if len(tc) else pd.Series(dtype="int64")
        if len(unclassified):
            lines[-1] += (" The rest form unclassified episodes; their most common touchpoints are "
                          + ", ".join(f"'{t}' ({format_count(n)})" for t, n in unclassified.head(3).items()) + ".")
        typed = {jt: m for jt, m in self.metrics()["types"].items() if jt != UNCLASSIFIED}
        if describe_largest_journey(typed):
            lines.append(describe_largest_journey(typed))
        worst = self.most_churn()
        if worst is not None:
            r = cat.loc[worst]
            churn = format_estimate(r["churn_in_window"], r["churn_in_window_ci_low"], r["churn_in_window_ci_high"],
                                    "share", digits=1, n=r["churn_in_window_n"], unit="journeys")
            lines.append(f"**{capitalize(humanize(worst))}** is followed by the most churn: {churn} of customers leave "
                         f"within {self.churn_window_days} days, against "
                         f"{format_value(r['churn_in_window_baseline'], 'share', digits=1)} of all customers in any "
                         "such window.")
        for jt in cat.index[self.watermelon.reindex(cat.index, fill_value=False)]:
            r = cat.loc[jt]
            lines.append(f"**Watermelon: {humanize(jt)}.** {format_value(r['touchpoint_green_share'], 'share', digits=0)} "
                         f"of its touchpoint ratings are green (n = {format_count(r['touchpoint_ratings_n'])}) but only "
                         f"{format_value(r['journey_green_share'], 'share', digits=0)} of its journey ratings are "
                         f"({format_interval(r['journey_green_ci_low'], r['journey_green_ci_high'], 'share', digits=0)}, "
                         f"n = {format_count(r['journey_score_n'])} journey ratings).")
        lines += self.describe_watermelon_pockets()
        lines += [f"**Two groups of {humanize(jt)} scores.** " + self.separation_sentence(jt) for jt in self.separations]
        if not self.separations and any(b.n for b in self.bimodality.values()):
            lines.append("No journey type has a bimodal score distribution.")
        return lines + [f"*Skipped:* {s}" for s in self.skipped]

    def describe_watermelon_pockets(self) -> list[str]:
        """One sentence per red part inside a journey type that is not red as a whole."""
        p = self.watermelon_pockets
        if p is None or not len(p):
            return []
        out = []
        for _, r in p[~p["type_flagged"]].iterrows():
            where = (f"for customers in segment '{r['group']}'" if r["by"] == "segment"
                     else f"on the path {r['group']}")
            out.append(f"**Watermelon inside {humanize(r['journey_type'])}, {where}.** "
                       f"{format_value(r['touchpoint_green_share'], 'share', digits=0)} of its touchpoint ratings are "
                       f"green (n = {format_count(r['touchpoint_ratings_n'])}) but only "
                       f"{format_value(r['journey_green_share'], 'share', digits=0)} of its journey ratings are "
                       f"({format_interval(r['journey_green_ci_low'], r['journey_green_ci_high'], 'share', digits=0)}, "
                       f"n = {format_count(r['journey_score_n'])}); the journey type as a whole is not flagged.")
        return out

    def watermelon_pocket_table(self) -> pd.DataFrame:
        """The red parts inside journey types, with 'yes'/'no' for whether the whole type is red too."""
        p = self.watermelon_pockets
        return pd.DataFrame({
            "journey": p["journey_type"].map(humanize), "inside": p["by"].map({"variant": "path", "segment": "segment"}),
            "part": p["group"], "touchpoints green": p["touchpoint_green_share"],
            "touchpoint ratings": p["touchpoint_ratings_n"], "journeys green": p["journey_green_share"],
            "journeys green low": p["journey_green_ci_low"], "journeys green high": p["journey_green_ci_high"],
            "journey ratings": p["journey_score_n"], "whole type flagged": p["type_flagged"].map({True: "yes", False: "no"})})

    def assignment_table(self) -> pd.DataFrame:
        """Per journey type: how its events were assigned (case id, definition, gap) and its
        share of all events."""
        how = self.step_counts.pivot_table(index="journey_type", columns="assigned_by", values="n", aggfunc="sum",
                                           fill_value=0)
        how["events"] = how.sum(axis=1)
        how["share of events"] = how["events"] / how["events"].sum()
        return how

    def catalogue_table(self) -> pd.DataFrame:
        """The catalogue's columns a reader compares journey types on."""
        cols = ["owner", "n", "completion_rate", "median_duration_days", "p90_duration_days", "median_touchpoints",
                "median_departments", "median_handoffs", "mean_repeat_contacts", "rework_share",
                "journey_score_mean", "journey_score_n", "churn_in_window", "churn_in_window_n"]
        return self.catalogue[[c for c in cols if c in self.catalogue]]

    def has_journey_scores(self) -> bool:
        """Whether any journey type has journey ratings (the bimodality test)."""
        return bool(len(self.catalogue)) and self.catalogue["journey_score_n"].sum() > 0

    def has_ratings(self) -> bool:
        """Whether any journey type has both touchpoint and journey ratings (the watermelon check)."""
        c = self.catalogue
        return bool(len(c)) and c["touchpoint_ratings_n"].sum() > 0 and c["journey_score_n"].sum() > 0

    def watermelon_table(self) -> pd.DataFrame:
        cols = ["touchpoint_green_share", "touchpoint_ratings_n", "journey_green_share", "journey_score_n",
                "churn_in_window"]
        return self.catalogue[cols].assign(watermelon=self.watermelon.reindex(self.catalogue.index, fill_value=False)
                                           .map({True: "yes", False: "no"}))

    def bimodality_table(self) -> pd.DataFrame:
        """One row per journey type: scores tested, the verdict and its two statistics."""
        return pd.DataFrame([{"journey_type": jt, "n scores": b.n, "bimodal": "yes" if b.bimodal else "no",
                              "ΔBIC": b.delta_bic, "valley/peak": b.valley_ratio, "verdict": b.reason}
                             for jt, b in self.bimodality.items()]).set_index("journey_type")

    def metrics(self) -> dict:
        """The ``journeys`` section of the report's figures."""
        seps = {t: r.get("separator") for t, r in self.separations.items()}
        symptoms = {t: r.get("symptom", False) for t, r in self.separations.items()}
        m = build_journey_metrics(self.catalogue, self.coverage, self.watermelon, self.bimodality, seps, symptoms)
        for _, r in top_journey_measures(self.score_measures).iterrows():
            if r["journey_type"] in m["types"]:
                m["types"][r["journey_type"]]["score_driver"] = {
                    k: (float(r[k]) if k != "driver" else r[k]) for k in
                    ("driver", "shapley_share", "shapley_lo", "shapley_hi", "r", "r_lo", "r_hi", "r2")} | {"n": int(r["n"])}
        p = self.watermelon_pockets
        for jt, part in (p[~p["type_flagged"]].groupby("journey_type") if p is not None and len(p) else []):
            if str(jt) in m["types"]:
                m["types"][str(jt)]["watermelon_pockets"] = [
                    {"by": r["by"], "group": r["group"], "touchpoint_green_share": float(r["touchpoint_green_share"]),
                     "journey_green_share": float(r["journey_green_share"]), "journey_score_n": int(r["journey_score_n"])}
                    for _, r in part.iterrows()]
        m["engine"] = self.engine
        return m

    def findings(self) -> list[dict]:
        """The watermelon and two-group findings, one dict per finding (journey_type, finding,
        text): what the action list of 04 cites as evidence."""
        return [{"journey_type": jt, "finding": label, "text": text}
                for jt, label, text in list_journey_findings(self.metrics()["types"])]

    def write(self, paths: ClientPaths) -> None:
        """Write what later notebooks read: the journey table (with scores and churn), the step
        table, the catalogue and the findings for the action list."""
        paths.journeys_dir.mkdir(parents=True, exist_ok=True)
        write_journey_table(paths.journeys, self.journeys, self.recon.unclassified)
        self.recon.write_steps(paths.journey_steps)
        write_csv(self.catalogue, paths.journey_catalogue, index=True)
        write_json(paths.journey_findings, self.findings())


def check_journey_definitions(definitions: dict, steps: pd.DataFrame, journeys: pd.DataFrame,
                              touchpoint: str = "touchpoint", journey_type: str = "journey_type") -> list[str]:
    """One plain sentence per configured journey type that matched no journey, naming the
    start or end touchpoints missing from the events and the nearest names that do occur.
    ``steps``: the step table (pandas or Spark) or any table of the touchpoints that occur."""
    seen = set(query_frames(f'SELECT DISTINCT "{touchpoint}" AS t FROM st WHERE "{touchpoint}" IS NOT NULL',
                            st=select_columns(steps, [touchpoint]))["t"])
    found = set(journeys[journey_type].unique()) if len(journeys) else set()
    out = []
    for name, d in definitions.items():
        if name in found:
            continue
        missing = [t for t in [*d.start, *d.end] if t not in seen]
        near = sorted({m for t in missing for m in difflib.get_close_matches(t, seen, n=2, cutoff=0.6)})
        why = (f"its touchpoints {missing} never occur in the events"
               + (f" (similar names that do: {near})" if near else "") if missing
               else "no start was followed by its steps within the journey's maximum duration")
        out.append(f"Journey type '{name}' matched no journeys: {why}. Check analysis.journeys.{name} in client.yml.")
    return out


def diagnose_journeys(events, analysis: Analysis, *, customers: pd.DataFrame | None = None,
                      surveys: pd.DataFrame | None = None, as_of=None, seed: int = 0,
                      progress: bool = False, engine: str = "duckdb", spark=None) -> JourneyDiagnosis:
    """Reconstruct journeys from ``events`` (DataFrame or Parquet path) with the client's
    ``analysis`` settings, attach survey scores and churn, and build the catalogue, the
    watermelon flags and the bimodality tests with their separators. ``engine='spark'`` runs
    the reconstruction on Spark (``spark``: a session, or the client's SparkSettings);
    ``engine='duckdb'`` on this machine: in compiled passes when the log fits in memory, else in
    DuckDB (:func:`~cxlib.journeys.reconstruct.choose_engine`)."""
    t0 = time.perf_counter()
    timings = {}
    skipped = []
    if not analysis.journeys:
        skipped.append("No journey definitions in the config: events with a case id form journeys; "
                       "everything else becomes unclassified episodes.")
    recon = reconstruct_journeys(events, analysis.journeys, gap_days=analysis.unclassified_gap_days,
                                 repeat_window_days=analysis.repeat_window_days, as_of=as_of, progress=progress,
                                 failure_touchpoints=analysis.contacts.failure_touchpoints,
                                 engine="auto" if engine == "duckdb" else engine, spark=spark, lazy_steps=True,
                                 lazy_unclassified=True)
    timings["reconstruct"] = time.perf_counter() - t0
    # the typed journeys only: no statistic reads the unclassified episodes, most rows of a large log;
    # without an extract time, the journeys' own last end stands in (as it does in the reconstruction)
    j = recon.journeys
    until = as_of if as_of is not None else get_journey_span(j)[1]
    on_engine = recon.live_steps     # Spark's, or pandas
    step_counts, touchpoint_counts = count_steps(on_engine)
    skipped += check_journey_definitions(analysis.journeys, touchpoint_counts, j)   # its touchpoints suffice
    if surveys is None or not len(surveys):
        skipped.append("No survey table: journey scores, the watermelon check and the bimodality test are skipped.")
    j = assign_journey_scores(j, on_engine, surveys, analysis.green_threshold,
                              max_days_after_end=30, max_days_after_touchpoint=7)
    churn_ok = customers is not None and "churn_date" in customers and customers["churn_date"].notna().any()
    if not churn_ok:
        skipped.append("No churn dates in a customer table: churn after journeys is not measured.")
    j = flag_churn_after(j, customers if churn_ok else None, window_days=analysis.churn_window_days, as_of=until)
    # a journey the customer's departure ended has no "churn after" of its own: the drop-out is the churn
    j["ended_by_departure"] = flag_ended_by_departure(j, customers if churn_ok else None, analysis.journeys)
    j["churned_in_window"] = j["churned_in_window"].mask(j["ended_by_departure"])
    baseline = estimate_baseline_churn(customers if churn_ok else None, step_counts["first"].min(),
                                       as_of if as_of is not None else step_counts["last"].max(),
                                       window_days=analysis.churn_window_days)
    catalogue = summarize_journeys(j, baseline=baseline["rate"])
    if len(catalogue):
        catalogue.insert(0, "owner", assign_owners(catalogue, on_engine, dict(analysis.journeys)))
    watermelon = (flag_watermelons(catalogue, touchpoint_green_min=analysis.watermelon_touchpoint_green,
                                   gap=analysis.watermelon_gap)
                  if len(catalogue) else pd.Series(dtype=bool))
    pockets = pd.DataFrame()
    if len(catalogue) and "journey_green" in j:
        groups = {"variant": label_variants(on_engine)}
        if customers is not None and "segment" in customers and customers["segment"].notna().any():
            seg = customers.drop_duplicates("customer_id").set_index("customer_id")["segment"]
            groups["segment"] = pd.Series(map_values(j["customer_id"], seg).to_numpy(), index=j["journey_id"].to_numpy())
        pockets = find_watermelon_pockets(j, groups, touchpoint_green_min=analysis.watermelon_touchpoint_green,
                                          gap=analysis.watermelon_gap)
    bimodality, separations = {}, {}
    for jt in catalogue.index:
        g = j[j["journey_type"] == jt]
        b = detect_bimodality(g["journey_score"], seed=seed)
        bimodality[jt] = b
        if b.bimodal:
            contacts = flag_contact_touchpoints(on_engine, contact_channels=AGENT_CHANNELS, only_type=jt)
            feats = journey_features(g, on_engine, journey_type=jt)
            separations[jt] = explain_bimodality(g, feats, b.antimode, seed=seed,
                                                 contacts={tp for (_, tp), c in contacts.items() if c})
    timings["describe"] = time.perf_counter() - t0 - timings["reconstruct"]
    return JourneyDiagnosis(recon, j, catalogue, baseline, watermelon, bimodality, separations, skipped, timings,
                            churn_window_days=analysis.churn_window_days, watermelon_pockets=pockets, engine=engine,
                            step_counts=step_counts, touchpoint_counts=touchpoint_counts)
