"""The user's own app (served here) or a server already running, and its route under load
beside the demo scenarios."""

from __future__ import annotations

import time
from collections.abc import Callable

from loopscope.embedded_server import BlockSite, computing
from loopscope.loadgen import MAX_USERS, RouteRequest

from .load_settings import LoadSettings
from .own_app import OwnTarget, split_url

# The user's code held the loop this share of a health period: the loop lag is the app's
# doing (named in the window's list), not the generator's; `run --app` judges the same way.
OWN_HELD_SHARE = 0.2


class YourApp:
    """The app or URL the user loaded, its route, and where its code held the loop."""

    def __init__(
        self, settings: LoadSettings, *, on_level_change: Callable[[str, float], None]
    ) -> None:
        self._settings = settings
        # A route's users changed (set, or the route chosen): its curve point starts afresh.
        self._on_level_change = on_level_change
        #: The user's own app (served here) or a server already running; None: demo only.
        self.own: OwnTarget | None = None
        #: The route of `own` under load beside the demo scenarios (None: none).
        self.route: RouteRequest | None = None
        # Seconds the user's code had held the loop at the last health verdict.
        self._held_s = 0.0

    async def load_app(self, spec: str, app_dir: str | None, *, threads: int) -> OwnTarget:
        """Import the user's app ("module:attribute", from `app_dir`), run its lifespan and
        serve it on 127.0.0.1 (OwnTarget.open_app), in place of the app or URL loaded
        before. ValueError (one line) when it cannot."""
        # The old app goes first: the same module loaded again is the same app object, and
        # its lifespan must not run twice at once.
        await self.close()
        self.own = await OwnTarget.open_app(spec, app_dir, threads=threads)
        if self.own.probed is not None:
            # This window runs on the loop the app holds: a route found to hold it lets
            # its requests in one at a time, so that the window stays controllable.
            self.own.probed.guard_loop_holders = True
        return self.own

    async def use_url(self, url: str, *, allow_remote: bool = False) -> str:
        """Point at a server already running; returns the "/path?query" the URL names.
        RemoteHostError (a ValueError) when its host is not this machine, unless
        `allow_remote` (the user said yes); nothing is sent before Start."""
        base, target = split_url(url, allow_remote=allow_remote)
        await self.close()
        self.own = OwnTarget.for_url(base, remote=allow_remote)
        return target

    def set_route(self, request: RouteRequest | None, *, users: int = 10) -> None:
        """The route under load at the next Start, with `users`; None: no route."""
        if request is not None and self.own is None:
            raise ValueError("load an app or a URL first")
        if self.route is not None:
            self._settings.users.pop(self.route.scenario, None)
        self.route = request
        if request is not None:
            if not 1 <= users <= MAX_USERS:
                raise ValueError(f"users must be between 1 and {MAX_USERS}")
            self._settings.users[request.scenario] = users
            self._on_level_change(request.scenario, time.perf_counter())

    async def close(self) -> None:
        """Forget the user's app or URL (stopping the app's server and lifespan)."""
        if self.route is not None:
            self.set_route(None)
        own, self.own = self.own, None
        self._held_s = 0.0
        if own is not None:
            await own.close()

    def url_of(self, name: str) -> str | None:
        """Where the users of `name` send: the app's URL for its route, else None."""
        if self.own is not None and self.route is not None and name == self.route.scenario:
            return self.own.url
        return None

    def holds_loop(self, name: str) -> bool:
        """`name` is the route under load, and its requests were seen holding the loop."""
        probed = self.own.probed if self.own is not None else None
        return (
            probed is not None
            and self.route is not None
            and name == self.route.scenario
            and name in probed.block_watch.held_routes
        )

    def open_gate(self) -> None:
        """A run begins: the app admits requests (ProbedApp.open_gate)."""
        if self.own is not None and self.own.probed is not None:
            self.own.probed.open_gate()

    def close_gate(self) -> None:
        """The run stopped: requests not yet in the app are answered 503, unrun."""
        if self.own is not None and self.own.probed is not None:
            self.own.probed.close_gate()

    def block_sites(self) -> list[BlockSite]:
        """Where the user's code held the event loop, longest total first."""
        return [] if self.own is None else self.own.block_sites()

    def held_lessons(self, period_s: float) -> tuple[str, ...]:
        """The lessons whose loop lag is by design, when the user's code held the loop for
        OWN_HELD_SHARE of the last `period_s`: ("blocking",), and "cpu-async" when it
        computed meanwhile (the same rule as `run --app`). Call once per period."""
        sites = self.block_sites()
        held = sum(site.total_s for site in sites)
        fresh, self._held_s = held - self._held_s, held
        if fresh < OWN_HELD_SHARE * period_s:
            return ()
        return ("blocking", "cpu-async") if computing(sites) else ("blocking",)

    def in_flight(self) -> dict[str, int]:
        """Requests in flight in the app, per route (none for a URL or no app)."""
        return {} if self.own is None else self.own.in_flight()

    def reset(self) -> None:
        """Forget where the code held the loop so far (the charts are cleared)."""
        if self.own is not None and self.own.probed is not None:
            self.own.probed.block_watch.reset()
        self._held_s = 0.0
