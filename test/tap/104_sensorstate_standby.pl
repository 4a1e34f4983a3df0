# Physical streaming replication of sensorstate tables. Storage is heap, so
# the readings replicate as heap WAL. The latest index lives in the primary's
# shared memory and WAL replay does not run the access method, so a hot
# standby does not maintain an index: edgestate.latest() on a standby computes
# every answer from the table (merge_agg of state_of, the oracle itself), and
# must equal the primary's answer once the standby has caught up. After
# promotion the new primary loads its index from the table. A partitioned
# table of sensorstate partitions is read the same way, through the
# partitioned table, on the standby.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SensorstateOracle;

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->start;
$primary->safe_psql('postgres', q{
	CREATE EXTENSION edgestate;
	ALTER DATABASE postgres SET search_path = public, edgestate;
	CREATE TABLE t (key text, value float8, ts edgestate.hlc, region text, device text)
	  USING sensorstate;
	CREATE INDEX ON t (key, ts);
	CREATE TABLE m (sensor_id bigint, temp float8, at edgestate.hlc, site text) USING sensorstate;
	SELECT edgestate.configure('m', key_column => 'sensor_id', value_column => 'temp',
	                           ts_column => 'at', region_column => 'site');
	CREATE TABLE p (key text, value float8, ts edgestate.hlc, region text, device text, round int)
	  PARTITION BY RANGE (round);
	CREATE TABLE p_early PARTITION OF p FOR VALUES FROM (0) TO (2) USING sensorstate;
	CREATE TABLE p_late PARTITION OF p FOR VALUES FROM (2) TO (10) USING sensorstate;
});

# Columns of the tables mapped with configure(), for the oracle.
my %columns = (m => [qw(sensor_id temp at site NULL)]);

# Per-key reads for every 7th key.
sub latest_by_key {
	my ($node, $table) = @_;
	my $key = $table eq 'm' ? 'sensor_id' : 'key';
	return $node->safe_psql('postgres', qq{
		SELECT l.key, l.value, l.ts, l.region, l.device, l.state
		FROM (SELECT DISTINCT ${key}::text AS key FROM $table) k
		CROSS JOIN LATERAL edgestate.latest('$table', k.key) l
		WHERE hashtext(k.key) % 7 = 0 ORDER BY l.key});
}

# A round of readings: keys shared across rounds, narrow timestamp bands
# (conflicts), some rolled back.
sub load_round {
	my ($round) = @_;
	$primary->safe_psql('postgres', qq{
		INSERT INTO t
		SELECT 'k-' || (i * 31 % 150), (i * 7919 % 1000) / 10.0 + $round,
		       hlc(timestamptz '2026-03-01+00' + $round * interval '1 s' + (abs(hashtext(i::text || '-$round')) % 400) * interval '1 ms', i % 3),
		       (ARRAY['eu-west', 'us-east', 'ap-south'])[1 + i % 3],
		       CASE WHEN i % 4 = 0 THEN NULL ELSE 'gw-' || (i % 5) END
		FROM generate_series(1, 1500) i;
		INSERT INTO m
		SELECT i % 40, i + $round, hlc(now() - (i % 300) * interval '1 ms'), (ARRAY['eu-west', 'us-east'])[1 + i % 2]
		FROM generate_series(1, 400) i;
		INSERT INTO p
		SELECT 'k-' || (i * 17 % 60), i + $round,
		       hlc(timestamptz '2026-03-01+00' + (abs(hashtext(i::text || '/$round')) % 5000) * interval '1 ms', 0),
		       (ARRAY['eu-west', 'us-east'])[1 + i % 2], 'gw-' || (i % 3), $round
		FROM generate_series(1, 300) i;
		BEGIN;
		INSERT INTO t VALUES ('ghost-$round', 1, hlc_now(), 'eu-west', NULL);
		INSERT INTO m VALUES (-1, 1, hlc_now(), 'eu-west');
		ROLLBACK;
	});
}

load_round(1);
is(oracle_mismatches($primary, 't'), '0', 'primary: latest(t) equals the oracle');

$primary->backup('b');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'b', has_streaming => 1);
$standby->start;

load_round(2);
$primary->wait_for_catchup($standby);

sub compare_round {
	my ($label) = @_;
	for my $table ('t', 'm', 'p') {
		is(oracle_mismatches($primary, $table, columns => $columns{$table}), '0', "$label: primary latest($table) equals the oracle");
		is(oracle_mismatches($standby, $table, columns => $columns{$table}), '0', "$label: standby latest($table) equals the oracle");
		my $p = latest_rows($primary, $table);
		isnt($p, '', "$label: primary latest($table) is not empty");
		is(latest_rows($standby, $table), $p, "$label: standby latest($table) equals the primary's");
		is(latest_by_key($standby, $table), latest_by_key($primary, $table),
			"$label: standby latest($table, key) equals the primary's");
	}
	is($standby->safe_psql('postgres', q{SELECT count(*) FROM edgestate.latest('t') WHERE key LIKE 'ghost%'}),
		'0', "$label: rolled-back readings are not on the standby");
}

compare_round('round 2');
cmp_ok($standby->safe_psql('postgres', q{SELECT count(*) FROM edgestate.latest('t') WHERE conflicted}),
	'>', 0, 'the standby reports conflicted keys');

# The standby computes from the table: its reads are misses and its index
# stays empty.
my $s = latest_index_stats($standby);
cmp_ok($s->{misses}, '>', 0, 'standby reads are computed from the table (counted as misses)');
is($s->{keys}, '0', 'the standby keeps no latest index');

# Writes are refused on the standby.
my ($ret, $out, $err) = $standby->psql('postgres',
	q{INSERT INTO t VALUES ('k-1', 1, edgestate.hlc('2026-03-01+00'), 'eu-west', NULL)});
isnt($ret, 0, 'INSERT on the standby fails');
like($err, qr/cannot execute INSERT in a read-only transaction/, 'because the standby is read-only');
($ret, $out, $err) = $standby->psql('postgres', q{SELECT edgestate.purge('t', '1 day')});
isnt($ret, 0, 'purge() on the standby fails');

# A second round after the standby is up, including a new winner for every key.
load_round(3);
$primary->safe_psql('postgres', q{
	INSERT INTO t SELECT 'k-' || i, -i, hlc_now(), 'us-east', 'gw-new' FROM generate_series(0, 149) i;
});
$primary->wait_for_catchup($standby);
compare_round('round 3');
is($standby->safe_psql('postgres',
	q{SELECT count(*) FROM edgestate.latest('t') WHERE device = 'gw-new' AND value <= 0}),
	'150', 'the standby sees the newest winners');

# ---------------------------------------------------------------------------
# Promotion: the new primary maintains its own index.

my $final = latest_rows($primary, 't');
$primary->stop;
$standby->promote;
$standby->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()')
  or die 'the standby was not promoted';
is(latest_rows($standby, 't'), $final, 'after promotion latest(t) equals the old primary\'s');
is(oracle_mismatches($standby, 't'), '0', 'after promotion latest(t) equals the oracle');
$standby->safe_psql('postgres', q{
	INSERT INTO t SELECT 'k-' || i, 1000 + i, hlc_now(), 'ap-south', NULL FROM generate_series(0, 149, 3) i;
	INSERT INTO m VALUES (1, 1000, hlc_now(), 'eu-west');
});
is(oracle_mismatches($standby, 't'), '0', 'inserts on the promoted standby: latest(t) equals the oracle');
is(oracle_mismatches($standby, 'm', columns => $columns{'m'}), '0', 'latest(m) equals the oracle');
is($standby->safe_psql('postgres', q{SELECT value FROM edgestate.latest('t', 'k-3')}), '1003',
	'latest(t, key) on the promoted standby sees the new reading');
cmp_ok(latest_index_stats($standby)->{keys}, '>', 0, 'the promoted standby now keeps a latest index');

$standby->stop;
done_testing();
