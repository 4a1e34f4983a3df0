-- Windowed reads, window calibration and freshness (docs/windows.md).

CREATE FUNCTION _columns(regclass, OUT key text, OUT value text, OUT ts text, OUT region text,
                         OUT device text, OUT skew_bound text)
  AS 'MODULE_PATHNAME', 'es_sensorstate_columns' LANGUAGE C STABLE STRICT;

CREATE FUNCTION arrival_delays(table_name regclass, OUT region text, OUT observations bigint,
                               OUT p50 interval, OUT p99 interval, OUT max interval,
                               OUT recommended_lateness interval)
  RETURNS SETOF record
  AS 'MODULE_PATHNAME', 'es_arrival_delays' LANGUAGE C VOLATILE STRICT;
CREATE FUNCTION clock_skews(OUT region text, OUT observations bigint, OUT p50 interval,
                            OUT p99 interval)
  RETURNS SETOF record
  AS 'MODULE_PATHNAME', 'es_clock_skews' LANGUAGE C VOLATILE STRICT;
CREATE FUNCTION hlc_observe(remote hlc, region text) RETURNS hlc
  AS 'MODULE_PATHNAME', 'es_hlc_observe_region' LANGUAGE C VOLATILE STRICT PARALLEL SAFE;

CREATE FUNCTION recommended_lateness(table_name regclass, region text) RETURNS interval
  AS 'MODULE_PATHNAME', 'es_recommended_lateness' LANGUAGE C VOLATILE STRICT;
-- For a table as a whole: the largest of its regions' recommendations.
CREATE FUNCTION recommended_lateness(table_name regclass) RETURNS interval
  LANGUAGE plpgsql VOLATILE STRICT SET search_path = pg_catalog, pg_temp AS $$
DECLARE result interval;
BEGIN
  SELECT max(d.recommended_lateness) INTO result FROM edgestate.arrival_delays(table_name) d;
  IF result IS NULL THEN
    RAISE EXCEPTION 'no arrival delays observed for table "%"', table_name
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Nothing was inserted since the server started; pass an explicit lateness.';
  END IF;
  RETURN result;
END $$;

CREATE FUNCTION freshness_bound(region text) RETURNS interval
  AS 'MODULE_PATHNAME', 'es_freshness_bound' LANGUAGE C STABLE STRICT PARALLEL SAFE;

-- Checks the arguments of a window and returns its lateness: the one given,
-- or the calibrated one.
-- The first hlc at or after a timestamp: readings carry milliseconds, so a
-- reading is at or after t exactly when its ts is at or after this (hlc(t)
-- alone rounds down, and a window starting at .0005 s would take the reading
-- of .000 s).
CREATE FUNCTION _hlc_at_or_after(t timestamptz) RETURNS hlc
  LANGUAGE sql STABLE STRICT PARALLEL SAFE
  RETURN edgestate.hlc(date_trunc('milliseconds', t)
                       + CASE WHEN date_trunc('milliseconds', t) = t THEN interval '0'
                              ELSE interval '1 millisecond' END);

CREATE FUNCTION _window_lateness(table_name regclass, width interval, lateness interval,
                                 region text)
  RETURNS interval LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  ttl interval;
  c record;
  known boolean;
BEGIN
  IF table_name IS NULL THEN
    RAISE EXCEPTION 'table_name must not be NULL' USING ERRCODE = 'null_value_not_allowed';
  END IF;
  IF width IS NULL OR width <= interval '0' THEN
    RAISE EXCEPTION 'window width must be positive, not %', width
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF lateness < interval '0' THEN
    RAISE EXCEPTION 'lateness must not be negative, not %', lateness
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF region IS NOT NULL
     AND NOT EXISTS (SELECT FROM edgestate.arrival_delays(table_name) d WHERE d.region = _window_lateness.region) THEN
    c := edgestate._columns(table_name);
    EXECUTE format('SELECT EXISTS (SELECT FROM ONLY %s WHERE %s = $1)', table_name, c.region)
      INTO known USING region;
    IF NOT known THEN
      RAISE EXCEPTION 'unknown region "%" for table "%"', region, table_name
        USING ERRCODE = 'invalid_parameter_value';
    END IF;
  END IF;
  IF lateness IS NULL THEN
    lateness := CASE WHEN region IS NULL THEN edgestate.recommended_lateness(table_name)
                     ELSE edgestate.recommended_lateness(table_name, region) END;
  END IF;
  SELECT cfg.ttl INTO ttl FROM edgestate.sensorstate_config cfg
  WHERE cfg.table_name = _window_lateness.table_name;
  IF ttl IS NOT NULL AND lateness + width > ttl THEN
    RAISE EXCEPTION 'the window reaches back % but table "%" keeps readings for %',
                    lateness + width, table_name, ttl
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Use a smaller lateness or width, or a longer ttl.';
  END IF;
  RETURN lateness;
END $$;

-- Per key (or for one), aggregates of the readings whose ts lies in
-- [at - lateness - width, at - lateness). complete: the lateness is at least the
-- calibrated one, so later arrivals revise the window with probability at most
-- 1 - edgestate.window_confidence (NULL when nothing is calibrated).
CREATE FUNCTION _window(table_name regclass, width interval, lateness interval, region text,
                        at timestamptz, sensor text)
  RETURNS TABLE (key text, readings bigint, min float8, max float8, mean float8, last float8,
                 last_ts hlc, window_start timestamptz, window_end timestamptz,
                 complete boolean)
  LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  c record;
  effective interval := edgestate._window_lateness(table_name, width, lateness, region);
  calibrated interval;
BEGIN
  IF at IS NULL THEN
    RAISE EXCEPTION 'at must not be NULL' USING ERRCODE = 'null_value_not_allowed';
  END IF;
  c := edgestate._columns(table_name);
  BEGIN
    calibrated := CASE WHEN region IS NULL THEN edgestate.recommended_lateness(table_name)
                       ELSE edgestate.recommended_lateness(table_name, region) END;
  EXCEPTION WHEN invalid_parameter_value THEN
    calibrated := NULL;
  END;
  RETURN QUERY EXECUTE format($q$
    SELECT %1$s::text, count(*), min(%2$s), max(%2$s), avg(%2$s),
           (array_agg(%2$s ORDER BY %3$s DESC, %4$s DESC, %2$s DESC))[1],
           edgestate.max(%3$s), $1, $2, $3
    FROM ONLY %5$s
    WHERE %3$s OPERATOR(edgestate.>=) edgestate._hlc_at_or_after($1)
      AND %3$s OPERATOR(edgestate.<) edgestate._hlc_at_or_after($2) %6$s %7$s
    GROUP BY 1 ORDER BY min(%1$s)$q$, c.key, c.value, c.ts, c.region, table_name,
      CASE WHEN region IS NULL THEN '' ELSE format('AND %s = $4', c.region) END,
      CASE WHEN sensor IS NULL THEN '' ELSE format('AND %s::text = $5', c.key) END)
  USING at - effective - width, at - effective, effective >= calibrated, region, sensor;
END $$;

CREATE FUNCTION "window"(table_name regclass, width interval, lateness interval DEFAULT NULL,
                         region text DEFAULT NULL, at timestamptz DEFAULT now())
  RETURNS TABLE (key text, readings bigint, min float8, max float8, mean float8, last float8,
                 last_ts hlc, window_start timestamptz, window_end timestamptz,
                 complete boolean)
  LANGUAGE sql VOLATILE
  BEGIN ATOMIC
    SELECT * FROM edgestate._window(table_name, width, lateness, region, at, NULL);
  END;

-- The same window for one key (no row when it had no readings).
CREATE FUNCTION key_window(table_name regclass, sensor text, width interval,
                           lateness interval DEFAULT NULL, at timestamptz DEFAULT now())
  RETURNS TABLE (key text, readings bigint, min float8, max float8, mean float8, last float8,
                 last_ts hlc, window_start timestamptz, window_end timestamptz,
                 complete boolean)
  LANGUAGE sql VOLATILE
  BEGIN ATOMIC
    SELECT * FROM edgestate._window(table_name, width, lateness, NULL, at, sensor);
  END;

-- Fixed buckets over [from, to) for a chart (Grafana: the time column is
-- "time"), per key or for one key. complete: the bucket ended at least the
-- lateness (given or calibrated) before now.
CREATE FUNCTION window_series(table_name regclass, bucket interval, "from" timestamptz,
                              "to" timestamptz, sensor text DEFAULT NULL,
                              lateness interval DEFAULT NULL)
  RETURNS TABLE ("time" timestamptz, key text, readings bigint, min float8, max float8,
                 mean float8, last float8, complete boolean)
  LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  c record;
  effective interval;
BEGIN
  IF table_name IS NULL OR "from" IS NULL OR "to" IS NULL THEN
    RAISE EXCEPTION 'table_name, from and to must not be NULL'
      USING ERRCODE = 'null_value_not_allowed';
  END IF;
  IF bucket IS NULL OR bucket <= interval '0' THEN
    RAISE EXCEPTION 'bucket width must be positive, not %', bucket
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  -- Buckets are fixed-length (date_bin): a calendar month has no fixed
  -- length, so it is refused here rather than by the first row binned.
  IF extract(year FROM bucket) <> 0 OR extract(month FROM bucket) <> 0 THEN
    RAISE EXCEPTION 'bucket width % contains months or years', bucket
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Use a fixed length such as ''30 days'', or date_trunc() over window() rows.';
  END IF;
  IF "to" <= "from" THEN
    RAISE EXCEPTION 'the range must end after it starts'
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF extract(epoch FROM "to" - "from") / extract(epoch FROM bucket) > 100000 THEN
    RAISE EXCEPTION 'more than 100000 buckets of % in the range', bucket
      USING ERRCODE = 'program_limit_exceeded';
  END IF;
  IF lateness IS NULL THEN
    BEGIN
      lateness := edgestate.recommended_lateness(table_name);
    EXCEPTION WHEN invalid_parameter_value THEN
      lateness := NULL;  -- nothing calibrated yet: completeness unknown
    END;
  END IF;
  IF lateness IS NOT NULL THEN
    -- Also refuses a lateness (given or calibrated) that reaches past the TTL.
    effective := edgestate._window_lateness(table_name, bucket, lateness, NULL);
  END IF;
  c := edgestate._columns(table_name);
  RETURN QUERY EXECUTE format($q$
    SELECT date_bin($1, %3$s::timestamptz, $2) AS "time", %1$s::text, count(*), min(%2$s),
           max(%2$s), avg(%2$s), (array_agg(%2$s ORDER BY %3$s DESC, %5$s DESC, %2$s DESC))[1],
           date_bin($1, %3$s::timestamptz, $2) + $1 <= now() - $4
    FROM ONLY %4$s
    WHERE %3$s OPERATOR(edgestate.>=) edgestate._hlc_at_or_after($2)
      AND %3$s OPERATOR(edgestate.<) edgestate._hlc_at_or_after($3)
      AND ($5::text IS NULL OR %1$s::text = $5)
    GROUP BY 1, 2 ORDER BY 1, min(%1$s)$q$, c.key, c.value, c.ts, table_name, c.region)
  USING bucket, "from", "to", effective, sensor;
END $$;

-- Per region: keys, the share that is fresh, age quantiles: the data behind a
-- freshness heatmap.
CREATE FUNCTION freshness(table_name regclass)
  RETURNS TABLE (region text, keys bigint, fresh_share float8, age_p50 interval,
                 age_p99 interval, bound interval)
  LANGUAGE sql VOLATILE STRICT
  BEGIN ATOMIC
    SELECT l.region, count(*), avg(l.fresh::int)::float8,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY l.age),
           percentile_cont(0.99) WITHIN GROUP (ORDER BY l.age),
           edgestate.freshness_bound(l.region)
    FROM edgestate.latest(table_name) l GROUP BY l.region ORDER BY l.region;
  END;
