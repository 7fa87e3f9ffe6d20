"""Ingestion: read, map, coerce, validate. Every input row is loaded or quarantined.

The pipeline per canonical table:

1. :func:`read_source` reads one raw file (CSV incl. gzip, Parquet, Excel) as text.
2. :func:`map_source` renames raw columns to canonical ones, applies value mappings,
   constants and "means missing" values, and melts wide survey exports.
3. :func:`coerce_table` parses dates, timestamps (to UTC), numbers and booleans,
   remembering which raw values failed to parse.
4. :func:`validate_table` assigns each row the first reason it fails, if any, and
   splits the table into loaded rows and quarantined rows.

:func:`ingest_client` runs this for every configured table and returns an
:class:`IngestResult` whose accounting proves ``rows_in == loaded + quarantined``.
Missing, empty or undecodable files, missing required columns, columns that mostly
fail to parse and a reader that returns fewer records than the file holds raise
:class:`IngestError` with the file, the column, example rows and the fix: there is no
report without them.
"""
from __future__ import annotations

import json
import logging
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from cxlib.core.config import ClientConfig
from cxlib.core.csvio import write_csv
from cxlib.core.dates import extract_time
from cxlib.core.formatting import format_count, format_value
from cxlib.core.paths import ClientPaths
from cxlib.core.privacy import drop_personal_columns, pseudonymize
from cxlib.core.sql import is_spark_frame
from cxlib.core.schema import ID_COLUMNS, TABLE_NAMES
from cxlib.ingest.coerce import (check_date_conventions, check_parse_failures, coerce_table, measure_date_conventions,
                                 measure_parse_failures, merge_check_counts)
from cxlib.ingest.contract import IngestError, META, QUARANTINE_COLUMNS, REASONS, ROW, SOURCE
from cxlib.ingest.mapping import filter_rows, group_reasons, map_source
from cxlib.ingest.read import normalize_text, read_source_chunks
from cxlib.ingest.semantics import infer_event_semantics
from cxlib.ingest.validate import check_duplicates_and_references, find_before_signup, stitch_identities, validate_table


log = logging.getLogger(__name__)

# --------------------------------------------------------------------------- run

@dataclass
class IngestResult:
    """Loaded tables, the quarantine and the row accounting of one client."""

    tables: dict[str, pd.DataFrame]
    quarantine: pd.DataFrame
    accounting: pd.DataFrame  # one row per table x source
    absent: list[str]         # tables the client does not have
    identity: dict[str, dict] = field(default_factory=dict)  # per table: direct / stitched / unmatched rows
    notes: list[dict] = field(default_factory=list)  # loaded but noteworthy: table, check, rows, message, examples
    semantics: pd.DataFrame | None = None  # events per channel, kind and initiator, and how many were inferred

    def metrics(self) -> dict:
        """The ``ingest`` section of the report's figures."""
        out = {}
        for table in dict.fromkeys(self.accounting["table"]) if len(self.accounting) else []:
            acc = self.accounting[self.accounting["table"] == table]
            q = self.quarantine[self.quarantine["table"] == table]
            by_reason = {str(k): int(v) for k, v in q["reason"].value_counts().sort_index().items()}
            out[table] = {"rows_in": int(acc["rows_in"].sum()), "loaded": int(acc["loaded"].sum()),
                          "quarantined": int(acc["quarantined"].sum()), "by_reason": by_reason}
            if acc["filtered"].sum():
                out[table]["filtered"] = int(acc["filtered"].sum())
            if table in self.identity:
                out[table]["identity"] = self.identity[table]
            notes = {n["check"]: n["rows"] for n in self.notes if n["table"] == table}
            if notes:
                out[table]["notes"] = notes
            if table == "events" and self.semantics is not None and len(self.semantics):
                sem = self.semantics
                own = sem[(sem["kind"] == "contact") & (sem["initiated_by"] == "customer")]["events"].sum()
                out[table]["semantics"] = {"customer_contacts": int(own), "inferred": int(sem["inferred"].sum())}
        return out

    def summary(self, name: str = "The client") -> list[str]:
        """The section's findings as sentences: rows in, loaded and quarantined (every row
        accounted for), identity stitching, and the tables the client did not send."""
        m = self.metrics()
        rows_in = sum(v["rows_in"] for v in m.values())
        loaded = sum(v["loaded"] for v in m.values())
        quarantined = sum(v["quarantined"] for v in m.values())
        filtered = sum(v.get("filtered", 0) for v in m.values())
        share = lambda k: format_value(k / max(rows_in, 1), "share", digits=1)  # noqa: E731
        out = [f"**{name}** sent **{format_count(rows_in)}** rows across {len(m)} table(s). "
               f"**{format_count(loaded)}** ({share(loaded)}) were loaded and **{format_count(quarantined)}** "
               f"({share(quarantined)}) were quarantined with a reason"
               + (f"; **{format_count(filtered)}** ({share(filtered)}) were left out by the client's row filters"
                  if filtered else "") + ". Nothing was dropped silently: for every table, rows in = loaded + "
               + ("quarantined + filtered." if filtered else "quarantined.")]
        ev = self.identity.get("events")
        if ev and ev.get("stitched"):
            out.append(f"{format_count(ev['stitched'])} events were linked to their customer through a secondary id; "
                       f"the event match rate is {format_value(ev['match_rate'], 'share', digits=2)}.")
        if self.absent:
            out.append(f"**Not provided:** {', '.join(self.absent)}. The later sections say what they cannot "
                       "analyse without these tables and do the rest.")
        return out

    def identity_table(self) -> pd.DataFrame:
        """Per table: rows matched directly, through the identities map, and not at all."""
        return pd.DataFrame(self.identity).T

    def note_table(self) -> pd.DataFrame:
        """One row per data-quality note: rows that were loaded but deserve a look."""
        cols = ["table", "check", "rows", "message", "examples"]
        return pd.DataFrame([{**n, "examples": "; ".join(n["examples"])} for n in self.notes], columns=cols)

    def reason_table(self) -> pd.DataFrame:
        """Rows in = loaded + quarantined (+ filtered), per table, with one column per reason."""
        m = self.metrics()
        rows = []
        for table, v in m.items():
            rows.append({"table": table, "rows in": v["rows_in"], "loaded": v["loaded"],
                         "quarantined": v["quarantined"], **({"filtered": v["filtered"]} if "filtered" in v else {}),
                         **v["by_reason"]})
        table = pd.DataFrame(rows).set_index("table").fillna(0).astype(int) if rows else pd.DataFrame()
        filtered = table["filtered"] if "filtered" in table else 0
        if len(table) and not (table["rows in"] == table["loaded"] + table["quarantined"] + filtered).all():
            raise IngestError("row accounting does not balance: rows in != loaded + quarantined + filtered")
        return table

    def reasons(self) -> pd.DataFrame:
        """Quarantined rows per table and reason, with what the reason means."""
        r = self.quarantine.groupby(["table", "reason"]).size().rename("rows").reset_index()
        return r.assign(meaning=r["reason"].map(REASONS))


def ingest_client(config: ClientConfig, data_dir: str | Path, as_of: datetime | None = None, *,
                  engine: str = "duckdb", spark=None) -> IngestResult:
    """Ingest every configured table of a client. Customers go first so that events and
    surveys can be checked against known customer ids. ``engine='spark'`` ingests the events
    on Spark (:mod:`cxlib.ingest.engine`; ``spark``: a session or the client's SparkSettings):
    the loaded events are then a Spark DataFrame that :func:`write_ingest` writes as Parquet
    parts; the other tables (customer-level or smaller) are read by pandas. With pandas, the
    events' table-level checks (:func:`_check_table`) run on a worker thread while the surveys
    and staff, which need only the customers and identities, are read; the result is the same
    as reading the tables one after the other."""
    if engine not in ("duckdb", "spark"):
        raise ValueError(f"engine must be duckdb or spark, not {engine!r}")
    as_of_ts = extract_time(config, as_of)
    scales = config.all_scales()
    done: dict[str, _Table] = {}
    absent = []
    known = id_map = None
    later = None    # the events' table-level checks, on a worker thread while the surveys and staff are read
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-events") as pool:
        try:
            for table in TABLE_NAMES:
                sources = config.sources(table)
                if not sources:
                    if table not in ("identities", "staff"):  # optional: few clients have either
                        absent.append(table)
                    continue
                customers = done["customers"].frame if "customers" in done else None
                args = (table, sources, config, data_dir, scales, as_of_ts, known, id_map, customers)
                if engine == "spark" and table == "events":
                    done[table] = _ingest_table_on_spark(*args, spark=spark)
                elif table == "events":     # read here (a worker processes each part while the next is read)
                    read = _read_table(table, sources, config, data_dir, scales, as_of_ts)
                    later = pool.submit(_check_table, read, sources, config, known, id_map, customers)
                    del read
                    continue
                else:
                    done[table] = _ingest_table(*args)
                frame = done[table].frame
                if table == "customers":
                    known = pd.Index(frame["customer_id"]) if frame is not None else None
                    if known is None:
                        done[table].notes[-1]["message"] += "; events and surveys were not checked against customer ids"
                if table == "identities" and frame is not None:
                    id_map = frame.set_index("secondary_id")["customer_id"]
        finally:    # the events' error comes first, as when the tables were read one after the other
            if later is not None:
                done["events"] = later.result()
    parts = [done[t] for t in TABLE_NAMES if t in done]
    tables = {p.table: p.frame for p in parts if p.frame is not None}
    quarantines = [p.quarantine for p in parts]
    accounting = [row for p in parts for row in p.accounting]
    identity = {p.table: p.identity for p in parts if p.identity is not None}
    notes = [n for p in parts for n in p.notes]
    semantics = done["events"].semantics if "events" in done else None
    quarantine = (pd.concat(quarantines, ignore_index=True) if quarantines
                  else pd.DataFrame(columns=[*QUARANTINE_COLUMNS, "_source_no"]))
    # per source, not per file: two sources may read one file (a ticket export giving opened and closed events)
    per = quarantine.groupby(["table", "_source_no"]).size()
    quarantine = quarantine.rename(columns={SOURCE: "source", ROW: "row"})
    quarantine = quarantine.reindex(columns=QUARANTINE_COLUMNS)
    acc = pd.DataFrame(accounting)
    if len(acc):
        acc["quarantined"] = [int(per.get((t, n), 0)) for t, n in zip(acc["table"], acc["source_no"])]
        acc["loaded"] = acc["rows_in"] - acc["quarantined"] - acc["filtered"]
    return IngestResult(tables, quarantine, acc, absent, identity, notes, semantics)


@dataclass
class _Table:
    """One table's share of an :class:`IngestResult`: its loaded rows (None when none were
    loaded), quarantine, accounting rows, identity stitching counts, notes and, for the events,
    their semantics."""

    table: str
    frame: pd.DataFrame | None
    quarantine: pd.DataFrame
    accounting: list[dict]
    identity: dict | None = None
    notes: list[dict] = field(default_factory=list)
    semantics: pd.DataFrame | None = None


def _ingest_table(table: str, sources, config: ClientConfig, data_dir, scales: dict, as_of_ts,
                  known: pd.Index | None, id_map: pd.Series | None, customers: pd.DataFrame | None) -> _Table:
    """Ingest one canonical table from its sources with pandas (:func:`_read_table`, then
    :func:`_check_table`)."""
    return _check_table(_read_table(table, sources, config, data_dir, scales, as_of_ts), sources, config, known,
                        id_map, customers)


@dataclass
class _Read:
    """The rows of all of a table's sources, before the table-level checks (:func:`_read_table`)."""

    table: str
    frame: pd.DataFrame           # the loaded rows of every source, with META
    source_of: np.ndarray         # which source each row came from
    quarantine: list[pd.DataFrame]    # per source
    accounting: list[dict]
    notes: list[dict]


def _read_table(table: str, sources, config: ClientConfig, data_dir, scales: dict, as_of_ts) -> _Read:
    """Each source of a table read, mapped, coerced and validated row by row: the loaded rows of
    all sources in one frame (with META), the quarantined rows per source, the accounting and the
    notes. The table-level checks are :func:`_check_table`'s."""
    notes, accounting = [], []
    loaded_parts, q_parts = [], []
    for i, source in enumerate(sources):
        loaded, q, counts = _ingest_source(source, table, config, data_dir, scales, as_of_ts, notes)
        loaded_parts.append(loaded)
        q_parts.append(q.assign(table=table, _source_no=i))
        accounting.append({"table": table, "source": source.path, "source_no": i, **counts})
        del loaded      # only the combined frame may hold the rows: the check frees them as it goes
    source_of = np.repeat(np.arange(len(loaded_parts)), [len(p) for p in loaded_parts])
    frame = pd.concat(loaded_parts, ignore_index=True)
    return _Read(table, frame, source_of, q_parts, accounting, notes)


def _check_table(read: _Read, sources, config: ClientConfig, known: pd.Index | None, id_map: pd.Series | None,
                 customers: pd.DataFrame | None) -> _Table:
    """The table-level checks over the rows :func:`_read_table` loaded from all of a table's
    sources: identity stitching through ``id_map``, duplicates, customer ids not in ``known``,
    the events' semantics and rows before the signup date in ``customers``."""
    table, frame, q_parts, notes = read.table, read.frame, list(read.quarantine), list(read.notes)
    source_of = pd.Series(read.source_of, index=frame.index)
    read.frame = None       # only this function holds the rows: the check frees them as it goes
    identity = None
    if id_map is not None and "customer_id" in frame and table in ("events", "surveys"):
        frame, identity = stitch_identities(frame, id_map, known)
    keep_dups = {Path(s.path).name for s in sources if s.duplicates == "keep"}
    frame, cross_q = check_duplicates_and_references(frame, table, known, keep_duplicates_from=keep_dups,
                                                     consume=True)   # held once, not twice
    q_parts.append(cross_q.assign(table=table, _source_no=source_of.loc[cross_q.index].to_numpy()))
    q = pd.concat(q_parts, ignore_index=True)
    semantics = None
    if table == "events" and len(frame):
        frame, semantics = infer_event_semantics(frame)
    if table in ("events", "surveys") and known is not None and customers is not None and "signup_date" in customers:
        notes += find_before_signup(frame, customers, table, config.timezone)
    if not len(frame):
        notes.append(_no_rows_note(table, sources))
    return _Table(table, frame.drop(columns=list(META)) if len(frame) else None, q, read.accounting, identity, notes,
                  semantics)


def _ingest_table_on_spark(table: str, sources, config: ClientConfig, data_dir, scales: dict, as_of_ts,
                           known: pd.Index | None, id_map: pd.Series | None, customers: pd.DataFrame | None, *,
                           spark) -> _Table:
    """The events ingested on Spark (:func:`~cxlib.ingest.engine.ingest_table_on_spark`): the
    loaded events stay a Spark DataFrame."""
    from cxlib.core.spark import open_spark
    from cxlib.ingest.engine import ingest_table_on_spark
    log.info("ingesting %s on Spark", table)
    notes = []
    frame, q, acc, ident, semantics = ingest_table_on_spark(
        open_spark(spark), sources, table, config, data_dir, scales, as_of_ts, notes, known=known,
        id_map=id_map, customers=customers if known is not None else None)
    if not sum(a["rows_in"] - a["filtered"] for a in acc) > len(q):    # no rows were loaded
        frame = None
        notes.append(_no_rows_note(table, sources))
    return _Table(table, frame, q, acc, ident, notes, semantics)


@dataclass
class Part:
    """One part of a source read, mapped, coerced and validated (:func:`process_part`): its
    loaded and quarantined rows and the counts the source's accounting and checks sum."""

    loaded: pd.DataFrame
    quarantined: pd.DataFrame            # META + reason, column, value, raw (the raw row as JSON)
    counts: dict                         # raw_rows, rows_in, filtered, kept, normalized, other, n_mapped
    parse_counts: dict                   # measure_parse_failures of the part
    date_counts: dict                    # measure_date_conventions of the part
    personal: list                       # personal columns dropped


def process_part(raw: pd.DataFrame, malformed: pd.DataFrame, source, table: str, config: ClientConfig,
                 scales: dict, as_of_ts) -> Part:
    """Normalise, filter, map, coerce and validate one part of a source's raw rows (text columns
    with ``_source`` and ``_row``): the row-level work of ingest. Rows are independent, so the
    parts of a file can be processed anywhere (:mod:`cxlib.ingest.engine` runs this on Spark's
    partitions) and their counts summed (:func:`merge_check_counts`)."""
    raw, n_normalized = normalize_text(raw)
    raw, n_filtered = filter_rows(raw, source)
    counts = {"raw_rows": len(raw) + len(malformed) + n_filtered, "kept": len(raw), "filtered": n_filtered,
              "normalized": n_normalized, "other": 0, "n_mapped": 0}
    raw, personal = drop_personal_columns(raw, config.privacy.personal_columns, keep={*source.columns, *META})
    mapped = map_source(raw, source, table)
    counts["rows_in"] = len(mapped) + len(malformed) + n_filtered
    if source.reason_rules and "contact_reason" in mapped:
        mapped["contact_reason"] = group_reasons(mapped["contact_reason"], source.reason_rules)
        counts["other"] = int(mapped["contact_reason"].eq("other").sum())
        counts["n_mapped"] = len(mapped)
    coerced = coerce_table(mapped, table, source, config.timezone)
    v = validate_table(coerced, table, scales, as_of_ts, config.checks.max_handle_time_hours * 3600)
    return Part(v.loaded, v.quarantined.assign(raw=_raw_rows_json(raw, v.quarantined)), counts,
                measure_parse_failures(coerced), measure_date_conventions(coerced, source), personal)


def describe_source_counts(table: str, fname: str, counts: dict, personal: list) -> list[dict]:
    """The notes a source's summed counts call for: text cleaned, personal columns dropped,
    contact reasons no rule grouped."""
    notes = []
    if counts["normalized"]:
        notes.append({"table": table, "check": "text_normalized", "rows": counts["normalized"], "examples": [],
                      "message": f"{fname}: {format_count(counts['normalized'])} text value(s) held "
                                 "invisible characters (NUL, zero-width) or a non-standard Unicode form; "
                                 "they were cleaned so that equal-looking values match"})
    if personal:
        notes.append({"table": table, "check": "personal_columns_dropped", "rows": counts["kept"], "examples": [],
                      "message": f"{fname}: personal column(s) {personal} were dropped "
                                 "at ingest (privacy.personal_columns); the diagnosis does not need them"})
    if counts["other"]:
        notes.append({"table": table, "check": "reasons_not_grouped", "rows": counts["other"],
                      "examples": [], "message": f"{fname}: "
                      f"{format_value(counts['other'] / counts['n_mapped'], 'share', digits=1)} of the contact reasons "
                      "match no reason rule and are grouped as 'other'"})
    return notes


def malformed_quarantine(malformed: pd.DataFrame) -> pd.DataFrame:
    """Quarantine rows for lines that could not be split into the file's columns."""
    return malformed.assign(reason="malformed_row", column=None, value=None, raw=malformed["text"]).drop(columns="text")


def _no_rows_note(table: str, sources) -> dict:
    files = ", ".join(Path(s.path).name for s in sources)
    return {"table": table, "check": "no_rows", "rows": 0, "examples": [],
            "message": f"no {table} rows were loaded from {files}; the analyses that need "
                       f"{table} treat the table as absent"}


def _ingest_source(source, table: str, config: ClientConfig, data_dir, scales: dict, as_of_ts,
                   notes: list[dict]) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Read, map, coerce and validate one source, a large CSV file in parts
    (:func:`~cxlib.ingest.read.read_source_chunks`) so that its text is never held whole.
    Returns the loaded rows, the quarantined rows (with the raw row as JSON, malformed lines
    last) and the source's row counts; appends the source's notes to ``notes``. The checks
    over a whole column (most values unparsable, mixed date conventions) judge the sums of
    the parts, so the result is the same as reading the file at once."""
    loaded, quarantined, malformed_parts = [], [], []
    counts = dict.fromkeys(SOURCE_COUNTS, 0)
    parse_counts, date_counts = {}, {}
    personal, fname = [], Path(source.path).name
    parts = read_source_chunks(source, data_dir, config.external_data,
                               chunk_rows=None if source.wide else "auto")   # a melt is ordered by question

    def read_parts():
        nonlocal fname
        for part, (raw, malformed) in enumerate(parts):
            fname = raw[SOURCE].iloc[0] if len(raw) else fname
            cells = raw.attrs.get("cell_problems") or []
            if cells:
                notes.append({"table": table, "check": "spreadsheet_cells", "rows": len(cells),
                              "examples": [f"{col!r} line {line}: {what}" for col, line, what in cells[:3]],
                              "message": f"{Path(source.path).name}: {format_count(len(cells))} cell(s) hold an "
                                         "error or a formula without a saved value (e.g. "
                                         + "; ".join(f"column {col!r} line {line}: {what}" for col, line, what
                                                     in cells[:3]) + "); they are read as missing"})
            log.info("read %s: %d rows%s", fname, len(raw), f" (part {part + 1})" if part else "")
            yield raw, malformed

    for raw, malformed, done in _process_ahead(read_parts(), source, table, config, scales, as_of_ts):
        for k, v in done.counts.items():
            counts[k] += v
        personal = done.personal
        merge_check_counts(parse_counts, done.parse_counts)
        merge_check_counts(date_counts, done.date_counts, keep=2)
        quarantined.append(done.quarantined)
        loaded.append(done.loaded)
        if len(malformed):
            malformed_parts.append(malformed_quarantine(malformed))
        del raw, done     # a large file's text is held two parts at a time (one read, one processed)
    notes += describe_source_counts(table, Path(source.path).name, counts, personal)
    check_parse_failures(parse_counts, table, source, fname)
    check_date_conventions(date_counts, source, fname)
    frame = pd.concat(loaded, ignore_index=True) if len(loaded) > 1 else loaded[0]
    q = quarantined[0]
    if len(quarantined) > 1:    # the values' type is inferred over the whole file, as when read at once
        q = pd.concat(quarantined, ignore_index=True)
        for col in ("value", "raw"):
            q[col] = pd.Series(q[col].tolist(), index=q.index)
    if malformed_parts:
        q = pd.concat([q, *malformed_parts], ignore_index=True)
    return frame, q, {k: counts[k] for k in ("raw_rows", "rows_in", "filtered")}


def _process_ahead(parts, source, table: str, config: ClientConfig, scales: dict, as_of_ts):
    """``(raw, malformed, process_part(...))`` for each part of ``parts``, in order, each part
    processed on a worker thread while the next one is read: Arrow's parsing and most of
    ``process_part`` (Arrow kernels) release the GIL, so the two overlap on two cores. At most
    two parts are held at once."""
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest") as pool:
        ahead = None
        for raw, malformed in parts:
            job = (raw, malformed, pool.submit(process_part, raw, malformed, source, table, config, scales, as_of_ts))
            if ahead is not None:
                yield ahead[0], ahead[1], ahead[2].result()
            ahead = job
        if ahead is not None:
            yield ahead[0], ahead[1], ahead[2].result()


SOURCE_COUNTS = ("raw_rows", "rows_in", "filtered", "kept", "normalized", "other", "n_mapped")


def _raw_rows_json(raw: pd.DataFrame, q: pd.DataFrame) -> list[str]:
    if not len(q):
        return []
    by_row = raw.set_index(ROW)
    cols = [c for c in raw.columns if c not in META]
    sub = by_row.loc[q[ROW].to_numpy(), cols]
    return [json.dumps({k: (None if pd.isna(v) else str(v)[:500]) for k, v in rec.items()}, ensure_ascii=False)
            for rec in sub.to_dict("records")]


def list_quarantine_examples(quarantine: pd.DataFrame, per_reason: int = 3, *, show_identifiers: bool = False,
                             salt: str = "") -> pd.DataFrame:
    """Up to ``per_reason`` quarantined rows per table and reason (file, line, column and
    value) for the report. Customer ids are replaced by stable pseudonyms unless
    ``show_identifiers``; the raw rows stay in the quarantine file for the analyst."""
    ex = quarantine.groupby(["table", "reason"]).head(per_reason)[["table", "source", "row", "reason", "column", "value"]]
    if not show_identifiers:
        ids = (ex["column"].isin(ID_COLUMNS) | (ex["reason"] == "duplicate")) & ex["value"].notna()
        ex = ex.assign(value=ex["value"].where(~ids, pseudonymize(ex["value"].where(ids), salt)))
    return ex


# --------------------------------------------------------------------------- files

def write_ingest(result: IngestResult, paths: ClientPaths) -> dict[str, Path]:
    """Write the loaded tables and the quarantine (Parquet, and CSV for people) to the run folder."""
    paths.tables_dir.mkdir(parents=True, exist_ok=True)
    paths.quarantine_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    for name in TABLE_NAMES:
        if paths.table(name).is_dir():      # the parts Spark wrote on an earlier run
            shutil.rmtree(paths.table(name))
        paths.table(name).unlink(missing_ok=True)
    for name, frame in result.tables.items():
        if is_spark_frame(frame):           # ingested on Spark: written there, as parts in file order
            from cxlib.core.spark import write_parquet
            write_parquet(frame, paths.table(name))
        else:
            frame.to_parquet(paths.table(name), index=False)
        written[name] = paths.table(name)
    result.quarantine.to_parquet(paths.quarantine, index=False)
    write_csv(result.quarantine, paths.quarantine_csv)      # formulas neutralised: safe in a spreadsheet
    write_csv(result.accounting, paths.accounting)
    return written


def open_table(paths: ClientPaths, name: str):
    """A canonical table a previous ingest wrote, left in its Parquet file for the engine to read
    in place (:class:`~cxlib.core.sql.ParquetTable`); None when ingest wrote none (no loaded rows)."""
    from cxlib.core.sql import ParquetTable
    if name not in TABLE_NAMES:
        raise ValueError(f"no canonical table named {name}; the tables are {', '.join(TABLE_NAMES)}")
    return ParquetTable(str(paths.table(name))) if paths.table(name).exists() else None


def read_tables(paths: ClientPaths, names: Iterable[str] | None = None) -> dict[str, pd.DataFrame]:
    """Read the canonical tables a previous ingest wrote (``names``: only these; a section that
    leaves the events to the engine need not hold them in memory); absent tables (and tables
    with no loaded rows, which ingest does not write) are simply not in the dict."""
    if not paths.tables_dir.exists():
        raise FileNotFoundError(f"{paths.tables_dir}: no ingested tables; run notebooks/01_ingest first "
                                "(make report CLIENT=<client>)")
    unknown = sorted(set(names or ()) - set(TABLE_NAMES))
    if unknown:
        raise ValueError(f"no canonical table named {', '.join(unknown)}; the tables are {', '.join(TABLE_NAMES)}")
    wanted = TABLE_NAMES if names is None else [n for n in TABLE_NAMES if n in set(names)]
    return {name: pd.read_parquet(paths.table(name)) for name in wanted if paths.table(name).exists()}
