"""The banners above the charts: the generator's health while it limits the figures, and
the start-up problems (said once each, and kept in view)."""

from __future__ import annotations

import sys

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from loopscope.loadgen.health import HealthVerdict

from .session import LabSession


class Banners:
    """`health_row` (holding `health_banner`) and `notice_banner`, for the window to lay out."""

    def __init__(self, session: LabSession) -> None:
        self._session = session
        self._notices: list[str] = []
        self.health_banner = QLabel()
        self.health_banner.setObjectName("healthBanner")
        self.health_banner.setWordWrap(True)
        self.health_banner.hide()
        # The row lies over the charts' top edge (ChartsScroll.hold_on_top), taking no room
        # from them: it is shown only while a banner in it has something to say, or it
        # would hide the top charts' titles and legends behind an empty band.
        self.health_row = QWidget()
        health_layout = QVBoxLayout(self.health_row)
        health_layout.setContentsMargins(0, 0, 0, 0)
        health_layout.addWidget(self.health_banner)
        # A Start while the server still finishes the stopped run's requests: said, since
        # they share its thread pool and loop with the new run's for a while.
        self.draining_banner = QLabel()
        self.draining_banner.setObjectName("drainingBanner")
        self.draining_banner.setWordWrap(True)
        self.draining_banner.hide()
        health_layout.addWidget(self.draining_banner)
        self.health_row.hide()
        # Start-up problems (a skipped preset, a missing style sheet, settings that were
        # ignored or cannot be saved): said once, and kept in view rather than in the status
        # line, which every action overwrites.
        self.notice_banner = QLabel()
        self.notice_banner.setObjectName("noticeBanner")
        self.notice_banner.setWordWrap(True)
        self.notice_banner.setTextFormat(Qt.TextFormat.PlainText)
        self.notice_banner.hide()

    def add_notice(self, text: str) -> None:
        """Show a start-up problem in the window and say it on stderr, once each."""
        if text in self._notices:
            return
        self._notices.append(text)
        print(f"loopscope: {text}", file=sys.stderr, flush=True)
        self.notice_banner.setText("\n".join(self._notices))
        self.notice_banner.show()

    @property
    def notices(self) -> tuple[str, ...]:
        return tuple(self._notices)

    def show_health(self) -> None:
        health = self._session.health
        text = health_text(health) if health is not None and self._session.running else ""
        if text:
            self.health_banner.setText(text)
            self.health_banner.show()
            self.health_row.show()
        else:
            self.health_banner.hide()
            self._hide_row_if_empty()

    def show_draining(self) -> None:
        """Say how many requests of the stopped run the server is still finishing, while
        a new run shares it with them; gone once they are done."""
        draining = self._session.demo.draining() if self._session.running else 0
        if draining:
            self.draining_banner.setText(
                f"The server is still finishing {draining} request"
                f"{'' if draining == 1 else 's'} of the stopped run: this run shares its "
                "threads and loop with them until they are done."
            )
            self.draining_banner.show()
            self.health_row.show()
        else:
            self.draining_banner.hide()
            self._hide_row_if_empty()

    def _hide_row_if_empty(self) -> None:
        if self.health_banner.isHidden() and self.draining_banner.isHidden():
            self.health_row.hide()


def health_text(health: HealthVerdict) -> str:
    """The banner's text for a verdict ("": nothing to say): the generator's limit, and a
    machine too small for the server's worker processes, each named for what it is."""
    parts: list[str] = []
    if health.generator_limited:
        parts.append(
            "Generator-limited: "
            + "; ".join(health.warnings)
            + ". Figures now partly measure LoopScope itself; response-curve points "
            "taken now are drawn as crosses."
        )
    if health.machine_note:
        parts.append(f"Machine short of cores: {health.machine_note}.")
    return "\n".join(parts)
