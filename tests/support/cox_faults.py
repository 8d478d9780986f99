"""A lifelines fit that fails at the default Newton step, as a diverging fit does, and succeeds with
any configured step size: for the tests of retried Cox fits."""

from __future__ import annotations


def fail_the_default_step(monkeypatch) -> None:
    """Patch ``CoxPHFitter.fit`` for the rest of the test: no ``fit_options`` raises ConvergenceError."""
    from lifelines import CoxPHFitter
    from lifelines.exceptions import ConvergenceError

    fit = CoxPHFitter.fit

    def default_step_fails(self, *args, fit_options=None, **kw):
        if not fit_options:
            raise ConvergenceError("Convergence halted due to matrix inversion problems")
        return fit(self, *args, fit_options=fit_options, **kw)

    monkeypatch.setattr(CoxPHFitter, "fit", default_step_fails)
