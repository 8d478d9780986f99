# Helpers of the experiments' rules (included by experiments.smk), kept apart from the rules.


def experiment_cells_params(wildcards):
    """The experiment's runs as plain mappings (run, model, seed, design), in grid order."""
    return [
        {"run": c.run, "model": c.model, "seed": c.seed, "design": c.design}
        for c in EXPERIMENTS[wildcards.experiment]
    ]


def experiment_runs(experiment):
    return [c.run for c in EXPERIMENTS[experiment]]


def experiment_levels(wildcards):
    """Grid order of each factor: the first level is the reference of the indicators."""
    spec = config["experiments"][wildcards.experiment]
    return {
        "model": list(spec["models"]),
        "design": list(spec["designs"]),
        "seed": list(spec["seeds"]),
    }


def experiment_analysis(wildcards):
    return canonical(dict(config["experiments"][wildcards.experiment]["analysis"]))


def experiment_epochs(wildcards):
    return max(run_config(r)["epochs"] for r in experiment_runs(wildcards.experiment))


def experiment_outputs(experiment):
    out = [
        f"results/experiments/{experiment}/{name}.tsv"
        for name in (
            "trajectories",
            *[f"events_{k}" for k in ANALYSIS_KINDS],
            *[f"cox_{k}" for k in ANALYSIS_KINDS],
            "acquisition_curves",
            "degradation",
        )
    ]
    out += [
        f"results/experiments/{experiment}/figures/{stem}.{ext}"
        for stem in EXPERIMENT_FIGURES
        for ext in FIGURE_FORMATS
    ]
    return out


EXPERIMENT_FIGURES = ["acquisition_curves", "forest_latent", "degradation"]


def experiment_figure(stem, caption):
    return report_figures(
        "results/experiments/{experiment}/figures",
        {"experiment": "{experiment}"},
        stem,
        caption,
        "Experiment {experiment}",
        stem.replace("_", " "),
    )


def paper_targets(run):
    return [f"results/{run}/analysis/paper_comparison.tsv"]
