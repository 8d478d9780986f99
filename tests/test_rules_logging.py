"""rule_logging: everything a job says goes to its log, readable line by line."""

from __future__ import annotations

import logging
import sys
import warnings
from pathlib import Path
from types import SimpleNamespace

import pytest

from factsurv.rules import rule_logging


class Named(list):
    def __init__(self, items=(), **named):
        super().__init__(items)
        self.__dict__.update(named)

    def items(self):
        return [(k, v) for k, v in self.__dict__.items()]


def fake_snakemake(log_path):
    return SimpleNamespace(rule="demo_rule", log=[str(log_path)], wildcards=Named(run="demo"),
                           params=Named(lr=0.001), output=Named(["out.tsv"]))


def test_stderr_warnings_and_progress_go_to_the_log(tmp_path):
    from tqdm.auto import tqdm

    log = tmp_path / "job.log"
    with rule_logging(fake_snakemake(log)) as logger:
        logger.info("hello")
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            logging.captureWarnings(True)
            warnings.warn("careful")
        print("to stderr", file=sys.stderr)
        for _ in tqdm(range(3), file=sys.stderr, mininterval=0, ascii=True, desc="steps"):
            pass
    text = log.read_text()
    assert "rule demo_rule" in text and "params {'lr': 0.001}" in text and "hello" in text
    assert "careful" in text and "to stderr" in text and "done" in text
    assert "\r" not in text and any(l.startswith("steps: 100%") for l in text.splitlines())
    assert sys.stderr is sys.__stderr__ or "job.log" not in str(sys.stderr)


def test_a_failure_is_logged_with_its_traceback(tmp_path):
    log = tmp_path / "job.log"
    with pytest.raises(ValueError):
        with rule_logging(fake_snakemake(log)):
            raise ValueError("bad row 7")
    text = log.read_text()
    assert "failed" in text and "ValueError: bad row 7" in text
    assert not logging.getLogger("factsurv").handlers


def test_a_failed_script_ends_with_one_line_naming_the_file(tmp_path):
    """A rule script that fails prints one line (the rule, the message naming the file, the log);
    the traceback is in the log only."""
    import subprocess
    import textwrap

    script = tmp_path / "script.py"
    log = tmp_path / "job.log"
    script.write_text(textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(Path(__file__).resolve().parents[1] / "src")!r})
        from factsurv.io import InputError
        from factsurv.rules import rule_logging

        class Smk:
            rule = "parse_terms"
            log = [{str(log)!r}]
            params = {{}}
            output = ["out.tsv"]
            class wildcards:
                @staticmethod
                def items():
                    return []

        with rule_logging(Smk()):
            raise InputError("resources/ontologies/hpo.obo, line 3: malformed OBO")
    """))
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        f"factsurv: rule parse_terms failed: resources/ontologies/hpo.obo, line 3: malformed OBO (traceback in {log})"
    ]
    assert "Traceback" in log.read_text()
