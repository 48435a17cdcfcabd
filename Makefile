# `make run` runs the whole system; `make test` checks the import contracts and runs the test suite but the end-to-end
# fault suites, which `make test-e2e` runs (CI runs both). Each sets up what it needs.
VENV := .venv
PY := $(VENV)/bin/python
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup system run run-prod test test-e2e lint bench screenshots clean

setup: system $(VENV)/.installed pa_controller/translations/en/LC_MESSAGES/messages.mo

# Install only the Debian packages that are missing (mosquitto, ffmpeg and faketime are found by their binaries;
# faketime's library steps one process's clock in tests/e2e/test_clock_steps.py).
system:
	@missing=""; \
	command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || missing="$$missing mosquitto"; \
	command -v ffmpeg >/dev/null || missing="$$missing ffmpeg"; \
	command -v faketime >/dev/null || missing="$$missing faketime"; \
	command -v espeak-ng >/dev/null || missing="$$missing espeak-ng"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || missing="$$missing fonts-dejavu-core"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

$(VENV)/.installed: requirements.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	touch $@

pa_controller/translations/en/LC_MESSAGES/messages.mo: pa_controller/translations/en/LC_MESSAGES/messages.po $(VENV)/.installed
	$(VENV)/bin/pybabel compile --statistics -d pa_controller/translations

run: setup
	$(PY) -m pa_controller.stack

# The production topology on this machine (deploy/, docs/operations.md): PostgreSQL at 127.0.0.1:5432 (database
# loanet_prod, created if missing), gunicorn x4, one scheduler, two ingest processes, Mosquitto with ACL and TLS.
run-prod: setup
	$(PY) -m pa_controller.stack --prod

test: setup
	$(VENV)/bin/lint-imports && $(PY) -m pytest -m "not e2e"

# The whole system on real processes: 456 clusters, kills, restarts (tests/e2e, about ten minutes).
test-e2e: setup
	$(PY) -m pytest -m e2e

lint: setup
	$(VENV)/bin/ruff check .

# Every benchmark in bench/ in its short form, then docs/benchmarks.md's summary rewritten (bench/run_all.py; about
# an hour with the 100,000-cluster rehearsal; BENCH_ARGS="--skip-100k" or "--only fanout silence" for less).
bench: setup
	$(PY) bench/run_all.py $(BENCH_ARGS)

# PNGs of the main pages at desktop (1280 px) and phone (360 px) width, for the README (docs/screenshots/).
screenshots: setup
	$(PY) -m tests.browser.screenshots

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .import_linter_cache .grimp_cache  # instance/ holds your data: remove it by hand
