/*-------------------------------------------------------------------------
 *
 * numbering.c
 *	  Invoice number patterns of ar.series.
 *
 * A pattern such as 'INV-{YYYY}-{N:6}' holds literal text and the tokens
 * {YYYY} {YY} {MM} {N} and {N:width}.  {N}, the number within the series
 * (and within the year for yearly series), must appear exactly once.  The
 * gapless counter itself is a row of ar.series_counter, written by the
 * issuing transaction under a lock on its series that it holds until it
 * ends (ar._take_numbers in issue.c); this file only validates patterns and
 * renders numbers.
 *
 * src/numbering.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "datatype/timestamp.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"

#include "ar.h"

#define MAX_WIDTH 18

typedef enum
{
	TOK_YYYY, TOK_YY, TOK_MM, TOK_N
} TokenKind;

/*
 * Walk a pattern; with out != NULL render it for number n in year/month.
 * Raises an error naming the pattern on any malformed token.
 */
static void
walk_pattern(const char *pattern, StringInfo out, int64 n, int year, int month)
{
	const char *p = pattern;
	int			n_count = 0;

	while (*p)
	{
		const char *close;
		TokenKind	kind;
		int			width = 0;

		if (*p == '}')
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid series pattern \"%s\": unmatched \"}\"", pattern)));
		if (*p != '{')
		{
			if (out)
				appendStringInfoChar(out, *p);
			p++;
			continue;
		}
		close = strchr(p, '}');
		if (close == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid series pattern \"%s\": unclosed \"{\"", pattern)));
		if (close - p == 5 && strncmp(p, "{YYYY}", 6) == 0)
			kind = TOK_YYYY;
		else if (close - p == 3 && strncmp(p, "{YY}", 4) == 0)
			kind = TOK_YY;
		else if (close - p == 3 && strncmp(p, "{MM}", 4) == 0)
			kind = TOK_MM;
		else if (close - p == 2 && strncmp(p, "{N}", 3) == 0)
			kind = TOK_N;
		else if (strncmp(p, "{N:", 3) == 0 && close - p > 3)
		{
			kind = TOK_N;
			for (const char *d = p + 3; d < close; d++)
			{
				if (*d < '0' || *d > '9' || width > MAX_WIDTH)
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("invalid series pattern \"%s\": bad width in \"%.*s\"",
									pattern, (int) (close - p + 1), p),
							 errhint("Write {N:width} with a width from 1 to %d.", MAX_WIDTH)));
				width = width * 10 + (*d - '0');
			}
			if (width < 1 || width > MAX_WIDTH)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("invalid series pattern \"%s\": bad width in \"%.*s\"",
								pattern, (int) (close - p + 1), p),
						 errhint("Write {N:width} with a width from 1 to %d.", MAX_WIDTH)));
		}
		else
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid series pattern \"%s\": unknown token \"%.*s\"",
							pattern, (int) (close - p + 1), p),
					 errhint("Tokens are {YYYY}, {YY}, {MM}, {N} and {N:width}.")));

		if (kind == TOK_N)
			n_count++;
		if (out)
		{
			switch (kind)
			{
				case TOK_YYYY:
					appendStringInfo(out, "%04d", year);
					break;
				case TOK_YY:
					appendStringInfo(out, "%02d", year % 100);
					break;
				case TOK_MM:
					appendStringInfo(out, "%02d", month);
					break;
				case TOK_N:
					appendStringInfo(out, "%0*lld", width, (long long) n);
					break;
			}
		}
		p = close + 1;
	}
	if (n_count != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid series pattern \"%s\": it must contain {N} exactly once",
						pattern),
				 errhint("For example 'INV-{YYYY}-{N:6}'.")));
}

/*
 * ar.series_pattern_check(pattern text) → boolean: true, or an error saying
 * what is wrong with the pattern.  Used by the CHECK of ar.series.
 */
PG_FUNCTION_INFO_V1(ar_series_pattern_check);
Datum
ar_series_pattern_check(PG_FUNCTION_ARGS)
{
	char	   *pattern = text_to_cstring(PG_GETARG_TEXT_PP(0));

	/* numbers go into e-invoices and references: no control characters */
	for (const unsigned char *c = (const unsigned char *) pattern; *c; c++)
		if (*c < 0x20 || *c == 0x7f || ArUtf8Noncharacter(c))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid series pattern: byte %d is a control character (0x%02x)",
							(int) (c - (const unsigned char *) pattern) + 1, *c),
					 errhint("Invoice numbers are printed and sent in XML; use letters, digits and punctuation.")));
	walk_pattern(pattern, NULL, 0, 0, 0);
	PG_RETURN_BOOL(true);
}

/*
 * ar.format_number(pattern text, n bigint, on_date date) → text
 */
PG_FUNCTION_INFO_V1(ar_format_number);
Datum
ar_format_number(PG_FUNCTION_ARGS)
{
	char	   *pattern = text_to_cstring(PG_GETARG_TEXT_PP(0));
	int64		n = PG_GETARG_INT64(1);
	DateADT		d = PG_GETARG_DATEADT(2);
	int			year;
	int			month;
	int			day;
	StringInfoData out;

	if (n < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invoice number %lld out of range: numbers start at 1",
						(long long) n)));
	if (DATE_NOT_FINITE(d))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("an invoice number needs a finite date")));
	j2date(d + POSTGRES_EPOCH_JDATE, &year, &month, &day);
	initStringInfo(&out);
	walk_pattern(pattern, &out, n, year, month);
	PG_RETURN_TEXT_P(cstring_to_text(out.data));
}
