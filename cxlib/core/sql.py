"""One SELECT, run where its tables live: DuckDB for pandas frames, Spark for Spark frames.

The journey statistics (variants, the directly-follows graph) are aggregates over the step
table, one row per event. On one machine that table is a pandas frame and DuckDB reads it in
place; for a client on Spark it stays on the cluster and only the aggregate comes back. The SQL
is written once, in DuckDB's dialect, and transpiled for Spark (see :mod:`cxlib.core.spark`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import duckdb
import pandas as pd


@dataclass(frozen=True)
class ParquetTable:
    """A table left in a Parquet file, for :func:`query_frames` to read where it lies: the step
    table of a large client need not come to pandas for its statistics (one row per event)."""

    path: str
    selected: tuple[str, ...] | None = None

    @property
    def columns(self) -> list[str]:
        if self.selected is not None:
            return list(self.selected)
        import pyarrow.dataset as ds
        return ds.dataset(self.path, format="parquet").schema.names

    @property
    def files(self) -> str:
        """What DuckDB reads: the file, or the parts of a folder (as Spark writes a table)."""
        from pathlib import Path
        return str(Path(self.path) / "*.parquet") if Path(self.path).is_dir() else self.path

    def __contains__(self, column: str) -> bool:
        return column in self.columns

    def select(self, *columns: str) -> "ParquetTable":
        return ParquetTable(self.path, tuple(columns))

    def to_pandas(self) -> pd.DataFrame:
        return pd.read_parquet(self.path, columns=list(self.selected) if self.selected is not None else None)


def is_spark_frame(frame) -> bool:
    """Whether ``frame`` is a Spark DataFrame (classic or Spark Connect), without importing pyspark."""
    return type(frame).__module__.startswith("pyspark.")


def select_columns(frame, columns: Iterable[str]):
    """``frame`` narrowed to ``columns``, on either engine."""
    columns = list(columns)
    return frame.select(*columns) if is_spark_frame(frame) or isinstance(frame, ParquetTable) else frame[columns]


def fetch_columns(frame, columns: Iterable[str]) -> pd.DataFrame:
    """The ``columns`` of ``frame`` that it has, as pandas: from a pandas frame, a Parquet file or
    Spark (the only rows of an event-level table that leave the engine)."""
    present = [c for c in columns if c in frame.columns]
    if isinstance(frame, ParquetTable):
        return frame.select(*present).to_pandas()
    if is_spark_frame(frame):
        from cxlib.core.spark import to_pandas
        return to_pandas(frame.select(*present))
    return frame[present]


def sql_literal(value: str) -> str:
    """A SQL string literal (quotes doubled), for values written into a query."""
    return "'" + str(value).replace("'", "''") + "'"


def query_frames(sql: str, **frames) -> pd.DataFrame:
    """Run the DuckDB-dialect ``sql`` over ``frames`` (each registered under its keyword) and
    return the result as pandas. With Spark frames it runs on their session, transpiled, and
    the pandas frames beside them (small ones: survey ratings, lookups) are sent there; with
    pandas frames only (or :class:`ParquetTable`, read in place), on a private DuckDB connection.
    Timestamps come back in UTC either way."""
    spark_frames = [f for f in frames.values() if is_spark_frame(f)]
    if spark_frames:
        from cxlib.core.spark import from_pandas, spark_select, to_pandas
        session = spark_frames[0].sparkSession
        for name, frame in frames.items():
            frame = frame.to_pandas() if isinstance(frame, ParquetTable) else frame
            (frame if is_spark_frame(frame) else from_pandas(session, frame)).createOrReplaceTempView(name)
        return to_pandas(session.sql(spark_select(sql)))
    con = duckdb.connect()
    try:
        for name, frame in frames.items():
            if isinstance(frame, ParquetTable):
                cols = ", ".join(f'"{c}"' for c in frame.selected) if frame.selected is not None else "*"
                con.execute(f"CREATE VIEW {name} AS SELECT {cols} FROM read_parquet({sql_literal(frame.files)})")
            else:
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
