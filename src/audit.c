/*-------------------------------------------------------------------------
 *
 * audit.c
 *	  ar's audit trail: the capture trigger and the row hash.
 *
 * ar.audit_capture is an AFTER ... FOR EACH STATEMENT trigger over the
 * statement's transition tables.  It writes one ar.audit row per changed
 * row: for an INSERT the new row and for a DELETE the old row, each as
 * to_jsonb gives it; for an UPDATE the columns whose value changed, with
 * their new values (the earlier rows of the trail hold the old ones).  The
 * rows go in with one INSERT over unnest() per chunk of CAPTURE_CHUNK rows,
 * so that a statement that changes a million rows costs a few hundred
 * statements, not a million.
 *
 * ar.audit_row_hash is the row hash, also used by ar.verify_audit.  It is
 * sha256 over
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

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/sysattr.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/sequence.h"
#include "commands/trigger.h"
#include "common/cryptohash.h"
#include "common/sha2.h"
#include "common/hashfn.h"
#include "datatype/timestamp.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/bitmapset.h"
#include "nodes/makefuncs.h"
#include "storage/lmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"
#include "utils/xid8.h"

#include "ar.h"

PG_FUNCTION_INFO_V1(ar_audit_row_hash);
PG_FUNCTION_INFO_V1(ar_audit_fold);
PG_FUNCTION_INFO_V1(ar_audit_capture);
PG_FUNCTION_INFO_V1(ar_audit_capturing);
PG_FUNCTION_INFO_V1(ar_audit_seal);

/* set while flush_chunk inserts audit rows: the guard of ar.audit lets those in */
static bool capturing = false;

/* rows per INSERT into ar.audit */
#define CAPTURE_CHUNK 4096

/*
 * What hashes audit rows: one sha256 context and one text buffer, set up
 * once per statement and reused for each of its rows.
 */
typedef struct AuditHasher
{
	pg_cryptohash_ctx *ctx;
	StringInfoData buf;
} AuditHasher;

static void
hasher_init(AuditHasher *h)
{
	h->ctx = pg_cryptohash_create(PG_SHA256);
	if (h->ctx == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	initStringInfo(&h->buf);
}

static void
hasher_free(AuditHasher *h)
{
	pg_cryptohash_free(h->ctx);
	pfree(h->buf.data);
}

/*
 * The hash of one audit row.  actor, table_name, op and row_key are given
 * with their lengths (text arguments are not NUL-terminated).
 */
static bytea *
audit_hash(AuditHasher *h, int64 id, FullTransactionId xid, TimestampTz at,
		   const char *const *texts, const int *lens,
		   bool entity_null, int32 entity_id, bool first, Jsonb *data)
{
	StringInfo	buf = &h->buf;
	bytea	   *result;

	resetStringInfo(buf);
	appendStringInfo(buf, INT64_FORMAT "|" UINT64_FORMAT "|" INT64_FORMAT "|",
					 id, U64FromFullTransactionId(xid),
					 (int64) (at + (int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY));
	/* each text with its length first: no field can be shifted into another */
	for (int i = 0; i < 4; i++)
	{
		appendStringInfo(buf, "%d:", lens[i]);
		appendBinaryStringInfo(buf, texts[i], lens[i]);
		appendStringInfoChar(buf, '|');
	}
	if (!entity_null)
		appendStringInfo(buf, "%d", entity_id);
	appendStringInfo(buf, "|%c|", first ? 't' : 'f');
	(void) JsonbToCString(buf, &data->root, VARSIZE(data));

	result = palloc(VARHDRSZ + PG_SHA256_DIGEST_LENGTH);
	SET_VARSIZE(result, VARHDRSZ + PG_SHA256_DIGEST_LENGTH);
	if (pg_cryptohash_init(h->ctx) < 0 ||
		pg_cryptohash_update(h->ctx, (const uint8 *) buf->data, buf->len) < 0 ||
		pg_cryptohash_final(h->ctx, (uint8 *) VARDATA(result), PG_SHA256_DIGEST_LENGTH) < 0)
		elog(ERROR, "could not compute the sha256 of audit row " INT64_FORMAT ": %s",
			 id, pg_cryptohash_error(h->ctx));
	return result;
}

Datum
ar_audit_row_hash(PG_FUNCTION_ARGS)
{
	const char *texts[4];
	int			lens[4];
	AuditHasher h;
	bytea	   *hash;

	for (int i = 0; i < PG_NARGS(); i++)
		if (i != 7 && PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("argument %d of ar.audit_row_hash must not be null", i + 1)));
	for (int i = 0; i < 4; i++)
	{
		text	   *t = PG_GETARG_TEXT_PP(3 + i);

		texts[i] = VARDATA_ANY(t);
		lens[i] = VARSIZE_ANY_EXHDR(t);
	}
	hasher_init(&h);
	hash = audit_hash(&h, PG_GETARG_INT64(0), PG_GETARG_FULLTRANSACTIONID(1),
					  PG_GETARG_TIMESTAMPTZ(2), texts, lens,
					  PG_ARGISNULL(7), PG_ARGISNULL(7) ? 0 : PG_GETARG_INT32(7),
					  PG_GETARG_BOOL(9), PG_GETARG_JSONB_P(8));
	hasher_free(&h);
	PG_RETURN_BYTEA_P(hash);
}

/*
 * ar.audit_fold(state jsonb, op text, data jsonb) → jsonb: the transition
 * function of the aggregate ar.audit_state, which replays a row's audit
 * rows in id order into the row as the trail says it is now.  An INSERT
 * starts the row over with its whole row, an UPDATE lays its changed
 * columns over it, a DELETE leaves no row (NULL).  An UPDATE with no row
 * before it gives only the columns it changed.
 */
Datum
ar_audit_fold(PG_FUNCTION_ARGS)
{
	text	   *op;
	const char *name;
	int			len;

	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("ar.audit_fold needs an op and data, got %s",
						PG_ARGISNULL(1) ? "a null op" : "null data")));
	op = PG_GETARG_TEXT_PP(1);
	name = VARDATA_ANY(op);
	len = VARSIZE_ANY_EXHDR(op);
	if (len == 6 && memcmp(name, "INSERT", 6) == 0)
		PG_RETURN_DATUM(PG_GETARG_DATUM(2));
	if (len == 6 && memcmp(name, "DELETE", 6) == 0)
		PG_RETURN_NULL();
	if (len == 6 && memcmp(name, "UPDATE", 6) == 0)
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_DATUM(PG_GETARG_DATUM(2));
		PG_RETURN_DATUM(DirectFunctionCall2(jsonb_concat, PG_GETARG_DATUM(0), PG_GETARG_DATUM(2)));
	}
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid audit op \"%s\"", text_to_cstring(op)),
			 errhint("The ops of ar.audit are INSERT, UPDATE and DELETE.")));
	PG_RETURN_NULL();			/* keep the compiler quiet */
}

/* ------------------------------------------------------------------------
 * The capture trigger
 * ------------------------------------------------------------------------ */

/* the most columns a primary key of an audited table has */
#define MAX_KEY_ATTS 4

/* What the capture knows about the audited table's columns. */
typedef struct CaptureTable
{
	Relation	rel;
	TupleDesc	desc;
	int			nkey;			/* the primary key's columns, in column order */
	AttrNumber	key_atts[MAX_KEY_ATTS];
	FmgrInfo	key_out[MAX_KEY_ATTS];	/* their output functions */
	bool		int8_key;		/* the key is one bigint (id) */
	AttrNumber	invoice_att;	/* "invoice_id", or 0 */
	AttrNumber	entity_att;		/* "entity_id", or 0 */
	FmgrInfo	row_to_jsonb;	/* to_jsonb(the row type) */
	FmgrInfo   *col_to_jsonb;	/* to_jsonb(column type), set up on first use */
	MemoryContext cxt;			/* where col_to_jsonb lives */
} CaptureTable;

/* One chunk of audit rows waiting for their INSERT. */
typedef struct CaptureChunk
{
	int			n;
	Datum		ids[CAPTURE_CHUNK];
	Datum		keys[CAPTURE_CHUNK];
	Datum		entities[CAPTURE_CHUNK];
	bool		entity_nulls[CAPTURE_CHUNK];
	Datum		data[CAPTURE_CHUNK];
	Datum		hashes[CAPTURE_CHUNK];
} CaptureChunk;

/* The parts every row of one statement shares. */
typedef struct CaptureStatement
{
	FullTransactionId xid;
	TimestampTz at;
	const char *texts[4];		/* actor, table_name, op; row_key set per row */
	int			lens[4];
	int64		first_id;		/* the row that asks for a seal, or 0 */
	bool		need_seal;
	HTAB	   *invoice_entity; /* invoice id -> entity, for tables without one */
} CaptureStatement;

typedef struct InvoiceEntity
{
	int64		invoice_id;
	int32		entity_id;
	bool		found;
} InvoiceEntity;

static SPIPlanPtr insert_plan = NULL;
static SPIPlanPtr seal_plan = NULL;
static SPIPlanPtr entity_plan = NULL;

/* fmgr info for to_jsonb of a value of type typid */
static void
to_jsonb_info(FmgrInfo *flinfo, Oid typid, MemoryContext cxt)
{
	MemoryContext old = MemoryContextSwitchTo(cxt);

	fmgr_info_cxt(F_TO_JSONB, flinfo, cxt);
	fmgr_info_set_expr((Node *) makeFuncExpr(F_TO_JSONB, JSONBOID,
											 list_make1(makeNullConst(typid, -1, InvalidOid)),
											 InvalidOid, InvalidOid, COERCE_EXPLICIT_CALL),
					   flinfo);
	MemoryContextSwitchTo(old);
}

static void
capture_table_init(CaptureTable *t, Relation rel)
{
	Bitmapset  *pk = RelationGetIndexAttrBitmap(rel, INDEX_ATTR_BITMAP_PRIMARY_KEY);
	int			x = -1;

	t->rel = rel;
	t->desc = RelationGetDescr(rel);

	t->invoice_att = t->entity_att = 0;
	t->nkey = 0;
	while ((x = bms_next_member(pk, x)) >= 0)
	{
		AttrNumber	a = x + FirstLowInvalidHeapAttributeNumber;
		Oid			outfn;
		bool		varlena;

		if (a <= 0 || t->nkey == MAX_KEY_ATTS)
			elog(ERROR, "ar.audit_capture: the primary key of table \"%s\" is not one of up to %d columns",
				 RelationGetRelationName(rel), MAX_KEY_ATTS);
		getTypeOutputInfo(TupleDescAttr(t->desc, a - 1)->atttypid, &outfn, &varlena);
		fmgr_info_cxt(outfn, &t->key_out[t->nkey], CurrentMemoryContext);
		t->key_atts[t->nkey++] = a;
	}
	if (t->nkey == 0)
		elog(ERROR, "ar.audit_capture: table \"%s\" has no primary key", RelationGetRelationName(rel));
	t->int8_key = t->nkey == 1 && TupleDescAttr(t->desc, t->key_atts[0] - 1)->atttypid == INT8OID;
	for (int i = 0; i < t->desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(t->desc, i);
		const char *name = NameStr(att->attname);

		if (att->attisdropped)
			continue;
		if (strcmp(name, "invoice_id") == 0 && att->atttypid == INT8OID)
			t->invoice_att = att->attnum;
		else if (strcmp(name, "entity_id") == 0 && att->atttypid == INT4OID)
			t->entity_att = att->attnum;
	}
	to_jsonb_info(&t->row_to_jsonb, rel->rd_rel->reltype, CurrentMemoryContext);
	t->cxt = CurrentMemoryContext;
	t->col_to_jsonb = palloc0(sizeof(FmgrInfo) * t->desc->natts);
}

/*
 * The row's key: its primary key's values in column order, joined by '/'
 * (an id; invoice_id/line_no for a line; invoice_id/vat_category/vat_rate
 * for a VAT row).  A primary key is never NULL.
 */
static Datum
row_key(CaptureTable *t, TupleTableSlot *slot)
{
	StringInfoData buf;

	if (t->int8_key)
	{
		char		num[32];

		snprintf(num, sizeof(num), INT64_FORMAT,
				 DatumGetInt64(slot->tts_values[t->key_atts[0] - 1]));
		return CStringGetTextDatum(num);
	}
	initStringInfo(&buf);
	for (int k = 0; k < t->nkey; k++)
	{
		if (k > 0)
			appendStringInfoChar(&buf, '/');
		appendStringInfoString(&buf, OutputFunctionCall(&t->key_out[k],
														slot->tts_values[t->key_atts[k] - 1]));
	}
	return PointerGetDatum(cstring_to_text_with_len(buf.data, buf.len));
}

/* jsonb of the whole row, as to_jsonb(row) */
static Jsonb *
row_jsonb(CaptureTable *t, TupleTableSlot *slot)
{
	return DatumGetJsonbP(FunctionCall1(&t->row_to_jsonb, ExecFetchSlotHeapTupleDatum(slot)));
}

static bool
same_value(Form_pg_attribute att, Datum a, bool anull, Datum b, bool bnull)
{
	if (anull || bnull)
		return anull == bnull;
	if (datumIsEqual(a, b, att->attbyval, att->attlen))
		return true;
	if (att->attlen == -1)
	{
		/* the same value may be stored compressed or not */
		struct varlena *x = PG_DETOAST_DATUM_PACKED(a);
		struct varlena *y = PG_DETOAST_DATUM_PACKED(b);

		return VARSIZE_ANY_EXHDR(x) == VARSIZE_ANY_EXHDR(y) &&
			memcmp(VARDATA_ANY(x), VARDATA_ANY(y), VARSIZE_ANY_EXHDR(x)) == 0;
	}
	return false;
}

/* jsonb of the columns an update changed, with their new values */
static Jsonb *
changed_jsonb(CaptureTable *t, TupleTableSlot *old, TupleTableSlot *new)
{
	JsonbParseState *state = NULL;
	JsonbValue *res;

	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	for (int i = 0; i < t->desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(t->desc, i);
		JsonbValue	key;
		JsonbValue	val;

		if (att->attisdropped ||
			same_value(att, old->tts_values[i], old->tts_isnull[i],
					   new->tts_values[i], new->tts_isnull[i]))
			continue;
		key.type = jbvString;
		key.val.string.val = NameStr(att->attname);
		key.val.string.len = strlen(key.val.string.val);
		pushJsonbValue(&state, WJB_KEY, &key);
		if (new->tts_isnull[i])
			val.type = jbvNull;
		else
		{
			Jsonb	   *jb;

			if (t->col_to_jsonb[i].fn_oid == InvalidOid)
				to_jsonb_info(&t->col_to_jsonb[i], att->atttypid, t->cxt);
			jb = DatumGetJsonbP(FunctionCall1(&t->col_to_jsonb[i], new->tts_values[i]));
			if (!JsonbExtractScalar(&jb->root, &val))
			{
				val.type = jbvBinary;
				val.val.binary.data = &jb->root;
				val.val.binary.len = VARSIZE(jb) - VARHDRSZ;
			}
		}
		pushJsonbValue(&state, WJB_VALUE, &val);
	}
	res = pushJsonbValue(&state, WJB_END_OBJECT, NULL);
	return JsonbValueToJsonb(res);
}

/*
 * The entities of the invoices the rows of a table without entity_id refer
 * to (lines, allocations), one query for all of them.
 */
static HTAB *
invoice_entities(CaptureTable *t, Tuplestorestate *ts, TupleTableSlot *slot)
{
	HASHCTL		ctl;
	HTAB	   *h;
	int			n = 0;
	int			cap = 1024;
	Datum	   *ids = palloc(sizeof(Datum) * cap);
	Oid			types[1] = {INT8ARRAYOID};
	Datum		values[1];
	int			rc;

	ctl.keysize = sizeof(int64);
	ctl.entrysize = sizeof(InvoiceEntity);
	ctl.hcxt = CurrentMemoryContext;
	h = hash_create("ar audit invoice entities", 1024, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);

	tuplestore_rescan(ts);
	while (tuplestore_gettupleslot(ts, true, false, slot))
	{
		bool		isnull;
		Datum		d = slot_getattr(slot, t->invoice_att, &isnull);
		int64		id;
		bool		found;

		if (isnull)
			continue;
		id = DatumGetInt64(d);
		(void) hash_search(h, &id, HASH_ENTER, &found);
		if (found)
			continue;
		if (n == cap)
		{
			cap *= 2;
			ids = repalloc(ids, sizeof(Datum) * cap);
		}
		ids[n++] = Int64GetDatum(id);
	}
	tuplestore_rescan(ts);
	if (n == 0)
		return h;

	values[0] = PointerGetDatum(construct_array(ids, n, INT8OID, sizeof(int64), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	rc = SPI_execute_plan(ArKeepPlan(&entity_plan,
									"SELECT i.id, i.entity_id FROM ar.invoice i WHERE i.id = ANY ($1)",
									1, types),
						  values, NULL, true, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "ar.audit_capture: the invoice entity query failed: %s", SPI_result_code_string(rc));
	for (uint64 k = 0; k < SPI_processed; k++)
	{
		HeapTuple	tup = SPI_tuptable->vals[k];
		bool		isnull;
		int64		id = DatumGetInt64(SPI_getbinval(tup, SPI_tuptable->tupdesc, 1, &isnull));
		InvoiceEntity *e = hash_search(h, &id, HASH_FIND, NULL);

		if (e != NULL)
		{
			e->entity_id = DatumGetInt32(SPI_getbinval(tup, SPI_tuptable->tupdesc, 2, &isnull));
			e->found = !isnull;
		}
	}
	SPI_freetuptable(SPI_tuptable);
	return h;
}

static void
row_entity(CaptureTable *t, CaptureStatement *st, TupleTableSlot *slot, Datum *entity, bool *isnull)
{
	*isnull = true;
	*entity = (Datum) 0;
	if (t->entity_att != 0)
	{
		*entity = slot->tts_values[t->entity_att - 1];
		*isnull = slot->tts_isnull[t->entity_att - 1];
	}
	else if (t->invoice_att != 0 && !slot->tts_isnull[t->invoice_att - 1])
	{
		int64		id = DatumGetInt64(slot->tts_values[t->invoice_att - 1]);
		InvoiceEntity *e = hash_search(st->invoice_entity, &id, HASH_FIND, NULL);

		if (e != NULL && e->found)
		{
			*entity = Int32GetDatum(e->entity_id);
			*isnull = false;
		}
	}
}

static void
flush_chunk(CaptureStatement *st, CaptureChunk *c)
{
	Oid			types[11] = {INT8ARRAYOID, XID8OID, TIMESTAMPTZOID, TEXTOID, TEXTOID, TEXTOID,
	INT8OID, TEXTARRAYOID, INT4ARRAYOID, JSONBARRAYOID, BYTEAARRAYOID};
	Datum		values[11];
	int			dims[1];
	int			lbs[1] = {1};
	int			rc;

	if (c->n == 0)
		return;
	dims[0] = c->n;
	values[0] = PointerGetDatum(construct_array(c->ids, c->n, INT8OID, sizeof(int64), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	values[1] = FullTransactionIdGetDatum(st->xid);
	values[2] = TimestampTzGetDatum(st->at);
	for (int i = 0; i < 3; i++)
		values[3 + i] = PointerGetDatum(cstring_to_text_with_len(st->texts[i], st->lens[i]));
	values[6] = Int64GetDatum(st->first_id);
	values[7] = PointerGetDatum(construct_array(c->keys, c->n, TEXTOID, -1, false, TYPALIGN_INT));
	values[8] = PointerGetDatum(construct_md_array(c->entities, c->entity_nulls, 1, dims, lbs,
												   INT4OID, sizeof(int32), true, TYPALIGN_INT));
	values[9] = PointerGetDatum(construct_array(c->data, c->n, JSONBOID, -1, false, TYPALIGN_INT));
	values[10] = PointerGetDatum(construct_array(c->hashes, c->n, BYTEAOID, -1, false, TYPALIGN_INT));

	capturing = true;
	PG_TRY();
	{
		rc = SPI_execute_plan(ArKeepPlan(&insert_plan,
										"INSERT INTO ar.audit (id, xid, at, actor, table_name, op, row_key,"
										"                      entity_id, data, first_in_xact, hash)"
										" SELECT u.id, $2, $3, $4, $5, $6, u.k, u.e, u.d, u.id = $7, u.h"
										"   FROM unnest($1, $8, $9, $10, $11) AS u (id, k, e, d, h)",
										11, types),
							  values, NULL, false, 0);
	}
	PG_FINALLY();
	{
		capturing = false;
	}
	PG_END_TRY();
	if (rc != SPI_OK_INSERT || SPI_processed != (uint64) c->n)
		elog(ERROR, "ar.audit_capture: writing %d audit rows failed: %s", c->n,
			 SPI_result_code_string(rc));
	c->n = 0;
}

/*
 * The transaction's own audit rows and seals.
 *
 * They are read through the xid indexes with SnapshotSelf, not with an SQL
 * query: they are visible to it whatever the isolation level, including
 * the rows of the current command, and a SERIALIZABLE transaction takes no
 * predicate lock on the index pages that every other audited transaction
 * appends to (such locks made concurrent audited transactions fail each
 * other with serialization errors).  A row of an aborted subtransaction is
 * invisible to it.
 */
/* the last audit row this transaction has sealed already, or 0 */
static int64
own_sealed_upto(Oid nsp, FullTransactionId xid)
{
	Oid			relid = ArRelid(nsp, "audit_seal");
	Relation	rel = table_open(relid, AccessShareLock);
	AttrNumber	last_att = ArAttnum(relid, "last_id");
	ScanKeyData key[1];
	SysScanDesc scan;
	HeapTuple	tup;
	int64		upto = 0;

	ScanKeyInit(&key[0], ArAttnum(relid, "xid"), BTEqualStrategyNumber, F_XID8EQ,
				FullTransactionIdGetDatum(xid));
	scan = systable_beginscan(rel, ArRelid(nsp, "audit_seal_xid"), true, SnapshotSelf, 1, key);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		bool		isnull;
		int64		last = DatumGetInt64(heap_getattr(tup, last_att, RelationGetDescr(rel), &isnull));

		if (!isnull && last > upto)
			upto = last;
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return upto;
}

/* what one seal covers */
typedef struct OwnRows
{
	int64		n;
	int64		first_id;
	int64		last_id;
	uint8		rows_hash[PG_SHA256_DIGEST_LENGTH];	/* sha256 of the row hashes in id order */
} OwnRows;

/*
 * The transaction's audit rows after id lo, in id order.  With out NULL,
 * only whether there is one; otherwise their count, ids and rows hash.
 */
static bool
own_rows_after(Oid nsp, FullTransactionId xid, int64 lo, OwnRows *out)
{
	Oid			relid = ArRelid(nsp, "audit");
	Relation	rel = table_open(relid, AccessShareLock);
	AttrNumber	id_att = ArAttnum(relid, "id");
	AttrNumber	hash_att = ArAttnum(relid, "hash");
	pg_cryptohash_ctx *ctx = NULL;
	ScanKeyData key[2];
	SysScanDesc scan;
	HeapTuple	tup;
	int64		n = 0;

	ScanKeyInit(&key[0], ArAttnum(relid, "xid"), BTEqualStrategyNumber, F_XID8EQ,
				FullTransactionIdGetDatum(xid));
	ScanKeyInit(&key[1], id_att, BTGreaterStrategyNumber, F_INT8GT, Int64GetDatum(lo));
	if (out != NULL)
	{
		ctx = pg_cryptohash_create(PG_SHA256);
		if (ctx == NULL || pg_cryptohash_init(ctx) < 0)
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("out of memory")));
	}
	scan = systable_beginscan(rel, ArRelid(nsp, "audit_xid"), true, SnapshotSelf, 2, key);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		bool		isnull;
		int64		id;
		bytea	   *hash;

		n++;
		if (out == NULL)
			break;
		CHECK_FOR_INTERRUPTS();
		id = DatumGetInt64(heap_getattr(tup, id_att, RelationGetDescr(rel), &isnull));
		hash = DatumGetByteaPP(heap_getattr(tup, hash_att, RelationGetDescr(rel), &isnull));
		if (isnull)
			elog(ERROR, "audit row " INT64_FORMAT " has no hash", id);
		if (n == 1)
			out->first_id = id;
		else if (id <= out->last_id)
			elog(ERROR, "audit rows out of order: " INT64_FORMAT " after " INT64_FORMAT, id, out->last_id);
		out->last_id = id;
		if (pg_cryptohash_update(ctx, (const uint8 *) VARDATA_ANY(hash), VARSIZE_ANY_EXHDR(hash)) < 0)
			elog(ERROR, "could not hash audit row " INT64_FORMAT ": %s", id, pg_cryptohash_error(ctx));
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	if (out != NULL)
	{
		out->n = n;
		if (pg_cryptohash_final(ctx, out->rows_hash, PG_SHA256_DIGEST_LENGTH) < 0)
			elog(ERROR, "could not hash the audit rows: %s", pg_cryptohash_error(ctx));
		pg_cryptohash_free(ctx);
	}
	return n > 0;
}

/* does this transaction have no audit row waiting for a seal? */
static bool
need_seal(Oid nsp, FullTransactionId xid)
{
	return !own_rows_after(nsp, xid, own_sealed_upto(nsp, xid), NULL);
}

/* a read pointer of our own, at the start of the transition table */
static void
begin_scan(Tuplestorestate *ts)
{
	tuplestore_select_read_pointer(ts, tuplestore_alloc_read_pointer(ts, EXEC_FLAG_REWIND));
	tuplestore_rescan(ts);
}

Datum
ar_audit_capture(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	CaptureTable t;
	CaptureStatement st;
	CaptureChunk *chunk;
	Tuplestorestate *rows;
	Tuplestorestate *olds = NULL;
	TupleTableSlot *slot;
	TupleTableSlot *oldslot = NULL;
	MemoryContext rowcxt;
	const char *role;
	const char *op;
	Oid			nsp;
	Oid			seq;
	bool		first = true;
	AuditHasher hasher;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_AFTER(td->tg_event) ||
		!TRIGGER_FIRED_FOR_STATEMENT(td->tg_event))
		elog(ERROR, "ar.audit_capture must be fired AFTER ... FOR EACH STATEMENT");
	if (TRIGGER_FIRED_BY_INSERT(td->tg_event))
	{
		op = "INSERT";
		rows = td->tg_newtable;
	}
	else if (TRIGGER_FIRED_BY_UPDATE(td->tg_event))
	{
		op = "UPDATE";
		rows = td->tg_newtable;
		olds = td->tg_oldtable;
		if (olds == NULL)
			elog(ERROR, "ar.audit_capture on UPDATE needs REFERENCING OLD TABLE and NEW TABLE");
	}
	else if (TRIGGER_FIRED_BY_DELETE(td->tg_event))
	{
		op = "DELETE";
		rows = td->tg_oldtable;
	}
	else
		elog(ERROR, "ar.audit_capture must be fired by INSERT, UPDATE or DELETE");
	if (rows == NULL)
		elog(ERROR, "ar.audit_capture needs a transition table (REFERENCING NEW TABLE or OLD TABLE)");

	/* ar's audited tables only: rows of any other table would be forgeries */
	nsp = get_namespace_oid("ar", false);
	{
		Relation	rel = td->tg_relation;
		const char *name = RelationGetRelationName(rel);

		if (RelationGetNamespace(rel) != nsp ||
			(strcmp(name, "invoice") != 0 && strcmp(name, "invoice_line") != 0 &&
			 strcmp(name, "invoice_tax") != 0 &&
			 strcmp(name, "payment") != 0 && strcmp(name, "allocation") != 0 &&
			 strcmp(name, "dunning_letter") != 0 && strcmp(name, "dunning_item") != 0))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("ar.audit_capture() audits ar.invoice, ar.invoice_line, ar.invoice_tax, ar.payment, ar.allocation, ar.dunning_letter and ar.dunning_item only, not \"%s.%s\"",
							get_namespace_name(RelationGetNamespace(rel)), name)));
	}

	/* a restore loads the trail as it was dumped */
	if (ArRestoring(GetOuterUserId()))
		return PointerGetDatum(NULL);

	capture_table_init(&t, td->tg_relation);
	st.xid = GetTopFullTransactionId();
	st.at = GetCurrentTransactionStartTimestamp();
	role = GetConfigOption("role", false, false);
	if (OidIsValid(ArJobRole()))
		st.texts[0] = GetUserNameFromId(ArJobRole(), false);	/* a job's command */
	else
		st.texts[0] = (role == NULL || strcmp(role, "none") == 0)
			? GetUserNameFromId(GetSessionUserId(), false) : role;
	st.texts[1] = RelationGetRelationName(td->tg_relation);
	st.texts[2] = op;
	for (int i = 0; i < 3; i++)
		st.lens[i] = strlen(st.texts[i]);
	st.first_id = 0;
	st.invoice_entity = NULL;
	seq = get_relname_relid("audit_id_seq", nsp);
	if (!OidIsValid(seq))
		elog(ERROR, "ar.audit_capture: sequence ar.audit_id_seq is missing");

	slot = MakeSingleTupleTableSlot(t.desc, &TTSOpsMinimalTuple);
	begin_scan(rows);
	if (olds != NULL)
	{
		oldslot = MakeSingleTupleTableSlot(t.desc, &TTSOpsMinimalTuple);
		begin_scan(olds);
	}

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	st.need_seal = need_seal(nsp, st.xid);
	if (t.entity_att == 0 && t.invoice_att != 0)
		st.invoice_entity = invoice_entities(&t, rows, slot);

	chunk = palloc(sizeof(CaptureChunk));
	chunk->n = 0;
	hasher_init(&hasher);
	rowcxt = AllocSetContextCreate(CurrentMemoryContext, "ar audit chunk", ALLOCSET_DEFAULT_SIZES);
	while (tuplestore_gettupleslot(rows, true, false, slot))
	{
		MemoryContext old;
		int			k = chunk->n;
		int64		id = nextval_internal(seq, false);
		Jsonb	   *data;
		text	   *key;
		bool		entity_null;

		CHECK_FOR_INTERRUPTS();
		slot_getallattrs(slot);
		if (olds != NULL)
		{
			if (!tuplestore_gettupleslot(olds, true, false, oldslot))
				elog(ERROR, "ar.audit_capture: the old and new transition tables differ in length");
			slot_getallattrs(oldslot);
		}
		old = MemoryContextSwitchTo(rowcxt);
		data = olds != NULL ? changed_jsonb(&t, oldslot, slot) : row_jsonb(&t, slot);
		key = DatumGetTextPP(row_key(&t, slot));
		/* a row's history is found by its key, so the key never changes */
		if (olds != NULL)
		{
			text	   *was = DatumGetTextPP(row_key(&t, oldslot));

			if (VARSIZE_ANY_EXHDR(was) != VARSIZE_ANY_EXHDR(key) ||
				memcmp(VARDATA_ANY(was), VARDATA_ANY(key), VARSIZE_ANY_EXHDR(key)) != 0)
				ereport(ERROR,
						(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						 errmsg("the key of a row of ar.%s cannot change: %s would become %s",
								st.texts[1], text_to_cstring(was), text_to_cstring(key)),
						 errhint("Delete the row and insert it with the new key.")));
		}
		row_entity(&t, &st, slot, &chunk->entities[k], &entity_null);
		chunk->entity_nulls[k] = entity_null;
		if (first && st.need_seal)
			st.first_id = id;
		st.texts[3] = VARDATA_ANY(key);
		st.lens[3] = VARSIZE_ANY_EXHDR(key);
		chunk->ids[k] = Int64GetDatum(id);
		chunk->keys[k] = PointerGetDatum(key);
		chunk->data[k] = PointerGetDatum(data);
		chunk->hashes[k] = PointerGetDatum(audit_hash(&hasher, id, st.xid, st.at, st.texts, st.lens, entity_null,
													  entity_null ? 0 : DatumGetInt32(chunk->entities[k]),
													  first && st.need_seal, data));
		MemoryContextSwitchTo(old);
		first = false;
		if (++chunk->n == CAPTURE_CHUNK)
		{
			flush_chunk(&st, chunk);
			MemoryContextReset(rowcxt);
		}
	}
	flush_chunk(&st, chunk);
	MemoryContextDelete(rowcxt);
	hasher_free(&hasher);

	ExecDropSingleTupleTableSlot(slot);
	if (oldslot != NULL)
		ExecDropSingleTupleTableSlot(oldslot);
	SPI_finish();
	return PointerGetDatum(NULL);
}

/*
 * ar.audit_capturing() → boolean: is ar.audit_capture inserting audit rows
 * right now.  The guard trigger of ar.audit refuses any other INSERT.
 */
Datum
ar_audit_capturing(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(capturing);
}

/*
 * The head of the chain: its seq, and its hash in *hash (seq 0 and the
 * genesis hash while the chain is empty).  Read like the transaction's own
 * rows, with SnapshotSelf, under the head lock: the last committed seal is
 * the live row, and a SERIALIZABLE transaction neither takes a predicate
 * lock on the head nor sees a conflict in the versions earlier seals left
 * behind (each sealer would be a pivot between the one before and the one
 * after it).
 */
static int64
chain_head(Oid nsp, Datum *hash)
{
	static const char genesis[] = "ar audit genesis";
	Oid			relid = ArRelid(nsp, "audit_head");
	Relation	rel = table_open(relid, AccessShareLock);
	SysScanDesc scan = systable_beginscan(rel, InvalidOid, false, SnapshotSelf, 0, NULL);
	HeapTuple	tup = systable_getnext(scan);
	int64		seq = 0;

	if (HeapTupleIsValid(tup))
	{
		bool		isnull;

		seq = DatumGetInt64(heap_getattr(tup, ArAttnum(relid, "seq"), RelationGetDescr(rel), &isnull));
		*hash = datumCopy(heap_getattr(tup, ArAttnum(relid, "hash"), RelationGetDescr(rel), &isnull),
						  false, -1);
		if (HeapTupleIsValid(systable_getnext(scan)))
			elog(ERROR, "ar.audit_head has more than one row");
	}
	else
	{
		bytea	   *h = palloc(VARHDRSZ + PG_SHA256_DIGEST_LENGTH);
		pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);

		SET_VARSIZE(h, VARHDRSZ + PG_SHA256_DIGEST_LENGTH);
		if (ctx == NULL || pg_cryptohash_init(ctx) < 0 ||
			pg_cryptohash_update(ctx, (const uint8 *) genesis, strlen(genesis)) < 0 ||
			pg_cryptohash_final(ctx, (uint8 *) VARDATA(h), PG_SHA256_DIGEST_LENGTH) < 0)
			elog(ERROR, "could not compute the genesis hash of the audit chain");
		pg_cryptohash_free(ctx);
		*hash = PointerGetDatum(h);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return seq;
}

/*
 * ar.audit_seal(): the deferred AFTER INSERT trigger of ar.audit, fired at
 * commit for the first row a transaction wrote since its last seal.  It
 * links the transaction's unsealed rows into the chain: one ar.audit_seal
 * row whose hash covers the previous seal's hash and the hash of the rows,
 * and the head moved to it.
 *
 * Sealers take turns on an ExclusiveLock on ar.audit_head, held to commit,
 * and read and move the head with a snapshot taken once the lock is held:
 * every earlier seal has committed by then, and a REPEATABLE READ or
 * SERIALIZABLE transaction links to the real head instead of failing on
 * the one in its own snapshot (as a row lock taken by a query would).
 */
Datum
ar_audit_seal(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	Oid			types[7] = {INT8OID, XID8OID, INT8OID, INT8OID, INT8OID, BYTEAOID, BYTEAOID};
	Datum		values[7];
	Oid			nsp;
	FullTransactionId xid;
	OwnRows		rows;
	bytea	   *rows_hash;
	int64		seq;
	int			rc;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_AFTER(td->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(td->tg_event) || !TRIGGER_FIRED_BY_INSERT(td->tg_event))
		elog(ERROR, "ar.audit_seal must be fired AFTER INSERT ... FOR EACH ROW");
	nsp = get_namespace_oid("ar", false);
	if (RelationGetRelid(td->tg_relation) != ArRelid(nsp, "audit"))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("ar.audit_seal() seals ar.audit only, not \"%s.%s\"",
						get_namespace_name(RelationGetNamespace(td->tg_relation)),
						RelationGetRelationName(td->tg_relation))));

	xid = GetTopFullTransactionId();
	if (!own_rows_after(nsp, xid, own_sealed_upto(nsp, xid), &rows))
		return PointerGetDatum(NULL);

	LockRelationOid(ArRelid(nsp, "audit_head"), ExclusiveLock);
	seq = chain_head(nsp, &values[6]);
	if (seq == PG_INT64_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("the audit chain is full at seal " INT64_FORMAT, seq)));

	rows_hash = palloc(VARHDRSZ + PG_SHA256_DIGEST_LENGTH);
	SET_VARSIZE(rows_hash, VARHDRSZ + PG_SHA256_DIGEST_LENGTH);
	memcpy(VARDATA(rows_hash), rows.rows_hash, PG_SHA256_DIGEST_LENGTH);
	values[0] = Int64GetDatum(seq + 1);
	values[1] = FullTransactionIdGetDatum(xid);
	values[2] = Int64GetDatum(rows.first_id);
	values[3] = Int64GetDatum(rows.last_id);
	values[4] = Int64GetDatum(rows.n);
	values[5] = PointerGetDatum(rows_hash);
	/* the head is moved at its latest version, not the one in our snapshot */
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	rc = ArExecuteLatest(ArKeepPlan(&seal_plan,
										"WITH s AS ("
										"  INSERT INTO ar.audit_seal (seq, xid, first_id, last_id, row_count, rows_hash, prev_hash, hash)"
										"  VALUES ($1, $2, $3, $4, $5, $6, $7, ar.audit_seal_hash($7, $1, $2, $3, $4, $5, $6))"
										"  RETURNING seq, hash)"
										"INSERT INTO ar.audit_head AS h (seq, hash) SELECT s.seq, s.hash FROM s"
										" ON CONFLICT (one) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
										7, types),
						 values, false);
	if (rc != SPI_OK_INSERT || SPI_processed != 1)
		elog(ERROR, "ar.audit_seal: writing seal " INT64_FORMAT " failed: %s", seq + 1,
			 SPI_result_code_string(rc));
	SPI_finish();
	return PointerGetDatum(NULL);
}
