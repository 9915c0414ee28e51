"""Languages: Swedish by default, English on request (Flask-Babel catalogues).

The choice is, in order: the language the person picked (kept in the session), the best
match from the browser's Accept-Language, Swedish.
"""

from pathlib import Path

from flask import Blueprint, Flask, current_app, redirect, request, session, url_for
from flask_babel import Babel, get_locale

bp = Blueprint("i18n", __name__)


def select_locale() -> str:
    """The locale for this request."""
    languages = current_app.config["LANGUAGES"]
    chosen = session.get("lang")
    if chosen in languages:
        return chosen
    return (
        request.accept_languages.best_match(languages) or current_app.config["BABEL_DEFAULT_LOCALE"]
    )


def safe_next(target: str | None, default: str = "/") -> str:
    """A same-site path to go back to; anything else becomes `default`."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    # Browsers drop tabs and newlines from URLs, so "/\t/evil.example" is "//evil.example".
    if any(ord(c) < 32 or ord(c) == 127 for c in target):
        return default
    return target


@bp.post("/lang")
def set_language():
    """Remember the chosen language and go back to where the person was."""
    lang = request.form.get("lang", "")
    if lang in current_app.config["LANGUAGES"]:
        session["lang"] = lang
        session.permanent = True
    return redirect(safe_next(request.form.get("next"), url_for("walks.index")), code=303)


def init_app(app: Flask) -> None:
    """Install Babel and the language switch."""
    app.config.setdefault(
        "BABEL_TRANSLATION_DIRECTORIES", str(Path(__file__).parent / "translations")
    )
    Babel(app, locale_selector=select_locale)
    app.register_blueprint(bp)

    @app.context_processor
    def inject_locale():
        locale = get_locale()
        return {"lang": locale.language if locale else "sv"}
