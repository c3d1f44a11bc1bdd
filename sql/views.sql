-- Reporting views: pool_balances, grant_balances, member_usage, transaction_log.
\set VERBOSITY default
\set SHOW_CONTEXT never

-------------------------------------------------------------------------------
-- Every view has at least the columns of the spec (no row = none missing).
-------------------------------------------------------------------------------
SELECT v.view, c.col AS missing_column
  FROM (VALUES
    ('pool_balances', ARRAY['pool', 'available', 'held', 'free_remaining', 'promo_remaining', 'plan_remaining',
                            'purchased_remaining', 'expiring_30d', 'next_expiry_at']),
    ('grant_balances', ARRAY['grant_id', 'pool', 'member', 'kind', 'amount', 'remaining', 'held', 'effective_at',
                             'expires_at', 'status']),
    ('member_usage', ARRAY['pool', 'member', 'used', 'held', 'credit_limit', 'percent_used', 'remaining_limit',
                           'period', 'access']),
    ('transaction_log', ARRAY['at', 'pool', 'member', 'feature', 'credits', 'credit_kinds', 'status', 'reason',
                              'charge_id', 'idempotency_key', 'metadata'])
  ) AS v(view, cols)
  CROSS JOIN LATERAL unnest(v.cols) AS c(col)
 WHERE NOT EXISTS (SELECT FROM information_schema.columns i
                    WHERE i.table_schema = 'credits' AND i.table_name = v.view AND i.column_name = c.col);

-------------------------------------------------------------------------------
-- One pool with a grant in every state (docs/views.md)
-------------------------------------------------------------------------------
SELECT credits.create_pool('views_acme', 'Acme Inc') > 0 AS created;
SELECT credits.grant('views_acme', 100, 'purchased', external_ref => 'active') > 0 AS granted;
SELECT credits.grant('views_acme', 10, 'free', external_ref => 'exhausted') > 0 AS granted;
SELECT credits.grant('views_acme', 30, 'plan', effective_at => now() + interval '1 day',
                     external_ref => 'scheduled') > 0 AS granted;
SELECT credits.grant('views_acme', 40, 'promo', effective_at => now() - interval '2 days',
                     expires_at => now() - interval '1 day', external_ref => 'expired') > 0 AS granted;
SELECT credits.void_grant(credits.grant('views_acme', 50, 'purchased', external_ref => 'voided'),
                          'chargeback') AS voided;
SELECT credits.grant('views_acme', 20, 'promo', expires_at => now() + interval '10 days',
                     external_ref => 'expires in 10 days') > 0 AS granted;
SELECT credits.grant('views_acme', 25, 'plan', expires_at => now() + interval '60 days',
                     external_ref => 'expires in 60 days') > 0 AS granted;
SELECT credits.grant('views_acme', 5, 'free', member => 'bob', external_ref => 'bob''s own') > 0 AS granted;
SELECT credits.set_member_limit('views_acme', 'alice', 50);
SELECT credits.set_member_limit('views_acme', 'carol', 20, 'week');
SELECT credits.revoke_access('views_acme', 'dave');
SELECT status, charged FROM credits.charge('views_acme', 'alice', 15, 'chat', 'req-1', '{"model": "small"}');
SELECT status, charged FROM credits.try_charge('views_acme', 'alice', 40, 'chat');
SELECT status, charged FROM credits.try_charge('views_acme', 'dave', 1, 'chat');
SELECT status, charged FROM credits.charge('views_acme', 'bob', 0, 'ping');

SELECT external_ref AS grant, kind, member, amount, remaining, held, status
  FROM credits.grant_balances
 WHERE pool = 'views_acme'
 ORDER BY grant_id;

SELECT expires_at AS next_expiry FROM credits.grant_balances
 WHERE pool = 'views_acme' AND external_ref = 'expires in 10 days' \gset
SELECT pool, available, held, free_remaining, promo_remaining, plan_remaining, purchased_remaining,
       expiring_30d, next_expiry_at = :'next_expiry' AS next_expiry_ok
  FROM credits.pool_balances
 WHERE pool = 'views_acme';

SELECT pool, member, used, held, credit_limit, percent_used, remaining_limit, period, access
  FROM credits.member_usage
 WHERE pool = 'views_acme'
 ORDER BY member;

SELECT member, feature, credits, credit_kinds, status, reason, idempotency_key, metadata
  FROM credits.transaction_log
 WHERE pool = 'views_acme'
 ORDER BY charge_id;

-- at is the charge's transaction time; charge_id is what refund() takes
SELECT count(*) AS attempts, count(at) AS with_time, count(DISTINCT charge_id) AS charge_ids
  FROM credits.transaction_log WHERE pool = 'views_acme';

-------------------------------------------------------------------------------
-- grant_balances: a voided grant is voided, whatever its dates say.
-------------------------------------------------------------------------------
SELECT credits.create_pool('views_states') > 0 AS created;
SELECT credits.void_grant(credits.grant('views_states', 1, effective_at => now() - interval '2 days',
                                        expires_at => now() - interval '1 day')) AS voided;
SELECT status FROM credits.grant_balances WHERE pool = 'views_states';

-------------------------------------------------------------------------------
-- transaction_log.credit_kinds lists kinds in deduction order
-------------------------------------------------------------------------------
SELECT credits.create_pool('views_kinds') > 0 AS created;
SELECT credits.grant('views_kinds', 1, 'purchased') > 0 AS granted;
SELECT credits.grant('views_kinds', 1, 'plan') > 0 AS granted;
SELECT credits.grant('views_kinds', 1, 'promo') > 0 AS granted;
SELECT credits.grant('views_kinds', 1, 'free') > 0 AS granted;
SELECT status, charged FROM credits.charge('views_kinds', 'alice', 4);
SELECT credit_kinds FROM credits.transaction_log WHERE pool = 'views_kinds';
-- an explicit priority changes the order, and the log shows it
SELECT credits.grant('views_kinds', 1, 'purchased', priority => 5) > 0 AS granted;
SELECT credits.grant('views_kinds', 1, 'free') > 0 AS granted;
SELECT status, charged FROM credits.charge('views_kinds', 'alice', 2);
SELECT credits, credit_kinds FROM credits.transaction_log WHERE pool = 'views_kinds' ORDER BY charge_id;

-------------------------------------------------------------------------------
-- Pools without grants and members without usage still have a row.
-------------------------------------------------------------------------------
SELECT credits.create_pool('views_empty') > 0 AS created;
SELECT credits.set_member_limit('views_empty', 'alice', 0);
SELECT pool, available, held, free_remaining, purchased_remaining, expiring_30d, next_expiry_at
  FROM credits.pool_balances WHERE pool = 'views_empty';
SELECT member, used, credit_limit, percent_used, remaining_limit, period, access
  FROM credits.member_usage WHERE pool = 'views_empty';
