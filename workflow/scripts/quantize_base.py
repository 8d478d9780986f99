"""quantize_base: a model's 4-bit NF4 base, saved once for its QLoRA runs → results/models/{model}/nf4/."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))
from factsurv.rules import rule_logging  # noqa: E402

with rule_logging(snakemake) as log:
    from factsurv.modeling.loading import model_spec
    from factsurv.modeling.quantize import quantize_base

    p = snakemake.params
    spec = model_spec(p.model, snakemake.input.get("base") or None)
    quantize_base(spec, snakemake.output[0], threads=p.threads)
