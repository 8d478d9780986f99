"""The columns of the tables that cross between the model stage and the analysis (declared once).

``eval/epoch_{e}.tsv`` (one row per fact): the greedy answer after epoch *e* (0: the base model),
whether it is right, and its confidence (summed log-probability of the answer's tokens, end token
included, and how many tokens that covers).

``control/items.tsv`` (one row per out-of-domain item, shared by all runs) and
``{run}/control/epoch_{e}.tsv`` (one row per item): the greedy answer to each control item after
epoch *e* and whether it is right (:mod:`factsurv.control`).

``probe/baseline.tsv`` (one row per fact): the greedy answer *of eval epoch 0* (the one greedy pass
that defines "known at baseline"), K sampled answers, and the mastery derived from both.

Every table that crosses between rules has its columns here and nowhere else; the modules that
write or read a table import them. Adding a per-fact covariate is one edit here (the tuple it
belongs to) plus the config schema's list of allowed covariates (``analysis_covariate``; a unit
test checks that the two agree). The schema owns defaults; this module owns columns.
"""

from __future__ import annotations

# ---------------------------------------------------------------------------------------------
# The data stage: terms, annotation counts, facts, literature (results/terms, results/annotations,
# results/facts).

#: per-term covariates computed from the ontology graph and the label (data/ontology.py)
TERM_COVARIATES = ("depth", "n_descendants", "n_synonyms", "label_chars", "label_words", "leading_zeros")
#: results/terms/{onto}.tsv
TERM_COLUMNS = ("term_id", "label", "namespace", "obsolete", *TERM_COVARIATES)
#: results/terms/{onto}.edges.tsv
EDGE_COLUMNS = ("term_id", "relation", "target_id")
#: results/annotations/{onto}.tsv (annotation_count: with the annotations of all descendants)
ANNOTATION_COUNT_COLUMNS = ("term_id", "annotation_count_direct", "annotation_count")

#: what the model stage and the training plan read of facts.tsv: the fact, its question, its split
FACT_KEY_COLUMNS = ("fact_id", "ontology", "term_id", "label", "split")
#: the numeric per-fact covariates of facts.tsv that the analysis reads (and a design may rank by)
FACT_COVARIATES = (*TERM_COVARIATES, "annotation_count")
#: results/facts/facts.tsv, as the data stage writes it (sample_facts or table_facts)
FACT_COLUMNS = (*FACT_KEY_COLUMNS, "namespace", *FACT_COVARIATES, "annotation_count_direct")
#: the columns of facts.tsv the model stage reads (the subset it needs)
MODEL_FACT_COLUMNS = FACT_KEY_COLUMNS
#: the columns of facts.tsv the analysis reads (annotation_count_direct is provenance only)
ANALYSIS_FACT_COLUMNS = (*FACT_KEY_COLUMNS, "namespace", *FACT_COVARIATES)
#: the facts' splits in facts.tsv (candidates to train, withheld); the per-run split is RUN_SPLITS
FACT_SPLITS = ("train", "heldout")

#: the covariates a user's fact table may give in its own columns (config facts.tables[].covariates)
TABLE_COVARIATES = ("identifier_frequency", "term_frequency", "annotation_count")
#: results/facts/facts_table_report.tsv (table_facts): one row per problem met in a user's fact table
FACT_TABLE_REPORT_COLUMNS = (
    "table", "line", "table_id", "ontology", "term_id", "issue", "table_label", "release_label", "action", "note",
)
#: results/facts/facts_table_drops.tsv (fact_table_drops): the rows dropped from a user's fact table,
#: per table and reason (the report's "Data" page; empty when nothing was dropped)
FACT_TABLE_DROP_COLUMNS = ("table", "issue", "rows", "lines")
#: literature covariates: how often the identifier and the term occur in the literature
LITERATURE_COVARIATES = ("identifier_frequency", "term_frequency")
#: results/facts/literature_counts.tsv (and a literature table's / table_facts overrides' columns)
LITERATURE_COLUMNS = ("fact_id", *LITERATURE_COVARIATES)

#: results/facts/literature_europepmc.tsv (fetch_europepmc): the counts with the queries that gave them
EUROPEPMC_COLUMNS = ("fact_id", "term_id", "label", "identifier_query", "identifier_frequency", "label_query",
                     "term_frequency")

#: gold_logprob / gold_tokens: the teacher-forced log-probability of the right answer (identifier + end
#: token, the tokens fine-tuning trains on) and how many tokens that covers: a validation loss per fact
EVAL_COLUMNS = ("fact_id", "epoch", "prediction", "correct", "answer_logprob", "answer_tokens", "gold_logprob",
                "gold_tokens")
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
#: the exposure covariates: total (one value per fact) and time-varying (one per fact and epoch)
EXPOSURE_COVARIATE = "exposures"
EXPOSURE_SO_FAR = "exposures_so_far"

# Controlled prior exposure (models with source: exposure; factsurv.modeling.exposure):
# results/models/{model}/exposure/.
#: assignment.tsv: one row per fact of facts.tsv: its randomized dose (documents stating its
#: identifier in the continued-pretraining corpus), all its documents, and the identifier documents' ids
EXPOSURE_ASSIGNMENT_COLUMNS = ("fact_id", "ontology", "term_id", "split", "dose", "n_documents", "doc_ids")
#: documents.tsv: one row per corpus document, in corpus order (kind: question | statement_{t} | label_{t})
EXPOSURE_DOCUMENT_COLUMNS = ("doc_id", "fact_id", "kind", "text")
#: the per-fact covariate a model's exposure assignment adds to trajectories and events (its dose;
#: NA for a model without one)
PRIOR_EXPOSURE = "prior_exposure"

# ---------------------------------------------------------------------------------------------
# The analysis of one run: results/{run}/analysis/.

#: what the analysis reads of the probe's baseline.tsv
BASELINE_COLUMNS = ("fact_id", "greedy_correct", "n_samples", "n_correct_samples", "p_correct", "latent")
#: per-fact covariates carried from facts.tsv, the literature and the model's exposure assignment
#: (prior_exposure, NA for a model without one) into trajectories and events
COVARIATE_COLUMNS = ("namespace", *FACT_COVARIATES, *LITERATURE_COVARIATES, PRIOR_EXPOSURE)
#: the numeric per-fact covariates a Cox / discrete-time model may use (config ``analysis.cox.covariates``,
#: the schema's ``analysis_covariate``): the probe's, the facts', the literature's and the exposure total
ANALYSIS_COVARIATES = ("latent", "p_correct", *LITERATURE_COVARIATES, *FACT_COVARIATES, EXPOSURE_COVARIATE,
                       PRIOR_EXPOSURE)
#: per-fact columns a model enters as indicators against their largest level (not as numbers)
CATEGORICAL_COVARIATES = ("ontology", "split", "namespace")
#: trajectories.tsv: one row per fact x epoch
TRAJECTORY_COLUMNS = ("fact_id", "epoch", "correct", "split", "ontology", "latent", "p_correct", *COVARIATE_COLUMNS,
                      *EXPOSURE_COLUMNS)
#: the per-fact columns of events_{kind}.tsv (everything of trajectories.tsv that does not vary by epoch)
PER_FACT_COLUMNS = ("ontology", "split", "seen", "latent", "p_correct", *COVARIATE_COLUMNS, "exposures",
                    "first_exposure_epoch")
#: events_{kind}.tsv: one row per fact at risk
EVENT_COLUMNS = ("fact_id", "duration", "event", *PER_FACT_COLUMNS)

#: cox_{kind}.tsv (n_missing: facts at risk without a value of the row's covariate, left out of the
#: model: complete cases, factsurv.analysis.cox.complete_cases; the same in the next two tables)
COX_COLUMNS = (
    "model", "covariate", "coef", "hr", "hr_lower_95", "hr_upper_95", "p", "n", "n_events", "n_missing",
    "ph_test_p", "converged", "warning", "transform", "ph_global_p", "ph_flag", "epv", "vif", "penalizer",
)
#: cloglog_{kind}.tsv: the discrete-time models, the Cox HR beside each row
CLOGLOG_COLUMNS = (
    "model", "covariate", "coef", "se_robust", "hr", "hr_lower_95", "hr_upper_95", "p", "n", "n_events", "n_missing",
    "n_person_epochs", "converged", "warning", "transform", "cox_hr", "cox_hr_lower_95", "cox_hr_upper_95",
)
#: km_{kind}.tsv and logrank_{kind}.tsv
KM_COLUMNS = (
    "group_var", "group", "epoch", "n_at_risk", "n_events", "n_censored", "survival",
    "survival_lower_95", "survival_upper_95", "cumulative", "cumulative_lower_95", "cumulative_upper_95",
)
LOGRANK_COLUMNS = ("group_var", "groups", "n", "n_events", "test_statistic", "df", "p", "note")
#: dynamics_{kind}.tsv
DYNAMICS_COLUMNS = (
    "kind", "group_var", "group", "epoch", "n", "newly", "share_new", "cumulative_share",
    "peak_epoch", "peak_share", "final_share", "convergence_epoch",
    "n_at_risk", "hazard",
    "peak_epoch_lower_95", "peak_epoch_upper_95", "peak_share_lower_95", "peak_share_upper_95",
    "convergence_epoch_lower_95", "convergence_epoch_upper_95",
    "rmst", "rmst_lower_95", "rmst_upper_95", "median_time", "median_time_lower_95", "median_time_upper_95",
    "n_bootstrap",
)
#: epoch_sets.tsv
SET_COLUMNS = ("split", "epoch", "n", "correct", "new", "retained", "forgotten", "relearned",
               "confident_errors", "confident_error_share", "train_loss", "best_epoch")
#: forgetting.tsv
FORGETTING_FACT_COLUMNS = ("ontology", "split", "latent")
FORGETTING_COLUMNS = ("kind", "m", "fact_id", "acquired", "duration", "event", "n_forgettings", "n_relearnings",
                      *FORGETTING_FACT_COLUMNS)
#: exposure_effect.tsv (models with source: exposure; factsurv.analysis.causal): one row per estimate
#: of the randomized dose's effect (scale: HR per doubling of 1 + dose, OR, rho or share)
EXPOSURE_EFFECT_COLUMNS = ("estimand", "population", "model", "covariate", "coef", "se", "estimate", "lower_95",
                           "upper_95", "p", "n", "n_events", "scale", "note")
#: exposure_baseline.tsv: known and latent at baseline per split (and all) and dose level
EXPOSURE_BASELINE_COLUMNS = ("split", "dose", "n", "known", "known_share", "known_lower_95", "known_upper_95",
                             "latent", "latent_share", "latent_lower_95", "latent_upper_95", "mean_p_correct")
#: exposure_curves.tsv: trained facts per dose level and epoch: recall and cumulative acquisition
EXPOSURE_CURVE_COLUMNS = ("dose", "epoch", "n", "correct", "recall", "n_at_risk", "acquired", "cumulative_acquired")
#: qvalues.tsv
QVALUE_COLUMNS = ("kind", "model", "covariate", "hr", "p", "q", "n_tests")
#: summary.tsv
SUMMARY_COLUMNS = ("metric", "group", "value", "lower_95", "upper_95", "p", "note", "q", "ph_p", "flag")

# Experiments: results/experiments/{experiment}/.
#: the grid columns in front of every stacked table (trajectories.tsv, events_{kind}.tsv)
RUN_COLUMNS = ("run", "model", "seed", "design")

#: cox_{kind}.tsv: the joint model (model = "joint") and HR(latent) per condition
#: (model = "condition", condition = "<model>/<design>"); se is cluster-robust by fact when se_type
#: says so (lifelines cluster_col), p and the interval come from that se
JOINT_COX_COLUMNS = (
    "kind", "model", "condition", "covariate", "coef", "se", "se_type", "hr", "hr_lower_95", "hr_upper_95", "p",
    "n", "n_events", "n_missing", "n_runs", "n_facts", "strata", "transform", "converged", "note",
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

#: analysis/paper_comparison.tsv, the headline table: per headline quantity the run's number (value,
#: interval, p, flag, and as text) beside the paper's (value and text), and whether the run agrees
PAPER_COLUMNS = ("claim", "quantity", "metric", "group", "run", "run_lower_95", "run_upper_95", "run_p",
                 "run_text", "flag", "paper", "paper_text", "paper_direction", "run_direction", "agrees", "note")

# Parameter-level analyses (analysis.parameters; factsurv.modeling.parameters): results/{run}/analysis/.
#: param_updates.tsv: per epoch and parameter, the update's norm relative to the base weight's and the
#: smallest share of entries carrying 50 / 90 % of its squared update (NaN for an unchanged parameter)
PARAM_UPDATE_COLUMNS = (
    "epoch", "method", "parameter", "layer", "module", "numel", "update_norm", "base_norm", "relative_update",
    "share_50", "share_90", "changed_share",
)
#: restore_facts.tsv: the greedy answer of every fact after restoring `ratio` % of an epoch's updates
RESTORE_FACT_COLUMNS = ("fact_id", "epoch", "strategy", "ratio", "prediction", "correct", "answer_logprob")
#: restore.tsv: recall per epoch, strategy, ratio and per-run split, with its Wilson 95 % interval;
#: n_restored of n_region elements of the region were set back to the base value
RESTORE_COLUMNS = (
    "epoch", "strategy", "ratio", "region", "n_region", "n_restored", "split", "n", "correct", "recall",
    "lower_95", "upper_95",
)
#: gradient_trace.tsv: per epoch and weight matrix of the transformer layers, the elements in each
#: format's top set and in both (shared), the summed attributions and the cosine between the mean
#: statement and the mean question gradient (factsurv.modeling.gradient_trace)
GRADIENT_TRACE_COLUMNS = (
    "epoch", "parameter", "layer", "module", "numel", "n_statement_top", "n_question_top", "n_shared",
    "statement_score", "question_score", "cosine",
)
#: gradient_shared.tsv: per epoch, the shared set's size (n_shared, shared_share of a format's top
#: set, jaccard, expected_shared = chance overlap) and centralization (top_units_share, gini_layers,
#: gini_heads), the mean per-matrix cosine
GRADIENT_SHARED_COLUMNS = (
    "epoch", "attribution", "top_percent", "n_facts", "n_region", "n_statement_top", "n_question_top", "n_shared",
    "shared_share", "jaccard", "expected_shared", "top_units", "n_units", "top_units_share", "gini_layers",
    "gini_heads", "mean_cosine",
)
#: attention.tsv: per epoch, layer and head, the attention the answer-predicting positions give to the
#: term's label tokens (mass), what an even spread would give (label_share), over n_facts facts
ATTENTION_COLUMNS = ("epoch", "layer", "head", "mass", "label_share", "n_facts")
#: answer_loss.tsv: per epoch the mean answer loss per token of the same facts, and the plateau epoch
ANSWER_LOSS_COLUMNS = ("epoch", "answer_loss", "n_facts", "plateau_epoch")

# Loss vs learning, consolidation and stopping (arXiv 2601.03858; docs/consolidation.md):
# results/{run}/analysis/ (rule learning_dynamics) and results/experiments/{name}/.
#: loss_recall.tsv: per epoch the training loss (checkpoint.json) beside the trained facts' recall, the
#: change of each from the epoch before, the facts gained and lost, and whether the two agree
LOSS_RECALL_COLUMNS = ("epoch", "train_loss", "loss_change", "n_trained", "correct", "recall", "recall_change",
                       "gained", "lost", "agreement", "disagree")
#: consolidation_facts.tsv: per fact of an event kind's selection, its acquisitions (wrong → right) and
#: losses (right → wrong), the first acquisition, the losses after it, the state at the last epoch and
#: the retention time after the first acquisition (duration, event: lost again); group columns follow
CONSOLIDATION_FACT_COLUMNS = ("kind", "fact_id", "split", "ontology", "baseline_correct", "final_correct",
                              "n_acquisitions", "n_losses", "first_acquisition", "losses_after", "acquired",
                              "retained_at_end", "consolidated", "duration", "event")
#: consolidation.tsv: per kind and group, the shares over the facts wrong at epoch 0 (Wilson 95 %) and
#: the Kaplan–Meier median retention after the first acquisition
CONSOLIDATION_COLUMNS = ("kind", "group_var", "group", "n_facts", "n_acquired", "acquired_share",
                         "acquired_lower_95", "acquired_upper_95", "acquisitions", "acquisitions_per_acquired",
                         "n_flip_flop", "flip_flop_share", "n_retained", "retained_share", "retained_lower_95",
                         "retained_upper_95", "n_consolidated", "consolidated_share", "consolidated_lower_95",
                         "consolidated_upper_95", "median_retention", "logrank_p")
#: km_retention.tsv: Kaplan–Meier share still right by epochs since the first acquisition, per kind and group
RETENTION_KM_COLUMNS = ("kind", "group_var", "group", "epoch", "n_at_risk", "n_events", "n_censored", "survival",
                        "survival_lower_95", "survival_upper_95")
#: stopping.tsv: per stopping criterion the epoch it stops at (the model kept) and what that model
#: holds, beside the last epoch and the best epoch in hindsight (epochs_trained: when it fires)
STOPPING_COLUMNS = ("criterion", "monitors", "stop_epoch", "epochs_trained", "triggered", "trained_recall",
                    "trained_recall_lower_95", "trained_recall_upper_95", "generalization", "generalization_lower_95",
                    "generalization_upper_95", "n_generalization", "control_accuracy", "trained_recall_vs_last",
                    "trained_recall_vs_best", "generalization_vs_last", "control_vs_last", "note")
#: stopping_series.tsv: per epoch the series the stopping criteria watch (training and validation loss, trained
#: recall, the held-back probe set's recall, control accuracy) and the generalization a stop keeps
STOPPING_SERIES_COLUMNS = ("epoch", "train_loss", "validation_loss", "n_trained", "trained_correct", "trained_recall",
                           "n_probe", "probe_recall", "n_generalization", "generalized", "generalization",
                           "control_accuracy")
#: learning_summary.tsv: the run's one-number results of the three analyses (value, 95 % interval, n)
LEARNING_SUMMARY_COLUMNS = ("analysis", "metric", "group", "value", "lower_95", "upper_95", "n", "note")
#: experiments' consolidation.tsv: the runs' facts pooled, shares with 95 % intervals from SEs clustered by run
POOLED_CONSOLIDATION_COLUMNS = ("kind", "group_var", "group", "n_runs", "n_facts", "n_acquired", "acquired_share",
                                "acquired_lower_95", "acquired_upper_95", "retained_share", "retained_lower_95",
                                "retained_upper_95", "consolidated_share", "consolidated_lower_95",
                                "consolidated_upper_95", "se_type", "hr_lost", "hr_lost_lower_95",
                                "hr_lost_upper_95", "hr_lost_p", "note")
