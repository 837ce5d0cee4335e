"""A process that imports fairway once and forks a fresh ``fairway`` command per request.

Importing fairway and Prefect takes seconds; a T2 trial is two short ``fairway ingest`` runs,
so most of its time went to imports. The zygote imports the CLI once and forks: each child
runs ``flows.cli.main`` exactly as the console script does, in its own session, and dies
(or exits) on its own. Requests and replies are JSON lines on stdin and stdout:

``{"argv": [...], "env": {...}, "unset": [...], "out": PATH}`` → ``{"pid": P, "code": C}``

``code`` is as :func:`os.waitstatus_to_exitcode` gives it (``-9`` for SIGKILL). The zygote
has one thread when it forks (checked), so a child inherits no half-held lock.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import threading


def _child(request: dict[str, object]) -> None:
    os.setsid()
    env = request.get("env") or {}
    assert isinstance(env, dict)
    os.environ.update({str(k): str(v) for k, v in env.items()})
    for name in request.get("unset") or []:
        os.environ.pop(str(name), None)
    out = os.open(str(request["out"]), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(out, 1)
    os.dup2(null, 2)
    os.close(0)
    argv = request["argv"]
    assert isinstance(argv, list)
    sys.argv = ["fairway", *map(str, argv)]
    code = 0
    try:
        from flows.cli import main

        main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:  # noqa: BLE001 - an uncaught error is a failed run, as in the CLI
        code = 1
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
    os._exit(code)


def serve() -> None:
    # the point: import once, before forking; the flow's first run would import the rest
    import distributed  # noqa: F401 - dask.compute imports it whenever it is installed
    import prefect.flow_engine
    import prefect.task_engine  # noqa: F401

    import flows.cli
    import flows.ingestion  # noqa: F401

    for line in sys.stdin:
        request = json.loads(line)
        assert threading.active_count() == 1, "the zygote must not fork with threads"
        pid = os.fork()
        if pid == 0:
            _child(request)
        _pid, status = os.waitpid(pid, 0)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)  # anything the child left behind
        reply = {"pid": pid, "code": os.waitstatus_to_exitcode(status)}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    serve()
