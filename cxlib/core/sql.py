"""One SELECT, run where its tables live: DuckDB for pandas frames, Spark for Spark frames.

The journey statistics (variants, the directly-follows graph) are aggregates over the step
table, one row per event. On one machine that table is a pandas frame and DuckDB reads it in
place; for a client on Spark it stays on the cluster and only the aggregate comes back. The SQL
is written once, in DuckDB's dialect, and transpiled for Spark (see :mod:`cxlib.core.spark`).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterable

import duckdb
import numpy as np
import pandas as pd


@dataclass(frozen=True)
class ParquetTable:
    """A table left in a Parquet file, for :func:`query_frames` to read where it lies: the step
    table of a large client need not come to pandas for its statistics (one row per event).
    ``row_number`` names a column holding each row's position in the file (a single file only),
    as a pandas frame's row position. ``keep`` holds what must outlive the file's readers (the
    owner of a temporary file)."""

    path: str
    selected: tuple[str, ...] | None = None
    row_number: str | None = None
    keep: object = field(default=None, compare=False, repr=False)

    @property
    def columns(self) -> list[str]:
        if self.selected is not None:
            return list(self.selected)
        import pyarrow.dataset as ds
        names = ds.dataset(self.path, format="parquet").schema.names
        return [self.row_number, *names] if self.row_number else names

    @property
    def files(self) -> str:
        """What DuckDB reads: the file, or the parts of a folder (as Spark writes a table)."""
        return str(Path(self.path) / "*.parquet") if Path(self.path).is_dir() else self.path

    def __contains__(self, column: str) -> bool:
        return column in self.columns

    def __len__(self) -> int:
        import pyarrow.dataset as ds
        return ds.dataset(self.path, format="parquet").count_rows()

    def select(self, *columns: str) -> "ParquetTable":
        return replace(self, selected=tuple(columns), keep=self.keep or self)

    def with_row_numbers(self, name: str = "pos") -> "ParquetTable":
        """The same file with each row's position as column ``name``."""
        return replace(self, row_number=name, selected=None)

    def view_sql(self) -> str:
        """The SELECT DuckDB reads this table with."""
        names = ", ".join(f'"{c}"' for c in self.columns)
        if not self.row_number:
            return f"SELECT {names} FROM read_parquet({sql_literal(self.files)})"
        return f"SELECT {names} FROM ({parquet_rows_sql(self.path, self.row_number)})"

    def to_pandas(self) -> pd.DataFrame:
        cols = [c for c in self.columns if c != self.row_number]
        out = pd.read_parquet(self.path, columns=cols if self.selected is not None else None)
        if self.row_number and self.row_number in self.columns:
            out.insert(self.columns.index(self.row_number), self.row_number, np.arange(len(out)))
        return out


def is_spark_frame(frame) -> bool:
    """Whether ``frame`` is a Spark DataFrame (classic or Spark Connect), without importing pyspark."""
    return type(frame).__module__.startswith("pyspark.")


def parquet_rows_sql(path: str | Path, column: str, offset: int = 0) -> str:
    """A DuckDB SELECT of the Parquet file or folder of parts at ``path`` with ``column``: each
    row's position in the table from ``offset`` (a folder's parts in the order of their names, as
    Spark writes an ordered table; :func:`cxlib.core.spark.number_parquet_rows` numbers them
    the same on Spark)."""
    if not Path(path).is_dir():
        return (f"SELECT * EXCLUDE (file_row_number), {int(offset)} + file_row_number AS \"{column}\" "
                f"FROM read_parquet({sql_literal(str(path))}, file_row_number = true)")
    files = sql_literal(str(Path(path) / "*.parquet"))
    return f"""SELECT r.* EXCLUDE (file_row_number, filename), {int(offset)} + s.start + r.file_row_number AS "{column}"
        FROM read_parquet({files}, file_row_number = true, filename = true) r
        JOIN (SELECT filename, coalesce(sum(n) OVER (ORDER BY parse_filename(filename) ROWS BETWEEN UNBOUNDED
                                                     PRECEDING AND 1 PRECEDING), 0) AS start
              FROM (SELECT filename, count(*) AS n FROM read_parquet({files}, filename = true) GROUP BY filename)) s
        USING (filename)"""


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


def ordered_join_sql(value: str, order: str, separator: str) -> str:
    """An aggregate expression: the group's non-null ``value``s joined by ``separator`` in the
    order of ``order`` (unique within the group), as ``string_agg(value, separator ORDER BY
    order)`` gives them. Written as a sorted list of (order, value) pairs, which DuckDB builds
    faster than an ordered aggregate (the paths of 6.3M journeys from 10M steps: 4.0-4.2 s against
    4.9-5.7 s); sqlglot carries it to Spark as ``array_sort`` over ``collect_list``."""
    return (f"array_to_string(list_transform(list_sort(list(struct_pack(k := {order}, v := {value}))), "
            f"lambda x: x.v), {sql_literal(separator)})")


def mode_sql(table: str, keys: list[str], col: str, alias: str | None = None) -> str:
    """A SELECT of ``keys`` and the most frequent non-null ``col`` per ``keys`` (as ``alias``);
    ties go to the smallest value, as pandas' ``mode().iat[0]`` does."""
    k = ", ".join(keys)
    return (f"SELECT {k}, {col} AS {alias or col} FROM (\n"
            f"    SELECT {k}, {col}, row_number() OVER (PARTITION BY {k} ORDER BY n DESC, {col}) AS r\n"
            f"    FROM (SELECT {k}, {col}, count(*) AS n FROM {table} WHERE {col} IS NOT NULL GROUP BY {k}, {col}) c\n"
            f") m WHERE r = 1")


def query_frames(sql: str, **frames) -> pd.DataFrame:
    """Run the DuckDB-dialect ``sql`` over ``frames`` (each registered under its keyword) and
    return the result as pandas. With Spark frames it runs on their session, transpiled, and
    the pandas frames beside them (small ones: survey ratings, lookups) are sent there; with
    pandas frames only (or :class:`ParquetTable`, read in place), on a private DuckDB connection.
    Timestamps come back in UTC either way."""
    session = _spark_views(frames)
    if session is not None:
        from cxlib.core.spark import spark_select, to_pandas
        return to_pandas(session.sql(spark_select(sql)))
    con = _duckdb_views(frames)
    try:
        return arrow_to_pandas(con.sql(sql).to_arrow_table())
    finally:
        con.close()


def on_engine(frame, spark=None):
    """``frame`` where the queries will run: as it is without ``spark`` (or when already on Spark);
    else on ``spark``: a Parquet file read there in place (never through pandas), a pandas frame
    (a lookup table) sent there."""
    if spark is None or is_spark_frame(frame):
        return frame
    from cxlib.core.spark import from_pandas, read_parquet_table
    return read_parquet_table(spark, frame) if isinstance(frame, ParquetTable) else from_pandas(spark, frame)


def _spark_views(frames: dict):
    """When any frame is on Spark, its session with every frame registered as a view of its name
    (Parquet files read there, pandas frames sent there); else None."""
    spark_frames = [f for f in frames.values() if is_spark_frame(f)]
    if not spark_frames:
        return None
    session = spark_frames[0].sparkSession
    for name, frame in frames.items():
        on_engine(frame, session).createOrReplaceTempView(name)
    return session


def open_duckdb() -> duckdb.DuckDBPyConnection:
    """A private in-memory DuckDB connection whose results come to pandas without a copy of their
    text: pandas' ``str`` columns hold Arrow's large strings (64-bit offsets), so DuckDB hands them
    over in that form (``arrow_large_buffer_size``) instead of each text column being cast on the
    way (the 14.3M journeys of a 1M-customer client: 16-19 s to pandas before, 8.5-9 s after)."""
    con = duckdb.connect()
    con.execute("SET arrow_large_buffer_size = true")
    return con


def _duckdb_views(frames: dict):
    """A private DuckDB connection with every frame registered under its name (a Parquet file as a
    view that reads it in place)."""
    con = open_duckdb()
    con.execute("SET TimeZone = 'UTC'")     # cxlib's timestamps are UTC: dates and weeks are cut there, on any machine
    for name, frame in frames.items():
        if isinstance(frame, ParquetTable):
            con.execute(f"CREATE VIEW {name} AS {frame.view_sql()}")
        else:
            con.register(name, frame)
    return con


def query_table(sql: str, **frames):
    """Like :func:`query_frames`, but the result stays where it was computed, for later queries
    to read: a Spark DataFrame (checkpointed) when any frame is on Spark, else a temporary Parquet
    file written by DuckDB (a :class:`ParquetTable`, removed when the last table reading it is
    gone). For a per-event table that several queries read and pandas need not hold."""
    session = _spark_views(frames)
    if session is not None:
        from cxlib.core.spark import spark_select
        return session.sql(spark_select(sql)).localCheckpoint()
    import shutil
    import tempfile
    import weakref
    folder = tempfile.mkdtemp(prefix="cxlib-table-")
    path = str(Path(folder) / "table.parquet")
    try:
        con = _duckdb_views(frames)
        try:
            con.execute(f"COPY ({sql}) TO {sql_literal(path)} (FORMAT parquet)")
        finally:
            con.close()
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    out = ParquetTable(path)
    weakref.finalize(out, shutil.rmtree, folder, True)
    return out


def arrow_to_pandas(table) -> pd.DataFrame:
    """An Arrow table (DuckDB's result) as pandas, with timestamps in UTC."""
    out = table.to_pandas()
    for c in out.columns:
        if isinstance(out[c].dtype, pd.DatetimeTZDtype):
            out[c] = out[c].dt.tz_convert("UTC")
    return out
