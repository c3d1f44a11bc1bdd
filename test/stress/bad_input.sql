-- The bad input campaign's call list (test/stress/bad_input.sh).
--
-- Every public function and procedure of schema credits (pg_proc via
-- information_schema.parameters, so a new one is covered without editing
-- this file) is called once with valid arguments (the baseline), and once
-- for every bad value of each of its arguments, the others staying valid.
-- `bad_input.calls` is the list: the SQL of each call and the SQLSTATE the
-- contract promises for it (SPEC.md, "Errors"; 00000 = success).
--
-- Three tables decide the calls:
--   fixtures     a valid value for an argument ({id} = the call's number, so
--                every call gets its own member, pool, feature or plan)
--   bad_values   the bad values per argument type
--   expectations the SQLSTATE per (function, argument, type, case); NULL is
--                a wildcard and the most specific row wins
-- A function argument without a default and without a fixture is reported
-- by the script (it could not be called validly).
CREATE SCHEMA bad_input;
SET search_path = bad_input, pg_catalog;

-- The world the calls run in: pool "bi" with plenty of credits and a rated
-- feature.
SELECT credits.create_pool('bi');
SELECT credits."grant"('bi', 1000000);
SELECT credits.set_rate('rated', 1);
-- pool "bi_topup" is below its auto top-up threshold: one open request
SELECT credits.create_pool('bi_topup');
SELECT credits.set_auto_topup('bi_topup', 10, 10);

CREATE TABLE fixtures (fn text, arg text, expr text NOT NULL);  -- fn NULL: any function
INSERT INTO fixtures VALUES
	(NULL, 'pool', $$'bi'$$),
	('create_pool', 'pool', $$'p{id}'$$),
	(NULL, 'member', $$'m{id}'$$),
	(NULL, 'members', $$ARRAY['m{id}a', 'm{id}b']$$),
	-- charge_many: one event
	('charge_many', 'pools', $$ARRAY['bi']$$),
	('charge_many', 'members', $$ARRAY['m{id}']$$),
	('charge_many', 'amounts', 'ARRAY[1]'),
	(NULL, 'amount', '1'),
	('grant', 'amount', '10'),
	(NULL, 'credit_limit', '1'),
	(NULL, 'mode', $$'each'$$),
	-- set_member_limits' period defaults to NULL (each member keeps its own)
	('set_member_limits', 'period', $$'week'$$),
	(NULL, 'feature', $$'f{id}'$$),
	('charge_usage', 'feature', $$'rated'$$),
	('try_charge_usage', 'feature', $$'rated'$$),
	(NULL, 'quantity', '1'),
	(NULL, 'credits_per_unit', '1'),
	(NULL, 'max_calls', '10'),
	(NULL, 'per', $$'1 hour'$$),
	(NULL, 'ttl', $$'1 hour'$$),
	('set_grant_expiry', 'expires_at', $$now() + interval '1 year'$$),
	(NULL, 'plan', $$'plan{id}'$$),
	-- cancel_subscription needs an active subscription to cancel
	('cancel_subscription', 'plan', $$(SELECT 'plan{id}' FROM credits.subscribe('bi', 'plan{id}', 1))$$),
	('change_subscription', 'plan', $$(SELECT 'plan{id}' FROM credits.subscribe('bi', 'plan{id}', 1))$$),
	(NULL, 'credits_per_period', '1'),
	-- a budget to create; assign_budget and remove_budget need one made first
	('set_budget', 'budget', $$'b{id}'$$),
	('assign_budget', 'budget', $$(SELECT 'b{id}' FROM credits.set_budget('bi', 'b{id}', 1))$$),
	('remove_budget', 'budget', $$(SELECT 'b{id}' FROM credits.set_budget('bi', 'b{id}', 1))$$),
	(NULL, 'metric', $$'pool_balance_below'$$),
	(NULL, 'threshold', '1'),
	(NULL, 'from_ts', $$now() - interval '1 day'$$),
	(NULL, 'to_ts', 'now()'),
	(NULL, 'at', 'now()'),
	-- ids: made fresh by each call, so an earlier call cannot have used them
	(NULL, 'grant_id', $$(SELECT credits."grant"('bi', 1))$$),
	(NULL, 'hold_id', $$(SELECT credits.reserve('bi', 'm{id}', 1))$$),
	(NULL, 'charge_id', $$(SELECT (credits.charge('bi', 'm{id}', 1)).charge_id)$$),
	-- cancelling it again is allowed (nothing to do)
	(NULL, 'request_id', $$(SELECT min(request_id) FROM credits.topup_requests)$$),
	(NULL, 'below', '1');

-- Bad values by argument type. A 10 kB text that does not compress (an
-- index entry of it would not fit a page); a jsonb of about 1 MB.
CREATE TABLE bad_values (typ text, case_ text, expr text);
INSERT INTO bad_values VALUES
	('numeric', 'null', 'NULL'),
	('numeric', 'negative', '-1'),
	('numeric', 'zero', '0'),
	('numeric', 'nan', $$'NaN'::numeric$$),
	('numeric', 'infinity', $$'Infinity'::numeric$$),
	('numeric', '-infinity', $$'-Infinity'::numeric$$),
	('numeric', '7 decimals', '1.0000001'),
	('numeric', '10^15', '1000000000000000'),
	('text', 'null', 'NULL'),
	('text', 'empty', $$''$$),
	('text', '10 kB', $$(SELECT string_agg(md5(i::text), '') FROM generate_series(1, 320) i)$$),
	('text', 'unicode', $$'Zoë 🚀 中文 ÅΩ {id}'$$),
	('text', 'quote;', $$'it''s"; DROP TABLE credits.ledger; -- {id}'$$),
	('text', 'unknown', $$'no_such_{id}'$$),
	('text', 'upper case', NULL),  -- upper() of the fixture, for enumerated arguments
	('_text', 'null', 'NULL'),
	('_text', 'empty array', $$'{}'::text[]$$),
	('_text', 'NULL element', $$ARRAY['m{id}a', NULL]$$),
	('_text', 'empty element', $$ARRAY['m{id}a', '']$$),
	('_text', '10 kB element', $$ARRAY[(SELECT string_agg(md5(i::text), '') FROM generate_series(1, 320) i)]$$),
	('_text', 'unicode element', $$ARRAY['Zoë 🚀 {id}', 'it''s"; --{id}']$$),
	('_text', '1000 elements', $$(SELECT array_agg('m{id}_' || i) FROM generate_series(1, 1000) i)$$),
	('jsonb', 'null', 'NULL'),
	('jsonb', '1 MB', $$(SELECT jsonb_object_agg(i::text, md5(i::text) || md5((-i)::text) || md5((7 * i)::text))
	                      FROM generate_series(1, 10000) i)$$),
	('jsonb', 'array', $$'[1, "two", null]'::jsonb$$),
	('jsonb', 'scalar', $$'"x"'::jsonb$$),
	('interval', 'null', 'NULL'),
	('interval', 'zero', $$interval '0'$$),
	('interval', 'negative', $$interval '-1 hour'$$),
	('interval', '300000 years', $$interval '300000 years'$$),
	('timestamptz', 'null', 'NULL'),
	('timestamptz', 'infinity', $$'infinity'::timestamptz$$),
	('timestamptz', '-infinity', $$'-infinity'::timestamptz$$),
	('int8', 'null', 'NULL'),
	('int8', 'negative', '-1'),
	('int8', 'zero', '0'),
	('int8', 'unknown', '999999999999'),
	('int8', 'max', '9223372036854775807'),
	('int4', 'null', 'NULL'),
	('int4', 'negative', '-1'),
	('int4', 'zero', '0'),
	('int4', 'max', '2147483647');

-- Arguments that take one of a few words: every other text is 22023.
CREATE TABLE enumerated (arg text, typ text);
INSERT INTO enumerated VALUES ('kind', 'text'), ('period', 'text'), ('mode', 'text'), ('metric', 'text'),
	('granularity', 'text');

-- The expected SQLSTATE. NULL columns are wildcards; the most specific row
-- wins (function 4, argument 2, type 1). NULL in an argument is decided by
-- its default (22004 unless the default is NULL) unless a row says otherwise.
CREATE TABLE expectations (fn text, arg text, typ text, case_ text, sqlstate text NOT NULL, why text);
INSERT INTO expectations VALUES
	-- amounts: negative, NaN, infinite, more than 6 places, above 10^12 (SPEC "Amounts")
	(NULL, NULL, 'numeric', 'negative', '22023', 'negative amount'),
	(NULL, NULL, 'numeric', 'zero', '00000', 'an amount of 0 is allowed'),
	(NULL, NULL, 'numeric', 'nan', '22023', 'NaN'),
	(NULL, NULL, 'numeric', 'infinity', '22023', 'infinite'),
	(NULL, NULL, 'numeric', '-infinity', '22023', 'infinite'),
	(NULL, NULL, 'numeric', '7 decimals', '22023', 'more than 6 decimal places'),
	(NULL, NULL, 'numeric', '10^15', '22023', 'above the largest amount (10^12)'),
	('grant', 'amount', 'numeric', 'zero', '22023', 'a grant of nothing'),
	('refund', 'amount', 'numeric', 'zero', '22023', 'a refund of nothing'),
	('void_grant', 'amount', 'numeric', 'zero', '22023', 'a void of nothing'),
	('set_auto_topup', 'amount', 'numeric', 'zero', '22023', 'a top-up of nothing'),
	('change_subscription', 'credits_per_period', 'numeric', 'zero', '22023', 'a subscription of nothing'),
	('subscribe', 'credits_per_period', 'numeric', 'zero', '22023', 'a subscription of nothing'),
	('set_member_limit', 'credit_limit', 'numeric', 'null', '00000', 'NULL removes the limit'),
	-- not amounts: a quantity of units, a rate per unit, a threshold
	('charge_usage', 'quantity', 'numeric', '7 decimals', '00000', 'the cost is rounded up to 6 places'),
	('set_rate', 'credits_per_unit', 'numeric', '7 decimals', '00000', 'a rate may be a fraction of a micro-credit'),
	('set_alert', 'threshold', 'numeric', '7 decimals', '00000', 'a threshold is compared, not booked'),
	-- keys: any non-empty text up to 1000 bytes; unknown ones are not found
	(NULL, NULL, 'text', 'empty', '22023', 'an empty key'),
	(NULL, NULL, 'text', '10 kB', '22023', 'a key longer than 1000 bytes'),
	(NULL, NULL, 'text', 'unicode', '00000', 'any text is a key'),
	(NULL, NULL, 'text', 'quote;', '00000', 'any text is a key'),
	(NULL, 'pool', 'text', 'empty', 'CR004', 'no pool has this key'),
	(NULL, 'pool', 'text', '10 kB', 'CR004', 'no pool has this key'),
	(NULL, 'pool', 'text', 'unicode', 'CR004', 'no pool has this key'),
	(NULL, 'pool', 'text', 'quote;', 'CR004', 'no pool has this key'),
	(NULL, 'pool', 'text', 'unknown', 'CR004', 'unknown pool'),
	('create_pool', 'pool', 'text', 'empty', '22023', 'an empty key'),
	('create_pool', 'pool', 'text', '10 kB', '22023', 'a key longer than 1000 bytes'),
	('create_pool', 'pool', 'text', 'unicode', '00000', 'any text is a key'),
	('create_pool', 'pool', 'text', 'quote;', '00000', 'any text is a key'),
	('create_pool', 'pool', 'text', 'unknown', '00000', 'a new pool'),
	('charge_usage', 'feature', 'text', 'unicode', 'CR009', 'a feature without a rate'),
	('charge_usage', 'feature', 'text', 'quote;', 'CR009', 'a feature without a rate'),
	('try_charge_usage', 'quantity', 'numeric', '7 decimals', '00000', 'the cost is rounded up to 6 places'),
	('try_charge_usage', 'feature', 'text', 'unicode', 'CR009', 'a feature without a rate'),
	('try_charge_usage', 'feature', 'text', 'quote;', 'CR009', 'a feature without a rate'),
	('cancel_subscription', 'plan', 'text', 'empty', 'CR010', 'no such subscription'),
	('assign_budget', 'budget', 'text', NULL, 'CR010', 'no such budget'),
	('assign_budget', 'budget', 'text', 'null', '00000', 'NULL takes the member out of its budget'),
	('remove_budget', 'budget', 'text', NULL, 'CR010', 'no such budget'),
	('remove_budget', 'budget', 'text', 'null', '22004', 'which budget'),
	('set_frequency_cap', 'scope', 'text', NULL, '22023', 'scopes: member, pool'),
	('set_frequency_cap', 'scope', 'text', 'null', '22004', 'scope defaults to member'),
	('remove_frequency_cap', 'scope', 'text', NULL, '00000', 'no cap of that scope: nothing to remove'),
	('remove_frequency_cap', 'per', 'interval', NULL, '00000', 'no cap of that window: nothing to remove'),
	('set_budget', 'credit_limit', 'numeric', 'null', '00000', 'NULL: no cap, usage still tracked'),
	('grant', 'features', '_text', NULL, '22023', 'features must be non-empty keys'),
	('grant', 'features', '_text', 'unicode element', '00000', 'any text is a feature'),
	('grant', 'features', '_text', '1000 elements', '00000', 'scoped to many features'),
	('cancel_subscription', 'plan', 'text', '10 kB', 'CR010', 'no such subscription'),
	('cancel_subscription', 'plan', 'text', 'unicode', 'CR010', 'no such subscription'),
	('cancel_subscription', 'plan', 'text', 'quote;', 'CR010', 'no such subscription'),
	('change_subscription', 'plan', 'text', 'empty', 'CR010', 'no such subscription'),
	('change_subscription', 'plan', 'text', '10 kB', 'CR010', 'no such subscription'),
	('change_subscription', 'plan', 'text', 'unicode', 'CR010', 'no such subscription'),
	('change_subscription', 'plan', 'text', 'quote;', 'CR010', 'no such subscription'),
	-- removing what is not there does nothing
	('remove_frequency_cap', 'feature', 'text', 'empty', '00000', 'nothing to remove'),
	('remove_frequency_cap', 'feature', 'text', '10 kB', '00000', 'nothing to remove'),
	-- free text: stored as given
	(NULL, 'name', 'text', 'empty', '00000', 'free text'),
	(NULL, 'name', 'text', '10 kB', '00000', 'free text'),
	(NULL, 'reason', 'text', 'empty', '00000', 'free text'),
	(NULL, 'reason', 'text', '10 kB', '00000', 'free text'),
	(NULL, 'external_ref', 'text', 'empty', '00000', 'free text'),
	(NULL, 'external_ref', 'text', '10 kB', '00000', 'free text'),
	(NULL, 'unit', 'text', 'empty', '00000', 'free text'),
	(NULL, 'unit', 'text', '10 kB', '00000', 'free text'),
	-- enumerated arguments: every other word is unknown
	(NULL, 'kind', 'text', NULL, '22023', 'unknown kind'),
	(NULL, 'period', 'text', NULL, '22023', 'unknown period'),
	(NULL, 'mode', 'text', NULL, '22023', 'unknown mode'),
	(NULL, 'metric', 'text', NULL, '22023', 'unknown metric'),
	(NULL, 'granularity', 'text', NULL, '22023', 'unknown granularity'),
	-- member lists
	(NULL, 'members', '_text', 'empty array', '22023', 'no member'),
	(NULL, 'members', '_text', 'NULL element', '22004', 'a NULL member'),
	(NULL, 'members', '_text', 'empty element', '22023', 'an empty key'),
	(NULL, 'members', '_text', '10 kB element', '22023', 'a key longer than 1000 bytes'),
	(NULL, 'members', '_text', 'unicode element', '00000', 'any text is a key'),
	(NULL, 'members', '_text', '1000 elements', '00000', 'many members'),
	-- set_grant_expiry: NULL means the grant never expires; an infinite time is refused
	('set_grant_expiry', 'expires_at', 'timestamptz', 'null', '00000', 'NULL: never expires'),
	-- statements: a time zone PostgreSQL does not know
	(NULL, 'tz', 'text', 'empty', '22023', 'an unknown time zone'),
	(NULL, 'tz', 'text', '10 kB', '22023', 'an unknown time zone'),
	(NULL, 'tz', 'text', 'unicode', '22023', 'an unknown time zone'),
	(NULL, 'tz', 'text', 'quote;', '22023', 'an unknown time zone'),
	-- charge_many: a text[] case changes one array's length (the others name
	-- one event), which is 22023; a single 10 kB element is a key too long,
	-- or an unknown pool
	('charge_many', NULL, '_text', NULL, '22023', 'arrays of different lengths'),
	('charge_many', 'pools', '_text', '10 kB element', 'CR004', 'no pool has this key'),
	('charge_many', 'members', '_text', '10 kB element', '22023', 'a key longer than 1000 bytes'),
	('charge_many', 'features', '_text', '10 kB element', '22023', 'a key longer than 1000 bytes'),
	('charge_many', 'idempotency_keys', '_text', '10 kB element', '22023', 'a key longer than 1000 bytes'),
	-- metadata is the application's: any JSON; settings is an object of known keys
	(NULL, NULL, 'jsonb', NULL, '00000', 'any JSON'),
	('create_pool', 'settings', 'jsonb', NULL, '22023', 'settings: an object of known keys'),
	-- intervals: positive, and small enough to add to a timestamp
	(NULL, NULL, 'interval', NULL, '22023', 'a positive interval of at most 100 years'),
	-- timestamps: finite
	(NULL, NULL, 'timestamptz', NULL, '22023', 'an infinite timestamp'),
	-- ids: not found
	(NULL, NULL, 'int8', NULL, 'CR010', 'no such id'),
	-- counts
	(NULL, 'priority', 'int4', NULL, '00000', 'any rank'),
	(NULL, 'max_calls', 'int4', 'negative', '22023', 'a negative count'),
	(NULL, 'max_calls', 'int4', NULL, '00000', 'a count'),
	(NULL, 'rollover_periods', 'int4', 'negative', '22023', 'a negative count'),
	(NULL, 'rollover_periods', 'int4', 'zero', '00000', 'no carry-over'),
	(NULL, 'rollover_periods', 'int4', 'max', '22023', 'more than 1000 periods');

-- The public functions and procedures, with their input arguments.
CREATE VIEW api_args AS
SELECT p.oid AS fn_oid, p.proname::text AS fn, p.prokind, x.ordinal_position AS pos,
       x.parameter_name::text AS arg, x.udt_name::text AS typ, x.parameter_default::text AS def
  FROM pg_proc p
  JOIN information_schema.parameters x
    ON x.specific_schema = 'credits' AND x.specific_name = p.proname || '_' || p.oid
 WHERE p.pronamespace = 'credits'::regnamespace
   AND p.proname NOT LIKE '\_%'
   AND x.parameter_mode IN ('IN', 'INOUT');

CREATE VIEW api AS
SELECT p.oid AS fn_oid, p.proname::text AS fn, p.prokind
  FROM pg_proc p
 WHERE p.pronamespace = 'credits'::regnamespace
   AND p.proname NOT LIKE '\_%';

-- Arguments that can be called neither with a fixture nor by default.
CREATE VIEW unfixed AS
SELECT a.fn, a.arg
  FROM api_args a
 WHERE a.def IS NULL
   AND NOT EXISTS (SELECT FROM fixtures f WHERE f.arg = a.arg AND (f.fn IS NULL OR f.fn = a.fn));

-- One row per call: the baseline of each function, then every bad value of
-- every argument.
CREATE VIEW cases AS
SELECT a.fn_oid, a.fn, a.prokind, NULL::text AS arg, NULL::text AS typ, 'baseline' AS case_, NULL::text AS expr,
       NULL::text AS def
  FROM api a
UNION ALL
SELECT a.fn_oid, a.fn, a.prokind, a.arg, a.typ, b.case_,
       coalesce(b.expr, 'upper(' || (SELECT f.expr FROM fixtures f WHERE f.arg = a.arg AND (f.fn IS NULL OR f.fn = a.fn)
                                      ORDER BY f.fn NULLS LAST LIMIT 1) || ')',
                'upper(' || a.def || ')'),
       a.def
  FROM api_args a
  JOIN bad_values b ON b.typ = a.typ
 WHERE (b.case_ NOT IN ('unknown', 'upper case') OR a.typ <> 'text'
        OR EXISTS (SELECT FROM enumerated e WHERE e.arg = a.arg AND e.typ = a.typ)
        OR (b.case_ = 'unknown' AND a.arg = 'pool'))
   AND (b.case_ <> 'upper case' OR EXISTS (SELECT FROM enumerated e WHERE e.arg = a.arg AND e.typ = a.typ));

CREATE TABLE calls AS
SELECT row_number() OVER (ORDER BY c.fn, c.fn_oid, c.arg NULLS FIRST, c.case_) AS id, c.*
  FROM cases c;
ALTER TABLE calls ADD COLUMN sql text, ADD COLUMN expected text, ADD COLUMN why text;

UPDATE calls c
   SET sql = replace(
       CASE WHEN c.prokind = 'p' THEN 'CALL ' ELSE 'SELECT 1 FROM ' END
       || format('credits.%I(', c.fn)
       || coalesce((SELECT string_agg(format('%I => %s', a.arg,
                                             CASE WHEN a.arg = c.arg THEN c.expr
                                                  ELSE (SELECT f.expr FROM fixtures f
                                                         WHERE f.arg = a.arg AND (f.fn IS NULL OR f.fn = a.fn)
                                                         ORDER BY f.fn NULLS LAST LIMIT 1) END),
                                      ', ' ORDER BY a.pos)
                      FROM api_args a
                     WHERE a.fn_oid = c.fn_oid
                       AND (a.arg = c.arg OR EXISTS (SELECT FROM fixtures f
                                                      WHERE f.arg = a.arg AND (f.fn IS NULL OR f.fn = a.fn)))),
                   '')
       || ')', '{id}', c.id::text);

UPDATE calls c
   SET (expected, why) = (
       SELECT e.sqlstate, e.why
         FROM expectations e
        WHERE (e.fn IS NULL OR e.fn = c.fn) AND (e.arg IS NULL OR e.arg = c.arg)
          AND (e.typ IS NULL OR e.typ = c.typ) AND (e.case_ IS NULL OR e.case_ = c.case_)
        ORDER BY (e.fn IS NOT NULL)::int * 4 + (e.arg IS NOT NULL)::int * 2 + (e.typ IS NOT NULL)::int
                 + (e.case_ IS NOT NULL)::int DESC
        LIMIT 1);
-- NULL: 22004 unless the default is NULL (or a row above says otherwise)
UPDATE calls c
   SET expected = CASE WHEN c.def ILIKE 'NULL::%' THEN '00000' ELSE '22004' END,
       why = CASE WHEN c.def ILIKE 'NULL::%' THEN 'NULL is the default' ELSE 'a required argument is NULL' END
 WHERE c.case_ = 'null' AND NOT EXISTS (
       SELECT FROM expectations e
        WHERE e.case_ = 'null' AND (e.fn IS NULL OR e.fn = c.fn) AND (e.arg IS NULL OR e.arg = c.arg));
UPDATE calls SET expected = '00000', why = 'valid arguments' WHERE case_ = 'baseline';
UPDATE calls SET expected = '?', why = 'no expectation' WHERE expected IS NULL;

CREATE TABLE results (id bigint PRIMARY KEY, sqlstate text NOT NULL);
