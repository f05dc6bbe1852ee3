/*-------------------------------------------------------------------------
 *
 * issue.c
 *	  The reads and writes of ar.issue that must see the latest commits.
 *
 * ar.issue (ar._issue in ar--1.0.sql) is PL/pgSQL and runs with the
 * caller's snapshots.  Two of its steps must not: the counters it moves and
 * the open invoices its credit check counts.  Under READ COMMITTED each
 * statement's snapshot already sees what the issuers it waited for have
 * committed, but a REPEATABLE READ or SERIALIZABLE transaction keeps the
 * snapshot of its first statement, and would fail on the counter row
 * (40001) or count a customer's exposure without the invoice another issuer
 * just committed.  These functions take the lock they need first, then read
 * with a snapshot taken under it.
 *
 * src/issue.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "common/int.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "ar.h"

/*
 * ar._take_numbers(series_ids integer[], periods integer[], counts bigint[],
 *					last_dates date[]) → SETOF ar.issue_number
 *
 * Gives out counts[i] numbers of series series_ids[i] in period periods[i]
 * (each pair once) and returns, per pair, the last number given out before
 * (the base: this call's numbers are base + 1 .. base + count) and the date
 * of that last number.  The counters are moved to base + count and
 * last_dates[i].  Each row also carries the series' pattern as read under
 * the lock, which the numbers are made with: a pattern changed while the
 * issuer waited (allowed before a series' first number) is the one used.
 * A changed reset, which moves the documents to another period, is a
 * serialization failure.
 *
 * Issuers take turns per series on an ExclusiveLock held to the end of the
 * transaction (a lock on the object (ar.series, series id), shown in
 * pg_locks as locktype object), taken in series order.  Under that lock the
 * counters are read with SnapshotSelf and written with a snapshot taken
 * after it: every earlier issuer into the series has committed or rolled
 * back by then, so the counter read is the real last number at any
 * isolation level.  A REPEATABLE READ or SERIALIZABLE issuer numbers after
 * the commits its own snapshot cannot see instead of failing on the
 * counter row, and the read takes no predicate lock.  A rollback gives the
 * numbers back, as the counter is an ordinary row written in the
 * transaction.
 */
PG_FUNCTION_INFO_V1(ar_take_numbers);
PG_FUNCTION_INFO_V1(ar_open_exposure);

static SPIPlanPtr take_numbers_plan = NULL;
static SPIPlanPtr exposure_plan = NULL;

typedef struct NumberReq
{
	int32		series_id;
	int32		period;
	int64		count;
	DateADT		last_date;
	int64		base;
	bool		had_date;
	DateADT		prev_date;
	Datum		pattern;		/* the series' pattern, read under its lock */
} NumberReq;

static int
number_req_cmp(const void *a, const void *b)
{
	const NumberReq *x = a;
	const NumberReq *y = b;

	if (x->series_id != y->series_id)
		return x->series_id < y->series_id ? -1 : 1;
	if (x->period != y->period)
		return x->period < y->period ? -1 : 1;
	return 0;
}

/* the elements of a one-dimensional array without NULLs */
static Datum *
array_elems(ArrayType *a, Oid type, int *n, const char *what)
{
	Datum	   *elems;
	bool	   *nulls;
	int16		typlen;
	bool		typbyval;
	char		typalign;

	get_typlenbyvalalign(type, &typlen, &typbyval, &typalign);
	deconstruct_array(a, type, typlen, typbyval, typalign, &elems, &nulls, n);
	for (int i = 0; i < *n; i++)
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("ar._take_numbers: %s has a NULL", what)));
	return elems;
}

Datum
ar_take_numbers(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Datum	   *series;
	Datum	   *periods;
	Datum	   *counts;
	Datum	   *dates;
	int			n,
				n2,
				n3,
				n4;
	NumberReq  *req;
	Oid			nsp;
	Oid			series_rel;
	Oid			counter_rel;
	Oid			counter_pkey;
	Oid			series_pkey;
	Relation	rel;
	AttrNumber	att_id,
				att_code,
				att_pattern,
				att_reset;
	AttrNumber	att_series,
				att_period,
				att_value,
				att_date;
	Oid			types[4] = {INT4ARRAYOID, INT4ARRAYOID, INT8ARRAYOID, DATEARRAYOID};
	Datum		args[4];
	Datum	   *out_values;
	Datum	   *out_dates;
	int			rc;

	/* the counters are ar.issue's to write; the triggers refuse anyone else */
	if (!ArInternal())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("ar._take_numbers() is called by ar.issue() only")));
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("ar._take_numbers: an argument is NULL")));
	InitMaterializedSRF(fcinfo, 0);
	series = array_elems(PG_GETARG_ARRAYTYPE_P(0), INT4OID, &n, "series_ids");
	periods = array_elems(PG_GETARG_ARRAYTYPE_P(1), INT4OID, &n2, "periods");
	counts = array_elems(PG_GETARG_ARRAYTYPE_P(2), INT8OID, &n3, "counts");
	dates = array_elems(PG_GETARG_ARRAYTYPE_P(3), DATEOID, &n4, "last_dates");
	if (n != n2 || n != n3 || n != n4)
		elog(ERROR, "ar._take_numbers: the arrays differ in length");
	if (n == 0)
		return (Datum) 0;		/* the empty set */

	req = palloc(sizeof(NumberReq) * n);
	for (int i = 0; i < n; i++)
	{
		req[i].series_id = DatumGetInt32(series[i]);
		req[i].period = DatumGetInt32(periods[i]);
		req[i].count = DatumGetInt64(counts[i]);
		req[i].last_date = DatumGetDateADT(dates[i]);
		if (req[i].count <= 0)
			elog(ERROR, "ar._take_numbers: count " INT64_FORMAT " is not positive", req[i].count);
	}
	qsort(req, n, sizeof(NumberReq), number_req_cmp);
	for (int i = 1; i < n; i++)
		if (number_req_cmp(&req[i - 1], &req[i]) == 0)
			elog(ERROR, "ar._take_numbers: series %d period %d is listed twice",
				 req[i].series_id, req[i].period);

	nsp = get_namespace_oid("ar", false);
	series_rel = ArRelid(nsp, "series");
	counter_rel = ArRelid(nsp, "series_counter");
	counter_pkey = ArRelid(nsp, "series_counter_pkey");
	series_pkey = ArRelid(nsp, "series_pkey");

	/* one series at a time, in series order: issuers cannot deadlock here */
	for (int i = 0; i < n; i++)
		if (i == 0 || req[i].series_id != req[i - 1].series_id)
			LockDatabaseObject(series_rel, (Oid) req[i].series_id, 0, ExclusiveLock);

	/*
	 * The series as its last change left them.  An issuer reads the pattern
	 * and reset before it waits here; a change of them, allowed while the
	 * series has given out no number, takes this lock too (ar._series_used)
	 * and may have committed meanwhile.  The numbers are made with the
	 * pattern read now; a changed reset puts the documents in another period
	 * than the one asked for, which only a new start can mend.
	 */
	rel = table_open(series_rel, AccessShareLock);
	att_id = ArAttnum(series_rel, "id");
	att_code = ArAttnum(series_rel, "code");
	att_pattern = ArAttnum(series_rel, "pattern");
	att_reset = ArAttnum(series_rel, "reset");
	for (int i = 0; i < n; i++)
	{
		ScanKeyData key;
		SysScanDesc scan;
		HeapTuple	tup;
		bool		isnull;
		char	   *reset;
		int			year,
					month,
					day;

		ScanKeyInit(&key, att_id, BTEqualStrategyNumber, F_INT4EQ, Int32GetDatum(req[i].series_id));
		scan = systable_beginscan(rel, series_pkey, true, SnapshotSelf, 1, &key);
		if (!HeapTupleIsValid(tup = systable_getnext(scan)))
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("could not serialize access: series %d was deleted while this transaction waited for it",
							req[i].series_id)));
		req[i].pattern = heap_getattr(tup, att_pattern, RelationGetDescr(rel), &isnull);
		req[i].pattern = PointerGetDatum(PG_DETOAST_DATUM_COPY(req[i].pattern));
		reset = TextDatumGetCString(heap_getattr(tup, att_reset, RelationGetDescr(rel), &isnull));
		j2date(req[i].last_date + POSTGRES_EPOCH_JDATE, &year, &month, &day);
		if (req[i].period != (strcmp(reset, "yearly") == 0 ? year : 0))
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("could not serialize access: series %s changed its reset to %s while this transaction waited for it",
							TextDatumGetCString(heap_getattr(tup, att_code, RelationGetDescr(rel), &isnull)),
							reset),
					 errhint("Retry the transaction.")));
		systable_endscan(scan);
	}
	table_close(rel, AccessShareLock);

	/* the counters as the last issuer left them */
	rel = table_open(counter_rel, AccessShareLock);
	att_series = ArAttnum(counter_rel, "series_id");
	att_period = ArAttnum(counter_rel, "period");
	att_value = ArAttnum(counter_rel, "last_value");
	att_date = ArAttnum(counter_rel, "last_date");
	out_values = palloc(sizeof(Datum) * n);
	out_dates = palloc(sizeof(Datum) * n);
	for (int i = 0; i < n; i++)
	{
		ScanKeyData key[2];
		SysScanDesc scan;
		HeapTuple	tup;
		int64		top;

		ScanKeyInit(&key[0], att_series, BTEqualStrategyNumber, F_INT4EQ, Int32GetDatum(req[i].series_id));
		ScanKeyInit(&key[1], att_period, BTEqualStrategyNumber, F_INT4EQ, Int32GetDatum(req[i].period));
		scan = systable_beginscan(rel, counter_pkey, true, SnapshotSelf, 2, key);
		req[i].base = 0;
		req[i].had_date = false;
		if (HeapTupleIsValid(tup = systable_getnext(scan)))
		{
			bool		isnull;
			Datum		d;

			req[i].base = DatumGetInt64(heap_getattr(tup, att_value, RelationGetDescr(rel), &isnull));
			d = heap_getattr(tup, att_date, RelationGetDescr(rel), &isnull);
			req[i].had_date = !isnull;
			req[i].prev_date = isnull ? 0 : DatumGetDateADT(d);
		}
		systable_endscan(scan);
		if (pg_add_s64_overflow(req[i].base, req[i].count, &top))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("series %d period %d has no numbers left after " INT64_FORMAT,
							req[i].series_id, req[i].period, req[i].base)));
		out_values[i] = Int64GetDatum(top);
		out_dates[i] = DateADTGetDatum(req[i].last_date);
		series[i] = Int32GetDatum(req[i].series_id);
		periods[i] = Int32GetDatum(req[i].period);
	}
	table_close(rel, AccessShareLock);

	/* move them, with a snapshot that sees the last issuer's commit */
	args[0] = PointerGetDatum(construct_array(series, n, INT4OID, 4, true, TYPALIGN_INT));
	args[1] = PointerGetDatum(construct_array(periods, n, INT4OID, 4, true, TYPALIGN_INT));
	args[2] = PointerGetDatum(construct_array(out_values, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	args[3] = PointerGetDatum(construct_array(out_dates, n, DATEOID, 4, true, TYPALIGN_INT));
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	rc = ArExecuteLatest(ArKeepPlan(&take_numbers_plan,
										 "INSERT INTO ar.series_counter AS sc (series_id, period, last_value, last_date)"
										 " SELECT * FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2),"
										 " pg_catalog.unnest($3), pg_catalog.unnest($4))"
										 " ON CONFLICT (series_id, period) DO UPDATE"
										 " SET last_value = excluded.last_value, last_date = excluded.last_date",
										 4, types),
						 args, false);
	if (rc != SPI_OK_INSERT || SPI_processed != (uint64) n)
		elog(ERROR, "ar._take_numbers: moving %d counters failed: %s", n, SPI_result_code_string(rc));
	SPI_finish();

	for (int i = 0; i < n; i++)
	{
		Datum		values[5];
		bool		nulls[5] = {false, false, false, !req[i].had_date, false};

		values[0] = Int32GetDatum(req[i].series_id);
		values[1] = Int32GetDatum(req[i].period);
		values[2] = Int64GetDatum(req[i].base);
		values[3] = DateADTGetDatum(req[i].prev_date);
		values[4] = req[i].pattern;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * Runs plan (one bigint[] parameter, from the function's first argument)
 * with a snapshot taken now, and returns its rows, which have the columns
 * of the function's result (at most LATEST_MAX_COLUMNS), as the function's
 * result set: the empty set for a NULL argument.
 */
#define LATEST_MAX_COLUMNS 4

static Datum
latest_rows(FunctionCallInfo fcinfo, SPIPlanPtr *plan, const char *sql, const char *what)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Oid			types[1] = {INT8ARRAYOID};
	Datum		args[1];
	int			rc;
	int			natts;

	InitMaterializedSRF(fcinfo, 0);
	if (PG_ARGISNULL(0))
		return (Datum) 0;		/* the empty set */
	args[0] = PG_GETARG_DATUM(0);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	rc = ArExecuteLatest(ArKeepPlan(plan, sql, 1, types), args, true);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "%s: the query failed: %s", what, SPI_result_code_string(rc));
	natts = rsinfo->setDesc->natts;
	if (natts > LATEST_MAX_COLUMNS || SPI_tuptable->tupdesc->natts != natts)
		elog(ERROR, "%s: the query gives %d columns, not %d", what, SPI_tuptable->tupdesc->natts, natts);
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		Datum		values[LATEST_MAX_COLUMNS];
		bool		nulls[LATEST_MAX_COLUMNS];

		for (int c = 0; c < natts; c++)
			values[c] = SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, c + 1, &nulls[c]);
		/* the tuplestore copies the values out of SPI's memory */
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	SPI_finish();
	return (Datum) 0;
}

/*
 * ar._open_exposure(customer_ids bigint[]) → TABLE(customer_id bigint,
 * currency text, amount numeric): what the customers owe on issued
 * invoices, per customer and currency, read with a snapshot taken now.  It
 * is summed in numeric: what a customer owes may pass the largest amount,
 * and must then fail the credit limit, not overflow.  The credit check
 * calls it once it holds the customers' locks, so the invoices of every
 * issuer it waited for are counted at any isolation level.  Row-level
 * security applies as to any query of the caller.
 */
Datum
ar_open_exposure(PG_FUNCTION_ARGS)
{
	return latest_rows(fcinfo, &exposure_plan,
					   "SELECT o.customer_id, o.currency, pg_catalog.sum(ar.value_of(o.open_amount))"
					   "  FROM ar.invoice o"
					   " WHERE o.customer_id OPERATOR(pg_catalog.=) ANY ($1)"
					   "   AND o.status IN ('issued', 'partially_paid')"
					   "   AND o.kind OPERATOR(pg_catalog.=) 'invoice'"
					   " GROUP BY o.customer_id, o.currency",
					   "ar._open_exposure");
}

/*
 * ar._lines_current(kind text, ids bigint[]) → void: under REPEATABLE READ
 * and SERIALIZABLE, fails with a serialization failure (40001) when the
 * lines of invoices ids (kind 'invoice') or of sales orders ids (kind
 * 'sales_order') are not the ones a snapshot taken now shows.
 *
 * ar.issue and ar.invoice_order lock the document FOR UPDATE and then read
 * its lines; a writer of lines holds the document FOR SHARE until it
 * commits.  Under READ COMMITTED the next statement's snapshot sees what
 * that writer committed.  A transaction snapshot does not, and the lock
 * alone raises no serialization failure, since the document row itself was
 * not changed: the issuer would total lines that are no longer the
 * document's.  The lines are compared as a count and a sum of hashes of
 * their row versions (ctid and xmin), per document, once with the
 * transaction's snapshot and once with one taken now.
 */
PG_FUNCTION_INFO_V1(ar_lines_current);

static SPIPlanPtr invoice_lines_plan = NULL;
static SPIPlanPtr order_lines_plan = NULL;

/* a document's lines as one text: their count and the sum of their row versions' hashes */
#define LINES_SQL(table, key) \
	"SELECT l." key ", count(*)::text || '/' ||" \
	"       sum(pg_catalog.hashtextextended(l.ctid::text || '/' || l.xmin::text, 0))::text" \
	"  FROM " table " l WHERE l." key " OPERATOR(pg_catalog.=) ANY ($1)" \
	" GROUP BY l." key " ORDER BY l." key

typedef struct LinesState
{
	int64		doc;
	char	   *state;
} LinesState;

/* the (document, state) rows of SPI_tuptable, copied into the current context */
static LinesState *
lines_state(uint64 *n)
{
	LinesState *out = palloc(sizeof(LinesState) * Max(SPI_processed, 1));
	bool		isnull;

	*n = SPI_processed;
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		out[r].doc = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1, &isnull));
		out[r].state = SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 2);
	}
	return out;
}

Datum
ar_lines_current(PG_FUNCTION_ARGS)
{
	char	   *kind;
	bool		invoice;
	Oid			types[1] = {INT8ARRAYOID};
	Datum		args[1];
	SPIPlanPtr	plan;
	LinesState *seen;
	LinesState *now;
	uint64		nseen,
				nnow;
	MemoryContext cxt = CurrentMemoryContext;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("ar._lines_current: an argument is NULL")));
	if (!IsolationUsesXactSnapshot())
		PG_RETURN_VOID();		/* each statement sees the latest commits */
	kind = text_to_cstring(PG_GETARG_TEXT_PP(0));
	if (strcmp(kind, "invoice") == 0)
		invoice = true;
	else if (strcmp(kind, "sales_order") == 0)
		invoice = false;
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("ar._lines_current: unknown kind \"%s\"", kind)));
	args[0] = PG_GETARG_DATUM(1);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	plan = invoice
		? ArKeepPlan(&invoice_lines_plan, LINES_SQL("ar.invoice_line", "invoice_id"), 1, types)
		: ArKeepPlan(&order_lines_plan, LINES_SQL("ar.sales_order_line", "order_id"), 1, types);
	if (SPI_execute_plan(plan, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "ar._lines_current: reading the lines failed");
	{
		/* kept past the next query, which frees this one's result */
		MemoryContext spi = MemoryContextSwitchTo(cxt);

		seen = lines_state(&nseen);
		MemoryContextSwitchTo(spi);
	}
	if (ArExecuteLatest(plan, args, true) != SPI_OK_SELECT)
		elog(ERROR, "ar._lines_current: reading the lines failed");
	now = lines_state(&nnow);

	/* both in document order: the first place where they part names it */
	for (uint64 i = 0; i < Max(nseen, nnow); i++)
	{
		int64		changed;

		if (i < nseen && i < nnow && seen[i].doc == now[i].doc && strcmp(seen[i].state, now[i].state) == 0)
			continue;
		changed = i >= nnow || (i < nseen && seen[i].doc < now[i].doc) ? seen[i].doc : now[i].doc;
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("could not serialize access: the lines of %s " INT64_FORMAT " changed after this transaction began",
						invoice ? "invoice" : "sales order", changed),
				 errdetail("Another transaction wrote them and committed while this one waited for the %s.",
						   invoice ? "invoice" : "order"),
				 errhint("Retry the transaction.")));
	}
	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * ar._series_used(series_id integer) → boolean: has the series given out a
 * number?  Takes the issuers' lock on the series first (as
 * ar._take_numbers, to the end of the transaction), so that an issuer that
 * has taken a number and not committed yet is waited for, then reads with a
 * snapshot taken under the lock.  The check of a change to a series'
 * pattern or reset asks it.
 */
PG_FUNCTION_INFO_V1(ar_series_used);

static SPIPlanPtr series_used_plan = NULL;

Datum
ar_series_used(PG_FUNCTION_ARGS)
{
	Oid			types[1] = {INT4OID};
	Datum		args[1];
	bool		used;
	bool		isnull;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	args[0] = PG_GETARG_DATUM(0);
	LockDatabaseObject(ArRelid(get_namespace_oid("ar", false), "series"),
					   (Oid) DatumGetInt32(args[0]), 0, ExclusiveLock);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (ArExecuteLatest(ArKeepPlan(&series_used_plan,
								   "SELECT EXISTS (SELECT 1 FROM ar.series_counter sc"
								   "                WHERE sc.series_id OPERATOR(pg_catalog.=) $1)"
								   "    OR EXISTS (SELECT 1 FROM ar.invoice i"
								   "                WHERE i.series_id OPERATOR(pg_catalog.=) $1 AND i.number IS NOT NULL)",
								   1, types),
						args, true) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "ar._series_used: the query failed");
	used = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_finish();
	PG_RETURN_BOOL(used);
}
