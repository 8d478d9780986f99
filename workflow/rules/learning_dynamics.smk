# When loss and learning diverge (arXiv 2601.03858; docs/consolidation.md): per run, the training
# loss beside the trained facts' recall, consolidation and retention after acquisition, and the
# epoch each stopping criterion would have stopped at, from the finished per-epoch tables (no model
# pass: the validation loss is the eval tables' teacher-forced loss of the right answers); per
# experiment, the runs pooled with run as the cluster.


include: "learning_dynamics_common.smk"


rule learning_dynamics:
    input:
        trajectories="results/{run}/analysis/trajectories.tsv",
        baseline="results/{run}/probe/baseline.tsv",
        evals=lambda wildcards: eval_tables(wildcards.run),
        checkpoints=lambda wildcards: run_checkpoints(wildcards.run),
        control=CONTROL_ACCURACY,
    output:
        loss_recall="results/{run}/analysis/loss_recall.tsv",
        facts="results/{run}/analysis/consolidation_facts.tsv",
        consolidation="results/{run}/analysis/consolidation.tsv",
        retention="results/{run}/analysis/km_retention.tsv",
        series="results/{run}/analysis/stopping_series.tsv",
        stopping=mark_for_report(
            "results/{run}/analysis/stopping.tsv",
            caption="../report/stopping_table.rst",
            category=LEARNING_CATEGORY,
            subcategory="stopping criteria",
            labels={"run": "{run}", "table": "stopping criteria"},
        ),
        summary="results/{run}/analysis/learning_summary.tsv",
        figure_loss_recall=learning_figure(
            "loss_recall", "../report/loss_recall.rst", "loss and recall"
        ),
        figure_retention=learning_figure(
            "retention", "../report/retention.rst", "retention after acquisition"
        ),
        figure_stopping=learning_figure(
            "stopping", "../report/stopping.rst", "stopping criteria"
        ),
    log:
        "logs/{run}/analysis/learning_dynamics.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        selection=SUMMARY_SELECTION,
        group_by=list(LEARNING_SETTINGS["group_by"]),
        recall_tolerance=LEARNING_SETTINGS["recall_tolerance"],
        stopping=canonical(dict(LEARNING_SETTINGS["stopping"])),
        demo=is_demo_run,
        dpi=config["figures"]["dpi"],
    script:
        "../scripts/learning_dynamics.py"


rule experiment_learning_dynamics:
    input:
        facts=lambda wildcards: [
            f"results/{r}/analysis/consolidation_facts.tsv"
            for r in experiment_runs(wildcards.experiment)
        ],
        loss_recall=lambda wildcards: [
            f"results/{r}/analysis/loss_recall.tsv"
            for r in experiment_runs(wildcards.experiment)
        ],
        stopping=lambda wildcards: [
            f"results/{r}/analysis/stopping.tsv"
            for r in experiment_runs(wildcards.experiment)
        ],
    output:
        consolidation="results/experiments/{experiment}/consolidation.tsv",
        loss_recall="results/experiments/{experiment}/loss_recall.tsv",
        stopping="results/experiments/{experiment}/stopping.tsv",
    log:
        "logs/experiments/{experiment}/learning_dynamics.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        cells=experiment_cells_params,
        cox=COX_SETTINGS,
    script:
        "../scripts/experiment_learning_dynamics.py"
