-- Coalesced per-key invalidations over LISTEN/NOTIFY (docs/invalidations.md).

CREATE FUNCTION channel(region text) RETURNS text
  AS 'MODULE_PATHNAME', 'es_channel' LANGUAGE C STABLE STRICT PARALLEL SAFE;
CREATE FUNCTION invalidation_head() RETURNS bigint
  AS 'MODULE_PATHNAME', 'es_invalidation_head' LANGUAGE C VOLATILE STRICT;
CREATE FUNCTION invalidations_since(after_seq bigint, OUT seq bigint, OUT table_name text,
                                    OUT region text, OUT key text, OUT resync boolean,
                                    OUT commit_time timestamptz)
  RETURNS SETOF record
  AS 'MODULE_PATHNAME', 'es_invalidations_since' LANGUAGE C VOLATILE STRICT;
CREATE FUNCTION invalidation_stats(OUT appended bigint, OUT sent_messages bigint,
                                   OUT sent_keys bigint, OUT sent_bytes bigint,
                                   OUT coalesced bigint, OUT lost bigint, OUT failures bigint)
  AS 'MODULE_PATHNAME', 'es_invalidation_stats' LANGUAGE C VOLATILE STRICT;
