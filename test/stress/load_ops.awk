# The load test's psql scripts, one block per client: for each of `clients`
# clients, `prefix`.<client>.sql holds `ops` random operations (seeded with
# `seed` + client) on the pools p1..p<pools>, or on the pool `hot` when pools
# is 0. Business refusals are part of the mix: they reach the
# server log as CR001-CR007 errors, and the client goes on after an error.
# psql runs it with -v go=1 -v deadline=<epoch>: after each operation the
# client looks at the clock and skips the rest once the deadline has passed
# (on one hot pool an operation can wait long for its turn).
#   28% charge (half with an idempotency key)   20% try_charge
#   15% reserve, then capture all or part       10% reserve, then release
#    5% reserve left to lapse (2 s TTL)          8% refund the client's last charge
#    5% balance                                  2% replay the last keyed charge
#                                                   (echoes `replayed t`)
#    2% more than any pool holds (CR001)         3% try_charge by a revoked member
#    2% charge by a revoked member (CR003)
# Members: m1..m24 without a limit and lim1..lim8 with one (CR002 once used
# up); `revoked` has lost its access.
function q(s) { return "'" s "'" }
function pool() { return pools == 0 ? "hot" : "p" (1 + int(rand() * pools)) }
function member() { return rand() < 0.75 ? "m" (1 + int(rand() * 24)) : "lim" (1 + int(rand() * 8)) }
function amount() { return sprintf("%.2f", (1 + int(rand() * 500)) / 100) }
function emit(s) { print s > file }
BEGIN {
	for (c = 1; c <= clients; c++) {
		file = prefix "." c ".sql"
		srand(seed + c)
		block()
		close(file)
	}
}
function block(   n, r, p, m, a, key) {
	for (n = 1; n <= ops; n++) {
		emit("\\if :go")
		r = rand()
		p = pool()
		m = member()
		a = amount()
		if (r < 0.28) {
			key = rand() < 0.5 ? "'k-' || gen_random_uuid()" : "NULL::text"
			# \gset unsets last_key when it is NULL
			emit("SELECT c.charge_id AS cid, k.key AS last_key, " q(p) " AS last_pool, " q(m) " AS last_member, " \
				a " AS last_amount FROM (SELECT " key " AS key) k, credits.charge(" q(p) ", " q(m) ", " a ", 'chat', k.key) c \\gset")
		} else if (r < 0.48)
			emit("SELECT status FROM credits.try_charge(" q(p) ", " q(m) ", " a ", 'chat');")
		else if (r < 0.73) {
			emit("SELECT credits.reserve(" q(p) ", " q(m) ", " a ", ttl => '10 minutes', feature => 'gen') AS hid \\gset")
			emit("\\if :ERROR")
			emit("\\else")
			if (r < 0.63)
				emit("SELECT charge_id FROM credits.capture(:hid, " (rand() < 0.5 ? "NULL" : sprintf("%.2f", int(a * 50) / 100)) ");")
			else
				emit("SELECT credits.release(:hid);")
			emit("\\endif")
		} else if (r < 0.78)
			emit("SELECT credits.reserve(" q(p) ", " q(m) ", " a ", ttl => '2 seconds', feature => 'gen');")
		else if (r < 0.86) {
			emit("\\if :{?cid}")
			emit("SELECT credits.refund(:cid);")
			emit("\\endif")
		} else if (r < 0.91)
			emit("SELECT credits.balance(" q(p) ", " q(m) ");")
		else if (r < 0.93) {
			emit("\\if :{?last_key}")
			emit("SELECT replayed AS rp FROM credits.charge(:'last_pool', :'last_member', :last_amount, 'chat', :'last_key') \\gset")
			emit("\\if :ERROR")
			emit("\\else")
			emit("\\echo replayed :rp")
			emit("\\endif")
			emit("\\endif")
		} else if (r < 0.95)
			emit("SELECT charge_id FROM credits.charge(" q(p) ", " q(m) ", 1000000000, 'chat');")
		else if (r < 0.98)
			emit("SELECT status FROM credits.try_charge(" q(p) ", 'revoked', " a ", 'chat');")
		else
			emit("SELECT status FROM credits.charge(" q(p) ", 'revoked', " a ", 'chat');")
		emit("\\echo .")
		emit("SELECT extract(epoch FROM clock_timestamp()) < :deadline AS go \\gset")
		emit("\\endif")
	}
}
