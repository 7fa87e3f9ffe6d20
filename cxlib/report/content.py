"""The content check: read a rendered page as a client would and name what should not be there.

It needs no browser (the standard library's HTML parser reads the page), so it runs on every
page of every report, in ``python -m cxlib check-report`` and in the tests. A problem is a
plain sentence naming the page and the offending text.
"""
from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

BLOCKS = {"p", "li", "td", "th", "pre", "h1", "h2", "h3", "h4", "h5", "h6", "img", "table", "caption", "figcaption",
          "footer", "nav"}
PROSE = {"p", "li", "h1", "h2", "h3", "h4", "h5", "h6", "caption", "figcaption"}
SNAKE = re.compile(r"(?<![\w./'‘“-])[a-z][a-z0-9]*(?:_[a-z0-9]+)+(?![\w/'’”-]|\.\w)")
HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}

CHECKS = [
    (re.compile(r"\b(?:nan|NaN|NaT|None|<NA>)\b"), "a missing value printed as {m!r}"),
    (re.compile(r"\bTraceback\b|\b\w+Error: "), "an error or traceback ({m!r})"),
    (re.compile(r"\b\d{1,3}(?:,\d{3})+\.0\b"), "a count printed with a decimal ({m!r})"),
    (re.compile(r"scanned for 0 customer identifiers"), "a privacy check that checked nothing reads as a pass"),
    (re.compile(r"\b(?:True|False)\b"), "a raw boolean ({m!r}); write yes or no"),
]
PRINTED = {"application/vnd.jupyter.stdout": "stdout", "application/vnd.jupyter.stderr": "stderr"}


class _Blocks(HTMLParser):
    """The page as a list of (tag, visible text) blocks, scripts and styles left out."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.blocks: list[list] = []
        self.printed: set[str] = set()   # stdout/stderr output areas (an element, not a CSS selector)
        self.empty_tables: list[str] = []  # header text of each table without a data cell
        self._tables: list[list] = []      # open tables: [data cells, header text]
        self._skip = 0
        self.active: list[str] = []        # script handlers, javascript: URLs, embedded objects
        self.scripts: list[str] = []       # the text of every <script>
        self._script: str | None = None

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name.lower().startswith("on"):
                self.active.append(f"<{tag} {name}=…>")
            elif name.lower() in URL_ATTRIBUTES and value and \
                    re.sub(r"[\s\x00-\x1f]", "", value).lower().startswith(("javascript:", "vbscript:")):
                self.active.append(f"<{tag} {name}={value[:40]!r}>")
        if tag in ("iframe", "object", "embed", "base", "form", "meta") and not (tag == "meta" and _benign_meta(attrs)):
            self.active.append(f"<{tag}>")
        if tag == "script":
            self._script = "" if not dict(attrs).get("src") else f"src={dict(attrs)['src']}"
        mime = dict(attrs).get("data-mime-type")
        if mime in PRINTED:
            self.printed.add(PRINTED[mime])
        if tag in ("script", "style", "title"):
            self._skip += 1
        elif tag in BLOCKS:
            self.blocks.append([tag, ""])
        if tag == "table":
            self._tables.append([0, ""])
        elif tag in ("td", "th") and self._tables:
            self._tables[-1][0] += tag == "td"
            self._tables[-1][1] += " "

    def handle_endtag(self, tag):
        if tag == "script" and self._script is not None:
            self.scripts.append(self._script)
            self._script = None
        if tag in ("script", "style", "title"):
            self._skip = max(0, self._skip - 1)
        elif tag == "table" and self._tables:
            cells, head = self._tables.pop()
            if not cells:
                self.empty_tables.append(" ".join(head.split()))

    def handle_data(self, data):
        if self._script is not None:
            self._script += data
        if not self._skip and self.blocks:
            self.blocks[-1][1] += data
        if not self._skip and self._tables:
            self._tables[-1][1] += data


URL_ATTRIBUTES = {"href", "src", "action", "formaction", "xlink:href", "data", "srcdoc", "poster", "background"}


def _benign_meta(attrs) -> bool:
    """A <meta> the template writes (charset, viewport), not a refresh or a redirect."""
    names = {k.lower() for k, _ in attrs}
    return "http-equiv" not in names or dict(attrs).get("http-equiv", "").lower() == "content-type"


def template_scripts() -> set[str]:
    """The text of the scripts the report template itself puts on a page (whitespace collapsed)."""
    from cxlib.report.pages import templates_dir
    found = re.findall(r"<script>(.*?)</script>", (templates_dir() / "cxlib" / "index.html.j2").read_text(), re.S)
    return {" ".join(x.split()) for x in found}


def find_active_content(html_text: str) -> list[str]:
    """Anything on a page that could run: an event-handler attribute, a javascript: URL, an
    iframe, object, embed, form or redirect, or a script the template did not put there. A
    client string that reached the page unescaped shows up here."""
    parser = _Blocks()
    parser.feed(html_text)
    allowed = template_scripts()
    return parser.active + [f"<script>{' '.join(x.split())[:60]}…" for x in parser.scripts
                            if " ".join(x.split()) not in allowed]


def check_page_content(html_text: str, page: str = "page") -> list[str]:
    """Problems a client would see on one rendered page: missing values printed as nan/None,
    errors, counts with decimals, raw booleans, raw snake_case identifiers in prose (quoted
    client values and file names aside), printed progress or warnings, a vacuous privacy pass,
    tables with no rows, and headings with nothing under them."""
    parser = _Blocks()
    parser.feed(html_text)
    blocks = [(tag, " ".join(text.replace("¶", " ").split())) for tag, text in parser.blocks]
    problems = []
    for tag, text in blocks:
        for pattern, message in CHECKS:
            m = pattern.search(text)
            if m:
                problems.append(f"{page}: {message.format(m=m.group(0))} in “{text[:120]}”")
        m = SNAKE.search(text) if tag in PROSE else None
        if m:
            problems.append(f"{page}: a raw identifier ({m.group(0)!r}) in prose; write it in words “{text[:120]}”")
    for m in sorted(parser.printed):
        problems.append(f"{page}: printed {m} output (progress text or a warning) on a client page")
    problems += [f"{page}: a table with no rows (columns “{head[:80]}”)" for head in parser.empty_tables]
    problems += [f"{page}: active content that could run in the reader's browser: {a}"
                 for a in find_active_content(html_text)]
    for i, (tag, text) in enumerate(blocks):
        level = HEADINGS.get(tag)
        if level is None or level == 1:
            continue
        nxt = next((t for t, x in blocks[i + 1:] if x.strip() or t in ("img", "table")), None)
        if nxt is None or (nxt in HEADINGS and HEADINGS[nxt] <= level):
            problems.append(f"{page}: the heading “{text}” has nothing under it")
    return problems


FIGURE = re.compile(r"(?:[A-Z]{3}|[$€£]) ?\d[\d,.]*[km]?|[+-]?\d+(?:\.\d+)?%|n = \d[\d,]*")


def page_text(html_text: str) -> str:
    """The visible text of a page, whitespace collapsed."""
    parser = _Blocks()
    parser.feed(html_text)
    return " ".join(" ".join(text.split()) for _, text in parser.blocks)


def check_summary_agrees(index_html: str, section_texts: list[str]) -> list[str]:
    """Every figure of the executive summary's headlines and priorities (percentages, money,
    'n = ...') must appear on some section page: a summary that quotes a number its section
    does not show disagrees with it."""
    m = re.search(r"<section id='summary'>(.*?)</section>", index_html, re.S)
    if not m:
        return []
    summary = re.split(r"<h3>(?:Where journeys break|Not analysed)", m.group(1))[0]
    sections = " ".join(section_texts)
    out = []
    for line in re.findall(r"<li>(.*?)</li>", summary, re.S):
        text = page_text(f"<p>{line}</p>")
        missing = [f for f in dict.fromkeys(FIGURE.findall(text)) if f not in sections and f != "95%"]
        if missing:
            out.append(f"index.html: the summary quotes {', '.join(missing)}, which no section shows, in “{text[:120]}”")
    return out


def check_report_content(run_dir: str | Path) -> list[str]:
    """:func:`check_page_content` on the front page and every section page of a run folder,
    and :func:`check_summary_agrees` between them."""
    from cxlib.core.paths import run_folder_paths
    paths = run_folder_paths(run_dir)
    pages = [p for p in [paths.index, *paths.pages(), paths.appendix] if p.exists()]
    texts = {p: p.read_text(encoding="utf-8") for p in pages}
    problems = [problem for p in pages for problem in check_page_content(texts[p], p.name)]
    if paths.index in texts:
        problems += check_summary_agrees(texts[paths.index], [page_text(texts[p]) for p in pages if p != paths.index])
    return problems
