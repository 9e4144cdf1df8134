# Tillid: `make run` serves the IdP with demo data; `make test` runs the whole suite.
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app wsgi
STAMP := $(VENV)/.installed
# openid-client (Node) for the interop tests, from the committed lock file; and sd-jwt-js
# (the OpenWallet Foundation's SD-JWT VC and status list libraries) for the wallet's.
INTEROP := tests/interop/openid-client
INTEROP_STAMP := $(INTEROP)/node_modules/.package-lock.json
SD_JWT_VC := tests/interop/sd-jwt-vc
SD_JWT_VC_STAMP := $(SD_JWT_VC)/node_modules/.package-lock.json
# mdoc-ts (@owf/mdoc) for the PID mdoc's test (tests/wallet/test_mdoc.py).
MDOC := tests/interop/mdoc
MDOC_STAMP := $(MDOC)/node_modules/.package-lock.json
# The test wallet (oid4vc-ts's OpenID4VCI client with sd-jwt-js): tests/interop/test_openid4vci_wallet.py.
OPENID4VCI := tests/interop/openid4vci
OPENID4VCI_STAMP := $(OPENID4VCI)/node_modules/.package-lock.json

.PHONY: install lock interop-deps bench-deps run migrate test bench lint format audit audit-reachable messages assets screenshots clean

# The Danish and English catalogues are kept as .po files; install compiles them.
CATALOGUES := $(wildcard idp/translations/*/LC_MESSAGES/messages.po)
COMPILED := $(CATALOGUES:.po=.mo)

install: $(STAMP) $(COMPILED)

# Every Python dependency at the version requirements/lock.txt pins (pip among them: pip-audit
# needs it), each file checked against the lock's hashes (`make lock` writes it from pyproject.toml; docs/dependencies.md); then
# Tillid itself, editable, bringing nothing; then whatever the lock does not pin is removed,
# so the venv holds exactly the locked set.
LOCK := requirements/lock.txt

$(STAMP): $(LOCK) pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Tillid needs Python 3.11 or newer")'
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@unlocked=$$($(BIN)/python requirements/lockfile.py unlocked); \
	if [ -n "$$unlocked" ]; then echo "not in $(LOCK), removed:" $$unlocked; \
	$(BIN)/python -m pip uninstall --quiet --yes $$unlocked; fi
	@$(BIN)/python -m pip check || { echo "pyproject.toml and $(LOCK) disagree: make lock" >&2; exit 1; }
	touch $(STAMP)

# The lock file again from pyproject.toml: after changing a dependency or its range there, or
# to take newer releases within the ranges (UPGRADE=1). For CPython 3.11 on Linux x86_64 (what
# CI and the production image run); the runtime dependencies and the test and bench extras.
# uv is locked too: taken from the lock (hashes checked) when the venv has none yet.
lock:
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	@test -x $(BIN)/uv || { $(BIN)/python requirements/lockfile.py only uv > $(VENV)/uv-lock.txt \
		&& $(BIN)/python -m pip install --quiet --require-hashes --no-deps -r $(VENV)/uv-lock.txt; }
	$(BIN)/uv pip compile pyproject.toml --extra test --extra bench --generate-hashes \
		--python-version 3.11 --python-platform x86_64-manylinux_2_28 \
		--custom-compile-command "make lock" $(if $(UPGRADE),--upgrade) --quiet -o $(LOCK)

%.mo: %.po $(STAMP)
	$(BIN)/pybabel compile --statistics -i $< -o $@

# Det Fælles Designsystem (npm package dkfds, pinned in frontend/package-lock.json): its
# built CSS, fonts, icons and licence are taken from the package into idp/static/dkfds/.
assets:
	npm ci --prefix frontend --no-audit --no-fund
	$(BIN)/python frontend/build_assets.py

# The main pages in Danish and English, phone and desktop widths, into docs/screenshots/.
screenshots: install
	$(BIN)/python docs/screenshots/take.py

interop-deps: $(INTEROP_STAMP) $(SD_JWT_VC_STAMP) $(MDOC_STAMP) $(OPENID4VCI_STAMP)

$(INTEROP_STAMP): $(INTEROP)/package-lock.json
	@if command -v npm >/dev/null 2>&1; then npm ci --prefix $(INTEROP) --no-audit --no-fund; \
	else echo "npm not found: the openid-client interop test will skip" >&2; fi

$(SD_JWT_VC_STAMP): $(SD_JWT_VC)/package-lock.json
	@if command -v npm >/dev/null 2>&1; then npm ci --prefix $(SD_JWT_VC) --no-audit --no-fund; \
	else echo "npm not found: the sd-jwt-vc interop test will skip" >&2; fi

$(MDOC_STAMP): $(MDOC)/package-lock.json
	@if command -v npm >/dev/null 2>&1; then npm ci --prefix $(MDOC) --no-audit --no-fund; \
	else echo "npm not found: the mdoc-ts test will skip" >&2; fi

$(OPENID4VCI_STAMP): $(OPENID4VCI)/package-lock.json
	@if command -v npm >/dev/null 2>&1; then npm ci --prefix $(OPENID4VCI) --no-audit --no-fund; \
	else echo "npm not found: the openid4vci test wallet will skip" >&2; fi

# The peer in `make bench` (Node's oidc-provider), from its committed lock file.
PEER := bench/peer
PEER_STAMP := $(PEER)/node_modules/.package-lock.json

bench-deps: $(PEER_STAMP)

$(PEER_STAMP): $(PEER)/package-lock.json
	npm ci --prefix $(PEER) --no-audit --no-fund

# Load against Tillid (serve.py: granian) on PostgreSQL and a redis-server of the bench's own,
# beside the peer; QUICK=1 for short runs. In the one-worker runs taskset (util-linux) keeps the server and
# the load on separate cores (without it the report says they shared them). wrk (the load
# generator) comes from Debian's package when it is missing and we may install.
bench: install bench-deps
	@command -v wrk >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
		&& apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; } || { echo "make bench needs wrk: apt-get install wrk" >&2; exit 1; }
	$(BIN)/python bench/run.py $(if $(QUICK),--quick)

migrate: install
	$(FLASK) db upgrade

# The IdP (serve.py: granian) and the demo services side by side; the welcome (where to go, how
# to log in) comes last, once both answer: held back until the command's own log lines are out.
# Ctrl-C stops them all (the trap: a non-interactive shell's background jobs ignore SIGINT).
# The metrics on 127.0.0.1:9464 (docs/metrics.md); `METRICS_BIND= make run` serves none.
run: migrate
	$(FLASK) keys ensure
	$(FLASK) demo load --if-empty
	@export METRICS_BIND=$${METRICS_BIND-127.0.0.1:9464}; \
	ACCESS_LOG_STATIC=0 $(BIN)/python serve.py & idp=$$!; \
	$(FLASK) demo services & services=$$!; \
	trap 'kill $$idp $$services 2>/dev/null; wait' EXIT INT TERM; \
	welcome=$$($(FLASK) demo welcome --wait 60) && printf '%s\n\n' "$$welcome" && wait $$idp

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Known vulnerabilities in the locked set (requirements/lock.txt, what `make install` installs),
# by pip-audit: the pins as written, without resolving or installing anything (--disable-pip,
# which the lock's hashes allow). --strict: a package it could not look up fails the audit, so
# an unreachable service is never a pass (PyPI answers 404 for each package then).
# AUDIT_SERVICE=osv asks OSV instead.
AUDIT_SERVICE ?= pypi
define AUDIT_PREFLIGHT
import importlib.metadata, sys, requests
url = f"https://pypi.org/pypi/requests/{importlib.metadata.version('requests')}/json"
if "$(AUDIT_SERVICE)" == "osv":
    url = "https://api.osv.dev/v1/query"
try:
    answer = requests.post(url, json={}, timeout=20) if "osv" in url else requests.get(url, timeout=20)
    status = answer.status_code
except requests.RequestException as exc:
    status = type(exc).__name__
if status not in (200, 400):
    sys.exit(f"make audit: the vulnerability service is not reachable from this machine ({url}: {status}); nothing was audited")
endef
export AUDIT_PREFLIGHT

# Whether the vulnerability service answers from here (CI runs the audit only when it does).
audit-reachable: install
	@$(BIN)/python -c "$$AUDIT_PREFLIGHT"

audit: audit-reachable
	$(BIN)/pip-audit --strict --requirement $(LOCK) --require-hashes --disable-pip \
		--progress-spinner off --vulnerability-service $(AUDIT_SERVICE) --desc on

# The suite on pytest-xdist workers, one per CPU up to 4 (each its own database, store
# prefix, ports and browser); `make test PYTEST_ARGS=` runs it in one process.
PYTEST_ARGS ?= -n auto --maxprocesses 4 --dist worksteal
# pytest exits 5 when it collected nothing: that is a failure, never a green run.
test: lint interop-deps
	$(BIN)/pytest $(PYTEST_ARGS); status=$$?; \
	if [ $$status -eq 5 ]; then echo "pytest collected no tests: failing" >&2; exit 1; fi; \
	exit $$status

# After changing user-visible text: extract it and merge it into the Danish catalogue,
# then translate what is new or fuzzy (tests/i18n fails until every string is).
messages: install
	mkdir -p idp/translations
	$(BIN)/pybabel extract -F babel.cfg -k _l -o idp/translations/messages.pot .
	$(BIN)/pybabel update -i idp/translations/messages.pot -d idp/translations

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info $(INTEROP)/node_modules $(SD_JWT_VC)/node_modules frontend/node_modules $(PEER)/node_modules
	rm -f $(COMPILED)
