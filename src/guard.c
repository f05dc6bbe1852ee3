/*-------------------------------------------------------------------------
 *
 * guard.c
 *	  Internal writes: the bookkeeping that only ar's own functions may do.
 *
 * ar's functions run with the caller's rights, so whoever may call
 * ar.allocate may also write ar.allocation.  Some writes must still come
 * only from ar's functions, or the books stop adding up: allocations, the
 * VAT breakdown, the series counters, the status and open amount of issued
 * documents, the status and unallocated amount of payments, issuing a
 * draft.  The triggers that guard those tables ask ar.internal(), which is
 * true only while one of ar's functions that write them runs.
 *
 * Such a function is declared in SQL as a C function with the symbol
 * ar_guarded; its body is the function of the same schema and arguments
 * whose name has a leading underscore (ar.credit runs ar._credit).  The
 * wrapper marks the backend as writing internally, calls the body and
 * clears the mark again, also on error.  Set-returning bodies return through
 * the caller's ReturnSetInfo.  Calling the body directly does not set the
 * mark, so its guarded writes are refused; and only a superuser can declare
 * another C function with this symbol.
 *
 * src/guard.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_proc.h"
#include "fmgr.h"
#include "nodes/value.h"
#include "parser/parse_func.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "ar.h"

/* how many of ar's internal writers are running in this backend */
static int	internal_depth = 0;

/* the outermost guarded function running (ar.credit while it issues) */
static Oid	outer_writer = InvalidOid;

PG_FUNCTION_INFO_V1(ar_internal);
PG_FUNCTION_INFO_V1(ar_internal_writer);
PG_FUNCTION_INFO_V1(ar_guarded);

bool
ArInternal(void)
{
	return internal_depth > 0;
}

void
ArInternalEnter(void)
{
	internal_depth++;
}

void
ArInternalLeave(void)
{
	Assert(internal_depth > 0);
	internal_depth--;
}

/* ar.internal(): is one of ar's internal writers running? */
Datum
ar_internal(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(ArInternal());
}

/*
 * ar.internal_writer(): the name of the outermost of ar's guarded functions
 * running, NULL when none is.  ar.issue asks it so that credit notes are
 * issued only by ar.credit, which checks and settles them.
 */
Datum
ar_internal_writer(PG_FUNCTION_ARGS)
{
	char	   *name;

	if (internal_depth == 0 || !OidIsValid(outer_writer))
		PG_RETURN_NULL();
	name = get_func_name(outer_writer);
	if (name == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(name));
}

/*
 * The body of a guarded function: schema._name with the same argument
 * types, looked up once per call site.
 */
static FmgrInfo *
guarded_body(FunctionCallInfo fcinfo)
{
	FmgrInfo   *body = fcinfo->flinfo->fn_extra;
	HeapTuple	tup;
	Form_pg_proc proc;
	List	   *name;
	Oid			oid;

	if (body != NULL)
		return body;
	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(fcinfo->flinfo->fn_oid));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for function %u", fcinfo->flinfo->fn_oid);
	proc = (Form_pg_proc) GETSTRUCT(tup);
	name = list_make2(makeString(get_namespace_name(proc->pronamespace)),
					  makeString(psprintf("_%s", NameStr(proc->proname))));
	oid = LookupFuncName(name, proc->pronargs, proc->proargtypes.values, false);
	ReleaseSysCache(tup);

	body = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(FmgrInfo));
	fmgr_info_cxt(oid, body, fcinfo->flinfo->fn_mcxt);
	body->fn_expr = fcinfo->flinfo->fn_expr;
	fcinfo->flinfo->fn_extra = body;
	return body;
}

/*
 * Rethrow the error being handled, explained where the raw one would
 * leave a user guessing: two invoices of one entity with the same payment
 * reference (their numbers have the same digits), or two documents with
 * the same number (two series with overlapping patterns), break a unique
 * index.  These are the unique indexes whose violation is explained, with
 * what to say.
 */
static const struct
{
	const char *constraint;
	const char *message;
	const char *hint;
}			explained[] =
{
	{"invoice_reference_unique",
		"two invoices of one entity would get the same payment reference",
		"References are built from the digits of the invoice number, so series such as A{N} and "
		"B{N} give the same ones: give each invoice series of the entity its own "
	"ar.series.reference_prefix."},
	{"invoice_number_unique",
		"two documents of one entity would get the same number",
		"Two series of the entity have patterns that give the same numbers (such as A{N} twice, "
		"or a yearly and a never-resetting series with the same prefix): give each series its own "
	"prefix in ar.series.pattern."},
};

static void
rethrow_explained(MemoryContext cxt)
{
	ErrorData  *edata;

	MemoryContextSwitchTo(cxt);
	edata = CopyErrorData();
	if (edata->sqlerrcode == ERRCODE_UNIQUE_VIOLATION && edata->constraint_name != NULL)
	{
		for (size_t i = 0; i < lengthof(explained); i++)
		{
			if (strcmp(edata->constraint_name, explained[i].constraint) != 0)
				continue;
			FlushErrorState();
			edata->message = pstrdup(explained[i].message);
			edata->hint = pstrdup(explained[i].hint);
			ReThrowError(edata);
		}
	}
	FreeErrorData(edata);
	PG_RE_THROW();
}

Datum
ar_guarded(PG_FUNCTION_ARGS)
{
	FmgrInfo   *body = guarded_body(fcinfo);
	LOCAL_FCINFO(inner, FUNC_MAX_ARGS);
	volatile Datum result = (Datum) 0;
	MemoryContext oldcxt = CurrentMemoryContext;
	Oid			saved_writer = outer_writer;

	InitFunctionCallInfoData(*inner, body, fcinfo->nargs, fcinfo->fncollation,
							 fcinfo->context, fcinfo->resultinfo);
	for (int i = 0; i < fcinfo->nargs; i++)
	{
		if (fcinfo->args[i].isnull && body->fn_strict)
			PG_RETURN_NULL();
		inner->args[i] = fcinfo->args[i];
	}

	if (internal_depth == 0)
		outer_writer = fcinfo->flinfo->fn_oid;
	ArInternalEnter();
	PG_TRY();
	{
		result = FunctionCallInvoke(inner);
	}
	PG_CATCH();
	{
		ArInternalLeave();
		outer_writer = saved_writer;
		rethrow_explained(oldcxt);
	}
	PG_END_TRY();
	ArInternalLeave();
	outer_writer = saved_writer;

	fcinfo->isnull = inner->isnull;
	return result;
}
