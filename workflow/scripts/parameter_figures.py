"""Rule parameter_figures: the layers x module heat map of the updates and the restore curve."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))
from factsurv.rules import rule_logging  # noqa: E402

with rule_logging(snakemake) as log:
    import pandas as pd

    from factsurv.analysis.figures import save_figure
    from factsurv.analysis.parameters import plot_restore, plot_update_heatmap, read_restore, read_updates
    from factsurv.tables import PARAM_UPDATE_COLUMNS, RESTORE_COLUMNS

    run, demo, dpi = snakemake.wildcards.run, bool(snakemake.params.demo), int(snakemake.params.dpi)
    inp, out = snakemake.input, snakemake.output
    updates = read_updates(inp.updates[0]) if inp.updates else pd.DataFrame(columns=list(PARAM_UPDATE_COLUMNS))
    restore = read_restore(inp.restore[0]) if inp.restore else pd.DataFrame(columns=list(RESTORE_COLUMNS))
    save_figure(plot_update_heatmap(updates, run=run, demo=demo), list(out.updates), dpi=dpi)
    save_figure(plot_restore(restore, run=run, demo=demo), list(out.restore), dpi=dpi)
    log.info("figures: %s", ", ".join([*out.updates, *out.restore]))
