"""Rule experiment_gradient_trace: the runs' shared-parameter summaries stacked (run, model, seed,
design in front) and their figure: shared-set size and centralization per design."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))
from factsurv.rules import rule_logging  # noqa: E402

with rule_logging(snakemake) as log:
    from factsurv.analysis.figures import save_figure
    from factsurv.analysis.joint import stack
    from factsurv.analysis.parameters import plot_shared
    from factsurv.io import read_tsv, write_tsv
    from factsurv.tables import GRADIENT_SHARED_COLUMNS

    cells = [dict(c) for c in snakemake.params.cells]
    tables = [(c, read_tsv(p, list(GRADIENT_SHARED_COLUMNS))) for c, p in zip(cells, snakemake.input)]
    table = stack(tables)
    write_tsv(table, snakemake.output.table)
    for r in table.itertuples():
        log.info("%s (%s), epoch %d: %d shared (%.1f %% of a top set), top units %.1f %%, Gini(layers) %.2f",
                 r.run, r.design, r.epoch, r.n_shared, 100 * r.shared_share, 100 * r.top_units_share, r.gini_layers)
    save_figure(plot_shared(table, title=snakemake.wildcards.experiment), list(snakemake.output.figure),
                dpi=snakemake.params.dpi)
