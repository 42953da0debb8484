"""get_file against a misbehaving server: retries, resume, truncation, kills and concurrent processes."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from _download_support import (  # noqa: F401
    REPO_ROOT,
    isolated_home_fixture,
    payload,
    python_child,
    server_fixture,
    sha256,
)
from _http_server import TestServer

from kutils.download import DownloadError, get_file

DATA = payload(500_000, seed=1)
# Bigger than get_file's 1 MiB read size, so that a drop after DROP_AT leaves whole chunks to resume from.
BIG = payload(3_000_000, seed=4)
DROP_AT = 2_500_000
NO_WAIT = {"retry_backoff": 0.0}


def cache_entries(cache: Path) -> list[str]:
    """Names in the datasets folder other than the hidden lock file."""
    folder = cache / "datasets"
    return sorted(n for n in os.listdir(folder) if not n.endswith(".kutils.lock")) if folder.exists() else []


def test_server_errors_are_retried_until_success(server: TestServer, tmp_path: Path):
    """Two 500 answers then a good one: the file arrives after three requests."""
    url = server.add("/flaky.bin", DATA, status=500, faults=2)
    path = get_file("flaky.bin", url, cache_dir=tmp_path, retries=3, **NO_WAIT)
    assert Path(path).read_bytes() == DATA
    assert server.requests("/flaky.bin") == 3


def test_retries_exhausted_raise_and_cache_nothing(server: TestServer, tmp_path: Path, capsys):
    """A server that always answers 503 costs retries+1 requests, then DownloadError; nothing is cached."""
    url = server.add("/down.bin", DATA, status=503)
    with pytest.raises(DownloadError, match=r"down\.bin : 503") as info:
        get_file("down.bin", url, cache_dir=tmp_path, retries=2, **NO_WAIT)
    assert info.value.status == 503
    assert server.requests("/down.bin") == 3
    assert cache_entries(tmp_path) == []
    assert capsys.readouterr().out.count("Retrying in") == 2


def test_backoff_doubles_and_is_capped(server: TestServer, tmp_path: Path, capsys, monkeypatch):
    """The wait before each retry starts at retry_backoff, doubles, and stops growing at the cap."""
    import kutils._transfer

    monkeypatch.setattr(kutils._transfer, "_MAX_BACKOFF", 0.05)
    url = server.add("/down.bin", DATA, status=503)
    with pytest.raises(DownloadError):
        get_file("down.bin", url, cache_dir=tmp_path, retries=3, retry_backoff=0.02)
    waits = re.findall(r"Retrying in ([0-9.]+) s", capsys.readouterr().out)
    assert waits == ["0.02", "0.04", "0.05"]


def test_dropped_connection_resumes_with_range(server: TestServer, tmp_path: Path):
    """A connection dropped mid-body is resumed with an HTTP Range request, not restarted."""
    url = server.add("/drop.bin", BIG, faults=1, drop_after=DROP_AT)
    path = get_file("drop.bin", url, file_hash=sha256(BIG), cache_dir=tmp_path, **NO_WAIT)
    assert Path(path).read_bytes() == BIG
    route = server.routes["/drop.bin"]
    assert route.ranges[0] is None
    resumed_at = int(route.ranges[1].removeprefix("bytes=").removesuffix("-"))
    assert 0 < resumed_at <= DROP_AT
    assert route.bytes_sent == DROP_AT + len(BIG) - resumed_at


def test_body_is_read_in_place_and_the_urllib3_fallback_also_resumes(
    server: TestServer, tmp_path: Path, monkeypatch
):
    """The body is read with http.client's readinto; urllib3's readinto (the fallback) gives the same file."""
    import requests

    import kutils._transfer

    with requests.get(server.add("/probe.bin", DATA), stream=True, timeout=30) as response:
        assert kutils._transfer._body_reader(response) == response.raw._fp.readinto
    monkeypatch.setattr(kutils._transfer, "_body_reader", lambda response: response.raw.readinto)
    url = server.add("/drop.bin", BIG, faults=1, drop_after=DROP_AT)
    path = get_file("drop.bin", url, file_hash=sha256(BIG), cache_dir=tmp_path, **NO_WAIT)
    assert Path(path).read_bytes() == BIG
    assert server.routes["/drop.bin"].ranges[1] is not None  # the drop was resumed, not restarted


def test_chunked_body_cut_short_is_resumed(server: TestServer, tmp_path: Path):
    """A chunked answer (no Content-Length) cut mid-body is caught and resumed with Range."""
    url = server.add("/chunked.bin", BIG, faults=1, drop_after=DROP_AT, chunked=True)
    path = get_file("chunked.bin", url, file_hash=sha256(BIG), cache_dir=tmp_path, **NO_WAIT)
    assert Path(path).read_bytes() == BIG
    ranges = server.routes["/chunked.bin"].ranges
    assert ranges[0] is None
    assert 0 < int(ranges[1].removeprefix("bytes=").removesuffix("-")) <= DROP_AT


def test_retries_count_again_while_the_download_makes_headway(server: TestServer, tmp_path: Path):
    """A link that breaks on every answer but gets further each time finishes, even with retries=1."""
    url = server.add("/flaky-link.bin", BIG, drop_after=1_200_000)
    path = get_file("flaky-link.bin", url, file_hash=sha256(BIG), cache_dir=tmp_path, retries=1, **NO_WAIT)
    assert Path(path).read_bytes() == BIG
    assert server.requests("/flaky-link.bin") == 3


def test_server_ignoring_range_restarts_cleanly(server: TestServer, tmp_path: Path):
    """When the server answers a Range request with the whole file, the download starts over cleanly."""
    url = server.add("/norange.bin", BIG, faults=1, drop_after=DROP_AT, ignore_range=True)
    path = get_file("norange.bin", url, file_hash=sha256(BIG), cache_dir=tmp_path, **NO_WAIT)
    assert Path(path).read_bytes() == BIG
    route = server.routes["/norange.bin"]
    assert route.ranges[0] is None
    assert route.ranges[1] is not None
    assert route.bytes_sent == DROP_AT + len(BIG)


def test_unsatisfiable_range_restarts_from_scratch(server: TestServer, tmp_path: Path):
    """A 416 answer to a resume request (the file shrank on the server) restarts the download from zero.

    The server sends Last-Modified (so a resume is allowed without file_hash) but ignores If-Range.
    """
    smaller = BIG[:100_000]
    url = server.add(
        "/shrunk.bin",
        BIG,
        faults=1,
        drop_after=DROP_AT,
        later_body=smaller,
        validators="last-modified",
        honour_if_range=False,
    )
    path = get_file("shrunk.bin", url, cache_dir=tmp_path, **NO_WAIT)
    assert Path(path).read_bytes() == smaller
    ranges = server.routes["/shrunk.bin"].ranges
    assert (ranges[0], ranges[2]) == (None, None)
    assert ranges[1] is not None


def test_lying_content_length_is_never_cached(server: TestServer, tmp_path: Path):
    """A body shorter than its Content-Length is refused on every attempt: DownloadError, nothing cached."""
    url = server.add("/short.bin", DATA, content_length=len(DATA) + 1000)
    with pytest.raises(DownloadError, match=r"short\.bin") as info:
        get_file("short.bin", url, cache_dir=tmp_path, retries=2, **NO_WAIT)
    assert str(len(DATA) + 1000) in str(info.value)
    assert server.requests("/short.bin") == 3
    assert cache_entries(tmp_path) == []


def test_truncation_without_hash_is_detected(server: TestServer, tmp_path: Path):
    """Without any hash, a truncated first answer is still caught by the length check and fixed."""
    url = server.add("/trunc.bin", DATA, faults=1, content_length=len(DATA) + 10)
    path = get_file("trunc.bin", url, cache_dir=tmp_path, **NO_WAIT)
    assert Path(path).read_bytes() == DATA


def test_redirects_are_followed(server: TestServer, tmp_path: Path):
    """A 302 to another path is followed."""
    server.add("/real.bin", DATA)
    url = server.add("/moved.bin", redirect_to="/real.bin")
    path = get_file("moved.bin", url, file_hash=sha256(DATA), cache_dir=tmp_path)
    assert Path(path).read_bytes() == DATA


def test_slow_server_times_out(server: TestServer, tmp_path: Path):
    """A server slower than `timeout` between chunks raises DownloadError; nothing is cached."""
    url = server.add("/slow.bin", DATA, chunk_size=100_000, delay=2.0)
    with pytest.raises(DownloadError, match=r"slow\.bin"):
        get_file("slow.bin", url, cache_dir=tmp_path, timeout=0.3, retries=0)
    assert cache_entries(tmp_path) == []


@pytest.mark.parametrize("lock", ["held", "unavailable"])
def test_stale_partial_downloads_are_cleaned(server: TestServer, tmp_path: Path, lock: str):
    """Temporary files of dead downloads: all of them go when the cache lock keeps other processes out;
    without the lock (here its file cannot be opened), only those untouched for an hour."""
    folder = tmp_path / "datasets"
    folder.mkdir()
    old, recent = folder / ".data.bin.dead00000000.part", folder / ".data.bin.0123456789ab.part"
    old.write_bytes(b"partial")
    recent.write_bytes(b"partial")
    two_hours_ago = time.time() - 7200
    os.utime(old, (two_hours_ago, two_hours_ago))
    if lock == "unavailable":
        (folder / ".data.bin.kutils.lock").mkdir()
    get_file("data.bin", server.add("/data.bin", DATA), cache_dir=tmp_path)
    assert not old.exists()
    assert recent.exists() == (lock == "unavailable")


def test_threads_share_one_transfer(server: TestServer, tmp_path: Path):
    """Four threads asking for one file at once cause one transfer and all get the file."""
    url = server.add("/shared.bin", DATA, chunk_size=50_000, delay=0.02)
    results: list[str] = []

    def fetch() -> None:
        results.append(get_file("shared.bin", url, file_hash=sha256(DATA), cache_dir=tmp_path))

    threads = [threading.Thread(target=fetch) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(results) == 4
    assert len(set(results)) == 1
    assert Path(results[0]).read_bytes() == DATA
    assert server.requests("/shared.bin") == 1


def test_threads_without_the_lock_still_get_a_valid_file(server: TestServer, tmp_path: Path, monkeypatch):
    """With the lock doing nothing (some NFS mounts), racing threads each download; all files are whole."""
    import kutils.download

    monkeypatch.setattr(kutils.download, "_cache_lock", lambda fpath: contextlib.nullcontext())
    url = server.add("/raced.bin", DATA, chunk_size=50_000, delay=0.1)
    results: list[str] = []

    def fetch() -> None:
        results.append(get_file("raced.bin", url, cache_dir=tmp_path))

    threads = [threading.Thread(target=fetch) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert results == [str(tmp_path / "datasets" / "raced.bin")] * 4
    assert Path(results[0]).read_bytes() == DATA
    assert server.requests("/raced.bin") == 4  # the lock really was off: every thread transferred
    assert cache_entries(tmp_path) == [".raced.bin.kutils.json", "raced.bin"]


_KILLED_CHILD = """
import sys
from kutils.download import get_file
get_file("big.bin", sys.argv[1], cache_dir=sys.argv[2], retries=0)
"""


@pytest.mark.slow
def test_sigkill_mid_download_leaves_no_cache_entry(server: TestServer, tmp_path: Path):
    """SIGKILL mid-transfer (three times) never leaves a file under the final name; the next call works."""
    big = payload(3_000_000, seed=2)
    slow_url = server.add("/big-slow.bin", big, chunk_size=32_768, delay=0.02)
    final = tmp_path / "datasets" / "big.bin"
    for _ in range(3):
        already = server.bytes_sent("/big-slow.bin")
        child = python_child(_KILLED_CHILD, slow_url, str(tmp_path))
        started = server.wait_for_bytes("/big-slow.bin", already + 200_000, timeout=60)
        assert started, ("the child never got 200 kB into the download", child.poll())
        child.kill()
        child.communicate(timeout=60)
        assert not final.exists()
        assert not (tmp_path / "datasets" / ".big.bin.kutils.json").exists()
    path = get_file("big.bin", server.add("/big.bin", big), cache_dir=tmp_path)
    assert Path(path).read_bytes() == big


def test_ctrl_c_mid_download_leaves_nothing_behind(server: TestServer, tmp_path: Path):
    """SIGINT (Ctrl-C) mid-transfer raises KeyboardInterrupt and removes the temporary file as well."""
    big = payload(3_000_000, seed=2)
    url = server.add("/big-slow.bin", big, chunk_size=32_768, delay=0.02)
    child = python_child(_KILLED_CHILD, url, str(tmp_path))
    started = server.wait_for_bytes("/big-slow.bin", 200_000, timeout=60)
    assert started, ("the child never got 200 kB into the download", child.poll())
    child.send_signal(signal.SIGINT)
    _, stderr = child.communicate(timeout=60)
    assert child.returncode != 0
    assert "KeyboardInterrupt" in stderr
    assert cache_entries(tmp_path) == []


_SHARING_CHILD = """
import hashlib, sys
from kutils.download import get_file
print("ready", flush=True)  # imports done
sys.stdin.readline()  # the start signal, so that all eight ask at once
path = get_file("shared.bin", sys.argv[1], file_hash=sys.argv[3], cache_dir=sys.argv[2], retries=0)
with open(path, "rb") as stream:
    print(hashlib.sha256(stream.read()).hexdigest(), path)
"""


@pytest.mark.slow
def test_eight_processes_share_one_transfer(server: TestServer, tmp_path: Path):
    """Eight processes started together on one URL: one transfer, the others wait, all get a valid file."""
    data = payload(1_000_000, seed=3)
    url = server.add("/shared.bin", data, chunk_size=65_536, delay=0.1)
    children = [python_child(_SHARING_CHILD, url, str(tmp_path), sha256(data)) for _ in range(8)]
    for child in children:
        assert child.stdout is not None
        assert child.stdout.readline() == "ready\n", child.communicate()
    for child in children:
        assert child.stdin is not None
        child.stdin.write("go\n")
        child.stdin.flush()
    outputs = [child.communicate(timeout=120) for child in children]
    assert [child.returncode for child in children] == [0] * 8, outputs
    lines = {out.strip().splitlines()[-1] for out, _ in outputs}
    assert lines == {f"{sha256(data)} {tmp_path / 'datasets' / 'shared.bin'}"}
    assert server.requests("/shared.bin") == 1
    assert sum("Downloading data from" in out for out, _ in outputs) == 1
    assert any("Waiting for another process" in out for out, _ in outputs)


_TERMINAL_CHILD = """
import sys
from kutils.download import get_file
get_file("tty.bin", sys.argv[1], cache_dir=sys.argv[2])
"""


def test_progress_bar_on_a_terminal_by_default(server: TestServer, tmp_path: Path):
    """With progress=None and stdout a terminal (a real pty), the Progbar redraws in place up to the size."""
    import pty

    url = server.add("/tty.bin", DATA)
    leader, follower = pty.openpty()
    child = subprocess.Popen(
        [sys.executable, "-c", _TERMINAL_CHILD, url, str(tmp_path)],
        stdout=follower,
        stderr=subprocess.PIPE,
        env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)),
    )
    os.close(follower)
    output = b""
    with contextlib.suppress(OSError):  # EIO once the child has exited and the pty is drained
        while chunk := os.read(leader, 65536):
            output += chunk
    os.close(leader)
    assert child.wait(timeout=60) == 0, child.stderr.read() if child.stderr else ""
    text = output.decode()
    assert "\r" in text
    assert f"{len(DATA)}/{len(DATA)} [" in text
