"""Which Prefect API this process uses, if any, found without importing Prefect.

Without a configured API fairway runs its library directly (no server, no Prefect import);
with one, the flow runs against it, after a health check that turns an unreachable server
into one clear error. Importing Prefect costs seconds, so the configured URL is read the way
Prefect reads it, cheaply: the ``PREFECT_API_URL`` environment variable, else the active
profile of ``profiles.toml`` in the Prefect home.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

from core.errors import SettingsError

__all__ = ["check_prefect_api", "configured_api_url", "prefect_environment"]

#: how long a configured Prefect server may take to answer its health check
HEALTH_TIMEOUT_SECONDS = 10.0

#: Prefect settings fairway sets unless the facility set them: quiet console, no telemetry
PREFECT_DEFAULTS = {
    "PREFECT_LOGGING_LEVEL": "WARNING",
    # A task that fails on bad input is reported in the summary with its reason; Prefect's
    # own ERROR line and traceback for it would only bury that (and alarm an operator).
    "PREFECT_LOGGING_LOGGERS_PREFECT_TASK_RUNS_LEVEL": "CRITICAL",
    # usage data: off unless the facility turns it on (server side, and the client's
    # DO_NOT_TRACK, which Prefect 3.8's SDK analytics read; Cloud's orchestration telemetry)
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "PREFECT_CLOUD_ENABLE_ORCHESTRATION_TELEMETRY": "false",
}


def prefect_environment() -> None:
    """Set :data:`PREFECT_DEFAULTS` in this process (and its children) where not set.

    Call it before Prefect is imported: Prefect reads its settings at import.
    """
    for name, value in PREFECT_DEFAULTS.items():
        os.environ.setdefault(name, value)


def _prefect_home() -> Path:
    return Path(os.environ.get("PREFECT_HOME") or Path.home() / ".prefect").expanduser()


def configured_api_url() -> str | None:
    """The Prefect API URL this process is configured with, or ``None`` (library mode)."""
    url = os.environ.get("PREFECT_API_URL")
    if url is not None:
        return url.strip() or None
    profiles = Path(
        os.environ.get("PREFECT_PROFILES_PATH") or _prefect_home() / "profiles.toml"
    ).expanduser()
    try:
        doc = tomllib.loads(profiles.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return None
    active = os.environ.get("PREFECT_PROFILE") or doc.get("active")
    profile = doc.get("profiles", {}).get(active) if isinstance(active, str) else None
    value = profile.get("PREFECT_API_URL") if isinstance(profile, dict) else None
    return value.strip() or None if isinstance(value, str) else None


def check_prefect_api(url: str) -> None:
    """Make sure the Prefect API at ``url`` answers its health check.

    Raises
    ------
    SettingsError
        The server there does not answer (one line: what, where, what to do).
    """
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(
            f"{url.rstrip('/')}/health", timeout=HEALTH_TIMEOUT_SECONDS
        ) as reply:
            reply.read()
    except (OSError, ValueError) as exc:
        cause = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        why = type(cause).__name__ if isinstance(cause, BaseException) else type(exc).__name__
        raise SettingsError(
            f"the Prefect API at {url} does not answer ({why})",
            hint="start that Prefect server, or unset PREFECT_API_URL to run fairway "
            "without a server",
        ) from None
