"""The Prefect skin, once through Prefect's test harness: states that count outcomes, task
runs and gap-report artifacts named by source and dataset, a summary that links them.

Everything else about ingesting is tested through the plain pipeline (tests/flows/test_pipeline.py).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from core.settings import load_settings
from flows.pipeline import IngestSummary
from flows.service import flow_parameters
from tests.factories import age, make_inbox, make_plain_tiff


def _task_run_names(flow_run_id: Any) -> set[str]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    async def read() -> set[str]:
        async with get_client() as client:
            runs = await client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
            )
            return {r.name for r in runs}

    return asyncio.run(read())


def _artifacts(key: str) -> list[Any]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    async def read() -> list[Any]:
        async with get_client() as client:
            flt = ArtifactFilter(key=ArtifactFilterKey(any_=[key]))
            return list(await client.read_artifacts(artifact_filter=flt))

    return asyncio.run(read())


def test_flow_states_task_runs_and_artifacts(
    prefect_harness: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import flows.steps
    from flows.ingestion import gap_report_key, ingest_flow

    inbox = tmp_path / "inbox"
    make_inbox(inbox)
    settings = load_settings(tmp_path / "home", quiet_seconds=1, chunk_yx=64)
    state = ingest_flow(**flow_parameters([inbox], settings), return_state=True)
    assert state.is_completed(), state
    assert state.message == "3 archived, 1 quarantined, 1 rejected"
    summary = IngestSummary.model_validate(state.result())
    names = _task_run_names(state.state_details.flow_run_id)
    for o in summary.outcomes:  # one task run per acquisition, named by source and dataset
        assert f"{Path(o.source).name} {o.dataset}" in names, (o, names)
    archived = [o for o in summary.outcomes if o.outcome == "archived"]
    assert len(archived) == 3
    # the summary artifact of this run (the harness keeps other tests' runs too)
    [report] = [
        str(a.data)
        for a in _artifacts("fairway-ingest-summary")
        if all(str(o.dataset) in str(a.data) for o in summary.outcomes)
    ][-1:]
    for o in archived:
        key = gap_report_key(o.source, str(o.dataset))
        assert key.startswith(f"gaps-{Path(o.source).name.replace('.', '-')}-fw-"), key
        assert all(c.islower() or c.isdigit() or c == "-" for c in key)
        assert key in report  # the summary links each gap report
    plain = next(o for o in archived if o.source.endswith("plain.tif"))
    [gaps] = _artifacts(gap_report_key(plain.source, str(plain.dataset)))
    assert f"# {plain.dataset}: FAIR level `ngff`" in str(gaps.data)

    # fairway's own failure on an acquisition: the run fails, and says what happened
    other = tmp_path / "other"
    make_plain_tiff(other / "boom.tif", seed=77)
    age(other)

    def broken(*_args: object) -> object:
        raise RuntimeError("validator bug")

    monkeypatch.setattr(flows.steps, "validate", broken)
    failed = ingest_flow(**flow_parameters([other], settings), return_state=True)
    assert failed.is_failed(), failed
    assert failed.message == "fairway failed on some acquisitions: 1 failed"
    assert IngestSummary.model_validate(failed.result(raise_on_failure=False)).internal_errors == 1
