"""`loopscope export-locust`: the same workload as `run`, as a locustfile, for when one machine
is not enough. LoopScope does not distribute load itself; Locust's master and workers do.

The file is plain text made from the run's request (method, path, query, headers, body),
users and rate, with think time 0 (a closed-loop user sends again as soon as it is answered,
as LoopScope's do). An open loop (--rate R) becomes Locust's `constant_throughput` of R/users
per user: a pacing, not a schedule, so unlike LoopScope it does not correct for coordinated
omission (a slow answer delays that user's next request).
"""

from __future__ import annotations

import argparse
import string
import sys
from pathlib import Path
from typing import Any

from loopscope.loadgen import RouteRequest, RunSettings

from ._options import EXIT_OK, UsageError, check_output_paths, write_outputs
from ._run_command import add_run_options, settings_from

DEFAULT_HOST = "http://127.0.0.1:8000"


def add_locust_parser(commands: Any) -> None:
    export = commands.add_parser(
        "export-locust",
        help="write a locustfile for the workload `run` would load (Locust's distributed "
        "mode then runs it from many machines)",
        description="Takes `run`'s arguments and writes a locustfile instead of running.",
    )
    add_run_options(export)
    export.add_argument(
        "--out", "-o", type=Path, required=True, metavar="PATH", help="the locustfile to write"
    )
    export.add_argument(
        "--host",
        default=None,
        metavar="URL",
        help=f"the server Locust loads (default: --url's or --target's, else {DEFAULT_HOST}: "
        "`loopscope serve`, or your app under `uvicorn MODULE:APP --port 8000`)",
    )


def locustfile(settings: RunSettings, host: str, filename: str = "locustfile.py") -> str:
    """The locustfile's text for `settings` against `host`."""
    request = settings.request()
    if isinstance(request, RouteRequest):
        method, headers, body = request.method, dict(request.headers), request.body
    else:
        method, headers, body = "GET", {}, None
    users = settings.concurrency if settings.rate is None else (settings.max_in_flight or 10)
    if settings.rate is None:
        wait = "constant(0)  # think time 0: a closed-loop user sends again at once"
        imports = "constant"
        pacing = f"{users} users, closed loop"
    else:
        per_user = settings.rate / users
        wait = f"constant_throughput({per_user:g})  # {settings.rate:g} req/s over {users} users"
        imports = "constant_throughput"
        pacing = f"{settings.rate:g} req/s paced over {users} users"
    target = request.target if isinstance(request, RouteRequest) else None
    # A typed target is passed whole, as the URL, so its query is not re-encoded.
    where = f"{request.path!r},\n            params={request.params!r}"
    if target is not None:
        where = repr(target)
    data = "" if body is None else f", data={body.decode('utf-8', 'replace')!r}"
    extra_headers = f", headers={headers!r}" if headers else ""
    label = request.scenario
    return f'''"""Locustfile exported by LoopScope: {label}, {pacing}.

Made by `loopscope export-locust`; the same request LoopScope's `run` repeats. Run it:

    locust -f {filename} --headless -u {users} -r {users} -t 60s
    # from many machines: one master ...
    locust -f {filename} --master --headless -u {users} -r {users} -t 60s --expect-workers N
    # ... and N workers (each on its own machine or core)
    locust -f {filename} --worker --master-host MASTER_IP

Host: {host} (change it with --host).
"""

from locust import FastHttpUser, {imports}, task


class LoopScopeUser(FastHttpUser):
    host = {host!r}
    wait_time = {wait}

    @task
    def request(self) -> None:
        self.client.request(
            {method!r},
            {where}{extra_headers}{data},
            name={label!r},
        )
'''


def command_export_locust(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    check_output_paths({"--out": args.out})
    if settings.app is not None and args.host is None:
        host = DEFAULT_HOST
    else:
        host = args.host or settings.target or DEFAULT_HOST
    text = locustfile(settings, host.rstrip("/"), args.out.name)
    compile(text, str(args.out), "exec")  # a bug of ours must not write a broken file
    if not write_outputs({"--out": (args.out, lambda path: _write(path, text))}):
        return 1
    print(f"loopscope: wrote {args.out}: {settings.scenario} against {host}")
    request = settings.request()
    if isinstance(request, RouteRequest) and request.target is not None:
        sent = locust_target(request.target)
        if sent != request.target:
            print(
                f"loopscope: note: Locust's HTTP client re-quotes a URL: it sends this "
                f"target as {sent}",
                file=sys.stderr,
            )
    return EXIT_OK


_UNRESERVED = frozenset(string.ascii_letters + string.digits + "-._~")
# What geventhttpclient leaves unencoded when it re-quotes a URL.
_KEPT = _UNRESERVED | frozenset("!#$&'()*+,/:;=?@[]")


def locust_target(target: str) -> str:
    """The target as Locust's FastHttpUser (geventhttpclient) puts it on the wire: it
    re-quotes a URL, decoding a %XX of an unreserved character and encoding what is not
    allowed; one escape of two letters or digits that is not hex makes it encode every
    %. An empty query loses its "?", a last segment its empty ";"."""
    path, mark, query = target.partition("?")
    last = path.rsplit("/", 1)[-1]
    if last.endswith(";") and last.find(";") == len(last) - 1:
        path = path[:-1]  # the URL parser drops the empty parameters of a last segment
    target = path + mark + query
    out: list[str] = []
    pieces = target.split("%")
    for piece in pieces[1:]:
        escape = piece[:2]
        if len(escape) == 2 and escape.isalnum() and not all(c in string.hexdigits for c in escape):
            out = [_encoded(target, percent=True)]
            break
    else:
        out.append(_encoded(pieces[0]))
        for piece in pieces[1:]:
            escape = piece[:2]
            if len(escape) == 2 and escape.isalnum() and chr(int(escape, 16)) in _UNRESERVED:
                out.append(chr(int(escape, 16)) + _encoded(piece[2:]))
            else:
                out.append("%" + _encoded(piece))
    sent = "".join(out)
    return sent[:-1] if sent.endswith("?") and sent.count("?") == 1 else sent


def _encoded(text: str, *, percent: bool = False) -> str:
    return (
        "".join(c if c in _KEPT else f"%{ord(c):02X}" for c in text)
        if percent or any(c not in _KEPT for c in text)
        else text
    )


def _write(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")


__all__ = ["UsageError", "add_locust_parser", "command_export_locust", "locustfile"]
