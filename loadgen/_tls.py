"""TLS for the sender's HTTP/1.1 client: the client's SSL context, and a TLS failure in words.

One context per sender, made before the load starts (creating one loads the CA store:
milliseconds, never per request). The system's CA store by default, as a browser or curl
trusts; `ca_cert` adds a CA file (a server with a certificate of its own CA); `insecure`
turns verification off (a self-signed test server; the command line says so once).
"""

from __future__ import annotations

import ssl

import httpx

# What the connection offers in ALPN: the only protocol the transport speaks.
ALPN_PROTOCOLS = ["http/1.1"]


class TlsError(httpx.ConnectError):
    """The TLS handshake failed (certificate, hostname or protocol): error kind `tls`.

    A ConnectError still, so code that knows only httpx's exceptions treats it as one.
    """


def client_ssl_context(*, ca_cert: str | None = None, insecure: bool = False) -> ssl.SSLContext:
    """The client's context: the system's CA store, plus `ca_cert` (a PEM file of CA
    certificates) when given; `insecure` verifies nothing. ValueError (one line) when the
    CA file cannot be read or holds no certificate."""
    context = ssl.create_default_context()
    if ca_cert is not None:
        try:
            context.load_verify_locations(cafile=ca_cert)
        except FileNotFoundError:
            raise ValueError(f"--ca-cert {ca_cert}: no such file") from None
        except IsADirectoryError:
            raise ValueError(f"--ca-cert {ca_cert}: a folder, not a file") from None
        except ssl.SSLError as exc:
            raise ValueError(
                f"--ca-cert {ca_cert}: not a PEM file of CA certificates ({exc.reason or exc})"
            ) from None
        except OSError as exc:
            raise ValueError(f"--ca-cert {ca_cert}: {exc.strerror or exc}") from None
    if insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(ALPN_PROTOCOLS)
    return context


def tls_failure(exc: ssl.SSLError) -> str:
    """A TLS handshake failure in one line that names its kind: `certificate verify
    failed`, `hostname mismatch` or `protocol`."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        detail = exc.verify_message or exc.reason or str(exc)
        if "mismatch" in str(detail).lower():  # OpenSSL: "Hostname mismatch", "IP address mismatch"
            return f"TLS hostname mismatch: {detail}"
        return f"TLS certificate verify failed: {detail}"
    return f"TLS protocol error: {exc.reason or exc}"
