# Helpers of the learning-dynamics rules (learning_dynamics.smk), kept apart from the rules.

LEARNING_CATEGORY = "Loss vs learning"
LEARNING_SETTINGS = analysis_config()["learning_dynamics"]


def learning_figure(stem, caption, subcategory):
    return report_figures(
        "results/{run}/figures",
        {"run": "{run}"},
        stem,
        caption,
        LEARNING_CATEGORY,
        subcategory,
    )


def learning_dynamics_targets(run):
    """The run's loss-vs-recall, consolidation and stopping tables and figures (learning_dynamics.smk)."""
    tables = [
        "loss_recall",
        "consolidation",
        "km_retention",
        "stopping",
        "learning_summary",
    ]
    return [f"results/{run}/analysis/{t}.tsv" for t in tables] + [
        f"results/{run}/figures/{stem}.{ext}"
        for stem in ("loss_recall", "retention", "stopping")
        for ext in FIGURE_FORMATS
    ]


def experiment_learning_targets(experiment):
    """The experiment's pooled consolidation and stacked loss-vs-recall and stopping tables."""
    return [
        f"results/experiments/{experiment}/{t}.tsv"
        for t in ("consolidation", "loss_recall", "stopping")
    ]
