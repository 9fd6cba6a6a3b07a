# paradexctl: the two commands a new user needs are `make demo` and `make test`.
# Both create .venv (Python >= 3.11) and install the project into it when missing or stale.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test lint typecheck unit docs bench bench-peers conformance clean help

help:
	@echo "make demo   - start the local simulated exchange and tour paradexctl against it"
	@echo "make test   - lint, type-check, check generated docs, run the whole test suite"
	@echo "make docs   - regenerate docs/commands.md, docs/exit-codes.md and completions/"
	@echo "make bench  - run the benchmarks in bench/ (prints figures)"
	@echo "make bench-peers - paradexctl beside the official SDK and paradex-cli, same run"
	@echo "make conformance - check the sim's bodies against the official SDK's API models"

# The official SDK (paradex-py 0.8.2, paradex-cli 0.2.1) as an oracle, in its own CPython 3.10
# virtualenv (its Rust dependency ships a cp310 wheel only). Never a dependency of paradexctl.
PY310 ?= $(shell for p in $(HOME)/.pyenv/versions/3.10.*/bin/python python3.10; do "$$p" -c 'import sys; assert sys.version_info[:2] == (3, 10)' 2>/dev/null && { echo "$$p"; break; }; done)
PEERS := .venv-peers
PEERS_STAMP := $(PEERS)/.installed-stamp

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "paradexctl needs Python >= 3.11")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)
	@PATH="$(CURDIR)/$(BIN):$$PATH" bash scripts/demo.sh

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/python scripts/gen_docs.py --check
	$(BIN)/python scripts/gen_tables.py --check
	$(BIN)/pytest

test: lint typecheck unit

docs: $(STAMP)
	$(BIN)/python scripts/gen_docs.py
	$(BIN)/python scripts/gen_tables.py

$(PEERS_STAMP):
	@test -n "$(PY310)" || { echo "needs CPython 3.10 for the SDK: set PY310=/path/to/python3.10"; exit 2; }
	$(PY310) -m venv $(PEERS)
	$(PEERS)/bin/python -m pip install --quiet --upgrade pip
	$(PEERS)/bin/python -m pip install --quiet paradex-py==0.8.2 paradex-cli==0.2.1
	@touch $(PEERS_STAMP)

conformance: $(STAMP) $(PEERS_STAMP)
	@mkdir -p .conformance
	$(BIN)/python scripts/conformance_capture.py .conformance/capture.json
	$(PEERS)/bin/python scripts/conformance_check.py .conformance/capture.json

# bench/peers*.py need the peer virtualenv: `make bench-peers`
bench: $(STAMP)
	@for b in $(filter-out bench/peers%,$(wildcard bench/*.py)); do echo "== $$b"; $(BIN)/python $$b || exit 1; done

# Side by side with the official SDK (paradex-py) and paradex-cli, in one run against one sim
# on loopback (bench/peers.py; the SDK side, bench/peers_sdk.py, runs in .venv-peers).
bench-peers: $(STAMP) $(PEERS_STAMP)
	$(BIN)/python bench/peers.py --peers-python $(PEERS)/bin/python

clean:
	rm -rf $(VENV) $(PEERS) .conformance .pytest_cache .mypy_cache .ruff_cache .hypothesis
