"""Reading Snakemake's plan: the 'Job stats' table that ``snakemake -n`` prints."""

from __future__ import annotations


def job_stats(out: str) -> dict[str, int]:
    """rule → number of jobs, from the first 'Job stats' table in Snakemake's output
    (empty when there is none: nothing to do)."""
    if "Job stats:" not in out:
        return {}
    table = out.split("Job stats:", 1)[1]
    counts: dict[str, int] = {}
    for line in table.splitlines()[3:]:  # header, column names, rule
        parts = line.split()
        if not parts or parts[0] == "total":
            break
        counts[parts[0]] = int(parts[1])
    return counts
