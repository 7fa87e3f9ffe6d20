"""How numbers read in a report: money, shares, counts and intervals, written once.

Every sentence a client reads takes its numbers through these functions, so an interval
always reads "95% CI lo–hi", a count never carries decimals and a missing value reads
"n/a" rather than "nan".
"""
from __future__ import annotations

import math
from contextlib import contextmanager

LEVEL = "95% CI"

KINDS = ("share", "number", "money", "count")


def is_known(x) -> bool:
    """True for a finite number (not None, NaN or infinite)."""
    if x is None:
        return False
    try:
        return math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def format_count(n) -> str:
    """'80,093': a whole number with thousands separators; 'n/a' when unknown."""
    return f"{int(round(float(n))):,}" if is_known(n) else "n/a"


def format_rounded(x) -> str:
    """An estimate such as an expected count or a BIC gain: '12.4' below 100, '2,017' from there
    (a decimal on thousands of churners is noise, not precision); 'n/a' when unknown."""
    if not is_known(x):
        return "n/a"
    return f"{float(x):,.1f}" if abs(float(x)) < 100 else f"{float(x):,.0f}"


def format_money(x, currency: str = "") -> str:
    """'EUR 1.2m', 'EUR 73k' or 'EUR 6,585'; 'n/a' when unknown."""
    if not is_known(x):
        return "n/a"
    x = float(x)
    cur = f"{currency} " if currency else ""
    if abs(x) >= 1e6:
        return f"{cur}{x / 1e6:,.1f}m"
    return f"{cur}{x / 1e3:,.0f}k" if abs(x) >= 1e4 else f"{cur}{x:,.0f}"


def format_value(x, kind: str = "number", *, digits: int = 2, currency: str = "") -> str:
    """One number as it reads in prose: a share as a percentage with ``digits`` decimals, money
    with :func:`format_money`, a count as a whole number, anything else with ``digits`` decimals."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    if not is_known(x):
        return "n/a"
    if kind == "share":
        return f"{float(x):.{digits}%}"
    if kind == "money":
        return format_money(x, currency)
    if kind == "count":
        return format_count(x)
    return f"{float(x):,.{digits}f}"


def interval_digits(lo, hi, kind: str = "number", digits: int = 2) -> int:
    """``digits``, or up to two more when the interval's bounds would print the same ('95% CI
    -23 to -23' from a million responses reads as no uncertainty at all: '-23.4 to -22.8')."""
    if kind not in ("number", "share") or not (is_known(lo) and is_known(hi)) or float(lo) == float(hi):
        return digits
    d = digits
    while d < digits + 2 and format_value(lo, kind, digits=d) == format_value(hi, kind, digits=d):
        d += 1
    return d


def format_interval(lo, hi, kind: str = "number", *, digits: int = 2, currency: str = "") -> str:
    """'95% CI 31–37%' (shares keep one percent sign), '95% CI EUR 64k–EUR 81k', '95% CI 0.81–0.86';
    'to' instead of a dash when a bound is negative ('95% CI -25 to -22'). Bounds that would print
    the same get a digit or two more (:func:`interval_digits`)."""
    if not (is_known(lo) and is_known(hi)):
        return f"{LEVEL} n/a"
    digits = interval_digits(lo, hi, kind, digits)
    a = format_value(lo, kind, digits=digits, currency=currency)
    b = format_value(hi, kind, digits=digits, currency=currency)
    if kind == "money" and 1e3 <= abs(float(lo)) < 1e4 <= abs(float(hi)) < 1e6:   # one unit: 'EUR 9.6k–EUR 48k'
        a = f"{currency + ' ' if currency else ''}{float(lo) / 1e3:,.1f}k"
    if kind == "share":
        a = a.rstrip("%")
    return f"{LEVEL} {a} to {b}" if float(lo) < 0 or float(hi) < 0 else f"{LEVEL} {a}–{b}"


def format_estimate(x, lo, hi, kind: str = "number", *, digits: int = 2, currency: str = "",
                    n=None, unit: str = "") -> str:
    """'34% (95% CI 31–37%, n = 720)': an estimate with its interval and the n it rests on
    (``unit`` names what n counts: 'n = 720 journeys'). The estimate keeps its interval's digits."""
    digits = interval_digits(lo, hi, kind, digits)
    text = format_value(x, kind, digits=digits, currency=currency)
    if text == "n/a":
        return text
    inside = [format_interval(lo, hi, kind, digits=digits, currency=currency)] if is_known(lo) and is_known(hi) else []
    if n is not None:
        inside.append(f"n = {format_count(n)}" + (f" {unit}" if unit else ""))
    return f"{text} ({', '.join(inside)})" if inside else text


def format_share(p, ci: tuple[float, float], n: int | None = None, digits: int = 0) -> str:
    """'34% (95% CI 31–37%, n = 720)'."""
    return format_estimate(p, ci[0], ci[1], "share", digits=digits, n=n)


ACRONYMS = {"nps": "NPS", "csat": "CSAT", "ces": "CES", "fcr": "FCR", "ivr": "IVR", "kpi": "KPI", "auc": "AUC",
            "bic": "BIC"}
WORDS = {"aht": "handle time", "rw": "relative-weight", "shapley": "Shapley", "diff": "difference", "ΔBIC": "BIC gain"}
SUFFIXES = {"lo": "95% low", "hi": "95% high"}
LEVELS = ("journey", "touchpoint", "relationship", "operational")
_DISPLAY_NAMES: dict[str, str] = {}


def use_display_names(names: dict[str, str] | None) -> None:
    """Set the client's display names (raw value -> label, from the config's ``display_names``)
    that :func:`humanize` and :func:`style_table` use from now on in this process."""
    _DISPLAY_NAMES.clear()
    _DISPLAY_NAMES.update({str(k): str(v) for k, v in (names or {}).items()})


@contextmanager
def display_names(names: dict[str, str] | None):
    """``with display_names(config.display_names):`` the client's display names, for code that
    writes a page in a process that may write other clients' pages too (the report runner);
    the names in use before come back afterwards."""
    before = dict(_DISPLAY_NAMES)
    use_display_names(names)
    try:
        yield
    finally:
        use_display_names(before)


def display_name(value) -> str:
    """The client's display name for a raw value, else the value unchanged."""
    return _DISPLAY_NAMES.get(str(value), str(value))


def humanize(name) -> str:
    """A raw identifier as words for prose: the client's display name when it has one, else
    'new_install' -> 'new install', 'relationship nps' -> 'relationship NPS', 'aht_s_lo' ->
    'handle time (s) 95% low'; 'journey: new_install' is read part by part."""
    text = str(name)
    if text in _DISPLAY_NAMES:
        return _DISPLAY_NAMES[text]
    if ": " in text:
        head, rest = text.split(": ", 1)
        if head in LEVELS:    # a driver named by its survey level: 'journey: new_install' -> 'new install (journey)'
            return f"{humanize(rest)} ({head})"
        return f"{humanize(head)}: {humanize(rest)}"
    if " = " in text:
        return " = ".join(humanize(part) for part in text.split(" = ", 1))
    if text in SUFFIXES:      # a bare interval column: 'lo' -> '95% low'
        return SUFFIXES[text]
    words = text.replace("_", " ").split(" ")
    suffix = SUFFIXES.get(words[-1]) if len(words) > 1 else None
    words = words[:-1] if suffix else words
    out = [("(s)" if w == "s" and i else WORDS.get(w, ACRONYMS.get(w.lower(), w))) for i, w in enumerate(words)]
    return " ".join(out + ([suffix] if suffix else []))


def capitalize(text: str) -> str:
    """The first letter as a capital, also after opening markup ('**new install**' ->
    '**New install**', '<b>move</b>' -> '<b>Move</b>'); the rest unchanged."""
    import re
    m = re.match(r"(\*\*|<b>)?([a-z])", text)
    return text[:m.start(2)] + m.group(2).upper() + text[m.end(2):] if m else text


def format_bullets(lines) -> str:
    """Sentences as a Markdown list (empty string for none)."""
    return "\n".join(f"- {line}" for line in lines)


WIDE = 10   # a table with more columns than this, and fewer rows than columns, is shown transposed

WORD_COLUMNS = ("journey_type", "avoidable_cause", "root_cause", "channel")
"""Text columns whose values are identifiers cxlib names things by (a journey type, an avoidable
cause, a root cause built from them and the client's codes, a channel of the data contract):
:func:`style_table` shows them in words, as the client's display name or with underscores as spaces
('no update on new install', 'field visit')."""


def _in_words(value):
    return _DISPLAY_NAMES.get(value) or value.replace("_", " ") if isinstance(value, str) else value


def style_table(df, *, counts=(), shares=(), money=(), decimals: dict | None = None, share_digits: int = 1,
                hide_index: bool = False, transpose: bool | None = None, rounded=()):
    """A table as a client reads it: column names in words ('completion rate', 'journey NPS'),
    counts as whole numbers, shares as percentages, money without decimals, ``rounded`` estimates
    (churners saved, BIC gains) by :func:`format_rounded`, ``decimals``
    ({column: digits}) for the rest, missing values as '–', text left-aligned and every text
    cell HTML-escaped; the identifiers of :data:`WORD_COLUMNS` in words. Columns the frame lacks are
    ignored. A wide table (more than ``WIDE`` columns and fewer rows than columns; or
    ``transpose=True``) is shown transposed, one row per column, so it fits a page."""
    words = [c for c in WORD_COLUMNS if c in df.columns]
    if words:    # a copy: the caller's frame keeps its identifiers
        df = df.assign(**{c: df[c].map(_in_words) for c in words})
    if transpose or (transpose is None and len(df.columns) > WIDE and len(df) < len(df.columns) and not hide_index):
        return _style_transposed(df, counts, shares, money, decimals, share_digits, rounded)
    cols = set(df.columns)
    fmt = {c: (lambda v: format_count(v) if is_known(v) else "–") for c in counts if c in cols}
    fmt |= {c: (lambda v: format_rounded(v) if is_known(v) else "–") for c in rounded if c in cols}
    fmt |= {c: (lambda v, d=share_digits: format_value(v, "share", digits=d) if is_known(v) else "–")
            for c in shares if c in cols}
    fmt |= {c: (lambda v: f"{float(v):,.0f}" if is_known(v) else "–") for c in money if c in cols}
    fmt |= {c: (lambda v, d=d: f"{float(v):,.{d}f}" if is_known(v) else "–")
            for c, d in (decimals or {}).items() if c in cols}
    df = df.rename_axis(index=[humanize(n) if n else n for n in df.index.names],   # a copy, not the caller's
                        columns=humanize(df.columns.name) if df.columns.name else None)
    if _DISPLAY_NAMES:
        from pandas.api.types import is_string_dtype
        texts = [c for c in df.columns if c not in fmt and (df[c].dtype == object or is_string_dtype(df[c]))]
        df = df.assign(**{c: df[c].map(lambda v: _DISPLAY_NAMES.get(v, v) if isinstance(v, str) else v) for c in texts})
    styler = df.style.format(fmt, na_rep="–", escape="html") \
        .format_index(lambda v: humanize(v) if isinstance(v, str) else v, escape="html", axis=0) \
        .format_index(humanize, escape="html", axis=1)
    from pandas.api.types import is_numeric_dtype
    texts = [c for c in df.columns if not is_numeric_dtype(df[c]) and c not in fmt]
    if texts:
        styler = styler.set_properties(subset=texts, **{"text-align": "left"})
    return styler.hide(axis="index") if hide_index else styler


def _style_transposed(df, counts, shares, money, decimals, share_digits, rounded=()):
    """:func:`style_table` of ``df`` turned on its side: each cell formatted by its original
    column first, so a row keeps its column's format."""
    import pandas as pd
    cells = pd.DataFrame(index=df.index)
    for c in df.columns:
        col = df[c]
        if c in counts:
            f = lambda v: format_count(v)  # noqa: E731
        elif c in rounded:
            f = format_rounded
        elif c in shares:
            f = lambda v: format_value(v, "share", digits=share_digits)  # noqa: E731
        elif c in money:
            f = lambda v: f"{float(v):,.0f}"  # noqa: E731
        elif c in (decimals or {}):
            f = lambda v, d=decimals[c]: f"{float(v):,.{d}f}"  # noqa: E731
        else:
            f = lambda v: display_name(v) if isinstance(v, str) else str(v)  # noqa: E731
        cells[c] = ["–" if v is None or (not isinstance(v, str) and pd.isna(v)) else f(v) for v in col]
    t = cells.T
    t.index.name = None
    t.columns = [humanize(v) if isinstance(v, str) else v for v in t.columns]
    t.columns.name = humanize(df.index.name) if df.index.name else None
    return t.style.format(escape="html").format_index(humanize, escape="html", axis=0) \
        .format_index(escape="html", axis=1)


def format_numbered(lines) -> str:
    """Sentences as a numbered Markdown list."""
    return "\n".join(f"{i}. {line}" for i, line in enumerate(lines, 1))
