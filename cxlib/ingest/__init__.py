"""Ingest: read a client's files, map them to the canonical tables, coerce and validate every
value, and account for every row (loaded or quarantined with a reason).

Modules, in the order a row meets them: ``contract`` (what a row carries, the quarantine
reasons, :class:`IngestError`), ``read``, ``mapping``, ``coerce``, ``validate``, and
``pipeline`` (:func:`ingest_client`, :func:`write_ingest`, :func:`read_tables`, :func:`open_table`); ``profile``
describes what was loaded.
"""
from cxlib.ingest.coerce import parse_bools, parse_dates, parse_numbers, parse_timestamps
from cxlib.ingest.contract import REASONS, IngestError
from cxlib.ingest.pipeline import (IngestResult, ingest_client, list_quarantine_examples, open_table, read_tables,
                                   write_ingest)

__all__ = ["REASONS", "IngestError", "IngestResult", "ingest_client", "list_quarantine_examples", "open_table",
           "parse_bools", "parse_dates", "parse_numbers", "parse_timestamps", "read_tables", "write_ingest"]
