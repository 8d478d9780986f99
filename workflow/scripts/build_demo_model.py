"""build_demo_model: tokenizer trained on the demo corpus + an untrained small Llama, saved HF-style."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))

from factsurv.io import atomic_path, write_json
from factsurv.modeling.demo import ArchitectureSettings, build_base
from factsurv.modeling.demo_corpus import split_documents
from factsurv.provenance import provenance
from factsurv.rules import params_dict, rule_logging

with rule_logging(snakemake) as log:
    docs = split_documents(Path(snakemake.input.corpus).read_text(encoding="utf-8"))
    arch = ArchitectureSettings.from_params(dict(snakemake.params.architecture))
    with atomic_path(snakemake.output.base) as tmp:
        summary = build_base(docs, tmp, int(snakemake.params.vocab_size), arch, int(snakemake.params.seed))
        write_json(provenance(params_dict(snakemake), model=summary, seed=int(snakemake.params.seed)),
                   tmp / "provenance.json")
    log.info("built %s", summary)
