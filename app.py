"""WSGI entry point: `flask --app app ...` and `gunicorn app:app`."""

import gc

from fieldwalk import create_app

app = create_app()
# What starting made (modules, the app, its templates and translations: ~70,000 objects) lives
# as long as the worker: moved out of the collector's reach, a full collection walks only what
# requests made. Without it every ~20th dashboard took 30 ms more (bench/review.py's p95).
gc.freeze()
