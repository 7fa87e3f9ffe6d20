"""The record scan of a CSV file: the accounting check on the reader that does not trust the reader.

Before a CSV file is parsed, a second, independent reader lists its records: the physical line
each starts on and its number of fields. Ingest uses the list to number the parsed rows by their
line, to set aside the malformed lines (too many or too few fields) and to prove that no record
was lost between the file and the table.

The csv module is that reader. On a large file a Python loop over its records is most of the
cost of ingest (9 s of 43 s for a 5.8M-line file), so :func:`scan_csv_records` first tries
:func:`scan_csv_bytes`: the lines are split and their delimiters counted with numpy over the raw
bytes, and only the lines holding a quote character (a quoted delimiter, a quoted line break:
usually a few in a million) are parsed by the csv module, from the start of their record. The
result is the csv module's, record for record; a file the byte scan cannot judge exactly (gzip,
an encoding other than UTF-8, a carriage return that does not end a line) is scanned by the csv
module throughout.
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd

from cxlib.ingest.contract import IngestError

BLOCK_BYTES = 64 << 20
"""Bytes of the file the byte scan holds at a time (cut at a line end)."""

TEXT_CHARS = 500
"""Characters of a malformed record kept for the quarantine."""

_UTF8 = ("utf-8", "utf8", "utf-8-sig")


def scan_csv_records(path: Path, encoding: str, delimiter: str) -> pd.DataFrame:
    """Every data record of a CSV file (header and blank records left out) with the physical
    line it starts on (``line``; the header is line 1) and its number of fields (``fields``).
    ``text`` (the first 500 characters) is filled for the records whose number of fields differs
    from the header's, the ones reported as malformed. The byte scan when it applies
    (:func:`scan_csv_bytes`), else the csv module (:func:`scan_csv_module`); both give the same."""
    fast = scan_csv_bytes(path, encoding, delimiter)
    return fast if fast is not None else scan_csv_module(path, encoding, delimiter)


def scan_csv_module(path: Path, encoding: str, delimiter: str) -> pd.DataFrame:
    """:func:`scan_csv_records` with the csv module, record by record."""
    csv.field_size_limit(1 << 30)
    lines, odd, texts = [], {}, {}
    append = lines.append
    with _open_text(path, encoding) as fh:
        reader = csv.reader(fh, delimiter=delimiter)
        header = next(reader, [])
        check_unique_header(header, path)
        width = len(header)
        start = reader.line_num + 1
        for rec in reader:
            if not is_blank_record(rec):
                if len(rec) != width:       # the text is kept only where it is reported: malformed records
                    odd[len(lines)] = len(rec)
                    texts[len(lines)] = delimiter.join(rec)[:TEXT_CHARS]
                append(start)
            start = reader.line_num + 1
    fields = np.full(len(lines), width, dtype="int64")
    fields[list(odd)] = list(odd.values())
    text = np.full(len(lines), None, dtype=object)
    text[list(texts)] = list(texts.values())
    return pd.DataFrame({"line": np.array(lines, dtype="int64"), "fields": fields, "text": pd.Series(text, dtype=object)})


class _Lines:
    """The decoded lines of a binary file from its current position, one per ``\\n``, for the
    csv module; ``pos`` follows what has been read, so a record's end is known in bytes."""

    def __init__(self, fh, encoding: str):
        self.fh, self.encoding, self.pos = fh, encoding, fh.tell()

    def seek(self, pos: int) -> None:
        self.fh.seek(pos)
        self.pos = pos

    def __iter__(self):
        return self

    def __next__(self) -> str:
        raw = self.fh.readline()
        if not raw:
            raise StopIteration
        self.pos += len(raw)
        line = raw.decode(self.encoding)
        self.encoding = "utf-8"      # a byte-order mark is only at the start of the file
        return line


def scan_csv_bytes(path: Path, encoding: str, delimiter: str) -> pd.DataFrame | None:
    """:func:`scan_csv_records` over the raw bytes with numpy: lines split at ``\\n``, their
    delimiters counted, blank lines found; the lines that hold a quote character are parsed by
    the csv module from the start of their record (a quoted line break joins the lines it
    spans). None when the file is not one the byte scan reads exactly as the csv module does:
    gzip, not UTF-8, a delimiter that is not one ASCII character, a carriage return that does
    not end a line (the csv module ends a line there too), a line longer than a block, or empty."""
    encoding = encoding.lower().replace("_", "-")
    if (path.suffix == ".gz" or encoding not in _UTF8 or len(delimiter) != 1 or not delimiter.isascii()
            or delimiter in "\"\r\n" or path.stat().st_size == 0):
        return None
    csv.field_size_limit(1 << 30)
    with open(path, "rb") as fh:
        lines = _Lines(fh, "utf-8-sig" if encoding == "utf-8-sig" else "utf-8")
        reader = csv.reader(lines, delimiter=delimiter)
        try:
            header = next(reader, [])
        except csv.Error:    # a carriage return alone in the header line: the csv module reads the file
            return None
        check_unique_header(header, path)
        width, first_line = len(header), reader.line_num + 1
        fh.seek(0)
        head = fh.read(lines.pos)
        if head.count(b"\r") != head.count(b"\r\n"):
            return None
        found = _split_lines(fh, ord(delimiter))
        if found is None:
            return None
        starts, n_delims, quoted = found
        n = len(starts)
        keep = np.ones(n, dtype=bool)
        fields = n_delims.astype("int64") + 1
        texts: dict[int, str] = {}
        done = 0
        for i in np.flatnonzero(quoted).tolist():    # the csv module reads these records, from their start
            if i < done:
                continue                             # inside a record that began on an earlier line
            lines.seek(int(starts[i]))
            reader = csv.reader(lines, delimiter=delimiter)
            rec = next(reader)
            span = reader.line_num
            keep[i + 1:i + span] = False             # the lines a quoted line break joined to it
            fields[i] = len(rec)
            if is_blank_record(rec):
                keep[i] = False
            elif len(rec) != width:
                texts[i] = delimiter.join(rec)[:TEXT_CHARS]
            done = i + span
        plain = keep & ~quoted
        for i in np.flatnonzero(plain & (n_delims == 0)).tolist():   # one field: blank when only spaces
            if not _line_text(fh, starts, i).strip():
                keep[i] = False
        for i in np.flatnonzero(keep & ~quoted & (fields != width)).tolist():
            texts[i] = _line_text(fh, starts, i)[:TEXT_CHARS]
    at = np.flatnonzero(keep)
    text = np.full(n, None, dtype=object)
    text[list(texts)] = list(texts.values())
    return pd.DataFrame({"line": (at + first_line).astype("int64"), "fields": fields[at],
                         "text": pd.Series(text[at], dtype=object)})


def _split_lines(fh, delimiter: int) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """The lines of the binary file ``fh`` from its position on: their start offsets, their number
    of delimiter bytes and whether they hold a quote character; None when a carriage return does
    not end a line or a line is longer than :data:`BLOCK_BYTES`. Raises UnicodeDecodeError on
    bytes that are not UTF-8, as the csv module's read would."""
    pos = fh.tell()
    starts, delims, quotes = [], [], []
    while data := fh.read(BLOCK_BYTES):
        end = len(data)
        if end == BLOCK_BYTES:                       # cut after the last line end; the next block starts there
            end = data.rfind(b"\n") + 1
            if end == 0:
                return None
            fh.seek(pos + end)
        if not data.isascii():
            data[:end].decode("utf-8")               # the bytes must be text, as for the csv module
        if data.find(b"\r", 0, end) >= 0 and data.count(b"\r", 0, end) != data.count(b"\r\n", 0, end):
            return None
        b = np.frombuffer(data, dtype=np.uint8, count=end)
        ends = np.flatnonzero(b == 10) + 1           # each line holds its line end: none is empty
        if len(ends) and ends[-1] == end:            # no line after the block's last line end
            ends = ends[:-1]
        line_starts = np.concatenate(([0], ends))
        delims.append(_count_per_line(b == delimiter, line_starts, end))
        quotes.append(_lines_with(data, end, b, line_starts, b'"'))
        starts.append(line_starts + pos)
        pos += end
    if not starts:
        return np.zeros(0, dtype="int64"), np.zeros(0, dtype="int32"), np.zeros(0, dtype=bool)
    return np.concatenate(starts), np.concatenate(delims), np.concatenate(quotes)


def _count_per_line(hit: np.ndarray, line_starts: np.ndarray, size: int) -> np.ndarray:
    """The number of True values of ``hit`` in each line (lines start at ``line_starts``; none is
    empty): summed in bytes, three times faster, unless a line is long enough to hold 256."""
    lengths = np.diff(np.append(line_starts, size))
    if len(lengths) and lengths.max() > 255:
        return np.add.reduceat(hit, line_starts, dtype=np.int32)
    return np.add.reduceat(hit.view(np.uint8), line_starts, dtype=np.uint8).astype(np.int32)


def _lines_with(data: bytes, end: int, b: np.ndarray, line_starts: np.ndarray, char: bytes) -> np.ndarray:
    """Which lines of ``data[:end]`` (``b``: its bytes; lines start at ``line_starts``) hold the
    byte ``char``: found with ``bytes.find`` when it is rare (a quoted field now and then), else
    in one numpy pass."""
    at, pos = [], data.find(char, 0, end)
    while pos >= 0 and len(at) < 10_000:
        at.append(pos)
        pos = data.find(char, pos + 1, end)
    found = np.flatnonzero(b == ord(char)) if pos >= 0 else np.array(at, dtype=np.int64)
    has = np.zeros(len(line_starts), dtype=bool)
    if len(found):
        has[np.searchsorted(line_starts, found, side="right") - 1] = True
    return has


def _line_text(fh, starts: np.ndarray, i: int) -> str:
    """Line ``i``'s text (lines start at byte ``starts``) without its line end."""
    fh.seek(int(starts[i]))
    raw = fh.readline()
    if raw.endswith(b"\n"):
        raw = raw[:-2] if raw.endswith(b"\r\n") else raw[:-1]
    return raw.decode("utf-8")


def is_blank_record(fields: list[str]) -> bool:
    """Whether a CSV record is a blank line, which pandas skips: no field, or one of spaces. A line
    of delimiters only (``,,,,``) is a record of missing values: pandas reads it as a row."""
    return len(fields) <= 1 and not "".join(fields).strip()


def check_unique_header(header: list[str], path: Path | str) -> None:
    """Raise IngestError when two columns share a name: a reader would keep one and rename the
    other ('mrr' and 'mrr.1'), and a mapping would silently use the wrong one."""
    seen: dict[str, int] = {}
    for i, name in enumerate(header, 1):
        key = str(name).strip()
        if key in seen:
            raise IngestError(f"{path}: the header has two columns named {key!r} (columns {seen[key]} and {i}); a "
                              "mapping cannot tell them apart. Rename one in the file, or drop the one not needed")
        seen[key] = i


def _open_text(path: Path, encoding: str):
    import gzip
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding=encoding, newline="")
    return open(path, encoding=encoding, newline="")
