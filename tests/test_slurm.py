"""The workflow through a real Slurm: `snakemake --profile profiles/slurm` on a single-node cluster.

tests/slurm/start_cluster.sh installs Debian's Slurm and munge (as root), starts the daemons and
waits until the node is idle; the fixture below stops the cluster after the tests if it started it
(a cluster that was already up is reused and left running).

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

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")
SLURM_TESTS = REPO / "tests/slurm"
PROFILES = [REPO / "profiles/slurm", SLURM_TESTS / "profile"]
TINY_CONFIG = REPO / "tests/configs/tiny.yaml"
CLUSTER_DIR = Path(os.environ.get("FACTSURV_SLURM_DIR", "/tmp/factsurv-slurm"))

pytestmark = [pytest.mark.slurm, pytest.mark.slow]


# --- the cluster ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def slurm_cluster():
    """A running single-node Slurm; yields the environment to talk to it."""
    if os.environ.get("FACTSURV_SKIP_SLURM") == "1":
        pytest.skip("FACTSURV_SKIP_SLURM=1: the Slurm tests are skipped")
    t0 = time.monotonic()
    proc = subprocess.run(
        ["bash", str(SLURM_TESTS / "start_cluster.sh")], capture_output=True, text=True, timeout=600
    )
    if proc.returncode != 0:
        pytest.fail(
            f"could not start the test Slurm cluster (tests/slurm/start_cluster.sh exit {proc.returncode}):\n"
            f"{proc.stderr[-3000:]}\nRun the tests as root on Debian/Ubuntu with apt access, or set "
            "FACTSURV_SKIP_SLURM=1 to skip the Slurm tests.",
            pytrace=False,
        )
    started = proc.stdout.strip().splitlines()[-1] == "started"
    print(f"slurm cluster {'started' if started else 'reused'} in {time.monotonic() - t0:.1f} s")
    env = dict(os.environ, SLURM_CONF=str(CLUSTER_DIR / "slurm.conf"))
    try:
        yield env
    finally:
        if started:
            subprocess.run(["bash", str(SLURM_TESTS / "stop_cluster.sh")], timeout=120)


def run_through_slurm(workdir: Path, env: dict, fail_once: list[str], *args: str, timeout: int = 900):
    """`snakemake --profile profiles/slurm --profile tests/slurm/profile` in workdir; the first
    Slurm job of each rule in fail_once fails. Returns (process, Slurm run id)."""
    env = dict(env)
    env["PATH"] = f"{SLURM_TESTS / 'fail_once'}{os.pathsep}{env['PATH']}"
    env["FACTSURV_FAIL_ONCE_RULES"] = ",".join(fail_once)
    env["FACTSURV_FAIL_ONCE_DIR"] = str(workdir / ".fail_once")
    cmd = [str(SNAKEMAKE), *(a for p in PROFILES for a in ("--profile", str(p))), *args]
    t0 = time.monotonic()
    proc = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True, timeout=timeout)
    print(f"{' '.join(cmd[1:])}: {time.monotonic() - t0:.1f} s")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    run_id = re.search(r"SLURM run ID: (\S+)", out)
    assert run_id, "no 'SLURM run ID' in the output: did the run use the slurm executor?\n" + out[-3000:]
    return proc, run_id.group(1)


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


def planned_jobs(out: str) -> dict[str, int]:
    """rule -> number of jobs, from Snakemake's 'Job stats' table (the `all` rule left out)."""
    table = out.split("Job stats:", 1)[1]
    counts = {}
    for line in table.splitlines()[3:]:
        parts = line.split()
        if not parts or parts[0] == "total":
            break
        counts[parts[0]] = int(parts[1])
    counts.pop("all", None)
    return counts


# --- a three-rule workflow: the cluster, the profile, GPU requests and retries --------------------


def test_smoke_workflow_runs_through_slurm_and_a_failed_job_is_retried(slurm_cluster, tmp_path):
    shutil.copy(SLURM_TESTS / "smoke/Snakefile", tmp_path / "Snakefile")
    proc, run_id = run_through_slurm(tmp_path, slurm_cluster, ["eval_epoch"])

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
    assert len(logs["eval_epoch"]) == 2 and "Trying to restart job" in proc.stdout + proc.stderr
    retry = [j for j in logs["eval_epoch"] if j != failed][0]
    assert states[retry] == "COMPLETED"
    assert (tmp_path / "results/eval.txt").read_text().splitlines()[-1] == f"job={retry}"


# --- the real workflow on the tiny config ---------------------------------------------------------


def make_workdir(tmp: Path) -> Path:
    """A copy of the workflow (Snakefile, workflow/, envs/, profiles/) with src/ and tests/ linked
    and the tiny config as config/config.yaml; results go to tmp/results."""
    shutil.copy(REPO / "Snakefile", tmp / "Snakefile")
    for d in ("workflow", "envs", "profiles"):
        shutil.copytree(REPO / d, tmp / d, symlinks=True)
    for d in ("src", "tests"):
        (tmp / d).symlink_to(REPO / d)
    (tmp / "slurm").symlink_to("profiles/slurm")  # as in the repository: `--profile slurm` works
    (tmp / "config").mkdir()
    shutil.copy(TINY_CONFIG, tmp / "config/config.yaml")
    return tmp


@pytest.mark.skipif(not TINY_CONFIG.exists(), reason="waits for tests/configs/tiny.yaml (the lead's)")
def test_tiny_workflow_runs_through_slurm(slurm_cluster, tmp_path):
    wd = make_workdir(tmp_path)
    plan = subprocess.run(
        [str(SNAKEMAKE), "-n", "--profile", "slurm"], cwd=wd, capture_output=True, text=True
    )
    assert plan.returncode == 0, plan.stdout[-3000:] + plan.stderr[-3000:]
    expected = planned_jobs(plan.stdout)
    assert {"train_epoch", "eval_epoch", "probe_baseline"} <= set(expected)

    proc, run_id = run_through_slurm(wd, slurm_cluster, ["train_epoch"], timeout=1500)

    # the outputs
    assert (wd / "results/facts/facts.tsv").stat().st_size > 0
    for run in sorted(p.parent.name for p in wd.glob("results/*/probe")):
        assert (wd / f"results/{run}/analysis/summary.tsv").exists()
        assert list((wd / f"results/{run}/figures").glob("*.svg"))
    # every planned job ran as a Slurm job (one log each; train_epoch once more: the retry)
    logs = slurm_logs(wd)
    ran = {rule: len(ids) for rule, ids in logs.items()}
    expected_runs = dict(expected, train_epoch=expected["train_epoch"] + 1)
    assert ran == expected_runs
    states = slurm_jobs(run_id)
    failed = (wd / ".fail_once/train_epoch/jobid").read_text().strip()
    assert states.pop(failed) == "FAILED"
    assert sorted(states.values()) == ["COMPLETED"] * sum(expected.values())
    # and nothing is left to do
    again = subprocess.run(
        [str(SNAKEMAKE), "-n", "--profile", "profiles/slurm"], cwd=wd, capture_output=True, text=True
    )
    assert "Nothing to be done" in again.stdout + again.stderr, again.stdout[-3000:]
