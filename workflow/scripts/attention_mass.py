"""Rule attention_mass: per epoch, layer and head, the attention the answer gives to the term's
label (factsurv.modeling.attention), beside the answer loss per epoch and its plateau; the figure."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))
from factsurv.rules import rule_logging  # noqa: E402

with rule_logging(snakemake) as log:
    from factsurv.analysis.figures import save_figure
    from factsurv.analysis.parameters import plot_attention
    from factsurv.designs import read_plan, run_facts
    from factsurv.io import write_tsv
    from factsurv.modeling.attention import attention_table, plateau_epoch
    from factsurv.modeling.facts import read_facts
    from factsurv.modeling.loading import model_spec
    from factsurv.prompts import PromptSettings
    from factsurv.tables import ANSWER_LOSS_COLUMNS

    p = snakemake.params
    a = p.attention
    spec = model_spec(p.model, snakemake.input.get("base") or None)
    facts = read_facts(snakemake.input.facts)
    split = run_facts(facts, read_plan(snakemake.input.plan)).set_index("fact_id")["split"]
    trained = facts[facts["fact_id"].map(split).eq("train")].reset_index(drop=True)
    prompt = PromptSettings.from_params(p.prompt, p.ontology_names, p.prefixes)
    folders = iter(snakemake.input.checkpoints)
    checkpoints = {e: (None if e == 0 else next(folders)) for e in p.epochs}
    table, loss = attention_table(spec, checkpoints, trained, prompt, max_facts=a["max_facts"], seed=a["seed"],
                                  threads=p.threads)
    write_tsv(table, snakemake.output.attention)
    plateau = plateau_epoch(loss, a["plateau_tolerance"])
    loss["plateau_epoch"] = plateau
    write_tsv(loss[list(ANSWER_LOSS_COLUMNS)], snakemake.output.loss)
    log.info("answer loss plateau from epoch %s; attention to the label, mean over heads, first and last epoch: %s",
             plateau, table.groupby("epoch")["mass"].mean().iloc[[0, -1]].round(4).to_dict() if len(table) else {})
    save_figure(plot_attention(table, loss, plateau, run=snakemake.wildcards.run, demo=bool(p.demo)),
                list(snakemake.output.figure), dpi=int(p.dpi))
