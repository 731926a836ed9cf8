"""Polling for what a background thread or server process does (scoring, webhooks, jobs): one
helper, so every live test fails the same way, naming what did not happen in time."""

from __future__ import annotations

import time
from typing import Callable, TypeVar

T = TypeVar("T")


def wait_for(predicate: Callable[[], T], timeout: float, what: str, poll: float = 0.05) -> T:
    """The first truthy value of `predicate()`, polled every `poll` seconds; an AssertionError
    saying "`what` not within `timeout` s" when none comes in time."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what} not within {timeout} s"
        time.sleep(poll)
