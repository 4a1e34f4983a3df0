# Many concurrent sessions never see a repeated or decreasing hlc_now():
# pgbench clients record (client, sequence, hlc) and the test checks global
# uniqueness and per-client order.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('hlc_concurrency');
$node->init;
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION edgestate;
	ALTER DATABASE postgres SET search_path = public, edgestate;
	CREATE TABLE stamps (client int, seq bigserial, ts edgestate.hlc);
});

$node->pgbench(
	'--no-vacuum --client=16 --jobs=2 --transactions=500',
	0,
	[qr{processed: 8000/8000}],
	[qr{^$}],
	'16 clients take 8000 x 5 timestamps',
	{
		'hlc_stamps' => q{
			INSERT INTO stamps (client, ts) SELECT :client_id, edgestate.hlc_now() FROM generate_series(1, 5);
		}
	});

is($node->safe_psql('postgres', 'SELECT count(*), count(DISTINCT ts) FROM stamps'),
	'40000|40000', 'every timestamp is unique across all sessions');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM (
	  SELECT ts <= lag(ts) OVER (PARTITION BY client ORDER BY seq) AS backwards FROM stamps) t
	WHERE backwards}),
	'0', 'no session ever sees its clock go backwards');

$node->stop;
done_testing();
