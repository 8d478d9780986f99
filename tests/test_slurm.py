"""The workflow through a real Slurm: `snakemake --profile profiles/slurm` on a single-node cluster.

tests/slurm/start_cluster.sh installs Debian's Slurm and munge (as root), starts the daemons and
waits until the node is idle; the cluster is stopped at the end of the session if the session
started it (a cluster that was already up is reused and left running). The helpers live in
tests/support/finished_run.py: the finished tiny run that test_incremental.py and
test_faults.py use is the one made here, through Slurm.

Every run uses the real profile (profiles/slurm: set-resources with `gpu: 1, cpus_per_gpu: 4` for
the GPU rules, default-resources, retries) with a small overlay for this cluster
(tests/slurm/profile: squeue as status command, short status intervals, keep the Slurm logs).
The test cluster has fake GPUs, so the GPU requests are really scheduled.

A failed Slurm job is injected by tests/slurm/fail_once/sbatch (first on PATH): the first
submission of a named rule becomes a real Slurm job that exits 1; `retries` must resubmit it.

Not root, or the packages cannot be installed: the tests FAIL with the script's message.
FACTSURV_SKIP_SLURM=1 skips them (say so when you do: CI must not set it).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import SNAKEMAKE
from factsurv.dryrun import job_stats

from support.finished_run import (
    CLUSTER_DIR, CONFIG, SLURM_TESTS, finished_tiny_run, run_through_slurm, skip_slurm, slurm_cluster,
)

pytestmark = [
    pytest.mark.slurm,
    pytest.mark.slow,
    pytest.mark.skipif(skip_slurm(), reason="FACTSURV_SKIP_SLURM=1: the Slurm tests are skipped"),
]


def slurm_jobs(run_id: str) -> dict[str, str]:
    """Slurm job id -> final state, for the jobs of this Snakemake run (the cluster's jobcomp log)."""
    jobs = {}
    for line in (CLUSTER_DIR / "log/jobcomp.log").read_text().splitlines():
        fields = dict(f.split("=", 1) for f in line.split() if "=" in f)
        if fields.get("Name") == run_id:
            jobs[fields["JobId"]] = fields["JobState"]
    return jobs


def slurm_logs(workdir: Path) -> dict[str, list[str]]:
    """rule -> Slurm job ids that have a log under logs/slurm/rule_<rule>/ (the profile's slurm-logdir)."""
    logs: dict[str, list[str]] = {}
    for log in sorted((workdir / "logs/slurm").glob("rule_*/**/*.log")):
        rule = log.relative_to(workdir / "logs/slurm").parts[0].removeprefix("rule_")
        logs.setdefault(rule, []).append(log.stem)
    return logs


# --- a three-rule workflow: the cluster, the profile, GPU requests and retries --------------------


def test_smoke_workflow_runs_through_slurm_and_a_failed_job_is_retried(request, tmp_path):
    env = slurm_cluster(request)
    shutil.copy(SLURM_TESTS / "smoke/Snakefile", tmp_path / "Snakefile")
    shutil.copytree(SLURM_TESTS.parent.parent / "profiles", tmp_path / "profiles")
    out, run_id = run_through_slurm(tmp_path, env, ["eval_epoch"])

    # every job ran as a Slurm job and wrote the job id it ran under
    assert (tmp_path / "results/input.txt").read_text().startswith("job=")
    train = (tmp_path / "results/checkpoint/job.txt").read_text().split()
    assert train[1] == "gpus=1", f"train_epoch did not get the GPU the profile asks for: {train}"
    logs = slurm_logs(tmp_path)
    assert sorted(logs) == ["eval_epoch", "make_input", "train_epoch"]
    states = slurm_jobs(run_id)
    for rule, ids in logs.items():
        for job_id in ids:
            assert job_id in states, f"{rule}: Slurm job {job_id} not in the cluster's job log"

    # the injected failure: one FAILED Slurm job, then a COMPLETED retry
    failed = (tmp_path / ".fail_once/eval_epoch/jobid").read_text().strip()
    assert states[failed] == "FAILED"
    assert len(logs["eval_epoch"]) == 2 and "Trying to restart job" in out
    retry = [j for j in logs["eval_epoch"] if j != failed][0]
    assert states[retry] == "COMPLETED"
    assert (tmp_path / "results/eval.txt").read_text().splitlines()[-1] == f"job={retry}"


# --- the real workflow on the tiny config ---------------------------------------------------------


def test_tiny_workflow_runs_through_slurm(request, tmp_path_factory):
    run = finished_tiny_run(request, tmp_path_factory)
    wd = run.workdir
    if not run.output:
        pytest.skip("FACTSURV_REUSE_FINISHED_RUN is set: no run through Slurm in this session")
    assert run.through_slurm

    # the outputs
    assert (wd / "results/facts/facts.tsv").stat().st_size > 0
    assert (wd / "results/tiny/analysis/summary.tsv").exists()
    assert list((wd / "results/tiny/figures").glob("*.svg"))

    # every planned job ran as a Slurm job (one Slurm log each; train_epoch once more: the retry),
    # except the local rules (downloads: compute nodes often have no internet)
    planned = job_stats(run.output)
    local = {line.split()[1].rstrip(":") for line in run.output.splitlines() if line.startswith("localrule ")}
    expected = {rule: n for rule, n in planned.items() if rule not in local | {"all"}}
    assert {"probe_baseline", "train_epoch", "eval_epoch", "cox"} <= set(expected), expected
    ran = {rule: len(ids) for rule, ids in slurm_logs(wd).items()}
    assert ran == dict(expected, train_epoch=expected["train_epoch"] + 1)

    states = slurm_jobs(run.slurm_run_id)
    failed = (wd / ".fail_once/train_epoch/jobid").read_text().strip()
    assert states.pop(failed) == "FAILED"
    assert sorted(states.values()) == ["COMPLETED"] * sum(expected.values())
    assert "Trying to restart job" in run.output

    # the literal command of the README plans nothing more
    link = wd / "slurm"
    if not link.exists():
        link.symlink_to("profiles/slurm")
    again = subprocess.run([SNAKEMAKE, "-n", "--profile", "slurm", "--configfile", CONFIG], cwd=wd,
                           capture_output=True, text=True)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "Nothing to be done" in again.stdout + again.stderr, (again.stdout + again.stderr)[-3000:]
