"""Downloads the official SVHN format-1 ("full numbers") tarballs and extracts them.

    >>> from kerasvhn.data.download import download_svhn
    >>> folders = download_svhn("data/svhn")            # doctest: +SKIP
    >>> folders["train"]                                 # doctest: +SKIP
    PosixPath('data/svhn/train')

Only the standard library (urllib, tarfile, hashlib) and tqdm are used.

`fetch(url, dest, expected_size=None, sha256=None)` is the reusable part: it writes
to `dest + ".part"`, resumes a partial download with an HTTP Range request (and
starts over cleanly when the server answers 200 instead of 206), retries dropped
connections a bounded number of times with exponential backoff, checks the size
against Content-Length / Content-Range and `expected_size`, checks the checksum,
and only then renames the .part file to `dest` (os.replace, atomic). A dropped
connection keeps the .part file, so running again resumes. A complete file that
fails its size or checksum check is never deleted: it is kept as `dest.mismatch`
and the `ChecksumMismatch` error names the expected and the actual values and
where the file is. Running again downloads anew; the kept file is used instead
only when it passes the checks given then (say, a corrected checksum). Every
failure is a `DownloadError` naming the URL and what happened.

About the checksums (`KNOWN_FILES`): the SVHN page publishes neither sizes nor
checksums of the tarballs, and this package was written without network access,
so the table holds only what could be found offline: the SHA256 of train.tar.gz and
test.tar.gz as pinned by a third-party project (mindee/doctr,
doctr/datasets/svhn.py), not measured by this project. Sizes and extra.tar.gz's
checksum are unknown (None): those checks are skipped, the server's
Content-Length is still enforced. Entries can be overridden per call
(`download_svhn(..., known=...)`) or by editing `KNOWN_FILES`; `fetch` checks
whatever is given.
"""

import errno
import hashlib
import http.client
import os
import shutil
import socket
import tarfile
import time
import urllib.error
import urllib.request
import warnings
from pathlib import Path, PurePosixPath

from tqdm.auto import tqdm

OFFICIAL_URL = "http://ufldl.stanford.edu/housenumbers/"

#: The tarball of each split (format 1: full house-number images + digitStruct.mat).
SPLIT_FILES = {"train": "train.tar.gz", "test": "test.tar.gz", "extra": "extra.tar.gz"}

#: What is known of each file: {"size": bytes or None, "sha256": hex or None,
#: "md5": hex or None}. None means unknown, and that check is skipped.
#: Where the SHA256 of train/test come from: copied from mindee/doctr,
#: doctr/datasets/svhn.py (`SVHN.TRAIN` and `SVHN.TEST`, Apache 2.0), which
#: downloads these same official URLs and checks these hashes; on 2026-12-01 the
#: values were checked again, digit for digit, against that file as stored in a
#: public code index (mindee/doctr at commits 00792095, 2021-2022, and 16afdef7,
#: 2021-2023: the same values in both).
#: Nobody on this project has hashed the official files (no network access here),
#: so a mismatch may mean a wrong pin: the download is then kept, not deleted.
KNOWN_FILES = {
    "train.tar.gz": {
        "size": None,
        "sha256": "4b17bb33b6cd8f963493168f80143da956f28ec406cc12f8e5745a9f91a51898",
        "md5": None,
    },
    "test.tar.gz": {
        "size": None,
        "sha256": "57ac9ceb530e4aa85b55d991be8fc49c695b3d71c6f6a88afea86549efde7fb5",
        "md5": None,
    },
    "extra.tar.gz": {"size": None, "sha256": None, "md5": None},
}

USER_AGENT = "kerasvhn-downloader/1.0 (+https://arxiv.org/abs/1312.6082)"
_CHUNK = 1 << 16
# Errors while connecting that retrying a few seconds later will not fix: fail fast.
_NO_ROUTE = (errno.ECONNREFUSED, errno.ENETUNREACH, errno.EHOSTUNREACH, errno.ENETDOWN)
_sleep = time.sleep  # tests replace it


class DownloadError(RuntimeError):
    """A download or extraction failed; `url` names what was being fetched."""

    def __init__(self, message, url=None):
        super().__init__(message)
        self.url = url


class ChecksumMismatch(DownloadError):
    """A complete download whose size or checksum is not the expected one; the
    file is kept at `kept`. `algorithm` ("sha256", "md5" or "size"), `expected`
    and `actual` say what differed."""

    def __init__(self, message, url, algorithm, expected, actual, kept=None):
        super().__init__(message, url)
        self.algorithm, self.expected, self.actual, self.kept = algorithm, expected, actual, kept


class UnsafeArchiveError(DownloadError):
    """A tarball member would land outside the extraction folder (absolute path,
    '..', a link or a device file)."""


class _Retry(Exception):
    """Internal: this attempt failed in a way worth retrying."""


def split_url(split, base_url=OFFICIAL_URL):
    """The URL of a split's tarball: `split_url("train")` -> ".../train.tar.gz"."""
    if split not in SPLIT_FILES:
        raise ValueError(f"unknown SVHN split {split!r}; expected one of {sorted(SPLIT_FILES)}")
    return base_url.rstrip("/") + "/" + SPLIT_FILES[split]


def file_digest(path, algorithm="sha256"):
    """Hex digest of a file, read in chunks."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _verify(path, url, expected_size, sha256, md5):
    """Raises ChecksumMismatch if the file does not match what is known of it."""
    size = os.path.getsize(path)
    if expected_size is not None and size != expected_size:
        raise ChecksumMismatch(
            f"{url}: downloaded {size} bytes but expected {expected_size}", url, "size", expected_size, size
        )
    for algorithm, expected in (("sha256", sha256), ("md5", md5)):
        if expected:
            actual = file_digest(path, algorithm)
            if actual.lower() != expected.lower():
                raise ChecksumMismatch(
                    f"{url}: {algorithm} checksum mismatch: expected {expected}, got {actual}",
                    url, algorithm, expected, actual,
                )


def _keep(path, kept, error):
    """Moves a file that failed its checks to `kept`; returns the error to raise,
    saying where the file is and what to do."""
    os.replace(path, kept)
    if error.algorithm == "size":
        advice = "running again downloads it anew"
    else:
        name = kept.name[: -len(".mismatch")]
        advice = (
            f"if the file is right, give its {error.algorithm} (download_svhn(..., known={{{name!r}: "
            f"{{{error.algorithm!r}: ...}}}}) or fetch(..., {error.algorithm}=...)) and the kept file is "
            "used without downloading it again; otherwise running again downloads it anew"
        )
    message = (
        f"{error}. The downloaded file is kept as {kept}: it is corrupt, or changed on the server, or "
        f"the expected {error.algorithm} is wrong. Check it: {advice}"
    )
    return ChecksumMismatch(message, error.url, error.algorithm, error.expected, error.actual, kept)


def _adopt_kept(kept, dest, url, expected_size, sha256, md5):
    """Whether a file kept from an earlier mismatch passes the checksum given now
    (then it becomes dest). Without a checksum it is never trusted."""
    if not (sha256 or md5) or not kept.exists():
        return False
    try:
        _verify(kept, url, expected_size, sha256, md5)
    except ChecksumMismatch:
        return False
    os.replace(kept, dest)
    return True


def _content_range_total(header):
    """Total size from 'bytes a-b/total' or 'bytes */total' (None when '*')."""
    if not header or "/" not in header:
        return None
    total = header.rsplit("/", 1)[1].strip()
    return int(total) if total.isdigit() else None


def _content_range_start(header):
    try:
        return int(header.split()[1].split("-")[0])
    except (AttributeError, IndexError, ValueError):
        return None


def _connect_error_is_final(error):
    """True for 'no network' errors at connection time (refused, no route, DNS)."""
    reason = getattr(error, "reason", error)
    if isinstance(reason, socket.gaierror):
        return True
    return isinstance(reason, OSError) and reason.errno in _NO_ROUTE


def fetch(
    url,
    dest,
    expected_size=None,
    sha256=None,
    *,
    md5=None,
    retries=5,
    backoff=1.0,
    max_backoff=30.0,
    timeout=30.0,
    progress=True,
):
    """Downloads `url` to `dest`, resumably, verified, atomically; returns dest as a Path.

    Writes `dest.part` first, resuming it with `Range: bytes=N-` when it exists (a
    server that ignores Range and answers 200 restarts the download from byte 0).
    Dropped connections, timeouts and 5xx answers are retried at most `retries`
    times, sleeping `backoff * 2**k` seconds (capped at `max_backoff`) in between.
    Refused connections, unknown hosts and 4xx answers fail at once.

    After the last byte, the size is checked against the server's total and
    `expected_size`, and the file against `sha256` / `md5` when given; only then is
    `dest.part` renamed to `dest`. A file that fails the size or checksum check is
    kept as `dest.mismatch` (ChecksumMismatch says so); an exhausted retry budget
    keeps `dest.part` so that the next call resumes.

    If `dest` already exists and passes the same checks it is returned as is
    (no request is made); if it fails them it is moved to `dest.mismatch` (with a
    warning) and downloaded again. A `dest.mismatch` that passes a checksum given
    now becomes `dest` without a download.

    Raises:
        ChecksumMismatch: a complete file of the wrong size or checksum (a
            DownloadError naming both values and the kept file).
        DownloadError: naming the URL and what went wrong.
    """
    dest = Path(dest)
    part = dest.with_name(dest.name + ".part")
    kept = dest.with_name(dest.name + ".mismatch")
    if _usable_without_download(dest, kept, url, expected_size, sha256, md5):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    total = _download_with_retries(url, part, expected_size, timeout, progress, retries, backoff, max_backoff)
    _check_and_rename(part, dest, kept, url, total, expected_size, sha256, md5)
    return dest


def _usable_without_download(dest, kept, url, expected_size, sha256, md5):
    """Whether dest, or a kept mismatch that passes the checks given now, can be
    used as it is; a dest that fails them is moved to kept, with a warning."""
    if dest.exists():
        try:
            _verify(dest, url, expected_size, sha256, md5)
            return True
        except ChecksumMismatch as error:
            warnings.warn(str(_keep(dest, kept, error)), stacklevel=3)
    return _adopt_kept(kept, dest, url, expected_size, sha256, md5)


def _download_with_retries(url, part, expected_size, timeout, progress, retries, backoff, max_backoff):
    """Attempts until the .part file is complete, sleeping with exponential backoff
    in between; returns the size the server announced (None if unknown)."""
    # A fresh opener each call, so proxy settings are read from the environment now.
    opener = urllib.request.build_opener()
    failures = 0
    while True:
        try:
            return _attempt(opener, url, part, expected_size, timeout, progress)
        except _Retry as error:
            failures += 1
            if failures > retries:
                kept = f"; {part.stat().st_size} bytes kept in {part}" if part.exists() else ""
                raise DownloadError(
                    f"{url}: download failed after {retries} retries ({error.args[0]})"
                    f"{kept}; run again to resume",
                    url,
                ) from error.__cause__
            _sleep(min(max_backoff, backoff * 2 ** (failures - 1)))


def _check_and_rename(part, dest, kept, url, total, expected_size, sha256, md5):
    """Checks the complete .part file against the announced total and what is known
    of it, then renames it to dest; a size or checksum mismatch is kept."""
    got = part.stat().st_size
    if total is not None and got != total:
        part.unlink(missing_ok=True)
        raise DownloadError(f"{url}: got {got} bytes but the server announced {total}", url)
    try:
        _verify(part, url, expected_size, sha256, md5)
    except ChecksumMismatch as error:
        raise _keep(part, kept, error) from None
    os.replace(part, dest)


def _attempt(opener, url, part, expected_size, timeout, progress):
    """One request; returns the total size (None if unknown) once the .part file is
    complete. Raises _Retry for transient failures, DownloadError for final ones."""
    offset = _resume_offset(part, expected_size)
    request = _request(url, offset)
    try:
        response = opener.open(request, timeout=timeout)
    except urllib.error.HTTPError as error:
        return _total_if_already_complete(error, url, part, offset)
    except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
        raise _connection_failure(error, url, part) from error
    with response:
        offset, total, mode = _resumed_or_restarted(response, url, part, offset)
        _check_announced_size(url, part, total, expected_size)
        shown_total = total if total is not None else expected_size
        written = _write_body(response, part, mode, offset, shown_total, progress)
    if total is not None and written < total:
        raise _Retry(f"connection closed at byte {written} of {total}")
    return total


def _resume_offset(part, expected_size):
    """Bytes already in the .part file; a file larger than expected is started over."""
    offset = part.stat().st_size if part.exists() else 0
    if expected_size is not None and offset > expected_size:
        part.unlink()
        offset = 0
    return offset


def _request(url, offset):
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    return urllib.request.Request(url, headers=headers)


def _total_if_already_complete(error, url, part, offset):
    """Answers an HTTP error: returns the total when a 416 to a resume says the .part
    file already holds everything; otherwise raises _Retry or DownloadError."""
    error.close()
    if error.code == 416 and offset:
        total = _content_range_total(error.headers.get("Content-Range"))
        if total is not None and total == offset:
            return total
        part.unlink(missing_ok=True)
        raise _Retry(f"HTTP 416 for a resume at byte {offset}; starting over") from error
    if error.code >= 500 or error.code in (408, 429):
        raise _Retry(f"HTTP {error.code} {error.reason}") from error
    raise DownloadError(f"{url}: the server answered HTTP {error.code} {error.reason}", url) from error


def _connection_failure(error, url, part):
    """The exception to raise for a failed connection: a DownloadError for 'no
    network' (retrying will not help), else _Retry."""
    reason = getattr(error, "reason", error)
    if _connect_error_is_final(error):
        return DownloadError(
            f"could not connect to {url}: {reason}. Check the network connection "
            f"(or proxy settings); alternatively download the file by hand and put it "
            f"at {part.with_suffix('')}",
            url,
        )
    return _Retry(f"could not connect: {reason}")


def _resumed_or_restarted(response, url, part, offset):
    """(offset, total size or None, file mode) of an answer: a 206 resuming at
    offset appends, a 200 writes from byte 0."""
    status = response.status
    if status == 206 and offset:
        content_range = response.headers.get("Content-Range")
        if _content_range_start(content_range) != offset:
            part.unlink(missing_ok=True)
            raise _Retry(f"server resumed at the wrong offset ({content_range!r})")
        return offset, _content_range_total(content_range), "ab"
    if status == 200:
        # Either a fresh download or a server that ignored the Range: restart.
        length = response.headers.get("Content-Length")
        return 0, int(length) if length and length.isdigit() else None, "wb"
    raise DownloadError(f"{url}: unexpected HTTP status {status}", url)


def _check_announced_size(url, part, total, expected_size):
    if expected_size is not None and total is not None and total != expected_size:
        part.unlink(missing_ok=True)
        raise DownloadError(
            f"{url}: the server announces {total} bytes but {expected_size} are expected "
            "(has the file changed? override the known size to accept it)",
            url,
        )


def _write_body(response, part, mode, offset, shown_total, progress):
    """Copies the response into the .part file; returns its size. A dropped
    connection raises _Retry and keeps the bytes written."""
    bar = tqdm(
        total=shown_total,
        initial=offset,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        desc=part.name[: -len(".part")],
        disable=not progress,
        leave=False,
    )
    written = offset
    try:
        with open(part, mode) as handle:
            while True:
                block = response.read(_CHUNK)
                if not block:
                    break
                handle.write(block)
                written += len(block)
                bar.update(len(block))
    except (OSError, http.client.HTTPException) as error:
        # Dropped connection, timeout, IncompleteRead: keep the bytes, resume.
        raise _Retry(f"connection dropped at byte {written}: {error!r}") from error
    finally:
        bar.close()
    return written


def _check_member(member, root):
    name = member.name
    path = PurePosixPath(name)
    if name.startswith(("/", "\\")) or path.is_absolute() or (len(name) > 1 and name[1] == ":"):
        raise UnsafeArchiveError(f"refusing to extract {name!r}: absolute path")
    if ".." in path.parts or ".." in Path(name).parts:
        raise UnsafeArchiveError(f"refusing to extract {name!r}: '..' in the path")
    if not (member.isfile() or member.isdir()):
        raise UnsafeArchiveError(
            f"refusing to extract {name!r}: not a regular file or folder (links and "
            "devices are not expected in SVHN archives)"
        )
    target = (root / name).resolve()
    if target != root and root not in target.parents:
        raise UnsafeArchiveError(f"refusing to extract {name!r}: lands outside {root}")


def extract_tarball(archive, data_dir, split):
    """Extracts `archive` so that its files end up in `data_dir/split/`; returns that folder.

    Every member is checked before anything is written: absolute paths, '..',
    links and device files raise `UnsafeArchiveError`. Extraction goes to a
    temporary folder inside data_dir, renamed to `data_dir/split` at the end, so a
    `data_dir/split` folder is always complete. The official tarballs hold a
    top-level `split/` folder; an archive without one has its contents put there.
    If `data_dir/split` already exists, nothing is done.
    """
    data_dir = Path(data_dir)
    final = data_dir / split
    if final.exists():
        return final
    data_dir.mkdir(parents=True, exist_ok=True)
    staging = data_dir / f".{split}.extracting"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    root = staging.resolve()
    try:
        try:
            with tarfile.open(archive, "r:*") as tar:
                members = tar.getmembers()
                for member in members:
                    _check_member(member, root)
                if hasattr(tarfile, "data_filter"):
                    tar.extractall(staging, members=members, filter="data")
                else:  # pragma: no cover - Python < 3.11.4
                    tar.extractall(staging, members=members)
        except (tarfile.TarError, EOFError, OSError) as error:
            raise DownloadError(f"could not extract {archive}: {error}") from error
        entries = list(staging.iterdir())
        if len(entries) == 1 and entries[0].name == split and entries[0].is_dir():
            os.replace(entries[0], final)
            staging.rmdir()
        else:
            os.replace(staging, final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return final


def download_svhn(
    data_dir,
    splits=("train", "test"),
    base_url=OFFICIAL_URL,
    progress=True,
    *,
    known=None,
    extract=True,
    keep_archives=True,
    retries=5,
    backoff=1.0,
    timeout=30.0,
):
    """Downloads (resumably, verified) and extracts SVHN format-1 splits.

    Args:
        data_dir: where the tarballs go; split `s` is extracted to `data_dir/s/`
            (images 1.png, 2.png, ... and digitStruct.mat).
        splits: any of "train", "test", "extra" (extra is by far the largest).
        base_url: a mirror with the same file names.
        progress: show tqdm progress bars.
        known: overrides of `KNOWN_FILES` entries, e.g.
            `{"extra.tar.gz": {"sha256": "..."}}` (merged per file); a value of
            None skips that check.
        extract: extract the tarballs (skipped for splits already extracted).
        keep_archives: keep the .tar.gz after extraction (False deletes it).
        retries, backoff, timeout: passed to `fetch`.

    Returns:
        {split: Path} of the extracted folders (or of the archives if not extract).

    Raises:
        DownloadError: no network, HTTP errors, size or checksum mismatches (a
            `ChecksumMismatch`: the tarball is kept as `<name>.mismatch`),
            unsafe archive members.
    """
    if isinstance(splits, str):
        splits = (splits,)
    data_dir = Path(data_dir)
    table = _known_files(known)
    fetch_options = {"retries": retries, "backoff": backoff, "timeout": timeout, "progress": progress}
    return {
        split: _download_split(split, data_dir, base_url, table, extract, keep_archives, fetch_options)
        for split in splits
    }


def _known_files(known):
    """KNOWN_FILES with the entries of `known` merged in, file by file."""
    table = {name: dict(entry) for name, entry in KNOWN_FILES.items()}
    for name, entry in (known or {}).items():
        table.setdefault(name, {}).update(entry)
    return table


def _download_split(split, data_dir, base_url, table, extract, keep_archives, fetch_options):
    """Fetches one split's tarball and extracts it; returns the extracted folder
    (the archive when not extract)."""
    url = split_url(split, base_url)
    filename = SPLIT_FILES[split]
    folder = data_dir / split
    archive = data_dir / filename
    if extract and folder.exists():
        return folder
    entry = table.get(filename, {})
    fetch(
        url,
        archive,
        expected_size=entry.get("size"),
        sha256=entry.get("sha256"),
        md5=entry.get("md5"),
        **fetch_options,
    )
    if not extract:
        return archive
    try:
        folder = extract_tarball(archive, data_dir, split)
    except DownloadError as error:
        error.url = error.url or url
        raise
    if not keep_archives:
        archive.unlink()
    return folder
