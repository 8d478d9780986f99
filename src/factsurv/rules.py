"""Helpers for the thin rule scripts in workflow/scripts/.

Each script does::

    with rule_logging(snakemake) as log:
        ...  # read snakemake.input/params, call the library, write snakemake.output

so that warnings, progress bars and tracebacks go to the rule's log file (``log:``), not the
terminal, and the log starts with what the job was asked to do.
"""

from __future__ import annotations

import contextlib
import io
import logging
import sys
import warnings
from collections.abc import Iterator
from typing import Any

LOGGER_NAME = "factsurv"


def _plain(value: Any) -> Any:
    """Snakemake Namedlists and nested containers → plain Python for logging/provenance."""
    if hasattr(value, "items") and callable(value.items):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def params_dict(smk: Any) -> dict[str, Any]:
    """The job's named params as a plain dict."""
    return {k: _plain(v) for k, v in smk.params.items()}


class _LineStream(io.TextIOBase):
    """A log file in which progress bars (which redraw with carriage returns) become one line per
    update, so that the log reads top to bottom, also between other log lines."""

    def __init__(self, raw: Any) -> None:
        self.raw = raw

    def write(self, text: str) -> int:
        self.raw.write(text.replace("\r", "\n").replace("\n\n", "\n") if "\r" in text else text)
        return len(text)

    def flush(self) -> None:
        self.raw.flush()

    def close(self) -> None:
        self.raw.close()


def failure_line(exc: BaseException, rule: str, log_path: str) -> str:
    """One line for the terminal: the rule, the error (which names the key or file), the log."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    what = text if isinstance(exc, (ValueError, OSError)) and text else f"{type(exc).__name__}: {text}"
    return f"factsurv: rule {rule} failed: {what} (traceback in {log_path})"


def _one_line_on_exit(exc: BaseException, rule: str, log_path: str) -> None:
    """When the exception ends the script, print one line instead of the traceback (which is in
    the log already): the hook only acts on this very exception at interpreter exit."""
    if isinstance(exc, (KeyboardInterrupt, SystemExit)):
        return
    previous = sys.excepthook

    def hook(etype, value, tb):  # noqa: ANN001
        if value is exc:
            print(failure_line(exc, rule, log_path), file=sys.stderr)
        else:
            previous(etype, value, tb)

    sys.excepthook = hook


@contextlib.contextmanager
def rule_logging(smk: Any) -> Iterator[logging.Logger]:
    """Send stderr, warnings and the ``factsurv`` logger to ``snakemake.log[0]``."""
    log_path = smk.log[0] if len(smk.log) else None
    logger = logging.getLogger(LOGGER_NAME)
    logger.setLevel(logging.INFO)
    if log_path is None:
        yield logger
        return
    stream = _LineStream(open(log_path, "w", buffering=1, encoding="utf-8"))
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger.addHandler(handler)
    py_warnings = logging.getLogger("py.warnings")
    py_warnings.addHandler(handler)
    old_stderr = sys.stderr
    sys.stderr = stream
    logging.captureWarnings(True)
    warnings.simplefilter("default")
    try:
        logger.info("rule %s", getattr(smk, "rule", "?"))
        logger.info("wildcards %s", dict(smk.wildcards.items()))
        logger.info("params %s", params_dict(smk))
        logger.info("output %s", list(smk.output))
        yield logger
        logger.info("done")
    except BaseException as exc:
        logger.exception("failed")
        _one_line_on_exit(exc, getattr(smk, "rule", "?"), log_path)
        raise
    finally:
        logging.captureWarnings(False)
        sys.stderr = old_stderr
        logger.removeHandler(handler)
        py_warnings.removeHandler(handler)
        stream.close()
