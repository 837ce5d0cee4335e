"""Publishing to OMERO: a pure plan of what the server needs, and a thin transport.

The mapping from a dataset to OMERO objects is pure code, tested without a server:

* a **Project** named after the study (``study.title``) and a **Dataset** after the study
  component (``study_component.name``), reused when they exist;
* the **Image**: imported from the archived OME-Zarr, registered in place (``ln_s``) where the
  server reads the archive's file system, else uploaded;
* **MapAnnotations** under :data:`NAMESPACE`: the record's fields as key/value pairs (source
  file facts left out), with ``fairway.id`` = the dataset id, which makes a re-run find the
  image and do nothing;
* the gap report as a **FileAnnotation** under :data:`GAP_REPORT_NAMESPACE`.

:func:`plan_publication` compares that with what the server already holds
(:class:`ServerState`) and returns only the missing :class:`OmeroAction` s.

The transport (:class:`OmeroTransport`) needs omero-py, an optional extra (``fairway[omero]``);
zeroc-ice 3.6 has no wheel for Python 3.11 on these machines, so its tests run only when
``FAIRWAY_OMERO_HOST`` points at a server. Credentials come from settings (``FAIRWAY_OMERO_*``
environment variables or ``fairway.toml``) or a Prefect Secret block, never from arguments.
"""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from core.errors import SettingsError, TargetError
from core.records import MetadataRecord, ValidationReport
from core.release import check_release
from core.settings import Settings
from validators.report import report_markdown

__all__ = [
    "GAP_REPORT_NAMESPACE",
    "ID_KEY",
    "NAMESPACE",
    "OmeroAction",
    "OmeroTransport",
    "ServerState",
    "map_annotations",
    "plan_publication",
    "publish_bag",
]

NAMESPACE = "urn:fairway:metadata"
GAP_REPORT_NAMESPACE = "urn:fairway:gap-report"
ID_KEY = "fairway.id"
#: OMERO shows map values in one table cell; longer values are cut (the record keeps them)
MAX_VALUE = 1000


class OmeroAction(BaseModel):
    """One step the server needs, in order."""

    kind: Literal[
        "create_project",
        "create_dataset",
        "link_dataset",
        "import_image",
        "annotate_map",
        "attach_file",
    ]
    name: str = ""
    project: str = ""
    dataset: str = ""
    path: str = ""
    transfer: Literal["ln_s", "upload"] | None = None
    namespace: str = ""
    pairs: list[tuple[str, str]] = []
    content: str = ""
    mimetype: str = ""


@dataclass
class ServerState:
    """What the OMERO server already holds, as far as the plan cares."""

    projects: set[str] = field(default_factory=set)
    #: (project, dataset) pairs that exist and are linked
    datasets: set[tuple[str, str]] = field(default_factory=set)
    #: fairway ids of images already annotated with ``fairway.id``
    fairway_ids: set[str] = field(default_factory=set)


def map_annotations(
    dataset: str, record: MetadataRecord, report: ValidationReport
) -> list[tuple[str, str]]:
    """The key/value pairs that describe the dataset in OMERO (``fairway.id`` first)."""
    pairs = [(ID_KEY, dataset), ("fairway.fair_level", report.fair_level)]
    if report.target:
        pairs.append(("fairway.target", report.target))
    for key, item in sorted(record.fields.items()):
        if key.startswith(("source.", "instrument.registry_id")):
            continue  # file names and paths stay in the catalog
        value = item.value if not isinstance(item.value, list) else ", ".join(map(str, item.value))
        text = str(value)
        pairs.append((key, text if len(text) <= MAX_VALUE else text[: MAX_VALUE - 1] + "…"))
    return pairs


def _names(dataset: str, record: MetadataRecord) -> tuple[str, str, str]:
    project = str(record.value("study.title") or "fairway: no study")
    component = str(record.value("study_component.name") or dataset)
    image = str(record.value("image.name") or dataset)
    return project, component, image


def plan_publication(
    dataset: str,
    record: MetadataRecord,
    report: ValidationReport,
    zarr_path: Path,
    state: ServerState,
    *,
    in_place: bool = True,
) -> list[OmeroAction]:
    """The actions that publish ``dataset``; empty when the server already has it."""
    if dataset in state.fairway_ids:
        return []
    project, component, image = _names(dataset, record)
    actions: list[OmeroAction] = []
    if project not in state.projects:
        actions.append(OmeroAction(kind="create_project", name=project))
    if (project, component) not in state.datasets:
        actions.append(OmeroAction(kind="create_dataset", name=component, project=project))
        actions.append(OmeroAction(kind="link_dataset", project=project, dataset=component))
    actions.append(
        OmeroAction(
            kind="import_image",
            name=image,
            project=project,
            dataset=component,
            path=str(zarr_path),
            transfer="ln_s" if in_place else "upload",
        )
    )
    actions.append(
        OmeroAction(
            kind="annotate_map",
            name=image,
            namespace=NAMESPACE,
            pairs=map_annotations(dataset, record, report),
        )
    )
    actions.append(
        OmeroAction(
            kind="attach_file",
            name=f"{dataset}-gap-report.md",
            namespace=GAP_REPORT_NAMESPACE,
            content=report_markdown(report),
            mimetype="text/markdown",
        )
    )
    return actions


def publish_bag(
    settings: Settings, bag: Path, dataset: str, *, dry_run: bool = False
) -> list[OmeroAction]:
    """Publish the archived bag of ``dataset`` to the configured OMERO server.

    With ``dry_run`` no server is contacted: the plan is made against an empty server, so it
    lists every action a first publication takes. Returns the actions (run or planned).

    Raises
    ------
    NotReleasedError
        Embargoed, or below its profile's level (:func:`core.release.check_release`).
    """
    from targets.package import RECORD_FILE, REPORT_FILE

    data = bag / "data"
    record = MetadataRecord.model_validate_json((data / RECORD_FILE).read_text(encoding="utf-8"))
    report = ValidationReport.model_validate_json((data / REPORT_FILE).read_text(encoding="utf-8"))
    check_release(record, report)  # embargo and the profile's level, also for the plan
    zarr_path = data / f"{dataset}.ome.zarr"
    in_place = settings.omero_in_place
    if dry_run:
        return plan_publication(
            dataset, record, report, zarr_path, ServerState(), in_place=in_place
        )
    transport = OmeroTransport(settings)
    try:
        actions = plan_publication(
            dataset, record, report, zarr_path, transport.state(), in_place=in_place
        )
        transport.apply(actions)
    finally:
        transport.close()
    return actions


def _password(settings: Settings) -> str:
    if settings.omero_password is not None:
        return settings.omero_password.get_secret_value()
    if settings.omero_password_block:
        from prefect.blocks.system import Secret

        block: Any = Secret.load(settings.omero_password_block)
        return str(block.get())
    raise SettingsError(
        "no OMERO password", hint="set FAIRWAY_OMERO_PASSWORD or FAIRWAY_OMERO_PASSWORD_BLOCK"
    )


class OmeroTransport:
    """Carries out a plan on a real OMERO server with omero-py (``pip install fairway[omero]``)."""

    def __init__(self, settings: Settings) -> None:
        if not settings.omero_host:
            raise SettingsError(
                "no OMERO server configured", hint="set FAIRWAY_OMERO_HOST and FAIRWAY_OMERO_USER"
            )
        try:
            from omero.gateway import BlitzGateway
        except ImportError as exc:
            raise SettingsError(
                "omero-py is not installed",
                hint="pip install 'fairway[omero]' (needs zeroc-ice 3.6)",
            ) from exc
        self.settings = settings
        self.conn = BlitzGateway(
            settings.omero_user,
            _password(settings),
            host=settings.omero_host,
            port=settings.omero_port,
        )
        if not self.conn.connect():
            raise TargetError("cannot log in to OMERO", where=settings.omero_host)

    def state(self) -> ServerState:
        """Projects, linked datasets and fairway ids the server holds."""
        state = ServerState()
        for project in self.conn.getObjects("Project"):
            state.projects.add(project.getName())
            for ds in project.listChildren():
                state.datasets.add((project.getName(), ds.getName()))
        for ann in self.conn.getObjects("MapAnnotation", attributes={"ns": NAMESPACE}):
            for key, value in ann.getValue():
                if key == ID_KEY:
                    state.fairway_ids.add(value)
        return state

    def close(self) -> None:
        """Log out."""
        self.conn.close()

    def apply(self, actions: list[OmeroAction]) -> None:
        """Run each action in order (an import runs ``omero import`` on the dataset)."""
        from omero.gateway import DatasetWrapper, MapAnnotationWrapper, ProjectWrapper

        projects: dict[str, Any] = {p.getName(): p for p in self.conn.getObjects("Project")}
        datasets: dict[str, Any] = {}
        image: Any = None
        for a in actions:
            if a.kind == "create_project":
                p = ProjectWrapper(self.conn)
                p.setName(a.name)
                p.save()
                projects[a.name] = p
            elif a.kind == "create_dataset":
                d = DatasetWrapper(self.conn)
                d.setName(a.name)
                d.save()
                datasets[a.name] = d
            elif a.kind == "link_dataset":
                projects[a.project].linkDataset(datasets[a.dataset]._obj)
            elif a.kind == "import_image":
                target = datasets.get(a.dataset) or next(
                    d for d in projects[a.project].listChildren() if d.getName() == a.dataset
                )
                args = ["omero", "import", "-d", str(target.getId()), a.path]
                if a.transfer == "ln_s":
                    args[2:2] = ["--transfer=ln_s"]
                subprocess.run(args, check=True)
                image = next(iter(target.listChildren()), None)
            elif a.kind == "annotate_map" and image is not None:
                m = MapAnnotationWrapper(self.conn)
                m.setNs(a.namespace)
                m.setValue([list(p) for p in a.pairs])
                m.save()
                image.linkAnnotation(m)
            elif a.kind == "attach_file" and image is not None:
                with tempfile.TemporaryDirectory() as tmp:
                    path = Path(tmp) / a.name
                    path.write_text(a.content, encoding="utf-8")
                    attachment = self.conn.createFileAnnfromLocalFile(
                        str(path), mimetype=a.mimetype, ns=a.namespace
                    )
                image.linkAnnotation(attachment)
