"""pretrain_demo_model: full pretraining of the demo model on its corpus → an HF model folder."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from factsurv.io import atomic_path, write_json
from factsurv.modeling.demo_corpus import split_documents
from factsurv.modeling.demo_pretrain import PretrainSettings, pretrain
from factsurv.provenance import describe_files, provenance
from factsurv.rules import params_dict, rule_logging

with rule_logging(snakemake) as log:
    settings = PretrainSettings.from_params(dict(snakemake.params.pretrain))
    torch.set_num_threads(settings.threads)  # the configured count, whatever --cores gave the job
    seed = int(snakemake.params.seed)
    tokenizer = AutoTokenizer.from_pretrained(snakemake.input.base)
    model = AutoModelForCausalLM.from_pretrained(snakemake.input.base, dtype=torch.float32)
    docs = split_documents(Path(snakemake.input.corpus).read_text(encoding="utf-8"))
    metrics = pretrain(model, tokenizer, docs, settings, seed, log=log.info)
    with atomic_path(snakemake.output.model) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        write_json(metrics, tmp / "pretrain_metrics.json")
        write_json(
            provenance(
                params_dict(snakemake),
                seed=seed,
                inputs=describe_files([snakemake.input.corpus]),
                note="demo model: a small Llama-architecture model pretrained by this workflow on a synthetic corpus, not Llama-3.1",
                metrics={k: v for k, v in metrics.items() if k != "passes"},
            ),
            tmp / "provenance.json",
        )
    log.info("pretrained in %.1f s (%s tokens/s), final loss %.4f",
             metrics["seconds"], metrics["tokens_per_s"], metrics["final_loss"])
