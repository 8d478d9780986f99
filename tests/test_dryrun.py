"""Reading the 'Job stats' table of a Snakemake dry-run."""

from factsurv.dryrun import job_stats

OUT = """Building DAG of jobs...
Job stats:
job             count
------------  -------
sample_facts        1
train_epoch        12
total              13

Reasons:
"""


def test_job_stats_reads_the_table():
    assert job_stats(OUT) == {"sample_facts": 1, "train_epoch": 12}


def test_nothing_to_do_is_empty():
    assert job_stats("Building DAG of jobs...\nNothing to be done (all requested files are present and up to date).") == {}
