"""The table contract: factsurv.tables owns every table's columns, the schema owns the defaults and
the allowed values; where both name the same list they must agree (adding a covariate is one edit
in tables.py plus the schema)."""

import re
from pathlib import Path

from factsurv import tables
from factsurv.config import SCHEMA_PATH, load_schema

SRC = Path(__file__).resolve().parents[1] / "src" / "factsurv"


def _schema():
    return load_schema(SCHEMA_PATH)


def test_schema_analysis_covariates_are_the_tables_covariates():
    allowed = _schema()["definitions"]["analysis_covariate"]["enum"]
    assert sorted(allowed) == sorted(tables.ANALYSIS_COVARIATES)
    # every allowed covariate is a column of the events table the models read
    assert set(tables.ANALYSIS_COVARIATES) <= set(tables.EVENT_COLUMNS)


def test_schema_rank_by_is_random_or_a_fact_covariate():
    design = _schema()["definitions"]["design"]["properties"]
    assert design["exposure"]["properties"]["rank_by"]["enum"] == ["random", *tables.FACT_COVARIATES]


def test_schema_table_covariates_and_run_splits_and_mastery():
    schema = _schema()
    defs = schema["definitions"]
    table_covs = [d for d in defs.values() if isinstance(d, dict) and "covariates" in d.get("properties", {})]
    assert table_covs, "the schema's facts table block is gone"
    for d in table_covs:
        assert tuple(d["properties"]["covariates"]["properties"]) == tables.TABLE_COVARIATES
    assert set(defs["analysis_kind"]["properties"]["splits"]["items"]["enum"]) == set(tables.RUN_SPLITS)
    assert defs["design"]["properties"]["select"]["properties"]["mastery"]["items"]["enum"] == list(tables.MASTERY_LEVELS)


def test_schema_extra_covariates_and_groups_are_per_fact_columns():
    defs = _schema()["definitions"]
    extra = defs["analysis_kind"]["properties"]["extra_covariates"]["items"]["enum"]
    groups = defs["analysis_group"]["enum"]
    assert set(extra) <= set(tables.PER_FACT_COLUMNS) and set(groups) <= set(tables.PER_FACT_COLUMNS)
    assert set(tables.CATEGORICAL_COVARIATES) <= set(tables.PER_FACT_COLUMNS)


def test_the_subsets_are_subsets():
    assert tables.FACT_COLUMNS[:len(tables.MODEL_FACT_COLUMNS)] == tables.MODEL_FACT_COLUMNS
    assert set(tables.ANALYSIS_FACT_COLUMNS) <= set(tables.FACT_COLUMNS)
    assert set(tables.FACT_COVARIATES) <= set(tables.ANALYSIS_FACT_COLUMNS)
    assert set(tables.TERM_COVARIATES) <= set(tables.TERM_COLUMNS)
    assert set(tables.PER_FACT_COLUMNS) <= set(tables.TRAJECTORY_COLUMNS)
    assert set(tables.EXPOSURE_COLUMNS) <= set(tables.TRAJECTORY_COLUMNS)
    assert tables.EXPOSURE_SO_FAR in tables.EXPOSURE_COLUMNS
    assert tables.EVAL_COLUMNS[:len(tables.EVAL_REQUIRED)] == tables.EVAL_REQUIRED
    for name in dir(tables):
        value = getattr(tables, name)
        if name.endswith("_COLUMNS"):
            assert isinstance(value, tuple) and len(set(value)) == len(value), name


def test_no_other_module_declares_table_columns():
    """A table's columns are declared in tables.py only; other modules import them."""
    pattern = re.compile(r"^[A-Z_]*(COLUMNS|COVARIATES) = [(\[]", re.M)
    offenders = [str(p.relative_to(SRC)) for p in SRC.rglob("*.py")
                 if p.name != "tables.py" and pattern.search(p.read_text())]
    assert offenders == []
