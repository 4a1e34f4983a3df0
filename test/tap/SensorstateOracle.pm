# The oracle the sensorstate TAP tests check after every workload, restart,
# crash, dump and promotion (docs/sensorstate.md): for any table and history,
# edgestate.latest(t) equals merge_agg over the table's rows grouped by key.
package SensorstateOracle;

use strict;
use warnings;
use Exporter 'import';

our @EXPORT = qw(oracle_mismatches latest_rows latest_index_stats);

# The number of keys whose latest state differs from merge_agg over the rows
# (0 when the index is right). Options: db (default postgres), and columns:
# [key, value, ts, region, device] for a table mapped with configure()
# (default: the conventional names; device may be NULL).
sub oracle_mismatches
{
	my ($node, $table, %opt) = @_;
	my $db = $opt{db} // 'postgres';
	my ($key, $value, $ts, $region, $device) =
	  @{ $opt{columns} // [qw(key value ts region device)] };
	# A restored database keeps the default search_path; the oracle needs
	# the state's = operator.
	return $node->safe_psql($db, qq{
		SET search_path = public, edgestate;
		SELECT count(*) FROM (SELECT key, state FROM edgestate.latest('$table')) l
		FULL JOIN (SELECT ${key}::text AS key,
		                  edgestate.merge_agg(edgestate.state_of($value, $ts, $region, $device)) s
		           FROM $table GROUP BY $key) o USING (key)
		WHERE l.state IS DISTINCT FROM o.s});
}

# Every row of edgestate.latest(table), ordered by key, as psql prints them:
# what two servers or a dump and its restore must agree on. Option: db.
sub latest_rows
{
	my ($node, $table, %opt) = @_;
	return $node->safe_psql($opt{db} // 'postgres', qq{
		SELECT key, value, ts, region, device, conflicted, state
		FROM edgestate.latest('$table') ORDER BY key});
}

# edgestate.latest_index_stats() as a hash: hits, misses, reloads, keys.
sub latest_index_stats
{
	my ($node) = @_;
	my $row = $node->safe_psql('postgres',
		'SELECT hits, misses, reloads, keys FROM edgestate.latest_index_stats()');
	my %stats;
	@stats{qw(hits misses reloads keys)} = split /\|/, $row;
	return \%stats;
}

1;
