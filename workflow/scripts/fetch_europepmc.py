"""Rule fetch_europepmc (local): hit counts of every fact's identifier and label in Europe PMC."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))

from factsurv.data.europepmc import fetch_counts  # noqa: E402
from factsurv.io import read_tsv, write_tsv  # noqa: E402
from factsurv.rules import rule_logging  # noqa: E402

with rule_logging(snakemake):
    facts = read_tsv(snakemake.input.facts, ["fact_id", "term_id", "label"], dtype={"fact_id": str, "term_id": str})
    write_tsv(fetch_counts(facts, dict(snakemake.params.europepmc)), snakemake.output.counts)
