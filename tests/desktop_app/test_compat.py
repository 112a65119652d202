"""The window's private uses of qasync, asyncio and shiboken: checked at start-up, one line."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator

import pytest
import qasync

from loopscope.desktop_app import _compat
from loopscope.desktop_app._compat import IncompatibleLibraryError, check, problems
from loopscope.embedded_server import ServerStartError


@pytest.fixture
def fresh_check() -> Iterator[None]:
    check.cache_clear()
    yield
    check.cache_clear()


def test_the_installed_versions_pass(fresh_check: None) -> None:
    assert problems() == []
    check()


def _refusal() -> str:
    with pytest.raises(IncompatibleLibraryError) as raised:
        check()
    message = str(raised.value)
    assert "\n" not in message and message.startswith("the window cannot start: ")
    # The command line reports a failure to start in one line (loopscope.cli.main).
    assert isinstance(raised.value, ServerStartError)
    return message


def test_a_qasync_without_its_hook_is_named_with_its_version(
    fresh_check: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Where qasync defines it: a base class of its platform's QEventLoop.
    owner = next(c for c in qasync.QEventLoop.__mro__ if "_add_callback" in vars(c))
    monkeypatch.delattr(owner, "_add_callback")
    message = _refusal()
    assert "qasync 0." in message and "QEventLoop._add_callback" in message
    assert "qasync>=0.27,<0.29" in message


def test_an_asyncio_whose_cancel_no_longer_tells_the_loop_is_named(
    fresh_check: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    def cancel(self: asyncio.TimerHandle) -> None:
        pass  # a release that tells its loop otherwise

    monkeypatch.setattr(asyncio.TimerHandle, "cancel", cancel)
    message = _refusal()
    assert f"Python {sys.version_info.major}.{sys.version_info.minor}" in message
    assert "_timer_handle_cancelled" in message


def test_a_shiboken_without_its_source_check_is_named(
    fresh_check: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    import PySide6

    feature = sys.modules["shibokensupport.feature"]
    monkeypatch.delattr(feature, "_mod_uses_pyside")
    message = _refusal()
    assert f"PySide6 {PySide6.__version__}'s shiboken lacks" in message
    # Nothing to replace: the source cache stays as PySide6 has it, nothing fails.
    assert _compat.replace_pyside_source_check(lambda module: False) is False
