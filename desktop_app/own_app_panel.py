"""The "Your app" panel and the "What blocked the loop" table: widgets only.

The panel emits what the user asks for (load an app, use a URL, put a route under load); the
window turns it into session calls and shows the answer in `message`, one line.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidgetItem,
    QWidget,
)

from loopscope.embedded_server import BlockSite, Operation
from loopscope.loadgen import ROUTE_METHODS

from .figures_table import ReadOnlyTable
from .own_app import operation_target

BLOCK_COLUMNS = ("Route", "Call", "File:line", "Held in all", "Longest", "Times")


class OwnAppPanel(QGroupBox):
    """Load the user's app (module:attribute) or a running server's URL; pick a route."""

    load_clicked = Signal(str, str)  # "module:attribute", app folder ("" = current)
    url_clicked = Signal(str)
    route_changed = Signal()  # the route, its users' switch, or what is sent, changed

    def __init__(self) -> None:
        super().__init__("Your app")
        form = QFormLayout(self)
        self.app_spec = QLineEdit()
        self.app_spec.setPlaceholderText("module:app, e.g. examples.shop.app:app")
        self.app_spec.setToolTip(
            "Your FastAPI or Starlette app, as uvicorn takes it. It is imported here, its "
            "lifespan runs, and it is served on 127.0.0.1 beside the demo server"
        )
        self.app_dir = QLineEdit()
        self.app_dir.setPlaceholderText("folder to import from (default: the current one)")
        self.load = QPushButton("Load")
        form.addRow("App", self._entry(self.app_spec, self.load, self._load))
        form.addRow("App dir", self.app_dir)
        self.url = QLineEdit()
        self.url.setPlaceholderText("or a server running: http://127.0.0.1:8000/items")
        self.url.setToolTip(
            "A server already running. This machine (127.0.0.1, localhost) is loaded at once; "
            "another host only after you confirm that it is yours"
        )
        self.use_url = QPushButton("Use URL")
        form.addRow("URL", self._entry(self.url, self.use_url, self._use_url))
        self.routes = QComboBox()
        self.routes.setToolTip("The app's operations, from its OpenAPI schema")
        self.routes.currentIndexChanged.connect(self._route_picked)
        form.addRow("Route", self.routes)
        self.method = QComboBox()
        self.method.addItems(list(ROUTE_METHODS))
        self.method.setMaximumWidth(90)
        self.method.currentIndexChanged.connect(self._edited)
        self.target = QLineEdit()
        self.target.setPlaceholderText("/path?name=value")
        self.target.setToolTip("Path and query sent with each request; edit the examples")
        self.target.editingFinished.connect(self._edited)
        target_row = QHBoxLayout()
        target_row.addWidget(self.method)
        target_row.addWidget(self.target, 1)
        form.addRow("Sends", self._row(target_row))
        self.body = QLineEdit()
        self.body.setPlaceholderText('JSON body, e.g. {"product": "tea"} (empty: none)')
        self.body.editingFinished.connect(self._edited)
        form.addRow("Body", self.body)
        self.headers = QLineEdit()
        self.headers.setPlaceholderText("Authorization: Bearer x; X-Other: y")
        self.headers.setToolTip("Headers sent with each request, separated by ;")
        self.headers.editingFinished.connect(self._edited)
        form.addRow("Headers", self.headers)
        self.under_load = QCheckBox("Load this route at Start")
        self.under_load.setToolTip(
            "At Start the route runs beside the ticked demo endpoints, one more series in the "
            "charts; the users slider drives it"
        )
        self.under_load.toggled.connect(self._edited)
        form.addRow(self.under_load)
        self.message = QLabel()
        self.message.setObjectName("ownAppMessage")
        self.message.setWordWrap(True)
        self.message.setTextFormat(Qt.TextFormat.PlainText)
        form.addRow(self.message)
        self._operations: list[Operation] = []
        self._loaded = False
        self._quiet = False
        self.show_operations([], loaded=False)

    @staticmethod
    def _row(layout: QHBoxLayout) -> QWidget:
        layout.setContentsMargins(0, 0, 0, 0)
        holder = QWidget()
        holder.setLayout(layout)
        return holder

    @classmethod
    def _entry(cls, field: QLineEdit, button: QPushButton, act: Callable[[], None]) -> QWidget:
        """A field with its button beside it; Enter in the field is the button's click."""
        button.clicked.connect(act)
        field.returnPressed.connect(act)
        row = QHBoxLayout()
        row.addWidget(field, 1)
        row.addWidget(button)
        return cls._row(row)

    def _load(self) -> None:
        self.load_clicked.emit(self.app_spec.text().strip(), self.app_dir.text().strip())

    def _use_url(self) -> None:
        self.url_clicked.emit(self.url.text().strip())

    def say(self, text: str, *, error: bool = False) -> None:
        """One line under the panel: what was loaded, or why not."""
        self.message.setText(text)
        self.message.setStyleSheet("color: #B00020;" if error else "")

    def show_operations(self, found: Sequence[Operation], *, loaded: bool = True) -> None:
        """Fill the route picker; without a schema the user types a path."""
        self._quiet = True
        try:
            self._operations = list(found)
            self._loaded = loaded
            self.routes.clear()
            for operation in found:
                text = operation.label + (f": {operation.summary}" if operation.summary else "")
                self.routes.addItem(text)
            if not found:
                self.routes.addItem(
                    "(no OpenAPI schema: type the path below)" if loaded else "(nothing loaded)"
                )
            self.routes.setEnabled(bool(found))
            self.under_load.setChecked(False)
            for widget in (self.method, self.target, self.body, self.headers, self.under_load):
                widget.setEnabled(loaded)
            if found:
                self._fill(found[0])
            else:
                self.target.clear()
                self.body.clear()
        finally:
            self._quiet = False

    def show_target(self, method: str, target: str) -> None:
        """Fill what is sent (a URL's path and query) without echoing it as a change."""
        self._quiet = True
        try:
            self.method.setCurrentText(method)
            self.target.setText(target)
            self.target.setCursorPosition(0)
        finally:
            self._quiet = False

    def operation(self) -> Operation | None:
        """The operation picked, when the app has a schema."""
        index = self.routes.currentIndex()
        return self._operations[index] if 0 <= index < len(self._operations) else None

    def _fill(self, operation: Operation) -> None:
        self.method.setCurrentText(operation.method)
        self.target.setText(operation_target(operation))
        self.target.setCursorPosition(0)  # the path's start in view, not its query's end
        self.body.clear()

    def _route_picked(self, index: int) -> None:
        if self._quiet or not 0 <= index < len(self._operations):
            return
        self._quiet = True
        try:
            self._fill(self._operations[index])
        finally:
            self._quiet = False
        self.route_changed.emit()

    def _edited(self) -> None:
        if not self._quiet:
            self.route_changed.emit()

    def set_running(self, running: bool) -> None:
        """While load runs the target and route stay as they are (they apply at Start)."""
        self.load.setEnabled(not running)
        self.use_url.setEnabled(not running)
        self.routes.setEnabled(not running and bool(self._operations))
        for widget in (self.method, self.target, self.body, self.headers, self.under_load):
            widget.setEnabled(not running and self._loaded)


class BlockedLoopTable(ReadOnlyTable):
    """What blocked the loop: route, call, file:line, how long, how often (worst first)."""

    def __init__(self) -> None:
        super().__init__(BLOCK_COLUMNS)
        self.setToolTip(
            "Where your app's code held the event loop while it ran: every other request, "
            "and this window, waited meanwhile"
        )

    def show_sites(self, sites: Sequence[BlockSite]) -> None:
        self.setRowCount(len(sites))
        for row, site in enumerate(sites):
            kind = "computing" if site.computing else "waiting"
            # The call without its trailing comment (PEP 8's two spaces before one): the
            # whole line is in the tooltip.
            call = site.site.code.split("  #")[0].strip() or site.site.code
            cells = [
                site.route or "(no route)",
                f"{call} ({kind})",
                f"{site.site.where} in {site.site.function}()",
                f"{site.total_s:.1f} s",
                f"{site.max_s * 1000:.0f} ms",
                f"{site.stalls:,}",
            ]
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(f"{site.site.where}: {site.site.code}")
                if column >= 3:
                    item.setTextAlignment(
                        Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
                    )
                self.setItem(row, column, item)
        self.resizeColumnsToContents()

    def rows(self) -> list[list[str]]:
        """The table's text, row by row (what a reader sees)."""
        return [
            [
                item.text() if (item := self.item(row, column)) is not None else ""
                for column in range(self.columnCount())
            ]
            for row in range(self.rowCount())
        ]
