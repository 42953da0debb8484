"""get_file under real faults: a file changed on the server mid-download, forked children and killed
processes around the cache lock, killed extractions, read-only caches, hash names that cannot work.

Every fault is real (a real HTTP server on 127.0.0.1, os.fork, SIGKILL, a folder the process cannot
write) and every wait has a deadline, so that a regression fails the test instead of hanging the run.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import psutil
import pytest
from _download_support import (
    REPO_ROOT,
    isolated_home_fixture,  # noqa: F401 - autouse fixture
    payload,
    python_child,
    server_fixture,  # noqa: F401 - the `server` fixture
    sha256,
    tar_bytes,
)
from _enqueuer_faults import finishes_within
from _http_server import TestServer

from kutils import get_file
from kutils.archives import STAGING_PREFIX
from kutils.errors import OfflineError

BIG = payload(3_000_000, seed=4)
CHANGED = payload(3_000_000, seed=5)  # the same file, changed on the server: same size, other bytes
DROP_AT = 2_500_000
NO_WAIT = {"retry_backoff": 0.0}
_DEADLINE = 60.0


# --- resuming only into the same version ------------------------------------------------------


def _strong_etag(body: bytes) -> str:
    return f'"{hashlib.sha256(body).hexdigest()[:16]}"'


@pytest.mark.parametrize("validators", ["etag", "last-modified"])
def test_resume_sends_if_range_and_restarts_when_the_file_changed(
    server: TestServer, tmp_path: Path, validators: str
):
    """The resume asks If-Range with the first answer's validator; the server, whose file changed, sends
    the whole new file, which is what gets cached (before: no If-Range, a file spliced from two versions)."""
    url = server.add(
        "/model.bin", BIG, faults=1, drop_after=DROP_AT, later_body=CHANGED, validators=validators
    )
    path = get_file("model.bin", url, cache_dir=tmp_path, **NO_WAIT)
    assert Path(path).read_bytes() == CHANGED
    route = server.routes["/model.bin"]
    assert route.ranges[1] is not None, "a resume was attempted"
    if validators == "etag":
        assert route.if_ranges[1] == _strong_etag(BIG)
    else:
        assert route.if_ranges[1] is not None
        assert route.if_ranges[1].endswith("GMT")


def test_resume_restarts_when_a_server_ignoring_if_range_sends_another_version(
    server: TestServer, tmp_path: Path
):
    """A 206 whose ETag differs from the first answer's (If-Range ignored): start over, never splice."""
    url = server.add(
        "/model.bin",
        BIG,
        faults=1,
        drop_after=DROP_AT,
        later_body=CHANGED,
        validators="etag",
        honour_if_range=False,
    )
    path = get_file("model.bin", url, cache_dir=tmp_path, **NO_WAIT)
    assert Path(path).read_bytes() == CHANGED
    assert server.routes["/model.bin"].ranges == [None, f"bytes={DROP_AT}-", None]


@pytest.mark.parametrize("validators", ["none", "weak-etag"])
def test_without_validator_or_hash_a_broken_transfer_downloads_whole(
    server: TestServer, tmp_path: Path, validators: str
):
    """No strong validator and no file_hash: the retry asks for the whole file (it resumed and spliced)."""
    url = server.add(
        "/model.bin", BIG, faults=1, drop_after=DROP_AT, later_body=CHANGED, validators=validators
    )
    path = get_file("model.bin", url, cache_dir=tmp_path, **NO_WAIT)
    assert Path(path).read_bytes() == CHANGED
    assert server.routes["/model.bin"].ranges == [None, None]


def test_without_validator_a_hash_checked_transfer_still_resumes(server: TestServer, tmp_path: Path):
    """With file_hash to check the result, a broken transfer resumes even without a validator."""
    url = server.add("/model.bin", BIG, faults=1, drop_after=DROP_AT)
    path = get_file("model.bin", url, file_hash=sha256(BIG), cache_dir=tmp_path, **NO_WAIT)
    assert Path(path).read_bytes() == BIG
    assert server.routes["/model.bin"].ranges[1] is not None


# --- hash names that cannot work --------------------------------------------------------------


@pytest.mark.parametrize(
    ("algorithm", "message"),
    [("shake_128", "any length"), ("shake_256", "any length"), ("whirlpool-9", "not a known hash")],
)
@pytest.mark.parametrize("with_hash", [True, False], ids=["file_hash", "no-file_hash"])
def test_unusable_hash_algorithm_is_refused_before_any_byte(
    server: TestServer, tmp_path: Path, algorithm: str, message: str, with_hash: bool
):
    """shake_128/shake_256 (need a length) and unknown names: ValueError up front, no request (shake
    raised TypeError after the whole download)."""
    url = server.add("/data.bin", BIG)
    file_hash = sha256(BIG) if with_hash else None
    with pytest.raises(ValueError, match=rf"hash_algorithm='{algorithm}' .*{message}"):
        get_file("data.bin", url, file_hash=file_hash, hash_algorithm=algorithm, cache_dir=tmp_path)
    assert server.requests("/data.bin") == 0
    assert not (tmp_path / "datasets" / "data.bin").exists()


# --- the cache lock, forked children and killed processes ---------------------------------------


def _forked_child_that_lives() -> tuple[int, int]:
    """Forks a child that lives until the returned pipe end is closed; returns (pid, write end)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: waits for the parent to close the pipe, touches nothing else
        os.close(write_end)
        os.read(read_end, 1)
        os._exit(0)
    os.close(read_end)
    return pid, write_end


def test_extract_in_a_thread_finishes_while_a_forked_child_lives(server: TestServer, tmp_path: Path):
    """A child forked while a thread downloads (holding the cache lock) must not hold that lock: the
    thread's extraction, which takes the lock again, finishes (it waited as long as the child lived)."""
    hold = threading.Event()
    url = server.add("/data.tar.gz", tar_bytes({"data/a.txt": b"alpha"}), hold=hold)
    result: dict[str, Any] = {}

    def fetch() -> None:
        result["path"] = get_file("data.tar.gz", url, cache_dir=tmp_path, extract=True)

    thread = threading.Thread(target=fetch, daemon=True)
    thread.start()
    assert server.routes["/data.tar.gz"].arrived.wait(_DEADLINE), "the download started, lock held"
    pid, keep_alive = _forked_child_that_lives()
    try:
        hold.set()
        thread.join(_DEADLINE)
        assert not thread.is_alive(), "get_file(extract=True) waited on a lock the forked child held"
    finally:
        os.close(keep_alive)
        os.waitpid(pid, 0)
    assert (tmp_path / "datasets" / "data" / "a.txt").read_bytes() == b"alpha"


_DOWNLOADER_THAT_FORKS = """
import os, signal, sys
from kutils import get_file

def fork_a_worker(*_):
    pid = os.fork()
    if pid == 0:  # a worker forked while the download holds the lock; lives until stdin closes
        os.read(0, 1)
        os._exit(0)
    print(pid, flush=True)

signal.signal(signal.SIGUSR1, fork_a_worker)
print("ready", flush=True)
get_file("big.bin", sys.argv[1], cache_dir=sys.argv[2])
"""


def test_sigkilled_downloader_never_blocks_a_later_call(server: TestServer, tmp_path: Path):
    """A downloader SIGKILLed while a worker it forked lives on: a later get_file of the same file
    finishes (the worker kept the lock, and later calls waited for it)."""
    hold = threading.Event()
    url = server.add("/big.bin", BIG, hold=hold)
    child = subprocess.Popen(
        [sys.executable, "-c", _DOWNLOADER_THAT_FORKS, url, str(tmp_path)],
        env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)),
        stdin=subprocess.PIPE,  # closed at the end: the forked worker then exits
        stdout=subprocess.PIPE,
        text=True,
    )
    child_stdin = child.stdin
    worker = 0
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        assert server.routes["/big.bin"].arrived.wait(_DEADLINE), "the child is downloading"
        os.kill(child.pid, signal.SIGUSR1)
        worker = int(_next_number(child.stdout))
        os.kill(child.pid, signal.SIGKILL)
        child.wait(_DEADLINE)
        hold.set()
        path = finishes_within(_DEADLINE, lambda: get_file("big.bin", url, cache_dir=tmp_path))
        assert Path(path).read_bytes() == BIG
    finally:
        hold.set()
        if child_stdin is not None:
            child_stdin.close()
        if worker:
            with contextlib.suppress(psutil.NoSuchProcess):
                psutil.Process(worker).wait(_DEADLINE)
        if child.poll() is None:
            child.kill()
            child.wait()


def _next_number(stream: Any) -> str:
    """The next line of `stream` that is a number (the child also prints get_file's messages)."""
    while not (line := stream.readline().strip()).isdigit():
        assert line, "the child ended without printing its worker's pid"
    return line


# --- a killed extraction ------------------------------------------------------------------------

_EXTRACTION_KILLED = """
import os, signal, sys
import kutils.archives
from kutils import get_file

def killed(*args, **kwargs):  # the whole archive sits in the staging folder now: SIGKILL ourselves
    os.kill(os.getpid(), signal.SIGKILL)

kutils.archives._plan_merge = killed
get_file("data.tar.gz", sys.argv[1], cache_dir=sys.argv[2], extract=True)
"""


def _staging_folders(folder: Path) -> list[str]:
    return sorted(name for name in os.listdir(folder) if name.startswith(STAGING_PREFIX))


@pytest.mark.parametrize("later_call", ["same-archive", "other-file"])
def test_killed_extraction_leaves_no_staging_folder_for_good(
    server: TestServer, tmp_path: Path, later_call: str
):
    """A process SIGKILLed during extract=True leaves a staging folder; the next get_file of that archive,
    or of any file in that folder, removes it (it stayed forever)."""
    url = server.add("/data.tar.gz", tar_bytes({"data/a.txt": b"alpha", "data/b.txt": b"beta"}))
    other = server.add("/other.bin", b"other")
    child = python_child(_EXTRACTION_KILLED, url, str(tmp_path))
    child.communicate(timeout=_DEADLINE)
    assert child.returncode == -signal.SIGKILL
    datasets = tmp_path / "datasets"
    assert len(_staging_folders(datasets)) == 1
    if later_call == "same-archive":
        get_file("data.tar.gz", url, cache_dir=tmp_path, extract=True)
        assert (datasets / "data" / "b.txt").read_bytes() == b"beta"
    else:
        get_file("other.bin", other, cache_dir=tmp_path)
    assert _staging_folders(datasets) == []


# --- no room for the file ------------------------------------------------------------------------

_OVER_THE_FILE_SIZE_LIMIT = """
import json, resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # over the limit, writes fail with EFBIG instead
resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))  # as a disk with 1 MiB left would
from kutils import get_file
try:
    get_file("big.bin", sys.argv[1], cache_dir=sys.argv[2])
except OSError as error:
    print(json.dumps({"type": type(error).__name__, "message": str(error), "cause": error.__cause__.errno}))
"""


def test_no_room_for_the_file_fails_at_once_naming_the_size_and_leaves_nothing(
    server: TestServer, tmp_path: Path
):
    """The space of the announced size is allocated before the body is read: a disk (here a file size
    limit) without room for it fails on the first attempt with a DownloadError, and no partial file."""
    url = server.add("/big.bin", BIG)
    child = python_child(_OVER_THE_FILE_SIZE_LIMIT, url, str(tmp_path))
    out, err = child.communicate(timeout=_DEADLINE)
    assert child.returncode == 0, err
    failure = json.loads(out.splitlines()[-1])  # after get_file's "Downloading data from ..." line
    assert failure["type"] == "DownloadError"
    assert f"cannot allocate the {len(BIG)} bytes" in failure["message"]
    assert "pass another cache_dir" in failure["message"]
    assert failure["cause"] == errno.EFBIG
    assert server.requests("/big.bin") == 1  # not retried: more attempts cannot make room
    left = {path.name for path in (tmp_path / "datasets").iterdir()}
    assert left == {".big.bin.kutils.lock"}  # the lock file every download of big.bin shares; no .part


# --- a read-only cache ---------------------------------------------------------------------------

_READ_ONLY_CALL = """
import json, sys, warnings
from kutils import get_file
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    path = get_file("data.bin", sys.argv[1], cache_dir=sys.argv[2], file_hash=sys.argv[3],
                    offline={"true": True, "env": None, "false": False}[sys.argv[4]])
print(json.dumps({"path": path, "warnings": [str(w.message) for w in caught]}))
"""


def _read_only_command(folder: Path, command: list[str]) -> list[str]:
    """`command`, run where `folder` cannot be written: by file mode for a normal user; for root (whom
    file modes do not stop), inside a private mount namespace where `folder` is a read-only bind mount."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        return command
    unshare = shutil.which("unshare")
    if unshare is None or subprocess.run([unshare, "-Urm", "true"], check=False).returncode != 0:
        pytest.fail(
            "running as root, a read-only folder needs util-linux's unshare(1) and user namespaces "
            "(apt-get install util-linux; sysctl user.max_user_namespaces > 0), or run the tests as a user"
        )
    mount = f'mount --bind {folder} {folder} && mount -o remount,bind,ro {folder} && exec "$@"'
    return [unshare, "-Urm", "sh", "-c", mount, "sh", *command]


@pytest.mark.parametrize("offline", ["true", "env", "false"])
def test_read_only_cache_serves_its_file(server: TestServer, tmp_path: Path, offline: str):
    """A valid file in a read-only cache folder (a shared mirror, a container image) is returned with
    offline=True, $KUTILS_OFFLINE=1 or online, with no request and no fallback warning (offline raised
    OfflineError; online downloaded it again into a temporary folder)."""
    cache = tmp_path / "mirror"
    (cache / "datasets").mkdir(parents=True)
    (cache / "datasets" / "data.bin").write_bytes(BIG)
    url = server.add("/data.bin", BIG)
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), KUTILS_OFFLINE="1" if offline == "env" else "")
    command = [sys.executable, "-c", _READ_ONLY_CALL, url, str(cache), sha256(BIG), offline]
    try:
        result = subprocess.run(
            _read_only_command(cache, command),
            env=env,
            capture_output=True,
            text=True,
            timeout=_DEADLINE * 2,
            check=False,
        )
    finally:
        cache.chmod(0o755)
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert answer["path"] == str(cache / "datasets" / "data.bin")
    assert answer["warnings"] == []
    assert server.requests("/data.bin") == 0


# --- a cached file changed underneath ----------------------------------------------------------


def test_cached_file_truncated_in_place_is_downloaded_again_without_a_hash(
    server: TestServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    """Without file_hash, Keras returned a cached file whatever happened to it. kutils recorded the hash of
    what it downloaded: a file cut short in place (a full disk, another program) is fetched again."""
    url = server.add("/data.bin", BIG)
    path = Path(get_file("data.bin", url, cache_dir=tmp_path, progress=False))
    os.truncate(path, 1000)
    assert Path(get_file("data.bin", url, cache_dir=tmp_path, progress=False)).read_bytes() == BIG
    assert server.requests("/data.bin") == 2
    assert f"it changed since it was downloaded ({len(BIG)} bytes then, 1000 now)" in capsys.readouterr().out


def test_cached_file_written_over_in_place_is_downloaded_again_offline_refused(
    server: TestServer, tmp_path: Path
):
    url = server.add("/data.bin", BIG)
    path = Path(get_file("data.bin", url, cache_dir=tmp_path, progress=False))
    with open(path, "r+b") as stream:  # same size, other bytes, later modification time
        stream.write(b"\0" * 4096)
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    with pytest.raises(OfflineError):
        get_file("data.bin", url, cache_dir=tmp_path, offline=True)
    assert Path(get_file("data.bin", url, cache_dir=tmp_path, progress=False)).read_bytes() == BIG
    assert server.requests("/data.bin") == 2


def test_cached_file_only_touched_or_replaced_by_another_program_is_used_as_it_is(
    server: TestServer, tmp_path: Path
):
    """Same bytes with a new modification time: hashed once, kept. Another file put in its place (another
    inode, as `cp` over it after removing it, or a rename) is the user's: used as it is, as Keras did."""
    url = server.add("/data.bin", BIG)
    path = Path(get_file("data.bin", url, cache_dir=tmp_path, progress=False))
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    assert Path(get_file("data.bin", url, cache_dir=tmp_path, progress=False)).read_bytes() == BIG
    replacement = tmp_path / "mine.bin"
    replacement.write_bytes(b"my own copy")
    os.replace(replacement, path)
    assert Path(get_file("data.bin", url, cache_dir=tmp_path, progress=False)).read_bytes() == b"my own copy"
    assert server.requests("/data.bin") == 1


# --- temporary files of a killed downloader ----------------------------------------------------

_SLOW_DOWNLOADER = """
import sys
from kutils import get_file
get_file("big.bin", sys.argv[1], cache_dir=sys.argv[2], progress=False)
"""


def test_next_download_removes_the_temporary_file_of_a_sigkilled_downloader_at_once(
    server: TestServer, tmp_path: Path
):
    """A downloader SIGKILLed mid-body leaves its `.part` file (its space allocated in full). The next
    download of that name holds the cache lock, so no live process owns such a file: it is removed then,
    not an hour later. A `.part` of another name that shares the prefix (`big.bin.gz`) stays."""
    url = server.add("/big.bin", BIG, chunk_size=16 << 10, delay=0.05)
    child = python_child(_SLOW_DOWNLOADER, url, str(tmp_path))
    try:
        assert server.wait_for_bytes("/big.bin", 64 << 10, timeout=_DEADLINE), "the child is downloading"
        os.kill(child.pid, signal.SIGKILL)
        child.wait(_DEADLINE)
    finally:
        child.kill()
    datasets = tmp_path / "datasets"
    left = [path.name for path in datasets.glob(".big.bin.*.part")]
    assert len(left) == 1, left
    other = datasets / ".big.bin.gz.0123456789ab.part"  # another file's download
    other.write_bytes(b"partial")
    server.routes["/big.bin"].delay = 0.0
    assert Path(get_file("big.bin", url, cache_dir=tmp_path, progress=False)).read_bytes() == BIG
    assert sorted(path.name for path in datasets.glob("*.part")) == [other.name]
