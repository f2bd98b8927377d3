-- ESS Bench fleet store, migration 0003: run sessions (resume) and the journal's new columns.
--
-- The journal gained a sessions table (one row per session of a run: the first, then one per
-- `bench run --resume`), a session number on steps and measurements, and the series check of a
-- measurement (series, aggregate). Stations that synchronised before this migration stored them
-- losslessly (sessions in journal_rows, the columns in _more); the views read both places.
-- A measurement is superseded when its step attempt was interrupted (the step is rerun on resume).

ALTER TABLE fleet.steps ADD COLUMN session bigint;
ALTER TABLE fleet.measurements ADD COLUMN session bigint, ADD COLUMN series text, ADD COLUMN aggregate text;

CREATE TABLE fleet.sessions (
    run_id text NOT NULL, _local_id bigint NOT NULL, _rev integer NOT NULL DEFAULT 0 CHECK (_rev >= 0),
    _station text NOT NULL, _sha256 text NOT NULL, _synced_at timestamptz NOT NULL DEFAULT now(), _more jsonb,
    n bigint, operator text, started_wall text, ended_wall text, pid bigint, host text, code_version text,
    t_offset double precision, end_status text, end_reason text,
    PRIMARY KEY (run_id, _local_id, _rev),
    FOREIGN KEY (_station, run_id) REFERENCES fleet.runs (_station, run_id)
);
GRANT SELECT, INSERT ON fleet.sessions TO fleet_station;
GRANT SELECT ON fleet.sessions TO fleet_auditor;
ALTER TABLE fleet.sessions ENABLE ROW LEVEL SECURITY;
CREATE POLICY station_inserts_own ON fleet.sessions FOR INSERT TO fleet_station WITH CHECK
    (_station IN (SELECT station_id FROM fleet.stations WHERE db_role = current_user));
CREATE POLICY station_reads_own ON fleet.sessions FOR SELECT TO fleet_station USING
    (_station IN (SELECT station_id FROM fleet.stations WHERE db_role = current_user));
CREATE POLICY auditor_reads ON fleet.sessions FOR SELECT TO fleet_auditor USING (true);

CREATE FUNCTION fleet.more_int(more jsonb, col text) RETURNS bigint LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN jsonb_typeof(more -> col) = 'number' THEN (more ->> col)::numeric::bigint END
$$;

-- Same columns as before, then the new ones (CREATE OR REPLACE VIEW may only add at the end).
CREATE OR REPLACE VIEW fleet.v_steps WITH (security_invoker = true) AS
SELECT st.run_id, st._local_id AS step_id, r.station_id, r.dut_serial, st.nodeid, st.name,
       fleet.js(st.clauses_json) AS clauses, st.plan_level, fleet.ts(st.started_wall) AS started_at,
       fleet.ts(st.ended_wall) AS ended_at, st.started_t, st.ended_t, st.outcome, st.verdict, st.message,
       coalesce(st.session, fleet.more_int(st._more, 'session'), 1) AS session
  FROM fleet.steps st JOIN fleet.v_runs r USING (run_id)
 WHERE NOT EXISTS (SELECT 1 FROM fleet.steps n WHERE n.run_id = st.run_id AND n._local_id = st._local_id
                     AND n._rev > st._rev);

CREATE OR REPLACE VIEW fleet.v_measurements WITH (security_invoker = true) AS
SELECT m.run_id, m._local_id AS measurement_id, r.station_id, r.station_name, r.plan, r.dut_serial, r.batch_id,
       r.status AS run_status, r.simulated, r.started_at AS run_started_at, m.step, m.name, m.value, m.unit,
       m.uncertainty, m.verdict, m.reason, m.grade, m.clause, m.instrument, fleet.ts(m.wall) AS measured_at, m.t,
       l.doc ->> 'limit_set' AS limit_set, l.doc ->> 'limit_set_version' AS limit_set_version,
       fleet.num(l.doc -> 'low') AS limit_low, fleet.num(l.doc -> 'high') AS limit_high,
       m.required = 1 AS required, m.note,
       s.session,
       EXISTS (SELECT 1 FROM fleet.v_steps st WHERE st.run_id = m.run_id AND st.nodeid = m.step
                 AND st.session = s.session AND st.outcome = 'interrupted') AS superseded,
       coalesce(m.series, m._more ->> 'series') AS series, coalesce(m.aggregate, m._more ->> 'aggregate') AS aggregate
  FROM fleet.measurements m
  JOIN fleet.v_runs r USING (run_id)
  CROSS JOIN LATERAL (SELECT fleet.js(m.limit_json) AS doc) l
  CROSS JOIN LATERAL (SELECT coalesce(m.session, fleet.more_int(m._more, 'session'), 1) AS session) s
 WHERE NOT EXISTS (SELECT 1 FROM fleet.measurements n WHERE n.run_id = m.run_id AND n._local_id = m._local_id
                     AND n._rev > m._rev);

-- Statistics leave superseded results out too (a step cut by a crash and rerun counts once).
CREATE OR REPLACE FUNCTION fleet.measurement_stats(since timestamptz, until timestamptz)
RETURNS TABLE (name text, unit text, limit_low double precision, limit_high double precision, station_id text,
               n bigint, mean double precision, sd double precision, min double precision, max double precision,
               median double precision, fails bigint, cpk double precision, fleet_n bigint,
               fleet_median double precision, bias double precision, bias_in_fleet_sd double precision,
               drift_per_day double precision, first_at timestamptz, last_at timestamptz)
LANGUAGE sql STABLE AS $$
WITH m AS (
    SELECT * FROM fleet.v_measurements
     WHERE value IS NOT NULL AND verdict IS DISTINCT FROM 'INDETERMINATE' AND NOT superseded
       AND (since IS NULL OR measured_at >= since) AND (until IS NULL OR measured_at < until)
), f AS (
    SELECT m.name, m.unit, m.limit_low, m.limit_high, count(*) AS fleet_n,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY m.value) AS fleet_median, stddev_samp(m.value) AS fleet_sd
      FROM m GROUP BY m.name, m.unit, m.limit_low, m.limit_high
), s AS (
    SELECT m.name, m.unit, m.limit_low, m.limit_high, m.station_id, count(*) AS n, avg(m.value) AS mean,
           stddev_samp(m.value) AS sd, min(m.value) AS min, max(m.value) AS max,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY m.value) AS median,
           count(*) FILTER (WHERE m.verdict = 'FAIL') AS fails,
           regr_slope(m.value, extract(epoch FROM m.measured_at) / 86400.0) AS drift_per_day,
           min(m.measured_at) AS first_at, max(m.measured_at) AS last_at
      FROM m GROUP BY m.name, m.unit, m.limit_low, m.limit_high, m.station_id
)
SELECT s.name, s.unit, s.limit_low, s.limit_high, s.station_id, s.n, s.mean, s.sd, s.min, s.max, s.median, s.fails,
       CASE WHEN s.sd > 0 THEN least(s.limit_high - s.mean, s.mean - s.limit_low) / (3 * s.sd) END,
       f.fleet_n, f.fleet_median, s.mean - f.fleet_median,
       CASE WHEN f.fleet_sd > 0 THEN (s.mean - f.fleet_median) / f.fleet_sd END,
       s.drift_per_day, s.first_at, s.last_at
  FROM s JOIN f ON f.name = s.name AND f.unit IS NOT DISTINCT FROM s.unit
              AND f.limit_low IS NOT DISTINCT FROM s.limit_low AND f.limit_high IS NOT DISTINCT FROM s.limit_high
$$;

-- Sessions of every run, from the typed table or (synchronised before this migration) journal_rows.
CREATE VIEW fleet.v_sessions WITH (security_invoker = true) AS
WITH rows AS (
    SELECT s.run_id, s._local_id, s._rev, s.n, s.operator, s.started_wall, s.ended_wall, s.host, s.code_version,
           s.end_status, s.end_reason
      FROM fleet.sessions s
    UNION ALL
    SELECT j.run_id, j._local_id, j._rev, fleet.more_int(j.row_data, 'n'), j.row_data ->> 'operator',
           j.row_data ->> 'started_wall', j.row_data ->> 'ended_wall', j.row_data ->> 'host',
           j.row_data ->> 'code_version', j.row_data ->> 'end_status', j.row_data ->> 'end_reason'
      FROM fleet.journal_rows j WHERE j.tbl = 'sessions'
), latest AS (
    SELECT DISTINCT ON (run_id, _local_id) * FROM rows ORDER BY run_id, _local_id, _rev DESC
)
SELECT l.run_id, r.station_id, r.dut_serial, l.n AS session, l.operator, fleet.ts(l.started_wall) AS started_at,
       fleet.ts(l.ended_wall) AS ended_at, l.host, l.code_version, l.end_status, l.end_reason
  FROM latest l JOIN fleet.v_runs r USING (run_id);

GRANT SELECT ON fleet.v_sessions TO fleet_auditor, fleet_station;
