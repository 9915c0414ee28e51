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
    app.config.setdefault("PHOTO_PATH", str(instance / app.config["PHOTO_DIR"]))
    Path(app.config["PHOTO_PATH"]).mkdir(parents=True, exist_ok=True)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _instance_secret(instance)

    from fieldwalk import (
        admin,
        api,
        assets,
        auth,
        capture,
        dashboard,
        db,
        demo,
        i18n,
        icons,
        links,
        loadgen,
        mytasks,
        notify,
        ops,
        outbox,
        parties,
        photo_store,
        places,
        protocol,
        pwa,
        ratelimit,
        render,
        reports,
        security,
        status,
        task_views,
        triage,
        walks,
        zones,
    )

    db.init_app(app)
    i18n.init_app(app)
    security.init_app(app)
    render.init_app(app)
    icons.init_app(app)
    auth.init_app(app)
    admin.init_app(app)
    walks.init_app(app)
    capture.init_app(app)
    photo_store.init_app(app)
    parties.init_app(app)
    zones.init_app(app)
    places.init_app(app)
    reports.init_app(app)
    protocol.init_app(app)
    task_views.init_app(app)
    triage.init_app(app)
    dashboard.init_app(app)
    mytasks.init_app(app)
    api.init_app(app)
    pwa.init_app(app)
    outbox.init_app(app)
    ratelimit.init_app(app)
    status.init_app(app)
    links.init_app(app)
    notify.init_app(app)
    demo.init_app(app)
    loadgen.init_app(app)
    ops.init_app(app)
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
