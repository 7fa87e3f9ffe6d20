"""The rendered report in a real browser: headless Chromium (Debian's ``chromium``) driven
by Playwright, with every network request refused, so that a page that needs a CDN
fails the check. Each page is screenshotted at desktop width.

Playwright is a development dependency; it uses the system's Chromium and never
downloads a browser.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

from cxlib.core.paths import run_folder_paths

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
# Chromium without its background traffic, as a closed network needs (see the machine notes)
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def find_chromium() -> str | None:
    """Path of a Chromium executable on PATH, or None."""
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def install_chromium(timeout: int = 900) -> tuple[str | None, str]:
    """Install Debian's ``chromium`` with apt-get when running as root; return (path, message)."""
    if find_chromium():
        return find_chromium(), "already installed"
    if not shutil.which("apt-get"):
        return None, "apt-get is not available"
    if os.geteuid() != 0:
        return None, "installing chromium needs root (apt-get install chromium)"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        done = subprocess.run(["apt-get", "install", "-y", "-q", "chromium"], capture_output=True, text=True,
                              env=env, timeout=timeout)
        if done.returncode != 0:
            subprocess.run(["apt-get", "update", "-q"], capture_output=True, env=env, timeout=timeout)
            done = subprocess.run(["apt-get", "install", "-y", "-q", "chromium"], capture_output=True, text=True,
                                  env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, f"apt-get install chromium did not finish within {timeout}s"
    if done.returncode != 0:
        return None, f"apt-get install chromium failed: {done.stderr.strip().splitlines()[-1:]}"
    return find_chromium(), "installed with apt-get"


@dataclass
class PageCheck:
    """What the browser saw on one page."""

    page: str
    screenshot: Path | None = None
    console_errors: list[str] = field(default_factory=list)
    network_requests: list[str] = field(default_factory=list)   # anything not file:// or data:
    failed_requests: list[str] = field(default_factory=list)
    broken_images: list[str] = field(default_factory=list)
    broken_links: list[str] = field(default_factory=list)
    external_resources: list[str] = field(default_factory=list)  # scripts, styles or images from elsewhere
    images: int = 0
    title: str = ""

    @property
    def problems(self) -> list[str]:
        out = []
        for label, items in (("console error", self.console_errors), ("network request", self.network_requests),
                             ("failed request", self.failed_requests), ("broken image", self.broken_images),
                             ("broken link", self.broken_links), ("external resource", self.external_resources)):
            out += [f"{self.page}: {label}: {x}" for x in items]
        return out


_PAGE_FACTS = """() => ({
  title: document.title,
  images: Array.from(document.images).map(i => ({src: i.getAttribute('src') || '',
      ok: i.complete && i.naturalWidth > 0})),
  links: Array.from(document.querySelectorAll('a[href]')).map(a => a.href),
  ids: Array.from(document.querySelectorAll('[id]')).map(e => e.id),
  external: Array.from(document.querySelectorAll('script[src], link[href], img[src], iframe[src]'))
      .map(e => e.getAttribute('src') || e.getAttribute('href'))
      .filter(u => u && !u.startsWith('data:') && !u.startsWith('#')),
})"""


def _link_problem(href: str, page: Path, ids: set[str]) -> str | None:
    url = urlparse(href)
    if url.scheme in ("http", "https", "mailto"):
        return None  # a link for the reader to follow, not a resource the page needs
    if url.scheme != "file":
        return href
    target = Path(unquote(url.path))
    if target == page and url.fragment:
        return None if url.fragment in ids else href
    return None if target.exists() else href


def _offline_route(check: PageCheck):
    """A route handler that lets file:// and data: through and refuses (and records) the rest."""
    def handle(route):
        url = route.request.url
        if url.startswith(("file:", "data:")):
            return route.continue_()
        check.network_requests.append(url)
        return route.abort()
    return handle


def check_report(run_dir: str | Path, screenshots_dir: str | Path | None = None, *, width: int = 1440,
                 chromium: str | None = None, pdf: str | Path | None = None) -> list[PageCheck]:
    """Open index.html and every section of a rendered report in headless Chromium with the
    network cut off; record console errors, requests that leave the file system, broken
    images and links, and save a full-page screenshot of each at ``width`` pixels. With
    ``pdf``, also print every page (print styles, A4) and join them, summary first, into
    that one file."""
    from playwright.sync_api import sync_playwright

    paths = run_folder_paths(run_dir)
    shots = Path(screenshots_dir) if screenshots_dir else paths.screenshots_dir
    shots.mkdir(parents=True, exist_ok=True)
    chromium = chromium or find_chromium()
    if chromium is None:
        raise RuntimeError("no chromium on PATH; install Debian's chromium (apt-get install chromium)")
    pages = [p for p in [paths.index, *paths.pages(), paths.appendix] if p.exists()]
    results, printed = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": width, "height": 900})
        for path in pages:
            check = PageCheck(path.name)
            page = context.new_page()

            page.route("**/*", _offline_route(check))
            page.on("console", lambda m, c=check: c.console_errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e, c=check: c.console_errors.append(str(e)))
            page.on("requestfailed", lambda r, c=check: None if r.url in c.network_requests
                    else c.failed_requests.append(r.url))
            page.goto(path.as_uri(), wait_until="load")
            facts = page.evaluate(_PAGE_FACTS)
            check.title = facts["title"]
            check.images = len(facts["images"])
            check.broken_images = [i["src"][:80] for i in facts["images"] if not i["ok"]]
            ids = set(facts["ids"])
            check.broken_links = [h for h in facts["links"] if _link_problem(h, path, ids)]
            check.external_resources = facts["external"]
            check.screenshot = shots / f"{path.stem}.png"
            page.screenshot(path=str(check.screenshot), full_page=True)
            if pdf:
                printed.append(page.pdf(format="A4", print_background=True, prefer_css_page_size=True))
            page.close()
            results.append(check)
        browser.close()
    if pdf:
        join_pdfs(printed, pdf)
    return results


def join_pdfs(documents: list[bytes], out: str | Path) -> Path:
    """Join printed pages (PDF bytes, in order) into one PDF file, written atomically."""
    import io
    from pypdf import PdfWriter
    writer = PdfWriter()
    for doc in documents:
        writer.append(io.BytesIO(doc))
    out = Path(out)
    tmp = out.with_suffix(".pdf.tmp")
    with open(tmp, "wb") as f:
        writer.write(f)
    tmp.replace(out)
    return out
