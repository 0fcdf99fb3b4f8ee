"""`outfall run` restarts a process of the table that dies instead of stopping everything."""

from __future__ import annotations

import os
import time

from outfall.processes import Process
from outfall.supervisor import BACKOFF_S, Child
from tests.support import wait_for


def test_a_dead_process_is_restarted_after_a_backoff() -> None:
    # `outfall db upgrade` without a database exits at once with an error: a process that keeps dying.
    env = {k: v for k, v in os.environ.items() if k != "OUTFALL_DATABASE_URL"}
    child = Child(Process("failing", ("db", "upgrade")), ("db", "upgrade"), env)
    child.start()
    first = child.popen
    assert first is not None
    first.wait(timeout=60)
    died = time.monotonic()
    child.check(died)
    assert child.restart_at is not None and child.restart_at >= died + BACKOFF_S[0]
    assert child.failures == 1
    child.check(died)  # before the backoff: still waiting
    assert child.popen is first
    wait_for(lambda: time.monotonic() >= child.restart_at, timeout=10)  # type: ignore[operator]
    child.check(time.monotonic())
    assert child.popen is not first and child.restart_at is None
    child.popen.wait(timeout=60)
    child.check(time.monotonic())
    assert child.failures == 2  # a second quick death: a longer backoff next time


def test_a_finished_demo_process_is_not_restarted() -> None:
    child = Child(Process("sim", ("--help",), demo=True), ("--help",), dict(os.environ))
    child.start()
    assert child.popen is not None
    child.popen.wait(timeout=60)
    child.check(time.monotonic())
    assert child.popen is None and child.restart_at is None
