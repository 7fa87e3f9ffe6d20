"""The ingest contract: what every row carries (its file and line), why a row is quarantined,
and the error that stops a run."""
from __future__ import annotations

ROW = "_row"        # line of the row in its file (header = line 1)
SOURCE = "_source"  # file name the row came from
META = (SOURCE, ROW)

QUARANTINE_COLUMNS = ["table", "source", "row", "reason", "column", "value", "raw"]

# Human-readable explanation of every quarantine reason, shown in the ingest notebook.
REASONS = {
    "malformed_row": "the line could not be split into the file's columns",
    "missing_customer_id": "no customer id",
    "missing_timestamp": "no timestamp",
    "missing_touchpoint": "no touchpoint (activity) name",
    "missing_channel": "no channel",
    "missing_department": "no department",
    "missing_level": "no survey level",
    "missing_metric": "no survey metric",
    "unparsable_timestamp": "the timestamp could not be parsed",
    "unparsable_date": "a date could not be parsed",
    "unparsable_number": "a number could not be parsed (text, or not finite: inf, 1e309)",
    "implausible_value": "beyond the plausible bound in the config (checks.max_handle_time_hours)",
    "invalid_bool": "a yes/no value could not be read",
    "negative_value": "a value that cannot be negative is negative",
    "unknown_channel": "the channel is not a canonical channel; map it under values.channel",
    "unknown_kind": "the event kind is not contact, notification, work_step, bill or visit; map it under values.kind",
    "unknown_initiator": "initiated_by is not customer, company or system; map it under values.initiated_by",
    "invalid_level": "the survey level is not touchpoint, journey or relationship",
    "unknown_metric": "the survey metric is not a known scale",
    "missing_subject": "a touchpoint or journey rating without its subject",
    "unparsable_score": "the score is not a number",
    "score_out_of_range": "the score is outside its metric's scale",
    "future_timestamp": "the timestamp is after the extract date",
    "duplicate": "an exact duplicate of an earlier row",
    "duplicate_customer_id": "a second, different record for an existing customer id",
    "unknown_customer": "the customer id is not in the customers table (nor a known secondary id)",
    "ambiguous_identity": "a secondary id mapped to more than one customer",
}


class IngestError(ValueError):
    """A source cannot be ingested at all: missing file or column, unreadable file."""
