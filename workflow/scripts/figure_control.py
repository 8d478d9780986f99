"""Rule figure_control: out-of-domain accuracy per epoch."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))

from factsurv.analysis.figures import plot_control, save_figure  # noqa: E402
from factsurv.io import read_tsv  # noqa: E402
from factsurv.rules import rule_logging  # noqa: E402

with rule_logging(snakemake) as log:
    fig = plot_control(read_tsv(snakemake.input[0]), run=snakemake.wildcards.run, demo=bool(snakemake.params.demo))
    save_figure(fig, list(snakemake.output), dpi=int(snakemake.params.dpi))
