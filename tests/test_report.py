"""The report's first page, built by `snakemake --report` from the session's finished tiny run: the
headline table of every run with the paper beside it, as a table on the page, the demo disclaimer,
links to the figures by category, and no docutils error ("System Message")."""

from __future__ import annotations

import html as htmllib
import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from conftest import REPO, run_snakemake

CONFIG = "tests/configs/tiny.yaml"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def report(finished_tiny_run, tmp_path_factory) -> tuple[Path, str, str]:
    """(the run's copy, the report's HTML, its first page's HTML)."""
    wd = tmp_path_factory.mktemp("report") / "wf"
    shutil.copytree(finished_tiny_run.workdir, wd, symlinks=True, ignore=shutil.ignore_patterns("locks", "incomplete"))
    # the captions and the first page as they are now (a reused run's copy may be older)
    shutil.rmtree(wd / "workflow/report")
    shutil.copytree(REPO / "workflow/report", wd / "workflow/report")
    proc = run_snakemake(wd, "--report", "results/report.html", "--configfile", CONFIG)
    assert "System Message" not in proc.stdout + proc.stderr
    html = (wd / "results/report.html").read_text()
    m = re.search(r"var workflow_desc = (\".*?\");\n", html)
    assert m, "no workflow description in the report"
    return wd, html, json.loads(m.group(1))


def test_no_docutils_error_on_the_first_page(report):
    _, html, page = report
    assert "System Message" not in page and "system-message" not in page, page
    assert "System Message" not in html


def test_the_headline_table_is_on_the_first_page(report):
    wd, _, page = report
    tables = sorted(wd.glob("results/*/analysis/paper_comparison.tsv"))
    assert tables
    for path in tables:
        run = path.parent.parent.name
        assert f"Headline of run <strong>{run}</strong>" in page
        for r in pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False).itertuples():
            # each row's quantity, the run's number and the paper's, as cells of an HTML table
            for cell in (htmllib.escape(c, quote=False) for c in (r.quantity, r.run_text, r.paper_text)):
                assert f"<td>{cell}</td>" in page or f"<td><p>{cell}</p></td>" in page, (cell, page)
    assert "2.6, p &lt; 0.001" in page  # the paper's HR beside the run's
    assert "not from Llama-3.1-8B-Instruct" in page  # the demo disclaimer


def test_links_to_the_figures_by_category(report):
    _, _, page = report
    for category in ("Survival curves", "Hazard ratios", "Learning dynamics"):
        assert re.search(rf"<a class=\"reference external\" href=\"javascript:app.showCategory\('{category.replace(' ', '%20')}'\)\">{category}</a>", page), category


def test_the_stylesheet_puts_the_tables_at_full_width_and_the_graph_below(report):
    """profiles/default sets report-stylesheet: Snakemake embeds it; without it the landing page
    squeezes the headline tables beside a job graph taller than the screen."""
    _, html, _ = report
    css = (REPO / "workflow/report/stylesheet.css").read_text()
    assert "flex-wrap: wrap" in css and ".prose.prose-sm.max-w-lg { max-width: 64rem; }" in css
    assert ".prose.prose-sm.max-w-lg { max-width: 64rem; }" in html


def test_the_loss_vs_learning_section(report):
    """Rule learning_dynamics' figures and its stopping table, with their captions, under their own
    category (docs/consolidation.md)."""
    _, html, page = report
    assert "javascript:app.showCategory('Loss%20vs%20learning')" in page
    for caption in ("Loss vs learning for run tiny", "Consolidation in run tiny", "Stopping criteria for run tiny",
                    "The stopping criteria of run tiny"):
        assert caption in html, caption
