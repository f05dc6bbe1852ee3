/*-------------------------------------------------------------------------
 *
 * bgmax.c
 *	  Bankgirot's BgMax file (Bankgiro Inbetalningar), parsed into one row
 *	  per payment: ar.bgmax_transactions(content bytea) → SETOF
 *	  ar.bank_transaction.
 *
 * A BgMax file is ISO-8859-1 text of 80-character records, each starting
 * with its two-digit record type (TK):
 *
 *	 TK01  start: layout "BGMAX", version 01, timestamp, T(est)/P(roduction)
 *	 TK05  opening of a deposit: payee bankgiro/plusgiro, currency
 *	 TK20  payment     TK21 deduction
 *	 TK22  extra reference     TK23 extra reference, negative amount
 *	 TK25  information text
 *	 TK26  name   TK27 address, post code   TK28 town, country   TK29 org. no.
 *	 TK15  deposit: bank account, payment date, serial, amount, count
 *	 TK70  end: counts of TK20, TK21, TK22+TK23 and TK15 records
 *
 * Positions are those of Bankgirot's technical manual, as summarised in
 * DOMAIN.md §1.7.  Amounts are in öre (cents), read as digits straight into
 * minor units.  Every record count and every deposit total is checked;
 * anything malformed raises an error naming the record, the line and the
 * field, before a single row is returned.
 *
 * Two tolerances, both needed by Bankgirot's own example file: a TAB moves
 * to the next multiple of 8 columns, and a record shorter than 80
 * characters is padded with blanks.  Blank lines are skipped, and so are
 * records of an unknown two-digit type (the manual asks readers to ignore
 * them).
 *
 * The SQL side (entity check, insertion into ar.payment) is ar.import_bgmax
 * in ar--1.0.sql.
 *
 * src/bgmax.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

#include "catalog/pg_type.h"
#include "common/int.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/pg_list.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/lsyscache.h"

#include "ar.h"

#define BG_RECLEN 80

/* A TK22/TK23 extra reference. */
typedef struct BgRef
{
	char	   *ref;
	int64		units;			/* negative for TK23 */
	char	   *code;
} BgRef;

/* A TK20 payment or TK21 deduction and the records that follow it. */
typedef struct BgRow
{
	int			seq;
	int			line;
	bool		deduction;		/* TK21 */
	char	   *account;		/* payee bankgiro (or plusgiro) */
	char	   *deposit;		/* TK15 serial */
	DateADT		date;			/* TK15 payment date */
	int64		units;
	uint32		currency;
	char	   *reference;
	char	   *reference_code;
	char	   *channel;
	char	   *deduction_code;
	char	   *serial;			/* Bankgirot's serial number of the payment */
	char	   *sender;			/* sender's bankgiro */
	char	   *text;			/* TK25 lines */
	char	   *name;
	char	   *street;
	char	   *post_code;
	char	   *town;
	char	   *country;
	char	   *org_no;
	char	   *bank_ref;
	List	   *extra;			/* BgRef */
} BgRow;

typedef struct BgCtx
{
	int			line;			/* number of the current line, from 1 */
	char		rec[BG_RECLEN + 1]; /* the current record, blank padded */
	char		type[3];		/* "20" */
	char	   *timestamp;		/* TK01 */
	List	   *rows;
} BgCtx;

static void bg_error(const BgCtx *cx, const char *what, const char *value) pg_attribute_noreturn();
static void out_of_order(const BgCtx *cx, const char *detail) pg_attribute_noreturn();
static void mismatch(const BgCtx *cx, const char *what, int64 file_says, int64 found) pg_attribute_noreturn();
static void total_out_of_range(const BgCtx *cx) pg_attribute_noreturn();

/* ------------------------------------------------------------------------
 * Fields
 * ------------------------------------------------------------------------ */

/* Raw field at 1-based columns from..to (blank padded record). */
static char *
raw(const BgCtx *cx, int from, int to)
{
	return pnstrdup(cx->rec + from - 1, to - from + 1);
}

/* Field text, blanks trimmed, in the server encoding; NULL when blank. */
static char *
field(const BgCtx *cx, int from, int to)
{
	const char *s = cx->rec + from - 1;
	int			len = to - from + 1;
	char	   *copy;

	while (len > 0 && *s == ' ')
		s++, len--;
	while (len > 0 && s[len - 1] == ' ')
		len--;
	if (len == 0)
		return NULL;
	copy = pnstrdup(s, len);
	return pg_any_to_server(copy, len, PG_LATIN1);
}

static void
bg_error(const BgCtx *cx, const char *what, const char *value)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("invalid %s \"%s\" in TK%s on line %d of BgMax file",
					what, pg_any_to_server(value, strlen(value), PG_LATIN1),
					cx->type, cx->line),
			 errdetail("Nothing was imported.")));
}

/*
 * The text of columns from..to, all of them digits: no blanks, also not
 * leading ones (a padded serial number would make another bank_ref for the
 * same payment).
 */
static char *
digit_text(const BgCtx *cx, int from, int to, const char *what)
{
	char	   *s = raw(cx, from, to);

	if (!ArAllDigits(s))
		bg_error(cx, what, s);
	return s;
}

/* A number of digits, all of them present. */
static int64
digits(const BgCtx *cx, int from, int to, const char *what)
{
	char	   *s = digit_text(cx, from, to, what);
	int64		v = 0;

	for (char *p = s; *p; p++)
		if (pg_mul_s64_overflow(v, 10, &v) || pg_add_s64_overflow(v, *p - '0', &v))
			bg_error(cx, what, s);	/* 18 digits always fit; kept for safety */
	return v;
}

/* A giro number: 10 digits, leading zeros dropped; NULL when all zeros or blank. */
static char *
giro(const BgCtx *cx, int from, int to, const char *what)
{
	char	   *s = raw(cx, from, to);
	char	   *p = s;

	if (strspn(s, " ") == strlen(s))
		return NULL;
	if (!ArAllDigits(s))
		bg_error(cx, what, s);
	while (*p == '0')
		p++;
	return *p ? pstrdup(p) : NULL;
}

/* A one-digit code. */
static char *
code(const BgCtx *cx, int pos, const char *what)
{
	char	   *s = raw(cx, pos, pos);

	if (!isdigit((unsigned char) s[0]))
		bg_error(cx, what, s);
	return s;
}

/* The number in the n digits at s (digits checked by the caller). */
static int
num(const char *s, int n)
{
	int			v = 0;

	for (int i = 0; i < n; i++)
		v = v * 10 + (s[i] - '0');
	return v;
}

/* Whether the digits YYYYMMDD at s are a date of the calendar. */
static bool
ymd_valid(const char *s)
{
	int			y = num(s, 4),
				m = num(s + 4, 2),
				d = num(s + 6, 2);

	return y >= 1 && m >= 1 && m <= 12 && d >= 1 && d <= day_tab[isleap(y)][m - 1];
}

/* YYYYMMDD */
static DateADT
bg_date(const BgCtx *cx, int from, const char *what)
{
	char	   *s = digit_text(cx, from, from + 7, what);

	if (!ymd_valid(s))
		bg_error(cx, what, s);
	return date2j(num(s, 4), num(s + 4, 2), num(s + 6, 2)) - POSTGRES_EPOCH_JDATE;
}

/* Whether TK01's 20 digits YYYYMMDDHHMMSSuuuuuu are a date and a time of day. */
static bool
timestamp_valid(const char *s)
{
	return ymd_valid(s) && num(s + 8, 2) < 24 && num(s + 10, 2) < 60 && num(s + 12, 2) < 60;
}

static char *
join(char *acc, const char *sep, const char *s)
{
	if (s == NULL)
		return acc;
	if (acc == NULL)
		return pstrdup(s);
	return psprintf("%s%s%s", acc, sep, s);
}

static void
out_of_order(const BgCtx *cx, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("unexpected TK%s on line %d of BgMax file", cx->type, cx->line),
			 errdetail("%s Nothing was imported.", detail)));
}

/*
 * The currency code at columns from..from+2, packed: upper case, known to
 * ISO 4217, with 2 decimals (amounts are in öre or cents).
 */
static uint32
bg_currency(const BgCtx *cx, int from)
{
	char	   *ccy = raw(cx, from, from + 2);
	const ArCurrency *cur = ArCurrencyLookup(ArCurrencyPack(ccy, 3));

	if (!isupper((unsigned char) ccy[0]) || !isupper((unsigned char) ccy[1]) ||
		!isupper((unsigned char) ccy[2]) || cur == NULL || cur->minor_unit != 2)
		bg_error(cx, "currency", ccy);
	return ArCurrencyPack(ccy, 3);
}

/* The payments of one deposit add up to more than an amount can hold. */
static void
total_out_of_range(const BgCtx *cx)
{
	ereport(ERROR,
			(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
			 errmsg("the amounts of the deposit up to TK%s on line %d of BgMax file add up to more than an amount can hold",
					cx->type, cx->line),
			 errdetail("Nothing was imported.")));
}

static void
mismatch(const BgCtx *cx, const char *what, int64 file_says, int64 found)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_EXCEPTION),
			 errmsg("%s in TK%s on line %d of BgMax file is " INT64_FORMAT ", but the file has " INT64_FORMAT,
					what, cx->type, cx->line, file_says, found),
			 errdetail("Nothing was imported.")));
}

/* ------------------------------------------------------------------------
 * Lines
 * ------------------------------------------------------------------------ */

/*
 * Copies one line into cx->rec: CR dropped, TABs expanded to multiples of 8
 * columns, padded with blanks.  Returns false for a blank line.
 */
static bool
load_line(BgCtx *cx, const char *p, int len)
{
	int			col = 0;

	if (len > 0 && p[len - 1] == '\r')
		len--;
	memset(cx->rec, ' ', BG_RECLEN);
	cx->rec[BG_RECLEN] = '\0';
	for (int i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) p[i];
		int			next = (c == '\t') ? (col / 8 + 1) * 8 : col + 1;

		/* C0 and C1 controls and DEL; TAB is expanded below */
		if ((c < 0x20 && c != '\t') || (c >= 0x7f && c <= 0x9f))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("invalid character 0x%02x on line %d of BgMax file", c, cx->line),
					 errdetail("Nothing was imported.")));
		if (next > BG_RECLEN)
		{
			/* trailing blanks past column 80 are harmless */
			bool		blank = true;

			for (int j = i; j < len; j++)
				if (p[j] != ' ' && p[j] != '\t')
					blank = false;
			if (blank)
				break;
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("line %d of BgMax file is longer than %d characters", cx->line, BG_RECLEN),
					 errdetail("Nothing was imported.")));
		}
		if (c != '\t')
			cx->rec[col] = (char) c;
		col = next;
	}
	if (strspn(cx->rec, " ") == BG_RECLEN)
		return false;
	cx->type[0] = cx->rec[0];
	cx->type[1] = cx->rec[1];
	cx->type[2] = '\0';
	if (!isdigit((unsigned char) cx->type[0]) || !isdigit((unsigned char) cx->type[1]))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid record type \"%s\" on line %d of BgMax file",
						pg_any_to_server(cx->type, 2, PG_LATIN1), cx->line),
				 errdetail("A BgMax record starts with its two-digit type (TK). Nothing was imported.")));
	return true;
}

/* ------------------------------------------------------------------------
 * The file
 * ------------------------------------------------------------------------ */

/*
 * BgMax files are ISO-8859-1, but a file can reach ar re-encoded as UTF-8
 * (an editor, a transfer tool).  Its letters would then read as two
 * characters each (Sjöberg as SjÃ¶berg) or, where the second byte is a C1
 * control (Å is 0xC3 0x85), fail.  Bytes that are valid UTF-8 and hold a
 * character beyond ASCII (or start with a byte order mark, which is
 * dropped) are taken as UTF-8 and converted to ISO-8859-1; a character
 * beyond U+00FF, which ISO-8859-1 lacks, is an error naming it and its line
 * (22P05), rather than a file read wrongly.  ISO-8859-1 that happens to be
 * valid UTF-8 takes two upper-half characters in a row that make a UTF-8
 * sequence ("Ã¶", or Ö and a no-break space); such a file can be passed as
 * text decoded from LATIN1, which is not looked at.  Bytes with a NUL, or
 * that are not valid UTF-8, are ISO-8859-1, and the parser reports what is
 * wrong with them by line.
 */
static void
latin1_content(const char **data, int *size)
{
	const unsigned char *p = (const unsigned char *) *data;
	int			n = *size;
	bool		bom = false;
	bool		multibyte = false;
	int			wide = -1;		/* where the first character beyond U+00FF is */

	if (n >= 3 && p[0] == 0xEF && p[1] == 0xBB && p[2] == 0xBF)
	{
		p += 3;
		n -= 3;
		bom = true;
	}
	for (int i = 0; i < n;)
	{
		int			len;

		if (p[i] == 0)
			return;				/* the parser names the line */
		if (p[i] < 0x80)
		{
			i++;
			continue;
		}
		len = pg_utf_mblen(p + i);
		if (i + len > n || !pg_utf8_islegal(p + i, len))
			return;				/* not UTF-8: ISO-8859-1, as it should be */
		if (wide < 0 && utf8_to_unicode(p + i) > 0xFF)
			wide = i;
		multibyte = true;
		i += len;
	}
	if (!multibyte && !bom)
		return;
	if (wide >= 0)
	{
		int			line = 1;

		for (int i = 0; i < wide; i++)
			line += p[i] == '\n';
		ereport(ERROR,
				(errcode(ERRCODE_UNTRANSLATABLE_CHARACTER),
				 errmsg("line %d of BgMax file has the character U+%04X, which ISO-8859-1 does not have",
						line, utf8_to_unicode(p + wide)),
				 errdetail("The file's bytes are UTF-8; BgMax files are ISO-8859-1. Nothing was imported."),
				 errhint("If the file is ISO-8859-1 after all, pass it as text: convert_from(content, 'LATIN1').")));
	}
	*data = (const char *) pg_do_encoding_conversion((unsigned char *) p, n, PG_UTF8, PG_LATIN1);
	/* (an empty input comes back as it went in, without a terminator) */
	*size = *data == (const char *) p ? n : (int) strlen(*data);
}

static void
bgmax_parse(BgCtx *cx, const char *data, int size)
{
	const char *p = data;
	const char *end = data + size;
	bool		started = false;
	bool		ended = false;
	/* the open deposit */
	bool		in_deposit = false;
	int			deposit_line = 0;
	char	   *payee = NULL;
	uint32		currency = 0;
	List	   *deposit_rows = NIL;
	int64		deposit_sum = 0;
	BgRow	   *row = NULL;
	/* counts for TK70 */
	int64		n20 = 0,
				n21 = 0,
				n22 = 0,
				n15 = 0;

	while (p < end)
	{
		const char *nl = memchr(p, '\n', end - p);
		int			len = nl ? (int) (nl - p) : (int) (end - p);

		CHECK_FOR_INTERRUPTS();
		cx->line++;
		if (memchr(p, '\0', len) != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("invalid character 0x00 on line %d of BgMax file", cx->line),
					 errdetail("Nothing was imported.")));
		if (!load_line(cx, p, len))
		{
			p += len + (nl ? 1 : 0);
			continue;
		}
		p += len + (nl ? 1 : 0);

		if (ended)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("record TK%s on line %d of BgMax file follows the TK70 end record",
							cx->type, cx->line),
					 errdetail("Nothing was imported.")));
		if (!started)
		{
			char	   *layout;
			char	   *version;
			char	   *flag;

			if (strcmp(cx->type, "01") != 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
						 errmsg("BgMax file must start with a TK01 record, line %d is TK%s",
								cx->line, cx->type),
						 errdetail("Nothing was imported.")));
			layout = field(cx, 3, 22);
			if (layout == NULL || strcmp(layout, "BGMAX") != 0)
				bg_error(cx, "layout name", raw(cx, 3, 22));
			version = raw(cx, 23, 24);
			if (strcmp(version, "01") != 0)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("unsupported BgMax version \"%s\" in TK01 on line %d",
								pg_any_to_server(version, 2, PG_LATIN1), cx->line),
						 errdetail("ar reads BgMax version 01. Nothing was imported.")));
			cx->timestamp = digit_text(cx, 25, 44, "timestamp");
			if (!timestamp_valid(cx->timestamp))
				bg_error(cx, "timestamp", cx->timestamp);
			flag = raw(cx, 45, 45);
			if (strcmp(flag, "T") != 0 && strcmp(flag, "P") != 0)
				bg_error(cx, "test mark", flag);
			started = true;
			continue;
		}

		if (strcmp(cx->type, "05") == 0)
		{
			if (in_deposit)
				out_of_order(cx, psprintf("The deposit opened on line %d has no TK15 deposit record.",
										  deposit_line));
			in_deposit = true;
			deposit_line = cx->line;
			deposit_rows = NIL;
			deposit_sum = 0;
			row = NULL;
			payee = giro(cx, 3, 12, "payee bankgiro number");
			if (payee == NULL)
				payee = giro(cx, 13, 22, "payee plusgiro number");
			if (payee == NULL)
				bg_error(cx, "payee bankgiro number", raw(cx, 3, 12));
			currency = bg_currency(cx, 23);
		}
		else if (strcmp(cx->type, "20") == 0 || strcmp(cx->type, "21") == 0)
		{
			if (!in_deposit)
				out_of_order(cx, "A payment or deduction record must follow a TK05 opening record.");
			row = palloc0(sizeof(BgRow));
			row->seq = list_length(cx->rows) + 1;
			row->line = cx->line;
			row->deduction = (cx->type[1] == '1');
			row->account = payee;
			row->currency = currency;
			row->sender = giro(cx, 3, 12, "sender bankgiro number");
			row->reference = field(cx, 13, 37);
			row->units = digits(cx, 38, 55, "amount");
			if (row->units == 0)
				bg_error(cx, "amount", raw(cx, 38, 55));
			row->reference_code = code(cx, 56, "reference code");
			row->channel = code(cx, 57, "payment channel code");
			row->serial = digit_text(cx, 58, 69, "BGC serial number");
			if (row->deduction)
			{
				row->deduction_code = code(cx, 71, "deduction code");
				n21++;
				if (pg_sub_s64_overflow(deposit_sum, row->units, &deposit_sum))
					total_out_of_range(cx);
			}
			else
			{
				n20++;
				if (pg_add_s64_overflow(deposit_sum, row->units, &deposit_sum))
					total_out_of_range(cx);
			}
			cx->rows = lappend(cx->rows, row);
			deposit_rows = lappend(deposit_rows, row);
		}
		else if (strcmp(cx->type, "22") == 0 || strcmp(cx->type, "23") == 0 ||
				 strcmp(cx->type, "25") == 0 || strcmp(cx->type, "26") == 0 ||
				 strcmp(cx->type, "27") == 0 || strcmp(cx->type, "28") == 0 ||
				 strcmp(cx->type, "29") == 0)
		{
			if (row == NULL)
				out_of_order(cx, "Records TK22 to TK29 belong to the TK20 payment or TK21 deduction before them.");
			switch (cx->type[1])
			{
				case '2':
				case '3':
					{
						BgRef	   *r = palloc(sizeof(BgRef));

						r->ref = field(cx, 13, 37);
						if (r->ref == NULL)
							bg_error(cx, "extra reference", raw(cx, 13, 37));
						r->units = digits(cx, 38, 55, "amount");
						if (cx->type[1] == '3')
							r->units = -r->units;
						r->code = code(cx, 56, "reference code");
						row->extra = lappend(row->extra, r);
						n22++;
						break;
					}
				case '5':
					row->text = join(row->text, "\n", field(cx, 3, 52));
					break;
				case '6':
					row->name = join(field(cx, 3, 37), " ", field(cx, 38, 72));
					break;
				case '7':
					row->street = field(cx, 3, 37);
					row->post_code = field(cx, 38, 46);
					break;
				case '8':
					row->town = field(cx, 3, 37);
					row->country = field(cx, 38, 72);
					if (row->country == NULL)
						row->country = field(cx, 73, 74);
					break;
				case '9':
					row->org_no = field(cx, 3, 14);
					if (row->org_no != NULL && !ArAllDigits(row->org_no))
						bg_error(cx, "organisation number", raw(cx, 3, 14));
					break;
			}
		}
		else if (strcmp(cx->type, "15") == 0)
		{
			DateADT		date;
			char	   *deposit;
			int64		amount;
			int64		count;
			ListCell   *lc;

			if (!in_deposit)
				out_of_order(cx, "A TK15 deposit record closes a deposit opened by TK05.");
			date = bg_date(cx, 38, "payment date");
			deposit = digit_text(cx, 46, 50, "deposit serial number");
			amount = digits(cx, 51, 68, "deposit amount");
			if (bg_currency(cx, 69) != currency)
				bg_error(cx, "currency", raw(cx, 69, 71));
			count = digits(cx, 72, 79, "number of payments");
			if (count != list_length(deposit_rows))
				mismatch(cx, "number of payments", count, list_length(deposit_rows));
			if (amount != deposit_sum)
			{
				ArAmount	a = {amount, currency, 0};
				ArAmount	s = {deposit_sum, currency, 0};

				ereport(ERROR,
						(errcode(ERRCODE_DATA_EXCEPTION),
						 errmsg("deposit amount %s in TK15 on line %d of BgMax file does not match its payments less deductions, %s",
								ArAmountToCString(&a), cx->line, ArAmountToCString(&s)),
						 errdetail("Nothing was imported.")));
			}
			foreach(lc, deposit_rows)
			{
				BgRow	   *r = lfirst(lc);
				int			y,
							m,
							d;

				r->date = date;
				r->deposit = deposit;
				j2date(date + POSTGRES_EPOCH_JDATE, &y, &m, &d);
				r->bank_ref = psprintf("%s:%04d%02d%02d/%s/%s", r->account, y, m, d,
									   deposit, r->serial);
			}
			n15++;
			in_deposit = false;
			row = NULL;
		}
		else if (strcmp(cx->type, "70") == 0)
		{
			static const struct
			{
				int			from;
				const char *what;
			}			counts[] = {
				{3, "number of payment records (TK20)"},
				{11, "number of deduction records (TK21)"},
				{19, "number of extra reference records (TK22, TK23)"},
				{27, "number of deposit records (TK15)"},
			};
			int64		found[4];

			if (in_deposit)
				out_of_order(cx, psprintf("The deposit opened on line %d has no TK15 deposit record.",
										  deposit_line));
			found[0] = n20;
			found[1] = n21;
			found[2] = n22;
			found[3] = n15;
			for (int i = 0; i < 4; i++)
			{
				int64		says = digits(cx, counts[i].from, counts[i].from + 7, counts[i].what);

				if (says != found[i])
					mismatch(cx, counts[i].what, says, found[i]);
			}
			ended = true;
		}
		else if (strcmp(cx->type, "01") == 0)
			out_of_order(cx, "A BgMax file has one TK01 start record, on its first line.");
		/* any other two-digit type is skipped, as the manual asks */
	}

	if (!started)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("empty BgMax file"),
				 errdetail("Nothing was imported.")));
	if (!ended)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("BgMax file has no TK70 end record"),
				 errdetail("%sNothing was imported.",
						   in_deposit ? psprintf("The deposit opened on line %d has no TK15 deposit record. ", deposit_line) : "")));
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

static void
put_row(const BgCtx *cx, ReturnSetInfo *rsinfo, const BgRow *row, Oid amount_type)
{
	Datum		values[BT_NATTS];
	bool		nulls[BT_NATTS];
	int			n = list_length(row->extra);
	Datum	   *refs = palloc((n + 1) * sizeof(Datum));
	Datum	   *amounts = palloc((n + 1) * sizeof(Datum));
	Datum	   *codes = palloc((n + 1) * sizeof(Datum));
	char	   *address;
	int			i = 0;
	ListCell   *lc;

	memset(nulls, 0, sizeof(nulls));
	values[BT_SEQ] = Int32GetDatum(row->seq);
	values[BT_SOURCE] = CStringGetTextDatum("bgmax");
	values[BT_FORMAT] = CStringGetTextDatum("BgMax 01");
	values[BT_MESSAGE_ID] = CStringGetTextDatum(cx->timestamp);
	values[BT_STATEMENT_ID] = CStringGetTextDatum(row->deposit);
	values[BT_ACCOUNT] = CStringGetTextDatum(row->account);
	values[BT_LOCATION] = CStringGetTextDatum(psprintf("line %d", row->line));
	values[BT_ENTRY_STATUS] = CStringGetTextDatum("BOOK");
	values[BT_KIND] = CStringGetTextDatum(row->deduction ? "debit" : "credit");
	values[BT_BANK_REF] = CStringGetTextDatum(row->bank_ref);
	/* the deposit's date and serial, and Bankgirot's serial of the payment */
	values[BT_REF_ORIGIN] = CStringGetTextDatum("bank");
	values[BT_BOOKING_DATE] = DateADTGetDatum(row->date);
	values[BT_VALUE_DATE] = DateADTGetDatum(row->date);
	values[BT_AMOUNT] = ArAmountPGetDatum(ArAmountMake(row->units, row->currency));
	values[BT_REFERENCE] = text_or_null(row->reference, &nulls[BT_REFERENCE]);
	values[BT_REFERENCE_CODE] = CStringGetTextDatum(row->reference_code);
	values[BT_REMITTANCE] = text_or_null(row->text, &nulls[BT_REMITTANCE]);
	values[BT_PAYER_NAME] = text_or_null(row->name, &nulls[BT_PAYER_NAME]);
	values[BT_PAYER_ACCOUNT] = text_or_null(row->sender, &nulls[BT_PAYER_ACCOUNT]);
	address = join(NULL, "", row->street);
	address = join(address, ", ", join(row->post_code, " ", row->town));
	address = join(address, ", ", row->country);
	values[BT_PAYER_ADDRESS] = text_or_null(address, &nulls[BT_PAYER_ADDRESS]);
	values[BT_PAYER_ORG_NO] = text_or_null(row->org_no, &nulls[BT_PAYER_ORG_NO]);
	nulls[BT_END_TO_END_ID] = true;
	values[BT_END_TO_END_ID] = (Datum) 0;
	values[BT_TRANSACTION_CODE] = CStringGetTextDatum(row->deduction
													  ? psprintf("TK21/%s/%s", row->channel, row->deduction_code)
													  : psprintf("TK20/%s", row->channel));
	nulls[BT_RETURN_REASON] = true;
	values[BT_RETURN_REASON] = (Datum) 0;

	foreach(lc, row->extra)
	{
		BgRef	   *r = lfirst(lc);

		refs[i] = CStringGetTextDatum(r->ref);
		amounts[i] = ArAmountPGetDatum(ArAmountMake(r->units, row->currency));
		codes[i] = CStringGetTextDatum(r->code);
		i++;
	}
	ArPutBankExtras(values, n, refs, amounts, NULL, codes, NULL, amount_type);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/*
 * ar.bgmax_transactions(content bytea | text) → SETOF ar.bank_transaction:
 * every TK20 payment and TK21 deduction of a BgMax file, in file order.  The
 * bytes are ISO-8859-1 (or UTF-8, latin1_content); text is decoded already
 * and is encoded to ISO-8859-1.
 */
PG_FUNCTION_INFO_V1(ar_bgmax_transactions);
Datum
ar_bgmax_transactions(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	BgCtx		cx;
	Oid			amount_type;
	ListCell   *lc;
	const char *data;
	int			size;

	InitMaterializedSRF(fcinfo, 0);
	if (rsinfo->setDesc->natts != BT_NATTS)
		elog(ERROR, "ar.bank_transaction has %d columns, expected %d",
			 rsinfo->setDesc->natts, BT_NATTS);
	amount_type = TupleDescAttr(rsinfo->setDesc, BT_AMOUNT)->atttypid;

	memset(&cx, 0, sizeof(cx));
	if (get_fn_expr_argtype(fcinfo->flinfo, 0) == TEXTOID)
	{
		/* already decoded: ISO-8859-1 bytes of it, an error for € */
		text	   *t = PG_GETARG_TEXT_PP(0);
		const char *src = VARDATA_ANY(t);
		int			len = VARSIZE_ANY_EXHDR(t);

		/* a byte order mark read into the text with the file */
		if (GetDatabaseEncoding() == PG_UTF8 && len >= 3 &&
			memcmp(src, "\xEF\xBB\xBF", 3) == 0)
		{
			src += 3;
			len -= 3;
		}

		data = pg_server_to_any(src, len, PG_LATIN1);
		size = data == src ? len : (int) strlen(data);
	}
	else
	{
		bytea	   *content = PG_GETARG_BYTEA_PP(0);

		data = VARDATA_ANY(content);
		size = VARSIZE_ANY_EXHDR(content);
		latin1_content(&data, &size);
	}
	bgmax_parse(&cx, data, size);
	/* repeated bank_refs get "#2", "#3", ... (see camt.c) */
	ArDedupeBankRefs(cx.rows, offsetof(BgRow, bank_ref), offsetof(BgRow, seq));
	foreach(lc, cx.rows)
		put_row(&cx, rsinfo, lfirst(lc), amount_type);
	return (Datum) 0;
}
