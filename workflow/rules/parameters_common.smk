# Helpers of the parameter-level analyses (included by parameters.smk): settings, targets, epochs.


def parameter_settings(which):
    return canonical(dict(config["analysis"]["parameters"][which]))


def restore_epochs(run):
    """The epochs whose checkpoint is restored (default: the run's last), within the run's epochs."""
    epochs = run_config(run)["epochs"]
    asked = parameter_settings("restore")["epochs"] or [epochs]
    return sorted(e for e in asked if 1 <= e <= epochs)


def trace_epochs(run):
    """The epochs whose model the gradient trace reads (none: the run's design has no statements
    and questions of the same facts, or the trace is off)."""
    settings = parameter_settings("gradient_trace")
    if (
        not settings["enabled"]
        or not float_base(run)
        or run_config(run)["design"]["strategy"] not in ("mixed", "two_stage")
    ):
        return []
    epochs = run_config(run)["epochs"]
    return sorted(e for e in (settings["epochs"] or [epochs]) if 0 <= e <= epochs)


def float_base(run):
    """The parameter analyses need the float base weights: not for QLoRA runs (a 4-bit base)."""
    return run_config(run)["training"]["method"] != "qlora"


def parameter_targets(run):
    """The run's parameter-analysis tables and figures in the default target (none for QLoRA)."""
    out = []
    if not float_base(run):
        return out
    if parameter_settings("updates")["enabled"]:
        out.append(f"results/{run}/analysis/param_updates.tsv")
    if parameter_settings("restore")["enabled"] and restore_epochs(run):
        out.append(f"results/{run}/analysis/restore.tsv")
    if out:  # one figure job draws both (a disabled one as an empty panel)
        out += [
            f"results/{run}/figures/{stem}.{ext}"
            for stem in ("param_updates", "restore")
            for ext in FIGURE_FORMATS
        ]
    if trace_epochs(run):
        out.append(f"results/{run}/analysis/gradient_shared.tsv")
    if attention_epochs(run):
        out.append(f"results/{run}/analysis/attention.tsv")
        out += [f"results/{run}/figures/attention.{ext}" for ext in FIGURE_FORMATS]
    return out


def traced_runs(experiment):
    """The runs of an experiment that have a gradient trace (mixed, two_stage designs)."""
    return [r for r in experiment_runs(experiment) if trace_epochs(r)]


def experiment_parameter_targets(experiment):
    """The experiment's joint gradient-trace table and figure (when two or more runs have one)."""
    if len(traced_runs(experiment)) < 2:
        return []
    return [f"results/experiments/{experiment}/gradient_shared.tsv"] + [
        f"results/experiments/{experiment}/figures/gradient_shared.{ext}"
        for ext in FIGURE_FORMATS
    ]


def attention_epochs(run):
    """The epochs the attention analysis reads (none when it is off)."""
    settings = parameter_settings("attention")
    if not settings["enabled"]:
        return []
    epochs = run_config(run)["epochs"]
    asked = settings["epochs"] if settings["epochs"] is not None else range(epochs + 1)
    return sorted(e for e in asked if 0 <= e <= epochs)
