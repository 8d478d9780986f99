"""The structure holds: `snakemake --lint` finds nothing, and the validation layers import only
downward (schema ← experiments ← config ← preflight), so there is no import cycle."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

from conftest import REPO, SNAKEMAKE

SRC = REPO / "src/factsurv"
#: module → the factsurv modules it may import (directly or inside functions)
LAYERS = {
    "schema": set(),
    "experiments": {"schema"},
    "config": {"schema", "experiments", "modeling.loading"},
}


def factsurv_imports(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("factsurv"):
            out.add(node.module.removeprefix("factsurv").lstrip("."))
        elif isinstance(node, ast.Import):
            out |= {a.name.removeprefix("factsurv").lstrip(".") for a in node.names if a.name.startswith("factsurv")}
    return out - {""}


def test_the_validation_layers_import_only_downward():
    for module, allowed in LAYERS.items():
        imported = factsurv_imports(SRC / f"{module}.py")
        assert imported <= allowed, f"factsurv.{module} imports {sorted(imported - allowed)}"
    for order in (("experiments", "config"), ("config", "experiments"), ("preflight",)):
        code = ";".join(f"import factsurv.{m}" for m in order)
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              env={"PYTHONPATH": str(REPO / "src"), "PATH": "/usr/bin:/bin"})
        assert proc.returncode == 0, proc.stderr[-2000:]


def test_snakemake_lint_is_clean():
    proc = subprocess.run([SNAKEMAKE, "--lint"], cwd=REPO, capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert "Congratulations, your workflow is in a good condition!" in out, out[-3000:]


def test_the_package_holds_no_test_helpers():
    """Tiny random models, synthetic studies and the shared finished run live in tests/support; the
    package never imports them (nor the tests)."""
    offenders = []
    for path in sorted((REPO / "src/factsurv").rglob("*.py")):
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if re.match(r"\s*(from|import)\s+(support|conftest|tests)\b", line):
                offenders.append(f"{path.relative_to(REPO)}:{n}: {line.strip()}")
    assert offenders == []
    assert not list((REPO / "src/factsurv").rglob("tiny.py")) and not list((REPO / "src/factsurv").rglob("synthetic.py"))
