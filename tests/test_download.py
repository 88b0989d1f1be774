"""kerasvhn.data.download against a local HTTP server (no network needed).

The server serves in-memory files, honours Range requests (or ignores them on
demand) and can drop the connection part-way through the first responses.
"""

import hashlib
import io
import os
import socket
import tarfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from kerasvhn.data import download
from kerasvhn.data.download import (
    ChecksumMismatch,
    DownloadError,
    UnsafeArchiveError,
    download_svhn,
    extract_tarball,
    fetch,
)

PAYLOAD = os.urandom(3 * 1024 * 1024 + 12345)
PAYLOAD_SHA256 = hashlib.sha256(PAYLOAD).hexdigest()


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest output clean
        pass

    def do_GET(self):
        server = self.server
        body = server.files.get(self.path)
        range_header = self.headers.get("Range")
        with server.lock:
            server.requests.append((self.path, range_header))
            drop = server.drops_left > 0
            if drop:
                server.drops_left -= 1
        if body is None:
            self.send_error(404, "no such file")
            return
        start = 0
        if range_header and not server.ignore_range:
            start = int(range_header.split("=")[1].split("-")[0])
            # Each status is recorded before it is sent: the client may finish first.
            if start >= len(body):
                server.statuses.append(416)
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            server.statuses.append(206)
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            server.statuses.append(200)
            self.send_response(200)
        self.send_header("Content-Length", str(len(body) - start))
        self.send_header("Content-Type", "application/octet-stream")
        self.end_headers()
        remaining = body[start:]
        if drop:
            # Send part of the body, then hang up without finishing.
            self.wfile.write(remaining[: server.drop_after])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(remaining)


@pytest.fixture
def server(monkeypatch):
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    sleeps = []
    monkeypatch.setattr(download, "_sleep", sleeps.append)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    httpd.files = {"/file.bin": PAYLOAD}
    httpd.requests, httpd.statuses = [], []
    httpd.drops_left, httpd.drop_after, httpd.ignore_range = 0, 1024 * 1024, False
    httpd.lock = threading.Lock()
    httpd.sleeps = sleeps
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_tarball(members):
    """members: list of (name, bytes or None for a folder, type)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data, kind in members:
            info = tarfile.TarInfo(name)
            info.type = kind
            if kind == tarfile.SYMTYPE:
                info.linkname = "/etc/passwd"
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buffer.getvalue()


SPLIT_TAR = make_tarball(
    [
        ("test", None, tarfile.DIRTYPE),
        ("test/1.png", b"\x89PNG fake image 1", tarfile.REGTYPE),
        ("test/2.png", b"\x89PNG fake image 2", tarfile.REGTYPE),
        ("test/digitStruct.mat", b"fake struct", tarfile.REGTYPE),
    ]
)


def test_plain_download(server, tmp_path):
    dest = fetch(server.url + "/file.bin", tmp_path / "file.bin", len(PAYLOAD), PAYLOAD_SHA256, progress=False)
    assert dest.read_bytes() == PAYLOAD
    assert server.requests == [("/file.bin", None)]
    assert not (tmp_path / "file.bin.part").exists()


def test_dropped_connections_resume_byte_identical(server, tmp_path):
    server.drops_left = 2
    dest = tmp_path / "file.bin"
    fetch(server.url + "/file.bin", dest, sha256=PAYLOAD_SHA256, backoff=0.5, progress=False)
    assert dest.read_bytes() == PAYLOAD
    assert not (tmp_path / "file.bin.part").exists()
    mb = 1024 * 1024
    assert server.requests == [
        ("/file.bin", None),
        ("/file.bin", f"bytes={mb}-"),
        ("/file.bin", f"bytes={2 * mb}-"),
    ]
    assert server.statuses == [200, 206, 206]
    assert server.sleeps == [0.5, 1.0]  # exponential backoff


def test_retries_are_bounded_and_the_part_file_resumes_later(server, tmp_path):
    server.drops_left = 100
    server.drop_after = 1000
    dest = tmp_path / "file.bin"
    with pytest.raises(DownloadError, match="after 3 retries") as info:
        fetch(server.url + "/file.bin", dest, retries=3, backoff=0.01, max_backoff=0.02, progress=False)
    assert info.value.url == server.url + "/file.bin"
    assert server.url + "/file.bin" in str(info.value)
    assert len(server.requests) == 4
    assert server.sleeps == [0.01, 0.02, 0.02]
    assert not dest.exists()
    part = tmp_path / "file.bin.part"
    assert part.stat().st_size == 4000 and part.read_bytes() == PAYLOAD[:4000]

    server.drops_left = 0
    fetch(server.url + "/file.bin", dest, len(PAYLOAD), PAYLOAD_SHA256, progress=False)
    assert dest.read_bytes() == PAYLOAD
    assert server.requests[-1] == ("/file.bin", "bytes=4000-")
    assert not part.exists()


def test_server_ignoring_range_restarts_cleanly(server, tmp_path):
    server.ignore_range = True
    server.drops_left = 1
    dest = tmp_path / "file.bin"
    fetch(server.url + "/file.bin", dest, len(PAYLOAD), PAYLOAD_SHA256, backoff=0, progress=False)
    assert dest.read_bytes() == PAYLOAD
    assert server.requests[1][1] == f"bytes={1024 * 1024}-"  # asked to resume...
    assert server.statuses == [200, 200]  # ...got the whole file, and did not append it
    assert not (tmp_path / "file.bin.part").exists()


def test_complete_part_file_is_finished_without_download(server, tmp_path):
    (tmp_path / "file.bin.part").write_bytes(PAYLOAD)
    dest = fetch(server.url + "/file.bin", tmp_path / "file.bin", sha256=PAYLOAD_SHA256, progress=False)
    assert dest.read_bytes() == PAYLOAD
    assert server.statuses == [416]


def test_existing_verified_file_is_not_downloaded_again(server, tmp_path):
    dest = tmp_path / "file.bin"
    dest.write_bytes(PAYLOAD)
    fetch(server.url + "/file.bin", dest, len(PAYLOAD), PAYLOAD_SHA256, progress=False)
    assert server.requests == []


def test_checksum_mismatch_keeps_the_download_and_names_both_hashes(server, tmp_path):
    dest = tmp_path / "file.bin"
    kept = tmp_path / "file.bin.mismatch"
    with pytest.raises(ChecksumMismatch, match="sha256 checksum mismatch") as info:
        fetch(server.url + "/file.bin", dest, sha256="0" * 64, progress=False)
    message = str(info.value)
    assert "/file.bin" in message and f"expected {'0' * 64}, got {PAYLOAD_SHA256}" in message
    assert f"kept as {kept}" in message
    assert (info.value.expected, info.value.actual, info.value.kept) == ("0" * 64, PAYLOAD_SHA256, kept)
    assert kept.read_bytes() == PAYLOAD  # kept whole, not deleted
    assert not dest.exists() and not (tmp_path / "file.bin.part").exists()

    # Run again with the same (wrong) hash: not trusted, downloaded anew.
    with pytest.raises(ChecksumMismatch, match=f"expected {'0' * 64}, got {PAYLOAD_SHA256}"):
        fetch(server.url + "/file.bin", dest, sha256="0" * 64, progress=False)
    assert len(server.requests) == 2 and kept.read_bytes() == PAYLOAD and not dest.exists()
    # Without any checksum it is not trusted either: downloaded anew.
    fetch(server.url + "/file.bin", dest, progress=False)
    assert len(server.requests) == 3 and kept.exists()
    dest.unlink()
    # With the right hash, the kept file is used: no request.
    assert fetch(server.url + "/file.bin", dest, sha256=PAYLOAD_SHA256, progress=False) == dest
    assert dest.read_bytes() == PAYLOAD and not kept.exists() and len(server.requests) == 3

    with pytest.raises(ChecksumMismatch, match=r"md5 checksum mismatch: expected 0{32}, got [0-9a-f]{32}"):
        fetch(server.url + "/file.bin", tmp_path / "md5.bin", md5="0" * 32, progress=False)
    assert (tmp_path / "md5.bin.mismatch").read_bytes() == PAYLOAD


def test_existing_file_failing_its_checks_is_kept_not_deleted(server, tmp_path):
    dest = tmp_path / "file.bin"
    dest.write_bytes(b"an older file")
    with pytest.warns(UserWarning, match=rf"expected {PAYLOAD_SHA256}, got .* kept as .*file\.bin\.mismatch"):
        fetch(server.url + "/file.bin", dest, sha256=PAYLOAD_SHA256, progress=False)
    assert dest.read_bytes() == PAYLOAD
    assert (tmp_path / "file.bin.mismatch").read_bytes() == b"an older file"


def test_size_mismatch_leaves_no_file(server, tmp_path):
    dest = tmp_path / "file.bin"
    with pytest.raises(DownloadError, match=f"announces {len(PAYLOAD)} bytes but 123"):
        fetch(server.url + "/file.bin", dest, expected_size=123, progress=False)
    assert not dest.exists() and not (tmp_path / "file.bin.part").exists()


def test_http_404_fails_without_retrying(server, tmp_path):
    with pytest.raises(DownloadError, match="HTTP 404"):
        fetch(server.url + "/missing.bin", tmp_path / "missing.bin", progress=False)
    assert len(server.requests) == 1 and server.sleeps == []


def test_unreachable_server_fails_fast_with_a_helpful_message(tmp_path, monkeypatch):
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    url = f"http://127.0.0.1:{closed_port()}/train.tar.gz"
    started = time.monotonic()
    with pytest.raises(DownloadError) as info:
        download_svhn(tmp_path, ["train"], base_url=url.rsplit("/", 1)[0], progress=False)
    assert time.monotonic() - started < 5
    message = str(info.value)
    assert url in message and "could not connect" in message and "network" in message
    assert info.value.url == url
    assert not any(tmp_path.iterdir())


def test_download_svhn_fetches_verifies_and_extracts(server, tmp_path):
    server.files["/test.tar.gz"] = SPLIT_TAR
    server.drops_left = 1
    server.drop_after = 100
    known = {"test.tar.gz": {"size": len(SPLIT_TAR), "sha256": hashlib.sha256(SPLIT_TAR).hexdigest()}}
    folders = download_svhn(tmp_path, ("test",), base_url=server.url + "/", progress=False, known=known, backoff=0)
    assert folders == {"test": tmp_path / "test"}
    assert sorted(p.name for p in (tmp_path / "test").iterdir()) == ["1.png", "2.png", "digitStruct.mat"]
    assert (tmp_path / "test" / "1.png").read_bytes() == b"\x89PNG fake image 1"
    assert (tmp_path / "test.tar.gz").read_bytes() == SPLIT_TAR
    assert sorted(p.name for p in tmp_path.iterdir()) == ["test", "test.tar.gz"]
    requests = len(server.requests)
    assert download_svhn(tmp_path, "test", base_url=server.url, progress=False, known=known) == folders
    assert len(server.requests) == requests  # already there: no new request
    # The shipped table's checksums are not those of our fake tarball.
    (tmp_path / "test").rename(tmp_path / "old")
    (tmp_path / "test.tar.gz").unlink()
    with pytest.raises(DownloadError, match="checksum mismatch"):
        download_svhn(tmp_path, "test", base_url=server.url, progress=False)
    assert (tmp_path / "test.tar.gz.mismatch").read_bytes() == SPLIT_TAR  # kept for a look
    assert not (tmp_path / "test").exists()


def test_unknown_split():
    with pytest.raises(ValueError, match="unknown SVHN split"):
        download.split_url("validation")


@pytest.mark.parametrize(
    "name,kind,reason",
    [
        ("../escaped.txt", tarfile.REGTYPE, r"'\.\.'"),
        ("train/../../escaped.txt", tarfile.REGTYPE, r"'\.\.'"),
        ("/tmp/escaped.txt", tarfile.REGTYPE, "absolute path"),
        ("train/link", tarfile.SYMTYPE, "not a regular file"),
    ],
)
def test_extraction_rejects_unsafe_members(tmp_path, name, kind, reason):
    archive = tmp_path / "evil.tar.gz"
    archive.write_bytes(
        make_tarball([("train/1.png", b"fine", tarfile.REGTYPE), (name, b"evil" if kind == tarfile.REGTYPE else None, kind)])
    )
    data_dir = tmp_path / "data"
    with pytest.raises(UnsafeArchiveError, match=reason):
        extract_tarball(archive, data_dir, "train")
    assert not (tmp_path / "escaped.txt").exists()
    assert list(data_dir.iterdir()) == []  # no half-extracted split, no staging folder


def test_extraction_without_top_folder_goes_into_the_split_folder(tmp_path):
    archive = tmp_path / "flat.tar.gz"
    archive.write_bytes(make_tarball([("1.png", b"one", tarfile.REGTYPE)]))
    folder = extract_tarball(archive, tmp_path / "data", "extra")
    assert folder == tmp_path / "data" / "extra"
    assert (folder / "1.png").read_bytes() == b"one"
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["extra"]


def test_corrupt_archive_is_a_download_error(tmp_path):
    archive = tmp_path / "bad.tar.gz"
    archive.write_bytes(b"not a tarball at all")
    with pytest.raises(DownloadError, match="could not extract"):
        extract_tarball(archive, tmp_path / "data", "train")
    assert not (tmp_path / "data" / "train").exists()
