// The maintenance procedures (expire_grants, renew_subscriptions,
// expire_holds, maintain, and _run_maintenance behind them and
// record_verify) and their batches.
//
// The driver runs a job's batches. Called by a top-level CALL it connects
// to SPI non-atomic: it commits the run's row in credits.maintenance_log,
// then each batch, and takes the job's advisory lock again after each
// commit (yielding to a run that took it meanwhile). Inside a transaction
// block it does everything in that one transaction. Each batch runs in a
// subtransaction, as PL/pgSQL's exception block ran it: a failing batch is
// rolled back, the run is marked failed (committed at top level) and the
// error raised again as it was. The procedures run as their caller, with
// the caller's search_path: their statements call only the extension's
// functions, schema-qualified, with typed parameters and no operator.
//
// A batch (credits._maintenance_batch, SECURITY DEFINER with a pinned
// search_path) is one set-based statement, prepared once per backend. It
// selects its work by state, locks the pools involved in pool_id order as
// every write does (the row lock of an UPDATE, and a version bump), reads
// the rows it changes only once it holds those locks (FOR NO KEY UPDATE
// returns their latest versions), and writes with data-modifying CTEs.
// A pool whose holds are overdue is left out of the statement: as the
// write path does on taking a pool, the batch lapses its holds first (in
// C++, holds_settle.cpp), and the next batch does its work.
#include "pg/maintenance.hpp"

#include "core/error.hpp"
#include "pg/boundary.hpp"
#include "pg/datum.hpp"
#include "pg/holds_settle.hpp"
#include "pg/pool_state.hpp"
#include "pg/rows.hpp"
#include "pg/spi.hpp"

extern "C" {
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "storage/latch.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/wait_event.h"
}

#include <algorithm>
#include <cerrno>
#include <sys/resource.h>
#include <optional>
#include <string>
#include <vector>

namespace credits::pg {

namespace {

// Batch sizes, chosen by measurement (docs/benchmarks.md): a larger batch
// costs less per row (a statement and a commit), a smaller one holds its
// pools' locks for less time. expire_grants takes whole pools: up to 1000
// grants of the pools of the 100 earliest expiries, so that a pool with
// many grants due is locked by one batch rather than by many.
constexpr int kExpireGrantsBatch = 1000; // grants
constexpr int kExpireGrantsPools = 100;  // earliest expiries whose pools a batch takes
constexpr int kRenewBatch = 500;         // subscriptions
constexpr int kExpireHoldsBatch = 100;   // pools

// Where renew_subscriptions goes on from: the last subscription a batch of
// the run took (a run takes them in key order; a subscription before it
// that becomes due again meanwhile is found by the pass from the start that
// ends every run). Reset by the driver at the start of each run.
struct RenewCursor {
	int64_t pool_id = 0;
	int64_t subscription_id = 0;
	bool AtStart() const {
		return pool_id == 0 && subscription_id == 0;
	}
};
RenewCursor renew_cursor;

// credits.maintenance_pause: after each batch it commits, a top-level run
// sleeps this many times as long as the batch took, so that it leaves more
// of the CPU to the application (0, the default: no pause).
double maintenance_pause = 0.0;
constexpr long kLongestPauseMs = 10000;

// Sleeps after a batch that took `elapsed` (microseconds), interruptibly.
void Pause(TimestampTz elapsed) {
	const long ms = std::min(static_cast<long>(static_cast<double>(elapsed) * maintenance_pause / 1000.0), kLongestPauseMs);
	if (ms <= 0)
		return;
	Guard([&] {
		(void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, ms, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	});
}

// credits.maintenance_nice: a top-level run lowers its backend's CPU
// priority to this nice value (0, the default: it keeps its priority), so
// that on a busy machine the scheduler serves the application's sessions
// first. The priority is restored when the run ends where the operating
// system lets a process raise its priority again (RLIMIT_NICE); otherwise
// the backend keeps it until it exits.
int maintenance_nice = 0;

class LowerPriority {
public:
	explicit LowerPriority(bool atomic) {
		// inside a transaction block the run holds the caller's locks: a
		// lower priority would make every session waiting for them wait longer
		if (atomic || maintenance_nice <= 0)
			return;
		errno = 0;
		const int was = getpriority(PRIO_PROCESS, 0);
		if (errno == 0 && was < maintenance_nice && setpriority(PRIO_PROCESS, 0, maintenance_nice) == 0) {
			was_ = was;
			lowered_ = true;
		}
	}
	~LowerPriority() {
		if (lowered_)
			(void)setpriority(PRIO_PROCESS, 0, was_); // may be refused: see above
	}
	LowerPriority(const LowerPriority &) = delete;
	LowerPriority &operator=(const LowerPriority &) = delete;

private:
	int was_ = 0;
	bool lowered_ = false;
};

// ---------------------------------------------------------------------------
// The driver. Runs as the caller: only schema-qualified calls of the
// extension's functions.

Statement take_lock{"SELECT credits._maintenance_lock($1)", {TEXTOID}};
Statement start_run{"SELECT credits._maintenance_run_start($1, $2)", {TEXTOID, TIMESTAMPTZOID}};
Statement run_step{"SELECT credits._maintenance_step($1, $2, $3)", {INT8OID, TEXTOID, TIMESTAMPTZOID}};
Statement end_run{"SELECT credits._maintenance_run_end($1, $2, $3)", {INT8OID, TEXTOID, TEXTOID}};

// Whether the procedure must stay in its caller's transaction: a CALL
// inside a transaction block, or from a function.
bool Atomic(FunctionCallInfo fcinfo) {
	return !(fcinfo->context != nullptr && IsA(fcinfo->context, CallContext) &&
	         !castNode(CallContext, fcinfo->context)->atomic);
}

Timestamp AsOfArg(FunctionCallInfo fcinfo, int n) {
	RequireArg(fcinfo, n, "as_of");
	const Timestamp as_of = PG_GETARG_TIMESTAMPTZ(n);
	if (TIMESTAMP_NOT_FINITE(as_of))
		throw Error(sqlstate::kInvalidParameter, "invalid as_of: must be a finite timestamp");
	return as_of;
}

// One step of the run in a subtransaction; the error that rolled it back
// (copied into the SPI connection's memory, which outlives commits), or
// nullptr. *more: whether the step found work.
ErrorData *RunStep(SpiSession &spi, Datum run, Datum job, bool job_null, Datum as_of, bool *more) {
	MemoryContext context = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	Guard([&] {
		BeginInternalSubTransaction(nullptr);
		MemoryContextSwitchTo(context);
	});
	try {
		Datum args[] = {run, job, as_of};
		const bool nulls[] = {false, job_null, false};
		spi.Run(run_step, args, nulls);
		*more = !spi.IsNull(0, 1) && spi.Bool(0, 1);
		spi.FreeResult();
		Guard([&] {
			ReleaseCurrentSubTransaction();
			MemoryContextSwitchTo(context);
			CurrentResourceOwner = owner;
		});
		return nullptr;
	} catch (const PgError &e) {
		Guard([&] {
			RollbackAndReleaseCurrentSubTransaction();
			MemoryContextSwitchTo(context);
			CurrentResourceOwner = owner;
		});
		return e.Data();
	}
}

// Runs maintenance job `job` (NULL fails as the run's row refuses it) as
// of `as_of`: nothing on a standby or while another session runs the job.
void RunMaintenance(const std::optional<std::string> &job_name, Timestamp as_of, bool atomic) {
	SpiSession spi(false, !atomic);
	// in the connection's memory, which lasts across commits
	const Datum job = job_name ? StringToText(*job_name) : Datum(0);
	const bool job_null = !job_name;
	auto lock = [&] {
		Datum args[] = {job};
		const bool nulls[] = {job_null};
		spi.Run(take_lock, args, nulls);
		const bool locked = !spi.IsNull(0, 1) && spi.Bool(0, 1);
		spi.FreeResult();
		return locked;
	};
	if (!lock()) {
		spi.Finish();
		return;
	}
	renew_cursor = RenewCursor{};
	const LowerPriority priority(atomic);
	Datum start_args[] = {job, TimestampTzGetDatum(as_of)};
	const bool start_nulls[] = {job_null, false};
	spi.Run(start_run, start_args, start_nulls);
	const Datum run = Int64GetDatum(spi.Int64(0, 1));
	if (!atomic)
		spi.Commit(); // the run's row shows at once; the job's lock ends with it
	ErrorData *failure = nullptr;
	while (atomic || lock()) {
		bool more = false;
		const TimestampTz started = GetCurrentTimestamp();
		failure = RunStep(spi, run, job, job_null, TimestampTzGetDatum(as_of), &more);
		if (failure != nullptr || !more)
			break;
		if (!atomic) {
			spi.Commit();
			Pause(GetCurrentTimestamp() - started); // holding no lock, and no snapshot
		}
	}
	Datum end_args[] = {run, Datum(0), Datum(0)};
	const bool end_nulls[] = {false, failure == nullptr, failure == nullptr};
	if (failure != nullptr) {
		end_args[1] = StringToText(unpack_sql_state(failure->sqlerrcode));
		end_args[2] = StringToText(failure->message ? failure->message : "");
	}
	spi.Run(end_run, end_args, end_nulls);
	if (failure != nullptr) {
		if (!atomic)
			spi.Commit();
		// raised again at the boundary as it was (SQLSTATE, message, detail,
		// hint); the connection is left to the error's cleanup
		throw PgError(failure);
	}
	spi.Finish();
}

// ---------------------------------------------------------------------------
// The batches. Each statement's first CTEs do the same: `due` selects the
// work by state; `locked` locks its pools in pool_id order (LockRows sits
// above the sort), as every write does; `bumped` bumps their versions, and
// says which pools the statement must leave out: `lapse`, the pool has
// overdue holds (lapsed first, as a write does on taking the pool), or
// `stale`, a writer changed the pool after the statement's snapshot was
// taken (its lock waited for one, which then committed): the rows this
// statement reads of such a pool may be old. Every write bumps its pool's
// version before it touches the pool's rows, so for every other pool the
// snapshot's rows are the latest. A pool left out is done by the next
// statement, in the same transaction (its lock is held by then). The CTEs
// that write wait for `bumped` (an InitPlan gate, evaluated before their
// scan starts), so that no row is written before its pool is locked.
#define CREDITS_LOCK_POOLS                                                                                             \
	" locked AS MATERIALIZED ("                                                                                        \
	"   SELECT p.pool_id, p.version FROM credits.pools p"                                                              \
	"    WHERE p.pool_id = ANY (ARRAY(SELECT DISTINCT d.pool_id FROM due d))"                                          \
	"    ORDER BY p.pool_id FOR NO KEY UPDATE),"                                                                       \
	" bumped AS MATERIALIZED ("                                                                                        \
	"   UPDATE credits.pools p SET version = p.version + 1 FROM locked l"                                              \
	"    WHERE p.pool_id = ANY (ARRAY(SELECT l.pool_id FROM locked l)) AND p.pool_id = l.pool_id"                      \
	"   RETURNING p.pool_id, coalesce(p.next_hold_expiry <= now(), false) AS lapse,"                                  \
	"             l.version IS DISTINCT FROM (SELECT s.version FROM credits.pools s WHERE s.pool_id = p.pool_id)"      \
	"             AS stale),"                                                                                          \
	" left_out AS MATERIALIZED (SELECT b.pool_id FROM bumped b WHERE b.lapse OR b.stale),"

// The rows every batch statement returns: (0, rows done, 0) once; (1,
// pool_id, lapse) for each pool left out; and, from renew_subscriptions,
// (2, pool_id, subscription_id) for each subscription left to
// _issue_periods and (3, pool_id, subscription_id) for the last one due.
#define CREDITS_BATCH_RESULT                                                                                           \
	" SELECT 0, (SELECT count(*) FROM due d WHERE d.pool_id NOT IN (SELECT o.pool_id FROM left_out o)), 0::bigint"   \
	" UNION ALL SELECT 1, b.pool_id, b.lapse::int FROM bumped b WHERE b.lapse OR b.stale"

// expire_grants: what remains (unheld) of grants past expires_at expires,
// one `expire` entry per grant dated at its expires_at; held parts stay
// with their holds. A batch takes the pools of the $3 earliest expiries and
// up to $2 of their grants due, whole pools first: a pool with many grants
// due is locked by one batch, not by many.
Statement expire_grants_batch{
    "WITH first AS MATERIALIZED ("
    "   SELECT DISTINCT e.pool_id FROM (SELECT g.pool_id FROM credits.grants g"
    "    WHERE g.expires_at <= $1 AND g.expired_at IS NULL AND g.voided_at IS NULL AND g.expires_at IS NOT NULL"
    "    ORDER BY g.expires_at LIMIT $3) e),"
    // (LATERAL ... OFFSET 0: one index scan a row, whatever a generic
    // plan guesses of a CTE's size)
    " due AS MATERIALIZED ("
    "   SELECT d.* FROM (SELECT f.pool_id FROM first f ORDER BY f.pool_id) f,"
    "          LATERAL (SELECT g.pool_id, g.grant_id, g.member, g.expires_at, g.remaining FROM credits.grants g"
    "                    WHERE g.pool_id = f.pool_id AND g.expires_at <= $1"
    "                      AND g.expired_at IS NULL AND g.voided_at IS NULL OFFSET 0) d"
    "    LIMIT $2)," CREDITS_LOCK_POOLS
    // the grants as the snapshot saw them: the latest, their pools unchanged
    " live AS MATERIALIZED ("
    "   SELECT d.* FROM due d"
    "    WHERE (SELECT count(*) FROM bumped) >= 0 AND d.pool_id NOT IN (SELECT o.pool_id FROM left_out o)),"
    " expired AS ("
    // (grant ids are unique: grants_grant_id_idx)
    "   UPDATE credits.grants g SET expired_at = g.expires_at, remaining = 0"
    "    WHERE g.grant_id = ANY (ARRAY(SELECT l.grant_id FROM live l))"
    "      AND g.pool_id = ANY (ARRAY(SELECT DISTINCT l.pool_id FROM live l)))"
    " , entries AS ("
    "   INSERT INTO credits.ledger (pool_id, at, entry_type, member, grant_id, amount, reason)"
    "   SELECT l.pool_id, l.expires_at, 'expire', l.member, l.grant_id, -l.remaining, 'grant expired'"
    "     FROM live l WHERE l.remaining > 0 ORDER BY l.expires_at, l.grant_id)" CREDITS_BATCH_RESULT,
    {TIMESTAMPTZOID, INT4OID, INT4OID}};

// renew_subscriptions: the periods of subscriptions due at $1 up to the one
// containing $1, as _issue_periods issues them, for up to $2 subscriptions
// after ($3, $4) in (pool_id, subscription_id) order, with the rollover cap
// (rollover_max) at the start of the period issued. A subscription with a
// cap and more than one period to issue (a catch-up) is left to
// _issue_periods, one by one: the cap at each period start depends on what
// the one before left.
Statement renew_batch{
    "WITH due AS MATERIALIZED ("
    "   SELECT x.pool_id, x.subscription_id FROM credits.subscriptions x"
    "    WHERE x.cancelled_at IS NULL AND (x.pool_id, x.subscription_id) > ($3, $4)"
    "      AND credits._period_at(x.anchor, x.period, x.issued_through + 1) <= $1"
    "    ORDER BY x.pool_id, x.subscription_id LIMIT $2)," CREDITS_LOCK_POOLS
    // as they are under the pool locks: a cancel or another run may have won
    " subs AS MATERIALIZED ("
    "   SELECT x.pool_id, x.subscription_id, x.plan, x.kind, x.credits_per_period, x.period, x.anchor,"
    "          x.rollover_periods, x.rollover_max, x.external_ref, x.issued_through,"
    "          credits._period_index(x.anchor, x.period, $1) AS last"
    "     FROM due d JOIN credits.subscriptions x ON x.pool_id = d.pool_id AND x.subscription_id = d.subscription_id"
    "    WHERE (SELECT count(*) FROM bumped) >= 0 AND d.pool_id NOT IN (SELECT o.pool_id FROM left_out o)"
    "      AND x.cancelled_at IS NULL),"
    // period k expires at the start of k + 1 + rollover_periods: the periods
    // before last - rollover_periods have all expired by $1
    " periods AS MATERIALIZED ("
    "   SELECT s.pool_id, s.subscription_id, k,"
    "          credits._period_at(s.anchor, s.period, k) AS start_at,"
    "          credits._period_at(s.anchor, s.period, k + 1 + s.rollover_periods) AS expires_at"
    "     FROM subs s, generate_series(greatest(s.issued_through + 1, s.last - s.rollover_periods), s.last) k),"
    " counted AS MATERIALIZED ("
    "   SELECT p.pool_id, p.subscription_id, count(*) AS n FROM periods p WHERE p.expires_at > $1"
    "    GROUP BY p.pool_id, p.subscription_id),"
    " one_by_one AS MATERIALIZED ("
    "   SELECT s.pool_id, s.subscription_id FROM subs s"
    "     JOIN counted c ON c.pool_id = s.pool_id AND c.subscription_id = s.subscription_id"
    "    WHERE s.rollover_max IS NOT NULL AND c.n > 1),"
    // the grant ids are drawn in this order (nextval after the sort), as
    // _issue_periods draws them, so that the ledger needs no join
    " to_issue AS MATERIALIZED ("
    "   SELECT nextval('credits.grant_id_seq') AS grant_id, p.pool_id, p.subscription_id, p.k, p.start_at,"
    "          p.expires_at, s.kind, s.credits_per_period, coalesce(s.external_ref, s.plan) AS external_ref,"
    "          s.plan, s.rollover_max, format('subscription %s, period %s', s.plan, p.k) AS reason"
    "     FROM periods p JOIN subs s ON s.pool_id = p.pool_id AND s.subscription_id = p.subscription_id"
    "    WHERE p.expires_at > $1 AND NOT EXISTS (SELECT FROM one_by_one o"
    "           WHERE o.pool_id = p.pool_id AND o.subscription_id = p.subscription_id)"
    "    ORDER BY p.pool_id, p.subscription_id, p.k),"
    " issued AS ("
    "   INSERT INTO credits.grants (pool_id, grant_id, kind, rank, amount, remaining, effective_at, expires_at,"
    "                               external_ref, subscription_id, period_index)"
    "   SELECT t.pool_id, t.grant_id, t.kind, credits._kind_rank(t.kind), t.credits_per_period,"
    "          t.credits_per_period, t.start_at, t.expires_at, t.external_ref, t.subscription_id, t.k"
    "     FROM to_issue t ORDER BY t.grant_id"
    "   ON CONFLICT DO NOTHING"
    "   RETURNING grant_id),"
    // the rollover cap at the start of the one period issued (as
    // _cap_rollover applies it): what remains of the earlier periods' live
    // grants beyond rollover_max expires, the oldest first
    " cap AS MATERIALIZED ("
    "   SELECT c.* FROM ("
    "     SELECT x.pool_id, x.grant_id, x.member, x.period_index, t.subscription_id, t.k, t.start_at, t.plan,"
    "            t.grant_id AS issued_id,"
    "            least(x.remaining, greatest(sum(x.remaining) OVER whole - t.rollover_max"
    "                                        - coalesce(sum(x.remaining) OVER before, 0), 0))::bigint AS take"
    "       FROM to_issue t,"
    "            LATERAL (SELECT x.* FROM credits.grants x"
    "                      WHERE x.pool_id = t.pool_id AND x.subscription_id = t.subscription_id"
    "                        AND x.period_index < t.k AND x.voided_at IS NULL AND x.expired_at IS NULL"
    "                        AND x.expires_at > t.start_at OFFSET 0) x"
    "      WHERE t.rollover_max IS NOT NULL"
    "     WINDOW whole AS (PARTITION BY t.pool_id, t.subscription_id),"
    "            before AS (PARTITION BY t.pool_id, t.subscription_id ORDER BY x.period_index"
    "                       ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)) c"
    "    WHERE c.take > 0 AND c.issued_id = ANY (ARRAY(SELECT i.grant_id FROM issued i))),"
    " capped AS ("
    "   UPDATE credits.grants g SET remaining = g.remaining - c.take FROM cap c"
    "    WHERE g.grant_id = ANY (ARRAY(SELECT c2.grant_id FROM cap c2))"
    "      AND g.pool_id = c.pool_id AND g.grant_id = c.grant_id),"
    // a period's cap entries, then its grant's
    " entries AS ("
    "   INSERT INTO credits.ledger (pool_id, at, entry_type, member, grant_id, amount, reason)"
    "   SELECT e.pool_id, e.at, e.entry_type, e.member, e.grant_id, e.amount, e.reason FROM ("
    "     SELECT c.pool_id, c.subscription_id, c.k, 0 AS ord, c.period_index, c.start_at AS at,"
    "            'expire' AS entry_type, c.member, c.grant_id, -c.take AS amount,"
    "            format('rollover cap of subscription %s, period %s', c.plan, c.k) AS reason"
    "       FROM cap c"
    "     UNION ALL"
    "     SELECT t.pool_id, t.subscription_id, t.k, 1, 0, t.start_at, 'grant', NULL::text, t.grant_id,"
    "            t.credits_per_period, t.reason"
    "       FROM to_issue t WHERE t.grant_id = ANY (ARRAY(SELECT i.grant_id FROM issued i))) e"
    "    ORDER BY e.pool_id, e.subscription_id, e.k, e.ord, e.period_index),"
    " advanced AS ("
    "   UPDATE credits.subscriptions x SET issued_through = s.last FROM subs s"
    "    WHERE x.pool_id = s.pool_id AND x.subscription_id = s.subscription_id AND s.last > s.issued_through"
    "      AND NOT EXISTS (SELECT FROM one_by_one o"
    "                       WHERE o.pool_id = s.pool_id AND o.subscription_id = s.subscription_id))"
    CREDITS_BATCH_RESULT " UNION ALL SELECT 2, o.pool_id, o.subscription_id FROM one_by_one o"
    " UNION ALL SELECT 3, d.pool_id, d.subscription_id FROM (SELECT * FROM due ORDER BY 1 DESC, 2 DESC LIMIT 1) d",
    {TIMESTAMPTZOID, INT4OID, INT8OID, INT8OID}};

Statement issue_periods{"SELECT credits._issue_periods(s, $3) FROM credits.subscriptions s"
                        " WHERE s.pool_id = $1 AND s.subscription_id = $2 AND s.cancelled_at IS NULL",
                        {INT8OID, INT8OID, TIMESTAMPTZOID}};

// expire_holds: the pools with holds past their TTL at $1, up to $2.
Statement pools_with_overdue_holds{"SELECT DISTINCT h.pool_id FROM credits.holds h"
                                   " WHERE h.status = 'pending' AND h.expires_at <= $1"
                                   " ORDER BY h.pool_id LIMIT $2",
                                   {TIMESTAMPTZOID, INT4OID}};

// What one batch statement returned.
struct StatementResult {
	int64_t rows = 0;
	std::vector<int64_t> left_out;                        // pools
	std::vector<int64_t> lapse;                           // pools with overdue holds, among them
	std::vector<std::pair<int64_t, int64_t>> one_by_one;  // (pool_id, subscription_id)
	std::optional<std::pair<int64_t, int64_t>> last;      // the last subscription due
};

StatementResult ReadResult(SpiSession &spi, uint64_t n) {
	StatementResult r;
	for (uint64_t i = 0; i < n; ++i) {
		const int64_t a = spi.Int64(i, 2), b = spi.Int64(i, 3);
		switch (spi.Int32(i, 1)) {
		case 0:
			r.rows = a;
			break;
		case 1:
			r.left_out.push_back(a);
			if (b != 0)
				r.lapse.push_back(a);
			break;
		case 2:
			r.one_by_one.emplace_back(a, b);
			break;
		case 3:
			r.last = std::make_pair(a, b);
			break;
		}
	}
	return r;
}

// Lapses the holds of pools a statement locked and left out, as the write
// path does on taking a pool whose holds are overdue (_lock_pool_id).
void LapseLeftOut(const std::vector<int64_t> &pools) {
	if (pools.empty())
		return;
	Rows rows(Access::kWrite);
	const Timestamp now = GetCurrentTransactionStartTimestamp();
	for (int64_t pool_id : pools)
		LapseHolds(rows, pool_id, now, std::nullopt);
	rows.Finish();
}

// A batch runs its statement again while it leaves pools out (their locks
// are held by then, their holds lapsed): twice in practice.
constexpr int kAttempts = 4;

// How many rows a batch did: 0 only when nothing was left to do.
int Done(int64_t rows, bool left_out) {
	if (rows > 0)
		return static_cast<int>(rows);
	return left_out ? 1 : 0;
}

int ExpireGrantsBatch(Timestamp as_of) {
	SpiSession spi(false);
	int64_t rows = 0;
	bool left_out = false;
	for (int attempt = 0; attempt < kAttempts; ++attempt) {
		Datum args[] = {TimestampTzGetDatum(as_of), Int32GetDatum(kExpireGrantsBatch),
		                Int32GetDatum(kExpireGrantsPools)};
		const StatementResult r = ReadResult(spi, spi.Run(expire_grants_batch, args, nullptr));
		LapseLeftOut(r.lapse);
		rows += r.rows;
		left_out = !r.left_out.empty();
		if (!left_out)
			break;
	}
	spi.Finish();
	return Done(rows, left_out);
}

int RenewBatch(Timestamp as_of) {
	SpiSession spi(false);
	int64_t rows = 0;
	bool left_out = false;
	for (int attempt = 0; attempt < kAttempts; ++attempt) {
		Datum args[] = {TimestampTzGetDatum(as_of), Int32GetDatum(kRenewBatch), Int64GetDatum(renew_cursor.pool_id),
		                Int64GetDatum(renew_cursor.subscription_id)};
		const StatementResult r = ReadResult(spi, spi.Run(renew_batch, args, nullptr));
		if (!r.last && !renew_cursor.AtStart()) {
			renew_cursor = RenewCursor{}; // nothing due after the cursor: once more from the start
			--attempt;
			continue;
		}
		for (const auto &[pool_id, subscription_id] : r.one_by_one) {
			Datum issue_args[] = {Int64GetDatum(pool_id), Int64GetDatum(subscription_id), TimestampTzGetDatum(as_of)};
			spi.Run(issue_periods, issue_args, nullptr);
		}
		LapseLeftOut(r.lapse);
		rows += r.rows;
		left_out = !r.left_out.empty();
		if (!left_out) {
			if (r.last)
				renew_cursor = RenewCursor{r.last->first, r.last->second};
			break;
		}
		// the pools left out are taken again from the same place
	}
	spi.Finish();
	return Done(rows, left_out);
}

int ExpireHoldsBatch(Timestamp as_of) {
	SpiSession spi(false);
	Datum args[] = {TimestampTzGetDatum(as_of), Int32GetDatum(kExpireHoldsBatch)};
	const uint64_t n = spi.Run(pools_with_overdue_holds, args, nullptr);
	std::vector<int64_t> pools;
	for (uint64_t i = 0; i < n; ++i)
		pools.push_back(spi.Int64(i, 1));
	spi.Finish();
	if (pools.empty())
		return 0;
	Rows rows(Access::kWrite);
	const Timestamp now = GetCurrentTransactionStartTimestamp();
	int lapsed = 0;
	for (int64_t pool_id : pools) { // in pool_id order
		int on_lock = 0; // those due by now, lapsed as any write lapses them
		LockPoolById(rows, pool_id, now, &on_lock);
		lapsed += on_lock + LapseHolds(rows, pool_id, as_of, std::nullopt);
	}
	rows.Finish();
	// a pool whose holds another session lapsed meanwhile counts no hold,
	// but the batch still did something
	return std::max(lapsed, 1);
}

} // namespace

void DefineMaintenanceSettings() {
	DefineCustomRealVariable("credits.maintenance_pause",
	                         "Pause of a top-level maintenance run after each batch, as a multiple of the batch's time.",
	                         "0: none. Inside a transaction block a run never pauses.", &maintenance_pause, 0.0, 0.0,
	                         100.0, PGC_USERSET, 0, nullptr, nullptr, nullptr);
	DefineCustomIntVariable("credits.maintenance_nice",
	                        "CPU priority (nice value) of a top-level maintenance run's backend.",
	                        "0: unchanged. 1 to 19 lower the priority while the run works, so that the "
	                        "application's sessions are served first.",
	                        &maintenance_nice, 0, 0, 19, PGC_USERSET, 0, nullptr, nullptr, nullptr);
}

// _maintenance_batch(job, as_of) -> how many rows one batch of the job did;
// 0 when nothing was left. SECURITY DEFINER, search_path pinned.
CREDITS_FUNCTION(credits_maintenance_batch) {
	const std::string job = PG_ARGISNULL(0) ? std::string() : TextArg(fcinfo, 0);
	if (job != "expire_holds" && job != "renew_subscriptions" && job != "expire_grants")
		throw Error("20000", "case not found", {}, "CASE statement is missing ELSE part.");
	if (PG_ARGISNULL(1))
		PG_RETURN_INT32(0); // nothing is due at an unknown time
	const Timestamp as_of = PG_GETARG_TIMESTAMPTZ(1);
	if (job == "expire_grants")
		PG_RETURN_INT32(ExpireGrantsBatch(as_of));
	if (job == "renew_subscriptions")
		PG_RETURN_INT32(RenewBatch(as_of));
	PG_RETURN_INT32(ExpireHoldsBatch(as_of));
}

// _run_maintenance(job, as_of): runs a job (record_verify runs 'verify').
CREDITS_FUNCTION(credits_run_maintenance) {
	RunMaintenance(OptionalTextArg(fcinfo, 0), AsOfArg(fcinfo, 1), Atomic(fcinfo));
	PG_RETURN_VOID();
}

CREDITS_FUNCTION(credits_expire_grants) {
	RunMaintenance("expire_grants", AsOfArg(fcinfo, 0), Atomic(fcinfo));
	PG_RETURN_VOID();
}

CREDITS_FUNCTION(credits_renew_subscriptions) {
	RunMaintenance("renew_subscriptions", AsOfArg(fcinfo, 0), Atomic(fcinfo));
	PG_RETURN_VOID();
}

CREDITS_FUNCTION(credits_expire_holds) {
	RunMaintenance("expire_holds", AsOfArg(fcinfo, 0), Atomic(fcinfo));
	PG_RETURN_VOID();
}

// maintain(): the three jobs, each as of its own start (now() of the
// transaction it starts in, as a CALL with the default would).
CREDITS_FUNCTION(credits_maintain) {
	const bool atomic = Atomic(fcinfo);
	RunMaintenance("renew_subscriptions", GetCurrentTransactionStartTimestamp(), atomic);
	RunMaintenance("expire_grants", GetCurrentTransactionStartTimestamp(), atomic);
	RunMaintenance("expire_holds", GetCurrentTransactionStartTimestamp(), atomic);
	PG_RETURN_VOID();
}

} // namespace credits::pg
