-- ESS Bench fleet store, migration 0002: the views people and BI tools query (docs/fleet.md).
--
-- Every view shows the latest revision of each row and is security_invoker: a station role sees
-- its own rows only (row-level security applies through the view), an auditor sees everything.
-- Journal text (ISO times, JSON) is parsed leniently: a malformed value reads as NULL, never as an
-- error that breaks a dashboard.

CREATE FUNCTION fleet.ts(value text) RETURNS timestamptz LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN value::timestamptz;
EXCEPTION WHEN others THEN
    RETURN NULL;
END $$;

CREATE FUNCTION fleet.js(value text) RETURNS jsonb LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RETURN value::jsonb;
EXCEPTION WHEN others THEN
    RETURN NULL;
END $$;

CREATE FUNCTION fleet.num(value jsonb) RETURNS double precision LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN jsonb_typeof(value) = 'number' THEN (value #>> '{}')::double precision END
$$;

-- Runs: the latest state of each run. status is the effective one (a RUNNING run whose process
-- was gone when the station synchronised reads ABORTED); journal_status is what the row says.
CREATE VIEW fleet.v_runs WITH (security_invoker = true) AS
SELECT r.run_id, r._station AS station_id, s.station AS station_name, s.plan, s.plan_version, s.dut_serial,
       s.batch_id, s._status AS status, s.status AS journal_status, s.verdict,
       coalesce(nullif(s.reason, ''), nullif(s._status_reason, '')) AS reason,
       fleet.ts(s.started_wall) AS started_at, fleet.ts(s.ended_wall) AS ended_at, s.operator, s.site, s.mode,
       s.simulated = 1 AS simulated, s.code_version, s.amends, fleet.js(s.station_json) AS station_json,
       fleet.js(s.dut_json) AS dut_json, fleet.js(s.limits_json) AS limit_sets, s.host, s._rev AS state_revision,
       r._first_synced AS first_synced, s._synced_at AS state_synced
  FROM fleet.runs r
  JOIN LATERAL (SELECT * FROM fleet.run_states st WHERE st.run_id = r.run_id ORDER BY st._rev DESC LIMIT 1) s
    ON true;

CREATE VIEW fleet.v_steps WITH (security_invoker = true) AS
SELECT st.run_id, st._local_id AS step_id, r.station_id, r.dut_serial, st.nodeid, st.name,
       fleet.js(st.clauses_json) AS clauses, st.plan_level, fleet.ts(st.started_wall) AS started_at,
       fleet.ts(st.ended_wall) AS ended_at, st.started_t, st.ended_t, st.outcome, st.verdict, st.message
  FROM fleet.steps st JOIN fleet.v_runs r USING (run_id)
 WHERE NOT EXISTS (SELECT 1 FROM fleet.steps n WHERE n.run_id = st.run_id AND n._local_id = st._local_id
                     AND n._rev > st._rev);

CREATE VIEW fleet.v_measurements WITH (security_invoker = true) AS
SELECT m.run_id, m._local_id AS measurement_id, r.station_id, r.station_name, r.plan, r.dut_serial, r.batch_id,
       r.status AS run_status, r.simulated, r.started_at AS run_started_at, m.step, m.name, m.value, m.unit,
       m.uncertainty, m.verdict, m.reason, m.grade, m.clause, m.instrument, fleet.ts(m.wall) AS measured_at, m.t,
       l.doc ->> 'limit_set' AS limit_set, l.doc ->> 'limit_set_version' AS limit_set_version,
       fleet.num(l.doc -> 'low') AS limit_low, fleet.num(l.doc -> 'high') AS limit_high,
       m.required = 1 AS required, m.note
  FROM fleet.measurements m
  JOIN fleet.v_runs r USING (run_id)
  CROSS JOIN LATERAL (SELECT fleet.js(m.limit_json) AS doc) l
 WHERE NOT EXISTS (SELECT 1 FROM fleet.measurements n WHERE n.run_id = m.run_id AND n._local_id = m._local_id
                     AND n._rev > m._rev);

CREATE VIEW fleet.v_events WITH (security_invoker = true) AS
SELECT e.run_id, e._local_id AS event_id, r.station_id, r.dut_serial, e.step, e.kind, e.message,
       fleet.js(e.data_json) AS data, e.t, fleet.ts(e.wall) AS at
  FROM fleet.events e JOIN fleet.v_runs r USING (run_id)
 WHERE NOT EXISTS (SELECT 1 FROM fleet.events n WHERE n.run_id = e.run_id AND n._local_id = e._local_id
                     AND n._rev > e._rev);

-- The grade of a run: its last "grade" event (the plan decides it; bench/batch.py reads the same).
CREATE VIEW fleet.v_grades WITH (security_invoker = true) AS
SELECT DISTINCT ON (e.run_id) e.run_id, nullif(e.data ->> 'grade', '') AS grade, e.data ->> 'route' AS route,
       e.data ->> 'rule' AS rule, e.data ->> 'measurement' AS measurement, e.data ->> 'value' AS value
  FROM fleet.v_events e
 WHERE e.kind = 'grade'
 ORDER BY e.run_id, e.event_id DESC;

-- One row per module of a batch: its latest run (as `bench run --dut-list` summarises it).
CREATE VIEW fleet.v_batch_modules WITH (security_invoker = true) AS
SELECT DISTINCT ON (r.batch_id, r.dut_serial) r.batch_id, r.dut_serial, r.run_id, r.station_id, r.plan, r.status,
       r.verdict, r.started_at, g.grade, g.route, g.rule, g.measurement, g.value,
       coalesce(g.grade, CASE WHEN r.status = 'ABORTED' THEN 'aborted' ELSE 'no grade' END) AS outcome
  FROM fleet.v_runs r LEFT JOIN fleet.v_grades g USING (run_id)
 WHERE r.batch_id IS NOT NULL AND r.batch_id <> ''
 ORDER BY r.batch_id, r.dut_serial, r.started_at DESC NULLS LAST, r.run_id DESC;

CREATE VIEW fleet.v_batch_yield WITH (security_invoker = true) AS
SELECT batch_id, min(started_at) AS first_run, max(started_at) AS last_run,
       string_agg(DISTINCT station_id, ', ') AS stations, count(*) AS modules,
       count(*) FILTER (WHERE outcome IN ('A', 'B', 'C')) AS reusable,
       round(100.0 * count(*) FILTER (WHERE outcome IN ('A', 'B', 'C')) / count(*), 1) AS yield_percent,
       count(*) FILTER (WHERE outcome = 'A') AS grade_a, count(*) FILTER (WHERE outcome = 'B') AS grade_b,
       count(*) FILTER (WHERE outcome = 'C') AS grade_c,
       count(*) FILTER (WHERE outcome = 'quarantine') AS quarantine,
       count(*) FILTER (WHERE outcome = 'recycle') AS recycle, count(*) FILTER (WHERE outcome = 'aborted') AS aborted,
       count(*) FILTER (WHERE outcome = 'no grade') AS no_grade
  FROM fleet.v_batch_modules
 GROUP BY batch_id;

-- Measurement statistics per limit and station (all time in the view; a window through the
-- function): Cpk against the limit (one-sided where the limit
-- is), the station's bias against the fleet median for the same limit, drift as a least-squares
-- slope per day. INDETERMINATE results (implausible, uncalibrated) are left out.
CREATE FUNCTION fleet.measurement_stats(since timestamptz, until timestamptz)
RETURNS TABLE (name text, unit text, limit_low double precision, limit_high double precision, station_id text,
               n bigint, mean double precision, sd double precision, min double precision, max double precision,
               median double precision, fails bigint, cpk double precision, fleet_n bigint,
               fleet_median double precision, bias double precision, bias_in_fleet_sd double precision,
               drift_per_day double precision, first_at timestamptz, last_at timestamptz)
LANGUAGE sql STABLE AS $$
WITH m AS (
    SELECT * FROM fleet.v_measurements
     WHERE value IS NOT NULL AND verdict IS DISTINCT FROM 'INDETERMINATE'
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

CREATE VIEW fleet.v_measurement_stats WITH (security_invoker = true) AS
SELECT * FROM fleet.measurement_stats(NULL, NULL);

-- Calibration of each station's instruments, as journalled in the station's latest run.
CREATE FUNCTION fleet.calibration(on_date date, warn_days integer)
RETURNS TABLE (station_id text, as_of_run text, as_of timestamptz, role text, make text, model text, serial text,
               certificate text, lab text, due date, days_left integer, status text, simulated boolean)
LANGUAGE sql STABLE AS $$
WITH latest AS (
    SELECT DISTINCT ON (station_id) station_id, run_id, started_at, station_json
      FROM fleet.v_runs WHERE station_json IS NOT NULL
     ORDER BY station_id, started_at DESC NULLS LAST, run_id DESC
)
SELECT l.station_id, l.run_id AS as_of_run, l.started_at AS as_of, role.key AS role, role.value ->> 'make' AS make,
       role.value ->> 'model' AS model, role.value ->> 'serial' AS serial, c0.cal ->> 'certificate' AS certificate,
       c0.cal ->> 'lab' AS lab, c.due, c.due - on_date AS days_left,
       CASE WHEN c0.cal IS NULL THEN 'NO RECORD' WHEN c.due IS NULL THEN 'NO DUE DATE'
            WHEN c.due < on_date THEN 'EXPIRED' WHEN c.due < on_date + warn_days THEN 'DUE SOON'
            ELSE 'OK' END AS status,
       role.value ->> 'resource' = 'sim' AS simulated
  FROM latest l
 CROSS JOIN LATERAL jsonb_each(coalesce(l.station_json -> 'roles', '{}'::jsonb)) AS role
 CROSS JOIN LATERAL (SELECT CASE WHEN jsonb_typeof(role.value -> 'calibration') = 'object'
                                 THEN role.value -> 'calibration' END AS cal) c0
 CROSS JOIN LATERAL (SELECT CASE WHEN (c0.cal ->> 'due') ~ '^\d{4}-\d{2}-\d{2}$'
                                 THEN fleet.ts(c0.cal ->> 'due')::date END AS due) c
$$;

CREATE VIEW fleet.v_calibration WITH (security_invoker = true) AS
SELECT * FROM fleet.calibration(current_date, 30);

-- ABORTED runs nobody has followed up: no later COMPLETED run of the same DUT and plan, anywhere.
CREATE VIEW fleet.v_open_aborted WITH (security_invoker = true) AS
SELECT r.run_id, r.station_id, r.plan, r.dut_serial, r.batch_id, r.started_at, r.ended_at, r.journal_status,
       r.reason, now() - r.started_at AS age
  FROM fleet.v_runs r
 WHERE r.status = 'ABORTED'
   AND NOT EXISTS (SELECT 1 FROM fleet.v_runs later
                    WHERE later.dut_serial = r.dut_serial AND later.plan IS NOT DISTINCT FROM r.plan
                      AND later.status = 'COMPLETED' AND later.started_at > r.started_at);

-- Per station: runs held, the newest run, the last synchronisation and how it went.
CREATE VIEW fleet.v_sync_status WITH (security_invoker = true) AS
SELECT st.station_id, st.db_role, (SELECT count(*) FROM fleet.runs r WHERE r._station = st.station_id) AS runs,
       (SELECT max(fleet.ts(s.started_wall)) FROM fleet.run_states s WHERE s._station = st.station_id) AS newest_run,
       ss.ended_at AS last_sync, ss.outcome AS last_outcome, ss.host AS last_host, ss.message AS last_message
  FROM fleet.stations st
  LEFT JOIN LATERAL (SELECT * FROM fleet.sync_sessions x WHERE x._station = st.station_id
                      ORDER BY x._seq DESC LIMIT 1) ss ON true;

GRANT SELECT ON fleet.v_runs, fleet.v_steps, fleet.v_measurements, fleet.v_events, fleet.v_grades,
    fleet.v_batch_modules, fleet.v_batch_yield, fleet.v_measurement_stats, fleet.v_calibration,
    fleet.v_open_aborted, fleet.v_sync_status TO fleet_auditor, fleet_station;
