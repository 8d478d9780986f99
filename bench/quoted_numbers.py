"""Check that README.md and docs/ quote the bench files right: every file named exists, and every
number marked as quoted from one is in it.

    python bench/quoted_numbers.py [FILE ...]      # default: README.md docs/*.md; exit 1 on a problem

A paragraph that quotes numbers from a bench file ends with a marker (an HTML comment, invisible
when the Markdown is rendered):

    <!-- quoted from bench/results/demo_20261203_0931.json: results.hr_latent=13.7,
         results.known_share=7.4%, results.degradation_unseen=43/46 -->

Each ``path=value`` is checked twice: the value at ``path`` in the JSON file, rounded to the
decimals the quote shows (``%``: the value times 100), equals the quote; and the quote (the
number, without ``%``) is written in the paragraph the marker closes, so that prose and file cannot
drift apart unnoticed. Quotes are separated by a comma and a space (a selector's fields by a comma
alone). A path is dotted keys into the JSON, with ``[i]`` for a list index and
``[key=value,...]`` for the first dict of a list whose fields match (``results.summary[metric=
final_recall,group=hpo/train].value``). JSON-lines files (``.jsonl``) are a list of their lines.
Every ``bench/results/<name>`` written anywhere in the files must exist (a name with ``*``: match
a file; one with ``<...>`` or ``{...}`` is a template and is not checked).
"""

from __future__ import annotations

import json
import re
import sys
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_FILES = ("README.md", "docs/*.md")
NAMED = re.compile(r"bench/results/[A-Za-z0-9_.\-*<>{}]*[A-Za-z0-9*>}]")
MARKER = re.compile(r"<!--\s*quoted from (bench/results/\S+?):\s*(.*?)-->", re.S)
SEGMENT = re.compile(r"([^.\[\]]+)((?:\[[^\]]*\])*)")


def load(path: Path) -> Any:
    text = path.read_text()
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    return json.loads(text)


def resolve(data: Any, path: str) -> Any:
    """The value at a dotted path (module docstring); KeyError naming the segment when absent."""
    node = data
    for key, brackets in SEGMENT.findall(path):
        if not isinstance(node, dict) or key not in node:
            raise KeyError(f"no key {key!r}")
        node = node[key]
        for sel in re.findall(r"\[([^\]]*)\]", brackets):
            if re.fullmatch(r"-?\d+", sel):
                if not isinstance(node, list) or not -len(node) <= int(sel) < len(node):
                    raise KeyError(f"no item [{sel}]")
                node = node[int(sel)]
                continue
            want = dict(part.split("=", 1) for part in sel.split(","))
            hits = [x for x in node if isinstance(x, dict) and all(str(x.get(k)) == v for k, v in want.items())] \
                if isinstance(node, list) else []
            if not hits:
                raise KeyError(f"no item [{sel}]")
            node = hits[0]
    return node


def matches(value: Any, quote: str) -> bool:
    """Does the JSON value, shown as the quote shows it, equal the quote?"""
    percent = quote.endswith("%")
    q = quote.rstrip("%").strip()
    if re.fullmatch(r"-?\d+(\.\d+)?", q):
        try:
            v = Decimal(str(float(value)))
        except (TypeError, ValueError):
            return False
        if percent:
            v *= 100
        places = Decimal(1).scaleb(-len(q.split(".")[1])) if "." in q else Decimal(1)
        return v.quantize(places, rounding=ROUND_HALF_EVEN) == Decimal(q)
    return str(value) == quote


def _paragraph_before(text: str, pos: int) -> str:
    start = text.rfind("\n\n", 0, pos)
    return text[start + 2 if start >= 0 else 0:pos]


def check_file(doc: Path, root: Path = ROOT) -> list[str]:
    """Problems of one Markdown file, one line each (empty: every name and quote holds)."""
    text = doc.read_text()
    rel = doc.relative_to(root) if doc.is_relative_to(root) else doc
    problems = []
    for name in sorted(set(NAMED.findall(text))):
        if re.search(r"[<{]", name):
            continue  # a template of names (bench/results/gpu_<gpu>_<shape>.json)
        if "*" in name:
            if not any(p.is_file() for p in root.glob(name)):
                problems.append(f"{rel}: names {name}, which matches no file")
        elif not (root / name).is_file():
            problems.append(f"{rel}: names {name}, which does not exist")
    for m in MARKER.finditer(text):
        line = text.count("\n", 0, m.start()) + 1
        bench = root / m.group(1)
        if not bench.is_file():
            continue  # reported above
        data = load(bench)
        prose = re.sub(r"<!--.*?-->", "", _paragraph_before(text, m.start()), flags=re.S)
        for item in filter(None, re.split(r",\s+", m.group(2).strip())):
            key, sep, quote = item.rpartition("=")
            if not sep:
                problems.append(f"{rel}:{line}: {item!r} is not path=value")
                continue
            key, quote = key.strip(), quote.strip()
            try:
                value = resolve(data, key)
            except KeyError as exc:
                problems.append(f"{rel}:{line}: {m.group(1)} has no {key} ({exc.args[0]})")
                continue
            if not matches(value, quote):
                problems.append(f"{rel}:{line}: {key} is {value!r} in {m.group(1)}, quoted as {quote}")
            number = quote.rstrip("%").strip()
            if not re.search(rf"(?<![\d.]){re.escape(number)}(?![\d])", prose):
                problems.append(f"{rel}:{line}: the paragraph does not write {number} ({key}, {m.group(1)})")
    return problems


def main(argv: list[str]) -> int:
    files = [Path(a).resolve() for a in argv] or sorted(p for g in DEFAULT_FILES for p in ROOT.glob(g))
    problems = [p for f in files for p in check_file(f)]
    for p in problems:
        print(p)
    quotes = sum(len(MARKER.findall(f.read_text())) for f in files)
    print(f"{len(files)} files, {quotes} quote markers: {'OK' if not problems else f'{len(problems)} problem(s)'}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
