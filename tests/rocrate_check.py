"""Check an RO-Crate with roc-validator, offline: the RO-Crate 1.3 JSON-LD context comes from disk.

roc-validator fetches the crate's ``@context`` through an HTTP cache (requests-cache, SQLite)
and, in offline mode, serves only what that cache holds. The cache is filled here with the
RO-Crate 1.3 context that the rocrate library ships (``rocrate/data/ro-crate.jsonld``, the
document ``https://w3id.org/ro/crate/1.3/context`` serves), so no test reaches the network.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import requests
import urllib3
from requests_cache import CachedSession

__all__ = ["CrateIssue", "crate_issues"]

CONTEXT_URL = "https://w3id.org/ro/crate/1.3/context"


@dataclass(frozen=True)
class CrateIssue:
    """One finding of roc-validator: severity, check id, check name, entity, message."""

    severity: str
    check: str
    name: str
    entity: str | None
    message: str


def _cache_context(cache: Path) -> None:
    body = (files("rocrate") / "data" / "ro-crate.jsonld").read_bytes()
    headers = {"Content-Type": "application/ld+json"}
    response = requests.Response()
    response.status_code = 200
    response.reason = "OK"
    response.url = CONTEXT_URL
    response.encoding = "utf-8"
    response._content = body
    response.headers.update(headers)
    response.request = requests.Request("GET", CONTEXT_URL).prepare()
    response.raw = urllib3.HTTPResponse(
        body=io.BytesIO(body),
        headers=headers,
        status=200,
        preload_content=False,
        request_url=CONTEXT_URL,
    )
    session = CachedSession(cache_name=str(cache), backend="sqlite", expire_after=-1)
    try:
        session.cache.save_response(response)
    finally:
        session.close()


def crate_issues(crate_dir: Path, cache_dir: Path) -> list[CrateIssue]:
    """Every REQUIRED and RECOMMENDED issue roc-validator finds in ``crate_dir`` (RO-Crate 1.3)."""
    from rocrate_validator import models, services

    cache_dir.mkdir(parents=True, exist_ok=True)
    cache = cache_dir / "http_cache"
    _cache_context(cache)
    settings = services.ValidationSettings(
        rocrate_uri=str(crate_dir),
        profile_identifier="ro-crate-1.3",
        requirement_severity=models.Severity.RECOMMENDED,
        offline=True,
        cache_path=cache,
    )
    with warnings.catch_warnings():
        # rdflib 7 deprecates the ConjunctiveGraph pyshacl still builds: theirs, not ours
        warnings.filterwarnings(
            "ignore", "ConjunctiveGraph is deprecated", category=DeprecationWarning
        )
        result = services.validate(settings)
    return [
        CrateIssue(
            severity=issue.severity.name,
            check=issue.check.identifier,
            name=issue.check.requirement.name,
            entity=issue.violatingEntity,
            message=issue.message or "",
        )
        for issue in result.get_issues()
    ]
