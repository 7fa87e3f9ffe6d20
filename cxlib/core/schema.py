"""The data contract: the canonical tables every client's data is mapped into.

Each table is a tuple of :class:`Column`. ``required`` columns must come from the
source (or a configured constant); optional ones are added as all-null when a
source does not provide them, so later notebooks can rely on every canonical
column existing and say plainly which signals are absent.
"""
from __future__ import annotations

from dataclasses import dataclass

CHANNELS = ("call", "ivr", "web", "app", "chat", "email", "store", "field_visit", "bill", "sms", "letter", "social",
            "other")
"""Canonical channel labels. Source labels are mapped onto these in the config."""

AGENT_CHANNELS = ("call", "chat", "email", "store", "social")
EVENT_KINDS = ("contact", "notification", "work_step", "bill", "visit")
INITIATORS = ("customer", "company", "system")
"""Channels on which a person (an agent) handles the contact."""

SELF_SERVICE_CHANNELS = ("ivr", "web", "app")

SURVEY_LEVELS = ("touchpoint", "journey", "relationship")

BUILTIN_SCALES: dict[str, tuple[float, float]] = {
    "nps": (0, 10),
    "csat": (1, 5),
    "ces": (1, 7),
    "satisfied": (0, 1),
    "agreement": (1, 5),
}
"""Score range per survey metric. A client config may add named scales."""


@dataclass(frozen=True)
class Column:
    name: str
    kind: str  # one of: string, timestamp, date, float, bool
    required: bool
    doc: str


TABLES: dict[str, tuple[Column, ...]] = {
    "customers": (
        Column("customer_id", "string", True, "Unique customer key."),
        Column("segment", "string", False, "Customer segment, e.g. residential / business."),
        Column("signup_date", "date", False, "Date the customer relationship started."),
        Column("monthly_revenue", "float", False, "Revenue per month in the client's currency, >= 0."),
        Column("lifetime_value", "float", False, "What the customer is worth (e.g. a CLV score) in the client's "
               "currency, >= 0. When present, driver shares are also shown weighted by it; else by monthly "
               "revenue."),
        Column("churned", "bool", False, "True when the customer has left."),
        Column("churn_date", "date", False, "Date the customer left; null while active."),
        Column("churn_reason", "string", False, "Stated reason for leaving, nullable."),
    ),
    "identities": (
        Column("secondary_id", "string", True,
               "Another identifier sources use for a customer: phone number, email hash, device id."),
        Column("customer_id", "string", True, "The customer that identifier belongs to."),
        Column("id_type", "string", False, "Kind of identifier, e.g. phone or email_hash."),
    ),
    "events": (
        Column("customer_id", "string", True, "Customer the interaction belongs to (or a secondary id "
               "listed in the identities table)."),
        Column("timestamp", "timestamp", True, "When it happened; stored tz-aware in UTC."),
        Column("channel", "string", True, f"One of {', '.join(CHANNELS)}."),
        Column("touchpoint", "string", True, "The activity's name, e.g. 'Technician visit'."),
        Column("department", "string", True, "Department that owns the touchpoint."),
        Column("contact_reason", "string", False, "Why the customer got in touch."),
        Column("outcome", "string", False, "resolved, unresolved, transferred, failed, ..."),
        Column("agent_id", "string", False, "Agent who handled the contact."),
        Column("handle_time_s", "float", False, "Handle time in seconds (hh:mm:ss accepted)."),
        Column("cost", "float", False, "Cost of this interaction, if the source knows it."),
        Column("case_id", "string", False, "Ticket or order that already groups events."),
        Column("kind", "string", False, f"What the event is: one of {', '.join(EVENT_KINDS)}. Only contacts "
               "can be agent contacts, repeats or avoidable; a process-mining log of work steps sets "
               "work_step. Missing: contact."),
        Column("initiated_by", "string", False, f"Who started the event: one of {', '.join(INITIATORS)}. A contact "
               "the company started (an outbound call) is not a customer's contact. Missing: customer for "
               "contacts."),
    ),
    "surveys": (
        Column("customer_id", "string", True, "Respondent's customer key."),
        Column("timestamp", "timestamp", True, "When the response was given (UTC)."),
        Column("level", "string", True, "touchpoint, journey or relationship."),
        Column("subject", "string", False, "Touchpoint or journey rated; null for relationship."),
        Column("metric", "string", True, "nps, csat, ces, satisfied or a configured scale."),
        Column("score", "float", True, "The rating; null means 'not rated'."),
        Column("comment", "string", False, "Free-text verbatim, nullable."),
    ),
    "staff": (
        Column("department", "string", True, "The respondent's department (as the events name departments)."),
        Column("barrier", "string", True, "The statement rated, worded as a barrier, e.g. 'Information from sales "
               "is incomplete'."),
        Column("score", "float", True, "Agreement with the statement on its metric's scale (agreement: 1 disagree "
               "to 5 agree); null means not answered."),
        Column("metric", "string", False, "The score's scale: agreement (1-5) when missing, or a configured scale."),
        Column("category", "string", False, "The kind of barrier: technology, rules, fear of blame, training, "
               "information from other departments, ..."),
        Column("journey", "string", False, "The journey or process the statement is about, as journey types are "
               "named (e.g. new_install)."),
        Column("role", "string", False, "The respondent's role, e.g. agent, team lead."),
        Column("respondent_id", "string", False, "An anonymous key per staff member (never a name)."),
        Column("timestamp", "timestamp", False, "When the answer was given (UTC)."),
        Column("comment", "string", False, "What stops them, in their words; shown as themes only."),
    ),
}
"""The staff table is the optional staff pulse survey: what stops staff from giving a good
experience (05_management, 'What stops staff')."""

TABLE_NAMES = tuple(TABLES)


def columns_of(table: str) -> tuple[Column, ...]:
    """Return the canonical columns of ``table``."""
    if table not in TABLES:
        raise KeyError(f"unknown table {table!r}; the tables are {', '.join(TABLE_NAMES)}")
    return TABLES[table]


def canonical_names(table: str) -> list[str]:
    return [c.name for c in columns_of(table)]


def required_names(table: str) -> list[str]:
    return [c.name for c in columns_of(table) if c.required]


# columns that identify a customer: never shown raw in a client page
ID_COLUMNS = ("customer_id", "secondary_id")
