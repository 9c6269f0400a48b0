# Two commands on a fresh machine: `make demo` and `make test`. Everything they need is installed here.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml requirements.lock | cksum | cut -d' ' -f1)
# mypy's Django plugin loads the settings; it never connects.
LINT_ENV := DATABASE_URL=postgres://lint@localhost/lint

.PHONY: install demo test lint audit-deps browser bench clean-var

$(STAMP): pyproject.toml requirements.lock
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is required"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c requirements.lock -e ".[dev]"
	rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m backoffice.devstack demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/bandit -c pyproject.toml -r . --severity-level high --quiet
	$(LINT_ENV) $(BIN)/mypy .
	$(LINT_ENV) DJANGO_SECRET_KEY='prod-check-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOP' \
	  DJANGO_ALLOWED_HOSTS=backoffice.example.com DJANGO_SETTINGS_MODULE=backoffice.settings.prod \
	  TRADING_PLATFORM=deploy_check.TradingPlatform PAYMENT_PROVIDER_CARD=deploy_check.CardProvider \
	  $(BIN)/python manage.py check --deploy --fail-level WARNING

# Known vulnerabilities in requirements.lock (pip-audit, OSV). Says so and fails when OSV is unreachable.
audit-deps: $(STAMP)
	$(BIN)/python scripts/audit_deps.py

browser:
	@sh scripts/ensure-chromium.sh

# The suite runs in TEST_WORKERS processes (pytest-xdist), each with its own test database and Redis
# database (backoffice/settings/test.py); a test file stays in one process (its module fixtures once).
# The tests marked serial seal the audit chain, which waits for every open transaction on the Postgres
# server, the other process's too: they run alone afterwards.
TEST_WORKERS ?= 2
test: $(STAMP) lint browser
	$(BIN)/python -m backoffice.devstack test -n $(TEST_WORKERS) --dist loadfile -m "not serial" --durations=15
	$(BIN)/python -m backoffice.devstack test -m serial

# make bench BENCH_ARGS="--quick" or BENCH_ARGS="audit_throughput"
bench: $(STAMP)
	$(BIN)/python -m backoffice.devstack bench $(BENCH_ARGS)

clean-var:
	rm -rf var
