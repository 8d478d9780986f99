"""The headline table: each headline quantity of a run with the paper's number beside it and whether
the run agrees with the paper's claim, and the report's first page that shows it."""

from __future__ import annotations

import math

import pandas as pd

from factsurv.analysis.paper import paper_comparison
from factsurv.tables import PAPER_COLUMNS


def summary(over=None) -> pd.DataFrame:
    rows = {
        ("epochs", "all"): (12, math.nan, math.nan, math.nan),
        ("baseline_greedy_recall", "hpo/train"): (0.05, 0.03, 0.08, math.nan),
        ("final_recall", "hpo/train"): (0.60, 0.55, 0.65, math.nan),
        ("latent_share", "hpo/train"): (0.12, 0.09, 0.15, math.nan),
        ("latent_share", "go/heldout"): (0.07, 0.05, 0.09, math.nan),
        ("hr_latent_acquisition", "multivariable"): (2.1, 1.5, 2.9, 1e-5),
        ("hr_latent_acquisition", "univariable"): (0.8, 0.5, 1.2, 0.3),
        ("generalization_share", "go"): (0.04, 0.02, 0.07, math.nan),
        ("generalization_share", "go/latent"): (0.10, 0.05, 0.2, math.nan),
        ("generalization_share", "go/not latent"): (0.02, 0.01, 0.04, math.nan),
        ("degradation_share", "go/seen"): (0.10, 0.05, 0.2, math.nan),
        ("degradation_share", "go/unseen"): (0.15, 0.08, 0.25, math.nan),
        ("control_accuracy", "arithmetic/epoch 0"): (0.57, 0.50, 0.64, math.nan),
        ("control_accuracy", "arithmetic/final epoch"): (0.02, 0.01, 0.05, math.nan),
    }
    rows.update(over or {})
    flags = {("hr_latent_acquisition", "multivariable"): "PH violated"}
    return pd.DataFrame([{"metric": m, "group": g, "value": v, "lower_95": lo, "upper_95": hi, "p": p,
                          "ph_p": 0.003 if m.startswith("hr_") else math.nan, "flag": flags.get((m, g), math.nan)}
                         for (m, g), (v, lo, hi, p) in rows.items()])


def agrees(table: pd.DataFrame) -> dict[str, str]:
    return dict(zip(table["metric"] + " " + table["group"], table["agrees"]))


def test_claims_and_directions():
    table = paper_comparison(summary())
    assert tuple(table.columns) == PAPER_COLUMNS
    a = agrees(table)
    assert a["final_recall hpo/train"] == "yes"  # 60 % vs 5 %, intervals apart
    assert a["hr_latent_acquisition multivariable"] == "yes"
    assert a["generalization_share go"] == "yes"
    assert a["generalization_share go/latent vs go/not latent"] == "yes"
    assert a["degradation_share go/unseen vs go/seen"] == "direction only"  # intervals overlap
    paper = dict(zip(table["metric"] + " " + table["group"], table["paper"]))
    assert paper["final_recall hpo/train"] == 0.719 and paper["hr_latent_acquisition multivariable"] == 2.6
    assert paper["baseline_greedy_recall hpo/train"] == 0.028 and paper["generalization_share go"] == 0.058
    assert a["control_accuracy arithmetic/final epoch vs arithmetic/epoch 0"] == "yes"  # 57 % -> 2 %
    rows = table.set_index(table["metric"] + " " + table["group"])
    hr = rows.loc["hr_latent_acquisition multivariable"]
    assert hr["run_text"] == "2.1 [1.5, 2.9], p = 1e-05" and hr["flag"] == "PH violated"
    assert "identifier frequency and annotation counts" in hr["note"]
    assert rows.loc["final_recall hpo/train", "run_text"] == "60.0 % [55.0, 65.0]"
    assert "epoch 12" in rows.loc["final_recall hpo/train", "quantity"]
    # the univariable HR is shown, without a paper value: the paper's 2.6 is adjusted
    uni = rows.loc["hr_latent_acquisition univariable"]
    assert math.isnan(uni["paper"]) and uni["agrees"] == ""
    assert rows.loc["latent_share hpo/train", "run_text"] == "12.0 % [9.0, 15.0]"


def test_the_hazard_ratio_agrees_only_at_the_papers_threshold():
    """The paper's claim is HR > 1 with p < 0.001: p = 0.033 is the direction only."""
    for p, expected in ((0.033, "direction only"), (0.0009, "yes"), (math.nan, "direction only")):
        t = paper_comparison(summary({("hr_latent_acquisition", "multivariable"): (1.8, 1.05, 3.1, p)}))
        assert agrees(t)["hr_latent_acquisition multivariable"] == expected, p


def test_opposite_direction_and_missing_data():
    table = paper_comparison(summary({("degradation_share", "go/unseen"): (0.01, 0.0, 0.05, math.nan)}),
                             hr_model="univariable")
    a = agrees(table)
    assert a["degradation_share go/unseen vs go/seen"] == "no"
    assert a["hr_latent_acquisition univariable"] == "no"  # HR 0.8 against the paper's > 1
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
    env = Environment(trim_blocks=True, lstrip_blocks=True)  # as Snakemake's report renders it
    rst = env.from_string(text).render(snakemake=SimpleNamespace(config=cfg), categories={},
                                       files=[SimpleNamespace(path=table)])
    html = publish_parts(rst, writer_name="html", settings_overrides={"report_level": 1})["html_body"]
    assert "System Message" not in html and "system-message" not in html, html
    assert "Headline of run <strong>grid-bs4-s1</strong>" in html
    for cell in ("agrees", "HPO recall, trained facts, after epoch 12", "60.0 % [55.0, 65.0]", "71.9 % (after 20 epochs)",
                 "2.1 [1.5, 2.9], p = 1e-05", "direction only"):
        assert f"{cell}</" in html, cell
    assert "PH violated; the paper's HR is adjusted" in html
    assert "<strong>grid</strong>" in html  # the experiment is named on the first page
