# The joint analysis of each experiment: results/experiments/{experiment}/ stacks its
# runs' trajectories and events (columns run, model, seed, design in front), fits Cox models with
# the grid factors as covariates and cluster-robust SEs by fact, and draws the per-condition curves,
# the HR(latent) forest and degradation seen vs unseen per design. Each run's own analysis stays.


include: "experiments_common.smk"


rule experiment_tables:
    input:
        trajectories=lambda wildcards: [
            f"results/{r}/analysis/trajectories.tsv"
            for r in experiment_runs(wildcards.experiment)
        ],
        events=lambda wildcards: [
            f"results/{r}/analysis/events_{k}.tsv"
            for k in ANALYSIS_KINDS
            for r in experiment_runs(wildcards.experiment)
        ],
    output:
        trajectories="results/experiments/{experiment}/trajectories.tsv",
        events=expand(
            "results/experiments/{{experiment}}/events_{kind}.tsv", kind=ANALYSIS_KINDS
        ),
    log:
        "logs/experiments/{experiment}/experiment_tables.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        cells=experiment_cells_params,
        kinds=ANALYSIS_KINDS,
    script:
        "../scripts/experiment_tables.py"


rule experiment_cox:
    input:
        "results/experiments/{experiment}/events_{kind}.tsv",
    output:
        "results/experiments/{experiment}/cox_{kind}.tsv",
    log:
        "logs/experiments/{experiment}/cox_{kind}.log",
    wildcard_constraints:
        kind="|".join(ANALYSIS_KINDS),
    conda:
        "../../envs/analysis.yaml"
    params:
        analysis=experiment_analysis,
        levels=experiment_levels,
        cox=COX_SETTINGS,
    script:
        "../scripts/experiment_cox.py"


rule experiment_curves:
    input:
        acquisition="results/experiments/{experiment}/events_acquisition.tsv",
        degradation="results/experiments/{experiment}/events_degradation.tsv",
    output:
        curves="results/experiments/{experiment}/acquisition_curves.tsv",
        degradation="results/experiments/{experiment}/degradation.tsv",
    log:
        "logs/experiments/{experiment}/experiment_curves.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        epochs=experiment_epochs,
    script:
        "../scripts/experiment_curves.py"


rule figure_experiment:
    input:
        curves="results/experiments/{experiment}/acquisition_curves.tsv",
        cox="results/experiments/{experiment}/cox_acquisition.tsv",
        degradation="results/experiments/{experiment}/degradation.tsv",
    output:
        curves=experiment_figure(
            "acquisition_curves", "../report/experiment_curves.rst"
        ),
        forest=experiment_figure("forest_latent", "../report/experiment_forest.rst"),
        degradation=experiment_figure(
            "degradation", "../report/experiment_degradation.rst"
        ),
    log:
        "logs/experiments/{experiment}/figure_experiment.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        dpi=config["figures"]["dpi"],
    script:
        "../scripts/figure_experiment.py"


# The paper side by side, per run: the paper's headline numbers next to this run's
# summary, with whether the direction agrees (factsurv.analysis.paper).
rule paper_comparison:
    input:
        summary="results/{run}/analysis/summary.tsv",
        exposure=lambda wildcards: run_exposure_effect(wildcards.run),
    output:
        mark_for_report(
            "results/{run}/analysis/paper_comparison.tsv",
            caption="../report/paper_comparison.rst",
            category="Headline: the paper side by side",
            subcategory="{run}",
            labels={"run": "{run}", "table": "paper comparison"},
        ),
    log:
        "logs/{run}/analysis/paper_comparison.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        hr_model="multivariable",
    script:
        "../scripts/paper_comparison.py"
