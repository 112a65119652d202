"""HTTPS: the transport's TLS against a local server with a certificate from a test CA
(`trustme`): trusted, untrusted, --insecure, a wrong hostname, and a server that does not
speak TLS; and `run --url https://...` end to end, with its one-line errors."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import json
import shutil
import ssl
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import trustme

from loopscope.cli import main
from loopscope.loadgen import HttpxSender, RequestRecord, RouteRequest, client_ssl_context
from tests._helpers import refused_in_one_line

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
ROUTE = RouteRequest(scenario="GET /x", path="/x")


@dataclass
class TlsWire:
    """What the TLS server saw: requests answered, SNI names, ALPN protocols chosen."""

    answered: int = 0
    server_names: list[str | None] = field(default_factory=list)
    alpn: list[str | None] = field(default_factory=list)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tls") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


def server_context(ca: trustme.CA, *names: str, wire: TlsWire) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*names).configure_cert(context)
    context.set_alpn_protocols(["h2", "http/1.1"])

    def sni(_: ssl.SSLObject, name: str | None, __: ssl.SSLContext) -> None:
        wire.server_names.append(name)

    context.sni_callback = sni
    return context


async def _answer(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, wire: TlsWire
) -> None:
    ssl_object = writer.get_extra_info("ssl_object")
    if ssl_object is not None:
        wire.alpn.append(ssl_object.selected_alpn_protocol())
    try:
        while True:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(OK)
            await writer.drain()
            wire.answered += 1
    except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
        pass
    finally:
        writer.close()


@contextlib.asynccontextmanager
async def tls_server(
    context: ssl.SSLContext | None, wire: TlsWire, host: str = "127.0.0.1"
) -> AsyncIterator[int]:
    """A keep-alive server on `host` port 0 (TLS unless `context` is None); its port."""
    handlers: set[asyncio.Task[None]] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        handlers.add(task)
        try:
            if context is None:  # a plain HTTP server: whatever comes is a bad request
                await reader.read(1)
                writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                writer.close()
            else:
                await _answer(reader, writer, wire)
        except asyncio.CancelledError:
            pass  # the server closing: the stream's own callback must not see a cancel
        finally:
            handlers.discard(task)

    listener = await asyncio.start_server(handle, host, 0, ssl=context)
    try:
        yield listener.sockets[0].getsockname()[1]
    finally:
        listener.close()
        for task in list(handlers):
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)
        await listener.wait_closed()


async def send_twice(
    url: str, context: ssl.SSLContext | None
) -> tuple[list[RequestRecord], dict[str, str]]:
    sender = HttpxSender(url, timeout_s=10, ssl_context=context)
    try:
        records = [await sender.send(ROUTE, user=0) for _ in range(2)]
    finally:
        await sender.aclose()
    return records, sender.error_examples


async def test_a_trusted_certificate_answers_with_sni_and_alpn(
    ca: trustme.CA, ca_file: Path
) -> None:
    wire = TlsWire()
    async with tls_server(server_context(ca, "localhost", wire=wire), wire) as port:
        context = client_ssl_context(ca_cert=str(ca_file))
        records, _ = await send_twice(f"https://localhost:{port}", context)
    assert [(r.status, r.error) for r in records] == [(200, None)] * 2
    assert wire.answered == 2
    assert wire.server_names == ["localhost"]  # one connection, kept alive; SNI sent
    assert wire.alpn == ["http/1.1"]  # offered h2 too: the client asks for http/1.1 only


async def test_an_untrusted_certificate_is_a_tls_error_that_says_so(ca: trustme.CA) -> None:
    wire = TlsWire()
    async with tls_server(server_context(ca, "127.0.0.1", wire=wire), wire) as port:
        records, examples = await send_twice(f"https://127.0.0.1:{port}", None)  # system CAs
    assert [r.error for r in records] == ["tls", "tls"]
    assert examples["tls"].startswith("TLS certificate verify failed"), examples
    assert wire.answered == 0


async def test_insecure_verifies_nothing(ca: trustme.CA) -> None:
    wire = TlsWire()
    async with tls_server(server_context(ca, "somewhere.example", wire=wire), wire) as port:
        context = client_ssl_context(insecure=True)
        records, _ = await send_twice(f"https://127.0.0.1:{port}", context)
    assert [r.error for r in records] == [None, None]


async def test_a_certificate_for_another_name_is_a_hostname_mismatch(
    ca: trustme.CA, ca_file: Path
) -> None:
    wire = TlsWire()
    async with tls_server(server_context(ca, "other.example", wire=wire), wire) as port:
        context = client_ssl_context(ca_cert=str(ca_file))
        records, examples = await send_twice(f"https://localhost:{port}", context)
    assert [r.error for r in records] == ["tls", "tls"]
    assert examples["tls"].startswith("TLS hostname mismatch"), examples


async def test_tls_to_a_server_without_tls_is_a_protocol_failure() -> None:
    wire = TlsWire()
    async with tls_server(None, wire) as port:
        records, examples = await send_twice(f"https://127.0.0.1:{port}", None)
    assert [r.error for r in records] == ["tls", "tls"]
    assert examples["tls"].startswith("TLS protocol error"), examples


# -- the command line --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--ca-cert", "/nonexistent/ca.pem"], "no such file"),
        (["--ca-cert", "/"], "a folder"),
        (["--ca-cert", __file__], "not a PEM file"),
        (["--ca-cert", "CA", "--insecure"], "not both"),
    ],
)
def test_a_bad_ca_cert_is_one_line_before_any_load(
    extra: list[str], message: str, ca_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    extra = [str(ca_file) if item == "CA" else item for item in extra]
    argv = ["run", "--url", "https://127.0.0.1:9/x", "--duration", "1", *extra]
    refused_in_one_line(argv, capsys, says=message)


def test_tls_options_go_with_an_https_url(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["run", "--url", "http://127.0.0.1:9/x", "--insecure"]
    refused_in_one_line(argv, capsys, says="--insecure goes with an https:// --url")


@contextlib.contextmanager
def server_thread(ca: trustme.CA, wire: TlsWire, host: str = "127.0.0.1") -> Iterator[int]:
    """The TLS server on a loop of its own (the command runs its own loop meanwhile), with
    a certificate for localhost and `host`."""
    loop = asyncio.new_event_loop()
    started: asyncio.Future[int] = loop.create_future()
    stop = asyncio.Event()

    async def serve() -> None:
        context = server_context(ca, "localhost", host, wire=wire)
        async with tls_server(context, wire, host) as port:
            started.set_result(port)
            await stop.wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    try:
        yield asyncio.run_coroutine_threadsafe(asyncio.wait_for(started, 10), loop).result(15)
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        loop.close()


def test_run_against_https(
    ca: trustme.CA, ca_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wire = TlsWire()
    out = tmp_path / "run.json"
    with server_thread(ca, wire) as port:
        base = ["run", "--url", f"https://localhost:{port}/x", "--duration", "0.5"]
        untrusted = main([*base, "--warmup", "0"])
        untrusted_err = capsys.readouterr().err
        outputs = ["--json", str(out), "--csv", str(tmp_path / "run.csv")]
        # 1.5 s: the CSV's rows are the closed 1 s windows.
        trusted = main([*base[:-1], "1.5", "--warmup", "0", "--ca-cert", str(ca_file), *outputs])
    assert untrusted == 1
    assert "TLS certificate verify failed" in untrusted_err, untrusted_err
    assert "LoopScope server" not in untrusted_err
    assert trusted == 0
    record = json.loads(out.read_text())
    assert record["status_classes"]["2xx"] == record["ok"] > 0
    assert record["errors"] == {}
    rows = list(csv.DictReader((tmp_path / "run.csv").read_text().splitlines()))
    assert rows and all(int(row["status_classes_2xx"]) == int(row["ok"]) for row in rows)
    assert all(row["status_classes_3xx"] == "0" for row in rows)


# Run inside a network namespace of its own where 10.9.9.9 is an address of `lo`: a host
# that is not loopback, reached without any real network.
REMOTE_SCRIPT = """
import json, sys, tempfile, trustme
from pathlib import Path
from tests.loadgen.test_wire_tls import TlsWire, server_thread
from loopscope.cli import main

ca, folder = trustme.CA(), Path(tempfile.mkdtemp())
ca.cert_pem.write_to_path(str(folder / "ca.pem"))
with server_thread(ca, TlsWire(), "10.9.9.9") as port:
    url = ["run", "--url", f"https://10.9.9.9:{port}/x", "--duration", "0.5", "--warmup", "0"]
    refused = main(url)
    loaded = main([*url, "--allow-remote", "--ca-cert", str(folder / "ca.pem"),
                   "--json", str(folder / "run.json")])
record = json.loads((folder / "run.json").read_text())
print(json.dumps({"refused": refused, "loaded": loaded, "ok": record["ok"],
                  "errors": record["errors"], "target": record["target"]}))
"""


def _network_namespace() -> list[str] | None:
    """The command that runs a shell in a new user and network namespace, or None."""
    unshare, ip = shutil.which("unshare"), shutil.which("ip") or "/usr/sbin/ip"
    if unshare is None or not Path(ip).exists():
        return None
    probe = subprocess.run([unshare, "-rn", "true"], capture_output=True, check=False)
    return [unshare, "-rn", "sh", "-c"] if probe.returncode == 0 else None


def test_allow_remote_over_https_in_a_network_namespace() -> None:
    namespace = _network_namespace()
    if namespace is None:
        pytest.skip("no unprivileged network namespaces here (unshare -rn)")
    ip = shutil.which("ip") or "/usr/sbin/ip"
    shell = f'{ip} link set lo up && {ip} addr add 10.9.9.9/32 dev lo && exec "$0" -c "$1"'
    done = subprocess.run(
        [*namespace, shell, sys.executable, REMOTE_SCRIPT],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).parents[2],
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["refused"] == 2  # not this machine: only with --allow-remote
    assert result["loaded"] == 0 and result["ok"] > 0 and result["errors"] == {}
    assert result["target"].startswith("https://10.9.9.9:")
