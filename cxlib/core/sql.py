"""One SELECT, run where its tables live: DuckDB for pandas frames, Spark for Spark frames.

The journey statistics (variants, the directly-follows graph) are aggregates over the step
table, one row per event. On one machine that table is a pandas frame and DuckDB reads it in
place; for a client on Spark it stays on the cluster and only the aggregate comes back. The SQL
is written once, in DuckDB's dialect, and transpiled for Spark (see :mod:`cxlib.core.spark`).
"""
from __future__ import annotations

from typing import Iterable

import duckdb
import pandas as pd


def is_spark_frame(frame) -> bool:
    """Whether ``frame`` is a Spark DataFrame (classic or Spark Connect), without importing pyspark."""
    return type(frame).__module__.startswith("pyspark.")


def select_columns(frame, columns: Iterable[str]):
    """``frame`` narrowed to ``columns``, on either engine."""
    columns = list(columns)
    return frame.select(*columns) if is_spark_frame(frame) else frame[columns]


def sql_literal(value: str) -> str:
    """A SQL string literal (quotes doubled), for values written into a query."""
    return "'" + str(value).replace("'", "''") + "'"


def query_frames(sql: str, **frames) -> pd.DataFrame:
    """Run the DuckDB-dialect ``sql`` over ``frames`` (each registered under its keyword) and
    return the result as pandas. With Spark frames it runs on their session, transpiled, and
    the pandas frames beside them (small ones: survey ratings, lookups) are sent there; with
    pandas frames only, on a private DuckDB connection. Timestamps come back in UTC either way."""
    spark_frames = [f for f in frames.values() if is_spark_frame(f)]
    if spark_frames:
        from cxlib.core.spark import from_pandas, spark_select, to_pandas
        session = spark_frames[0].sparkSession
        for name, frame in frames.items():
            (frame if is_spark_frame(frame) else from_pandas(session, frame)).createOrReplaceTempView(name)
        return to_pandas(session.sql(spark_select(sql)))
    con = duckdb.connect()
    try:
        for name, frame in frames.items():
            con.register(name, frame)
        return arrow_to_pandas(con.sql(sql).to_arrow_table())
    finally:
        con.close()


def arrow_to_pandas(table) -> pd.DataFrame:
    """An Arrow table (DuckDB's result) as pandas, with timestamps in UTC."""
    out = table.to_pandas()
    for c in out.columns:
        if isinstance(out[c].dtype, pd.DatetimeTZDtype):
            out[c] = out[c].dt.tz_convert("UTC")
    return out
