-- step: 6. The change-log: logical decoding of committed readings, compact and exact
SELECT 'created' AS slot FROM pg_create_logical_replication_slot('demo_changelog', 'edgestate');
SELECT 'created' AS slot FROM pg_create_logical_replication_slot('demo_text', 'test_decoding');
INSERT INTO readings (key, value, region, device)
SELECT 'sensor-' || lpad((i % 20)::text, 2, '0'), 20 + (i % 10) * 0.25, 'us-east', 'gw-2'
FROM generate_series(1, 2000) i;
\echo 'JSON mode, one object per reading (format ''json''; a transaction''s lines come as one message):'
SELECT line FROM pg_logical_slot_peek_changes('demo_changelog', NULL, NULL, 'format', 'json'),
       regexp_split_to_table(data, E'\n') AS line LIMIT 2;
\echo 'Binary frames (deltas against each sensor''s previous reading) vs test_decoding, bytes per reading:'
SELECT (SELECT sum(length(data)) FROM pg_logical_slot_get_binary_changes('demo_changelog', NULL, NULL))::numeric / 2000 AS edgestate_binary,
       (SELECT sum(length(data)) FROM pg_logical_slot_get_changes('demo_text', NULL, NULL)
        WHERE data LIKE 'table%')::numeric / 2000 AS test_decoding;
SELECT pg_drop_replication_slot('demo_changelog'), pg_drop_replication_slot('demo_text');
\echo 'pg_recvlogical -d <db> --slot <slot> --start -o format=binary -f - | build/edgestate-decode -'
\echo 'turns the stream into JSON lines for Kafka or any queue (docs/changelog-format.md).'
