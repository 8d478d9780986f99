"""The rules' conda environments (envs/*.yaml), generated from the one pinned list envs/requirements.txt.

``python -m factsurv.envs`` rewrites them; ``python -m factsurv.envs --check`` exits 1 when they
drift from the pins (a test runs it). Each environment installs the same pinned versions as the
local ``.venv`` that ``make demo`` builds, through pip inside a conda Python.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REQUIREMENTS = ROOT / "envs" / "requirements.txt"
PYTHON = "3.11"

#: The packages each group of rules imports (names as in requirements.txt).
GROUPS: dict[str, tuple[str, ...]] = {
    "data": ("pandas", "numpy", "pronto", "pyyaml", "tqdm"),
    "model": (
        "torch", "transformers", "tokenizers", "safetensors", "peft", "accelerate", "bitsandbytes",
        "gguf", "pandas", "numpy", "pyyaml", "tqdm",
    ),
    "analysis": ("lifelines", "statsmodels", "pandas", "numpy", "matplotlib", "pyyaml"),
}


def read_pins(path: Path = REQUIREMENTS) -> dict[str, str]:
    pins: dict[str, str] = {}
    for lineno, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        m = re.fullmatch(r"([A-Za-z0-9_.-]+)==([A-Za-z0-9_.+-]+)", line)
        if not m:
            raise ValueError(f"{path}, line {lineno}: expected NAME==VERSION, got {raw!r}")
        pins[m.group(1).lower()] = m.group(2)
    return pins


def render(group: str, pins: dict[str, str]) -> str:
    missing = [p for p in GROUPS[group] if p not in pins]
    if missing:
        raise ValueError(f"{REQUIREMENTS}: no pin for {missing} (needed by envs/{group}.yaml)")
    lines = [
        f"# The conda environment of the {group} rules. Generated from envs/requirements.txt by",
        "# `python -m factsurv.envs`: edit the pins there, not here.",
        "channels:",
        "  - conda-forge",
        "  - nodefaults",
        "dependencies:",
        f"  - python={PYTHON}",
        "  - pip",
        "  - pip:",
    ]
    lines += [f"      - {name}=={pins[name]}" for name in GROUPS[group]]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--check", action="store_true", help="exit 1 if envs/*.yaml differ from the pins")
    args = ap.parse_args(argv)
    pins = read_pins()
    stale = []
    for group in GROUPS:
        path = REQUIREMENTS.parent / f"{group}.yaml"
        text = render(group, pins)
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(str(path))
        else:
            path.write_text(text)
    if stale:
        print("out of date with envs/requirements.txt (run `make envs`): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
