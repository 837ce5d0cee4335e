"""Every XML that comes from a file is parsed here first: defusedxml, a size cap, a depth cap.

OME-XML never needs a document type declaration. defusedxml's parser refuses a DTD, entity
declarations and external references as the parser meets them, which closes XXE and
entity-expansion ("billion laughs", quadratic blow-up) attacks; the size cap bounds the work.
defusedxml does not bound nesting, and the code that walks a tree (ome-types, liffile's
``etree2dict``, ``ElementTree.tostring``) recurses, so a 100,000-deep nest would end in a
``RecursionError`` there: the tree builder here counts depth as elements open and stops at
:data:`MAX_XML_DEPTH`, without recursion, long before any tree exists.

Text that passes :func:`check_xml` is safe for the parsers downstream (ome-types, tifffile's
own series parser, the bioio plugins): they see no DTD, no entity and no deep nest.
"""

from __future__ import annotations

from pathlib import Path
from xml.etree.ElementTree import Element, ParseError, TreeBuilder

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser

from core.errors import CorruptInputError, InputTooLargeError, UnsafeInputError

__all__ = ["MAX_XML_DEPTH", "XmlTooDeepError", "check_xml", "parse_xml", "unsafe_xml"]

#: deepest element nesting accepted: libxml2's own default (which ome-types' lxml applies);
#: real OME-XML and vendor XML (CZI, LIF) stay well under 40
MAX_XML_DEPTH = 256


class XmlTooDeepError(InputTooLargeError):
    """XML nests elements deeper than :data:`MAX_XML_DEPTH` (a stack-exhaustion attack)."""


def unsafe_xml(where: Path | str) -> UnsafeInputError:
    """The error for XML that declares a DTD or entities (never needed by microscopy formats)."""
    return UnsafeInputError(
        "embedded XML declares a DOCTYPE or ENTITY, which microscopy metadata never needs "
        "(possible XXE or entity-expansion attack)",
        where=where,
        hint="the file was not parsed; re-export it from the acquisition software",
    )


class _TooDeep(Exception):
    def __init__(self, depth: int) -> None:
        super().__init__(depth)
        self.depth = depth


class _BoundedBuilder(TreeBuilder):
    """A tree builder that refuses to open element number ``max_depth + 1`` on one path."""

    def __init__(self, max_depth: int, *, keep: bool) -> None:
        super().__init__()
        self._max_depth = max_depth
        self._depth = 0
        self._keep = keep  # False: only count (check_xml), do not build a tree

    def start(self, tag: str, attrs: dict[str, str]) -> Element:
        self._depth += 1
        if self._depth > self._max_depth:
            raise _TooDeep(self._depth)
        if self._keep:
            return super().start(tag, attrs)
        return Element(tag)

    def end(self, tag: str) -> Element:
        self._depth -= 1
        if self._keep:
            return super().end(tag)
        return Element(tag)

    def data(self, data: str) -> None:
        if self._keep:
            super().data(data)

    def close(self) -> Element:
        return super().close() if self._keep else Element("counted")


def _size(text: str | bytes, where: Path | str, max_bytes: int) -> None:
    if len(text) > max_bytes:
        raise InputTooLargeError(
            f"embedded XML is {len(text)} bytes, above the cap of {max_bytes}",
            where=where,
            hint="raise FAIRWAY_MAX_XML_BYTES if this file is trusted",
        )


def _parse(text: str | bytes, where: Path | str, max_depth: int, *, keep: bool) -> Element:
    """Run defusedxml over ``text``; raises ParseError for XML that is not well-formed."""
    builder = _BoundedBuilder(max_depth, keep=keep)
    parser = DefusedXMLParser(
        target=builder, forbid_dtd=True, forbid_entities=True, forbid_external=True
    )
    try:
        parser.feed(text)  # a str is parsed as UTF-8 whatever its declaration says
        return parser.close()  # type: ignore[no-any-return]
    except DefusedXmlException as exc:
        raise unsafe_xml(where) from exc
    except _TooDeep as exc:
        raise XmlTooDeepError(
            f"XML nests elements more than {max_depth} levels deep (stopped at level "
            f"{exc.depth}); no microscopy metadata is nested this deep",
            where=where,
            hint="the file was not parsed further; re-export it from the acquisition software",
        ) from None


def _malformed(where: Path | str, exc: ParseError) -> CorruptInputError:
    return CorruptInputError(
        f"embedded XML is not well-formed ({exc})",
        where=where,
        hint="check that the transfer finished, or re-export it from the acquisition software",
    )


def parse_xml(
    text: str | bytes, *, where: Path | str, max_bytes: int, max_depth: int = MAX_XML_DEPTH
) -> Element:
    """Parse ``text`` with defusedxml within the size and depth caps; return the root element.

    Raises
    ------
    InputTooLargeError
        ``text`` is longer than ``max_bytes``.
    XmlTooDeepError
        Elements nest deeper than ``max_depth``.
    UnsafeInputError
        The XML declares a DTD, an entity or an external reference.
    CorruptInputError
        The XML is not well-formed.
    """
    _size(text, where, max_bytes)
    try:
        return _parse(text, where, max_depth, keep=True)
    except ParseError as exc:
        raise _malformed(where, exc) from None


def check_xml(
    text: str | bytes, *, where: Path | str, max_bytes: int, max_depth: int = MAX_XML_DEPTH
) -> str:
    """Return ``text`` as ``str`` when it is safe for any parser downstream, else raise.

    ``text`` may be anything a file holds where XML is allowed (a TIFF description is often
    plain text): what looks like XML (its first character is ``<``) is parsed whole, so no
    parser downstream, not even one that recovers from errors (ome-types reads with lxml's
    ``recover=True``), meets anything this parser did not check.

    Raises
    ------
    InputTooLargeError, XmlTooDeepError, UnsafeInputError, CorruptInputError
        As :func:`parse_xml`.
    """
    _size(text, where, max_bytes)
    if isinstance(text, bytes):
        data = text
        text = text.decode("utf-8", errors="replace")
        if data.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16 with a byte-order mark
            text = data.decode("utf-16", errors="replace")
    body = text.lstrip("\ufeff \t\r\n")
    if body.startswith("<"):
        try:
            _parse(body, where, max_depth, keep=False)
        except ParseError as exc:
            raise _malformed(where, exc) from None
    return text
