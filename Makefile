# tanpo: `make demo` runs the main job on a fresh machine, `make test` runs every test.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup fabric chaincode browser demo test test-unit test-go test-fuzz test-integration test-client-alone lint network-up network-down clean

PYPROJECTS := client/pyproject.toml network/pyproject.toml oracle/pyproject.toml scenarios/pyproject.toml \
	dashboard/pyproject.toml
PYSRC := client/src network/src oracle/src scenarios/src dashboard/src

# every distribution editable in one virtual environment (see requirements-dev.txt)
$(STAMP): requirements-dev.txt $(PYPROJECTS)
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	@touch $(STAMP)

setup: $(STAMP) fabric chaincode

fabric: $(STAMP)
	$(BIN)/python -m tanpo.network.fabric_bin

chaincode:
	cd chaincode && go build ./... && go vet ./...

# The dashboard's browser tests drive Debian's chromium (Playwright's own browser download is
# not used): installed here when missing and we may (root with apt-get), else a clear stop.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing chromium for the dashboard's browser tests"; \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; \
	  else \
	    echo "the dashboard's browser tests need Chromium: install it (Debian/Ubuntu:" \
	         "sudo apt-get install -y chromium) or put a chromium command on PATH"; exit 1; \
	  fi; }

demo: setup
	$(BIN)/tanpo demo

lint: $(STAMP)
	$(BIN)/ruff check $(PYSRC) tests
	$(BIN)/mypy
	@test -z "$$(gofmt -l chaincode)" || { echo "gofmt needed:"; gofmt -l chaincode; exit 1; }
	cd chaincode && go vet ./...

test-go:
	cd chaincode && go test ./...

# every Go fuzz target for a bounded time (FUZZTIME, 10s each by default)
test-fuzz:
	bash .ci/fuzz

test-unit: $(STAMP)
	$(BIN)/pytest -q -m "not network" tests

test-integration: setup browser
	$(BIN)/pytest -q -m network tests/integration

# The SDK as a bank installs it: the client distribution alone (a real wheel, not editable) in
# a fresh environment, its unit tests, and none of the scenario tooling's heavy dependencies.
CLIENT_VENV := .venv-client
test-client-alone:
	rm -rf $(CLIENT_VENV)
	$(PY) -m venv $(CLIENT_VENV)
	$(CLIENT_VENV)/bin/pip install --quiet --upgrade pip
	rm -rf client/build  # setuptools reuses build/lib: a stale copy would hide removed modules
	$(CLIENT_VENV)/bin/pip install --quiet './client[cli,test]'
	rm -rf client/build
	@heavy=$$($(CLIENT_VENV)/bin/pip list --format=freeze | grep -iE '^(pandas|matplotlib|yfinance|exchange.calendars|tanpo.network|tanpo.oracle|tanpo.scenarios)==' || true); \
	  if [ -n "$$heavy" ]; then echo "the client alone pulled in: $$heavy"; exit 1; fi; \
	  echo "client alone: $$($(CLIENT_VENV)/bin/pip list --format=freeze | wc -l) packages, none of pandas, matplotlib, yfinance, exchange-calendars"
	$(CLIENT_VENV)/bin/pytest -q -p no:cacheprovider tests/client

test: setup lint test-go test-fuzz test-client-alone browser
	$(BIN)/pytest -q tests

network-up: setup
	$(BIN)/tanpo network up

network-down:
	$(BIN)/tanpo network down

clean:
	-$(BIN)/tanpo network down --wipe
	rm -rf out
