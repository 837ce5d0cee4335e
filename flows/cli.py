"""The ``fairway`` command line: the contract other tools rely on (keep ``--json`` stable)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
from rich.progress import Progress as Bar
from rich.table import Table

from core.errors import FairwayError, SettingsError
from core.progress import Progress
from core.states import State
from flows.local_api import prefect_environment

if TYPE_CHECKING:
    from core.settings import Settings

# Prefect reads its settings at import: quiet console, no telemetry, unless set otherwise
# (commands import Prefect only when they need it: a configured server, an OMERO secret block)
prefect_environment()

app = typer.Typer(
    name="fairway",
    help="Make bioimaging data FAIR from the moment an instrument writes it.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
#: width of piped output (not a terminal): wide enough that no table row or line is folded
PIPE_WIDTH = 100_000


def _console(*, stderr: bool = False) -> Console:
    """A console for the terminal; piped output keeps whole lines instead of 80 columns."""
    console = Console(stderr=stderr)
    return console if console.is_terminal else Console(stderr=stderr, width=PIPE_WIDTH)


out = _console()
err = _console(stderr=True)

HomeOpt = Annotated[
    Path | None,
    typer.Option(
        "--home", envvar="FAIRWAY_HOME", help="Folder holding the catalog and default archive."
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


#: the commands that may start a new home; every other one refuses a home without a catalog
STARTS_A_HOME = frozenset({"ingest", "watch", "demo", "dicom-listen"})


def _settings(ctx: typer.Context, **overrides: Any) -> Settings:
    from core.settings import load_settings

    home = ctx.obj.get("home") if ctx.obj else None
    settings = load_settings(home, **overrides)
    catalog = settings.catalog_url
    if (
        ctx.info_name not in STARTS_A_HOME
        and catalog.startswith("sqlite:///")
        and not Path(catalog.removeprefix("sqlite:///")).is_file()
    ):
        # a mistyped --home would otherwise become a new, empty home without a word
        raise SettingsError(
            "no catalog in this home",
            where=settings.home,
            hint="check --home and FAIRWAY_HOME; `fairway ingest` or `fairway demo` starts a home",
        )
    return settings


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


@contextmanager
def _progress_bar(enabled: bool) -> Iterator[None]:
    """A progress bar on stderr, only on a terminal (elsewhere it would show nothing useful)."""
    from flows.progress import PROGRESS_SINK

    if not enabled or not err.is_terminal:
        yield
        return
    bar = Bar(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    )
    tasks: dict[str, Any] = {}

    def sink(p: Progress) -> None:
        key = "acquisitions" if p.task == "acquisitions" else "step"
        label = f"{p.task} {p.message}".strip()
        if key not in tasks:
            tasks[key] = bar.add_task(label, total=p.total)
        bar.update(tasks[key], completed=p.done, total=p.total, description=label)

    token = PROGRESS_SINK.set(sink)
    with bar:
        try:
            yield
        finally:
            PROGRESS_SINK.reset(token)


def _fail(exc: FairwayError) -> None:
    # one line, the message as is: tools grep it, and a path may hold '[' (not markup)
    err.print(f"[red]error:[/red] {escape(str(exc))}", soft_wrap=True, highlight=False)
    raise typer.Exit(2)


@app.callback()
def main_callback(ctx: typer.Context, home: HomeOpt = None) -> None:
    """Global options."""
    ctx.obj = {"home": home}


def _summary_table(summary: Any) -> Table:
    table = Table(title="ingest")
    for col in ("file", "outcome", "dataset", "FAIR level", "reason"):
        table.add_column(col, overflow="fold")
    for o in summary.outcomes:
        colour = {"archived": "green", "duplicate": "cyan", "pending": "yellow"}.get(
            o.outcome, "red"
        )
        # a duplicate is said as what it is: "already archived" (the reason names the dataset)
        said = f"already {o.state}" if o.outcome == "duplicate" and o.state else o.outcome
        table.add_row(
            Path(o.source).name,
            f"[{colour}]{said}[/{colour}]",
            o.dataset or "",
            o.fair_level or "",
            o.reason or "",
        )
    return table


@app.command()
def ingest(
    ctx: typer.Context,
    sources: Annotated[
        list[Path], typer.Argument(help="Folders (or files) written by instruments.")
    ],
    quiet_seconds: Annotated[
        float | None, typer.Option(help="Quiet window before a file counts as finished.")
    ] = None,
    sentinel: Annotated[
        str | None, typer.Option(help="File name that marks a folder complete.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Process every complete acquisition under SOURCES once, and wait for the end."""
    from flows.service import run_ingest

    try:
        settings = _settings(ctx, quiet_seconds=quiet_seconds, sentinel=sentinel)
        missing = [s for s in sources if not s.exists()]
        if missing:
            raise FairwayError("source does not exist", where=missing[0], hint="check the path")
        with _progress_bar(not as_json):
            summary = run_ingest(
                sources, settings, on_outcome=None if err.is_terminal else _log_outcome
            )
    except FairwayError as exc:
        _fail(exc)
        return
    if as_json:
        _print_json(summary.model_dump(mode="json"))
    else:
        out.print(_summary_table(summary))
    if summary.internal_errors:
        raise typer.Exit(1)


def _log_outcome(outcome: Any) -> None:
    """One line per acquisition on stderr (``ts=… outcome=… source=… dataset=…``)."""
    from flows.progress import event_line

    line = event_line(outcome.outcome, outcome.source, outcome.dataset, outcome.reason)
    err.print(line, soft_wrap=True, highlight=False, markup=False)


def _log_start(acq: Any) -> None:
    from flows.progress import event_line

    line = event_line("processing", str(acq.source), acq.dataset_id)
    err.print(line, soft_wrap=True, highlight=False, markup=False)


@app.command()
def watch(
    ctx: typer.Context,
    sources: Annotated[list[Path], typer.Argument(help="Folders to watch.")],
    interval: Annotated[float, typer.Option(help="Seconds between scans.")] = 60.0,
    max_runs: Annotated[int | None, typer.Option(help="Stop after this many scans.")] = None,
) -> None:
    """Keep watching SOURCES (Prefect serve with a server, an in-process loop without).

    SIGTERM or Ctrl-C: finish the current acquisition, then exit 0; a second one: at once.
    """
    from flows.service import StopSignals
    from flows.service import watch as watch_sources

    try:
        settings = _settings(ctx)
    except FairwayError as exc:
        _fail(exc)
        return
    log = err.print if err.is_terminal else _say

    def ready(api: str | None) -> None:
        how = f"served by the Prefect API at {api}" if api and max_runs is None else "in-process"
        log(f"watching {', '.join(map(str, sources))} every {interval:g} s, {how} (Ctrl-C to stop)")

    def report(summary: Any) -> None:
        counts = {k: summary.count(k) for k in ("archived", "quarantined", "rejected", "pending")}
        log(" ".join(f"{k}={v}" for k, v in counts.items() if v) or "nothing new")

    def stopping(signum: int) -> None:
        log("stopping after the current acquisition (signal again to stop at once)")

    stop = StopSignals(on_first=stopping)
    try:
        with stop.installed(), _progress_bar(True):
            watch_sources(
                sources,
                settings,
                interval,
                max_runs=max_runs,
                on_run=report,
                on_outcome=_log_outcome,
                on_start=None if err.is_terminal else _log_start,
                on_ready=ready,
                stop=stop,
            )
    except FairwayError as exc:
        _fail(exc)
        return
    except KeyboardInterrupt:  # the served branch: Prefect's runner, Ctrl-C
        pass
    log("stopped")


def _say(text: str) -> None:
    """A plain status line on stderr, timestamped like the event lines."""
    from datetime import UTC

    moment = datetime.now(UTC).isoformat(timespec="seconds")
    err.print(f"ts={moment} msg={json.dumps(text)}", soft_wrap=True, highlight=False, markup=False)


@app.command("dicom-listen")
def dicom_listen(
    inbox: Annotated[Path, typer.Argument(help="Watched folder to write received instances to.")],
    port: Annotated[int, typer.Option(help="TCP port to listen on.")] = 11112,
    ae_title: Annotated[str, typer.Option("--ae-title", help="This SCP's AE title.")] = "FAIRWAY",
    allow: Annotated[
        list[str] | None,
        typer.Option("--allow", help="Calling AE title to accept (repeat); default: any."),
    ] = None,
    host: Annotated[str, typer.Option(help="Address to bind.")] = "0.0.0.0",
    seconds: Annotated[
        float | None, typer.Option(help="Stop after this many seconds (default: run until Ctrl-C).")
    ] = None,
) -> None:
    """Receive DICOM (C-STORE) into INBOX; `fairway watch INBOX` ingests what arrives."""
    import time

    from ingest.dicom_scp import start_storage_scp

    try:
        server = start_storage_scp(
            inbox, ae_title=ae_title, host=host, port=port, allowed_aes=allow or ()
        )
    except FairwayError as exc:
        _fail(exc)
        return
    who = ", ".join(allow) if allow else "any AE title"
    err.print(f"{ae_title} listening on {host}:{server.port}, accepting {who} (Ctrl-C to stop)")
    try:
        deadline = None if seconds is None else time.monotonic() + seconds
        while deadline is None or time.monotonic() < deadline:
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
    err.print(f"stopped; {server.received} instance(s) received")


@app.command()
def status(
    ctx: typer.Context,
    state: Annotated[State | None, typer.Option(help="Only acquisitions in this state.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List acquisitions with their state, source and dataset."""
    from catalog import Catalog
    from flows.views import status_row

    try:
        catalog = Catalog.open(_settings(ctx).catalog_url)
    except FairwayError as exc:
        _fail(exc)
        return
    try:
        rows = [status_row(r) for r in catalog.acquisitions(state)]
    finally:
        catalog.close()
    if as_json:
        _print_json(rows)
        return
    table = Table(title=f"{len(rows)} acquisitions")
    for col in ("dataset", "state", "FAIR level", "source", "reason"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(
            r["dataset"],
            r["state"],
            (r["fair_level"] or "") + (f" (target {r['target']})" if r["target"] else ""),
            r["source"],
            r["reason"] or "",
        )
    out.print(table)


def _open_row(ctx: typer.Context, dataset: str) -> tuple[Any, Any]:
    from catalog import Catalog

    catalog = Catalog.open(_settings(ctx).catalog_url)
    row = catalog.find(dataset)
    if row is None:
        catalog.close()
        raise FairwayError(
            "no such dataset or acquisition", where=dataset, hint="`fairway status` lists them"
        )
    return catalog, row


def _archived_row(ctx: typer.Context, dataset: str) -> tuple[Any, Any]:
    """(catalog, row) of an archived dataset; the catalog is closed again on refusal."""
    catalog, row = _open_row(ctx, dataset)
    if row.state != State.ARCHIVED.value or not row.location:
        catalog.close()
        raise SettingsError(f"not archived (state {row.state})", where=row.dataset)
    return catalog, row


def _select_rows(ctx: typer.Context, dataset: str | None) -> tuple[Any, list[Any]]:
    """One dataset (by id), or every archived one when ``dataset`` is ``None``."""
    if dataset is not None:
        catalog, row = _open_row(ctx, dataset)
        return catalog, [row]
    from catalog import Catalog

    catalog = Catalog.open(_settings(ctx).catalog_url)
    return catalog, catalog.acquisitions(State.ARCHIVED)


@app.command()
def show(
    ctx: typer.Context,
    dataset: str,
    metadata_version: Annotated[
        int | None,
        typer.Option("--metadata-version", help="Show this archived metadata version's record."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Show a dataset: record, validation summary, versions, files, deliveries and events."""
    from flows.views import show_view

    try:
        catalog, row = _open_row(ctx, dataset)
    except FairwayError as exc:
        _fail(exc)
        return
    try:
        view = show_view(catalog, row, metadata_version)
    except FairwayError as exc:
        _fail(exc)
        return
    finally:
        catalog.close()
    if as_json:
        _print_json(view)
        return
    out.print(f"[bold]{view['dataset']}[/bold]  {view['state']}  FAIR level: {view['fair_level']}")
    out.print(f"source: {view['source']}\nlocation: {view['location']}")
    if view["reason"]:
        out.print(f"reason: {escape(str(view['reason']))}")
    out.print(f"findings: {view['validation']['counts']}")
    versions = view["metadata_versions"]
    if len(versions) > 1:
        out.print(
            "metadata versions: "
            + "; ".join(f"v{v['version']} {v['actor']}: {v['reason']}" for v in versions)
        )
    fields = (view["record"] or {}).get("fields", {})
    table = Table(title=f"{len(fields)} metadata fields")
    for col in ("field", "value", "source"):
        table.add_column(col, overflow="fold")
    for key, item in sorted(fields.items()):
        table.add_row(escape(key), escape(str(item["value"])), escape(str(item["source"])))
    out.print(table)
    out.print(
        f"{len(view['files'])} archived files; {len(view['events'])} events; "
        f"{len(view['deliveries'])} deliveries"
    )


@app.command()
def gaps(
    ctx: typer.Context,
    dataset: Annotated[
        str | None, typer.Argument(help="Dataset id; all datasets if omitted.")
    ] = None,
    queue: Annotated[
        bool,
        typer.Option(
            "--all",
            help="The curator's work queue: datasets below their profile, most missing first.",
        ),
    ] = False,
    profile: Annotated[
        str | None,
        typer.Option("--profile", help="Judge against this profile instead of each dataset's."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """List metadata gaps and structural findings, with how to fix each."""
    from flows.views import findings_of, proposal_findings, work_queue
    from validators.profiles import load_profiles

    try:
        settings = _settings(ctx)
        target = None
        if profile is not None:
            profiles = load_profiles(settings)
            if profile not in profiles:
                raise SettingsError(
                    f"no profile named '{profile}'",
                    where=settings.profiles_root,
                    hint=f"profiles: {', '.join(sorted(profiles))}",
                )
            target = profiles[profile].target
        catalog, rows = _select_rows(ctx, dataset)
    except FairwayError as exc:
        _fail(exc)
        return
    try:  # a re-delivery's differing sidecar: proposed curations, listed with the findings
        proposed = {r.dataset: proposal_findings(catalog, r) for r in rows if not queue}
    finally:
        catalog.close()
    if queue:
        entries = work_queue(rows, target)
        if as_json:
            _print_json(entries)
            return
        table = Table(
            title=f"{len(entries)} datasets below {entries[0]['target'] if entries else 'target'}"
        )
        for col in ("dataset", "FAIR level", "errors", "warnings", "first fields to supply"):
            table.add_column(col, overflow="fold")
        for q in entries:
            table.add_row(
                q["dataset"],
                q["fair_level"],
                str(q["missing"]["error"]),
                str(q["missing"]["warning"]),
                ", ".join(q["fields"][:4]),
            )
        out.print(table)
        return
    findings = [f for r in rows for f in [*findings_of(r, target), *proposed[r.dataset]]]
    if as_json:
        _print_json(findings)
        return
    for r in rows:
        mine = [f for f in findings if f["dataset"] == r.dataset]
        goal = target or (r.report or {}).get("target") or "?"
        table = Table(
            title=f"{r.dataset} — FAIR level {r.fair_level} (target {goal}) — {len(mine)} findings"
        )
        for col in ("severity", "level", "module", "path", "fix"):
            table.add_column(col, overflow="fold")
        for f in mine:
            table.add_row(f["severity"], f["level"], f["module"], f["path"], f["fix_hint"])
        out.print(table)


@app.command()
def fix(
    ctx: typer.Context,
    dataset: Annotated[str | None, typer.Argument(help="Dataset to fix.")] = None,
    assignments: Annotated[
        list[str] | None,
        typer.Option("--set", help="PATH=VALUE, e.g. study.license=CC-BY-4.0 (repeat)."),
    ] = None,
    from_file: Annotated[
        Path | None,
        typer.Option("--from", help="CSV (a 'dataset' column, one column per field) or YAML."),
    ] = None,
    reason: Annotated[str, typer.Option(help="Why: kept in the audit trail.")] = "",
    by: Annotated[str | None, typer.Option(help="Who (default: the login name).")] = None,
    accept_suggestions: Annotated[
        bool,
        typer.Option(
            "--accept-suggestions",
            help="Also apply the values the gap report calls auto-fillable (FBbi term, drafts).",
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Fix metadata fields, re-validate, archive a new metadata version, record who and why."""
    import getpass

    from flows.curation import fix_datasets
    from metadata.fixes import InvalidFixError, parse_assignment, read_fix_file

    try:
        if from_file is not None:
            if dataset or assignments:
                raise InvalidFixError("use either DATASET --set ... or --from FILE, not both")
            fixes = read_fix_file(from_file)
        elif dataset and (assignments or accept_suggestions):
            fixes = {dataset: dict(parse_assignment(a) for a in assignments or [])}
        else:
            raise InvalidFixError(
                "nothing to fix", hint="fairway fix DATASET --set PATH=VALUE --reason TEXT"
            )
        results = fix_datasets(
            _settings(ctx),
            fixes,
            reason=reason,
            actor=by or getpass.getuser(),
            accept_suggestions=accept_suggestions,
        )
    except FairwayError as exc:
        _fail(exc)
        return
    if as_json:
        _print_json([r.model_dump(mode="json") for r in results])
        return
    for r in results:
        out.print(
            f"[bold]{r.dataset}[/bold]: {len(r.changes)} field(s) changed; "
            f"FAIR level {r.fair_level_before} -> {r.fair_level}"
            + (f"; archived metadata version {r.metadata_version}" if r.metadata_version else "")
        )
        for c in r.changes:
            out.print(f"  {c.path}: {c.old!r} -> {c.new!r}")
        if r.warning:
            out.print(f"  [yellow]copies: {r.warning}[/yellow]")


@app.command()
def verify(
    ctx: typer.Context,
    dataset: Annotated[
        str | None, typer.Argument(help="Dataset id; every archived dataset if omitted.")
    ] = None,
    all_: Annotated[bool, typer.Option("--all", help="Every archived dataset.")] = False,
    quick: Annotated[
        bool,
        typer.Option(
            "--quick",
            help="S3 copies: compare the checksums the store keeps instead of re-reading.",
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Re-read archived bytes in every copy and compare them with the recorded checksums."""
    from flows.fixity import audit

    try:
        settings = _settings(ctx)
        if dataset is not None and all_:
            raise SettingsError("give a DATASET or --all, not both")
        with _progress_bar(not as_json):
            results = audit(settings, None if dataset is None else [dataset], quick=quick)
    except FairwayError as exc:
        _fail(exc)
        return
    if as_json:
        _print_json([r.model_dump(mode="json") for r in results])
    else:
        for res in results:
            mark = "[green]ok[/green]" if res.ok else "[red]DAMAGED[/red]"
            copies = ", ".join(
                f"{a.copy_name} {'ok' if a.ok else f'{len(a.findings)} problem(s)'}"
                for a in res.copies
            )
            out.print(f"{res.dataset}: {mark} {escape(res.error or '')} {copies}")
            for f in res.findings:
                out.print(f"  {escape(f'{f.path}: {f.message}')}")
    if not all(r.ok for r in results):
        raise typer.Exit(1)


@app.command()
def search(
    ctx: typer.Context,
    query: Annotated[str, typer.Argument(help="Words to find (title, description, ...).")] = "",
    organism: Annotated[str | None, typer.Option(help="Organism name or NCBITaxon id.")] = None,
    method: Annotated[str | None, typer.Option(help="Imaging method (FBbi label or id).")] = None,
    instrument: Annotated[
        str | None, typer.Option(help="Microscope manufacturer, model, serial or registry id.")
    ] = None,
    study: Annotated[str | None, typer.Option(help="Words of the study title.")] = None,
    since: Annotated[
        datetime | None, typer.Option(formats=["%Y-%m-%d"], help="Acquired on or after.")
    ] = None,
    until: Annotated[
        datetime | None, typer.Option(formats=["%Y-%m-%d"], help="Acquired on or before.")
    ] = None,
    fair_level: Annotated[
        str | None, typer.Option("--fair-level", help="At least this FAIR level.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
    include_embargoed: Annotated[
        bool,
        typer.Option(
            "--include-embargoed", help="Curators: also list embargoed datasets (with the date)."
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Find archived datasets by words and facets (embargoed ones are not listed)."""
    from catalog import Catalog
    from catalog.search import SearchFilters
    from core.records import FAIR_LEVELS

    try:
        if fair_level is not None and fair_level not in FAIR_LEVELS:
            raise SettingsError(
                f"unknown FAIR level '{fair_level}'", hint=f"levels: {', '.join(FAIR_LEVELS)}"
            )
        filters = SearchFilters(
            organism=organism,
            method=method,
            instrument=instrument,
            study=study,
            since=since.date() if since else None,
            until=until.date() if until else None,
            fair_level=fair_level,
            include_embargoed=include_embargoed,
        )
        catalog = Catalog.open(_settings(ctx).catalog_url)
        try:
            hits = catalog.search(query, filters, limit)
        finally:
            catalog.close()
    except FairwayError as exc:
        _fail(exc)
        return
    if as_json:
        _print_json([h.model_dump(mode="json") for h in hits])
        return
    table = Table(title=f"{len(hits)} datasets")
    for col in ("dataset", "title", "organism", "method", "acquired", "FAIR level"):
        table.add_column(col, overflow="fold")
    for h in hits:
        note = f" (embargoed until {h.embargoed_until})" if h.embargoed_until else ""
        table.add_row(
            h.dataset, h.title, h.organism, h.method, h.acquired[:10], h.fair_level + note
        )
    out.print(table)


@app.command()
def get(
    ctx: typer.Context,
    dataset: Annotated[str, typer.Argument(help="Dataset to fetch.")],
    dest: Annotated[Path, typer.Argument(help="Folder to write the bundle into.")],
    as_json: JsonOpt = False,
) -> None:
    """Write a FAIR bundle: OME-Zarr, RO-Crate, checksums, gap report and a landing page."""
    from catalog import worker_id
    from flows.views import iso
    from targets.bundle import bundle_summary, make_bundle

    try:
        catalog, row = _archived_row(ctx, dataset)
    except FairwayError as exc:
        _fail(exc)
        return
    try:
        events = [
            {"at": iso(e.at), "actor": e.actor, "step": e.step, "action": e.action}
            for e in catalog.events(row.id)
        ]
        with _progress_bar(not as_json):
            bundle = make_bundle(Path(row.location), dest, events)
        catalog.event(row.id, worker_id(), "get", "ok", {"dest": str(bundle)})
    except FairwayError as exc:
        _fail(exc)
        return
    finally:
        catalog.close()
    summary = bundle_summary(bundle)
    if as_json:
        _print_json(summary)
        return
    out.print(f"[bold]{row.dataset}[/bold]: {summary['files']} files in {bundle}")
    out.print(f"open {summary['index_html']} in a browser")
    out.print(f"or: napari {summary['image']}", soft_wrap=True)


@app.command()
def publish(
    ctx: typer.Context,
    dataset: Annotated[str, typer.Argument(help="Dataset to publish.")],
    dest: Annotated[
        Path | None, typer.Argument(help="Folder for the submission package (--to bia).")
    ] = None,
    to: Annotated[str, typer.Option("--to", help="'bia' or 'omero'.")] = "bia",
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="--to omero: print the plan, touch no server.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Publish a dataset: a BioImage Archive submission package, or into OMERO."""
    from catalog import worker_id

    try:
        if to not in {"bia", "omero"}:
            raise SettingsError(f"unknown destination '{to}'", hint="destinations: bia, omero")
        if to == "bia" and dest is None:
            raise SettingsError("--to bia needs a DEST folder")
        settings = _settings(ctx)
        catalog, row = _archived_row(ctx, dataset)
    except FairwayError as exc:
        _fail(exc)
        return
    try:
        if to == "bia":
            from targets.bia import write_bia_package

            folder = write_bia_package(Path(row.location), dest or Path())
            catalog.event(row.id, worker_id(), "publish", "bia", {"dest": str(folder)})
            result: dict[str, Any] = {
                "dataset": row.dataset,
                "to": to,
                "path": str(folder),
                "contents": sorted(p.name for p in folder.iterdir()),
            }
        else:
            from targets.omero import publish_bag

            actions = publish_bag(settings, Path(row.location), row.dataset, dry_run=dry_run)
            result = {
                "dataset": row.dataset,
                "to": "omero",
                "dry_run": dry_run,
                "actions": [a.model_dump(mode="json", exclude={"content"}) for a in actions],
            }
            if not dry_run:
                catalog.event(
                    row.id, worker_id(), "publish", "omero", {"actions": result["actions"]}
                )
    except FairwayError as exc:
        _fail(exc)
        return
    finally:
        catalog.close()
    if as_json:
        _print_json(result)
    elif to == "bia":
        out.print(f"[bold]{row.dataset}[/bold]: BioImage Archive submission in {result['path']}")
        out.print("  " + ", ".join(result["contents"]) + " (see README.txt)")
    else:
        verb = "would run" if dry_run else "ran"
        out.print(f"[bold]{row.dataset}[/bold]: OMERO, {verb} {len(result['actions'])} action(s)")
        for a in result["actions"]:
            out.print(f"  {a['kind']} {a['name'] or a['dataset']}")


@app.command()
def retry(
    ctx: typer.Context,
    dataset: Annotated[str, typer.Argument(help="A quarantined dataset to process again.")],
    as_json: JsonOpt = False,
) -> None:
    """Process a quarantined acquisition again (after its cause passed: a full disk freed)."""
    from catalog import worker_id
    from flows.service import run_ingest

    try:
        settings = _settings(ctx)
        catalog, row = _open_row(ctx, dataset)
        try:
            catalog.release(row.id, worker_id(), "fairway retry")
        finally:
            catalog.close()
        with _progress_bar(not as_json):
            summary = run_ingest([Path(row.source)], settings)
    except FairwayError as exc:
        _fail(exc)
        return
    mine = [o for o in summary.outcomes if o.dataset == row.dataset]
    if as_json:
        _print_json([o.model_dump(mode="json") for o in mine])
    else:
        for o in mine:
            out.print(f"{row.dataset}: {o.outcome} {escape(o.reason or '')}")
    if not mine or mine[0].outcome != "archived":
        raise typer.Exit(1)


@app.command()
def repair(
    ctx: typer.Context,
    dataset: Annotated[str, typer.Argument(help="Dataset whose damaged copies to restore.")],
    as_json: JsonOpt = False,
) -> None:
    """Restore damaged copies of a dataset from an intact one, then verify every copy again."""
    from flows.fixity import repair as repair_dataset

    try:
        result = repair_dataset(_settings(ctx), dataset)
    except FairwayError as exc:
        _fail(exc)
        return
    if as_json:
        _print_json(result.model_dump(mode="json"))
    elif result.error:
        out.print(f"{dataset}: [red]{escape(str(result.error))}[/red]")
    else:
        fixed = ", ".join(result.repaired) or "nothing (every copy was intact)"
        mark = "[green]ok[/green]" if result.ok else "[red]still damaged[/red]"
        out.print(f"{dataset}: restored {fixed} from {result.source}; now {mark}")
    if not result.ok:
        raise typer.Exit(1)


@app.command()
def demo(
    ctx: typer.Context,
    inbox: Annotated[
        Path | None, typer.Option(help="Where to write the sample instrument output.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Write sample instrument output, ingest it with the embedded defaults, show the result."""
    from flows.demo import run_demo

    home = ctx.obj.get("home") if ctx.obj else None
    try:
        with _progress_bar(not as_json):
            result = run_demo(home=home, inbox=inbox, console=None if as_json else err)
    except FairwayError as exc:
        _fail(exc)
        return
    if as_json:
        _print_json(result)
    else:
        from flows.demo import print_demo

        print_demo(result, out)
    if not result["ok"]:
        raise typer.Exit(1)


def main() -> None:
    """Console-script entry point."""
    app()
