"""Start Prefect's local (ephemeral) API one process at a time.

Without ``PREFECT_API_URL`` every ``fairway`` process starts its own local Prefect server on
the shared Prefect home database. Two workers started together would both create the
database's tables and one of them fails (``table ... already exists``). The first process to
take the lock creates them; the others start their servers after it.
"""

from __future__ import annotations

import fcntl

__all__ = ["start_local_api"]


def start_local_api() -> None:
    """Start this process's local Prefect server under a lock in the Prefect home.

    Does nothing when a Prefect API is configured or ephemeral servers are disabled; Prefect
    keeps one server per process, so later calls return at once.
    """
    from prefect.settings import get_current_settings

    settings = get_current_settings()
    if settings.api.url or not settings.server.ephemeral.enabled:
        return
    from prefect.server.api.server import SubprocessASGIServer  # slow to import: only here

    server = SubprocessASGIServer()
    if server.running:
        return
    settings.home.mkdir(parents=True, exist_ok=True)
    with (settings.home / "fairway-local-api.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            server.start()
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
