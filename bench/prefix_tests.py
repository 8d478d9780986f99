"""Do a fix's tests fail on the code before the fix? Runs today's test files against an older commit.

A test that passes whatever the code does proves nothing. This bench checks out ``--before`` (the
commit before a fix) into a temporary git worktree, copies today's versions of the named test files
into it, runs them there with that commit's package first on ``PYTHONPATH`` (the venv's editable
install points at this tree), then runs the same tests on this tree, and writes which tests failed
where to ``bench/results/prefix_tests_<label>_<date>.json``.

    .venv/bin/python bench/prefix_tests.py --label issue25 --before b822e68^ \
        tests/test_eval_precision.py tests/test_study_config.py -k "not whole_study and not on_slurm"
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def git(*args: str, cwd: Path = REPO) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


collection_errors: dict[str, str] = {}


def run_tests(root: Path, tests: list[str], select: str | None, basetemp: Path) -> dict[str, str]:
    """Test id → outcome (passed/failed/error) of ``pytest tests`` in ``root`` with its own src first."""
    env = dict(os.environ, PYTHONPATH=str(root / "src"), FACTSURV_SKIP_SLURM="1")
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:warnings", "-rA", "-q", "--continue-on-collection-errors",
           f"--basetemp={basetemp}", *tests] + (["-k", select] if select else [])
    proc = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=3000)
    outcomes = {}
    for line in proc.stdout.splitlines():
        m = re.match(r"^(PASSED|FAILED|ERROR) (\S+)(?: - (.*))?", line)
        if m and "::" in m.group(2):
            outcomes[m.group(2)] = m.group(1).lower()
        elif m:  # a file that could not be collected (e.g. it imports a name the old code lacks)
            collection_errors[m.group(2)] = (m.group(3) or "")[:200]
    if not outcomes:
        raise SystemExit(f"no test outcomes in {root}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return outcomes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("tests", nargs="+", help="test files (paths relative to the repository)")
    ap.add_argument("--before", required=True, help="the commit before the fix (e.g. abc123^)")
    ap.add_argument("--label", required=True, help="names the result file")
    ap.add_argument("-k", dest="select", help="pytest -k expression")
    args = ap.parse_args()
    before = git("rev-parse", args.before)
    with tempfile.TemporaryDirectory(prefix="factsurv-prefix-") as tmp:
        old = Path(tmp) / "before"
        git("worktree", "add", "--detach", str(old), before)
        try:
            for t in args.tests:
                shutil.copy(REPO / t, old / t)
            (old / ".venv").symlink_to(REPO / ".venv")
            (old / "resources").mkdir(exist_ok=True)
            if (REPO / "resources/wheels").is_dir():
                (old / "resources/wheels").symlink_to(REPO / "resources/wheels")
            on_before = run_tests(old, args.tests, args.select, Path(tmp) / "bt_before")
        finally:
            git("worktree", "remove", "--force", str(old))
        on_now = run_tests(REPO, args.tests, args.select, Path(tmp) / "bt_now")
    rows = {t: {"before_fix": on_before.get(t, "absent"), "now": on_now.get(t, "absent")} for t in sorted(on_now)}
    result = {
        "what": "today's tests run on the commit before the fix and on the current tree",
        "before_commit": before,
        "now_commit": git("rev-parse", "HEAD"),
        "tree_clean": git("status", "--porcelain", "--untracked-files=no") == "",
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "tests": args.tests,
        "select": args.select,
        "outcomes": rows,
        "fail_before_pass_now": sorted(t for t, r in rows.items() if r["before_fix"] in ("failed", "error") and r["now"] == "passed"),
        "not_collected_before": {p: e for p, e in collection_errors.items()},
        "pass_before": sorted(t for t, r in rows.items() if r["before_fix"] == "passed"),
    }
    out = REPO / "bench/results" / f"prefix_tests_{args.label}_{dt.date.today():%Y%m%d}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
