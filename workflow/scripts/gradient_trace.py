"""Rule gradient_trace: the parameters that the statements and the questions of the same facts
both pull on, per epoch listed (factsurv.modeling.gradient_trace; our reconstruction of arXiv
2505.16178)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))
from factsurv.rules import rule_logging  # noqa: E402

with rule_logging(snakemake) as log:
    import pandas as pd

    from factsurv.designs import read_plan
    from factsurv.io import write_tsv
    from factsurv.modeling.facts import read_facts
    from factsurv.modeling.gradient_trace import gradient_trace
    from factsurv.modeling.loading import model_spec
    from factsurv.prompts import PromptSettings
    from factsurv.tables import GRADIENT_SHARED_COLUMNS, GRADIENT_TRACE_COLUMNS

    p = snakemake.params
    t = p.trace
    spec = model_spec(p.model, snakemake.input.get("base") or None)
    facts = read_facts(snakemake.input.facts)
    plan = read_plan(snakemake.input.plan)
    prompt = PromptSettings.from_params(p.prompt, p.ontology_names, p.prefixes)
    folders = iter(snakemake.input.checkpoints)
    rows, shared = [], []
    for epoch in p.epochs:
        r, s = gradient_trace(spec, None if epoch == 0 else next(folders), epoch, facts, plan, prompt,
                              attribution=t["attribution"], top_percent=t["top_percent"],
                              top_units_percent=t["top_units_percent"], max_facts=t["max_facts"], batch_size=t["batch_size"],
                              seed=t["seed"], threads=p.threads)
        rows += r
        shared.append(s)
    write_tsv(pd.DataFrame(rows, columns=list(GRADIENT_TRACE_COLUMNS)), snakemake.output.table)
    write_tsv(pd.DataFrame(shared, columns=list(GRADIENT_SHARED_COLUMNS)), snakemake.output.shared)
