# The analysis stage (docs/design.md): trajectories → events → Cox (+ q-values), discrete-time
# models, Kaplan–Meier/log-rank, learning dynamics → summary, and one job that draws the run's
# figures. Every setting reaches a rule through `params:`.
#
# One job per run and step, writing the tables of all three event kinds (acquisition,
# generalization, degradation): the fits take seconds, and an experiment of 60 runs plans ~1,100
# fewer jobs than with one job per kind and figure (docs/slurm.md, "Planning").


include: "analysis_common.smk"


rule trajectories:
    input:
        facts="results/facts/facts.tsv",
        literature="results/facts/literature_counts.tsv",
        baseline="results/{run}/probe/baseline.tsv",
        evals=lambda wildcards: eval_tables(wildcards.run),
        plan="results/{run}/train_plan.tsv",
        exposure=lambda wildcards: model_exposure_table(run_model_name(wildcards.run)),
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
        **per_kind("events"),
    log:
        "logs/{run}/analysis/events.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        selection=KIND_SELECTIONS,
        stable_epochs=analysis_config()["stable_epochs"],
    script:
        "../scripts/events.py"


# Cox models of every kind and the Benjamini–Hochberg q-values across them (qvalues.tsv).
rule cox:
    input:
        **per_kind("events"),
    output:
        **per_kind("cox"),
        qvalues="results/{run}/analysis/qvalues.tsv",
    log:
        "logs/{run}/analysis/cox.log",
    benchmark:
        "benchmarks/{run}/analysis/cox.tsv"
    conda:
        "../../envs/analysis.yaml"
    params:
        cox=COX_SETTINGS,
        kinds=COX_KIND_SETTINGS,
    script:
        "../scripts/cox.py"


rule discrete_time:
    input:
        events=list(per_kind("events").values()),
        cox=list(per_kind("cox").values()),
        trajectories="results/{run}/analysis/trajectories.tsv",
    output:
        **per_kind("cloglog"),
    log:
        "logs/{run}/analysis/cloglog.log",
    benchmark:
        "benchmarks/{run}/analysis/cloglog.tsv"
    conda:
        "../../envs/analysis.yaml"
    params:
        kinds=ANALYSIS_KINDS,
        cox=COX_SETTINGS,
        kind_settings=COX_KIND_SETTINGS,
        discrete_time=canonical(dict(analysis_config()["discrete_time"])),
    script:
        "../scripts/discrete_time.py"


rule km:
    input:
        **per_kind("events"),
    output:
        km=list(per_kind("km").values()),
        logrank=list(per_kind("logrank").values()),
    log:
        "logs/{run}/analysis/km.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        kinds=ANALYSIS_KINDS,
        group_by=canonical(
            {kind: list(analysis_config()["km"][kind]) for kind in ANALYSIS_KINDS}
        ),
    script:
        "../scripts/km.py"


rule dynamics:
    input:
        events=[
            f"results/{{run}}/analysis/events_{kind}.tsv"
            for kind in analysis_config()["dynamics"]["kinds"]
        ],
    output:
        "results/{run}/analysis/dynamics.tsv",
    log:
        "logs/{run}/analysis/dynamics.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        kinds=list(analysis_config()["dynamics"]["kinds"]),
        group_by=analysis_config()["dynamics"]["group_by"],
        convergence_share=analysis_config()["dynamics"]["convergence_share"],
        bootstrap=analysis_config()["dynamics"]["bootstrap"],
        seed=analysis_config()["dynamics"]["seed"],
    script:
        "../scripts/dynamics.py"


rule summary:
    input:
        trajectories="results/{run}/analysis/trajectories.tsv",
        events=list(per_kind("events").values()),
        cox=list(per_kind("cox").values()),
        cloglog_acquisition="results/{run}/analysis/cloglog_acquisition.tsv",
        qvalues="results/{run}/analysis/qvalues.tsv",
        logrank=list(per_kind("logrank").values()),
        dynamics="results/{run}/analysis/dynamics.tsv",
        epoch_sets="results/{run}/analysis/epoch_sets.tsv",
        forgetting="results/{run}/analysis/forgetting.tsv",
        forgetting_curves="results/{run}/analysis/km_forgetting.tsv",
        control=CONTROL_ACCURACY,
    output:
        "results/{run}/analysis/summary.tsv",
    log:
        "logs/{run}/analysis/summary.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        kinds=ANALYSIS_KINDS,
        demo=is_demo_run,
        selection=SUMMARY_SELECTION,
        compare_stable_epochs=list(analysis_config()["compare_stable_epochs"]),
        cox=COX_SETTINGS,
    script:
        "../scripts/summary.py"


rule epoch_sets:
    input:
        trajectories="results/{run}/analysis/trajectories.tsv",
        evals=lambda wildcards: eval_tables(wildcards.run),
        checkpoints=lambda wildcards: run_checkpoints(wildcards.run),
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
        selection=SUMMARY_SELECTION,
        stable_epochs=sorted(
            {
                1,
                analysis_config()["stable_epochs"],
                *analysis_config()["compare_stable_epochs"],
            }
        ),
    script:
        "../scripts/forgetting.py"


# Every figure of a run in one job (RUN_FIGURES in analysis_common.smk): drawing one takes well
# under a second, so a changed table re-draws all of them (dpi: figures.dpi).
rule figures:
    input:
        km=list(per_kind("km").values()),
        cox=list(per_kind("cox").values()),
        dynamics="results/{run}/analysis/dynamics.tsv",
        trajectories="results/{run}/analysis/trajectories.tsv",
        epoch_sets="results/{run}/analysis/epoch_sets.tsv",
        forgetting_curves="results/{run}/analysis/km_forgetting.tsv",
        control=CONTROL_ACCURACY,
    output:
        **{name: figure_outputs(*spec) for name, spec in RUN_FIGURES.items()},
    log:
        "logs/{run}/figures/figures.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        kinds=ANALYSIS_KINDS,
        demo=is_demo_run,
        dpi=config["figures"]["dpi"],
    script:
        "../scripts/figures.py"
