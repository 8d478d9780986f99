import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))
from factsurv.rules import rule_logging  # noqa: E402

with rule_logging(snakemake) as log:
    from factsurv.io import write_tsv
    from factsurv.prompts import PromptSettings
    from factsurv.modeling.loading import model_spec
    from factsurv.modeling.probe import ProbeSettings, probe_baseline

    p = snakemake.params
    spec = model_spec(p.model, snakemake.input.get("base") or None)
    prompt = PromptSettings.from_params(p.prompt, p.ontology_names, p.prefixes)
    settings = ProbeSettings.from_params(p.probe, p.threads)
    table = probe_baseline(spec, snakemake.input.facts, snakemake.input.greedy, prompt, settings)
    write_tsv(table, snakemake.output[0])
