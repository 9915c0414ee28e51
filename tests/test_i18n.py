"""Languages: the Swedish catalogue is complete and safe, and pages follow the chosen language.

The catalogue tests read the sources (babel.cfg, messages.pot, sv/messages.po) and run the
same extraction as `make messages`, so a UI string added to the code fails here until it is
extracted and translated. The page tests do not depend on compiled .mo files in the working
tree: a session fixture compiles sv/messages.po into a temp dir, and this module's apps read
their catalogues from there (BABEL_TRANSLATION_DIRECTORIES).
"""

import re
from pathlib import Path

import pytest
from babel.messages.frontend import CommandLineInterface
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from conftest import csrf_token, login, make_place, make_user, make_walk

from fieldwalk import create_app

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "fieldwalk" / "translations"
POT = TRANSLATIONS / "messages.pot"
SV_PO = TRANSLATIONS / "sv" / "LC_MESSAGES" / "messages.po"
# The keywords `make messages` passes to `pybabel extract`, besides Babel's defaults.
EXTRA_KEYWORDS = ["_l", "lazy_gettext"]

PLACEHOLDER = re.compile(r"%\([a-z_]+\)[-#0 +]*\d*(?:\.\d+)?[sdfr]|\{[a-z]+\}")
HTML_LANG = re.compile(r'<html[^>]*\blang="([a-z-]+)"')


def read_catalogue(path: Path):
    with path.open("rb") as f:
        return read_po(f)


def msgid(message) -> str:
    """A message's key: its msgid, or the singular of a plural entry."""
    return message.id[0] if isinstance(message.id, tuple) else message.id


def entries(catalogue) -> list:
    """The messages proper (no header); obsolete `#~` entries are not iterated."""
    return [m for m in catalogue if m.id]


@pytest.fixture(scope="session")
def sv_catalogue():
    return read_catalogue(SV_PO)


@pytest.fixture(scope="session")
def extracted(tmp_path_factory):
    """The msgids `make messages` would extract from the code now, into a temp .pot."""
    out = tmp_path_factory.mktemp("extract") / "messages.pot"
    args = ["pybabel", "--quiet", "extract", "-F", str(ROOT / "babel.cfg")]
    for keyword in EXTRA_KEYWORDS:
        args += ["-k", keyword]
    args += ["--ignore-dirs=.venv .git instance tests", "--no-location", "-o", str(out), str(ROOT)]
    CommandLineInterface().run(args)
    return {msgid(m) for m in entries(read_catalogue(out))}


@pytest.fixture(scope="session")
def compiled_translations(tmp_path_factory, sv_catalogue):
    """sv/messages.po compiled into a temp translations dir (fuzzy entries left out)."""
    directory = tmp_path_factory.mktemp("translations")
    mo = directory / "sv" / "LC_MESSAGES" / "messages.mo"
    mo.parent.mkdir(parents=True)
    with mo.open("wb") as f:
        write_mo(f, sv_catalogue, use_fuzzy=False)
    return directory


@pytest.fixture
def app(tmp_path, compiled_translations):
    """conftest's app, reading the catalogues compiled for this session."""
    yield create_app(
        {
            "TESTING": True,
            "INSTANCE": str(tmp_path / "instance"),
            "BABEL_TRANSLATION_DIRECTORIES": str(compiled_translations),
        }
    )


@pytest.fixture
def client(app):
    """A client sending no Accept-Language unless a test adds one (conftest's may change)."""
    return app.test_client()


# --- the catalogue -------------------------------------------------------------------------


def test_swedish_catalogue_is_complete(sv_catalogue):
    assert sv_catalogue.locale and sv_catalogue.locale.language == "sv"
    assert sv_catalogue.num_plurals == 2
    assert not sv_catalogue.fuzzy, "the header of sv/messages.po is marked fuzzy"
    messages = entries(sv_catalogue)
    assert len(messages) > 500
    untranslated = [
        msgid(m)
        for m in messages
        if not (all(m.string) if isinstance(m.string, tuple) else m.string)
    ]
    assert not untranslated, f"translate these in sv/messages.po: {untranslated}"
    fuzzy = [msgid(m) for m in messages if m.fuzzy]
    assert not fuzzy, f"check and unmark these fuzzy entries: {fuzzy}"


def test_every_template_msgid_is_in_the_swedish_catalogue(sv_catalogue):
    template = {msgid(m): m for m in entries(read_catalogue(POT))}
    translated = {msgid(m): m for m in entries(sv_catalogue)}
    missing = sorted(set(template) - set(translated))
    assert not missing, f"run `make messages` and translate: {missing}"
    plural_mismatch = [
        key
        for key, m in template.items()
        if isinstance(m.id, tuple) != isinstance(translated[key].id, tuple)
    ]
    assert not plural_mismatch, f"plural forms differ from messages.pot: {plural_mismatch}"


def test_every_string_in_the_code_is_extracted_and_translated(extracted, sv_catalogue):
    """A gettext call added to the code fails here until `make messages` and a translation."""
    assert len(extracted) > 500
    in_template = {msgid(m) for m in entries(read_catalogue(POT))}
    not_extracted = sorted(extracted - in_template)
    assert not not_extracted, f"run `make messages`; messages.pot lacks: {not_extracted}"
    translated = {msgid(m) for m in entries(sv_catalogue) if m.string}
    untranslated = sorted(extracted - translated)
    assert not untranslated, f"translate in sv/messages.po: {untranslated}"


def test_extraction_reaches_python_templates_plurals_lazy_and_email_text(extracted):
    assert "Log in" in extracted  # templates/auth/login.html
    assert "%(num)d observation" in extracted  # ngettext in a template
    assert "Reminder: %(num)d overdue task for %(party)s" in extracted  # ngettext in Python
    assert "Lighting" in extracted  # _l in fieldwalk/categories.py
    assert "No account is needed. The link works only for these tasks." in extracted  # .txt


def test_translations_keep_every_placeholder(sv_catalogue):
    wrong = []
    for m in entries(sv_catalogue):
        ids = m.id if isinstance(m.id, tuple) else (m.id,)
        expected = set().union(*(PLACEHOLDER.findall(i) for i in ids))
        strings = m.string if isinstance(m.string, tuple) else (m.string,)
        for string in strings:
            if set(PLACEHOLDER.findall(string)) != expected:
                wrong.append((msgid(m), string))
    assert not wrong, f"placeholders differ from the msgid: {wrong}"


def test_catalogue_passes_babels_format_checks(sv_catalogue):
    problems = [(msgid(m), [str(e) for e in errors]) for m, errors in sv_catalogue.check()]
    assert not problems


# --- pages in the chosen language ------------------------------------------------------------


def page(client, path, **headers):
    response = client.get(path, headers=headers)
    assert response.status_code == 200, path
    html = response.get_data(as_text=True)
    match = HTML_LANG.search(html)
    return html, match and match.group(1)


def test_swedish_by_default(client):
    html, lang = page(client, "/login")
    assert lang == "sv"
    assert "Logga in" in html
    assert "Log in" not in html


def test_unsupported_browser_language_falls_back_to_swedish(client):
    html, lang = page(client, "/login", **{"Accept-Language": "de-DE,de;q=0.9"})
    assert lang == "sv"
    assert "Logga in" in html


def test_english_from_accept_language(client):
    html, lang = page(client, "/login", **{"Accept-Language": "en-GB,en;q=0.8"})
    assert lang == "en"
    assert "Log in" in html
    assert "Logga in" not in html


def test_chosen_language_is_remembered_and_beats_the_browser(client):
    token = csrf_token(client, "/login")
    response = client.post("/lang", data={"lang": "en", "next": "/login", "csrf_token": token})
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/login")
    html, lang = page(client, "/login")
    assert (lang, "Log in" in html) == ("en", True)

    token = csrf_token(client, "/login")
    client.post("/lang", data={"lang": "sv", "next": "/login", "csrf_token": token})
    html, lang = page(client, "/login", **{"Accept-Language": "en"})
    assert (lang, "Logga in" in html, "Log in" in html) == ("sv", True, False)


def test_language_switch_needs_csrf(client):
    response = client.post("/lang", data={"lang": "en", "next": "/login"})
    assert response.status_code == 400
    _html, lang = page(client, "/login")
    assert lang == "sv"


def test_join_page_in_swedish(client, db):
    walk = make_walk(db, make_place(db))
    html, lang = page(client, f"/j/{walk['invite_token']}")
    assert lang == "sv"
    assert "Gå med i vandringen" in html
    assert "Join the walk" not in html


def test_walk_dates_in_the_chosen_language(client, db):
    user = make_user(db)
    walk = make_walk(db, make_place(db), created_by=user["id"], starts_at="2026-12-01T16:30")
    login(client, user)

    html, _lang = page(client, f"/walks/{walk['id']}")
    shown = re.search(r'<time datetime="2026-12-01T16:30">([^<]+)</time>', html).group(1)
    assert "dec" in shown and "Dec" not in shown and "16:30" in shown
    html, _lang = page(client, f"/walks/{walk['id']}/protocol")
    assert "tisdag 1 december 2026" in html

    html, _lang = page(client, f"/walks/{walk['id']}", **{"Accept-Language": "en"})
    shown = re.search(r'<time datetime="2026-12-01T16:30">([^<]+)</time>', html).group(1)
    assert "Dec" in shown and "dec." not in shown
    html, _lang = page(client, f"/walks/{walk['id']}/protocol", **{"Accept-Language": "en"})
    assert "Tuesday 1 December 2026" in html
