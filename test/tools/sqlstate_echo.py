#!/usr/bin/env python3
"""Rewrites pg_regress inputs that used `\\set VERBOSITY verbose` to print
SQLSTATEs without LOCATION lines (file and line numbers of the PostgreSQL
build, which change between minor versions).

usage: sqlstate_echo.py sql/NAME.sql results/NAME.out

For every statement whose echoed output in results/NAME.out is followed by
an ERROR, inserts `\\echo :LAST_ERROR_SQLSTATE` after it in sql/NAME.sql,
and switches the file to `\\set VERBOSITY default`. Run the test again
afterwards and review the new output before copying it to expected/.
"""
import re
import sys

sql_path, out_path = sys.argv[1], sys.argv[2]
sql = open(sql_path).read()
out = open(out_path).read().splitlines()

# The results echo every input line; an ERROR block follows the statement
# that raised it. Collect, in order, the last input line before each ERROR.
error_after = []
prev_input = None
sql_lines = sql.splitlines()
for line in out:
    if line.startswith('ERROR:'):
        if prev_input is not None:
            error_after.append(prev_input)
            prev_input = None
        continue
    if line in sql_lines:
        prev_input = line

# Walk the sql file in order, inserting the echo after the matching line.
result = []
i = 0
pending = list(error_after)
for line in sql_lines:
    result.append(line)
    if pending and line == pending[0]:
        result.append('\\echo :LAST_ERROR_SQLSTATE')
        pending.pop(0)
if pending:
    sys.exit('could not place %d echoes in %s' % (len(pending), sql_path))
text = '\n'.join(result) + '\n'
text = text.replace('\\set VERBOSITY verbose', '\\set VERBOSITY default')
open(sql_path, 'w').write(text)
