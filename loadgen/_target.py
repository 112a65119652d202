"""A request target (path and query) sent exactly as the user typed it, and its checks.

httpx would rebuild a query given as pairs (`?q=a+b` becomes `?q=a%2Bb`, repeated keys
collapse in a dict), so a typed target goes on the wire as its raw path instead. What httpx
would still change (dot segments, characters it percent-encodes) is refused beforehand, so
whatever runs goes out byte for byte.
"""

from __future__ import annotations

from urllib.parse import quote

import httpx

# The longest path and query accepted, as uvicorn's h11 and httptools servers take a
# request line: longer ones would fail on every request after the whole run.
MAX_TARGET_BYTES = 8 * 1024

_BASE = httpx.URL("http://127.0.0.1")


def target_url(base: httpx.URL, target: str) -> httpx.URL:
    """`base` (scheme, host, port) with `target` as its raw path and query, unchanged."""
    return base.copy_with(raw_path=target.encode("ascii"))


def check_target(target: str, what: str = "the route") -> None:
    """ValueError (one line) unless `target` goes on the wire exactly as given."""
    if not target.startswith("/"):
        raise ValueError(f"{what}'s path starts with /, got {target[:80]!r}")
    if len(target) > MAX_TARGET_BYTES:
        raise ValueError(
            f"{what} is {len(target):,} characters long; servers refuse request targets "
            f"past {MAX_TARGET_BYTES:,} bytes"
        )
    if not target.isascii():
        # Shown encoded, so the user can paste what a browser would send.
        encoded = quote(target, safe="".join(chr(c) for c in range(0x21, 0x7F)))
        raise ValueError(f"{what} must be ASCII: percent-encode it, e.g. {encoded[:200]}")
    bad = sorted({c for c in target if not 0x21 <= ord(c) <= 0x7E})
    if bad:
        raise ValueError(
            f"{what} contains {', '.join(repr(c) for c in bad)}: percent-encode it (a space is %20)"
        )
    if "#" in target:
        raise ValueError(f"{what} contains '#': a fragment is never sent; encode it as %23")
    try:
        sent = target_url(_BASE, target).raw_path.decode("ascii")
    except (httpx.InvalidURL, UnicodeError) as exc:
        raise ValueError(f"{what} is not a valid request target: {exc}") from None
    if sent != target:
        raise ValueError(
            f"{what} {target[:200]} would go out as {sent[:200]} (an HTTP client resolves "
            ". and .. segments and encodes some characters); give that form"
        )
