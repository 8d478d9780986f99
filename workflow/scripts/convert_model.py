"""convert_model: a GGUF model (local file or PyPI wheel member) → results/models/{model}/hf/."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))
from factsurv.rules import rule_logging  # noqa: E402

with rule_logging(snakemake) as log:
    from factsurv.modeling.convert import convert_model

    p = snakemake.params
    convert_model(dict(p.model), snakemake.output.model, key=p.key, wheel_cache=p.wheel_cache)
