# Parameter-level analyses of a run's finished checkpoints (analysis.parameters; docs/parameters.md):
# where fine-tuning moved the weights (param_updates) and greedy recall after restoring the largest
# updates to their base values (restore_updates, arXiv 2509.16596). Both work in memory and write
# no weights; their figures come from parameter_figures.


include: "parameters_common.smk"


rule param_updates:
    input:
        base=run_base_input,
        checkpoints=lambda wildcards: run_checkpoints(wildcards.run),
    output:
        "results/{run}/analysis/param_updates.tsv",
    log:
        "logs/{run}/analysis/param_updates.log",
    benchmark:
        "benchmarks/{run}/param_updates.tsv"
    conda:
        "../../envs/model.yaml"
    threads: run_resource("cpus")
    resources:
        gpu=run_resource("gpu"),
        mem_mb=run_resource("mem_mb"),
        runtime=run_runtime("param_updates"),
    params:
        model=model_params,
        threads=run_setting("threads"),
    script:
        "../scripts/param_updates.py"


rule restore_updates:
    input:
        facts="results/facts/facts.tsv",
        plan="results/{run}/train_plan.tsv",
        base=run_base_input,
        checkpoints=lambda wildcards: [
            f"results/{wildcards.run}/checkpoints/epoch_{e}"
            for e in restore_epochs(wildcards.run)
        ],
        evals=lambda wildcards: [
            f"results/{wildcards.run}/eval/epoch_{e}.tsv"
            for e in restore_epochs(wildcards.run)
        ],
    output:
        table="results/{run}/analysis/restore.tsv",
        facts="results/{run}/analysis/restore_facts.tsv",
    log:
        "logs/{run}/analysis/restore_updates.log",
    benchmark:
        "benchmarks/{run}/restore_updates.tsv"
    conda:
        "../../envs/model.yaml"
    threads: run_resource("cpus")
    resources:
        gpu=run_resource("gpu"),
        mem_mb=run_resource("mem_mb"),
        runtime=run_runtime("restore_updates"),
    params:
        model=model_params,
        restore=parameter_settings("restore"),
        epochs=lambda wildcards: restore_epochs(wildcards.run),
        eval=run_setting("eval"),
        threads=run_setting("threads"),
        prompt=prompt_params(),
        ontology_names=ontology_names(),
        prefixes=ontology_prefixes(),
    script:
        "../scripts/restore_updates.py"


rule parameter_figures:
    input:
        updates=lambda wildcards: (
            [f"results/{wildcards.run}/analysis/param_updates.tsv"]
            if parameter_settings("updates")["enabled"]
            else []
        ),
        restore=lambda wildcards: (
            [f"results/{wildcards.run}/analysis/restore.tsv"]
            if parameter_settings("restore")["enabled"]
            and restore_epochs(wildcards.run)
            else []
        ),
    output:
        updates=report_figures(
            "results/{run}/figures",
            {"run": "{run}"},
            "param_updates",
            "../report/param_updates.rst",
            "Parameters",
            "updates",
        ),
        restore=report_figures(
            "results/{run}/figures",
            {"run": "{run}"},
            "restore",
            "../report/restore.rst",
            "Parameters",
            "restore",
        ),
    log:
        "logs/{run}/parameter_figures.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        demo=is_demo_run,
        dpi=config["figures"]["dpi"],
    script:
        "../scripts/parameter_figures.py"


rule gradient_trace:
    input:
        facts="results/facts/facts.tsv",
        plan="results/{run}/train_plan.tsv",
        base=run_base_input,
        checkpoints=lambda wildcards: [
            f"results/{wildcards.run}/checkpoints/epoch_{e}"
            for e in trace_epochs(wildcards.run)
            if e > 0
        ],
    output:
        table="results/{run}/analysis/gradient_trace.tsv",
        shared="results/{run}/analysis/gradient_shared.tsv",
    log:
        "logs/{run}/analysis/gradient_trace.log",
    benchmark:
        "benchmarks/{run}/gradient_trace.tsv"
    conda:
        "../../envs/model.yaml"
    threads: run_resource("cpus")
    resources:
        gpu=run_resource("gpu"),
        mem_mb=run_resource("mem_mb"),
        runtime=run_runtime("gradient_trace"),
    params:
        model=model_params,
        trace=parameter_settings("gradient_trace"),
        epochs=lambda wildcards: trace_epochs(wildcards.run),
        threads=run_setting("threads"),
        prompt=prompt_params(),
        ontology_names=ontology_names(),
        prefixes=ontology_prefixes(),
    script:
        "../scripts/gradient_trace.py"


# The experiment's runs' shared-parameter summaries stacked (run, model, seed, design in front)
# and drawn side by side: mixed vs two_stage, the comparison of arXiv 2505.16178.
rule experiment_gradient_trace:
    input:
        lambda wildcards: [
            f"results/{r}/analysis/gradient_shared.tsv"
            for r in traced_runs(wildcards.experiment)
        ],
    output:
        table="results/experiments/{experiment}/gradient_shared.tsv",
        figure=experiment_figure("gradient_shared", "../report/gradient_shared.rst"),
    log:
        "logs/experiments/{experiment}/experiment_gradient_trace.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        cells=lambda wildcards: [
            c
            for c in experiment_cells_params(wildcards)
            if c["run"] in traced_runs(wildcards.experiment)
        ],
        dpi=config["figures"]["dpi"],
    script:
        "../scripts/experiment_gradient_trace.py"


rule attention_mass:
    input:
        facts="results/facts/facts.tsv",
        plan="results/{run}/train_plan.tsv",
        base=run_base_input,
        checkpoints=lambda wildcards: [
            f"results/{wildcards.run}/checkpoints/epoch_{e}"
            for e in attention_epochs(wildcards.run)
            if e > 0
        ],
    output:
        attention="results/{run}/analysis/attention.tsv",
        loss="results/{run}/analysis/answer_loss.tsv",
        figure=report_figures(
            "results/{run}/figures",
            {"run": "{run}"},
            "attention",
            "../report/attention.rst",
            "Parameters",
            "attention",
        ),
    log:
        "logs/{run}/analysis/attention_mass.log",
    benchmark:
        "benchmarks/{run}/attention_mass.tsv"
    conda:
        "../../envs/model.yaml"
    threads: run_resource("cpus")
    resources:
        gpu=run_resource("gpu"),
        mem_mb=run_resource("mem_mb"),
        runtime=run_runtime("attention_mass"),
    params:
        model=model_params,
        attention=parameter_settings("attention"),
        epochs=lambda wildcards: attention_epochs(wildcards.run),
        threads=run_setting("threads"),
        prompt=prompt_params(),
        ontology_names=ontology_names(),
        prefixes=ontology_prefixes(),
        demo=is_demo_run,
        dpi=config["figures"]["dpi"],
    script:
        "../scripts/attention_mass.py"
