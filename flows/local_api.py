"""Make sure this process has a Prefect API before a flow runs.

With ``PREFECT_API_URL`` set, the server must answer: if it does not, the run stops with a
clear error instead of Prefect's traceback. Without it every ``fairway`` process starts its
own local (ephemeral) Prefect server on the shared Prefect home database; two workers started
together would both create the database's tables and one fails (``table ... already
exists``), so the servers start one at a time under a lock in the Prefect home.
"""

from __future__ import annotations

import httpx

from core.errors import SettingsError
from core.files import locked

__all__ = ["ensure_prefect_api"]

#: how long a configured Prefect server may take to answer its health check
HEALTH_TIMEOUT_SECONDS = 10.0


def ensure_prefect_api() -> None:
    """Check the configured Prefect API, or start this process's local one (see module docs).

    Raises
    ------
    SettingsError
        ``PREFECT_API_URL`` is set but the server there does not answer.
    """
    from prefect.settings import get_current_settings

    settings = get_current_settings()
    url = settings.api.url
    if url:
        try:
            reply = httpx.get(f"{url.rstrip('/')}/health", timeout=HEALTH_TIMEOUT_SECONDS)
            reply.raise_for_status()
        except httpx.HTTPError as exc:
            raise SettingsError(
                f"the Prefect API at {url} does not answer ({type(exc).__name__})",
                hint="start that Prefect server, or unset PREFECT_API_URL to run with "
                "fairway's embedded one",
            ) from None
        return
    if not settings.server.ephemeral.enabled:
        return
    from prefect.server.api.server import SubprocessASGIServer  # slow to import: only here

    server = SubprocessASGIServer()
    if server.running:
        return
    with locked(settings.home / "fairway-local-api.lock"):
        server.start()
