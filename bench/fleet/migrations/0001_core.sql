-- ESS Bench fleet store, migration 0001: the synchronised journal, report folders, sync bookkeeping,
-- grants and row-level security.
--
-- Applied by `bench fleet migrate` as role fleet_admin (which then owns every object), inside one
-- transaction with the version row. The roles fleet_admin, fleet_station and fleet_auditor and the
-- schema fleet exist already (the migration runner creates them first).
--
-- Every synchronised journal row is identified by (run_id, _local_id): the run it belongs to and its
-- integer id (rowid) in the station's journal. Rows are never updated: a journal row that changes
-- locally (a step closed, a run finished) is stored again as a new revision (_rev + 1); the views
-- (migration 0002) show the latest revision. _sha256 is the digest of the journal row
-- (bench/fleet/digest.py), _more holds journal columns this schema does not have (yet) or values
-- whose type does not fit the typed column, so nothing is ever lost.

CREATE TABLE fleet.stations (
    station_id    text PRIMARY KEY CONSTRAINT station_id_format CHECK (station_id ~ '^[A-Za-z0-9._ -]{1,64}$'),
    db_role       name NOT NULL,
    description   text NOT NULL DEFAULT '',
    registered_at timestamptz NOT NULL DEFAULT now(),
    registered_by name NOT NULL DEFAULT current_user
);
CREATE INDEX stations_db_role ON fleet.stations (db_role);

-- One row per run, written once: which station (and which of its journals) the run came from.
CREATE TABLE fleet.runs (
    run_id        text PRIMARY KEY,
    _station      text NOT NULL REFERENCES fleet.stations (station_id),
    _journal      text NOT NULL,
    _first_synced timestamptz NOT NULL DEFAULT now(),
    UNIQUE (_station, run_id)
);

-- The journal's runs row, one revision per distinct state seen (RUNNING, then COMPLETED ...).
CREATE TABLE fleet.run_states (
    run_id         text NOT NULL,
    _rev           integer NOT NULL CHECK (_rev >= 0),
    _station       text NOT NULL,
    _sha256        text NOT NULL,
    _status        text NOT NULL,  -- effective status: a RUNNING run whose process is gone is ABORTED
    _status_reason text,
    _synced_at     timestamptz NOT NULL DEFAULT now(),
    _more          jsonb,
    plan text, plan_version text, station text, station_json text, dut_serial text, dut_json text,
    operator text, limits_json text, code_version text, site text, mode text, simulated bigint,
    started_wall text, ended_wall text, status text, verdict text, reason text, pid bigint, host text,
    batch_id text, amends text, extra_json text,
    PRIMARY KEY (run_id, _rev),
    FOREIGN KEY (_station, run_id) REFERENCES fleet.runs (_station, run_id)
);

CREATE TABLE fleet.steps (
    run_id text NOT NULL, _local_id bigint NOT NULL, _rev integer NOT NULL DEFAULT 0 CHECK (_rev >= 0),
    _station text NOT NULL, _sha256 text NOT NULL, _synced_at timestamptz NOT NULL DEFAULT now(), _more jsonb,
    nodeid text, name text, clauses_json text, plan_level text, started_wall text, started_t double precision,
    ended_wall text, ended_t double precision, outcome text, verdict text, message text,
    PRIMARY KEY (run_id, _local_id, _rev),
    FOREIGN KEY (_station, run_id) REFERENCES fleet.runs (_station, run_id)
);

CREATE TABLE fleet.measurements (
    run_id text NOT NULL, _local_id bigint NOT NULL, _rev integer NOT NULL DEFAULT 0 CHECK (_rev >= 0),
    _station text NOT NULL, _sha256 text NOT NULL, _synced_at timestamptz NOT NULL DEFAULT now(), _more jsonb,
    step text, name text, value double precision, unit text, uncertainty double precision, limit_json text,
    verdict text, reason text, grade text, clause text, instrument text, instrument_json text,
    t double precision, wall text, required bigint, note text,
    PRIMARY KEY (run_id, _local_id, _rev),
    FOREIGN KEY (_station, run_id) REFERENCES fleet.runs (_station, run_id)
);
CREATE INDEX measurements_name ON fleet.measurements (name);

CREATE TABLE fleet.events (
    run_id text NOT NULL, _local_id bigint NOT NULL, _rev integer NOT NULL DEFAULT 0 CHECK (_rev >= 0),
    _station text NOT NULL, _sha256 text NOT NULL, _synced_at timestamptz NOT NULL DEFAULT now(), _more jsonb,
    step text, kind text, message text, data_json text, t double precision, wall text,
    PRIMARY KEY (run_id, _local_id, _rev),
    FOREIGN KEY (_station, run_id) REFERENCES fleet.runs (_station, run_id)
);
CREATE INDEX events_kind ON fleet.events (kind, run_id);

CREATE TABLE fleet.series (
    run_id text NOT NULL, _local_id bigint NOT NULL, _rev integer NOT NULL DEFAULT 0 CHECK (_rev >= 0),
    _station text NOT NULL, _sha256 text NOT NULL, _synced_at timestamptz NOT NULL DEFAULT now(), _more jsonb,
    step text, name text, unit text, t double precision, value double precision,
    PRIMARY KEY (run_id, _local_id, _rev),
    FOREIGN KEY (_station, run_id) REFERENCES fleet.runs (_station, run_id)
);

CREATE TABLE fleet.attachments (
    run_id text NOT NULL, _local_id bigint NOT NULL, _rev integer NOT NULL DEFAULT 0 CHECK (_rev >= 0),
    _station text NOT NULL, _sha256 text NOT NULL, _synced_at timestamptz NOT NULL DEFAULT now(), _more jsonb,
    step text, name text, kind text, content bytea, wall text,
    PRIMARY KEY (run_id, _local_id, _rev),
    FOREIGN KEY (_station, run_id) REFERENCES fleet.runs (_station, run_id)
);

-- Rows of journal tables this schema has no typed table for (added to the journal after this
-- migration): stored whole as JSON, so a new journal table synchronises without a code change.
CREATE TABLE fleet.journal_rows (
    tbl text NOT NULL, run_id text NOT NULL, _local_id bigint NOT NULL,
    _rev integer NOT NULL DEFAULT 0 CHECK (_rev >= 0),
    _station text NOT NULL, _sha256 text NOT NULL, _synced_at timestamptz NOT NULL DEFAULT now(),
    row_data jsonb NOT NULL,
    PRIMARY KEY (tbl, run_id, _local_id, _rev),
    FOREIGN KEY (_station, run_id) REFERENCES fleet.runs (_station, run_id)
);

-- High-water marks: after each committed batch, the highest local id sent for (station, journal,
-- table), with the run that row belongs to, so a replaced or restored journal (whose row at that id
-- belongs to another run, or is missing) is noticed. Append-only like the rest.
CREATE TABLE fleet.sync_marks (
    _seq      bigserial PRIMARY KEY,
    _station  text NOT NULL REFERENCES fleet.stations (station_id),
    _journal  text NOT NULL,
    tbl       text NOT NULL,
    high_id   bigint NOT NULL,
    high_run_id text,
    _at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sync_marks_latest ON fleet.sync_marks (_station, _journal, tbl, _seq DESC);

-- One row per finished (or failed) synchronisation, for `bench fleet status`.
CREATE TABLE fleet.sync_sessions (
    _seq           bigserial PRIMARY KEY,
    _station       text NOT NULL REFERENCES fleet.stations (station_id),
    _journal       text NOT NULL,
    started_at     timestamptz NOT NULL,
    ended_at       timestamptz NOT NULL DEFAULT now(),
    host           text NOT NULL DEFAULT '',
    client_version text NOT NULL DEFAULT '',
    outcome        text NOT NULL,
    rows_sent      jsonb NOT NULL DEFAULT '{}',
    files_sent     integer NOT NULL DEFAULT 0,
    bytes_sent     bigint NOT NULL DEFAULT 0,
    message        text NOT NULL DEFAULT ''
);

-- Report-folder files, content-addressed: chunks of at most a few MiB (each checked against its
-- SHA-256 by the server), and blobs = whole files listing their chunks. Shared by all stations.
CREATE TABLE fleet.chunks (
    sha256  text PRIMARY KEY CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    content bytea NOT NULL,
    CONSTRAINT chunk_content_matches_hash CHECK (encode(sha256(content), 'hex') = sha256)
);
CREATE TABLE fleet.blobs (
    sha256    text PRIMARY KEY CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    size      bigint NOT NULL CHECK (size >= 0),
    chunks    text[] NOT NULL,
    stored_at timestamptz NOT NULL DEFAULT now(),
    stored_by name NOT NULL DEFAULT current_user
);

CREATE FUNCTION fleet.check_blob() RETURNS trigger LANGUAGE plpgsql
SET search_path = pg_catalog, fleet AS $$
DECLARE
    have integer;
    total bigint;
BEGIN
    SELECT count(*), coalesce(sum(octet_length(c.content)), 0) INTO have, total
      FROM unnest(NEW.chunks) AS u(h) JOIN fleet.chunks c ON c.sha256 = u.h;
    IF have <> cardinality(NEW.chunks) THEN
        RAISE EXCEPTION 'blob %: % of % chunks are missing', NEW.sha256, cardinality(NEW.chunks) - have,
            cardinality(NEW.chunks);
    END IF;
    IF total <> NEW.size THEN
        RAISE EXCEPTION 'blob %: chunks hold % bytes, the file has %', NEW.sha256, total, NEW.size;
    END IF;
    -- whole-file hash, checked here up to 256 MiB (bigger files are checked when fetched)
    IF NEW.size <= 268435456 AND encode(sha256(coalesce(
           (SELECT string_agg(c.content, ''::bytea ORDER BY u.n)
              FROM unnest(NEW.chunks) WITH ORDINALITY AS u(h, n) JOIN fleet.chunks c ON c.sha256 = u.h),
           ''::bytea)), 'hex') <> NEW.sha256 THEN
        RAISE EXCEPTION 'blob %: the chunks do not hash to the file''s SHA-256', NEW.sha256;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER blob_complete BEFORE INSERT ON fleet.blobs FOR EACH ROW EXECUTE FUNCTION fleet.check_blob();

-- A report folder as found at one sync: relative paths with SHA-256, size and the station's
-- mtime (only used to skip re-hashing unchanged files). A later change adds a revision.
CREATE TABLE fleet.folders (
    run_id     text NOT NULL,
    folder     text NOT NULL CHECK (folder ~ '^[^/\\]+$' AND folder NOT IN ('.', '..')),
    _rev       integer NOT NULL CHECK (_rev >= 0),
    _station   text NOT NULL,
    _sha256    text NOT NULL,
    _synced_at timestamptz NOT NULL DEFAULT now(),
    files      jsonb NOT NULL,
    dirs       jsonb NOT NULL DEFAULT '[]',
    PRIMARY KEY (run_id, folder, _rev),
    FOREIGN KEY (_station, run_id) REFERENCES fleet.runs (_station, run_id)
);

CREATE FUNCTION fleet.check_folder() RETURNS trigger LANGUAGE plpgsql
SET search_path = pg_catalog, fleet AS $$
DECLARE
    missing text;
BEGIN
    SELECT f->>'sha256' INTO missing FROM jsonb_array_elements(NEW.files) AS f
     WHERE NOT EXISTS (SELECT 1 FROM fleet.blobs b WHERE b.sha256 = f->>'sha256') LIMIT 1;
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'folder % of run %: file content % has not been stored', NEW.folder, NEW.run_id, missing;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER folder_complete BEFORE INSERT ON fleet.folders FOR EACH ROW EXECUTE FUNCTION fleet.check_folder();

-- Privileges: stations insert and read back their own rows, never update or delete; auditors
-- read everything; fleet_admin owns the objects (migrations, station registration).
GRANT USAGE ON SCHEMA fleet TO fleet_station, fleet_auditor;
GRANT SELECT ON ALL TABLES IN SCHEMA fleet TO fleet_auditor;
GRANT SELECT ON fleet.stations TO fleet_station;
GRANT SELECT, INSERT ON fleet.runs, fleet.run_states, fleet.steps, fleet.measurements, fleet.events,
    fleet.series, fleet.attachments, fleet.journal_rows, fleet.sync_marks, fleet.sync_sessions,
    fleet.folders, fleet.chunks, fleet.blobs TO fleet_station;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA fleet TO fleet_station;

ALTER TABLE fleet.stations ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_station ON fleet.stations FOR SELECT TO fleet_station USING (db_role = current_user);
CREATE POLICY auditor_reads ON fleet.stations FOR SELECT TO fleet_auditor USING (true);

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['runs', 'run_states', 'steps', 'measurements', 'events', 'series', 'attachments',
                             'journal_rows', 'sync_marks', 'sync_sessions', 'folders'] LOOP
        EXECUTE format('ALTER TABLE fleet.%I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY station_inserts_own ON fleet.%I FOR INSERT TO fleet_station WITH CHECK '
                       '(_station IN (SELECT station_id FROM fleet.stations WHERE db_role = current_user))', t);
        EXECUTE format('CREATE POLICY station_reads_own ON fleet.%I FOR SELECT TO fleet_station USING '
                       '(_station IN (SELECT station_id FROM fleet.stations WHERE db_role = current_user))', t);
        EXECUTE format('CREATE POLICY auditor_reads ON fleet.%I FOR SELECT TO fleet_auditor USING (true)', t);
    END LOOP;
END $$;
