# Logical decoding of a sensorstate table with test_decoding: storage is
# heap, so its inserts (single rows, multi-row INSERT and COPY, which heap
# logs as multi-insert) decode as ordinary INSERTs, and only committed work
# appears: not aborted transactions, not rolled-back savepoints.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SensorstateOracle;

my $node = PostgreSQL::Test::Cluster->new('sensorstate_decoding');
$node->init(allows_streaming => 'logical');
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION edgestate;
	ALTER DATABASE postgres SET search_path = public, edgestate;
	CREATE TABLE t (key text, value float8, ts edgestate.hlc, region text, device text)
	  USING sensorstate;
	CREATE TABLE plain (id int, note text);
});

$node->safe_psql('postgres',
	q{SELECT 'init' FROM pg_create_logical_replication_slot('s', 'test_decoding')});

# Committed: a single row, a multi-row INSERT, a row of an ordinary table, a
# released savepoint; rolled back inside it: a savepoint.
$node->safe_psql('postgres', q{
	BEGIN;
	INSERT INTO t VALUES ('a', 1.5, hlc('2026-03-01 00:00:00.001+00', 0), 'eu-west', 'gw-1');
	INSERT INTO t VALUES ('b', -2, hlc('2026-03-01 00:00:00.002+00', 3), 'us-east', NULL),
	                     ('it''s', 3.25, hlc('2026-03-01 00:00:00.003+00', 1), 'ap-south', 'gw "2"');
	INSERT INTO plain VALUES (1, 'not a reading');
	SAVEPOINT sp;
	INSERT INTO t VALUES ('rolled-back', 99, hlc('2030-01-01+00'), 'eu-west', NULL);
	ROLLBACK TO sp;
	SAVEPOINT kept;
	INSERT INTO t VALUES ('a', 1.75, hlc('2026-03-01 00:00:00.004+00', 0), 'us-east', 'gw-9');
	RELEASE kept;
	COMMIT;
});
# Aborted: explicitly, and by an error.
$node->safe_psql('postgres', q{
	BEGIN;
	INSERT INTO t VALUES ('aborted', 7, hlc('2026-03-01+00'), 'eu-west', NULL);
	INSERT INTO t SELECT 'aborted-' || i, i, hlc('2026-03-01+00'), 'eu-west', NULL FROM generate_series(1, 5) i;
	ROLLBACK;
});
my ($ret) = $node->psql('postgres', q{
	BEGIN;
	INSERT INTO t VALUES ('failed', 8, hlc('2026-03-01+00'), 'eu-west', NULL);
	SELECT 1/0;
	COMMIT;
});
isnt($ret, 0, 'the failing transaction fails');
# Committed: COPY, repeating a key out of order.
$node->safe_psql('postgres', qq{
COPY t FROM stdin;
c	3	2026-03-01 00:00:01.003+00#0	eu-west	gw-1
c	1	2026-03-01 00:00:01.001+00#0	eu-west	gw-1
c	2	2026-03-01 00:00:01.002+00#2	us-east	\\N
\\.
});

my $changes = $node->safe_psql('postgres', q{
	SELECT data FROM pg_logical_slot_get_changes('s', NULL, NULL,
	  'include-xids', '0', 'skip-empty-xacts', '1')});
note $changes;
my @lines = split /\n/, $changes;

is(scalar(grep { $_ eq 'BEGIN' } @lines), 2, 'two transactions decoded (the aborted ones are not)');
is(scalar(grep { /^COMMIT/ } @lines), 2, 'each with its COMMIT');
is(scalar(grep { /^table / && !/^table public\.(t|plain): INSERT: / } @lines), 0,
	'every change is an INSERT');
is(scalar(grep { /^table public\.plain: INSERT: / } @lines), 1, 'the ordinary table\'s row is there');

# Parse the decoded rows of t and compare them with the table.
my @decoded;
for my $line (@lines) {
	next unless $line =~ /^table public\.t: INSERT: (.*)$/;
	my $cols = $1;
	my @fields;
	while ($cols =~ /\G\s*(\w+)\[([^\]]+)\]:('(?:[^']|'')*'|\S+)/gc) {
		my ($name, $type, $v) = ($1, $2, $3);
		$v = $v eq 'null' ? '' : $v;
		$v =~ s/^'(.*)'$/$1/s and $v =~ s/''/'/g;
		push @fields, "$name=$v";
	}
	push @decoded, join('|', @fields);
}
is(scalar(@decoded), 7, 'seven readings decoded');
my $expected = $node->safe_psql('postgres', q{
	SELECT format('key=%s|value=%s|ts=%s|region=%s|device=%s', key, value, ts, region, coalesce(device, ''))
	FROM t ORDER BY ctid});
is(join("\n", @decoded), $expected, 'the decoded readings are exactly the committed rows, in order');
is(scalar(grep { /rolled-back|aborted|failed/ } @lines), 0,
	'nothing of aborted transactions or rolled-back savepoints');
like($changes, qr/ts\[(edgestate\.)?hlc\]:'2026-03-01 00:00:00\.002\+00#3'/,
	'an hlc decodes in its text form');

# The slot is consumed; new work decodes from there.
$node->safe_psql('postgres',
	q{INSERT INTO t VALUES ('d', 4, hlc('2026-03-01 00:00:02+00'), 'eu-west', NULL)});
$changes = $node->safe_psql('postgres', q{
	SELECT data FROM pg_logical_slot_get_changes('s', NULL, NULL,
	  'include-xids', '0', 'skip-empty-xacts', '1')});
like($changes, qr/^BEGIN\ntable public\.t: INSERT: key\[text\]:'d' value\[double precision\]:4 ts\[(edgestate\.)?hlc\]:'2026-03-01 00:00:02(\.000)?\+00(#0)?' region\[text\]:'eu-west' device\[text\]:null\nCOMMIT$/,
	'a later insert decodes alone');

is(oracle_mismatches($node, 't'), '0', 'latest() equals the oracle');
is($node->safe_psql('postgres', q{SELECT string_agg(key || '=' || value, ',' ORDER BY key) FROM edgestate.latest('t')}),
	'a=1.75,b=-2,c=3,d=4,it\'s=3.25', 'latest() shows exactly the committed winners');

$node->safe_psql('postgres', q{SELECT pg_drop_replication_slot('s')});
$node->stop;
done_testing();
