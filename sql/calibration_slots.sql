-- Arrival-delay calibration lives in 256 shared slots per server, one per
-- (table, region). Dropping a table releases its slots, so a server whose
-- tables come and go (daily tables, tests, migrations) keeps calibrating the
-- tables it has now.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS edgestate;
RESET client_min_messages;
SET search_path = public, edgestate;

-- 300 tables, each calibrated for one region and dropped: more than there
-- are slots. Each step commits, because slots are taken and released at
-- commit.
CREATE PROCEDURE churn(tables int) LANGUAGE plpgsql AS $$
BEGIN
  FOR i IN 1..tables LOOP
    CREATE TABLE churned (key text, value float8, ts hlc, region text) USING sensorstate;
    INSERT INTO churned VALUES ('k', 1, hlc_now(), 'region-' || i);
    COMMIT;
    DROP TABLE churned;
    COMMIT;
  END LOOP;
END $$;
CALL churn(300);

-- A table created afterwards is calibrated in all of its regions.
CREATE TABLE kept (key text, value float8, ts hlc, region text) USING sensorstate;
INSERT INTO kept SELECT 'k' || i, i, hlc_now(), 'kept-' || (i % 3) FROM generate_series(1, 30) i;
SELECT region, observations FROM arrival_delays('kept') ORDER BY region;
SELECT recommended_lateness('kept', 'kept-0') IS NOT NULL AS calibrated;

-- A dropped table's slots are gone from what the server reports.
CREATE TABLE dropped (key text, value float8, ts hlc, region text) USING sensorstate;
INSERT INTO dropped VALUES ('k', 1, hlc_now(), 'only-here');
SELECT count(*) AS slots FROM edgestate.metrics
WHERE name = 'edgestate_arrival_delay_seconds' AND labels->>'region' = 'only-here';
DROP TABLE dropped;
SELECT count(*) AS slots FROM edgestate.metrics
WHERE name = 'edgestate_arrival_delay_seconds' AND labels->>'region' = 'only-here';

-- A rolled-back DROP keeps them.
BEGIN;
DROP TABLE kept;
ROLLBACK;
SELECT count(*) AS regions FROM arrival_delays('kept');

DROP TABLE kept;
DROP PROCEDURE churn(int);
