"""Every private name of another library that the load generator uses, checked before use.

aiohttp (the optional `AiohttpTransport`; written for 3.11 to 3.14, tested with the version in
constraints.txt, bounded in pyproject.toml): no public switch stops a `ClientSession` from
resending an idempotent request once when the server drops its connection
(aio-libs/aiohttp#10790), which turns a failure the run should count into a slow success.
aiohttp's own test client sets the private `ClientSession._retry_connection`; so does this.
3.10 has no such switch (it always resends); 3.11 to 3.14 read it.

aiohttp is optional, so its check runs where the transport starts (`AiohttpTransport()`),
before any request, not where the command line starts.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import aiohttp

# The private ClientSession attribute that switches off aiohttp's automatic resend.
_RETRY_SWITCH = "_retry_connection"


class IncompatibleAiohttpError(RuntimeError):
    """The installed aiohttp lacks a private switch the sender relies on; one-line message."""


@functools.cache
def check_aiohttp() -> None:
    """Raise IncompatibleAiohttpError unless aiohttp still reads `_retry_connection`.

    Setting an attribute aiohttp no longer reads would silently do nothing, and a GET on
    a dropped keep-alive connection would then be sent twice and counted as one slow
    success. So the request code itself is asked whether it reads the name.
    """
    try:
        import aiohttp
    except ImportError:
        raise IncompatibleAiohttpError(
            "AiohttpTransport needs aiohttp, an optional extra: pip install 'loopscope[aiohttp]'"
        ) from None

    request_code = getattr(aiohttp.ClientSession._request, "__code__", None)
    if request_code is None or _RETRY_SWITCH not in request_code.co_names:
        raise IncompatibleAiohttpError(
            f"aiohttp {aiohttp.__version__} does not read ClientSession.{_RETRY_SWITCH}, "
            "so LoopScope cannot stop it from resending requests; install the aiohttp "
            "versions pyproject.toml allows (pip install 'aiohttp>=3.11,<3.15')"
        )


def switch_off_resend(session: aiohttp.ClientSession) -> None:
    """One request, one attempt (`check_aiohttp()` made sure this aiohttp reads the switch)."""
    setattr(session, _RETRY_SWITCH, False)
