# The two commands of the README: `make run` (install + open the TUI on examples/ with the builtin
# model) and `make test` (install + the whole test suite, as CI runs it).
.PHONY: setup run test lint bench

setup:
	./scripts/setup.sh

# The demo works on a copy of examples/ in its own git repository (.demo/, ignored here), so edits
# and their commits never land in specedit's own history.
run: setup
	.venv/bin/specedit models --fetch qwen-coder-1.5b
	[ -d .demo/.git ] || (cp -r examples .demo && git -C .demo init -q && git -C .demo add -A && \
		git -C .demo -c user.name=specedit -c user.email=specedit@localhost commit -qm "examples")
	.venv/bin/specedit .demo

test: setup
	.venv/bin/specedit models --fetch
	.venv/bin/lint-imports
	.venv/bin/python -m pytest -q -rs

lint: setup
	.venv/bin/ruff check . && .venv/bin/ruff format --check .

bench: setup
	.venv/bin/specedit bench --dataset ../shared/data/editeval.jsonl --limit 40 \
		--methods regular,lookup,draft,multilayer,hf-pld,hf-assisted \
		--json docs/bench/editeval-cpu.json --plot docs/bench/editeval-cpu.png
