"""Apache Spark as the engine for event-level work, with the SQL written once.

cxlib's event-level SQL is written in DuckDB's dialect (DuckDB is the embedded default). On
Spark the same text is transpiled by sqlglot, statement by statement: every ``CREATE ... AS
SELECT`` becomes a DataFrame that is materialised (``localCheckpoint``) and registered as a
temporary view of that name, so later statements read it as DuckDB reads its temp table. No
second copy of the SQL is kept by hand. A single query (:func:`spark_select`) is transpiled
the same way; :func:`cxlib.core.sql.query_frames` runs one where its tables live.

These differences are handled here rather than in the SQL:

* ``epoch(ts)`` (seconds with their fraction) becomes ``unix_micros(ts) / 1e6``: sqlglot's
  default, ``unix_timestamp``, drops the fraction.
* ``quantile_cont(x, q)`` becomes the exact ``percentile(x, q)``, not ``percentile_approx``.
* ``epoch_ns(ts)`` becomes ``unix_micros(ts) * 1000`` (Spark's timestamps hold microseconds).
* ``hash(...)`` (64 bits in DuckDB) becomes ``xxhash64(...)``: Spark's ``hash`` has 32 bits.
* sqlglot writes DuckDB's default ``NULLS LAST`` explicitly and rewrites ``QUALIFY`` (which
  Spark lacks) as a filtered subquery.

pyspark and sqlglot are optional (``pip install cxlib[spark]``); a clear error says so when
they are missing.
"""
from __future__ import annotations

import contextlib
import os
import sys
import warnings
from pathlib import Path
from typing import Iterable

import pandas as pd


def _require():
    import importlib.util
    missing = [m for m in ("pyspark", "sqlglot") if importlib.util.find_spec(m) is None]
    if missing:
        raise ImportError(f"engine: spark needs {' and '.join(missing)}: pip install 'cxlib[spark]' "
                          "(and Java 17 or newer)")


def get_spark(master: str = "local[2]", remote: str | None = None, conf: dict | None = None):
    """The active SparkSession, or a new one: local mode by default (no UI, bound to
    127.0.0.1), ``remote`` for Spark Connect (``sc://host:15002``). The session time zone is
    UTC, as cxlib's timestamps are, and Arrow carries results back to pandas."""
    _require()
    from pyspark.sql import SparkSession
    if remote:
        builder = SparkSession.builder.remote(remote)
    else:
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        # Python work on the partitions (ingest's mapInPandas) runs in this interpreter, with cxlib and pandas
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        # and without pyspark's pandas-3 warning in every worker's output (see _quiet)
        os.environ.setdefault("PYTHONWARNINGS", "ignore:PySpark does not yet fully support pandas:FutureWarning")
        builder = (SparkSession.builder.master(master).appName("cxlib")
                   .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
                   .config("spark.driver.host", "127.0.0.1")
                   .config("spark.sql.shuffle.partitions", "8"))
    builder = builder.config("spark.sql.session.timeZone", "UTC") \
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
    for key, value in (conf or {}).items():
        builder = builder.config(key, str(value))
    with _quiet():
        spark = builder.getOrCreate()
    if not remote:
        spark.sparkContext.setLogLevel("ERROR")   # Spark's INFO/WARN lines would bury cxlib's progress
    return spark


def open_spark(spark):
    """A SparkSession from ``spark``: a session as it is, else the client's ``SparkSettings``
    (or a dict of ``master``, ``remote`` and ``conf``; None for local mode) opened with
    :func:`get_spark`."""
    if hasattr(spark, "sql"):
        return spark
    settings = spark.model_dump() if hasattr(spark, "model_dump") else dict(spark or {})
    return get_spark(**settings)


@contextlib.contextmanager
def _quiet():
    """pyspark 4.x warns on every pandas conversion that it does not fully support pandas 3
    (and uses a keyword pandas 3 deprecates); cxlib's conversions (Arrow, flat columns) are
    tested for parity, so the warnings are noise."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas", category=FutureWarning)
        warnings.filterwarnings("ignore", message="The copy keyword is deprecated")
        yield


def _keep_duckdb_meaning(node):
    """What sqlglot's default would change: ``epoch(ts)`` keeps the fraction of a second
    (``unix_micros(ts) / 1e6``), and ``quantile_cont(x, q)`` stays exact (Spark's ``percentile``,
    interpolated as DuckDB does, rather than ``percentile_approx``)."""
    from sqlglot import exp
    if isinstance(node, exp.TimeToUnix):
        return exp.Div(this=exp.Anonymous(this="unix_micros", expressions=[node.this]),
                       expression=exp.Literal.number(1_000_000))
    if isinstance(node, exp.PercentileCont) and node.expression is not None:
        return exp.Anonymous(this="percentile", expressions=[node.this, node.expression])
    if isinstance(node, exp.Anonymous) and str(node.this).lower() == "hash":   # DuckDB's is 64-bit, Spark's 32
        return exp.Anonymous(this="xxhash64", expressions=[e.transform(_keep_duckdb_meaning) for e in node.expressions])
    if isinstance(node, exp.Anonymous) and str(node.this).lower() == "epoch_ns":   # Spark keeps microseconds
        return exp.Mul(this=exp.Anonymous(this="unix_micros", expressions=node.expressions),
                       expression=exp.Literal.number(1000))
    return node


def to_spark_statements(script: str) -> list[tuple[str, str]]:
    """``(table name, Spark SQL SELECT)`` for every ``CREATE [OR REPLACE] [TEMP] TABLE name AS
    SELECT ...`` of a DuckDB ``script``, in order. Any other statement is an error: it would be
    silently skipped otherwise."""
    _require()
    import sqlglot
    from sqlglot import exp

    out = []
    for statement in sqlglot.parse(script, read="duckdb"):
        if statement is None:
            continue
        if not (isinstance(statement, exp.Create) and statement.expression is not None):
            raise ValueError(f"only CREATE ... AS SELECT runs on Spark, not: {statement.sql()[:200]}")
        out.append((statement.this.name, statement.expression.transform(_keep_duckdb_meaning).sql(dialect="spark")))
    return out


def spark_select(sql: str) -> str:
    """One DuckDB-dialect query (a SELECT, with or without WITH) in Spark SQL."""
    _require()
    import sqlglot
    return sqlglot.parse_one(sql, read="duckdb").transform(_keep_duckdb_meaning).sql(dialect="spark")


def run_script(spark, script: str) -> dict[str, object]:
    """Run a DuckDB ``script`` of CREATE ... AS SELECT statements on ``spark``: each result is
    materialised and registered as a temporary view under its name. Returns the DataFrames."""
    frames = {}
    # Spark's constraint propagation fails on a UNION ALL whose branches read one checkpointed
    # table ("key not found: customer_id#21"); the scripts need no inferred filters
    spark.conf.set("spark.sql.constraintPropagation.enabled", "false")
    for name, sql in to_spark_statements(script):
        frame = spark.sql(sql).localCheckpoint()
        frame.createOrReplaceTempView(name)
        frames[name] = frame
    return frames


def read_events(spark, events, columns: Iterable[str]):
    """``events`` as a Spark DataFrame with every one of ``columns`` (missing ones null) and
    ``src_row``, the event's position in its source (the tie-break for equal timestamps, as
    in DuckDB): Parquet file(s) by path, a table name, or a pandas DataFrame (tests)."""
    from pyspark.sql import functions as F
    if isinstance(events, pd.DataFrame):
        frame = events.copy()
        frame["src_row"] = range(len(frame))
        keep = [c for c in (*columns, "src_row") if c in frame.columns]
        with _quiet():
            df = spark.createDataFrame(frame[keep])
    elif isinstance(events, str) and not events.endswith(".parquet") and not Path(events).exists():
        df = spark.table(events).withColumn("src_row", F.monotonically_increasing_id())
    else:
        paths = [str(p) for p in (events if isinstance(events, (list, tuple)) else [events])]
        for p in paths:
            if not Path(p).exists() and "://" not in p:
                raise FileNotFoundError(f"{p}: events file not found")
        parts = [number_parquet_rows(spark, p, "src_row", offset=i * 1_000_000_000_000) for i, p in enumerate(paths)]
        df = parts[0]
        for part in parts[1:]:
            df = df.unionByName(part, allowMissingColumns=True)
    for c in columns:
        if c not in df.columns:
            df = df.withColumn(c, F.lit(None).cast("string"))
    return df.select(*columns, "src_row")


def write_parquet(frame, path: str | Path) -> None:
    """Write a Spark DataFrame as Parquet at ``path`` (a folder of part files, which pandas and
    DuckDB read as one table), replacing what is there. Timestamps are written as UTC
    microseconds, which pandas reads back as the UTC timestamps DuckDB gives (Spark's default,
    INT96, would come back without a time zone)."""
    import shutil
    path = Path(path)
    if path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)
    frame.sparkSession.conf.set("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
    frame.write.mode("overwrite").parquet(str(path))


def read_parquet_table(spark, table):
    """A :class:`~cxlib.core.sql.ParquetTable` read by Spark where it lies, never through pandas:
    its selected columns, and its row numbers as ``_metadata.row_index`` (the row's position in
    its file, as DuckDB's ``file_row_number``)."""
    from pyspark.sql import functions as F
    if table.row_number is None:
        return spark.read.parquet(table.path).select(*[F.col(f"`{c}`") for c in table.columns])
    return number_parquet_rows(spark, table.path, table.row_number).select(*[F.col(f"`{c}`") for c in table.columns])


def number_parquet_rows(spark, path: str, column: str, offset: int = 0):
    """The Parquet file or folder of parts at ``path`` read by Spark, with ``column``: each row's
    position in the table from ``offset`` (a folder's parts in the order of their names, as Spark
    writes an ordered table), from each file's ``_metadata.row_index`` and the row counts of the
    parts before it. For one file that is DuckDB's ``file_row_number``."""
    from pyspark.sql import functions as F
    frame = spark.read.parquet(str(path))
    files = sorted(frame.inputFiles(), key=lambda f: f.rsplit("/", 1)[-1])
    if len(files) <= 1:
        return frame.select("*", (F.col("_metadata.row_index") + offset).alias(column))
    frame = frame.select("*", F.col("_metadata.file_name").alias("_part"), F.col("_metadata.row_index").alias("_pos"))
    counts = dict((r["_part"], r["count"]) for r in frame.groupBy("_part").count().collect())
    starts, total = [], offset
    for f in files:
        name = f.rsplit("/", 1)[-1]
        starts.append((name, total))
        total += counts.get(name, 0)
    start = spark.createDataFrame(starts, "_part string, _start long")
    return (frame.join(F.broadcast(start), "_part").withColumn(column, F.col("_start") + F.col("_pos"))
            .drop("_part", "_pos", "_start"))


def from_pandas(spark, frame: pd.DataFrame):
    """A small pandas frame (a lookup table) as a Spark DataFrame."""
    with _quiet():
        return spark.createDataFrame(frame)


def to_pandas(frame) -> pd.DataFrame:
    """A Spark DataFrame as pandas through Arrow, timestamps as UTC-aware (as DuckDB gives them)."""
    with _quiet():
        out = frame.toPandas()
    for c in out.columns:
        if pd.api.types.is_datetime64_dtype(out[c]) and not isinstance(out[c].dtype, pd.DatetimeTZDtype):
            out[c] = out[c].dt.tz_localize("UTC")
    return out
