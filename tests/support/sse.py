"""A server-sent-events reader for tests: a real HTTP stream (httpx), read in a thread, each
event with the wall-clock time it arrived."""

from __future__ import annotations

import contextlib
import json
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass
class Received:
    at: float  # time.time() on arrival
    id: str | None
    event: str  # "message" for resource events
    data: Any


class SseStream:
    def __init__(self, url: str, token: str | None, **headers: str) -> None:
        hdrs = {"Accept": "text/event-stream", **headers}
        if token:
            hdrs["X-Auth-Token"] = token
        self.client = httpx.Client(timeout=httpx.Timeout(10.0, read=None))
        self._cm = self.client.stream("GET", url, headers=hdrs)
        self.response = self._cm.__enter__()
        self.events: queue.Queue[Received | None] = queue.Queue()
        if self.response.status_code == 200:
            threading.Thread(target=self._read, daemon=True).start()
        else:
            self.response.read()

    def _read(self) -> None:
        fields: dict[str, str] = {}
        try:
            for line in self.response.iter_lines():
                if line == "":
                    if "data" in fields:
                        self.events.put(Received(time.time(), fields.get("id"),
                                                 fields.get("event", "message"),
                                                 json.loads(fields["data"])))
                    fields = {}
                elif not line.startswith(":"):
                    key, _, value = line.partition(":")
                    fields[key] = value.removeprefix(" ")
        except (httpx.HTTPError, OSError, ValueError):
            pass
        self.events.put(None)  # the stream ended

    def next(self, timeout: float = 10.0) -> Received | None:
        """The next event; None when the stream ended or nothing came in ``timeout``."""
        try:
            return self.events.get(timeout=timeout)
        except queue.Empty:
            return None

    def until(self, pred: Any, timeout: float = 10.0) -> Received:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            got = self.next(left)
            if got is None:
                break
            if pred(got):
                return got
        raise AssertionError("the awaited event did not come")

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._cm.__exit__(None, None, None)
        self.client.close()

    def __enter__(self) -> SseStream:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
