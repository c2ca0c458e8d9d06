# Pynomaly — the two commands: `make run` and `make test`. See README.md.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
WITH_REDIS := $(PY) -m pynomaly_web.embedded_redis
COV := $(PY) -m coverage
COVERAGE_MIN_ENGINE := 90
# `make test` and `make test-celery` run the suite in this many pytest-xdist workers, a test
# file per worker at a time (most tests wait on a server, worker, browser or broker, not the
# CPU); each worker has its own test database, Redis database and media folder (settings.py).
# PYTEST_WORKERS=0 runs it in one process.
PYTEST_WORKERS ?= 2
XDIST := -n $(PYTEST_WORKERS) --dist loadfile

.PHONY: run dev docs admin _stack test test-fast test-celery bench lighthouse install lint css plotly migrate clean \
	install-integrations test-integrations

$(STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e edge
	@touch $(STAMP)

install: $(STAMP)

# The whole stack on embedded defaults (SQLite + an embedded Redis unless REDIS_URL is set):
# migrate, seed the demo workspace (its detection runs are queued, and the worker runs them once
# it is up: the server does not wait for them), then web (ASGI, :8000), one Celery worker and beat under
# supervisord, which starts a crashed process again (the embedded Redis is restarted by its
# wrapper). Ctrl-C stops all.
# `make run` serves the product as a user sees it: DEBUG off, built static files (hashed,
# gzip + brotli, cached for a year). `make dev` is the same stack with DEBUG on and the static
# sources served as they are edited.
STATIC_BUILT := staticfiles/.built
$(STATIC_BUILT): $(STAMP) $(shell find static -type f 2>/dev/null)
	@echo "== collecting the static files: hashed names, gzip + brotli (a few minutes the first time)"
	PYNOMALY_STATIC_BUILT=true $(PY) manage.py collectstatic --noinput -v 0
	@touch $(STATIC_BUILT)

# The documentation site (docs/*.md → HTML, MkDocs + Material, offline search), served by the
# app at /docs/; --strict turns a broken link into a failed build (not with --quiet, which hides
# the warnings from strict mode's count). Rebuilt only when docs change.
DOCS_SITE ?= $(or $(PYNOMALY_DOCS_DIR),var/docs_site)
DOCS_BUILT := $(DOCS_SITE)/.built
$(DOCS_BUILT): $(STAMP) mkdocs.yml $(shell find docs -type f 2>/dev/null)
	@echo "== building the documentation site (docs/ → $(DOCS_SITE), served at /docs/)"
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir $(DOCS_SITE)
	@touch $(DOCS_BUILT)

docs: $(DOCS_BUILT)

run: $(STAMP) $(STATIC_BUILT) $(DOCS_BUILT)
	@mkdir -p var
	DEBUG=false PYNOMALY_STATIC_BUILT=true $(MAKE) --no-print-directory _stack

dev: $(STAMP) $(DOCS_BUILT)
	@mkdir -p var
	DEBUG=true $(MAKE) --no-print-directory _stack

# Stream processors `make run` starts (`make run STREAMS_PROCESSES=2`): they share each stream
# through its broker's consumer group; one process uses about one core.
STREAMS_PROCESSES ?= 1

_stack:
	$(WITH_REDIS) bash -c 'echo "== applying the database migrations" && $(PY) manage.py migrate --noinput && \
		echo "== seeding the demo workspace (its detection runs are queued for the worker)" && $(PY) manage.py seed_demo && \
		echo "== starting web (http://127.0.0.1:8000), worker, beat and the stream processor; the worker then runs the queued demo runs" && \
		PATH="$(CURDIR)/$(VENV)/bin:$$PATH" exec $(PY) -m pynomaly_web.supervise --scale streams=$(STREAMS_PROCESSES) web worker beat streams'

# A superuser for /admin/ (asks for a username, e-mail and password); the same database as
# `make run` (DATABASE_URL, default var/pynomaly.sqlite3). Run it while the stack runs or not.
admin: $(STAMP)
	@mkdir -p var
	$(PY) manage.py createsuperuser

# The whole suite, on SQLite + embedded Redis by default, or DATABASE_URL/REDIS_URL when set,
# measured by coverage (the CLI, server and worker subprocesses too: [tool.coverage] in
# pyproject.toml). Prints coverage per file and per package; the whole suite (no PYTEST_ARGS)
# fails under $(COVERAGE_MIN_ENGINE) % for pynomaly/ or under fail_under (pyproject) overall.
test: $(STAMP)
	@mkdir -p var && rm -f var/.coverage var/.coverage.*
	@status=0; $(WITH_REDIS) $(COV) run -m pytest $(XDIST) $(PYTEST_ARGS) || status=$$?; \
	$(COV) combine -q; \
	$(COV) report --skip-covered --sort=cover || true; \
	for pkg in pynomaly pynomaly_web apps; do \
		printf 'coverage %-13s %s %%\n' "$$pkg" "$$($(COV) report --include="$$pkg/*" --format=total --fail-under=0)"; \
	done; \
	if [ -z "$(PYTEST_ARGS)" ]; then \
		$(COV) report --format=total >/dev/null || { echo "coverage: total under fail_under"; status=1; }; \
		$(COV) report --include='pynomaly/*' --format=total --fail-under=$(COVERAGE_MIN_ENGINE) >/dev/null \
			|| { echo "coverage: pynomaly/ under $(COVERAGE_MIN_ENGINE) %"; status=1; }; \
	fi; \
	exit $$status

# The quick loop: no browser, no live server or worker, no coverage.
test-fast: $(STAMP)
	@mkdir -p var
	$(WITH_REDIS) $(PY) -m pytest -m "not e2e and not integration" $(PYTEST_ARGS)

# Only the tests with a real Celery worker (and beat), browser tests aside; with
# PYNOMALY_TEST_BROKER=amqp://… on RabbitMQ (.ci/run does so after `make test`). On RabbitMQ in
# one process: each xdist worker gets a Redis database of its own, but they would share the one
# vhost, and one worker's tasks and control pings reached the other's Celery worker (a monitor
# ran against the wrong test database; two workers answered a ping).
test-celery: $(STAMP)
	@mkdir -p var
	$(WITH_REDIS) $(PY) -m pytest $(if $(PYNOMALY_TEST_BROKER),-n 0,$(XDIST)) -m "celery and not e2e" $(PYTEST_ARGS)

# The Airflow provider (integrations/airflow) and the Kubeflow component (integrations/kubeflow),
# each in a venv of its own, never .venv: Airflow and KFP are not the web app's requirements.
# Each venv holds its package (pinned apache-airflow / kfp, versions fixed by its
# constraints.txt), pynomaly itself with --no-deps (the SDK needs only requests and tqdm, which
# the packages declare) and pytest. `make test-integrations` then runs
# tests/integration/test_orchestration_live.py: it starts the real server and worker and runs
# each package's own tests (DagBag, pipeline compile, operator/sensors/component against that
# server) inside its venv. `make test` runs the same file; it skips when the venvs are absent.
INTEG_PIP := --quiet --disable-pip-version-check
AIRFLOW_VENV := var/venv-airflow
KFP_VENV := var/venv-kfp

$(AIRFLOW_VENV)/.installed: integrations/airflow/pyproject.toml integrations/airflow/constraints.txt pyproject.toml
	@test -x $(AIRFLOW_VENV)/bin/python || $(PYTHON) -m venv $(AIRFLOW_VENV)
	$(AIRFLOW_VENV)/bin/pip install $(INTEG_PIP) -c integrations/airflow/constraints.txt -e integrations/airflow pytest
	$(AIRFLOW_VENV)/bin/pip install $(INTEG_PIP) --no-deps -e .
	@touch $@

$(KFP_VENV)/.installed: integrations/kubeflow/pyproject.toml integrations/kubeflow/constraints.txt pyproject.toml
	@test -x $(KFP_VENV)/bin/python || $(PYTHON) -m venv $(KFP_VENV)
	$(KFP_VENV)/bin/pip install $(INTEG_PIP) -c integrations/kubeflow/constraints.txt -e integrations/kubeflow pytest
	$(KFP_VENV)/bin/pip install $(INTEG_PIP) --no-deps -e .
	@touch $@

install-integrations: $(AIRFLOW_VENV)/.installed $(KFP_VENV)/.installed

test-integrations: $(STAMP) install-integrations
	@mkdir -p var
	$(WITH_REDIS) $(PY) -m pytest tests/integration/test_orchestration_live.py $(PYTEST_ARGS)

bench: $(STAMP)
	$(PY) -m bench $(BENCH_ARGS)

# Lighthouse (mobile) on sign-in, dashboard, datasets and a 50k-row run's results page (bench/lighthouse.py).
lighthouse: $(STAMP)
	cd tools/lighthouse && npm ci --no-audit --no-fund --loglevel=error
	$(PY) -m bench.lighthouse $(LIGHTHOUSE_ARGS)

# The same checks as .pre-commit-config.yaml: lint, format, types, architecture contracts.
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

# Apply the migrations to the configured database (DATABASE_URL, else var/pynomaly.sqlite3).
migrate: $(STAMP)
	@mkdir -p var
	$(PY) manage.py migrate --noinput

# Rebuild the committed Tailwind CSS (needs Node + npm; running the app does not).
css: $(STAMP)
	$(PY) manage.py tailwind install
	$(PY) manage.py tailwind build

# Rebuild the committed partial Plotly bundle (tools/plotly/index.js lists the trace types).
plotly:
	cd tools/plotly && npm ci --no-audit --no-fund --loglevel=error && npm run build

clean:
	rm -rf var/test.sqlite3* var/redis
