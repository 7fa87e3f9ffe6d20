"""Journeys: rebuild every journey instance from the event log, describe where journeys break
(steps, waits, handoffs, repeats, rework, drop-outs), and find the watermelons and the journey
types whose scores split into two groups.

Entry point: :func:`diagnose_journeys`.
"""
from cxlib.journeys.bimodality import detect_bimodality, explain_bimodality, journey_features
from cxlib.journeys.diagnosis import JourneyDiagnosis, check_journey_definitions, diagnose_journeys
from cxlib.journeys.findings import describe_separator, list_journey_findings
from cxlib.journeys.reconstruct import (UNCLASSIFIED, Journeys, assign_journey_scores, flag_churn_after,
                                        flag_ended_by_departure, read_journeys, reconstruct_journeys)
from cxlib.journeys.stats import (assign_owners, build_dfg, count_channel_switches, describe_variants, estimate_baseline_churn,
                                  find_failure_signature, find_variants, flag_went_wrong, flag_watermelons,
                                  map_stages, summarize_journeys, summarize_rework, top_transitions)

__all__ = ["UNCLASSIFIED", "JourneyDiagnosis", "Journeys", "assign_journey_scores", "assign_owners", "build_dfg",
           "check_journey_definitions", "count_channel_switches", "describe_separator", "describe_variants", "detect_bimodality",
           "diagnose_journeys", "estimate_baseline_churn", "explain_bimodality", "find_failure_signature",
           "find_variants", "flag_churn_after", "flag_ended_by_departure", "flag_watermelons", "flag_went_wrong", "journey_features",
           "list_journey_findings", "map_stages", "read_journeys", "reconstruct_journeys", "summarize_journeys",
           "summarize_rework", "top_transitions"]
