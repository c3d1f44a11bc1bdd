# Writes the psql script of one crash-test client. Every operation echoes
#   S <kind> <key> <arguments>      before it is sent,
#   A <kind> <key> <result...>      when the client saw it succeed,
#   F <kind> <key> <SQLSTATE>       when the client saw it fail,
# so an S line with neither A nor F is the operation in flight at the crash.
# Kinds: K charge or try_charge, R refund, H reserve, C capture, X release.
#
# mode=plan: `ops` random operations for client `client` of cycle `cycle`
#   (keys c<cycle>-<client>-<n>), with seed `seed`, over `pools` pools and
#   the pool `hot`.
# mode=replay: one operation per input line, as an S line wrote it:
#   K key fn pool member amount | H key reserve pool member amount |
#   C key hold_id amount | X key hold_id | R key charge_id
function q(s) { return "'" s "'" }
function ok_or_fail(kind, key, ack) {
	print "\\if :ERROR"
	print "\\echo F " kind " " key " :SQLSTATE"
	print "\\else"
	print "\\echo A " kind " " key " " ack
}
function op_charge(key, fn, pool, member, amount, refund) {
	print "\\echo S K " key " " fn " " pool " " member " " amount
	print "SELECT charge_id AS id, status AS st, replayed AS rp, status = 'succeeded' AS ok FROM credits." fn \
		"(" q(pool) ", " q(member) ", " amount ", 'chat', " q(key) ") \\gset"
	ok_or_fail("K", key, ":st :id :rp")
	if (refund) {
		print "\\if :ok"
		op_refund(key, ":id")
		print "\\endif"
	}
	print "\\endif"
}
function op_refund(key, id) {
	print "\\echo S R " key " " id
	print "SELECT credits.refund(" id ") AS amt \\gset"
	ok_or_fail("R", key, id " :amt")
	print "\\endif"
}
function op_reserve(key, pool, member, amount, then) {
	print "\\echo S H " key " reserve " pool " " member " " amount
	print "SELECT credits.reserve(" q(pool) ", " q(member) ", " amount ", ttl => '1 day', feature => 'gen', idempotency_key => " \
		q(key) ") AS hid \\gset"
	ok_or_fail("H", key, ":hid")
	if (then == "release")
		op_release(key, ":hid")
	else if (then != "none")
		op_capture(key, ":hid", then)
	print "\\endif"
}
function op_capture(key, hid, amount) {
	print "\\echo S C " key " " hid " " amount
	print "SELECT charge_id AS cid FROM credits.capture(" hid ", " (amount == "all" ? "NULL" : amount) ") \\gset"
	ok_or_fail("C", key, hid " :cid")
	print "\\endif"
}
function op_release(key, hid) {
	print "\\echo S X " key " " hid
	print "SELECT credits.release(" hid ") AS rel \\gset"
	ok_or_fail("X", key, hid " :rel")
	print "\\endif"
}
function amount() { return sprintf("%.2f", (1 + int(rand() * 1000)) / 100) }
function pool() { return rand() < 0.5 ? "hot" : "pool-" (1 + int(rand() * pools)) }
function plan(   n, r, key, a, fn) {
	srand(seed)
	for (n = 1; n <= ops; n++) {
		key = "c" cycle "-" client "-" n
		r = rand()
		fn = rand() < 0.5 ? "charge" : "try_charge"
		if (r < 0.45) # a charge; one in ten is refunded at once
			op_charge(key, fn, pool(), "m" (1 + int(rand() * 30)), amount(), rand() < 0.1)
		else if (r < 0.70) { # a hold, then a partial or full capture, or a release
			a = amount()
			r = rand()
			op_reserve(key, pool(), "m" (1 + int(rand() * 30)), a,
			           r < 0.6 ? sprintf("%.2f", int(a * 50) / 100) : r < 0.8 ? "all" : "release")
		} else if (r < 0.80) # more than any pool holds: CR001 or insufficient_credits
			op_charge(key, fn, pool(), "m1", "1000000000", 0)
		else if (r < 0.88) # a revoked member: CR003 or access_revoked
			op_charge(key, fn, pool(), "revoked", amount(), 0)
		else # a member with a limit of 40: refused (CR002) once it is used up
			op_charge(key, fn, pool(), "capped", "5", 0)
	}
}
BEGIN { if (mode == "plan") plan() }
mode == "replay" && $1 == "K" { op_charge($2, $3, $4, $5, $6, 0) }
mode == "replay" && $1 == "H" { op_reserve($2, $4, $5, $6, "none") }
mode == "replay" && $1 == "C" { op_capture($2, $3, $4) }
mode == "replay" && $1 == "X" { op_release($2, $3) }
mode == "replay" && $1 == "R" { op_refund($2, $3) }
