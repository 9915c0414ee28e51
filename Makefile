# fieldwalk: `make run` serves the demo district, `make test` runs every test.
VENV   := .venv
PY     := $(VENV)/bin/python
PORT   ?= 5000
WORKERS ?= 2

export FLASK_APP := app

.PHONY: run test lint bench assets chromium nginx clean messages pdf-libs

$(VENV)/.run-installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	touch $@

$(VENV)/.test-installed: pyproject.toml $(VENV)/.run-installed
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

# Compiled catalogues and pre-compressed static files are build products, not sources.
assets: $(VENV)/.run-installed
	$(VENV)/bin/pybabel compile --use-fuzzy --statistics -d fieldwalk/translations
	$(PY) -m fieldwalk.assets
	$(PY) -m whitenoise.compress -q static

run: assets pdf-libs
	$(VENV)/bin/flask init-db
	FIELDWALK_DEMO=true $(VENV)/bin/flask seed-demo
	FIELDWALK_DEMO=true $(VENV)/bin/gunicorn --workers $(WORKERS) --bind 127.0.0.1:$(PORT) app:app

# Browser tests drive Debian's chromium (never a downloaded browser).
chromium:
	@if ! command -v chromium >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ]; then \
			echo "Installing Debian's chromium for the browser tests..."; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
		else \
			echo "The browser tests need Debian's chromium: run 'sudo apt-get install chromium' and retry." >&2; \
			exit 1; \
		fi; \
	fi

# The example nginx config is checked with `nginx -t` and the systemd units with
# `systemd-analyze verify` (tests/test_ops.py): Debian's nginx and systemd. Without root they
# are not installed; those tests then skip, except under CI where they fail.
nginx:
	@if ! command -v nginx >/dev/null 2>&1 && ! test -x /usr/sbin/nginx; then \
		if [ "$$(id -u)" = 0 ]; then \
			echo "Installing Debian's nginx to check docs/nginx/fieldwalk.conf..."; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null; \
		else \
			echo "No nginx: the nginx config test will skip. 'sudo apt-get install nginx' to run it." >&2; \
		fi; \
	fi
	@if ! command -v systemd-analyze >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ]; then \
			echo "Installing Debian's systemd to check docs/systemd/*.service..."; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends systemd >/dev/null; \
		else \
			echo "No systemd-analyze: the unit file tests will skip. 'sudo apt-get install systemd' to run them." >&2; \
		fi; \
	fi

# The walk protocol's PDF (WeasyPrint) loads Pango, HarfBuzz's subsetter and fontconfig from
# the system, and needs a font: Debian's packages, installed when missing (as root).
PDF_DEBS := libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core
pdf-libs:
	@if ! dpkg -s $(PDF_DEBS) >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ]; then \
			echo "Installing Pango and fonts for the walk protocol's PDF..."; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(PDF_DEBS) >/dev/null; \
		else \
			echo "The walk protocol's PDF needs Pango: run 'sudo apt-get install $(PDF_DEBS)' and retry." >&2; \
			exit 1; \
		fi; \
	fi

lint: $(VENV)/.test-installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: $(VENV)/.test-installed chromium nginx pdf-libs assets lint
	$(PY) -m pytest -n 2 --dist loadgroup

bench: $(VENV)/.test-installed chromium pdf-libs assets
	$(PY) bench/photo_ingest.py
	$(PY) bench/decode_limit.py
	$(PY) bench/page_weight.py
	$(PY) bench/lighthouse.py
	$(PY) bench/sync.py
	$(PY) bench/load.py
	$(PY) bench/review.py
	$(PY) bench/demo.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
	find static -name '*.gz' -o -name '*.br' | xargs rm -f

# Refresh the message catalogues after changing UI text, then translate the new entries.
messages: $(VENV)/.run-installed
	$(VENV)/bin/pybabel extract -F babel.cfg -k _l -k lazy_gettext --ignore-dirs='.venv .git instance tests' \
		--no-location --sort-output --project fieldwalk -o fieldwalk/translations/messages.pot .
	$(VENV)/bin/pybabel update --no-fuzzy-matching --ignore-obsolete -i fieldwalk/translations/messages.pot -d fieldwalk/translations
