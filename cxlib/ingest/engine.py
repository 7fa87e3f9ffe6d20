"""Ingest on Spark: a client's event files read, validated and quarantined where they lie.

With ``engine: spark`` the events never pass through pandas on the driver. Spark reads each
source itself (a CSV file, plain or gzip, split by lines; a Parquet file or folder), numbers its
records, and runs ingest's own row-level code (:func:`cxlib.ingest.pipeline.process_part`:
normalise, filter, map, coerce, validate) on every partition with ``mapInPandas``. So the rules
are the ones the pandas path applies, not a second copy of them. What spans rows runs as Spark
SQL: identity stitching (a join), exact duplicates (a window over every canonical column, the
first in file order kept), unknown customers (an anti-join), the kind and initiator defaults
(from the same tables as :mod:`cxlib.ingest.semantics`) and the before-signup note.

What comes back to the driver is small: the accounting counts, the quarantined rows (with the
raw row, as in pandas) and the note counts. The loaded events stay on Spark (checkpointed),
ordered as the files are, and :func:`cxlib.ingest.pipeline.write_ingest` writes them to the
run folder as a folder of Parquet parts in that order, which the engine's readers number
globally (:func:`cxlib.core.spark.read_events`).

Differences from the pandas reader, by design of a splittable reader: a CSV record must be one
line (a quoted value with a line break makes malformed rows: export such files as Parquet), and
files in other encodings than UTF-8 and Excel sources are not read on Spark.
"""
from __future__ import annotations

import csv
import json
import warnings
from pathlib import Path

import pandas as pd

from cxlib.core.config import ClientConfig
from cxlib.core.paths import check_source_path, is_remote, resolve_source_path
from cxlib.core.schema import columns_of
from cxlib.ingest.contract import META, ROW, SOURCE, IngestError
from cxlib.ingest.read import check_delimiter
from cxlib.ingest.scan import check_unique_header, is_blank_record

KIND = "_kind"          # loaded | quarantined | counts: the three kinds of row a partition gives back
LINE = "_line"         # a CSV line as read, split into fields on the partitions
BATCH_ROWS = 500_000    # rows per pandas batch in the partitions (Spark's default, 10,000, is per-batch overhead)
_SPARK_TYPES = {"string": "string", "timestamp": "timestamp", "date": "date", "float": "double", "bool": "boolean"}
_Q = ["reason", "column", "value", "raw"]


def read_raw_on_spark(spark, source, data_dir: str | Path, external=()):
    """One source's raw records on Spark, its CSV header (None for Parquet or a table) and its
    name. The records: the file's columns (typed from Parquet or a table), ``_source`` (the
    name) and ``_row`` (a CSV line's physical number, header = 1; a row's position from 1, as
    pandas numbers them); a CSV comes as its lines (``_line``), split into the header's fields
    on the partitions (:func:`split_lines`). The header is checked as the pandas reader checks
    it (unique names, a plausible delimiter)."""
    from pyspark.sql import functions as F
    fmt = source.resolved_format()
    if fmt == "table":      # a table in the Spark catalogue: rows numbered in the order Spark reads them
        try:
            frame = spark.table(source.path)
        except Exception as err:   # AnalysisException: no such table
            raise IngestError(f"tables source {source.path!r} (format: table): Spark has no such table: "
                              f"{str(err).splitlines()[0][:300]}") from None
        frame = frame.select(*[F.col(f"`{c}`").alias(str(c).strip()) for c in frame.columns])
        return number_records(frame, offset=1).withColumn(SOURCE, F.lit(source.path)), None, source.path
    path = source_location(source, data_dir, external)
    name = source_name(path)
    if fmt == "parquet":
        frame = spark.read.parquet(str(path))
        if len(frame.inputFiles()) > 1:     # a folder of parts: numbered in the parts' order
            from cxlib.core.spark import number_parquet_rows
            numbered = number_parquet_rows(spark, str(path), ROW, offset=1)
        else:
            numbered = frame.select("*", (F.col("_metadata.row_index") + 1).alias(ROW))
        return numbered.select(*[F.col(f"`{c}`").alias(str(c).strip()) for c in frame.columns],
                               F.lit(name).alias(SOURCE), ROW), None, name
    if fmt != "csv":
        raise IngestError(f"{path}: engine: spark reads CSV and Parquet sources; convert this {fmt} file to CSV "
                          "or Parquet, or ingest it with engine: duckdb")
    if source.encoding.lower().replace("_", "-") not in ("utf-8", "utf-8-sig", "utf8"):
        raise IngestError(f"{path}: engine: spark reads CSV files in UTF-8, not {source.encoding}; re-encode the "
                          f"file (iconv -f {source.encoding} -t utf-8) or export it as Parquet")
    lines = spark.read.text(str(path))
    if len(lines.inputFiles()) > 1:
        raise IngestError(f"{path}: a CSV source is one file; list each file as a source of its own, or read a "
                          "folder of parts as Parquet")
    first = lines.first()
    if first is None:
        raise IngestError(f"{path}: the file is empty (no header row); re-export it, or remove the source "
                          "from client.yml if the client has no such data")
    sep = source.delimiter or ","
    header = next(csv.reader([first["value"].lstrip("\ufeff")], delimiter=sep), [])
    check_unique_header(header, path)
    header = [h.strip() for h in header]
    check_delimiter(header, path, sep)
    return (number_records(lines, offset=1).where(F.col(ROW) > 1)
            .select(F.col("value").alias(LINE), ROW, F.lit(name).alias(SOURCE))), header, name


def source_location(source, data_dir, external=()):
    """Where Spark reads a file source: an object-store URI as given, else the local path checked
    as the pandas reader checks it (inside the client's folder or an external one; a Parquet
    folder allowed)."""
    if is_remote(source.path):
        return source.path
    path = resolve_source_path(source, data_dir)
    try:
        check_source_path(path, data_dir, external, folders=source.resolved_format() == "parquet")
    except ValueError as err:
        raise IngestError(f"tables source {source.path!r}: {err}") from None
    if not path.exists():
        raise IngestError(f"{path}: file not found (tables source path {source.path!r})")
    return path


def source_name(path) -> str:
    """The name the quarantine gives a row's source: the file's (or folder's) name."""
    return str(path).rstrip("/").rsplit("/", 1)[-1]


def split_lines(lines: pd.Series, rows: pd.Series, header: list[str], sep: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """CSV lines split into the header's columns with the csv module, as the pandas path's record
    scan (:func:`cxlib.ingest.scan.scan_csv_records`) splits them: the records of the header's
    width (text, with ``_row``), and the others as malformed (line and text). A blank line is
    not a row. Each line is one record: a quoted value cannot span lines."""
    texts = lines.tolist()
    records = list(csv.reader(texts, delimiter=sep))
    if len(records) != len(texts):     # an open quote ran on into the next line: one line at a time
        records = [next(csv.reader([t], delimiter=sep), []) for t in texts]
    width, keep, odd = len(header), [], []
    for i, rec in enumerate(records):
        if is_blank_record(rec):
            continue
        (keep if len(rec) == width else odd).append(i)
    at = rows.to_numpy()
    frame = pd.DataFrame([records[i] for i in keep], columns=header, dtype="str") if keep else \
        pd.DataFrame({c: pd.Series([], dtype="str") for c in header})
    frame[ROW] = at[keep].astype("int64")
    malformed = pd.DataFrame({ROW: at[odd].astype("int64"), "text": [sep.join(records[i])[:500] for i in odd]})
    return frame, malformed


def number_records(frame, offset: int = 0, column: str = ROW):
    """``frame`` with ``column``: each record's position in read order plus ``offset``, without a
    global sort: a partition's records are numbered inside it, after the counts of the
    partitions before it (one small aggregate). For one file, partitions are its byte ranges
    in order."""
    from pyspark.sql import functions as F
    mid = F.monotonically_increasing_id()
    frame = frame.withColumn("_mid", mid).withColumn("_pid", F.shiftright("_mid", 33))
    counts = sorted((r["_pid"], r["count"]) for r in frame.groupBy("_pid").count().collect())
    starts, total = [], 0
    for pid, n in counts:
        starts.append((pid, total))
        total += n
    spark = frame.sparkSession
    start = spark.createDataFrame(starts or [(0, 0)], "_pid long, _start long")
    return (frame.join(F.broadcast(start), "_pid")
            .withColumn(column, F.col("_start") + (F.col("_mid") - F.shiftleft("_pid", 33)) + offset)
            .drop("_mid", "_pid", "_start"))


def output_schema(table: str) -> str:
    """The DDL of what :func:`_process_partitions` gives back: the canonical columns typed, the
    row's file and line, its kind and the quarantine's columns."""
    cols = [f"`{c.name}` {_SPARK_TYPES[c.kind]}" for c in columns_of(table)]
    return ", ".join([*cols, f"`{SOURCE}` string", f"`{ROW}` long", f"`{KIND}` string",
                      *[f"`{c}` string" for c in _Q]])


def _process_partitions(source, table: str, config: ClientConfig, scales: dict, as_of_ts, utc_columns: list[str],
                        header: list[str] | None):
    """The function ``mapInPandas`` runs on every partition: each batch of raw records (a CSV's
    lines split by :func:`split_lines`, with ``header``; else Parquet's rows) through
    :func:`~cxlib.ingest.pipeline.process_part`, its loaded and quarantined rows and one row of
    its counts (JSON) given back in one frame."""
    from pandas._libs.parsers import STR_NA_VALUES
    missing = sorted(set(STR_NA_VALUES) | set(source.na_values))
    canon = [c.name for c in columns_of(table)]
    text = [c.name for c in columns_of(table) if c.kind == "string"] + [SOURCE, KIND, *_Q]
    sep = source.delimiter or ","

    def run(batches):
        from cxlib.ingest.pipeline import malformed_quarantine, process_part
        for batch in batches:
            name = batch[SOURCE].iloc[0] if len(batch) else None
            if header is not None:    # as pandas reads a CSV: text columns, its missing-value strings missing
                raw, malformed = split_lines(batch[LINE], batch[ROW], header, sep)
                raw[header] = raw[header].where(~raw[header].isin(missing))
            else:
                raw, malformed = batch.drop(columns=SOURCE), pd.DataFrame({ROW: pd.Series([], dtype="int64"),
                                                                           "text": pd.Series([], dtype="str")})
                for c in utc_columns:   # Spark hands timestamps over without their zone, which is UTC
                    raw[c] = raw[c].dt.tz_localize("UTC")
            raw[SOURCE], malformed[SOURCE] = name, name
            part = process_part(raw, malformed, source, table, config, scales, as_of_ts)
            counts = {**part.counts, "parse": part.parse_counts, "dates": part.date_counts, "personal": part.personal,
                      "first_row": int(batch[ROW].min()) if len(batch) else 0}
            q = pd.concat([part.quarantined, malformed_quarantine(malformed)], ignore_index=True) \
                if len(malformed) else part.quarantined
            q = q.assign(value=[None if pd.isna(v) else str(v) for v in q["value"]])
            out = pd.concat([part.loaded[[*canon, *META]].assign(**{KIND: "loaded"}),
                             q[[*META, *_Q]].assign(**{KIND: "quarantined"}),
                             pd.DataFrame({KIND: ["counts"], "raw": [json.dumps(counts, default=str)]})],
                            ignore_index=True)[[*canon, SOURCE, ROW, KIND, *_Q]]
            yield out.astype({c: object for c in text}).where(out.notna(), None)
    return run


def ingest_source_on_spark(spark, source, table: str, config: ClientConfig, data_dir, scales: dict, as_of_ts,
                           notes: list[dict]):
    """One source ingested on Spark: the loaded rows (a checkpointed Spark frame with ``_source``
    and ``_row``), the quarantined rows (pandas, in file order, malformed lines last, as
    :func:`cxlib.ingest.pipeline._ingest_source` gives them) and the source's row counts. The
    column checks (most values unparsable, mixed date conventions) judge the summed counts of
    the partitions and raise :class:`IngestError` as on pandas."""
    from pyspark.sql import functions as F
    from cxlib.core.spark import to_pandas
    from cxlib.ingest.coerce import check_date_conventions, check_parse_failures, merge_check_counts
    from cxlib.ingest.pipeline import SOURCE_COUNTS, describe_source_counts
    raw, header, fname = read_raw_on_spark(spark, source, data_dir, config.external_data)
    utc = [f.name for f in raw.schema.fields if f.dataType.typeName() == "timestamp" and f.name not in META]
    run = _process_partitions(source, table, config, scales, as_of_ts, utc, header)
    key = "spark.sql.execution.arrow.maxRecordsPerBatch"
    before = spark.conf.get(key, None)
    spark.conf.set(key, str(BATCH_ROWS))
    try:
        with warnings.catch_warnings():    # pyspark's notice that it does not fully support pandas 3 (tested here)
            warnings.filterwarnings("ignore", "PySpark does not yet fully support pandas", FutureWarning)
            out = raw.mapInPandas(run, output_schema(table)).localCheckpoint()
        parts = sorted((json.loads(r["raw"]) for r in out.where(F.col(KIND) == "counts").select("raw").collect()),
                       key=lambda p: p["first_row"])
    finally:
        spark.conf.unset(key) if before is None else spark.conf.set(key, before)
    counts, parse, dates, personal = dict.fromkeys(SOURCE_COUNTS, 0), {}, {}, []
    for part in parts:
        for k in SOURCE_COUNTS:
            counts[k] += part[k]
        merge_check_counts(parse, part["parse"])
        merge_check_counts(dates, part["dates"], keep=2)
        personal = part["personal"] or personal
    notes += describe_source_counts(table, fname, counts, personal)
    check_parse_failures(parse, table, source, fname)
    check_date_conventions(dates, source, fname)
    q = to_pandas(out.where(F.col(KIND) == "quarantined").select(*META, *_Q)
                  .orderBy(F.col("reason") == "malformed_row", ROW))
    q = q.astype({ROW: "int64"}).astype({c: object for c in _Q})
    q = q.where(q.notna(), None)
    loaded = out.where(F.col(KIND) == "loaded").drop(KIND, *_Q)
    return loaded, q, {k: counts[k] for k in ("raw_rows", "rows_in", "filtered")}


def ingest_table_on_spark(spark, sources, table: str, config: ClientConfig, data_dir, scales: dict, as_of_ts,
                          notes: list[dict], *, known: pd.Index | None = None, id_map: pd.Series | None = None,
                          customers: pd.DataFrame | None = None):
    """Every source of ``table`` (the events) ingested on Spark, then the checks across rows as
    :func:`cxlib.ingest.pipeline.ingest_client` makes them on pandas: identity stitching
    (``id_map``: secondary id -> customer), exact duplicates, unknown customers (``known``), the
    kind and initiator defaults and the before-signup note (``customers``). Returns the loaded
    table (a checkpointed Spark frame of the canonical columns, in file order), the quarantine
    (pandas, with ``table`` and ``_source_no``), the accounting rows, the identity counts (or
    None) and the semantics table (or None)."""
    from pyspark.sql import functions as F
    from pyspark.sql.window import Window
    from cxlib.core.spark import from_pandas, to_pandas
    from cxlib.ingest.semantics import fill_semantics
    from cxlib.ingest.validate import quarantine_table_rows
    frames, q_parts, accounting = [], [], []
    for i, source in enumerate(sources):
        loaded, q, counts = ingest_source_on_spark(spark, source, table, config, data_dir, scales, as_of_ts, notes)
        frames.append(loaded.withColumn("_source_no", F.lit(i)))
        q_parts.append(q.assign(table=table, _source_no=i))
        accounting.append({"table": table, "source": source.path, "source_no": i, **counts})
    frame = frames[0]
    for more in frames[1:]:
        frame = frame.unionByName(more)
    canon = [c.name for c in columns_of(table)]
    identity = None
    if id_map is not None and "customer_id" in canon:
        frame, identity = _stitch_on_spark(frame, id_map, known)
    keep = sorted({Path(s.path).name for s in sources if s.duplicates == "keep"})
    first = Window.partitionBy(*[F.col(f"`{c}`") for c in canon]).orderBy("_source_no", ROW)
    dup = (F.row_number().over(first) > 1) & ~F.col(SOURCE).isin(keep)
    reason = F.when(dup, F.lit("duplicate"))
    if known is not None:
        ids = from_pandas(spark, pd.DataFrame({"_known": pd.Series(known, dtype=object).astype(str)}))
        frame = frame.join(F.broadcast(ids) if len(known) < 1_000_000 else ids,
                           frame["customer_id"] == ids["_known"], "left")
        reason = reason.when(F.col("_known").isNull(), F.lit("unknown_customer"))
    frame = frame.withColumn("_reason", reason).localCheckpoint()
    bad = to_pandas(frame.where(F.col("_reason").isNotNull()).orderBy("_source_no", ROW)
                    .select(*canon, *META, "_source_no", "_reason"))
    if len(bad):
        bad = bad.astype({ROW: "int64"})
        q_parts.append(quarantine_table_rows(bad[[*canon, *META]], bad["_reason"])
                       .assign(table=table, _source_no=bad["_source_no"].to_numpy()))
    good = frame.where(F.col("_reason").isNull())
    semantics = None
    if table == "events":
        triples = to_pandas(good.groupBy("channel", "kind", "initiated_by").count()
                            .orderBy("channel", "kind", "initiated_by"))
        triples = triples.astype(object).where(triples.notna(), None)
        k, by, semantics = fill_semantics(triples["channel"].tolist(), triples["kind"].tolist(),
                                          triples["initiated_by"].tolist(), triples["count"].astype("int64"))
        fill = from_pandas(spark, pd.DataFrame({"_ch": triples["channel"], "_kd": triples["kind"],
                                                "_by": triples["initiated_by"], "_kind_to": k, "_by_to": by}))
        on = (good["channel"].eqNullSafe(fill["_ch"]) & good["kind"].eqNullSafe(fill["_kd"])
              & good["initiated_by"].eqNullSafe(fill["_by"]))
        good = (good.join(F.broadcast(fill), on, "left")
                .withColumn("kind", F.col("_kind_to")).withColumn("initiated_by", F.col("_by_to")))
    if customers is not None and "signup_date" in customers and "timestamp" in canon:
        notes += _before_signup_on_spark(good, customers, table, config.timezone)
    good = good.orderBy("_source_no", ROW).select(*canon).localCheckpoint()
    q = pd.concat(q_parts, ignore_index=True)
    return good, q, accounting, identity, semantics


def _stitch_on_spark(frame, id_map: pd.Series, known: pd.Index | None):
    """:func:`cxlib.ingest.validate.stitch_identities` on Spark: a secondary id that is not a
    known customer becomes the customer it belongs to. Returns the frame and the counts."""
    from pyspark.sql import functions as F
    from cxlib.core.spark import from_pandas
    spark = frame.sparkSession
    ids = from_pandas(spark, pd.DataFrame({"_secondary": pd.Series(id_map.index, dtype=object).astype(str),
                                           "_owner": pd.Series(id_map.to_numpy(), dtype=object).astype(str)}))
    frame = frame.join(ids, frame["customer_id"] == ids["_secondary"], "left")
    secondary = F.col("_secondary").isNotNull()
    if known is not None:
        k = from_pandas(spark, pd.DataFrame({"_direct": pd.Series(known, dtype=object).astype(str)}))
        frame = frame.join(k, frame["customer_id"] == k["_direct"], "left")
        direct = F.col("_direct").isNotNull()
    else:
        direct = ~secondary
    stitch = ~direct & secondary
    frame = frame.withColumn("_how", F.when(direct, "direct").when(stitch, "stitched").otherwise("unmatched")) \
        .withColumn("customer_id", F.when(stitch, F.col("_owner")).otherwise(F.col("customer_id"))) \
        .drop("_secondary", "_owner", *(["_direct"] if known is not None else [])).localCheckpoint()
    n = {r["_how"]: r["count"] for r in frame.groupBy("_how").count().collect()}
    total = sum(n.values())
    unmatched = n.get("unmatched", 0) if known is not None else 0
    stats = {"direct": n.get("direct", 0), "stitched": n.get("stitched", 0), "unmatched": unmatched,
             "match_rate": float((total - unmatched) / total) if total else None}
    return frame.drop("_how"), stats


def _before_signup_on_spark(frame, customers: pd.DataFrame, table: str, tz: str) -> list[dict]:
    """:func:`cxlib.ingest.validate.find_before_signup` on Spark: the rows dated (in the client's
    calendar) before their customer's signup date, counted there."""
    from pyspark.sql import functions as F
    from cxlib.core.spark import from_pandas
    from cxlib.ingest.validate import describe_before_signup
    signup = customers.drop_duplicates("customer_id")[["customer_id", "signup_date"]].dropna()
    if not len(signup):
        return []
    lookup = from_pandas(frame.sparkSession, pd.DataFrame({
        "_cid": signup["customer_id"].astype(str).to_numpy(),
        "_signup": pd.to_datetime(signup["signup_date"]).dt.strftime("%Y-%m-%d").to_numpy()}))
    day = F.to_date(F.from_utc_timestamp(F.col("timestamp"), tz))
    early = (frame.join(F.broadcast(lookup) if len(signup) < 1_000_000 else lookup,
                        frame["customer_id"] == lookup["_cid"])
             .withColumn("_days", F.datediff(F.to_date("_signup"), day)).where(F.col("_days") > 0))
    agg = early.agg(F.count("*").alias("n"), F.percentile("_days", 0.5).alias("median"),
                    F.max("_days").alias("max")).collect()[0]
    if not agg["n"]:
        return []
    hit = early.orderBy("_source_no", ROW).select(SOURCE, ROW).limit(3).collect()
    return [describe_before_signup(table, int(agg["n"]), frame.count(), float(agg["median"]), int(agg["max"]),
                                   [(r[SOURCE], int(r[ROW])) for r in hit])]
