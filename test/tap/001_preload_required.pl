# Without shared_preload_libraries the extension installs and its types work,
# but what needs shared memory refuses with a clear error and hint.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('no_preload');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = ''");
$node->start;

$node->safe_psql('postgres', 'CREATE EXTENSION edgestate');
is($node->safe_psql('postgres', "SELECT '2026-11-26 06:20:40.123+00#5'::edgestate.hlc"),
	'2026-11-26 06:20:40.123+00#5', 'types work without preloading');

my ($ret, $stdout, $stderr) =
  $node->psql('postgres', '\set VERBOSITY verbose' . "\n" . 'SELECT edgestate.hlc_now()');
isnt($ret, 0, 'hlc_now() fails without preloading');
like($stderr, qr/ERROR:  55000: hlc_now\(\) requires edgestate to be loaded via shared_preload_libraries/,
	'with SQLSTATE 55000 and a message naming the setting');
like($stderr, qr/HINT:  Add 'edgestate' to shared_preload_libraries/, 'with a hint');

($ret, $stdout, $stderr) = $node->psql('postgres', "SELECT edgestate.hlc_observe('2026-01-01+00')");
like($stderr, qr/hlc_observe\(\) requires edgestate/, 'hlc_observe() refuses too');
is($node->safe_psql('postgres', 'SELECT 1'), '1', 'the backend keeps working');

# Preloading makes the clock available without reinstalling anything.
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'edgestate'");
$node->restart;
is($node->safe_psql('postgres', 'SELECT edgestate.hlc_now() IS NOT NULL'), 't',
	'hlc_now() works once preloaded');

$node->stop;
done_testing();
