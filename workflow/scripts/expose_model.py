"""expose_model: the base model continued-pretrained on its exposure corpus → an HF model folder."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))

from factsurv.io import atomic_path, write_json  # noqa: E402
from factsurv.provenance import describe_files, provenance  # noqa: E402
from factsurv.rules import params_dict, rule_logging  # noqa: E402

with rule_logging(snakemake) as log:
    from factsurv.modeling import loading
    from factsurv.modeling.exposure import expose_model

    spec = loading.model_spec(dict(snakemake.params.base), snakemake.input.base)
    with atomic_path(snakemake.output.model) as tmp:
        metrics = expose_model(spec, snakemake.input.corpus, str(tmp), dict(snakemake.params.pretrain),
                               int(snakemake.params.seed), log=log.info)
        write_json(metrics, tmp / "pretrain_metrics.json")
        write_json(
            provenance(
                params_dict(snakemake),
                seed=int(snakemake.params.seed),
                inputs=describe_files([snakemake.input.corpus]),
                note="a real model after continued pretraining on a corpus with a randomized dose per fact "
                     "(results/models/<model>/exposure/assignment.tsv)",
                metrics={k: v for k, v in metrics.items() if k != "passes"},
            ),
            tmp / "provenance.json",
        )
    log.info("continued pretraining in %.1f s (%s tokens/s), final loss %.4f",
             metrics["seconds"], metrics["tokens_per_s"], metrics["final_loss"])
