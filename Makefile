# QuoteFlow: `make run` and `make test` are all a new machine needs (Python 3.11).
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
EXTRAS ?= dev,eval,pdf,attachments,train,llm
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml requirements/constraints.txt | sha1sum | cut -c1-12)

.PHONY: install run test lint typecheck unit docs bench lock clean

install: $(STAMP)

# llama-cpp-python builds llama.cpp from source (cmake + gcc, minutes); without the LLaVA part it takes half as long.
# pip keeps the built wheel in its cache, so later installs take seconds.
# On x86-64 it is built for AVX2, not -march=native: on Intel CPUs with AMX, llama.cpp's AMX kernels crash on
# Q4_K models such as the packaged Gemma (segfault in ggml_backend_amx_mul_mat, ggml-org/llama.cpp#20824).
# A build that has AMX anyway (a wheel cached before) is dropped from pip's cache and built again.
LLAMA_CMAKE_ARGS := -DLLAVA_BUILD=OFF $(if $(filter x86_64,$(shell uname -m)),-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON)
LLAMA_HAS_AMX := import llama_cpp, sys; sys.exit(b"AMX_INT8 = 1" not in llama_cpp.llama_print_system_info())

$(STAMP): export CMAKE_ARGS ?= $(LLAMA_CMAKE_ARGS)
$(STAMP): pyproject.toml requirements/constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements/constraints.txt -e '.[$(EXTRAS)]'
	@if $(BIN)/python -c '$(LLAMA_HAS_AMX)' 2>/dev/null; then \
	  echo "llama-cpp-python was built with AMX kernels (they crash on Q4_K): rebuilding it for AVX2"; \
	  $(BIN)/python -m pip cache remove 'llama_cpp_python*' >/dev/null 2>&1 || true; \
	  $(BIN)/python -m pip install --quiet --force-reinstall --no-deps \
	    -c requirements/constraints.txt 'llama-cpp-python[server]'; \
	fi
	@rm -f $(VENV)/.installed-*
	@touch $@

## Start the embedded stack, send examples/ through the pipeline, write ./out/, print a table, exit.
## Each run starts from empty state (out/.state), so the examples are quoted afresh.
run: install
	rm -rf out/.state
	QUOTEFLOW_DATA_DIR=out/.state QUOTEFLOW_LOG_LEVEL=$${QUOTEFLOW_LOG_LEVEL:-WARNING} $(BIN)/quoteflow process examples --out out

## Lint, type-check and run every test (unit, integration on the embedded broker, e2e).
test: install lint typecheck
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check shared services tests bench
	$(BIN)/ruff format --check shared services tests bench

typecheck: install
	$(BIN)/mypy

unit: install
	$(BIN)/python -m pytest -q -m "not integration and not e2e and not train"

## AsyncAPI documents of every service into docs/asyncapi/, settings tables into README.md.
docs: install
	$(BIN)/python -m services.docs docs/asyncapi README.md

## Benchmarks (not timed tests): figures into bench/results/.
bench: install
	$(BIN)/python -m bench

## Re-resolve the pinned versions after changing dependencies in pyproject.toml.
lock: export CMAKE_ARGS ?= $(LLAMA_CMAKE_ARGS)
lock:
	rm -rf .lockenv && $(PYTHON) -m venv .lockenv
	.lockenv/bin/pip install --quiet --upgrade pip
	.lockenv/bin/pip install --quiet -e '.[$(EXTRAS)]'
	.lockenv/bin/pip freeze --exclude-editable | grep -v '^quoteflow' > requirements/constraints.txt
	rm -rf .lockenv

clean:
	rm -rf $(VENV) out .pytest_cache .mypy_cache .ruff_cache
