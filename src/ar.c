/*-------------------------------------------------------------------------
 *
 * ar.c
 *	  Module entry point of ar, accounts receivable inside PostgreSQL.
 *
 * _PG_init defines the ar.* settings.  The library works without
 * shared_preload_libraries; only the background worker (src/worker.c)
 * needs preloading, and it is registered only while preloading is in
 * progress.
 *
 * src/ar.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/attnum.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"

#include "ar.h"
#include "compat.h"

AR_MODULE_MAGIC;

void		_PG_init(void);

/* ar.credit_check: read by ar.issue through current_setting() */
static bool ar_credit_check = true;

void
_PG_init(void)
{
	if (IsBinaryUpgrade)
		return;

	ArCurrencyInit();
	ArMatchInit();
	ArWorkerInit();

	DefineCustomBoolVariable("ar.credit_check",
							 "Refuse to issue invoices past a customer's credit limit or hold.",
							 "Set to off (for example SET LOCAL) to override the check; ar_admin members and superusers may.",
							 &ar_credit_check,
							 true,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);

	MarkGUCPrefixReserved("ar");
}

/*
 * The SPI plan kept in *cache, prepared on first use and kept for the life
 * of the backend (the statements ar runs through SPI are fixed, and their
 * values always go as parameters).
 */
SPIPlanPtr
ArKeepPlan(SPIPlanPtr *cache, const char *sql, int nargs, Oid *types)
{
	if (*cache == NULL)
	{
		SPIPlanPtr	plan = SPI_prepare(sql, nargs, types);

		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed for \"%s\": %s", sql,
				 SPI_result_code_string(SPI_result));
		if (SPI_keepplan(plan) != 0)
			elog(ERROR, "SPI_keepplan failed for \"%s\"", sql);
		*cache = plan;
	}
	return *cache;
}

/*
 * Run a kept plan (SPI connected) with a snapshot taken now rather than the
 * transaction's: what the caller waited for under a lock it now holds is
 * committed and visible, at any isolation level.
 */
int
ArExecuteLatest(SPIPlanPtr plan, Datum *args, bool read_only)
{
	Snapshot	snap = RegisterSnapshot(GetLatestSnapshot());
	int			rc = SPI_execute_snapshot(plan, args, NULL, snap, InvalidSnapshot, read_only, true, 0);

	UnregisterSnapshot(snap);
	return rc;
}

/* the relation ar.<name> (namespace nsp, the ar schema), which must exist */
Oid
ArRelid(Oid nsp, const char *name)
{
	Oid			relid = get_relname_relid(name, nsp);

	if (!OidIsValid(relid))
		elog(ERROR, "ar is missing its relation ar.%s", name);
	return relid;
}

/* column name of relation relid, which must exist */
AttrNumber
ArAttnum(Oid relid, const char *name)
{
	AttrNumber	attnum = get_attnum(relid, name);

	if (attnum == InvalidAttrNumber)
		elog(ERROR, "ar is missing column %s of %s", name, get_rel_name(relid));
	return attnum;
}
