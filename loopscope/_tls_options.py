"""`run --url https://...`: which certificates to trust, and whether to follow redirects."""

from __future__ import annotations

import argparse

from loopscope.loadgen import client_ssl_context

from ._options import UsageError


def add_tls_options(group: argparse._ArgumentGroup) -> None:
    """--ca-cert, --insecure and --follow-redirects (with --url)."""
    group.add_argument(
        "--ca-cert",
        default=None,
        metavar="FILE",
        help="an https:// --url: also trust the CA certificates of this PEM file",
    )
    group.add_argument(
        "--insecure",
        action="store_true",
        help="an https:// --url: do not verify its certificate (a self-signed test server)",
    )
    group.add_argument(
        "--follow-redirects",
        action="store_true",
        help="follow 3xx answers to the same server (by default a 3xx counts as a "
        "`redirect` error and its Location is reported)",
    )


def tls_from(args: argparse.Namespace, base: str | None) -> tuple[str | None, bool]:
    """(--ca-cert, --insecure) for the target `base` (None: no --url); the CA file is
    read here, before any load. UsageError (one line) for what cannot apply."""
    ca_cert, insecure = getattr(args, "ca_cert", None), getattr(args, "insecure", False)
    if ca_cert is None and not insecure:
        return None, False
    if ca_cert is not None and insecure:
        raise UsageError("give --ca-cert (trust this CA) or --insecure (verify nothing), not both")
    option = "--insecure" if insecure else "--ca-cert"
    if base is None or not base.startswith("https:"):
        raise UsageError(f"{option} goes with an https:// --url")
    try:
        client_ssl_context(ca_cert=ca_cert, insecure=insecure)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return ca_cert, insecure
