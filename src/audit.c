/*-------------------------------------------------------------------------
 *
 * audit.c
 *	  The row hash of ar's audit trail.
 *
 * ar.audit_row_hash is called once per audited row by the statement-level
 * capture trigger and once per row by ar.verify_audit, so it is C: a SQL
 * function with a pinned search_path is not inlined and costs a GUC save
 * and restore per call.  The hash is sha256 over
 *
 *	id|xid|at|actor|table_name|op|row_key|entity_id|first_in_xact|data
 *
 * with at as microseconds since the Unix epoch (so that neither TimeZone
 * nor DateStyle enter), an empty entity_id for NULL, t or f for the flag,
 * and data as jsonb's canonical text.
 *
 * src/audit.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "datatype/timestamp.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"
#include "utils/xid8.h"

PG_FUNCTION_INFO_V1(ar_audit_row_hash);

static void
append_text_arg(StringInfo buf, FunctionCallInfo fcinfo, int argno)
{
	text	   *t = PG_GETARG_TEXT_PP(argno);

	appendBinaryStringInfo(buf, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
	appendStringInfoChar(buf, '|');
}

Datum
ar_audit_row_hash(PG_FUNCTION_ARGS)
{
	StringInfoData buf;
	bytea	   *input;
	TimestampTz at;
	Jsonb	   *data;

	for (int i = 0; i < PG_NARGS(); i++)
		if (i != 7 && PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("argument %d of ar.audit_row_hash must not be null", i + 1)));

	at = PG_GETARG_TIMESTAMPTZ(2);
	data = PG_GETARG_JSONB_P(8);

	initStringInfo(&buf);
	appendBinaryStringInfo(&buf, "\0\0\0\0", VARHDRSZ);	/* room for the bytea header */
	appendStringInfo(&buf, INT64_FORMAT "|" UINT64_FORMAT "|" INT64_FORMAT "|",
					 PG_GETARG_INT64(0),
					 U64FromFullTransactionId(PG_GETARG_FULLTRANSACTIONID(1)),
					 (int64) (at + (int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY));
	for (int i = 3; i <= 6; i++)
		append_text_arg(&buf, fcinfo, i);
	if (!PG_ARGISNULL(7))
		appendStringInfo(&buf, "%d", PG_GETARG_INT32(7));
	appendStringInfo(&buf, "|%c|", PG_GETARG_BOOL(9) ? 't' : 'f');
	(void) JsonbToCString(&buf, &data->root, VARSIZE(data));

	input = (bytea *) buf.data;
	SET_VARSIZE(input, buf.len);
	PG_RETURN_DATUM(DirectFunctionCall1(sha256_bytea, PointerGetDatum(input)));
}
