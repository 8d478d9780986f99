# The offline demo model (SPEC §5): a synthetic corpus in which each fact is stated with a skewed
# frequency, a byte-level BPE tokenizer and a small Llama built from it, and full pretraining.
# Only models with `source: demo`; the settings live under models.<name>.demo (see the schema).


rule demo_corpus:
    input:
        facts="results/facts/facts.tsv",
        terms=expand("results/terms/{onto}.tsv", onto=sampled_ontologies()),
    output:
        corpus="results/models/{model}/corpus.txt",
        mentions="results/models/{model}/corpus_mentions.tsv",
    log:
        "logs/demo_model/{model}/demo_corpus.log",
    conda:
        "../../envs/model.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        corpus=lambda wc: demo_settings(wc.model)["corpus"],
        ontologies=sampled_ontologies(),
        ontology_names={o: ontology(o)["name"] for o in ONTOLOGIES},
        prompt_user=lambda wc: config["prompt"]["user"],
        prompt_plain=lambda wc: config["prompt"]["plain"],
    script:
        "../scripts/demo_corpus.py"


rule build_demo_model:
    input:
        corpus="results/models/{model}/corpus.txt",
    output:
        base=directory("results/models/{model}/base"),
    log:
        "logs/demo_model/{model}/build_demo_model.log",
    conda:
        "../../envs/model.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        vocab_size=lambda wc: demo_settings(wc.model)["tokenizer"]["vocab_size"],
        architecture=lambda wc: demo_settings(wc.model)["architecture"],
        seed=lambda wc: demo_settings(wc.model)["seed"],
    script:
        "../scripts/build_demo_model.py"


rule pretrain_demo_model:
    input:
        base="results/models/{model}/base",
        corpus="results/models/{model}/corpus.txt",
    output:
        model=directory("results/models/{model}/pretrained"),
    log:
        "logs/demo_model/{model}/pretrain_demo_model.log",
    benchmark:
        "benchmarks/demo_model/{model}/pretrain_demo_model.tsv"
    conda:
        "../../envs/model.yaml"
    threads: lambda wc: demo_settings(wc.model)["pretrain"]["threads"]
    resources:
        mem_mb=3000,
        runtime=60,
    params:
        pretrain=lambda wc: demo_settings(wc.model)["pretrain"],
        seed=lambda wc: demo_settings(wc.model)["seed"],
    script:
        "../scripts/pretrain_demo_model.py"
