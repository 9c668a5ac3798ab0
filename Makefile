# Two commands set everything up on a fresh machine: `make run` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: venv run test lint test-tools demo bench bench-read-paths bench-gateway bench-tokens bench-verify bench-search bench-grade-sync bench-upload bench-xapi bench-batch-issue bench-scale migrate seed clean

$(STAMP): pyproject.toml
	@$(PY) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed (set PY=python3.x)")'
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

run: venv
	$(BIN)/python -m services run

# system tools some tests use, best effort (without them those tests skip, saying why): Debian's clamav-daemon for
# the real-clamd upload scan test; Debian's chromium (and DejaVu fonts, for Vietnamese) for the dashboard test;
# checkov for tests/test_kubernetes.py, in a virtualenv of its own (its pinned
# dependencies conflict with the project's), which the test also creates when it is missing
test-tools:
	@command -v clamd >/dev/null 2>&1 || test -x /usr/sbin/clamd || \
	{ [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends clamav-daemon >/dev/null 2>&1; } || \
	echo "note: clamav-daemon could not be installed; the real-clamd test will skip"
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	{ [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  { apt-get update -q >/dev/null 2>&1 || true; } && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium fonts-dejavu-core >/dev/null 2>&1; } || \
	echo "note: chromium could not be installed; the dashboard test will skip (CI: fail)"
	@$(MAKE) --no-print-directory $(CHECKOV) || echo "note: checkov could not be installed; tests/test_kubernetes.py will try again"

CHECKOV := .venv-tools/checkov/bin/checkov
$(CHECKOV): deploy/kubernetes/checkov-requirements.txt
	@test -x .venv-tools/checkov/bin/python || $(PY) -m venv .venv-tools/checkov
	.venv-tools/checkov/bin/python -m pip install --quiet --disable-pip-version-check -r deploy/kubernetes/checkov-requirements.txt
	@touch $(CHECKOV)

# the README's demos, against a platform `make run` started (in another terminal); GATEWAY=… for another address
GATEWAY ?= http://127.0.0.1:8000
DEMOS ?= library diplomas courses records assessment pathways
demo: venv
	@for d in $(DEMOS); do echo "== demo/$$d.py"; $(BIN)/python demo/$$d.py $(GATEWAY) || exit 1; done

# ruff, mypy and the import-linter contracts (configured in pyproject.toml), the venv's own versions; all three run
# (each one's findings shown) and any finding, or a tool that crashes, fails the target; .ci/run runs it before the tests
lint: venv
	@rc=0; \
	echo "== ruff"; $(BIN)/ruff check . || rc=1; \
	echo "== mypy"; $(BIN)/mypy services gateway || rc=1; \
	echo "== lint-imports"; $(BIN)/lint-imports || rc=1; \
	exit $$rc

# pytest exits 5 when it collected nothing: that is a failure here, never a silent pass
test: venv test-tools
	@$(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi; exit $$rc

# each benchmark prints its numbers as ratios against a baseline measured in the same run, and the load average at
# start and end; a ratio whose two sides ran more than 20% apart in load is withheld (bench/loadavg.py)
bench: bench-read-paths bench-gateway bench-tokens bench-verify bench-search bench-grade-sync bench-upload bench-xapi bench-batch-issue bench-scale

# the hot read paths (did:web, status lists, JWKS, the verify page, the registry, search, an authenticated list) direct
# and through the gateway against a bare FastAPI app, on SQLite and PostgreSQL (wrk: apt-get install -y wrk)
bench-read-paths: venv
	$(BIN)/python bench/read_paths.py

bench-gateway: venv
	$(BIN)/python bench/gateway_overhead.py

bench-tokens: venv
	$(BIN)/python bench/token_grants.py

bench-verify: venv
	$(BIN)/python bench/verify.py --batch 10000

bench-grade-sync: venv
	$(BIN)/python bench/grade_sync.py

bench-batch-issue: venv
	$(BIN)/python bench/batch_issue.py

bench-search: venv
	$(BIN)/python bench/search.py --objects 1000000

bench-xapi: venv
	$(BIN)/python bench/xapi.py

bench-upload: venv
	$(BIN)/python bench/upload.py

# per-core capacity with 1 and 2 replicas of records (grade sync) and credentials (verification): README "Sizing"
bench-scale: venv
	$(BIN)/python bench/scale.py

migrate: venv
	$(BIN)/python -m services migrate

seed: venv  # migrates first
	$(BIN)/python -m services seed

clean:
	rm -rf var .pytest_cache
