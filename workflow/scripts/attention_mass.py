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
    from factsurv.io import read_tsv, write_tsv
    from factsurv.modeling.attention import answer_loss, attention_table, chosen_facts
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
    table = attention_table(spec, checkpoints, trained, prompt, max_facts=a["max_facts"], seed=a["seed"],
                            threads=p.threads)
    write_tsv(table, snakemake.output.attention)
    ids = chosen_facts(list(trained["fact_id"]), a["max_facts"], a["seed"])
    evals = {e: read_tsv(path, ["fact_id", "answer_logprob", "answer_tokens"], dtype={"fact_id": str})
             for e, path in zip(p.epochs, snakemake.input.evals)}
    loss, plateau = answer_loss(evals, ids, tolerance=a["plateau_tolerance"])
    loss["plateau_epoch"] = plateau
    write_tsv(loss[list(ANSWER_LOSS_COLUMNS)], snakemake.output.loss)
    log.info("answer loss plateau from epoch %s; attention to the label, mean over heads, first and last epoch: %s",
             plateau, table.groupby("epoch")["mass"].mean().iloc[[0, -1]].round(4).to_dict() if len(table) else {})
    save_figure(plot_attention(table, loss, plateau, run=snakemake.wildcards.run, demo=bool(p.demo)),
                list(snakemake.output.figure), dpi=int(p.dpi))
