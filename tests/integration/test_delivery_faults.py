"""The fault tests of the Reliability section, small enough for CI (the full-size
runs are ``bench/reliability.py``): real ``jooksms serve``, ``jooksms worker`` and
``jooksms smsc-sim`` processes."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import POSTGRES_URL
from tests.helpers.fault_runs import Figures, killed_worker_run, terminated_connections_run
from tests.helpers.live import jooksms, throwaway_postgres

pytestmark = pytest.mark.slow
needs_postgres = pytest.mark.skipif(not POSTGRES_URL, reason="JOOKSMS_TEST_POSTGRES_URL is not set")
LEASE = 3
IN_FLIGHT = 200


def _assert_worker_kill_promises(figures: Figures) -> None:
    assert figures.lost == 0, figures
    assert 0 <= figures.duplicates <= IN_FLIGHT, figures
    assert figures.time_to_final <= LEASE + 10, figures


def test_a_killed_sqlite_worker_loses_nothing(tmp_path: Path) -> None:
    """SIGKILL of the only worker; a new one takes its messages back after the lease."""
    figures = killed_worker_run(
        f"sqlite:///{tmp_path / 'k.db'}",
        tmp_path,
        count=2000,
        lease=LEASE,
        in_flight=IN_FLIGHT,
        survivors=0,
    )
    _assert_worker_kill_promises(figures)


@needs_postgres
def test_a_killed_postgres_worker_loses_nothing(tmp_path: Path) -> None:
    """Two workers on one queue, one SIGKILLed: the other finishes, the dead one's
    messages included once their lease runs out."""
    assert POSTGRES_URL
    with throwaway_postgres(POSTGRES_URL) as db_url:
        jooksms("db", "upgrade", database_url=db_url)
        figures = killed_worker_run(
            db_url, tmp_path, count=5000, lease=LEASE, in_flight=IN_FLIGHT, survivors=1
        )
    _assert_worker_kill_promises(figures)


@needs_postgres
def test_every_database_connection_terminated_while_clients_send(tmp_path: Path) -> None:
    assert POSTGRES_URL
    with throwaway_postgres(POSTGRES_URL) as db_url:
        figures, recovered = terminated_connections_run(
            db_url, tmp_path, clients=4, batch=20, faults=3, every=1.0
        )
    assert figures.terminated >= 3, figures
    assert figures.messages > 0, figures
    assert figures.lost == 0, figures
    assert figures.created_twice == 0, figures
    assert figures.duplicates == 0, figures
    assert figures.server_errors_but_503 == 0, figures
    assert not [k for k in figures.answers if k[0].isalpha() and not k.startswith("healthz")], (
        figures
    )
    assert figures.answers.get("healthz after: 200") == 1, figures
    assert recovered, figures
