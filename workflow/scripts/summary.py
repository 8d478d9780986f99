"""Rule summary: the run's headline numbers."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))

from factsurv.analysis.cox import CoxSettings  # noqa: E402
from factsurv.analysis.summary import SummaryInputs, summary_table  # noqa: E402
from factsurv.io import read_tsv, write_tsv  # noqa: E402
from factsurv.rules import rule_logging  # noqa: E402

with rule_logging(snakemake) as log:
    kinds = list(snakemake.params.kinds)
    cox = {k: read_tsv(p) for k, p in zip(kinds, snakemake.input.cox)}
    control = snakemake.input.get("control") or None  # one path, or nothing (control.enabled: false)
    control = control if isinstance(control, str) or control is None else (list(control) or [None])[0]
    table = summary_table(SummaryInputs(
        read_tsv(snakemake.input.trajectories, dtype={"fact_id": str}),
        {k: read_tsv(p, dtype={"fact_id": str}) for k, p in zip(kinds, snakemake.input.events)},
        cox["acquisition"],
        {k: read_tsv(p) for k, p in zip(kinds, snakemake.input.logrank)},
        read_tsv(snakemake.input.dynamics),
        demo=bool(snakemake.params.demo),
        cox=cox,
        qvalues=read_tsv(snakemake.input.qvalues),
        cloglog=read_tsv(snakemake.input.cloglog_acquisition),
        selection=dict(snakemake.params.selection),
        compare_stable_epochs=[int(m) for m in snakemake.params.compare_stable_epochs],
        cox_settings=CoxSettings.from_params(dict(snakemake.params.cox)),
        epoch_sets=read_tsv(snakemake.input.epoch_sets),
        control=read_tsv(control) if control else None,
        forgetting=read_tsv(snakemake.input.forgetting, dtype={"fact_id": str}),
        forgetting_curves=read_tsv(snakemake.input.forgetting_curves),
    ))
    write_tsv(table, snakemake.output[0])
