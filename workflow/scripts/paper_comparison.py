"""Rule paper_comparison: the run's headline table, the paper's numbers beside the run's summary."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))

from factsurv.analysis.paper import paper_comparison  # noqa: E402
from factsurv.io import read_tsv, write_tsv  # noqa: E402
from factsurv.rules import rule_logging  # noqa: E402
from factsurv.tables import EXPOSURE_EFFECT_COLUMNS  # noqa: E402

with rule_logging(snakemake) as log:
    summary = read_tsv(snakemake.input.summary, ["metric", "group", "value", "lower_95", "upper_95", "p", "flag"])
    exposure = None
    if snakemake.input.get("exposure"):
        exposure = read_tsv(snakemake.input.exposure, EXPOSURE_EFFECT_COLUMNS)
    table = paper_comparison(summary, hr_model=snakemake.params.hr_model, exposure=exposure)
    write_tsv(table, snakemake.output[0])
    for r in table.itertuples():
        log.info("%s: run %s, paper %s -> %s", r.quantity, r.run_text, r.paper_text, r.agrees or "(context)")
