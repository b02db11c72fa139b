"""``specedit bench --backend openai``: servers next to the engine on the same items and prompts."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.cli import main
from decoding.bench.remote import parse_servers
from tests.llama_server import LlamaServer, free_port, require_server
from tests.tui_support import INSTRUCTION, ORIGINAL


def test_parse_servers_labels_urls_and_defaults() -> None:
    assert parse_servers("plain=http://h:1/v1/, ngram=http://h:2/v1") == [
        ("plain", "http://h:1/v1"),
        ("ngram", "http://h:2/v1"),
    ]
    assert parse_servers("http://h:1/v1,http://h:2/v1") == [
        ("server", "http://h:1/v1"),
        ("server2", "http://h:2/v1"),
    ]


@pytest.mark.parametrize("spec", ["plain=h:1/v1", "=http://h:1/v1", "a=http://h:1/v1,a=http://h:2/v1", ""])
def test_parse_servers_refuses_malformed_lists(spec: str) -> None:
    with pytest.raises(ValueError, match="--base-url"):
        parse_servers(spec)


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    path = tmp_path / "items.jsonl"
    path.write_text(json.dumps({"id": "calc", "before": ORIGINAL, "instruction": INSTRUCTION}) + "\n")
    return path


def test_bench_openai_needs_a_base_url(dataset: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:  # noqa: ANN001
    monkeypatch.delenv("SPECEDIT_BASE_URL", raising=False)
    assert main(["bench", "--dataset", str(dataset), "--backend", "openai"]) == 2
    assert "--base-url" in capsys.readouterr().err


def test_bench_unreachable_server_is_a_backend_failure(dataset: Path, capsys) -> None:  # noqa: ANN001
    url = f"http://127.0.0.1:{free_port()}/v1"
    assert main(["bench", "--dataset", str(dataset), "--backend", "openai", "--base-url", url]) == 5
    assert "cannot reach" in capsys.readouterr().err


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    require_server()
    with LlamaServer(tmp_path_factory.mktemp("llama-logs")) as running:
        yield running


@pytest.mark.slow
def test_bench_runs_engine_and_servers_side_by_side(
    server: LlamaServer, dataset: Path, tmp_path: Path
) -> None:
    out = tmp_path / "bench.json"
    urls = f"llama.cpp={server.url},again={server.url}"
    args = ["bench", "--dataset", str(dataset), "--methods", "regular,lookup", "--no-warmup"]
    code = main([*args, "--backend", "openai", "--base-url", urls, "--json", str(out)])
    assert code == 0
    payload = json.loads(out.read_text())
    runs = {r["method"]: r for r in payload["runs"]}
    assert set(runs) == {"regular", "lookup", "llama.cpp", "again"}
    for label in ("llama.cpp", "again"):
        assert runs[label]["new_tokens"] > 0 and runs[label]["chars"] > 0 and runs[label]["seconds"] > 0
    # a greedy server answers the same prompt the same way twice: the identical check holds
    assert runs["again"]["identical"] is True
    assert payload["servers"]["llama.cpp"]["family"] == "llamacpp"
    assert payload["servers"]["llama.cpp"]["api_key"] is None
    assert set(payload["same_as_regular"]) == {"llama.cpp", "again"}
    assert payload["same_as_regular"]["llama.cpp"]["items"] == 1
