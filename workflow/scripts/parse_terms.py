"""Rule parse_terms: one OBO file → the term table and the is_a/part_of edge table."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))

from factsurv.data.ontology import parse_terms  # noqa: E402
from factsurv.io import write_tsv  # noqa: E402
from factsurv.rules import rule_logging  # noqa: E402

with rule_logging(snakemake) as log:
    terms, edges, graph = parse_terms(snakemake.input.obo)
    log.info("release %s: %d terms (%d obsolete), %d edges", graph.release, len(terms), int(terms["obsolete"].sum()), len(edges))
    write_tsv(terms, snakemake.output.terms)
    write_tsv(edges, snakemake.output.edges)
