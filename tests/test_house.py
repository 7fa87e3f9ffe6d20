"""The house rules, checked: notebooks are thin py:percent scripts with one shared parameters
cell, the package's layers import one way only, and every run-folder file is named in one place."""
import ast
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from cxlib.core.config import DEFAULT_SEED
from cxlib.report.notebooks import list_notebooks, load_notebook, notebook_parameters

REPO = Path(__file__).resolve().parent.parent
CXLIB = REPO / "cxlib"
NOTEBOOKS = list_notebooks(REPO / "notebooks")

# core -> ingest -> journeys -> drivers -> actions -> report -> cli; plotting and the demo sit
# beside the layers they need (plotting draws on core only; the demo uses the driver model).
LAYERS = {"core": 0, "plotting": 0, "ingest": 1, "journeys": 2, "drivers": 3, "actions": 4, "demo": 4,
          "report": 5, "cli": 6, "__main__": 6}


def code_cells(path):
    return [c for c in load_notebook(path).cells if c.cell_type == "code"]


def test_the_numbered_notebooks_are_scripts_and_no_ipynb_is_tracked():
    assert [p.stem for p in NOTEBOOKS] == ["01_ingest", "02_journeys", "03_drivers", "04_recommendations",
                                           "05_management"]
    tracked = subprocess.run(["git", "ls-files", "notebooks", "tools"], cwd=REPO, capture_output=True,
                             text=True).stdout.split()
    if not tracked:
        pytest.skip("not a git checkout")
    assert not [f for f in tracked if f.endswith(".ipynb")]
    assert "notebooks/*.ipynb" in (REPO / ".gitignore").read_text().splitlines()


def test_nothing_in_the_repository_writes_a_notebook():
    writers = [p for p in [*CXLIB.rglob("*.py"), *REPO.glob("tools/*.py"), *REPO.glob("benchmarks/*.py")]
               if re.search(r"nbformat\.write|nbf\.write|jupytext\.write", p.read_text())]
    assert writers == []


def test_every_notebook_declares_the_same_parameters_with_the_same_defaults(tmp_path):
    import jupytext
    import papermill as pm
    declared = {}
    for nb in NOTEBOOKS:
        ipynb = tmp_path / f"{nb.stem}.ipynb"
        jupytext.write(load_notebook(nb), ipynb)
        declared[nb.stem] = {k: (v["inferred_type_name"], v["default"]) for k, v in pm.inspect_notebook(ipynb).items()}
        ours = {k: (v["inferred_type_name"], v["default"]) for k, v in notebook_parameters(nb).items()}
        assert ours == declared[nb.stem], nb.name          # the runner reads the cell as papermill does
    # every notebook takes the same run parameters; the optional ones (the engine, the bootstrap
    # size) only where they are used, and then with the same default everywhere
    from cxlib.report.runner import OPTIONAL_PARAMETERS
    first = declared["01_ingest"]
    assert {"client", "data_root", "reports_root", "seed", "n_boot"} <= set(first)
    assert first["seed"] == ("int", str(DEFAULT_SEED)) and first["client"] == ("str", '"demo"')
    common = {k: v for k, v in first.items() if k not in OPTIONAL_PARAMETERS}
    for name, params in declared.items():
        assert {k: v for k, v in params.items() if k not in OPTIONAL_PARAMETERS} == common, name
        for k in set(params) & set(OPTIONAL_PARAMETERS):
            assert all(other[k] == params[k] for other in declared.values() if k in other), (name, k)
    assert all(any(k in p for p in declared.values()) for k in OPTIONAL_PARAMETERS)


def test_the_parameters_cell_follows_the_imports_and_holds_typed_literals_only():
    for nb in NOTEBOOKS:
        cells = code_cells(nb)
        imports = ast.parse(cells[0].source)
        assert all(isinstance(s, (ast.Import, ast.ImportFrom)) for s in imports.body), nb.name
        assert "parameters" in cells[1].metadata.get("tags", []), nb.name
        for stmt in ast.parse(cells[1].source).body:
            assert isinstance(stmt, ast.AnnAssign) and isinstance(stmt.value, ast.Constant), (nb.name, ast.dump(stmt))


def test_notebook_cells_are_short_and_define_nothing():
    for nb in NOTEBOOKS:
        for i, cell in enumerate(code_cells(nb)):
            lines = [ln for ln in cell.source.splitlines() if ln.strip()]
            assert len(lines) <= 20, f"{nb.name} code cell {i} has {len(lines)} lines; move the logic into cxlib"
            for node in ast.walk(ast.parse(cell.source)):
                assert not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)), \
                    f"{nb.name} code cell {i} defines a function or class"


def _layer(module: str) -> int:
    parts = module.split(".")
    return LAYERS[parts[1]] if len(parts) > 1 else 0


def _imports(path: Path) -> list[str]:
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append(node.module)
        elif isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level:
            raise AssertionError(f"{path}: use absolute imports (from cxlib.<layer>...)")
    return [m for m in out if m == "cxlib" or m.startswith("cxlib.")]


def test_imports_flow_one_way_from_core_to_the_report():
    modules = sorted(CXLIB.rglob("*.py"))
    top_level = {p.relative_to(CXLIB).parts[0].removesuffix(".py") for p in modules}
    assert top_level - {"__init__"} <= set(LAYERS), "a new top-level module needs a layer in LAYERS"
    upward = []
    for path in modules:
        rel = path.relative_to(CXLIB)
        if rel.name == "__init__.py" and len(rel.parts) == 1:
            continue
        own = LAYERS[rel.parts[0].removesuffix(".py")]
        for imported in _imports(path):
            if imported != "cxlib" and _layer(imported) > own:
                upward.append(f"{rel} imports {imported}")
    assert upward == []


def test_run_folder_files_are_named_only_by_client_paths():
    names = ["metrics.json", "provenance.json", "privacy.json", "journeys.parquet", "journey_steps.parquet",
             "catalogue.csv", "findings.json", "scenarios.json", "quarantine.csv", "quarantine.parquet",
             "accounting.csv", "batch.json"]
    for name in names:
        where = sorted(str(p.relative_to(CXLIB)) for p in CXLIB.rglob("*.py") if name in p.read_text())
        assert where == ["core/paths.py"], (name, where)


def test_the_package_list_matches_the_subpackages():
    declared = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {"cxlib." + ".".join(p.parent.relative_to(CXLIB).parts) if p.parent != CXLIB else "cxlib"
             for p in CXLIB.rglob("__init__.py")}
    assert declared == found | {"cxlib.notebooks"}


@pytest.mark.slow
def test_a_built_wheel_carries_the_notebooks_and_templates_and_finds_them(tmp_path):
    """A non-editable install runs the notebooks and templates it ships (importlib.resources)."""
    wheel_dir, target = tmp_path / "dist", tmp_path / "site"
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheel_dir), str(REPO)],
                           capture_output=True, text=True)
    if build.returncode != 0:
        pytest.skip(f"could not build a wheel here: {build.stderr.strip()[-300:]}")
    wheel = next(wheel_dir.glob("cxlib-*.whl"))
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
                   check=True)
    probe = ("from cxlib.report.notebooks import list_notebooks, notebooks_dir; from cxlib.report.pages import "
             "templates_dir; import cxlib; print(cxlib.__file__); print(notebooks_dir()); "
             "print(len(list_notebooks())); print((templates_dir() / 'cxlib' / 'index.html.j2').exists())")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=tmp_path,
                         env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"}).stdout.split()
    assert out[0].startswith(str(target)) and out[1] == str(target / "cxlib" / "notebooks")
    assert out[2:] == [str(len(NOTEBOOKS)), "True"]


def test_the_content_check_names_what_a_client_should_not_see():
    from cxlib.report.content import check_page_content
    clean = ("<html><head><title>x</title><style>.nan{}</style></head><body><nav>Client call_center</nav><h1>T</h1>"
             "<h2>Summary</h2><p>12.5% of 80,093 contacts (95% CI 12.2–12.7%) in 'change_plan' and data_2025.csv.</p>"
             "<h2>Figures</h2><img src='data:'><table><tr><th>a</th></tr><tr><td>new_install</td></tr></table>"
             "<footer>client call_center</footer></body></html>")
    assert check_page_content(clean) == []
    bad = ("<html><body><h1>T</h1><h2>Empty¶</h2><h2>Catalogue</h2><table><tr><td>nan</td><td>80,093.0</td>"
           "<td>True</td></tr></table><div data-mime-type='application/vnd.jupyter.stderr'><pre>Fitting ...</pre>"
           "</div><p>Privacy check: 4 page(s) scanned for 0 customer identifiers; none found.</p>"
           "<p>ValueError: boom</p><p>The new_install journey (set analysis.cost_per_contact).</p>"
           "<table><thead><tr><th>agent</th><th>FCR</th></tr></thead><tbody></tbody></table></body></html>")
    problems = " | ".join(check_page_content(bad, "p.html"))
    for expected in ("the heading “Empty” has nothing under it", "a missing value printed as 'nan'",
                     "a count printed with a decimal ('80,093.0')", "a raw boolean ('True')", "printed stderr output",
                     "a privacy check that checked nothing", "an error or traceback",
                     "a raw identifier ('new_install') in prose", "a table with no rows (columns “agent FCR”)"):
        assert expected in problems, expected


def test_the_content_check_catches_a_summary_that_disagrees_with_its_sections():
    from cxlib.report.content import check_summary_agrees
    index = ("<section id='summary'><h2>Executive summary</h2><ul class='headlines'><li><b>12.5%</b> of 80,093 "
             "contacts (95% CI 12.2–12.7%), costing EUR 44k a year (n = 741).</li></ul><h3>Not analysed</h3>"
             "<ul><li>churn: 3%</li></ul></section>")
    agrees = "Avoidable contacts: 12.5% of 80,093 agent contacts (95% CI 12.2–12.7%) cost EUR 44k; n = 741 ratings"
    assert check_summary_agrees(index, ["other page", agrees]) == []
    problems = check_summary_agrees(index, [agrees.replace("n = 741", "n = 1,472").replace("EUR 44k", "EUR 45k")])
    assert len(problems) == 1 and "EUR 44k, n = 741" in problems[0]


def test_sections_that_printed_nothing_are_not_rendered():
    import nbformat
    from cxlib.report.pages import prune_empty_sections
    v4 = nbformat.v4
    out = v4.new_output("display_data", data={"text/plain": "x"})
    nb = v4.new_notebook(cells=[v4.new_markdown_cell("# Title\n\nIntro"), v4.new_code_cell("a"),
                                v4.new_markdown_cell("## Empty\n\nMethod text"), v4.new_code_cell("if False: show()"),
                                v4.new_markdown_cell("### Also empty"), v4.new_code_cell("pass"),
                                v4.new_markdown_cell("## Kept"), v4.new_code_cell("show()", outputs=[out]),
                                v4.new_markdown_cell("## Skipped"), v4.new_code_cell("skip()", outputs=[
                                    v4.new_output("display_data", data={"text/markdown": "*Skipped:* no events"})]),
                                v4.new_markdown_cell("## Bullets"), v4.new_code_cell("skip()", outputs=[
                                    v4.new_output("display_data", data={"text/markdown": "- *Skipped:* a\n- *Skipped:* b"})]),
                                v4.new_markdown_cell("## Text only\n\nNo code")])
    kept = [c.source.splitlines()[0] for c in prune_empty_sections(nb).cells if c.cell_type == "markdown"]
    assert kept == ["# Title", "## Kept", "## Text only"]


def test_a_page_with_nothing_to_show_is_named_with_its_reason(tmp_path):
    import nbformat
    from cxlib.report.pages import describe_empty_page
    v4 = nbformat.v4
    note = v4.new_output("display_data", data={"text/markdown": "**No events table:** journeys cannot be rebuilt."})
    skipped = v4.new_output("display_data", data={"text/markdown": "*Skipped:* nothing"})
    empty = v4.new_notebook(cells=[v4.new_markdown_cell("# Journeys\n\nIntro"), v4.new_code_cell("a", outputs=[note]),
                                   v4.new_markdown_cell("## Summary"), v4.new_code_cell("b", outputs=[skipped])])
    full = v4.new_notebook(cells=[*empty.cells[:2], v4.new_markdown_cell("## Map"), v4.new_code_cell("c", outputs=[
        v4.new_output("display_data", data={"image/png": "iVBORw0KGgo="})])])
    for name, nb in (("empty", empty), ("full", full)):
        (tmp_path / f"{name}.ipynb").write_text(nbformat.writes(nb))
    assert describe_empty_page(tmp_path / "empty.ipynb") == "No events table: journeys cannot be rebuilt."
    assert describe_empty_page(tmp_path / "full.ipynb") is None


def test_stderr_stays_off_client_pages_and_goes_to_the_console(tmp_path, capsys):
    import nbformat
    from cxlib.report.content import check_page_content
    from cxlib.report.pages import render_html
    v4 = nbformat.v4
    nb = v4.new_notebook(cells=[v4.new_markdown_cell("# T"), v4.new_code_cell("x", outputs=[
        v4.new_output("stream", name="stderr", text="ERROR:tornado.general:Uncaught exception\nTraceback\n"),
        v4.new_output("display_data", data={"text/markdown": "12 rows"})])])
    src = tmp_path / "01_x.ipynb"
    src.write_text(nbformat.writes(nb))
    page = render_html(src, tmp_path / "01_x.html", "x").read_text()
    assert "Uncaught exception" not in page and "12 rows" in page and check_page_content(page) == []
    assert "Uncaught exception" in capsys.readouterr().err
