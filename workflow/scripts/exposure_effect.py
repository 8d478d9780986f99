"""exposure_effect: the randomized dose's effect on baseline knowledge and on acquisition."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))

from factsurv.analysis.causal import exposure_baseline, exposure_curves, exposure_effect  # noqa: E402
from factsurv.analysis.causal_figures import plot_exposure  # noqa: E402
from factsurv.analysis.figures import save_figure  # noqa: E402
from factsurv.io import read_tsv, write_tsv  # noqa: E402
from factsurv.rules import rule_logging  # noqa: E402
from factsurv.tables import TRAJECTORY_COLUMNS  # noqa: E402

with rule_logging(snakemake) as log:
    trajectories = read_tsv(snakemake.input[0], TRAJECTORY_COLUMNS, dtype={"fact_id": str})
    effect = exposure_effect(trajectories, bootstrap=int(snakemake.params.bootstrap), seed=int(snakemake.params.seed))
    baseline = exposure_baseline(trajectories)
    curves = exposure_curves(trajectories)
    write_tsv(effect, snakemake.output.effect)
    write_tsv(baseline, snakemake.output.baseline)
    write_tsv(curves, snakemake.output.curves)
    save_figure(plot_exposure(baseline, curves, effect, run=snakemake.wildcards.run), list(snakemake.output.figure),
                dpi=int(snakemake.params.dpi))
    for r in effect.itertuples():
        log.info("%s [%s] %s: %s [%s, %s] p=%s n=%s (%s)", r.estimand, r.population, r.covariate, r.estimate,
                 r.lower_95, r.upper_95, r.p, r.n, r.note)
