# Helpers of the analysis rules (analysis.smk), kept apart from the rules.

ANALYSIS_KINDS = ["acquisition", "generalization", "degradation"]
FIGURE_FORMATS = config["figures"]["formats"]


def analysis_config():
    return config["analysis"]


def run_checkpoints(run):
    """results/{run}/checkpoints/epoch_{e} for e = 1..epochs (their checkpoint.json: training loss)."""
    epochs = run_config(run)["epochs"]
    return [f"results/{run}/checkpoints/epoch_{e}" for e in range(1, epochs + 1)]


# whether a run's model is the demo model (figures and summary say so)
is_demo_run = per_run(lambda run: model_config(run_model_name(run))["source"] == "demo")


def kind_selection(kind):
    spec = analysis_config()["kinds"][kind]
    return {"splits": list(spec["splits"]), "ontologies": spec.get("ontologies")}


# Settings as plain values, computed once when the workflow is read (the same for every run): a
# param that is a value costs Snakemake nothing per job, a function costs a call and a signature
# inspection for each of thousands of jobs.
KIND_SELECTIONS = canonical({kind: kind_selection(kind) for kind in ANALYSIS_KINDS})
# the fact selection of the kinds whose shares summary.tsv compares across stable_epochs m
SUMMARY_SELECTION = canonical(
    {kind: kind_selection(kind) for kind in ("acquisition", "generalization")}
)
COX_SETTINGS = canonical(dict(analysis_config()["cox"]))
# per kind: the covariates added to analysis.cox.covariates and the subset models
COX_KIND_SETTINGS = canonical(
    {
        kind: {
            "extra_covariates": list(spec.get("extra_covariates", [])),
            "subsets": dict(spec.get("subsets", {})),
        }
        for kind, spec in analysis_config()["kinds"].items()
        if kind in ANALYSIS_KINDS
    }
)


def run_analysis_tables(run, stem):
    """results/{run}/analysis/{stem}_{kind}.tsv of every kind, by kind."""
    return {
        kind: f"results/{run}/analysis/{stem}_{kind}.tsv" for kind in ANALYSIS_KINDS
    }


def per_kind(stem):
    """The same as a rule's input/output: {kind: results/{run}/analysis/{stem}_{kind}.tsv}."""
    return run_analysis_tables("{run}", stem)


# snakefmt reads a line that starts with `report` as the report directive: use an alias.
mark_for_report = report


# The figures of a run, drawn by one job (the figures rule): name → (stem, caption, category,
# subcategory). The control figure comes with the control probe (control.enabled).
RUN_FIGURES = {
    **{
        f"km_{kind}": (f"km_{kind}", "../report/km.rst", "Survival curves", kind)
        for kind in ANALYSIS_KINDS
    },
    **{
        f"forest_{kind}": (
            f"forest_{kind}",
            "../report/forest.rst",
            "Hazard ratios",
            kind,
        )
        for kind in ANALYSIS_KINDS
    },
    "rate": (
        "acquisition_rate",
        "../report/acquisition_rate.rst",
        "Learning dynamics",
        "rate",
    ),
    "accuracy": (
        "accuracy",
        "../report/accuracy.rst",
        "Learning dynamics",
        "accuracy",
    ),
    "epoch_sets": (
        "epoch_sets",
        "../report/epoch_sets.rst",
        "Learning dynamics",
        "epoch sets",
    ),
    "forgetting": (
        "forgetting",
        "../report/forgetting.rst",
        "Survival curves",
        "forgetting",
    ),
}
# the control probe's accuracy table (control.smk), an input of summary and figures, unless
# control.enabled is false
CONTROL_ACCURACY = (
    ["results/{run}/analysis/control.tsv"] if config["control"]["enabled"] else []
)
if config["control"]["enabled"]:
    RUN_FIGURES["control"] = (
        "control",
        "../report/control.rst",
        "Learning dynamics",
        "out-of-domain accuracy",
    )


def report_figures(folder, labels, stem, caption, category, subcategory):
    """A figure's files in every format under ``folder``, marked for the report (``labels``: the
    scope's wildcards, e.g. {"run": "{run}"})."""
    return [
        mark_for_report(
            f"{folder}/{stem}.{ext}",
            caption=caption,
            category=category,
            subcategory=subcategory,
            labels={**labels, "figure": stem, "format": ext},
        )
        for ext in FIGURE_FORMATS
    ]


def figure_outputs(stem, caption, category, subcategory):
    """A run's figure (rule figures)."""
    return report_figures(
        "results/{run}/figures", {"run": "{run}"}, stem, caption, category, subcategory
    )


def run_figures(run):
    """Every figure file of a run (what rule figures writes)."""
    return [
        f"results/{run}/figures/{stem}.{ext}"
        for stem, *_ in RUN_FIGURES.values()
        for ext in FIGURE_FORMATS
    ]


def analysis_targets(run):
    """The run's analysis tables and figures in the default target."""
    return [
        f"results/{run}/analysis/summary.tsv",
        f"results/{run}/analysis/dynamics.tsv",
        *run_analysis_tables(run, "cox").values(),
        *run_analysis_tables(run, "cloglog").values(),
        f"results/{run}/analysis/qvalues.tsv",
        *run_analysis_tables(run, "km").values(),
        f"results/{run}/analysis/epoch_sets.tsv",
        f"results/{run}/analysis/forgetting.tsv",
        *run_figures(run),
    ]
