"""Literature counts from the Europe PMC REST search (``literature.source: europepmc``).

For every fact two searches are asked: the exact identifier (``"HP:0001250"``) and the quoted label
(``"Seizure"``); the ``hitCount`` of each is the fact's ``identifier_frequency`` and
``term_frequency``. The query templates, the service's address and the politeness settings come
from ``literature.europepmc`` (defaults in the config schema).

Every answer is appended at once to a persistent cache (JSON lines, one per query, keyed by the
service address and the query): re-runs never ask again, and a job killed half-way keeps what it
fetched — the next run asks only for the rest. A partial last line (a kill in mid-write) is ignored.

Requests are spaced by at least ``min_interval`` seconds; HTTP 429 (honouring ``Retry-After``), 5xx,
timeouts and connection errors are retried up to ``retries`` times with exponential back-off
(``backoff`` · 2^attempt, at most ``max_backoff`` seconds). Other HTTP errors stop at once.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from factsurv.io import InputError
from factsurv.tables import EUROPEPMC_COLUMNS

log = logging.getLogger("factsurv.data.europepmc")

RETRY_STATUS = {429, 500, 502, 503, 504}


class EuropePMCError(RuntimeError):
    """The service could not be asked (offline, refused, repeated errors); the message says what to do."""


class _Unreachable(EuropePMCError):
    pass


def search_url(base_url: str, query: str) -> str:
    params = {"query": query, "format": "json", "resultType": "idlist", "pageSize": 1}
    return f"{base_url.rstrip('/')}?{urllib.parse.urlencode(params)}"


@dataclass
class Client:
    """A polite Europe PMC search client: spaced requests, retries with back-off."""

    base_url: str
    min_interval: float
    retries: int
    backoff: float
    max_backoff: float
    timeout: float
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    requests: int = 0
    _last: float | None = field(default=None, repr=False)

    def _wait_turn(self) -> None:
        if self._last is not None:
            wait = self.min_interval - (self.clock() - self._last)
            if wait > 0:
                self.sleep(wait)
        self._last = self.clock()

    def hit_count(self, query: str) -> int:
        url = search_url(self.base_url, query)
        request = urllib.request.Request(url, headers={"User-Agent": "factsurv (literature counts)", "Accept": "application/json"})
        problem = ""
        retry_after: float | None = None
        for attempt in range(self.retries + 1):
            if attempt:
                delay = min(self.max_backoff, self.backoff * 2 ** (attempt - 1))
                if retry_after is not None:
                    delay = min(self.max_backoff, max(delay, retry_after))
                log.warning("%s: %s; retry %d of %d in %.1f s", url, problem, attempt, self.retries, delay)
                self.sleep(delay)
                retry_after = None
            self._wait_turn()
            self.requests += 1
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as resp:
                    body = resp.read()
            except urllib.error.HTTPError as exc:
                if exc.code not in RETRY_STATUS:
                    snippet = exc.read()[:300].decode("utf-8", "replace") if exc.fp else ""
                    raise EuropePMCError(f"{url}: HTTP {exc.code} {exc.reason} {snippet}".strip()) from None
                problem = f"HTTP {exc.code} {exc.reason}"
                header = exc.headers.get("Retry-After") if exc.headers else None
                try:
                    retry_after = float(header) if header else None
                except ValueError:
                    retry_after = None
                continue
            except urllib.error.URLError as exc:
                problem = f"cannot connect ({exc.reason})"
                continue
            except OSError as exc:  # timeouts, resets
                problem = f"{type(exc).__name__}: {exc}"
                continue
            try:
                data = json.loads(body)
                count = data["hitCount"]
            except (ValueError, KeyError, TypeError):
                problem = f"no hitCount in the answer {body[:200]!r}"
                continue
            if not isinstance(count, int) or count < 0:
                raise EuropePMCError(f"{url}: hitCount is not a count: {count!r}")
            return count
        cls = _Unreachable if problem.startswith("cannot connect") else EuropePMCError
        raise cls(f"{url}: {problem} (gave up after {self.retries + 1} attempts)")


class Cache:
    """Hit counts already fetched, in a JSON-lines file that only ever grows."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.counts: dict[tuple[str, str], int] = {}
        if self.path.exists():
            self._load()

    @staticmethod
    def key(base_url: str, query: str) -> tuple[str, str]:
        return base_url.rstrip("/"), query

    def _load(self) -> None:
        text = self.path.read_bytes().decode("utf-8", "replace")
        lines = text.split("\n")
        for n, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                self.counts[self.key(rec["base_url"], rec["query"])] = int(rec["hit_count"])
            except (ValueError, KeyError, TypeError):
                last = n == len(lines)  # no newline after it: a write cut short by a kill
                log.warning("%s, line %d: %s; ignored", self.path, n,
                            "a partial last record (a job killed while writing)" if last else f"not a cache record: {line[:120]!r}")

    def get(self, base_url: str, query: str) -> int | None:
        return self.counts.get(self.key(base_url, query))

    def put(self, base_url: str, query: str, count: int) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        rec = {"base_url": base_url.rstrip("/"), "query": query, "hit_count": count,
               "retrieved": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
        with open(self.path, "ab") as fh:
            if fh.tell() > 0:
                with open(self.path, "rb") as rd:
                    rd.seek(-1, os.SEEK_END)
                    if rd.read(1) != b"\n":  # finish a partial line left by a kill
                        fh.write(b"\n")
            fh.write((json.dumps(rec, sort_keys=True) + "\n").encode("utf-8"))
            fh.flush()
            os.fsync(fh.fileno())
        self.counts[self.key(base_url, query)] = count


def make_query(template: str, **values: str) -> str:
    """Fill a query template; double quotes inside the values become spaces (they would end a phrase)
    and runs of whitespace one space."""
    try:
        return template.format(**{k: " ".join(str(v).replace('"', " ").split()) for k, v in values.items()})
    except (KeyError, IndexError) as exc:
        raise InputError(f"literature.europepmc: query template {template!r} uses an unknown field {exc} "
                         f"(known: {', '.join('{' + k + '}' for k in values)})") from None


def fetch_counts(facts: pd.DataFrame, settings: Mapping[str, Any], *, client: Client | None = None) -> pd.DataFrame:
    """``identifier_frequency`` and ``term_frequency`` of every fact (:data:`factsurv.tables.EUROPEPMC_COLUMNS`), via the cache.

    ``settings`` is ``literature.europepmc``: ``base_url, cache, identifier_query, label_query,
    min_interval, retries, backoff, max_backoff, timeout``.
    """
    base_url = str(settings["base_url"])
    cache = Cache(settings["cache"])
    if client is None:
        client = Client(base_url=base_url, min_interval=float(settings["min_interval"]), retries=int(settings["retries"]),
                        backoff=float(settings["backoff"]), max_backoff=float(settings["max_backoff"]),
                        timeout=float(settings["timeout"]))
    rows = []
    for fid, tid, label in zip(facts["fact_id"], facts["term_id"], facts["label"]):
        fields = {"term_id": tid, "label": label, "fact_id": fid}
        rows.append((fid, tid, label, make_query(settings["identifier_query"], **fields), make_query(settings["label_query"], **fields)))
    queries = list(dict.fromkeys(q for r in rows for q in r[3:]))
    missing = [q for q in queries if cache.get(base_url, q) is None]
    log.info("%d facts, %d distinct queries: %d cached in %s, %d to ask %s",
             len(rows), len(queries), len(queries) - len(missing), cache.path, len(missing), base_url)
    for i, q in enumerate(missing, 1):
        try:
            count = client.hit_count(q)
        except EuropePMCError as exc:
            done = len(queries) - len(missing) + i - 1
            advice = (
                "literature.source: europepmc needs the internet where Snakemake runs (fetch_europepmc is a "
                "local rule, it never runs on a compute node). " if isinstance(exc, _Unreachable) else ""
            )
            raise EuropePMCError(
                f"Europe PMC search failed: {exc}\n{advice}{done} of {len(queries)} queries are cached in {cache.path}; "
                "run again to ask only for the rest, or set literature.source to table, corpus or none."
            ) from None
        cache.put(base_url, q, count)
        if i % 100 == 0 or i == len(missing):
            log.info("asked %d of %d (%d requests with retries)", i, len(missing), client.requests)
    out = pd.DataFrame(rows, columns=["fact_id", "term_id", "label", "identifier_query", "label_query"])
    out["identifier_frequency"] = [cache.get(base_url, q) for q in out["identifier_query"]]
    out["term_frequency"] = [cache.get(base_url, q) for q in out["label_query"]]
    return out[list(EUROPEPMC_COLUMNS)]
