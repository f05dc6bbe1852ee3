/*-------------------------------------------------------------------------
 *
 * ar.c
 *	  Module entry point of ar, accounts receivable inside PostgreSQL.
 *
 * _PG_init defines the ar.* settings.  The library works without
 * shared_preload_libraries; only the background worker needs preloading,
 * and it is registered only while preloading is in progress.
 *
 * src/ar.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/guc.h"

#include "ar.h"
#include "compat.h"

AR_MODULE_MAGIC;

void		_PG_init(void);

void
_PG_init(void)
{
	if (IsBinaryUpgrade)
		return;

	ArCurrencyInit();

	MarkGUCPrefixReserved("ar");
}
