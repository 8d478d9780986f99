"""Literature counts from Europe PMC, against a local imitation of the service (never the internet)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest

from factsurv.data.europepmc import Cache, Client, EuropePMCError, fetch_counts, search_url
from factsurv.data.literature import literature_counts
from fake_europepmc import FakeEuropePMC, serve

REPO = Path(__file__).resolve().parents[1]
FACTS = pd.DataFrame(
    {"fact_id": ["hpo:HP:0001250", "hpo:HP:0002069", "go:GO:0005634", "hpo:HP:0000118"],
     "term_id": ["HP:0001250", "HP:0002069", "GO:0005634", "HP:0000118"],
     "label": ["Seizure", "Bilateral tonic-clonic seizure", "nucleus", 'Phenotypic "abnormality"']}
)


def settings(url: str, cache: Path, **over) -> dict:
    return {"base_url": url, "cache": str(cache), "identifier_query": '"{term_id}"', "label_query": '"{label}"',
            "min_interval": 0.0, "retries": 3, "backoff": 0.01, "max_backoff": 0.05, "timeout": 5.0, **over}


def test_search_url_is_the_services_idlist_query():
    assert search_url("https://www.ebi.ac.uk/europepmc/webservices/rest/search", '"HP:0001250"') == (
        "https://www.ebi.ac.uk/europepmc/webservices/rest/search?query=%22HP%3A0001250%22&format=json"
        "&resultType=idlist&pageSize=1"
    )


def test_counts_retries_429_and_500_and_caches(tmp_path, caplog):
    fake = FakeEuropePMC(hits={'"HP:0001250"': 1234, '"Seizure"': 98765},
                         failures={'"Seizure"': [429, 500], '"nucleus"': [503]})
    with serve(fake):
        out = fetch_counts(FACTS, settings(fake.url, tmp_path / "cache.jsonl")).set_index("fact_id")
        assert out.loc["hpo:HP:0001250", ["identifier_frequency", "term_frequency"]].tolist() == [1234, 98765]
        assert fake.requests.count('"Seizure"') == 3 and fake.requests.count('"nucleus"') == 2
        assert "HTTP 429" in caplog.text and "HTTP 500" in caplog.text
        first = len(fake.requests)
        assert first == 8 + 3  # 8 distinct queries, 3 failed answers
        again = fetch_counts(FACTS, settings(fake.url, tmp_path / "cache.jsonl")).set_index("fact_id")
        assert len(fake.requests) == first  # a re-run never asks again
        pd.testing.assert_frame_equal(out, again)
    lines = (tmp_path / "cache.jsonl").read_text().splitlines()
    assert len(lines) == 8 and json.loads(lines[0])["base_url"] == fake.url


def test_quotes_in_labels_cannot_break_the_phrase(tmp_path):
    fake = FakeEuropePMC()
    with serve(fake):
        out = fetch_counts(FACTS.iloc[[3]], settings(fake.url, tmp_path / "c.jsonl"))
    assert out["label_query"].iloc[0] == '"Phenotypic abnormality"'
    assert out["term_frequency"].iloc[0] == fake.count('"Phenotypic abnormality"')


def test_a_bad_request_stops_at_once_and_retries_are_bounded(tmp_path):
    fake = FakeEuropePMC(failures={'"HP:0001250"': [500] * 10})
    with serve(fake):
        with pytest.raises(EuropePMCError, match=r"(?s)HTTP 500 .*gave up after 3 attempts.*0 of 8 queries are cached"):
            fetch_counts(FACTS, settings(fake.url, tmp_path / "c.jsonl", retries=2))
        assert fake.requests == ['"HP:0001250"'] * 3
        with pytest.raises(EuropePMCError, match="HTTP 400"):
            fetch_counts(FACTS, settings(fake.url.replace("/search", "/other"), tmp_path / "c.jsonl"))


def test_offline_is_a_clear_error(tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(EuropePMCError) as err:
        fetch_counts(FACTS, settings(f"http://127.0.0.1:{port}/search", tmp_path / "c.jsonl", retries=1))
    msg = str(err.value)
    assert "cannot connect" in msg and "needs the internet where Snakemake runs" in msg
    assert "0 of 8 queries are cached" in msg and "literature.source to table, corpus or none" in msg


def test_requests_are_spaced_by_min_interval(tmp_path):
    fake = FakeEuropePMC()
    with serve(fake):
        start = time.monotonic()
        fetch_counts(FACTS.iloc[:2], settings(fake.url, tmp_path / "c.jsonl", min_interval=0.1))
        assert time.monotonic() - start >= 0.3  # 4 requests, 3 gaps
    slept = []
    client = Client(base_url="x", min_interval=1.0, retries=0, backoff=0, max_backoff=0, timeout=1,
                    sleep=slept.append, clock=lambda: 10.0)
    client._wait_turn()
    client._wait_turn()
    assert slept == [1.0]


KILLED_JOB = textwrap.dedent(
    """
    import sys
    import pandas as pd
    from factsurv.data.europepmc import fetch_counts
    facts = pd.DataFrame({"fact_id": [f"hpo:HP:{i:07d}" for i in range(1, 41)],
                          "term_id": [f"HP:{i:07d}" for i in range(1, 41)],
                          "label": [f"term {i}" for i in range(1, 41)]})
    fetch_counts(facts, dict(base_url=sys.argv[1], cache=sys.argv[2], identifier_query='"{term_id}"',
                             label_query='"{label}"', min_interval=0, retries=0, backoff=0, max_backoff=0, timeout=5))
    """
)


def test_the_cache_survives_a_kill_and_the_rerun_asks_only_for_the_rest(tmp_path):
    cache = tmp_path / "resources" / "europepmc.jsonl"
    fake = FakeEuropePMC(delay=0.05)
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    with serve(fake):
        proc = subprocess.Popen([sys.executable, "-c", KILLED_JOB, fake.url, str(cache)], env=env)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (not cache.exists() or len(cache.read_text().splitlines()) < 5):
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert proc.returncode == -signal.SIGKILL
        kept = Cache(cache).counts
        assert 5 <= len(kept) < 80  # what it fetched before the kill, no more
        with open(cache, "ab") as fh:  # as if the kill had cut a write short
            fh.write(b'{"base_url": "http://127.0.0.1", "query": "\\"HP:00')
        asked_before = len(fake.requests)
        facts = pd.DataFrame({"fact_id": [f"hpo:HP:{i:07d}" for i in range(1, 41)],
                              "term_id": [f"HP:{i:07d}" for i in range(1, 41)],
                              "label": [f"term {i}" for i in range(1, 41)]})
        out = fetch_counts(facts, settings(fake.url, cache))
        asked = fake.requests[asked_before:]
    assert len(asked) == 80 - len(kept) and not set(asked) & {q for _, q in kept}
    assert out["identifier_frequency"].tolist() == [fake.count(f'"HP:{i:07d}"') for i in range(1, 41)]
    assert out["term_frequency"].tolist() == [fake.count(f'"term {i}"') for i in range(1, 41)]
    assert len(Cache(cache).counts) == 80  # the partial line was ignored and the file is whole again


def test_literature_counts_europepmc_source_and_table_overrides(tmp_path):
    fetched = tmp_path / "fetched.tsv"
    pd.DataFrame({"fact_id": FACTS["fact_id"], "term_id": FACTS["term_id"], "label": FACTS["label"],
                  "identifier_query": "q", "identifier_frequency": [1, 2, 3, 4], "label_query": "q",
                  "term_frequency": [10, 20, 30, 40]}).to_csv(fetched, sep="\t", index=False)
    overrides = tmp_path / "over.tsv"
    overrides.write_text("fact_id\tidentifier_frequency\tterm_frequency\nhpo:HP:0001250\t99\tNA\ngo:GO:0005634\tNA\tNA\n")
    out = literature_counts(FACTS, "europepmc", fetched=str(fetched), overrides=str(overrides)).set_index("fact_id")
    assert out["identifier_frequency"].tolist() == [99, 2, 3, 4]
    assert out["term_frequency"].tolist() == [10, 20, 30, 40]
    none = literature_counts(FACTS, "none", overrides=str(overrides)).set_index("fact_id")
    assert none.loc["hpo:HP:0001250", "identifier_frequency"] == 99 and none["term_frequency"].isna().all()
