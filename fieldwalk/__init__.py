"""fieldwalk: safety walks (trygghetsvandringar) from capture to fix."""

import contextlib
import os
import secrets
from pathlib import Path

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

ROOT = Path(__file__).resolve().parent.parent


def create_app(test_config: dict | None = None) -> Flask:
    """Build the app: defaults, then instance/config.py, then FIELDWALK_* variables."""
    test_config = test_config or {}
    instance = Path(
        test_config.get("INSTANCE") or os.environ.get("FIELDWALK_INSTANCE") or ROOT / "instance"
    ).resolve()
    app = Flask(
        __name__,
        instance_path=str(instance),
        instance_relative_config=True,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    app.config.from_object("fieldwalk.config")
    app.config.from_pyfile("config.py", silent=True)
    app.config.from_prefixed_env("FIELDWALK")
    app.config.update(test_config)

    instance.mkdir(parents=True, exist_ok=True)
    app.config.setdefault("DATABASE_PATH", str(instance / app.config["DATABASE"]))
    app.config.setdefault(
        "RATE_LIMIT_DATABASE_PATH", str(instance / app.config["RATE_LIMIT_DATABASE"])
    )
    app.config.setdefault("PHOTO_PATH", str(instance / app.config["PHOTO_DIR"]))
    Path(app.config["PHOTO_PATH"]).mkdir(parents=True, exist_ok=True)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _instance_secret(instance)

    # Plumbing first (database, language, sessions and CSRF, pages and errors), then each
    # noun's routes and commands; flaskr registers blueprints inside the factory the same way.
    from fieldwalk import (
        admin,
        api,
        assets,
        auth,
        db,
        i18n,
        icons,
        outbox,
        pwa,
        ratelimit,
        render,
        security,
        staff,
        status,
    )
    from fieldwalk.dashboard import exports as dashboard_exports
    from fieldwalk.dashboard import views as dashboard
    from fieldwalk.devtools import demo, loadgen
    from fieldwalk.events import views as events
    from fieldwalk.measures import views as measures
    from fieldwalk.observations import capture
    from fieldwalk.open311 import party_views as open311_parties
    from fieldwalk.open311 import views as open311
    from fieldwalk.ops import backup, health
    from fieldwalk.parties import views as parties
    from fieldwalk.photos import redact_views
    from fieldwalk.photos import views as photos
    from fieldwalk.places import views as places
    from fieldwalk.privacy import cli as privacy_cli
    from fieldwalk.privacy import views as privacy
    from fieldwalk.reports import annual_views, meeting
    from fieldwalk.reports import cli as reports_cli
    from fieldwalk.reports import views as reports
    from fieldwalk.residents import views as residents
    from fieldwalk.tasks import (
        bulk_views,
        conversation_views,
        link_views,
        mine,
        notify,
        review,
        triage,
        triage_duplicates,
    )
    from fieldwalk.tasks import views as tasks
    from fieldwalk.walks import protocol
    from fieldwalk.walks import views as walks
    from fieldwalk.zones import views as zones

    for module in (
        db,
        i18n,
        security,
        render,
        icons,
        auth,
        admin,
        staff,
        walks,
        capture,
        photos,
        redact_views,
        parties,
        zones,
        places,
        measures,
        events,
        reports,
        meeting,
        reports_cli,
        annual_views,
        protocol,
        tasks,
        conversation_views,
        bulk_views,
        triage,
        triage_duplicates,
        review,
        dashboard,
        dashboard_exports,
        mine,
        api,
        open311,
        open311_parties,
        pwa,
        outbox,
        ratelimit,
        status,
        residents,
        link_views,
        notify,
        demo,
        loadgen,
        health,
        backup,
        privacy,
        privacy_cli,
    ):
        module.init_app(app)
    assets.init_app(app)  # last: wraps wsgi_app with WhiteNoise

    if app.config.get("AUTO_MIGRATE", True):
        conn = db.connect(app.config["DATABASE_PATH"])
        try:
            db.migrate(conn)
        finally:
            conn.close()

    if app.config["PROXY_FIX_X_FOR"] or app.config["PROXY_FIX_X_PROTO"]:
        app.wsgi_app = ProxyFix(
            app.wsgi_app,
            x_for=app.config["PROXY_FIX_X_FOR"],
            x_proto=app.config["PROXY_FIX_X_PROTO"],
        )
    return app


def _instance_secret(instance: Path) -> str:
    """Read the instance's secret key, creating it (mode 0600) on first run.

    Written to a temporary file and linked into place, so workers starting together all
    read the same complete key.
    """
    path = instance / "secret_key"
    if not path.exists():
        tmp = instance / f".secret_key.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
        try:
            with contextlib.suppress(FileExistsError):  # another worker was first: use its key
                os.link(tmp, path)
        finally:
            tmp.unlink()
    return path.read_text().strip()
