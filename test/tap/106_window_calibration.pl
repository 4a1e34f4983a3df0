# Window calibration (DESIGN.md building block 7): the arrival delay of a
# reading (the time it was inserted minus the physical part of its hlc ts) is
# recorded per (table, region) at commit into a sketch of the last
# edgestate.calibration_window .. 2x that many observations;
# recommended_lateness() is its edgestate.window_confidence quantile, clamped
# to [edgestate.min_lateness, edgestate.max_lateness]; edgestate.window()
# without a lateness lags by it, so that its answer is final with that
# confidence.
#
#  1. Synthetic arrival delays of a known (exponential) distribution per
#     region: the recommendation is the true quantile (mean * ln(1/(1-p))).
#  2. The distribution shifts: after 2 x calibration_window readings of the new
#     one the recommendation follows it, for gateway-sized batches and for one
#     big batch; window_confidence and the clamps steer it.
#  3. A real-time simulation: windows computed with the calibrated lateness are
#     revised by later arrivals no more often than 1 - window_confidence
#     allows; windows computed with lateness 0 are revised all the time.
#  4. Bad input is refused with SQLSTATE 22023.
#
# Every random number comes from random() after setseed(), so the delays are
# the same in every run; only the scheduling of the real-time part varies, and
# its assertions are sized for that (see the comments there).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('window_calibration');
$node->init;
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION edgestate;
	ALTER DATABASE postgres SET search_path = public, edgestate;
	CREATE TABLE r (key text, value float8, ts edgestate.hlc, region text, device text)
	  USING sensorstate;
	CREATE TABLE b (key text, value float8, ts edgestate.hlc, region text, device text)
	  USING sensorstate;
	CREATE TABLE s (key text, value float8, ts edgestate.hlc, region text, device text)
	  USING sensorstate;
	CREATE INDEX ON s (ts);
	CREATE TABLE x (key text, value float8, ts edgestate.hlc, region text, device text)
	  USING sensorstate;
	SELECT edgestate.configure('x', ttl => '1 min');
});
is($node->safe_psql('postgres', 'SHOW edgestate.calibration_window'), '10000',
	'calibration_window is the default 10000 (two generations: 10000..19999 observations)');

# Rows of readings of one region whose ts lies d before the moment the row is
# made (and inserted), d exponential with the given mean in ms:
# d = -ln(1 - U) * mean, U uniform in [0, 1).
sub exp_rows {
	my ($table, $region, $mean_ms, $n, $prefix) = @_;
	$prefix //= $region;
	return qq{INSERT INTO $table
		SELECT '$prefix-' || (i % 50), i,
		       edgestate.hlc(clock_timestamp() - (-ln(1 - random()) * $mean_ms) * interval '1 ms'),
		       '$region', 'gw-' || (i % 3)
		FROM generate_series(1, $n) i;
};
}

# An interval-valued SQL expression in milliseconds.
sub ms {
	my ($expr, @settings) = @_;
	my $set = join '', map { "SET $_;\n" } @settings;
	return $node->safe_psql('postgres',
		"${set}SELECT round(extract(epoch FROM ($expr)) * 1000, 3)");
}

# $got within a relative tolerance of $want.
sub near {
	my ($got, $want, $tolerance, $name) = @_;
	my $ok = ok(abs($got - $want) <= $tolerance * $want, $name);
	diag(sprintf('got %.1f, want %.1f +- %d%%', $got, $want, $tolerance * 100)) unless $ok;
	return $ok;
}

# ---------------------------------------------------------------------------
# 1. Two regions of known delay distributions.
#
# 5000 readings each, inserted in one statement that takes well under a
# second, so the recorded delay is d plus a few microseconds (and less than
# 1 ms of truncation of ts to milliseconds). The sample 0.99 quantile of 5000
# exponential draws is within about 3% (one standard error) of the true one,
# and the sketch reports at most 4.7% above the sample: 20% is generous.

$node->safe_psql('postgres',
	'SELECT setseed(0.1);' . exp_rows('r', 'eu', 200, 5000) . exp_rows('r', 'us', 2000, 5000));

my $q99 = log(100);    # the 0.99 quantile of an exponential of mean 1
my $q90 = log(10);
my $q50 = log(2);

my $eu = ms(q{edgestate.recommended_lateness('r', 'eu')});
my $us = ms(q{edgestate.recommended_lateness('r', 'us')});
near($eu, 200 * $q99, 0.2, 'eu (mean 200 ms): recommended lateness is the 0.99 quantile (921 ms)');
near($us, 2000 * $q99, 0.2, 'us (mean 2 s): recommended lateness is the 0.99 quantile (9.2 s)');
is(ms(q{edgestate.recommended_lateness('r')}), $us > $eu ? $us : $eu,
	'recommended_lateness(t) is the larger of the regions\' recommendations');
is($node->safe_psql('postgres', q{
	SELECT string_agg(format('%s:%s', region, observations), ',' ORDER BY region)
	FROM edgestate.arrival_delays('r')}),
	'eu:5000,us:5000', 'arrival_delays(t) shows both regions with their observation counts');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM edgestate.arrival_delays('r')
	WHERE recommended_lateness = edgestate.recommended_lateness('r', region)
	  AND p99 = recommended_lateness AND p50 < p99 AND p99 <= max}),
	'2', 'arrival_delays(t): p50 < p99 = recommended lateness <= max, per region');
near(ms(q{(SELECT p50 FROM edgestate.arrival_delays('r') WHERE region = 'us')}), 2000 * $q50, 0.2,
	'us: arrival_delays p50 is the median delay (1.39 s)');
is($node->safe_psql('postgres', q{SELECT count(*) FROM edgestate.arrival_delays('b')}), '0',
	'arrival_delays() of a table nothing was inserted into is empty');

# ---------------------------------------------------------------------------
# 2. The distribution shifts half-way. eu (mean 200 ms) now sees mean 1 s.
# After 2 x calibration_window = 20000 new readings nothing of the old
# distribution may be left in the two generations: the 0.5, 0.9 and 0.99
# quantiles (read through window_confidence, whose least value is 0.5) are
# the new distribution's. The median is the sharpest check: it moves most when
# the active observations are not a fair sample of the recent ones (a third of
# them still the old ones would make it about 40% low; the upper halves of the
# batches over-represented, about 40% high).

# (a) As gateways send them: 40 transactions of 500 readings.
$node->safe_psql('postgres',
	'SELECT setseed(0.2);' . join('', map { exp_rows('r', 'eu', 1000, 500) } 1 .. 40));
near(ms(q{edgestate.recommended_lateness('r', 'eu')}), 1000 * $q99, 0.2,
	'after 20000 readings in batches of 500: eu follows the new 0.99 quantile (4.6 s)');
near(ms(q{edgestate.recommended_lateness('r', 'eu')}, 'edgestate.window_confidence = 0.9'),
	1000 * $q90, 0.2, 'window_confidence = 0.9: the 0.9 quantile (2.3 s)');
near(ms(q{edgestate.recommended_lateness('r', 'eu')}, 'edgestate.window_confidence = 0.5'),
	1000 * $q50, 0.2, 'window_confidence = 0.5: the median (693 ms): nothing of the old distribution is left');
is($node->safe_psql('postgres', q{SELECT observations FROM edgestate.arrival_delays('r') WHERE region = 'eu'}),
	'15000', 'eu: 25000 observations in all, the last 15000 active (10000 + 5000)');
is(ms(q{edgestate.recommended_lateness('r', 'us')}), $us, 'us is unaffected by eu\'s shift');

# (b) The same shift in one transaction (a backlog sent at once): its 20000
# observations are recorded at commit, and must act as if recorded one at a
# time, i.e. leave the last 15000 of 25000 delays -- all of the new
# distribution, a fair sample of it. (A merge that replays a batch in value
# order across a generation boundary keeps the batch's largest delays and
# drops its smallest ones: the quantiles come out high, the median most.)
$node->safe_psql('postgres',
	'SELECT setseed(0.3);' . exp_rows('b', 'eu', 200, 5000) . exp_rows('b', 'eu', 1000, 20000));
near(ms(q{edgestate.recommended_lateness('b', 'eu')}), 1000 * $q99, 0.2,
	'after 20000 readings in one transaction: follows the new 0.99 quantile');
near(ms(q{edgestate.recommended_lateness('b', 'eu')}, 'edgestate.window_confidence = 0.9'),
	1000 * $q90, 0.2, 'one transaction: window_confidence = 0.9 gives the new 0.9 quantile');
near(ms(q{edgestate.recommended_lateness('b', 'eu')}, 'edgestate.window_confidence = 0.5'),
	1000 * $q50, 0.2, 'one transaction: window_confidence = 0.5 gives the new median (the active delays are a fair sample)');
is($node->safe_psql('postgres', q{SELECT observations FROM edgestate.arrival_delays('b')}),
	'15000', 'one transaction: the last 15000 of 25000 observations are active');

# The clamps: [min_lateness, max_lateness] in milliseconds.
is(ms(q{edgestate.recommended_lateness('r', 'us')}, 'edgestate.max_lateness = 1500'), '1500.000',
	'max_lateness caps the recommendation');
is(ms(q{edgestate.recommended_lateness('r')}, 'edgestate.max_lateness = 1500'), '1500.000',
	'max_lateness caps recommended_lateness(t)');
is(ms(q{edgestate.recommended_lateness('r', 'eu')}, 'edgestate.min_lateness = 60000'), '60000.000',
	'min_lateness raises the recommendation');

# ---------------------------------------------------------------------------
# 3. Are windows with the calibrated lateness final as often as configured?
#
# Region 'sim' of table s: 20 keys, each sending one reading every 200 ms
# (every 50 ms a quarter of them, in turn) with ts = now - d, d exponential of
# mean 100 ms. Right after each tick, in the next transaction, the session
# evaluates window(s, '200 ms', NULL, 'sim') (the calibrated lateness L, the
# 0.99 quantile of d, about 460 ms) and window(s, '200 ms', '0', 'sim'), and
# remembers every (key, window) answer. Readings keep flowing for 1 s after
# the last evaluation, so the last windows can be revised too. At the end
# every remembered window is computed again (window() with the same lateness
# and the same at, now that everything has arrived) and compared.
#
# A (key, window) is revised when its count changed, or it had no row and now
# has one. (The readings are append-only, so any late reading in a window
# raises its count; "last" is not compared: two readings of a key can share
# a millisecond ts, and which of them is "last" is then not defined.)
#
# Expectation. The width (200 ms) equals each key's reading period, so a key
# has about one reading per window (with k readings per window the chance
# that one of them is late is about k times larger). A reading misses a
# window evaluated at "at" (whose end is at - L) only if its delay exceeds L
# plus the time from "at" to its arrival. Per (key, window) the expected
# number of such late readings is
#   rate * mean * (1 - 0.99) * (1 - exp(-width / mean))
#   = 5/s * 0.1 s * 0.01 * 0.86 = 0.43%,
# under the 1% that window_confidence promises. A late reading falls into at
# most 4 of the overlapping windows (2 on average), so over about 2000 (key,
# window) pairs we expect about 9 revisions in 4-5 clumps. Scheduling delays
# only make arrivals later relative to the evaluations, never earlier, and the
# calibrated L comes from about 4000 observations (standard error of the 0.99
# quantile about 3.5%, and the sketch rounds up). The threshold is the
# promised 1 - 0.99 = 1% plus 1% of tolerance for the clumping: 2% is about 40
# revisions, more than 5 standard deviations above the expectation. A
# lateness that undershoots -- the 0.95 quantile instead of the 0.99 -- gives
# 5 x 0.43% = 2.2% and fails. With lateness 0 the expected number of late
# readings per window is 0.5 * 0.86 = 0.43, so about 1 - exp(-0.43) = 35% of
# the windows (more with the ones that had no row) are revised: the check is
# meaningful.

my $ticks = 140;    # evaluated ticks, 50 ms apart: 7 s
my $tail = 20;      # ticks of readings after the last evaluation: 1 s
$node->safe_psql('postgres', q{
	CREATE TABLE ticks (tick int, at timestamptz, kind text, lateness interval,
	                    window_start timestamptz, window_end timestamptz);
	CREATE TABLE seen (tick int, kind text, key text, readings bigint, last float8,
	                   window_start timestamptz, window_end timestamptz, complete boolean);
	CREATE PROCEDURE sim(total int, evaluated int) LANGUAGE plpgsql AS $$
	DECLARE
	  lat interval;
	BEGIN
	  FOR i IN 1 .. total LOOP
	    INSERT INTO s
	    SELECT 'sim-' || k, i,
	           edgestate.hlc(clock_timestamp() - (-ln(1 - random()) * 100) * interval '1 ms'),
	           'sim', NULL
	    FROM generate_series(0, 19) k WHERE k % 4 = i % 4;
	    COMMIT;
	    IF i <= evaluated THEN
	      lat := edgestate.recommended_lateness('s', 'sim');
	      INSERT INTO ticks VALUES
	        (i, now(), 'calibrated', lat, now() - lat - interval '200 ms', now() - lat),
	        (i, now(), 'zero', interval '0', now() - interval '200 ms', now());
	      INSERT INTO seen
	      SELECT i, 'calibrated', w.key, w.readings, w.last, w.window_start, w.window_end, w.complete
	      FROM edgestate.window('s', '200 ms', NULL, 'sim') w;
	      INSERT INTO seen
	      SELECT i, 'zero', w.key, w.readings, w.last, w.window_start, w.window_end, w.complete
	      FROM edgestate.window('s', '200 ms', '0', 'sim') w;
	      COMMIT;
	    END IF;
	    PERFORM pg_sleep(0.05);
	  END LOOP;
	END $$;
});

# Warm the calibration: 4000 readings of the same distribution (keys warm-*,
# left out of the comparison).
$node->safe_psql('postgres', 'SELECT setseed(0.4);' . exp_rows('s', 'sim', 100, 4000, 'warm'));
near(ms(q{edgestate.recommended_lateness('s', 'sim')}), 100 * $q99, 0.2,
	'sim (mean 100 ms): calibrated lateness is the 0.99 quantile (460 ms)');

my $started = time;
$node->safe_psql('postgres', "SELECT setseed(0.5); CALL sim($ticks + $tail, $ticks);");
note sprintf('simulation of %d ticks took %d s', $ticks + $tail, time - $started);

# The windows remembered per tick, recomputed now, beside the direct aggregate
# over the same [start, end) hlc range.
$node->safe_psql('postgres', q{
	CREATE TABLE redo AS
	SELECT k.tick, k.kind, w.key, w.readings, w.min, w.max, w.last, w.last_ts, w.window_start,
	       w.window_end
	FROM ticks k CROSS JOIN LATERAL edgestate.window('s', '200 ms', k.lateness, 'sim', at => k.at) w
	WHERE w.key LIKE 'sim-%';
	CREATE TABLE direct AS
	SELECT k.tick, k.kind, s.key, count(*) AS readings, min(s.value) AS min, max(s.value) AS max,
	       edgestate.max(s.ts) AS last_ts
	FROM ticks k JOIN s ON s.ts::timestamptz >= k.window_start AND s.ts::timestamptz < k.window_end
	WHERE s.region = 'sim' AND s.key LIKE 'sim-%'
	GROUP BY 1, 2, 3;
});

is($node->safe_psql('postgres', q{SELECT count(DISTINCT tick) FROM ticks}), $ticks,
	"the simulation evaluated $ticks ticks");
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM seen e JOIN ticks k USING (tick, kind)
	WHERE e.window_start <> k.window_start OR e.window_end <> k.window_end}), '0',
	'window() without a lateness lags by recommended_lateness(t, region), with the given width');
is($node->safe_psql('postgres', q{
	SELECT string_agg(DISTINCT kind || ':' || complete, ',') FROM seen}),
	'calibrated:true,zero:false',
	'complete is true with the calibrated lateness and false with lateness 0');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM redo r FULL JOIN direct d USING (tick, kind, key)
	WHERE r.readings IS DISTINCT FROM d.readings OR r.min IS DISTINCT FROM d.min
	   OR r.max IS DISTINCT FROM d.max OR r.last_ts IS DISTINCT FROM d.last_ts
	   OR NOT EXISTS (SELECT FROM s WHERE s.key = r.key AND s.region = 'sim'
	                                  AND s.ts = r.last_ts AND s.value = r.last)}), '0',
	'window(..., at => past) equals the direct aggregate over [window_start, window_end) '
	  . '(count, min, max, last_ts; last is a reading at last_ts)');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM redo r JOIN ticks k USING (tick, kind)
	WHERE r.window_start <> k.window_start OR r.window_end <> k.window_end}), '0',
	'window(..., lateness, at => past) recomputes the same [start, end)');

# Per kind: (key, window) pairs, how many were revised.
my %share;
for my $row (split /\n/, $node->safe_psql('postgres', q{
	SELECT kind, count(*),
	       count(*) FILTER (WHERE e.readings IS DISTINCT FROM r.readings)
	FROM (SELECT * FROM seen WHERE key LIKE 'sim-%') e
	FULL JOIN redo r USING (tick, kind, key)
	GROUP BY kind ORDER BY kind}))
{
	my ($kind, $pairs, $revised) = split /\|/, $row;
	$share{$kind} = $revised / $pairs;
	note sprintf('%s lateness: %d of %d (key, window) answers revised (%.2f%%)',
		$kind, $revised, $pairs, 100 * $share{$kind});
	cmp_ok($pairs, '>=', 10 * $ticks, "$kind: most of the 20 keys have a reading in a window");
}
cmp_ok($share{calibrated}, '<=', 0.02,
	'windows with the calibrated lateness are revised at most 1 - 0.99 (+ 1% tolerance) of the time');
cmp_ok($share{zero}, '>=', 0.2, 'windows with lateness 0 are revised far more often (>= 20%)');
cmp_ok($share{zero}, '>=', 5 * $share{calibrated} + 0.1,
	'lateness 0 is revised much more often than the calibrated lateness');

# ---------------------------------------------------------------------------
# 4. Bad input, through SQL: the SQLSTATE of the error (or "none").
sub sqlstate {
	my ($sql) = @_;
	my ($ret, $out, $err) = $node->psql('postgres', "\\set VERBOSITY verbose\n$sql");
	return $err =~ /ERROR:\s+([0-9A-Z]{5}):/ ? $1 : "none (exit $ret)";
}

is(sqlstate(q{SELECT * FROM edgestate.window('r', '0', '1 s')}), '22023', 'width 0: 22023');
is(sqlstate(q{SELECT * FROM edgestate.window('r', '-1 s', '1 s')}), '22023', 'negative width: 22023');
is(sqlstate(q{SELECT * FROM edgestate.key_window('r', 'eu-1', '0')}), '22023', 'key_window, width 0: 22023');
is(sqlstate(q{SELECT * FROM edgestate.window_series('r', '0', now() - interval '1 min', now())}),
	'22023', 'window_series, bucket 0: 22023');
is(sqlstate(q{SELECT * FROM edgestate.window('r', '1 s', '-1 ms')}), '22023', 'negative lateness: 22023');
is(sqlstate(q{SELECT * FROM edgestate.window('r', '1 s', NULL, 'mars')}), '22023', 'unknown region: 22023');
is(sqlstate(q{SELECT * FROM edgestate.window('r', '1 s', '1 s', 'mars')}), '22023',
	'unknown region with an explicit lateness: 22023');
is(sqlstate(q{SELECT * FROM edgestate.window('x', '30 s', '45 s')}), '22023',
	'lateness + width beyond the ttl (1 min): 22023');
is(sqlstate(q{SELECT * FROM edgestate.window('x', '30 s', '30 s')}), 'none (exit 0)',
	'lateness + width equal to the ttl is accepted');
is(sqlstate(q{SELECT * FROM edgestate.window('x', '1 s')}), '22023',
	'no lateness and nothing calibrated for the table: 22023');
is(sqlstate(q{SET edgestate.window_confidence = 1.5}), '22023', 'window_confidence = 1.5 is refused');
is(sqlstate(q{SET edgestate.window_confidence = 0.1}), '22023', 'window_confidence = 0.1 is refused');
is(sqlstate(q{SELECT edgestate.recommended_lateness('r', 'mars')}), '22023',
	'recommended_lateness for a region never seen: 22023');
is(sqlstate(q{SELECT edgestate.recommended_lateness('x')}), '22023',
	'recommended_lateness(t) for a table with no observations: 22023');
is(sqlstate(q{SELECT * FROM edgestate.window('r', '1 s', NULL, 'eu')}), 'none (exit 0)',
	'a calibrated region is accepted');

$node->stop;
done_testing();
