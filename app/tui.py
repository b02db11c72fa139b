"""The specedit TUI application: themes, settings, help and the command palette around ``MainScreen``.

The work (files, generation, review, git) lives in :mod:`app.screens.main`. Nothing here imports
torch: the backend factory imports it lazily inside the generation worker, which keeps the first
frame fast.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.theme import Theme

from app.messages import Note
from app.run_options import RunOptions
from app.screens.main import BackendFactory, MainScreen
from app.ui_config import UiConfig, load_config, save_config
from app.widgets.code_view import CodeView
from app.widgets.dialogs import HelpScreen, binding_rows
from app.widgets.history_input import HistoryInput
from app.widgets.review_view import ReviewView
from app.widgets.status_bar import STATUS_TERMS
from decoding.models.store import Progress
from decoding.request import EditBackend
from themes.specedit import DARK, LIGHT, SPEC_VARIABLE_DEFAULTS, THEMES


def default_backend_factory(options: RunOptions, progress: Progress) -> EditBackend:
    """The real backend; imported here so torch loads in the worker, after the first frame."""
    from app.backends import make_backend

    return make_backend(options, progress)


class SpeceditApp(App[None]):
    CSS_PATH = "tui.tcss"
    TITLE = "specedit"
    BINDINGS = [
        Binding("f1", "help", "Help"),
        Binding("ctrl+q", "quit", "Quit"),
    ]

    def __init__(
        self,
        path: Path,
        options: RunOptions | None = None,
        backend_factory: BackendFactory = default_backend_factory,
    ) -> None:
        super().__init__()
        self.target = Path(path).resolve()
        self.options = options or RunOptions()
        self.backend_factory = backend_factory
        for theme in THEMES:
            self.register_theme(theme)
        config, problem = load_config()
        self._startup_notes = [problem] if problem else []
        self._saved_theme = config.theme
        self.theme = self._initial_theme(config)

    @property
    def main(self) -> MainScreen:
        """The main screen, whatever dialog is open above it."""
        return next(screen for screen in self.screen_stack if isinstance(screen, MainScreen))

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return dict(SPEC_VARIABLE_DEFAULTS)

    def on_mount(self) -> None:
        # Pushed rather than made the default screen: Textual loads a screen's CSS_PATH on push only.
        self.push_screen(MainScreen(self.target, self.options, self.backend_factory))
        self.theme_changed_signal.subscribe(self, self._remember_theme)
        for note in self._startup_notes:
            self.main.error(note)

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            return
        rows = (
            binding_rows("Anywhere", [*self.BINDINGS, *MainScreen.BINDINGS])
            + [
                ("Anywhere", "ctrl+p", "Command palette (every action, theme switch)"),
                ("Anywhere", "tab", "Next pane"),
            ]
            + binding_rows("Instruction box", HistoryInput.BINDINGS)
            + [
                ("Instruction box", "enter", "Generate the edit (refines the proposal under review)"),
                ("Instruction box", "?", "This help (when the box is empty)"),
            ]
            + binding_rows("File pane", CodeView.BINDINGS)
            + [("File pane", "shift+arrows", "Select lines: the next instruction edits only them")]
            + binding_rows("Proposal pane (review)", ReviewView.BINDINGS)
            + [("Status bar", term, meaning) for term, meaning in STATUS_TERMS]
            + [
                (
                    "Live diff colours",
                    "lookup/draft/target",
                    "the layer that proposed the text; struck: rejected",
                )
            ]
        )
        self.push_screen(HelpScreen(rows))

    def action_toggle_theme(self) -> None:
        self.theme = LIGHT if self.current_theme.dark else DARK

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)  # includes Textual's own "Keys" panel
        main = self.main
        view = main.review_view
        commands = [
            ("Apply hunks", "Apply the reviewed hunks (asks about pending ones)", view.action_apply),
            ("Accept hunk", "Accept the selected hunk", lambda: view.action_decide("accepted")),
            ("Reject hunk", "Reject the selected hunk", lambda: view.action_decide("rejected")),
            (
                "Accept all hunks",
                "Accept every hunk of the proposal",
                lambda: view.action_decide_all("accepted"),
            ),
            (
                "Reject all hunks",
                "Reject every hunk of the proposal",
                lambda: view.action_decide_all("rejected"),
            ),
            ("Edit hunk", "Open the selected hunk in $EDITOR", view.action_edit_hunk),
            ("Next hunk", "Select the next hunk", lambda: view.action_move(1)),
            ("Previous hunk", "Select the previous hunk", lambda: view.action_move(-1)),
            ("Dismiss review", "Close the review without applying anything", view.action_dismiss),
            ("Cancel generation", "Stop the running generation", main.cancel),
            (
                "Undo last edit",
                "Restore the file before the last specedit commit",
                lambda: main.action_history("undo"),
            ),
            ("Redo edit", "Re-apply the last undone edit", lambda: main.action_history("redo")),
            ("Toggle file tree", "Show or hide the file tree", main.action_toggle_tree),
            (
                "Toggle light/dark theme",
                "Switch between specedit-dark and specedit-light",
                self.action_toggle_theme,
            ),
            ("Help", "Every key, and what the status bar figures mean", self.action_help),
        ]
        if main.repo is None:
            commands.append(
                ("git init", "Create a git repository here", lambda: main.offer_git_init("no repository"))
            )
        for title, help_text, callback in commands:
            yield SystemCommand(title, help_text, callback)

    # -- theme -----------------------------------------------------------------------------------

    def _initial_theme(self, config: UiConfig) -> str:
        wanted = self.options.theme or config.theme or DARK
        if wanted not in self.available_themes:
            self._startup_notes.append(f"unknown theme {wanted!r}; using {DARK}")
            return DARK
        return wanted

    def _remember_theme(self, theme: Theme) -> None:
        if theme.name != self._saved_theme:
            self._saved_theme = theme.name
            self._save_theme(theme.name)

    @work(thread=True, group="settings", exit_on_error=False)
    def _save_theme(self, name: str) -> None:
        try:
            save_config(UiConfig(theme=name))
        except OSError as exc:
            self.main.post_message(Note(f"could not save the theme choice: {exc}", error=True))
