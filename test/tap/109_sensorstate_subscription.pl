# Native logical replication into a sensorstate table: the subscriber's apply
# worker inserts through the access method, so the subscriber's latest index
# and invalidations follow the publisher's commits, for the initial copy,
# plain transactions and two-phase transactions (two_phase = true), whose
# COMMIT PREPARED the apply worker runs without a COMMIT PREPARED statement.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SensorstateOracle;

my $publisher = PostgreSQL::Test::Cluster->new('publisher');
$publisher->init(allows_streaming => 'logical');
$publisher->start;
my $subscriber = PostgreSQL::Test::Cluster->new('subscriber');
$subscriber->init;
$subscriber->start;

for my $node ($publisher, $subscriber)
{
	$node->safe_psql('postgres', q{
		CREATE EXTENSION edgestate;
		CREATE TABLE r (key text, value float8, ts edgestate.hlc, region text, device text)
		  USING sensorstate;
	});
}

sub insert_sql
{
	my ($from, $to) = @_;
	return qq{INSERT INTO r SELECT 'k' || (i % 50), i,
	             edgestate.hlc('2026-01-01+00'::timestamptz + (i * 7919 % 1000) * interval '1 s'),
	             (ARRAY['eu-west', 'us-east'])[1 + i % 2], 'gw-' || (i % 3)
	          FROM generate_series($from, $to) i};
}

# Rows before the subscription: the table sync worker copies them.
$publisher->safe_psql('postgres', insert_sql(1, 500));
$publisher->safe_psql('postgres', 'CREATE PUBLICATION p FOR TABLE r');
my $connstr = $publisher->connstr . ' dbname=postgres';
$subscriber->safe_psql('postgres',
	"CREATE SUBSCRIPTION s CONNECTION '$connstr' PUBLICATION p WITH (two_phase = true)");
$subscriber->wait_for_subscription_sync($publisher, 's');
is(latest_rows($subscriber, 'r'), latest_rows($publisher, 'r'),
	'after the initial copy the subscriber\'s latest(r) equals the publisher\'s');
is(oracle_mismatches($subscriber, 'r'), '0', 'and equals the oracle on the subscriber');

# A plain transaction, applied by the apply worker.
$publisher->safe_psql('postgres', insert_sql(501, 800));
$publisher->wait_for_catchup('s');
is(latest_rows($subscriber, 'r'), latest_rows($publisher, 'r'),
	'after a replicated transaction latest(r) agrees');
is(oracle_mismatches($subscriber, 'r'), '0', 'and equals the oracle');

# A two-phase transaction: prepared on the subscriber first, committed later.
$publisher->safe_psql('postgres', 'BEGIN; ' . insert_sql(801, 900) . "; PREPARE TRANSACTION 'tp';");
$publisher->wait_for_catchup('s');
is($subscriber->safe_psql('postgres', 'SELECT count(*) FROM pg_prepared_xacts'), '1',
	'the subscriber holds the prepared transaction');
my $head = $subscriber->safe_psql('postgres', 'SELECT edgestate.invalidation_head()');
$publisher->safe_psql('postgres', "COMMIT PREPARED 'tp'");
$publisher->wait_for_catchup('s');
is($subscriber->safe_psql('postgres', 'SELECT count(*) FROM pg_prepared_xacts'), '0',
	'the apply worker committed it');
# Before any read of r: the apply worker's commit itself announced the table.
is($subscriber->safe_psql('postgres',
		"SELECT bool_or(resync) FROM edgestate.invalidations_since($head)"),
	't', 'the apply worker\'s COMMIT PREPARED tells the subscriber\'s dashboards to resync');
is(latest_rows($subscriber, 'r'), latest_rows($publisher, 'r'),
	'after COMMIT PREPARED latest(r) agrees');
is(oracle_mismatches($subscriber, 'r'), '0', 'and equals the oracle');

$subscriber->stop;
$publisher->stop;
done_testing();
