# pg_dump (custom format) and pg_restore of sensorstate tables: the restored
# tables are still sensorstate tables, their column mappings and retention
# (edgestate.configure) survive, their indexes and primary keys are rebuilt,
# and edgestate.latest() on the restored copies equals the oracle and the
# original's latest().
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SensorstateOracle;

my $node = PostgreSQL::Test::Cluster->new('sensorstate_dump');
$node->init;
$node->start;

# Conventional names: readings (public). Mapped names: gauges (public) and
# app.meters (a schema whose name sorts before "edgestate").
$node->safe_psql('postgres', q{
	CREATE EXTENSION edgestate;
	ALTER DATABASE postgres SET search_path = public, edgestate;
});
$node->safe_psql('postgres', q{
	CREATE TABLE readings (
	  key text, value float8, ts hlc, region text, device text,
	  PRIMARY KEY (key, ts, region)
	) USING sensorstate;
	CREATE INDEX readings_key_ts ON readings (key, ts DESC);

	CREATE TABLE gauges (
	  sensor_id bigint, temp float8, at hlc, site text,
	  PRIMARY KEY (sensor_id, at, site)
	) USING sensorstate;
	CREATE INDEX gauges_at ON gauges (at);
	SELECT configure('gauges', key_column => 'sensor_id', value_column => 'temp',
	                 ts_column => 'at', region_column => 'site', ttl => '30 days');

	CREATE SCHEMA app;
	CREATE TABLE app.meters (
	  sensor_id bigint, temp float8, at hlc, site text,
	  PRIMARY KEY (sensor_id, at, site)
	) USING sensorstate;
	SELECT configure('app.meters', key_column => 'sensor_id', value_column => 'temp',
	                 ts_column => 'at', region_column => 'site', ttl => '30 days');

	-- Pseudo-random readings: 100 keys, 3 regions, 4 devices, timestamps in a
	-- narrow band (conflicts) and out of order.
	INSERT INTO readings
	SELECT 'r-' || (i * 37 % 100),
	       (i * 7919 % 1000) / 10.0,
	       hlc(timestamptz '2026-03-01 00:00:00+00' + (i * 104729 % 400) * interval '1 ms', i % 3),
	       (ARRAY['eu-west', 'us-east', 'ap-south'])[1 + i % 3],
	       CASE WHEN i % 5 = 0 THEN NULL ELSE 'gw-' || (i % 4) END
	FROM generate_series(1, 3000) i
	ON CONFLICT DO NOTHING;

	-- Gauges: recent readings, and readings older than the 30-day ttl (some
	-- keys only have old ones).
	INSERT INTO gauges
	SELECT i % 60 - 20, i * 0.25,
	       hlc(now() - (i * 7 % 600) * interval '1 s' - i * interval '1 ms', i % 2),
	       (ARRAY['eu-west', 'us-east'])[1 + i % 2]
	FROM generate_series(1, 1000) i;
	INSERT INTO gauges
	SELECT 1000 + i % 10, -i, hlc(now() - interval '60 days' - i * interval '1 min'), 'eu-west'
	FROM generate_series(1, 50) i;
	INSERT INTO gauges
	SELECT i % 60 - 20, -i, hlc(now() - interval '90 days' - i * interval '1 min'), 'ap-south'
	FROM generate_series(1, 50) i;

	INSERT INTO app.meters
	SELECT i % 25, i, hlc(now() - (i % 100) * interval '1 s' - i * interval '1 ms'), (ARRAY['eu-west', 'us-east'])[1 + i % 2]
	FROM generate_series(1, 500) i;
	INSERT INTO app.meters
	SELECT 500 + i % 5, -i, hlc(now() - interval '45 days' - i * interval '1 s'), 'us-east'
	FROM generate_series(1, 20) i;
});

# Tables and their column roles (key, value, ts, region, device).
my %tables = (
	'readings' => [qw(key value ts region device)],
	'gauges' => [qw(sensor_id temp at site NULL)],
	'app.meters' => [qw(sensor_id temp at site NULL)],
);

# The oracle for table $t of database $db.
sub oracle
{
	my ($db, $t) = @_;
	return oracle_mismatches($node, $t, db => $db, columns => $tables{$t});
}

my $config_query = q{
	SELECT table_name::text, key_column, value_column, ts_column, region_column,
	       device_column, skew_bound_column, ttl
	FROM edgestate.sensorstate_config ORDER BY 1};

my (%latest, %count);
for my $t (sort keys %tables) {
	is(oracle('postgres', $t), '0', "original $t: latest() equals the oracle");
	$latest{$t} = latest_rows($node, $t, db => 'postgres');
	$count{$t} = $node->safe_psql('postgres', "SELECT count(*) FROM $t");
}
cmp_ok($node->safe_psql('postgres', q{SELECT count(*) FROM latest('readings') WHERE conflicted}),
	'>', 0, 'the original has conflicted keys');
my $config = $node->safe_psql('postgres', $config_query);
is($config, "app.meters|sensor_id|temp|at|site|||30 days\ngauges|sensor_id|temp|at|site|||30 days\nreadings|||||||",
	'the original configuration (readings uses the conventional names)');

# ---------------------------------------------------------------------------
# Dump, restore into a new database.

my $dump = $node->basedir . '/edgestate.dump';
$node->command_ok([ 'pg_dump', '-Fc', '-f', $dump, '-d', 'postgres' ], 'pg_dump -Fc');
$node->safe_psql('postgres', 'CREATE DATABASE restored');
$node->command_ok([ 'pg_restore', '-d', 'restored', $dump ], 'pg_restore into a new database');

is($node->safe_psql('restored', q{
	SELECT string_agg(n.nspname || '.' || c.relname || ':' || a.amname, ',' ORDER BY n.nspname, c.relname)
	FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_am a ON a.oid = c.relam
	WHERE c.relkind = 'r' AND n.nspname IN ('public', 'app')}),
	'app.meters:sensorstate,public.gauges:sensorstate,public.readings:sensorstate',
	'the restored tables are sensorstate tables (pg_class.relam)');
is($node->safe_psql('restored', $config_query), $config,
	'the column mappings and ttls survived (edgestate.sensorstate_config)');
is($node->safe_psql('restored', q{
	SELECT string_agg(indexrelid::regclass::text || ':' || indisprimary, ',' ORDER BY indexrelid::regclass::text)
	FROM pg_index WHERE indrelid IN ('readings'::regclass, 'gauges'::regclass, 'app.meters'::regclass)}),
	'app.meters_pkey:true,gauges_at:false,gauges_pkey:true,readings_key_ts:false,readings_pkey:true',
	'the indexes and primary keys were rebuilt');

for my $t (sort keys %tables) {
	is($node->safe_psql('restored', "SELECT count(*) FROM $t"), $count{$t},
		"restored $t has all $count{$t} rows");
	is(oracle('restored', $t), '0', "restored $t: latest() equals the oracle");
	is(latest_rows($node, $t, db => 'restored'), $latest{$t},
		"restored $t: latest() equals the original's latest()");
}
is(latest_index_stats($node)->{reloads}, '0',
	'the restored tables were indexed by the restore itself (no reload from the table)');

# The restored copies are live sensorstate tables: appends merge into the
# index, updates are refused, the primary key holds.
$node->safe_psql('restored', q{
	INSERT INTO gauges VALUES (1, 99, edgestate.hlc_now(), 'us-east');
	INSERT INTO readings VALUES ('r-1', 99, edgestate.hlc_now(), 'eu-west', 'gw-1');
});
is($node->safe_psql('restored', q{SELECT value FROM edgestate.latest('gauges', '1')}), '99',
	'a new reading on the restored copy is the latest');
is(oracle('restored', 'readings'), '0', 'restored readings after an insert: oracle holds');
my ($ret, $out, $err) = $node->psql('restored', q{UPDATE readings SET value = 0});
like($err, qr/cannot update rows of sensorstate table "readings"/, 'UPDATE is still refused');
($ret, $out, $err) = $node->psql('restored', q{
	INSERT INTO readings SELECT key, value, ts, region, device FROM readings LIMIT 1});
like($err, qr/duplicate key value violates unique constraint "readings_pkey"/,
	'the primary key is enforced');
is(oracle('restored', 'readings'), '0', 'the failed inserts left no trace');

# Retention configured before the dump works on the restored copy. The
# restored database has the default search_path (pg_restore does not carry
# ALTER DATABASE settings).
my %old;
for my $t ('gauges', 'app.meters') {
	$old{$t} = $node->safe_psql('restored',
		"SELECT count(*) FROM $t WHERE at::timestamptz < now() - interval '30 days'");
}
cmp_ok($old{gauges}, '>', 0, "gauges has $old{gauges} readings older than the ttl");
($ret, $out, $err) = $node->psql('restored',
	q{SELECT table_name, purged FROM edgestate.purge_expired()});
is($err, '', 'purge_expired() runs in the restored database');
is(join("\n", sort split /\n/, $out), "app.meters|$old{'app.meters'}\ngauges|$old{gauges}",
	'and purges the readings older than each table\'s ttl');
for my $t ('gauges', 'app.meters') {
	is(oracle('restored', $t), '0', "restored $t after purge_expired(): oracle holds");
}
is($node->safe_psql('restored', q{SELECT count(*) FROM edgestate.latest('gauges') WHERE key::int >= 1000}),
	'0', 'keys whose readings all expired are gone from latest()');

# The original is untouched by all this.
for my $t (sort keys %tables) {
	is(latest_rows($node, $t, db => 'postgres'), $latest{$t}, "original $t: latest() unchanged");
}

$node->stop;
done_testing();
