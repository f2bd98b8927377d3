-- ESS Bench fleet store, migration 0004: the operator's requests and answers, abort requests from the
-- operator view, and the high-rate capture's chunk index (journal schema 3).
--
-- An auditor reads who answered which prompt, from where, and who asked for an abort, beside the
-- run's results; the capture index gives each Parquet file's SHA-256, so a file fetched later is
-- checked against what the station journalled. Stations that synchronised before this migration
-- stored these rows losslessly in journal_rows. The journal's `live` table (the operator view's
-- latest status, rewritten in place) is not synchronised: it is a display cache, not a result.

CREATE TABLE fleet.requests (
    run_id text NOT NULL, _local_id bigint NOT NULL, _rev integer NOT NULL DEFAULT 0 CHECK (_rev >= 0),
    _station text NOT NULL, _sha256 text NOT NULL, _synced_at timestamptz NOT NULL DEFAULT now(), _more jsonb,
    step text, kind text, key text, question text, spec_json text, t double precision, wall text,
    PRIMARY KEY (run_id, _local_id, _rev),
    FOREIGN KEY (_station, run_id) REFERENCES fleet.runs (_station, run_id)
);
CREATE TABLE fleet.answers (
    run_id text NOT NULL, _local_id bigint NOT NULL, _rev integer NOT NULL DEFAULT 0 CHECK (_rev >= 0),
    _station text NOT NULL, _sha256 text NOT NULL, _synced_at timestamptz NOT NULL DEFAULT now(), _more jsonb,
    request_id bigint, answer text, answered_by text, origin text, withdrawn bigint, wall text,
    PRIMARY KEY (run_id, _local_id, _rev),
    FOREIGN KEY (_station, run_id) REFERENCES fleet.runs (_station, run_id)
);
CREATE TABLE fleet.abort_requests (
    run_id text NOT NULL, _local_id bigint NOT NULL, _rev integer NOT NULL DEFAULT 0 CHECK (_rev >= 0),
    _station text NOT NULL, _sha256 text NOT NULL, _synced_at timestamptz NOT NULL DEFAULT now(), _more jsonb,
    requested_by text, origin text, reason text, wall text,
    PRIMARY KEY (run_id, _local_id, _rev),
    FOREIGN KEY (_station, run_id) REFERENCES fleet.runs (_station, run_id)
);
CREATE TABLE fleet.telemetry_chunks (
    run_id text NOT NULL, _local_id bigint NOT NULL, _rev integer NOT NULL DEFAULT 0 CHECK (_rev >= 0),
    _station text NOT NULL, _sha256 text NOT NULL, _synced_at timestamptz NOT NULL DEFAULT now(), _more jsonb,
    step text, kind text, grp text, file text, idx bigint, rows bigint, samples bigint,
    t_first double precision, t_last double precision, sha256 text, size bigint, wall text, session bigint,
    PRIMARY KEY (run_id, _local_id, _rev),
    FOREIGN KEY (_station, run_id) REFERENCES fleet.runs (_station, run_id)
);

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['requests', 'answers', 'abort_requests', 'telemetry_chunks'] LOOP
        EXECUTE format('GRANT SELECT, INSERT ON fleet.%I TO fleet_station', t);
        EXECUTE format('GRANT SELECT ON fleet.%I TO fleet_auditor', t);
        EXECUTE format('ALTER TABLE fleet.%I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY station_inserts_own ON fleet.%I FOR INSERT TO fleet_station WITH CHECK '
                       '(_station IN (SELECT station_id FROM fleet.stations WHERE db_role = current_user))', t);
        EXECUTE format('CREATE POLICY station_reads_own ON fleet.%I FOR SELECT TO fleet_station USING '
                       '(_station IN (SELECT station_id FROM fleet.stations WHERE db_role = current_user))', t);
        EXECUTE format('CREATE POLICY auditor_reads ON fleet.%I FOR SELECT TO fleet_auditor USING (true)', t);
    END LOOP;
END
$$;

-- A module whose latest run has no grade (aborted, or completed without one) is quarantined and
-- counts against yield, as the station's batch summary says (bench.batch.settle_ungraded). Same
-- columns as before; the `aborted` and `no grade` counts of v_batch_yield stay, now always zero.
CREATE OR REPLACE VIEW fleet.v_batch_modules WITH (security_invoker = true) AS
SELECT DISTINCT ON (r.batch_id, r.dut_serial) r.batch_id, r.dut_serial, r.run_id, r.station_id, r.plan, r.status,
       r.verdict, r.started_at, g.grade, g.route, g.rule, g.measurement, g.value,
       coalesce(g.grade, 'quarantine') AS outcome
  FROM fleet.v_runs r LEFT JOIN fleet.v_grades g USING (run_id)
 WHERE r.batch_id IS NOT NULL AND r.batch_id <> ''
 ORDER BY r.batch_id, r.dut_serial, r.started_at DESC NULLS LAST, r.run_id DESC;
