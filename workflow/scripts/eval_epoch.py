import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))
from factsurv.rules import rule_logging  # noqa: E402

with rule_logging(snakemake) as log:
    from factsurv.io import write_tsv
    from factsurv.modeling.evaluate import evaluate_epoch
    from factsurv.prompts import PromptSettings
    from factsurv.modeling.loading import model_spec

    p = snakemake.params
    table = evaluate_epoch(
        model_spec(p.model, snakemake.input.get("base") or None),
        snakemake.input.facts,
        int(snakemake.wildcards.epoch),
        PromptSettings.from_params(p.prompt, p.ontology_names, p.prefixes),
        checkpoint_dir=snakemake.input.get("checkpoint") or None,
        batch_size=p.eval["batch_size"],
        max_new_tokens=p.eval["max_new_tokens"],
        threads=p.threads,
    )
    write_tsv(table, snakemake.output[0])
