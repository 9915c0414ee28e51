"""Default configuration. Override in `instance/config.py` or with `FIELDWALK_*` variables.

Environment variables are parsed as JSON where they can be (`FIELDWALK_MAX_PHOTO_BYTES=1000`
gives an int), as Flask's `from_prefixed_env` does.
"""

from datetime import timedelta

# Where the database and the photos live. `FIELDWALK_INSTANCE` moves the whole folder.
DATABASE = "fieldwalk.db"  # relative to the instance folder
RATE_LIMIT_DATABASE = "ratelimits.db"  # the rate limits' counters (fieldwalk/ratelimit.py)
PHOTO_DIR = "photos"  # relative to the instance folder

# Photos.
MAX_PHOTO_BYTES = 25 * 1024 * 1024
MAX_PHOTO_PIXELS = 50_000_000
# Memory a photo's decode may hold, estimated from its header (see fieldwalk/photos/decode.py):
# small files can decode to huge or deep pixels (a 389 KB PNG to 400 MB). 250 MB takes any
# phone JPEG (decoded reduced); the costliest uploads it takes, of each format, stay under
# 2 s of one core and 300 MB (bench/decode_limit.py). HEVC cannot be decoded reduced: a HEIC
# is bounded by its time instead, at 25 megapixels and 16 MiB (MAX_HEIF_PIXELS and
# MAX_HEIF_BYTES in photos/decode.py), which take phones' 12 and 24-megapixel HEICs and
# refuse the opt-in 48-megapixel mode.
# The capture screen shrinks photos before sending them: only the plain form and the API
# ever see a full-size original.
MAX_PHOTO_DECODE_BYTES = 250_000_000
PHOTO_DISPLAY_EDGE = 1600
PHOTO_THUMB_EDGE = 400
KEEP_ORIGINAL_PHOTOS = False
# Faces are blurred in every copy anyone but staff sees, off the upload request: by a thread
# in each app process (None: yes, except under TESTING), and/or by `flask blur-pending`.
# Set False where a separate `blur-pending --watch` service does it (each process running
# the detector holds some 500 MB while it works).
FACE_BLUR_IN_PROCESS = None
MAX_PHOTOS_PER_OBSERVATION = 12
# Whole-request cap: a few photos sent at once by the no-JavaScript form.
MAX_CONTENT_LENGTH = 100 * 1024 * 1024
# Bodies of the JSON API (/api/v1/) other than photo PUTs, which keep MAX_PHOTO_BYTES: the
# largest real one, an observation with 2000 characters of description, is about 25 KB.
MAX_API_BODY_BYTES = 64 * 1024

# Kept only as long as needed (fieldwalk/privacy/retention.py; `flask purge`, daily from cron).
# Residents' names: this many days after every fix of what they reported was closed.
RETAIN_NAMES_DAYS = 90
# A phone's device key: forgotten this many days after the phone was last used.
RETAIN_DEVICE_DAYS = 365
# Photos (and after-photos): this many days after their fixes were closed.
RETAIN_PHOTO_DAYS = 3 * 365
# The audit log keeps who acted for this many days, then only the role.
RETAIN_AUDIT_PERSON_DAYS = 3 * 365

# Observations.
MAX_DESCRIPTION_LENGTH = 2000
FAR_FROM_PLACE_METRES = 2000
# /healthz reuses a good result this long (a failure never): see fieldwalk/ops/health.py.
HEALTH_CACHE_SECONDS = 1

# Walk pages poll for new observations this often (seconds).
WALK_POLL_SECONDS = 4
# A walk's live list shows the newest this many observations (every one is still on its map),
# with a link to show all: each change re-sends the list to every phone on the walk.
WALK_LIST_LIMIT = 50
# Triage shows the observations without a task this many at a time, oldest first.
TRIAGE_PAGE_SIZE = 25

# Map tiles. Any XYZ tile service; the host is added to the Content-Security-Policy.
TILE_URL = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
TILE_ATTRIBUTION = "&copy; OpenStreetMap contributors"
TILE_MAX_ZOOM = 19
# The dashboard's map answers single points up to this many in view, else counts per grid
# cell (fieldwalk/dashboard/mapdata.py): an answer stays small at any database size.
MAP_POINTS_AT_MOST = 500

# Languages: Swedish first.
LANGUAGES = ["sv", "en"]
BABEL_DEFAULT_LOCALE = "sv"
BABEL_DEFAULT_TIMEZONE = "Europe/Stockholm"

# Sessions. Set SESSION_COOKIE_SECURE (FIELDWALK_SESSION_COOKIE_SECURE=true) behind HTTPS.
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = False
SESSION_COOKIE_NAME = "fieldwalk_session"
# Do not re-send the cookie on every response (it would make images uncacheable).
SESSION_REFRESH_EACH_REQUEST = False
# Residents keep their link to their walks and observations on the phone they used.
PERMANENT_SESSION_LIFETIME = timedelta(days=365)
# A staff login (a row in `sessions`) ends after this long unused, and this long after it
# began however much it is used; the person then logs in again. Residents' links stay.
STAFF_SESSION_IDLE_SECONDS = 12 * 3600
STAFF_SESSION_LIFETIME_SECONDS = 30 * 24 * 3600

# CSRF: Flask-WTF. Tokens live as long as the session, so a form opened at the meeting
# point still posts at the end of the walk.
WTF_CSRF_TIME_LIMIT = None
WTF_CSRF_CHECK_DEFAULT = False  # checked in fieldwalk.security, which lets bearer tokens through

# Staff login throttling: this many failed passwords per account from one address within the
# window; past LOGIN_ACCOUNT_MAX_FAILURES for an account from all addresses, one per address.
# An address that has not failed always gets its password checked: no one can lock anyone out.
LOGIN_MAX_FAILURES = 5
LOGIN_ACCOUNT_MAX_FAILURES = 20
LOGIN_FAILURE_WINDOW_SECONDS = 15 * 60

# Behind a TLS-terminating proxy: how many proxies to trust for X-Forwarded-* (0 = none).
PROXY_FIX_X_FOR = 0
PROXY_FIX_X_PROTO = 0

# Demo mode: `seed-demo` prints demo passwords. Never enable on a real server.
DEMO = False

# Email to parties. With SMTP_HOST empty, emails are written as .eml files to
# <instance>/outbox/ instead, so the demo works without a mail server.
SMTP_HOST = ""
SMTP_PORT = 587
SMTP_STARTTLS = True  # upgrade the connection with STARTTLS (port 587)
SMTP_USE_TLS = False  # implicit TLS from the first byte (port 465); overrides STARTTLS
SMTP_USERNAME = ""
SMTP_PASSWORD = ""
SMTP_TIMEOUT_SECONDS = 30
MAIL_FROM = "fieldwalk <fieldwalk@localhost>"
MAIL_LOCALE = "sv"  # the language of emails to parties: "sv" or "en"
# The address links in emails point to when they are sent from the CLI (send-reminders).
PUBLIC_BASE_URL = "http://localhost:5000"

# Signed links for parties without accounts: valid this many days, revocable.
PARTY_LINK_DAYS = 30

# Staff invited from the browser choose their password from an emailed link, valid this long;
# a password reset link from an admin, this long. Each link works once.
INVITE_LINK_DAYS = 7
RESET_LINK_HOURS = 24

# Case numbers read PREFIX-YEAR-NUMBER (HV-2026-0042); empty: YEAR-NUMBER.
CASE_PREFIX = "HV"

# Requests to a party's link, per link and per client address, within the window.
LINK_RATE_LIMIT = 60
LINK_RATE_LIMIT_PER_ADDRESS = 120
LINK_RATE_WINDOW_SECONDS = 60

# A release name (a tag or commit) set by the deployment: a new one makes phones pick up a new
# service worker even when no static file changed.
RELEASE = ""

# Rate limits, counted in SQLite so that every gunicorn worker shares them (see README).
# Generous: a real walk never meets them; a script hammering the server does.
# Staff login attempts per client address (on top of LOGIN_MAX_FAILURES).
LOGIN_RATE_LIMIT_PER_ADDRESS = 60
LOGIN_RATE_WINDOW_SECONDS = 10 * 60
# Joining a walk through its link, per address: a whole walk on one Wi-Fi joins at once.
JOIN_RATE_LIMIT_PER_ADDRESS = 300
JOIN_RATE_WINDOW_SECONDS = 10 * 60
# Residents' writes (observation and photo PUTs, the no-JavaScript form), per phone and per
# address (many phones share one address on a mobile network). Logged-in staff are exempt.
WRITE_RATE_LIMIT_PER_DEVICE = 600
WRITE_RATE_LIMIT_PER_ADDRESS = 3000
WRITE_RATE_WINDOW_SECONDS = 10 * 60

# Open311 GeoReport v2 (/open311/v2/). A jurisdiction_id that requests must match when they
# name one (empty: any), and the contact discovery gives for questions about the API.
OPEN311_JURISDICTION_ID = ""
OPEN311_CONTACT = ""
# How long to wait for a party's Open311 server when posting a task or reading it back.
OPEN311_TIMEOUT_SECONDS = 10

# The district, as west, south, east, north in WGS84: an imported zone or place must lie
# inside it (a file in another coordinate system than it names, or with its axes swapped,
# lands elsewhere). The default holds the City of Stockholm.
DISTRICT_BOUNDS = [17.70, 59.20, 18.25, 59.47]
