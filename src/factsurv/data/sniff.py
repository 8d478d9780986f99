"""A cheap look at an input file before anything parses it: empty, binary, not UTF-8, or another
format than the one configured (a GAF given as ``format: hpoa``, an HTML error page as an OBO).

Used by the pre-flight (local ``source: path`` files, before any job) and by ``fetch`` (every
file, after the download or copy), so that a bad file is reported with the configured source named,
instead of as a parser's traceback in a later job.
"""

from __future__ import annotations

import codecs
import gzip
import re
import zlib
from pathlib import Path

from factsurv.io import InputError

HEAD_BYTES = 1 << 16
_OBO_HEADER = re.compile(r"^[A-Za-z][\w-]*:\s")
_OBO_STANZA = re.compile(r"^\[(Term|Typedef|Instance)\]\s*$")


def read_head(path: Path, n: int = HEAD_BYTES) -> bytes:
    """The first ``n`` bytes of ``path`` (decompressed if gzipped)."""
    with open(path, "rb") as fh:
        raw = fh.read(n)
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        with gzip.open(path, "rb") as fh:
            return fh.read(n)
    except (OSError, EOFError, zlib.error) as exc:
        raise InputError(f"{path}: damaged gzip file ({exc})") from None


def text_head(path: Path, n: int = HEAD_BYTES) -> str:
    """The first ``n`` bytes as UTF-8 text; :class:`InputError` if empty, binary or not UTF-8."""
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    raw = read_head(path, n)
    if not raw.strip():
        raise InputError(f"{path}: empty file")
    if b"\x00" in raw:
        raise InputError(f"{path}: binary file (NUL bytes), not text")
    try:
        return codecs.getincrementaldecoder("utf-8")().decode(raw, final=False)
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{path}: not UTF-8 (byte {raw[exc.start]:#04x} at offset {exc.start}); convert it, "
            "e.g. iconv -f latin1 -t utf-8"
        ) from None


def _data_lines(text: str, comment: str) -> list[str]:
    lines = text.splitlines()[:-1] or text.splitlines()  # the last line may be cut
    return [ln for ln in lines if ln.strip() and not ln.startswith(comment)]


def sniff(path: str | Path, fmt: str) -> None:
    """Raise :class:`InputError` naming ``path`` unless it looks like a ``fmt`` file (obo, hpoa, gaf)."""
    path = Path(path)
    text = text_head(path)
    if fmt == "obo":
        lines = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("!")]
        first = lines[0] if lines else ""
        if not (_OBO_HEADER.match(first) or _OBO_STANZA.match(first)):
            looks = " (it looks like HTML: an error page saved instead of the file?)" if first.lstrip().startswith("<") else ""
            raise InputError(f"{path}: not an OBO file: the first line is {first[:80]!r}{looks}")
        return
    if fmt == "hpoa":
        lines = _data_lines(text, "#")
        if not lines:
            raise InputError(f"{path}: no data lines (an hpoa file has a tab-separated header and rows)")
        if lines[0].startswith("!") or len(lines[0].split("\t")) >= 15 and "hpo_id" not in lines[0]:
            raise InputError(f"{path}: looks like a GAF file, but the format is hpoa")
        if "hpo_id" not in lines[0].split("\t"):
            raise InputError(
                f"{path}: not an hpoa file: the first data line has no hpo_id column: {lines[0][:80]!r}"
            )
        return
    if fmt == "gaf":
        lines = _data_lines(text, "!")
        if not lines:
            raise InputError(f"{path}: no annotation rows (a GAF file has 15+ tab-separated columns)")
        fields = lines[0].split("\t")
        if "hpo_id" in fields or lines[0].startswith("#"):
            raise InputError(f"{path}: looks like an hpoa file, but the format is gaf")
        if len(fields) < 15:
            raise InputError(
                f"{path}: not a GAF file: the first row has {len(fields)} tab-separated fields, a GAF row 15 or more"
            )
        return
    raise InputError(f"{path}: unknown format {fmt!r}")


def check_utf8(path: str | Path, limit: int = 256 << 20) -> None:
    """Decode the first ``limit`` bytes of a text file (gzipped or not) strictly as UTF-8;
    raise :class:`InputError` naming the file and the line of the first bad byte."""
    path = Path(path)
    opener = gzip.open if read_head(path, 2)[:2] == b"\x1f\x8b" else open
    decoder = codecs.getincrementaldecoder("utf-8")()
    done = 0
    line = 1
    try:
        with opener(path, "rb") as fh:  # type: ignore[operator]
            while done < limit and (block := fh.read(1 << 20)):
                try:
                    decoder.decode(block, final=False)
                except UnicodeDecodeError as exc:
                    line += block.count(b"\n", 0, exc.start)
                    raise InputError(
                        f"{path}, line {line}: not UTF-8 (byte {block[exc.start]:#04x}); convert it, "
                        "e.g. iconv -f latin1 -t utf-8"
                    ) from None
                line += block.count(b"\n")
                done += len(block)
    except (OSError, EOFError, zlib.error) as exc:
        raise InputError(f"{path}: cannot read ({exc})") from None


_ID_LINE = re.compile(r"^id:\s*(\S+)")
_IS_A_LINE = re.compile(r"^is_a:\s*(\S+)")


def dangling_is_a(path: str | Path) -> str | None:
    """The first ``is_a`` whose target the OBO file does not define, as ``line N: text``; a scan of
    the lines, far cheaper than parsing (pronto fails on it later with a bare KeyError)."""
    defined: set[str] = set()
    refs: list[tuple[int, str, str]] = []
    with open(path, encoding="utf-8", errors="replace") as fh:
        for lineno, line in enumerate(fh, start=1):
            if m := _ID_LINE.match(line):
                defined.add(m.group(1))
            elif m := _IS_A_LINE.match(line):
                refs.append((lineno, m.group(1), line.strip()))
    for lineno, target, text in refs:
        if target not in defined:
            return f"line {lineno}: {text[:120]!r} refers to {target}, which the file does not define"
    return None


def obo_terms(path: str | Path) -> list[dict[str, object]]:
    """The ``[Term]`` stanzas of an OBO file as ``term_id, label, namespace, obsolete`` rows: a scan
    of the lines (no parser), enough for factsurv.data.sampling.eligible_terms to count what the
    file offers before parse_terms has run (the pre-flight's check of ``sample.counts``)."""
    rows: list[dict[str, object]] = []
    default_ns: str | None = None
    term: dict[str, object] | None = None
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if line.startswith("["):
                term = {"term_id": "", "label": "", "namespace": None, "obsolete": False} \
                    if line.strip() == "[Term]" else None
                if term is not None:
                    rows.append(term)
                continue
            key, sep, value = line.partition(":")
            if not sep:
                continue
            value = value.split(" !", 1)[0].strip()
            if term is None:
                if key == "default-namespace" and not rows:
                    default_ns = value
            elif key == "id":
                term["term_id"] = value
            elif key == "name":
                term["label"] = value
            elif key == "namespace":
                term["namespace"] = value
            elif key == "is_obsolete":
                term["obsolete"] = value.lower() == "true"
    for t in rows:
        if t["namespace"] is None:
            t["namespace"] = default_ns
    return [t for t in rows if t["term_id"]]
