"""BioImage Archive submission package: files, a file list and the study in PageTab.

``fairway publish DATASET --to bia DEST`` writes ``DEST/<dataset>-bia/``, a folder a submitter
uploads as it is:

* ``files/<dataset>.ome.zarr`` (copied from the archive, verified against its manifest);
* ``file_list.tsv``: one row per image with its REMBI image attributes;
* ``submission.tsv``: the study in BioStudies PageTab with the sections the BioImage Archive
  reads: Study (title, description, keywords, licence, funding), Author and Organization,
  Biosample (organism, biological entity, variables), Specimen (preparation protocol), Image
  acquisition (instrument, parameters, imaging method with its FBbi term), Study Component
  (name, description, file list, associations), and Annotations when there are labels;
* ``README.txt``: how to upload it.

A dataset below the REMBI required set is refused with its gap report: the BioImage Archive
would refuse the submission anyway, later and with less help.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from core.errors import FinalError
from core.fieldpaths import expand, parse_path
from core.files import building_folder
from core.records import FAIR_LEVELS, MetadataRecord, ValidationReport
from core.release import check_release
from targets.bundle import copy_verified
from targets.package import RECORD_FILE, REPORT_FILE
from targets.tabular import table_text
from validators.report import report_markdown

__all__ = ["BelowRembiError", "pagetab", "write_bia_package"]

#: SPDX id -> the licence names the BioImage Archive lists
BIA_LICENCES = {"CC0-1.0": "CC0", "CC-BY-4.0": "CC BY 4.0"}


class BelowRembiError(FinalError):
    """The dataset lacks REMBI required metadata; the gap report says what."""


def _items(record: MetadataRecord, prefix: str, leaf: str) -> list[str]:
    out = []
    i = 0
    while (value := record.value(f"{prefix}[{i}].{leaf}")) is not None:
        out.append(str(value))
        i += 1
    return out


def _listed(record: MetadataRecord, prefix: str) -> list[str]:
    """The values of a list field, read the way the record's fields expand into a document.

    A list value, items set one by one (``prefix[4]``, e.g. by a curator's fix on top of a
    sidecar's list), or one scalar all count; items are never written as a Python repr.
    """
    subset = {
        k: x.value for k, x in record.fields.items() if k == prefix or k.startswith(prefix + "[")
    }
    try:
        node: Any = expand(subset)
        for part in parse_path(prefix):
            node = node[part]
    except (ValueError, KeyError, IndexError, TypeError):
        return []
    items = node if isinstance(node, list) else [node]
    return [str(x) for x in items if x not in (None, "") and not isinstance(x, dict | list)]


def _clean(value: object) -> str:
    return " ".join(str(value).split())  # no tabs or newlines inside a PageTab cell


Row = list[object]


def _section(rows: list[Row], header: str, accno: str = "", **attrs: object) -> None:
    """A blank line, the section's header (with its reference, if any), one row per value."""
    rows.append([])
    rows.append([header, accno] if accno else [header])
    for name, value in attrs.items():
        for v in value if isinstance(value, list) else [value]:
            if v not in (None, ""):
                rows.append([name.replace("_", " "), _clean(v)])


def pagetab(
    record: MetadataRecord, dataset: str, file_list: str, labels: Sequence[str] = ()
) -> str:
    """The study of ``record`` as a BioStudies PageTab submission (tab-separated text).

    The accession is left blank (BioStudies assigns it); the Annotations section is written
    only when the image has ``labels``. Every cell goes through :func:`targets.tabular.safe_cell`.
    """
    v = record.value
    licence = str(v("study.license") or "")
    rows: list[Row] = [
        ["Submission", ""],
        ["Title", _clean(v("study.title") or dataset)],
        ["ReleaseDate", v("study.release_date") or ""],
        ["AttachTo", "BioImages"],
    ]
    _section(
        rows,
        "Study",
        Title=v("study.title"),
        Description=v("study.description"),
        Keywords=_listed(record, "study.keywords"),
        License=BIA_LICENCES.get(licence, licence),
        Funding_statement=v("study.funding_statement"),
        Acknowledgements=v("study.acknowledgements"),
    )
    organisations: dict[str, str] = {}
    for i, name in enumerate(_items(record, "study.authors", "name")):
        affiliation = str(v(f"study.authors[{i}].affiliation") or "")
        ref = organisations.setdefault(affiliation, f"o{len(organisations) + 1}")
        _section(
            rows,
            "Author",
            Name=name,
            E_mail=v(f"study.authors[{i}].email"),
            ORCID=v(f"study.authors[{i}].orcid"),
            Role=_listed(record, f"study.authors[{i}].role")[:1],
        )
        rows.append(["<affiliation>", ref])
    for name, ref in organisations.items():
        _section(rows, "Organization", ref, Name=name)
    biosample = str(v("biosample.title") or v("biosample.biological_entity") or "Biosample 1")
    _section(
        rows,
        "Biosample",
        Title=biosample,
        Biological_entity=v("biosample.biological_entity"),
        Description=v("biosample.description"),
        Intrinsic_variable=_listed(record, "biosample.intrinsic_variables"),
        Extrinsic_variable=_listed(record, "biosample.extrinsic_variables"),
        Experimental_variable=_listed(record, "biosample.experimental_variables"),
    )
    for i, name in enumerate(_items(record, "biosample.organism", "scientific_name")):
        taxon = str(v(f"biosample.organism[{i}].ncbi_taxon") or "")
        _section(
            rows,
            "Organism",
            Scientific_name=name,
            Common_name=v(f"biosample.organism[{i}].common_name"),
            NCBI_taxon_ID=taxon.split(":")[-1].removeprefix("txid") if taxon else None,
        )
    specimen = "Specimen 1"
    _section(
        rows,
        "Specimen",
        Title=specimen,
        Sample_preparation_protocol=v("specimen.sample_preparation_protocol"),
        Growth_protocol=v("specimen.growth_protocol"),
        Signal_contrast_mechanism=v("specimen.signal_contrast_mechanism"),
    )
    acquisition = "Image acquisition 1"
    _section(
        rows,
        "Image acquisition",
        Title=acquisition,
        Imaging_instrument=v("acquisition.imaging_instrument_description"),
        Image_acquisition_parameters=v("acquisition.image_acquisition_parameters"),
    )
    for i, label in enumerate(_items(record, "acquisition.imaging_method", "label")):
        _section(
            rows,
            "Imaging Method",
            Ontology_Value=label,
            Ontology_Name="Biological Imaging Methods Ontology (FBbi)",
            Ontology_Term_ID=v(f"acquisition.imaging_method[{i}].term_id"),
        )
    _section(
        rows,
        "Study Component",
        Name=v("study_component.name") or dataset,
        Description=v("study_component.description"),
        File_List=file_list,
    )
    _section(
        rows, "Associations", Biosample=biosample, Specimen=specimen, Image_acquisition=acquisition
    )
    if labels:
        _section(
            rows,
            "Annotations",
            Title=f"Annotations of {dataset}",
            Annotation_Overview=v("annotations.overview") or f"Label images: {', '.join(labels)}",
            Annotation_Method=v("annotations.method"),
            Annotation_Type=_listed(record, "annotations.types"),
        )
    return table_text(rows)


def _file_list(record: MetadataRecord, dataset: str) -> str:
    v = record.value
    dims = " x ".join(
        f"{a.upper()}={v(f'pixels.size_{a}')}" for a in "xyzct" if v(f"pixels.size_{a}")
    )
    pixel = " x ".join(
        f"{v(f'pixels.physical_size_{a}')} {v(f'pixels.physical_size_{a}_unit') or 'µm'}"
        for a in "xyz"
        if v(f"pixels.physical_size_{a}")
    )
    channels = ", ".join(_items(record, "channels", "name"))
    return table_text(
        [
            ["Files", "Type", "Dimensions", "Pixel size", "Channels", "Format"],
            [f"files/{dataset}.ome.zarr", "image", dims, pixel, channels, "OME-Zarr"],
        ]
    )


def _label_names(store: Path) -> list[str]:
    """The names of the label images of the store's first image (none if it has none)."""
    for group in (store, store / "0"):
        meta = group / "labels" / "zarr.json"
        if meta.is_file():
            attrs = json.loads(meta.read_text(encoding="utf-8")).get("attributes", {})
            return [str(n) for n in attrs.get("ome", attrs).get("labels", [])]
        zattrs = group / "labels" / ".zattrs"  # NGFF 0.4 (zarr v2)
        if zattrs.is_file():
            return [str(n) for n in json.loads(zattrs.read_text(encoding="utf-8"))["labels"]]
    return []


def write_bia_package(bag: Path, dest: Path) -> Path:
    """Write the BioImage Archive submission folder of the archived bag ``bag`` into ``dest``.

    Raises
    ------
    BelowRembiError
        The dataset is below the REMBI required set; the message carries its gap report.
    NotReleasedError
        Embargoed, or below its profile's level (:func:`core.release.check_release`).
    TargetError
        The archive does not match its manifest, or the folder exists already.
    """
    dataset = bag.name
    data = bag / "data"
    record = MetadataRecord.model_validate_json((data / RECORD_FILE).read_text(encoding="utf-8"))
    report = ValidationReport.model_validate_json((data / REPORT_FILE).read_text(encoding="utf-8"))
    if FAIR_LEVELS.index(report.fair_level) < FAIR_LEVELS.index("rembi"):
        missing = sorted(
            {
                f.path
                for f in report.findings
                if f.blocks in {"rembi", "ngff"} or f.level == "required"
            }
        )
        raise BelowRembiError(
            f"below the REMBI required set (FAIR level {report.fair_level}); "
            f"{len(missing)} gaps: " + ", ".join(missing),
            where=dataset,
            hint=f"`fairway gaps {dataset}` is the full gap report; fix with `fairway fix`",
        )
    check_release(record, report)  # embargo and the profile's level: as for every way out
    with building_folder(dest / f"{dataset}-bia") as work:
        (work / "files").mkdir()
        copy_verified(bag, work / "files", only=f"data/{dataset}.ome.zarr/")
        (work / "file_list.tsv").write_text(_file_list(record, dataset), encoding="utf-8")
        labels = _label_names(work / "files" / f"{dataset}.ome.zarr")
        submission = pagetab(record, dataset, "file_list.tsv", labels)
        (work / "submission.tsv").write_text(submission, encoding="utf-8")
        (work / "gap-report.md").write_text(report_markdown(report), encoding="utf-8")
        (work / "README.txt").write_text(
            f"BioImage Archive submission of {dataset}, written by fairway.\n\n"
            "1. Upload this folder with the BioImage Archive's file upload (FTP or Aspera).\n"
            "2. Submit submission.tsv (PageTab) in the BioStudies submission tool; its study\n"
            "   component points at file_list.tsv, whose paths are relative to this folder.\n"
            "gap-report.md lists the metadata that is still recommended.\n",
            encoding="utf-8",
        )
    return dest / f"{dataset}-bia"
