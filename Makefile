# fieldwalk: `make run` serves the demo district, `make test` runs every test.
VENV   := .venv
PY     := $(VENV)/bin/python
PORT   ?= 5000
WORKERS ?= 2

export FLASK_APP := app

.PHONY: run test lint bench assets chromium clean messages

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
	$(PY) -m whitenoise.compress -q static

run: assets
	$(VENV)/bin/flask init-db
	FIELDWALK_DEMO=true $(VENV)/bin/flask seed-demo
	FIELDWALK_DEMO=true $(VENV)/bin/gunicorn --workers $(WORKERS) --bind 127.0.0.1:$(PORT) \
		--access-logfile - app:app

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

lint: $(VENV)/.test-installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: $(VENV)/.test-installed chromium assets lint
	$(PY) -m pytest -n 2 --dist loadgroup

bench: $(VENV)/.test-installed chromium assets
	$(PY) bench/photo_ingest.py
	$(PY) bench/page_weight.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
	find static -name '*.gz' -o -name '*.br' | xargs rm -f

# Refresh the message catalogues after changing UI text, then translate the new entries.
messages: $(VENV)/.run-installed
	$(VENV)/bin/pybabel extract -F babel.cfg -k _l -k lazy_gettext --ignore-dirs='.venv .git instance tests' \
		--no-location --sort-output --project fieldwalk -o fieldwalk/translations/messages.pot .
	$(VENV)/bin/pybabel update --no-fuzzy-matching -i fieldwalk/translations/messages.pot -d fieldwalk/translations
