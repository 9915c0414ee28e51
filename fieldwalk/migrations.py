"""The schema, as ordered, named migrations. Never rename or edit one that has shipped: add one.

Tables are plural, foreign keys `<thing>_id`, times `*_at` in ISO 8601 UTC. Observations and
photos are identified by client-generated UUIDs so that sending one twice can never make two.
"""

import json

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from fieldwalk import clock, textsearch
from fieldwalk.dashboard import mapcells
from fieldwalk.reports import totals
from fieldwalk.tasks import durations, untasked
from fieldwalk.tasks.cases import case_year

migrations = Migrations("fieldwalk")


def _run(db: Database, ddl: str) -> None:
    # executescript() would commit the migration's transaction; run statements one by one.
    for statement in ddl.split(";\n"):
        if statement.strip():
            db.execute(statement)


def _build_totals(db: Database) -> None:
    # Every running totals table and trigger the database holds is dropped, then made as
    # fieldwalk/reports/totals.py says now and filled from the rows: the triggers and the
    # recount never disagree.
    for statement in totals.drop_statements(db):
        db.execute(statement)
    _run(db, totals.TABLES_DDL)
    for statement in totals.trigger_statements():
        db.execute(statement)  # one statement with ';' inside each: not through _run
    totals.recount(db)


@migrations()
def m001_users(db: Database) -> None:
    _run(
        db,
        """
        CREATE TABLE users (
            id INTEGER PRIMARY KEY,
            email TEXT NOT NULL UNIQUE COLLATE NOCASE,
            name TEXT NOT NULL DEFAULT '',
            role TEXT NOT NULL,
            password_hash TEXT,
            session_epoch INTEGER NOT NULL DEFAULT 0,
            locked_at TEXT,
            is_demo INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL
        );
        CREATE TABLE api_tokens (
            id INTEGER PRIMARY KEY,
            user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            token_hash TEXT NOT NULL UNIQUE,
            label TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL,
            last_used_at TEXT,
            revoked_at TEXT
        );
        CREATE TABLE login_failures (
            id INTEGER PRIMARY KEY,
            key TEXT NOT NULL,
            at REAL NOT NULL
        );
        CREATE INDEX login_failures_key_at ON login_failures(key, at);
        """,
    )


@migrations()
def m002_places_and_walks(db: Database) -> None:
    _run(
        db,
        """
        CREATE TABLE places (
            id INTEGER PRIMARY KEY,
            slug TEXT NOT NULL UNIQUE,
            name TEXT NOT NULL,
            description TEXT NOT NULL DEFAULT '',
            kind TEXT NOT NULL DEFAULT 'area',
            geometry TEXT NOT NULL,
            min_lat REAL NOT NULL, min_lon REAL NOT NULL,
            max_lat REAL NOT NULL, max_lon REAL NOT NULL,
            center_lat REAL NOT NULL, center_lon REAL NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE TABLE walks (
            id INTEGER PRIMARY KEY,
            place_id INTEGER NOT NULL REFERENCES places(id),
            title TEXT NOT NULL,
            starts_at TEXT NOT NULL,
            meeting_point TEXT NOT NULL DEFAULT '',
            meeting_lat REAL,
            meeting_lon REAL,
            route TEXT,
            invitation_text TEXT NOT NULL DEFAULT '',
            state TEXT NOT NULL DEFAULT 'planned',
            invite_token TEXT NOT NULL UNIQUE,
            created_by INTEGER REFERENCES users(id),
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE INDEX walks_place ON walks(place_id, starts_at);
        CREATE TABLE walk_participants (
            id INTEGER PRIMARY KEY,
            walk_id INTEGER NOT NULL REFERENCES walks(id) ON DELETE CASCADE,
            user_id INTEGER REFERENCES users(id),
            device_key_hash TEXT,
            display_name TEXT NOT NULL DEFAULT '',
            participant_role TEXT NOT NULL DEFAULT 'resident',
            joined_at TEXT NOT NULL
        );
        CREATE UNIQUE INDEX walk_participants_user ON walk_participants(walk_id, user_id)
            WHERE user_id IS NOT NULL;
        CREATE UNIQUE INDEX walk_participants_device ON walk_participants(walk_id, device_key_hash)
            WHERE device_key_hash IS NOT NULL;
        """,
    )


@migrations()
def m003_observations_and_photos(db: Database) -> None:
    _run(
        db,
        """
        CREATE TABLE observations (
            id TEXT PRIMARY KEY,
            walk_id INTEGER REFERENCES walks(id),
            place_id INTEGER REFERENCES places(id),
            participant_id INTEGER REFERENCES walk_participants(id),
            user_id INTEGER REFERENCES users(id),
            device_key_hash TEXT,
            category TEXT NOT NULL,
            works_well INTEGER NOT NULL DEFAULT 0,
            description TEXT NOT NULL DEFAULT '',
            feeling INTEGER,
            urgent INTEGER NOT NULL DEFAULT 0,
            lat REAL,
            lon REAL,
            accuracy_m REAL,
            location_source TEXT,
            distance_m REAL,
            captured_at TEXT,
            photo_ids TEXT NOT NULL DEFAULT '[]',
            body_hash TEXT NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE INDEX observations_walk ON observations(walk_id, created_at);
        CREATE INDEX observations_place ON observations(place_id, created_at);
        CREATE INDEX observations_device ON observations(device_key_hash)
            WHERE device_key_hash IS NOT NULL;
        CREATE TABLE photos (
            id TEXT PRIMARY KEY,
            observation_id TEXT NOT NULL REFERENCES observations(id) ON DELETE CASCADE,
            sha256 TEXT NOT NULL,
            file TEXT NOT NULL,
            thumb_file TEXT NOT NULL,
            original_file TEXT,
            width INTEGER NOT NULL,
            height INTEGER NOT NULL,
            bytes INTEGER NOT NULL,
            source_format TEXT NOT NULL,
            gps_lat REAL,
            gps_lon REAL,
            taken_at TEXT,
            created_at TEXT NOT NULL
        );
        CREATE INDEX photos_observation ON photos(observation_id, created_at);
        """,
    )


@migrations()
def m004_audit_log(db: Database) -> None:
    _run(
        db,
        """
        CREATE TABLE audit_log (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            user_id INTEGER REFERENCES users(id),
            participant_id INTEGER REFERENCES walk_participants(id),
            action TEXT NOT NULL,
            entity TEXT NOT NULL,
            entity_id TEXT NOT NULL,
            detail TEXT NOT NULL DEFAULT '{}'
        );
        CREATE INDEX audit_log_entity ON audit_log(entity, entity_id, at);
        """,
    )


@migrations()
def m005_parties_zones_tasks(db: Database) -> None:
    _run(
        db,
        """
        CREATE TABLE parties (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            kind TEXT NOT NULL DEFAULT 'other',
            email TEXT NOT NULL DEFAULT '',
            phone TEXT NOT NULL DEFAULT '',
            notes TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE TABLE party_contacts (
            id INTEGER PRIMARY KEY,
            party_id INTEGER NOT NULL REFERENCES parties(id) ON DELETE CASCADE,
            name TEXT NOT NULL DEFAULT '',
            email TEXT NOT NULL DEFAULT '',
            phone TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL
        );
        CREATE INDEX party_contacts_party ON party_contacts(party_id);
        CREATE TABLE zones (
            id INTEGER PRIMARY KEY,
            party_id INTEGER NOT NULL REFERENCES parties(id),
            name TEXT NOT NULL,
            kind TEXT NOT NULL DEFAULT 'other',
            geometry TEXT NOT NULL,
            min_lat REAL NOT NULL, min_lon REAL NOT NULL,
            max_lat REAL NOT NULL, max_lon REAL NOT NULL,
            area_m2 REAL NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE INDEX zones_bbox ON zones(min_lat, max_lat, min_lon, max_lon);
        CREATE TABLE category_defaults (
            category TEXT PRIMARY KEY,
            party_id INTEGER NOT NULL REFERENCES parties(id) ON DELETE CASCADE
        );
        ALTER TABLE users ADD COLUMN party_id INTEGER REFERENCES parties(id);
        ALTER TABLE walks ADD COLUMN public_token TEXT;
        ALTER TABLE walks ADD COLUMN tasks_sent_at TEXT;
        CREATE TABLE tasks (
            id INTEGER PRIMARY KEY,
            walk_id INTEGER REFERENCES walks(id),
            place_id INTEGER REFERENCES places(id),
            measure TEXT NOT NULL,
            party_id INTEGER REFERENCES parties(id),
            assignee_user_id INTEGER REFERENCES users(id),
            priority TEXT NOT NULL DEFAULT 'normal',
            due_date TEXT,
            state TEXT NOT NULL DEFAULT 'proposed',
            version INTEGER NOT NULL DEFAULT 1,
            duplicate_of INTEGER REFERENCES tasks(id),
            routing_reason TEXT NOT NULL DEFAULT '{}',
            override_reason TEXT,
            state_note TEXT,
            lat REAL,
            lon REAL,
            created_by INTEGER REFERENCES users(id),
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            sent_at TEXT,
            done_at TEXT,
            verified_at TEXT
        );
        CREATE INDEX tasks_party_state ON tasks(party_id, state);
        CREATE INDEX tasks_walk ON tasks(walk_id);
        CREATE INDEX tasks_state_due ON tasks(state, due_date);
        CREATE TABLE task_observations (
            task_id INTEGER NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
            observation_id TEXT NOT NULL REFERENCES observations(id) ON DELETE CASCADE,
            PRIMARY KEY (task_id, observation_id)
        );
        CREATE INDEX task_observations_observation ON task_observations(observation_id);
        ALTER TABLE audit_log ADD COLUMN actor TEXT;
        CREATE TABLE party_links (
            id INTEGER PRIMARY KEY,
            party_id INTEGER NOT NULL REFERENCES parties(id) ON DELETE CASCADE,
            walk_id INTEGER NOT NULL REFERENCES walks(id) ON DELETE CASCADE,
            created_by INTEGER REFERENCES users(id),
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL,
            revoked_at TEXT
        );
        CREATE INDEX party_links_party_walk ON party_links(party_id, walk_id);
        CREATE TABLE notifications (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL,
            key TEXT NOT NULL UNIQUE,
            party_id INTEGER REFERENCES parties(id),
            recipients TEXT NOT NULL,
            subject TEXT NOT NULL,
            sent_at TEXT NOT NULL,
            transport TEXT NOT NULL
        );
        CREATE TABLE rate_limits (
            key TEXT NOT NULL,
            window INTEGER NOT NULL,
            count INTEGER NOT NULL,
            PRIMARY KEY (key, window)
        );
        """,
    )
    # After-photos of tasks go through the same pipeline and table as observation photos.
    db["photos"].transform(not_null={"observation_id": False})
    db.execute("ALTER TABLE photos ADD COLUMN task_id INTEGER REFERENCES tasks(id)")
    db.execute("CREATE INDEX photos_task ON photos(task_id) WHERE task_id IS NOT NULL")
    db.execute("CREATE UNIQUE INDEX walks_public_token ON walks(public_token)")


@migrations()
def m006_dashboard_indexes(db: Database) -> None:
    # The dashboard's list is newest first over both kinds; its map reads every point of a
    # place (or of the district) from one covering index, never from the wide table rows;
    # the duplicate hint looks for the same category in a small box around a position (and a
    # category's observation ids, to find their tasks, come from that index alone); an
    # observation's tasks come from the links' index without reading the links' rows; a
    # place's tasks (the map, the lägesbild's counts per place) from one covering index.
    _run(
        db,
        """
        CREATE INDEX observations_created ON observations(created_at);
        CREATE INDEX observations_map ON observations(place_id, category, lat, lon, urgent,
            works_well, created_at);
        CREATE INDEX observations_category_position ON observations(category, lat, lon,
            created_at, id);
        CREATE INDEX tasks_created ON tasks(created_at);
        CREATE INDEX tasks_place ON tasks(place_id, created_at, state, priority, due_date,
            done_at, party_id, lat, lon);
        CREATE INDEX task_observations_observation_task ON task_observations(observation_id,
            task_id);
        """,
    )


@migrations()
def m007_sessions(db: Database) -> None:
    # Staff logins as rows, so one can be ended from the server: logout, a password change
    # (every other session) and locking an account (all of them). The cookie holds a random
    # session id; only its SHA-256 is stored, so a copy of the database logs nobody in. This
    # replaces users.session_epoch, which stays in the table unused (migrations never edit).
    _run(
        db,
        """
        CREATE TABLE sessions (
            id TEXT PRIMARY KEY,
            user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            created_at TEXT NOT NULL,
            last_seen_at TEXT NOT NULL,
            revoked_at TEXT,
            user_agent TEXT NOT NULL DEFAULT ''
        );
        CREATE INDEX sessions_user_live ON sessions(user_id) WHERE revoked_at IS NULL;
        """,
    )


@migrations()
def m008_observed_time(db: Database) -> None:
    # Two times for an observation (fieldwalk/clock.py): observed (the phone's time, else its
    # photo's, else receipt) and received (created_at, kept for the audit). Reports, counts,
    # lists and exports read observed_at, so the indexes that served created_at move to it.
    # captured_at used to fall back to the receipt time: equal to created_at means "none".
    # A row inserted without an observed time (a bulk load, an older client of the table)
    # is dated by its receipt, as the rule says, by a trigger.
    _run(
        db,
        """
        ALTER TABLE observations ADD COLUMN observed_at TEXT;
        ALTER TABLE observations ADD COLUMN observed_source TEXT NOT NULL DEFAULT 'received';
        """,
    )

    def observed(received: str, captured: str | None, taken: str | None) -> str:
        return json.dumps(clock.observed_time(received, captured, taken))

    db.conn.create_function("fw_observed", 3, observed, deterministic=True)
    db.execute(
        """UPDATE observations SET observed_at = json_extract(t, '$[0]'),
                  observed_source = json_extract(t, '$[1]')
           FROM (SELECT o.id AS oid, fw_observed(o.created_at,
                        nullif(o.captured_at, o.created_at),
                        (SELECT taken_at FROM photos p WHERE p.observation_id = o.id
                         AND p.taken_at IS NOT NULL ORDER BY p.created_at LIMIT 1)) AS t
                 FROM observations o)
           WHERE observations.id = oid"""
    )
    _run(
        db,
        """
        DROP INDEX observations_created;
        DROP INDEX observations_map;
        DROP INDEX observations_category_position;
        DROP INDEX observations_walk;
        DROP INDEX observations_place;
        CREATE INDEX observations_observed ON observations(observed_at);
        CREATE INDEX observations_walk ON observations(walk_id, observed_at);
        CREATE INDEX observations_place ON observations(place_id, observed_at);
        CREATE INDEX observations_map ON observations(place_id, category, lat, lon, urgent,
            works_well, observed_at);
        CREATE INDEX observations_category_position ON observations(category, lat, lon,
            observed_at, id);
        """,
    )
    db.execute(  # one statement with a ';' inside: not through _run's split
        """CREATE TRIGGER observations_observed_at_default AFTER INSERT ON observations
           WHEN NEW.observed_at IS NULL BEGIN
               UPDATE observations SET observed_at = NEW.created_at WHERE rowid = NEW.rowid;
           END"""
    )


@migrations()
def m009_events(db: Database) -> None:
    # Events that affected safety at a place (a police report, a guard's note, a field
    # worker's), beside the observations. `occurred_at` is when it happened (UTC, entered in
    # Stockholm time), `created_at` when it was received. A row has a place, a point or both.
    # `import_key` makes entering twice harmless: a hash of an imported row's content, or the
    # key the phone form carries. The weekly lägesbild counts a place's events by type and
    # source for a week, and the district's for a week: both from covering indexes.
    _run(
        db,
        """
        CREATE TABLE events (
            id INTEGER PRIMARY KEY,
            occurred_at TEXT NOT NULL,
            place_id INTEGER REFERENCES places(id),
            lat REAL,
            lon REAL,
            type TEXT NOT NULL,
            source TEXT NOT NULL,
            description TEXT NOT NULL DEFAULT '',
            created_by INTEGER REFERENCES users(id),
            created_at TEXT NOT NULL,
            import_key TEXT UNIQUE,
            CHECK (place_id IS NOT NULL OR (lat IS NOT NULL AND lon IS NOT NULL))
        );
        CREATE INDEX events_place_occurred ON events(place_id, occurred_at, type, source);
        CREATE INDEX events_occurred ON events(occurred_at, place_id, type, source);
        CREATE TABLE event_links (
            id INTEGER PRIMARY KEY,
            event_id INTEGER NOT NULL REFERENCES events(id) ON DELETE CASCADE,
            observation_id TEXT REFERENCES observations(id) ON DELETE CASCADE,
            task_id INTEGER REFERENCES tasks(id) ON DELETE CASCADE,
            CHECK ((observation_id IS NULL) != (task_id IS NULL))
        );
        CREATE UNIQUE INDEX event_links_event_observation ON event_links(event_id, observation_id)
            WHERE observation_id IS NOT NULL;
        CREATE UNIQUE INDEX event_links_event_task ON event_links(event_id, task_id)
            WHERE task_id IS NOT NULL;
        CREATE INDEX event_links_observation ON event_links(observation_id, event_id)
            WHERE observation_id IS NOT NULL;
        CREATE INDEX event_links_task ON event_links(task_id, event_id) WHERE task_id IS NOT NULL;
        """,
    )


@migrations()
def m010_photo_declarations(db: Database) -> None:
    # A photo UUID belongs to the observation that declared it, from that moment: one row per
    # declared UUID, so a second observation declaring it (a co-participant who read it off
    # the first one) is refused before it can take the slot. Older duplicates keep the first.
    _run(
        db,
        """
        CREATE TABLE photo_declarations (
            photo_id TEXT PRIMARY KEY,
            observation_id TEXT NOT NULL REFERENCES observations(id) ON DELETE CASCADE
        );
        CREATE INDEX photo_declarations_observation ON photo_declarations(observation_id);
        INSERT OR IGNORE INTO photo_declarations (photo_id, observation_id)
            SELECT j.value, o.id FROM observations o, json_each(o.photo_ids) j
            ORDER BY o.created_at, o.id;
        """,
    )


@migrations()
def m011_open311_channels(db: Database) -> None:
    # A party reached over Open311 instead of email (fieldwalk/open311/channel.py): where its
    # GeoReport v2 server is, the key it gave us, and which of its services takes each of our
    # categories ('*' for the rest). The api_key is kept as given: it has to be sent.
    # Each task sent to such a party is one row in open311_requests, made before anything is
    # posted: its client_id names the request to the party's server on every retry, so a
    # lost answer never makes a second request; remote_id is the party's service_request_id.
    # Failures wait next_attempt_at (back-off) and show last_error on the task.
    _run(
        db,
        """
        CREATE TABLE open311_channels (
            party_id INTEGER PRIMARY KEY REFERENCES parties(id) ON DELETE CASCADE,
            endpoint TEXT NOT NULL,
            jurisdiction_id TEXT NOT NULL DEFAULT '',
            api_key TEXT NOT NULL DEFAULT '',
            service_codes TEXT NOT NULL DEFAULT '{}',
            synced_at TEXT,
            sync_error TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE TABLE open311_requests (
            id INTEGER PRIMARY KEY,
            task_id INTEGER NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
            party_id INTEGER NOT NULL REFERENCES parties(id) ON DELETE CASCADE,
            client_id TEXT NOT NULL UNIQUE,
            remote_id TEXT,
            remote_status TEXT,
            remote_note TEXT,
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at TEXT,
            claimed_until TEXT,
            last_error TEXT,
            last_error_at TEXT,
            created_at TEXT NOT NULL,
            sent_at TEXT,
            updated_at TEXT NOT NULL,
            UNIQUE (task_id, party_id)
        );
        CREATE INDEX open311_requests_due ON open311_requests(party_id, remote_id,
            next_attempt_at);
        """,
    )


@migrations()
def m012_weekly_meeting(db: Database) -> None:
    # The weekly meeting's own records, per place and ISO week ('2026-W47', Stockholm time).
    # An assessment is never changed in place: a later edit in the same week is a new row
    # with the next version, so the meeting's history (who said what, when) stays. A decision
    # is a task (what, which party, by when) linked here to the place and the meeting's week;
    # its state is the task's. `key` (the form's) makes sending the same decision twice
    # harmless.
    _run(
        db,
        """
        CREATE TABLE assessments (
            id INTEGER PRIMARY KEY,
            place_id INTEGER NOT NULL REFERENCES places(id),
            week TEXT NOT NULL,
            version INTEGER NOT NULL,
            level TEXT NOT NULL CHECK (level IN ('calm', 'uneasy', 'serious', 'acute')),
            text TEXT NOT NULL DEFAULT '',
            written_by INTEGER REFERENCES users(id),
            written_at TEXT NOT NULL,
            UNIQUE (place_id, week, version)
        );
        CREATE INDEX assessments_week ON assessments(week, place_id, version);
        CREATE TABLE decisions (
            id INTEGER PRIMARY KEY,
            place_id INTEGER NOT NULL REFERENCES places(id),
            week TEXT NOT NULL,
            task_id INTEGER NOT NULL UNIQUE REFERENCES tasks(id) ON DELETE CASCADE,
            key TEXT UNIQUE,
            created_by INTEGER REFERENCES users(id),
            created_at TEXT NOT NULL
        );
        CREATE INDEX decisions_week ON decisions(week, place_id);
        """,
    )


@migrations()
def m013_duplicate_hint_index(db: Database) -> None:
    # Duplicate hints (fieldwalk/observations/duplicates.py) read the earlier observations of
    # a category, problem or "works well", in a box around a point and a span of time: every
    # column they test or return is in this index, so a hotspot of thousands at one spot is
    # an index range read and a top-few sort in SQLite, with no table row touched.
    db.execute(
        """CREATE INDEX observations_duplicates ON observations(category, works_well, lat, lon,
               observed_at, id)"""
    )


@migrations()
def m014_map_position_index(db: Database) -> None:
    # The dashboard map asks for what is in the visible box (fieldwalk/dashboard/mapdata.py):
    # these read a box's latitude band instead of every row, and hold what a cluster counts.
    _run(
        db,
        """
        CREATE INDEX observations_position ON observations(lat, lon, urgent);
        CREATE INDEX tasks_position ON tasks(lat, lon, priority);
        """,
    )


@migrations()
def m015_week_task_indexes(db: Database) -> None:
    # The lägesbild counts each week's tasks done, and those overdue at its end (still open,
    # or done only after it), for three weeks on every view: from two covering indexes, not
    # from every task in the district.
    _run(
        db,
        """
        CREATE INDEX tasks_done_at ON tasks(done_at, created_at, due_date, state, place_id)
            WHERE done_at IS NOT NULL;
        CREATE INDEX tasks_state_due_place ON tasks(state, due_date, created_at, place_id);
        """,
    )


@migrations()
def m016_task_notices(db: Database) -> None:
    # Sending follows the party: whatever hands a task to a party (sent, sent after a
    # re-route, reopened back to it) queues a notice for that party, and a sending round
    # emails each party one message with all its waiting notices. A notice is settled when
    # its email went out (or when the task left that party before it did); a failed email
    # leaves it waiting for the next round. A party's link may now cover a walk or, with no
    # walk, the party's tasks on observations made outside a walk.
    _run(
        db,
        """
        CREATE TABLE task_notices (
            id INTEGER PRIMARY KEY,
            task_id INTEGER NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
            party_id INTEGER NOT NULL REFERENCES parties(id) ON DELETE CASCADE,
            reason TEXT NOT NULL,
            note TEXT,
            created_at TEXT NOT NULL,
            settled_at TEXT,
            outcome TEXT
        );
        CREATE INDEX task_notices_waiting ON task_notices(party_id, task_id)
            WHERE settled_at IS NULL;
        CREATE INDEX task_notices_task ON task_notices(task_id);
        """,
    )
    db["party_links"].transform(not_null={"walk_id": False})


@migrations()
def m017_task_comments(db: Database) -> None:
    # A task's conversation: comments between the coordinators and walk leaders ("staff")
    # and whoever holds the task at the party ("party": its engineers, or its link holder).
    # Each comment tells the other side by email. `author` is how the comment names its
    # writer (a person's name, or the party's name for a link holder).
    _run(
        db,
        """
        CREATE TABLE task_comments (
            id INTEGER PRIMARY KEY,
            task_id INTEGER NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
            side TEXT NOT NULL CHECK (side IN ('staff', 'party')),
            user_id INTEGER REFERENCES users(id),
            party_id INTEGER REFERENCES parties(id),
            author TEXT NOT NULL,
            body TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
        CREATE INDEX task_comments_task ON task_comments(task_id, id);
        """,
    )


@migrations()
def m018_case_numbers(db: Database) -> None:
    # A readable number per task and year (HV-2026-0042: the prefix is configuration, not
    # data), given when the task is inserted. Tasks made before this get theirs in the order
    # they were created, per Stockholm year.
    _run(
        db,
        """
        ALTER TABLE tasks ADD COLUMN case_year INTEGER;
        ALTER TABLE tasks ADD COLUMN case_seq INTEGER;
        """,
    )
    counters: dict[int, int] = {}
    rows = db.execute("SELECT id, created_at FROM tasks ORDER BY created_at, id").fetchall()
    for task_id, created_at in rows:
        year = case_year(created_at)
        counters[year] = counters.get(year, 0) + 1
        db.execute(
            "UPDATE tasks SET case_year = ?, case_seq = ? WHERE id = ?",
            [year, counters[year], task_id],
        )
    db.execute("CREATE UNIQUE INDEX tasks_case ON tasks(case_year, case_seq)")


@migrations()
def m019_resident_follows(db: Database) -> None:
    # Residents may leave an email address, for two emails per observation: when a fix is
    # decided and when it is done. A follow covers one observation, or (left when joining a
    # walk) everything that participant reports on it. Unsubscribing stops every follow of
    # the address. After a fix is done the status page asks whether the place feels safer
    # now; one answer per observation and phone (changeable), counted per place.
    _run(
        db,
        """
        CREATE TABLE resident_follows (
            id INTEGER PRIMARY KEY,
            email TEXT NOT NULL COLLATE NOCASE,
            walk_id INTEGER REFERENCES walks(id) ON DELETE CASCADE,
            participant_id INTEGER REFERENCES walk_participants(id) ON DELETE CASCADE,
            observation_id TEXT REFERENCES observations(id) ON DELETE CASCADE,
            created_at TEXT NOT NULL,
            unsubscribed_at TEXT,
            CHECK (observation_id IS NOT NULL OR participant_id IS NOT NULL)
        );
        CREATE UNIQUE INDEX resident_follows_observation ON resident_follows(observation_id, email)
            WHERE observation_id IS NOT NULL;
        CREATE UNIQUE INDEX resident_follows_participant ON resident_follows(participant_id, email)
            WHERE participant_id IS NOT NULL;
        CREATE INDEX resident_follows_email ON resident_follows(email);
        CREATE TABLE place_followups (
            id INTEGER PRIMARY KEY,
            place_id INTEGER REFERENCES places(id) ON DELETE CASCADE,
            observation_id TEXT NOT NULL REFERENCES observations(id) ON DELETE CASCADE,
            answer TEXT NOT NULL CHECK (answer IN ('yes', 'no', 'same')),
            voter_hash TEXT NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            UNIQUE (observation_id, voter_hash)
        );
        CREATE INDEX place_followups_place ON place_followups(place_id, updated_at, answer);
        """,
    )


@migrations()
def m020_public_review(db: Database) -> None:
    # Public only after review: an observation's text and photos reach the public pages once
    # staff approved them ("Visa publikt"). `public_review` is NULL while waiting, 'approved'
    # or 'private' (staff chose to show only category, place and state); the text shown is
    # the one approved (`public_description`), each photo carries its own `approved_at`, so a
    # photo that arrives after the approval waits for a look of its own.
    _run(
        db,
        """
        ALTER TABLE observations ADD COLUMN public_review TEXT;
        ALTER TABLE observations ADD COLUMN public_description TEXT;
        ALTER TABLE observations ADD COLUMN reviewed_at TEXT;
        ALTER TABLE observations ADD COLUMN reviewed_by INTEGER REFERENCES users(id);
        ALTER TABLE photos ADD COLUMN approved_at TEXT;
        CREATE INDEX observations_review ON observations(public_review, observed_at);
        """,
    )


@migrations()
def m021_public_photo_copies(db: Database) -> None:
    # Faces blurred: each photo gets public copies (display and thumbnail) with every face
    # found blurred, made off the upload request; NULL until they exist, and until then no
    # one but staff and the phone that took it is served the photo. `faces` is how many were
    # found; `blur_started_at` lets one process claim a photo. Serving looks a file up by its
    # path to tell a public copy from an original: the four indexes.
    _run(
        db,
        """
        ALTER TABLE photos ADD COLUMN public_file TEXT;
        ALTER TABLE photos ADD COLUMN public_thumb_file TEXT;
        ALTER TABLE photos ADD COLUMN faces INTEGER;
        ALTER TABLE photos ADD COLUMN blur_started_at TEXT;
        CREATE INDEX photos_file ON photos(file);
        CREATE INDEX photos_thumb_file ON photos(thumb_file);
        CREATE INDEX photos_public_file ON photos(public_file) WHERE public_file IS NOT NULL;
        CREATE INDEX photos_public_thumb_file ON photos(public_thumb_file)
            WHERE public_thumb_file IS NOT NULL;
        CREATE INDEX photos_unblurred ON photos(created_at) WHERE public_file IS NULL;
        """,
    )


@migrations()
def m022_photo_redaction(db: Database) -> None:
    # Redaction by hand: staff blur rectangles (a number plate, a face the detector missed),
    # turn a photo, or hide it. Blurring and turning rewrite every copy; `redactions` counts
    # the rectangles applied so far; a hidden photo (`hidden_at`) is shown to staff only.
    # Who did what is in the audit log (entity 'photo').
    _run(
        db,
        """
        ALTER TABLE photos ADD COLUMN hidden_at TEXT;
        ALTER TABLE photos ADD COLUMN hidden_by INTEGER REFERENCES users(id);
        ALTER TABLE photos ADD COLUMN redactions INTEGER NOT NULL DEFAULT 0;
        """,
    )


@migrations()
def m023_retention(db: Database) -> None:
    # Kept only as long as needed (fieldwalk/privacy/retention.py): a phone's device key is
    # forgotten a year after its last use, so its last use is kept, at most once a day
    # (`devices`, by the key's hash). The audit log is searched by age when entries older than
    # the retention keep their role but lose the person.
    _run(
        db,
        """
        CREATE TABLE devices (
            key_hash TEXT PRIMARY KEY,
            last_seen_at TEXT NOT NULL
        );
        CREATE INDEX audit_log_at ON audit_log(at);
        CREATE INDEX walk_participants_device_any ON walk_participants(device_key_hash);
        """,
    )


@migrations()
def m024_place_measures(db: Database) -> None:
    # What each place has (issue 13): dated facts coordinators keep, such as an open drug scene
    # per the police's mapping, an order under LOV §3, cameras, a place partnership, guard
    # patrols. A fact is never changed in place: each change is a new row with the next
    # version of the same `fact_key`, so its history (who said what, when) stays. The latest
    # version is the fact; `ended` there means it was removed. Dates are local calendar days.
    _run(
        db,
        """
        CREATE TABLE place_facts (
            id INTEGER PRIMARY KEY,
            fact_key TEXT NOT NULL,
            version INTEGER NOT NULL,
            place_id INTEGER NOT NULL REFERENCES places(id),
            kind TEXT NOT NULL CHECK (kind IN ('drug_scene', 'lov3', 'police_cameras',
                'city_cameras', 'place_partnership', 'guard_patrols')),
            state TEXT NOT NULL DEFAULT '',
            from_date TEXT,
            to_date TEXT,
            party_ids TEXT NOT NULL DEFAULT '[]',
            note TEXT NOT NULL DEFAULT '',
            removed INTEGER NOT NULL DEFAULT 0,
            recorded_by INTEGER REFERENCES users(id),
            recorded_at TEXT NOT NULL,
            UNIQUE (fact_key, version)
        );
        CREATE INDEX place_facts_place ON place_facts(place_id, fact_key, version);
        """,
    )


@migrations()
def m025_camera_proposals(db: Database) -> None:
    # A camera site the district proposes to the city's security office, from the lägesbild:
    # a point, the reasons (the figures as they were when it was proposed, kept as JSON so the
    # proposal reads the same later), and the task that carries it to the office. The office's
    # answer and decision are recorded here when they come.
    _run(
        db,
        """
        CREATE TABLE camera_proposals (
            id INTEGER PRIMARY KEY,
            place_id INTEGER NOT NULL REFERENCES places(id),
            lat REAL NOT NULL,
            lon REAL NOT NULL,
            motivation TEXT NOT NULL DEFAULT '',
            reasons TEXT NOT NULL DEFAULT '{}',
            task_id INTEGER REFERENCES tasks(id),
            key TEXT UNIQUE,
            proposed_by INTEGER REFERENCES users(id),
            proposed_at TEXT NOT NULL,
            decision TEXT CHECK (decision IN ('approved', 'rejected', 'postponed')),
            answer TEXT NOT NULL DEFAULT '',
            answered_by INTEGER REFERENCES users(id),
            answered_at TEXT
        );
        CREATE INDEX camera_proposals_place ON camera_proposals(place_id, proposed_at);
        """,
    )


@migrations()
def m026_annual_follow_up(db: Database) -> None:
    # The annual follow-up of a place with the police: the joint written assessment (how it has
    # been, how it is expected to develop, long-term measures needed: one measure a line), in
    # versions like the weekly assessment; `finished` marks the version the meeting agreed on.
    # A line of the measures can become a task: `annual_measures` links it.
    _run(
        db,
        """
        CREATE TABLE annual_assessments (
            id INTEGER PRIMARY KEY,
            place_id INTEGER NOT NULL REFERENCES places(id),
            year INTEGER NOT NULL,
            version INTEGER NOT NULL,
            how_it_has_been TEXT NOT NULL DEFAULT '',
            expected_development TEXT NOT NULL DEFAULT '',
            long_term_measures TEXT NOT NULL DEFAULT '',
            finished INTEGER NOT NULL DEFAULT 0,
            written_by INTEGER REFERENCES users(id),
            written_at TEXT NOT NULL,
            UNIQUE (place_id, year, version)
        );
        CREATE TABLE annual_measures (
            id INTEGER PRIMARY KEY,
            place_id INTEGER NOT NULL REFERENCES places(id),
            year INTEGER NOT NULL,
            measure TEXT NOT NULL,
            task_id INTEGER NOT NULL UNIQUE REFERENCES tasks(id) ON DELETE CASCADE,
            created_by INTEGER REFERENCES users(id),
            created_at TEXT NOT NULL,
            UNIQUE (place_id, year, measure)
        );
        """,
    )


@migrations()
def m030_running_totals(db: Database) -> None:
    # Running totals for the reports (fieldwalk/reports/totals.py): per local week and month
    # and per place, the observations by category, the events by type and source, the tasks
    # opened and done; per place and party the tasks in each state. Triggers keep them in the
    # writing transaction, so a report reads a few rows per place and week whatever the
    # history holds. Filled here from the rows already stored.
    _build_totals(db)


@migrations()
def m031_polygon_rtrees(db: Database) -> None:
    # "Which place (zone) holds this point" reads SQLite's R*Tree of the polygons' bounding
    # boxes instead of the tables' min/max columns: a point's candidates are found in the
    # tree's few pages however many places and zones a city draws (the polygon test that
    # decides stays in fieldwalk/geo.py). The trees store 32-bit floats rounded outwards, so
    # a box never shrinks. Triggers keep each tree equal to its table's boxes.
    for table in ("places", "zones"):
        db.execute(
            f"CREATE VIRTUAL TABLE {table}_rtree USING rtree(id, min_lat, max_lat, min_lon, max_lon)"
        )
        db.execute(
            f"""INSERT INTO {table}_rtree (id, min_lat, max_lat, min_lon, max_lon)
                SELECT id, min_lat, max_lat, min_lon, max_lon FROM {table}"""  # noqa: S608
        )
        box = "NEW.id, NEW.min_lat, NEW.max_lat, NEW.min_lon, NEW.max_lon"
        db.execute(
            f"""CREATE TRIGGER {table}_rtree_insert AFTER INSERT ON {table} BEGIN
                INSERT INTO {table}_rtree (id, min_lat, max_lat, min_lon, max_lon)
                VALUES ({box}); END"""  # noqa: S608 - fixed names
        )
        db.execute(
            f"""CREATE TRIGGER {table}_rtree_update AFTER UPDATE OF id, min_lat, max_lat,
                min_lon, max_lon ON {table} BEGIN
                DELETE FROM {table}_rtree WHERE id = OLD.id;
                INSERT INTO {table}_rtree (id, min_lat, max_lat, min_lon, max_lon)
                VALUES ({box}); END"""  # noqa: S608 - fixed names
        )
        db.execute(
            f"""CREATE TRIGGER {table}_rtree_delete AFTER DELETE ON {table} BEGIN
                DELETE FROM {table}_rtree WHERE id = OLD.id; END"""  # noqa: S608
        )


@migrations()
def m032_map_cells(db: Database) -> None:
    # The whole district's map (fieldwalk/dashboard/mapcells.py): counts and position sums per
    # kind and fine grid cell, kept by triggers, which the unfiltered map groups instead of
    # every point; and an index per kind with the longitude first, so the points' extent is
    # read from index edges (latitude has m014's). The cells are m043's now: it builds them as
    # mapcells.py says, on a new database too.
    _run(
        db,
        """
        CREATE INDEX observations_lon ON observations(lon);
        CREATE INDEX tasks_lon ON tasks(lon);
        """,
    )


@migrations()
def m033_duplicate_hint_grid(db: Database) -> None:
    # Duplicate hints read a grid of about 25 m cells (fieldwalk/observations/nearby.py): per
    # cell around a point only the newest and oldest few in the look-back, an index range with
    # a LIMIT each, so a hotspot of thousands costs what a quiet street does (m013's box still
    # visited every row at the spot). The cell is an expression in the index, not a column:
    # SQLite computes it on every insert and position change, whichever path writes, and the
    # index build is the backfill. The expression is spelled out here, frozen with the
    # migration; nearby.CELL_SQL must stay the same (the query plan test checks it).
    _run(
        db,
        """
        DROP INDEX observations_duplicates;
        CREATE INDEX observations_nearby ON observations(category, works_well,
            (CAST((lat + 90) / 0.000225 AS INTEGER) * 1000000
             + CAST((lon + 180) / 0.00045 AS INTEGER)),
            observed_at, lat, lon)
        """,
    )


@migrations()
def m034_totals_feelings_and_overdue(db: Database) -> None:
    # The running totals as fieldwalk/reports/totals.py now counts them, built again from the
    # rows: the observations' feeling scores (count and sum, for the safety index's monthly
    # mean) and the overdue tasks' steps per place and day (for "overdue" in the lägesbild,
    # which read every task ever left open). Every totals table and trigger is built again.
    _build_totals(db)


@migrations()
def m035_task_first_observed(db: Database) -> None:
    # A task's first observation's observed time, kept on the task by triggers on its links
    # and on the observations' observed time (fieldwalk/tasks/durations.py), with an index of
    # the days to done per place and party: the place page's median per party walks the
    # index instead of joining every task the place ever had to its observations. And the
    # two indexes the open-at-month-end figures read.
    db.execute("ALTER TABLE tasks ADD COLUMN first_observed_at TEXT")
    for statement in durations.FIRST_OBSERVED_TRIGGERS:
        db.execute(statement)
    durations.recount_first_observed(db)
    db.execute(durations.DONE_DAYS_INDEX)
    for statement in durations.OPEN_AT_INDEXES:
        db.execute(statement)


@migrations()
def m036_map_cells_in_boxes(db: Database) -> None:
    # The map's running counts on two grid levels (fieldwalk/dashboard/mapcells.py): the fine
    # one down to a street at zoom 18, so panning and zooming the unfiltered map reads the
    # cells in the box rather than every point in it. Dropped and built again as the module
    # says, from the rows.
    # Built by m050 since, as mapcells.py says; a new database builds them there once.
    del db


@migrations()
def m037_open_task_steps(db: Database) -> None:
    # The tasks open at each month's end (the safety index on the year pages) from running
    # steps per place and day, like the overdue ones (fieldwalk/reports/totals.py): they read
    # every task a place had left open. The index they read goes. Every totals table and
    # trigger is built again.
    db.execute("DROP INDEX IF EXISTS tasks_place_open")
    _build_totals(db)


@migrations()
def m038_rate_limits_own_file(db: Database) -> None:
    # The rate limits' counters moved to a database file of their own (fieldwalk/ratelimit.py):
    # counting each resident's write here took turns at the write lock with the records.
    # Counts of windows that end within minutes: nothing to carry over.
    db.execute("DROP TABLE IF EXISTS rate_limits")


@migrations()
def m039_map_cells_per_zoom(db: Database) -> None:
    # The map's running counts on the grid of every zoom from a city's to a few houses'
    # (fieldwalk/dashboard/mapcells.py), so a box of the unfiltered map reads the cells it
    # sends rather than every finer cell in it. Dropped and built again from the rows.
    # Built by m050 since, as mapcells.py says; a new database builds them there once.
    del db


@migrations()
def m040_tasks_done_year(db: Database) -> None:
    # The year pages' median days to done per place and party: an index of the days per
    # Stockholm year (fieldwalk/tasks/durations.py), so a year's median walks that year's
    # fixes instead of reading them all into Python.
    db.execute(durations.DONE_YEAR_INDEX)


@migrations()
def m041_filtered_map_indexes(db: Database) -> None:
    # A filtered map (fieldwalk/dashboard/mapdata.py) counts the points the filter keeps per
    # cell: by category and by date these indexes now hold all a cluster needs (the position
    # and urgency), so the count reads them alone rather than each point's row.
    _run(
        db,
        """
        DROP INDEX observations_category_position;
        CREATE INDEX observations_category_position ON observations(category, lat, lon,
            urgent, observed_at, id);
        DROP INDEX observations_observed;
        CREATE INDEX observations_observed ON observations(observed_at, lat, lon, urgent);
        DROP INDEX tasks_created;
        CREATE INDEX tasks_created ON tasks(created_at, lat, lon, priority);
        """,
    )


@migrations()
def m042_task_map_indexes(db: Database) -> None:
    # The map of tasks filtered by state (the open ones, most often) or by party: these hold
    # the position and priority too, so the count per cell reads them alone (m041's reason).
    _run(
        db,
        """
        DROP INDEX tasks_state_due;
        CREATE INDEX tasks_state_due ON tasks(state, due_date, lat, lon, priority);
        DROP INDEX tasks_party_state;
        CREATE INDEX tasks_party_state ON tasks(party_id, state, lat, lon, priority);
        """,
    )


@migrations()
def m043_map_facets(db: Database) -> None:
    # The map filtered by a category, a task state (or the open ones) or a place from running
    # counts too (fieldwalk/dashboard/mapcells.py): the cells per facet, the links' copies of
    # their observation's category and task's state, and the counts across the links. The
    # links' first-observed trigger (m035) now fires only when a link is moved, not when its
    # copies change (the copies come with the cells, m044).
    db.execute("DROP TRIGGER IF EXISTS tasks_first_observed_relink")
    db.execute(durations.FIRST_OBSERVED_TRIGGERS[2])
    # The cells are built by m050 since; a new database builds them once.


@migrations()
def m044_map_month_facets(db: Database) -> None:
    # The map's facets (m043) and the Stockholm months (an observation's by when it was
    # observed, a task's by when it was opened), so a map filtered by dates reads the whole
    # months' cells and only the days at the ends from the rows. Built by m050 since; a new
    # database builds them there once.
    del db


@migrations()
def m045_map_tasked_observations(db: Database) -> None:
    # observation_states also counts each observation's links whatever their state
    # (`tasked`), so the map of the observations with no task is every observation's cells
    # less those (mapdata._facet). Built by m050 since; a new database builds them there
    # once.
    del db


@migrations()
def m046_map_party_facets(db: Database) -> None:
    # Each party's facet (and that of the tasks with none): its tasks by their own party, the
    # observations through the links (a copy of the task's party on each link, counted in
    # observation_states as `party:<id>`). Built by m050 since; a new database builds them
    # there once.
    del db


@migrations()
def m047_map_due_months(db: Database) -> None:
    # Open tasks by the month they are due in, and observations by that of their open task
    # due first (observation_due), so a map of what is overdue reads the whole months' cells
    # and only this month's days from the rows. Built by m050 since, with a category and a
    # state together; a new database builds them there once.
    del db


@migrations()
def m048_map_category_state_pairs(db: Database) -> None:
    # A task state (or the open ones, or having a task) with a category: a task through its
    # observations' categories, an observation through its tasks' states, each counted row
    # keeping a copy of the other (task_categories.state, observation_states.category).
    # Built by m050 since, with a place and a category or state; a new database builds them
    # there once.
    del db


@migrations()
def m049_map_place_pairs(db: Database) -> None:
    # A place with a category or a task state: a row by its own place, and through its links
    # by a copy of it (task_categories.place, observation_states.place). Built by m050
    # since, with a month and a category; a new database builds them there once.
    del db


@migrations()
def m050_map_month_categories(db: Database) -> None:
    # A Stockholm month with a category: an observation by when it was observed and its own
    # category, a task by when it was opened (a copy, task_categories.created) and its
    # observations' categories. Built again from the rows.
    mapcells.build(db)


@migrations()
def m051_text_search(db: Database) -> None:
    # Text search from a trigram index whose keys say where each row lies (textsearch.py),
    # built from the rows.
    textsearch.rebuild(db)


@migrations()
def m052_task_list_order(db: Database) -> None:
    # The task list's order (tasks/model.py TASK_ORDER), so that a page is read off an index.
    db.execute(
        """CREATE INDEX tasks_list_order ON tasks((CASE priority WHEN 'urgent' THEN 0
               WHEN 'high' THEN 1 WHEN 'normal' THEN 2 ELSE 3 END), due_date IS NULL, due_date,
               id)"""
    )


@migrations()
def m053_observations_without_task(db: Database) -> None:
    # The observations triage lists, kept by triggers (tasks/untasked.py).
    untasked.rebuild(db)


@migrations()
def m054_observations_without_task_counted(db: Database) -> None:
    # How many observations wait for a task, kept by triggers (tasks/untasked.py).
    untasked.rebuild(db)


@migrations()
def m055_tasks_by_party_and_sending(db: Database) -> None:
    # A party's record reads the tasks sent to it in a period, not every task it ever had.
    db.execute("CREATE INDEX tasks_party_sent ON tasks(party_id, sent_at)")


@migrations()
def m056_text_search_copies(db: Database) -> None:
    # The text index's keys copy what the dashboard's filters ask of a row (textsearch.py),
    # so that a search with filters reads the index, not its hits' rows. Built again.
    textsearch.rebuild(db)


@migrations()
def m057_map_due_years(db: Database) -> None:
    # Open tasks by the year they are due in besides the month (mapcells.py), so what is
    # overdue is a few years' and this year's months' cells, however long the history.
    # Only the new facets are counted from the rows.
    mapcells.add_facets(
        db,
        {
            "tasks": (mapcells.TASK_DUE_YEAR,),
            "observation_due": (mapcells.OBSERVATION_DUE_YEAR,),
        },
    )


@migrations()
def m058_link_totals(db: Database) -> None:
    # How many observations each state of their tasks holds, and tasks each category of
    # their observations (mapcells.py), so the dashboard counts such a filter from a row.
    mapcells.build_link_totals(db)


@migrations()
def m059_due_totals(db: Database) -> None:
    # How many open tasks (and observations by their first) are due each day (mapcells.py),
    # so the dashboard counts what is overdue from a few thousand days, not every such row.
    mapcells.build_due_totals(db)


@migrations()
def m060_observation_due_observed(db: Database) -> None:
    # When each observation with an open task due was observed (mapcells.py), so the
    # dashboard lists the overdue ones newest first off an index, not every observation's
    # links.
    mapcells.add_due_observed(db)


@migrations()
def m061_text_keys_category(db: Database) -> None:
    # An observation's key in the text index holds its category (textsearch.py), so the map
    # of a text search with a category counts the hits' keys without reading their rows.
    textsearch.rebuild(db)


@migrations()
def m062_map_due_days(db: Database) -> None:
    # Open tasks (and observations by their first) by the day they are due on besides the
    # month and year (mapcells.py), so the map of what is overdue is cells alone: it read
    # this month's days from the rows, more of them each day of the month.
    mapcells.add_facets(
        db,
        {
            "tasks": (mapcells.TASK_DUE_DAY,),
            "observation_due": (mapcells.OBSERVATION_DUE_DAY,),
        },
    )


@migrations()
def m063_text_index_merged(db: Database) -> None:
    # The text index in one segment per kind (textsearch.merge_segments): m061's rebuild left
    # a score, each read on every search.
    textsearch.merge_segments(db)


@migrations()
def m064_text_keys_open(db: Database) -> None:
    # A row's key in the text index says whether it is open (textsearch.py: a task in an open
    # state, an observation with such a task), so a text search of the open ones counts its
    # hits' keys without reading their rows.
    textsearch.rebuild(db)
