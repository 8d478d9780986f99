"""Rule annotation_counts: curated annotations → direct and propagated counts per term."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))

from factsurv.data.annotations import annotation_counts, read_annotations  # noqa: E402
from factsurv.data.ontology import edges_from_table  # noqa: E402
from factsurv.io import read_tsv, write_tsv  # noqa: E402
from factsurv.rules import rule_logging  # noqa: E402

with rule_logging(snakemake) as log:
    terms = read_tsv(snakemake.input.terms, ["term_id"])
    edges = edges_from_table(read_tsv(snakemake.input.edges, ["term_id", "relation", "target_id"]), snakemake.params.propagate)
    pairs = read_annotations(snakemake.input.annotations, snakemake.params.format)
    counts = annotation_counts(pairs, terms["term_id"].tolist(), edges)
    log.info("%d terms with at least one (propagated) annotation", int((counts["annotation_count"] > 0).sum()))
    write_tsv(counts, snakemake.output.counts)
