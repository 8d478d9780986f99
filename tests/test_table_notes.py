"""What the notes of the Cox and summary tables say: the kept fit and what a reader needs, with the
history of the retries in the job log, not in the table."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from factsurv.analysis.cox import fit_cox
from factsurv.analysis.summary import reader_note


def _events(n: int = 400, hr: float = 2.0, seed: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 2, n)
    t = rng.exponential(1 / (0.1 * hr ** x))
    return pd.DataFrame({"duration": np.maximum(np.minimum(np.ceil(t), 10), 1), "event": (t <= 10).astype(int),
                         "latent": x})


def test_a_retried_fit_notes_the_kept_fit_and_logs_the_attempts(monkeypatch, caplog):
    from support.cox_faults import fail_the_default_step

    fail_the_default_step(monkeypatch)
    with caplog.at_level(logging.INFO, logger="factsurv"):
        res = fit_cox(_events(), ["latent"], step_size=None, retry_step_sizes=[0.1, 0.02])
    assert res.converged and res.step_size == 0.1
    assert res.notes[0].startswith("kept fit: step_size=0.1"), res.notes
    assert not any("matrix inversion" in n or "after:" in n for n in res.notes)  # no history in the table
    assert "kept the fit with step_size=0.1 after: default step: fit failed: ConvergenceError" in caplog.text


def test_the_summary_note_leaves_out_what_the_flag_says():
    warning = ("PH violated (Schoenfeld p = 0.0012 < 0.05); VIF = 12.3 > 10; kept fit: step_size=0.1 (the larger "
               "steps failed the convergence checks; see the job log); 3 facts with missing covariates left out")
    assert reader_note(warning) == ("kept fit: step_size=0.1 (the larger steps failed the convergence checks; "
                                    "see the job log); 3 facts with missing covariates left out")
    assert reader_note("PH violated globally (p = 0.01 < 0.05)") == ""
    assert reader_note(float("nan")) == "" and reader_note("") == ""
