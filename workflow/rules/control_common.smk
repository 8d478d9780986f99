# Helpers of the control probe's rules (included by control.smk), kept apart from the rules.


def control_enabled():
    return bool(config["control"]["enabled"])


def control_settings():
    """The control block without the probe's decoding settings (those reach control_epoch only)."""
    return canonical(
        {
            k: v
            for k, v in config["control"].items()
            if k in ("arithmetic", "multiple_choice")
        }
    )


def control_prompt_params():
    """The prompt format (chat template or plain, and the fixed date a chat template sees); not the
    facts' question (prompt.user)."""
    return canonical(
        {k: config["prompt"][k] for k in ("chat_template", "plain", "date")}
    )


def control_item_inputs(wildcards):
    path = config["control"]["multiple_choice"]["path"]
    return [path] if path else []


def model_control_table(run):
    """The model-scope control table of epoch 0 (the untouched base model) that a run reads."""
    return (
        f"results/models/{run_model_name(run)}/control_{CONTROL_KEYS[run]}/epoch_0.tsv"
    )


def control_tables(run):
    """results/{run}/control/epoch_{e}.tsv for e = 0..epochs."""
    epochs = run_config(run)["epochs"]
    return [f"results/{run}/control/epoch_{e}.tsv" for e in range(epochs + 1)]


def control_targets(run):
    """The run's control accuracy in the default target (its figure: analysis_targets)."""
    if not control_enabled():
        return []
    return [f"results/{run}/analysis/control.tsv"]
