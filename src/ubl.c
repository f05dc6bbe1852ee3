/*-------------------------------------------------------------------------
 *
 * ubl.c
 *	  Issued invoices and credit notes as UBL 2.1 documents (Peppol BIS
 *	  Billing 3.0, EN 16931), and as a readable text rendering for the email
 *	  and print channels.
 *
 * One loader reads documents in chunks of up to CHUNK invoices through
 * prepared SPI plans kept for the life of the backend: the headers, their
 * entities and customers (each once), the lines and the VAT breakdowns; a
 * single document takes two queries (its header with both parties, and its
 * lines and breakdown together).  One checker finds everything a Peppol
 * document needs and the data lacks, with the rule that needs it; ar.issue
 * runs it before numbering (ar.ubl_check), and the renderers run it again.
 * Two writers produce the documents: UBL through libxml2's xmlTextWriter,
 * the readable form into a StringInfo.
 *
 * A rendering depends only on the document (number, dates, currency, totals,
 * references, lines and VAT breakdown, all immutable once issued), the
 * credited invoice and the two parties' master data: the same issued invoice
 * gives the same bytes every time until an entity or customer is changed.
 * The invoice note (mutable after issue) and the open amount are not used.
 *
 * src/ubl.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <libxml/xmlwriter.h>

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "common/int.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/typcache.h"
#include "utils/xml.h"

#include "ar.h"

/* peppol.c */
extern bool ArPeppolIdValid(const char *scheme, const char *id, const char **why);
extern bool ArPeppolSchemeKnown(const char *scheme);
extern bool ArUnitCodeKnown(const char *code);
extern bool ArVatexKnown(const char *code);
extern const char *ArVatexCategory(const char *code);
extern bool ArEn16931Currency(const char *code);

/* invoices loaded per round of SPI queries */
#define CHUNK 1000

#define UBL_CUSTOMIZATION "urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0"
#define UBL_PROFILE "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0"
#define NS_INVOICE "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
#define NS_CREDITNOTE "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2"
#define NS_CAC "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
#define NS_CBC "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"

typedef struct UblParty
{
	char	   *code;			/* entity code or customer number */
	char	   *name;
	char	   *country;
	char	   *vat_id;
	char	   *company_id;
	char	   *street;
	char	   *city;
	char	   *postal_code;
	char	   *email;			/* customer */
	char	   *iban;			/* entity */
	char	   *bic;			/* entity */
	char	   *bankgiro;		/* entity */
	char	   *fik_creditor;	/* entity: Danish FIK creditor number */
	char	   *currency;		/* entity: the currency it accounts in */
	char	   *peppol_scheme;
	char	   *peppol_id;
	char	   *channel;		/* customer */
} UblParty;

typedef struct UblLine
{
	int32		line_no;
	char	   *item_name;
	char	   *description;
	char	   *quantity;		/* numeric text */
	char	   *unit_code;
	char	   *unit_price;		/* numeric text */
	char	   *category;
	char	   *rate;			/* numeric text */
	char	   *exemption_code;
	char	   *exemption_reason;
	int64		net;			/* minor units */
	bool		price_off;		/* |quantity x price - net| > 0.02 */
} UblLine;

typedef struct UblTax
{
	char	   *category;
	char	   *rate;
	char	   *exemption_code;
	char	   *exemption_reason;
	int64		taxable;
	int64		tax;
} UblTax;

typedef struct UblDoc
{
	int64		id;
	bool		credit_note;
	char	   *number;			/* NULL while draft */
	bool		label_draft;	/* errors name the id: the number is not final */
	char	   *status;
	bool		has_issue_date;
	DateADT		issue_date;
	bool		has_due_date;
	DateADT		due_date;
	char		currency[4];
	int			minor_unit;
	bool		has_totals;
	int64		net_total;
	int64		tax_total;
	int64		total;
	bool		has_tax_accounting; /* BT-6 and BT-111: VAT in the seller's currency */
	char		tax_currency[4];
	int			tax_minor_unit;
	int64		tax_accounting;
	char	   *payment_reference;
	char	   *buyer_reference;
	char	   *order_reference;
	char	   *credited_number;
	bool		has_credited_date;
	DateADT		credited_date;
	UblParty	seller;
	UblParty	buyer;
	int			nlines;
	UblLine    *lines;
	int			ntaxes;
	UblTax	   *taxes;
} UblDoc;

/* One thing a document lacks or gets wrong, with the rule that needs it. */
typedef struct UblProblem
{
	int			sqlstate;
	char	   *message;
	char	   *detail;
	char	   *hint;
	const char *table;			/* ar.<table>.<column> to fix */
	const char *column;
} UblProblem;

/* A chunk of loaded documents, sorted by id. */
typedef struct UblChunk
{
	int			ndocs;
	UblDoc	   *docs;
} UblChunk;

/*
 * The queries of the loader, prepared once per backend with generic plans
 * and kept: [0] read a chunk (a bigint[] of ids), [1] and plan_parts_one one
 * document.  They are planned and run with enable_seqscan off (see
 * plan_guard): they fetch rows by key, and a plan made while the tables were
 * small, or before they were first analyzed, must not go on scanning them
 * whole once they have grown.
 */
static SPIPlanPtr plan_head[2];
static SPIPlanPtr plan_lines[2];
static SPIPlanPtr plan_taxes[2];
static SPIPlanPtr plan_parts_one;
static SPIPlanPtr plan_entities;
static SPIPlanPtr plan_customers;

#define DOC_COLUMNS \
"SELECT i.id, i.kind, i.number, i.status::text, i.issue_date, i.due_date, i.currency," \
"       i.net_total, i.tax_total, i.total, i.payment_reference," \
"       i.buyer_reference, i.order_reference, cr.number, cr.issue_date, i.tax_total_accounting,"

/* columns 17-31 of sql_head_one, 2-16 of sql_entities */
#define SELLER_COLUMNS \
"       e.code, e.name, e.country, e.vat_id, e.company_id, e.street, e.city, e.postal_code," \
"       e.iban, e.bic, e.bankgiro, e.peppol_scheme, e.peppol_id, e.fik_creditor, e.currency"

/* columns 32-43 of sql_head_one, 2-13 of sql_customers */
#define BUYER_COLUMNS \
"       c.customer_no, c.name, c.country, c.vat_id, c.company_id, c.street, c.city," \
"       c.postal_code, c.email, c.peppol_scheme, c.peppol_id, c.channel"

/*
 * Headers of many documents, with the ids of their parties (columns 17, 18);
 * the parties are read once per chunk by sql_entities and sql_customers.
 */
static const char *const sql_head =
DOC_COLUMNS
"       i.entity_id, i.customer_id"
"  FROM ar.invoice i"
"  LEFT JOIN ar.invoice cr ON cr.id OPERATOR(pg_catalog.=) i.credited_invoice_id"
" WHERE i.id OPERATOR(pg_catalog.=) %s";

static const char *const sql_entities =
"SELECT e.id," SELLER_COLUMNS
"  FROM ar.entity e WHERE e.id OPERATOR(pg_catalog.=) ANY ($1)";

static const char *const sql_customers =
"SELECT c.id," BUYER_COLUMNS
"  FROM ar.customer c WHERE c.id OPERATOR(pg_catalog.=) ANY ($1)";

/*
 * The header of one document: the parties as LATERAL subqueries that are
 * not flattened (OFFSET 0), so that each is a lookup by id rather than a
 * hash of a whole table per call.
 */
static const char *const sql_head_one =
DOC_COLUMNS SELLER_COLUMNS "," BUYER_COLUMNS
"  FROM ar.invoice i"
"  CROSS JOIN LATERAL (SELECT * FROM ar.entity x"
"                       WHERE x.id OPERATOR(pg_catalog.=) i.entity_id OFFSET 0) e"
"  CROSS JOIN LATERAL (SELECT * FROM ar.customer x"
"                       WHERE x.id OPERATOR(pg_catalog.=) i.customer_id OFFSET 0) c"
"  LEFT JOIN LATERAL (SELECT x.number, x.issue_date FROM ar.invoice x"
"                      WHERE x.id OPERATOR(pg_catalog.=) i.credited_invoice_id OFFSET 0) cr ON true"
" WHERE i.id OPERATOR(pg_catalog.=) %s";

static const char *const sql_lines =
"SELECT l.invoice_id, l.line_no, l.item_name, l.description, l.quantity::text, l.unit_code,"
"       l.unit_price::text, l.vat_category, l.vat_rate::text, l.vat_exemption_code,"
"       l.vat_exemption_reason, l.net_amount,"
"       pg_catalog.abs(l.quantity OPERATOR(pg_catalog.*) l.unit_price OPERATOR(pg_catalog.-)"
"                      ar.value_of(l.net_amount)) OPERATOR(pg_catalog.>) 0.02"
"  FROM ar.invoice_line l"
" WHERE l.invoice_id OPERATOR(pg_catalog.=) %s"
" ORDER BY l.invoice_id, l.line_no";

/*
 * Lines and VAT breakdown of one document in one query (one executor start
 * instead of two): column 1 tells which, the line columns keep their places
 * of sql_lines, the breakdown's amounts are in 12 and 14.  Sorted in C.
 */
static const char *const sql_parts_one =
"SELECT 'L', l.line_no, l.item_name, l.description, l.quantity::text, l.unit_code,"
"       l.unit_price::text, l.vat_category, l.vat_rate::text, l.vat_exemption_code,"
"       l.vat_exemption_reason, l.net_amount,"
"       pg_catalog.abs(l.quantity OPERATOR(pg_catalog.*) l.unit_price OPERATOR(pg_catalog.-)"
"                      ar.value_of(l.net_amount)) OPERATOR(pg_catalog.>) 0.02,"
"       NULL::ar.amount"
"  FROM ar.invoice_line l"
" WHERE l.invoice_id OPERATOR(pg_catalog.=) $1"
" UNION ALL "
"SELECT 'T', NULL, NULL, NULL, NULL, NULL, NULL, t.vat_category, t.vat_rate::text,"
"       t.exemption_code, t.exemption_reason, t.taxable_amount, NULL, t.tax_amount"
"  FROM ar.invoice_tax t"
" WHERE t.invoice_id OPERATOR(pg_catalog.=) $1";

/* VAT breakdown: standard rates first, highest first, then the other categories */
static const char *const sql_taxes =
"SELECT t.invoice_id, t.vat_category, t.vat_rate::text, t.exemption_code, t.exemption_reason,"
"       t.taxable_amount, t.tax_amount"
"  FROM ar.invoice_tax t"
" WHERE t.invoice_id OPERATOR(pg_catalog.=) %s"
" ORDER BY t.invoice_id,"
"       CASE t.vat_category WHEN 'S' THEN 1 WHEN 'Z' THEN 2 WHEN 'E' THEN 3 WHEN 'AE' THEN 4"
"                           WHEN 'K' THEN 5 WHEN 'G' THEN 6 ELSE 7 END,"
"       t.vat_rate DESC";

/* ------------------------------------------------------------------------
 * Small helpers
 * ------------------------------------------------------------------------ */

static bool
is_blank(const char *s)
{
	if (s == NULL)
		return true;
	for (; *s; s++)
		if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r')
			return false;
	return true;
}

/* blank text counts as absent */
static inline bool
present(const char *s)
{
	return !is_blank(s);
}

static const char *
doc_kind(const UblDoc *doc)
{
	return doc->credit_note ? "credit note" : "invoice";
}

/* "invoice INV-2026-000001" or, for a draft, "invoice 7" */
static char *
doc_label(const UblDoc *doc)
{
	if (doc->number && !doc->label_draft)
		return psprintf("%s %s", doc_kind(doc), doc->number);
	/* a draft by its id and order (an order's draft carries its number) */
	if (present(doc->order_reference))
		return psprintf("%s " INT64_FORMAT " (order %s)", doc_kind(doc), doc->id, doc->order_reference);
	return psprintf("%s " INT64_FORMAT, doc_kind(doc), doc->id);
}

static void
fmt_date(char *buf, DateADT d)
{
	int			y,
				m,
				dd;

	j2date(d + POSTGRES_EPOCH_JDATE, &y, &m, &dd);
	if (y < 1 || y > 9999)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("date out of range for an e-invoice: year %d", y)));
	buf[0] = '0' + y / 1000;
	buf[1] = '0' + y / 100 % 10;
	buf[2] = '0' + y / 10 % 10;
	buf[3] = '0' + y % 10;
	buf[4] = '-';
	buf[5] = '0' + m / 10;
	buf[6] = '0' + m % 10;
	buf[7] = '-';
	buf[8] = '0' + dd / 10;
	buf[9] = '0' + dd % 10;
	buf[10] = '\0';
}

/*
 * units of a currency with minor digits, written with digits <= minor
 * fraction digits (units must then be a multiple of 10^(minor - digits)).
 * buf has room for 32 bytes.
 */
static void
fmt_units(char *buf, int64 units, int minor, int digits)
{
	int64		scaled = units / ArPow10[minor - digits];
	uint64		u = scaled < 0 ? -(uint64) scaled : (uint64) scaled;
	char		tmp[32];
	int			n = 0;
	char	   *o = buf;

	/* digits from the right, at least one before the point */
	do
	{
		tmp[n++] = '0' + u % 10;
		u /= 10;
	} while (u > 0 || n <= digits);
	if (scaled < 0)
		*o++ = '-';
	while (n > 0)
	{
		if (n == digits)
			*o++ = '.';
		*o++ = tmp[--n];
	}
	*o = '\0';
}

/* fraction digits EN 16931 allows: 2, or fewer where the currency has fewer */
static inline int
ubl_digits(const UblDoc *doc)
{
	return Min(doc->minor_unit, 2);
}

/* does an amount need more fraction digits than EN 16931 allows (BR-DEC)? */
static inline bool
too_precise(const UblDoc *doc, int64 units)
{
	return doc->minor_unit > 2 && units % ArPow10[doc->minor_unit - 2] != 0;
}

/*
 * Is an amount too large for the official rules?  The Peppol schematron
 * computes some checks (BR-S-08 and its kin) in xs:double, which from 2^53
 * currency units on cannot hold every cent: such a document fails
 * validation however right its sums are.  ar sends net amounts (of lines
 * and VAT bases) below 10^15 units.
 */
#define UBL_MAX_EXPONENT 15

static inline bool
too_large(const UblDoc *doc, int64 units)
{
	int			e = UBL_MAX_EXPONENT + doc->minor_unit;

	/* an int64 of minor units cannot reach 10^19 */
	return e <= 18 && (units >= ArPow10[e] || units <= -ArPow10[e]);
}

/* a character that XML 1.0 cannot carry: C0 controls other than TAB, LF, CR; U+FFFE, U+FFFF */
static bool
has_control_char(const char *s)
{
	if (s == NULL)
		return false;
	for (; *s; s++)
	{
		unsigned char c = (unsigned char) *s;

		if (c < 0x20 && c != '\t' && c != '\n' && c != '\r')
			return true;
		if (ArUtf8Noncharacter((const unsigned char *) s))
			return true;
	}
	return false;
}

/* the digits and letters of an identifier, without blanks, dashes and dots */
static char *
compact_id(const char *s)
{
	char	   *out = palloc(strlen(s) + 1);
	char	   *o = out;

	for (; *s; s++)
		if (*s != ' ' && *s != '-' && *s != '.')
			*o++ = *s;
	*o = '\0';
	return out;
}

/* IBAN without blanks, upper case */
static char *
compact_iban(const char *s)
{
	char	   *out = palloc(strlen(s) + 1);
	char	   *o = out;

	/* the blanks ar.iban_valid ignores: all white space */
	for (; *s; s++)
		if (!isspace((unsigned char) *s))
			*o++ = pg_ascii_toupper((unsigned char) *s);
	*o = '\0';
	return out;
}

/*
 * The ISO 6523 scheme of a legal registration id in a party's country, where
 * Peppol checks its format: Swedish, Norwegian and Danish organisation
 * numbers.  NULL for other countries (the id is then written without scheme).
 */
static const char *
company_scheme(const char *country)
{
	if (strcmp(country, "SE") == 0)
		return "0007";
	if (strcmp(country, "NO") == 0)
		return "0192";
	if (strcmp(country, "DK") == 0)
		return "0184";
	return NULL;
}

/* The standard exemption reason code and text of a VAT category. */
static const struct
{
	const char *category;
	const char *code;			/* NULL: none (E depends on the supply) */
	const char *text;
}			standard_exemptions[] =
{
	{"AE", "VATEX-EU-AE", "Reverse charge"},
	{"K", "VATEX-EU-IC", "Intra-community supply"},
	{"G", "VATEX-EU-G", "Export outside the EU"},
	{"O", "VATEX-EU-O", "Not subject to VAT"},
	{"E", NULL, "Exempt from VAT"},
};

/* the standard exemption reason code of a VAT category (NULL: none) */
static const char *
default_exemption_code(const char *category)
{
	for (size_t i = 0; i < lengthof(standard_exemptions); i++)
		if (strcmp(category, standard_exemptions[i].category) == 0)
			return standard_exemptions[i].code;
	return NULL;
}

/* the standard exemption reason text of a VAT category (NULL: none) */
static const char *
default_exemption_text(const char *category)
{
	for (size_t i = 0; i < lengthof(standard_exemptions); i++)
		if (strcmp(category, standard_exemptions[i].category) == 0)
			return standard_exemptions[i].text;
	return NULL;
}

/*
 * The exemption code and text a VAT breakdown row carries: the invoice's own,
 * completed with the standard code and text of its category.  S and Z carry
 * none (BR-S-10, BR-Z-10).
 */
static void
exemption_of(const UblTax *t, const char **code, const char **text)
{
	*code = present(t->exemption_code) ? t->exemption_code : NULL;
	*text = present(t->exemption_reason) ? t->exemption_reason : NULL;
	if (strcmp(t->category, "S") == 0 || strcmp(t->category, "Z") == 0)
	{
		*code = *text = NULL;
		return;
	}
	if (*code == NULL)
		*code = default_exemption_code(t->category);
	if (*text == NULL)
		*text = default_exemption_text(t->category);
}

/* does the document have only "not subject to VAT" lines (BR-O-*)? */
static bool
only_category_o(const UblDoc *doc)
{
	for (int i = 0; i < doc->nlines; i++)
		if (strcmp(doc->lines[i].category, "O") != 0)
			return false;
	return doc->nlines > 0;
}

static bool
has_category(const UblDoc *doc, const char *category)
{
	for (int i = 0; i < doc->nlines; i++)
		if (strcmp(doc->lines[i].category, category) == 0)
			return true;
	return false;
}

/*
 * net + VAT as the breakdown gives it; for a draft before ar.issue has
 * written its breakdown, the net of the lines (the sign is what matters)
 */
static int64
doc_total(const UblDoc *doc)
{
	int64		sum = 0;
	bool		overflow = false;

	if (doc->has_totals)
		return doc->total;
	for (int i = 0; i < doc->ntaxes; i++)
		overflow |= pg_add_s64_overflow(sum, doc->taxes[i].taxable, &sum) ||
			pg_add_s64_overflow(sum, doc->taxes[i].tax, &sum);
	if (doc->ntaxes == 0)
		for (int i = 0; i < doc->nlines; i++)
			overflow |= pg_add_s64_overflow(sum, doc->lines[i].net, &sum);
	if (overflow)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("the total of invoice %lld is out of range", (long long) doc->id)));
	return sum;
}

/*
 * The VAT breakdown of a draft whose breakdown ar.issue has not written yet,
 * as far as the checks need it: one row per category and rate, with the
 * exemption code and reason the lines give and the sum of their nets (the
 * VAT left 0).
 */
static int
draft_breakdown(const UblDoc *doc, UblTax **out)
{
	UblTax	   *t = palloc0(sizeof(UblTax) * Max(doc->nlines, 1));
	int			n = 0;

	for (int i = 0; i < doc->nlines; i++)
	{
		const UblLine *l = &doc->lines[i];
		int			k;

		for (k = 0; k < n; k++)
			if (strcmp(t[k].category, l->category) == 0 && strcmp(t[k].rate, l->rate) == 0)
				break;
		if (k == n)
		{
			t[n].category = l->category;
			t[n].rate = l->rate;
			n++;
		}
		if (pg_add_s64_overflow(t[k].taxable, l->net, &t[k].taxable))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("the net of VAT category %s at %s%% of invoice %lld is out of range",
							l->category, l->rate, (long long) doc->id)));
		if (present(l->exemption_code))
			t[k].exemption_code = l->exemption_code;
		if (present(l->exemption_reason))
			t[k].exemption_reason = l->exemption_reason;
	}
	*out = t;
	return n;
}

/* ------------------------------------------------------------------------
 * Loading
 * ------------------------------------------------------------------------ */

/*
 * enable_seqscan off for the loader's queries, as if the function had SET
 * enable_seqscan = off; plan_guard_end (or an error) restores it.  Planning
 * happens at execution (first use, or after an invalidation), so the setting
 * covers executions.
 */
static int
plan_guard_begin(void)
{
	int			nest = NewGUCNestLevel();

	(void) set_config_option("enable_seqscan", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	return nest;
}

static void
plan_guard_end(int nest)
{
	AtEOXact_GUC(true, nest);
}

static SPIPlanPtr
prepare_plan(const char *template, bool single)
{
	Oid			argtype = single ? INT8OID : INT8ARRAYOID;
	char	   *sql = psprintf(template, single ? "$1" : "ANY ($1)");
	SPIPlanPtr	p = SPI_prepare_cursor(sql, 1, &argtype, CURSOR_OPT_GENERIC_PLAN);

	if (p == NULL)
		elog(ERROR, "SPI_prepare failed for \"%s\": %s", sql,
			 SPI_result_code_string(SPI_result));
	if (SPI_keepplan(p) != 0)
		elog(ERROR, "SPI_keepplan failed");
	return p;
}

static void
prepare_plans(bool single)
{
	if (plan_head[single] == NULL)
		plan_head[single] = prepare_plan(single ? sql_head_one : sql_head, single);
	if (single)
	{
		if (plan_parts_one == NULL)
			plan_parts_one = prepare_plan(sql_parts_one, true);
		return;
	}
	if (plan_entities == NULL)
	{
		Oid			argtype = INT4ARRAYOID;

		plan_entities = SPI_prepare_cursor(sql_entities, 1, &argtype, CURSOR_OPT_GENERIC_PLAN);
		if (plan_entities == NULL || SPI_keepplan(plan_entities) != 0)
			elog(ERROR, "SPI_prepare failed for \"%s\"", sql_entities);
	}
	if (plan_customers == NULL)
	{
		Oid			argtype = INT8ARRAYOID;

		plan_customers = SPI_prepare_cursor(sql_customers, 1, &argtype, CURSOR_OPT_GENERIC_PLAN);
		if (plan_customers == NULL || SPI_keepplan(plan_customers) != 0)
			elog(ERROR, "SPI_prepare failed for \"%s\"", sql_customers);
	}
	if (plan_lines[single] == NULL)
		plan_lines[single] = prepare_plan(sql_lines, single);
	if (plan_taxes[single] == NULL)
		plan_taxes[single] = prepare_plan(sql_taxes, single);
}

/*
 * Column values of a row fetched by SPI, deformed once (fetching them one by
 * one walks the row from its start each time).
 */
typedef struct Row
{
	Datum		v[48];
	bool		n[48];
} Row;

static void
deform(HeapTuple tup, TupleDesc td, Row *row)
{
	Assert(td->natts <= lengthof(row->v));
	heap_deform_tuple(tup, td, row->v, row->n);
}

/* column col (1-based) as a C string in the current context; NULL for NULL */
static char *
get_text(const Row *row, int col)
{
	return row->n[col - 1] ? NULL : TextDatumGetCString(row->v[col - 1]);
}

static int64
get_int64(const Row *row, int col)
{
	if (row->n[col - 1])
		elog(ERROR, "unexpected NULL in column %d of a UBL query", col);
	return DatumGetInt64(row->v[col - 1]);
}

static bool
get_date(const Row *row, int col, DateADT *out)
{
	if (!row->n[col - 1])
		*out = DatumGetDateADT(row->v[col - 1]);
	return !row->n[col - 1];
}

/* minor units of an ar.amount column; false for NULL */
/* BT-6 and BT-111 from ar.invoice.tax_total_accounting (NULL: none) */
static void
set_tax_accounting(UblDoc *d, const ArAmount *a)
{
	d->has_tax_accounting = a != NULL;
	if (a == NULL)
		return;
	ArCurrencyUnpack(a->currency, d->tax_currency);
	d->tax_minor_unit = ArMinorUnit(a->currency);
	d->tax_accounting = a->units;
}

static bool
get_units(const Row *row, int col, int64 *out)
{
	if (!row->n[col - 1])
		*out = DatumGetArAmountP(row->v[col - 1])->units;
	return !row->n[col - 1];
}

static void
run_plan(SPIPlanPtr plan, Datum ids)
{
	Datum		values[1] = {ids};
	int			rc = SPI_execute_plan(plan, values, NULL, true, 0);

	if (rc != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));
}

static int
cmp_int64(const void *a, const void *b)
{
	int64		x = *(const int64 *) a;
	int64		y = *(const int64 *) b;

	return (x > y) - (x < y);
}

static int
cmp_doc_id(const void *a, const void *b)
{
	return cmp_int64(&((const UblDoc *) a)->id, &((const UblDoc *) b)->id);
}

static UblDoc *
find_doc(const UblChunk *chunk, int64 id)
{
	UblDoc		key;

	key.id = id;
	return bsearch(&key, chunk->docs, chunk->ndocs, sizeof(UblDoc), cmp_doc_id);
}

/*
 * The document a row of lines or VAT breakdown belongs to; the rows come in
 * document order.  cur while id stays the same (*first false), else the
 * document of id (*first true).  A row of no loaded document is an error.
 */
static UblDoc *
doc_of_row(const UblChunk *chunk, UblDoc *cur, int64 id, const char *what, bool *first)
{
	*first = (cur == NULL || cur->id != id);
	if (!*first)
		return cur;
	cur = find_doc(chunk, id);
	if (cur == NULL)
		elog(ERROR, "%s of invoice " INT64_FORMAT " without its header", what, id);
	return cur;
}

/* the seller from 15 columns starting at c (SELLER_COLUMNS) */
static void
fill_seller(UblParty *p, const Row *row, int c)
{
	p->code = get_text(row, c);
	p->name = get_text(row, c + 1);
	p->country = get_text(row, c + 2);
	p->vat_id = get_text(row, c + 3);
	p->company_id = get_text(row, c + 4);
	p->street = get_text(row, c + 5);
	p->city = get_text(row, c + 6);
	p->postal_code = get_text(row, c + 7);
	p->iban = get_text(row, c + 8);
	p->bic = get_text(row, c + 9);
	p->bankgiro = get_text(row, c + 10);
	p->peppol_scheme = get_text(row, c + 11);
	p->peppol_id = get_text(row, c + 12);
	p->fik_creditor = get_text(row, c + 13);
	p->currency = get_text(row, c + 14);
}

/* the buyer from 12 columns starting at c (BUYER_COLUMNS) */
static void
fill_buyer(UblParty *p, const Row *row, int c)
{
	p->code = get_text(row, c);
	p->name = get_text(row, c + 1);
	p->country = get_text(row, c + 2);
	p->vat_id = get_text(row, c + 3);
	p->company_id = get_text(row, c + 4);
	p->street = get_text(row, c + 5);
	p->city = get_text(row, c + 6);
	p->postal_code = get_text(row, c + 7);
	p->email = get_text(row, c + 8);
	p->peppol_scheme = get_text(row, c + 9);
	p->peppol_id = get_text(row, c + 10);
	p->channel = get_text(row, c + 11);
}

/* a party read once for a chunk, by id */
typedef struct PartyEntry
{
	int64		id;
	UblParty	party;
} PartyEntry;

static int
cmp_party(const void *a, const void *b)
{
	return cmp_int64(&((const PartyEntry *) a)->id, &((const PartyEntry *) b)->id);
}

/*
 * The parties with the given ids (distinct, sorted), read by plan with an
 * array parameter of elemtype; seller or buyer columns.
 */
static PartyEntry *
load_parties(SPIPlanPtr plan, int64 *ids, int n, Oid elemtype, bool seller, MemoryContext cxt)
{
	Datum	   *elems = palloc(sizeof(Datum) * Max(n, 1));
	ArrayType  *arr;
	PartyEntry *out;
	uint64		nrows;
	MemoryContext oldcxt;

	for (int i = 0; i < n; i++)
		elems[i] = elemtype == INT4OID ? Int32GetDatum((int32) ids[i]) : Int64GetDatum(ids[i]);
	arr = elemtype == INT4OID ?
		construct_array(elems, n, INT4OID, 4, true, TYPALIGN_INT) :
		construct_array(elems, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
	run_plan(plan, PointerGetDatum(arr));
	nrows = SPI_processed;
	oldcxt = MemoryContextSwitchTo(cxt);
	out = palloc0(sizeof(PartyEntry) * Max(nrows, 1));
	for (uint64 r = 0; r < nrows; r++)
	{
		Row			row;

		deform(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, &row);
		out[r].id = elemtype == INT4OID ? DatumGetInt32(row.v[0]) : DatumGetInt64(row.v[0]);
		if (seller)
			fill_seller(&out[r].party, &row, 2);
		else
			fill_buyer(&out[r].party, &row, 2);
	}
	MemoryContextSwitchTo(oldcxt);
	SPI_freetuptable(SPI_tuptable);
	if (nrows != (uint64) n)
		elog(ERROR, "%d %s of a chunk of invoices not found", n - (int) nrows,
			 seller ? "entities" : "customers");
	qsort(out, n, sizeof(PartyEntry), cmp_party);
	pfree(elems);
	pfree(arr);
	return out;
}

static const UblParty *
find_party(const PartyEntry *parties, int n, int64 id)
{
	PartyEntry	key;
	PartyEntry *e;

	key.id = id;
	e = bsearch(&key, parties, n, sizeof(PartyEntry), cmp_party);
	if (e == NULL)
		elog(ERROR, "party " INT64_FORMAT " of a chunk of invoices not found", id);
	return &e->party;
}

/* distinct values of ids[0..n), sorted, in place; returns their number */
static int
sort_distinct(int64 *ids, int n)
{
	int			k = 0;

	qsort(ids, n, sizeof(int64), cmp_int64);
	for (int i = 0; i < n; i++)
		if (k == 0 || ids[k - 1] != ids[i])
			ids[k++] = ids[i];
	return k;
}

/* a line from columns 2..13 (sql_lines and sql_parts_one) */
static void
fill_line(UblLine *l, const Row *row, int64 id)
{
	l->line_no = DatumGetInt32(row->v[1]);
	l->item_name = get_text(row, 3);
	l->description = get_text(row, 4);
	l->quantity = get_text(row, 5);
	l->unit_code = get_text(row, 6);
	l->unit_price = get_text(row, 7);
	l->category = get_text(row, 8);
	l->rate = get_text(row, 9);
	l->exemption_code = get_text(row, 10);
	l->exemption_reason = get_text(row, 11);
	if (!get_units(row, 12, &l->net))
		elog(ERROR, "line %d of invoice " INT64_FORMAT " has no net amount", l->line_no, id);
	l->price_off = !row->n[12] && DatumGetBool(row->v[12]);
}

/* a VAT breakdown row from the given columns */
static void
fill_tax(UblTax *t, const Row *row, int64 id, int c_cat, int c_rate, int c_code,
		 int c_reason, int c_taxable, int c_tax)
{
	t->category = get_text(row, c_cat);
	t->rate = get_text(row, c_rate);
	t->exemption_code = get_text(row, c_code);
	t->exemption_reason = get_text(row, c_reason);
	if (!get_units(row, c_taxable, &t->taxable) || !get_units(row, c_tax, &t->tax))
		elog(ERROR, "VAT breakdown of invoice " INT64_FORMAT " has no amounts", id);
}

static int
cmp_line(const void *a, const void *b)
{
	int32		x = ((const UblLine *) a)->line_no;
	int32		y = ((const UblLine *) b)->line_no;

	return (x > y) - (x < y);
}

/* the order of sql_taxes: S, Z, E, AE, K, G, O; higher rates first */
static int
cmp_tax(const void *a, const void *b)
{
	static const char *const order[] = {"S", "Z", "E", "AE", "K", "G", "O"};
	const UblTax *x = a;
	const UblTax *y = b;
	int			ox = lengthof(order),
				oy = lengthof(order);
	double		rx,
				ry;

	for (int i = 0; i < (int) lengthof(order); i++)
	{
		if (strcmp(x->category, order[i]) == 0)
			ox = i;
		if (strcmp(y->category, order[i]) == 0)
			oy = i;
	}
	if (ox != oy)
		return ox - oy;
	rx = strtod(x->rate, NULL);
	ry = strtod(y->rate, NULL);
	return (rx < ry) - (rx > ry);
}

/* lines and breakdown of the one document of a chunk, by sql_parts_one */
static void
load_parts_one(UblDoc *doc, Datum id, MemoryContext cxt)
{
	uint64		nrows;
	MemoryContext oldcxt;
	int			nl = 0,
				nt = 0;

	run_plan(plan_parts_one, id);
	nrows = SPI_processed;
	oldcxt = MemoryContextSwitchTo(cxt);
	doc->lines = palloc0(sizeof(UblLine) * Max(nrows, 1));
	doc->taxes = palloc0(sizeof(UblTax) * Max(nrows, 1));
	for (uint64 r = 0; r < nrows; r++)
	{
		Row			row;

		deform(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, &row);
		if (*VARDATA_ANY(DatumGetPointer(row.v[0])) == 'L')
			fill_line(&doc->lines[nl++], &row, doc->id);
		else
			fill_tax(&doc->taxes[nt++], &row, doc->id, 8, 9, 10, 11, 12, 14);
	}
	MemoryContextSwitchTo(oldcxt);
	SPI_freetuptable(SPI_tuptable);
	doc->nlines = nl;
	doc->ntaxes = nt;
	if (nl > 1)
		qsort(doc->lines, nl, sizeof(UblLine), cmp_line);
	if (nt > 1)
		qsort(doc->taxes, nt, sizeof(UblTax), cmp_tax);
}

/*
 * Load the documents with the given ids (any order, duplicates allowed) into
 * cxt.  Must run inside an SPI connection.  Ids that do not exist are
 * missing from the chunk.
 */
static void
load_chunk(const int64 *ids, int n, MemoryContext cxt, UblChunk *chunk)
{
	MemoryContext oldcxt;
	int64	   *uniq;
	int			nuniq = 0;
	Datum	   *elems;
	ArrayType  *arr;
	Datum		arrd;
	uint64		nrows;
	bool		single;
	int			guard;
	int64	   *entity_ids;
	int64	   *customer_ids;

	single = n == 1;
	prepare_plans(single);
	guard = plan_guard_begin();

	/* distinct ids, as a bigint[] parameter (or the one id) */
	uniq = palloc(sizeof(int64) * Max(n, 1));
	memcpy(uniq, ids, sizeof(int64) * n);
	qsort(uniq, n, sizeof(int64), cmp_int64);
	for (int i = 0; i < n; i++)
		if (nuniq == 0 || uniq[nuniq - 1] != uniq[i])
			uniq[nuniq++] = uniq[i];
	elems = palloc(sizeof(Datum) * Max(nuniq, 1));
	for (int i = 0; i < nuniq; i++)
		elems[i] = Int64GetDatum(uniq[i]);
	arr = NULL;
	if (single)
		arrd = Int64GetDatum(ids[0]);
	else
	{
		arr = construct_array(elems, nuniq, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
		arrd = PointerGetDatum(arr);
	}

	/* headers (and, for one document, its parties) */
	run_plan(plan_head[single], arrd);
	nrows = SPI_processed;
	entity_ids = palloc(sizeof(int64) * Max(nrows, 1));
	customer_ids = palloc(sizeof(int64) * Max(nrows, 1));
	oldcxt = MemoryContextSwitchTo(cxt);
	chunk->ndocs = (int) nrows;
	chunk->docs = palloc0(sizeof(UblDoc) * Max(nrows, 1));
	for (uint64 r = 0; r < nrows; r++)
	{
		UblDoc	   *d = &chunk->docs[r];
		char	   *kind;
		char	   *cur;
		Row			row;

		deform(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, &row);
		d->id = get_int64(&row, 1);
		kind = get_text(&row, 2);
		d->credit_note = strcmp(kind, "credit_note") == 0;
		d->number = get_text(&row, 3);
		d->status = get_text(&row, 4);
		d->has_issue_date = get_date(&row, 5, &d->issue_date);
		d->has_due_date = get_date(&row, 6, &d->due_date);
		cur = get_text(&row, 7);
		strlcpy(d->currency, cur, sizeof(d->currency));
		d->minor_unit = ArMinorUnit(ArCurrencyParse(d->currency));
		d->has_totals = get_units(&row, 8, &d->net_total);
		d->has_totals &= get_units(&row, 9, &d->tax_total);
		d->has_totals &= get_units(&row, 10, &d->total);
		d->payment_reference = get_text(&row, 11);
		d->buyer_reference = get_text(&row, 12);
		d->order_reference = get_text(&row, 13);
		d->credited_number = get_text(&row, 14);
		d->has_credited_date = get_date(&row, 15, &d->credited_date);
		set_tax_accounting(d, row.n[15] ? NULL : DatumGetArAmountP(row.v[15]));

		if (single)
		{
			fill_seller(&d->seller, &row, 17);
			fill_buyer(&d->buyer, &row, 32);
		}
		else
		{
			/* the parties' ids: the parties follow, once per chunk */
			entity_ids[r] = DatumGetInt32(row.v[16]);
			customer_ids[r] = DatumGetInt64(row.v[17]);
		}
	}
	MemoryContextSwitchTo(oldcxt);
	SPI_freetuptable(SPI_tuptable);

	/* the parties of a chunk, each read once */
	if (!single && nrows > 0)
	{
		int64	   *eids = palloc(sizeof(int64) * nrows);
		int64	   *cids = palloc(sizeof(int64) * nrows);
		int			ne,
					nc;
		PartyEntry *sellers;
		PartyEntry *buyers;

		memcpy(eids, entity_ids, sizeof(int64) * nrows);
		memcpy(cids, customer_ids, sizeof(int64) * nrows);
		ne = sort_distinct(eids, (int) nrows);
		nc = sort_distinct(cids, (int) nrows);
		sellers = load_parties(plan_entities, eids, ne, INT4OID, true, cxt);
		buyers = load_parties(plan_customers, cids, nc, INT8OID, false, cxt);
		for (uint64 r = 0; r < nrows; r++)
		{
			chunk->docs[r].seller = *find_party(sellers, ne, entity_ids[r]);
			chunk->docs[r].buyer = *find_party(buyers, nc, customer_ids[r]);
		}
		pfree(eids);
		pfree(cids);
	}
	pfree(entity_ids);
	pfree(customer_ids);
	if (chunk->ndocs > 1)
		qsort(chunk->docs, chunk->ndocs, sizeof(UblDoc), cmp_doc_id);

	if (single)
	{
		if (chunk->ndocs == 1)
			load_parts_one(&chunk->docs[0], arrd, cxt);
	}
	else
	{
		/* lines, in invoice and line order */
		run_plan(plan_lines[single], arrd);
		nrows = SPI_processed;
		oldcxt = MemoryContextSwitchTo(cxt);
		{
			UblLine    *all = palloc0(sizeof(UblLine) * Max(nrows, 1));
			UblDoc	   *cur = NULL;

			for (uint64 r = 0; r < nrows; r++)
			{
				Row			row;
				int64		id;

				bool		first;

				deform(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, &row);
				id = get_int64(&row, 1);
				cur = doc_of_row(chunk, cur, id, "lines", &first);
				if (first)
					cur->lines = &all[r];
				fill_line(&all[r], &row, id);
				cur->nlines++;
			}
		}
		MemoryContextSwitchTo(oldcxt);
		SPI_freetuptable(SPI_tuptable);

		/* VAT breakdown */
		run_plan(plan_taxes[single], arrd);
		nrows = SPI_processed;
		oldcxt = MemoryContextSwitchTo(cxt);
		{
			UblTax	   *all = palloc0(sizeof(UblTax) * Max(nrows, 1));
			UblDoc	   *cur = NULL;

			for (uint64 r = 0; r < nrows; r++)
			{
				Row			row;
				int64		id;

				bool		first;

				deform(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, &row);
				id = get_int64(&row, 1);
				cur = doc_of_row(chunk, cur, id, "VAT breakdown", &first);
				if (first)
					cur->taxes = &all[r];
				fill_tax(&all[r], &row, id, 2, 3, 4, 5, 6, 7);
				cur->ntaxes++;
			}
		}
		MemoryContextSwitchTo(oldcxt);
		SPI_freetuptable(SPI_tuptable);
	}

	plan_guard_end(guard);
	pfree(uniq);
	pfree(elems);
	if (arr)
		pfree(arr);
}

/* the document of id in a loaded chunk, or an error */
static UblDoc *
chunk_doc(const UblChunk *chunk, int64 id)
{
	UblDoc	   *doc = find_doc(chunk, id);

	if (doc == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("invoice " INT64_FORMAT " does not exist", id)));
	return doc;
}

/* A draft or cancelled document has no rendering. */
static void
require_issued(const UblDoc *doc)
{
	if (doc->number == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s " INT64_FORMAT " is %s and cannot be rendered", doc_kind(doc), doc->id,
						doc->status),
				 errdetail("Only issued documents have a number, dates and totals."),
				 errhint("Issue it first with ar.issue().")));
	if (!doc->has_issue_date || !doc->has_totals ||
		(!doc->credit_note && !doc->has_due_date))
		elog(ERROR, "issued %s lacks its dates or totals", doc_label(doc));
}

/*
 * Is the invoice payable by Danish FIK (kortart 71): a DKK invoice of an
 * entity with a FIK creditor number.  The entity's references are then FIK
 * payment ids (a constraint of ar.entity); issuing gives every invoice one.
 */
static bool
pays_by_fik(const UblDoc *doc)
{
	return !doc->credit_note && present(doc->seller.fik_creditor) &&
		strcmp(doc->currency, "DKK") == 0;
}

/*
 * Does a Danish seller invoice a Danish buyer?  Their payment means are
 * limited (DK-R-005): no 30, so an account goes as 58.
 */
static bool
danish_domestic(const UblDoc *doc)
{
	return strcmp(doc->seller.country, "DK") == 0 && strcmp(doc->buyer.country, "DK") == 0;
}

/*
 * Is the seller's bankgiro a way to pay this document?  Only in SEK, as
 * payment means 30, which a Danish domestic invoice may not use; and every
 * means of one document shares one code (UBL-SR-47), so the IBAN then goes
 * as 30 too.
 */
static bool
pays_by_bankgiro(const UblDoc *doc)
{
	return present(doc->seller.bankgiro) && strcmp(doc->currency, "SEK") == 0 &&
		!danish_domestic(doc);
}

/* ------------------------------------------------------------------------
 * Checking: what Peppol and EN 16931 need that the data lacks
 * ------------------------------------------------------------------------ */

typedef struct ProblemList
{
	List	   *items;
	bool		first_only;		/* stop collecting after the first */
} ProblemList;

static void
problem(ProblemList *pl, int sqlstate, const char *table, const char *column,
		char *message, char *detail, char *hint)
{
	UblProblem *p;

	if (pl->first_only && pl->items != NIL)
		return;
	p = palloc(sizeof(UblProblem));
	p->sqlstate = sqlstate;
	p->table = table;
	p->column = column;
	p->message = message;
	p->detail = detail;
	p->hint = hint;
	pl->items = lappend(pl->items, p);
}

static void
raise_problem(const UblProblem *p)
{
	ereport(ERROR,
			(errcode(p->sqlstate),
			 errmsg_internal("%s", p->message),
			 p->detail ? errdetail_internal("%s", p->detail) : 0,
			 p->hint ? errhint("%s", p->hint) : 0,
			 err_generic_string(PG_DIAG_SCHEMA_NAME, "ar"),
			 err_generic_string(PG_DIAG_TABLE_NAME, p->table),
			 err_generic_string(PG_DIAG_COLUMN_NAME, p->column)));
}

/* text fields must fit in XML 1.0 */
static void
check_chars(ProblemList *pl, const UblDoc *doc, const char *table, const char *column,
			const char *what, const char *value)
{
	if (has_control_char(value))
		problem(pl, ERRCODE_CHARACTER_NOT_IN_REPERTOIRE, table, column,
				psprintf("%s: %s contains a character that XML cannot carry",
						 doc_label(doc), what),
				NULL, psprintf("Remove control characters, U+FFFE and U+FFFF from ar.%s.%s.",
							   table, column));
}

static void
check_party_chars(ProblemList *pl, const UblDoc *doc, const UblParty *p, bool seller)
{
	const char *table = seller ? "entity" : "customer";
	const char *who = seller ? "the seller's" : "the buyer's";

	check_chars(pl, doc, table, "name", psprintf("%s name", who), p->name);
	check_chars(pl, doc, table, "street", psprintf("%s street", who), p->street);
	check_chars(pl, doc, table, "city", psprintf("%s city", who), p->city);
	check_chars(pl, doc, table, "postal_code", psprintf("%s postal code", who), p->postal_code);
	check_chars(pl, doc, table, "vat_id", psprintf("%s VAT id", who), p->vat_id);
	check_chars(pl, doc, table, "company_id", psprintf("%s company id", who), p->company_id);
	check_chars(pl, doc, table, "email", psprintf("%s email", who), p->email);
	check_chars(pl, doc, table, "bic", psprintf("%s BIC", who), p->bic);
}

/* a party's legal registration id: valid for its country's scheme */
static void
check_company_id(ProblemList *pl, const UblDoc *doc, const UblParty *p, bool seller)
{
	const char *scheme;
	const char *why;
	char	   *id;

	if (!present(p->company_id))
		return;
	scheme = company_scheme(p->country);
	if (scheme == NULL)
		return;
	id = compact_id(p->company_id);
	if (!ArPeppolIdValid(scheme, id, &why))
		problem(pl, ERRCODE_INVALID_PARAMETER_VALUE, seller ? "entity" : "customer", "company_id",
				psprintf("%s: company_id \"%s\" of %s %s is not a valid %s organisation number",
						 doc_label(doc), p->company_id, seller ? "entity" : "customer", p->code,
						 strcmp(p->country, "SE") == 0 ? "Swedish" :
						 strcmp(p->country, "NO") == 0 ? "Norwegian" : "Danish"),
				psprintf("%s The e-invoice carries it as legal registration id with scheme %s "
						 "(PEPPOL-COMMON-R049, R041, R042; SE-R-013).", why, scheme),
				psprintf("Correct ar.%s.company_id.", seller ? "entity" : "customer"));
}

/*
 * Collect what the document needs for a valid Peppol BIS Billing 3.0 UBL
 * document and does not have.  Works on drafts (numbers and totals are not
 * looked at) so that ar.issue can refuse before numbering.
 */
static void
check_doc(const UblDoc *doc, ProblemList *pl)
{
	const char *label = doc_label(doc);
	const UblParty *s = &doc->seller;
	const UblParty *b = &doc->buyer;
	bool		only_o = only_category_o(doc);
	const char *why;
	UblTax	   *taxes = doc->taxes;
	int			ntaxes = doc->ntaxes;

	/* the database speaks UTF-8 (the document does) */
	if (GetDatabaseEncoding() != PG_UTF8)
		problem(pl, ERRCODE_FEATURE_NOT_SUPPORTED, "invoice", "id",
				psprintf("%s: e-invoices need a UTF8 database, this one is %s", label,
						 GetDatabaseEncodingName()),
				NULL, NULL);

	/* electronic addresses */
	if (!present(s->peppol_scheme) || !present(s->peppol_id))
		problem(pl, ERRCODE_NOT_NULL_VIOLATION, "entity", "peppol_id",
				psprintf("%s: the seller's Peppol endpoint is missing: entity %s has no peppol_scheme and peppol_id",
						 label, s->code),
				pstrdup("Peppol needs the seller's electronic address (PEPPOL-EN16931-R020)."),
				pstrdup("Set ar.entity.peppol_scheme and peppol_id, for example 0007 and the organisation number."));
	else if (!ArPeppolIdValid(s->peppol_scheme, s->peppol_id, &why))
		problem(pl, ERRCODE_INVALID_PARAMETER_VALUE, "entity", "peppol_id",
				psprintf("%s: the seller's Peppol endpoint %s:%s is invalid", label,
						 s->peppol_scheme, s->peppol_id),
				pstrdup(why), pstrdup("Correct ar.entity.peppol_scheme and peppol_id."));
	if (!present(b->peppol_scheme) || !present(b->peppol_id))
		problem(pl, ERRCODE_NOT_NULL_VIOLATION, "customer", "peppol_id",
				psprintf("%s: the buyer's Peppol endpoint is missing: customer %s (%s) has no peppol_scheme and peppol_id",
						 label, b->code, b->name),
				pstrdup("Peppol needs the buyer's electronic address (PEPPOL-EN16931-R010)."),
				pstrdup("Set ar.customer.peppol_scheme and peppol_id from the Peppol directory, or send by email or print."));
	else if (!ArPeppolIdValid(b->peppol_scheme, b->peppol_id, &why))
		problem(pl, ERRCODE_INVALID_PARAMETER_VALUE, "customer", "peppol_id",
				psprintf("%s: the buyer's Peppol endpoint %s:%s is invalid", label,
						 b->peppol_scheme, b->peppol_id),
				pstrdup(why), pstrdup("Correct ar.customer.peppol_scheme and peppol_id."));

	/* buyer reference or order reference */
	if (!present(doc->buyer_reference) && !present(doc->order_reference))
		problem(pl, ERRCODE_NOT_NULL_VIOLATION, "invoice", "buyer_reference",
				psprintf("%s has neither buyer_reference nor order_reference", label),
				pstrdup("Peppol needs a buyer reference or a purchase order reference (PEPPOL-EN16931-R003)."),
				pstrdup("Set ar.invoice.buyer_reference (the reference the buyer gave) or order_reference before issuing."));

	/* the currency */
	if (!ArEn16931Currency(doc->currency))
		problem(pl, ERRCODE_INVALID_PARAMETER_VALUE, "invoice", "currency",
				psprintf("%s: currency %s is not in the EN 16931 code list", label, doc->currency),
				pstrdup("EN 16931 and Peppol take the ISO 4217 codes of their own lists (BR-CL-04, PEPPOL-EN16931-CL007)."),
				NULL);
	if (present(s->currency) && strcmp(s->currency, doc->currency) != 0 && !ArEn16931Currency(s->currency))
		problem(pl, ERRCODE_INVALID_PARAMETER_VALUE, "entity", "currency",
				psprintf("%s: the VAT accounting currency %s of entity %s is not in the EN 16931 code list",
						 label, s->currency, s->code),
				pstrdup("An invoice in another currency than the seller's states its VAT in the seller's currency too (BT-6, BT-111), coded from the EN 16931 list (BR-CL-05)."),
				NULL);

	/* seller VAT id, legal registration */
	if (!only_o && !present(s->vat_id))
	{
		const char *cat = doc->nlines > 0 ? doc->lines[0].category : "S";

		for (int i = 0; i < doc->nlines; i++)
			if (strcmp(doc->lines[i].category, "O") != 0)
			{
				cat = doc->lines[i].category;
				break;
			}
		problem(pl, ERRCODE_NOT_NULL_VIOLATION, "entity", "vat_id",
				psprintf("%s: the seller's VAT id is missing: entity %s has no vat_id", label, s->code),
				psprintf("EN 16931 needs the seller's VAT identifier on a document with VAT category %s (BR-%s-02).",
						 cat, strcmp(cat, "K") == 0 ? "IC" : cat),
				pstrdup("Set ar.entity.vat_id."));
	}
	if (!present(s->company_id))
		problem(pl, ERRCODE_NOT_NULL_VIOLATION, "entity", "company_id",
				psprintf("%s: the seller's legal registration id is missing: entity %s has no company_id",
						 label, s->code),
				pstrdup("ar writes the seller's legal registration identifier (BT-30) into every e-invoice; "
						"Danish sellers must give it (DK-R-002), and documents not subject to VAT have no other seller id (BR-CO-26)."),
				pstrdup("Set ar.entity.company_id (the organisation number)."));
	check_company_id(pl, doc, s, true);
	check_company_id(pl, doc, b, false);

	/* national rules on the seller's VAT id */
	if (!only_o && present(s->vat_id) && strcmp(s->country, "SE") == 0 &&
		strncmp(s->vat_id, "SE", 2) == 0)
	{
		const char *v = s->vat_id;
		bool		ok = strlen(v) == 14;

		for (int i = 2; ok && i < 14; i++)
			ok = v[i] >= '0' && v[i] <= '9';
		if (!ok)
			problem(pl, ERRCODE_INVALID_PARAMETER_VALUE, "entity", "vat_id",
					psprintf("%s: the seller's VAT id %s is not SE and 12 digits", label, v),
					pstrdup("A Swedish VAT number has 14 characters: SE, the organisation number and 01 (SE-R-001, SE-R-002)."),
					pstrdup("Correct ar.entity.vat_id."));
	}
	if (!only_o && present(s->vat_id) && strcmp(s->country, "NO") == 0 &&
		strncmp(s->vat_id, "NO", 2) == 0)
	{
		const char *v = s->vat_id;
		bool		ok = strlen(v) == 14 && strcmp(v + 11, "MVA") == 0;

		if (ok)
		{
			char		orgno[10];

			memcpy(orgno, v + 2, 9);
			orgno[9] = '\0';
			ok = ArPeppolIdValid("0192", orgno, NULL);
		}
		if (!ok)
			problem(pl, ERRCODE_INVALID_PARAMETER_VALUE, "entity", "vat_id",
					psprintf("%s: the seller's VAT id %s is not NO, a valid organisation number and MVA", label, v),
					pstrdup("A Norwegian VAT number is NO, the 9-digit organisation number with its mod 11 check digit, and MVA (NO-R-001)."),
					pstrdup("Correct ar.entity.vat_id."));
	}

	/* buyer VAT id where the category needs it */
	if (has_category(doc, "K") && !present(b->vat_id))
		problem(pl, ERRCODE_NOT_NULL_VIOLATION, "customer", "vat_id",
				psprintf("%s: the buyer's VAT id is missing: customer %s (%s) has no vat_id",
						 label, b->code, b->name),
				pstrdup("An intra-community supply (VAT category K) needs the buyer's VAT identifier (BR-IC-02)."),
				pstrdup("Set ar.customer.vat_id."));
	if (has_category(doc, "AE") && !present(b->vat_id) && !present(b->company_id))
		problem(pl, ERRCODE_NOT_NULL_VIOLATION, "customer", "vat_id",
				psprintf("%s: the buyer's VAT id is missing: customer %s (%s) has neither vat_id nor company_id",
						 label, b->code, b->name),
				pstrdup("A reverse charge (VAT category AE) needs the buyer's VAT identifier or legal registration identifier (BR-AE-02)."),
				pstrdup("Set ar.customer.vat_id."));

	/* where to pay */
	if (!doc->credit_note && doc_total(doc) > 0 && !present(s->iban) &&
		!pays_by_bankgiro(doc) && !pays_by_fik(doc))
		problem(pl, ERRCODE_NOT_NULL_VIOLATION, "entity", "iban",
				psprintf("%s: the seller's bank account is missing: entity %s has no iban%s", label, s->code,
						 strcmp(doc->currency, "SEK") == 0 && !danish_domestic(doc) ? " and no bankgiro" : ""),
				psprintf("The e-invoice asks for payment by credit transfer (payment means 30 or 58), which needs the payee's account (BR-50, BR-61)%s.",
						 strcmp(doc->currency, "SEK") != 0 ? "; a bankgiro takes only SEK" :
						 danish_domestic(doc) ? "; between Danish parties a bankgiro (payment means 30) is not allowed (DK-R-005)" : ""),
				pstrdup("Set ar.entity.iban (or bankgiro, for SEK; fik_creditor, for DKK)."));

	/* Danish credit notes between Danish parties */
	if (doc->credit_note && danish_domestic(doc) && doc_total(doc) < 0)
		problem(pl, ERRCODE_INVALID_PARAMETER_VALUE, "invoice", "total",
				psprintf("%s: a Danish credit note cannot have a negative total", label),
				pstrdup("DK-R-016."), NULL);

	/* lines */
	for (int i = 0; i < doc->nlines; i++)
	{
		const UblLine *l = &doc->lines[i];

		if (is_blank(l->item_name))
			problem(pl, ERRCODE_INVALID_PARAMETER_VALUE, "invoice_line", "item_name",
					psprintf("%s: line %d has a blank item name", label, l->line_no),
					pstrdup("BR-25; Peppol refuses empty elements (PEPPOL-EN16931-R008)."), NULL);
		check_chars(pl, doc, "invoice_line", "item_name", psprintf("the item name of line %d", l->line_no),
					l->item_name);
		check_chars(pl, doc, "invoice_line", "description", psprintf("the description of line %d", l->line_no),
					l->description);
		if (!ArUnitCodeKnown(l->unit_code))
			problem(pl, ERRCODE_INVALID_PARAMETER_VALUE, "invoice_line", "unit_code",
					psprintf("%s: unit code \"%s\" of line %d is not a UN/ECE Recommendation 20 unit",
							 label, l->unit_code, l->line_no),
					pstrdup("BR-CL-23; common codes are C62 (one), H87 (piece), HUR (hour), DAY, KGM, MTR, LTR."), NULL);
		if (too_precise(doc, l->net))
		{
			char		a[32];

			fmt_units(a, l->net, doc->minor_unit, doc->minor_unit);
			problem(pl, ERRCODE_INVALID_PARAMETER_VALUE, "invoice_line", "net_amount",
					psprintf("%s: net amount %s %s of line %d has %d decimals, EN 16931 allows 2",
							 label, a, doc->currency, l->line_no, doc->minor_unit),
					pstrdup("BR-DEC-23: amounts in an e-invoice have at most 2 decimals. ar does not round them away: "
							"only documents whose amounts are whole to 2 decimals can be sent in a currency with 3 or 4."),
					pstrdup("Price the lines so that their net amounts are whole to 2 decimals, or send by email or print."));
		}
		if (l->price_off)
			problem(pl, ERRCODE_INVALID_PARAMETER_VALUE, "invoice_line", "unit_price",
					psprintf("%s: line %d: %s x %s rounded to the currency's %d decimals differs from the exact product by more than 0.02",
							 label, l->line_no, l->quantity, l->unit_price, doc->minor_unit),
					pstrdup("Peppol allows the line net amount to differ from quantity x price by 0.02 at most (PEPPOL-EN16931-R120)."),
					pstrdup("Use a price the currency can carry, for example whole yen for JPY."));
	}

	/* VAT categories and their exemption reasons */
	if (has_category(doc, "O") && !only_o)
		problem(pl, ERRCODE_INVALID_PARAMETER_VALUE, "invoice_line", "vat_category",
				psprintf("%s mixes VAT category O (not subject to VAT) with other categories", label),
				pstrdup("A document with lines not subject to VAT can have no other VAT category (BR-O-11, BR-O-12)."),
				pstrdup("Invoice the lines not subject to VAT separately."));
	if (ntaxes == 0 && doc->number == NULL)
		ntaxes = draft_breakdown(doc, &taxes);
	for (int i = 0; i < ntaxes; i++)
	{
		const UblTax *t = &taxes[i];
		bool		s_or_z = strcmp(t->category, "S") == 0 || strcmp(t->category, "Z") == 0;

		if (s_or_z && (present(t->exemption_code) || present(t->exemption_reason)))
			problem(pl, ERRCODE_INVALID_PARAMETER_VALUE, "invoice_line", "vat_exemption_code",
					psprintf("%s: VAT category %s takes no exemption reason, but a line gives \"%s\"", label,
							 t->category, present(t->exemption_code) ? t->exemption_code : t->exemption_reason),
					psprintf("BR-%s-10.", t->category),
					pstrdup("Clear vat_exemption_code and vat_exemption_reason of those lines, or use category E."));
		if (present(t->exemption_code))
		{
			const char *cat;

			if (!ArVatexKnown(t->exemption_code))
				problem(pl, ERRCODE_INVALID_PARAMETER_VALUE, "invoice_line", "vat_exemption_code",
						psprintf("%s: exemption reason code \"%s\" is not in the VATEX list", label, t->exemption_code),
						pstrdup("BR-CL-22: codes such as VATEX-EU-132-1I, VATEX-EU-AE, VATEX-EU-IC, VATEX-EU-G, VATEX-EU-O."),
						NULL);
			else if ((cat = ArVatexCategory(t->exemption_code)) != NULL && strcmp(cat, t->category) != 0)
				problem(pl, ERRCODE_INVALID_PARAMETER_VALUE, "invoice_line", "vat_exemption_code",
						psprintf("%s: exemption reason code %s belongs to VAT category %s, not %s", label,
								 t->exemption_code, cat, t->category),
						pstrdup("PEPPOL-EN16931-P0104 to P0111."), NULL);
		}
		check_chars(pl, doc, "invoice_line", "vat_exemption_reason", "an exemption reason",
					t->exemption_reason);
		if (strcmp(t->category, "S") == 0 && strcmp(s->country, "SE") == 0 && present(s->vat_id) &&
			strncmp(s->vat_id, "SE", 2) == 0 &&
			strtod(t->rate, NULL) != 25 && strtod(t->rate, NULL) != 12 && strtod(t->rate, NULL) != 6)
			problem(pl, ERRCODE_INVALID_PARAMETER_VALUE, "invoice_line", "vat_rate",
					psprintf("%s: VAT rate %s%% is not a Swedish rate", label, t->rate),
					pstrdup("Swedish sellers use the standard rates 25, 12 and 6 (SE-R-006)."), NULL);
		if (strcmp(t->category, "S") == 0 && strtod(t->rate, NULL) < 0.5)
			problem(pl, ERRCODE_INVALID_PARAMETER_VALUE, "invoice_line", "vat_rate",
					psprintf("%s: standard-rated VAT at %s%% is below 0.5%%", label, t->rate),
					pstrdup("The official EN 16931 rules read a rate that rounds to 0 as no rate, and then refuse its VAT amount (BR-CO-17, BR-S-05)."),
					pstrdup("Use a rate of at least 0.5, or send by email or print."));
		if (too_precise(doc, t->taxable) || too_precise(doc, t->tax))
		{
			char		a[32];

			fmt_units(a, too_precise(doc, t->taxable) ? t->taxable : t->tax, doc->minor_unit,
					  doc->minor_unit);
			problem(pl, ERRCODE_INVALID_PARAMETER_VALUE, "invoice_line", "net_amount",
					psprintf("%s: VAT breakdown amount %s %s has %d decimals, EN 16931 allows 2", label, a,
							 doc->currency, doc->minor_unit),
					pstrdup("BR-DEC-19, BR-DEC-20: amounts in an e-invoice have at most 2 decimals. ar does not round "
							"them away: only documents whose amounts are whole to 2 decimals can be sent in a currency with 3 or 4."),
					pstrdup("Price the lines so that their net amounts are whole to 2 decimals, or send by email or print."));
		}
	}

	/*
	 * amounts the official rules can compute with: the nets, which are the
	 * same in a draft and in the issued document (VAT on top stays far
	 * below 2^53 units)
	 */
	{
		bool		large = false;

		for (int i = 0; i < ntaxes && !large; i++)
			large = too_large(doc, taxes[i].taxable);
		for (int i = 0; i < doc->nlines && !large; i++)
			large = too_large(doc, doc->lines[i].net);
		if (large)
			problem(pl, ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE, "invoice_line", "net_amount",
					psprintf("%s: a net amount reaches 10^%d %s", label, UBL_MAX_EXPONENT, doc->currency),
					pstrdup("The official Peppol rules compute some checks in double precision, which cannot hold every cent of such an amount: the document would fail validation."),
					pstrdup("Split the invoice, or send by email or print."));
	}

	/* free text fits in XML; names are there */
	check_chars(pl, doc, "invoice", "buyer_reference", "the buyer reference", doc->buyer_reference);
	check_chars(pl, doc, "invoice", "order_reference", "the order reference", doc->order_reference);
	check_chars(pl, doc, "invoice", "payment_reference", "the payment reference", doc->payment_reference);
	check_party_chars(pl, doc, s, true);
	check_party_chars(pl, doc, b, false);
	if (is_blank(s->name))
		problem(pl, ERRCODE_INVALID_PARAMETER_VALUE, "entity", "name",
				psprintf("%s: the seller's name is blank", label), pstrdup("BR-06."), NULL);
	if (is_blank(b->name))
		problem(pl, ERRCODE_INVALID_PARAMETER_VALUE, "customer", "name",
				psprintf("%s: the buyer's name is blank", label), pstrdup("BR-07."), NULL);
	if (doc->nlines == 0)
		problem(pl, ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE, "invoice_line", "line_no",
				psprintf("%s has no lines", label), pstrdup("BR-16."), NULL);
	if (doc->nlines > 0 && doc->ntaxes == 0 && doc->number != NULL)
		problem(pl, ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE, "invoice_tax", "invoice_id",
				psprintf("%s has no VAT breakdown", label),
				pstrdup("ar.issue writes ar.invoice_tax before the e-invoice is checked (BR-CO-18)."), NULL);
}

/* ------------------------------------------------------------------------
 * UBL writer
 * ------------------------------------------------------------------------ */

typedef struct UblWriter
{
	xmlTextWriterPtr w;
	PgXmlErrorContext *xerr;
	const UblDoc *doc;

	/*
	 * Markup waiting to be handed to the writer in one piece: constant
	 * fragments and leaves whose values need no escaping (codes, numbers,
	 * dates).  Free text always goes through the writer, which escapes it.
	 */
	StringInfoData raw;
} UblWriter;

static void
xml_check(UblWriter *uw, int rc)
{
	if (rc < 0 || pg_xml_error_occurred(uw->xerr))
		xml_ereport(uw->xerr, ERROR, ERRCODE_INTERNAL_ERROR, "could not write UBL document");
}

static void
flush_raw(UblWriter *uw)
{
	if (uw->raw.len == 0)
		return;
	xml_check(uw, xmlTextWriterWriteRawLen(uw->w, (const xmlChar *) uw->raw.data, uw->raw.len));
	resetStringInfo(&uw->raw);
}

/* a value that XML carries as it is, in content and in attributes */
static bool
plain(const char *s)
{
	for (; *s; s++)
	{
		unsigned char c = (unsigned char) *s;

		if (c == '<' || c == '>' || c == '&' || c == '"' || c == '\'' || c < 0x20)
			return false;
	}
	return true;
}

static void
open_el(UblWriter *uw, const char *name)
{
	flush_raw(uw);
	xml_check(uw, xmlTextWriterStartElement(uw->w, (const xmlChar *) name));
}

static void
close_el(UblWriter *uw)
{
	flush_raw(uw);
	xml_check(uw, xmlTextWriterEndElement(uw->w));
}

/* <name attr="aval">value</name> for values that need no escaping */
static void
raw_leaf(UblWriter *uw, const char *name, const char *attr, const char *aval, const char *value)
{
	StringInfo	r = &uw->raw;

	appendStringInfoChar(r, '<');
	appendStringInfoString(r, name);
	if (aval)
	{
		appendStringInfoChar(r, ' ');
		appendStringInfoString(r, attr);
		appendStringInfoString(r, "=\"");
		appendStringInfoString(r, aval);
		appendStringInfoChar(r, '"');
	}
	appendStringInfoChar(r, '>');
	appendStringInfoString(r, value);
	appendStringInfoString(r, "</");
	appendStringInfoString(r, name);
	appendStringInfoChar(r, '>');
}

/* constant markup */
static inline void
raw(UblWriter *uw, const char *markup)
{
	appendStringInfoString(&uw->raw, markup);
}

/* <name attr="aval">value</name>, escaped by the writer; nothing for a blank value (PEPPOL-EN16931-R008) */
static void
el_attr(UblWriter *uw, const char *name, const char *attr, const char *aval, const char *value)
{
	if (is_blank(value))
		return;
	if (plain(value) && (aval == NULL || plain(aval)))
	{
		/* codes, numbers and identifiers: nothing to escape */
		raw_leaf(uw, name, attr, aval, value);
		return;
	}
	open_el(uw, name);
	if (aval)
		xml_check(uw, xmlTextWriterWriteAttribute(uw->w, (const xmlChar *) attr, (const xmlChar *) aval));
	xml_check(uw, xmlTextWriterWriteString(uw->w, (const xmlChar *) value));
	close_el(uw);
}

/* <name>value</name> for a code, number or identifier (escaped should it need it) */
static void
el_code(UblWriter *uw, const char *name, const char *value)
{
	el_attr(uw, name, NULL, NULL, value);
}

/* <name>value</name> for free text: always through the writer, which escapes it */
static void
el_text(UblWriter *uw, const char *name, const char *value)
{
	if (is_blank(value))
		return;
	flush_raw(uw);
	xml_check(uw, xmlTextWriterWriteElement(uw->w, (const xmlChar *) name, (const xmlChar *) value));
}

static void
el_amount(UblWriter *uw, const char *name, int64 units)
{
	char		buf[32];

	if (too_precise(uw->doc, units))
		elog(ERROR, "amount of %s has more than 2 decimals", doc_label(uw->doc));
	fmt_units(buf, units, uw->doc->minor_unit, ubl_digits(uw->doc));
	raw_leaf(uw, name, "currencyID", uw->doc->currency, buf);
}

static void
el_date(UblWriter *uw, const char *name, DateADT d)
{
	char		buf[16];

	fmt_date(buf, d);
	raw_leaf(uw, name, NULL, NULL, buf);
}

#define TAX_SCHEME_VAT "<cac:TaxScheme><cbc:ID>VAT</cbc:ID></cac:TaxScheme>"

static void
write_party(UblWriter *uw, const UblParty *p, bool seller, bool vat_ids)
{
	const char *scheme;

	open_el(uw, seller ? "cac:AccountingSupplierParty" : "cac:AccountingCustomerParty");
	open_el(uw, "cac:Party");
	el_attr(uw, "cbc:EndpointID", "schemeID", p->peppol_scheme, p->peppol_id);
	open_el(uw, "cac:PartyName");
	el_text(uw, "cbc:Name", p->name);
	close_el(uw);
	open_el(uw, "cac:PostalAddress");
	el_text(uw, "cbc:StreetName", p->street);
	el_text(uw, "cbc:CityName", p->city);
	el_text(uw, "cbc:PostalZone", p->postal_code);
	raw(uw, "<cac:Country>");
	el_code(uw, "cbc:IdentificationCode", p->country);
	raw(uw, "</cac:Country>");
	close_el(uw);
	if (vat_ids && present(p->vat_id))
	{
		raw(uw, "<cac:PartyTaxScheme>");
		el_code(uw, "cbc:CompanyID", p->vat_id);
		raw(uw, TAX_SCHEME_VAT "</cac:PartyTaxScheme>");
	}
	open_el(uw, "cac:PartyLegalEntity");
	el_text(uw, "cbc:RegistrationName", p->name);
	if (present(p->company_id))
	{
		scheme = company_scheme(p->country);
		if (scheme)
			el_attr(uw, "cbc:CompanyID", "schemeID", scheme, compact_id(p->company_id));
		else
			el_text(uw, "cbc:CompanyID", p->company_id);
	}
	close_el(uw);
	if (!seller && present(p->email))
	{
		open_el(uw, "cac:Contact");
		el_text(uw, "cbc:ElectronicMail", p->email);
		close_el(uw);
	}
	close_el(uw);
	close_el(uw);
}

static void
write_payment_means(UblWriter *uw, const char *code, const char *payment_id,
					const char *account, const char *branch)
{
	open_el(uw, "cac:PaymentMeans");
	el_code(uw, "cbc:PaymentMeansCode", code);
	el_code(uw, "cbc:PaymentID", payment_id);
	open_el(uw, "cac:PayeeFinancialAccount");
	el_code(uw, "cbc:ID", account);
	if (present(branch))
	{
		raw(uw, "<cac:FinancialInstitutionBranch>");
		el_code(uw, "cbc:ID", branch);
		raw(uw, "</cac:FinancialInstitutionBranch>");
	}
	close_el(uw);
	close_el(uw);
}

static void
write_tax_category(UblWriter *uw, const char *element, const char *category, const char *rate,
				   const char *exemption_code, const char *exemption_text)
{
	open_el(uw, element);
	el_code(uw, "cbc:ID", category);
	if (strcmp(category, "O") != 0)
		el_code(uw, "cbc:Percent", rate);	/* none for O (BR-O-05, BR-O-09) */
	el_code(uw, "cbc:TaxExemptionReasonCode", exemption_code);
	el_text(uw, "cbc:TaxExemptionReason", exemption_text);
	raw(uw, TAX_SCHEME_VAT);
	close_el(uw);
}

/* The elements of the document, from the root down. */
static void
write_ubl_body(UblWriter *uw)
{
	const UblDoc *doc = uw->doc;
	xmlTextWriterPtr w = uw->w;
	bool		cn = doc->credit_note;
	bool		vat_ids = !only_category_o(doc);	/* BR-O-02 */
	char		datebuf[16];

	xml_check(uw, xmlTextWriterStartDocument(w, "1.0", "UTF-8", NULL));
	open_el(uw, cn ? "CreditNote" : "Invoice");
	xml_check(uw, xmlTextWriterWriteAttribute(w, (const xmlChar *) "xmlns",
											  (const xmlChar *) (cn ? NS_CREDITNOTE : NS_INVOICE)));
	xml_check(uw, xmlTextWriterWriteAttribute(w, (const xmlChar *) "xmlns:cac", (const xmlChar *) NS_CAC));
	xml_check(uw, xmlTextWriterWriteAttribute(w, (const xmlChar *) "xmlns:cbc", (const xmlChar *) NS_CBC));

	raw(uw, "<cbc:CustomizationID>" UBL_CUSTOMIZATION "</cbc:CustomizationID>"
		"<cbc:ProfileID>" UBL_PROFILE "</cbc:ProfileID>");
	el_text(uw, "cbc:ID", doc->number);
	el_date(uw, "cbc:IssueDate", doc->issue_date);
	if (!cn)
	{
		el_date(uw, "cbc:DueDate", doc->due_date);
		raw(uw, "<cbc:InvoiceTypeCode>380</cbc:InvoiceTypeCode>");
	}
	else
		raw(uw, "<cbc:CreditNoteTypeCode>381</cbc:CreditNoteTypeCode>");
	el_code(uw, "cbc:DocumentCurrencyCode", doc->currency);
	if (doc->has_tax_accounting)
		el_code(uw, "cbc:TaxCurrencyCode", doc->tax_currency);
	el_text(uw, "cbc:BuyerReference", doc->buyer_reference);
	if (present(doc->order_reference))
	{
		open_el(uw, "cac:OrderReference");
		el_text(uw, "cbc:ID", doc->order_reference);
		close_el(uw);
	}
	if (cn && present(doc->credited_number))
	{
		open_el(uw, "cac:BillingReference");
		open_el(uw, "cac:InvoiceDocumentReference");
		el_text(uw, "cbc:ID", doc->credited_number);
		if (doc->has_credited_date)
			el_date(uw, "cbc:IssueDate", doc->credited_date);
		close_el(uw);
		close_el(uw);
	}

	write_party(uw, &doc->seller, true, vat_ids);
	write_party(uw, &doc->buyer, false, vat_ids);

	/*
	 * An intra-community supply names when and where the goods went
	 * (BR-IC-11, BR-IC-12): ar keeps no delivery date on invoices, so the
	 * date is the invoice's issue date (for a credit note, the credited
	 * invoice's), the country the buyer's.
	 */
	if (has_category(doc, "K"))
	{
		raw(uw, "<cac:Delivery>");
		el_date(uw, "cbc:ActualDeliveryDate",
				cn && doc->has_credited_date ? doc->credited_date : doc->issue_date);
		raw(uw, "<cac:DeliveryLocation><cac:Address><cac:Country>");
		el_code(uw, "cbc:IdentificationCode", doc->buyer.country);
		raw(uw, "</cac:Country></cac:Address></cac:DeliveryLocation></cac:Delivery>");
	}

	/*
	 * payment: FIK alone for DKK, else bankgiro for SEK, then the IBAN.  All
	 * means of a document share one code and one payment id (UBL-SR-44,
	 * UBL-SR-47), so FIK (93) leaves out the IBAN (58).
	 */
	if (!cn && doc->total > 0 && pays_by_fik(doc) && present(doc->payment_reference))
	{
		/*
		 * kortart and payment id as "71#" and the 15 digits, the creditor
		 * number as the account (DK-R-010, DK-R-011)
		 */
		write_payment_means(uw, "93", psprintf("71#%s", doc->payment_reference),
							doc->seller.fik_creditor, NULL);
	}
	else if (!cn && doc->total > 0)
	{
		const UblParty *s = &doc->seller;

		if (pays_by_bankgiro(doc))
			write_payment_means(uw, "30", doc->payment_reference, compact_id(s->bankgiro),
								"SE:BANKGIRO");
		if (present(s->iban))
		{
			/*
			 * 58 is a SEPA credit transfer (euro); Danish domestic invoices
			 * may not use 30 (DK-R-005).  A bankgiro is never written with
			 * 58 (pays_by_bankgiro): the means share one code.
			 */
			bool		sepa = strcmp(doc->currency, "EUR") == 0 || danish_domestic(doc);

			write_payment_means(uw, sepa ? "58" : "30", doc->payment_reference,
								compact_iban(s->iban), s->bic);
		}
	}
	open_el(uw, "cac:PaymentTerms");
	if (!cn)
	{
		fmt_date(datebuf, doc->due_date);
		el_text(uw, "cbc:Note", psprintf("Payment within %d days, due %s",
										 (int) (doc->due_date - doc->issue_date), datebuf));
	}
	else
		el_text(uw, "cbc:Note", present(doc->credited_number) ?
				psprintf("Credit of invoice %s", doc->credited_number) : "Credit note");
	close_el(uw);

	/* VAT breakdown */
	open_el(uw, "cac:TaxTotal");
	el_amount(uw, "cbc:TaxAmount", doc->tax_total);
	for (int i = 0; i < doc->ntaxes; i++)
	{
		const UblTax *t = &doc->taxes[i];
		const char *ecode;
		const char *etext;

		exemption_of(t, &ecode, &etext);
		open_el(uw, "cac:TaxSubtotal");
		el_amount(uw, "cbc:TaxableAmount", t->taxable);
		el_amount(uw, "cbc:TaxAmount", t->tax);
		write_tax_category(uw, "cac:TaxCategory", t->category, t->rate, ecode, etext);
		close_el(uw);
	}
	close_el(uw);
	/* BT-111: the VAT total in the seller's currency, a TaxTotal of its own */
	if (doc->has_tax_accounting)
	{
		char		buf[32];

		fmt_units(buf, doc->tax_accounting, doc->tax_minor_unit, Min(doc->tax_minor_unit, 2));
		open_el(uw, "cac:TaxTotal");
		raw_leaf(uw, "cbc:TaxAmount", "currencyID", doc->tax_currency, buf);
		close_el(uw);
	}

	raw(uw, "<cac:LegalMonetaryTotal>");
	el_amount(uw, "cbc:LineExtensionAmount", doc->net_total);
	el_amount(uw, "cbc:TaxExclusiveAmount", doc->net_total);
	el_amount(uw, "cbc:TaxInclusiveAmount", doc->total);
	el_amount(uw, "cbc:PayableAmount", doc->total);
	raw(uw, "</cac:LegalMonetaryTotal>");

	for (int i = 0; i < doc->nlines; i++)
	{
		const UblLine *l = &doc->lines[i];
		char		num[16];

		snprintf(num, sizeof(num), "%d", l->line_no);
		open_el(uw, cn ? "cac:CreditNoteLine" : "cac:InvoiceLine");
		el_code(uw, "cbc:ID", num);
		el_attr(uw, cn ? "cbc:CreditedQuantity" : "cbc:InvoicedQuantity", "unitCode",
				l->unit_code, l->quantity);
		el_amount(uw, "cbc:LineExtensionAmount", l->net);
		open_el(uw, "cac:Item");
		el_text(uw, "cbc:Description", l->description);
		el_text(uw, "cbc:Name", l->item_name);
		write_tax_category(uw, "cac:ClassifiedTaxCategory", l->category, l->rate, NULL, NULL);
		close_el(uw);
		raw(uw, "<cac:Price>");
		el_attr(uw, "cbc:PriceAmount", "currencyID", doc->currency, l->unit_price);
		raw(uw, "</cac:Price>");
		close_el(uw);
	}

	close_el(uw);
	xml_check(uw, xmlTextWriterEndDocument(w));
	xml_check(uw, xmlTextWriterFlush(w));
}

/* The document as UBL, into buf (emptied first). */
static void
write_ubl(const UblDoc *doc, xmlBufferPtr buf, PgXmlErrorContext *xerr)
{
	UblWriter	uw;
	volatile xmlTextWriterPtr w;

	xmlBufferEmpty(buf);
	w = xmlNewTextWriterMemory(buf, 0);
	if (w == NULL || pg_xml_error_occurred(xerr))
		xml_ereport(xerr, ERROR, ERRCODE_OUT_OF_MEMORY, "could not allocate xmlTextWriter");
	uw.w = w;
	uw.xerr = xerr;
	uw.doc = doc;
	initStringInfo(&uw.raw);

	PG_TRY();
	{
		write_ubl_body(&uw);
	}
	PG_CATCH();
	{
		xmlFreeTextWriter(w);
		PG_RE_THROW();
	}
	PG_END_TRY();
	xmlFreeTextWriter(w);
	pfree(uw.raw.data);
}

/*
 * The UBL of a loaded, issued document as an xml datum (palloc'd in the
 * current context).  Checks first; raises the first problem.
 */
static xmltype *
render_ubl(const UblDoc *doc)
{
	ProblemList pl = {NIL, true};
	PgXmlErrorContext *xerr;
	volatile xmlBufferPtr buf = NULL;
	xmltype    *result = NULL;

	require_issued(doc);
	check_doc(doc, &pl);
	if (pl.items != NIL)
		raise_problem(linitial(pl.items));

	xerr = pg_xml_init(PG_XML_STRICTNESS_ALL);
	PG_TRY();
	{
		buf = xmlBufferCreate();
		if (buf == NULL || pg_xml_error_occurred(xerr))
			xml_ereport(xerr, ERROR, ERRCODE_OUT_OF_MEMORY, "could not allocate xmlBuffer");
		write_ubl(doc, buf, xerr);
		result = (xmltype *) cstring_to_text_with_len((const char *) xmlBufferContent(buf),
													  xmlBufferLength(buf));
	}
	PG_CATCH();
	{
		if (buf)
			xmlBufferFree(buf);
		pg_xml_done(xerr, true);
		PG_RE_THROW();
	}
	PG_END_TRY();
	xmlBufferFree(buf);
	pg_xml_done(xerr, false);
	return result;
}

/* ------------------------------------------------------------------------
 * Readable rendering (email and print): plain UTF-8 text
 * ------------------------------------------------------------------------ */

/* display width of a string in the database encoding */
static int
text_width(const char *s)
{
	int			w = 0;

	while (*s)
	{
		int			d = pg_dsplen(s);

		w += d > 0 ? d : 0;
		s += pg_mblen(s);
	}
	return w;
}

/* s padded with blanks to width; right-aligned when right */
static void
append_padded(StringInfo out, const char *s, int width, bool right)
{
	int			pad = width - text_width(s);

	if (right)
		appendStringInfoSpaces(out, Max(pad, 0));
	appendStringInfoString(out, s);
	if (!right)
		appendStringInfoSpaces(out, Max(pad, 0));
}

/* "Label            value" */
static void
append_field(StringInfo out, const char *label, const char *value)
{
	if (is_blank(value))
		return;
	append_padded(out, label, 18, false);
	appendStringInfo(out, "%s\n", value);
}

static void
append_party(StringInfo out, const char *label, const UblParty *p, bool seller)
{
	const char *indent = "         ";

	append_padded(out, label, 9, false);
	appendStringInfoString(out, p->name);
	if (!seller)
		appendStringInfo(out, " (customer no. %s)", p->code);
	appendStringInfoChar(out, '\n');
	if (present(p->street))
		appendStringInfo(out, "%s%s\n", indent, p->street);
	if (present(p->postal_code) || present(p->city))
		appendStringInfo(out, "%s%s%s%s\n", indent, present(p->postal_code) ? p->postal_code : "",
						 present(p->postal_code) && present(p->city) ? " " : "",
						 present(p->city) ? p->city : "");
	appendStringInfo(out, "%s%s\n", indent, p->country);
	if (present(p->vat_id))
		appendStringInfo(out, "%sVAT no. %s\n", indent, p->vat_id);
	if (present(p->company_id))
		appendStringInfo(out, "%sCompany no. %s\n", indent, p->company_id);
}

static char *
vat_label(const char *category, const char *rate)
{
	if (strcmp(category, "O") == 0)
		return pstrdup("O");
	return psprintf("%s %s%%", category, rate);
}

/* IBAN in groups of four */
static char *
grouped_iban(const char *iban)
{
	char	   *c = compact_iban(iban);
	StringInfoData s;

	initStringInfo(&s);
	for (int i = 0; c[i]; i++)
	{
		if (i > 0 && i % 4 == 0)
			appendStringInfoChar(&s, ' ');
		appendStringInfoChar(&s, c[i]);
	}
	return s.data;
}

/* The readable form of an issued document, as text. */
static text *
render_text(const UblDoc *doc)
{
	StringInfoData out;
	char		a[32];
	char		d1[16];
	int			mu = doc->minor_unit;
	int			item_w = 4;
	int			qty_w = 8;
	int			unit_w = 4;
	int			price_w = 5;
	int			vat_w = 3;
	int			amount_w = 6;
	int			row_w;
	text	   *result;

	require_issued(doc);
	initStringInfo(&out);

	appendStringInfo(&out, "%s %s\n", doc->credit_note ? "CREDIT NOTE" : "INVOICE", doc->number);
	if (doc->credit_note && present(doc->credited_number))
	{
		appendStringInfo(&out, "Credits invoice %s", doc->credited_number);
		if (doc->has_credited_date)
		{
			fmt_date(d1, doc->credited_date);
			appendStringInfo(&out, " of %s", d1);
		}
		appendStringInfoChar(&out, '\n');
	}
	appendStringInfoChar(&out, '\n');
	append_party(&out, "From", &doc->seller, true);
	appendStringInfoChar(&out, '\n');
	append_party(&out, "To", &doc->buyer, false);
	appendStringInfoChar(&out, '\n');

	fmt_date(d1, doc->issue_date);
	append_field(&out, "Issue date", d1);
	if (!doc->credit_note)
	{
		fmt_date(d1, doc->due_date);
		append_field(&out, "Due date", d1);
	}
	append_field(&out, "Currency", doc->currency);
	append_field(&out, "Buyer reference", doc->buyer_reference);
	append_field(&out, "Order reference", doc->order_reference);
	appendStringInfoChar(&out, '\n');

	/* the lines, in columns as wide as their widest value */
	for (int i = 0; i < doc->nlines; i++)
	{
		const UblLine *l = &doc->lines[i];

		item_w = Max(item_w, Min(text_width(l->item_name), 40));
		qty_w = Max(qty_w, text_width(l->quantity));
		unit_w = Max(unit_w, text_width(l->unit_code));
		price_w = Max(price_w, text_width(l->unit_price));
		vat_w = Max(vat_w, text_width(vat_label(l->category, l->rate)));
		fmt_units(a, l->net, mu, mu);
		amount_w = Max(amount_w, text_width(a));
	}
	/* the totals go under the amounts: room for the widest */
	fmt_units(a, doc->net_total, mu, mu);
	amount_w = Max(amount_w, text_width(a));
	fmt_units(a, doc->total, mu, mu);
	amount_w = Max(amount_w, text_width(a));
	row_w = 4 + 2 + item_w + 2 + qty_w + 2 + unit_w + 2 + price_w + 2 + vat_w + 2 + amount_w;
	append_padded(&out, "Line", 4, true);
	appendStringInfoString(&out, "  ");
	append_padded(&out, "Item", item_w, false);
	appendStringInfoString(&out, "  ");
	append_padded(&out, "Quantity", qty_w, true);
	appendStringInfoString(&out, "  ");
	append_padded(&out, "Unit", unit_w, false);
	appendStringInfoString(&out, "  ");
	append_padded(&out, "Price", price_w, true);
	appendStringInfoString(&out, "  ");
	append_padded(&out, "VAT", vat_w, false);
	appendStringInfoString(&out, "  ");
	append_padded(&out, "Amount", amount_w, true);
	appendStringInfoChar(&out, '\n');
	for (int i = 0; i < row_w; i++)
		appendStringInfoChar(&out, '-');
	appendStringInfoChar(&out, '\n');
	for (int i = 0; i < doc->nlines; i++)
	{
		const UblLine *l = &doc->lines[i];
		char		no[16];

		snprintf(no, sizeof(no), "%d", l->line_no);
		append_padded(&out, no, 4, true);
		appendStringInfoString(&out, "  ");
		if (text_width(l->item_name) > item_w)
		{
			/* a long name gets a line of its own */
			appendStringInfo(&out, "%s\n", l->item_name);
			appendStringInfoSpaces(&out, 6);
			append_padded(&out, "", item_w, false);
		}
		else
			append_padded(&out, l->item_name, item_w, false);
		appendStringInfoString(&out, "  ");
		append_padded(&out, l->quantity, qty_w, true);
		appendStringInfoString(&out, "  ");
		append_padded(&out, l->unit_code, unit_w, false);
		appendStringInfoString(&out, "  ");
		append_padded(&out, l->unit_price, price_w, true);
		appendStringInfoString(&out, "  ");
		append_padded(&out, vat_label(l->category, l->rate), vat_w, false);
		appendStringInfoString(&out, "  ");
		fmt_units(a, l->net, mu, mu);
		append_padded(&out, a, amount_w, true);
		appendStringInfoChar(&out, '\n');
		if (present(l->description))
			appendStringInfo(&out, "      %s\n", l->description);
	}
	for (int i = 0; i < row_w; i++)
		appendStringInfoChar(&out, '-');
	appendStringInfoChar(&out, '\n');

	/* totals and the VAT breakdown, amounts under the Amount column */
	{
		int			label_w = row_w - amount_w - 2;
		char	   *lbl;

		fmt_units(a, doc->net_total, mu, mu);
		append_padded(&out, "Net total", label_w, false);
		appendStringInfoString(&out, "  ");
		append_padded(&out, a, amount_w, true);
		appendStringInfo(&out, " %s\n", doc->currency);
		for (int i = 0; i < doc->ntaxes; i++)
		{
			const UblTax *t = &doc->taxes[i];
			const char *ecode;
			const char *etext;
			char		base[32];

			exemption_of(t, &ecode, &etext);
			fmt_units(base, t->taxable, mu, mu);
			if (strcmp(t->category, "S") == 0)
				lbl = psprintf("VAT %s%% of %s", t->rate, base);
			else if (strcmp(t->category, "Z") == 0)
				lbl = psprintf("VAT 0%% (zero rated) of %s", base);
			else
				lbl = psprintf("VAT %s of %s: %s%s%s%s", strcmp(t->category, "O") == 0 ? "O" : psprintf("%s 0%%", t->category),
							   base, etext ? etext : "", etext && ecode ? " (" : "", ecode ? ecode : "",
							   etext && ecode ? ")" : "");
			fmt_units(a, t->tax, mu, mu);
			if (text_width(lbl) > label_w)
			{
				appendStringInfo(&out, "%s\n", lbl);
				lbl = "";
			}
			append_padded(&out, lbl, label_w, false);
			appendStringInfoString(&out, "  ");
			append_padded(&out, a, amount_w, true);
			appendStringInfo(&out, " %s\n", doc->currency);
		}
		fmt_units(a, doc->total, mu, mu);
		append_padded(&out, doc->credit_note ? "Total credited" : "Total", label_w, false);
		appendStringInfoString(&out, "  ");
		append_padded(&out, a, amount_w, true);
		appendStringInfo(&out, " %s\n", doc->currency);
		if (doc->has_tax_accounting)
		{
			fmt_units(a, doc->tax_accounting, doc->tax_minor_unit, Min(doc->tax_minor_unit, 2));
			append_padded(&out, psprintf("VAT in %s", doc->tax_currency), label_w, false);
			appendStringInfoString(&out, "  ");
			append_padded(&out, a, amount_w, true);
			appendStringInfo(&out, " %s\n", doc->tax_currency);
		}
	}
	appendStringInfoChar(&out, '\n');

	if (!doc->credit_note)
	{
		const UblParty *s = &doc->seller;

		appendStringInfoString(&out, "Payment\n");
		fmt_units(a, doc->total, mu, mu);
		append_field(&out, "Amount due", psprintf("%s %s", a, doc->currency));
		fmt_date(d1, doc->due_date);
		append_field(&out, "Due date", d1);
		append_field(&out, "Reference", doc->payment_reference);
		/* the FIK code line of a Danish payment slip: +71<id+creditor< */
		if (pays_by_fik(doc) && present(doc->payment_reference))
			append_field(&out, "FIK", psprintf("+71<%s+%s<", doc->payment_reference,
											   s->fik_creditor));
		if (present(s->bankgiro) && strcmp(doc->currency, "SEK") == 0)
			append_field(&out, "Bankgiro", s->bankgiro);
		if (present(s->iban))
			append_field(&out, "IBAN", grouped_iban(s->iban));
		append_field(&out, "BIC", s->bic);
		append_field(&out, "Payee", s->name);
		if (present(doc->payment_reference))
			appendStringInfoString(&out, "Please quote the reference with your payment.\n");
	}
	else if (present(doc->credited_number))
		appendStringInfo(&out, "This credit note refers to invoice %s.\n", doc->credited_number);

	result = cstring_to_text_with_len(out.data, out.len);
	pfree(out.data);
	return result;
}

/* ------------------------------------------------------------------------
 * SQL functions
 * ------------------------------------------------------------------------ */

/* load one document into cxt (SPI connect, load, finish) */
static UblDoc *
load_one(int64 id, MemoryContext cxt, UblChunk *chunk)
{
	int			rc;

	if ((rc = SPI_connect()) != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed: %s", SPI_result_code_string(rc));
	load_chunk(&id, 1, cxt, chunk);
	if ((rc = SPI_finish()) != SPI_OK_FINISH)
		elog(ERROR, "SPI_finish failed: %s", SPI_result_code_string(rc));
	return chunk_doc(chunk, id);
}

/* ar.invoice_ubl(invoice_id): the issued document as UBL 2.1, Peppol BIS Billing 3.0 */
PG_FUNCTION_INFO_V1(ar_invoice_ubl);
Datum
ar_invoice_ubl(PG_FUNCTION_ARGS)
{
	int64		id = PG_GETARG_INT64(0);
	UblChunk	chunk;
	UblDoc	   *doc;

	doc = load_one(id, CurrentMemoryContext, &chunk);
	PG_RETURN_XML_P(render_ubl(doc));
}

/* ar.invoice_text(invoice_id): the readable rendering of an issued document */
PG_FUNCTION_INFO_V1(ar_invoice_text);
Datum
ar_invoice_text(PG_FUNCTION_ARGS)
{
	int64		id = PG_GETARG_INT64(0);
	UblChunk	chunk;
	UblDoc	   *doc;

	doc = load_one(id, CurrentMemoryContext, &chunk);
	PG_RETURN_TEXT_P(render_text(doc));
}

/*
 * State of the set-returning functions: the input, where we are, and the
 * chunk of documents loaded for it.
 */
typedef struct SrfState
{
	int			n;				/* input documents */
	int64	   *ids;
	char	  **channels;		/* issue payloads: channel per document */
	HeapTupleHeader *rows;		/* issue payloads: the issued ar.invoice rows */
	TupleDesc	rowdesc;
	int			pos;			/* next input to return */
	int			chunk_end;		/* input positions [.., chunk_end) are loaded */
	MemoryContext chunkcxt;
	UblChunk	chunk;
} SrfState;

static int64 *
int8_array(ArrayType *arr, int *n)
{
	Datum	   *elems;
	bool	   *nulls;
	int64	   *ids;

	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("invoice ids must be a one-dimensional array")));
	deconstruct_array(arr, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &elems, &nulls, n);
	ids = palloc(sizeof(int64) * Max(*n, 1));
	for (int i = 0; i < *n; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("invoice ids must not be NULL")));
		ids[i] = DatumGetInt64(elems[i]);
	}
	pfree(elems);
	pfree(nulls);
	return ids;
}

/* make sure the document at st->pos is loaded */
static void
srf_load(SrfState *st)
{
	int			rc;
	int			k;

	if (st->pos < st->chunk_end)
		return;
	MemoryContextReset(st->chunkcxt);
	k = Min(CHUNK, st->n - st->pos);
	if ((rc = SPI_connect()) != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed: %s", SPI_result_code_string(rc));
	load_chunk(st->ids + st->pos, k, st->chunkcxt, &st->chunk);
	if ((rc = SPI_finish()) != SPI_OK_FINISH)
		elog(ERROR, "SPI_finish failed: %s", SPI_result_code_string(rc));
	st->chunk_end = st->pos + k;
}

static SrfState *
srf_init(FunctionCallInfo fcinfo, int64 *ids, int n)
{
	FuncCallContext *funcctx = SRF_PERCALL_SETUP();
	SrfState   *st = palloc0(sizeof(SrfState));
	TupleDesc	td;

	if (get_call_result_type(fcinfo, NULL, &td) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	funcctx->tuple_desc = BlessTupleDesc(td);
	st->n = n;
	st->ids = ids;
	st->chunkcxt = AllocSetContextCreate(funcctx->multi_call_memory_ctx, "ar UBL chunk",
										 ALLOCSET_DEFAULT_SIZES);
	funcctx->user_fctx = st;
	return st;
}

/* ar.invoice_ubl(invoice_ids bigint[]): UBL of many documents, loaded CHUNK at a time */
PG_FUNCTION_INFO_V1(ar_invoice_ubl_set);
Datum
ar_invoice_ubl_set(PG_FUNCTION_ARGS)
{
	FuncCallContext *funcctx;
	SrfState   *st;

	if (SRF_IS_FIRSTCALL())
	{
		MemoryContext oldcxt;
		int			n;
		int64	   *ids;

		funcctx = SRF_FIRSTCALL_INIT();
		oldcxt = MemoryContextSwitchTo(funcctx->multi_call_memory_ctx);
		ids = int8_array(PG_GETARG_ARRAYTYPE_P(0), &n);
		srf_init(fcinfo, ids, n);
		MemoryContextSwitchTo(oldcxt);
	}
	funcctx = SRF_PERCALL_SETUP();
	st = funcctx->user_fctx;
	if (st->pos < st->n)
	{
		Datum		values[2];
		bool		nulls[2] = {false, false};
		UblDoc	   *doc;
		int64		id = st->ids[st->pos];

		srf_load(st);
		doc = chunk_doc(&st->chunk, id);
		values[0] = Int64GetDatum(id);
		values[1] = PointerGetDatum(render_ubl(doc));
		st->pos++;
		SRF_RETURN_NEXT(funcctx, HeapTupleGetDatum(heap_form_tuple(funcctx->tuple_desc, values, nulls)));
	}
	SRF_RETURN_DONE(funcctx);
}

/*
 * ar.ubl_check(invoice_ids bigint[]): raises the first thing any of the
 * documents (drafts included) lacks for a valid Peppol document.  ar.issue
 * calls it for the documents of peppol customers before numbering them.
 */
PG_FUNCTION_INFO_V1(ar_ubl_check);
Datum
ar_ubl_check(PG_FUNCTION_ARGS)
{
	int			n;
	int64	   *ids = int8_array(PG_GETARG_ARRAYTYPE_P(0), &n);
	MemoryContext cxt;
	int			rc;

	if (n == 0)
		PG_RETURN_VOID();
	cxt = AllocSetContextCreate(CurrentMemoryContext, "ar UBL check", ALLOCSET_DEFAULT_SIZES);
	qsort(ids, n, sizeof(int64), cmp_int64);
	for (int pos = 0; pos < n; pos += CHUNK)
	{
		int			k = Min(CHUNK, n - pos);
		UblChunk	chunk;

		MemoryContextReset(cxt);
		if ((rc = SPI_connect()) != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed: %s", SPI_result_code_string(rc));
		load_chunk(ids + pos, k, cxt, &chunk);
		if ((rc = SPI_finish()) != SPI_OK_FINISH)
			elog(ERROR, "SPI_finish failed: %s", SPI_result_code_string(rc));
		for (int i = 0; i < k; i++)
		{
			UblDoc	   *doc = chunk_doc(&chunk, ids[pos + i]);
			ProblemList pl = {NIL, true};
			MemoryContext oldcxt = MemoryContextSwitchTo(cxt);

			check_doc(doc, &pl);
			MemoryContextSwitchTo(oldcxt);
			if (pl.items != NIL)
				raise_problem(linitial(pl.items));
		}
	}
	MemoryContextDelete(cxt);
	PG_RETURN_VOID();
}

/*
 * ar.ubl_problems(invoice_id): everything the document (a draft too) lacks
 * for a valid Peppol document, one row per problem; no rows means it can be
 * sent by Peppol.
 */
PG_FUNCTION_INFO_V1(ar_ubl_problems);
Datum
ar_ubl_problems(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int64		id = PG_GETARG_INT64(0);
	UblChunk	chunk;
	UblDoc	   *doc;
	ProblemList pl = {NIL, false};
	ListCell   *lc;

	InitMaterializedSRF(fcinfo, 0);
	doc = load_one(id, CurrentMemoryContext, &chunk);
	check_doc(doc, &pl);
	foreach(lc, pl.items)
	{
		UblProblem *p = lfirst(lc);
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};

		values[0] = CStringGetTextDatum(unpack_sql_state(p->sqlstate));
		values[1] = CStringGetTextDatum(psprintf("ar.%s.%s", p->table, p->column));
		values[2] = CStringGetTextDatum(p->message);
		if (p->detail)
			values[3] = CStringGetTextDatum(p->detail);
		else
			nulls[3] = true;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * ar.issue_payloads(docs ar.invoice[], channels text[]): the outbox payload
 * of each issued document: UBL for channel peppol, the readable rendering
 * otherwise.  ar.issue calls it in the statement that numbers the documents,
 * which cannot see its own updates: the issued rows come as arguments, the
 * rest (parties, lines, VAT breakdown) is read as before the statement.
 */
PG_FUNCTION_INFO_V1(ar_issue_payloads);
Datum
ar_issue_payloads(PG_FUNCTION_ARGS)
{
	FuncCallContext *funcctx;
	SrfState   *st;
	static int	att_id,
				att_number,
				att_status,
				att_issue,
				att_due,
				att_net,
				att_tax,
				att_total,
				att_ref,
				att_tax_acc;

	if (SRF_IS_FIRSTCALL())
	{
		MemoryContext oldcxt;
		ArrayType  *docs = PG_GETARG_ARRAYTYPE_P(0);
		ArrayType  *chans = PG_GETARG_ARRAYTYPE_P(1);
		Oid			elemtype = ARR_ELEMTYPE(docs);
		int16		typlen;
		bool		typbyval;
		char		typalign;
		Datum	   *elems;
		bool	   *nulls;
		int			n,
					nc;
		Datum	   *celems;
		bool	   *cnulls;
		SrfState   *s;

		funcctx = SRF_FIRSTCALL_INIT();
		oldcxt = MemoryContextSwitchTo(funcctx->multi_call_memory_ctx);
		get_typlenbyvalalign(elemtype, &typlen, &typbyval, &typalign);
		deconstruct_array(docs, elemtype, typlen, typbyval, typalign, &elems, &nulls, &n);
		deconstruct_array(chans, TEXTOID, -1, false, TYPALIGN_INT, &celems, &cnulls, &nc);
		if (n != nc)
			elog(ERROR, "ar.issue_payloads needs one channel per document");
		s = srf_init(fcinfo, palloc(sizeof(int64) * Max(n, 1)), n);
		s->channels = palloc(sizeof(char *) * Max(n, 1));
		s->rows = palloc(sizeof(HeapTupleHeader) * Max(n, 1));
		s->rowdesc = lookup_rowtype_tupdesc_copy(elemtype, -1);
		att_id = att_number = att_status = att_issue = att_due = att_net = att_tax = att_total = att_ref = 0;
		att_tax_acc = 0;
		for (int a = 0; a < s->rowdesc->natts; a++)
		{
			Form_pg_attribute att = TupleDescAttr(s->rowdesc, a);
			const char *name = NameStr(att->attname);

			if (att->attisdropped)
				continue;
			if (strcmp(name, "id") == 0)
				att_id = a + 1;
			else if (strcmp(name, "number") == 0)
				att_number = a + 1;
			else if (strcmp(name, "status") == 0)
				att_status = a + 1;
			else if (strcmp(name, "issue_date") == 0)
				att_issue = a + 1;
			else if (strcmp(name, "due_date") == 0)
				att_due = a + 1;
			else if (strcmp(name, "net_total") == 0)
				att_net = a + 1;
			else if (strcmp(name, "tax_total") == 0)
				att_tax = a + 1;
			else if (strcmp(name, "total") == 0)
				att_total = a + 1;
			else if (strcmp(name, "payment_reference") == 0)
				att_ref = a + 1;
			else if (strcmp(name, "tax_total_accounting") == 0)
				att_tax_acc = a + 1;
		}
		if (!att_id || !att_number || !att_status || !att_issue || !att_due || !att_net ||
			!att_tax || !att_total || !att_ref || !att_tax_acc)
			elog(ERROR, "ar.issue_payloads needs rows of ar.invoice");
		for (int i = 0; i < n; i++)
		{
			HeapTupleData tup;
			bool		isnull;

			if (nulls[i] || cnulls[i])
				elog(ERROR, "ar.issue_payloads got a NULL document or channel");
			s->rows[i] = DatumGetHeapTupleHeader(elems[i]);
			tup.t_len = HeapTupleHeaderGetDatumLength(s->rows[i]);
			tup.t_data = s->rows[i];
			s->ids[i] = DatumGetInt64(heap_getattr(&tup, att_id, s->rowdesc, &isnull));
			s->channels[i] = TextDatumGetCString(celems[i]);
		}
		MemoryContextSwitchTo(oldcxt);
	}
	funcctx = SRF_PERCALL_SETUP();
	st = funcctx->user_fctx;
	if (st->pos < st->n)
	{
		Datum		values[2];
		bool		nulls[2] = {false, false};
		UblDoc	   *doc;
		int64		id = st->ids[st->pos];
		HeapTupleData tup;
		bool		isnull;
		Datum		d;
		MemoryContext oldcxt;

		srf_load(st);
		doc = chunk_doc(&st->chunk, id);

		/* the issued values, which the loader cannot see yet */
		tup.t_len = HeapTupleHeaderGetDatumLength(st->rows[st->pos]);
		tup.t_data = st->rows[st->pos];
		oldcxt = MemoryContextSwitchTo(st->chunkcxt);
		d = heap_getattr(&tup, att_number, st->rowdesc, &isnull);
		doc->number = isnull ? NULL : TextDatumGetCString(d);
		/* a payload that cannot be rendered rolls the number back */
		doc->label_draft = true;
		d = heap_getattr(&tup, att_status, st->rowdesc, &isnull);
		doc->status = isnull ? doc->status : DatumGetCString(DirectFunctionCall1(enum_out, d));
		d = heap_getattr(&tup, att_issue, st->rowdesc, &isnull);
		doc->has_issue_date = !isnull;
		doc->issue_date = isnull ? 0 : DatumGetDateADT(d);
		d = heap_getattr(&tup, att_due, st->rowdesc, &isnull);
		doc->has_due_date = !isnull;
		doc->due_date = isnull ? 0 : DatumGetDateADT(d);
		d = heap_getattr(&tup, att_net, st->rowdesc, &isnull);
		doc->has_totals = !isnull;
		doc->net_total = isnull ? 0 : DatumGetArAmountP(d)->units;
		d = heap_getattr(&tup, att_tax, st->rowdesc, &isnull);
		doc->has_totals &= !isnull;
		doc->tax_total = isnull ? 0 : DatumGetArAmountP(d)->units;
		d = heap_getattr(&tup, att_total, st->rowdesc, &isnull);
		doc->has_totals &= !isnull;
		doc->total = isnull ? 0 : DatumGetArAmountP(d)->units;
		d = heap_getattr(&tup, att_ref, st->rowdesc, &isnull);
		doc->payment_reference = isnull ? NULL : TextDatumGetCString(d);
		d = heap_getattr(&tup, att_tax_acc, st->rowdesc, &isnull);
		set_tax_accounting(doc, isnull ? NULL : DatumGetArAmountP(d));
		MemoryContextSwitchTo(oldcxt);

		values[0] = Int64GetDatum(id);
		if (strcmp(st->channels[st->pos], "peppol") == 0)
			values[1] = PointerGetDatum(render_ubl(doc));
		else
			values[1] = PointerGetDatum(render_text(doc));
		st->pos++;
		SRF_RETURN_NEXT(funcctx, HeapTupleGetDatum(heap_form_tuple(funcctx->tuple_desc, values, nulls)));
	}
	SRF_RETURN_DONE(funcctx);
}
