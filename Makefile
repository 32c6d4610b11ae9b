# vivr-provision: two entry points for a fresh machine with Python 3.11+.
#   make demo  - local sandbox: apply, status, apply again (no change), destroy
#   make test  - lint, type-check and the whole test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEMO_PORT ?= 4566
DEMO_STATE ?= state/demo-production.json
# The sandbox routes an access key ending in 12 digits to that account.
DEMO_ENV := AWS_ACCESS_KEY_ID=sandbox000000000042 AWS_SECRET_ACCESS_KEY=sandbox \
            AWS_ENDPOINT_URL=http://127.0.0.1:$(DEMO_PORT)

.PHONY: venv test lint typecheck unit demo clean

venv: $(STAMP)

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

lint: venv
	$(BIN)/ruff check vivr_provision vivr_sandbox tests bench

typecheck: venv
	$(BIN)/mypy

test: lint typecheck
	$(BIN)/pytest -n 2 -q --durations=25

demo: venv
	@$(BIN)/vivr-provision sandbox start --port $(DEMO_PORT) --pidfile state/demo-sandbox.json
	@set -e; trap '$(BIN)/vivr-provision sandbox stop --pidfile state/demo-sandbox.json' EXIT; \
	rm -f $(DEMO_STATE); export $(DEMO_ENV); \
	echo "== 1. apply (creates the platform)"; $(BIN)/vivr-provision apply --state $(DEMO_STATE) -q; \
	echo "== 2. status (local state only, no AWS call)"; $(BIN)/vivr-provision status --state $(DEMO_STATE); \
	echo "== 3. apply again (nothing to change)"; $(BIN)/vivr-provision apply --state $(DEMO_STATE) -q; \
	echo "== 4. destroy (the sandbox database is deletion-protected like production: lifted on purpose;"; \
	echo "   a final snapshot, the secrets and the key stay recoverable and are listed)"; \
	$(BIN)/vivr-provision destroy --yes --disable-deletion-protection --state $(DEMO_STATE) -q

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache *.egg-info
