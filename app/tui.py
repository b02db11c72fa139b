"""The specedit TUI: pick a file, ask for an edit, watch the speculation, review hunks, commit.

Threading: the model is loaded and run in thread workers (``@work(thread=True)``); the worker renders
the live diff itself and hands the UI a finished ``Content`` at most every ``BATCH_S`` seconds, so the
event loop never does per-token work. Git commands run in thread workers too (a commit takes longer
than a frame). Nothing here imports torch: the backend factory imports it lazily inside the worker,
which keeps the first frame fast.
"""

from __future__ import annotations

import argparse
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from textual import work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import Screen
from textual.theme import Theme
from textual.widgets import DirectoryTree, Footer, Input, Static

from app.apply import apply_proposal
from app.files import FileRefused, read_editable
from app.live import LiveText
from app.review import Decision, ReviewState
from app.ui_config import UiConfig, load_config, save_config
from app.widgets.code_view import CodeView
from app.widgets.dialogs import ConfirmScreen, HelpScreen, binding_rows
from app.widgets.diff_view import DiffView
from app.widgets.file_picker import FilePicker
from app.widgets.history_input import HistoryInput
from app.widgets.status_bar import StatusBar
from decoding.events import Done, Error, Span, Stats
from decoding.personal.cache import EditCache, default_cache_path
from decoding.request import EditBackend, EditRequest
from decoding.session import Proposal, propose_edit
from themes.specedit import DARK, LIGHT, SPEC_VARIABLE_DEFAULTS, THEMES
from vcs.hunks import apply_hunks, compute_hunks
from vcs.repo import EditMeta, EditRepo, VcsError

BATCH_S = 0.04
Progress = Callable[[str, float | None], None]
BackendFactory = Callable[[argparse.Namespace | None, Progress], EditBackend]


def default_backend_factory(args: argparse.Namespace | None, progress: Progress) -> EditBackend:
    """The real backend; imported here so torch loads in the worker, after the first frame."""
    from app.backends import make_backend

    if args is None:
        raise ValueError("no model options given")
    return make_backend(args, progress)


class SpeceditApp(App[None]):
    CSS_PATH = "tui.tcss"
    TITLE = "specedit"
    BINDINGS = [
        Binding("escape", "cancel", "Cancel generation"),
        Binding("ctrl+z", "undo", "Undo last edit", priority=True),
        Binding("ctrl+y", "redo", "Redo", priority=True),
        Binding("question_mark", "help", "Help", show=False),
        Binding("f1", "help", "Help"),
        Binding("ctrl+l", "focus_instruction", "Instruction", show=False),
        Binding("ctrl+q", "quit", "Quit"),
    ]

    def __init__(
        self,
        path: Path,
        args: argparse.Namespace | None = None,
        backend_factory: BackendFactory = default_backend_factory,
    ) -> None:
        super().__init__()
        self.target = Path(path).resolve()
        self.root = self.target if self.target.is_dir() else self.target.parent
        self.args = args
        self.backend_factory = backend_factory
        self.backend: EditBackend | None = None
        self.edit_cache: EditCache | None = None  # opened in the worker: it reads a file
        self._backend_lock = threading.Lock()
        self.model_label = f"{getattr(args, 'model', 'model')} (loads on first edit)"
        self.repo: EditRepo | None = None
        self.current: Path | None = None
        self.loaded_text = ""
        self.review: ReviewState | None = None
        self.request: EditRequest | None = None
        self.proposal: Proposal | None = None
        self.cancel_event: threading.Event | None = None
        for theme in THEMES:
            self.register_theme(theme)
        config, problem = load_config()
        self._startup_notes = [problem] if problem else []
        self._saved_theme = config.theme
        self.theme = self._initial_theme(config)

    # -- layout ----------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        with Horizontal(id="main"):
            picker = FilePicker(self.root, id="picker")
            picker.border_title = self.root.name or str(self.root)
            yield picker
            with Vertical(id="work"):
                with Horizontal(id="panes"):
                    yield CodeView(id="code")
                    yield DiffView(id="diff")
                yield HistoryInput(placeholder="Describe the edit, then press enter", id="instruction")
        yield StatusBar(id="status")
        yield Static(id="notes")
        yield Footer()

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return dict(SPEC_VARIABLE_DEFAULTS)

    def on_mount(self) -> None:
        self.query_one("#diff", DiffView).border_title = "proposal"
        self.query_one("#code", CodeView).border_title = "no file"
        self.query_one("#diff", DiffView).show(
            Content.styled("Pick a file, type an instruction, press enter.", "dim")
        )
        self._show_status(None)
        self.theme_changed_signal.subscribe(self, self._remember_theme)
        for note in self._startup_notes:
            self._error(note)
        if self.target.is_file():
            self._open_file(self.target)
        else:
            self.query_one("#picker").focus()
        self._connect_repo()

    def on_unmount(self) -> None:
        """Quitting mid-generation stops the worker at its next event instead of finishing the file."""
        if self.cancel_event is not None:
            self.cancel_event.set()

    # -- files -----------------------------------------------------------------------------------

    def on_directory_tree_file_selected(self, event: DirectoryTree.FileSelected) -> None:
        event.stop()
        self._open_file(event.path)

    def _open_file(self, path: Path) -> None:
        if self.cancel_event is not None:
            self._note("a generation is running; press escape to cancel it before switching files")
            return
        try:
            text = read_editable(path)
        except FileRefused as refused:
            self._error(str(refused))
            return
        self.current, self.loaded_text = path.resolve(), text
        self._clear_review("Type an instruction and press enter.")
        self.query_one("#code", CodeView).show(path, text)
        self.query_one("#instruction").focus()
        self._note(f"opened {self._relative(self.current)}")

    def _relative(self, path: Path) -> str:
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return path.name

    def _changed_on_disk(self) -> bool:
        assert self.current is not None
        try:
            return read_editable(self.current) != self.loaded_text
        except FileRefused:
            return True

    def _offer_reload(self, why: str) -> None:
        assert self.current is not None
        path = self.current

        def answered(reload: bool | None) -> None:
            if reload:
                self._open_file(path)

        self._error(why)
        self.push_screen(ConfirmScreen(f"{why}\n\nReload {path.name} from disk?", yes="Reload"), answered)

    # -- git -------------------------------------------------------------------------------------

    def _connect_repo(self) -> None:
        try:
            self.repo = EditRepo.open(self.root)
        except VcsError as exc:
            self._offer_git_init(str(exc))

    def _offer_git_init(self, why: str) -> None:
        def answered(init: bool | None) -> None:
            if not init:
                self._note("no git repository: edits cannot be applied until one exists (ctrl+p → git init)")
                return
            try:
                self.repo = EditRepo.open(self.root, init=True)
            except VcsError as exc:
                self._error(str(exc))
                return
            self._note(f"initialised a git repository in {self.root}")

        self.push_screen(
            ConfirmScreen(
                f"{why}\n\nspecedit commits every applied edit so that it can be undone.\n"
                f"Run git init in {self.root}?",
                yes="git init",
            ),
            answered,
        )

    @work(thread=True, group="git", exclusive=True, exit_on_error=False)
    def _apply_in_thread(
        self, path: Path, new_text: str, request: EditRequest, proposal: Proposal, meta: EditMeta, count: int
    ) -> None:
        """Commit (and let the edit cache and tuning log learn from it) off the event loop."""
        assert self.repo is not None
        try:
            sha = apply_proposal(self.repo, path, request, proposal, new_text, meta, self.edit_cache)
        except (VcsError, OSError) as exc:
            self.call_from_thread(self._error, f"not applied: {exc}")
            return
        self.call_from_thread(self._applied, path, sha, count)

    def _applied(self, path: Path, sha: str, count: int) -> None:
        self._open_file(path)
        self._note(
            f"applied {count} hunk{'s' if count != 1 else ''} to {self._relative(path)}: commit {sha[:7]}"
        )

    @work(thread=True, group="git", exclusive=True, exit_on_error=False)
    def _history_in_thread(self, action: str) -> None:
        assert self.repo is not None
        try:
            step = self.repo.undo() if action == "undo" else self.repo.redo()
        except VcsError as exc:
            self.call_from_thread(self._error, str(exc))
            return
        self.call_from_thread(self._history_done, action, step.instruction, step.files)

    def _history_done(self, action: str, instruction: str, files: tuple[Path, ...]) -> None:
        if self.current is not None and self.current in {f.resolve() for f in files}:
            if self.current.exists():
                self._open_file(self.current)
            else:
                self.current = None
                self.query_one("#code", CodeView).show(Path("(deleted)"), "")
        self._note(f"{action}: {instruction}")

    # -- generation ------------------------------------------------------------------------------

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        instruction = event.value.strip()
        if not instruction:
            return
        if self.current is None:
            self._error("pick a file first")
            return
        if self.cancel_event is not None:
            self._note("already generating; escape cancels")
            return
        if self._changed_on_disk():
            self._offer_reload(f"{self.current.name} changed on disk since it was opened")
            return
        box = self.query_one("#instruction", HistoryInput)
        box.remember(instruction)
        box.value = ""
        self.request = EditRequest(
            path=self._relative(self.current), original=self.loaded_text, instruction=instruction
        )
        self.review = None
        self.proposal = None
        self.cancel_event = threading.Event()
        view = self.query_one("#diff", DiffView)
        view.border_title = "generating… (escape cancels)"
        view.show(Content.styled("Waiting for the model's first tokens…", "dim"))
        self.refresh_bindings()
        self._generate(self.request, self.cancel_event)

    @work(thread=True, group="generate", exclusive=True, exit_on_error=False)
    def _generate(self, request: EditRequest, cancel: threading.Event) -> None:
        try:
            backend = self._ensure_backend()
            if backend is not None:
                self._stream(backend, request, cancel)
        except Exception as exc:  # the user must see every failure as a message, never as a traceback
            self.call_from_thread(self._error, f"generation failed: {type(exc).__name__}: {exc}")
        finally:
            self.call_from_thread(self._generation_ended)

    def _ensure_backend(self) -> EditBackend | None:
        with self._backend_lock:
            if self.backend is None:
                self.call_from_thread(self._note, "loading the model…")
                try:
                    self.backend = self.backend_factory(self.args, self._progress)
                except Exception as exc:  # any loader failure (missing file, OOM, bad option) is user-facing
                    self.call_from_thread(self._error, f"model load failed: {exc}")
                    return None
                label = self.backend.describe()
                self.call_from_thread(self._set_model_label, label)
            return self.backend

    def _progress(self, message: str, fraction: float | None) -> None:
        suffix = f" {fraction:.0%}" if fraction is not None else ""
        self.call_from_thread(self._note, f"{message}{suffix}")

    def _stream(self, backend: EditBackend, request: EditRequest, cancel: threading.Event) -> None:
        fmt = getattr(self.args, "format", "auto") or "auto"
        live = LiveText(request.original)
        stats: Stats | None = None
        restart = False
        last = 0.0
        if self.edit_cache is None and not getattr(self.args, "no_cache", False):
            self.edit_cache = EditCache(default_cache_path())
        for item in propose_edit(backend, request, fmt, cancel, cache=self.edit_cache):
            now = time.monotonic()
            if isinstance(item, Span):
                if restart:  # a lazy answer was refused and the whole file is being regenerated
                    live.reset()
                    restart = False
                live.add(item, now)
            elif isinstance(item, Stats):
                stats = item
            elif isinstance(item, Done):
                stats, restart = item.stats, True
            elif isinstance(item, Error):
                self.call_from_thread(self._error, f"{item.kind}: {item.message}")
                return
            elif isinstance(item, Proposal):
                self.call_from_thread(self._show_live, live.render(now, finished=True), item.stats)
                self.call_from_thread(self._start_review, request, item)
                return
            if now - last >= BATCH_S:
                self.call_from_thread(self._show_live, live.render(now), stats)
                last = now
        if cancel.is_set():
            self.call_from_thread(self._clear_review, "Generation cancelled; nothing was changed.")
            self.call_from_thread(self._note, "generation cancelled; nothing was changed")

    def _show_live(self, content: Content, stats: Stats | None) -> None:
        self.query_one("#diff", DiffView).show(content, follow=True)
        self._show_status(stats)

    def _generation_ended(self) -> None:
        self.cancel_event = None
        if self.review is None:
            self.query_one("#diff", DiffView).border_title = "proposal"
        self.refresh_bindings()

    def _start_review(self, request: EditRequest, proposal: Proposal) -> None:
        self.proposal = proposal
        self.review = ReviewState(
            request.original, proposal.new_text, compute_hunks(request.original, proposal.new_text)
        )
        self._show_status(proposal.stats)
        self._render_review()
        self.query_one("#diff", DiffView).focus()
        self._note(self.review.summary() + (f" — {proposal.note}" if proposal.note else ""))

    # -- review ----------------------------------------------------------------------------------

    def _render_review(self) -> None:
        assert self.review is not None
        view = self.query_one("#diff", DiffView)
        content, offsets = self.review.render()
        count = len(self.review.hunks)
        view.border_title = (
            f"review · hunk {self.review.selected + 1}/{count}" if count else "review · no change"
        )
        view.show(content)
        if offsets:
            view.reveal_row(offsets[self.review.selected])

    def _clear_review(self, hint: str) -> None:
        self.review = None
        self.proposal = None
        view = self.query_one("#diff", DiffView)
        view.border_title = "proposal"
        view.show(Content.styled(hint, "dim"))
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in {"hunk", "decide", "decide_all", "apply"}:
            return True if self.review is not None and self.cancel_event is None else None
        if action == "cancel":
            return self.cancel_event is not None
        if action in {"undo", "redo"}:
            return isinstance(self.screen, Screen) and not self.screen.is_modal
        return True

    def action_hunk(self, step: int) -> None:
        if self.review is not None:
            self.review.move(step)
            self._render_review()

    def action_decide(self, decision: Decision) -> None:
        if self.review is not None:
            self.review.decide(decision)
            self._render_review()
            self._note(self.review.summary())

    def action_decide_all(self, decision: Decision) -> None:
        if self.review is not None:
            self.review.decide_all(decision)
            self._render_review()
            self._note(self.review.summary())

    def action_apply(self) -> None:
        review, request, proposal, path = self.review, self.request, self.proposal, self.current
        if review is None or request is None or proposal is None or path is None:
            self._note("nothing to apply: ask for an edit first")
            return
        if self.repo is None:
            self._offer_git_init(f"{self.root} is not inside a git repository")
            return
        if self._changed_on_disk():
            self._offer_reload(f"{path.name} changed on disk since the proposal was made; not applied")
            return
        accepted = review.accepted_ids()
        if not accepted:
            self._note("every hunk is rejected: nothing to apply")
            return
        new_text = apply_hunks(request.original, review.hunks, accepted)
        stats = proposal.stats
        meta = EditMeta(
            model=self.model_label,
            method=getattr(self.args, "method", "multilayer"),
            new_tokens=stats.new_tokens,
            chars_per_s=stats.chars_per_s,
            tokens_per_s=stats.tokens_per_s,
            speedup=stats.tokens_per_target_forward or None,
        )
        self._apply_in_thread(path, new_text, request, proposal, meta, len(accepted))

    def action_cancel(self) -> None:
        if self.cancel_event is not None:
            self.cancel_event.set()
            self._note("cancelling…")

    def action_undo(self) -> None:
        self._history("undo")

    def action_redo(self) -> None:
        self._history("redo")

    def _history(self, action: str) -> None:
        if self.cancel_event is not None:
            self._note(f"cannot {action} while generating; escape cancels")
        elif self.repo is None:
            self._error(f"cannot {action}: {self.root} is not inside a git repository")
        else:
            self._history_in_thread(action)

    def action_help(self) -> None:
        rows = (
            binding_rows("Anywhere", self.BINDINGS)
            + [
                ("Anywhere", "ctrl+p", "Command palette (every action, theme switch)"),
                ("Anywhere", "tab", "Next pane"),
            ]
            + binding_rows("Instruction box", HistoryInput.BINDINGS)
            + [("Instruction box", "enter", "Generate the edit")]
            + binding_rows("Proposal pane (review)", DiffView.BINDINGS)
            + [
                (
                    "Status bar",
                    "speed-up est.",
                    "tokens per target forward (plain decoding: 1); bench measures time",
                )
            ]
        )
        self.push_screen(HelpScreen(rows))

    def action_focus_instruction(self) -> None:
        self.query_one("#instruction").focus()

    def action_toggle_theme(self) -> None:
        self.theme = LIGHT if self.current_theme.dark else DARK

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        commands = [
            ("Apply accepted hunks", "Write and commit the accepted hunks", self.action_apply),
            ("Accept hunk", "Accept the selected hunk", lambda: self.action_decide("accepted")),
            ("Reject hunk", "Reject the selected hunk", lambda: self.action_decide("rejected")),
            (
                "Accept all hunks",
                "Accept every hunk of the proposal",
                lambda: self.action_decide_all("accepted"),
            ),
            (
                "Reject all hunks",
                "Reject every hunk of the proposal",
                lambda: self.action_decide_all("rejected"),
            ),
            ("Next hunk", "Select the next hunk", lambda: self.action_hunk(1)),
            ("Previous hunk", "Select the previous hunk", lambda: self.action_hunk(-1)),
            ("Cancel generation", "Stop the running generation", self.action_cancel),
            ("Undo last edit", "Restore the file before the last specedit commit", self.action_undo),
            ("Redo edit", "Re-apply the last undone edit", self.action_redo),
            (
                "Toggle light/dark theme",
                "Switch between specedit-dark and specedit-light",
                self.action_toggle_theme,
            ),
            ("Keys", "Show every key", self.action_help),
        ]
        if self.repo is None:
            commands.append(
                ("git init", "Create a git repository here", lambda: self._offer_git_init("no repository"))
            )
        for title, help_text, callback in commands:
            yield SystemCommand(title, help_text, callback)

    # -- status, notes, theme --------------------------------------------------------------------

    def _set_model_label(self, label: str) -> None:
        self.model_label = label
        self._show_status(None)

    def _show_status(self, stats: Stats | None) -> None:
        self.query_one("#status", StatusBar).show(self.model_label, stats)

    def _note(self, text: str) -> None:
        notes = self.query_one("#notes", Static)
        notes.remove_class("error")
        notes.update(Content(text))

    def _error(self, text: str) -> None:
        notes = self.query_one("#notes", Static)
        notes.add_class("error")
        notes.update(Content(text))
        self.notify(text, severity="error", timeout=6)

    def _initial_theme(self, config: UiConfig) -> str:
        wanted = getattr(self.args, "theme", None) or config.theme or DARK
        if wanted not in self.available_themes:
            self._startup_notes.append(f"unknown theme {wanted!r}; using {DARK}")
            return DARK
        return wanted

    def _remember_theme(self, theme: Theme) -> None:
        if theme.name == self._saved_theme:
            return
        try:
            save_config(UiConfig(theme=theme.name))
        except OSError as exc:
            self._error(f"could not save the theme choice: {exc}")
            return
        self._saved_theme = theme.name
