import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))
from factsurv.rules import rule_logging  # noqa: E402

with rule_logging(snakemake) as log:
    from factsurv.prompts import PromptSettings
    from factsurv.modeling.loading import model_spec
    from factsurv.modeling.train import TrainSettings, train_epoch

    p = snakemake.params
    train_epoch(
        model_spec(p.model, snakemake.input.get("base") or None),
        snakemake.input.facts,
        int(snakemake.wildcards.epoch),
        snakemake.output[0],
        TrainSettings.from_params(p.training, p.seed, threads=p.threads),  # the run's count, whatever --cores gave
        PromptSettings.from_params(p.prompt, p.ontology_names, p.prefixes),
        previous=snakemake.input.get("previous") or None,
        plan_path=snakemake.input.plan,
    )
