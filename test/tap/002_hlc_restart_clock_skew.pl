# hlc_now() keeps increasing across clean restarts and crashes even when the
# server comes back with its wall clock set back an hour (libfaketime).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use Test::More;

my $libfaketime = '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1';
plan skip_all => "libfaketime not installed ($libfaketime)" unless -e $libfaketime;

my $node = PostgreSQL::Test::Cluster->new('clock_skew');
$node->init;
$node->start;
$node->safe_psql('postgres',
	'CREATE EXTENSION edgestate; ALTER DATABASE postgres SET search_path = public, edgestate');

sub now_hlc { return $node->safe_psql('postgres', 'SELECT edgestate.hlc_now()'); }
sub greater {
	my ($a, $b) = @_;
	return $node->safe_psql('postgres', "SELECT '$a'::edgestate.hlc > '$b'::edgestate.hlc");
}

my $before = now_hlc();

# Restart with the clock an hour behind.
$node->stop;
{
	local $ENV{LD_PRELOAD} = $libfaketime;
	local $ENV{FAKETIME} = '-1h';
	local $ENV{FAKETIME_DONT_FAKE_MONOTONIC} = '1';
	$node->start;
}
my $behind = $node->safe_psql('postgres',
	"SELECT extract(epoch FROM now() - '$before'::edgestate.hlc::timestamptz)::int / 60");
cmp_ok($behind, '<=', -55, "the server's wall clock is an hour behind ($behind min)");

my $after_clean = now_hlc();
is(greater($after_clean, $before), 't', "after a clean restart: $after_clean > $before");
my $next = now_hlc();
is(greater($next, $after_clean), 't', 'and it keeps increasing');

# Many calls in a row: the logical counter runs out within one millisecond and
# the clock borrows the next one instead of waiting an hour.
is($node->safe_psql('postgres',
	'SELECT bool_and(a < b) FROM (SELECT edgestate.hlc_now() a, edgestate.hlc_now() b FROM generate_series(1, 100000)) t'),
	't', '200,000 calls stay strictly increasing with the wall clock behind');
cmp_ok($node->safe_psql('postgres', "SELECT value FROM edgestate.counters() WHERE name = 'clock_borrowed'"),
	'>=', 3, 'the exhausted counter borrowed milliseconds (counted)');
my $last_before_crash = now_hlc();

# Crash (immediate stop = no shutdown checkpoint, no clean clock file) and
# restart, still an hour behind.
$node->stop('immediate');
{
	local $ENV{LD_PRELOAD} = $libfaketime;
	local $ENV{FAKETIME} = '-1h';
	local $ENV{FAKETIME_DONT_FAKE_MONOTONIC} = '1';
	$node->start;
}
my $after_crash = now_hlc();
is(greater($after_crash, $last_before_crash), 't',
	"after a crash: $after_crash > $last_before_crash");

# Back to the real clock: the clock joins the wall clock again.
$node->stop;
$node->start;
my $real = now_hlc();
is(greater($real, $after_crash), 't', 'with the real clock back, still increasing');
is($node->safe_psql('postgres',
	"SELECT abs(extract(epoch FROM clock_timestamp() - edgestate.hlc_now()::timestamptz)) < 5"),
	't', 'and it follows the wall clock again');

$node->stop;
done_testing();
