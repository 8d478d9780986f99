"""How many Slurm jobs the study is, and what each asks: `snakemake -n --profile slurm --configfile
config/study.yaml` per rule, per Slurm submission, with the sbatch line of each kind of job.

    python bench/study_jobs.py [--before PATH_TO_AN_OLDER_TREE] [--out bench/results/study_jobs_<date>.json]

For each job economy of profiles/slurm (grouped: the default; per-rule: FACTSURV_SLURM_JOBS=per-rule)
it plans the study offline (a fake Hugging Face cache holding the model's config.json) and counts:
jobs per rule (Snakemake's job stats), group jobs, local jobs, and Slurm submissions (group jobs plus
ungrouped jobs that are not local). A group job's resources follow Snakemake's layering with the
profile's `resources: gpu=1` at scope local: every GPU step is its own layer, so the group asks
one GPU, the largest mem_mb and threads of its steps, and the sum of their runtimes. The sbatch
line of each kind of job is built by the Slurm plugin's own `get_submit_command` and
`set_gres_string` from those resources (no submission is made). ``--before`` plans an older
checkout of the workflow the same way (its profile's per-rule jobs).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

REPO = Path(__file__).resolve().parents[1]
MODEL = "meta-llama/Llama-3.1-8B-Instruct"


def fake_hf_cache(root: Path) -> Path:
    repo = root / "hub" / ("models--" + MODEL.replace("/", "--"))
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text("0123abcd")
    (repo / "snapshots" / "0123abcd").mkdir(parents=True, exist_ok=True)
    (repo / "snapshots" / "0123abcd" / "config.json").write_text("{}")
    return root


def dry_run(tree: Path, hf_home: Path, extra_env: dict[str, str]) -> str:
    env = dict(os.environ, HF_HOME=str(hf_home), HF_HUB_OFFLINE="1", PYTHONPATH=str(tree / "src"), **extra_env)
    env.pop("HF_HUB_CACHE", None)
    snakemake = str(Path(sys.executable).parent / "snakemake")
    # --cores: a dry-run without it plans on 1 core and caps every job's threads to 1 (snakemake/cli.py);
    # a real run through the Slurm executor has no such cap, so plan with room for the runs' cpus
    cmd = [snakemake, "-n", "--cores", "1024", "--profile", "profiles/slurm", "--configfile", "config/study.yaml"]
    proc = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        raise SystemExit(f"dry-run failed in {tree}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc.stdout + proc.stderr


def parse_resources(text: str) -> dict[str, object]:
    out: dict[str, object] = {}
    for item in text.split(", "):
        key, _, value = item.partition("=")
        out[key] = int(value) if value.isdigit() else value
    return out


def local_rules(tree: Path) -> set[str]:
    """The rules a workflow declares local (`localrules:` blocks of its rule files): a dry-run
    prints them as `rule` like the others, but the Slurm executor runs them on the login node."""
    names: set[str] = set()
    for smk in sorted((tree / "workflow/rules").glob("*.smk")):
        for block in re.findall(r"^localrules:\n((?:[ \t]+\w+,?\n)+)", smk.read_text(), re.M):
            names |= set(re.findall(r"(\w+)", block))
    return names


def parse_plan(out: str, local_set: set[str] = frozenset()) -> dict[str, object]:
    """Jobs per rule, group jobs (name → its steps' rules and resources), local jobs."""
    per_rule: Counter[str] = Counter()
    local: Counter[str] = Counter()
    groups: dict[str, list[dict[str, object]]] = {}
    single: list[dict[str, object]] = []
    current_group = None
    for block in re.split(r"\n(?=\[[^\]]+\] (?:Group job|\n))|\n\n", out):
        g = re.search(r"Group job (\S+) \(jobs", block)
        if g:
            current_group = g.group(1)
            groups.setdefault(current_group, [])
        m = re.search(r"^\s*(local)?rule (\w+):$", block, re.M)
        if not m:
            continue
        rule = m.group(2)
        is_local = bool(m.group(1)) or rule in local_set
        per_rule[rule] += 1
        res = re.search(r"resources: (.*)", block)
        threads = re.search(r"threads: (\d+)", block)
        step = {"rule": rule, "resources": parse_resources(res.group(1)) if res else {},
                "threads": int(threads.group(1)) if threads else 1}
        indented = block.lstrip("\n").startswith("    ") or "\n    rule " in block
        if is_local:
            local[rule] += 1
            current_group = None
        elif current_group is not None and indented:
            groups[current_group].append(step)
        else:
            current_group = None
            single.append(step)
    return {"per_rule": per_rule, "local": local, "groups": groups, "single": single}


def group_resources(steps: list[dict[str, object]]) -> dict[str, object]:
    """Snakemake's layering with a pool of one GPU per group job: one step per layer."""
    res = [s["resources"] for s in steps]
    return {
        "gpu": max(int(r.get("gpu", 0)) for r in res),
        "mem_mb": max(int(r.get("mem_mb", 0)) for r in res),
        "runtime": sum(int(r.get("runtime", 0)) for r in res),
        "threads": max(int(s["threads"]) for s in steps),
    }


def sbatch_line(name: str, resources: dict[str, object], threads: int, comment: str) -> str:
    from snakemake_executor_plugin_slurm.submit_string import get_submit_command
    from snakemake_executor_plugin_slurm.utils import set_gres_string

    class Res(dict):
        __getattr__ = dict.__getitem__

    job = SimpleNamespace(resources=Res({k: v for k, v in resources.items() if k != "threads"}), threads=threads,
                          name=name, is_group=lambda: False)
    params = {"run_uuid": "<run-uuid>", "slurm_logfile": f"logs/slurm/{comment}/%j.log", "comment_str": comment,
              "account": "-A <account>", "partition": "-p <gpu-partition>", "workdir": "<repo>"}
    return get_submit_command(job, params) + set_gres_string(job) + ' --wrap="<snakemake --target-jobs ...>"'


def summarise(plan: dict[str, object]) -> dict[str, object]:
    per_rule, local, groups, single = plan["per_rule"], plan["local"], plan["groups"], plan["single"]
    gpu_rules = sorted({s["rule"] for s in single if s["resources"].get("gpu")}
                       | {s["rule"] for g in groups.values() for s in g if s["resources"].get("gpu")})
    gpu_steps = sum(per_rule[r] for r in gpu_rules)
    gpu_single = [s for s in single if s["resources"].get("gpu")]
    kinds: dict[str, dict[str, object]] = {}
    for name, steps in groups.items():
        kind = re.sub(r"_\d+$", "_{epoch}", re.sub(r"^ep_[^_]+(?:-[^_]+)*_", "ep_{run}_", name))
        kind = "base_{model}" if name.startswith("base_") else kind
        if kind not in kinds:
            res = group_resources(steps)
            kinds[kind] = {"example": name, "steps": sorted(s["rule"] for s in steps), "resources": res,
                           "sbatch": sbatch_line(name, res, int(res["threads"]), f"group_{name}")}
    for step in gpu_single:
        if step["rule"] not in kinds:
            res = {k: step["resources"][k] for k in ("gpu", "mem_mb", "runtime") if k in step["resources"]}
            kinds[step["rule"]] = {"steps": [step["rule"]], "resources": {**res, "threads": step["threads"]},
                                   "sbatch": sbatch_line(step["rule"], res, int(step["threads"]), f"rule_{step['rule']}")}
    return {
        "jobs_per_rule": dict(sorted(per_rule.items())),
        "jobs_total": sum(per_rule.values()),
        "local_jobs": sum(local.values()),
        "local_rules": dict(sorted(local.items())),
        "group_jobs": len(groups),
        "gpu_rules": gpu_rules,
        "gpu_steps": gpu_steps,
        "gpu_slurm_jobs": len(groups) + len(gpu_single),
        "cpu_slurm_jobs": len([s for s in single if not s["resources"].get("gpu")]),
        "slurm_submissions": len(groups) + len(single),
        "kinds": kinds,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", type=Path, help="an older checkout to plan the same way (its own profile)")
    ap.add_argument("--out", type=Path,
                    default=REPO / "bench/results" / f"study_jobs_{dt.date.today():%Y-%m-%d}.json")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        hf = fake_hf_cache(Path(tmp))
        result: dict[str, object] = {
            "what": "snakemake -n --profile slurm --configfile config/study.yaml (offline, fake HF cache)",
            "when": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                                     text=True).stdout.strip(),
        }
        if args.before:
            result["before"] = summarise(parse_plan(dry_run(args.before.resolve(), hf, {}), local_rules(args.before)))
        local = local_rules(REPO)
        result["per_rule"] = summarise(parse_plan(dry_run(REPO, hf, {"FACTSURV_SLURM_JOBS": "per-rule"}), local))
        result["grouped"] = summarise(parse_plan(dry_run(REPO, hf, {"FACTSURV_SLURM_JOBS": "grouped"}), local))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    for key in ("before", "per_rule", "grouped"):
        if key in result:
            r = result[key]
            print(f"{key}: {r['jobs_total']} jobs, {r['gpu_steps']} GPU steps in {r['gpu_slurm_jobs']} GPU jobs, "
                  f"{r['cpu_slurm_jobs']} CPU jobs, {r['local_jobs']} local")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
