"""A resident's own data from their phone, and staff's register extracts and erasures.

Also records when each phone was last used (once a day at most), which decides when its
device key is forgotten (fieldwalk/privacy/retention.py).
"""

from datetime import UTC, datetime

from flask import Blueprint, Flask, session

from fieldwalk.clock import now
from fieldwalk.db import get_db
from fieldwalk.privacy.devices import touch_device
from fieldwalk.security import device_key_hash

bp = Blueprint("privacy", __name__)


def note_device_use() -> None:
    """Record today's use of this phone's device key (one write per phone and day)."""
    key_hash = device_key_hash()
    if key_hash is None:
        return
    today = datetime.now(UTC).date().isoformat()
    if session.get("device_seen") == today:
        return
    touch_device(get_db(), key_hash, now())
    session["device_seen"] = today


def init_app(app: Flask) -> None:
    """Register the routes and the daily note of each phone's use."""
    app.register_blueprint(bp)
    app.before_request(note_device_use)
