"""Rule restore_updates: greedy recall after restoring ratios of an epoch's updates to their base
values (factsurv.modeling.parameters.restore_curve), per per-run split; the ratio-0 answers are
checked against the epoch's eval table."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))
from factsurv.rules import rule_logging  # noqa: E402

with rule_logging(snakemake) as log:
    import pandas as pd

    from factsurv.analysis.parameters import compare_with_eval, restore_summary
    from factsurv.designs import read_plan, run_facts
    from factsurv.io import read_tsv, write_tsv
    from factsurv.modeling.facts import read_facts
    from factsurv.modeling.loading import model_spec
    from factsurv.modeling.parameters import restore_curve
    from factsurv.prompts import PromptSettings

    p = snakemake.params
    spec = model_spec(p.model, snakemake.input.get("base") or None)
    facts = read_facts(snakemake.input.facts)
    split_of = run_facts(facts, read_plan(snakemake.input.plan)).set_index("fact_id")["split"]
    prompt = PromptSettings.from_params(p.prompt, p.ontology_names, p.prefixes)
    r = p.restore
    tables, counts = [], []
    for epoch, ck, ev in zip(p.epochs, snakemake.input.checkpoints, snakemake.input.evals):
        per_fact, c = restore_curve(spec, ck, epoch, facts, prompt, ratios=r["ratios"],
                                    strategies=r["strategies"], region=r["region"], seed=r["seed"],
                                    batch_size=p.eval["batch_size"], max_new_tokens=p.eval["max_new_tokens"],
                                    threads=p.threads)
        if 0 in [float(x) for x in r["ratios"]]:
            differ = compare_with_eval(per_fact, read_tsv(ev, dtype={"fact_id": str, "prediction": str}),
                                       epoch=epoch, ratio=0)
            (log.warning if differ else log.info)(
                "epoch %d, ratio 0: %d facts differ from %s", epoch, differ, ev)
        tables.append(per_fact)
        counts += c
    per_fact = pd.concat(tables, ignore_index=True)
    write_tsv(per_fact, snakemake.output.facts)
    write_tsv(restore_summary(per_fact, counts, split_of), snakemake.output.table)
