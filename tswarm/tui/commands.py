"""The command palette (ctrl+p): every key action by name, from the same table as the keys.

Only the actions that apply now are offered (the app's ``check_action`` decides, as it does for the
keys): no "Start a new test" while one runs, no "Stop the test" when none does.
"""

from __future__ import annotations

from functools import partial

from textual.actions import ActionError, parse
from textual.command import DiscoveryHit, Hit, Hits, Provider

from tswarm.tui.bindings import KEY_ACTIONS

__all__ = ["TswarmCommands"]


class TswarmCommands(Provider):
    """Offers each entry of :data:`~tswarm.tui.bindings.KEY_ACTIONS` that applies now, with its key as help."""

    def _commands(self) -> list[tuple[str, str, str]]:
        return [
            (entry.help, entry.action, f"key: {entry.keys_display}")
            for entry in KEY_ACTIONS
            if entry.palette and self._applies(entry.action)
        ]

    def _applies(self, action: str) -> bool:
        try:
            _, name, parameters = parse(action)
        except ActionError:
            return False
        return self.app.check_action(name, parameters) is not False

    async def discover(self) -> Hits:
        for title, action, help_text in self._commands():
            yield DiscoveryHit(title, partial(self._run, action), help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, action, help_text in self._commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(
                    score, matcher.highlight(title), partial(self._run, action), text=title, help=help_text
                )

    async def _run(self, action: str) -> None:
        await self.app.run_action(action)
