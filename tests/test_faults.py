"""Faults: jobs killed with SIGKILL leave nothing a later job could take for a finished output, and
the next call resumes from the last finished epoch and ends exactly where an uninterrupted run ends.

The reference is a finished, uninterrupted run of the tiny config (shared with test_incremental).
Each test works in a copy of it with the later outputs removed, and kills:

- a training job mid-epoch (at an optimizer step), and a training job whose checkpoint is fully
  written to its temporary folder but not yet renamed into place: the SIGKILL comes from
  tests/support/killpoint/sitecustomize.py (put on PYTHONPATH; the workflow's code is not
  changed), so the kill lands at that point every time;
- an evaluation job, with Snakemake itself: the whole process group gets SIGKILL from the test
  while the eval job runs (as when a node or a login session dies); recovery needs
  `snakemake --unlock`.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import SNAKEMAKE, planned_jobs, run_snakemake

from support.finished_run import CONFIG, copy_workdir, finished_tiny_run

pytestmark = pytest.mark.slow

RUN = "tiny"
EPOCHS = 3  # runs.tiny.epochs of the tiny config
KILLPOINT = Path(__file__).parent / "support/killpoint"


@pytest.fixture(scope="module")
def reference(request, tmp_path_factory) -> Path:
    """The finished, uninterrupted tiny run (through Slurm; shared with test_slurm/test_incremental)."""
    return finished_tiny_run(request, tmp_path_factory).workdir


def snakemake_env(**extra: str) -> dict[str, str]:
    return dict(os.environ, PYTHONUNBUFFERED="1", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", **extra)


def start_snakemake(wd: Path, *args: str, env: dict[str, str]) -> subprocess.Popen:
    """Snakemake in its own process group (session), so the test can kill it with its jobs."""
    # targets before --configfile, which takes every value after it
    cmd = [SNAKEMAKE, "--cores", "2", "--directory", str(wd), "--snakefile", str(wd / "Snakefile"),
           *args, "--configfile", CONFIG]
    return subprocess.Popen(cmd, cwd=wd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)


def job_process(session: int, rule: str) -> int | None:
    """PID of the process of `session` that runs Snakemake's copy of workflow/scripts/<rule>.py."""
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.getsid(int(pid)) != session:
                continue
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except (OSError, ProcessLookupError):
            continue
        if any(arg.endswith(f".{rule}.py".encode()) for arg in cmdline):
            return int(pid)
    return None


def weights(ckpt: Path) -> dict:
    from safetensors.torch import load_file

    files = sorted(ckpt.glob("*.safetensors"))
    assert files, f"no weights in {ckpt}"
    return {f.name: load_file(f) for f in files}


def assert_same_weights(a: Path, b: Path) -> None:
    import torch

    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    for name in wa:
        assert wa[name].keys() == wb[name].keys()
        different = [k for k in wa[name] if not torch.equal(wa[name][k], wb[name][k])]
        assert not different, f"{a} and {b} differ in {len(different)} tensors, e.g. {different[:3]}"


def no_finished_looking_checkpoint(ckpts: Path, epoch: int) -> None:
    """Nothing at checkpoints/epoch_<epoch>; leftovers only in hidden temporary folders, which the
    rules never read (their wildcards do not match a name starting with a dot)."""
    assert not (ckpts / f"epoch_{epoch}").exists(), f"epoch_{epoch} exists after the kill"
    for p in ckpts.iterdir():
        assert p.name.startswith(".") or p.name in {f"epoch_{e}" for e in range(1, epoch)}, p


@pytest.mark.parametrize("point", ["step:3", "commit"], ids=["mid-epoch", "checkpoint-written-not-renamed"])
def test_killed_training_leaves_no_checkpoint_and_resumes_to_the_same_weights(reference, tmp_path, point):
    wd = copy_workdir(reference, tmp_path / "wf")
    ckpts = wd / f"results/{RUN}/checkpoints"
    for e in range(2, EPOCHS + 1):
        shutil.rmtree(ckpts / f"epoch_{e}")
    final = f"results/{RUN}/checkpoints/epoch_2"  # the killed epoch; epoch 1 stays finished
    marker = tmp_path / "killed"

    env = snakemake_env(PYTHONPATH=str(KILLPOINT), FACTSURV_TEST_SIGKILL=f"train_epoch:{point}",
                        FACTSURV_TEST_SIGKILL_MARKER=str(marker))
    proc = start_snakemake(wd, final, env=env)
    out, _ = proc.communicate(timeout=600)
    assert marker.exists(), f"the kill point was never reached:\n{out[-3000:]}"
    print(marker.read_text())
    assert proc.returncode != 0 and "train_epoch" in out

    no_finished_looking_checkpoint(ckpts, 2)
    if point == "commit":  # everything was written, in the temporary folder only
        leftovers = [p for p in ckpts.glob(".epoch_2.*") if (p / "epoch_2/checkpoint.json").exists()]
        assert leftovers, "expected the complete but unrenamed checkpoint in a temporary folder"

    # the next call resumes from epoch 1 (it plans epoch 2 only) and ends with the same weights
    jobs = planned_jobs(wd, final, "--configfile", CONFIG)
    assert jobs.get("train_epoch") == 1, jobs
    run_snakemake(wd, final, "--configfile", CONFIG)
    assert_same_weights(wd / final, reference / final)


def test_killed_eval_and_snakemake_leave_no_table_and_rerun_gives_the_same_table(reference, tmp_path):
    wd = copy_workdir(reference, tmp_path / "wf")
    table = f"results/{RUN}/eval/epoch_{EPOCHS}.tsv"
    (wd / table).unlink()

    proc = start_snakemake(wd, table, env=snakemake_env())
    deadline = time.monotonic() + 300
    pid = None
    while pid is None and proc.poll() is None and time.monotonic() < deadline:
        pid = job_process(proc.pid, "eval_epoch")
        time.sleep(0.05)
    assert pid is not None, f"the eval job never started:\n{proc.communicate()[0][-3000:]}"
    time.sleep(1.0)  # let it get going (loading the model, generating)
    os.killpg(proc.pid, signal.SIGKILL)  # Snakemake and its job, at once
    proc.wait(timeout=60)

    assert not (wd / table).exists(), "a killed eval job left its table behind"
    assert not [p for p in (wd / table).parent.iterdir() if p.name.startswith("epoch_") and p.suffix != ".tsv"]

    # a killed Snakemake leaves its lock: unlock, then the same command finishes the job
    locked = run_snakemake(wd, table, "--configfile", CONFIG, check=False)
    if locked.returncode != 0:
        assert "unlock" in (locked.stdout + locked.stderr).lower(), locked.stderr[-2000:]
        run_snakemake(wd, "--unlock", "--configfile", CONFIG)
        run_snakemake(wd, table, "--configfile", CONFIG)
    assert (wd / table).read_bytes() == (reference / table).read_bytes()


def test_a_damaged_checkpoint_stops_the_run_before_any_job_and_keeps_every_output(reference, tmp_path):
    """A truncated weights file of a checkpoint that planned jobs will read (a new eval setting
    re-plans every eval epoch): the run stops in onstart, before the first job, naming the file,
    the folder to delete and what re-runs; the tables those jobs would have replaced are intact."""
    from conftest import write_config

    wd = copy_workdir(reference, tmp_path / "wf")
    weights = next((wd / f"results/{RUN}/checkpoints/epoch_2").glob("*.safetensors"))
    weights.write_bytes(weights.read_bytes()[:100])
    changed = write_config(wd, CONFIG, "eval_changed.yaml", **{f"runs__{RUN}__eval__batch_size": 3})
    evals = sorted((wd / f"results/{RUN}/eval").glob("epoch_*.tsv"))
    before = {p: p.read_bytes() for p in evals}
    proc = run_snakemake(wd, "--configfile", str(changed), check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out[-3000:]
    assert "pre-flight found problems (nothing was run)" in out, out[-3000:]
    assert f"{weights.name}: damaged checkpoint file" in out and "rm -r results/tiny/checkpoints/epoch_2" in out, out[-3000:]
    assert "re-trains epoch 2 of run tiny" in out
    assert {p: p.read_bytes() for p in evals} == before
