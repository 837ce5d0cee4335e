"""A wall-time bound for one acquisition, that also stops CPU-bound pure-Python work.

A hostile input can keep a parser busy for hours (a deeply nested sidecar): the worker must
give up on it, quarantine it, and go on with the next acquisition. :func:`deadline` arms a
watchdog that raises :class:`DeadlineExceeded` *inside* the busy code:

- in the main thread, with ``signal.setitimer(ITIMER_REAL)``: the ``SIGALRM`` handler raises,
  which also interrupts sleeps and waits on locks or futures (dask's threaded scheduler);
- in any other thread (a Prefect task run in a worker thread), with a timer thread that sets an
  asynchronous exception in the busy thread (``PyThreadState_SetAsyncExc``), delivered at the
  next bytecode boundary.

Either way a long call into C (one ``zstd`` block, one ``read``) finishes before the
exception lands; pure-Python loops stop at once. :class:`DeadlineExceeded` derives from
``BaseException`` so that readers' ``except Exception`` (``third_party_damage`` turns those
into "corrupt input") cannot swallow it; the caller turns it into
:class:`AcquisitionTimeoutError`, a retryable fairway error.
"""

from __future__ import annotations

import ctypes
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

from core.errors import RetryableError

__all__ = ["AcquisitionTimeoutError", "DeadlineExceeded", "deadline"]


class DeadlineExceeded(BaseException):
    """Raised inside the guarded code when its time is up (not an ``Exception`` on purpose)."""


class AcquisitionTimeoutError(RetryableError):
    """An acquisition took longer than ``acquisition_timeout_seconds``; retry it later."""


@contextmanager
def deadline(seconds: float | None, *, where: str | Path) -> Iterator[None]:
    """Run the body with a wall-time bound of ``seconds`` (``None``: no bound).

    Raises
    ------
    AcquisitionTimeoutError
        The body ran longer than ``seconds``; it was interrupted where it was.
    """
    if seconds is None:
        yield
        return
    guard = _MainThreadGuard(seconds) if _in_main_thread() else _ThreadGuard(seconds)
    try:
        with guard:
            yield
    except DeadlineExceeded:
        raise AcquisitionTimeoutError(
            f"processing took longer than {seconds:g} s and was stopped",
            where=where,
            hint="raise acquisition_timeout_seconds for inputs this large, then "
            "`fairway retry DATASET`; if it is not large, the input may be hostile",
        ) from None


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


class _MainThreadGuard:
    """``SIGALRM`` after ``seconds``; the previous handler and timer are restored after."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.armed = False

    def _fire(self, _signum: int, _frame: FrameType | None) -> None:
        if self.armed:
            self.armed = False
            raise DeadlineExceeded

    def __enter__(self) -> None:
        self.previous = signal.signal(signal.SIGALRM, self._fire)
        self.armed = True
        signal.setitimer(signal.ITIMER_REAL, self.seconds)

    def __exit__(self, *_exc: object) -> None:
        self.armed = False  # first: a signal arriving now is ignored, not raised
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, self.previous)


class _ThreadGuard:
    """A timer thread that raises :class:`DeadlineExceeded` in the guarded thread."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.lock = threading.Lock()
        self.armed = False
        self.target = threading.get_ident()
        self.timer = threading.Timer(seconds, self._fire)
        self.timer.daemon = True

    def _fire(self) -> None:
        with self.lock:
            if not self.armed:
                return
            self.armed = False
            ctypes.pythonapi.PyThreadState_SetAsyncExc(
                ctypes.c_ulong(self.target), ctypes.py_object(DeadlineExceeded)
            )

    def __enter__(self) -> None:
        self.armed = True
        self.timer.start()

    def __exit__(self, *_exc: object) -> None:
        with self.lock:
            fired = not self.armed
            self.armed = False
        self.timer.cancel()
        if fired and _exc[0] is None:
            # the exception was set after the body's last bytecode: clear it, do not leak it
            ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(self.target), None)
