"""The paper side by side (issue 12): each headline claim with the run's number and whether the
direction agrees."""

from __future__ import annotations

import math

import pandas as pd

from factsurv.analysis.paper import paper_comparison
from factsurv.tables import PAPER_COLUMNS


def summary(over=None) -> pd.DataFrame:
    rows = {
        ("baseline_greedy_recall", "hpo/train"): (0.05, 0.03, 0.08, math.nan),
        ("final_recall", "hpo/train"): (0.60, 0.55, 0.65, math.nan),
        ("hr_latent_acquisition", "multivariable"): (2.1, 1.5, 2.9, 1e-5),
        ("hr_latent_acquisition", "univariable"): (0.8, 0.5, 1.2, 0.3),
        ("generalization_share", "go"): (0.04, 0.02, 0.07, math.nan),
        ("generalization_share", "go/latent"): (0.10, 0.05, 0.2, math.nan),
        ("generalization_share", "go/not latent"): (0.02, 0.01, 0.04, math.nan),
        ("degradation_share", "go/seen"): (0.10, 0.05, 0.2, math.nan),
        ("degradation_share", "go/unseen"): (0.15, 0.08, 0.25, math.nan),
    }
    rows.update(over or {})
    return pd.DataFrame([{"metric": m, "group": g, "value": v, "lower_95": lo, "upper_95": hi, "p": p}
                         for (m, g), (v, lo, hi, p) in rows.items()])


def agrees(table: pd.DataFrame) -> dict[str, str]:
    return dict(zip(table["metric"], table["agrees"]))


def test_claims_and_directions():
    table = paper_comparison(summary())
    assert tuple(table.columns) == PAPER_COLUMNS
    a = agrees(table)
    assert a["final_recall hpo/train"] == "yes"  # 60 % vs 5 %, intervals apart
    assert a["hr_latent_acquisition multivariable"] == "yes"
    assert a["generalization_share go"] == "yes"
    assert a["generalization_share go/latent vs go/not latent"] == "yes"
    assert a["degradation_share go/unseen vs go/seen"] == "direction only"  # intervals overlap
    paper = dict(zip(table["metric"], table["paper"]))
    assert paper["final_recall hpo/train"] == 0.719 and paper["hr_latent_acquisition multivariable"] == 2.6
    assert paper["baseline_greedy_recall hpo/train"] == 0.028 and paper["generalization_share go"] == 0.058


def test_opposite_direction_and_missing_data():
    table = paper_comparison(summary({("degradation_share", "go/unseen"): (0.01, 0.0, 0.05, math.nan)}),
                             hr_model="univariable")
    a = agrees(table)
    assert a["degradation_share go/unseen vs go/seen"] == "no"
    assert a["hr_latent_acquisition univariable"] == "no"
    s = summary()
    s = s[s["metric"] != "generalization_share"]
    a = agrees(paper_comparison(s))
    assert a["generalization_share go"] == "not estimated"
    assert a["generalization_share go/latent vs go/not latent"] == "not estimated"


def test_the_reports_first_page_shows_the_headline_table(tmp_path):
    """workflow/report/workflow.rst rendered as Snakemake renders it (Jinja, then docutils) with one
    paper_comparison.tsv among the report's files: the table is on the first page."""
    import copy
    from pathlib import Path
    from types import SimpleNamespace

    import yaml
    from docutils.core import publish_parts
    from jinja2 import Environment

    from factsurv.config import validate_config
    from factsurv.io import write_tsv

    repo = Path(__file__).resolve().parents[1]
    cfg = yaml.safe_load((repo / "tests/configs/tiny_experiment.yaml").read_text())
    for onto in cfg["ontologies"].values():
        for part in ("obo", "annotations"):
            onto[part]["path"] = str(repo / onto[part]["path"])
    cfg = validate_config(copy.deepcopy(cfg), repo / "workflow/schemas/config.schema.yaml")
    table = tmp_path / "results/grid-bs4-s1/analysis/paper_comparison.tsv"
    write_tsv(paper_comparison(summary()), table)
    text = (repo / "workflow/report/workflow.rst").read_text()
    rst = Environment().from_string(text).render(snakemake=SimpleNamespace(config=cfg), categories={},
                                                 files=[SimpleNamespace(path=table)])
    html = publish_parts(rst, writer_name="html")["html_body"]
    assert "The paper side by side: run grid-bs4-s1" in html
    assert "<th class=\"head\">agrees</th>" in html and "HPO recall rises with training" in html
    assert "<strong>grid</strong>" in html  # the experiment is named on the first page
