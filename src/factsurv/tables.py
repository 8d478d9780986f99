"""The columns of the tables that cross between the model stage and the analysis (declared once).

``eval/epoch_{e}.tsv`` (one row per fact): the greedy answer after epoch *e* (0: the base model),
whether it is right, and its confidence (summed log-probability of the answer's tokens, end token
included, and how many tokens that covers).

``probe/baseline.tsv`` (one row per fact): the greedy answer *of eval epoch 0* (the one greedy pass
that defines "known at baseline"), K sampled answers, and the mastery derived from both.
"""

from __future__ import annotations

EVAL_COLUMNS = ("fact_id", "epoch", "prediction", "correct", "answer_logprob", "answer_tokens")
#: what every eval table must have (the confidence columns may be absent in tables made elsewhere)
EVAL_REQUIRED = EVAL_COLUMNS[:4]

PROBE_COLUMNS = (
    "fact_id", "greedy_prediction", "greedy_correct", "n_samples", "n_correct_samples", "p_correct",
    "latent", "mastery", "samples",
)

#: SliCK's four levels (Gekhman et al. 2024) with one prompt: greedy right and every sample right;
#: greedy right and some sample wrong; greedy wrong and some sample right (= latent); nothing right.
MASTERY_LEVELS = ("highly_known", "maybe_known", "weakly_known", "unknown")
