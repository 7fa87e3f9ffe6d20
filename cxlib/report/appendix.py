"""The appendix page: what an analyst needs to reproduce or audit the report, kept off the
client's pages. The run (status, times, seed, parameters, commit, Python), every input file
with its size and SHA-256 hash, the package versions, each section's run time and the client
settings as loaded. Everything comes from the run's provenance record and the client's config
file, and every string is HTML-escaped."""
from __future__ import annotations

import html
from pathlib import Path

from cxlib.core.paths import ClientPaths

TITLE = "Appendix: how this report was made"


def _table(header: list[str], rows: list[list]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_appendix(provenance: dict, config_text: str | None, *, name: str, css: str, nav_html: str = "",
                    footer: str = "") -> str:
    """The appendix as one self-contained HTML page."""
    git = provenance.get("git") or {}
    run = [["status", provenance.get("status")], ["started", provenance.get("started_at")],
           ["written", provenance.get("written_at")], ["seed", provenance.get("seed")],
           ["commit", (git.get("commit") or "not in git") + (" (uncommitted changes)" if git.get("dirty") else "")],
           ["Python", provenance.get("python")], ["platform", provenance.get("platform")]]
    run += [[f"parameter {k}", v] for k, v in (provenance.get("parameters") or {}).items()]
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(name)}: "
             f"{TITLE}</title><style>{css}</style></head><body>{nav_html}<h1>{TITLE}</h1>",
             "<p>For the analyst: what is needed to reproduce and audit this report. Rerunning with the same "
             "inputs (the hashes below), settings, seed and package versions gives the same figures.</p>",
             "<h2>The run</h2>", _table(["item", "value"], run)]
    if provenance.get("error"):
        parts.append(f"<p class='failed'>{html.escape(str(provenance['error']))}</p>")
    inputs = [[i.get("role"), Path(str(i.get("path", ""))).name,
               f"{i['bytes']:,}" if isinstance(i.get("bytes"), int) else "not found", i.get("sha256") or "–"]
              for i in provenance.get("inputs") or []]
    if inputs:
        parts += ["<h2>Input files</h2>", _table(["role", "file", "bytes", "SHA-256"], inputs)]
    times = [[k, f"{v:,.1f}"] for k, v in (provenance.get("notebooks") or {}).items()]
    if times:
        parts += ["<h2>Section run times</h2>", _table(["section", "seconds"], times)]
    packages = [[k, v] for k, v in sorted((provenance.get("packages") or {}).items())]
    if packages:
        parts += ["<h2>Package versions</h2>", _table(["package", "version"], packages)]
    if config_text:
        parts += ["<h2>Client settings</h2><p>The configuration file as read (its keys are documented in the "
                  "README's configuration reference).</p>", f"<pre>{html.escape(config_text)}</pre>"]
    if footer:
        parts.append(f"<footer class='cx-provenance'>{html.escape(footer)}</footer>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_appendix(paths: ClientPaths, provenance: dict, *, name: str, css: str, nav_html: str = "",
                   footer: str = "") -> Path:
    """Write the appendix page into the run folder (``paths.appendix``) and return its path."""
    config_text = paths.config.read_text(encoding="utf-8") if paths.config.exists() else None
    paths.appendix.write_text(render_appendix(provenance, config_text, name=name, css=css, nav_html=nav_html,
                                              footer=footer), encoding="utf-8")
    return paths.appendix
