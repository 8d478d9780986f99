# Parameter-level analyses of a run's finished checkpoints (analysis.parameters; docs/parameters.md):
# where fine-tuning moved the weights (param_updates) and greedy recall after restoring the largest
# updates to their base values (restore_updates, arXiv 2509.16596). Both work in memory and write
# no weights; their figures come from parameter_figures.


def parameter_settings(which):
    return canonical(dict(config["analysis"]["parameters"][which]))


def restore_epochs(run):
    """The epochs whose checkpoint is restored (default: the run's last), within the run's epochs."""
    epochs = run_config(run)["epochs"]
    asked = parameter_settings("restore")["epochs"] or [epochs]
    return sorted(e for e in asked if 1 <= e <= epochs)


def parameter_targets(run):
    """The run's parameter-analysis tables and figures in the default target."""
    out = []
    if parameter_settings("updates")["enabled"]:
        out.append(f"results/{run}/analysis/param_updates.tsv")
    if parameter_settings("restore")["enabled"] and restore_epochs(run):
        out.append(f"results/{run}/analysis/restore.tsv")
    if out:  # one figure job draws both (a disabled one as an empty panel)
        out += [
            f"results/{run}/figures/{stem}.{ext}"
            for stem in ("param_updates", "restore")
            for ext in FIGURE_FORMATS
        ]
    return out


rule param_updates:
    input:
        base=base_model_input,
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
        runtime=run_resource("runtime"),
    params:
        model=model_params,
        threads=run_setting("threads"),
    script:
        "../scripts/param_updates.py"


rule restore_updates:
    input:
        facts="results/facts/facts.tsv",
        plan="results/{run}/train_plan.tsv",
        base=base_model_input,
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
        runtime=run_resource("runtime"),
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
