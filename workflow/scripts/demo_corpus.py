"""demo_corpus: the demo model's synthetic pretraining corpus and its mention counts per fact."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))

from factsurv.io import atomic_path, read_tsv, write_tsv
from factsurv.modeling.demo_corpus import CorpusSettings, build_corpus, corpus_text
from factsurv.rules import rule_logging

with rule_logging(snakemake) as log:
    facts = read_tsv(
        snakemake.input.facts,
        ["fact_id", "ontology", "term_id", "label", "annotation_count"],
        dtype={"label": str, "term_id": str},
    )
    terms = {
        onto: read_tsv(path, ["term_id", "label"], dtype={"label": str, "term_id": str})
        for onto, path in zip(snakemake.params.ontologies, snakemake.input.terms)
    }
    settings = CorpusSettings.from_params(dict(snakemake.params.corpus))
    docs, mentions = build_corpus(
        facts,
        terms,
        dict(snakemake.params.ontology_names),
        settings,
        user_template=snakemake.params.prompt_user,
        plain_format=snakemake.params.prompt_plain,
    )
    with atomic_path(snakemake.output.corpus) as tmp:
        tmp.write_text(corpus_text(docs), encoding="utf-8")
    write_tsv(mentions, snakemake.output.mentions)
    m = mentions["mentions"]
    log.info(
        "%d documents; %d of %d facts mentioned (median %s, max %s mentions)",
        len(docs), int((m > 0).sum()), len(m), m[m > 0].median() if (m > 0).any() else 0, m.max(),
    )
