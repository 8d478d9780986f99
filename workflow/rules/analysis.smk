# The analysis stage (docs/design.md): trajectories → events → Cox, Kaplan–Meier/log-rank,
# learning dynamics → summary and figures. Every setting reaches a rule through `params:`.


include: "analysis_common.smk"


RUN_TARGETS.extend(
    [
        "results/{run}/analysis/summary.tsv",
        "results/{run}/analysis/dynamics.tsv",
        *[f"results/{{run}}/analysis/cox_{k}.tsv" for k in ANALYSIS_KINDS],
        *[f"results/{{run}}/analysis/cloglog_{k}.tsv" for k in ANALYSIS_KINDS],
        "results/{run}/analysis/qvalues.tsv",
        *[f"results/{{run}}/analysis/km_{k}.tsv" for k in ANALYSIS_KINDS],
        *[
            f"results/{{run}}/figures/km_{k}.{x}"
            for k in ANALYSIS_KINDS
            for x in FIGURE_FORMATS
        ],
        *[
            f"results/{{run}}/figures/forest_{k}.{x}"
            for k in ANALYSIS_KINDS
            for x in FIGURE_FORMATS
        ],
        *[f"results/{{run}}/figures/acquisition_rate.{x}" for x in FIGURE_FORMATS],
        *[f"results/{{run}}/figures/accuracy.{x}" for x in FIGURE_FORMATS],
        "results/{run}/analysis/epoch_sets.tsv",
        *[f"results/{{run}}/figures/epoch_sets.{x}" for x in FIGURE_FORMATS],
        "results/{run}/analysis/forgetting.tsv",
        *[f"results/{{run}}/figures/forgetting.{x}" for x in FIGURE_FORMATS],
    ]
)


rule trajectories:
    input:
        facts="results/facts/facts.tsv",
        literature="results/facts/literature_counts.tsv",
        baseline="results/{run}/probe/baseline.tsv",
        evals=get_eval_tables,
        plan="results/{run}/train_plan.tsv",
    output:
        "results/{run}/analysis/trajectories.tsv",
    log:
        "logs/{run}/analysis/trajectories.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        epochs=lambda wildcards: run_config(wildcards.run)["epochs"],
    script:
        "../scripts/trajectories.py"


rule events:
    input:
        "results/{run}/analysis/trajectories.tsv",
    output:
        "results/{run}/analysis/events_{kind}.tsv",
    log:
        "logs/{run}/analysis/events_{kind}.log",
    wildcard_constraints:
        kind="|".join(ANALYSIS_KINDS),
    conda:
        "../../envs/analysis.yaml"
    params:
        selection=get_kind_selection,
        stable_epochs=lambda wildcards: analysis_config()["stable_epochs"],
    script:
        "../scripts/events.py"


rule cox:
    input:
        "results/{run}/analysis/events_{kind}.tsv",
    output:
        "results/{run}/analysis/cox_{kind}.tsv",
    log:
        "logs/{run}/analysis/cox_{kind}.log",
    benchmark:
        "benchmarks/{run}/analysis/cox_{kind}.tsv"
    wildcard_constraints:
        kind="|".join(ANALYSIS_KINDS),
    conda:
        "../../envs/analysis.yaml"
    params:
        cox=get_cox_settings,
        kind=get_cox_kind_settings,
    script:
        "../scripts/cox.py"


rule discrete_time:
    input:
        events="results/{run}/analysis/events_{kind}.tsv",
        cox="results/{run}/analysis/cox_{kind}.tsv",
        trajectories="results/{run}/analysis/trajectories.tsv",
    output:
        "results/{run}/analysis/cloglog_{kind}.tsv",
    log:
        "logs/{run}/analysis/cloglog_{kind}.log",
    benchmark:
        "benchmarks/{run}/analysis/cloglog_{kind}.tsv"
    wildcard_constraints:
        kind="|".join(ANALYSIS_KINDS),
    conda:
        "../../envs/analysis.yaml"
    params:
        cox=get_cox_settings,
        kind=get_cox_kind_settings,
        discrete_time=lambda wildcards: dict(analysis_config()["discrete_time"]),
    script:
        "../scripts/discrete_time.py"


rule qvalues:
    input:
        expand("results/{{run}}/analysis/cox_{kind}.tsv", kind=ANALYSIS_KINDS),
    output:
        "results/{run}/analysis/qvalues.tsv",
    log:
        "logs/{run}/analysis/qvalues.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        kinds=ANALYSIS_KINDS,
    script:
        "../scripts/qvalues.py"


rule km:
    input:
        "results/{run}/analysis/events_{kind}.tsv",
    output:
        km="results/{run}/analysis/km_{kind}.tsv",
        logrank="results/{run}/analysis/logrank_{kind}.tsv",
    log:
        "logs/{run}/analysis/km_{kind}.log",
    wildcard_constraints:
        kind="|".join(ANALYSIS_KINDS),
    conda:
        "../../envs/analysis.yaml"
    params:
        group_by=lambda wildcards: list(analysis_config()["km"][wildcards.kind]),
    script:
        "../scripts/km.py"


rule dynamics:
    input:
        events=lambda wildcards: expand(
            "results/{run}/analysis/events_{kind}.tsv",
            run=wildcards.run,
            kind=analysis_config()["dynamics"]["kinds"],
        ),
    output:
        "results/{run}/analysis/dynamics.tsv",
    log:
        "logs/{run}/analysis/dynamics.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        kinds=lambda wildcards: list(analysis_config()["dynamics"]["kinds"]),
        group_by=lambda wildcards: analysis_config()["dynamics"]["group_by"],
        convergence_share=lambda wildcards: analysis_config()["dynamics"][
            "convergence_share"
        ],
        bootstrap=lambda wildcards: analysis_config()["dynamics"]["bootstrap"],
        seed=lambda wildcards: analysis_config()["dynamics"]["seed"],
    script:
        "../scripts/dynamics.py"


rule summary:
    input:
        trajectories="results/{run}/analysis/trajectories.tsv",
        events=expand("results/{{run}}/analysis/events_{kind}.tsv", kind=ANALYSIS_KINDS),
        cox=expand("results/{{run}}/analysis/cox_{kind}.tsv", kind=ANALYSIS_KINDS),
        cloglog_acquisition="results/{run}/analysis/cloglog_acquisition.tsv",
        qvalues="results/{run}/analysis/qvalues.tsv",
        logrank=expand(
            "results/{{run}}/analysis/logrank_{kind}.tsv", kind=ANALYSIS_KINDS
        ),
        dynamics="results/{run}/analysis/dynamics.tsv",
        epoch_sets="results/{run}/analysis/epoch_sets.tsv",
        forgetting="results/{run}/analysis/forgetting.tsv",
        forgetting_curves="results/{run}/analysis/km_forgetting.tsv",
        # the control probe's accuracy (control.smk), unless control.enabled is false
        control=lambda wildcards: (
            [f"results/{wildcards.run}/analysis/control.tsv"]
            if config["control"]["enabled"]
            else []
        ),
    output:
        "results/{run}/analysis/summary.tsv",
    log:
        "logs/{run}/analysis/summary.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        kinds=ANALYSIS_KINDS,
        demo=is_demo_run,
        selection=get_summary_selection,
        compare_stable_epochs=lambda wildcards: list(
            analysis_config()["compare_stable_epochs"]
        ),
        cox=get_cox_settings,
    script:
        "../scripts/summary.py"


rule figure_km:
    input:
        "results/{run}/analysis/km_{kind}.tsv",
    output:
        figure_outputs(
            "km_{kind}",
            "../report/km.rst",
            "Survival curves",
            "{kind}",
        ),
    log:
        "logs/{run}/figures/km_{kind}.log",
    wildcard_constraints:
        kind="|".join(ANALYSIS_KINDS),
    conda:
        "../../envs/analysis.yaml"
    params:
        demo=is_demo_run,
        dpi=config["figures"]["dpi"],
    script:
        "../scripts/figure_km.py"


rule figure_forest:
    input:
        "results/{run}/analysis/cox_{kind}.tsv",
    output:
        figure_outputs(
            "forest_{kind}",
            "../report/forest.rst",
            "Hazard ratios",
            "{kind}",
        ),
    log:
        "logs/{run}/figures/forest_{kind}.log",
    wildcard_constraints:
        kind="|".join(ANALYSIS_KINDS),
    conda:
        "../../envs/analysis.yaml"
    params:
        demo=is_demo_run,
        dpi=config["figures"]["dpi"],
    script:
        "../scripts/figure_forest.py"


rule figure_rate:
    input:
        "results/{run}/analysis/dynamics.tsv",
    output:
        figure_outputs(
            "acquisition_rate",
            "../report/acquisition_rate.rst",
            "Learning dynamics",
            "rate",
        ),
    log:
        "logs/{run}/figures/acquisition_rate.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        demo=is_demo_run,
        dpi=config["figures"]["dpi"],
    script:
        "../scripts/figure_rate.py"


rule figure_accuracy:
    input:
        "results/{run}/analysis/trajectories.tsv",
    output:
        figure_outputs(
            "accuracy",
            "../report/accuracy.rst",
            "Learning dynamics",
            "accuracy",
        ),
    log:
        "logs/{run}/figures/accuracy.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        demo=is_demo_run,
        dpi=config["figures"]["dpi"],
    script:
        "../scripts/figure_accuracy.py"


rule epoch_sets:
    input:
        trajectories="results/{run}/analysis/trajectories.tsv",
        evals=get_eval_tables,
        checkpoints=get_checkpoints,
    output:
        "results/{run}/analysis/epoch_sets.tsv",
    log:
        "logs/{run}/analysis/epoch_sets.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        confidence_threshold=analysis_config()["confidence_threshold"],
    script:
        "../scripts/epoch_sets.py"


rule figure_epoch_sets:
    input:
        "results/{run}/analysis/epoch_sets.tsv",
    output:
        figure_outputs(
            "epoch_sets",
            "../report/epoch_sets.rst",
            "Learning dynamics",
            "epoch sets",
        ),
    log:
        "logs/{run}/figures/epoch_sets.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        demo=is_demo_run,
        dpi=config["figures"]["dpi"],
    script:
        "../scripts/figure_epoch_sets.py"


rule forgetting:
    input:
        "results/{run}/analysis/trajectories.tsv",
    output:
        events="results/{run}/analysis/forgetting.tsv",
        curves="results/{run}/analysis/km_forgetting.tsv",
    log:
        "logs/{run}/analysis/forgetting.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        selection=get_summary_selection,
        stable_epochs=lambda wildcards: sorted(
            {
                1,
                analysis_config()["stable_epochs"],
                *analysis_config()["compare_stable_epochs"],
            }
        ),
    script:
        "../scripts/forgetting.py"


rule figure_forgetting:
    input:
        "results/{run}/analysis/km_forgetting.tsv",
    output:
        figure_outputs(
            "forgetting",
            "../report/forgetting.rst",
            "Survival curves",
            "forgetting",
        ),
    log:
        "logs/{run}/figures/forgetting.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        demo=is_demo_run,
        dpi=config["figures"]["dpi"],
    script:
        "../scripts/figure_forgetting.py"
