-- Loads the benchmark data: :pools pools (keys p1 .. pN), each with
--   a free grant that expires in a year, a plan grant that expires in two
--   months and a purchased grant that never expires (1,000,000,000 credits
--   each, so nothing runs out), and :members members (u1 .. uM, no limit);
-- into credits through its own API (create_pool, grant), then the same rows
-- into the PL/pgSQL variant's tables (bench_plpgsql) and the floor's
-- (bench_floor), so all three run on identical data (bench/pools_load.sql).
-- psql -v pools=10000 -v members=4 -f bench/load.sql
\set ON_ERROR_STOP 1
SET client_min_messages = warning;

CREATE EXTENSION IF NOT EXISTS credits;
\ir plpgsql_charge.sql
DROP SCHEMA IF EXISTS bench_floor CASCADE;
CREATE SCHEMA bench_floor;
SET search_path = bench_floor;
\ir tables.sql
RESET search_path;

\set copies '{bench_plpgsql,bench_floor}'
\ir pools_load.sql
SELECT count(*) AS verify_problems FROM credits.verify();
