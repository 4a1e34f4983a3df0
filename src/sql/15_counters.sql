-- Cluster-wide event counters (shared memory).
CREATE FUNCTION counters(OUT name text, OUT value bigint) RETURNS SETOF record
  AS 'MODULE_PATHNAME', 'es_counters' LANGUAGE C VOLATILE STRICT PARALLEL SAFE;
