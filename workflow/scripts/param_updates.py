"""Rule param_updates: per epoch and parameter, the update's size relative to the base weight and
its concentration (factsurv.modeling.parameters.update_rows)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))
from factsurv.rules import rule_logging  # noqa: E402

with rule_logging(snakemake) as log:
    import pandas as pd

    from factsurv.io import write_tsv
    from factsurv.modeling.loading import model_spec
    from factsurv.modeling.parameters import load_epoch_updates, update_rows
    from factsurv.tables import PARAM_UPDATE_COLUMNS

    p = snakemake.params
    spec = model_spec(p.model, snakemake.input.get("base") or None)
    rows = []
    for path in snakemake.input.checkpoints:
        epoch = int(Path(path).name.rsplit("_", 1)[1])
        eu = load_epoch_updates(spec, path, epoch, threads=p.threads)
        rows += update_rows(eu)
        del eu
        log.info("epoch %d: %d parameters", epoch, len(rows))
    write_tsv(pd.DataFrame(rows, columns=list(PARAM_UPDATE_COLUMNS)), snakemake.output[0])
