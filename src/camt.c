/*-------------------------------------------------------------------------
 *
 * camt.c
 *	  ISO 20022 bank-to-customer statements (camt.053) and debit/credit
 *	  notifications (camt.054), parsed with libxml2 into one row per bank
 *	  transaction: ar.camt_transactions(doc xml) → SETOF ar.bank_transaction.
 *
 * Supported messages, told apart by the namespace of <Document>:
 * camt.053.001.02 and .08, camt.054.001.02, .04 and .08.  Each entry (Ntry)
 * gives one row; an entry that batches several transactions (TxDtls) gives
 * one row per transaction when their amounts add up to the entry.  Amounts go
 * from the decimal text straight to minor units, never through floating
 * point.  Anything malformed raises an error that names the element, before
 * a single row is returned, so that an import is all or nothing.
 *
 * libxml2 runs under pg_xml_init/pg_xml_done in PG_TRY, never loads
 * external entities or DTDs (XML_PARSE_NONET, no XML_PARSE_NOENT, and a
 * document with a DOCTYPE is refused), and every libxml allocation is freed
 * here.  Text is read from the text nodes in place, so no libxml string has
 * to be freed on an error path.
 *
 * The SQL side (entity resolution, insertion into ar.payment) is
 * ar.import_camt in ar--1.0.sql.
 *
 * src/camt.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "catalog/pg_type.h"
#include "common/cryptohash.h"
#include "common/int.h"
#include "common/sha2.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/pg_list.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/lsyscache.h"
#include "utils/xml.h"

#include "ar.h"

/* The messages ar reads. */
static const struct
{
	const char *ns;				/* namespace of <Document> */
	const char *format;			/* "camt.053.001.02" */
	const char *source;			/* ar.payment.source */
	const char *container;		/* child of <Document> */
	const char *report;			/* one statement or notification */
}			camt_formats[] = {
	{"urn:iso:std:iso:20022:tech:xsd:camt.053.001.02", "camt.053.001.02", "camt053", "BkToCstmrStmt", "Stmt"},
	{"urn:iso:std:iso:20022:tech:xsd:camt.053.001.08", "camt.053.001.08", "camt053", "BkToCstmrStmt", "Stmt"},
	{"urn:iso:std:iso:20022:tech:xsd:camt.054.001.02", "camt.054.001.02", "camt054", "BkToCstmrDbtCdtNtfctn", "Ntfctn"},
	{"urn:iso:std:iso:20022:tech:xsd:camt.054.001.04", "camt.054.001.04", "camt054", "BkToCstmrDbtCdtNtfctn", "Ntfctn"},
	{"urn:iso:std:iso:20022:tech:xsd:camt.054.001.08", "camt.054.001.08", "camt054", "BkToCstmrDbtCdtNtfctn", "Ntfctn"},
};

/* A reference beyond the first: another CdtrRefInf/Ref or a RfrdDocInf/Nb. */
typedef struct CamtRef
{
	char	   *ref;
	char	   *code;
} CamtRef;

/* One output row. */
typedef struct CamtRow
{
	int			seq;
	char	   *statement_id;
	char	   *account;
	char	   *location;
	char	   *status;
	const char *kind;
	char	   *bank_ref;
	const char *ref_origin;		/* bank, end_to_end or hash (make_bank_ref) */
	bool		has_booking;
	DateADT		booking_date;
	bool		has_value;
	DateADT		value_date;
	int64		units;
	uint32		currency;
	char	   *reference;
	char	   *reference_code;
	char	   *remittance;
	char	   *payer_name;
	char	   *payer_account;
	char	   *payer_address;
	char	   *payer_org_no;
	char	   *end_to_end_id;
	char	   *transaction_code;
	char	   *return_reason;
	List	   *extra;			/* CamtRef */
} CamtRow;

/* Parse state. */
typedef struct CamtCtx
{
	const xmlChar *ns;			/* the message's namespace */
	const char *format;
	const char *source;
	char	   *message_id;
	List	   *rows;			/* CamtRow */
} CamtCtx;

/* What one entry (Ntry) says, shared by its transactions. */
typedef struct CamtEntry
{
	const char *path;
	char	   *statement_id;
	char	   *account;
	char	   *status;
	bool		credit;			/* CdtDbtInd CRDT */
	bool		reversal;		/* RvslInd true */
	bool		has_booking;
	DateADT		booking_date;
	bool		has_value;
	DateADT		value_date;
	int64		units;
	uint32		currency;
	char	   *acct_svcr_ref;
	xmlNodePtr	bk_tx_cd;
} CamtEntry;

/* ------------------------------------------------------------------------
 * Small helpers: elements of the message's namespace, text, errors
 * ------------------------------------------------------------------------ */

static bool
el_is(const CamtCtx *cx, xmlNodePtr n, const char *name)
{
	return n->type == XML_ELEMENT_NODE && n->ns != NULL &&
		xmlStrEqual(n->ns->href, cx->ns) &&
		strcmp((const char *) n->name, name) == 0;
}

/* The first child element called name, or NULL. */
static xmlNodePtr
child(const CamtCtx *cx, xmlNodePtr parent, const char *name)
{
	if (parent == NULL)
		return NULL;
	for (xmlNodePtr c = parent->children; c != NULL; c = c->next)
		if (el_is(cx, c, name))
			return c;
	return NULL;
}

/* The next sibling element called name, or NULL. */
static xmlNodePtr
next_named(const CamtCtx *cx, xmlNodePtr node, const char *name)
{
	for (xmlNodePtr c = node->next; c != NULL; c = c->next)
		if (el_is(cx, c, name))
			return c;
	return NULL;
}

/* Follows a path of first children, "RltdPties/DbtrAcct/Id". */
static xmlNodePtr
find(const CamtCtx *cx, xmlNodePtr node, const char *path)
{
	char		name[64];

	while (node != NULL && *path != '\0')
	{
		const char *slash = strchr(path, '/');
		size_t		len = slash ? (size_t) (slash - path) : strlen(path);

		if (len >= sizeof(name))
			elog(ERROR, "camt path segment too long: \"%s\"", path);
		memcpy(name, path, len);
		name[len] = '\0';
		node = child(cx, node, name);
		path += len;
		if (*path == '/')
			path++;
	}
	return node;
}

static inline bool
xml_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/*
 * Trims XML white space from a UTF-8 string and converts it to the server
 * encoding; NULL when nothing is left.
 */
static char *
finish_text(const char *s, size_t len)
{
	char	   *copy;
	char	   *conv;

	while (len > 0 && xml_blank(*s))
		s++, len--;
	while (len > 0 && xml_blank(s[len - 1]))
		len--;
	if (len == 0)
		return NULL;
	copy = pnstrdup(s, len);
	conv = pg_any_to_server(copy, (int) len, PG_UTF8);
	return conv;
}

/* The text of an element or attribute (its text children), trimmed. */
static char *
node_text(xmlNodePtr node)
{
	StringInfoData buf;
	char	   *result;

	if (node == NULL)
		return NULL;
	initStringInfo(&buf);
	for (xmlNodePtr c = node->children; c != NULL; c = c->next)
		if ((c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE) &&
			c->content != NULL)
			appendStringInfoString(&buf, (const char *) c->content);
	result = finish_text(buf.data, buf.len);
	pfree(buf.data);
	return result;
}

static char *
text_at(const CamtCtx *cx, xmlNodePtr node, const char *path)
{
	return node_text(find(cx, node, path));
}

/* The text of an attribute without namespace, or NULL. */
static char *
attr_text(xmlNodePtr node, const char *name)
{
	for (xmlAttrPtr a = node->properties; a != NULL; a = a->next)
		if (a->ns == NULL && strcmp((const char *) a->name, name) == 0)
			return node_text((xmlNodePtr) a);
	return NULL;
}

static void missing(const CamtCtx *cx, const char *where, const char *name) pg_attribute_noreturn();
static void bad_value(const CamtCtx *cx, const char *what, const char *value,
					  const char *where) pg_attribute_noreturn();

static void
missing(const CamtCtx *cx, const char *where, const char *name)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_XML_CONTENT),
			 errmsg("missing element %s/%s in %s message", where, name, cx->format),
			 errdetail("Nothing was imported.")));
}

static void
bad_value(const CamtCtx *cx, const char *what, const char *value, const char *where)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("invalid %s \"%s\" in %s of %s message", what, value, where, cx->format),
			 errdetail("Nothing was imported.")));
}

/* A child element that must be there, with text. */
static char *
required_text(const CamtCtx *cx, xmlNodePtr parent, const char *path, const char *where)
{
	char	   *s = text_at(cx, parent, path);

	if (s == NULL)
		missing(cx, where, path);
	return s;
}

/* Appends s to a list of strings joined by sep (NULL s: unchanged). */
static char *
join(char *acc, const char *sep, const char *s)
{
	if (s == NULL)
		return acc;
	if (acc == NULL)
		return pstrdup(s);
	return psprintf("%s%s%s", acc, sep, s);
}

/* ------------------------------------------------------------------------
 * Values: amounts, dates, indicators, accounts
 * ------------------------------------------------------------------------ */

/*
 * <Amt Ccy="SEK">105678.50</Amt> to minor units and a packed currency.  The
 * text is an xs:decimal without sign or exponent; more fraction digits than
 * the currency has is an error, as for ar.amount input.
 */
static void
parse_amount(const CamtCtx *cx, xmlNodePtr amt, const char *where,
			 int64 *units, uint32 *currency)
{
	char	   *ccy = attr_text(amt, "Ccy");
	char	   *value = node_text(amt);
	const ArCurrency *cur;
	const char *p;
	const char *int_start;
	const char *frac_start = NULL;
	int			int_len;
	int			frac_len = 0;
	int64		result = 0;

	if (ccy == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_XML_CONTENT),
				 errmsg("missing attribute Ccy of %s in %s message", where, cx->format),
				 errdetail("Nothing was imported.")));
	if (strlen(ccy) != 3 || !isupper((unsigned char) ccy[0]) ||
		!isupper((unsigned char) ccy[1]) || !isupper((unsigned char) ccy[2]) ||
		(cur = ArCurrencyLookup(ArCurrencyPack(ccy, 3))) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown currency code \"%s\" in %s of %s message", ccy, where, cx->format),
				 errdetail("Nothing was imported.")));
	if (cur->minor_unit < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("currency \"%s\" in %s of %s message has no minor unit and cannot hold amounts",
						ccy, where, cx->format),
				 errdetail("Nothing was imported.")));
	if (value == NULL)
		bad_value(cx, "amount", "", where);

	p = value;
	if (*p == '+')
		p++;
	int_start = p;
	while (isdigit((unsigned char) *p))
		p++;
	int_len = p - int_start;
	if (*p == '.')
	{
		p++;
		frac_start = p;
		while (isdigit((unsigned char) *p))
			p++;
		frac_len = p - frac_start;
	}
	if (*p != '\0' || int_len + frac_len == 0)
		bad_value(cx, "amount", value, where);
	/* zeros past the minor unit change nothing: 500.000 SEK is 500.00 SEK */
	while (frac_len > cur->minor_unit && frac_start[frac_len - 1] == '0')
		frac_len--;
	if (frac_len > cur->minor_unit)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("amount \"%s\" in %s of %s message has more fraction digits than %s allows (%d)",
						value, where, cx->format, cur->code, cur->minor_unit),
				 errdetail("Nothing was imported.")));
	if (!ArDecimalDigitsToUnits(int_start, int_len, frac_start, frac_len, cur->minor_unit,
								false, &result))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("amount \"%s %s\" in %s of %s message is out of range",
						value, ccy, where, cx->format),
				 errdetail("Nothing was imported.")));
	*units = result;
	*currency = ArCurrencyPack(cur->code, 3);
}

/* two digits at s, their value in *v */
static bool
two_digits_at(const char *s, int *v)
{
	if (!isdigit((unsigned char) s[0]) || !isdigit((unsigned char) s[1]))
		return false;
	*v = (s[0] - '0') * 10 + (s[1] - '0');
	return true;
}

/*
 * What may follow the date of an xs:date or xs:dateTime: nothing, a time
 * "Thh:mm:ss" with optional fraction, and either one an optional zone "Z"
 * or "+hh:mm"/"-hh:mm".
 */
static bool
valid_time_and_zone(const char *s)
{
	int			h,
				m,
				sec;

	if (*s == 'T')
	{
		if (!two_digits_at(s + 1, &h) || s[3] != ':' || !two_digits_at(s + 4, &m) ||
			s[6] != ':' || !two_digits_at(s + 7, &sec))
			return false;
		if (!((h < 24 && m < 60 && sec < 60) || (h == 24 && m == 0 && sec == 0)))
			return false;
		s += 9;
		if (*s == '.')
		{
			s++;
			if (!isdigit((unsigned char) *s))
				return false;
			while (isdigit((unsigned char) *s))
				s++;
		}
	}
	if (*s == 'Z')
		s++;
	else if (*s == '+' || *s == '-')
	{
		if (!two_digits_at(s + 1, &h) || s[3] != ':' || !two_digits_at(s + 4, &m) ||
			h > 14 || m > 59 || (h == 14 && m != 0))
			return false;
		s += 6;
	}
	return *s == '\0';
}

/* "YYYY-MM-DD", optionally followed by a time or a zone (xs:date, xs:dateTime). */
static bool
parse_iso_date(const char *s, DateADT *result)
{
	int			y,
				m,
				d;

	for (int i = 0; i < 10; i++)
	{
		if (i == 4 || i == 7)
		{
			if (s[i] != '-')
				return false;
		}
		else if (!isdigit((unsigned char) s[i]))
			return false;
	}
	if (!valid_time_and_zone(s + 10))
		return false;
	y = atoi(s);
	(void) two_digits_at(s + 5, &m);
	(void) two_digits_at(s + 8, &d);
	if (y < 1 || m < 1 || m > 12 || d < 1 || d > day_tab[isleap(y)][m - 1])
		return false;
	*result = date2j(y, m, d) - POSTGRES_EPOCH_JDATE;
	return true;
}

/*
 * A DateAndDateTimeChoice (BookgDt, ValDt): <Dt> or <DtTm>.  The date of a
 * DtTm is the calendar date as the bank wrote it, in the bank's offset.
 */
static bool
date_choice(const CamtCtx *cx, xmlNodePtr node, const char *where, DateADT *result)
{
	char	   *s;

	if (node == NULL)
		return false;
	s = text_at(cx, node, "Dt");
	if (s == NULL)
		s = text_at(cx, node, "DtTm");
	if (s == NULL)
		missing(cx, where, "Dt");
	if (!parse_iso_date(s, result))
		bad_value(cx, "date", s, where);
	return true;
}

/* CdtDbtInd: true for CRDT, false for DBIT. */
static bool
credit_debit(const CamtCtx *cx, const char *value, const char *where)
{
	if (strcmp(value, "CRDT") == 0)
		return true;
	if (strcmp(value, "DBIT") == 0)
		return false;
	bad_value(cx, "credit/debit indicator", value, where);
}

/*
 * An account number as ar compares them (same rule as SQL
 * ar.normalize_account): blanks and hyphens dropped, upper case, and leading
 * zeros dropped from an all-digit number.
 */
static char *
normalize_account(const char *s)
{
	StringInfoData buf;
	bool		digits = true;
	char	   *p;

	initStringInfo(&buf);
	for (; *s; s++)
	{
		if (xml_blank(*s) || *s == '-')
			continue;
		appendStringInfoChar(&buf, pg_toupper((unsigned char) *s));
		if (!isdigit((unsigned char) *s))
			digits = false;
	}
	if (!digits || buf.len == 0)
		return buf.data;
	for (p = buf.data; *p == '0' && p[1] != '\0'; p++)
		;
	return pstrdup(p);
}

/* An account (CashAccount): Id/IBAN or Id/Othr/Id. */
static char *
account_of(const CamtCtx *cx, xmlNodePtr acct)
{
	char	   *s;

	if (acct == NULL)
		return NULL;
	s = text_at(cx, acct, "Id/IBAN");
	if (s == NULL)
		s = text_at(cx, acct, "Id/Othr/Id");
	return s;
}

/* A party: camt.053.001.02 has Dbtr/Nm, later versions Dbtr/Pty/Nm. */
static xmlNodePtr
party_of(const CamtCtx *cx, xmlNodePtr party)
{
	xmlNodePtr	pty = child(cx, party, "Pty");

	return pty ? pty : party;
}

/* A postal address on one line: street, post code and town, lines, country. */
static char *
address_of(const CamtCtx *cx, xmlNodePtr adr)
{
	char	   *result = NULL;
	char	   *part;

	if (adr == NULL)
		return NULL;
	part = join(text_at(cx, adr, "StrtNm"), " ", text_at(cx, adr, "BldgNb"));
	result = join(result, ", ", part);
	part = join(text_at(cx, adr, "PstCd"), " ", text_at(cx, adr, "TwnNm"));
	result = join(result, ", ", part);
	for (xmlNodePtr l = child(cx, adr, "AdrLine"); l != NULL; l = next_named(cx, l, "AdrLine"))
		result = join(result, ", ", node_text(l));
	result = join(result, ", ", text_at(cx, adr, "Ctry"));
	return result;
}

/* The bank transaction code: Domn "PMNT/RCDT/ESCT", else Prtry/Cd. */
static char *
bank_tx_code(const CamtCtx *cx, xmlNodePtr code, char **subfamily)
{
	char	   *domain;

	*subfamily = NULL;
	if (code == NULL)
		return NULL;
	domain = text_at(cx, code, "Domn/Cd");
	if (domain != NULL)
	{
		char	   *family = text_at(cx, code, "Domn/Fmly/Cd");
		char	   *sub = text_at(cx, code, "Domn/Fmly/SubFmlyCd");

		*subfamily = sub;
		return psprintf("%s/%s/%s", domain, family ? family : "", sub ? sub : "");
	}
	return text_at(cx, code, "Prtry/Cd");
}

/* A type choice (CdOrPrtry): its Cd, else its Prtry. */
static char *
code_or_proprietary(const CamtCtx *cx, xmlNodePtr tp)
{
	char	   *s = text_at(cx, tp, "CdOrPrtry/Cd");

	return s ? s : text_at(cx, tp, "CdOrPrtry/Prtry");
}

/* ------------------------------------------------------------------------
 * bank_ref
 * ------------------------------------------------------------------------ */

/* "hash:" and 32 hex digits of SHA-256 over the parts, each ended by 0x1f. */
static char *
hash_ref(const char *const *parts, int nparts)
{
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);
	uint8		digest[PG_SHA256_DIGEST_LENGTH];
	char		hex[33];

	if (ctx == NULL || pg_cryptohash_init(ctx) < 0)
		elog(ERROR, "could not initialize SHA-256");
	for (int i = 0; i < nparts; i++)
	{
		const char *p = parts[i] ? parts[i] : "";

		if (pg_cryptohash_update(ctx, (const uint8 *) p, strlen(p)) < 0 ||
			pg_cryptohash_update(ctx, (const uint8 *) "\x1f", 1) < 0)
			elog(ERROR, "could not compute SHA-256");
	}
	if (pg_cryptohash_final(ctx, digest, sizeof(digest)) < 0)
		elog(ERROR, "could not compute SHA-256");
	pg_cryptohash_free(ctx);
	for (int i = 0; i < 16; i++)
		snprintf(hex + 2 * i, 3, "%02x", digest[i]);
	return psprintf("hash:%s", hex);
}

static char *
date_text(bool has, DateADT d)
{
	int			y,
				m,
				dd;

	if (!has)
		return NULL;
	j2date(d + POSTGRES_EPOCH_JDATE, &y, &m, &dd);
	return psprintf("%04d-%02d-%02d", y, m, dd);
}

/*
 * bank_ref: "<account>:<ref>".  ref is the transaction's AcctSvcrRef; else
 * the entry's AcctSvcrRef (with "/EndToEndId" or "/n" when the entry is
 * split); else "EndToEndId/booking date/amount/party" (the value date for an
 * entry not booked yet; party: the other party's account, else its name,
 * else nothing); else a hash of what the transaction says.  The account
 * keeps two banks' numbering apart.  row->ref_origin says which: "bank"
 * for the AcctSvcrRefs, which the bank gives each transaction once, else
 * "end_to_end" or "hash", which two payments can share.
 */
static char *
make_bank_ref(CamtRow *row, const char *tx_ref, const char *entry_ref,
			  bool split, int tx_no)
{
	ArAmount	amt = {row->units, row->currency, 0};
	const char *base;

	row->ref_origin = tx_ref != NULL || entry_ref != NULL ? "bank"
		: row->end_to_end_id != NULL ? "end_to_end" : "hash";
	if (tx_ref != NULL)
		base = tx_ref;
	else if (entry_ref != NULL && !split)
		base = entry_ref;
	else if (entry_ref != NULL)
		base = row->end_to_end_id
			? psprintf("%s/%s", entry_ref, row->end_to_end_id)
			: psprintf("%s/%d", entry_ref, tx_no);
	else if (row->end_to_end_id != NULL)
	{
		/* the payer chose the EndToEndId: two payers may choose the same */
		const char *party = row->payer_account ? row->payer_account : row->payer_name;

		base = psprintf("%s/%s/%s%s%s", row->end_to_end_id,
						row->has_booking ? date_text(true, row->booking_date)
						: row->has_value ? date_text(true, row->value_date) : "",
						ArAmountToCString(&amt), party ? "/" : "", party ? party : "");
	}
	else
	{
		/*
		 * Not the account: the prefix has it, in the form the entity's
		 * accounts give it (ar.import_transactions), while the file may
		 * name it by IBAN or by its domestic number.
		 */
		const char *parts[8];

		parts[0] = date_text(row->has_booking, row->booking_date);
		parts[1] = date_text(row->has_value, row->value_date);
		parts[2] = ArAmountToCString(&amt);
		parts[3] = row->kind;
		parts[4] = row->payer_account;
		parts[5] = row->payer_name;
		parts[6] = row->reference;
		parts[7] = row->remittance;
		base = hash_ref(parts, lengthof(parts));
	}
	return psprintf("%s:%s", row->account, base);
}

/* Where a row type keeps its bank_ref (char *) and its file order (int). */
typedef struct RefLayout
{
	size_t		ref_offset;
	size_t		seq_offset;
} RefLayout;

static int
row_ref_cmp(const void *a, const void *b, void *arg)
{
	const RefLayout *lay = arg;
	const char *ra = *(const char *const *) ((const char *) *(void *const *) a + lay->ref_offset);
	const char *rb = *(const char *const *) ((const char *) *(void *const *) b + lay->ref_offset);
	int			sa = *(const int *) ((const char *) *(void *const *) a + lay->seq_offset);
	int			sb = *(const int *) ((const char *) *(void *const *) b + lay->seq_offset);
	int			c = strcmp(ra, rb);

	if (c != 0)
		return c;
	return (sa > sb) - (sa < sb);
}

/*
 * Two transactions of one file with the same bank_ref (a batch whose
 * transactions repeat an EndToEndId, say, or two BgMax payments with one
 * serial number) are told apart by "#2", "#3", ... in file order, so that a
 * re-import gives the same refs.  rows holds pointers to structs that keep
 * their bank_ref at ref_offset and their file order at seq_offset; camt.c
 * and bgmax.c share this.
 */
void
ArDedupeBankRefs(List *rows, size_t ref_offset, size_t seq_offset)
{
	int			n = list_length(rows);
	void	  **sorted;
	int			i = 0;
	ListCell   *lc;
	RefLayout	lay = {ref_offset, seq_offset};

	if (n < 2)
		return;
	sorted = palloc(n * sizeof(void *));
	foreach(lc, rows)
		sorted[i++] = lfirst(lc);
	qsort_arg(sorted, n, sizeof(void *), row_ref_cmp, &lay);
	for (i = 1; i < n; i++)
	{
		int			k = 1;
		char	  **base = (char **) ((char *) sorted[i - 1] + ref_offset);

		while (i < n && strcmp(*(char **) ((char *) sorted[i] + ref_offset), *base) == 0)
			*(char **) ((char *) sorted[i++] + ref_offset) = psprintf("%s#%d", *base, ++k);
	}
	pfree(sorted);
}

/* ------------------------------------------------------------------------
 * Entries and transactions
 * ------------------------------------------------------------------------ */

static CamtRow *
new_row(CamtCtx *cx, const CamtEntry *e, const char *location)
{
	CamtRow    *row = palloc0(sizeof(CamtRow));

	row->seq = list_length(cx->rows) + 1;
	row->statement_id = e->statement_id;
	row->account = e->account;
	row->location = pstrdup(location);
	row->status = e->status;
	row->has_booking = e->has_booking;
	row->booking_date = e->booking_date;
	row->has_value = e->has_value;
	row->value_date = e->value_date;
	row->units = e->units;
	row->currency = e->currency;
	cx->rows = lappend(cx->rows, row);
	return row;
}

/*
 * Kind from the entry and, where there is one, the transaction.  credit: the
 * direction of the money, the transaction's own CdtDbtInd where it states
 * one, else the entry's.
 */
static const char *
kind_of(const CamtEntry *e, bool credit, bool returned, const char *subfamily)
{
	if (e->reversal)
		return "reversal";
	if (returned || (subfamily != NULL &&
					 (strcmp(subfamily, "RRTN") == 0 || strcmp(subfamily, "UPDD") == 0 ||
					  strcmp(subfamily, "RPCR") == 0)))
		return "return";
	return credit ? "credit" : "debit";
}

/* A row for an entry without transaction details. */
static void
entry_row(CamtCtx *cx, const CamtEntry *e)
{
	CamtRow    *row = new_row(cx, e, e->path);
	char	   *subfamily;

	row->transaction_code = bank_tx_code(cx, e->bk_tx_cd, &subfamily);
	row->kind = kind_of(e, e->credit, false, subfamily);
	row->bank_ref = make_bank_ref(row, NULL, e->acct_svcr_ref, false, 0);
}

/* Remittance information: references and text. */
static void
remittance(CamtCtx *cx, CamtRow *row, xmlNodePtr rmt)
{
	char	   *text = NULL;

	if (rmt == NULL)
		return;
	for (xmlNodePtr u = child(cx, rmt, "Ustrd"); u != NULL; u = next_named(cx, u, "Ustrd"))
		text = join(text, "\n", node_text(u));
	for (xmlNodePtr s = child(cx, rmt, "Strd"); s != NULL; s = next_named(cx, s, "Strd"))
	{
		xmlNodePtr	cri = child(cx, s, "CdtrRefInf");
		char	   *ref = text_at(cx, cri, "Ref");

		if (ref != NULL)
		{
			char	   *code = code_or_proprietary(cx, child(cx, cri, "Tp"));

			if (row->reference == NULL)
			{
				row->reference = ref;
				row->reference_code = code;
			}
			else
			{
				CamtRef    *r = palloc(sizeof(CamtRef));

				r->ref = ref;
				r->code = code;
				row->extra = lappend(row->extra, r);
			}
		}
		for (xmlNodePtr d = child(cx, s, "RfrdDocInf"); d != NULL; d = next_named(cx, d, "RfrdDocInf"))
		{
			char	   *nb = text_at(cx, d, "Nb");

			if (nb != NULL)
			{
				CamtRef    *r = palloc(sizeof(CamtRef));

				r->ref = nb;
				r->code = code_or_proprietary(cx, child(cx, d, "Tp"));
				row->extra = lappend(row->extra, r);
			}
		}
		for (xmlNodePtr a = child(cx, s, "AddtlRmtInf"); a != NULL; a = next_named(cx, a, "AddtlRmtInf"))
			text = join(text, "\n", node_text(a));
	}
	row->remittance = text;
}

/*
 * A row for one transaction (TxDtls).  units/currency: its amount (the
 * entry's when the entry holds only this transaction).
 */
/* A transaction's own CdtDbtInd: 1 for CRDT, 0 for DBIT, -1 when it states none. */
static int
tx_indicator(CamtCtx *cx, xmlNodePtr tx, const char *path)
{
	char	   *ind = text_at(cx, tx, "CdtDbtInd");

	if (ind == NULL)
		return -1;
	return credit_debit(cx, ind, psprintf("%s/CdtDbtInd", path)) ? 1 : 0;
}

static void
tx_row(CamtCtx *cx, const CamtEntry *e, xmlNodePtr tx, const char *path,
	   bool split, int tx_no, int64 units, uint32 currency)
{
	CamtRow    *row = new_row(cx, e, path);
	xmlNodePtr	refs = child(cx, tx, "Refs");
	char	   *tx_ref = text_at(cx, refs, "AcctSvcrRef");
	char	   *e2e = text_at(cx, refs, "EndToEndId");
	int			ind = tx_indicator(cx, tx, path);
	xmlNodePtr	rtr = child(cx, tx, "RtrInf");
	xmlNodePtr	code = child(cx, tx, "BkTxCd");
	xmlNodePtr	parties = child(cx, tx, "RltdPties");
	/* money in: a CRDT transaction, or one in a CRDT entry that states none */
	bool		incoming = ind == -1 ? e->credit : ind == 1;
	char	   *subfamily;
	xmlNodePtr	party;
	xmlNodePtr	acct;

	row->units = units;
	row->currency = currency;
	if (e2e != NULL && pg_strcasecmp(e2e, "NOTPROVIDED") != 0)
		row->end_to_end_id = e2e;
	row->transaction_code = bank_tx_code(cx, code ? code : e->bk_tx_cd, &subfamily);
	if (rtr != NULL)
	{
		row->return_reason = text_at(cx, rtr, "Rsn/Cd");
		if (row->return_reason == NULL)
			row->return_reason = text_at(cx, rtr, "Rsn/Prtry");
	}
	row->kind = kind_of(e, incoming, rtr != NULL, subfamily);

	/* the other party: who sent money in, or who received money out */
	party = child(cx, parties, incoming ? "Dbtr" : "Cdtr");
	acct = child(cx, parties, incoming ? "DbtrAcct" : "CdtrAcct");
	if (party == NULL && acct == NULL)
	{
		party = child(cx, parties, incoming ? "Cdtr" : "Dbtr");
		acct = child(cx, parties, incoming ? "CdtrAcct" : "DbtrAcct");
	}
	if (party != NULL)
	{
		party = party_of(cx, party);
		row->payer_name = text_at(cx, party, "Nm");
		row->payer_address = address_of(cx, child(cx, party, "PstlAdr"));
		row->payer_org_no = text_at(cx, party, "Id/OrgId/Othr/Id");
	}
	row->payer_account = account_of(cx, acct);
	if (row->payer_account != NULL)
		row->payer_account = normalize_account(row->payer_account);

	remittance(cx, row, child(cx, tx, "RmtInf"));
	row->bank_ref = make_bank_ref(row, tx_ref, e->acct_svcr_ref, split, tx_no);
}

/* The amount of one transaction of a batch, if it states one. */
static bool
tx_amount(CamtCtx *cx, xmlNodePtr tx, const char *path, int64 *units, uint32 *currency)
{
	xmlNodePtr	amt = child(cx, tx, "Amt");
	const char *where = "Amt";

	if (amt == NULL)
	{
		amt = find(cx, tx, "AmtDtls/TxAmt/Amt");
		where = "AmtDtls/TxAmt/Amt";
	}
	if (amt == NULL)
	{
		/* what the payer instructed; used when it is in the entry's currency */
		amt = find(cx, tx, "AmtDtls/InstdAmt/Amt");
		where = "AmtDtls/InstdAmt/Amt";
	}
	if (amt == NULL)
		return false;
	parse_amount(cx, amt, psprintf("%s/%s", path, where), units, currency);
	return true;
}

/*
 * Does a transaction of a batch go the other way than its entry (its own
 * CdtDbtInd says so)?  Its amount then counts against the entry's: a credit
 * entry of 900.00 may hold a credit of 1000.00 and a debit of 100.00.
 */
static bool
tx_against(CamtCtx *cx, const CamtEntry *e, xmlNodePtr tx, const char *path)
{
	int			ind = tx_indicator(cx, tx, path);

	return ind >= 0 && (ind == 1) != e->credit;
}

/*
 * An amount of 0 moves no money: no payment row (ar.payment holds positive
 * amounts only).  The skip is reported, so that it is not silent.
 */
static bool
skip_zero(const CamtCtx *cx, const char *path, int64 units, uint32 currency)
{
	char		code[4];

	if (units != 0)
		return false;
	ArCurrencyUnpack(currency, code);
	ereport(NOTICE,
			(errmsg("skipped %s of %s message: its amount is 0 %s, which moves no money",
					path, cx->format, code)));
	return true;
}

/*
 * One charge amount (Chrgs/Amt, Chrgs/Rcrd/Amt, Chrgs/TtlChrgsAndTaxAmt),
 * added to *total: a debit (the default, what charges are) adds, a credit
 * subtracts.  False when it is not in the entry's currency.
 */
static bool
add_charge(CamtCtx *cx, const CamtEntry *e, xmlNodePtr amt, xmlNodePtr holder,
		   const char *where, int64 *total)
{
	int64		units;
	uint32		currency;
	char	   *ind = text_at(cx, holder, "CdtDbtInd");
	bool		credit = ind != NULL && credit_debit(cx, ind, psprintf("%s/CdtDbtInd", where));

	parse_amount(cx, amt, psprintf("%s/Amt", where), &units, &currency);
	if (currency != e->currency)
		return false;
	if (credit ? pg_sub_s64_overflow(*total, units, total) : pg_add_s64_overflow(*total, units, total))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("the charges of %s in %s message are out of range", e->path, cx->format),
				 errdetail("Nothing was imported.")));
	return true;
}

/*
 * The bank's charges that the entry's amount is net of (Ntry/Chrgs), in
 * the entry's currency: camt.053.001.02 repeats Chrgs with an Amt each,
 * .08 has Chrgs/Rcrd records (those with ChrgInclInd false are not in the
 * entry's amount); TtlChrgsAndTaxAmt stands in when there is neither.  0
 * when there are none, or when one is in another currency (they cannot be
 * set against the entry then).
 */
static int64
entry_charges(CamtCtx *cx, const CamtEntry *e, xmlNodePtr ntry)
{
	int64		total = 0;
	int			k = 0;

	for (xmlNodePtr c = child(cx, ntry, "Chrgs"); c != NULL; c = next_named(cx, c, "Chrgs"))
	{
		char	   *where = psprintf("%s/Chrgs[%d]", e->path, ++k);
		xmlNodePtr	rcrd = child(cx, c, "Rcrd");
		xmlNodePtr	amt = child(cx, c, "Amt");
		xmlNodePtr	ttl = child(cx, c, "TtlChrgsAndTaxAmt");
		int			r = 0;

		for (; rcrd != NULL; rcrd = next_named(cx, rcrd, "Rcrd"))
		{
			char	   *incl = text_at(cx, rcrd, "ChrgInclInd");
			char	   *rwhere = psprintf("%s/Rcrd[%d]", where, ++r);
			xmlNodePtr	ramt = child(cx, rcrd, "Amt");

			if (incl != NULL && (strcmp(incl, "false") == 0 || strcmp(incl, "0") == 0))
				continue;
			if (ramt == NULL)
				missing(cx, rwhere, "Amt");
			if (!add_charge(cx, e, ramt, rcrd, rwhere, &total))
				return 0;
		}
		if (r > 0)
			continue;
		if (amt == NULL && ttl == NULL)
			continue;
		if (!add_charge(cx, e, amt ? amt : ttl, c, where, &total))
			return 0;
	}
	return Max(total, 0);
}

/*
 * A debit row for the charges a credit entry is net of: the transactions
 * keep what their payers paid, and the account's money still adds up.
 */
static void
charges_row(CamtCtx *cx, const CamtEntry *e, int64 charges)
{
	CamtRow    *row = new_row(cx, e, psprintf("%s/Chrgs", e->path));

	row->units = charges;
	row->kind = "debit";
	row->transaction_code = "ACMT/MDOP/CHRG";	/* ISO: charges */
	row->remittance = "bank charges";
	row->bank_ref = make_bank_ref(row, NULL,
								  e->acct_svcr_ref ? psprintf("%s/charges", e->acct_svcr_ref) : NULL,
								  false, 0);
}

static void
camt_entry(CamtCtx *cx, xmlNodePtr ntry, const char *path,
		   char *statement_id, char *account)
{
	CamtEntry	e;
	xmlNodePtr	amt;
	xmlNodePtr	sts;
	char	   *rvsl;
	List	   *txs = NIL;
	List	   *paths = NIL;
	int			ndtls = 0;
	int			ntx;
	int64		charges;
	int64		net;

	memset(&e, 0, sizeof(e));
	e.path = path;
	e.statement_id = statement_id;
	e.account = account;

	amt = child(cx, ntry, "Amt");
	if (amt == NULL)
		missing(cx, path, "Amt");
	parse_amount(cx, amt, psprintf("%s/Amt", path), &e.units, &e.currency);
	e.credit = credit_debit(cx, required_text(cx, ntry, "CdtDbtInd", path),
							psprintf("%s/CdtDbtInd", path));
	rvsl = text_at(cx, ntry, "RvslInd");
	if (rvsl != NULL)
	{
		if (strcmp(rvsl, "true") == 0 || strcmp(rvsl, "1") == 0)
			e.reversal = true;
		else if (strcmp(rvsl, "false") != 0 && strcmp(rvsl, "0") != 0)
			bad_value(cx, "reversal indicator", rvsl, psprintf("%s/RvslInd", path));
	}

	/* Sts is a code up to .04 and a choice of Cd and Prtry from .08 */
	sts = child(cx, ntry, "Sts");
	if (sts == NULL)
		missing(cx, path, "Sts");
	e.status = text_at(cx, sts, "Cd");
	if (e.status == NULL)
		e.status = text_at(cx, sts, "Prtry");
	if (e.status == NULL)
		e.status = node_text(sts);
	if (e.status == NULL)
		missing(cx, path, "Sts");
	/* ExternalEntryStatus1Code; anything else could be a booked entry lost */
	if (strcmp(e.status, "BOOK") != 0 && strcmp(e.status, "PDNG") != 0 &&
		strcmp(e.status, "INFO") != 0 && strcmp(e.status, "FUTR") != 0 &&
		strcmp(e.status, "RJCT") != 0)
		bad_value(cx, "entry status", e.status, psprintf("%s/Sts", path));

	e.has_booking = date_choice(cx, child(cx, ntry, "BookgDt"),
								psprintf("%s/BookgDt", path), &e.booking_date);
	if (!e.has_booking && strcmp(e.status, "BOOK") == 0)
		missing(cx, path, "BookgDt");
	e.has_value = date_choice(cx, child(cx, ntry, "ValDt"),
							  psprintf("%s/ValDt", path), &e.value_date);
	e.acct_svcr_ref = text_at(cx, ntry, "AcctSvcrRef");
	e.bk_tx_cd = child(cx, ntry, "BkTxCd");

	for (xmlNodePtr d = child(cx, ntry, "NtryDtls"); d != NULL; d = next_named(cx, d, "NtryDtls"))
	{
		int			n = 0;

		ndtls++;
		for (xmlNodePtr t = child(cx, d, "TxDtls"); t != NULL; t = next_named(cx, t, "TxDtls"))
		{
			txs = lappend(txs, t);
			paths = lappend(paths, psprintf("%s/NtryDtls[%d]/TxDtls[%d]", path, ndtls, ++n));
		}
	}
	ntx = list_length(txs);
	/*
	 * Charges count only for a batch of incoming money booked net of them,
	 * which could not be split otherwise (so that a notification and a
	 * statement of it cannot disagree: without the charges it is refused).
	 */
	charges = e.credit && !e.reversal && ntx > 1 ? entry_charges(cx, &e, ntry) : 0;

	/* an entry of 0 moves no money; its transactions must agree */
	if (e.units == 0)
	{
		for (int i = 0; i < ntx; i++)
		{
			int64		units;
			uint32		currency;

			if (tx_amount(cx, list_nth(txs, i), list_nth(paths, i), &units, &currency) && units != 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_XML_CONTENT),
						 errmsg("entry %s of %s message has the amount 0, but its transaction %s has an amount above 0",
								path, cx->format, (char *) list_nth(paths, i)),
						 errdetail("Nothing was imported.")));
		}
		skip_zero(cx, ntx == 1 ? linitial(paths) : path, e.units, e.currency);
		return;
	}
	if (ntx == 0)
		entry_row(cx, &e);
	else if (ntx == 1)
	{
		/*
		 * The entry's amount, also when it is net of charges: a
		 * notification without the charges and the statement with them
		 * must give the transaction the same amount and ref.
		 */
		tx_row(cx, &e, linitial(txs), linitial(paths), false, 1, e.units, e.currency);
	}
	else
	{
		/* a batch: split it when the transactions' amounts add up to the entry */
		int64	   *units = palloc(ntx * sizeof(int64));
		int64		sum = 0;
		bool		with_charges = false;
		const char *problem = NULL;
		const char *where = NULL;

		for (int i = 0; i < ntx; i++)
		{
			uint32		currency;
			const char *p = list_nth(paths, i);

			const char *why = NULL;

			if (!tx_amount(cx, list_nth(txs, i), p, &units[i], &currency))
				why = "has no amount (Amt, AmtDtls/TxAmt/Amt or AmtDtls/InstdAmt/Amt)";
			else if (currency != e.currency)
				why = "is not in the entry's currency";
			if (why != NULL)
			{
				if (problem == NULL)
				{
					problem = why;
					where = p;
				}
			}
			else if (pg_add_s64_overflow(sum, tx_against(cx, &e, list_nth(txs, i), p) ? -units[i] : units[i],
										 &sum))
				ereport(ERROR,
						(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
						 errmsg("the transaction amounts of %s in %s message are out of range",
								path, cx->format),
						 errdetail("Nothing was imported.")));
		}
		/* a batch net of the bank's charges */
		if (problem == NULL && sum != e.units && charges > 0 &&
			!pg_sub_s64_overflow(sum, charges, &net) && net == e.units)
			with_charges = true;
		else if (problem == NULL && sum != e.units)
		{
			ArAmount	s = {sum, e.currency, 0};
			ArAmount	t = {e.units, e.currency, 0};
			ArAmount	c = {charges, e.currency, 0};

			problem = psprintf("amounts add up to %s, but the entry is %s%s%s",
							   ArAmountToCString(&s), ArAmountToCString(&t),
							   charges > 0 ? " with charges of " : "",
							   charges > 0 ? ArAmountToCString(&c) : "");
			where = psprintf("%s/NtryDtls/TxDtls", path);
		}
		if (problem == NULL)
		{
			for (int i = 0; i < ntx; i++)
				if (!skip_zero(cx, list_nth(paths, i), units[i], e.currency))
					tx_row(cx, &e, list_nth(txs, i), list_nth(paths, i), true, i + 1,
						   units[i], e.currency);
			if (with_charges)
				charges_row(cx, &e, charges);
		}
		else if (e.credit && !e.reversal)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_XML_CONTENT),
					 errmsg("cannot split batch credit entry %s of %s message: %s %s",
							path, cx->format, where, problem),
					 errdetail("Each transaction of a batch of incoming payments must state its amount in the entry's currency, and the amounts must add up to the entry, or to the entry and its charges (Ntry/Chrgs). Nothing was imported.")));
		else
			entry_row(cx, &e);	/* a debit batch is kept whole, for the record */
	}
}

static void
camt_document(CamtCtx *cx, xmlDocPtr doc)
{
	xmlNodePtr	root = xmlDocGetRootElement(doc);
	xmlNodePtr	container;
	int			k = 0;
	int			fmt = -1;
	const char *report;

	if (doc->intSubset != NULL || doc->extSubset != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_XML_DOCUMENT),
				 errmsg("camt messages must not have a document type declaration"),
				 errdetail("ISO 20022 messages are defined by XML schemas; a DOCTYPE is refused so that no entity is ever expanded.")));
	if (root == NULL || strcmp((const char *) root->name, "Document") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_XML_DOCUMENT),
				 errmsg("not a camt message: the root element is \"%s\", not \"Document\"",
						root ? (const char *) root->name : "")));
	for (int i = 0; i < (int) lengthof(camt_formats); i++)
		if (root->ns != NULL && xmlStrEqual(root->ns->href, (const xmlChar *) camt_formats[i].ns))
			fmt = i;
	if (fmt < 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("unsupported camt message namespace \"%s\"",
						root->ns ? (const char *) root->ns->href : ""),
				 errdetail("ar reads camt.053.001.02, camt.053.001.08, camt.054.001.02, camt.054.001.04 and camt.054.001.08.")));
	cx->ns = (const xmlChar *) camt_formats[fmt].ns;
	cx->format = camt_formats[fmt].format;
	cx->source = camt_formats[fmt].source;
	report = camt_formats[fmt].report;

	container = child(cx, root, camt_formats[fmt].container);
	if (container == NULL)
		missing(cx, "Document", camt_formats[fmt].container);
	cx->message_id = required_text(cx, container, "GrpHdr/MsgId", camt_formats[fmt].container);
	if (child(cx, container, report) == NULL)
		missing(cx, camt_formats[fmt].container, report);

	for (xmlNodePtr st = child(cx, container, report); st != NULL; st = next_named(cx, st, report))
	{
		char	   *path = psprintf("%s[%d]", report, ++k);
		char	   *statement_id = required_text(cx, st, "Id", path);
		xmlNodePtr	acct = child(cx, st, "Acct");
		char	   *account = account_of(cx, acct);
		int			j = 0;

		if (acct == NULL)
			missing(cx, path, "Acct");
		if (account == NULL)
			missing(cx, psprintf("%s/Acct", path), "Id/IBAN");
		account = normalize_account(account);
		for (xmlNodePtr ntry = child(cx, st, "Ntry"); ntry != NULL; ntry = next_named(cx, ntry, "Ntry"))
		{
			/* an error here is caught by PG_CATCH, which frees the document */
			CHECK_FOR_INTERRUPTS();
			camt_entry(cx, ntry, psprintf("%s/Ntry[%d]", path, ++j), statement_id, account);
		}
	}
}

/* ------------------------------------------------------------------------
 * Output
 * ------------------------------------------------------------------------ */

static Datum
text_or_null(const char *s, bool *isnull)
{
	*isnull = (s == NULL);
	return s ? CStringGetTextDatum(s) : (Datum) 0;
}

/*
 * The three array columns of ar.bank_transaction (extra references, their
 * amounts, their codes), n elements each; the null arrays may be NULL.
 * Shared with bgmax.c.  ar.amount's storage is fixed (16 bytes, by
 * reference, double aligned), so no catalog lookup is needed per row.
 */
void
ArPutBankExtras(Datum *values, int n, Datum *refs, Datum *amounts, bool *amount_nulls,
				Datum *codes, bool *code_nulls, Oid amount_type)
{
	int			dims[1] = {n};
	int			lbs[1] = {1};

	values[BT_EXTRA_REFERENCES] = PointerGetDatum(construct_md_array(refs, NULL, 1, dims, lbs,
																	  TEXTOID, -1, false, TYPALIGN_INT));
	values[BT_EXTRA_AMOUNTS] = PointerGetDatum(construct_md_array(amounts, amount_nulls, 1, dims, lbs,
																   amount_type, sizeof(ArAmount), false,
																   TYPALIGN_DOUBLE));
	values[BT_EXTRA_CODES] = PointerGetDatum(construct_md_array(codes, code_nulls, 1, dims, lbs,
																 TEXTOID, -1, false, TYPALIGN_INT));
}

static void
put_row(const CamtCtx *cx, ReturnSetInfo *rsinfo, const CamtRow *row, Oid amount_type)
{
	Datum		values[BT_NATTS];
	bool		nulls[BT_NATTS];
	int			n = list_length(row->extra);
	Datum	   *refs = palloc((n + 1) * sizeof(Datum));
	Datum	   *codes = palloc((n + 1) * sizeof(Datum));
	bool	   *code_nulls = palloc((n + 1) * sizeof(bool));
	bool	   *amount_nulls = palloc((n + 1) * sizeof(bool));
	Datum	   *amounts = palloc0((n + 1) * sizeof(Datum));
	int			i = 0;
	ListCell   *lc;

	memset(nulls, 0, sizeof(nulls));
	values[BT_SEQ] = Int32GetDatum(row->seq);
	values[BT_SOURCE] = CStringGetTextDatum(cx->source);
	values[BT_FORMAT] = CStringGetTextDatum(cx->format);
	values[BT_MESSAGE_ID] = CStringGetTextDatum(cx->message_id);
	values[BT_STATEMENT_ID] = text_or_null(row->statement_id, &nulls[BT_STATEMENT_ID]);
	values[BT_ACCOUNT] = CStringGetTextDatum(row->account);
	values[BT_LOCATION] = CStringGetTextDatum(row->location);
	values[BT_ENTRY_STATUS] = CStringGetTextDatum(row->status);
	values[BT_KIND] = CStringGetTextDatum(row->kind);
	values[BT_BANK_REF] = CStringGetTextDatum(row->bank_ref);
	values[BT_REF_ORIGIN] = CStringGetTextDatum(row->ref_origin);
	nulls[BT_BOOKING_DATE] = !row->has_booking;
	values[BT_BOOKING_DATE] = DateADTGetDatum(row->booking_date);
	nulls[BT_VALUE_DATE] = !row->has_value;
	values[BT_VALUE_DATE] = DateADTGetDatum(row->value_date);
	values[BT_AMOUNT] = ArAmountPGetDatum(ArAmountMake(row->units, row->currency));
	values[BT_REFERENCE] = text_or_null(row->reference, &nulls[BT_REFERENCE]);
	values[BT_REFERENCE_CODE] = text_or_null(row->reference_code, &nulls[BT_REFERENCE_CODE]);
	values[BT_REMITTANCE] = text_or_null(row->remittance, &nulls[BT_REMITTANCE]);
	values[BT_PAYER_NAME] = text_or_null(row->payer_name, &nulls[BT_PAYER_NAME]);
	values[BT_PAYER_ACCOUNT] = text_or_null(row->payer_account, &nulls[BT_PAYER_ACCOUNT]);
	values[BT_PAYER_ADDRESS] = text_or_null(row->payer_address, &nulls[BT_PAYER_ADDRESS]);
	values[BT_PAYER_ORG_NO] = text_or_null(row->payer_org_no, &nulls[BT_PAYER_ORG_NO]);
	values[BT_END_TO_END_ID] = text_or_null(row->end_to_end_id, &nulls[BT_END_TO_END_ID]);
	values[BT_TRANSACTION_CODE] = text_or_null(row->transaction_code, &nulls[BT_TRANSACTION_CODE]);
	values[BT_RETURN_REASON] = text_or_null(row->return_reason, &nulls[BT_RETURN_REASON]);

	foreach(lc, row->extra)
	{
		CamtRef    *r = lfirst(lc);

		refs[i] = CStringGetTextDatum(r->ref);
		codes[i] = text_or_null(r->code, &code_nulls[i]);
		amount_nulls[i] = true;	/* camt gives no amount per extra reference */
		i++;
	}
	ArPutBankExtras(values, n, refs, amounts, amount_nulls, codes, code_nulls, amount_type);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/*
 * ar.camt_transactions(doc xml) → SETOF ar.bank_transaction: every entry
 * and transaction of a camt.053 or camt.054 message, in document order.
 */
PG_FUNCTION_INFO_V1(ar_camt_transactions);
Datum
ar_camt_transactions(PG_FUNCTION_ARGS)
{
	text	   *data = PG_GETARG_TEXT_PP(0);
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *str = text_to_cstring(data);
	char	   *utf8;
	size_t		len;
	PgXmlErrorContext *xmlerrcxt;
	volatile xmlParserCtxtPtr ctxt = NULL;
	volatile xmlDocPtr doc = NULL;
	CamtCtx		cx;
	Oid			amount_type;
	ListCell   *lc;
	List	   *booked = NIL;

	InitMaterializedSRF(fcinfo, 0);
	if (rsinfo->setDesc->natts != BT_NATTS)
		elog(ERROR, "ar.bank_transaction has %d columns, expected %d",
			 rsinfo->setDesc->natts, BT_NATTS);
	amount_type = TupleDescAttr(rsinfo->setDesc, BT_AMOUNT)->atttypid;

	utf8 = pg_server_to_any(str, strlen(str), PG_UTF8);
	len = strlen(utf8);
	if (len > (size_t) PG_INT32_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("camt message too large")));
	memset(&cx, 0, sizeof(cx));

	xmlerrcxt = pg_xml_init(PG_XML_STRICTNESS_ALL);
	PG_TRY();
	{
		ctxt = xmlNewParserCtxt();
		if (ctxt == NULL || pg_xml_error_occurred(xmlerrcxt))
			xml_ereport(xmlerrcxt, ERROR, ERRCODE_OUT_OF_MEMORY,
						"could not allocate parser context");
		/* no XML_PARSE_NOENT, no DTD loading; nothing from the network */
		doc = xmlCtxtReadMemory(ctxt, utf8, (int) len, NULL, "UTF-8", XML_PARSE_NONET);
		if (doc == NULL || pg_xml_error_occurred(xmlerrcxt))
			xml_ereport(xmlerrcxt, ERROR, ERRCODE_INVALID_XML_DOCUMENT,
						"invalid camt message");
		camt_document(&cx, doc);
	}
	PG_CATCH();
	{
		if (doc != NULL)
			xmlFreeDoc(doc);
		if (ctxt != NULL)
			xmlFreeParserCtxt(ctxt);
		pg_xml_done(xmlerrcxt, true);
		PG_RE_THROW();
	}
	PG_END_TRY();
	xmlFreeDoc(doc);
	xmlFreeParserCtxt(ctxt);
	pg_xml_done(xmlerrcxt, false);

	/*
	 * Only booked entries are imported, so only they take part in the
	 * numbering of repeated references: a pending entry ahead of its booked
	 * self must not push the booked one to "#2", which a later statement
	 * holding only the booked entry would not do.
	 */
	foreach(lc, cx.rows)
	{
		CamtRow    *row = lfirst(lc);

		if (strcmp(row->status, "BOOK") == 0)
			booked = lappend(booked, row);
	}
	ArDedupeBankRefs(booked, offsetof(CamtRow, bank_ref), offsetof(CamtRow, seq));
	foreach(lc, cx.rows)
		put_row(&cx, rsinfo, lfirst(lc), amount_type);
	return (Datum) 0;
}
