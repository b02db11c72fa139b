"""The main screen: pick a file, ask for an edit, watch the speculation, review hunks, commit.

Data flows one way: the UI starts thread workers; the generation worker turns engine events into typed
messages (``app.messages``, posted, never ``call_from_thread``); the review pane posts ``Apply``; git
and file reads run in thread workers too. Every worker failure lands in one handler
(``on_worker_state_changed``), which shows it as a message instead of a traceback.

A follow-up instruction while a proposal is under review refines that proposal: the model gets the
proposal as the current file and the earlier instructions of the conversation; the review still
compares against the file on disk, and the commit message carries the whole conversation. A
refinement that ends without a proposal (escape, failure, a discarded cut-off) brings the review it
started from back as the user left it.

Apply, undo and redo run one at a time, and the review is parked while one runs. An applied
proposal is finished; an undo or redo that changes the file under review dismisses the proposal,
which was computed from the text before. A failed transaction brings the review back.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.reactive import var
from textual.screen import Screen
from textual.widgets import DirectoryTree, Footer, Input, Static
from textual.worker import Worker, WorkerState

from app.apply import apply_proposal, edit_meta
from app.files import FileRefused, read_editable
from app.generation import edit_events, run_generation
from app.messages import (
    Applied,
    CheckDone,
    CutOffReached,
    FileLoaded,
    GenerationFailed,
    HistoryMoved,
    LiveFrame,
    ModelReady,
    Note,
    ProposalReady,
    RepoConnected,
)
from app.post_check import run_post_check
from app.review import ReviewState
from app.run_options import RunOptions
from app.widgets.code_view import CodeView
from app.widgets.dialogs import ChoiceScreen, ConfirmScreen
from app.widgets.file_picker import FilePicker
from app.widgets.history_input import HistoryInput
from app.widgets.review_view import ReviewView
from app.widgets.status_bar import StatusBar, layer_legend
from common.errors import BackendFailure, Refused, SpeceditError
from decoding.checks import Finding
from decoding.events import Stats
from decoding.models.store import Progress
from decoding.personal.cache import EditCache, default_cache_path
from decoding.request import EditBackend, EditRequest
from decoding.selection import Selection
from decoding.session import CutOff, Proposal
from vcs.hunks import apply_hunks, compute_hunks
from vcs.repo import EditMeta, EditRepo, VcsError

BackendFactory = Callable[[RunOptions, Progress], EditBackend]
EXIT_WAIT_S = 30.0  # at quit, how long a model thread may take to reach its next cancel check
NARROW_BELOW = 110  # columns: under this the tree hides and the panes stack
_ENDED = (WorkerState.SUCCESS, WorkerState.ERROR, WorkerState.CANCELLED)
WORKER_FAILURE = {
    "generate": "generation failed",
    "git": "git",
    "file": "cannot open the file",
    "check": "the check could not run",
}


class FileChanged(Refused):
    """The file on disk is not the text the edit was asked about."""


@dataclass(frozen=True)
class UnderReview:
    """A proposal under review with the user's decisions so far: what a refinement that does not
    finish (cancelled, failed, cut off and discarded) goes back to."""

    proposal: Proposal
    conversation: tuple[str, ...]
    edit_region: Selection | None
    review: ReviewState
    findings: tuple[Finding, ...]


class MainScreen(Screen[None]):
    CSS_PATH = "main.tcss"
    SCOPED_CSS = False  # its rules select on the screen's own breakpoint classes (MainScreen.-narrow)
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (NARROW_BELOW, "-wide")]
    BINDINGS = [
        Binding("escape", "escape", "Cancel / dismiss"),
        Binding("ctrl+z", "history('undo')", "Undo", priority=True),
        Binding("ctrl+y", "history('redo')", "Redo", priority=True, show=False),
        Binding("ctrl+b", "toggle_tree", "Files"),
        Binding("ctrl+l", "focus_instruction", "Instruction", show=False),
    ]

    tree_shown: var[bool | None] = var(None)  # None: automatic (hidden when the terminal is narrow)

    def __init__(self, target: Path, options: RunOptions, backend_factory: BackendFactory) -> None:
        super().__init__()
        self.target = target
        self.root = target if target.is_dir() else target.parent
        self.options = options
        self.backend_factory = backend_factory
        self.backend: EditBackend | None = None
        self.edit_cache: EditCache | None = None  # opened in the worker: it reads a file
        self._backend_lock = threading.Lock()  # one generation at a time, a cancelled one included
        self.model_label = f"{options.model} (loads on first edit)"
        self.repo: EditRepo | None = None
        self.current: Path | None = None
        self.loaded_text = ""
        self.proposal: Proposal | None = None
        self.conversation: tuple[str, ...] = ()  # instructions that built the proposal under review
        self.cut: CutOff | None = None
        self.refining: UnderReview | None = None  # the review a running follow-up instruction refines
        self.edit_region: Selection | None = None  # the lines the running or reviewed edit rewrites
        self.cancel_event: threading.Event | None = None
        self.transaction: Worker[None] | None = None  # the running apply, undo or redo
        self.checked_edit_stands = False  # no undo/redo since the edit the running --check checks
        self.generation = 0  # id of the newest generation; messages of older ones are dropped
        self.histories: dict[Path, list[str]] = {}
        self._narrow: bool | None = None
        self._runners: list[threading.Thread] = []  # model threads (each ends at a cancel check)

    # -- layout ----------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        with Horizontal(id="main"):
            picker = FilePicker(self.root, id="picker")
            picker.border_title = self.root.name or str(self.root)
            yield picker
            with Vertical(id="work"):
                with Horizontal(id="panes"):
                    yield CodeView(id="code")
                    yield ReviewView(id="diff")
                yield Static(layer_legend(), id="legend")
                yield Static(id="thread")
                yield HistoryInput(placeholder="Describe the edit, then press enter", id="instruction")
        yield StatusBar(id="status")
        yield Static(id="notes")
        yield Footer()

    def on_mount(self) -> None:
        self.code.border_title = "no file"
        self.review_view.show_hint("Pick a file, type an instruction, press enter.")
        self._show_status(None)
        self._show_thread()
        if self.target.is_file():
            self._open_file(self.target)
        else:  # a folder: the tree is where to start, even when narrow (until a file is open)
            self.tree_shown = True
            self.query_one("#picker").focus()
        self._connect_repo()

    def on_unmount(self) -> None:
        """Quitting mid-generation stops the model at its next cancel check, and waits for that.

        The model thread is a daemon (a cancel must not wait for it), but the interpreter must not
        free a native model (llama.cpp) while that thread is still inside it: that segfaults at exit.
        """
        if self.cancel_event is not None:
            self.cancel_event.set()
        for runner in self._runners:
            runner.join(timeout=EXIT_WAIT_S)

    @property
    def code(self) -> CodeView:
        return self.query_one("#code", CodeView)

    @property
    def review_view(self) -> ReviewView:
        return self.query_one("#diff", ReviewView)

    @property
    def review(self) -> ReviewState | None:
        return self.review_view.review

    @property
    def instruction_box(self) -> HistoryInput:
        return self.query_one("#instruction", HistoryInput)

    def watch_tree_shown(self, shown: bool | None) -> None:
        self.set_class(shown is True, "-tree-shown")
        self.set_class(shown is False, "-tree-hidden")

    def on_resize(self, event: events.Resize) -> None:
        """Crossing the breakpoint gives the tree back to the automatic rule (hidden when narrow)."""
        narrow = event.size.width < NARROW_BELOW
        if self._narrow is not None and narrow != self._narrow:
            self.tree_shown = None
        self._narrow = narrow

    def action_toggle_tree(self) -> None:
        visible = self.query_one("#picker").display
        self.tree_shown = not visible
        if self.tree_shown:
            self.query_one("#picker").focus()

    # -- files -----------------------------------------------------------------------------------

    def on_directory_tree_file_selected(self, event: DirectoryTree.FileSelected) -> None:
        event.stop()
        self._open_file(event.path)

    def _open_file(self, path: Path, note: str = "") -> None:
        if self.cancel_event is not None:
            self.note("a generation is running; press escape to cancel it before switching files")
            return
        self._read_file(path.resolve(), note)

    @work(thread=True, group="file", exclusive=True, exit_on_error=False)
    def _read_file(self, path: Path, note: str) -> None:
        text = read_editable(path)  # FileRefused goes to the one worker-error handler
        self.post_message(FileLoaded(path, text, note))

    def on_file_loaded(self, message: FileLoaded) -> None:
        path, text = message.path, message.text
        if self.current is None and self._narrow:
            self.tree_shown = None  # the first file is open: the narrow layout gives it the room
        self.current, self.loaded_text = path, text
        after = f"{message.note}\n\n" if message.note else ""  # what was just applied or undone
        self._forget_proposal(f"{after}Type an instruction and press enter.")
        self.code.show(path, text)
        self.instruction_box.set_history(self.histories.setdefault(path, []))
        self._show_thread()
        self.instruction_box.focus()
        self.note(message.note or f"opened {self._relative(path)}")

    def _relative(self, path: Path) -> str:
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return path.name

    def _offer_reload(self, why: str) -> None:
        path = self.current
        if path is None:
            return

        def answered(reload: bool | None) -> None:
            if reload:
                self._open_file(path)

        self.error(why)
        self.app.push_screen(ConfirmScreen(f"{why}\n\nReload {path.name} from disk?", yes="Reload"), answered)

    # -- git -------------------------------------------------------------------------------------

    @work(thread=True, group="git", exit_on_error=False)
    def _connect_repo(self, init: bool = False) -> None:
        try:
            repo = EditRepo.open(self.root, init=init, notify=self._post_note)
        except VcsError as exc:
            if init:
                raise
            self.post_message(RepoConnected(None, str(exc)))
            return
        self.post_message(RepoConnected(repo, initialised=init))

    def _post_note(self, text: str) -> None:
        self.post_message(Note(text))

    def on_repo_connected(self, message: RepoConnected) -> None:
        self.repo = message.repo
        if message.repo is None:
            self.offer_git_init(message.why)
        elif message.initialised:
            self.note(f"initialised a git repository in {self.root}")

    def offer_git_init(self, why: str) -> None:
        def answered(init: bool | None) -> None:
            if init:
                self._connect_repo(init=True)
            else:
                self.note("no git repository: edits cannot be applied until one exists (ctrl+p → git init)")

        self.app.push_screen(
            ConfirmScreen(
                f"{why}\n\nspecedit commits every applied edit so that it can be undone.\n"
                f"Run git init in {self.root}?",
                yes="git init",
            ),
            answered,
        )

    @on(ReviewView.Apply)
    def _apply(self, event: ReviewView.Apply) -> None:
        proposal, path, backend = self.proposal, self.current, self.backend
        if proposal is None or path is None or backend is None or event.review is not self.review:
            return  # a second enter queued behind the first: that review is already being applied
        if self.repo is None:
            self.offer_git_init(f"{self.root} is not inside a git repository")
            return
        new_text = apply_hunks(self.loaded_text, event.review.hunks, event.hunk_ids)
        request = EditRequest(
            path=self._relative(path), original=self.loaded_text, instruction="\n\n".join(self.conversation)
        )
        meta = edit_meta(backend, proposal.stats)
        count = len(event.hunk_ids)
        self.review_view.park(f"Applying {_hunks(count)} to {request.path}…", "applying…")
        self.transaction = self._apply_in_thread(self.repo, path, request, proposal, new_text, meta, count)

    @work(thread=True, group="git", exclusive=True, exit_on_error=False)
    def _apply_in_thread(
        self,
        repo: EditRepo,
        path: Path,
        request: EditRequest,
        proposal: Proposal,
        new_text: str,
        meta: EditMeta,
        count: int,
    ) -> None:
        """Commit (and let the edit cache and tuning log learn from it) off the event loop."""
        _refuse_if_changed(path, request.original)
        sha = apply_proposal(repo, path, request, proposal, new_text, meta, self.edit_cache)
        self.post_message(Applied(path, sha, count))

    def on_applied(self, message: Applied) -> None:
        said = (
            f"applied {_hunks(message.hunks)} to {self._relative(message.path)}: "
            f"commit {message.sha[:7]} (ctrl+z undoes)"
        )
        repo, command = self.repo, self.options.check
        if command and repo is not None:  # said through the reload, which replaces any hint shown here
            said += f" · running the check: {command}"
        self._forget_proposal(said)  # finished: nothing of it may be applied again
        self._open_file(message.path, said)
        if command and repo is not None:
            self.checked_edit_stands = True
            self._check_in_thread(command, repo.root, message.path)

    @work(thread=True, group="check", exclusive=True, exit_on_error=False)
    def _check_in_thread(self, command: str, root: Path, path: Path) -> None:
        self.post_message(CheckDone(run_post_check(command, root, path)))

    def on_check_done(self, message: CheckDone) -> None:
        result = message.result
        if not self.checked_edit_stands:  # its "ctrl+z reverts the edit" would be about the wrong edit
            self.note(f"the check of an edit undone since has finished, not shown ({result.summary()})")
            return
        if result.ok:
            self.review_view.show_hint(result.summary(), "check passed")
            self.note(result.summary())
            return
        self.review_view.show_report(f"{result.summary()} · ctrl+z reverts the edit", Content(result.output))
        self.error(f"{result.summary()}: the edit stays committed; ctrl+z reverts it")

    @work(thread=True, group="git", exclusive=True, exit_on_error=False)
    def _history_in_thread(self, repo: EditRepo, action: str) -> None:
        step = repo.undo() if action == "undo" else repo.redo()
        self.post_message(HistoryMoved(action, step.instruction, step.files))

    def on_history_moved(self, message: HistoryMoved) -> None:
        said = f"{message.action}: {message.instruction}"
        self.checked_edit_stands = False
        if self.current is not None and self.current in {f.resolve() for f in message.files}:
            if self.proposal is not None:  # computed from the text the move replaced
                said += f" · the proposal under review was for the text before the {message.action}"
                said += ": dismissed"
                self._forget_proposal(said)
            if self.current.exists():
                self._open_file(self.current, said)
                return
            self.current = None
            self.code.show(Path("(deleted)"), "")
        if self.review_view.unpark():  # the move left the reviewed file alone
            self.review_view.focus()
        self.note(said)

    def action_history(self, action: str) -> None:
        if self.cancel_event is not None:
            self.note(f"cannot {action} while generating; escape cancels")
        elif self.transaction is not None:
            self.note(f"cannot {action} yet: the last apply, undo or redo is still running")
        elif self.repo is None:
            self.error(f"cannot {action}: {self.root} is not inside a git repository")
        else:
            self.review_view.park(f"{action.capitalize()} running…", f"{action}…")
            self.transaction = self._history_in_thread(self.repo, action)

    # -- generation ------------------------------------------------------------------------------

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        instruction = event.value.strip()
        if not instruction:
            return
        if self.current is None:
            self.error("pick a file first")
            return
        if self.cancel_event is not None:
            self.note("already generating; escape cancels")
            return
        if self.transaction is not None:
            self.note("an apply, undo or redo is still running; send the instruction when it is done")
            return
        box = self.instruction_box
        box.remember(instruction)
        box.value = ""
        proposal, review = self.proposal, self.review
        path = self._relative(self.current)
        if proposal is not None and review is not None:
            self.refining = UnderReview(
                proposal, self.conversation, self.edit_region, review, self.review_view.findings
            )
            earlier = self.conversation
            request = EditRequest(path, proposal.new_text, instruction, earlier=earlier)
            self.edit_region = None
        else:
            earlier, self.refining = (), None
            self.edit_region = self.code.selected_region()
            request = (
                self.edit_region.request(path, instruction)
                if self.edit_region is not None
                else EditRequest(path, self.loaded_text, instruction)
            )
        self.conversation = (*earlier, instruction)
        self._start_generation(request, check_disk=True)

    def _start_generation(self, request: EditRequest, check_disk: bool) -> None:
        assert self.current is not None
        self.proposal, self.cut = None, None
        self.generation += 1
        self.cancel_event = threading.Event()
        title = "refining the proposal…" if request.earlier else "generating…"
        self.review_view.show_hint("Waiting for the model's first tokens…", f"{title} (escape cancels)")
        self.note("")
        self._show_thread()
        self.refresh_bindings()
        disk = (self.current, self.loaded_text) if check_disk else None
        self._generate(self.generation, request, self.cancel_event, disk)

    @work(thread=True, group="generate", exit_on_error=False)
    def _generate(
        self, generation: int, request: EditRequest, cancel: threading.Event, disk: tuple[Path, str] | None
    ) -> None:
        """Wait for the model work, but let go the moment the user cancels or quits.

        Loading a model or reading a long prompt cannot be interrupted, so the work runs in a daemon
        thread: this worker (which Textual joins when the app exits) returns within a tenth of a second
        of a cancel, and quitting never waits for a model load. The daemon thread stops at the engine's
        next cancel check; until then it holds the backend lock, so the next generation waits for it.
        """
        if disk is not None:
            _refuse_if_changed(*disk)
            if self.repo is not None:  # an ignored, read-only or mid-rebase file: say so before a model runs
                self.repo.check_editable(disk[0])
        failure: list[BaseException] = []
        runner = threading.Thread(
            target=self._run_model,
            args=(generation, request, cancel, failure),
            name=f"specedit-generation-{generation}",
            daemon=True,
        )
        self._runners = [*(r for r in self._runners if r.is_alive()), runner]
        runner.start()
        while runner.is_alive() and not cancel.is_set():
            runner.join(0.1)
        if failure:
            raise failure[0]

    def _run_model(
        self, generation: int, request: EditRequest, cancel: threading.Event, failure: list[BaseException]
    ) -> None:
        try:
            with self._backend_lock:  # waits for a cancelled generation that is still winding down
                if cancel.is_set():
                    return
                backend = self._ensure_backend()
                if self.edit_cache is None and not self.options.no_cache:
                    self.edit_cache = EditCache(default_cache_path())
                stream = edit_events(
                    backend, request, self.edit_region, self.options.format, cancel, self.edit_cache
                )
                run_generation(generation, stream, request.original, cancel, self.post_message)
        except BaseException as exc:  # handed to the worker, whose failure the one handler shows
            failure.append(exc)

    def _ensure_backend(self) -> EditBackend:
        if self.backend is None:
            self.post_message(Note("loading the model…"))
            try:
                self.backend = self.backend_factory(self.options, self._progress)
            except Exception as exc:  # any loader failure (missing file, OOM, bad option) is user-facing
                hint = exc.hint if isinstance(exc, SpeceditError) else None  # what to do: keep it
                raise ModelLoadFailed(f"model load failed: {exc}", hint=hint) from exc
            self.post_message(ModelReady(self.backend.describe()))
        return self.backend

    def _progress(self, message: str, fraction: float | None) -> None:
        suffix = f" {fraction:.0%}" if fraction is not None else ""
        self.post_message(Note(f"{message}{suffix}"))

    def _current(self, generation: int) -> bool:
        return generation == self.generation and self.cancel_event is not None

    def on_live_frame(self, message: LiveFrame) -> None:
        if self._current(message.generation):
            self.add_class("-live")
            self.review_view.show_live(message.content)
            self._show_status(message.stats)

    def on_proposal_ready(self, message: ProposalReady) -> None:
        if not self._current(message.generation):
            return
        proposal = self.proposal = message.proposal
        self.cancel_event, self.refining = None, None
        self.remove_class("-live")
        review = ReviewState(
            self.loaded_text, proposal.new_text, compute_hunks(self.loaded_text, proposal.new_text)
        )
        self.review_view.start_review(review, proposal.findings)
        self.review_view.focus()
        self._show_status(proposal.stats)
        self._show_thread()
        extra = f" — {proposal.note}" if proposal.note else ""
        self.note(f"{review.summary()} · {review.enter_hint()}{extra}")

    def on_cut_off_reached(self, message: CutOffReached) -> None:
        if not self._current(message.generation):
            return
        self.cut = message.cut
        self.cancel_event = None
        self.remove_class("-live")
        self.review_view.show_hint(f"{message.cut.message}.", f"cut off at {message.cut.tokens} tokens")
        self.app.push_screen(
            ChoiceScreen(
                f"The answer was cut off at {message.cut.tokens} tokens (the token budget), so it is not a "
                "whole file and cannot be applied.",
                [("continue", "Continue generating", "c"), ("discard", "Discard it", "d")],
            ),
            self._cut_off_answered,
        )

    def _cut_off_answered(self, answer: str | None) -> None:
        cut = self.cut
        if answer == "continue" and cut is not None and self.cancel_event is None:
            self._start_generation(cut.resume(), check_disk=False)
        elif not self._back_to_review("the cut-off refinement was discarded"):
            self._forget_proposal("Cut-off answer discarded; nothing was changed.")

    def on_generation_failed(self, message: GenerationFailed) -> None:
        if self._current(message.generation):
            self.cancel_event = None
            self.error(message.text)
            if not self._back_to_review():
                self._forget_proposal("The generation failed; nothing was changed.")

    def on_model_ready(self, message: ModelReady) -> None:
        self.model_label = message.label
        self._show_status(None)
        self.note(f"generating with {message.label}…")

    def on_note(self, message: Note) -> None:
        (self.error if message.error else self.note)(message.text)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The one place where worker failures become messages, and generations end."""
        worker = event.worker
        if event.state == WorkerState.ERROR:
            self._worker_failed(worker.group, worker.error)
        if worker is self.transaction and event.state in _ENDED:
            self.transaction = None
            # A failure changed nothing: the review comes back as the user left it.
            if event.state != WorkerState.SUCCESS and self.review_view.unpark():
                self.review_view.focus()
        if worker.group == "generate" and event.state in _ENDED:
            self._generation_ended()

    def _worker_failed(self, group: str, error: BaseException | None) -> None:
        if isinstance(error, FileChanged):
            self._offer_reload(str(error))
        elif isinstance(error, SpeceditError):
            self.error(error.message, error.hint)
        else:
            what = WORKER_FAILURE.get(group, group)
            self.error(f"{what}: {type(error).__name__}: {error}")

    def _generation_ended(self) -> None:
        if any(w.group == "generate" and w.is_running for w in self.workers):
            return  # a cancelled generation ended while the next one waits for the model
        if self.cancel_event is not None and self.proposal is None and self.cut is None:
            self.cancel_event = None
            if not self._back_to_review():
                self._forget_proposal("The generation ended without a proposal; nothing was changed.")
        self.cancel_event = None
        self.refresh_bindings()

    def action_escape(self) -> None:
        if self.cancel_event is not None:
            self.cancel()
        elif self.review is not None:
            self.review_view.action_dismiss()

    def cancel(self) -> None:
        """Drop everything at once: the UI forgets the generation now, the worker stops at its next check.

        A new instruction may be sent right away; its worker waits until this one has let go of the model.
        """
        if self.cancel_event is None:
            return
        self.cancel_event.set()
        self.cancel_event = None
        self.generation += 1
        for worker in self.workers:
            if worker.group == "generate":
                worker.cancel()
        if not self._back_to_review("refinement cancelled"):
            self._forget_proposal("Generation cancelled; nothing was changed.")
            self.note("generation cancelled; nothing was changed")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "escape":
            return self.cancel_event is not None or self.review is not None
        return True

    # -- review ----------------------------------------------------------------------------------

    def _forget_proposal(self, hint: str) -> None:
        self.remove_class("-live")
        self.proposal, self.cut, self.conversation, self.edit_region = None, None, (), None
        self.refining = None
        self.review_view.show_hint(hint)
        self._show_thread()
        self.refresh_bindings()

    def _back_to_review(self, said: str = "") -> bool:
        """Put the review that a refinement started from back, decisions included; False if none.

        A follow-up instruction that does not end in a proposal must not cost the proposal it was
        refining. ``said`` goes to the notes line (left alone without it: an error may be there).
        """
        earlier, self.refining = self.refining, None
        if earlier is None:
            return False
        self.remove_class("-live")
        self.proposal, self.cut = earlier.proposal, None
        self.conversation, self.edit_region = earlier.conversation, earlier.edit_region
        self.review_view.start_review(earlier.review, earlier.findings)
        self.review_view.focus()
        self._show_status(earlier.proposal.stats)
        self._show_thread()
        self.refresh_bindings()
        if said:
            self.note(f"{said}; back to the previous proposal · {earlier.review.summary()}")
        return True

    @on(ReviewView.Dismissed)
    def _dismissed(self) -> None:
        self._forget_proposal("Review dismissed; nothing was changed.")
        self.note("review dismissed; nothing was changed")
        self.instruction_box.focus()

    def on_text_area_selection_changed(self) -> None:
        self._show_thread()

    @on(ReviewView.Changed)
    def _review_changed(self, event: ReviewView.Changed) -> None:
        self.note(event.summary)

    def _show_thread(self) -> None:
        """The conversation behind the proposal under review (a follow-up instruction refines it)."""
        thread = self.query_one("#thread", Static)
        earlier = self.histories.get(self.current, []) if self.current is not None else []
        region = self.edit_region or (self.code.selected_region() if self.proposal is None else None)
        only = f"only {region.describe()} · " if region is not None else ""
        if self.conversation:
            steps = " → ".join(self.conversation)
            refine = " · a new instruction refines this proposal" if self.proposal is not None else ""
            thread.update(f"{only}conversation: {steps}{refine}")
        elif region is not None:
            thread.update(f"the next instruction edits only {region.describe()} (selected in the file)")
        elif earlier:
            thread.update(f"earlier here (↑/↓ recalls): {' · '.join(reversed(earlier[-3:]))}")
        thread.display = bool(self.conversation or earlier or region)

    # -- status, notes ---------------------------------------------------------------------------

    def _show_status(self, stats: Stats | None) -> None:
        self.query_one("#status", StatusBar).show(self.model_label, stats)

    def note(self, text: str) -> None:
        notes = self.query_one("#notes", Static)
        notes.remove_class("error")
        notes.update(text)

    def error(self, text: str, hint: str | None = None) -> None:
        """The notes line and a toast; a hint (what to do about it) gets a line of its own, as on stderr."""
        if hint:
            text = f"{text}\nhint: {hint}"
        notes = self.query_one("#notes", Static)
        notes.add_class("error")
        notes.update(text)
        self.notify(text, severity="error", timeout=6)

    def action_focus_instruction(self) -> None:
        self.instruction_box.focus()


def _hunks(count: int) -> str:
    return f"{count} hunk{'s' if count != 1 else ''}"


class ModelLoadFailed(BackendFailure):
    """The backend could not be built (missing weights, out of memory, bad option)."""


def _refuse_if_changed(path: Path, expected: str) -> None:
    """Runs in workers: the file must still hold the text the edit was computed from."""
    try:
        current = read_editable(path)
    except FileRefused as exc:
        raise FileChanged(f"{path.name} can no longer be read: {exc}") from exc
    if current != expected:
        raise FileChanged(f"{path.name} changed on disk since it was opened")
