"""Receive DICOM from the network (C-STORE SCP, pynetdicom) into a watched inbox.

Every received instance is written as it arrived on the wire (no re-encoding) to
``<inbox>/<random>.dcm.part``, fsync'd, then renamed to ``<random>.dcm``: the scanner ignores
``.part`` files, so it never sees half an instance, and names carry nothing identifying.
Associations from AE titles not in ``allowed_aes`` are rejected when the list is set.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import SettingsError

__all__ = ["StorageServer", "start_storage_scp"]

log = logging.getLogger(__name__)


@dataclass
class StorageServer:
    """A running SCP; ``received`` counts the instances written."""

    server: Any
    inbox: Path
    received: int = 0

    @property
    def port(self) -> int:
        """The TCP port it listens on."""
        return int(self.server.server_address[1])

    def shutdown(self) -> None:
        """Stop accepting and close the associations."""
        self.server.shutdown()


def _write_atomically(inbox: Path, data: bytes) -> Path:
    name = uuid.uuid4().hex
    partial = inbox / f"{name}.dcm.part"
    final = inbox / f"{name}.dcm"
    with partial.open("wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    partial.rename(final)
    dir_fd = os.open(inbox, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return final


def start_storage_scp(
    inbox: Path,
    *,
    ae_title: str = "FAIRWAY",
    host: str = "0.0.0.0",  # a facility SCP listens for its modalities on the LAN
    port: int = 11112,
    allowed_aes: Sequence[str] = (),
    on_stored: Callable[[Path], None] | None = None,
) -> StorageServer:
    """Start a C-STORE SCP (and C-ECHO) in the background; return it.

    Raises
    ------
    SettingsError
        pynetdicom is missing, the inbox does not exist, or the port cannot be bound.
    """
    try:
        from pynetdicom import AE, AllStoragePresentationContexts, evt
        from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]
    except ImportError as exc:
        raise SettingsError(
            "pynetdicom is not installed", hint="pip install 'fairway[dicom]'"
        ) from exc
    if not inbox.is_dir():
        raise SettingsError("the inbox folder does not exist", where=inbox)
    logging.getLogger("pynetdicom").setLevel(logging.WARNING)  # its debug lines dump headers
    ae = AE(ae_title=ae_title)
    ae.supported_contexts = AllStoragePresentationContexts
    ae.add_supported_context(Verification)
    ae.require_called_aet = True
    if allowed_aes:
        ae.require_calling_aet = list(allowed_aes)
    state = StorageServer(server=None, inbox=inbox)

    def handle_store(event: Any) -> int:
        try:
            path = _write_atomically(inbox, bytes(event.encoded_dataset()))
        except OSError as exc:
            log.warning("cannot write a received instance into %s: %s", inbox, exc.strerror)
            return 0xA700  # Out of resources
        state.received += 1
        if on_stored is not None:
            on_stored(path)
        return 0x0000

    try:
        state.server = ae.start_server(
            (host, port), block=False, evt_handlers=[(evt.EVT_C_STORE, handle_store)]
        )
    except OSError as exc:
        raise SettingsError(
            f"cannot listen on {host}:{port} ({exc.strerror})",
            hint="choose another port with --port",
        ) from exc
    return state
