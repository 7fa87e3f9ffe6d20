"""The journey diagnosis of one client in one call: reconstruct, score, describe, flag.

:func:`diagnose_journeys` is what ``notebooks/02_journeys`` runs; tests and analysts
call it directly. Each step is also available on its own in :mod:`cxlib.journeys`,
:mod:`cxlib.journey_stats` and :mod:`cxlib.bimodality`.
"""
from __future__ import annotations

import difflib
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .bimodality import Bimodality, describe_separation, detect_bimodality, explain_bimodality, journey_features
from .config import Analysis
from .journey_stats import (assign_owners, build_journey_metrics, estimate_baseline_churn, flag_watermelons,
                            summarize_journeys)
from .journeys import UNCLASSIFIED, Journeys, assign_journey_scores, flag_churn_after, reconstruct_journeys


@dataclass
class JourneyDiagnosis:
    recon: Journeys
    journeys: pd.DataFrame           # journey table with scores and churn
    catalogue: pd.DataFrame          # one row per typed journey
    baseline: dict                   # churn baseline of all customers
    watermelon: pd.Series            # per type
    bimodality: dict[str, Bimodality] = field(default_factory=dict)
    separations: dict[str, dict] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)   # what could not be analysed, and why
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def steps(self) -> pd.DataFrame:
        return self.recon.steps

    @property
    def coverage(self) -> float:
        return self.recon.coverage

    @property
    def types(self) -> list[str]:
        return [t for t in self.catalogue.index if t != UNCLASSIFIED]

    def separation_sentence(self, journey_type: str) -> str:
        return describe_separation(self.separations.get(journey_type, {}), journey_type)

    def metrics(self) -> dict:
        """The ``journeys`` section of metrics.json."""
        seps = {t: r.get("separator") for t, r in self.separations.items()}
        return build_journey_metrics(self.catalogue, self.coverage, self.watermelon, self.bimodality, seps)

    def write(self, out_dir: str | Path) -> dict[str, Path]:
        """Write the journey table (with scores and churn) and the step table."""
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        paths = {"journeys": out_dir / "journeys.parquet", "steps": out_dir / "journey_steps.parquet",
                 "catalogue": out_dir / "catalogue.csv"}
        self.journeys.to_parquet(paths["journeys"], index=False)
        self.steps.to_parquet(paths["steps"], index=False)
        self.catalogue.to_csv(paths["catalogue"])
        return paths


def check_journey_definitions(definitions: dict, steps: pd.DataFrame, journeys: pd.DataFrame,
                              touchpoint: str = "touchpoint", journey_type: str = "journey_type") -> list[str]:
    """One plain sentence per configured journey type that matched no journey, naming the
    start or end touchpoints missing from the events and the nearest names that do occur."""
    seen = set(steps[touchpoint].dropna().unique())
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
                      progress: bool = False) -> JourneyDiagnosis:
    """Reconstruct journeys from ``events`` (DataFrame or Parquet path) with the client's
    ``analysis`` settings, attach survey scores and churn, and build the catalogue, the
    watermelon flags and the bimodality tests with their separators."""
    t0 = time.perf_counter()
    timings = {}
    skipped = []
    if not analysis.journeys:
        skipped.append("No journey definitions in the config: events with a case id form journeys; "
                       "everything else becomes unclassified episodes.")
    recon = reconstruct_journeys(events, analysis.journeys, gap_days=analysis.unclassified_gap_days,
                                 repeat_window_days=analysis.repeat_window_days, as_of=as_of, progress=progress)
    timings["reconstruct"] = time.perf_counter() - t0
    j = recon.journeys
    skipped += check_journey_definitions(analysis.journeys, recon.steps, j)
    if surveys is None or not len(surveys):
        skipped.append("No survey table: journey scores, the watermelon check and the bimodality test are skipped.")
    j = assign_journey_scores(j, recon.steps, surveys, analysis.green_threshold,
                              max_days_after_end=30, max_days_after_touchpoint=7)
    churn_ok = customers is not None and "churn_date" in customers and customers["churn_date"].notna().any()
    if not churn_ok:
        skipped.append("No churn dates in a customer table: churn after journeys is not measured.")
    j = flag_churn_after(j, customers if churn_ok else None, window_days=analysis.churn_window_days, as_of=as_of)
    baseline = estimate_baseline_churn(customers if churn_ok else None, recon.steps["timestamp"].min(),
                                       as_of if as_of is not None else recon.steps["timestamp"].max(),
                                       window_days=analysis.churn_window_days)
    catalogue = summarize_journeys(j, baseline=baseline["rate"])
    if len(catalogue):
        catalogue.insert(0, "owner", assign_owners(catalogue, recon.steps, dict(analysis.journeys)))
    watermelon = (flag_watermelons(catalogue, touchpoint_green_min=analysis.watermelon_touchpoint_green,
                                   journey_green_max=analysis.watermelon_journey_green)
                  if len(catalogue) else pd.Series(dtype=bool))
    bimodality, separations = {}, {}
    for jt in catalogue.index:
        g = j[j["journey_type"] == jt]
        b = detect_bimodality(g["journey_score"], seed=seed)
        bimodality[jt] = b
        if b.bimodal:
            feats = journey_features(g, recon.steps[recon.steps["journey_type"] == jt])
            separations[jt] = explain_bimodality(g, feats, b.antimode, seed=seed)
    timings["describe"] = time.perf_counter() - t0 - timings["reconstruct"]
    return JourneyDiagnosis(recon, j, catalogue, baseline, watermelon, bimodality, separations, skipped, timings)
