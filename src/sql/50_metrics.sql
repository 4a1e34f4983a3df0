-- Observability: every figure as rows of edgestate.metrics and as Prometheus
-- text exposition (docs/observability.md).

CREATE FUNCTION _sensorstate_tables() RETURNS SETOF regclass
  LANGUAGE sql STABLE
  BEGIN ATOMIC
    SELECT c.oid::regclass FROM pg_catalog.pg_class c
    JOIN pg_catalog.pg_am am ON am.oid = c.relam
    WHERE am.amname = 'sensorstate' AND c.relkind = 'r' ORDER BY c.oid;
  END;

CREATE FUNCTION _metric_rows(OUT name text, OUT type text, OUT help text, OUT labels jsonb,
                             OUT value float8)
  RETURNS SETOF record LANGUAGE sql VOLATILE
  BEGIN ATOMIC
    WITH stats AS (SELECT * FROM edgestate.latest_index_stats()),
         counters AS (SELECT c.name, c.value FROM edgestate.counters() c),
         tables AS (SELECT t FROM edgestate._sensorstate_tables() t),
         -- One pass over each table's latest state serves both freshness
         -- families.
         fresh AS MATERIALIZED (SELECT t.t, f.* FROM tables t, edgestate.freshness(t.t) f)
    SELECT * FROM (
      SELECT 'edgestate_edge_cache_hit_ratio', 'gauge',
             'Share of latest() reads served from the shared-memory latest index.',
             '{}'::jsonb, CASE WHEN s.hits + s.misses = 0 THEN NULL
                               ELSE s.hits::float8 / (s.hits + s.misses) END
      FROM stats s
      UNION ALL
      SELECT 'edgestate_edge_cache_hits_total', 'counter',
             'latest() reads served from the latest index.', '{}', s.hits FROM stats s
      UNION ALL
      SELECT 'edgestate_edge_cache_misses_total', 'counter',
             'latest() reads computed from the table.', '{}', s.misses FROM stats s
      UNION ALL
      SELECT 'edgestate_latest_index_keys', 'gauge', 'Keys held by the latest index.', '{}',
             s.keys FROM stats s
      UNION ALL
      SELECT 'edgestate_latest_index_capacity_keys', 'gauge',
             'Keys the latest index can hold (edgestate.latest_max_keys, as planned).', '{}',
             s.capacity FROM stats s
      UNION ALL
      SELECT 'edgestate_latest_index_evictions_total', 'counter',
             'Keys evicted from the latest index to make room.', '{}', s.evictions FROM stats s
      UNION ALL
      SELECT 'edgestate_latest_index_reloads_total', 'counter',
             'Full loads of a table into the latest index.', '{}', s.reloads FROM stats s
      UNION ALL
      SELECT 'edgestate_conflicts_resolved_total', 'counter',
             'resolve() calls on a conflicted state.', '{}', c.value
      FROM counters c WHERE c.name = 'conflicts_resolved'
      UNION ALL
      SELECT 'edgestate_clock_offsets_rejected_total', 'counter',
             'Timestamps hlc_observe() refused as too far ahead (edgestate.max_clock_offset).',
             '{}', c.value FROM counters c WHERE c.name = 'clock_offset_rejected'
      UNION ALL
      SELECT 'edgestate_clock_borrowed_total', 'counter',
             'Milliseconds hlc_now() borrowed while the wall clock was behind.', '{}', c.value
      FROM counters c WHERE c.name = 'clock_borrowed'
      UNION ALL
      SELECT 'edgestate_candidates_dropped_total', 'counter',
             'Readings of other origins dropped by edgestate.max_candidates.', '{}', c.value
      FROM counters c WHERE c.name = 'candidates_dropped'
      UNION ALL
      SELECT 'edgestate_edge_invalidation_count_total', 'counter',
             'Key invalidations: appended by writers, sent by NOTIFY, coalesced away (repeats, dropped tables), lost (ring overrun, NOTIFY failure); appended = sent + coalesced + lost once sent.',
             jsonb_build_object('kind', k.kind), k.value
      FROM edgestate.invalidation_stats() i,
           LATERAL (VALUES ('appended', i.appended), ('sent', i.sent_keys),
                           ('coalesced', i.coalesced), ('lost', i.lost)) k(kind, value)
      UNION ALL
      SELECT 'edgestate_invalidation_messages_total', 'counter',
             'NOTIFY messages sent with invalidations.', '{}', i.sent_messages
      FROM edgestate.invalidation_stats() i
      UNION ALL
      SELECT 'edgestate_invalidation_bytes_total', 'counter',
             'NOTIFY payload bytes sent with invalidations.', '{}', i.sent_bytes
      FROM edgestate.invalidation_stats() i
      UNION ALL
      SELECT 'edgestate_invalidation_failures_total', 'counter',
             'Batches the invalidation worker could not send (NOTIFY queue full, say).', '{}',
             i.failures
      FROM edgestate.invalidation_stats() i
      UNION ALL
      SELECT 'edgestate_changelog_readings_total', 'counter',
             'Readings the edgestate output plugin emitted (all slots, all sessions).', '{}',
             c.value FROM counters c WHERE c.name = 'changelog_readings'
      UNION ALL
      SELECT 'edgestate_changelog_bytes_total', 'counter',
             'Bytes the edgestate output plugin emitted for them.', '{}', c.value
      FROM counters c WHERE c.name = 'changelog_bytes'
      UNION ALL
      SELECT 'edgestate_delta_size_bytes_per_update', 'gauge',
             'Change-log bytes per reading emitted, since the server started.', '{}',
             CASE WHEN r.value = 0 THEN NULL ELSE b.value::float8 / r.value END
      FROM counters r, counters b
      WHERE r.name = 'changelog_readings' AND b.name = 'changelog_bytes'
      UNION ALL
      SELECT 'edgestate_conflicts_captured', 'gauge',
             'Keys whose latest state is conflicted (other origins within the skew bound).',
             jsonb_build_object('table', t.t::text), count(*) FILTER (WHERE l.conflicted)
      FROM tables t, edgestate.latest(t.t) l GROUP BY t.t
      UNION ALL
      SELECT 'edgestate_regional_freshness_seconds', 'gauge',
             'Age of the latest values of a region, by quantile.',
             jsonb_build_object('table', f.t::text, 'region', f.region, 'quantile', q.q),
             extract(epoch FROM CASE q.q WHEN '0.5' THEN f.age_p50 ELSE f.age_p99 END)
      FROM fresh f, (VALUES ('0.5'), ('0.99')) q(q)
      UNION ALL
      SELECT 'edgestate_regional_fresh_ratio', 'gauge',
             'Share of a region''s keys whose latest value is within its freshness bound.',
             jsonb_build_object('table', f.t::text, 'region', f.region), f.fresh_share
      FROM fresh f
      UNION ALL
      SELECT 'edgestate_arrival_delay_seconds', 'gauge',
             'Arrival delay of readings (arrival minus physical time), by quantile.',
             jsonb_build_object('table', t.t::text, 'region', d.region, 'quantile', q.q),
             extract(epoch FROM CASE q.q WHEN '0.5' THEN d.p50 ELSE d.p99 END)
      FROM tables t, edgestate.arrival_delays(t.t) d, (VALUES ('0.5'), ('0.99')) q(q)
      UNION ALL
      SELECT 'edgestate_recommended_lateness_seconds', 'gauge',
             'Lateness that makes windows final with edgestate.window_confidence.',
             jsonb_build_object('table', t.t::text, 'region', d.region),
             extract(epoch FROM d.recommended_lateness)
      FROM tables t, edgestate.arrival_delays(t.t) d
      UNION ALL
      SELECT 'edgestate_clock_skew_seconds', 'gauge',
             'Distance of remote clocks seen by hlc_observe(remote, region), by quantile.',
             jsonb_build_object('region', k.region, 'quantile', q.q),
             extract(epoch FROM CASE q.q WHEN '0.5' THEN k.p50 ELSE k.p99 END)
      FROM edgestate.clock_skews() k, (VALUES ('0.5'), ('0.99')) q(q)
      UNION ALL
      SELECT 'edgestate_replication_slot_wal_retained_bytes', 'gauge',
             'WAL a replication slot holds back (current WAL position minus its restart_lsn).',
             jsonb_build_object('slot', r.slot_name, 'plugin', coalesce(r.plugin, 'physical')),
             pg_catalog.pg_wal_lsn_diff(CASE WHEN pg_catalog.pg_is_in_recovery()
                                             THEN pg_catalog.pg_last_wal_replay_lsn()
                                             ELSE pg_catalog.pg_current_wal_lsn() END,
                                        r.restart_lsn)
      FROM pg_catalog.pg_replication_slots r WHERE r.restart_lsn IS NOT NULL
    ) m(name, type, help, labels, value);
  END;

CREATE VIEW metrics AS SELECT name, type, help, labels, value FROM edgestate._metric_rows();

-- The Prometheus text exposition format (version 0.0.4) of edgestate.metrics.
CREATE FUNCTION prometheus() RETURNS text LANGUAGE sql VOLATILE
  BEGIN ATOMIC
    WITH m AS (SELECT * FROM edgestate.metrics),
    families AS (SELECT DISTINCT name, type, help FROM m)
    SELECT coalesce(string_agg(
      '# HELP ' || f.name || ' ' || f.help || E'\n' ||
      '# TYPE ' || f.name || ' ' || f.type || E'\n' ||
      (SELECT string_agg(
         m.name ||
         CASE WHEN m.labels = '{}'::jsonb THEN ''
              ELSE '{' || (SELECT string_agg(
                             l.key || '="' ||
                             replace(replace(replace(l.value, E'\\', E'\\\\'), '"', E'\\"'),
                                     E'\n', E'\\n') || '"', ',' ORDER BY l.key)
                           FROM jsonb_each_text(m.labels) l) || '}' END ||
         ' ' || CASE WHEN m.value IS NULL OR m.value = 'NaN'::float8 THEN 'NaN'
                     WHEN m.value = 'Infinity'::float8 THEN '+Inf'
                     WHEN m.value = '-Infinity'::float8 THEN '-Inf'
                     ELSE m.value::text END || E'\n', '' ORDER BY m.labels::text)
       FROM m WHERE m.name = f.name), '' ORDER BY f.name), '')
    FROM families f;
  END;
