# gridledger — the two commands a newcomer needs are `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup run test check bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml requirements.lock scripts/setup scripts/setup-cometbft \
  scripts/setup-native native/Cargo.toml native/Cargo.lock $(wildcard native/src/*.rs)
	PYTHON=$(PYTHON) bash scripts/setup
	@touch $(STAMP)

run: setup
	@if [ -x .tools/bin/cometbft ] || [ -n "$$GRIDLEDGER_COMETBFT" ] || command -v cometbft >/dev/null; then \
	  $(BIN)/gridledger net demo --dir .run/net; \
	else \
	  echo "CometBFT is not installed (make setup installs it with Go): starting the embedded node"; \
	  $(BIN)/gridledger demo --home .gridledger/demo; \
	fi

test: setup
	bash scripts/check

check: setup
	bash scripts/check

bench: setup
	$(BIN)/gridledger bench notarize

clean:
	rm -rf $(VENV) .gridledger build dist .mypy_cache .pytest_cache .ruff_cache
