# The two commands of the README: `make demo` (the main job) and `make test`.
# Both create .venv with the pinned set (constraints.txt) when it is missing.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BACKENDS := torch tensorflow jax

.PHONY: venv demo test test-torch test-tensorflow test-jax bench wheel clean

venv: $(STAMP)

$(STAMP): pyproject.toml setup.py constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade setuptools wheel -c constraints.txt
	$(BIN)/pip install -q -c constraints.txt -e ".[torch,tensorflow,jax,gpu,dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/kerasvhn demo

# Each backend in its own process: TensorFlow and Triton cannot share one.
test: $(STAMP)
	@set -e; for backend in $(BACKENDS); do \
	  echo "=== tests on the $$backend backend ==="; \
	  KERAS_BACKEND=$$backend $(BIN)/python -m pytest -q -p no:cacheprovider tests kerasvhn; \
	done

test-%: $(STAMP)
	KERAS_BACKEND=$* $(BIN)/python -m pytest -q -p no:cacheprovider tests kerasvhn

bench: $(STAMP)
	$(BIN)/python bench/presets.py

wheel: $(STAMP)
	$(BIN)/python -m build --wheel --no-isolation --outdir dist .

clean:
	rm -rf build dist *.egg-info reports
