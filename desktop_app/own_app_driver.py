"""The window's side of "Your app": the folding panel, loading the user's app or a URL,
the route under load, and what blocked the loop in it."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QLabel, QToolButton, QVBoxLayout, QWidget

from .own_app import (
    RemoteHostError,
    fits,
    operation_target,
    parse_headers,
    route_request,
    split_url,
)
from .own_app_panel import BlockedLoopTable, OwnAppPanel
from .session import Placement
from .shell import PartContext, WindowPart
from .window_dialogs import WindowDialogs


class OwnAppDriver(WindowPart):
    """Makes the panel (`panel`, folded under `toggle` in the control panel) and the
    table of what blocked the loop (`blocked` under `blocked_heading`, for the window to
    lay out). The shell shows the headline again whenever the app or URL changes."""

    def __init__(self, context: PartContext, dialogs: WindowDialogs) -> None:
        super().__init__(context)
        self._dialogs = dialogs
        # "Your app" sits under the demo's endpoints: its route is one more endpoint.
        self.panel = OwnAppPanel()
        controls_layout = context.controls.layout()
        assert isinstance(controls_layout, QVBoxLayout)
        # Folded until wanted: a lesson needs the room for its card and sliders.
        self.toggle = QToolButton()
        self.toggle.setObjectName("ownToggle")
        self.toggle.setCheckable(True)
        self.toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.toggle.setArrowType(Qt.ArrowType.RightArrow)
        self.toggle.setText("Your app: load your own FastAPI app or a URL")
        self.toggle.setAutoRaise(True)
        self.toggle.toggled.connect(self.show_panel)
        controls_layout.insertWidget(2, self.toggle)
        controls_layout.insertWidget(3, self.panel)
        self.panel.hide()
        # Where the user's code held the loop: shown once there is something to show.
        self.blocked_heading = QLabel("What blocked the event loop (your app)")
        self.blocked_heading.setObjectName("blockedHeading")
        self.blocked = BlockedLoopTable()
        self.blocked.setFixedHeight(120)
        self.blocked_heading.hide()
        self.blocked.hide()
        self.panel.load_clicked.connect(
            lambda spec, folder: context.shell.spawn(self.load_app(spec, folder))
        )
        self.panel.url_clicked.connect(self.use_url)
        self.panel.route_changed.connect(self._route_changed)

    def show_panel(self, shown: bool) -> None:
        """Unfold (or fold) the "Your app" panel."""
        self.panel.setVisible(shown)
        self.toggle.setArrowType(Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow)
        if self.toggle.isChecked() != shown:
            self.toggle.setChecked(shown)

    def follow_placement(self, placement: Placement) -> None:
        """Your app is served on this window's loop: only beside a demo server there too."""
        process = placement.process
        if process:
            self.show_panel(False)
        self.toggle.setEnabled(not process)
        self.toggle.setToolTip(
            "Your app is served on this window's loop: choose 'Server: this window's loop' "
            "to load it"
            if process
            else ""
        )

    async def load_app(self, spec: str, app_dir: str = "") -> bool:
        """Import, start and serve the user's app, and list its routes; False, with one
        line in the panel, when it cannot (the demo goes on as it was)."""
        panel = self.panel
        self.show_panel(True)  # its answer is said there
        if not spec:
            panel.say("Type your app as module:attribute, e.g. main:app.", error=True)
            return False
        if self._session.running:
            panel.say("Stop the load before loading an app.", error=True)
            return False
        if panel.app_spec.text().strip() != spec:  # loaded from the command line
            panel.app_spec.setText(spec)
            panel.app_dir.setText("" if app_dir in ("", ".") else app_dir)
        panel.say(f"Loading {spec}…")
        panel.show_operations([], loaded=False)
        self._controls.set_extra_targets(())  # the route loaded before goes with its app
        # Before Load is disabled: Qt would hand its focus to App dir, where Space types.
        self._focus(self._controls.start_stop)
        # One load at a time: a second one while the first awaits the app's start-up would
        # replace it half-way, and leave its server running.
        panel.load.setEnabled(False)
        panel.use_url.setEnabled(False)
        try:
            target = await self._session.load_app(spec, app_dir or ".")
        except Exception as exc:  # the user's code may raise anything: one line, no traceback
            text = str(exc) if isinstance(exc, ValueError) else f"{type(exc).__name__}: {exc}"
            panel.say(f"Not loaded: {' '.join(text.split())}", error=True)
            self._shell.show_headline()  # the app loaded before is gone too
            self._focus(panel.app_spec)  # to correct it
            return False
        finally:
            panel.set_running(self._session.running)
        panel.show_operations(target.operations)
        self._focus(self._controls.start_stop)
        self._shell.show_headline()
        found = len(target.operations)
        panel.say(
            f"{spec} runs at {target.url}, {found} routes from its OpenAPI schema: pick one, "
            "tick the box, press Start."
            if found
            else f"{spec} runs at {target.url} (no OpenAPI schema): type a path, tick the box."
        )
        self.show_blocked()
        return True

    def use_url(self, url: str) -> None:
        """Load a server already running: this machine at once, another host only after
        the user confirms it is theirs (nothing is sent before)."""
        self.show_panel(True)
        try:
            split_url(url, allow_remote=False)
        except RemoteHostError as exc:
            self._ask_remote(url, str(exc))
            return
        except ValueError as exc:
            self.panel.say(str(exc), error=True)
            return
        self._shell.spawn(self._use_url(url, allow_remote=False))

    def _ask_remote(self, url: str, why: str) -> None:
        try:
            split_url(url, allow_remote=True)
        except ValueError as exc:
            self.panel.say(str(exc), error=True)
            return

        def answered(yes: bool) -> None:
            if yes:
                self._shell.spawn(self._use_url(url, allow_remote=True))
            else:
                self.panel.say(f"Not loaded: {url} (not confirmed).", error=True)

        self._dialogs.confirm_remote(url, why, answered)

    async def _use_url(self, url: str, *, allow_remote: bool) -> None:
        panel = self.panel
        try:
            target = await self._session.use_url(url, allow_remote=allow_remote)
        except ValueError as exc:
            panel.say(str(exc), error=True)
            self._focus(panel.url)  # to correct it
            return
        panel.show_operations([], loaded=True)
        self._focus(self._controls.start_stop)
        self._controls.set_extra_targets(())
        panel.show_target("GET", target)
        self._shell.show_headline()
        assert self._session.own is not None
        panel.say(
            f"{self._session.own.url}: a server already running (its probes are its own: "
            "in flight server side and what blocked its loop need your app loaded here). "
            "Tick the box to load it."
        )

    def _focus(self, widget: QWidget) -> None:
        """After Load or Use URL the keys go to Start (Space starts there; in a field it
        types a space), or to the field to correct; not when the user went elsewhere
        meanwhile."""
        focus = QApplication.focusWidget()
        start = self._controls.start_stop
        if focus is None or focus is start or self.panel.isAncestorOf(focus):
            widget.setFocus(Qt.FocusReason.OtherFocusReason)

    def choose_route(self, text: str) -> None:
        """Put a route under load as typed: "GET /stock", "/items?limit=5" (the picker's
        operation when one fits)."""
        panel = self.panel
        first, _, rest = text.strip().partition(" ")
        method, target = (first.upper(), rest.strip()) if rest else ("GET", first)
        path = target.partition("?")[0]
        for index in range(panel.routes.count()):
            panel.routes.setCurrentIndex(index)
            operation = panel.operation()
            if operation is not None and operation.method == method and fits(operation.path, path):
                if target == operation.path:  # named by its label: send its examples
                    target = operation_target(operation)
                break
        panel.show_target(method, target)
        panel.under_load.setChecked(True)  # emits route_changed: the session takes it

    def _route_changed(self) -> None:
        panel, session, controls = self.panel, self._session, self._controls
        if session.running:
            return  # the panel is disabled then; a change applies at the next Start
        if not panel.under_load.isChecked():
            if session.route is not None:
                session.set_route(None)
                controls.set_extra_targets(())
                panel.say(f"{session.own.name if session.own else 'Your app'}: no route loaded.")
            return
        try:
            request = route_request(
                panel.method.currentText(),
                panel.target.text(),
                panel.body.text(),
                parse_headers(panel.headers.text()),
                operation=panel.operation(),
            )
            session.set_route(request, users=controls.users_value())
        except ValueError as exc:
            session.set_route(None)
            controls.set_extra_targets(())
            panel.say(str(exc), error=True)
            return
        controls.set_extra_targets((request.scenario,))
        # The demo's boxes may all be unticked now: the route alone is a load.
        session.set_scenarios(controls.selected_scenarios())
        where = session.own.url if session.own is not None else ""
        panel.say(f"{request.scenario} joins the load at Start ({where}).")

    def show_blocked(self) -> None:
        # Only stalls inside a request of the app: outside one, what holds the loop is the
        # window's own painting, which a script that opens the window would be blamed for.
        sites = [site for site in self._session.block_sites() if site.route is not None]
        self.blocked.show_sites(sites)
        for widget in (self.blocked_heading, self.blocked):
            widget.setVisible(bool(sites))
