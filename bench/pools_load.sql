-- The benchmarks' pools (bench/load.sql, bench/holds.sh): :pools pools
-- (keys p1 .. pN), each with a free grant that expires in a year, a plan
-- grant that expires in two months and a purchased grant that never expires
-- (1,000,000,000 credits each, so nothing runs out), and :members members
-- (u1 .. uM, no limit), written into credits through its own API
-- (create_pool, grant); then the same rows copied into the baseline schemas
-- named in :copies (a text array: '{bench_plpgsql,bench_floor}'), whose
-- tables mirror credits' tables, so every variant runs on identical data.
-- psql -v pools=1000 -v members=4 -v copies='{bench_holds_plpgsql}' -f bench/pools_load.sql
\set ON_ERROR_STOP 1
SET client_min_messages = warning;

BEGIN;
SELECT count(credits.create_pool('p' || i)) AS pools FROM generate_series(1, :pools) i;
SELECT count(*) AS grants
  FROM generate_series(1, :pools) i,
       LATERAL (VALUES (credits.grant('p' || i, 1000000000, 'free', expires_at => now() + interval '1 year')),
                       (credits.grant('p' || i, 1000000000, 'plan', expires_at => now() + interval '2 months')),
                       (credits.grant('p' || i, 1000000000, 'purchased'))) g(id);
-- Members enrolled up front (a charge would enroll them): nothing used yet.
INSERT INTO credits.members (pool_id, member, period_start)
SELECT p.pool_id, 'u' || i, credits._period_start('month', now())
  FROM credits.pools p, generate_series(1, :members) i;
COMMIT;

CREATE TEMP TABLE bench_copies AS SELECT unnest(:'copies'::text[]) AS s;
DO $copy$
DECLARE
	s text;
	t text;
	cols text;
BEGIN
	FOR s IN SELECT c.s FROM bench_copies c LOOP
		-- Column by column: every column of the copy exists in credits' table.
		FOREACH t IN ARRAY ARRAY['pools', 'members', 'grants', 'ledger'] LOOP
			SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) INTO cols
			  FROM pg_attribute
			 WHERE attrelid = format('%I.%I', s, t)::regclass AND attnum > 0 AND NOT attisdropped;
			EXECUTE format('INSERT INTO %I.%I (%s) %s SELECT %s FROM credits.%I', s, t, cols,
			               CASE WHEN t = 'pools' THEN 'OVERRIDING SYSTEM VALUE' ELSE '' END, cols, t);
		END LOOP;
		EXECUTE format('SELECT setval(pg_get_serial_sequence(%L, ''pool_id''), (SELECT max(pool_id) FROM %I.pools))',
		               s || '.pools', s);
		EXECUTE format('SELECT setval(%L, (SELECT max(grant_id) FROM %I.grants))', s || '.grant_id_seq', s);
		EXECUTE format('SELECT setval(%L, (SELECT max(entry_id) FROM %I.ledger))', s || '.ledger_entry_id_seq', s);
	END LOOP;
END
$copy$;

-- The same physical layout for every variant: credits' rows went through
-- create_pool and grant (several updates each), the copies were inserted
-- once. Packed alike, no variant starts with more room for HOT updates than
-- another.
SELECT 'VACUUM FULL ' || string_agg(format('%I.%I', x.s, t), ', ')
  FROM (SELECT 'credits' AS s UNION ALL SELECT c.s FROM bench_copies c) x,
       unnest(ARRAY['pools', 'members', 'grants', 'ledger']) t \gexec
DROP TABLE bench_copies;
VACUUM (ANALYZE);
