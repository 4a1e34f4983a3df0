# The latest index of a sensorstate table agrees with the oracle
# (merge_agg of state_of over the table's rows) after a random workload with
# out-of-order timestamps, aborted transactions, rolled-back savepoints and a
# COPY batch; after a clean restart (restored from the snapshot, no reload);
# after an immediate stop (no snapshot: reloaded from the table); and after a
# backend is killed with SIGKILL (crash-restart of the whole server).
use strict;
use warnings;
use POSIX qw(strftime);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SensorstateOracle;

my $seed = $ENV{EDGESTATE_SEED} // 20260301;
note "random seed $seed (set EDGESTATE_SEED to replay another)";
srand($seed);

my $node = PostgreSQL::Test::Cluster->new('sensorstate_restart');
$node->init;
# Cluster.pm turns crash-restart off; this test needs it for the SIGKILL case.
$node->append_conf('postgresql.conf', "restart_after_crash = on");
# An asynchronous commit right before the immediate stop stays unflushed (and
# is lost in the crash) instead of racing the WAL writer.
$node->append_conf('postgresql.conf', "wal_writer_delay = '10s'");
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION edgestate;
	ALTER DATABASE postgres SET search_path = public, edgestate;
	CREATE TABLE t (key text, value float8, ts edgestate.hlc, region text, device text)
	  USING sensorstate;
});

my $snapshot = $node->data_dir . '/edgestate_latest.snapshot';

sub distinct_keys {
	return $node->safe_psql('postgres', 'SELECT count(DISTINCT key) FROM t');
}

# ---------------------------------------------------------------------------
# Random readings. Timestamps are milliseconds after a base instant; a third
# of them land within a few milliseconds of a per-key "hot" instant so that
# readings from different origins fall into each other's skew window (50 ms by
# default) and conflicts are common.

my $base_ms = 1772323200000;    # 2026-03-01 00:00:00 UTC
my @regions = ('eu-west', 'us-east', 'ap-south');
my @devices = ('gw-1', 'gw-2', 'gw-3', 'gw-4', undef);
my $nkeys = 200;
my @hot = map { int(rand(3_600_000)) } 1 .. $nkeys;

sub reading {
	my ($key_index) = @_;
	$key_index //= int(rand($nkeys));
	my $ms = rand() < 0.35
	  ? $hot[$key_index] + int(rand(120))
	  : int(rand(3_600_000));
	my $value =
	    rand() < 0.01 ? 'NaN'
	  : rand() < 0.10 ? int(rand(5))    # repeated values: ties broken by bytes
	  : sprintf('%.3f', rand(200) - 100);
	return {
		key => sprintf('sensor-%03d', $key_index),
		value => $value,
		ms => $ms,
		logical => rand() < 0.7 ? 0 : int(rand(4)),
		region => $regions[ int(rand(@regions)) ],
		device => $devices[ int(rand(@devices)) ],
	};
}

sub values_sql {
	my ($r) = @_;
	my $device = defined $r->{device} ? "'$r->{device}'" : 'NULL';
	return sprintf(
		"('%s', '%s', edgestate.hlc(timestamptz '2026-03-01 00:00:00+00' + %d * interval '1 ms', %d), '%s', %s)",
		$r->{key}, $r->{value}, $r->{ms}, $r->{logical}, $r->{region}, $device);
}

sub insert_sql {
	my ($n, $key_index) = @_;
	return 'INSERT INTO t VALUES '
	  . join(",\n", map { values_sql(reading($key_index)) } 1 .. $n) . ";\n";
}

sub copy_line {
	my ($r) = @_;
	my $ms = $base_ms + $r->{ms};
	my $text = strftime('%Y-%m-%d %H:%M:%S', gmtime(int($ms / 1000)))
	  . sprintf('.%03d+00#%d', $ms % 1000, $r->{logical});
	return join("\t", $r->{key}, $r->{value}, $text, $r->{region}, $r->{device} // '\N') . "\n";
}

# Random workload: committed multi-row inserts, single-row inserts, aborted
# transactions, savepoints, and keys that only ever appear in aborted work.
sub workload {
	my ($rounds) = @_;
	my $sql = '';
	for my $round (1 .. $rounds) {
		my $kind = rand();
		if ($kind < 0.55) {
			$sql .= "BEGIN;\n" . insert_sql(20 + int(rand(100)));
			$sql .= insert_sql(1) for 1 .. 5;
			$sql .= "COMMIT;\n";
		}
		elsif ($kind < 0.70) {
			$sql .= "BEGIN;\n" . insert_sql(50);
			$sql .= "INSERT INTO t VALUES ('ghost-$round', 1e9, edgestate.hlc('2030-01-01+00'), 'eu-west', NULL);\n";
			$sql .= "ROLLBACK;\n";
		}
		else {
			$sql .= "BEGIN;\n" . insert_sql(30);
			$sql .= "SAVEPOINT a;\n" . insert_sql(30);
			$sql .= "INSERT INTO t VALUES ('ghost-sp-$round', 1e9, edgestate.hlc('2030-01-01+00'), 'us-east', NULL);\n";
			$sql .= "SAVEPOINT a1;\n" . insert_sql(10) . "RELEASE a1;\n";
			$sql .= "ROLLBACK TO a;\n";
			$sql .= "SAVEPOINT b;\n" . insert_sql(20);
			$sql .= "SAVEPOINT c;\n" . insert_sql(10) . "ROLLBACK TO c;\n";
			$sql .= "RELEASE b;\n" . insert_sql(10) . "COMMIT;\n";
		}
	}
	return $sql;
}

$node->safe_psql('postgres', workload(40));

# A transaction that fails with an error also leaves no trace.
my ($ret, $out, $err) = $node->psql('postgres',
	"BEGIN;\n" . insert_sql(40)
	  . "INSERT INTO t VALUES ('ghost-error', 1e9, edgestate.hlc('2030-01-01+00'), 'eu-west', NULL);\n"
	  . "SELECT 1/0;\nCOMMIT;\n");
isnt($ret, 0, 'a transaction that raises an error fails');

# COPY: 1,500 readings of 20 keys, each key many times, in random order.
{
	my $copy = "COPY t FROM stdin;\n";
	$copy .= copy_line(reading(int(rand(20)) * 10)) for 1 .. 1500;
	$copy .= "\\.\n";
	$node->safe_psql('postgres', $copy);
}

my $rows = $node->safe_psql('postgres', 'SELECT count(*) FROM t');
cmp_ok($rows, '>=', 3000, "the workload committed $rows readings");
is($node->safe_psql('postgres', q{SELECT count(*) FROM t WHERE key LIKE 'ghost%'}), '0',
	'aborted work left no rows');
cmp_ok($node->safe_psql('postgres',
	'SELECT count(*) FROM edgestate.latest(\'t\') WHERE conflicted'), '>', 0,
	'the workload produced conflicted keys');
is(oracle_mismatches($node, 't'), '0', 'after the workload latest() equals the oracle');
is($node->safe_psql('postgres', q{SELECT count(*) FROM edgestate.latest('t')}), distinct_keys(),
	'latest() returns one row per key');
is($node->safe_psql('postgres', q{SELECT count(*) FROM edgestate.latest('t') WHERE key LIKE 'ghost%'}),
	'0', 'no key of aborted work in latest()');
my $s = latest_index_stats($node);
is($s->{reloads}, '0', 'the index was built by the inserts, never reloaded');
cmp_ok($s->{misses}, '==', 0, 'and every read was a hit');

# ---------------------------------------------------------------------------
# Clean restart: the index is saved at shutdown and restored at startup.

my $latest_before = $node->safe_psql('postgres',
	q{SELECT key, state FROM edgestate.latest('t') ORDER BY key});
$node->stop;
ok(-f $snapshot, 'a clean shutdown saves the latest-index snapshot');
$node->start;
ok(!-e $snapshot, 'startup consumes the snapshot file');

$s = latest_index_stats($node);
is($s->{reloads}, '0', 'after a clean restart nothing has been reloaded');
cmp_ok($s->{keys}, '>=', distinct_keys(), "the index holds the restored keys ($s->{keys})");
is($node->safe_psql('postgres', q{SELECT key, state FROM edgestate.latest('t') ORDER BY key}),
	$latest_before, 'latest() after the clean restart equals latest() before it');
my $s2 = latest_index_stats($node);
is($s2->{hits} - $s->{hits}, 1, 'the read after the restart was a hit');
is($s2->{misses}, $s->{misses}, 'not a miss');
is($s2->{reloads}, '0', 'and did not reload the table');
is(oracle_mismatches($node, 't'), '0', 'after the clean restart latest() equals the oracle');

$node->safe_psql('postgres', workload(10));
is(oracle_mismatches($node, 't'), '0', 'inserts after the restart merge into the restored index');
is(latest_index_stats($node)->{reloads}, '0', 'still without a reload');

# ---------------------------------------------------------------------------
# Crash (immediate stop): no snapshot; the index reloads from the table.

# A last transaction with asynchronous commit right before the crash: whether
# or not it survives, the index must agree with what the table holds.
$node->safe_psql('postgres', "SET synchronous_commit = off;\nBEGIN;\n" . insert_sql(30)
	  . "INSERT INTO t VALUES ('async-key', 42, edgestate.hlc('2031-01-01+00'), 'eu-west', NULL);\nCOMMIT;\n");
$node->stop('immediate');
ok(!-e $snapshot, 'an immediate stop (crash) leaves no snapshot');
$node->start;

$s = latest_index_stats($node);
is($s->{reloads}, '0', 'after the crash nothing is loaded yet');
is($node->safe_psql('postgres', q{SELECT count(*) FROM edgestate.latest('t', 'async-key')}),
	$node->safe_psql('postgres', q{SELECT count(DISTINCT key) FROM t WHERE key = 'async-key'}),
	'the asynchronously committed key is in latest() exactly when it survived in the table');
$s = latest_index_stats($node);
is(oracle_mismatches($node, 't'), '0', 'after the crash latest() equals the oracle');
$s2 = latest_index_stats($node);
cmp_ok($s2->{misses}, '>', $s->{misses}, 'the first read after the crash was a miss');
cmp_ok($s2->{reloads}, '>', $s->{reloads}, 'and reloaded the table');

$node->safe_psql('postgres', workload(10));
is(oracle_mismatches($node, 't'), '0', 'inserts after the crash: latest() equals the oracle');
my $s3 = latest_index_stats($node);
is($s3->{reloads}, $s2->{reloads}, 'the reloaded index is maintained by inserts (no new reload)');
is($s3->{misses}, $s2->{misses}, 'reads after the reload are hits');

# ---------------------------------------------------------------------------
# SIGKILL of a backend: the postmaster restarts every process and
# reinitialises shared memory.

my $victim = $node->background_psql('postgres');
my $pid = $victim->query_safe('SELECT pg_backend_pid()');
like($pid, qr/^\d+$/, "backend to kill: $pid");
$victim->query_safe("BEGIN");
$victim->query_safe(insert_sql(20));
$victim->query_safe("INSERT INTO t VALUES ('ghost-killed', 1e9, edgestate.hlc('2030-01-01+00'), 'eu-west', NULL)");
# Committed work by another session just before the kill.
$node->safe_psql('postgres', workload(5));

my $log_offset = -s $node->logfile;
$node->command_ok([ 'pg_ctl', 'kill', 'KILL', $pid ], 'SIGKILL the backend');
$node->wait_for_log(qr/all server processes terminated; reinitializing/, $log_offset);
$node->poll_query_until('postgres', 'SELECT true')
  or die 'the server did not come back after the crash';
eval { $victim->{run}->kill_kill };

is($node->safe_psql('postgres', q{SELECT count(*) FROM t WHERE key = 'ghost-killed'}), '0',
	'the killed transaction left no row');
is(oracle_mismatches($node, 't'), '0', 'after the crash-restart latest() equals the oracle');
is($node->safe_psql('postgres', q{SELECT count(*) FROM edgestate.latest('t', 'ghost-killed')}), '0',
	'the killed transaction left no key');
cmp_ok(latest_index_stats($node)->{reloads}, '>=', 1, 'the index was reloaded after the crash-restart');
$node->safe_psql('postgres', workload(5));
is(oracle_mismatches($node, 't'), '0', 'inserts after the crash-restart: latest() equals the oracle');

# Per-key reads agree with the oracle too, for a sample of keys.
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM (
	  SELECT key, edgestate.merge_agg(edgestate.state_of(value, ts, region, device)) s
	  FROM t GROUP BY key ORDER BY key LIMIT 40) o
	LEFT JOIN LATERAL edgestate.latest('t', o.key) l ON true
	WHERE l.state IS DISTINCT FROM o.s}), '0', 'latest(t, key) equals the oracle for 40 keys');

# A prepared transaction pending across restarts: whether the index comes back
# from the snapshot (clean stop) or empty (immediate stop), reads after the
# restart must not mark the table complete without the prepared rows, which
# its later COMMIT PREPARED makes visible.
$node->safe_psql('postgres', q{
	CREATE TABLE pt (key text, value float8, ts edgestate.hlc, region text, device text)
	  USING sensorstate;
	INSERT INTO pt VALUES ('a', 1, edgestate.hlc(now()), 'eu-west', NULL);
	BEGIN;
	INSERT INTO pt VALUES ('p', 5, edgestate.hlc(now()), 'eu-west', NULL),
	                      ('a', 2, edgestate.hlc(now() + interval '1 s'), 'eu-west', NULL);
	PREPARE TRANSACTION 'pt_fast';
	BEGIN;
	INSERT INTO pt VALUES ('q', 6, edgestate.hlc(now()), 'eu-west', NULL);
	PREPARE TRANSACTION 'pt_immediate';
});
my %committed = (fast => 'a=2,p=5', immediate => 'a=2,p=5,q=6');
for my $mode ('fast', 'immediate') {
	$node->stop($mode);
	$node->start;
	my $shown = $mode eq 'fast' ? 'a=1' : 'a=2,p=5';
	is($node->safe_psql('postgres',
			q{SELECT string_agg(key || '=' || value, ',' ORDER BY key) FROM edgestate.latest('pt')}),
		$shown, "after a $mode stop, latest(pt) shows no prepared reading");
	is($node->safe_psql('postgres', q{SELECT count(*) FROM edgestate.latest('pt', 'p')}),
		$mode eq 'fast' ? '0' : '1', "after a $mode stop, latest(pt, key) agrees");
	my $head = $node->safe_psql('postgres', 'SELECT edgestate.invalidation_head()');
	$node->safe_psql('postgres', "COMMIT PREPARED 'pt_$mode'");
	is($node->safe_psql('postgres', "SELECT bool_or(resync) FROM edgestate.invalidations_since($head)"),
		't', "COMMIT PREPARED 'pt_$mode' after the restart tells dashboards to resync");
	is($node->safe_psql('postgres',
			q{SELECT string_agg(key || '=' || value, ',' ORDER BY key) FROM edgestate.latest('pt')}),
		$committed{$mode}, "after COMMIT PREPARED 'pt_$mode', latest(pt) shows its readings");
	is(oracle_mismatches($node, 'pt'), '0', "and equals the oracle");
}
# Committed after a restart with no read in between: nothing tells what it
# wrote, so every client of the database is told to resync.
$node->safe_psql('postgres', q{
	BEGIN;
	INSERT INTO pt VALUES ('r', 7, edgestate.hlc(now()), 'eu-west', NULL);
	PREPARE TRANSACTION 'pt_unread';
});
$node->stop('immediate');
$node->start;
my $head = $node->safe_psql('postgres', 'SELECT edgestate.invalidation_head()');
$node->safe_psql('postgres', "COMMIT PREPARED 'pt_unread'");
is($node->safe_psql('postgres', "SELECT bool_or(resync) FROM edgestate.invalidations_since($head)"),
	't', 'COMMIT PREPARED of a transaction prepared before the restart, unread since: a resync');
is($node->safe_psql('postgres', q{SELECT value FROM edgestate.latest('pt', 'r')}), '7',
	'and latest(pt, key) shows its reading');
is(oracle_mismatches($node, 'pt'), '0', 'latest(pt) equals the oracle');

$node->stop;
done_testing();
