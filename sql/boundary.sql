-- The C++/PostgreSQL boundary: a PostgreSQL error raised under a guarded call,
-- a C++ exception and std::bad_alloc each reach the client as a clean ERROR
-- with an SQLSTATE, C++ destructors run, and the backend keeps working.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS edgestate;
RESET client_min_messages;
CREATE FUNCTION pg_temp.pg_error() RETURNS integer
  AS 'edgestate', 'es_selftest_pg_error' LANGUAGE C STRICT;
CREATE FUNCTION pg_temp.cpp_exception(text) RETURNS integer
  AS 'edgestate', 'es_selftest_cpp_exception' LANGUAGE C STRICT;
CREATE FUNCTION pg_temp.bad_alloc() RETURNS bigint
  AS 'edgestate', 'es_selftest_bad_alloc' LANGUAGE C STRICT;
CREATE FUNCTION pg_temp.destroyed_objects() RETURNS bigint
  AS 'edgestate', 'es_selftest_destroyed_objects' LANGUAGE C STRICT;

-- What the client sees.
SELECT pg_temp.pg_error();
SELECT pg_temp.cpp_exception('runtime_error');
SELECT pg_temp.cpp_exception('sql_error');
SELECT pg_temp.bad_alloc();

-- The SQLSTATE each one carries.
CREATE FUNCTION pg_temp.sqlstate_of(call text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE call;
  RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE;
END $$;
SELECT call, pg_temp.sqlstate_of('SELECT ' || call) AS sqlstate
FROM (VALUES ('pg_temp.pg_error()'), ('pg_temp.cpp_exception(''runtime_error'')'),
             ('pg_temp.cpp_exception(''sql_error'')'), ('pg_temp.bad_alloc()')) AS calls(call);

-- Every error above unwound one live C++ object (4 direct + 4 in sqlstate_of).
SELECT pg_temp.destroyed_objects();

-- The same backend keeps working, in and out of transactions.
SELECT 1 AS still_working;
BEGIN;
SELECT pg_temp.cpp_exception('runtime_error');
ROLLBACK;
SELECT pg_temp.destroyed_objects();
