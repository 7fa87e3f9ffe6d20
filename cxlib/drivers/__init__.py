"""Drivers: what moves the outcome the client cares about (key-driver analysis with honest
intervals), who leaves and why (the churn model and stated reasons), and what that costs
(revenue at risk and improvement scenarios).

Entry points: :func:`diagnose_drivers` and :func:`diagnose_churn`.
"""
from cxlib.drivers.churn import CHURN_REASON_BENCHMARK, ChurnModel, build_churn_table, summarize_churn_reasons
from cxlib.drivers.churn_diagnosis import ChurnDiagnosis, diagnose_churn
from cxlib.drivers.comments import (comment_frame, describe_comment_themes, list_comment_groups, pick_excerpts,
                                    summarize_comment_themes)
from cxlib.drivers.diagnosis import (DriverDiagnosis, build_driver_metrics, diagnose_drivers,
                                     diagnose_drivers_if_possible)
from cxlib.drivers.importance import (DriverAnalysis, build_driver_table, compare_segments, estimate_asymmetry,
                                      flag_fix_first)
from cxlib.drivers.money import (estimate_journey_revenue_at_risk, simulate_failure_reduction,
                                 simulate_score_rise)

__all__ = ["CHURN_REASON_BENCHMARK", "ChurnDiagnosis", "ChurnModel", "DriverAnalysis", "DriverDiagnosis",
           "build_churn_table", "build_driver_metrics", "build_driver_table", "comment_frame", "compare_segments",
           "describe_comment_themes", "diagnose_churn", "diagnose_drivers", "diagnose_drivers_if_possible", "estimate_asymmetry",
           "estimate_journey_revenue_at_risk", "flag_fix_first", "list_comment_groups", "pick_excerpts",
           "simulate_failure_reduction", "simulate_score_rise", "summarize_churn_reasons", "summarize_comment_themes"]
