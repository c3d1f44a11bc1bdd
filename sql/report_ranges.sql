-- 0.3 reports: hold_balances, balance_at, usage, and the new columns of
-- transaction_log (quantity, unit, balance_after, refunded).
\set VERBOSITY default
\set SHOW_CONTEXT never

SELECT credits.create_pool('ranges') > 0 AS created;
SELECT credits.grant('ranges', 100, 'free', effective_at => now() - interval '10 days') > 0 AS granted;
SELECT credits.grant('ranges', 50, 'purchased', effective_at => now() + interval '5 days') > 0 AS future;
SELECT credits.set_rate('ranges_tokens', 0.5, 'token', now() - interval '1 day');
SELECT status FROM credits.charge('ranges', 'ann', 10, 'chat');
SELECT charge_id AS ann_chat FROM credits.charge('ranges', 'ann', 6, 'chat') \gset
SELECT status FROM credits.charge_usage('ranges', 'bob', 'ranges_tokens', 8);
SELECT status FROM credits.try_charge('ranges', 'bob', 1000, 'chat');
SELECT credits.refund(:ann_chat, 2) AS refunded;
SELECT credits.reserve('ranges', 'cy', 7, '1 hour', 'video') > 0 AS pending;
SELECT credits.reserve('ranges', 'cy', 3, ttl => '1 microsecond') > 0 AS lapsing;
SELECT (credits.capture(credits.reserve('ranges', 'dee', 5, '1 hour', 'image'), 4)).status;

-- pending holds; the lapsed one is not there
SELECT pool, member, feature, amount, expires_at > now() AS pending FROM credits.hold_balances WHERE pool = 'ranges';

-- the log: quantity and unit of a priced charge, the balance after each
-- attempt, and what was refunded of it
SELECT operation, member, feature, credits, status, quantity, unit, balance_after, refunded
  FROM credits.transaction_log WHERE pool = 'ranges' ORDER BY charge_id;

-- usage in a range: succeeded charges and captures, gross, with refunds
SELECT * FROM credits.usage('ranges', now() - interval '1 day', now() + interval '1 second');
SELECT * FROM credits.usage('ranges', now() - interval '2 days', now() - interval '1 day');

-- balance_at: from the ledger, held counted as remaining; grants from their
-- effective_at
SELECT credits.balance_at('ranges', now() - interval '11 days') AS before_any,
       credits.balance_at('ranges', now() - interval '1 day') AS yesterday,
       credits.balance_at('ranges', now() + interval '1 second') AS now,
       credits.balance_at('ranges', now() + interval '6 days') AS after_the_future_grant;
-- it equals statement()'s remaining at each bucket's end (a day, or the
-- part of it in the range)
SELECT count(*) > 10 AS buckets,
       count(*) FILTER (WHERE x.remaining <> credits.balance_at('ranges', x.hi)) AS disagreeing
  FROM (SELECT s.remaining,
               coalesce(lead(s.bucket) OVER (ORDER BY s.bucket), now() + interval '1 day') AS hi
          FROM credits.statement('ranges', now() - interval '12 days', now() + interval '1 day') s) x;

-- errors
SELECT code, message FROM regress.error_of($$SELECT credits.balance_at('ranges_nowhere', now())$$);
SELECT code, message FROM regress.error_of($$SELECT credits.balance_at('ranges', NULL)$$);
SELECT code, message FROM regress.error_of($$SELECT credits.balance_at('ranges', 'infinity')$$);
SELECT code, message FROM regress.error_of($$SELECT * FROM credits.usage('ranges', now(), now() - interval '1 day')$$);
SELECT code, message FROM regress.error_of($$SELECT * FROM credits.usage(NULL, now(), now())$$);

-- readers
SET ROLE credits_reader;
SELECT count(*) >= 1 AS readable FROM credits.hold_balances;
SELECT credits.balance_at('ranges', now()) IS NOT NULL AS callable;
SELECT count(*) >= 1 AS callable FROM credits.usage('ranges', now() - interval '1 day', now() + interval '1 day');
RESET ROLE;
SELECT * FROM credits.verify();
