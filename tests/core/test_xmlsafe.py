"""Every XML fairway reads from a file goes through defusedxml with size and depth caps.

Each hostile document (billion laughs, an external entity, a DTD, a 100,000-deep nest) is
refused with a typed error naming the file, in every container that carries XML: a TIFF
description, a companion file, CZI metadata and a LIF header; never a ``RecursionError``
or a traceback.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
import tifffile

from core.cziio import CziReader
from core.errors import CorruptInputError, InputTooLargeError, UnsafeInputError
from core.settings import Settings
from core.tiffio import read_companion
from core.xmlsafe import MAX_XML_DEPTH, XmlTooDeepError, check_xml, parse_xml
from metadata import extract
from metadata.czi_source import czi_ome
from tests.factories import acquisition_of

DEEP = 100_000
OME_HEAD = (
    '<OME xmlns="http://www.openmicroscopy.org/Schemas/OME/2016-06"><Image ID="Image:0" Name="x">'
    '<Pixels ID="Pixels:0" DimensionOrder="XYZCT" Type="uint8" SizeX="8" SizeY="8" SizeZ="1" '
    'SizeC="1" SizeT="1"><Channel ID="Channel:0:0" SamplesPerPixel="1"/><TiffData/></Pixels>'
    "</Image>"
)


def _ome(doctype: str = "", body: str = "") -> str:
    return f'<?xml version="1.0"?>{doctype}{OME_HEAD}{body}</OME>'


def _annotation(inner: str) -> str:
    return (
        '<StructuredAnnotations><XMLAnnotation ID="Annotation:0"><Value>'
        f"{inner}</Value></XMLAnnotation></StructuredAnnotations>"
    )


LAUGHS = (
    '<!DOCTYPE OME [<!ENTITY l0 "lol">'
    + "".join(f'<!ENTITY l{i} "{("&l" + str(i - 1) + ";") * 10}">' for i in range(1, 10))
    + "]>"
)
HOSTILE = {
    "billion-laughs": (_ome(LAUGHS, _annotation("&l9;")), UnsafeInputError),
    "external-entity": (
        _ome('<!DOCTYPE OME [<!ENTITY x SYSTEM "file:///etc/passwd">]>', _annotation("&x;")),
        UnsafeInputError,
    ),
    "external-dtd": (
        _ome('<!DOCTYPE OME SYSTEM "http://attacker.invalid/x.dtd">'),
        UnsafeInputError,
    ),
    "plain-dtd": (_ome("<!DOCTYPE OME>"), UnsafeInputError),
    "deep-nest": (_ome(body=_annotation("<a>" * DEEP + "</a>" * DEEP)), XmlTooDeepError),
}
CASES = list(HOSTILE.values())
IDS = list(HOSTILE)


@pytest.mark.parametrize(("xml", "error"), CASES, ids=IDS)
def test_hostile_xml_is_refused_by_the_parser(xml: str, error: type[Exception]) -> None:
    where = Path("/data/evil.ome.xml")
    for text in (xml, xml.encode()):
        with pytest.raises(error, match=r"evil\.ome\.xml"):
            check_xml(text, where=where, max_bytes=10**7)
        with pytest.raises(error, match=r"evil\.ome\.xml"):
            parse_xml(text, where=where, max_bytes=10**7)


def test_depth_message_and_limit() -> None:
    ok = "<a>" * MAX_XML_DEPTH + "</a>" * MAX_XML_DEPTH
    assert parse_xml(ok, where="x.xml", max_bytes=10**6).tag == "a"
    deeper = "<a>" + ok + "</a>"
    with pytest.raises(
        XmlTooDeepError, match=rf"x\.xml: XML nests elements more than {MAX_XML_DEPTH}"
    ):
        parse_xml(deeper, where="x.xml", max_bytes=10**6)
    with pytest.raises(InputTooLargeError, match="above the cap of 100"):
        parse_xml(deeper, where="x.xml", max_bytes=100)


def test_plain_text_and_utf16_pass_and_malformed_xml_is_named() -> None:
    assert check_xml("ImageJ=1.54f\nimages=3\n", where="a.tif", max_bytes=100) == (
        "ImageJ=1.54f\nimages=3\n"
    )
    utf16 = '<?xml version="1.0" encoding="UTF-16"?><OME/>'.encode("utf-16")
    assert check_xml(utf16, where="a.ome", max_bytes=1000).endswith("<OME/>")
    with pytest.raises(CorruptInputError, match=r"a\.ome: embedded XML is not well-formed"):
        check_xml("<OME><Image></OME>", where="a.ome", max_bytes=1000)


@pytest.mark.parametrize(("xml", "error"), CASES, ids=IDS)
def test_ome_tiff_description(
    tmp_path: Path, settings: Settings, xml: str, error: type[Exception]
) -> None:
    p = tmp_path / "evil.ome.tif"
    tifffile.imwrite(p, np.zeros((8, 8), np.uint8), description=xml.encode(), metadata=None)
    with pytest.raises(error, match=r"evil\.ome\.tif"):
        extract(acquisition_of(p), settings)


@pytest.mark.parametrize(("xml", "error"), CASES, ids=IDS)
def test_companion_file(tmp_path: Path, xml: str, error: type[Exception]) -> None:
    p = tmp_path / "evil.companion.ome"
    p.write_text(xml, encoding="utf-8")
    with pytest.raises(error, match=r"evil\.companion\.ome"):
        read_companion(p, max_xml_bytes=10**7)


@pytest.mark.parametrize(("xml", "error"), CASES, ids=IDS)
def test_czi_metadata(tmp_path: Path, xml: str, error: type[Exception]) -> None:
    reader = CziReader(tmp_path / "evil.czi", [], xml.replace("OME", "ImageDocument"))
    with pytest.raises(error, match=r"evil\.czi"):
        czi_ome(reader)


@pytest.mark.parametrize(("xml", "error"), CASES, ids=IDS)
def test_lif_header(tmp_path: Path, settings: Settings, xml: str, error: type[Exception]) -> None:
    header = xml.replace("OME", "LMSDataContainerHeader").encode("utf-16-le")
    units = len(header) // 2
    p = tmp_path / "evil.lif"
    p.write_bytes(struct.pack("<IIBI", 0x70, 2 * units + 5, 0x2A, units) + header + bytes(64))
    with pytest.raises(error, match=r"evil\.lif"):
        extract(acquisition_of(p, kind="bioio"), settings)
