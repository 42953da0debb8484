"""Peak anonymous resident memory (RssAnon) of this process, sampled in a thread (Linux)."""

from __future__ import annotations

import threading
import time
from types import TracebackType


def rss_anon_bytes() -> int:
    """RssAnon of this process, in bytes, from /proc/self/status."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no RssAnon line in /proc/self/status")


class PeakRssAnon:
    """`with PeakRssAnon() as peak: ...` then `peak.growth`: highest RssAnon minus RssAnon at entry."""

    def __init__(self, interval: float = 0.002) -> None:
        self.interval = interval
        self.start = self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> PeakRssAnon:
        self.start = self.peak = rss_anon_bytes()
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_anon_bytes())
            time.sleep(self.interval)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_anon_bytes())

    @property
    def growth(self) -> int:
        """Peak RssAnon minus RssAnon at entry, in bytes."""
        return self.peak - self.start
