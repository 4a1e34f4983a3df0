-- edgestate.state: the merged state of one key (see docs/merge-policy.md).

CREATE TYPE state;

CREATE FUNCTION state_in(cstring) RETURNS state
  AS 'MODULE_PATHNAME', 'es_state_in' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION state_out(state) RETURNS cstring
  AS 'MODULE_PATHNAME', 'es_state_out' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION state_recv(internal) RETURNS state
  AS 'MODULE_PATHNAME', 'es_state_recv' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION state_send(state) RETURNS bytea
  AS 'MODULE_PATHNAME', 'es_state_send' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE state (
  INPUT = state_in, OUTPUT = state_out, RECEIVE = state_recv, SEND = state_send,
  INTERNALLENGTH = VARIABLE, STORAGE = extended
);
COMMENT ON TYPE state IS 'merged state of one sensor key: winner, conflict candidates, retained readings';

CREATE FUNCTION state_eq(state, state) RETURNS boolean
  AS 'MODULE_PATHNAME', 'es_state_eq' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION state_ne(state, state) RETURNS boolean
  LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
  RETURN NOT edgestate.state_eq($1, $2);
CREATE OPERATOR = (LEFTARG = state, RIGHTARG = state, FUNCTION = state_eq, COMMUTATOR = =,
  NEGATOR = <>, RESTRICT = eqsel, JOIN = eqjoinsel);
CREATE OPERATOR <> (LEFTARG = state, RIGHTARG = state, FUNCTION = state_ne, COMMUTATOR = <>,
  NEGATOR = =, RESTRICT = neqsel, JOIN = neqjoinsel);

-- One reading as a state. A NULL skew bound means edgestate.default_skew_bound
-- (so the function is STABLE: it reads a setting).
CREATE FUNCTION state_of(value float8, ts hlc, region text, device text DEFAULT NULL,
                         skew_bound interval DEFAULT NULL) RETURNS state
  AS 'MODULE_PATHNAME', 'es_state_of' LANGUAGE C STABLE PARALLEL SAFE;

-- The join of the state semilattice: commutative, associative, idempotent.
-- NULL is the empty state. STABLE because edgestate.max_candidates bounds it.
CREATE FUNCTION merge(a state, b state) RETURNS state
  AS 'MODULE_PATHNAME', 'es_state_merge' LANGUAGE C STABLE PARALLEL SAFE;
CREATE AGGREGATE merge_agg(state) (
  SFUNC = merge, STYPE = state, COMBINEFUNC = merge, PARALLEL = SAFE
);

-- Display-only resolution of a (possibly conflicted) state.
CREATE FUNCTION resolve(state state, policy text, region text DEFAULT NULL) RETURNS float8
  AS 'MODULE_PATHNAME', 'es_state_resolve' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION resolve(state state, resolver regprocedure) RETURNS float8
  AS 'MODULE_PATHNAME', 'es_state_resolve_with' LANGUAGE C STABLE STRICT PARALLEL SAFE;

-- The winner.
CREATE FUNCTION state_value(state) RETURNS float8
  AS 'MODULE_PATHNAME', 'es_state_value' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION state_ts(state) RETURNS hlc
  AS 'MODULE_PATHNAME', 'es_state_ts' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION state_region(state) RETURNS text
  AS 'MODULE_PATHNAME', 'es_state_region' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION state_device(state) RETURNS text
  AS 'MODULE_PATHNAME', 'es_state_device' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION state_skew_bound(state) RETURNS interval
  AS 'MODULE_PATHNAME', 'es_state_skew_bound' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION state_conflicted(state) RETURNS boolean
  AS 'MODULE_PATHNAME', 'es_state_conflicted' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION state_truncated(state) RETURNS boolean
  AS 'MODULE_PATHNAME', 'es_state_truncated' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- Every retained reading with its role: winner, candidate (in the winner's
-- conflict window) or retained (kept for later merges).
CREATE FUNCTION state_entries(state, OUT value float8, OUT ts hlc, OUT region text,
                              OUT device text, OUT skew_bound interval, OUT role text,
                              OUT ordinal integer)
  RETURNS SETOF record
  AS 'MODULE_PATHNAME', 'es_state_entries' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 2;

CREATE FUNCTION state_candidates(s state, OUT value float8, OUT ts hlc, OUT region text,
                                 OUT device text, OUT skew_bound interval)
  RETURNS SETOF record LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE ROWS 1
  BEGIN ATOMIC
    SELECT e.value, e.ts, e.region, e.device, e.skew_bound
    FROM edgestate.state_entries(s) AS e WHERE e.role = 'candidate' ORDER BY e.ordinal;
  END;

CREATE FUNCTION state_candidates_jsonb(s state) RETURNS jsonb
  LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
  BEGIN ATOMIC
    SELECT coalesce(jsonb_agg(jsonb_build_object('value', e.value, 'ts', e.ts::text,
             'region', e.region, 'device', e.device, 'skew_bound', e.skew_bound)
             ORDER BY e.ordinal), '[]'::jsonb)
    FROM edgestate.state_entries(s) AS e WHERE e.role = 'candidate';
  END;
