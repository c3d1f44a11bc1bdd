-- Helpers for the other regression tests, in schema regress (the Makefile
-- runs this file first; each test is its own session, so pg_temp would not
-- do). Nothing of the extension is tested here.
CREATE SCHEMA regress;
GRANT USAGE ON SCHEMA regress TO PUBLIC;

-- Runs one statement and returns the error it raised (no row if none).
CREATE FUNCTION regress.error_of(statement text)
RETURNS TABLE (code text, message text, detail text, hint text)
LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE statement;
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS code = RETURNED_SQLSTATE, message = MESSAGE_TEXT,
	                        detail = PG_EXCEPTION_DETAIL, hint = PG_EXCEPTION_HINT;
	RETURN NEXT;
END
$$;

-- The error a statement raises, as psql would show it, with hold and charge
-- ids and timestamps masked (they differ between runs); 'no error' if none.
CREATE FUNCTION regress.masked_error_of(statement text)
RETURNS TABLE (sqlstate text, error text)
LANGUAGE sql
SET datestyle = 'ISO, MDY'
BEGIN ATOMIC
	SELECT x.sqlstate, x.error
	  FROM (SELECT l.n, CASE WHEN l.n = 1 THEN e.code END AS sqlstate,
	               regexp_replace(regexp_replace(l.line, '\m(hold|charge) \d+', '\1 <id>', 'g'),
	                              '\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)?[+-]\d\d(:\d\d)?', '<time>', 'g') AS error
	          FROM regress.error_of(statement) e
	         CROSS JOIN LATERAL (VALUES (1, e.message), (2, 'DETAIL:  ' || nullif(e.detail, '')),
	                                    (3, 'HINT:  ' || nullif(e.hint, ''))) AS l (n, line)
	         WHERE l.line IS NOT NULL
	        UNION ALL
	        SELECT 1, NULL, 'no error'
	         WHERE NOT EXISTS (SELECT FROM regress.error_of(statement))) x
	 ORDER BY x.n;
END;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA regress TO PUBLIC;
