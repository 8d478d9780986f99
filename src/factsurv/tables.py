"""The columns of the tables that cross between the model stage and the analysis (declared once).

``eval/epoch_{e}.tsv`` (one row per fact): the greedy answer after epoch *e* (0: the base model),
whether it is right, and its confidence (summed log-probability of the answer's tokens, end token
included, and how many tokens that covers).

``control/items.tsv`` (one row per out-of-domain item, shared by all runs) and
``{run}/control/epoch_{e}.tsv`` (one row per item): the greedy answer to each control item after
epoch *e* and whether it is right (issue 13; :mod:`factsurv.control`).

``probe/baseline.tsv`` (one row per fact): the greedy answer *of eval epoch 0* (the one greedy pass
that defines "known at baseline"), K sampled answers, and the mastery derived from both.
"""

from __future__ import annotations

EVAL_COLUMNS = ("fact_id", "epoch", "prediction", "correct", "answer_logprob", "answer_tokens")
#: what every eval table must have (the confidence columns may be absent in tables made elsewhere)
EVAL_REQUIRED = EVAL_COLUMNS[:4]

CONTROL_ITEM_COLUMNS = ("item_id", "kind", "question", "answer")
CONTROL_COLUMNS = ("item_id", "kind", "epoch", "prediction", "correct")
#: analysis/control.tsv: accuracy per item kind and epoch, with its Wilson 95% interval
CONTROL_ACCURACY_COLUMNS = ("kind", "epoch", "n", "correct", "accuracy", "lower_95", "upper_95", "chance")

PROBE_COLUMNS = (
    "fact_id", "greedy_prediction", "greedy_correct", "n_samples", "n_correct_samples", "p_correct",
    "latent", "mastery", "samples",
)

#: SliCK's four levels (Gekhman et al. 2024) with one prompt: greedy right and every sample right;
#: greedy right and some sample wrong; greedy wrong and some sample right (= latent); nothing right.
MASTERY_LEVELS = ("highly_known", "maybe_known", "weakly_known", "unknown")

#: ``results/{run}/train_plan.tsv`` (one row per training example, rows in (epoch, position) order):
#: the epoch, the example's place in that epoch's order, the fact, its format (question |
#: statement), the repeat number among that fact's examples of that format in that epoch, its text
#: kind (question | statement_{t}, t the statement template) and, for statements, the text trained on.
PLAN_COLUMNS = ("epoch", "position", "fact_id", "format", "repeat", "kind", "text")

#: the per-run split of a fact (from the plan): asked as a question in training, shown only as
#: statements, or never shown (withheld in facts.tsv or by the run's selection)
RUN_SPLITS = ("train", "statement_only", "heldout")

#: per-fact columns the plan adds to trajectories.tsv (exposures: examples in the run's epochs;
#: exposures_so_far: examples up to and including the row's epoch)
EXPOSURE_COLUMNS = ("seen", "exposures", "first_exposure_epoch", "exposures_so_far")
# Experiments (issue 12): results/experiments/{experiment}/.
#: the grid columns in front of every stacked table (trajectories.tsv, events_{kind}.tsv)
RUN_COLUMNS = ("run", "model", "seed", "design")

#: cox_{kind}.tsv: the joint model (model = "joint") and HR(latent) per condition
#: (model = "condition", condition = "<model>/<design>"); se is cluster-robust by fact when se_type
#: says so (lifelines cluster_col), p and the interval come from that se
JOINT_COX_COLUMNS = (
    "kind", "model", "condition", "covariate", "coef", "se", "se_type", "hr", "hr_lower_95", "hr_upper_95", "p",
    "n", "n_events", "n_runs", "n_facts", "strata", "transform", "converged", "note",
)

#: acquisition_curves.tsv: cumulative share acquired by epoch per condition and latent group, the
#: band across seeds (mean, sd, min, max of the per-run shares)
CURVE_COLUMNS = (
    "model", "design", "group", "epoch", "n_seeds", "mean", "sd", "min", "max",
)

#: degradation.tsv: share of facts correct at baseline lost during training, seen (trained) vs
#: unseen (withheld), per model and design: pooled over seeds, and the band across seeds
DEGRADATION_COLUMNS = (
    "model", "design", "seen", "n_seeds", "n", "n_events", "share", "seed_mean", "seed_min", "seed_max",
)

#: analysis/paper_comparison.tsv: the paper's headline numbers next to this run's
PAPER_COLUMNS = ("claim", "metric", "paper", "paper_direction", "run", "run_lower_95", "run_upper_95",
                 "run_p", "run_direction", "agrees", "note")
