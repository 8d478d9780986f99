"""Rule figures: every figure of a run (KM curves and forest plots per kind, acquisition rate,
accuracy, epoch sets, forgetting, and the control probe's accuracy when it is enabled)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))

from factsurv.analysis.figures import (  # noqa: E402
    plot_accuracy,
    plot_control,
    plot_epoch_sets,
    plot_forest,
    plot_forgetting,
    plot_km,
    plot_rate,
    save_figure,
)
from factsurv.io import read_tsv  # noqa: E402
from factsurv.rules import rule_logging  # noqa: E402

with rule_logging(snakemake) as log:
    run = snakemake.wildcards.run
    demo = bool(snakemake.params.demo)
    dpi = int(snakemake.params.dpi)
    out = snakemake.output

    def save(fig, name):
        save_figure(fig, list(out[name]), dpi=dpi)
        log.info("%s: %s", name, ", ".join(out[name]))

    for kind, km_path, cox_path in zip(snakemake.params.kinds, snakemake.input.km, snakemake.input.cox):
        save(plot_km(read_tsv(km_path), kind, run=run, demo=demo), f"km_{kind}")
        save(plot_forest(read_tsv(cox_path), kind, run=run, demo=demo), f"forest_{kind}")
    save(plot_rate(read_tsv(snakemake.input.dynamics), run=run, demo=demo), "rate")
    save(plot_accuracy(read_tsv(snakemake.input.trajectories, dtype={"fact_id": str}), run=run, demo=demo), "accuracy")
    save(plot_epoch_sets(read_tsv(snakemake.input.epoch_sets), run=run, demo=demo), "epoch_sets")
    save(plot_forgetting(read_tsv(snakemake.input.forgetting_curves), run=run, demo=demo), "forgetting")
    if snakemake.input.control:
        save(plot_control(read_tsv(snakemake.input.control[0]), run=run, demo=demo), "control")
