# paradexctl: the two commands a new user needs are `make demo` and `make test`.
# Both create .venv (Python >= 3.11) and install the project into it when missing or stale.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test lint typecheck unit docs bench clean help

help:
	@echo "make demo   - start the local simulated exchange and tour paradexctl against it"
	@echo "make test   - lint, type-check, check generated docs, run the whole test suite"
	@echo "make docs   - regenerate docs/commands.md, docs/exit-codes.md and completions/"
	@echo "make bench  - run the benchmarks in bench/ (prints figures)"

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
	$(BIN)/pytest

test: lint typecheck unit

docs: $(STAMP)
	$(BIN)/python scripts/gen_docs.py

bench: $(STAMP)
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
