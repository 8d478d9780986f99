# Helpers of the analysis rules (analysis.smk), kept apart from the rules.

ANALYSIS_KINDS = ["acquisition", "generalization", "degradation"]
FIGURE_FORMATS = config["figures"]["formats"]


def analysis_config():
    return config["analysis"]


def get_eval_tables(wildcards):
    epochs = run_config(wildcards.run)["epochs"]
    return [f"results/{wildcards.run}/eval/epoch_{e}.tsv" for e in range(epochs + 1)]


def get_checkpoints(wildcards):
    epochs = run_config(wildcards.run)["epochs"]
    return [f"results/{wildcards.run}/checkpoints/epoch_{e}" for e in range(1, epochs + 1)]


def is_demo_run(wildcards):
    return model_config(run_config(wildcards.run)["model"])["source"] == "demo"


def kind_selection(kind):
    spec = analysis_config()["kinds"][kind]
    return {"splits": list(spec["splits"]), "ontologies": spec.get("ontologies")}


def get_kind_selection(wildcards):
    return kind_selection(wildcards.kind)


def get_summary_selection(wildcards):
    """The fact selection of the kinds whose shares summary.tsv compares across stable_epochs m."""
    return {kind: kind_selection(kind) for kind in ("acquisition", "generalization")}


def get_cox_settings(wildcards):
    return dict(analysis_config()["cox"])


def get_cox_kind_settings(wildcards):
    spec = analysis_config()["kinds"][wildcards.kind]
    return {
        "extra_covariates": list(spec.get("extra_covariates", [])),
        "subsets": dict(spec.get("subsets", {})),
    }


# snakefmt reads a line that starts with `report` as the report directive: use an alias.
mark_for_report = report


def figure_outputs(stem, caption, category, subcategory):
    return [
        mark_for_report(
            f"results/{{run}}/figures/{stem}.{ext}",
            caption=caption,
            category=category,
            subcategory=subcategory,
            labels={"run": "{run}", "figure": stem, "format": ext},
        )
        for ext in FIGURE_FORMATS
    ]
