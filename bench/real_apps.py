"""`loopscope audit` on code nobody here wrote: FastAPI's own tutorial apps.

The apps come from FastAPI's source distribution on PyPI at the installed FastAPI version
(its sdist ships `docs_src/`), fetched with pip and unpacked under ~/.cache/loopscope-bench;
nothing of it enters this repository. Each app that imports with the installed packages is
audited by `loopscope audit` in a process of its own, with a wall-clock limit, and the bench
records per app: the routes it has (read from the app itself, mounted sub-apps and websocket
routes included), which the audit judged or skipped and why, the verdicts, exit status, wall
time and the tail of stderr.

Two labelled subsets give the verdict accuracy: tutorial routes read and labelled by hand
(`LABELS`), and copies of tutorial apps made at run time with a blocking call inserted (an
`async def` helper calling `time.sleep(s)`, awaited by the route), which must read "blocks the
event loop", exit 1, naming the inserted line.

Every audit runs in a network namespace of its own where one is available (root, `unshare`):
a tutorial's code then reaches 127.0.0.1 only, whatever it does. Timing in this bench is only
the audits' wall time against their bound; the verdicts are what it measures.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import importlib.metadata
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from _support import (
    LIVE_GROUPS,
    RESULTS,
    checkout_env,
    ended_on_exit,
    fmt,
    int_list,
    kill_group,
    machine_info,
    positive_float,
    require_this_checkout,
    table,
    write_json,
)

CACHE = Path.home() / ".cache" / "loopscope-bench"
DEFAULT_OUT = RESULTS / "real_apps.json"

VERDICT_ASYNC = "async, non-blocking"
VERDICT_THREAD_POOL = "thread pool (def)"
VERDICT_BLOCKS = "blocks the event loop"
# A label for a route that answers a redirect: right when the audit names the redirect
# (verdict, detail or an error kind), wrong when it counts the 3xx as success.
EXPECT_REDIRECT = "names the redirect"

# Skip reasons a person accepts for a GET route: a websocket is not loaded by an HTTP
# generator, and a route that needs a body the user did not give cannot be sent.
ACCEPTED_SKIP_WORDS = ("websocket", "body")

# Hand-labelled: the routes of these tutorial apps were read; each is trivial, so the
# verdict follows from `async def` or `def` alone (or from the redirect it answers).
LABELS: dict[str, dict[str, str]] = {
    "docs_src.first_steps.tutorial001": {"GET /": VERDICT_ASYNC},
    "docs_src.first_steps.tutorial003": {"GET /": VERDICT_THREAD_POOL},
    "docs_src.path_params.tutorial001": {"GET /items/{item_id}": VERDICT_ASYNC},
    "docs_src.path_params.tutorial003": {
        "GET /users/me": VERDICT_ASYNC,
        "GET /users/{user_id}": VERDICT_ASYNC,
    },
    "docs_src.path_params.tutorial004": {"GET /files/{file_path}": VERDICT_ASYNC},
    "docs_src.path_params.tutorial005": {"GET /models/{model_name}": VERDICT_ASYNC},
    "docs_src.query_params.tutorial001": {"GET /items/": VERDICT_ASYNC},
    "docs_src.query_params.tutorial005": {"GET /items/{item_id}": VERDICT_ASYNC},
    "docs_src.response_headers.tutorial001": {"GET /headers/": VERDICT_THREAD_POOL},
    "docs_src.using_request_directly.tutorial001": {"GET /items/{item_id}": VERDICT_THREAD_POOL},
    "docs_src.stream_data.tutorial002": {
        "GET /image/stream": VERDICT_ASYNC,
        "GET /image/stream-no-async": VERDICT_THREAD_POOL,
        "GET /image/stream-no-async-yield-from": VERDICT_THREAD_POOL,
        "GET /image/stream-no-annotation": VERDICT_ASYNC,
        "GET /image/stream-no-async-no-annotation": VERDICT_THREAD_POOL,
    },
    "docs_src.custom_response.tutorial006": {"GET /typer": EXPECT_REDIRECT},
}

# Tutorial apps the blocking call is inserted into: a route without parameters and one with a
# path parameter (the most common shape of route there is).
BLOCKING_BASES = ("docs_src.first_steps.tutorial001", "docs_src.path_params.tutorial001")
DEFAULT_SLEEPS = (0.05, 0.3, 1.0, 5.0)

TAIL_LINES = 12
MEASURES = {
    "covered": "every GET route of the app (read from the app's own router: included routers "
    "and mounts walked, FastAPI's own /docs pages left out, the OpenAPI schema's GETs added) is "
    "audited, or skipped with a reason naming a websocket or a body; websocket routes count "
    "too (a handshake is a GET) and must be listed as skipped; apps with neither are not in "
    "the denominator",
    "wall_target_s": "10 + sum over the routes judged of levels x (2 + 2 x p99 s), p99 the "
    "highest of the levels' p99 and the longest stall of the loop; routes not measured count "
    "with p99 0",
    "blocking_detected": "verdict 'blocks the event loop' AND a blocking site at the inserted "
    "time.sleep line AND exit status 1",
}
TAIL_CHARS = 400


# --- the corpus ----------------------------------------------------------------------------


def fastapi_version() -> str:
    return importlib.metadata.version("fastapi")


def fetch_corpus(version: str) -> Path:
    """The folder holding `docs_src/` of FastAPI `version`'s sdist, fetched once and cached."""
    root = CACHE / f"fastapi-{version}"
    if (root / "docs_src").is_dir():
        return root
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE, prefix="fetch-") as scratch:
        print(f"fetching FastAPI {version}'s source distribution with pip", flush=True)
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-binary",
                ":all:",
                "--no-deps",
                "--quiet",
                f"fastapi=={version}",
                "-d",
                scratch,
            ],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        archives = sorted(Path(scratch).glob("fastapi-*.tar.gz"))
        if done.returncode != 0 or not archives:
            sys.exit(f"pip could not download fastapi=={version}'s sdist: {done.stderr[-500:]}")
        unpacked = Path(scratch, "unpacked")
        with tarfile.open(archives[0]) as archive:
            prefix = f"{archives[0].name.removesuffix('.tar.gz')}/docs_src/"
            members = [m for m in archive.getmembers() if m.name.startswith(prefix)]
            if not members:
                sys.exit(f"fastapi=={version}'s sdist has no docs_src/ folder")
            archive.extractall(unpacked, members=members, filter="data")
        staged = Path(scratch, "root")
        staged.mkdir()
        Path(unpacked, prefix).rename(staged / "docs_src")
        staged.rename(root)  # atomic: a half-unpacked corpus is never taken for a cached one
    return root


def _is_fastapi_call(node: ast.expr) -> bool:
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    return (isinstance(func, ast.Name) and func.id == "FastAPI") or (
        isinstance(func, ast.Attribute) and func.attr == "FastAPI"
    )


def defines_app(source: str) -> bool:
    """A module-level `app = FastAPI(...)`."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return False
    for node in tree.body:
        if isinstance(node, ast.Assign) and _is_fastapi_call(node.value):
            if any(isinstance(t, ast.Name) and t.id == "app" for t in node.targets):
                return True
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and node.target.id == "app"
            and node.value is not None
            and _is_fastapi_call(node.value)
        ):
            return True
    return False


def find_apps(root: Path) -> list[str]:
    """Module names (docs_src.topic.tutorial001) of the modules that define an app."""
    found = []
    for path in sorted((root / "docs_src").rglob("*.py")):
        if path.name.startswith("test_") or path.name == "__init__.py":
            continue
        if defines_app(path.read_text(encoding="utf-8", errors="replace")):
            found.append(".".join(path.relative_to(root).with_suffix("").parts))
    return found


def sample(apps: Sequence[str], limit: int) -> list[str]:
    """The labelled apps first, then one app per topic folder in turn, up to `limit` (0: all).

    Round-robin over topics so that a quick run sees as many kinds of app as it can.
    """
    labelled = [app for app in apps if app in LABELS]
    by_topic: dict[str, list[str]] = {}
    for app in apps:
        if app not in LABELS:
            by_topic.setdefault(app.split(".")[1], []).append(app)
    ordered = list(labelled)
    queues = list(by_topic.values())
    while any(queues):
        for queue in queues:
            if queue:
                ordered.append(queue.pop(0))
    return ordered if limit <= 0 else ordered[:limit]


# --- child processes -----------------------------------------------------------------------


def netns_prefix() -> list[str]:
    """A command prefix running its command in a new network namespace with only loopback up,
    or [] where that is not possible here."""
    if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("ip"):
        return []
    prefix = ["unshare", "--net", "--", "sh", "-c", 'ip link set lo up && exec "$@"', "sh"]
    try:
        probe = subprocess.run([*prefix, "true"], capture_output=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return []
    return prefix if probe.returncode == 0 else []


@dataclass(slots=True)
class Finished:
    returncode: int | None  # None: killed past the limit
    wall_s: float
    timed_out: bool


def run_bounded(
    command: Sequence[str],
    *,
    cwd: Path,
    stdout: Path,
    stderr: Path,
    limit_s: float,
) -> Finished:
    """`command` in a session (process group) of its own; past `limit_s` it gets SIGTERM (so
    that it can write what it has), 10 s later the whole group gets SIGKILL."""
    started = time.monotonic()
    with stdout.open("wb") as out, stderr.open("wb") as err:
        proc = subprocess.Popen(
            list(command),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            env=checkout_env(),
            start_new_session=True,
        )
    LIVE_GROUPS.add(proc.pid)
    timed_out = False
    try:
        try:
            proc.wait(timeout=limit_s)
        except subprocess.TimeoutExpired:
            timed_out = True
            kill_group(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                kill_group(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            kill_group(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        # Whatever the app left behind in its group goes too.
        kill_group(proc.pid, signal.SIGKILL)
        LIVE_GROUPS.discard(proc.pid)
    return Finished(proc.returncode, time.monotonic() - started, timed_out)


def tail(path: Path, lines: int = TAIL_LINES) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    return [line[:TAIL_CHARS] for line in text.splitlines()[-lines:]]


def count_lines(path: Path) -> int:
    try:
        with path.open("rb") as handle:
            return sum(1 for _ in handle)
    except OSError:
        return 0


# --- what the app has (read from the app itself, in a child process) -----------------------


def _normalised(path: str) -> str:
    """The route template as OpenAPI writes it: `{p:path}` -> `{p}`."""
    return re.sub(r"\{([^}:]+):[^}]+\}", r"{\1}", path)


def _framework_paths(app: object) -> set[str]:
    """FastAPI's own pages of `app` (/openapi.json, /docs, /redoc, ...): not the user's routes."""
    names = ("openapi_url", "docs_url", "redoc_url", "swagger_ui_oauth2_redirect_url")
    return {str(getattr(app, name)) for name in names if getattr(app, name, None)}


def _walk(app: object, prefix: str, out: list[dict[str, object]]) -> None:
    """Every route of `app`, mounted sub-applications' included, with the mount's prefix."""
    _walk_routes(getattr(app, "routes", None) or [], prefix, _framework_paths(app), out)


def _walk_routes(
    routes: Sequence[object], prefix: str, framework: set[str], out: list[dict[str, object]]
) -> None:
    from starlette.routing import Mount, Route, WebSocketRoute

    for route in routes:
        # FastAPI >= 0.16x keeps an included router as one entry that holds the router
        # (`_IncludedRouter`): its routes sit under the include's prefix.
        included = getattr(route, "original_router", None)
        context = getattr(route, "include_context", None)
        if included is not None and context is not None:
            inner_prefix = prefix + str(getattr(context, "prefix", "") or "")
            _walk_routes(getattr(included, "routes", []), inner_prefix, set(), out)
        elif isinstance(route, Mount):
            if route.routes:
                _walk(route.app, prefix + route.path, out)
            else:  # static files or another opaque ASGI app: no routes to list
                out.append({"kind": "mount", "path": prefix + route.path, "methods": []})
        elif isinstance(route, WebSocketRoute):
            out.append({"kind": "websocket", "path": _normalised(prefix + route.path)})
        elif isinstance(route, Route) and route.path not in framework:
            out.append(
                {
                    "kind": "http",
                    "path": _normalised(prefix + route.path),
                    "methods": sorted(route.methods or ()),
                    "in_schema": bool(route.include_in_schema),
                }
            )


def _schema_gets(app: object) -> list[str]:
    """GET paths of the app's OpenAPI schema: a net for route kinds the walk does not know."""
    openapi = getattr(app, "openapi", None)
    if not callable(openapi):
        return []
    try:
        schema = openapi()
    except Exception:  # a schema the app cannot build: the walk's routes stand alone
        return []
    paths = schema.get("paths", {}) if isinstance(schema, dict) else {}
    return [path for path, operations in paths.items() if "get" in operations]


def inventory_main(spec: str, app_dir: str) -> int:
    """Child-process side: import the app as uvicorn would and print its routes as JSON."""
    module_name, _, attribute = spec.partition(":")
    sys.path.insert(0, app_dir)
    try:
        app: object = importlib.import_module(module_name)
        for part in attribute.split("."):
            app = getattr(app, part)
        routes: list[dict[str, object]] = []
        _walk(app, "", routes)
        walked = {route["path"] for route in routes if route["kind"] == "http"}
        for path in _schema_gets(app):
            if path not in walked:
                routes.append({"kind": "http", "path": path, "methods": ["GET"], "from": "schema"})
    except BaseException as exc:  # the app's own failure, whatever it is, in one line
        reason = f"{type(exc).__name__}: {exc}".splitlines()[0][:TAIL_CHARS]
        print(json.dumps({"imports": False, "reason": reason}))
        return 0
    print(json.dumps({"imports": True, "routes": routes}))
    return 0


@dataclass(slots=True)
class Inventory:
    imports: bool
    reason: str = ""
    routes: list[dict[str, object]] = field(default_factory=list)

    def get_labels(self) -> list[str]:
        """`GET /path` for every GET route, in the audit's spelling."""
        labels = [
            f"GET {route['path']}"
            for route in self.routes
            if route["kind"] == "http" and "GET" in (route.get("methods") or [])  # type: ignore[operator]
        ]
        return list(dict.fromkeys(labels))  # a path served twice is one route to the audit

    def websockets(self) -> list[str]:
        return [
            f"WEBSOCKET {route['path']}" for route in self.routes if route["kind"] == "websocket"
        ]

    def mounts(self) -> list[str]:
        return [str(route["path"]) for route in self.routes if route["kind"] == "mount"]


def take_inventory(
    spec: str, app_dir: Path, work: Path, prefix: Sequence[str], limit_s: float
) -> Inventory:
    out, err = work / "inventory.out", work / "inventory.err"
    finished = run_bounded(
        [*prefix, sys.executable, str(Path(__file__).resolve()), "--inventory", spec, str(app_dir)],
        cwd=work,
        stdout=out,
        stderr=err,
        limit_s=limit_s,
    )
    if finished.timed_out:
        return Inventory(False, f"importing took longer than {limit_s:g} s")
    lines = out.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    try:
        found = json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        last = tail(err, 1)
        return Inventory(False, last[0] if last else f"exit status {finished.returncode}")
    if not found["imports"]:
        return Inventory(False, str(found["reason"]))
    return Inventory(True, routes=list(found["routes"]))


# --- one audit -----------------------------------------------------------------------------


@dataclass(slots=True)
class RouteOutcome:
    route: str
    outcome: str  # audited | skipped | missing | not audited
    verdict: str | None = None
    detail: str = ""
    why: str = ""
    accepted: bool = False
    errors: dict[str, int] = field(default_factory=dict)
    p99_ms: float | None = None
    sites: list[dict[str, object]] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {"route": self.route, "outcome": self.outcome}
        if self.outcome == "audited":
            out |= {"verdict": self.verdict, "detail": self.detail, "p99_ms": self.p99_ms}
            if self.errors:
                out["errors"] = self.errors
            if self.sites:
                out["blocking_sites"] = self.sites
        else:
            out |= {"why": self.why, "accepted": self.accepted}
        return out


@dataclass(slots=True)
class AppResult:
    app: str
    imports: bool
    import_reason: str = ""
    get_routes: int = 0
    routes: list[RouteOutcome] = field(default_factory=list)
    other_skipped: list[dict[str, str]] = field(default_factory=list)
    mounts: list[str] = field(default_factory=list)
    exit_code: int | None = None
    timed_out: bool = False
    wall_s: float = 0.0
    target_s: float = 0.0
    json_written: bool = False
    stdout_lines: int = 0
    stderr_tail: list[str] = field(default_factory=list)
    traceback: bool = False

    @property
    def covered(self) -> bool:
        """Every GET route audited, or skipped for a reason a person accepts."""
        return all(r.outcome == "audited" or r.accepted for r in self.routes)

    @property
    def audited(self) -> int:
        return sum(r.outcome == "audited" for r in self.routes)

    def route(self, label: str) -> RouteOutcome | None:
        return next((r for r in self.routes if r.route == label), None)

    def to_json(self) -> dict[str, object]:
        if not self.imports:
            return {"app": self.app, "imports": False, "reason": self.import_reason}
        return {
            "app": self.app,
            "imports": True,
            "get_routes": self.get_routes,
            "audited": self.audited,
            "covered": self.covered if self.get_routes else None,
            "routes": [r.to_json() for r in self.routes],
            "other_skipped": self.other_skipped,
            "opaque_mounts": self.mounts,
            "exit_code": self.exit_code,
            "timed_out": self.timed_out,
            "wall_s": round(self.wall_s, 2),
            "target_wall_s": round(self.target_s, 2),
            "json_written": self.json_written,
            "stdout_lines": self.stdout_lines,
            "traceback_in_stderr": self.traceback,
            "stderr_tail": self.stderr_tail,
        }


@dataclass(frozen=True, slots=True)
class AuditPlan:
    levels: tuple[int, ...]
    duration_s: float
    limit_s: float
    prefix: tuple[str, ...]

    def target_s(self, p99s_ms: Sequence[float | None], unmeasured: int) -> float:
        """The bound an audit must keep: levels x (2 s + 2 x p99) per route judged, + 10 s.

        Routes the audit did not measure (no JSON) count with a p99 of 0.
        """
        per_route = [len(self.levels) * (2 + 2 * (p99 or 0) / 1000) for p99 in p99s_ms]
        return sum(per_route) + len(self.levels) * 2 * unmeasured + 10


def _accepted(why: str) -> bool:
    return any(word in why.lower() for word in ACCEPTED_SKIP_WORDS)


def _label_key(label: str) -> str:
    method, _, path = " ".join(label.split()).partition(" ")
    return f"{method.upper()} {_normalised(path)}"


def audit_app(
    spec: str, app_dir: Path, inventory: Inventory, plan: AuditPlan, work: Path
) -> AppResult:
    """`loopscope audit` on one app, and its report set against the app's own routes."""
    result = AppResult(spec.partition(":")[0], True, mounts=inventory.mounts())
    report_path = work / "audit.json"
    stdout, stderr = work / "audit.out", work / "audit.err"
    command = [
        *plan.prefix,
        sys.executable,
        "-m",
        "loopscope",
        "audit",
        spec,
        "--app-dir",
        str(app_dir),
        "--levels",
        ",".join(str(level) for level in plan.levels),
        "--duration",
        f"{plan.duration_s:g}",
        "--json",
        str(report_path),
    ]
    finished = run_bounded(command, cwd=work, stdout=stdout, stderr=stderr, limit_s=plan.limit_s)
    result.exit_code = finished.returncode
    result.timed_out = finished.timed_out
    result.wall_s = finished.wall_s
    result.stdout_lines = count_lines(stdout)
    result.stderr_tail = tail(stderr)
    result.traceback = "Traceback (most recent call last)" in stderr.read_text(
        encoding="utf-8", errors="replace"
    )
    report: dict[str, object] = {}
    if report_path.is_file():
        try:
            report = json.loads(report_path.read_text(encoding="utf-8"))
            result.json_written = True
        except json.JSONDecodeError:
            report = {}
    audited: dict[str, dict[str, object]] = {
        _label_key(str(r["route"])): r
        for r in report.get("routes", [])  # type: ignore[attr-defined]
    }
    skipped: dict[str, str] = {
        _label_key(str(s["route"])): str(s["why"])
        for s in report.get("skipped", [])  # type: ignore[attr-defined]
    }
    last_line = next((line for line in reversed(result.stderr_tail) if line.strip()), "")
    if finished.timed_out:
        last_line = f"killed after {plan.limit_s:g} s; last: {last_line}"
    for label in [*inventory.get_labels(), *inventory.websockets()]:
        if label in audited:
            route = audited[label]
            levels: list[dict[str, object]] = route.get("levels", [])  # type: ignore[assignment]
            errors: dict[str, int] = {}
            p99s = []
            for level in levels:
                for kind, count in dict(level.get("errors", {})).items():  # type: ignore[call-overload]
                    errors[kind] = errors.get(kind, 0) + int(count)
                if level.get("latency_p99_ms") is not None:
                    p99s.append(float(level["latency_p99_ms"]))  # type: ignore[arg-type]
            sites: list[dict[str, object]] = list(route.get("blocking_sites", []))  # type: ignore[call-overload]
            # A request that held the loop took at least its longest stall: where a level
            # ended before any such request completed (no p99), the stall stands for it.
            p99s += [float(site["max_ms"]) for site in sites if site.get("max_ms") is not None]  # type: ignore[arg-type]
            result.routes.append(
                RouteOutcome(
                    label,
                    "audited",
                    verdict=str(route.get("verdict")),
                    detail=str(route.get("detail", "")),
                    errors=errors,
                    p99_ms=max(p99s) if p99s else None,
                    sites=sites,
                )
            )
        elif label in skipped:
            why = skipped[label]
            result.routes.append(RouteOutcome(label, "skipped", why=why, accepted=_accepted(why)))
        elif result.json_written and not finished.timed_out:
            result.routes.append(
                RouteOutcome(label, "missing", why="neither audited nor listed as skipped")
            )
        else:
            result.routes.append(RouteOutcome(label, "not audited", why=last_line))
    result.get_routes = len(result.routes)
    known = {r.route for r in result.routes}
    result.other_skipped = [
        {"route": label, "why": why} for label, why in skipped.items() if label not in known
    ]
    judged = [r.p99_ms for r in result.routes if r.outcome == "audited"]
    result.target_s = plan.target_s(judged, 0 if result.json_written else result.get_routes)
    return result


# --- the labelled subsets ------------------------------------------------------------------


def judge_label(expected: str, outcome: RouteOutcome | None) -> str:
    """right | wrong | not judged."""
    if outcome is None or outcome.outcome != "audited":
        return "not judged"
    if expected == EXPECT_REDIRECT:
        said = f"{outcome.verdict} {outcome.detail} {' '.join(outcome.errors)}".lower()
        return "right" if "redirect" in said else "wrong"
    return "right" if outcome.verdict == expected else "wrong"


def insert_blocking(source: str, route_path: str, sleep_s: float) -> tuple[str, int]:
    """`source` with an `async def` helper calling `time.sleep(sleep_s)` appended, awaited
    first thing in the `async def` route for `route_path`; and the line of the sleep."""
    tree = ast.parse(source)
    target: ast.AsyncFunctionDef | None = None
    for node in tree.body:
        if isinstance(node, ast.AsyncFunctionDef):
            for decorator in node.decorator_list:
                if (
                    isinstance(decorator, ast.Call)
                    and decorator.args
                    and isinstance(decorator.args[0], ast.Constant)
                    and decorator.args[0].value == route_path
                ):
                    target = node
    if target is None:
        raise ValueError(f"no async def route for {route_path!r}")
    first = target.body[0]
    lines = source.splitlines()
    indent = lines[first.lineno - 1][: first.col_offset]
    lines.insert(first.lineno - 1, f"{indent}await _inserted_blocking_helper()")
    lines += [
        "",
        "",
        "async def _inserted_blocking_helper():",
        "    import time",
        "",
        f"    time.sleep({sleep_s!r})",
    ]
    return "\n".join(lines) + "\n", len(lines)


@dataclass(slots=True)
class BlockingCase:
    base: str
    route: str
    sleep_s: float
    module: str
    sleep_line: int
    result: AppResult | None = None

    @property
    def flagged(self) -> bool:
        outcome = self.result.route(self.route) if self.result else None
        return outcome is not None and outcome.verdict == VERDICT_BLOCKS

    @property
    def site_named(self) -> bool:
        outcome = self.result.route(self.route) if self.result else None
        if outcome is None:
            return False
        return any(
            str(site.get("file", "")).endswith(f"{self.module}.py")
            and site.get("line") == self.sleep_line
            for site in outcome.sites
        )

    @property
    def exit_1(self) -> bool:
        return self.result is not None and self.result.exit_code == 1

    @property
    def detected(self) -> bool:
        return self.flagged and self.site_named and self.exit_1

    def line(self) -> str:
        outcome = self.result.route(self.route) if self.result else None
        return (
            f"{self.base.removeprefix('docs_src.')} {self.route} sleep {self.sleep_s:g} s: "
            f"{'DETECTED' if self.detected else 'missed'} (verdict "
            f"{outcome.verdict if outcome else None}, line named {self.site_named}, exit "
            f"{self.result.exit_code if self.result else None}, "
            f"{fmt(self.result.wall_s if self.result else None, 1)} s)"
        )

    def to_json(self) -> dict[str, object]:
        outcome = self.result.route(self.route) if self.result else None
        return {
            "base": self.base,
            "route": self.route,
            "sleep_s": self.sleep_s,
            "inserted_line": self.sleep_line,
            "verdict": outcome.verdict if outcome else None,
            "outcome": outcome.outcome if outcome else None,
            "why": outcome.why if outcome else None,
            "flagged": self.flagged,
            "site_named": self.site_named,
            "exit_code": self.result.exit_code if self.result else None,
            "detected": self.detected,
            "wall_s": round(self.result.wall_s, 2) if self.result else None,
            "target_wall_s": round(self.result.target_s, 2) if self.result else None,
            "timed_out": self.result.timed_out if self.result else None,
            "stderr_tail": self.result.stderr_tail if self.result else [],
        }


def blocking_cases(root: Path, folder: Path, sleeps: Sequence[float]) -> list[BlockingCase]:
    """Copies of the `BLOCKING_BASES` apps with the blocking helper, written into `folder`."""
    cases = []
    for base in BLOCKING_BASES:
        source = root.joinpath(*base.split(".")).with_suffix(".py").read_text(encoding="utf-8")
        (label,) = LABELS[base]
        route = label.partition(" ")[2]
        for sleep_s in sleeps:
            module = f"blocking_{base.rsplit('.', 2)[1]}_{str(sleep_s).replace('.', '_')}"
            text, line = insert_blocking(source, route, sleep_s)
            (folder / f"{module}.py").write_text(text, encoding="utf-8")
            cases.append(BlockingCase(base, label, sleep_s, module, line))
    return cases


# --- summary and output ----------------------------------------------------------------------


def docs_table(summary: dict[str, object]) -> str:
    """The corpus table for docs/your-app.md, in Markdown."""
    rows = summary["rows"]
    assert isinstance(rows, list)
    lines = ["| measure | result | target |", "|---|---|---|"]
    lines += [f"| {measure} | {result} | {target} |" for measure, result, target in rows]
    lines.append("")
    lines.append(
        f"FastAPI {summary['fastapi']} tutorial apps (`docs_src/` of its sdist), "
        f"{summary['sampled']} of {summary['found']} audited at levels "
        f"{summary['levels']}, {summary['duration_s']} s per level; "
        f"regenerate with `python bench/real_apps.py`."
    )
    return "\n".join(lines)


def summarise(
    apps: Sequence[AppResult],
    cases: Sequence[BlockingCase],
    found: int,
    plan: AuditPlan,
) -> dict[str, object]:
    importable = [a for a in apps if a.imports]
    with_get = [a for a in importable if a.get_routes]
    covered = [a for a in with_get if a.covered]
    labelled: list[dict[str, object]] = []
    for app in apps:
        for label, expected in LABELS.get(app.app, {}).items():
            outcome = app.route(label)
            labelled.append(
                {
                    "app": app.app,
                    "route": label,
                    "expected": expected,
                    "got": outcome.verdict if outcome else None,
                    "judgement": judge_label(expected, outcome),
                }
            )
    wrong = sum(entry["judgement"] == "wrong" for entry in labelled)
    unjudged = sum(entry["judgement"] == "not judged" for entry in labelled)
    timed = [*importable, *(c.result for c in cases if c.result)]
    over = [a for a in timed if a.wall_s > a.target_s]
    slowest = max(timed, key=lambda a: a.wall_s, default=None)
    per_sleep = []
    for sleep_s in sorted({c.sleep_s for c in cases}):
        at = [c for c in cases if c.sleep_s == sleep_s]
        per_sleep.append(f"{sleep_s:g} s: {sum(c.detected for c in at)}/{len(at)}")
    pct = 100 * len(covered) / len(with_get) if with_get else 0.0
    rows = [
        [
            "importable apps with every GET route audited (or skipped: websocket, body needed)",
            f"{len(covered)} of {len(with_get)} ({pct:.0f} %)",
            "≥ 95 %",
        ],
        [
            "wrong verdicts on the hand-labelled routes",
            f"{wrong} of {len(labelled)} ({unjudged} not judged)",
            "0",
        ],
        [
            "`async def` + `time.sleep(s)` in a helper: blocks, names the line, exit 1",
            ", ".join(per_sleep) or "-",
            "every s",
        ],
        [
            "audits over levels × (2 s + 2 × p99) + 10 s",
            f"{len(over)} of {len(timed)}; longest {fmt(slowest.wall_s if slowest else None, 1)} s"
            + (f" ({slowest.app})" if slowest else ""),
            "0",
        ],
    ]
    return {
        "found": found,
        "sampled": len(apps),
        "importable": len(importable),
        "not_importable": len(apps) - len(importable),
        "importable_with_get": len(with_get),
        "covered": len(covered),
        "covered_pct": round(pct, 1),
        "labelled_routes": len(labelled),
        "labelled_wrong": wrong,
        "labelled_not_judged": unjudged,
        "labelled": labelled,
        "blocking_detected": per_sleep,
        "over_wall_target": [a.app for a in over],
        "max_wall_s": round(slowest.wall_s, 2) if slowest else None,
        "max_wall_app": slowest.app if slowest else None,
        "exit_codes": _histogram(str(a.exit_code) for a in importable),
        "verdicts": _histogram(
            str(r.verdict) for a in importable for r in a.routes if r.outcome == "audited"
        ),
        "outcomes": _histogram(r.outcome for a in importable for r in a.routes),
        "skip_reasons": _histogram(
            r.why for a in importable for r in a.routes if r.outcome == "skipped"
        ),
        "levels": ",".join(str(level) for level in plan.levels),
        "duration_s": plan.duration_s,
        "rows": rows,
    }


def _histogram(values: Iterator[str] | Sequence[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return dict(sorted(counts.items(), key=lambda item: -item[1]))


APP_HEADER = ["app", "GET", "audited", "ok skip", "exit", "wall s", "bound s", "verdicts / why"]


def app_cells(app: AppResult) -> list[str]:
    short = app.app.removeprefix("docs_src.")
    if not app.imports:
        return [short, "-", "-", "-", "-", "-", "-", f"does not import: {app.import_reason[:70]}"]
    notes = sorted(
        {r.verdict or "" for r in app.routes if r.outcome == "audited"}
        | {f"{r.outcome}: {r.why[:50]}" for r in app.routes if r.outcome != "audited"}
    )
    return [
        short,
        str(app.get_routes),
        str(app.audited),
        str(sum(r.accepted for r in app.routes)),
        "killed" if app.timed_out else str(app.exit_code),
        fmt(app.wall_s, 1),
        fmt(app.target_s, 1),
        "; ".join(notes)[:110],
    ]


def print_summary(summary: dict[str, object]) -> None:
    rows = summary["rows"]
    assert isinstance(rows, list)
    print()
    print(table(rows, ["measure", "result", "target"]))
    print("\nFor docs/your-app.md:\n")
    print(docs_table(summary))


# --- main ----------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["--inventory"] and len(args_list) == 3:
        return inventory_main(args_list[1], args_list[2])
    parser = argparse.ArgumentParser(
        description="`loopscope audit` on FastAPI's tutorial apps (from its sdist on PyPI)."
    )
    parser.add_argument(
        "--limit",
        type=int,
        default=0,
        help="audit this many apps: the labelled ones first, then one per tutorial topic in "
        "turn (default 0: all)",
    )
    parser.add_argument(
        "--levels", type=int_list, default=[1, 4], help="users per level (default 1,4)"
    )
    parser.add_argument(
        "--duration", type=positive_float, default=1.0, help="seconds per level (default 1)"
    )
    parser.add_argument(
        "--timeout",
        type=positive_float,
        default=120.0,
        help="wall-clock limit of one audit, after which its process group is killed (default 120)",
    )
    parser.add_argument(
        "--sleeps",
        type=lambda text: [positive_float(part) for part in text.split(",") if part],
        default=list(DEFAULT_SLEEPS),
        help="seconds of the inserted time.sleep (default 0.05,0.3,1,5; '' for none)",
    )
    parser.add_argument(
        "--no-netns",
        action="store_true",
        help="run the apps in this machine's network namespace (default: a new one, loopback "
        "only, where root and `unshare` allow)",
    )
    parser.add_argument(
        "--table-only",
        action="store_true",
        help="print the tables from the JSON of an earlier run (--out) and exit",
    )
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help=f"JSON output path (default {DEFAULT_OUT})"
    )
    args = parser.parse_args(args_list)
    if args.table_only:
        summary = json.loads(args.out.read_text(encoding="utf-8"))["summary"]
        print_summary(summary)
        return 0
    require_this_checkout()

    version = fastapi_version()
    root = fetch_corpus(version)
    apps = find_apps(root)
    chosen = sample(apps, args.limit)
    prefix = () if args.no_netns else tuple(netns_prefix())
    plan = AuditPlan(tuple(args.levels), args.duration, args.timeout, prefix)
    print(
        f"FastAPI {version}: {len(apps)} tutorial apps in {root / 'docs_src'}; auditing "
        f"{len(chosen)} at levels {','.join(map(str, plan.levels))}, {plan.duration_s:g} s each "
        f"(limit {plan.limit_s:g} s per audit; "
        f"{'own network namespace' if prefix else 'this network namespace'})",
        flush=True,
    )
    results: list[AppResult] = []
    cases: list[BlockingCase] = []
    started = time.monotonic()

    def save(complete: bool) -> dict[str, object]:
        """The JSON so far: written after every audit, so that a stopped run leaves its part."""
        summary = summarise(results, cases, len(apps), plan)
        summary["fastapi"] = version
        write_json(
            args.out,
            {
                "benchmark": "real_apps",
                **machine_info(),
                "busy_machine": True,
                "complete": complete,
                "fastapi": version,
                "corpus": f"docs_src/ of fastapi=={version}'s sdist (PyPI), not in this repository",
                "apps_chosen": len(chosen),
                "levels": list(plan.levels),
                "duration_s": plan.duration_s,
                "limit_per_audit_s": plan.limit_s,
                "network_namespace": bool(prefix),
                "elapsed_s": round(time.monotonic() - started, 1),
                "measure_definitions": MEASURES,
                "summary": summary,
                "apps": [r.to_json() for r in results],
                "blocking": [c.to_json() for c in cases],
            },
        )
        return summary

    interrupted = False
    try:
        with ended_on_exit(), tempfile.TemporaryDirectory(prefix="loopscope-real-apps-") as tmp:
            if args.sleeps:
                folder = Path(tmp, "blocking")
                folder.mkdir()
                print("inserted blocking call:", flush=True)
                for case in blocking_cases(root, folder, args.sleeps):
                    work = Path(tmp, case.module)
                    work.mkdir()
                    spec = f"{case.module}:app"
                    inventory = take_inventory(spec, folder, work, prefix, limit_s=60)
                    case.result = audit_app(spec, folder, inventory, plan, work)
                    cases.append(case)
                    save(complete=False)
                    print(f"  {case.line()}", flush=True)
            print("\n" + "  ".join(APP_HEADER), flush=True)
            for index, module in enumerate(chosen):
                work = Path(tmp, f"app{index:03d}")
                work.mkdir()
                spec = f"{module}:app"
                inventory = take_inventory(spec, root, work, prefix, limit_s=60)
                if not inventory.imports:
                    result = AppResult(module, False, inventory.reason)
                else:
                    result = audit_app(spec, root, inventory, plan, work)
                results.append(result)
                save(complete=False)
                print("  ".join(app_cells(result)), flush=True)
    except KeyboardInterrupt:
        interrupted = True
        print("\ninterrupted: the JSON holds what was audited so far", flush=True)
    summary = save(complete=not interrupted)
    print_summary(summary)
    print(f"\nwrote {args.out}")
    return 130 if interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
