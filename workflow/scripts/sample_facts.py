"""Rule sample_facts: draw the trained and withheld facts of every ontology, seeded (and the fact
table's report and counts, empty: no table was read)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))

from factsurv.data.fact_table import empty_table_outputs  # noqa: E402
from factsurv.data.sampling import sample_facts  # noqa: E402
from factsurv.io import read_json, read_tsv, write_json, write_tsv  # noqa: E402
from factsurv.provenance import provenance  # noqa: E402
from factsurv.rules import params_dict, rule_logging  # noqa: E402

with rule_logging(snakemake) as log:
    specs = snakemake.params.ontologies
    terms = {o: read_tsv(snakemake.input[f"terms_{o}"], ["term_id", "label", "obsolete"]) for o in specs}
    counts = {o: read_tsv(snakemake.input[f"counts_{o}"]) for o in specs if f"counts_{o}" in snakemake.input.keys()}
    facts = sample_facts(
        terms, counts, specs, snakemake.params.counts,
        seed=snakemake.params.seed, duplicate_labels=snakemake.params.duplicate_labels,
    )
    log.info("%d facts: %s", len(facts), facts.groupby(["ontology", "split"]).size().to_dict())
    report, literature = empty_table_outputs()
    write_tsv(report, snakemake.output.report)
    write_tsv(literature, snakemake.output.literature)
    write_tsv(facts, snakemake.output.facts)
    sources = {k: read_json(v) for k, v in snakemake.input.items() if "provenance" in k}
    write_json(provenance(params_dict(snakemake), sources=sources, n_facts=len(facts)), snakemake.output.provenance)
