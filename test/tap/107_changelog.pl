# The change-log (building block 5): the `edgestate` logical decoding output
# plugin streamed with pg_recvlogical and decoded by edgestate-decode.
#
# A random workload with a fixed seed (text and bigint keys, repeated keys,
# out-of-order hlc values, NaN/±Infinity/-0 and other extreme values, 63-byte
# and non-ASCII names, NULL devices; single-row, multi-row, COPY and
# INSERT ... SELECT transactions; aborted ones, failed ones, rolled-back
# savepoints, an interleaved pair whose commit order differs from its start
# order, a transaction large enough to be split into several frames) is
# checked against the tables themselves: the decoded readings are exactly the
# committed rows, grouped by transaction, in commit order, with each
# transaction's commit LSN and commit time as the WAL records them
# (pg_walinspect, track_commit_timestamp). Then: a restart from the slot's
# confirmed position (two files, each a complete stream, together exactly
# once), JSON mode, the plugin options, and corrupted and truncated files.
#
# The CLI is not installed with the extension: the test finds it through
# EDGESTATE_DECODE (scripts/test.sh exports it) and is skipped without it.
use strict;
use warnings;
use Config;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use Time::HiRes qw(time);

my $decode_bin = $ENV{EDGESTATE_DECODE};
plan skip_all => 'EDGESTATE_DECODE is not set: export it as the path of the built '
  . 'edgestate-decode (build/edgestate-decode; scripts/test.sh sets it)'
  unless defined $decode_bin && $decode_bin ne '';
plan skip_all => "EDGESTATE_DECODE=$decode_bin is not an executable file"
  unless -f $decode_bin && -x $decode_bin;
plan skip_all => 'this test needs 64-bit Perl integers' unless $Config{ivsize} >= 8;

my $started = time();
sub mark { note sprintf('%5.1f s: %s', time() - $started, $_[0]); }
my $tmp = PostgreSQL::Test::Utils::tempdir();

my $node = PostgreSQL::Test::Cluster->new('changelog');
$node->init(allows_streaming => 'logical', extra => [ '--encoding=UTF8', '--locale=C' ]);
$node->append_conf('postgresql.conf', "track_commit_timestamp = on\n");
$node->start;

# ---------------------------------------------------------------------------
# Schema. Both readings tables draw seq from one sequence, so that the rows of
# a transaction are ordered across tables; txid is the top-level transaction.
# tag is the harness's number of the committed transaction, in commit order
# (-1 for work that must never commit).

$node->safe_psql('postgres', q{
	CREATE EXTENSION edgestate;
	CREATE EXTENSION pg_walinspect;
	ALTER DATABASE postgres SET search_path = public, edgestate;
	CREATE SEQUENCE rseq;
	CREATE TABLE t (key text, value float8, ts edgestate.hlc, region text, device text,
	  skew_bound interval, tag int NOT NULL, seq bigint NOT NULL DEFAULT nextval('rseq'),
	  txid xid8 NOT NULL DEFAULT pg_current_xact_id()) USING sensorstate;
	CREATE TABLE t2 (key bigint, value float8, ts edgestate.hlc, region text, device text,
	  tag int NOT NULL, seq bigint NOT NULL DEFAULT nextval('rseq'),
	  txid xid8 NOT NULL DEFAULT pg_current_xact_id()) USING sensorstate;
	-- The same columns, but a heap table: never in the change-log.
	CREATE TABLE plain (key text, value float8, ts edgestate.hlc, region text, device text,
	  tag int, seq bigint NOT NULL DEFAULT nextval('rseq'),
	  txid xid8 NOT NULL DEFAULT pg_current_xact_id());

	-- The oracle's side: one canonical string per committed reading, as the
	-- change-log must carry it (NaN: PostgreSQL's canonical bits; no skew
	-- bound: edgestate.default_skew_bound, 50 ms).
	CREATE FUNCTION vbits(v float8) RETURNS text LANGUAGE sql IMMUTABLE AS $$
	  SELECT CASE WHEN v = 'NaN'::float8 THEN '7ff8000000000000' ELSE encode(float8send(v), 'hex') END $$;
	CREATE FUNCTION vtype(v float8) RETURNS text LANGUAGE sql IMMUTABLE AS $$
	  SELECT CASE WHEN v = 'NaN'::float8 OR v IN ('Infinity', '-Infinity') THEN 'string' ELSE 'number' END $$;
	CREATE VIEW expected AS
	  SELECT tag, seq, txid, 'public.t' AS tbl,
	         concat_ws('|', 'public.t', 'string', key, vtype(value), vbits(value), ts::text, region,
	                   coalesce(device, '<none>'),
	                   coalesce(floor(extract(epoch FROM skew_bound) * 1000)::bigint, 50)::text) AS r
	  FROM t
	  UNION ALL
	  SELECT tag, seq, txid, 'public.t2',
	         concat_ws('|', 'public.t2', 'number', key::text, vtype(value), vbits(value), ts::text, region,
	                   coalesce(device, '<none>'), '50')
	  FROM t2;

	-- The decoded side: JSON lines of the CLI or of the plugin's JSON mode.
	CREATE FUNCTION as_json(s text) RETURNS json LANGUAGE plpgsql IMMUTABLE AS $$
	  BEGIN RETURN CASE WHEN json_typeof(s::json) = 'object' THEN s::json END;
	  EXCEPTION WHEN others THEN RETURN NULL; END $$;
	CREATE FUNCTION f8bits(s text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
	  SELECT CASE WHEN s ~ '^(-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?|NaN|-?Infinity)$'
	              THEN encode(float8send(s::float8), 'hex') ELSE 'bad value ' || coalesce(s, 'NULL') END $$;
	CREATE TABLE raw (src text, ord bigint, line text);
	CREATE VIEW parsed AS
	  SELECT src, ord, line, j IS NOT NULL AS valid, j->>'lsn' AS lsn, j->>'seq' AS line_seq,
	         j->>'commit_time' AS commit_time, j->>'origin' AS origin,
	         (SELECT string_agg(k, ',') FROM json_object_keys(j) k) AS members,
	         concat_ws('|', j->>'table', json_typeof(j->'key'), j->>'key', json_typeof(j->'value'),
	                   f8bits(j->>'value'), j->>'ts', j->>'region', coalesce(j->>'device', '<none>'),
	                   j->>'skew_ms') AS r
	  FROM (SELECT src, ord, line, as_json(line) AS j FROM raw) x;
	CREATE TABLE dec AS SELECT * FROM parsed WITH NO DATA;
	CREATE TABLE exp AS SELECT * FROM expected WITH NO DATA;
	CREATE TABLE commits (xid xid, start_lsn pg_lsn);
});

# Slots before the workload: s is streamed twice (restart), sf once, sj is
# peeked in JSON mode, sx (binary) and sxj (JSON) are streamed twice with a
# stop inside a transaction, sk once with a small max-stream-keys.
$node->safe_psql('postgres', q{
	SELECT pg_create_logical_replication_slot('s', 'edgestate');
	SELECT pg_create_logical_replication_slot('sf', 'edgestate');
	SELECT pg_create_logical_replication_slot('sj', 'edgestate');
	SELECT pg_create_logical_replication_slot('sx', 'edgestate');
	SELECT pg_create_logical_replication_slot('sxj', 'edgestate');
	SELECT pg_create_logical_replication_slot('sk', 'edgestate');
});
my $lsn0 = $node->safe_psql('postgres',
	q{SELECT min(restart_lsn) FROM pg_replication_slots});

# ---------------------------------------------------------------------------
# The workload generator.

srand(20261126);

my @text_keys = (
	(map { "sensor-$_" } 1 .. 150),
	'', "it's", 'quo"te', 'back\\slash', "tab\tkey", "new\nline", "ctl\x01\x1f\x7f",
	'température', '温度计', "emoji-\xF0\x9F\x98\x80", 'k' x 255, ('é' x 127) . 'x');
my @int_keys = (0, 1, -1, 42, '9007199254740993', '-9223372036854775808',
	'9223372036854775807', map { sprintf('%d', int(rand(2e12)) - 1e12) } 1 .. 60);
# 63 bytes each where long; é, ü: 2 bytes, €, 数: 3 bytes (the source is UTF-8).
my @regions = ('eu-west', 'us-east', 'ap-south', 'r' x 63, ('é' x 31) . 'x', '€' x 21,
	q{reg"ion\\}, q{rég'ion});
my @devices = ('gw-1', 'gw-2', 'gw-3', 'gw-4', 'gw-5', 'd' x 63, ('ü' x 31) . 'y', '数' x 21,
	q{gw "2"});
my @skews = ('0', '150 milliseconds', '2.5 milliseconds', '24 hours', '1 day',
	'00:00:01.9999', '10 seconds');
my @special_values = ('NaN', 'negnan', 'Infinity', '-Infinity', '-0', '0', '5e-324', '-5e-324',
	'2.2250738585072014e-308', '1.7976931348623157e+308', '-1e+300', '1e+16',
	'123456789012345680000', '0.1');
my $base_ms = 1_780_272_000_000;    # 2026-06-01 00:00:00 UTC

my (%last_value, %last_ms);
my $tag = 0;                        # last committed transaction's tag
my %committed = (t => 0, t2 => 0, plain => 0);
my $errors_expected = 0;

sub sql_lit
{
	my ($s) = @_;
	$s =~ s/'/''/g;
	return "'$s'";
}

sub copy_esc
{
	my ($s) = @_;
	return '\\N' unless defined $s;
	$s =~ s/\\/\\\\/g;
	$s =~ s/\t/\\t/g;
	$s =~ s/\n/\\n/g;
	$s =~ s/\r/\\r/g;
	return $s;
}

sub pick { return $_[ int(rand(scalar @_)) ]; }

# A value in PostgreSQL's float8 input syntax ('negnan': a NaN with the sign
# bit set, which only arithmetic produces).
sub gen_value
{
	my ($kid) = @_;
	my $r = rand();
	my $v;
	if ($r < 0.12 && defined $last_value{$kid}) { $v = $last_value{$kid}; }
	elsif ($r < 0.30) { $v = pick(@special_values); }
	elsif ($r < 0.60)
	{
		$v = sprintf('%.2f', int(rand(400) - 200) / 4);
		$v = $last_value{$kid} + 0.25
		  if defined $last_value{$kid} && $last_value{$kid} =~ /^-?\d+\.\d+$/ && rand() < 0.5;
	}
	else { $v = sprintf('%.17g', (rand() - 0.5) * 10**(int(rand(24)) - 12)); }
	$last_value{$kid} = $v;
	return $v;
}

# hlc as ('YYYY-MM-DD HH:MM:SS.mmm+00', logical): out of order around the
# base, sometimes the same millisecond as the key's previous reading, the
# smallest and the largest hlc.
sub gen_ts
{
	my ($kid) = @_;
	my $r = rand();
	my ($ms, $logical);
	if ($r < 0.02) { ($ms, $logical) = (0, 0); }
	elsif ($r < 0.04) { ($ms, $logical) = (2**48 - 1, 65535); }
	elsif ($r < 0.15 && defined $last_ms{$kid})
	{
		($ms, $logical) = ($last_ms{$kid}, int(rand(65536)));
	}
	else
	{
		$ms = $base_ms + int(rand(1_200_000)) - 600_000;
		$logical = rand() < 0.7 ? 0 : int(rand(rand() < 0.5 ? 10 : 65536));
	}
	$last_ms{$kid} = $ms;
	my @g = gmtime(int($ms / 1000));
	return (
		sprintf('%04d-%02d-%02d %02d:%02d:%02d.%03d+00',
			$g[5] + 1900, $g[4] + 1, $g[3], $g[2], $g[1], $g[0], $ms % 1000),
		$logical);
}

my %columns = (
	t => 'key, value, ts, region, device, skew_bound, tag',
	t2 => 'key, value, ts, region, device, tag',
	plain => 'key, value, ts, region, device, tag');

# One row: {sql => '(...)', copy => "...\t..."}.
sub gen_row
{
	my ($table, $rtag, %opt) = @_;
	my $key;
	if ($table eq 't2')
	{
		$key = rand() < 0.6 ? $int_keys[ int(rand(12)) ] : pick(@int_keys);
	}
	else
	{
		$key = rand() < 0.6 ? $text_keys[ int(rand(20)) ] : pick(@text_keys);
	}
	my $kid = "$table:$key";
	my $value = gen_value($kid);
	my ($ts, $logical) = gen_ts($kid);
	my $region = $opt{region} // (rand() < 0.5 ? $regions[ int(rand(3)) ] : pick(@regions));
	my $device = rand() < 0.3 ? undef : pick(@devices);
	my $skew = rand() < 0.5 ? undef : pick(@skews);

	my $value_sql = $value eq 'negnan'
	  ? q{('Infinity'::float8 - 'Infinity'::float8)}
	  : sql_lit($value) . '::float8';
	my $ts_sql = rand() < 0.8
	  ? 'edgestate.hlc(' . sql_lit($ts) . "::timestamptz, $logical)"
	  : sql_lit("$ts#$logical") . '::edgestate.hlc';
	my $key_sql = $table eq 't2' ? $key : sql_lit($key);
	my @sql = ($key_sql, $value_sql, $ts_sql, sql_lit($region),
		defined $device ? sql_lit($device) : 'NULL');
	my @copy = (copy_esc($key), $value eq 'negnan' ? 'NaN' : $value, "$ts#$logical",
		copy_esc($region), copy_esc($device));
	if ($table eq 't')
	{
		push @sql, defined $skew ? sql_lit($skew) : 'NULL';
		push @copy, copy_esc($skew);
	}
	push @sql, $rtag;
	push @copy, $rtag;
	return { sql => '(' . join(', ', @sql) . ')', copy => join("\t", @copy) };
}

# An INSERT of n random rows; counts them as committed when $count.
sub insert_sql
{
	my ($table, $n, $rtag, $count) = @_;
	my @rows = map { gen_row($table, $rtag)->{sql} } 1 .. $n;
	$committed{$table} += $n if $count;
	return "INSERT INTO $table ($columns{$table}) VALUES\n  " . join(",\n  ", @rows) . ";\n";
}

sub random_table { my $r = rand(); return $r < 0.5 ? 't' : $r < 0.85 ? 't2' : 'plain'; }

# Statements of one committed transaction (tag $rtag).
sub statements
{
	my ($rtag, $count) = @_;
	my $sql = '';
	$sql .= insert_sql(random_table(), 1 + int(rand(6)), $rtag, $count) for 1 .. 1 + int(rand(4));
	return $sql;
}

# One random transaction, as SQL.
sub gen_txn
{
	my $r = rand();
	if ($r < 0.20)
	{    # autocommit, one row
		my $table = rand() < 0.6 ? 't' : 't2';
		return insert_sql($table, 1, ++$tag, 1);
	}
	elsif ($r < 0.40)
	{    # several statements, multi-row, mixing the tables
		my $rtag = ++$tag;
		return "BEGIN;\n" . statements($rtag, 1) . "COMMIT;\n";
	}
	elsif ($r < 0.50)
	{    # COPY
		my $table = rand() < 0.6 ? 't' : 't2';
		my $rtag = ++$tag;
		my $n = 1 + int(rand(15));
		$committed{$table} += $n;
		return "COPY $table ($columns{$table}) FROM stdin;\n"
		  . join('', map { gen_row($table, $rtag)->{copy} . "\n" } 1 .. $n) . "\\.\n";
	}
	elsif ($r < 0.62)
	{    # savepoints: rolled back (one after an error), released, rolled back
		my $rtag = ++$tag;
		my $sql = "BEGIN;\n" . statements($rtag, 1) . "SAVEPOINT a;\n" . statements($rtag, 0);
		if (rand() < 0.4) { $sql .= "SELECT 1/0;\n"; $errors_expected++; }
		$sql .= "ROLLBACK TO a;\n" . statements($rtag, 1);
		$sql .= "SAVEPOINT b;\n" . statements($rtag, 1) . "RELEASE b;\n";
		$sql .= "SAVEPOINT c;\n" . statements($rtag, 0) . "ROLLBACK TO c;\n" if rand() < 0.5;
		$sql .= insert_sql('t', 1, $rtag, 1) if rand() < 0.5;
		return $sql . "COMMIT;\n";
	}
	elsif ($r < 0.70)
	{    # ROLLBACK
		return "BEGIN;\n" . statements(-1, 0) . "ROLLBACK;\n";
	}
	elsif ($r < 0.80)
	{    # failing: an error last (any later statement would fail too)
		$errors_expected++;
		my $sql = "BEGIN;\n" . statements(-1, 0);
		my $e = rand();
		if ($e < 0.4) { $sql .= "SELECT 1/0;\n"; }
		elsif ($e < 0.7)
		{    # a reading the access method refuses: a 64-byte region
			$sql .= "INSERT INTO t ($columns{t}) VALUES "
			  . gen_row('t', -1, region => 'r' x 64)->{sql} . ";\n";
		}
		else
		{    # a multi-row INSERT whose last row fails: none of it stays
			my @rows = map { gen_row('t2', -1)->{sql} } 1 .. 3;
			push @rows, gen_row('t2', -1, region => '')->{sql};
			$sql .= "INSERT INTO t2 ($columns{t2}) VALUES " . join(', ', @rows) . ";\n";
		}
		return $sql . "COMMIT;\n";
	}
	elsif ($r < 0.85)
	{    # only the heap table: no frame
		return "BEGIN;\n" . insert_sql('plain', 2, ++$tag, 1) . "COMMIT;\n";
	}
	elsif ($r < 0.90)
	{    # readings only in a rolled-back savepoint, plus a heap row: no frame
		my $rtag = ++$tag;
		return "BEGIN;\n" . insert_sql('plain', 1, $rtag, 1) . "SAVEPOINT a;\n"
		  . insert_sql('t', 3, $rtag, 0) . insert_sql('t2', 2, $rtag, 0)
		  . "ROLLBACK TO a;\nCOMMIT;\n";
	}
	else
	{    # INSERT ... SELECT: many readings of few keys, out of order
		my $rtag = ++$tag;
		my $n = 20 + int(rand(60));
		$committed{t2} += $n;
		return "INSERT INTO t2 ($columns{t2}) SELECT (i % 7) - 3, i * 1.5 - 40,"
		  . " edgestate.hlc('2026-06-01+00'::timestamptz + ((i * 7919) % 1000) * interval '1 ms', i % 3),"
		  . " CASE WHEN i % 3 = 0 THEN 'eu-west' ELSE 'us-east' END,"
		  . " CASE WHEN i % 2 = 0 THEN 'gw-1' END, $rtag FROM generate_series(1, $n) i;\n";
	}
}

# A transaction large enough to be split into several frames (the encoder
# starts a new frame once a payload passes 1 MiB): 9 000 new keys of about
# 120 bytes, then 1 000 deltas.
my $big_rows = 10_000;
my $big_tag;
sub big_txn
{
	my $rtag = ++$tag;
	$big_tag = $rtag;
	$committed{t} += $big_rows;
	my $key = q{'big-' || %s || '-' || repeat('k', 112)};
	return "BEGIN;\n"
	  . "INSERT INTO t ($columns{t}) SELECT " . sprintf($key, 'i') . ", i * 0.25,"
	  . " edgestate.hlc('2026-06-01+00'::timestamptz + i * interval '1 ms', i % 5),"
	  . " (ARRAY['eu-west', 'us-east', 'ap-south'])[i % 3 + 1],"
	  . " CASE WHEN i % 4 <> 0 THEN 'gw-' || (i % 10) END, NULL, $rtag FROM generate_series(1, 9000) i;\n"
	  . "INSERT INTO t ($columns{t}) SELECT " . sprintf($key, '(i % 500 + 1)') . ", i * 0.5,"
	  . " edgestate.hlc('2026-05-31+00'::timestamptz + i * interval '1 ms', 0),"
	  . " 'eu-west', NULL, '150 ms', $rtag FROM generate_series(1, 1000) i;\n"
	  . "COMMIT;\n";
}

sub script
{
	my ($n, %opt) = @_;
	my $sql = '';
	my $errors_before = $errors_expected;
	for my $i (1 .. $n)
	{
		$sql .= big_txn() if defined $opt{big_at} && $i == $opt{big_at};
		$sql .= gen_txn();
	}
	return ($sql, $errors_expected - $errors_before);
}

sub workload
{
	my ($name, $n, %opt) = @_;
	my ($sql, $errors) = script($n, %opt);
	my ($ret, $out, $err) = $node->psql('postgres', $sql, on_error_stop => 0);
	my @errors = grep { /ERROR:/ } split /\n/, $err;
	is(scalar(@errors), $errors, "$name: exactly the $errors planned statements failed")
	  or diag $err;
}

sub insert_lsn
{
	return $node->safe_psql('postgres', 'SELECT pg_current_wal_insert_lsn()');
}

# ---------------------------------------------------------------------------
# Helpers: pg_recvlogical, the CLI, a frame walker, loading and comparing.

sub recvlogical
{
	my ($slot, $endpos, $file, @options) = @_;
	my ($out, $err) = ('', '');
	my @cmd = (
		'pg_recvlogical', '-d', $node->connstr('postgres'), '--slot', $slot, '--start',
		'--no-loop', '--endpos', $endpos, '-f', $file, map { ('-o', $_) } @options);
	my $ok = IPC::Run::run(\@cmd, '>', \$out, '2>', \$err,
		IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default));
	return ($ok, $err);
}

# Runs edgestate-decode on a file, on standard input ([stdin => bytes]) or on
# `cat FILES |` ([cat => files]); returns (exit status, stdout, stderr).
sub decode
{
	my ($input) = @_;
	my ($in, $out, $err) = ('', '', '');
	my $h;
	if (!ref $input)
	{
		$h = IPC::Run::start([ $decode_bin, $input ], '<', \$in, '>', \$out, '2>', \$err,
			IPC::Run::timeout(60));
	}
	elsif ($input->[0] eq 'stdin')
	{
		# From a file, not a pipe from this process: the CLI stops reading at
		# a bad frame.
		write_bytes("$tmp/stdin.bin", $input->[1]);
		$h = IPC::Run::start([ $decode_bin, '-' ], '<', "$tmp/stdin.bin", '>', \$out, '2>', \$err,
			IPC::Run::timeout(60));
	}
	else
	{
		my @files = @{$input}[ 1 .. $#$input ];
		$h = IPC::Run::start([ 'cat', @files ], '|', [ $decode_bin, '-' ], '>', \$out, '2>', \$err,
			IPC::Run::timeout(60));
	}
	$h->finish;
	my @results = $h->results;
	return ($results[-1], $out, $err);
}

sub read_bytes
{
	my ($path) = @_;
	open(my $fh, '<:raw', $path) or die "cannot open $path: $!";
	local $/;
	my $bytes = <$fh>;
	close $fh;
	return $bytes // '';
}

sub write_bytes
{
	my ($path, $bytes) = @_;
	open(my $fh, '>:raw', $path) or die "cannot write $path: $!";
	print $fh $bytes;
	close $fh;
}

my @crc_table = map {
	my $c = $_;
	$c = ($c & 1) ? (($c >> 1) ^ 0x82F63B78) : ($c >> 1) for 1 .. 8;
	$c;
} 0 .. 255;

sub crc32c
{
	my $crc = 0xFFFFFFFF;
	$crc = $crc_table[ ($crc ^ $_) & 0xFF ] ^ ($crc >> 8) for unpack('C*', $_[0]);
	return $crc ^ 0xFFFFFFFF;
}

sub varint
{
	my ($buf, $pos, $max) = @_;
	my ($value, $shift) = (0, 0);
	for (1 .. $max)
	{
		return undef if $$pos >= length $buf;
		my $b = ord(substr($buf, $$pos++, 1));
		$value |= ($b & 0x7F) << $shift;
		return $value unless $b & 0x80;
		$shift += 7;
	}
	return undef;
}

sub lsn_value
{
	my ($hi, $lo) = split m{/}, $_[0];
	return (hex($hi) << 32) | hex($lo);
}

# The frames of a stream as pg_recvlogical wrote it: each frame's offset,
# header, flags, commit LSN, origin, count and whether its checksum and the
# newline after it are right. Independent of the C++ decoder.
sub walk_frames
{
	my ($bytes) = @_;
	my (@frames, $problem);
	my $pos = 0;
	while ($pos < length $bytes)
	{
		my $start = $pos;
		if (ord(substr($bytes, $pos, 1)) != 0xE5) { $problem = "no magic at byte $pos"; last; }
		my $version = ord(substr($bytes, $pos + 1, 1));
		my $p = $pos + 2;
		my $plen = varint($bytes, \$p, 4);
		if (!defined $plen || $p + $plen + 4 > length $bytes)
		{
			$problem = "frame at byte $start runs past the end";
			last;
		}
		my $payload = substr($bytes, $p, $plen);
		my $crc = unpack('V', substr($bytes, $p + $plen, 4));
		my ($flags, $lsn) = unpack('C Q<', $payload);
		my $q = 9;
		my $ctime = varint($payload, \$q, 10);
		my $origin = varint($payload, \$q, 10);
		my $count = varint($payload, \$q, 10);
		$pos = $p + $plen + 4;
		my $newline = substr($bytes, $pos, 1) eq "\n";
		$pos++ if $newline;
		push @frames, {
			offset => $start, payload_at => $p, plen => $plen, end => $p + $plen + 4,
			version => $version, flags => $flags, lsn => $lsn, ctime => $ctime,
			origin => $origin, count => $count, newline => $newline,
			crc_ok => $crc == crc32c(substr($bytes, $start, $p + $plen - $start)) };
	}
	return (\@frames, $problem);
}

# Frame-level properties of one pg_recvlogical session's file.
sub check_frames
{
	my ($name, $frames, $problem) = @_;
	is($problem, undef, "$name: the file is a sequence of whole frames");
	cmp_ok(scalar(@$frames), '>', 0, "$name: it has frames");
	is(scalar(grep { !$_->{crc_ok} } @$frames), 0, "$name: every frame's CRC-32C is right");
	is(scalar(grep { !$_->{newline} } @$frames), 0, "$name: one newline after each frame");
	is(scalar(grep { $_->{version} != $frames->[0]{version} } @$frames), 0,
		"$name: every frame has the same format version ($frames->[0]{version})");
	is($frames->[0]{flags} & 1, 1, "$name: the first frame starts the stream");
	is(scalar(grep { ($_->{flags} & ~2) != 0 } @{$frames}[ 1 .. $#$frames ]), 0,
		"$name: no later frame starts a stream (the continued flag, 2, is the only one)");
	# A frame with the continued flag is followed by one of the same commit.
	my $orphans = 0;
	for my $i (0 .. $#$frames) {
		next unless $frames->[$i]{flags} & 2;
		$orphans++ if $i == $#$frames && $name ne 'session A';
		$orphans++ if $i < $#$frames && !($frames->[ $i + 1 ]{flags} & 1)
		  && $frames->[ $i + 1 ]{lsn} != $frames->[$i]{lsn};
	}
	is($orphans, 0, "$name: a continued frame is followed by more of its transaction");
	my ($backwards, $bad_split) = (0, 0);
	for my $i (1 .. $#$frames)
	{
		my ($a, $b) = ($frames->[ $i - 1 ], $frames->[$i]);
		$backwards++ if $b->{lsn} < $a->{lsn};
		# The same commit LSN again only for the next frame of a split transaction.
		$bad_split++
		  if $b->{lsn} == $a->{lsn}
		  && ($a->{plen} < 1_048_576 || $a->{ctime} != $b->{ctime} || $a->{origin} != $b->{origin});
	}
	is($backwards, 0, "$name: commit LSNs never go back");
	is($bad_split, 0,
		"$name: a commit LSN repeats only in the next frame of a split transaction (previous payload past 1 MiB)");
}

my $members = 'lsn,seq,commit_time,origin,table,key,value,ts,region,device,skew_ms';

# Stores JSON lines as source $src, parsed once (table dec).
sub load
{
	my ($src, $text) = @_;
	$text =~ s/\n\z//;
	my $path = "$tmp/$src.jsonl";
	write_bytes($path, $text);
	my $none = $text eq '' ? 'true' : 'false';
	$node->safe_psql('postgres', qq{
		DELETE FROM dec WHERE src = '$src';
		INSERT INTO raw SELECT '$src', ord, line
		FROM regexp_split_to_table(convert_from(pg_read_binary_file('$path'), 'UTF8'), E'\\n')
		  WITH ORDINALITY AS x(line, ord) WHERE NOT $none;
		INSERT INTO dec SELECT * FROM parsed;
		TRUNCATE raw});
}

sub load_peek
{
	my ($src, $slot, @options) = @_;
	my $opts = join('', map { ', ' . sql_lit($_) } @options);
	$node->safe_psql('postgres', qq{
		DELETE FROM dec WHERE src = '$src';
		INSERT INTO raw SELECT '$src', row_number() OVER (ORDER BY c.ord, l.n), l.line
		FROM pg_logical_slot_peek_changes('$slot', NULL, NULL$opts) WITH ORDINALITY AS c(lsn, xid, data, ord),
		     regexp_split_to_table(c.data, E'\\n') WITH ORDINALITY AS l(line, n);
		INSERT INTO dec SELECT * FROM parsed;
		TRUNCATE raw});
}

# The committed rows, as the change-log must carry them (table exp).
sub refresh_expected
{
	$node->safe_psql('postgres', q{TRUNCATE exp; INSERT INTO exp SELECT * FROM expected; ANALYZE exp});
}

sub refresh_commits
{
	$node->safe_psql('postgres', qq{
		TRUNCATE commits;
		INSERT INTO commits SELECT xid, start_lsn
		FROM pg_get_wal_records_info_till_end_of_wal('$lsn0')
		WHERE resource_manager = 'Transaction' AND record_type LIKE 'COMMIT%'});
}

# Compares the decoded source $src with the committed rows selected by $where:
# the same multiset, the same sequence (transactions by tag = commit order,
# rows by seq), one commit LSN per transaction, strictly increasing, equal to
# the commit record's LSN in the WAL, the commit time of the transaction, the
# expected origin, and the members of each line in the documented order.
sub compare
{
	my ($name, $src, $where, %opt) = @_;
	my $origin = $opt{origin} // '0';
	my $want_members = $opt{members} // $members;
	my $check_commit = $opt{check_commit} // 1;
	my $time_expr = $opt{commit_time} // 'NULL';
	my $cte = qq{
		WITH d AS MATERIALIZED (SELECT row_number() OVER (ORDER BY ord) AS n,
		                               (row_number() OVER (PARTITION BY lsn ORDER BY ord) - 1)::text AS want_seq, *
		                        FROM dec WHERE src = '$src'),
		     e AS MATERIALIZED (SELECT row_number() OVER (ORDER BY tag, seq) AS n, tag, seq, txid, r,
		                               ($origin)::text AS origin
		                        FROM exp WHERE $where),
		     w AS MATERIALIZED (SELECT *, lag(lsn) OVER (ORDER BY n) AS plsn, lag(tag) OVER (ORDER BY n) AS ptag
		           FROM (SELECT coalesce(d.n, e.n) AS n, d.r AS dr, e.r AS er, d.line, d.valid,
		                        d.lsn, e.tag, e.txid, d.commit_time, d.origin AS dorigin,
		                        e.origin AS eorigin, d.members, d.line_seq, d.want_seq
		                 FROM d FULL JOIN e ON d.n = e.n) j),
		     t AS MATERIALIZED (SELECT DISTINCT txid, c.start_lsn,
		                               to_char(pg_xact_commit_timestamp(txid::xid) AT TIME ZONE 'UTC',
		                                       'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS ts_time
		                        FROM e LEFT JOIN commits c ON c.xid = e.txid::xid),
		     q AS MATERIALIZED (
		       SELECT n, coalesce(line, '<missing>') AS line, coalesce(er, '<missing>') AS er, tag,
		              lsn, start_lsn, commit_time, coalesce($time_expr, ts_time) AS want_time,
		              dorigin, eorigin, members, valid,
		              dr IS DISTINCT FROM er AS row_bad,
		              plsn IS NOT NULL AND ((lsn <> plsn) IS DISTINCT FROM (tag <> ptag)) AS group_bad,
		              plsn IS NOT NULL AND lsn <> plsn AND lsn::pg_lsn <= plsn::pg_lsn AS order_bad,
		              members IS DISTINCT FROM '$want_members' AS members_bad,
		              line_seq IS DISTINCT FROM want_seq AS seq_bad,
		              dorigin IS DISTINCT FROM eorigin AS origin_bad,
		              lsn::pg_lsn IS DISTINCT FROM start_lsn AS lsn_bad,
		              commit_time IS DISTINCT FROM coalesce($time_expr, ts_time) AS time_bad
		       FROM w LEFT JOIN t USING (txid))};
	my $summary = $node->safe_psql('postgres', qq{$cte
		SELECT (SELECT count(*) FROM d), (SELECT count(*) FROM e),
		       (SELECT count(*) FROM ((SELECT r FROM d EXCEPT ALL SELECT r FROM e)
		                              UNION ALL (SELECT r FROM e EXCEPT ALL SELECT r FROM d)) x),
		       count(*) FILTER (WHERE row_bad), count(*) FILTER (WHERE group_bad),
		       count(*) FILTER (WHERE order_bad), count(*) FILTER (WHERE members_bad),
		       count(*) FILTER (WHERE origin_bad), count(*) FILTER (WHERE lsn_bad),
		       count(*) FILTER (WHERE time_bad), count(DISTINCT tag),
		       count(*) FILTER (WHERE valid IS NOT TRUE AND line <> '<missing>'),
		       count(*) FILTER (WHERE seq_bad AND line <> '<missing>')
		FROM q});
	my ($nd, $ne, $set_diff, $row_bad, $group_bad, $order_bad, $member_bad, $origin_bad,
		$lsn_bad, $time_bad, $txns, $invalid, $seq_bad) = split /\|/, $summary;
	cmp_ok($ne, '>', 0, "$name: there are committed readings to compare ($ne in $txns transactions)");
	is($invalid, 0, "$name: every line is one valid JSON object");
	is($nd, $ne, "$name: as many decoded readings as committed rows");
	is($set_diff, 0, "$name: the decoded readings are exactly the committed rows (key, value bits, ts, region, device, table, skew)");
	is($row_bad, 0, "$name: in commit order, each transaction's rows in insertion order");
	is($group_bad, 0, "$name: one commit LSN per transaction");
	is($order_bad, 0, "$name: commit LSNs strictly increase from transaction to transaction");
	is($member_bad, 0, "$name: every line has the documented members in order");
	is($seq_bad, 0, "$name: seq numbers each transaction's readings from 0");
	is($origin_bad, 0, "$name: origin as expected");
	if ($check_commit)
	{
		is($lsn_bad, 0, "$name: each commit LSN is the LSN of the transaction's commit record");
		is($time_bad, 0, "$name: each commit time is the transaction's commit time");
	}
	my $check = $check_commit ? 'OR lsn_bad OR time_bad' : '';
	if ($set_diff || $row_bad || $group_bad || $order_bad || $member_bad || $origin_bad || $invalid
		|| $seq_bad
		|| ($check_commit && ($lsn_bad || $time_bad)))
	{
		diag "first differences of $name:\n" . $node->safe_psql('postgres', qq{$cte
			SELECT * FROM q
			WHERE row_bad OR group_bad OR order_bad OR members_bad OR origin_bad OR seq_bad $check
			   OR (valid IS NOT TRUE AND line <> '<missing>')
			ORDER BY n LIMIT 8});
	}
}

# ---------------------------------------------------------------------------
# Phase 1; the end of phase 1 is where the first streaming session stops.

workload('phase 1', 100, big_at => 40);
my $end_a = insert_lsn();
my $last_tag_a = $tag;

# Phase 2: random transactions, a DDL change of a readings table, and two
# sessions whose commit order is not their start order.
workload('phase 2a', 30);
my ($first, $later) = ($tag + 1, $tag + 2);
{
	$tag += 2;
	my $bg = $node->background_psql('postgres');
	$bg->query_safe('BEGIN');
	$bg->query_safe(insert_sql('t', 3, $later, 1));    # starts first, commits second
	$node->safe_psql('postgres',
		"BEGIN;\n" . insert_sql('t', 2, $first, 1) . insert_sql('t2', 2, $first, 1) . "COMMIT;\n");
	$bg->query_safe(insert_sql('t2', 2, $later, 1));
	$bg->query_safe('COMMIT');
	$bg->quit;
}
$node->safe_psql('postgres', q{ALTER TABLE t2 ADD COLUMN note text DEFAULT 'added later'});
workload('phase 2b', 30);

# The first session: from the slot's start to the end of phase 1 (pg_recvlogical
# confirms what it received, up to there).
my $file_a = "$tmp/a.bin";
my ($ok, $err) = recvlogical('s', $end_a, $file_a, 'format=binary');
ok($ok, 'pg_recvlogical streamed the slot up to the end of phase 1') or diag $err;

mark('phase 3');
# Phase 3, after the first session.
workload('phase 3', 60);
my $end_b = insert_lsn();
my $last_tag_b = $tag;
$node->safe_psql('postgres', q{INSERT INTO plain (key, tag) VALUES ('after the end', NULL)});

# The second session resumes after the confirmed position.
my $file_b = "$tmp/b.bin";
($ok, $err) = recvlogical('s', $end_b, $file_b, 'format=binary');
ok($ok, 'pg_recvlogical resumed the slot and streamed up to the end of phase 3') or diag $err;
# One session over everything, on another slot.
my $file_f = "$tmp/f.bin";
($ok, $err) = recvlogical('sf', $end_b, $file_f, 'format=binary');
ok($ok, 'pg_recvlogical streamed the second slot in one session') or diag $err;

note sprintf('workload and streaming took %.1f s', time() - $started);

# ---------------------------------------------------------------------------
# The workload did what was planned.

is($node->safe_psql('postgres', q{SELECT count(*) FROM t}), $committed{t},
	'table t holds the planned committed rows');
is($node->safe_psql('postgres', q{SELECT count(*) FROM t2}), $committed{t2},
	'table t2 holds the planned committed rows');
is($node->safe_psql('postgres', q{SELECT count(*) FROM plain WHERE tag IS NOT NULL}), $committed{plain},
	'table plain holds the planned committed rows');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM (SELECT tag, txid FROM t UNION ALL SELECT tag, txid FROM t2
	                      UNION ALL SELECT tag, txid FROM plain WHERE tag IS NOT NULL) x WHERE tag < 0}),
	'0', 'nothing of aborted transactions or failed statements is in the tables');
is($node->safe_psql('postgres', q{
	WITH x AS (SELECT tag, txid FROM expected)
	SELECT (SELECT count(*) FROM (SELECT tag FROM x GROUP BY tag HAVING count(DISTINCT txid) > 1) a)
	     + (SELECT count(*) FROM (SELECT txid FROM x GROUP BY txid HAVING count(DISTINCT tag) > 1) b)}),
	'0', 'each committed transaction (tag) is one top-level transaction id');
is($node->safe_psql('postgres', qq{
	SELECT max(txid) FILTER (WHERE tag = $first) > max(txid) FILTER (WHERE tag = $later)
	FROM expected}), 't',
	'the interleaved pair: the transaction that committed first started second');
cmp_ok($node->safe_psql('postgres', qq{SELECT count(*) FROM expected WHERE tag <= $last_tag_a}), '>', $big_rows,
	'phase 1 has the large transaction');
# The random workload covers the cases it is meant to (names of the cases
# that have no committed row).
is($node->safe_psql('postgres', q{
	WITH r AS (SELECT key, NULL::bigint AS ikey, value, ts, region, device, seq FROM t
	           UNION ALL SELECT NULL, key, value, ts, region, device, seq FROM t2),
	c AS (SELECT
	  count(*) FILTER (WHERE float8send(value) = '\x7ff8000000000000') AS nan,
	  count(*) FILTER (WHERE float8send(value) = '\xfff8000000000000') AS nan_with_sign_bit,
	  count(*) FILTER (WHERE value = 'Infinity') AS infinity,
	  count(*) FILTER (WHERE value = '-Infinity') AS minus_infinity,
	  count(*) FILTER (WHERE float8send(value) = '\x8000000000000000') AS minus_zero,
	  count(*) FILTER (WHERE float8send(value) = '\x0000000000000001') AS denormal,
	  count(*) FILTER (WHERE ts = '1970-01-01 00:00:00.000+00#0'::edgestate.hlc) AS hlc_zero,
	  count(*) FILTER (WHERE ts::text LIKE '10889-%#65535') AS hlc_max,
	  count(*) FILTER (WHERE octet_length(region) = 63 AND length(region) < 63) AS region_63_bytes_non_ascii,
	  count(*) FILTER (WHERE octet_length(device) = 63 AND length(device) < 63) AS device_63_bytes_non_ascii,
	  count(*) FILTER (WHERE device IS NULL) AS no_device,
	  count(*) FILTER (WHERE key = '') AS empty_key,
	  count(*) FILTER (WHERE octet_length(key) = 255) AS key_255_bytes,
	  count(*) FILTER (WHERE key ~ '[\x01\t\n"\\\\]') AS key_to_escape,
	  count(*) FILTER (WHERE ikey IN (-9223372036854775808, 9223372036854775807)) AS bigint_extremes
	  FROM r),
	b AS (SELECT count(*) AS hlc_going_back FROM (
	        SELECT ts < lag(ts) OVER (PARTITION BY key, ikey ORDER BY seq) AS back FROM r) x WHERE back)
	SELECT coalesce(string_agg(k, ',' ORDER BY k), '')
	FROM (SELECT (json_each_text(row_to_json(c))).* FROM c
	      UNION ALL SELECT 'hlc_going_back', hlc_going_back::text FROM b) x(k, v) WHERE v = '0'}),
	'', 'the workload has every kind of reading it is meant to have');

# ---------------------------------------------------------------------------
mark('frames and decoding');
# 1. Frames and decoding of each session, and of one uninterrupted session.

my $bytes_a = read_bytes($file_a);
my $bytes_b = read_bytes($file_b);
my $bytes_f = read_bytes($file_f);
my ($frames_a, $problem_a) = walk_frames($bytes_a);
my ($frames_b, $problem_b) = walk_frames($bytes_b);
my ($frames_f, $problem_f) = walk_frames($bytes_f);
is(crc32c('123456789'), 0xE3069283, 'the test\'s CRC-32C has the check value');
check_frames('session A', $frames_a, $problem_a);
check_frames('session B', $frames_b, $problem_b);
check_frames('one session', $frames_f, $problem_f);
my $split = grep { $frames_f->[$_]{lsn} == $frames_f->[ $_ - 1 ]{lsn} } 1 .. $#$frames_f;
cmp_ok($split, '>=', 1, 'the large transaction was split into several frames of one commit LSN');
cmp_ok($frames_a->[-1]{lsn}, '<', $frames_b->[0]{lsn}, 'session B starts after the last transaction of session A');
cmp_ok($frames_a->[-1]{lsn}, '<', lsn_value($end_a), 'session A stopped at its end position');
my $confirmed = $node->safe_psql('postgres',
	q{SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = 's'});
note "slot s confirmed $confirmed; session A ended at $end_a, session B at $end_b";

my ($rc, $out, $stderr) = decode($file_a);
is($rc, 0, 'the CLI decodes session A') or diag $stderr;
is($stderr, '', 'without complaint');
my $lines_a = $out;
($rc, $out, $stderr) = decode($file_b);
is($rc, 0, 'the CLI decodes session B alone: it is a complete stream') or diag $stderr;
my $lines_b = $out;
($rc, $out, $stderr) = decode([ stdin => $bytes_b ]);
is($rc, 0, 'the CLI decodes session B from standard input');
is($out, $lines_b, 'with the same lines as from the file');
($rc, $out, $stderr) = decode([ cat => $file_a, $file_b ]);
is($rc, 0, 'the CLI decodes `cat A B | edgestate-decode -`') or diag $stderr;
is($out, $lines_a . $lines_b, 'the concatenation decodes to the lines of A, then those of B');
my $lines_ab = $out;
($rc, $out, $stderr) = decode($file_f);
is($rc, 0, 'the CLI decodes the uninterrupted session') or diag $stderr;
my $lines_f = $out;
is($lines_f, $lines_ab, 'the uninterrupted session decodes to the same lines as A then B');

# A session that remembers at most 50 keys starts a new stream whenever it
# has seen more: more frames start a stream, and it decodes to the same lines.
{
	my ($okk, $errk) = recvlogical('sk', $end_b, "$tmp/k.bin", 'format=binary', 'max-stream-keys=50');
	ok($okk, 'pg_recvlogical streamed a slot with max-stream-keys=50') or diag $errk;
	my ($frames_k, $problem_k) = walk_frames(read_bytes("$tmp/k.bin"));
	is($problem_k, undef, 'max-stream-keys=50: the file is a sequence of whole frames');
	cmp_ok(scalar(grep { $_->{flags} & 1 } @$frames_k), '>', 1,
		'max-stream-keys=50: later frames start new streams');
	my ($rck, $outk, $errk2) = decode("$tmp/k.bin");
	is($rck, 0, 'the CLI decodes it') or diag $errk2;
	is($outk, $lines_f, 'to the same lines as the session without the limit');
}

my $sum = 0;
$sum += $_->{count} for @$frames_a;
is(($lines_a =~ tr/\n//), $sum, 'session A: one line per reading the frames announce');

mark('load');
load('F', $lines_f);
load('A', $lines_a);
load('B', $lines_b);
refresh_expected();
refresh_commits();
mark('compare');
compare('uninterrupted session', 'F', "tag <= $last_tag_b");
# 2. Restart from the confirmed position. A then B decodes to the lines of the
# uninterrupted session (checked above), so A and B together are every
# committed reading exactly once, in commit order; A holds phase 1 and B
# the rest, B decoded alone.
compare('session A', 'A', "tag <= $last_tag_a");
compare('session B', 'B', "tag > $last_tag_a AND tag <= $last_tag_b");

# A session that stops inside the large transaction, after its first frame
# (end position: the transaction's commit record; pg_recvlogical writes the
# first frame, whose message carries the LSN of a change before it, and
# confirms that LSN). The next session resends the whole transaction. A
# consumer doing what docs/changelog-format.md says (group consecutive frames
# by commit LSN; deduplicate on the commit LSN when exactly-once matters) must
# still end up with every committed reading exactly once.
# Streams $slot in two sessions, the first stopping at the large
# transaction's commit record, into $file1 and $file2; returns that commit LSN.
sub two_sessions_across_large_transaction
{
	my ($name, $slot, $format, $file1, $file2) = @_;
	my $big_commit = $node->safe_psql('postgres', qq{
		SELECT c.start_lsn FROM commits c JOIN exp e ON c.xid = e.txid::xid
		WHERE e.tag = $big_tag LIMIT 1});
	my ($ok1, $err1) = recvlogical($slot, $big_commit, $file1, "format=$format");
	my ($ok2, $err2) = recvlogical($slot, $end_b, $file2, "format=$format");
	ok($ok1 && $ok2, "${name}two sessions, the first stopping at the large transaction's commit record")
	  or diag "$err1\n$err2";
	return $big_commit;
}

{
	my $big_commit = two_sessions_across_large_transaction('', 'sx', 'binary', "$tmp/x1.bin",
		"$tmp/x2.bin");
	my ($x1) = walk_frames(read_bytes("$tmp/x1.bin"));
	my ($rc1, $out1) = decode("$tmp/x1.bin");
	my ($rc2, $out2) = decode("$tmp/x2.bin");
	is($rc1 + $rc2, 0, 'both sessions decode');
	note sprintf('the first session ended with %d frame(s) of the commit LSN %s',
		scalar(grep { $_->{lsn} == lsn_value($big_commit) } @$x1), $big_commit);
	# The documented consumer: within a session, consecutive frames of one
	# commit LSN are one transaction; a commit LSN delivered before (in an
	# earlier session) is a duplicate.
	my (%seen, @kept);
	for my $session ($out1, $out2)
	{
		my ($group_lsn, $skip);
		for my $line (split /(?<=\n)/, $session)
		{
			my ($lsn) = $line =~ /^\{"lsn":"([^"]+)"/;
			if (!defined $group_lsn || $lsn ne $group_lsn)
			{
				$skip = $seen{$lsn}++;
				$group_lsn = $lsn;
			}
			push @kept, $line unless $skip;
		}
	}
	ok(join('', @kept) eq $lines_f,
		'deduplicating on the commit LSN as documented gives every committed reading exactly once')
	  or diag sprintf('%d lines kept, %d committed readings: the first session delivered part of '
		  . 'transaction %s and nothing lets a consumer tell that it was incomplete',
		  scalar(@kept), ($lines_f =~ tr/\n//), $big_commit);
}

# ---------------------------------------------------------------------------
mark('JSON mode');
# 3. JSON mode: the same lines, straight from the plugin.

# The slot sj has seen the same transactions (and nothing after them but a
# heap row). Its lines must be those of the CLI for the binary stream, which
# compare() checked against the tables above.
my $json = $node->safe_psql('postgres',
	q{SELECT data FROM pg_logical_slot_peek_changes('sj', NULL, NULL, 'format', 'json')});
is(($json =~ tr/\n//) + 1, ($lines_f =~ tr/\n//), 'JSON mode: one line per committed reading');
ok($json . "\n" eq $lines_f,
	'JSON mode: the same lines as edgestate-decode prints for the binary stream, byte for byte');

# The JSON mode writes a transaction's lines as one message, split past
# 1 MiB like binary frames. A session stopping at the large transaction's
# commit record has written its messages but the last; the next session
# resends the whole transaction. A consumer that drops lines whose (lsn, seq)
# it already has, as docs/changelog-format.md says, ends up with every
# committed reading exactly once.
{
	my $big = two_sessions_across_large_transaction('JSON mode: ', 'sxj', 'json',
		"$tmp/xj1.jsonl", "$tmp/xj2.jsonl");
	my ($s1, $s2) = (slurp_file("$tmp/xj1.jsonl"), slurp_file("$tmp/xj2.jsonl"));
	my $big_total = grep { /^\{"lsn":"\Q$big\E"/ } split /\n/, $lines_f;
	my $big_first = grep { /^\{"lsn":"\Q$big\E"/ } split /\n/, $s1;
	cmp_ok($big_first, '>', 0, 'JSON mode: the first session delivered part of the large transaction');
	cmp_ok($big_first, '<', $big_total, '... and not all of it');
	my (%seen, @kept);
	for my $line (split /(?<=\n)/, $s1 . $s2)
	{
		my ($lsn, $seq) = $line =~ /^\{"lsn":"([^"]+)","seq":(\d+)/;
		push @kept, $line unless $seen{"$lsn $seq"}++;
	}
	ok(join('', @kept) eq $lines_f,
		'JSON mode: dropping repeated (lsn, seq) pairs gives every committed reading exactly once');
}

# ---------------------------------------------------------------------------
mark('options');
# 4. Options, on a slot created for phase 4: readings applied under a
# replication origin, a table with a 63-byte name and one with a mixed-case
# name.

my $long = 'readings_' . ('x' x 54);
$node->safe_psql('postgres', qq{
	CREATE TABLE $long (key bigint, value float8, ts edgestate.hlc, region text) USING sensorstate;
	CREATE TABLE "Mixed" (key text, value float8, ts edgestate.hlc, region text) USING sensorstate;
	SELECT pg_replication_origin_create('o1');
	SELECT pg_replication_origin_create('o2');
	SELECT pg_create_logical_replication_slot('so', 'edgestate');
});
my $o1 = $node->safe_psql('postgres', q{SELECT pg_replication_origin_oid('o1')});
my ($l1, $r1, $l2) = ($tag + 1, $tag + 2, $tag + 3);
$tag += 3;
$node->safe_psql('postgres', "BEGIN;\n" . insert_sql('t', 3, $l1, 1) . insert_sql('t2', 2, $l1, 1)
	  . qq{INSERT INTO $long VALUES (7, 1.5, edgestate.hlc('2026-06-01+00'), 'eu-west');
	       INSERT INTO "Mixed" VALUES ('m', 2.5, edgestate.hlc('2026-06-01+00'), 'eu-west');
	       COMMIT;});
# As a reconciler applies a peer's transaction: with the origin's commit LSN
# and time, which logical decoding reports as the commit time.
my $origin_time = '2026-06-01T12:34:56.123456Z';
$node->safe_psql('postgres', "SELECT pg_replication_origin_session_setup('o1');\nBEGIN;\n"
	  . "SELECT pg_replication_origin_xact_setup('0/AB12', '$origin_time');\n"
	  . insert_sql('t', 2, $r1, 1) . insert_sql('t2', 3, $r1, 1)
	  . "COMMIT;\nSELECT pg_replication_origin_session_reset();\n");
$node->safe_psql('postgres', "BEGIN;\n" . insert_sql('t', 2, $l2, 1) . insert_sql('t2', 1, $l2, 1) . "COMMIT;\n");
refresh_commits();
refresh_expected();

my $both = 'public.t,public.t2';
my $origin_expr = "CASE WHEN tag = $r1 THEN $o1 ELSE 0 END";
my %origin = (origin => $origin_expr, commit_time => "CASE WHEN tag = $r1 THEN '$origin_time' END");
load_peek('any', 'so', 'format', 'json', 'tables', $both);
compare('origin default (any)', 'any', "tag IN ($l1, $r1, $l2)", %origin);
load_peek('any2', 'so', 'format', 'json', 'tables', $both, 'origin', 'any');
compare("origin 'any'", 'any2', "tag IN ($l1, $r1, $l2)", %origin);
load_peek('local', 'so', 'format', 'json', 'tables', $both, 'origin', 'local');
compare("origin 'local'", 'local', "tag IN ($l1, $l2)");
load_peek('skip1', 'so', 'format', 'json', 'tables', $both, 'origin', 'skip:o1');
compare("origin 'skip:o1'", 'skip1', "tag IN ($l1, $l2)");
load_peek('skip2', 'so', 'format', 'json', 'tables', $both, 'origin', 'skip:o2');
compare("origin 'skip:o2'", 'skip2', "tag IN ($l1, $r1, $l2)", %origin);
load_peek('skip21', 'so', 'format', 'json', 'tables', $both, 'origin', 'skip:o2,o1');
compare("origin 'skip:o2,o1'", 'skip21', "tag IN ($l1, $l2)");
load_peek('only_t2', 'so', 'format', 'json', 'tables', 'public.t2');
compare("tables 'public.t2'", 'only_t2', "tag IN ($l1, $r1, $l2) AND tbl = 'public.t2'", %origin);
load_peek('only_t', 'so', 'format', 'json', 'tables', 'public.t', 'origin', 'local');
compare("tables 'public.t' with origin 'local'", 'only_t', "tag IN ($l1, $l2) AND tbl = 'public.t'");
load_peek('nots', 'so', 'format', 'json', 'tables', 'public.t', 'include-timestamps', 'false');
compare("include-timestamps 'false'", 'nots', "tag IN ($l1, $r1, $l2) AND tbl = 'public.t'",
	%origin, members => 'lsn,seq,origin,table,key,value,ts,region,device,skew_ms',
	check_commit => 0);

# Every sensorstate table by default, never the heap table.
is($node->safe_psql('postgres', q{
	SELECT string_agg(DISTINCT line::json->>'table', ',')
	FROM pg_logical_slot_peek_changes('so', NULL, NULL, 'format', 'json'),
	     regexp_split_to_table(data, E'\\n') line}),
	"public.\"Mixed\",public.$long,public.t,public.t2",
	'by default the change-log has every sensorstate table and nothing else (quoted as SQL quotes them)');
# The filter takes a table by the name the change-log gives it.
is($node->safe_psql('postgres', qq{
	SELECT count(*) FROM pg_logical_slot_peek_changes('so', NULL, NULL, 'format', 'json',
	  'tables', 'public.$long')}),
	'1', "tables 'public.<63-byte name>' selects that table's reading");
is($node->safe_psql('postgres', q{
	SELECT (SELECT count(*) FROM pg_logical_slot_peek_changes('so', NULL, NULL, 'format', 'json',
	          'tables', 'public.Mixed')) > 0
	   AND (SELECT count(*) FROM pg_logical_slot_peek_changes('so', NULL, NULL, 'format', 'json',
	          'tables', 'public."Mixed"')) > 0}),
	't', "tables 'public.Mixed' and 'public.\"Mixed\"' both select the mixed-case table's reading");

# Binary frames through the SQL interface: one frame per row; joined with
# newlines they are a stream the CLI decodes to the JSON mode's lines.
my @hex = split /\n/, $node->safe_psql('postgres', qq{
	SELECT encode(data, 'hex') FROM pg_logical_slot_peek_binary_changes('so', NULL, NULL, 'tables', '$both')});
my $binary = join("\n", map { pack('H*', $_) } @hex) . "\n";
my ($frames_so, $problem_so) = walk_frames($binary);
check_frames('binary frames of pg_logical_slot_peek_binary_changes', $frames_so, $problem_so);
is(join(',', map { $_->{origin} } @$frames_so), "0,$o1,0", 'each frame carries its transaction\'s origin');
($rc, $out, $stderr) = decode([ stdin => $binary ]);
is($rc, 0, 'the CLI decodes the frames of pg_logical_slot_peek_binary_changes') or diag $stderr;
load('bin_so', $out);
compare('binary through SQL', 'bin_so', "tag IN ($l1, $r1, $l2)", %origin);
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM (SELECT ord, line FROM dec WHERE src = 'bin_so') a
	FULL JOIN (SELECT ord, line FROM dec WHERE src = 'any') b USING (ord)
	WHERE a.line IS DISTINCT FROM b.line}),
	'0', 'binary and JSON mode give the same lines');

mark('bad options');
# Bad options: ERROR with SQLSTATE 22023.
for my $case (
	[ 'bogus', '1' ],
	[ 'format', 'xml' ],
	[ 'origin', 'remote' ],
	[ 'origin', 'skip:' ],
	[ 'include-timestamps', 'maybe' ],
	[ 'tables', '' ],
	[ 'tables', 't2' ],
	[ 'max-stream-keys', '0' ],
	[ 'max-stream-keys', '10 keys' ])
{
	my ($option, $value) = @$case;
	my ($ret, $o, $e) = $node->psql('postgres', "\\set VERBOSITY verbose\n"
		  . "SELECT count(*) FROM pg_logical_slot_peek_changes('so', NULL, NULL, 'format', 'json', "
		  . sql_lit($option) . ', ' . sql_lit($value) . ');');
	isnt($ret, 0, "option $option = '$value' is refused");
	like($e, qr/ERROR:  22023: .*\Q$option\E/, "option $option = '$value': SQLSTATE 22023 naming the option")
	  or diag $e;
}
{
	my ($ret, $o, $e) = $node->psql('postgres',
		q{SELECT count(*) FROM pg_logical_slot_peek_changes('so', NULL, NULL, 'origin', 'skip:nosuch', 'format', 'json')});
	isnt($ret, 0, 'skipping an origin that does not exist is an error');
	like($e, qr/nosuch/, 'naming the origin');
}
{
	my ($okr, $e) = recvlogical('so', $end_b, "$tmp/bad.bin", 'bogus=1');
	ok(!$okr, 'pg_recvlogical fails with an unknown option');
	like($e, qr/unknown option "bogus"/, 'and reports the plugin\'s error');
}

# ---------------------------------------------------------------------------
mark('corruption');
# 5. Corruption and truncation of a stored stream (sessions A and B).

my $stream = $bytes_a . $bytes_b;
my ($frames, undef) = walk_frames($stream);
my @lines = split /(?<=\n)/, $lines_ab;
# Lines of the frames before frame $k.
my $lines_before = sub {
	my ($k) = @_;
	my $n = 0;
	$n += $frames->[$_]{count} for 0 .. $k - 1;
	return join('', @lines[ 0 .. $n - 1 ]);
};
my $middle = int(length($stream) / 2);
my ($k) = grep { $frames->[$_]{offset} <= $middle && $middle < $frames->[$_]{end} } 0 .. $#$frames;
my $frame = $frames->[$k];
my $flip_at = $frame->{payload_at} + int($frame->{plen} / 2);
my $corrupt = $stream;
substr($corrupt, $flip_at, 1) = chr(ord(substr($corrupt, $flip_at, 1)) ^ 0xFF);
write_bytes("$tmp/corrupt.bin", $corrupt);
($rc, $out, $stderr) = decode("$tmp/corrupt.bin");
is($rc, 1, "a flipped byte in the middle of the stream (byte $flip_at, frame $k): exit status 1");
like($stderr, qr/^edgestate-decode: .*checksum.* at byte $frame->{offset}\n\z/,
	'the error names the checksum and the frame\'s offset');
ok($out eq $lines_before->($k), 'the lines of every frame before it were written')
  or diag 'got ' . scalar(() = $out =~ /\n/g) . ' lines';
($rc, $out, $stderr) = decode([ stdin => $corrupt ]);
is($rc, 1, 'the same from standard input');
like($stderr, qr/checksum/, 'naming the checksum');

my $last = $frames->[-1];
for my $cut ($last->{offset} + 1, $last->{payload_at} + 3, $last->{end} - 1)
{
	my $truncated = substr($stream, 0, $cut);
	write_bytes("$tmp/truncated.bin", $truncated);
	($rc, $out, $stderr) = decode("$tmp/truncated.bin");
	is($rc, 1, "truncated inside the last frame (at byte $cut): exit status 1");
	like($stderr, qr/truncated.* at byte $last->{offset}\n\z/, 'the error says truncated, at the frame');
	ok($out eq $lines_before->($#$frames), 'the lines of every frame before it were written');
}
($rc, $out, $stderr) = decode([ stdin => substr($stream, 0, $last->{end}) ]);
is($rc, 0, 'cut right after the last frame (no newline): a clean end');
is($out, $lines_ab, 'with every line');
($rc, $out, $stderr) = decode([ stdin => substr($stream, 0, $frames->[$k]{offset} + 5) ]);
is($rc, 1, 'truncated in the middle, read from standard input: exit status 1');
like($stderr, qr/truncated/, 'the error says truncated');

note sprintf('total %.1f s', time() - $started);
$node->stop;
done_testing();
