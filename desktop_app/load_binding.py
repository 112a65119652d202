"""The control panel's load settings (endpoints, users, delay, threads, loop mode, rate)
turned into session calls."""

from __future__ import annotations

from collections.abc import Callable

from .load_settings import MAX_BLOCKING_USERS
from .own_app_panel import OwnAppPanel
from .shell import PartContext, WindowPart


class LoadBinding(WindowPart):
    """Connects the panel's load signals to the session; `paint_text` repaints the
    figures (a new loop mode starts them afresh)."""

    def __init__(
        self,
        context: PartContext,
        own_panel: OwnAppPanel,
        paint_text: Callable[[], None],
    ) -> None:
        super().__init__(context)
        self._own_panel = own_panel
        self._paint_text = paint_text
        session, controls = context.session, context.controls
        controls.scenarios_changed.connect(self._scenarios_changed)
        controls.users_changed.connect(self._users_changed)
        controls.delay_changed.connect(session.set_delay)
        controls.threads_changed.connect(session.set_threads)
        controls.mode_changed.connect(self._mode_changed)
        controls.rate_changed.connect(session.set_rate)

    def show_running(self, running: bool) -> None:
        """The panels as the load is: running or not (what can change then, and the
        Start/Stop button)."""
        self._controls.set_running(running)
        self._own_panel.set_running(running)

    def _scenarios_changed(self, scenarios: tuple[str, ...]) -> None:
        if not scenarios and self._session.route is None:
            self._shell.show_message("Choose at least one endpoint to load.")
            return
        self._session.set_scenarios(scenarios)
        self._shell.show_message("")
        self.show_capped()

    def show_capped(self) -> None:
        """The users label with the figure of the endpoints capped below the slider; a
        route of the user's seen holding the loop is capped now, and said so."""
        route = self._session.load.guard_loop_holders()
        if route is not None:
            self._shell.show_message(
                f"{route} holds the event loop: capped at {MAX_BLOCKING_USERS} users and let "
                "in one request at a time, as the blocking lesson is, so that this window "
                "stays responsive."
            )
        self._controls.show_capped(self._session.endpoints(), self._session.load.capped())

    def _users_changed(self, users: int, scenario: str) -> None:
        capped = self._session.set_users(users, scenario or None)
        self.show_capped()
        if capped:
            which = (
                "The blocking endpoint is" if capped == ["blocking"] else f"{', '.join(capped)}:"
            )
            self._shell.show_message(
                f"{which} capped at {MAX_BLOCKING_USERS} users: each request freezes "
                "this window for as long as it runs."
            )
        elif "capped at" in self._controls.status.text():
            self._shell.show_message("")

    def _mode_changed(self, mode: str) -> None:
        self._session.set_mode(mode)
        self._session.set_rate(self._controls.rate_value())
        self._shell.charts.clear()
        self._paint_text()
