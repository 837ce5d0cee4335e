"""Deterministic mutations of real files: what a damaged transfer or a hostile sender makes.

Every mutation is a pure function of (bytes, seed), so a failing case is reproduced from its
(source, mutation, seed) triple alone.
"""

from __future__ import annotations

import io
import random
import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np
import tifffile

__all__ = ["CRAFTED", "MUTATIONS", "deep_sequence_dicom", "size_bomb_tiff"]


def bit_flips(data: bytes, seed: int) -> bytes:
    """Flip 1 to 64 random bits."""
    rng = random.Random(seed)
    out = bytearray(data)
    for _ in range(rng.randint(1, 64)):
        i = rng.randrange(len(out))
        out[i] ^= 1 << rng.randrange(8)
    return bytes(out)


def truncation(data: bytes, seed: int) -> bytes:
    """Cut the file at a random offset."""
    return data[: random.Random(seed).randrange(max(1, len(data)))]


def length_inflation(data: bytes, seed: int) -> bytes:
    """Overwrite a few 4-byte words with huge lengths (TIFF tags, DICOM lengths, CZI sizes)."""
    rng = random.Random(seed)
    out = bytearray(data)
    big = [0x7FFFFFFF, 0xFFFFFFF0, 0x40000000, 0x00FFFFFF]
    for _ in range(rng.randint(1, 8)):
        i = rng.randrange(max(1, len(out) - 4))
        out[i : i + 4] = struct.pack("<I", rng.choice(big))
    return bytes(out)


def _tiff_first_ifd(data: bytes) -> tuple[str, int] | None:
    if data[:2] == b"II":
        end = "<"
    elif data[:2] == b"MM":
        end = ">"
    else:
        return None
    if struct.unpack(end + "H", data[2:4])[0] != 42:
        return None  # BigTIFF and others: leave to the generic mutations
    return end, struct.unpack(end + "I", data[4:8])[0]


def tiff_tag_inflation(data: bytes, seed: int) -> bytes:
    """Set ImageWidth, ImageLength, SamplesPerPixel or byte counts of the first IFD to huge."""
    found = _tiff_first_ifd(data)
    if found is None:
        return length_inflation(data, seed)
    end, ifd = found
    rng = random.Random(seed)
    out = bytearray(data)
    if ifd + 2 > len(out):
        return length_inflation(data, seed)
    n = struct.unpack(end + "H", out[ifd : ifd + 2])[0]
    for k in range(min(n, 512)):
        entry = ifd + 2 + 12 * k
        if entry + 12 > len(out):
            break
        tag, typ = struct.unpack(end + "HH", out[entry : entry + 4])
        if tag in (256, 257, 277, 279, 325) and rng.random() < 0.7:
            if typ == 3:  # SHORT
                out[entry + 8 : entry + 10] = struct.pack(end + "H", rng.choice([65535, 65529]))
            else:
                out[entry + 8 : entry + 12] = struct.pack(
                    end + "I", rng.choice([0xFFFFFFFF, 0x7FFFFFFF])
                )
    return bytes(out)


def tiff_ifd_loop(data: bytes, seed: int) -> bytes:
    """Point the first IFD's next-IFD offset back at itself (or at the header)."""
    found = _tiff_first_ifd(data)
    if found is None:
        return bit_flips(data, seed)
    end, ifd = found
    out = bytearray(data)
    if ifd + 2 > len(out):
        return bit_flips(data, seed)
    n = struct.unpack(end + "H", out[ifd : ifd + 2])[0]
    nxt = ifd + 2 + 12 * n
    if nxt + 4 > len(out):
        return bit_flips(data, seed)
    target = ifd if seed % 2 else 8
    out[nxt : nxt + 4] = struct.pack(end + "I", target)
    return bytes(out)


MUTATIONS: dict[str, Callable[[bytes, int], bytes]] = {
    "bit-flips": bit_flips,
    "truncation": truncation,
    "length-inflation": length_inflation,
    "tiff-tag-inflation": tiff_tag_inflation,
    "tiff-ifd-loop": tiff_ifd_loop,
}


def size_bomb_tiff(seed: int) -> bytes:
    """A small TIFF whose first IFD declares 2^32-1 x 2^32-1 pixels or 65,529 samples."""
    buf = io.BytesIO()
    tifffile.imwrite(buf, np.zeros((16, 16), dtype=np.uint8))
    data = bytearray(buf.getvalue())
    found = _tiff_first_ifd(bytes(data))
    assert found is not None
    end, ifd = found
    n = struct.unpack(end + "H", data[ifd : ifd + 2])[0]
    for k in range(n):
        entry = ifd + 2 + 12 * k
        tag, _typ = struct.unpack(end + "HH", data[entry : entry + 4])
        if seed % 2 == 0 and tag in (256, 257):
            data[entry + 2 : entry + 4] = struct.pack(end + "H", 4)  # LONG
            data[entry + 8 : entry + 12] = struct.pack(end + "I", 0xFFFFFFFF)
        if seed % 2 == 1 and tag == 277:
            data[entry + 8 : entry + 10] = struct.pack(end + "H", 65529)
    return bytes(data)


def _nested_sq(depth: int, leaf: bytes) -> bytes:
    """Explicit-VR little-endian bytes of a private sequence nested ``depth`` levels deep."""
    undefined = struct.pack("<I", 0xFFFFFFFF)
    sq = b"\x09\x00\x11\x10SQ\x00\x00" + undefined  # (0009,1011) SQ, undefined length
    item = b"\xfe\xff\x00\xe0" + undefined
    item_end = b"\xfe\xff\x0d\xe0" + b"\x00" * 4
    sq_end = b"\xfe\xff\xdd\xe0" + b"\x00" * 4
    return (sq + item) * depth + leaf + (item_end + sq_end) * depth


def deep_sequence_dicom(seed: int, depth: int = 300) -> bytes:
    """A CT instance with a private sequence nested ``depth`` levels deep (built as bytes:
    pydicom's own writer does not finish at that depth).
    """
    import pydicom
    from pydicom.data import get_testdata_file
    from pydicom.uid import ExplicitVRLittleEndian

    ds = pydicom.dcmread(str(get_testdata_file("CT_small.dcm")))
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    slot = f"FAIRWAY-SLOT-{seed:07d}".encode()  # even length: written without padding
    ds.add_new(0x00090010, "LO", "FAIRWAY TORTURE")
    ds.add_new(0x00091012, "LO", slot.decode())
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    data = buf.getvalue()
    element = b"\x09\x00\x12\x10LO" + struct.pack("<H", len(slot)) + slot
    at = data.find(element)
    if at < 0:
        raise ValueError("slot element not found (transfer syntax is not explicit VR LE)")
    leaf = b"\x09\x00\x10\x10LO" + struct.pack("<H", 4) + b"leaf"
    return data[:at] + _nested_sq(depth, leaf) + data[at + len(element) :]


def executable_preamble_dicom(seed: int) -> bytes:
    """A DICOM file whose 128-byte preamble is a PE (``MZ``) or ELF header: a polyglot."""
    from pydicom.data import get_testdata_file

    data = bytearray(Path(str(get_testdata_file("CT_small.dcm"))).read_bytes())
    data[:4] = b"MZ\x90\x00" if seed % 2 == 0 else b"\x7fELF"
    return bytes(data)


#: inputs made from nothing: (name, suffix, maker)
CRAFTED: list[tuple[str, str, Callable[[int], bytes]]] = [
    ("size-bomb", ".tif", size_bomb_tiff),
    ("deep-sequence", ".dcm", deep_sequence_dicom),
    ("executable-preamble", ".dcm", executable_preamble_dicom),
]
