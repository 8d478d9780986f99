"""Per-epoch sets on hand-made trajectories, confident errors, losses from checkpoints."""

from __future__ import annotations

import json
import math

import pandas as pd

from factsurv.analysis.epoch_sets import epoch_sets, train_losses
from factsurv.tables import SET_COLUMNS
from factsurv.analysis.figures import plot_epoch_sets


def _traj(rows: dict[str, list[int]], split: str = "train") -> pd.DataFrame:
    return pd.DataFrame([{"fact_id": f, "epoch": e, "correct": c, "split": split}
                         for f, cs in rows.items() for e, c in enumerate(cs)])


def test_sets_on_hand_made_trajectories():
    traj = _traj({
        "a": [0, 1, 1, 1],  # new at 1, retained at 2 and 3
        "b": [0, 1, 0, 1],  # new at 1, forgotten at 2, relearned at 3
        "c": [1, 0, 0, 1],  # known at 0, forgotten at 1, relearned at 3
        "d": [0, 0, 0, 1],  # new at 3
        "e": [0, 0, 0, 0],
    })
    t = epoch_sets(traj).set_index("epoch")
    assert list(t.columns) == [c for c in SET_COLUMNS if c != "epoch"]
    assert list(t["correct"]) == [1, 2, 1, 4]
    assert list(t.loc[1:, "new"]) == [2, 0, 1]
    assert list(t.loc[1:, "retained"]) == [0, 1, 1]
    assert list(t.loc[1:, "forgotten"]) == [1, 1, 0]
    assert list(t.loc[1:, "relearned"]) == [0, 0, 2]
    later = t.loc[1:]
    assert (later["correct"] == later["new"] + later["retained"] + later["relearned"]).all()
    assert math.isnan(t.loc[0, "new"])
    assert (t["best_epoch"] == 3).all()


def test_best_epoch_is_the_first_with_most_correct_per_split():
    traj = pd.concat([_traj({"a": [0, 1, 0], "b": [0, 1, 1]}), _traj({"x": [1, 0, 1]}, "heldout")])
    t = epoch_sets(traj)
    assert dict(zip(t["split"], t["best_epoch"])) == {"train": 1, "heldout": 0}


def test_confident_errors_and_losses(tmp_path):
    traj = _traj({"a": [0, 1], "b": [0, 0]}, "heldout")
    conf = pd.DataFrame({
        "fact_id": ["a", "b", "a", "b"], "epoch": [0, 0, 1, 1], "correct": [0, 0, 1, 0],
        # mean token probability exp(lp / n): 0.9 (a, wrong), 0.2 (b), 0.95 (a, right), 0.6 (b, wrong)
        "answer_logprob": [10 * math.log(0.9), 10 * math.log(0.2), 10 * math.log(0.95), 10 * math.log(0.6)],
        "answer_tokens": [10, 10, 10, 10],
    })
    for e, loss in ((1, 0.7), (2, 0.4)):
        d = tmp_path / f"epoch_{e}"
        d.mkdir()
        (d / "checkpoint.json").write_text(json.dumps({"epoch": e, "stats": {"loss": loss}}))
    losses = train_losses([tmp_path / "epoch_2", tmp_path / "epoch_1"])
    assert losses == {1: 0.7, 2: 0.4}
    t = epoch_sets(traj, conf, threshold=0.5, train_loss=losses).set_index("epoch")
    assert list(t["confident_errors"]) == [1, 1]  # a at 0 (p 0.9), b at 1 (p 0.6); a at 1 is right
    assert list(t["confident_error_share"]) == [0.5, 0.5]
    assert math.isnan(t.loc[0, "train_loss"]) and t.loc[1, "train_loss"] == 0.7
    strict = epoch_sets(traj, conf, threshold=0.7).set_index("epoch")
    assert list(strict["confident_errors"]) == [1, 0]
    fig = plot_epoch_sets(t.reset_index(), run="x", demo=True)
    assert len(fig.axes) >= 3
