# Concurrent writers (and readers) of sensorstate tables: pgbench clients
# insert random readings of 500 keys in 3 regions, with fresh (hlc_now()) and
# older timestamps, in single- and multi-statement transactions, some rolled
# back, some with rolled-back savepoints. The latest index merges every
# committed reading in whatever order the commits happen, so afterwards
# latest() must equal the oracle (merge_agg of state_of over the rows).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SensorstateOracle;

my $node = PostgreSQL::Test::Cluster->new('sensorstate_concurrency');
$node->init;
$node->append_conf('postgresql.conf', "max_connections = 40");
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION edgestate;
	ALTER DATABASE postgres SET search_path = public, edgestate;
	CREATE TABLE t (key text, value float8, ts edgestate.hlc, region text, device text)
	  USING sensorstate;
	-- A second table with bigint keys, written in the same transactions.
	CREATE TABLE ti (key bigint, value float8, ts edgestate.hlc, region text, device text)
	  USING sensorstate;
	CREATE INDEX ON t (key, ts);
});

# The same, key by key through latest(t, key), for every key of the oracle
# plus a few keys without readings.
sub per_key_mismatches {
	my ($table) = @_;
	my $absent = $table eq 'ti' ? q{'-1', '999999'} : q{'no-such-key', 'k-0'};
	return $node->safe_psql('postgres', qq{
		SELECT count(*) FROM (
		  SELECT key::text AS key, edgestate.merge_agg(edgestate.state_of(value, ts, region, device)) s
		  FROM $table GROUP BY key
		  UNION ALL SELECT k, NULL FROM unnest(ARRAY[$absent]) k) o
		LEFT JOIN LATERAL edgestate.latest('$table', o.key) l ON true
		WHERE l.state IS DISTINCT FROM o.s});
}

# pgbench scripts; the number after @ is the weight.
my $vars = q{
\set k random(1, 500)
\set k2 random(1, 500)
\set r random(1, 3)
\set d random(1, 4)
\set ms random(0, 5000)
\set l random(0, 3)
\set ago random(1, 600000)
};
my $region = q{(ARRAY['eu-west', 'us-east', 'ap-south'])[:r]};
my %writers = (
	'01_now@6' => $vars . qq{
INSERT INTO t VALUES ('k-' || :k, round((random() * 100)::numeric, 2), edgestate.hlc_now(), $region, 'gw-' || :d);
},
	# Older readings in a narrow 5 s band: many fall within the 50 ms skew
	# window of each other (conflicts), and many are older than the winner.
	'02_old@4' => $vars . qq{
INSERT INTO t VALUES ('k-' || :k, :d, edgestate.hlc(timestamptz '2026-01-01 00:00:00+00' + :ms * interval '1 ms', :l), $region, 'gw-' || :d);
},
	'03_multi@3' => $vars . qq{
BEGIN;
INSERT INTO t VALUES ('k-' || :k, random(), edgestate.hlc(now() - :ago * interval '1 ms', :l), $region, NULL),
                     ('k-' || :k2, random(), edgestate.hlc_now(), $region, 'gw-' || :d);
INSERT INTO ti VALUES (:k, random(), edgestate.hlc_now(), $region, NULL);
INSERT INTO ti SELECT :k2, i, edgestate.hlc(timestamptz '2026-01-01 00:00:00+00' + ((:ms + i * 7) % 100) * interval '1 ms', i % 2), $region, 'gw-' || (i % 3)
  FROM generate_series(1, 8) i;
COMMIT;
},
	'04_rollback@2' => $vars . qq{
BEGIN;
INSERT INTO t VALUES ('k-' || :k, 1e9, edgestate.hlc(timestamptz '2030-01-01 00:00:00+00', :l), $region, 'ghost');
INSERT INTO t VALUES ('ghost-' || :k, 1, edgestate.hlc_now(), $region, NULL);
INSERT INTO ti VALUES (-:k, 1, edgestate.hlc_now(), $region, NULL);
ROLLBACK;
},
	'05_savepoint@2' => $vars . qq{
BEGIN;
INSERT INTO t VALUES ('k-' || :k, random(), edgestate.hlc_now(), $region, 'gw-' || :d);
SAVEPOINT a;
INSERT INTO t VALUES ('k-' || :k, 1e9, edgestate.hlc(timestamptz '2030-01-01 00:00:00+00', :l), $region, 'ghost');
INSERT INTO t VALUES ('ghost-' || :k2, 1, edgestate.hlc_now(), $region, NULL);
ROLLBACK TO a;
SAVEPOINT b;
INSERT INTO t VALUES ('k-' || :k2, random(), edgestate.hlc(now() - :ago * interval '1 ms', 0), $region, 'gw-' || :d);
RELEASE b;
COMMIT;
},
);

# pgbench script files must have names unique within the test.
sub phase_scripts {
	my ($phase, $scripts) = @_;
	return { map { ("p${phase}_$_" => $scripts->{$_}) } keys %$scripts };
}

# ---------------------------------------------------------------------------
# Phase 1: writers only; the index is complete from CREATE TABLE on.

$node->pgbench(
	'--no-vacuum --client=8 --jobs=2 --transactions=300',
	0,
	[qr{processed: 2400/2400}],
	[qr{^$}],
	'8 clients x 300 random write transactions',
	phase_scripts(1, \%writers));

my $rows = $node->safe_psql('postgres', 'SELECT count(*) FROM t');
cmp_ok($rows, '>=', 1500, "the clients committed $rows readings into t");
is($node->safe_psql('postgres', q{SELECT count(*) FROM t WHERE key LIKE 'ghost%' OR value = 1e9}),
	'0', 'no reading of rolled-back work in t');
cmp_ok($node->safe_psql('postgres', q{SELECT count(DISTINCT key) FROM t}), '>=', 450,
	'most of the 500 keys were written');
cmp_ok($node->safe_psql('postgres', q{SELECT count(*) FROM edgestate.latest('t') WHERE conflicted}),
	'>', 0, 'some keys are conflicted');
is(oracle_mismatches($node, 't'), '0', 'latest(t) equals the oracle');
is(oracle_mismatches($node, 'ti'), '0', 'latest(ti) (bigint keys) equals the oracle');
is(per_key_mismatches('t'), '0', 'latest(t, key) equals the oracle for every key');
is(per_key_mismatches('ti'), '0', 'latest(ti, key) equals the oracle for every key');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM edgestate.latest('t')
	WHERE key LIKE 'ghost%' OR value = 1e9 OR device = 'ghost'}), '0',
	'latest() shows nothing of rolled-back work');
is(latest_index_stats($node)->{reloads}, '0', 'phase 1 was served by the index without reloading');

# ---------------------------------------------------------------------------
# Phase 2: a purge resets the table's index, then writers race readers: the
# first readers reload the table while commits merge into partial entries.

$node->safe_psql('postgres', q{
	INSERT INTO t SELECT 'ancient-' || i, i, edgestate.hlc(timestamptz '2001-01-01+00' + i * interval '1 s'), 'eu-west', NULL
	FROM generate_series(1, 20) i;
	INSERT INTO t VALUES ('k-1', -1, edgestate.hlc(timestamptz '2001-01-01+00'), 'us-east', 'gw-9');
});
is($node->safe_psql('postgres', q{SELECT edgestate.purge('t', '20 years')}), '21',
	'purge deletes the 21 ancient readings');
my $before = latest_index_stats($node);

my %mixed = (
	%writers,
	'06_read_all@1' => q{
SELECT count(*) FROM edgestate.latest('t');
},
	'07_read_key@3' => $vars . q{
SELECT value FROM edgestate.latest('t', 'k-' || :k);
SELECT value FROM edgestate.latest('ti', :k::text);
},
);
$node->pgbench(
	'--no-vacuum --client=8 --jobs=2 --transactions=300',
	0,
	[qr{processed: 2400/2400}],
	[qr{^$}],
	'8 clients x 300 transactions of writes and reads after a reset',
	phase_scripts(2, \%mixed));

cmp_ok(latest_index_stats($node)->{reloads}, '>', $before->{reloads}, 'readers reloaded the reset table');
is(oracle_mismatches($node, 't'), '0', 'after racing reloads latest(t) equals the oracle');
is(per_key_mismatches('t'), '0', 'and latest(t, key) equals it for every key');
is(oracle_mismatches($node, 'ti'), '0', 'latest(ti) equals the oracle');
is($node->safe_psql('postgres', q{SELECT count(*) FROM edgestate.latest('t') WHERE key LIKE 'ancient%'}),
	'0', 'purged keys stay gone');

# ---------------------------------------------------------------------------
# Phase 3: purges run concurrently with writers and readers. Every purge
# resets the index; the keys 'ancient-N' only ever have readings older than
# the purge horizon.

my %with_purge = (
	%mixed,
	'08_ancient@2' => $vars . q{
INSERT INTO t VALUES ('ancient-' || (:k % 20), :k, edgestate.hlc(timestamptz '2001-01-01+00' + :ms * interval '1 ms'), 'eu-west', NULL);
INSERT INTO t VALUES ('k-' || :k2, :k, edgestate.hlc(timestamptz '2001-01-01+00' + :ms * interval '1 ms'), 'ap-south', 'gw-old');
},
	'09_purge@1' => q{
SELECT edgestate.purge('t', '20 years');
},
);
$node->pgbench(
	'--no-vacuum --client=8 --jobs=2 --transactions=400',
	0,
	[qr{processed: 3200/3200}],
	[qr{^$}],
	'8 clients x 400 transactions of writes, reads and purges',
	phase_scripts(3, \%with_purge));

is(oracle_mismatches($node, 't'), '0', 'after concurrent purges latest(t) equals the oracle');
is(per_key_mismatches('t'), '0', 'and latest(t, key) equals it for every key');
$node->safe_psql('postgres', q{SELECT edgestate.purge('t', '20 years')});
is($node->safe_psql('postgres', q{SELECT count(*) FROM edgestate.latest('t') WHERE key LIKE 'ancient%'}),
	'0', 'a final purge leaves no ancient key in latest()');
is(per_key_mismatches('t'), '0', 'after the final purge latest(t, key) equals the oracle');
is(oracle_mismatches($node, 't'), '0', 'and so does latest(t)');

# ---------------------------------------------------------------------------
# Phase 4: interleavings that pgbench hits only by chance, made deterministic
# with explicit sessions.

$node->safe_psql('postgres', q{
	CREATE TABLE u (key text, value float8, ts edgestate.hlc, region text, device text)
	  USING sensorstate;
	CREATE TABLE v (key text, value float8, ts edgestate.hlc, region text, device text)
	  USING sensorstate;
	INSERT INTO u VALUES ('old', 1, edgestate.hlc(now() - interval '40 days'), 'eu-west', NULL),
	                     ('b', 2, edgestate.hlc(now()), 'eu-west', NULL);
	INSERT INTO v VALUES ('a', 1, edgestate.hlc(now()), 'eu-west', NULL);
});

# A reader whose snapshot predates a purge (and an insert) reloads the reset
# index: it must not bring back the purged reading nor drop the insert.
my $rr = $node->background_psql('postgres');
$rr->query_safe('BEGIN ISOLATION LEVEL REPEATABLE READ');
$rr->query_safe('SELECT count(*) FROM u');
$node->safe_psql('postgres', q{INSERT INTO u VALUES ('c', 3, edgestate.hlc(now()), 'eu-west', NULL)});
is($node->safe_psql('postgres', q{SELECT edgestate.purge('u', '30 days')}), '1',
	'purge deletes the old reading while a repeatable-read reader is open');
$rr->query_safe(q{SELECT count(*) FROM edgestate.latest('u')});
$rr->query_safe('COMMIT');
$rr->quit;
is($node->safe_psql('postgres', q{SELECT string_agg(key, ',' ORDER BY key) FROM edgestate.latest('u')}),
	'b,c', 'after a reload by an older snapshot latest(u) shows exactly the current keys');
is(oracle_mismatches($node, 'u'), '0', 'and equals the oracle');

# A prepared transaction committed after another session has read the table.
$node->safe_psql('postgres', q{
	BEGIN;
	INSERT INTO v VALUES ('p', 5, edgestate.hlc(now()), 'eu-west', NULL);
	PREPARE TRANSACTION 'p1';
});
is($node->safe_psql('postgres', q{SELECT string_agg(key, ',' ORDER BY key) FROM edgestate.latest('v')}),
	'a', 'while prepared, its reading is not in latest(v)');
$node->safe_psql('postgres', q{COMMIT PREPARED 'p1'});
is($node->safe_psql('postgres', q{SELECT string_agg(key, ',' ORDER BY key) FROM edgestate.latest('v')}),
	'a,p', 'after COMMIT PREPARED its reading is in latest(v)');
is($node->safe_psql('postgres', q{SELECT count(*) FROM edgestate.latest('v', 'p')}), '1',
	'and in latest(v, key)');
is(oracle_mismatches($node, 'v'), '0', 'latest(v) equals the oracle');

# A pending prepared transaction that wrote no sensorstate table does not keep
# a table from completing: after a TRUNCATE, one read reloads it and the next
# is served by the index.
$node->safe_psql('postgres', q{
	CREATE TABLE plain (x int);
	BEGIN;
	INSERT INTO plain VALUES (1);
	PREPARE TRANSACTION 'other';
	TRUNCATE v;
	INSERT INTO v VALUES ('t', 7, edgestate.hlc(now()), 'eu-west', NULL);
});
my $stats = latest_index_stats($node);
$node->safe_psql('postgres', q{SELECT count(*) FROM edgestate.latest('v')});
$node->safe_psql('postgres', q{SELECT count(*) FROM edgestate.latest('v')});
my $after = latest_index_stats($node);
is($after->{reloads} - $stats->{reloads}, 1,
	'with an unrelated prepared transaction pending, one read reloads the table');
is($after->{hits} - $stats->{hits}, 1, 'and the next read is a hit');
$node->safe_psql('postgres', q{ROLLBACK PREPARED 'other'});

$node->stop;
done_testing();
