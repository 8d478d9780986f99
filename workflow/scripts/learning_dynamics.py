"""Rule learning_dynamics: loss vs recall, consolidation and retention after acquisition, stopping
criteria (factsurv.analysis.learning_dynamics; docs/consolidation.md), their tables and figures."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))
from factsurv.rules import rule_logging  # noqa: E402

with rule_logging(snakemake) as log:
    from factsurv.analysis.epoch_sets import train_losses
    from factsurv.analysis.figures import save_figure
    from factsurv.analysis.learning_dynamics import learning_dynamics
    from factsurv.analysis.learning_figures import plot_loss_recall, plot_retention, plot_stopping
    from factsurv.analysis.stopping import StoppingSettings
    from factsurv.io import read_tsv, write_tsv
    import pandas as pd

    from factsurv.tables import CONTROL_ACCURACY_COLUMNS, EVAL_REQUIRED

    p, inp, out = snakemake.params, snakemake.input, snakemake.output
    traj = read_tsv(inp.trajectories, ["fact_id", "epoch", "correct", "split", "ontology"], dtype={"fact_id": str})
    probe = read_tsv(inp.baseline, ["fact_id", "mastery"], dtype={"fact_id": str})[["fact_id", "mastery"]]
    control = read_tsv(inp.control[0], CONTROL_ACCURACY_COLUMNS) if inp.control else None
    gold = pd.concat([read_tsv(path, EVAL_REQUIRED, dtype={"fact_id": str}) for path in inp.evals], ignore_index=True)
    result = learning_dynamics(traj, train_losses(inp.checkpoints), selection=dict(p.selection),
                               group_by=list(p.group_by), recall_tolerance=float(p.recall_tolerance),
                               stopping=StoppingSettings.from_params(dict(p.stopping)), control=control, extra=probe,
                               gold=gold)
    write_tsv(result.loss_recall, out.loss_recall)
    write_tsv(result.facts, out.facts)
    write_tsv(result.consolidation, out.consolidation)
    write_tsv(result.retention, out.retention)
    write_tsv(result.series, out.series)
    write_tsv(result.stopping, out.stopping)
    write_tsv(result.summary, out.summary)
    run, demo, dpi = snakemake.wildcards.run, bool(p.demo), int(p.dpi)
    save_figure(plot_loss_recall(result.loss_recall, result.correlation, run=run, demo=demo),
                list(out.figure_loss_recall), dpi=dpi)
    save_figure(plot_retention(result.retention, run=run, demo=demo), list(out.figure_retention), dpi=dpi)
    save_figure(plot_stopping(result.stopping, result.series, run=run, demo=demo), list(out.figure_stopping),
                dpi=dpi)
    log.info("loss vs recall: r = %s over %d epochs; disagreeing epochs: %s", result.correlation["pearson"],
             result.correlation["n"], list(result.loss_recall.loc[result.loss_recall["disagree"] == 1, "epoch"]))
    log.info("stop epochs: %s", dict(zip(result.stopping["criterion"], result.stopping["stop_epoch"])))
