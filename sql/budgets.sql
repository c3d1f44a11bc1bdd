-- Budgets: a named cap inside a pool for a group of members. A charge or a
-- hold by a member of a budget counts against it as well as against the
-- member's own limit; past it the call is refused with budget_exceeded
-- (CR011), naming the budget.
\set VERBOSITY default
\set SHOW_CONTEXT never

SELECT credits.create_pool('budgets') > 0 AS created;
SELECT credits.grant('budgets', 1000) > 0 AS granted;
-- the design team may use 100 credits a month of the shared pool
SELECT credits.set_budget('budgets', 'design', 100);
SELECT credits.assign_budget('budgets', 'dana', 'design');
SELECT credits.assign_budget('budgets', 'dario', 'design');
SELECT pool, budget, members, used, held, credit_limit, percent_used, remaining_limit, period
  FROM credits.budget_usage WHERE pool = 'budgets';

SELECT status, charged, member_used FROM credits.charge('budgets', 'dana', 60);
-- dario's balance is capped by what the budget has left
SELECT credits.balance('budgets', 'dario') AS dario, credits.balance('budgets', 'erin') AS erin;
SELECT status, charged, reason FROM credits.try_charge('budgets', 'dario', 41);
SELECT code, message, detail FROM regress.error_of($$SELECT credits.charge('budgets', 'dario', 41)$$);
-- a hold counts too, and its capture or release moves it on
SELECT credits.reserve('budgets', 'dario', 30, interval '1 hour') AS hold \gset
SELECT used, held, remaining_limit FROM credits.budget_usage WHERE budget = 'design';
SELECT code FROM regress.error_of($$SELECT credits.reserve('budgets', 'dana', 11, interval '1 hour')$$);
SELECT status FROM credits.capture(:hold, 25);
SELECT used, held, remaining_limit FROM credits.budget_usage WHERE budget = 'design';
-- a refund gives back to the budget
SELECT credits.refund(charge_id, 10) AS refunded
  FROM credits.transaction_log WHERE pool = 'budgets' AND member = 'dana';
SELECT used, held FROM credits.budget_usage WHERE budget = 'design';
-- members outside the budget are not capped by it; a free action passes
SELECT status FROM credits.charge('budgets', 'erin', 200);
SELECT status FROM credits.charge('budgets', 'dana', 0);
-- charge_many counts the events of one call against the budget in order
SELECT ord, status, charged FROM credits.charge_many(ARRAY['budgets', 'budgets', 'budgets'],
                                                    ARRAY['dana', 'dario', 'dana'], ARRAY[10, 10, 10]::numeric[]);
SELECT used, remaining_limit FROM credits.budget_usage WHERE budget = 'design';

-- raising the budget lets them spend again; NULL: no cap, usage still kept
SELECT credits.set_budget('budgets', 'design', NULL);
SELECT status FROM credits.charge('budgets', 'dario', 50);
SELECT used, credit_limit, percent_used, remaining_limit FROM credits.budget_usage WHERE budget = 'design';
-- a member moves between budgets with its pending holds
SELECT credits.set_budget('budgets', 'video', 50, 'week');
SELECT credits.reserve('budgets', 'dana', 5, interval '1 hour') AS hold2 \gset
SELECT credits.assign_budget('budgets', 'dana', 'video');
SELECT budget, members, used, held, period FROM credits.budget_usage WHERE pool = 'budgets' ORDER BY budget;
SELECT credits.release(:hold2);
SELECT budget, held FROM credits.budget_usage WHERE pool = 'budgets' ORDER BY budget;
-- removing a budget unassigns its members
SELECT credits.remove_budget('budgets', 'video');
SELECT member, budget FROM credits.members WHERE pool_id = (SELECT pool_id FROM credits.pools WHERE pool = 'budgets')
 ORDER BY member;

-- errors
SELECT code, message FROM regress.error_of($$SELECT credits.set_budget('budgets', 'x', 5000)$$);
SELECT code, message FROM regress.error_of($$SELECT credits.set_budget('budgets', 'x', 5, 'year')$$);
SELECT code, message FROM regress.error_of($$SELECT credits.set_budget('budgets', 'x', -1)$$);
SELECT code, message FROM regress.error_of($$SELECT credits.set_budget('budgets', NULL, 5)$$);
SELECT code, message FROM regress.error_of($$SELECT credits.set_budget('budgets', 'x', 5, NULL)$$);
SELECT code, message FROM regress.error_of($$SELECT credits.assign_budget('budgets', 'dana', 'nope')$$);
SELECT code, message FROM regress.error_of($$SELECT credits.remove_budget('budgets', 'nope')$$);
SELECT code, message FROM regress.error_of($$SELECT credits.set_budget('nope', 'x', 5)$$);
SELECT * FROM credits.verify();
