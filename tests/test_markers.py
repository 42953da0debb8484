"""The `network` and `processes` markers say what a test does (tests/conftest.py adds them).

`pytest -m "not network"` leaves out every test that talks to the loopback HTTP server;
`pytest -m "not processes"` every test that starts or signals another process.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from _download_support import server_fixture  # noqa: F401
from _http_server import TestServer


def test_a_test_of_the_loopback_server_is_marked_network(server: TestServer, request: pytest.FixtureRequest):
    assert server.url("/").startswith("http://127.0.0.1:")
    assert request.node.get_closest_marker("network") is not None
    assert request.node.get_closest_marker("processes") is None


def _child_python_version() -> str:
    return subprocess.run(
        [sys.executable, "-c", "import sys; print(sys.version_info[0])"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout.strip()


def test_a_test_that_starts_a_process_through_a_helper_is_marked_processes(request: pytest.FixtureRequest):
    assert _child_python_version() == "3"
    assert request.node.get_closest_marker("processes") is not None
    assert request.node.get_closest_marker("network") is None


def test_a_test_that_does_neither_carries_neither_marker(request: pytest.FixtureRequest):
    assert sum(range(4)) == 6
    assert request.node.get_closest_marker("processes") is None
    assert request.node.get_closest_marker("network") is None
