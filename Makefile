# netopt: every target installs what it needs into .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install train test test-all lint tensorboard clean

install: $(STAMP)

# Re-install only when the package metadata changes; `make install` is idempotent.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -e '.[dev]' --config-settings editable_mode=compat  # compat: Hydra scans hydra_plugins/
	touch $(STAMP)

train: install
	$(BIN)/netopt-train $(ARGS)

# The tests run in two worker processes, one per core of the reference machine (pytest-xdist)
test: install
	$(BIN)/pytest -q -n 2

test-all: install
	$(BIN)/pytest -q -n 2 -m ''

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy netopt hydra_plugins

tensorboard: install
	$(BIN)/tensorboard --logdir outputs --host localhost

clean:
	rm -rf outputs multirun build *.egg-info .pytest_cache .ruff_cache
	find . -name __pycache__ -prune -not -path './$(VENV)/*' -exec rm -rf {} +
