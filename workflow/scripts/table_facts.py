"""Rule table_facts: the facts of the user's tables, checked against the ontology release."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))

from factsurv.data.fact_table import Release, facts_from_tables  # noqa: E402
from factsurv.data.ontology import load_obo  # noqa: E402
from factsurv.io import read_json, read_tsv, write_json, write_tsv  # noqa: E402
from factsurv.provenance import describe_files, provenance  # noqa: E402
from factsurv.rules import params_dict, rule_logging  # noqa: E402

with rule_logging(snakemake) as log:
    prefixes = dict(snakemake.params.prefixes)
    releases, counts = {}, {}
    for onto in prefixes:
        graph = load_obo(snakemake.input[f"obo_{onto}"])  # for alt_id and replaced_by
        terms = read_tsv(snakemake.input[f"terms_{onto}"], ["term_id", "label", "obsolete"])
        releases[onto] = Release(terms, graph.alt_ids, graph.replaced_by, graph.release)
        if f"counts_{onto}" in snakemake.input.keys():
            counts[onto] = read_tsv(snakemake.input[f"counts_{onto}"])
    tables = [dict(t) for t in snakemake.params.tables]
    facts, literature, report = facts_from_tables(
        tables, releases, prefixes, counts, on_mismatch=snakemake.params.on_mismatch, seed=snakemake.params.seed or 0
    )
    log.info("%d facts: %s", len(facts), facts.groupby(["ontology", "split"]).size().to_dict())
    write_tsv(report, snakemake.output.report)
    write_tsv(literature, snakemake.output.literature)
    write_tsv(facts, snakemake.output.facts)
    sources = {k: read_json(v) for k, v in snakemake.input.items() if "provenance" in k}
    write_json(
        provenance(
            params_dict(snakemake), sources=sources, tables=describe_files([t["path"] for t in tables]),
            n_facts=len(facts), issues=report["issue"].value_counts().to_dict(),
        ),
        snakemake.output.provenance,
    )
