-- The hlc type: hybrid logical clock timestamps (see docs/hlc.md).

CREATE TYPE hlc;

CREATE FUNCTION hlc_in(cstring) RETURNS hlc
  AS 'MODULE_PATHNAME', 'es_hlc_in' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION hlc_out(hlc) RETURNS cstring
  AS 'MODULE_PATHNAME', 'es_hlc_out' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION hlc_recv(internal) RETURNS hlc
  AS 'MODULE_PATHNAME', 'es_hlc_recv' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION hlc_send(hlc) RETURNS bytea
  AS 'MODULE_PATHNAME', 'es_hlc_send' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE hlc (
  INPUT = hlc_in, OUTPUT = hlc_out, RECEIVE = hlc_recv, SEND = hlc_send,
  INTERNALLENGTH = 8, PASSEDBYVALUE, ALIGNMENT = double, STORAGE = plain
);
COMMENT ON TYPE hlc IS 'hybrid logical clock timestamp: Unix milliseconds (48 bits) and a logical counter (16 bits)';

CREATE FUNCTION hlc_cmp(hlc, hlc) RETURNS integer
  AS 'MODULE_PATHNAME', 'es_hlc_cmp' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION hlc_eq(hlc, hlc) RETURNS boolean
  AS 'MODULE_PATHNAME', 'es_hlc_eq' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION hlc_ne(hlc, hlc) RETURNS boolean
  AS 'MODULE_PATHNAME', 'es_hlc_ne' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION hlc_lt(hlc, hlc) RETURNS boolean
  AS 'MODULE_PATHNAME', 'es_hlc_lt' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION hlc_le(hlc, hlc) RETURNS boolean
  AS 'MODULE_PATHNAME', 'es_hlc_le' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION hlc_gt(hlc, hlc) RETURNS boolean
  AS 'MODULE_PATHNAME', 'es_hlc_gt' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION hlc_ge(hlc, hlc) RETURNS boolean
  AS 'MODULE_PATHNAME', 'es_hlc_ge' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
-- The bits of an hlc hash like a bigint's.
CREATE FUNCTION hlc_hash(hlc) RETURNS integer
  AS 'hashint8' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION hlc_hash_extended(hlc, bigint) RETURNS bigint
  AS 'hashint8extended' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;

CREATE OPERATOR = (LEFTARG = hlc, RIGHTARG = hlc, FUNCTION = hlc_eq, COMMUTATOR = =,
  NEGATOR = <>, RESTRICT = eqsel, JOIN = eqjoinsel, HASHES, MERGES);
CREATE OPERATOR <> (LEFTARG = hlc, RIGHTARG = hlc, FUNCTION = hlc_ne, COMMUTATOR = <>,
  NEGATOR = =, RESTRICT = neqsel, JOIN = neqjoinsel);
CREATE OPERATOR < (LEFTARG = hlc, RIGHTARG = hlc, FUNCTION = hlc_lt, COMMUTATOR = >,
  NEGATOR = >=, RESTRICT = scalarltsel, JOIN = scalarltjoinsel);
CREATE OPERATOR <= (LEFTARG = hlc, RIGHTARG = hlc, FUNCTION = hlc_le, COMMUTATOR = >=,
  NEGATOR = >, RESTRICT = scalarlesel, JOIN = scalarlejoinsel);
CREATE OPERATOR > (LEFTARG = hlc, RIGHTARG = hlc, FUNCTION = hlc_gt, COMMUTATOR = <,
  NEGATOR = <=, RESTRICT = scalargtsel, JOIN = scalargtjoinsel);
CREATE OPERATOR >= (LEFTARG = hlc, RIGHTARG = hlc, FUNCTION = hlc_ge, COMMUTATOR = <=,
  NEGATOR = <, RESTRICT = scalargesel, JOIN = scalargejoinsel);

CREATE OPERATOR CLASS hlc_ops DEFAULT FOR TYPE hlc USING btree AS
  OPERATOR 1 <, OPERATOR 2 <=, OPERATOR 3 =, OPERATOR 4 >=, OPERATOR 5 >,
  FUNCTION 1 hlc_cmp(hlc, hlc);
CREATE OPERATOR CLASS hlc_hash_ops DEFAULT FOR TYPE hlc USING hash AS
  OPERATOR 1 =,
  FUNCTION 1 hlc_hash(hlc),
  FUNCTION 2 hlc_hash_extended(hlc, bigint);

CREATE FUNCTION hlc_larger(hlc, hlc) RETURNS hlc
  AS 'MODULE_PATHNAME', 'es_hlc_larger' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION hlc_smaller(hlc, hlc) RETURNS hlc
  AS 'MODULE_PATHNAME', 'es_hlc_smaller' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE AGGREGATE max(hlc) (SFUNC = hlc_larger, STYPE = hlc, COMBINEFUNC = hlc_larger,
  SORTOP = >, PARALLEL = SAFE);
CREATE AGGREGATE min(hlc) (SFUNC = hlc_smaller, STYPE = hlc, COMBINEFUNC = hlc_smaller,
  SORTOP = <, PARALLEL = SAFE);

-- Casts. To timestamptz keeps the physical part; from timestamptz rounds down
-- to the millisecond with a zero counter (an assignment cast, so that a
-- timestamptz can be inserted into an hlc column).
CREATE FUNCTION hlc_to_timestamptz(hlc) RETURNS timestamptz
  AS 'MODULE_PATHNAME', 'es_hlc_to_timestamptz' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION timestamptz_to_hlc(timestamptz) RETURNS hlc
  AS 'MODULE_PATHNAME', 'es_timestamptz_to_hlc' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE CAST (hlc AS timestamptz) WITH FUNCTION hlc_to_timestamptz(hlc);
CREATE CAST (timestamptz AS hlc) WITH FUNCTION timestamptz_to_hlc(timestamptz) AS ASSIGNMENT;

CREATE FUNCTION hlc(physical timestamptz, logical integer DEFAULT 0) RETURNS hlc
  AS 'MODULE_PATHNAME', 'es_hlc_from_parts' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION hlc_physical_ms(hlc) RETURNS bigint
  AS 'MODULE_PATHNAME', 'es_hlc_physical_ms' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION hlc_logical(hlc) RETURNS integer
  AS 'MODULE_PATHNAME', 'es_hlc_logical' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- The server clock. hlc_now() is volatile: every call returns a new value.
CREATE FUNCTION hlc_now() RETURNS hlc
  AS 'MODULE_PATHNAME', 'es_hlc_now' LANGUAGE C VOLATILE STRICT PARALLEL SAFE;
CREATE FUNCTION hlc_observe(remote hlc) RETURNS hlc
  AS 'MODULE_PATHNAME', 'es_hlc_observe' LANGUAGE C VOLATILE STRICT PARALLEL SAFE;
