"""The window's dialogs and what they save: Export (a CSV of the run and the charts as
PNG), Export trace (the request timeline for ui.perfetto.dev), Save charts as PNG, and the
question before loading another machine."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from loopscope.loadgen import export
from loopscope.loadgen.trace import write_trace

from .annotations import settings_at
from .shell import PartContext
from .timeline import TIMELINE_SPAN_S

# The window's Export: `run --csv`'s columns, then what a CSV alone in a folder must say.
EXPORT_COLUMNS = (*export.WINDOW_COLUMNS, "lesson", "settings", "marker")


class WindowDialogs:
    """Dialogs parented to `parent`; `lesson_name` names the lesson shown now (it goes
    into the CSV rows and the picture's caption)."""

    def __init__(
        self, parent: QWidget, context: PartContext, lesson_name: Callable[[], str]
    ) -> None:
        self._parent = parent
        self._session = context.session
        self._shell = context.shell
        self._lesson_name = lesson_name
        # The question about another machine while it is open (tests answer it).
        self.remote_question: QMessageBox | None = None

    # -- export and pictures -------------------------------------------------------------------

    def export_run(self, csv_path: Path) -> bool:
        """Write every closed 1 s window of this run as CSV (the columns of `run --csv`,
        then the lesson, the settings the window ran with and the marker of any change
        in it), and the charts beside it as PNG (`name.csv` and `name-charts.png`). False,
        with a message, when it cannot."""
        snap = self._session.snapshot()
        now_values = self._session.settings_values()
        rows = []
        for name, series in snap.recorder.scenarios.items():
            for window, row in zip(
                series.windows, export.window_rows(name, series.windows), strict=True
            ):
                end = window.start_s + window.duration_s
                row["lesson"] = self._lesson_name()
                row["settings"] = self._session.settings_label(
                    settings_at(now_values, snap.markers, end), name
                )
                row["marker"] = "; ".join(
                    m.label for m in snap.markers if window.start_s <= m.t_s < end
                )
                rows.append(row)
        png_path = csv_path.with_name(csv_path.stem + "-charts.png")
        say = self._shell.show_message
        try:
            # No folder is created: the path comes from a save dialog.
            csv_path.write_text(export.to_csv(EXPORT_COLUMNS, rows), encoding="utf-8")
        except OSError as exc:
            say(f"Could not export to {csv_path}: {exc.strerror or exc}")
            return False
        if not self.charts_picture().save(str(png_path)):
            say(f"Could not save {png_path}")
            return False
        say(f"Exported {len(rows)} windows to {csv_path} and the charts to {png_path.name}")
        return True

    def export_trace(self, path: Path) -> bool:
        """Write the request timeline's last seconds (every request of the demo routes,
        those in flight too) as Chrome trace-event JSON; False, with a message, when it
        cannot (the server in its own process keeps no phases here)."""
        say = self._shell.show_message
        trace = self._session.timelines.trace({"lesson": self._lesson_name()})
        if trace is None:
            say(
                "No trace to export: the request timeline needs the server in this "
                "window's loop (Server: this window)"
            )
            return False
        other = trace["otherData"]
        assert isinstance(other, dict)
        count = other["requests exported"]
        if not count:
            say(f"No trace to export: no request in the timeline's last {TIMELINE_SPAN_S:g} s")
            return False
        try:
            write_trace(path, trace)
        except OSError as exc:
            say(f"Could not export the trace to {path}: {exc.strerror or exc}")
            return False
        what = (
            "the stopped run"
            if self._session.finished is not None
            else f"the timeline's last {TIMELINE_SPAN_S:g} s"
        )
        say(f"Exported {what} ({count} requests) to {path.name}: open it at ui.perfetto.dev")
        return True

    def charts_picture(self) -> QImage:
        """The charts as they are now, under a caption naming the lesson and its settings
        (a picture alone in a folder must say what it shows; markers are on the charts)."""
        charts = self._shell.charts.grab().toImage()
        style = self._shell.charts.chart_style
        caption = f"LoopScope \u2014 {self._lesson_name()} \u2014 {self._session.settings_label()}"
        font = self._parent.font()
        font.setPointSize(style.font_pt + 2)
        height = round(font.pointSize() * 2.6)
        image = QImage(charts.width(), charts.height() + height, QImage.Format.Format_RGB32)
        image.fill(QColor(style.background))
        painter = QPainter(image)
        try:
            painter.setFont(font)
            painter.setPen(QColor(style.foreground))
            painter.drawText(
                12, 0, charts.width() - 24, height, Qt.AlignmentFlag.AlignVCenter, caption
            )
            painter.drawImage(0, height, charts)
        finally:
            painter.end()
        return image

    def save_charts_png(self, path: Path) -> bool:
        """Save a picture of the charts; False (and a message) when it cannot be written."""
        ok = self.charts_picture().save(str(path))
        self._shell.show_message(f"Charts saved to {path}" if ok else f"Could not save {path}")
        return bool(ok)

    def _ask_save_path(self, title: str, default: str, file_filter: str) -> Path | None:
        """A save dialog; the answer gets the default's suffix when the user typed none."""
        name, _ = QFileDialog.getSaveFileName(self._parent, title, default, file_filter)
        if not name:
            return None
        suffix = Path(default).suffix
        return Path(name if name.lower().endswith(suffix) else name + suffix)

    def export_dialog(self) -> None:
        path = self._ask_save_path("Export this run", "loopscope-run.csv", "CSV files (*.csv)")
        if path is not None:
            self.export_run(path)

    def export_trace_dialog(self) -> None:
        path = self._ask_save_path(
            "Export the request timeline as a trace",
            "loopscope-trace.json",
            "Trace files (*.json)",
        )
        if path is not None:
            self.export_trace(path)

    def save_png_dialog(self) -> None:
        path = self._ask_save_path(
            "Save charts as PNG", "loopscope-charts.png", "PNG images (*.png)"
        )
        if path is not None:
            self.save_charts_png(path)

    # -- another machine ------------------------------------------------------------------------

    def confirm_remote(self, url: str, why: str, answered: Callable[[bool], None]) -> None:
        """Ask whether `url`, on another machine, may be loaded; `answered(True)` when the
        user says it is theirs. Without a nested event loop (the server and load share this
        loop)."""
        box = QMessageBox(
            QMessageBox.Icon.Warning,
            "Load another machine?",
            f"{why}.\n\nA load test can slow down or break a server. Load {url} only if the "
            "server is yours, or its owner agreed.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            self._parent,
        )
        box.setDefaultButton(QMessageBox.StandardButton.No)
        yes = box.button(QMessageBox.StandardButton.Yes)
        yes.setText("It is mine: load it")

        def finished() -> None:
            self.remote_question = None
            answered(box.clickedButton() is yes)
            box.deleteLater()

        box.finished.connect(finished)
        self.remote_question = box
        box.open()
