# Pynomaly — the two commands: `make run` and `make test`. See README.md.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
WITH_REDIS := $(PY) -m pynomaly_web.embedded_redis

.PHONY: run test test-fast bench install lint css migrate clean

$(STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $(STAMP)

install: $(STAMP)

# The whole stack on embedded defaults (SQLite + an embedded Redis unless REDIS_URL is set):
# migrate, seed the demo workspace, then web (ASGI, :8000), one Celery worker and beat under
# supervisord, which starts a crashed process again (the embedded Redis is restarted by its
# wrapper). Ctrl-C stops all.
run: $(STAMP)
	@mkdir -p var
	$(WITH_REDIS) bash -c '$(PY) manage.py migrate --noinput && $(PY) manage.py seed_demo && \
		PATH="$(CURDIR)/$(VENV)/bin:$$PATH" exec $(PY) -m pynomaly_web.supervise web worker beat'

# The whole suite, on SQLite + embedded Redis by default, or DATABASE_URL/REDIS_URL when set.
test: $(STAMP)
	@mkdir -p var
	$(WITH_REDIS) $(PY) -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(PY) -m bench $(BENCH_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# Rebuild the committed Tailwind CSS (needs Node + npm; running the app does not).
css: $(STAMP)
	$(PY) manage.py tailwind install
	$(PY) manage.py tailwind build

clean:
	rm -rf var/test.sqlite3* var/redis
