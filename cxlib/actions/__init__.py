"""Actions: what to fix first. The contact cascade (avoidable contacts by root cause,
self-service fit, agent performance), value-based service (cost to serve against revenue),
journey KPIs with owners and targets, and every finding turned into a costed, ranked action.

Entry point: :func:`diagnose_recommendations`.
"""
from cxlib.actions.agents import count_caused_repeats, score_agents, shrink_toward_mean
from cxlib.actions.contacts import (classify_avoidable_contacts, flag_agent_contacts, link_journeys,
                                    measure_self_service, summarize_avoidable)
from cxlib.actions.diagnosis import RecommendationDiagnosis, diagnose_recommendations
from cxlib.actions.kpis import build_journey_kpis, format_kpi_table
from cxlib.actions.ranking import rank_actions
from cxlib.actions.value import estimate_cost_to_serve, summarize_unprofitable

__all__ = ["RecommendationDiagnosis", "build_journey_kpis", "classify_avoidable_contacts", "count_caused_repeats",
           "diagnose_recommendations", "estimate_cost_to_serve", "flag_agent_contacts", "format_kpi_table",
           "link_journeys", "measure_self_service", "rank_actions", "score_agents", "shrink_toward_mean",
           "summarize_avoidable", "summarize_unprofitable"]
