"""exposure_corpus: the randomized dose of every fact and the corpus that delivers it."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))

from factsurv.io import atomic_path, read_tsv, write_tsv  # noqa: E402
from factsurv.modeling.demo_corpus import corpus_text  # noqa: E402
from factsurv.modeling.exposure import ExposureSettings, build_exposure, dose_summary, parent_labels  # noqa: E402
from factsurv.rules import rule_logging  # noqa: E402

with rule_logging(snakemake) as log:
    facts = read_tsv(snakemake.input.facts, ["fact_id", "ontology", "term_id", "label", "split"],
                     dtype={"label": str, "term_id": str, "fact_id": str})
    ontologies = list(snakemake.params.ontologies)
    terms = {o: read_tsv(p, ["term_id", "label"], dtype={"label": str, "term_id": str})
             for o, p in zip(ontologies, snakemake.input.terms)}
    edges = {o: read_tsv(p, ["term_id", "relation", "target_id"], dtype=str)
             for o, p in zip(ontologies, snakemake.input.edges)}
    settings = ExposureSettings.from_params(dict(snakemake.params.exposure))
    assignment, documents = build_exposure(facts, settings, dict(snakemake.params.ontology_names),
                                           parent_labels(terms, edges), user_template=snakemake.params.prompt_user)
    write_tsv(assignment, snakemake.output.assignment)
    write_tsv(documents, snakemake.output.documents)
    with atomic_path(snakemake.output.corpus) as tmp:
        tmp.write_text(corpus_text(list(documents["text"])), encoding="utf-8")
    log.info("dose levels %s with probabilities %s", list(settings.doses),
             [round(p, 3) for p in settings.level_probabilities()])
    log.info("facts per dose and split:\n%s", dose_summary(assignment).to_string(index=False))
    log.info("%d documents (%d state an identifier)", len(documents),
             int((~documents["kind"].str.startswith("label")).sum()))
