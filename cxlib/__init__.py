"""cxlib: customer-experience diagnostics.

Journeys, not touchpoints: ingest a client's events, surveys and customer records,
reconstruct journeys, find where they break, model what drives outcomes, and cost
what to fix first.
"""
__version__ = "0.1.0"
