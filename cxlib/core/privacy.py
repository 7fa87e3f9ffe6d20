"""Privacy: what personal data may reach a report.

Reports show no raw customer ids, names, e-mail addresses or free-text comments unless
the client's ``privacy`` settings allow it. This module drops personal columns at
ingest, replaces ids by stable pseudonyms, masks identifiers inside free text, and
scans rendered pages for anything that slipped through (the report's safety net).
"""
from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Iterable

import pandas as pd

EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
PHONE = re.compile(r"(?<![\w-])\+?\d[\d\s().-]{7,}\d(?![\w-])")
LONG_NUMBER = re.compile(r"\b\d{6,}\b")


def _id_like(token: str) -> bool:
    """Letters and digits mixed, at least 5 characters: ACC100234, EM-3f2a9c, 7590-VHVEG."""
    return len(token) >= 5 and any(c.isdigit() for c in token) and any(c.isalpha() for c in token)


def _norm(name: str) -> str:
    return re.sub(r"[\s\-]+", "_", str(name).strip().casefold())


def drop_personal_columns(frame: pd.DataFrame, personal: Iterable[str],
                          keep: Iterable[str] = ()) -> tuple[pd.DataFrame, list[str]]:
    """Drop the columns whose normalised name is in ``personal`` (except ``keep``);
    return the frame and the names dropped."""
    wanted = {_norm(p) for p in personal}
    keep = set(keep)
    dropped = [c for c in frame.columns if c not in keep and _norm(c) in wanted]
    return frame.drop(columns=dropped), dropped


def pseudonymize(values: pd.Series, salt: str = "", prefix: str = "id-") -> pd.Series:
    """Replace each value by a stable pseudonym (``id-`` and 8 hex digits of a salted
    SHA-256): the same id gets the same pseudonym, so rows can still be compared."""
    def one(v):
        if v is None or (isinstance(v, float) and v != v) or v is pd.NA:
            return v
        return prefix + hashlib.sha256(f"{salt}|{v}".encode()).hexdigest()[:8]
    return values.map(one)


NOTEBOOK_NAME = re.compile(r"^\d{2}_[a-z_]+$")   # 01_ingest: the report's own, not an id
FILE_NAME = re.compile(r"^[\w.-]+\.(?:csv|tsv|txt|gz|xlsx|xlsm|xls|parquet|yml|yaml|log|ipynb|json|html)$", re.I)
PATH = re.compile(r"(?:[A-Za-z]:)?(?:[\\/][^\s\\/:'\"]+)+[\\/]([^\s\\/:'\"]+)")


def redact_text(text: str | None, identifiers: set[str] | frozenset = frozenset(), max_chars: int = 160) -> str | None:
    """Mask e-mail addresses, phone numbers, long numbers, id-like tokens and any of the
    given ``identifiers`` in free text, and shorten it to ``max_chars``."""
    if text is None or (isinstance(text, float) and text != text):
        return text
    out = EMAIL.sub("[e-mail]", str(text))
    out = PHONE.sub("[phone]", out)
    out = LONG_NUMBER.sub("[number]", out)
    words = []
    for w in out.split():
        core = w.strip(".,;:!?()'\"")
        masked = core and (core in identifiers or (_id_like(core) and not NOTEBOOK_NAME.match(core)
                                                    and not FILE_NAME.match(core)))
        words.append(w.replace(core, "[id]") if masked else w)
    out = " ".join(words)
    out = re.sub(r"\s+", " ", out).strip()
    return out if len(out) <= max_chars else out[:max_chars - 1].rstrip() + "…"


EXAMPLE_MARKERS = re.compile(r"(First rows:|first rows:|e\.g\.|Examples?:|example rows?:|for example)", re.I)


def redact_error(text: str | None, max_chars: int = 400) -> str | None:
    """An error message fit for a page: paths show as their file names, the example values it
    quotes (after 'First rows:', 'e.g.' and the like) are cut, and e-mail addresses, phone numbers, long numbers and id-like
    tokens in the rest are masked (:func:`redact_text`). The console and the run's log keep
    the full message for the analyst."""
    if not text:
        return text
    parts = EXAMPLE_MARKERS.split(PATH.sub(r"\1", str(text)), maxsplit=1)   # a path shows as its file name
    head = parts[0].rstrip(" ;:,(")
    if len(parts) > 1:
        head += " (example values are left off the page; the console and the run log show them)"
    return redact_text(head, max_chars=max_chars)


def visible_text(page: str) -> str:
    """What a reader of an HTML page sees: no styles, scripts, tags or inline images."""
    page = re.sub(r"<(style|script)[^>]*>.*?</\1>", " ", page, flags=re.S | re.I)
    page = re.sub(r"<[^>]+>", " ", page)
    return re.sub(r"\s+", " ", html.unescape(page))


def scannable_identifiers(ids: Iterable) -> set[str]:
    """The identifiers a page can be scanned for: pure numbers shorter than 7 digits are
    left out, as they cannot be told apart from ordinary figures."""
    out = set()
    for v in ids:
        if v is None or (isinstance(v, float) and v != v):
            continue
        s = str(v).strip()
        if len(s) >= 4 and not (s.isdigit() and len(s) < 7):
            out.add(s)
    return out


def scan_for_identifiers(page: str, identifiers: set[str]) -> dict[str, int]:
    """Count what a rendered page shows that it should not: known identifiers and e-mail
    addresses in its visible text. Returns {'identifiers': n, 'emails': n}."""
    text = visible_text(page)
    tokens = re.findall(r"[\w@.+-]+", text)
    found = sum(1 for t in tokens if t.strip(".-") in identifiers)
    return {"identifiers": found, "emails": len(EMAIL.findall(text))}
