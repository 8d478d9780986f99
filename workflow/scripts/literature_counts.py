"""Rule literature_counts: identifier and label frequencies per fact (table, corpus, europepmc or none),
with the fact table's own counts where it gives them."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))

from factsurv.data.literature import literature_counts  # noqa: E402
from factsurv.io import read_tsv, write_tsv  # noqa: E402
from factsurv.rules import rule_logging  # noqa: E402

def optional_input(name):
    return snakemake.input[name] if name in snakemake.input.keys() else None


with rule_logging(snakemake):
    facts = read_tsv(snakemake.input.facts, ["fact_id", "term_id", "label"])
    counts = literature_counts(
        facts, snakemake.params.source, table=snakemake.params.table, corpus=list(snakemake.params.corpus),
        fetched=optional_input("fetched"), overrides=optional_input("overrides"),
    )
    write_tsv(counts, snakemake.output.counts)
