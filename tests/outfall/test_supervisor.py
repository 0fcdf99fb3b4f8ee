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


def test_the_demo_simulator_resumes_where_the_stored_data_ends(services, make_park) -> None:  # type: ignore[no-untyped-def]
    """A second `outfall run` must not send stored history again (other values would be second values
    of stored readings): the simulator starts where the park's data ends."""
    import argparse
    from datetime import UTC, datetime, timedelta
    from pathlib import Path

    import psycopg

    from outfall.supervisor import children
    from outfall.tasks import resume_time

    park = make_park().id
    assert resume_time(services.database_url, park, timedelta(hours=3)) is None
    last = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=20)
    with psycopg.connect(services.database_url) as conn:
        (point,) = conn.execute(
            "SELECT id FROM points WHERE park_id = %s AND code = 'total' LIMIT 1", (park,)
        ).fetchone()
        conn.execute(
            "INSERT INTO readings (point_id, parameter_id, time, value, flag, source)"
            " SELECT %s, id, %s, 40, 'N', 'test' FROM parameters WHERE code = 'cod'",
            (point, last),
        )
    resume = resume_time(services.database_url, park, timedelta(hours=3))
    assert resume == last + timedelta(seconds=1)
    args = argparse.Namespace(no_simulator=False, speed=600.0, scenario=None, park=[Path("p.yaml")])
    sims = [c for c in children(args, {}, [Path("p.yaml")], resume) if c.process.demo]
    assert len(sims) == 2  # MQTT JSON and the HJ 212-2025 TCP loggers: both start where the data ends
    assert all(sim.args[sim.args.index("--start") + 1] == resume.isoformat() for sim in sims)


def test_the_demo_simulator_publishes_with_the_loggers_credentials() -> None:
    """With a broker of accounts, `outfall run` hands the simulator the file of `outfall broker provision`."""
    import argparse
    from pathlib import Path

    from outfall.supervisor import children

    args = argparse.Namespace(no_simulator=False, speed=600.0, scenario=None, park=[Path("p.yaml")])
    creds = Path("/tmp/credentials.json")
    sims = [c for c in children(args, {}, [Path("p.yaml")], None, creds) if c.process.demo]
    assert sims and all(sim.args[sim.args.index("--credentials") + 1] == str(creds) for sim in sims)
    assert all("--credentials" not in c.args for c in children(args, {}, [Path("p.yaml")]) if c.process.demo)
