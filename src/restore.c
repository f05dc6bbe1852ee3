/*-------------------------------------------------------------------------
 *
 * restore.c
 *	  Tells ar's triggers that rows are being restored by pg_restore or psql.
 *
 * CREATE EXTENSION creates ar's tables together with their triggers, and
 * only then does a restore load the dumped rows with COPY.  The triggers
 * that guard issued documents (draft-only inserts, immutability, payment
 * bookkeeping, the audit capture) would refuse or rewrite those rows.  They
 * step aside when ar.restoring() is true, which needs all three of:
 *
 *	- the top-level command is COPY (pg_dump writes table data as COPY);
 *	- row_security is off, which every pg_dump script and pg_restore set;
 *	- the current user is a superuser, who could disable the triggers anyway.
 *
 * src/restore.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "tcop/pquery.h"
#include "utils/portal.h"
#include "utils/rls.h"

PG_FUNCTION_INFO_V1(ar_restoring);

Datum
ar_restoring(PG_FUNCTION_ARGS)
{
	bool		copying = ActivePortal != NULL &&
		ActivePortal->commandTag == CMDTAG_COPY;

	PG_RETURN_BOOL(copying && !row_security && superuser());
}
