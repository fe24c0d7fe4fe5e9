"""A watch on the dedicated line while ``upload`` or ``download`` work (external PC).

botocore retries each request up to ``aws.max_attempts`` times, each attempt waiting up to
``connect_timeout + read_timeout``: with the example configuration a frozen line would be
minutes of silence per request. The watch counts every answer from the cloud (any HTTP
response, errors included) as a sign of life. While none comes it says so on stderr every
``aws.stall_notice_seconds``; after ``aws.give_up_seconds`` without an answer it stops: no
request is sent any more (the next attempt of each one in flight fails at once), so the
command ends with exit code 7 at most ``give_up + connect_timeout + read_timeout`` seconds
after the last answer. The work resumes when run again (the journal).
"""

from __future__ import annotations

import sys
import threading
import time

from yomitori_agent.errors import NetworkError


class LineFrozen(NetworkError):
    """The line gave no answer for longer than the configured bound."""


class LineWatch:
    """Attach to a boto3 client with :meth:`attach`; use as a context manager around the work."""

    def __init__(self, what: str, *, notice: float, give_up: float):
        self._what, self._notice, self._give_up = what, notice, give_up
        self._last = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="line-watch", daemon=True)
        self.gave_up = False

    def attach(self, client) -> None:
        events = client.meta.events
        events.register("before-send", self._before_send)
        events.register("response-received", self._answered)

    def __enter__(self) -> LineWatch:
        self._last = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._stop.set()
        self._thread.join()

    def _answered(self, response_dict=None, **_kw) -> None:
        if response_dict is not None:
            self._last = time.monotonic()

    def _before_send(self, **_kw) -> None:
        if self.gave_up:
            raise LineFrozen(f"{self._what}: the line gave no answer for {self._give_up:.0f} s; stopped.")

    def _run(self) -> None:
        told = 0.0
        while not self._stop.wait(min(1.0, self._notice)):
            idle = time.monotonic() - self._last
            if idle < self._notice:
                told = 0.0
                continue
            if idle >= self._give_up and not self.gave_up:
                self.gave_up = True
                print(f"yomitori-agent: {self._what}: no answer from the line for {idle:.0f} s: giving up "
                      "(requests in flight end within their timeout).", file=sys.stderr, flush=True)
            elif idle - told >= self._notice and not self.gave_up:
                told = idle
                print(f"yomitori-agent: {self._what}: no answer from the line for {idle:.0f} s; "
                      f"still trying (gives up after {self._give_up:.0f} s without an answer).",
                      file=sys.stderr, flush=True)
