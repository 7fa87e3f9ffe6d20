"""Client configuration: ``data/<client>/client.yml``, validated against a schema.

Every key is documented by its ``Field(description=...)``; ``describe_config_keys()``
renders that documentation (the README's key reference is generated from it).
Unknown keys, typos included, are errors that name the key and suggest the
nearest valid one. Duplicate keys in the YAML are errors too.
"""
from __future__ import annotations

import difflib
import re

from datetime import date
from pathlib import Path
from typing import Any, Literal, Union
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from cxlib.core.schema import BUILTIN_SCALES, CHANNELS, SURVEY_LEVELS, TABLES, canonical_names

DEFAULT_SEED = 42   # every random draw (bootstrap, demo data) starts here unless a run says otherwise

Scalar = Union[str, int, float, bool, None]



PARSE_DIRECTIVES = set("YymdHIMSfpzZbBaAjUWGVuw%")
"""strptime directives that pandas parses ('%s', '%Q', '%c' and the like are refused)."""

class ConfigError(ValueError):
    """The client configuration is invalid. The message names the file and the key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WideGroup(_Strict):
    """Rating columns of a wide survey export (one row per respondent), melted to long form."""

    columns: Union[list[str], dict[str, str]] = Field(
        description="Raw rating columns. A list uses each column name as the subject; "
        "a mapping gives {raw column: subject}.")
    level: Literal["touchpoint", "journey", "relationship"] = Field(
        description="Survey level of these ratings.")
    metric: str = Field(description="Metric of these ratings: nps, csat, ces, satisfied or a configured scale.")
    values: dict[str, float] = Field(
        default_factory=dict,
        description="Recode raw answers to scores, e.g. {satisfied: 1, 'neutral or dissatisfied': 0}.")
    missing: list[Scalar] = Field(
        default_factory=list, description="Raw answers that mean 'not rated', e.g. [0]. They load as null.")

    def subjects(self) -> dict[str, str | None]:
        cols = self.columns if isinstance(self.columns, dict) else {c: c for c in self.columns}
        if self.level == "relationship":
            return {raw: None for raw in cols}
        return dict(cols)


class Source(_Strict):
    """One raw file feeding a canonical table."""

    path: str = Field(description="File path, relative to the client's folder (absolute paths allowed). With "
                      "engine: spark an event source may also be a Parquet folder, an object-store URI "
                      "(s3://, abfss://, gs://) or, with format: table, a table name in the Spark catalogue.")
    format: Literal["csv", "parquet", "excel", "table"] | None = Field(
        default=None, description="File format; inferred from the extension (.csv, .csv.gz, .parquet, .xlsx) when omitted. "
        "table: path names a table in the Spark catalogue (events only, engine: spark).")
    delimiter: str | None = Field(default=None, description="CSV field delimiter; default ','.")
    encoding: str = Field(default="utf-8-sig", description="Text encoding of a CSV (utf-8-sig also strips a byte-order mark).")
    decimal: str = Field(default=".", description="Decimal separator of numbers in a CSV, e.g. ','.")
    thousands: str | None = Field(default=None, description="Thousands separator of numbers in a CSV.")
    sheet: Union[str, int, None] = Field(default=None, description="Excel sheet name or index; required when the workbook has several sheets.")
    na_values: list[str] = Field(default_factory=list, description="Extra raw strings that mean missing, e.g. ['n/a', '-'].")
    columns: dict[str, Union[str, list[str]]] = Field(
        default_factory=dict,
        description="Column mapping {raw name: canonical name}. A list maps one raw column to several "
        "canonical columns (e.g. a ticket id used as both case_id and customer_id). For customers, "
        "unmapped raw columns are kept as attributes.")
    values: dict[str, dict[str, Scalar]] = Field(
        default_factory=dict,
        description="Value mapping per canonical column, e.g. {channel: {Phone: call}, churned: {Yes: true}}. "
        "Matching ignores case and surrounding spaces.")
    missing: dict[str, list[Scalar]] = Field(
        default_factory=dict, description="Raw values that mean missing per canonical column, e.g. {score: [0]}.")
    formats: dict[str, str] = Field(
        default_factory=dict, description="strftime format per date/timestamp column, e.g. {signup_date: '%d-%m-%Y'}; default ISO 8601.")
    timezone: str | None = Field(
        default=None, description="Time zone of naive timestamps in this file; defaults to the client's timezone.")
    constants: dict[str, Scalar] = Field(
        default_factory=dict, description="Canonical columns set to one value for every row, e.g. {level: relationship}.")
    combine: dict[str, list[str]] = Field(
        default_factory=dict, description="Canonical columns built from several raw columns joined by a space (missing "
        "parts left out), e.g. {timestamp: [Date, Time]} or {touchpoint: [Activity, Lifecycle]}.")
    reason_rules: dict[str, str] = Field(
        default_factory=dict, description="Contact reasons grouped from free text: {group: regular expression}, tried "
        "in order (case ignored) on the mapped contact_reason; the first match names the group, text that matches "
        "none becomes 'other' and its share is reported, e.g. {billing: 'bill|invoice|charge', moving: 'move|address'}.")
    keep: dict[str, list[Scalar]] = Field(
        default_factory=dict, description="Row filter: only rows whose raw column holds one of the values are read "
        "(case and surrounding spaces ignored), e.g. {Status: [Closed]} when only closed tickets carry CSAT. The "
        "other rows are counted as filtered in the row accounting, not quarantined.")
    duplicates: Literal["quarantine", "keep"] = Field(
        default="quarantine",
        description="Identical rows: 'quarantine' keeps the first and quarantines the rest; 'keep' loads them all, "
        "for event logs without event ids where the same activity can be logged twice in one second.")
    wide: list[WideGroup] | None = Field(
        default=None, description="For a wide survey export: the rating columns to melt into one row per rating.")

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v):
        return _check_timezone(v) if v is not None else v

    @field_validator("formats")
    @classmethod
    def _formats(cls, v):
        for col, fmt in v.items():
            bad = [d for d in re.findall(r"%.", fmt) if d[1] not in PARSE_DIRECTIVES]
            if bad or fmt.endswith("%") or "%" not in fmt:
                raise ValueError(f"formats.{col}: {fmt!r} is not a date format a reader can parse"
                                 + (f" (unknown directive {bad[0]})" if bad else "")
                                 + "; use strptime directives such as '%d-%m-%Y %H:%M'")
        return v

    @field_validator("reason_rules")
    @classmethod
    def _patterns(cls, v):
        for group, pattern in v.items():
            try:
                re.compile(pattern)
            except re.error as err:
                raise ValueError(f"reason_rules.{group}: {pattern!r} is not a valid regular expression ({err})")
        return v

    def resolved_format(self) -> str:
        if self.format:
            return self.format
        name = self.path.lower()
        for suffix, fmt in ((".csv", "csv"), (".csv.gz", "csv"), (".tsv", "csv"), (".txt", "csv"),
                            (".gz", "csv"), (".parquet", "parquet"), (".pq", "parquet"),
                            (".xlsx", "excel"), (".xlsm", "excel"), (".xls", "excel")):
            if name.endswith(suffix):
                return fmt
        raise ConfigError(f"cannot infer the format of {self.path!r}; set 'format' to csv, parquet or excel")


class Tables(_Strict):
    customers: list[Source] | None = Field(default=None, description="Sources of the customers table.")
    identities: list[Source] | None = Field(
        default=None, description="Sources of the identities table: secondary ids (phone, email hash) mapped to "
        "customer ids, used to stitch events and surveys that carry a secondary id.")
    events: list[Source] | None = Field(default=None, description="Sources of the events table.")
    surveys: list[Source] | None = Field(default=None, description="Sources of the surveys table.")
    staff: list[Source] | None = Field(
        default=None, description="Sources of the staff table: a staff pulse survey of barriers (department, "
        "statement, agreement score), set beside the journeys that break in 05_management.")


class Scale(_Strict):
    min: float = Field(description="Lowest valid score.")
    max: float = Field(description="Highest valid score.")

    @model_validator(mode="after")
    def _order(self):
        if self.min >= self.max:
            raise ValueError(f"min ({self.min}) must be below max ({self.max})")
        return self


class JourneyDefinition(_Strict):
    start: list[str] = Field(description="Touchpoints that start the journey.")
    end: list[str] = Field(description="Touchpoints that complete the journey.")
    touchpoints: list[str] = Field(default_factory=list, description="Other touchpoints that belong to it.")
    max_duration_days: float = Field(default=90, gt=0, description="Longest a journey instance may run.")
    owner: str | None = Field(default=None, description="Owning department; default: the department with most touchpoints.")
    description: str | None = Field(default=None, description="One line for the report.")


class DriverSettings(_Strict):
    outcome_level: Literal["touchpoint", "journey", "relationship"] = Field(
        default="relationship", description="Survey level of the outcome the drivers explain.")
    outcome_metric: str = Field(default="nps", description="Metric of the outcome, e.g. nps, csat or satisfied.")
    driver_levels: list[Literal["touchpoint", "journey"]] = Field(
        default_factory=lambda: ["journey", "touchpoint"],
        description="Survey levels whose ratings are the drivers (each subject one driver).")
    segments: list[str] = Field(
        default_factory=list, description="Customer columns to compare driver rankings across, e.g. [segment].")
    missing: Literal["pairwise", "listwise", "mean"] = Field(
        default="pairwise", description="How 'not rated' is handled: pairwise-complete correlations (ratings skipped at "
        "random), listwise deletion, or mean (not applicable, e.g. a journey not experienced, adds nothing).")
    n_boot: int = Field(default=200, ge=0, description="Bootstrap resamples for the intervals.")
    min_rated: int = Field(default=30, ge=1, description="Drivers rated by fewer respondents are left out.")
    operational: list[str] = Field(
        default_factory=list, description="Customer columns that are operational facts (a delay, a wait, a handle "
        "time, first-contact resolution, a class) used as drivers beside the ratings: numeric as they are, "
        "categorical as one 0/1 driver per level. They get importance with intervals but are never 'fix first'.")


class Scenario(_Strict):
    """One improvement scenario for the money section of 03_drivers."""

    journey: str = Field(description="Journey type the scenario improves.")
    wrong_share_to: float | None = Field(
        default=None, ge=0, le=1, description="Target share of journeys that go wrong (failed step, rework or drop-out).")
    score_change: float | None = Field(default=None, description="Points added to the journey score.")

    @model_validator(mode="after")
    def _one(self):
        if (self.wrong_share_to is None) == (self.score_change is None):
            raise ValueError("give exactly one of wrong_share_to and score_change")
        return self


class ChurnSettings(_Strict):
    attributes: list[str] | None = Field(
        default=None, description="Customer columns used as churn features; default: every customer column except "
        "keys, churn columns and signup date.")
    exclude: list[str] = Field(default_factory=list, description="Customer columns never used as churn features.")
    actionable: list[str] = Field(
        default_factory=list, description="Customer columns the client can act on (e.g. contract type): their "
        "levels are priced as churn drivers. Other customer columns are controls: in the model, never priced.")
    horizon_days: int | None = Field(
        default=None, gt=0, description="Landmark design: churn within this many days after each landmark is the "
        "outcome; default churn_window_days.")
    lookback_days: int | None = Field(
        default=None, gt=0, description="Landmark design: journeys ending this many days before a landmark are its "
        "features; default the horizon.")
    n_boot: int = Field(default=100, ge=0, description="Bootstrap refits for the odds-ratio and money intervals.")
    reason_categories: dict[str, str] = Field(
        default_factory=dict, description="Raw churn reason -> benchmark category (Died, Moved, Other relationships, "
        "Competition, Product dissatisfaction, Staff attitude). Unmapped reasons keep their own name.")
    scenarios: list[Scenario] = Field(
        default_factory=list, description="Improvement scenarios to price; default: cut the went-wrong share of "
        "each journey type by recommendations.fix_share, and +1 point on each journey score that is a driver.")


class ContactRule(_Strict):
    """An avoidable-contact rule for what the data cannot show by itself."""

    reason: str = Field(description="Contact reason the rule applies to.")
    cause: str = Field(default="failure_demand", description="Avoidable cause to record, e.g. failure_demand or repeat.")
    touchpoint: str | None = Field(default=None, description="Only contacts at this touchpoint.")
    journey: str | None = Field(default=None, description="Only contacts within journeys of this type.")
    root_cause: str | None = Field(default=None, description="Root cause to record; default the reason.")


class ContactSettings(_Strict):
    failure_outcomes: list[str] = Field(
        default_factory=lambda: ["failed", "incorrect"],
        description="Outcomes that mark a failure; agent contacts within the repeat window after one are failure demand.")
    unresolved_outcomes: list[str] = Field(
        default_factory=lambda: ["unresolved"],
        description="Outcomes of an agent contact that leave the reason open; the same reason again within the "
        "repeat window is a repeat.")
    failure_touchpoints: list[str] = Field(
        default_factory=list, description="Touchpoints that are failures in themselves (e.g. 'Technician no-show', "
        "'Bill reissued'), besides failure outcomes: the step fails and agent contacts after it are failure demand.")
    repeat_rule: Literal["unresolved", "same_reason"] = Field(
        default="unresolved", description="When the same contact reason again within the repeat window is a repeat: "
        "'unresolved' (after an agent contact whose outcome is in unresolved_outcomes) or 'same_reason' (after any "
        "agent contact about it, for extracts without outcomes).")
    status_pattern: str = Field(
        default="status|where is|chasing|progress",
        description="Regular expression (case-insensitive) on touchpoint or reason that marks status chasing.")
    rules: list[ContactRule] = Field(default_factory=list, description="Extra avoidable-contact rules per reason.")
    containment_days: float = Field(
        default=3, gt=0, description="A self-service attempt is contained when no agent contact about the same "
        "reason follows within this many days.")
    min_agent_contacts: int = Field(default=30, ge=1, description="Agents with fewer contacts are not scored.")


class RecommendationSettings(_Strict):
    fix_share: float = Field(
        default=0.5, gt=0, le=1, description="The one assumption behind priced actions: the share of a problem a fix "
        "removes (the went-wrong journeys of a journey fix, avoidable contacts, agent gaps, cost-to-serve gaps, and the "
        "agent contacts that move to self-service). Values resting on it are labelled as assumed.")
    fix_share_range: tuple[float, float] = Field(
        default=(0.25, 0.75), description="The plausible range of fix_share; an assumed value's interval is widened to "
        "carry it (its low end at the range's low end, its high end at the range's high end).")
    gross_margin: float | None = Field(
        default=None, gt=0, le=1, description="Share of revenue that is margin. When set, revenue kept is valued at "
        "its margin, on the same scale as cost saved; when not, the action list says revenue and cost savings differ.")
    kpi_targets: dict[str, dict[str, float]] = Field(
        default_factory=dict, description="Benchmark targets per journey type and KPI (completion, days_to_complete, "
        "first_time_right, handoffs, repeat_contacts, journey_score, churn_in_window); default: the best segment.")
    top: int = Field(default=5, ge=1, description="Number of priorities the executive summary shows.")

    @model_validator(mode="after")
    def _range_holds_the_share(self):
        lo, hi = self.fix_share_range
        if not 0 < lo <= self.fix_share <= hi <= 1:
            raise ValueError(f"fix_share_range {list(self.fix_share_range)} must hold fix_share {self.fix_share} "
                             "and lie within (0, 1]")
        return self


MEASURES = {
    "nps": "relationship NPS (points)",
    "csat_share": "share of CSAT ratings that are satisfied",
    "churn_rate": "share of customers who left in the period",
    "journey_dissatisfied_share": "share of a journey's ratings that are not satisfied (journey)",
    "journey_completion_rate": "share of a journey's instances that reach an end touchpoint (journey)",
    "churn_after_journey": "share of a journey's customers who leave within churn_window_days after it (journey)",
    "driver_share": "a driver's share of what explains the survey outcome (driver)",
    "avoidable_share": "share of agent contacts that were avoidable",
    "unprofitable_share": "share of customers whose cost to serve exceeds their revenue",
    "churn_reason_share": "share of churners giving a reason category (reason)",
}
"""The estimates a hypothesis or a benchmark can name, and what each is (with its argument)."""

_MEASURE_ARGUMENT = {"journey_dissatisfied_share": "journey", "journey_completion_rate": "journey",
                     "churn_after_journey": "journey", "driver_share": "driver", "churn_reason_share": "reason"}


class _OnMeasure(_Strict):
    measure: str = Field(description=f"What is measured: one of {', '.join(MEASURES)}.")
    journey: str | None = Field(default=None, description="The journey type, for the journey measures.")
    driver: str | None = Field(default=None, description="The driver (as the driver table names it, e.g. 'journey: "
                               "new_install'), for driver_share.")
    reason: str | None = Field(default=None, description="The churn reason category, for churn_reason_share.")

    @model_validator(mode="after")
    def _known(self):
        if self.measure not in MEASURES:
            close = difflib.get_close_matches(self.measure, list(MEASURES), n=1)
            raise ValueError(f"unknown measure {self.measure!r}" + (f" (did you mean {close[0]!r}?)" if close else "")
                             + f"; measures are {', '.join(MEASURES)}")
        need = _MEASURE_ARGUMENT.get(self.measure)
        if need and not getattr(self, need):
            raise ValueError(f"measure {self.measure} needs '{need}'")
        return self


class Hypothesis(_OnMeasure):
    id: str = Field(description="A short name for the belief, e.g. install_half_unhappy.")
    claim: str = Field(description="The belief in the executives' words, e.g. 'Half of our install customers are "
                       "unhappy'.")
    believed: float = Field(description="The value believed, on the measure's scale (shares 0-1, NPS in points).")
    direction: Literal["about", "at_least", "at_most"] = Field(
        default="about", description="'about': the value is believed to be near this (within tolerance); 'at_least' / "
        "'at_most': a bound.")
    tolerance: float | None = Field(default=None, ge=0, description="How near counts as 'about' (default 0.05 for "
                                    "shares, 5 points for NPS).")


class Benchmark(_OnMeasure):
    value: float = Field(description="The benchmark figure, on the measure's scale (shares 0-1, NPS in points).")
    lo: float | None = Field(default=None, description="The benchmark's own interval or range, low end (optional).")
    hi: float | None = Field(default=None, description="The benchmark's own interval or range, high end (optional).")
    source: str = Field(description="Where the figure comes from (industry study, competitor, regulator).")
    year: int | None = Field(default=None, description="The year the figure describes.")


_Day = date   # a field named 'date' below would shadow the type


class Intervention(_Strict):
    journey: str = Field(description="The journey type the change was made to, e.g. move.")
    date: _Day = Field(description="The day the change took effect; journeys started from then on count as after it.")
    description: str = Field(default="", description="What was changed, in the owner's words, e.g. 'sales schedules "
                             "the installation on the call'.")


class TrackingSettings(_Strict):
    period: Literal["week", "month"] = Field(default="week", description="The period of the KPI series: week or month.")
    min_periods: int = Field(default=4, ge=2, description="A change is measured only with at least this many periods "
                             "of journeys before and after it.")


class CallbackSettings(_Strict):
    recent_days: int = Field(default=30, gt=0, description="Detractors who answered within this many days before "
                             "the last survey response are on the call-back list.")
    top: int = Field(default=50, gt=0, description="At most this many customers on the call-back list, the most at "
                     "stake first.")


class Analysis(_Strict):
    journeys: dict[str, JourneyDefinition] = Field(default_factory=dict, description="Journey definitions by type name.")
    unclassified_gap_days: float = Field(default=14, gt=0, description="Inactivity gap that splits unclassified episodes.")
    repeat_window_days: float = Field(default=7, gt=0, description="Same contact reason within this window is a repeat contact.")
    churn_window_days: int = Field(default=90, gt=0, description="Churn within this many days after a journey counts against it.")
    green_threshold: dict[str, float] = Field(
        default_factory=lambda: {"csat": 4, "nps": 7, "ces": 5, "satisfied": 1},
        description="Per metric, the score at or above which a rating counts as green.")
    watermelon_touchpoint_green: float = Field(
        default=0.75, gt=0, le=1,
        description="A journey type's touchpoints count as green when the lower 95% bound of their green share is at least this.")
    watermelon_gap: float = Field(
        default=0.25, gt=0, le=1,
        description="A journey type with green touchpoints is a watermelon when its journey-rating green share is at "
        "least this far below the touchpoint green share (0.25: 25 points), the difference's 95% interval above zero.")
    drivers: DriverSettings = Field(default_factory=DriverSettings, description="Key-driver analysis settings.")
    churn: ChurnSettings = Field(default_factory=ChurnSettings, description="Churn model, churn reasons and scenarios.")
    cost_per_contact: dict[str, float] = Field(default_factory=dict, description="Cost per contact by canonical channel.")
    service_cost_monthly: float = Field(default=0, ge=0, description="Fixed cost to serve one customer per month, besides contacts.")
    revenue_horizon_months: int = Field(default=12, gt=0, description="Horizon for revenue at risk.")
    min_annualise_days: float = Field(
        default=56, gt=0, description="Counts and money are turned into figures a year only when the data cover at "
        "least this many days (default 8 weeks); below it they are stated over the days observed.")
    contacts: ContactSettings = Field(default_factory=ContactSettings,
                                      description="Avoidable contacts, self-service fit and agent scoring.")
    recommendations: RecommendationSettings = Field(default_factory=RecommendationSettings,
                                                    description="Action pricing, KPI targets and the summary.")
    hypotheses: list[Hypothesis] = Field(
        default_factory=list, description="Beliefs to test against the data (05_management): each a claim on a "
        "measure with the value believed; the report says confirmed, refuted, not settled or not testable.")
    benchmarks: list[Benchmark] = Field(
        default_factory=list, description="Industry or competitor figures to set beside the client's own estimates "
        "(05_management).")
    interventions: list[Intervention] = Field(
        default_factory=list, description="Changes made to a journey, to test whether they worked (05_management): "
        "each journey's KPIs before and after the date, allowing for the trend and set against the journeys the "
        "change did not touch.")
    tracking: TrackingSettings = Field(default_factory=TrackingSettings,
                                       description="The KPI series over time and the before/after tests.")
    callbacks: CallbackSettings = Field(default_factory=CallbackSettings,
                                        description="The call-back list (05_management; needs privacy.callback_consent).")
    benchmarks_file: str | None = Field(
        default=None, description="A CSV of further benchmarks, relative to the client folder: columns measure, value, "
        "source and optionally year, lo, hi, journey, driver, reason.")

    @field_validator("cost_per_contact")
    @classmethod
    def _channels(cls, v):
        bad = [k for k in v if k not in CHANNELS]
        if bad:
            raise ValueError(f"unknown channel(s) {bad}; channels are {list(CHANNELS)}")
        return v


PERSONAL_COLUMNS = ["name", "first_name", "last_name", "full_name", "customer_name", "email", "e_mail",
                    "email_address", "phone", "phone_number", "mobile", "telephone", "address", "street",
                    "postcode", "zip", "zip_code", "date_of_birth", "birth_date", "iban"]


class CheckSettings(_Strict):
    max_handle_time_hours: float = Field(
        default=8.0, gt=0, description="A handle time above this many hours is implausible and quarantined "
        "(implausible_value).")


class SparkSettings(_Strict):
    master: str = Field(default="local[2]", description="Spark master for engine: spark, e.g. local[4], yarn or "
                        "spark://host:7077 (ignored when remote is set).")
    remote: str | None = Field(default=None, description="A Spark Connect URL (sc://host:15002) to run on a "
                               "cluster the client already has, e.g. Databricks; overrides master.")
    conf: dict[str, str] = Field(default_factory=dict, description="Extra Spark settings, e.g. "
                                 "{spark.executor.memory: 8g}.")


class PrivacySettings(_Strict):
    show_identifiers: bool = Field(
        default=False, description="Show raw customer ids in the report (e.g. in quarantine examples). "
        "Off by default: ids are replaced by stable pseudonyms.")
    comments: Literal["themes", "redacted", "verbatim"] = Field(
        default="themes", description="How free-text comments appear: 'themes' (counts per theme only), "
        "'redacted' (themes plus short excerpts with e-mail addresses, phone numbers and ids masked) or "
        "'verbatim' (excerpts as written; only with the client's consent).")
    personal_columns: list[str] = Field(
        default_factory=lambda: list(PERSONAL_COLUMNS),
        description="Customer columns that identify a person (matched ignoring case, spaces and '-'). "
        "They are dropped at ingest: the diagnosis never needs them.")
    callback_consent: str | None = Field(
        default=None, description="The customer column that records consent to be contacted (yes, true, 1, y, "
        "opt-in or consent allow a call). With it, 05_management writes callbacks.csv: recent detractors who agreed, "
        "with their ids, for leaders to call; the report itself shows counts only. Never a churn feature.")
    comment_themes: dict[str, list[str]] = Field(
        default_factory=dict, description="Comment themes as {theme: [keywords]} (case-insensitive word "
        "starts, e.g. {billing: [bill, invoice, charge]}); default: a built-in telecom/service set.")


class ClientConfig(_Strict):
    name: str = Field(description="Display name of the client, used in report titles.")
    currency: str = Field(default="EUR", min_length=1, max_length=5, description="Currency code or symbol for money figures.")
    timezone: str = Field(default="UTC", description="IANA time zone of the client's naive timestamps, e.g. Europe/Amsterdam.")
    as_of: date | None = Field(default=None, description="Extract date; events after it are quarantined as future. Default: the run date.")
    tables: Tables = Field(description="Source files per canonical table. A client may have only some tables.")
    external_data: list[str] = Field(
        default_factory=list, description="Folders outside the client's folder that its sources may read, relative "
        "to the client folder or absolute, e.g. ['../../../shared/data']. A source anywhere else outside the "
        "client folder is refused.")
    scales: dict[str, Scale] = Field(default_factory=dict, description="Extra survey metrics and their score ranges.")
    analysis: Analysis = Field(default_factory=Analysis, description="Settings the analysis notebooks read.")
    privacy: PrivacySettings = Field(default_factory=PrivacySettings,
                                     description="What personal data may appear in the report.")
    checks: CheckSettings = Field(default_factory=CheckSettings,
                                  description="Bounds beyond which an ingested value is implausible.")
    engine: Literal["duckdb", "spark"] = Field(
        default="duckdb", description="Where the event-level work runs (journey reconstruction and its statistics, "
        "the contact cascade's queries, the touchpoint inventory): duckdb (embedded, one machine; the journeys of a log that fits in "
        "memory are rebuilt in compiled passes, the same tables several times faster) or spark (the same SQL on a Spark cluster, "
        "for logs beyond one machine). make report ENGINE=spark overrides it.")
    spark: SparkSettings = Field(default_factory=SparkSettings, description="How to reach Spark when engine is spark.")
    display_names: dict[str, str] = Field(
        default_factory=dict, description="Names the report shows instead of raw values: journey types, drivers, "
        "departments, contact reasons or codes (e.g. {new_install: New installation, 'Value 1': Billing}). Without "
        "one, a raw name is shown in words (underscores as spaces).")

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v):
        return _check_timezone(v)

    @model_validator(mode="after")
    def _semantics(self):
        problems = []
        scales = self.all_scales()
        for table in TABLES:
            for i, src in enumerate(getattr(self.tables, table) or []):
                where = f"tables.{table}[{i}]"
                canon = set(canonical_names(table))
                for raw, target in src.columns.items():
                    targets = target if isinstance(target, list) else [target]
                    for t in targets:
                        if table != "customers" and t not in canon:
                            problems.append(f"{where}.columns.{raw}: {t!r} is not a column of {table}; "
                                            f"valid: {sorted(canon)}{_suggest(t, canon)}")
                for key in ("values", "missing", "formats", "constants"):
                    for col in getattr(src, key):
                        if col not in canon and table != "customers":
                            problems.append(f"{where}.{key}.{col}: not a column of {table}{_suggest(col, canon)}")
                if src.wide is not None:
                    if table != "surveys":
                        problems.append(f"{where}.wide: only survey sources can be wide")
                    for j, g in enumerate(src.wide):
                        if g.metric not in scales:
                            problems.append(f"{where}.wide[{j}].metric: unknown metric {g.metric!r}; "
                                            f"known: {sorted(scales)}; add it under 'scales'")
                metric = src.constants.get("metric")
                if metric is not None and metric not in scales:
                    problems.append(f"{where}.constants.metric: unknown metric {metric!r}; known: {sorted(scales)}")
                level = src.constants.get("level")
                if level is not None and level not in SURVEY_LEVELS:
                    problems.append(f"{where}.constants.level: {level!r} is not one of {list(SURVEY_LEVELS)}")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def all_scales(self) -> dict[str, tuple[float, float]]:
        """Built-in plus configured score ranges by metric."""
        out = dict(BUILTIN_SCALES)
        out.update({k: (s.min, s.max) for k, s in self.scales.items()})
        return out

    def sources(self, table: str) -> list[Source]:
        return list(getattr(self.tables, table) or [])

    def undated_tables(self) -> list[str]:
        """Tables whose every source sets its timestamp as a constant (an export without dates):
        their timestamps say nothing about the period the data cover."""
        return [t for t in ("events", "surveys") if self.sources(t)
                and all("timestamp" in src.constants for src in self.sources(t))]


def _check_timezone(v: str) -> str:
    try:
        ZoneInfo(v)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {v!r}; use an IANA name such as 'Europe/Amsterdam' or 'UTC'")
    return v


def _suggest(word: str, options) -> str:
    close = difflib.get_close_matches(str(word), [str(o) for o in options], n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


MAX_EXPANDED_NODES = 100_000
"""A config expands to at most this many YAML nodes once its aliases are followed: a real
client.yml has a few hundred; nested aliases (a 'billion laughs' bomb) reach billions."""


class _UniqueKeyLoader(yaml.SafeLoader):
    """A SafeLoader that refuses duplicate mapping keys instead of silently keeping the last,
    and a document whose aliases expand beyond :data:`MAX_EXPANDED_NODES` nodes."""

    def construct_document(self, node):
        _check_expansion(node)
        return super().construct_document(node)


def _check_expansion(root) -> None:
    """Count the nodes the document would have with every alias followed, sharing the count
    of a repeated node (linear in the document, however deep the nesting), and refuse it when
    the count passes the budget."""
    sizes: dict[int, int] = {}

    def size(node) -> int:
        key = id(node)
        if key not in sizes:
            sizes[key] = 0          # a recursive alias counts once, not forever
            if isinstance(node, yaml.MappingNode):
                total = 1 + sum(size(k) + size(v) for k, v in node.value)
            elif isinstance(node, yaml.SequenceNode):
                total = 1 + sum(size(v) for v in node.value)
            else:
                total = 1
            sizes[key] = min(total, MAX_EXPANDED_NODES + 1)
        return sizes[key]

    if size(root) > MAX_EXPANDED_NODES:
        raise ConfigError(f"YAML aliases expand the configuration beyond {MAX_EXPANDED_NODES:,} values; a client "
                          "configuration needs no nested aliases (anchors '&' and aliases '*')")


def _construct_mapping(loader, node, deep=False):
    seen = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise ConfigError(f"duplicate key {key!r} at line {key_node.start_mark.line + 1} "
                              f"(first at line {seen[key] + 1})")
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _model_at(loc: tuple) -> type[BaseModel] | None:
    """The pydantic model that owns the key at ``loc`` (for 'did you mean' suggestions)."""
    model: Any = ClientConfig
    for part in loc[:-1]:
        if isinstance(part, int) or model is None:
            continue
        field = model.model_fields.get(part) if isinstance(model, type) and issubclass(model, BaseModel) else None
        if field is None:
            continue  # a key of a dict of models (e.g. journeys.<name>): the model stays
        model = _inner_model(field.annotation)
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _inner_model(annotation):
    from typing import get_args
    stack = [annotation]
    while stack:
        a = stack.pop()
        if isinstance(a, type) and issubclass(a, BaseModel):
            return a
        stack.extend(get_args(a))
    return None


def _format_loc(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def format_validation_error(err: ValidationError, source: str) -> str:
    lines = [f"{source}: invalid client configuration:"]
    for e in err.errors():
        loc = tuple(p for p in e["loc"] if p not in ("function-after[_semantics(), ClientConfig]",))
        key = _format_loc(loc) or "(top level)"
        if e["type"] == "extra_forbidden":
            owner = _model_at(loc)
            allowed = sorted(owner.model_fields) if owner else []
            hint = _suggest(loc[-1], allowed)
            lines.append(f"  - {key}: unknown key{hint}. Allowed here: {', '.join(allowed)}")
        elif e["type"] == "missing":
            lines.append(f"  - {key}: required key is missing")
        else:
            msg = e["msg"].removeprefix("Value error, ")
            lines.append(f"  - {key}: {msg} (got {e.get('input')!r})" if e["type"] != "value_error"
                         else f"  - {key}: {msg}")
    return "\n".join(lines)


def parse_config(data: Any, source: str = "<config>") -> ClientConfig:
    """Validate a config mapping (as loaded from YAML) and return a ClientConfig."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping of keys at the top level, got {type(data).__name__}")
    try:
        return ClientConfig.model_validate(data)
    except ValidationError as err:
        raise ConfigError(format_validation_error(err, source)) from None


def load_config(path: str | Path) -> ClientConfig:
    """Read and validate ``client.yml``. Raises ConfigError naming the file and key."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: client configuration not found")
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from None
    return parse_config(data, str(path))


def describe_config_keys() -> str:
    """Markdown reference of every config key, generated from the schema."""
    lines: list[str] = []

    def walk(model: type[BaseModel], prefix: str):
        for name, field in model.model_fields.items():
            key = f"{prefix}{name}"
            req = "required" if field.is_required() else "optional"
            lines.append(f"- `{key}` ({req}): {field.description or ''}")
            inner = _inner_model(field.annotation)
            if inner is not None and model is not Tables:
                suffix = {"wide": "[].", "scenarios": "[].", "rules": "[].", "journeys": ".<type>.", "scales": ".<metric>."}.get(name, ".")
                walk(inner, key + suffix)
        if model is Tables:  # the three tables share one source schema
            walk(Source, f"{prefix}<table>[].")

    walk(ClientConfig, "")
    return "\n".join(lines)
