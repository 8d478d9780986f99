# Controlled prior exposure of a real model (models with `source: exposure`; docs/exposure.md):
# every fact of facts.tsv gets a randomized dose, documents stating its identifier, drawn per fact;
# the model `base` is continued-pretrained on that corpus into results/models/{model}/exposed/,
# which every later job reads as an ordinary model folder (model_common.smk: model_folder). The
# assignment table is the treatment record the analysis joins (prior_exposure) and estimates from.


rule exposure_corpus:
    input:
        facts="results/facts/facts.tsv",
        terms=expand("results/terms/{onto}.tsv", onto=sampled_ontologies()),
        edges=expand("results/terms/{onto}.edges.tsv", onto=sampled_ontologies()),
    output:
        **EXPOSURE_TABLES,
    log:
        "logs/models/{model}/exposure_corpus.log",
    conda:
        "../../envs/model.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        exposure=lambda wildcards: exposure_settings(wildcards.model),
        ontologies=sampled_ontologies(),
        ontology_names=ontology_names(),
        prompt_user=lambda wildcards: config["prompt"]["user"],
    script:
        "../scripts/exposure_corpus.py"


rule expose_model:
    input:
        base=lambda wildcards: model_folder(model_config(wildcards.model)["base"]),
        corpus="results/models/{model}/exposure/corpus.txt",
    output:
        model=directory("results/models/{model}/exposed"),
    log:
        "logs/models/{model}/expose_model.log",
    benchmark:
        "benchmarks/models/{model}/expose_model.tsv"
    conda:
        "../../envs/model.yaml"
    threads: lambda wildcards: exposure_pretrain(wildcards.model)["threads"]
    resources:
        gpu=exposure_resource("gpu"),
        mem_mb=exposure_resource("mem_mb"),
        runtime=exposure_runtime("expose_model"),
    params:
        base=lambda wildcards: model_spec_params(model_config(wildcards.model)["base"]),
        pretrain=lambda wildcards: exposure_pretrain(wildcards.model),
        seed=lambda wildcards: model_config(wildcards.model)["exposure"]["seed"],
    script:
        "../scripts/expose_model.py"


# The randomized dose's effect on a run of an exposed model (factsurv.analysis.causal): baseline
# knowledge by dose, acquisition by dose, the total / direct / intention-to-treat hazard ratios,
# the share mediated by latent knowledge, and HR(latent) with and without the dose beside it.
rule exposure_effect:
    input:
        "results/{run}/analysis/trajectories.tsv",
    output:
        effect="results/{run}/analysis/exposure_effect.tsv",
        baseline="results/{run}/analysis/exposure_baseline.tsv",
        curves="results/{run}/analysis/exposure_curves.tsv",
        figure=report_figures(
            "results/{run}/figures",
            {"run": "{run}"},
            "exposure",
            "../report/exposure.rst",
            "Prior exposure (randomized)",
            "{run}",
        ),
    log:
        "logs/{run}/analysis/exposure_effect.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        bootstrap=analysis_config()["exposure"]["bootstrap"],
        seed=analysis_config()["exposure"]["seed"],
        dpi=config["figures"]["dpi"],
    script:
        "../scripts/exposure_effect.py"
