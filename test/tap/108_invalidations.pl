# Invalidations (building block 4, docs/invalidations.md): committed changes
# of the latest value reach LISTENing dashboards through the "edgestate
# invalidations" background worker, coalesced, per region, without values;
# the reference client edgestate-listen follows them and never misses a key.
#
#  1. every committed change of a latest value reaches the client of its
#     region, with the final value; an older reading that changes nothing,
#     and other regions' keys, do not; NOTIFY payloads carry keys, not values
#  1b. two regions written alternately: on each channel the sequence numbers
#     jump over the other region's, and prev_seq tells those jumps from lost
#     payloads, so the clients never catch up
#  2. aborted transactions, failed ones and rolled-back savepoints add nothing
#  2b. a purge or TRUNCATE resets a table as a whole: the clients resync
#  3. a client whose connection is killed reconnects and catches up
#  4. a ring overrun is a resync (invalidations_since() and the client)
#  5. region names with quotes, spaces, dots and non-ASCII: safe channels,
#     exact filtering
#  6. the worker comes back after pg_terminate_backend and after SIGKILL (a
#     crash restart of the server)
#  7. writers never NOTIFY: a writer that LISTENs hears the worker's PID
#
# The client is not installed with the extension: scripts/test.sh exports
# EDGESTATE_LISTEN (a copy of the build's edgestate-listen).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use Time::HiRes qw(time usleep);

my $listen_bin = $ENV{EDGESTATE_LISTEN};
plan skip_all => 'EDGESTATE_LISTEN is not set: export it as the path of the built '
  . 'edgestate-listen (scripts/test.sh sets it to a copy of build/edgestate-listen)'
  unless defined $listen_bin && $listen_bin ne '';
plan skip_all => "EDGESTATE_LISTEN=$listen_bin is not an executable file"
  unless -f $listen_bin && -x $listen_bin;

my $started = time();
sub mark { note sprintf('%5.1f s: %s', time() - $started, $_[0]); }
my $tmp = PostgreSQL::Test::Utils::tempdir();
my $wait_seconds = 30;    # the longest any single condition is waited for

# ---------------------------------------------------------------------------
# Helpers.

sub q_lit
{
	my ($s) = @_;
	$s =~ s/'/''/g;
	return "'$s'";
}

# VALUES rows for t: [key, value, region] (device gw1, ts hlc_now()).
sub rows
{
	return join(', ',
		map { sprintf("(%s, %s, hlc_now(), %s, 'gw1')", q_lit($_->[0]), $_->[1], q_lit($_->[2])) }
		  @_);
}

sub wait_until
{
	my ($what, $cond) = @_;
	my $deadline = time() + $wait_seconds;
	while (time() < $deadline)
	{
		return 1 if $cond->();
		usleep(50_000);
	}
	return 1 if $cond->();
	diag "timed out after $wait_seconds s waiting for $what";
	return 0;
}

my @clients;

# Starts edgestate-listen for some regions, its output in files, and waits
# until it has LISTENed and read the head (its last startup query).
sub start_client
{
	my ($node, $name, @regions) = @_;
	# A trailing { table => NAME } follows that table only (--table).
	my $options = ref $regions[-1] eq 'HASH' ? pop @regions : {};
	my $c = {
		name => $name,
		node => $node,
		out => "$tmp/$name.out",
		err => "$tmp/$name.err",
		regions => [@regions] };
	my @cmd = (
		$listen_bin, (map { ('--region', $_) } @regions),
		(defined $options->{table} ? ('--table', $options->{table}) : ()),
		'--timeout', '180',
		# Its statements go to the server log, where part 1b counts its catch-ups.
		$node->connstr('postgres') . " application_name=$name options=-clog_statement=all");
	$c->{h} = IPC::Run::start(\@cmd, '<', \undef, '>', $c->{out}, '2>', $c->{err});
	push @clients, $c;
	my $ok = wait_until(
		"client $name to start",
		sub {
			$node->safe_psql('postgres', qq{
				SELECT count(*) FROM pg_stat_activity
				WHERE application_name = '$name' AND state = 'idle'
				  AND query = 'SELECT edgestate.invalidation_head()'}) eq '1';
		});
	die "client $name did not start: " . client_err($c) unless $ok;
	return $c;
}

sub client_err
{
	my ($c) = @_;
	return -e $c->{err} ? slurp_file($c->{err}) : '';
}

# The client's complete lines, parsed: {seq, region, table, key, value} or
# {resync => seq} or {bad => line}. Keys and tables have no spaces here, so a
# region (which may) is everything between the seq and the last three fields.
sub lines_of
{
	my ($c) = @_;
	my $text = -e $c->{out} ? slurp_file($c->{out}) : '';
	$text =~ s/[^\n]*\z//;
	my @lines;
	for (split /\n/, $text)
	{
		if (/^RESYNC (\d+)$/) { push @lines, { resync => $1 }; }
		elsif (/^(\d+) (.+) (\S+) (\S+) (\S+)$/)
		{
			push @lines, { seq => $1, region => $2, table => $3, key => $4, value => $5 };
		}
		else { push @lines, { bad => $_ }; }
	}
	return @lines;
}

# The last value the client printed for each key (lines from index $from).
sub last_values
{
	my ($c, $from) = @_;
	my @lines = lines_of($c);
	my %v;
	for my $l (@lines[ ($from // 0) .. $#lines ])
	{
		$v{ $l->{key} } = $l->{value} if defined $l->{key};
	}
	return \%v;
}

# latest(t, key)'s value text for each key, '-' when there is no latest row.
sub latest_values
{
	my ($node, @keys) = @_;
	my %v = map { $_ => '-' } @keys;
	my $array = join(',', map { q_lit($_) } @keys);
	for (split /\n/, $node->safe_psql('postgres', qq{
		SELECT k, l.value FROM unnest(ARRAY[$array]::text[]) k
		LEFT JOIN LATERAL edgestate.latest('t', k) l ON true WHERE l.key IS NOT NULL}))
	{
		my ($k, $value) = split /\|/, $_, 2;
		$v{$k} = $value;
	}
	return \%v;
}

# Waits until the client's last line for each key shows latest(t, key).
sub wait_caught_up
{
	my ($c, $node, $what, @keys) = @_;
	my $latest = latest_values($node, @keys);
	my $missing;
	my $ok = wait_until(
		"$c->{name}: $what",
		sub {
			my $last = last_values($c);
			my @m = grep { !defined $last->{$_} || $last->{$_} ne $latest->{$_} } @keys;
			$missing = join(', ',
				map { "$_ (latest $latest->{$_}, shown " . ($last->{$_} // 'nothing') . ')' } @m);
			return !@m;
		});
	ok($ok, "$c->{name}: $what: the last line of every key shows its latest value")
	  or diag "not caught up: $missing\nstderr: " . client_err($c);
	return $ok;
}

sub keys_shown
{
	my ($c, $from) = @_;
	my @lines = lines_of($c);
	my %k;
	$k{ $_->{key} } = 1 for grep { defined $_->{key} } @lines[ ($from // 0) .. $#lines ];
	return \%k;
}

sub client_pid
{
	my ($c) = @_;
	return $c->{h}{KIDS}[0]{PID};
}

# The PID of the client's backend ('' when it has none).
sub backend_of
{
	my ($c) = @_;
	return $c->{node}->safe_psql('postgres',
		"SELECT pid FROM pg_stat_activity WHERE application_name = '$c->{name}'");
}

sub head
{
	my ($node) = @_;
	return $node->safe_psql('postgres', 'SELECT edgestate.invalidation_head()');
}

# invalidations_since(after) as "key|region|resync" rows (resync rows: "||t").
sub since
{
	my ($node, $after) = @_;
	return split /\n/, $node->safe_psql('postgres', qq{
		SELECT coalesce(key, ''), coalesce(region, ''), resync
		FROM edgestate.invalidations_since($after) ORDER BY seq});
}

sub worker_pids
{
	my ($node) = @_;
	return split /\n/, $node->safe_psql('postgres', q{
		SELECT pid FROM pg_stat_activity WHERE backend_type = 'edgestate invalidations'
		ORDER BY pid});
}

# Notifications psql printed: [channel, payload, pid].
sub notifications
{
	my ($output) = @_;
	my @n;
	while ($output =~ /Asynchronous notification "([^"]*)" with payload "(.*?)" received from server process with PID (\d+)\./sg)
	{
		push @n, [ $1, $2, $3 ];
	}
	return @n;
}

sub stop_client
{
	my ($c) = @_;
	return if $c->{stopped};
	kill 'CONT', client_pid($c);
	$c->{h}->kill_kill(grace => 2);
	$c->{stopped} = 1;
}

# A test that dies half-way leaves no client behind.
END
{
	for my $c (@clients)
	{
		next if $c->{stopped};
		my $pid = client_pid($c);
		kill 'CONT', $pid if $pid;
		eval { $c->{h}->kill_kill(grace => 1) };
	}
}

# ---------------------------------------------------------------------------
# The server.

my $node = PostgreSQL::Test::Cluster->new('invalidations');
$node->init(extra => [ '--encoding=UTF8', '--locale=C' ]);
# Part 6 kills the worker with SIGKILL: the server must come back by itself.
$node->append_conf('postgresql.conf', "restart_after_crash = on\n");
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION edgestate;
	ALTER DATABASE postgres SET search_path = public, edgestate;
	CREATE TABLE t (key text, value float8, ts edgestate.hlc, region text, device text)
	  USING sensorstate;
});
my %channel;
$channel{$_} = $node->safe_psql('postgres', 'SELECT edgestate.channel(' . q_lit($_) . ')')
  for ('eu', 'us');

# ---------------------------------------------------------------------------
# 1. Committed changes reach the client of their region, with the final value.
mark('1: committed changes');

my $eu = start_client($node, 'cli_eu', 'eu');
my $us = start_client($node, 'cli_us', 'us');
my $spy = $node->background_psql('postgres');
$spy->query_safe("LISTEN $channel{eu}; LISTEN $channel{us};");

my (@eu_keys, @us_keys);
# Several keys per transaction, one key twice in a statement, in a transaction
# across statements, and over several transactions.
$node->safe_psql('postgres', 'INSERT INTO t VALUES '
	  . rows([ 'a1', 1.5, 'eu' ], [ 'a2', 2.5, 'eu' ], [ 'a1', 11.5, 'eu' ], [ 'u1', 101.5, 'us' ]));
$node->safe_psql('postgres', 'BEGIN; INSERT INTO t VALUES '
	  . rows([ 'a3', 3.5, 'eu' ]) . '; INSERT INTO t VALUES '
	  . rows([ 'a2', 22.5, 'eu' ], [ 'u2', 102.5, 'us' ])
	  . q{; INSERT INTO t SELECT 'a4', 40.25 + i, hlc_now(), 'eu', 'gw' || i FROM generate_series(1, 5) i;}
	  . ' INSERT INTO t VALUES ' . rows([ 'a3', 33.5, 'eu' ]) . '; COMMIT;');
$node->safe_psql('postgres', 'INSERT INTO t VALUES ' . rows([ 'a1', 111.5, 'eu' ], [ 'u1', 1001.5, 'us' ]));
$node->safe_psql('postgres', 'INSERT INTO t VALUES ' . rows([ 'o1', 7.25, 'eu' ]));
push @eu_keys, qw(a1 a2 a3 a4 o1);
push @us_keys, qw(u1 u2);
wait_caught_up($eu, $node, 'a series of transactions', @eu_keys);
wait_caught_up($us, $node, 'a series of transactions (us)', @us_keys);

# An older reading of an origin that already has a newer one does not change
# the latest value: no invalidation, alone or beside a real change.
my $before_old = head($node);
$node->safe_psql('postgres', q{
	INSERT INTO t VALUES ('o1', 999.25, hlc(now() - interval '1 hour'), 'eu', 'gw1')});
$node->safe_psql('postgres', q{
	BEGIN;
	INSERT INTO t VALUES ('o1', 998.25, hlc(now() - interval '2 hours'), 'eu', 'gw1');
	INSERT INTO t VALUES ('a5', 5.5, hlc_now(), 'eu', 'gw1');
	COMMIT});
$node->safe_psql('postgres', 'INSERT INTO t VALUES ' . rows([ 'm1', 0.5, 'eu' ]));
push @eu_keys, qw(a5 m1);
is($node->safe_psql('postgres', q{SELECT value FROM edgestate.latest('t', 'o1')}),
	'7.25', 'the older readings did not change the latest value of o1');
is(join(' ', since($node, $before_old)), 'a5|eu|f m1|eu|f',
	'invalidations_since(): the older readings added nothing, the new ones one each');
wait_caught_up($eu, $node, 'after older readings', @eu_keys);
is(scalar(grep { defined $_->{key} && $_->{key} eq 'o1' && $_->{seq} > $before_old } lines_of($eu)),
	0, 'the client shows o1 no more after its older readings');
is(scalar(grep { defined $_->{value} && $_->{value} =~ /^99[89]\.25$/ } lines_of($eu)),
	0, 'the older readings\' values are never shown');

my @eu_lines = lines_of($eu);
is(scalar(grep { $_->{bad} || $_->{resync} } @eu_lines), 0, 'cli_eu: every line is a key line');
is(join(',', sort keys %{ { map { $_->{region} => 1 } @eu_lines } }), 'eu',
	'cli_eu: every line is for region eu');
is(join(',', sort keys %{ { map { $_->{table} => 1 } @eu_lines } }), 'public.t',
	'cli_eu: every line is for table public.t');
my %eu_shown = %{ keys_shown($eu) };
is(join(',', sort keys %eu_shown), join(',', sort @eu_keys), 'cli_eu shows exactly the changed eu keys');
is(join(',', sort keys %{ keys_shown($us) }), 'u1,u2', 'cli_us shows exactly the us keys');

# The payloads, as a plain LISTENer sees them: keys, never values.
my $heard = $spy->query_safe('SELECT 1');
my @notes = notifications($heard);
cmp_ok(scalar(@notes), '>', 0, 'a plain LISTEN session received notifications')
  or diag $heard;
my %written = (
	$channel{eu} => { map { $_ => 1 } @eu_keys },
	$channel{us} => { map { $_ => 1 } @us_keys });
my @bad_payloads;
my %payload_keys;
for my $n (@notes)
{
	my ($chan, $payload) = @$n;
	my @lines = split /\n/, $payload, -1;
	my $header = shift @lines;
	if (!defined $written{$chan}
		|| $header !~ /^v2 \d+ (\d+) (\d+) public\.t$/
		|| $1 > $2
		|| !@lines
		|| grep { !$written{$chan}{$_} } @lines)
	{
		push @bad_payloads, "$chan: $payload";
		next;
	}
	$payload_keys{$chan}{$_} = 1 for @lines;
}
is(join("\n", @bad_payloads), '',
	'every payload is "v2 prev first last public.t" and then keys of its channel\'s region only');
is(join(',', sort keys %{ $payload_keys{ $channel{eu} } }), join(',', sort @eu_keys),
	'the eu channel named every changed eu key');
is(join(',', sort keys %{ $payload_keys{ $channel{us} } }), 'u1,u2',
	'the us channel named exactly the us keys');
is(scalar(grep { $_->[1] =~ /\b(?:11\.5|111\.5|22\.5|7\.25|1001\.5|999\.25)\b/ } @notes), 0,
	'no payload carries a value');

# ---------------------------------------------------------------------------
# 1b. Two regions written alternately, one transaction (and one batch) at a
# time.
mark('1b: alternating regions');

# invalidations_since() calls by a client after a log position.
sub catch_ups
{
	my ($c, $from) = @_;
	my $log = slurp_file($node->logfile, $from);
	return scalar(() = $log =~ /\] \Q$c->{name}\E [^\n]*invalidations_since/g);
}

$spy->query_safe('SELECT 1');    # what was heard so far is not part of this
my $log_at = -s $node->logfile;
my (@z_keys, @y_keys);
for my $i (1 .. 10)
{
	for my $r ([ "z$i", 'eu', \@z_keys ], [ "y$i", 'us', \@y_keys ])
	{
		my $sent_before = $node->safe_psql('postgres',
			'SELECT sent_messages FROM edgestate.invalidation_stats()');
		$node->safe_psql('postgres', 'INSERT INTO t VALUES ' . rows([ $r->[0], $i, $r->[1] ]));
		push @{ $r->[2] }, $r->[0];
		wait_until("the payload of $r->[0]", sub {
			$node->safe_psql('postgres', 'SELECT sent_messages FROM edgestate.invalidation_stats()')
			  > $sent_before });
	}
}
push @eu_keys, @z_keys;
push @us_keys, @y_keys;
wait_caught_up($eu, $node, 'alternating regions', @z_keys);
wait_caught_up($us, $node, 'alternating regions (us)', @y_keys);
my @alternating = notifications($spy->query_safe('SELECT 1'));
my (%newest_last, $jumps, $uncovered, $chained);
for my $n (@alternating)
{
	my ($chan, $payload) = @$n;
	my ($prev, $first, $last) = $payload =~ /^v2 (\d+) (\d+) (\d+) /;
	next unless defined $prev;
	if (defined $newest_last{$chan})
	{
		$chained++;
		$jumps++ if $first > $newest_last{$chan} + 1;
		$uncovered++ if $prev > $newest_last{$chan};
	}
	$newest_last{$chan} = $last if !defined $newest_last{$chan} || $last > $newest_last{$chan};
}
cmp_ok($chained // 0, '>=', 18, 'one payload per transaction on each channel');
cmp_ok($jumps // 0, '>', 0, 'the ranges on a channel jump over the other region\'s numbers');
is($uncovered // 0, 0, 'every prev_seq is covered by the earlier payloads of its channel');
is(catch_ups($eu, $log_at) + catch_ups($us, $log_at), 0,
	'so neither client called invalidations_since()');

# ---------------------------------------------------------------------------
# 2. Aborted work adds nothing.
mark('2: aborted transactions');

my $before_abort = head($node);
$node->safe_psql('postgres', 'BEGIN; INSERT INTO t VALUES ' . rows([ 'x_rollback', 1, 'eu' ]) . '; ROLLBACK;');
my ($ret) = $node->psql('postgres',
	'INSERT INTO t VALUES ' . rows([ 'x_error1', 2, 'eu' ]) . ", ('x_error2', 3, hlc_now(), NULL, NULL)");
isnt($ret, 0, 'an INSERT whose second row has no region fails');
($ret) = $node->psql('postgres',
	'BEGIN; INSERT INTO t VALUES ' . rows([ 'x_error3', 4, 'eu' ]) . '; SELECT 1/0; COMMIT;',
	on_error_stop => 0);
$node->safe_psql('postgres', 'BEGIN; INSERT INTO t VALUES ' . rows([ 'sp_keep', 5.5, 'eu' ], [ 'sp_mixed', 6.5, 'eu' ])
	  . '; SAVEPOINT s; INSERT INTO t VALUES ' . rows([ 'x_savepoint', 7, 'eu' ], [ 'sp_mixed', 66.5, 'eu' ])
	  . '; ROLLBACK TO s; SAVEPOINT a; SAVEPOINT b; INSERT INTO t VALUES ' . rows([ 'x_released', 8, 'eu' ])
	  . '; RELEASE b; ROLLBACK TO a; INSERT INTO t VALUES ' . rows([ 'sp_keep2', 9.5, 'eu' ])
	  . '; SAVEPOINT c; INSERT INTO t VALUES ' . rows([ 'sp_released', 10.5, 'eu' ])
	  . '; RELEASE c; COMMIT;');
$node->safe_psql('postgres', 'INSERT INTO t VALUES ' . rows([ 'm2', 0.25, 'eu' ]));
my @aborted = qw(x_rollback x_error1 x_error2 x_error3 x_savepoint x_released);
push @eu_keys, qw(sp_keep sp_mixed sp_keep2 sp_released m2);
is($node->safe_psql('postgres', q{SELECT count(*) FROM t WHERE key LIKE 'x\_%'}), '0',
	'the aborted readings are not in the table');
my @since_abort = since($node, $before_abort);
is(join(' ', sort @since_abort),
	'm2|eu|f sp_keep2|eu|f sp_keep|eu|f sp_mixed|eu|f sp_released|eu|f',
	'invalidations_since(): exactly the committed keys, none of the aborted ones');
wait_caught_up($eu, $node, 'after aborted work', qw(sp_keep sp_mixed sp_keep2 sp_released m2));
is(last_values($eu)->{sp_mixed}, '6.5', 'sp_mixed shows the value from before the rolled-back savepoint');
%eu_shown = %{ keys_shown($eu) };
is(join(',', grep { $eu_shown{$_} } @aborted), '', 'no aborted key ever reaches the client');

# ---------------------------------------------------------------------------
# 2b. Whole-table resets: a purge, a TRUNCATE.
mark('2b: table resets');

sub resyncs { return scalar(grep { $_->{resync} } lines_of($_[0])); }

$node->safe_psql('postgres', q{
	CREATE TABLE t2 (key text, value float8, ts edgestate.hlc, region text, device text)
	  USING sensorstate;
	INSERT INTO t2 VALUES ('rs1', 1.25, hlc_now(), 'eu', 'gw1'), ('rs2', 2.25, hlc_now(), 'eu', 'gw1'),
	  ('rs3', 3.25, hlc(now() - interval '2 hours'), 'eu', 'gw2')});
ok(wait_until('cli_eu to show t2', sub {
			my $v = last_values($eu);
			($v->{rs1} // '') eq '1.25' && ($v->{rs2} // '') eq '2.25' && ($v->{rs3} // '') eq '3.25' }),
	'cli_eu shows the keys of a second table');
my ($eu_resyncs, $us_resyncs) = (resyncs($eu), resyncs($us));
# The worker sent on both channels moments ago, so it tells both at once.
is($node->safe_psql('postgres', q{SELECT edgestate.purge('t2', interval '1 hour')}), '1',
	'purge() removes the 2-hour-old reading');
ok(wait_until('cli_eu to resync after the purge', sub {
			resyncs($eu) > $eu_resyncs && (last_values($eu)->{rs3} // '') eq '-' }),
	'after the purge cli_eu prints RESYNC and shows rs3 as gone') or diag client_err($eu);
is(join(' ', map { last_values($eu)->{$_} } qw(rs1 rs2)), '1.25 2.25', '... and rs1, rs2 as they are');
ok(wait_until('cli_us to resync after the purge', sub { resyncs($us) > $us_resyncs }),
	'cli_us, whose channel has no key of the purge, is told too');
($eu_resyncs) = (resyncs($eu));
$node->safe_psql('postgres', 'TRUNCATE t2');
ok(wait_until('cli_eu to resync after TRUNCATE', sub {
			resyncs($eu) > $eu_resyncs
			  && join(' ', map { last_values($eu)->{$_} // '' } qw(rs1 rs2)) eq '- -' }),
	'after TRUNCATE cli_eu prints RESYNC and shows rs1, rs2 as gone') or diag client_err($eu);
is($node->safe_psql('postgres', 'SELECT count(*) FROM edgestate.latest(\'t2\')'), '0',
	'latest(t2) is empty');
# Dropped: a resync too; the client cannot reload the table, and forgets it.
($eu_resyncs) = (resyncs($eu));
$node->safe_psql('postgres', 'DROP TABLE t2');
ok(wait_until('cli_eu to resync after DROP TABLE', sub { resyncs($eu) > $eu_resyncs }),
	'after DROP TABLE cli_eu prints RESYNC');

# The counters account for every key invalidation once the worker has caught
# up (appended = sent + coalesced + lost); the resets above are not key
# invalidations. Keys of a table dropped before the worker sent them are
# covered by the drop's reset and count as coalesced.
my $balanced = 'SELECT appended = sent_keys + coalesced + lost FROM edgestate.invalidation_stats()';
ok(wait_until('the counters to balance after the resets', sub { $node->safe_psql('postgres', $balanced) eq 't' }),
	'after the purge, TRUNCATE and DROP: appended = sent + coalesced + lost')
  or diag $node->safe_psql('postgres', 'SELECT * FROM edgestate.invalidation_stats()');
my ($stopped_worker) = worker_pids($node);
kill 'STOP', $stopped_worker;
$node->safe_psql('postgres', q{
	CREATE TABLE t3 (key text, value float8, ts edgestate.hlc, region text, device text)
	  USING sensorstate;
	INSERT INTO t3 VALUES ('d1', 1, hlc_now(), 'eu', 'gw1'), ('d2', 2, hlc_now(), 'us', 'gw1')});
$node->safe_psql('postgres', 'DROP TABLE t3');
my $coalesced_before = $node->safe_psql('postgres', 'SELECT coalesced FROM edgestate.invalidation_stats()');
kill 'CONT', $stopped_worker;
ok(wait_until('the counters to balance after a drop', sub { $node->safe_psql('postgres', $balanced) eq 't' }),
	'keys of a table dropped before they were sent are accounted for')
  or diag $node->safe_psql('postgres', 'SELECT * FROM edgestate.invalidation_stats()');
is($node->safe_psql('postgres', 'SELECT coalesced FROM edgestate.invalidation_stats()') - $coalesced_before, 2,
	'as coalesced (the drop\'s reset covers them)');

# A new table under the dropped table's name is followed, not mistaken for the
# old one.
$node->safe_psql('postgres', q{
	CREATE TABLE t2 (key text, value float8, ts edgestate.hlc, region text, device text)
	  USING sensorstate;
	INSERT INTO t2 VALUES ('rn1', 5.5, hlc_now(), 'eu', 'gw1')});
ok(wait_until('cli_eu to show the new t2', sub { (last_values($eu)->{rn1} // '') eq '5.5' }),
	'cli_eu shows a key of a new table that took a dropped table\'s name') or diag client_err($eu);
# The same when the table is dropped and created again in one transaction,
# also for a client that follows only that table.
my $t2_only = start_client($node, 'cli_t2', 'eu', { table => 't2' });
$node->safe_psql('postgres', q{INSERT INTO t2 VALUES ('rn2', 6.5, hlc_now(), 'eu', 'gw1')});
ok(wait_until('cli_t2 to show rn2', sub { (last_values($t2_only)->{rn2} // '') eq '6.5' }),
	'a client started with --table t2 shows its keys') or diag client_err($t2_only);
$node->safe_psql('postgres', q{
	BEGIN;
	DROP TABLE t2;
	CREATE TABLE t2 (key text, value float8, ts edgestate.hlc, region text, device text)
	  USING sensorstate;
	INSERT INTO t2 VALUES ('rn3', 7.5, hlc_now(), 'eu', 'gw1');
	COMMIT});
$node->safe_psql('postgres', 'INSERT INTO t VALUES ' . rows([ 'not-t2', 0.5, 'eu' ]));
push @eu_keys, 'not-t2';
ok(wait_until('cli_eu to show rn3', sub { (last_values($eu)->{rn3} // '') eq '7.5' }),
	'cli_eu shows a key of a table dropped and created again in one transaction')
  or diag client_err($eu);
ok(wait_until('cli_t2 to show rn3', sub { (last_values($t2_only)->{rn3} // '') eq '7.5' }),
	'so does the --table t2 client') or diag client_err($t2_only);
wait_caught_up($eu, $node, 'a key of t written after that', 'not-t2');
ok(!keys_shown($t2_only)->{'not-t2'}, 'the --table t2 client shows no key of t');
# A table whose name needs quotes: payloads name it so that it resolves.
$node->safe_psql('postgres', q{
	CREATE TABLE "MixedCase" (key text, value float8, ts edgestate.hlc, region text, device text)
	  USING sensorstate;
	INSERT INTO "MixedCase" VALUES ('mc1', 8.5, hlc_now(), 'eu', 'gw1')});
ok(wait_until('cli_eu to show mc1', sub { (last_values($eu)->{mc1} // '') eq '8.5' }),
	'cli_eu shows a key of a table whose name needs quotes') or diag client_err($eu);
is((grep { ($_->{key} // '') eq 'mc1' } lines_of($eu))[0]{table}, 'public."MixedCase"',
	'the line names it quoted');
# The longest quoted names survive a worker's restart in its saved record of
# each channel's last payload, which names the table again after a reset.
my $long_schema = 'S' x 63;
my $long_table = 'T' x 63;
$node->safe_psql('postgres', qq{
	CREATE SCHEMA "$long_schema";
	CREATE TABLE "$long_schema"."$long_table"
	  (key text, value float8, ts edgestate.hlc, region text, device text) USING sensorstate;
	INSERT INTO "$long_schema"."$long_table" VALUES ('ln1', 9.5, hlc_now(), 'eu', 'gw1')});
ok(wait_until('cli_eu to show ln1', sub { (last_values($eu)->{ln1} // '') eq '9.5' }),
	'cli_eu shows a key of a table with the longest quoted names') or diag client_err($eu);
my ($long_worker) = worker_pids($node);
$node->safe_psql('postgres', "SELECT pg_terminate_backend($long_worker)");
ok(wait_until('a new worker', sub { my @w = worker_pids($node); @w == 1 && $w[0] ne $long_worker }),
	'the worker was restarted');
$node->safe_psql('postgres', qq{TRUNCATE "$long_schema"."$long_table"});
ok(wait_until('cli_eu to show ln1 as gone', sub { (last_values($eu)->{ln1} // '') eq '-' }),
	'after the reset the client, still running, shows the key as gone') or diag client_err($eu);
# A table renamed away and another created under its name, which no reset
# announces: the clients follow the name.
$node->safe_psql('postgres', q{
	ALTER TABLE t2 RENAME TO t2_old;
	CREATE TABLE t2 (key text, value float8, ts edgestate.hlc, region text, device text)
	  USING sensorstate;
	INSERT INTO t2 VALUES ('rr1', 11.5, hlc_now(), 'eu', 'gw1')});
ok(wait_until('cli_eu to show rr1', sub { (last_values($eu)->{rr1} // '') eq '11.5' }),
	'cli_eu shows a key of a table created under a renamed table\'s name') or diag client_err($eu);
ok(wait_until('cli_t2 to show rr1', sub { (last_values($t2_only)->{rr1} // '') eq '11.5' }),
	'so does the --table t2 client') or diag client_err($t2_only);
$node->safe_psql('postgres', q{INSERT INTO t2_old VALUES ('ro1', 12.5, hlc_now(), 'eu', 'gw1')});
ok(wait_until('cli_eu to show ro1', sub { (last_values($eu)->{ro1} // '') eq '12.5' }),
	'cli_eu shows a key of the renamed table') or diag client_err($eu);
$node->safe_psql('postgres', q{INSERT INTO t2 VALUES ('rr2', 13.5, hlc_now(), 'eu', 'gw1')});
ok(wait_until('cli_t2 to show rr2', sub { (last_values($t2_only)->{rr2} // '') eq '13.5' }),
	'the --table t2 client shows a later key of t2');
ok(!keys_shown($t2_only)->{ro1}, 'and no key of the renamed table');

# ---------------------------------------------------------------------------
# 3. A client whose connection is killed reconnects and catches up.
mark('3: killed connection');

my $eu_backend = backend_of($eu);
like($eu_backend, qr/^\d+$/, 'the client has one backend');
kill 'STOP', client_pid($eu);    # so that the keys below are committed while it is away
$node->safe_psql('postgres', "SELECT pg_terminate_backend($eu_backend)");
ok( wait_until('the client backend to exit',
		sub { $node->safe_psql('postgres', "SELECT count(*) FROM pg_stat_activity WHERE pid = $eu_backend") eq '0' }),
	'the client\'s backend is gone');
$node->safe_psql('postgres', 'INSERT INTO t VALUES ' . rows([ 'r1', 1.125, 'eu' ], [ 'r2', 2.125, 'eu' ], [ 'u3', 3.125, 'us' ]));
$node->safe_psql('postgres', 'INSERT INTO t VALUES ' . rows([ 'r3', 3.125, 'eu' ], [ 'r1', 11.125, 'eu' ]));
$node->safe_psql('postgres', 'INSERT INTO t VALUES ' . rows([ 'a1', 1111.5, 'eu' ]));
push @eu_keys, qw(r1 r2 r3);
push @us_keys, 'u3';
kill 'CONT', client_pid($eu);
ok(wait_until('RECONNECTED', sub { client_err($eu) =~ /^RECONNECTED$/m }),
	'the client reports RECONNECTED') or diag client_err($eu);
wait_caught_up($eu, $node, 'keys committed while it was disconnected', qw(r1 r2 r3 a1));
isnt(backend_of($eu), $eu_backend, 'the client has a new backend');
# And it LISTENs again on the new connection.
$node->safe_psql('postgres', 'INSERT INTO t VALUES ' . rows([ 'r4', 4.125, 'eu' ]));
push @eu_keys, 'r4';
wait_caught_up($eu, $node, 'a key committed after it reconnected', 'r4');
ok(!keys_shown($eu)->{u3}, 'the reconnected client shows no us key');
wait_caught_up($us, $node, 'the us client meanwhile', 'u3');

# ---------------------------------------------------------------------------
# 5. Region names that need care.
mark('5: region names');

my $odd1 = 'us "east" 1.x';
my $odd2 = "Z\xc3\xbcrich \xe2\x98\x83";          # 'Zürich ☃' in UTF-8
my $long = ("\xce\xa9" x 31) . 'x';              # 63 bytes, the longest region
my @regions = ('eu', 'EU', 'e.u', 'e_u', 'e u', $odd1, $odd2, $long);
my %chan;
for my $r (@regions)
{
	my $c = $node->safe_psql('postgres', 'SELECT edgestate.channel(' . q_lit($r) . ')');
	$chan{$r} = $c;
	like($c, qr/^edgestate_[a-z0-9_]*$/, "channel of region <$r> is a plain identifier ($c)");
	cmp_ok(length($c), '<=', 63, "channel of region <$r> fits NAMEDATALEN");
	is($node->safe_psql('postgres', 'SELECT quote_ident(' . q_lit($c) . ')'), $c,
		"channel of region <$r> needs no quoting");
	# LISTEN takes it as it is.
	my ($r_ret, $r_out, $r_err) = $node->psql('postgres', "LISTEN $c; UNLISTEN $c;");
	is($r_ret, 0, "LISTEN $c works unquoted") or diag $r_err;
}
is(scalar(keys %{ { map { $_ => 1 } values %chan } }), scalar(@regions),
	'regions that differ only in case or punctuation have distinct channels');

my $c_odd1 = start_client($node, 'cli_odd1', $odd1);
my $c_odd2 = start_client($node, 'cli_odd2', $odd2);
my $c_EU = start_client($node, 'cli_EU', 'EU');
my $c_long = start_client($node, 'cli_long', $long, 'e.u');
my $eu_count = scalar(lines_of($eu));
$node->safe_psql('postgres', 'INSERT INTO t VALUES '
	  . rows([ 'q1', 1, $odd1 ], [ 'z1', 2, $odd2 ], [ 'E1', 3, 'EU' ], [ 'L1', 4, $long ], [ 'd1', 5, 'e.u' ]));
$node->safe_psql('postgres', 'INSERT INTO t VALUES '
	  . rows([ 'q2', 6, $odd1 ], [ 'z2', 7, $odd2 ], [ 'n1', 8, 'e_u' ], [ 'n2', 9, 'e u' ], [ 'm3', 10, 'eu' ]));
push @eu_keys, 'm3';
wait_caught_up($c_odd1, $node, 'its region', qw(q1 q2));
wait_caught_up($c_odd2, $node, 'its region', qw(z1 z2));
wait_caught_up($c_EU, $node, 'its region', qw(E1));
wait_caught_up($c_long, $node, 'its regions', qw(L1 d1));
wait_caught_up($eu, $node, 'its region', qw(m3));
is(join(',', sort keys %{ keys_shown($c_odd1) }), 'q1,q2', "the client of <$odd1> shows exactly its keys");
is(join(',', sort keys %{ keys_shown($c_odd2) }), 'z1,z2', "the client of <$odd2> shows exactly its keys");
is(join(',', sort keys %{ keys_shown($c_EU) }), 'E1', 'the client of <EU> shows exactly its keys');
is(join(',', sort keys %{ keys_shown($c_long) }), 'L1,d1', 'the client of a 63-byte region and <e.u> shows exactly their keys');
is(join(',', sort keys %{ keys_shown($eu, $eu_count) }), 'm3', 'the eu client shows none of them');
for my $c ($c_odd1, $c_odd2, $c_EU)
{
	my ($region) = @{ $c->{regions} };
	is(join(',', sort keys %{ { map { $_->{region} => 1 } lines_of($c) } }), $region,
		"$c->{name}: every line names region <$region> exactly");
}
my @l1 = grep { defined $_->{key} && $_->{key} eq 'L1' } lines_of($c_long);
ok(@l1 && !(grep { $_->{region} ne $long } @l1), 'the 63-byte region is printed exactly');
stop_client($_) for ($c_odd1, $c_odd2, $c_EU, $c_long);

# ---------------------------------------------------------------------------
# 7. Writers never NOTIFY: a writer that itself LISTENs hears another process.
mark('7: writers never NOTIFY');

my $writer = $node->background_psql('postgres');
my $writer_pid = $writer->query_safe('SELECT pg_backend_pid()');
$writer->query_safe("LISTEN $channel{eu}");
# psql prints what it has received after each statement.
my @writer_notes = notifications($writer->query_safe('INSERT INTO t VALUES ' . rows([ 'w1', 1.75, 'eu' ])));
push @writer_notes, notifications($writer->query_safe(
	'BEGIN; INSERT INTO t VALUES ' . rows([ 'w2', 2.75, 'eu' ], [ 'w1', 11.75, 'eu' ]) . '; COMMIT;'));
push @eu_keys, qw(w1 w2);
wait_until('the writer to hear its own keys', sub {
	push @writer_notes, notifications($writer->query_safe('SELECT 1'));
	my %k = map { $_ => 1 } map { my @l = split /\n/, $_->[1]; @l[ 1 .. $#l ] } @writer_notes;
	return $k{w1} && $k{w2};
});
cmp_ok(scalar(@writer_notes), '>', 0, 'the writer received notifications of its own keys');
is(scalar(grep { $_->[2] eq $writer_pid } @writer_notes), 0,
	"none of them came from the writer's own backend (PID $writer_pid)");
my %workers = map { $_ => 1 } worker_pids($node);
is(join(',', grep { !$workers{ $_->[2] } } @writer_notes), '',
	'they came from the "edgestate invalidations" worker')
  or diag 'workers: ' . join(',', keys %workers) . '; senders: ' . join(',', map { $_->[2] } @writer_notes);
# The plain listener heard the same process.
$heard = $spy->query_safe('SELECT 1');
is(scalar(grep { $_->[2] eq $writer_pid } notifications($heard)), 0,
	'the plain listener heard nothing from the writer');
wait_caught_up($eu, $node, 'the writer\'s keys', qw(w1 w2));
$writer->quit;

# ---------------------------------------------------------------------------
# 6. The worker comes back after it is terminated, and after SIGKILL.
mark('6: worker restarts');

$node->safe_psql('postgres', 'INSERT INTO t VALUES ' . rows([ 'k0', 0.5, 'eu' ]));
# The worker's last payload before it goes is on the us channel: its position
# is then past eu's last payload.
$node->safe_psql('postgres', 'INSERT INTO t VALUES ' . rows([ 'u9', 9.5, 'us' ]));
push @us_keys, 'u9';
wait_caught_up($eu, $node, 'k0 before the worker restart', 'k0');
wait_caught_up($us, $node, 'u9 before the worker restart', 'u9');
my @worker = worker_pids($node);
is(scalar(@worker), 1, 'one invalidation worker runs for the database');
$node->safe_psql('postgres', "SELECT pg_terminate_backend($worker[0])");
ok( wait_until('the worker to be restarted', sub {
			my @now = worker_pids($node);
			return @now == 1 && $now[0] ne $worker[0];
		}),
	'the postmaster restarted the terminated worker');
my $restart_log_at = -s $node->logfile;
$node->safe_psql('postgres', 'INSERT INTO t VALUES ' . rows([ 'k1', 1.5, 'eu' ], [ 'k2', 2.5, 'eu' ]));
push @eu_keys, qw(k0 k1 k2);
wait_caught_up($eu, $node, 'keys after the worker was terminated', qw(k0 k1 k2));
# Its predecessor saved the channels' last payloads: the new worker's first
# payload on eu follows on from them.
is(catch_ups($eu, $restart_log_at), 0, 'cli_eu did not catch up after the worker restart');
# Terminated again, with a write in the second before the postmaster restarts it.
@worker = worker_pids($node);
$node->safe_psql('postgres', "SELECT pg_terminate_backend($worker[0])");
$node->safe_psql('postgres', 'INSERT INTO t VALUES ' . rows([ 'k3', 3.5, 'eu' ]));
push @eu_keys, 'k3';
wait_caught_up($eu, $node, 'a key written while the worker was down', 'k3');
usleep(2_500_000);    # past the postmaster's restart delay
is(scalar(worker_pids($node)), 1,
	'after a write while it was down and its restart, still one worker for the database')
  or diag 'workers: ' . join(',', worker_pids($node));
$spy->query_safe('SELECT 1');    # what was sent so far
$node->safe_psql('postgres', 'INSERT INTO t VALUES ' . rows([ 'k4', 4.5, 'eu' ]));
push @eu_keys, 'k4';
wait_caught_up($eu, $node, 'a key after that', 'k4');
# A worker that no writer wakes still looks at the ring every second.
usleep(1_500_000);
my @k4 = grep { $_->[1] =~ /\nk4$/m } notifications($spy->query_safe('SELECT 1'));
is(scalar(@k4), 1, 'k4 is notified once')
  or diag 'payloads naming k4 came from PIDs ' . join(',', map { $_->[2] } @k4);
$spy->quit;

# SIGKILL: the postmaster restarts the whole server; the ring is gone, so the
# running client resyncs, and a new client follows the new invalidations.
@worker = worker_pids($node);
my $resyncs_before = scalar(grep { $_->{resync} } lines_of($eu));
my $reconnected_before = () = client_err($eu) =~ /^RECONNECTED$/mg;
is(kill('KILL', $worker[0]), 1, "SIGKILL to the invalidation worker (PID $worker[0])");
ok($node->poll_query_until('postgres', 'SELECT 1', '1'), 'the server is back after the crash restart');
ok(wait_until('the eu client to reconnect after the crash',
		sub { (() = client_err($eu) =~ /^RECONNECTED$/mg) > $reconnected_before }),
	'the running client reconnected after the crash restart') or diag client_err($eu);
cmp_ok(scalar(grep { $_->{resync} } lines_of($eu)), '>', $resyncs_before,
	'and printed RESYNC (the ring did not survive the restart)');
my $fresh = start_client($node, 'cli_fresh', 'eu');
$node->safe_psql('postgres', 'INSERT INTO t VALUES ' . rows([ 'c1', 1.875, 'eu' ], [ 'c2', 2.875, 'us' ]));
$node->safe_psql('postgres', 'INSERT INTO t VALUES ' . rows([ 'c1', 11.875, 'eu' ], [ 'c3', 3.875, 'eu' ]));
push @eu_keys, qw(c1 c3);
wait_caught_up($fresh, $node, 'keys after the crash restart', qw(c1 c3));
is(join(',', sort keys %{ keys_shown($fresh) }), 'c1,c3', 'the new client shows exactly the new eu keys');
wait_caught_up($eu, $node, 'keys after the crash restart (running client)', qw(c1 c3));
is($node->safe_psql('postgres', q{
		SELECT count(*) FROM pg_stat_activity
		WHERE backend_type = 'edgestate invalidations' AND datname = 'postgres'}),
	'1', 'one invalidation worker runs again for the database');
is($node->safe_psql('postgres', q{
		SELECT count(*) FROM pg_stat_activity
		WHERE backend_type = 'edgestate invalidations' AND datid IS NULL}),
	'0', 'no invalidation worker runs without a database after the crash restart');

is(scalar(() = client_err($eu) =~ /reloading public\.t2/g), 2,
	'each dropped table t2 was reloaded once, at the resync its DROP caused, then forgotten');

# Across everything: the eu client never showed a us key nor an aborted one,
# and every eu key ends at its latest value.
%eu_shown = %{ keys_shown($eu) };
is(join(',', grep { $eu_shown{$_} } @us_keys, 'c2', @aborted), '', 'cli_eu never showed a us or aborted key');
wait_caught_up($eu, $node, 'every eu key, at the end', @eu_keys);
stop_client($_) for @clients;
$node->stop;

# ---------------------------------------------------------------------------
# 4. A ring overrun is a resync.
mark('4: ring overrun');

my $small = PostgreSQL::Test::Cluster->new('small_ring');
$small->init(extra => [ '--encoding=UTF8', '--locale=C' ]);
$small->append_conf('postgresql.conf', "edgestate.invalidation_ring_size = 64\n");
$small->start;
$small->safe_psql('postgres', q{
	CREATE EXTENSION edgestate;
	ALTER DATABASE postgres SET search_path = public, edgestate;
	CREATE TABLE t (key text, value float8, ts edgestate.hlc, region text, device text)
	  USING sensorstate;
});
is($small->safe_psql('postgres', 'SHOW edgestate.invalidation_ring_size'), '64', 'a ring of 64');

my $h0 = head($small);
$small->safe_psql('postgres',
	q{INSERT INTO t SELECT 'p' || i, i, hlc_now(), 'eu', 'gw1' FROM generate_series(1, 10) i});
my @rows = since($small, $h0);
is(scalar(@rows), 10, 'invalidations_since() returns the 10 changes the ring holds');
is(scalar(grep { /\|t$/ } @rows), 0, 'with no resync row');
$small->safe_psql('postgres',
	q{INSERT INTO t SELECT 'p' || i, i, hlc_now(), 'eu', 'gw1' FROM generate_series(11, 110) i});
my $h1 = head($small);
is($small->safe_psql('postgres', "SELECT count(*) FROM edgestate.invalidations_since($h0)"), '1',
	'after 110 changes, invalidations_since() from before them returns one row');
is($small->safe_psql('postgres',
		"SELECT seq = $h1, resync, table_name IS NULL, region IS NULL, key IS NULL FROM edgestate.invalidations_since($h0)"),
	't|t|t|t|t', 'a resync row at the head, without table, region or key');
is($small->safe_psql('postgres', "SELECT count(*), bool_or(resync) FROM edgestate.invalidations_since($h1 - 64)"),
	'64|f', 'the newest 64 changes are still there');
is($small->safe_psql('postgres', "SELECT count(*), bool_or(resync) FROM edgestate.invalidations_since($h1 - 65)"),
	'1|t', 'one more is a resync');

# The client: its connection killed, 200 changes meanwhile.
my $ring_client = start_client($small, 'cli_ring', 'eu');
$small->safe_psql('postgres', q{INSERT INTO t VALUES ('pre1', 0.5, hlc_now(), 'eu', 'gw1')});
wait_caught_up($ring_client, $small, 'a first key', 'pre1');
my $ring_backend = backend_of($ring_client);
kill 'STOP', client_pid($ring_client);
$small->safe_psql('postgres', "SELECT pg_terminate_backend($ring_backend)");
ok( wait_until('the ring client backend to exit',
		sub { $small->safe_psql('postgres', "SELECT count(*) FROM pg_stat_activity WHERE pid = $ring_backend") eq '0' }),
	'the ring client\'s backend is gone');
my $lines_before = scalar(lines_of($ring_client));
$small->safe_psql('postgres',
	q{INSERT INTO t SELECT 'big' || i, i + 0.5, hlc_now(), 'eu', 'gw1' FROM generate_series(1, 100) i});
$small->safe_psql('postgres',
	q{INSERT INTO t SELECT 'big' || i, i + 1000.5, hlc_now(), 'eu', 'gw2' FROM generate_series(51, 150) i});
$small->safe_psql('postgres',
	q{INSERT INTO t SELECT 'usk' || i, i, hlc_now(), 'us', 'gw1' FROM generate_series(1, 20) i});
kill 'CONT', client_pid($ring_client);
ok(wait_until('RECONNECTED (ring client)', sub { client_err($ring_client) =~ /^RECONNECTED$/m }),
	'the ring client reconnected') or diag client_err($ring_client);
my @big = map { "big$_" } 1 .. 150;
wait_caught_up($ring_client, $small, 'every key after the resync', @big, 'pre1');
my @after = lines_of($ring_client);
@after = @after[ $lines_before .. $#after ];
my ($first_resync) = grep { $after[$_]{resync} } 0 .. $#after;
ok(defined $first_resync, 'the client printed RESYNC after the overrun');
if (defined $first_resync)
{
	cmp_ok($after[$first_resync]{resync}, '>', 0, 'RESYNC names a sequence number');
	my %after_resync = map { $_->{key} => 1 } grep { defined $_->{key} } @after[ $first_resync + 1 .. $#after ];
	is(scalar(grep { !$after_resync{$_} } @big), 0, 'after RESYNC it shows every changed eu key');
	is(join(',', grep { /^usk/ } sort keys %after_resync), '', 'and no us key');
}
stop_client($ring_client);

# A worker the ring overran accounts for every slot it lost, resets included
# (20 TRUNCATEs among 60 keys, 80 slots in a ring of 64).
my ($small_worker) = worker_pids($small);
kill 'STOP', $small_worker;
$small->safe_psql('postgres', "INSERT INTO t VALUES ('tr$_', $_, hlc_now(), 'eu', 'gw1'); TRUNCATE t")
  for 1 .. 20;
$small->safe_psql('postgres',
	q{INSERT INTO t SELECT 'ov' || i, i, hlc_now(), 'eu', 'gw1' FROM generate_series(1, 40) i});
kill 'CONT', $small_worker;
my $small_balanced = 'SELECT appended = sent_keys + coalesced + lost FROM edgestate.invalidation_stats()';
ok(wait_until('the counters to balance after an overrun', sub { $small->safe_psql('postgres', $small_balanced) eq 't' }),
	'after an overrun with resets: appended = sent + coalesced + lost')
  or diag $small->safe_psql('postgres', 'SELECT * FROM edgestate.invalidation_stats()');
$small->stop;

note sprintf('took %.1f s', time() - $started);
done_testing();
