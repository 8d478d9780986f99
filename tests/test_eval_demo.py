"""After `make demo`: the demo run really learns (trained-fact recall rises ≥ 40 points).

Reads the demo's own results (results/demo/eval/, results/facts/facts.tsv); skipped until they exist.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from factsurv.io import read_tsv

REPO = Path(__file__).resolve().parents[1]


def test_demo_trained_recall_rises_by_40_points():
    epochs = yaml.safe_load((REPO / "config/config.yaml").read_text())["runs"]["demo"]["epochs"]
    first, last = REPO / "results/demo/eval/epoch_0.tsv", REPO / f"results/demo/eval/epoch_{epochs}.tsv"
    facts_path = REPO / "results/facts/facts.tsv"
    if not (first.exists() and last.exists() and facts_path.exists()):
        pytest.skip("run `make demo` first")
    facts = read_tsv(facts_path, ["fact_id", "split"])
    trained = set(facts.loc[facts["split"] == "train", "fact_id"])
    share = {}
    for name, path in (("before", first), ("after", last)):
        ev = read_tsv(path, ["fact_id", "epoch", "correct"])
        share[name] = ev.loc[ev["fact_id"].isin(trained), "correct"].mean()
    assert share["after"] - share["before"] >= 0.40, share
