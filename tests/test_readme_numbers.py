"""README.md and docs/ quote the bench files right (bench/quoted_numbers.py): every bench file named
exists, and every number marked as quoted from one is in it and in the paragraph."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOCS = ("README.md", *sorted(str(p.relative_to(REPO)) for p in (REPO / "docs").glob("*.md")))

_spec = importlib.util.spec_from_file_location("quoted_numbers", REPO / "bench/quoted_numbers.py")
quoted_numbers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(quoted_numbers)


def test_the_readme_and_docs_quote_their_bench_files_right():
    problems = [p for doc in DOCS for p in quoted_numbers.check_file(REPO / doc)]
    assert problems == []
    markers = quoted_numbers.MARKER.findall((REPO / "README.md").read_text())
    assert len(markers) >= 3, "the README's headline numbers carry no 'quoted from' markers"


def _root(tmp_path: Path, doc: str) -> Path:
    (tmp_path / "bench/results").mkdir(parents=True)
    (tmp_path / "bench/results/b.json").write_text(json.dumps({
        "results": {"hr": 13.72, "share": 0.0743, "deg": "43/46",
                    "summary": [{"metric": "final_recall", "group": "go/train", "value": 0.5},
                                {"metric": "final_recall", "group": "hpo/train", "value": 0.9512}]}}))
    (tmp_path / "README.md").write_text(doc)
    return tmp_path


def check(tmp_path: Path, doc: str) -> list[str]:
    root = _root(tmp_path, doc)
    return quoted_numbers.check_file(root / "README.md", root)


GOOD = ("HR 13.7, known 7.4 %, 43/46 degraded, recall 95.1 %.\n"
        "<!-- quoted from bench/results/b.json: results.hr=13.7, results.share=7.4%, results.deg=43/46,\n"
        "     results.summary[metric=final_recall,group=hpo/train].value=95.1% -->\n")


def test_a_right_quote_passes(tmp_path):
    assert check(tmp_path, GOOD) == []


def test_a_wrong_number_fails(tmp_path):
    problems = check(tmp_path, GOOD.replace("13.7", "13.9"))
    assert any("results.hr is 13.72 in bench/results/b.json, quoted as 13.9" in p for p in problems), problems


def test_prose_that_drifts_from_the_marker_fails(tmp_path):
    problems = check(tmp_path, GOOD.replace("known 7.4 %", "known 7.5 %"))
    assert any("the paragraph does not write 7.4" in p for p in problems), problems


def test_a_missing_file_and_a_missing_key_fail(tmp_path):
    problems = check(tmp_path, "See bench/results/gone.json.\n\nHR 1.\n<!-- quoted from bench/results/b.json: results.nope=1 -->\n")
    assert any("names bench/results/gone.json, which does not exist" in p for p in problems), problems
    assert any("has no results.nope" in p for p in problems), problems
