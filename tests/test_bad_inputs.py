"""Bad or unusual inputs, as a researcher makes them by mistake: each is stopped before
any job with a message that names the key or the file, and no file under results/ or resources/
changes (mtimes and sizes before and after).

The finished state is the data stage of the tiny config (ontologies, terms, annotation counts,
facts: real jobs, seconds); every case is then a real `snakemake` run (not a dry-run: a dry-run
would not show that no job starts) with an edited copy of the tiny config and, where the case needs
it, a broken input file. The pre-flight fails while the Snakefile is read, so each costs ~2 s.

Damaged checkpoints (sha256 in checkpoint.json) are tested in test_train_errors.py, the one line
that ends a failed job in test_rules_logging.py, the pre-flight's functions in test_preflight.py.
"""

from __future__ import annotations

import copy
import gzip
import re
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from conftest import make_workdir, planned_jobs, run_snakemake

REPO = Path(__file__).resolve().parents[1]
TINY = yaml.safe_load((REPO / "tests/configs/tiny.yaml").read_text())
TARGET = "results/facts/facts.tsv"  # the data stage


def snapshot(wd: Path) -> dict[str, tuple[int, int]]:
    """path → (size, mtime_ns) of every file under results/ and resources/ (not the wheel cache)."""
    out = {}
    for top in ("results", "resources"):
        for p in sorted((wd / top).rglob("*")):
            rel = p.relative_to(wd)
            if rel.parts[:2] == ("resources", "wheels") or not p.is_file():
                continue
            st = p.stat()
            out[str(rel)] = (st.st_size, st.st_mtime_ns)
    return out


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    wd = make_workdir(tmp_path_factory.mktemp("bad") / "wf")
    cfg = wd / "tests/configs/tiny.yaml"
    run_snakemake(wd, TARGET, "--configfile", str(cfg))
    assert (wd / TARGET).exists()
    return wd


def reversed_keys(node):
    if isinstance(node, dict):
        return {k: reversed_keys(node[k]) for k in reversed(list(node))}
    if isinstance(node, list):
        return [reversed_keys(v) for v in node]
    return node


def floats(node):
    """Every int written as a float (20 → 20.0), as a hand-edited config may have it."""
    if isinstance(node, dict):
        return {k: floats(v) for k, v in node.items()}
    if isinstance(node, list):
        return [floats(v) for v in node]
    return float(node) if isinstance(node, int) and not isinstance(node, bool) else node


def test_reversed_keys_and_integral_floats_plan_nothing(finished):
    """Every mapping's keys in reverse order, and every integer written as 20.0: the same config,
    nothing to do (params are canonical; integer keys are ints again before they reach params)."""
    cfg = floats(reversed_keys(TINY))
    assert list(cfg["sample"]["counts"]) == ["go", "hpo"] and cfg["runs"]["tiny"]["epochs"] == 3.0
    path = finished / "reversed.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    assert planned_jobs(finished, TARGET, "--configfile", str(path)) == {}
    # and the whole workflow plans (epochs: 3.0 becomes an int: range() at DAG build needs one)
    jobs = planned_jobs(finished, "--configfile", str(path))
    assert jobs["train_epoch"] == 3 and jobs["eval_epoch"] == 3 and jobs["eval_base_model"] == 1


# ------------------------------------------------------------------------------------------------
# the cases: (id, edit of the config dict, broken files to write (relative path → bytes),
#             edit of the YAML text, the message expected)


def _corpus(path: str) -> Callable[[dict], None]:
    def edit(c: dict) -> None:
        c["literature"]["corpus"] = [path]

    return edit


def _source(onto: str, part: str, path: str, fmt: str | None = None) -> Callable[[dict], None]:
    def edit(c: dict) -> None:
        c["ontologies"][onto][part]["path"] = path
        if fmt:
            c["ontologies"][onto][part]["format"] = fmt

    return edit


HP_HPOA = (REPO / "tests/data/tiny/hp.hpoa").read_bytes()
GO_GAF = gzip.decompress((REPO / "tests/data/tiny/go.gaf.gz").read_bytes())
GO_OBO = (REPO / "tests/data/tiny/go.obo").read_text()

def _facts_table(on_mismatch: str = "error", **spec) -> Callable[[dict], None]:
    """facts.source: table with one table bad/facts.csv (columns id, label, hits)."""
    def edit(c: dict) -> None:
        c["facts"] = {"source": "table", "on_mismatch": on_mismatch,
                      "tables": [{"path": "bad/facts.csv", "id_column": "id", "label_column": "label", **spec}]}

    return edit


def _csv(*rows: str) -> dict[str, bytes]:
    return {"bad/facts.csv": ("id,label,hits\n" + "".join(r + "\n" for r in rows)).encode()}


def _gguf(architecture: str) -> bytes:
    """The header of a GGUF file: no tensors, one key, general.architecture."""
    import struct

    key, value = b"general.architecture", architecture.encode()
    return (b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", len(key)) + key
            + struct.pack("<IQ", 8, len(value)) + value)


def _run(**training) -> Callable[[dict], None]:
    def edit(c: dict) -> None:
        c["runs"]["tiny"]["training"].update(training)

    return edit


def _lora_model(model: dict) -> Callable[[dict], None]:
    def edit(c: dict) -> None:
        c["models"]["other"] = model
        c["runs"]["tiny"]["model"] = "other"
        c["runs"]["tiny"]["training"].update(method="lora")

    return edit


GOOD_ROWS = ("HP:0000003,Lens,4", "HP:0000005,Bone cell,2", "HP:0000017,Spine,7")

CASES = [
    # --- the worst cases: a file of the wrong kind, empty or binary
    ("gguf model that is no GGUF file",
     lambda c: c["models"].update(demo={"source": "gguf", "path": "bad/model.gguf"}), {"bad/model.gguf": b"PK\x03\x04zip"},
     None, r"models\.demo\.path: bad/model\.gguf is not a GGUF file \(it begins with b'PK\\x03\\x04'"),
    ("empty obo", _source("hpo", "obo", "bad/hp.obo"), {"bad/hp.obo": b""}, None,
     r"ontologies\.hpo\.obo\.path: bad/hp\.obo: empty file"),
    ("binary obo", _source("hpo", "obo", "bad/hp.obo"), {"bad/hp.obo": bytes(range(256)) * 4}, None,
     r"ontologies\.hpo\.obo\.path: bad/hp\.obo: binary file"),
    ("html page as obo", _source("go", "obo", "bad/go.obo"),
     {"bad/go.obo": b"<!DOCTYPE html>\n<html><body>404 Not Found</body></html>\n"}, None,
     r"ontologies\.go\.obo\.path: bad/go\.obo: not an OBO file.*HTML"),
    ("dangling is_a", _source("go", "obo", "bad/go.obo"),
     {"bad/go.obo": (GO_OBO + "\n[Term]\nid: GO:0999999\nname: orphan\nis_a: GO:0888888 ! gone\n").encode()}, None,
     r"ontologies\.go\.obo\.path: bad/go\.obo, line \d+: 'is_a: GO:0888888 ! gone' refers to GO:0888888"),
    ("GAF given as hpoa", _source("hpo", "annotations", "bad/hp.hpoa"), {"bad/hp.hpoa": GO_GAF}, None,
     r"ontologies\.hpo\.annotations\.path: bad/hp\.hpoa: looks like a GAF file, but the format is hpoa"),
    ("hpoa given as GAF", _source("go", "annotations", "bad/go.gaf", "gaf"), {"bad/go.gaf": HP_HPOA}, None,
     r"ontologies\.go\.annotations\.path: bad/go\.gaf: looks like an hpoa file, but the format is gaf"),
    ("missing corpus", _corpus("no/such/corpus.txt"), {}, None,
     r"literature\.corpus\[0\]: no/such/corpus\.txt: no such file or folder"),
    ("latin-1 corpus", _corpus("bad/corpus.txt"), {"bad/corpus.txt": "line one\nS\xe9izure HP:0001250\n".encode("latin-1")}, None,
     r"literature\.corpus\[0\]: bad/corpus\.txt, line 2: not UTF-8"),
    ("empty corpus folder", _corpus("bad/corpus"), {"bad/corpus/README.md": b"no txt here"}, None,
     r"literature\.corpus\[0\]: bad/corpus: folder without \.txt"),
    ("duplicated run key", None, {},
     lambda text: text + "\n  tiny:\n    model: demo\n    epochs: 5\n",
     r"key 'tiny' on line \d+ \(first on line \d+\) is written twice"),
    ("duplicated top-level key", None, {}, lambda text: text + "\nsample:\n  counts: {hpo: {train: 3}}\n",
     r"key 'sample' on line \d+ \(first on line \d+\) is written twice"),
    ("prompt.user without {label}",
     lambda c: c.setdefault("prompt", {}).update(user="What is the {ontology_name} identifier?"), {}, None,
     r"prompt\.user: \{label\} is missing"),
    ("prompt.user with {foo}",
     lambda c: c.setdefault("prompt", {}).update(user="What is the {foo} id of {label}?"), {}, None,
     r"prompt\.user: unknown placeholder\(s\) \{foo\}"),
    ("prompt.user unbalanced brace",
     lambda c: c.setdefault("prompt", {}).update(user="What is {label"), {}, None,
     r"prompt\.user: not a valid template"),
    ("prompt.plain without {user}",
     lambda c: c.setdefault("prompt", {}).update(plain="Question:\nAnswer: "), {}, None,
     r"prompt\.plain: \{user\} is missing"),
    ("schedule_epochs < epochs", lambda c: c["runs"]["tiny"]["training"].update(schedule_epochs=2), {}, None,
     r"runs\.tiny\.training\.schedule_epochs: 2 is smaller than runs\.tiny\.epochs \(3\)"),
    ("stable_epochs > epochs", lambda c: c.setdefault("analysis", {}).update(stable_epochs=5), {}, None,
     r"analysis\.stable_epochs: 5 is larger than runs\.tiny\.epochs \(3\)"),
    ("counts beyond the namespace", lambda c: c["sample"]["counts"]["go"].update(train=500), {}, None,
     r"sample\.counts\.go: asks for 508 facts .* results/terms/go\.tsv has only \d+ eligible terms in namespace 'cellular_component'"),
    ("literature table missing", lambda c: c.update(literature={"source": "table", "table": "no/table.tsv"}), {}, None,
     r"literature\.table: file not found: no/table\.tsv"),
    ("literature table without columns",
     lambda c: c.update(literature={"source": "table", "table": "bad/lit.tsv"}), {"bad/lit.tsv": b"id\tcount\nHP:1\t3\n"}, None,
     r"literature\.table: bad/lit\.tsv: needs a term_id or fact_id column"),
    # --- values the schema accepts one by one and the data or the code cannot use
    ("analysis kind names an unknown ontology",
     lambda c: c.setdefault("analysis", {}).update(
         kinds={"acquisition": {"splits": ["train"], "ontologies": ["hpo", "mondo"]}}), {}, None,
     r"analysis\.kinds\.acquisition\.ontologies\.1: 'mondo' is not a key of `ontologies`"),
    ("LoRA target that the demo model lacks",
     lambda c: c["runs"]["tiny"]["training"].update(method="lora", lora={"target_modules": ["q_proj", "c_attn"]}), {},
     None, r"runs\.tiny\.training\.lora\.target_modules: \['c_attn'\] are not modules of the demo model"),
    ("hidden size not divisible by heads",
     lambda c: c["models"]["demo"]["demo"]["architecture"].update(hidden_size=36, num_attention_heads=5), {}, None,
     r"models\.demo\.demo\.architecture\.hidden_size: 36 is not divisible by num_attention_heads \(5\)"),
    ("pretraining blocks longer than the positions",
     lambda c: (c["models"]["demo"]["demo"]["architecture"].update(max_position_embeddings=64),
                c["models"]["demo"]["demo"]["pretrain"].update(block_size=128)), {}, None,
     r"models\.demo\.demo\.pretrain\.block_size: 128 is larger than architecture\.max_position_embeddings \(64\)"),
    ("flash attention without a GPU",
     lambda c: c["models"]["demo"].update(attn_implementation="flash_attention_2"), {}, None,
     r"models\.demo\.attn_implementation: flash_attention_2 needs a CUDA GPU, but runs\.tiny\.resources\.gpu is 0"),
    ("model folder without config.json",
     lambda c: (c["models"].update(local={"source": "path", "name_or_path": "bad/model"}),
                c["runs"]["tiny"].update(model="local")), {"bad/model/weights.bin": b"\0" * 16}, None,
     r"models\.local\.name_or_path: bad/model has no config\.json: not a Hugging Face model folder"),
    ("ontology URL of an unknown scheme",
     lambda c: c["ontologies"]["hpo"].update(obo={"source": "url", "url": "ftp://example.org/hp.obo"}), {}, None,
     r"ontologies\.hpo\.obo\.url: 'ftp://example\.org/hp\.obo' is not an http\(s\) or file:// URL"),
    # --- class 1: the content of a user's fact table (checked where it is read, before any job)
    ("fact table: an identifier twice", _facts_table(), _csv(*GOOD_ROWS, "HP:0000003,Lens again,1"), None,
     r"facts\.tables\.0: bad/facts\.csv, line 5, column 'id': 1 row\(s\) repeat the identifier of an earlier "
     r"row \(duplicate\): 'HP:0000003' \(the identifier of bad/facts\.csv, line 2 again\)"),
    ("fact table: identifiers in the PURL form", _facts_table(),
     _csv(*GOOD_ROWS, "HP_0000008,Brain,1", "http://purl.obolibrary.org/obo/HP_0000010,Retina,1"), None,
     r"facts\.tables\.0: bad/facts\.csv, lines 5, 6, column 'id': 2 row\(s\) have an identifier that is not "
     r"PREFIX:LOCAL \(malformed\): 'HP_0000008' \(not PREFIX:LOCAL; did you mean HP:0000008\?\)"),
    ("fact table: another ontology's identifier", _facts_table(ontology="hpo"),
     _csv(*GOOD_ROWS, "GO:0000001,Kidney lens cell,1"), None,
     r"facts\.tables\.0: bad/facts\.csv, line 5, column 'id': 1 row\(s\) have an identifier of another ontology "
     r"or of no configured one \(wrong_prefix\): 'GO:0000001' \(a go identifier, but the table's ontology is hpo"),
    ("fact table: an unknown prefix", _facts_table(), _csv(*GOOD_ROWS, "MP:0000001,Odd,1"), None,
     r"facts\.tables\.0: bad/facts\.csv, line 5, column 'id'.*\(wrong_prefix\): 'MP:0000001' \(prefix 'MP' is no "
     r"configured ontology's \(GO → go, HP → hpo\)\)"),
    ("fact table: blank labels", _facts_table(), _csv("HP:0000003,,4", *GOOD_ROWS[1:], "HP:0000013, ,1"), None,
     r"facts\.tables\.0: bad/facts\.csv, lines 2, 5, column 'label': 2 row\(s\) have an empty label \(blank_label\)"),
    ("fact table: a covariate column without values",
     _facts_table(covariates={"annotation_count": "hits"}), _csv("HP:0000003,Lens,", "HP:0000005,Bone cell, "), None,
     r"facts\.tables\.0: bad/facts\.csv: column 'hits' \(facts\.tables covariates\.annotation_count\) has no value "
     r"in any of its 2 rows"),
    ("fact table: keep cannot keep a broken row", _facts_table("keep"), _csv(*GOOD_ROWS, "HP:0000005,Bone cell,1"), None,
     r"facts\.tables\.0: bad/facts\.csv, line 5, column 'id'.*\(duplicate\).*on_mismatch: keep keeps rows that "
     r"disagree with the release, not these"),
    ("fact table: fewer rows than to withhold once broken ones are dropped",
     _facts_table("drop", split="random", heldout=3), _csv(*GOOD_ROWS[:2], "HP 0000017,Spine,1"), None,
     r"facts\.tables\.0\.heldout: 3 rows to withhold, but bad/facts\.csv has 2 once the 1 row\(s\) with a content "
     r"problem are dropped"),
    # --- class 2: training settings against the model and the facts (config.json, GGUF header, counts)
    ("LoRA targets a model folder's architecture lacks",
     _lora_model({"source": "path", "name_or_path": "bad/model"}), {"bad/model/config.json": b'{"model_type": "gpt2"}'},
     None, r"runs\.tiny\.training\.lora\.target_modules: \['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', "
     r"'up_proj', 'down_proj'\] are not modules of models\.other \(a gpt2, from bad/model/config\.json\); allowed: "
     r"c_attn, c_proj, c_fc, lm_head"),
    ("LoRA target a GGUF model's architecture lacks",
     lambda c: (_lora_model({"source": "gguf", "path": "bad/model.gguf"})(c),
                c["runs"]["tiny"]["training"].update(lora={"target_modules": ["q_proj", "query_key_value"]})),
     {"bad/model.gguf": _gguf("llama")}, None,
     r"runs\.tiny\.training\.lora\.target_modules: \['query_key_value'\] are not modules of models\.other \(a llama, "
     r"from the GGUF header of bad/model\.gguf\); allowed: q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, "
     r"down_proj, lm_head"),
    ("LoRA target the base of an exposed model lacks",
     lambda c: (_lora_model({"source": "exposure", "base": "gguf"})(c),
                c["models"].update(gguf={"source": "gguf", "path": "bad/model.gguf"}),
                c["runs"]["tiny"]["training"].update(lora={"target_modules": ["q_proj", "query_key_value"]})),
     {"bad/model.gguf": _gguf("llama")}, None,
     r"runs\.tiny\.training\.lora\.target_modules: \['query_key_value'\] are not modules of models\.other \(a llama, "
     r"from the GGUF header of bad/model\.gguf\)"),
    ("exposure of a model that is not configured",
     lambda c: (c["models"].update(other={"source": "exposure", "base": "smollm"}),
                c["runs"]["tiny"].update(model="other")), {}, None,
     r"models\.other\.base: 'smollm' is not another model under models: \(known: "),
    ("batch larger than the trained facts", _run(batch_size=64), {}, None,
     r"runs\.tiny\.training\.batch_size: 64 is larger than the at most 28 examples of an epoch \(28 trained facts; "
     r"sample\.counts train: go 8 \+ hpo 20\).*allowed: 1 to 28"),
    ("gradient accumulation beyond the epoch", _run(grad_accum=4), {}, None,
     r"runs\.tiny\.training\.grad_accum: batch_size 8 × grad_accum 4 = 32 is larger than the at most 28 examples "
     r"of an epoch.*allowed: 1 to 3"),
    ("select.n beyond the candidates", lambda c: c["runs"]["tiny"].update(design={"select": {"n": 50}}), {}, None,
     r"runs\.tiny\.design\.select\.n: 50 facts to train, but there are at most 28 candidates \(sample\.counts "
     r"train: go 8 \+ hpo 20\); allowed: 1 to 28, or null"),
    # --- class 3: counts beyond the ontology, at the first point knowable (here: the OBO file is
    # local and newer than the term table, so before parse_terms runs again)
    ("counts beyond the namespace, known from the OBO file",
     lambda c: (c["sample"]["counts"]["go"].update(train=500), _source("go", "obo", "bad/go.obo")(c)),
     {"bad/go.obo": GO_OBO.encode()}, None,
     r"sample\.counts\.go: asks for 508 facts \(train 500 \+ heldout 8\) but bad/go\.obo has only 23 eligible "
     r"terms in namespace 'cellular_component'"),
    # --- representative cases the schema caught already
    ("wrong type", lambda c: c["sample"].update(seed="seven"), {}, None,
     r"sample\.seed: 'seven' is not of type 'integer'"),
    ("unknown key", lambda c: c["runs"]["tiny"].update(epoch=4), {}, None,
     r"runs\.tiny: Additional properties are not allowed \('epoch' was unexpected\)"),
    ("fractional epochs", lambda c: c["runs"]["tiny"].update(epochs=2.5), {}, None,
     r"runs\.tiny\.epochs: 2\.5 is not of type 'integer'"),
    ("missing source file", _source("hpo", "obo", "no/hp.obo"), {}, None,
     r"ontologies\.hpo\.obo\.path: file not found: no/hp\.obo"),
    ("missing model folder",
     lambda c: (c["models"].update(local={"source": "path", "name_or_path": "no/model"}),
                c["runs"]["tiny"].update(model="local")), {}, None,
     r"models\.local\.name_or_path: model folder not found: no/model"),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_a_mistake_stops_before_any_job_and_changes_nothing(finished, case):
    name, edit, files, edit_text, message = case
    cfg = copy.deepcopy(TINY)
    if edit is not None:
        edit(cfg)
    text = yaml.safe_dump(cfg, sort_keys=False)
    if edit_text is not None:
        text = edit_text(text)
    for rel, content in files.items():
        p = finished / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(content)
    path = finished / "case.yaml"
    path.write_text(text)
    before = snapshot(finished)
    try:
        proc = run_snakemake(finished, "--configfile", str(path), check=False)
    finally:
        for rel in files:
            (finished / rel).unlink()
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out[-3000:]
    assert re.search(message, out), f"{name}: expected /{message}/ in\n{out[-3000:]}"
    assert "nothing was run" in out or "invalid configuration" in out, out[-3000:]
    assert not re.search(r"^(local)?rule \w+:", out, re.MULTILINE), f"{name}: a job started\n{out[-3000:]}"
    assert "Traceback" not in out, f"{name}: a traceback\n{out[-3000:]}"
    assert snapshot(finished) == before, f"{name}: files under results/ or resources/ changed"


@pytest.mark.parametrize(("text", "what"), [
    ("", r": the file is empty \(no keys\)"),
    ("- ontologies\n- runs\n", r": the file is a YAML list, not a mapping of keys"),
    ("ontologies: [\n", r", line \d+: not valid YAML"),
])
def test_a_default_config_that_is_no_mapping_is_one_line_naming_the_file(finished, text, what):
    """config/config.yaml (the config without --configfile) that is empty, a list or broken YAML:
    one line naming the file, no traceback, no job. (A --configfile is read by Snakemake's command
    line before the Snakefile; its message names no file: snakemake/snakemake#2439.)"""
    default = finished / "config/config.yaml"
    kept = default.read_bytes()
    before = snapshot(finished)
    default.write_text(text)
    try:
        proc = run_snakemake(finished, check=False)
    finally:
        default.write_bytes(kept)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert re.search(r"config error in config/config\.yaml" + what, out), out[-3000:]
    assert "Traceback" not in out and not re.search(r"^(local)?rule \w+:", out, re.MULTILINE), out[-3000:]
    assert snapshot(finished) == before
