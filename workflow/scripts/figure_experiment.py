"""Rule figure_experiment: acquisition curves per condition (bands across seeds), HR(latent) per
condition (forest), degradation seen vs unseen per design."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))

from factsurv.analysis.figures import save_figure  # noqa: E402
from factsurv.analysis.joint_figures import plot_curves, plot_degradation, plot_latent_forest  # noqa: E402
from factsurv.io import read_tsv  # noqa: E402
from factsurv.rules import rule_logging  # noqa: E402

with rule_logging(snakemake) as log:
    name = snakemake.wildcards.experiment
    dpi = int(snakemake.params.dpi)
    dtype = {"model": str, "design": str, "condition": str}
    save_figure(plot_curves(read_tsv(snakemake.input.curves, dtype=dtype), experiment=name),
                list(snakemake.output.curves), dpi=dpi)
    save_figure(plot_latent_forest(read_tsv(snakemake.input.cox, dtype=dtype), experiment=name),
                list(snakemake.output.forest), dpi=dpi)
    save_figure(plot_degradation(read_tsv(snakemake.input.degradation, dtype=dtype), experiment=name),
                list(snakemake.output.degradation), dpi=dpi)
