/*-------------------------------------------------------------------------
 *
 * refs.c
 *	  Payment references (Swedish OCR, Norwegian KID, Finnish viite,
 *	  ISO 11649 RF, Danish FIK) and IBAN validation (ISO 13616).
 *
 * Algorithms and test vectors: DOMAIN.md §1.  Blanks are ignored in input,
 * since references and IBANs are printed in groups.
 *
 * src/refs.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

#include "access/xact.h"
#include "lib/stringinfo.h"
#include "pgtime.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/timestamp.h"

#include "ar.h"

typedef enum RefScheme
{
	REF_OCR,					/* Luhn check digit */
	REF_OCR_LEN,				/* length digit + Luhn check digit */
	REF_KID10,					/* Luhn, 2-25 digits */
	REF_KID11,					/* MOD11, '-' for check value 10 */
	REF_FI,						/* Finnish 7-3-1 */
	REF_RF,						/* ISO 11649 */
	REF_FIK						/* Danish FIK +71: 15 digits, Luhn */
} RefScheme;

static const struct
{
	const char *name;
	RefScheme	scheme;
	int			min_len;		/* total length of a valid reference */
	int			max_len;
}			schemes[] = {
	{"ocr", REF_OCR, 2, 25},
	{"ocr_len", REF_OCR_LEN, 3, 25},
	{"kid10", REF_KID10, 2, 25},
	{"kid11", REF_KID11, 2, 25},
	{"fi", REF_FI, 4, 20},
	{"rf", REF_RF, 5, 25},
	{"fik", REF_FIK, 15, 15},
};

static int
scheme_index(const char *name)
{
	for (int i = 0; i < (int) lengthof(schemes); i++)
		if (pg_strcasecmp(name, schemes[i].name) == 0)
			return i;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown payment reference scheme \"%s\"", name),
			 errhint("Known schemes are ocr, ocr_len, kid10, kid11, fi, rf and fik.")));
	return -1;					/* keep compiler quiet */
}

/* Copy s without blanks, upper-cased. */
static char *
compact(const char *s)
{
	char	   *out = palloc(strlen(s) + 1);
	char	   *o = out;

	for (; *s; s++)
		if (!isspace((unsigned char) *s))
			*o++ = (char) toupper((unsigned char) *s);
	*o = '\0';
	return out;
}

/* True for a non-empty string of ASCII digits (also used by bgmax.c). */
bool
ArAllDigits(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s; s++)
		if (!isdigit((unsigned char) *s))
			return false;
	return true;
}

/* Luhn check digit of a digit string: weights 2,1,2,... from the right. */
static int
luhn_digit(const char *d, int len)
{
	int			sum = 0;

	for (int i = len - 1, w = 2; i >= 0; i--, w = 3 - w)
	{
		int			p = (d[i] - '0') * w;

		sum += p > 9 ? p - 9 : p;
	}
	return (10 - sum % 10) % 10;
}

/* MOD11 check character: weights 2..7 repeating from the right. */
static char
mod11_char(const char *d, int len)
{
	int			sum = 0;
	int			r;

	for (int i = len - 1, w = 2; i >= 0; i--, w = (w == 7 ? 2 : w + 1))
		sum += (d[i] - '0') * w;
	r = sum % 11;
	if (r == 0)
		return '0';
	if (r == 1)
		return '-';
	return (char) ('0' + 11 - r);
}

/* Finnish check digit: weights 7,3,1 repeating from the right. */
static int
fi_digit(const char *d, int len)
{
	static const int weights[3] = {7, 3, 1};
	int			sum = 0;

	for (int i = len - 1, k = 0; i >= 0; i--, k = (k + 1) % 3)
		sum += (d[i] - '0') * weights[k];
	return (10 - sum % 10) % 10;
}

/*
 * ISO 7064 MOD 97-10 over an alphanumeric string (letters A=10 .. Z=35),
 * read as if its first four characters stood at the end.  -1 on a
 * character that is neither digit nor letter.
 */
static int
mod97_rotated(const char *s, int len)
{
	int			r = 0;

	for (int k = 0; k < len; k++)
	{
		char		c = s[(k + 4) % len];

		if (isdigit((unsigned char) c))
			r = (r * 10 + (c - '0')) % 97;
		else if (c >= 'A' && c <= 'Z')
			r = (r * 100 + (c - 'A' + 10)) % 97;
		else
			return -1;
	}
	return r;
}

static bool
alnum_upper(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s; s++)
		if (!isdigit((unsigned char) *s) && !(*s >= 'A' && *s <= 'Z'))
			return false;
	return true;
}

static bool
reference_valid(RefScheme scheme, const char *ref, int min_len, int max_len)
{
	int			len = strlen(ref);

	if (len < min_len || len > max_len)
		return false;

	switch (scheme)
	{
		case REF_OCR:
		case REF_KID10:
		case REF_FIK:
			return ArAllDigits(ref) && luhn_digit(ref, len - 1) == ref[len - 1] - '0';
		case REF_OCR_LEN:
			return ArAllDigits(ref) &&
				luhn_digit(ref, len - 1) == ref[len - 1] - '0' &&
				ref[len - 2] - '0' == len % 10;
		case REF_KID11:
			{
				char	   *body = pnstrdup(ref, len - 1);

				if (!ArAllDigits(body))
					return false;
				return mod11_char(ref, len - 1) == ref[len - 1];
			}
		case REF_FI:
			return ArAllDigits(ref) && ref[0] != '0' &&
				fi_digit(ref, len - 1) == ref[len - 1] - '0';
		case REF_RF:
			return ref[0] == 'R' && ref[1] == 'F' &&
				isdigit((unsigned char) ref[2]) && isdigit((unsigned char) ref[3]) &&
				alnum_upper(ref + 4) && mod97_rotated(ref, len) == 1;
	}
	return false;
}

/*
 * ar.reference_valid(scheme text, ref text) → boolean
 */
PG_FUNCTION_INFO_V1(ar_reference_valid);
Datum
ar_reference_valid(PG_FUNCTION_ARGS)
{
	int			i = scheme_index(text_to_cstring(PG_GETARG_TEXT_PP(0)));
	char	   *ref = compact(text_to_cstring(PG_GETARG_TEXT_PP(1)));

	PG_RETURN_BOOL(reference_valid(schemes[i].scheme, ref,
								   schemes[i].min_len, schemes[i].max_len));
}

/*
 * A reference of scheme i written in another form than the one ar gives
 * it (build_reference), rewritten in place into that form; ref is
 * compacted and has room for MAX_REFERENCE_LEN + 1 bytes.  The forms:
 *
 *	- a Finnish reference wrapped in RF, its international form (RF, two
 *	  check digits, the reference): DOMAIN.md 1.4, RF81123453 for 123453;
 *	- a Finnish reference padded with zeros to 20 digits, as banks give
 *	  it, or with any leading zeros inside RF.  A shorter number with
 *	  leading zeros is left alone: 001232 may well be an invoice number;
 *	- with pad, a FIK payment id without its leading zeros (its check digit
 *	  does not change), padded back to 15 digits.  Only where the text is
 *	  known to be a FIK id: a short number in a reference field is as
 *	  likely an invoice number, and 18 is also the id of number 1.
 *
 * Returns whether ref was rewritten; the result is then a valid reference
 * of the scheme.  Anything else is left as it is.
 */
static bool
normal_form(int i, char *ref, bool pad)
{
	int			len = strlen(ref);

	if (schemes[i].scheme == REF_FI)
	{
		const char *body = ref;

		if (len > 4 && ref[0] == 'R' && ref[1] == 'F' &&
			reference_valid(REF_RF, ref, 5, 25))
			body = ref + 4;
		else if (len != 20)
			return false;
		while (*body == '0')
			body++;
		if (body == ref || !reference_valid(REF_FI, body, schemes[i].min_len, schemes[i].max_len))
			return false;
		memmove(ref, body, strlen(body) + 1);
		return true;
	}
	if (schemes[i].scheme == REF_FIK && pad && len < 15 && ArAllDigits(ref))
	{
		char		padded[16];

		memset(padded, '0', 15 - len);
		memcpy(padded + 15 - len, ref, len + 1);
		if (!reference_valid(REF_FIK, padded, 15, 15))
			return false;
		memcpy(ref, padded, 16);
		return true;
	}
	return false;
}

/*
 * ArReferenceNormal(scheme, ref): normal_form for the scheme named, without
 * padding, for the matcher (match.c).
 */
bool
ArReferenceNormal(const char *scheme, char *ref)
{
	return strlen(ref) <= MAX_REFERENCE_LEN && normal_form(scheme_index(scheme), ref, false);
}

/*
 * ar.reference_normal(scheme text, ref text) → text: a valid reference of
 * the scheme, in any form normal_form knows, in the form ar gives it
 * (compacted, upper case); NULL when it is no valid reference.
 */
PG_FUNCTION_INFO_V1(ar_reference_normal);
Datum
ar_reference_normal(PG_FUNCTION_ARGS)
{
	int			i = scheme_index(text_to_cstring(PG_GETARG_TEXT_PP(0)));
	char	   *ref = compact(text_to_cstring(PG_GETARG_TEXT_PP(1)));
	char		buf[MAX_REFERENCE_LEN + 1];

	if (strlen(ref) <= MAX_REFERENCE_LEN)
	{
		strcpy(buf, ref);
		if (normal_form(i, buf, true))
			ref = buf;
	}
	if (!reference_valid(schemes[i].scheme, ref, schemes[i].min_len, schemes[i].max_len))
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(ref));
}

static void
bad_base(const char *scheme, const char *base, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid base \"%s\" for payment reference scheme \"%s\"",
					base, scheme),
			 errdetail("%s", detail)));
}

/* How many characters of a base scheme i has room for. */
static int
base_room(int i)
{
	if (schemes[i].scheme == REF_FIK)
		return 14;
	return schemes[i].max_len - (schemes[i].scheme == REF_OCR_LEN ? 2 :
								 schemes[i].scheme == REF_RF ? 4 : 1);
}

/*
 * The reference of scheme i built from orig with the scheme's control
 * digits; an unfit base is an error.
 */
static char *
build_reference(int i, const char *orig)
{
	const char *name = schemes[i].name;
	char	   *base = compact(orig);
	int			len = strlen(base);
	int			room = base_room(i);
	StringInfoData out;

	if (len == 0)
		bad_base(name, orig, "The base is empty.");
	if (schemes[i].scheme == REF_RF)
	{
		if (!alnum_upper(base))
			bad_base(name, orig, "An RF reference carries only letters A-Z and digits.");
	}
	else if (!ArAllDigits(base))
		bad_base(name, orig, "This scheme carries digits only.");
	if (schemes[i].scheme == REF_FIK)
	{
		/* the betalings-id is 14 digits, zero-padded, plus the check digit */
		if (len > room)
			bad_base(name, orig, "A FIK payment id has at most 14 digits before its check digit.");
	}
	else if (len > room)
		bad_base(name, orig,
				 psprintf("The base may have at most %d characters, so that the reference fits in %d.",
						  room, schemes[i].max_len));
	if (schemes[i].scheme == REF_FI)
	{
		if (len < 3)
			bad_base(name, orig, "A Finnish reference base has 3 to 19 digits.");
		if (base[0] == '0')
			bad_base(name, orig, "A Finnish reference does not start with zero.");
	}

	initStringInfo(&out);
	switch (schemes[i].scheme)
	{
		case REF_OCR:
		case REF_KID10:
			appendStringInfo(&out, "%s%d", base, luhn_digit(base, len));
			break;
		case REF_OCR_LEN:
			appendStringInfo(&out, "%s%d", base, (len + 2) % 10);
			appendStringInfo(&out, "%d", luhn_digit(out.data, len + 1));
			break;
		case REF_KID11:
			appendStringInfo(&out, "%s%c", base, mod11_char(base, len));
			break;
		case REF_FI:
			appendStringInfo(&out, "%s%d", base, fi_digit(base, len));
			break;
		case REF_RF:
			{
				char	   *probe = psprintf("RF00%s", base);
				int			r = mod97_rotated(probe, len + 4);

				appendStringInfo(&out, "RF%02d%s", 98 - r, base);
				break;
			}
		case REF_FIK:
			appendStringInfoSpaces(&out, 14 - len);
			for (int k = 0; k < 14 - len; k++)
				out.data[k] = '0';
			appendStringInfoString(&out, base);
			appendStringInfo(&out, "%d", luhn_digit(out.data, 14));
			break;
	}
	return out.data;
}

/*
 * ar.payment_reference(scheme text, base text) → text: the reference built
 * from base with the scheme's control digits.
 */
PG_FUNCTION_INFO_V1(ar_payment_reference);
Datum
ar_payment_reference(PG_FUNCTION_ARGS)
{
	int			i = scheme_index(text_to_cstring(PG_GETARG_TEXT_PP(0)));

	PG_RETURN_TEXT_P(cstring_to_text(build_reference(i, text_to_cstring(PG_GETARG_TEXT_PP(1)))));
}

/*
 * ar.invoice_reference(scheme text, prefix text, number text) → text: the
 * payment reference ar.issue gives an invoice.  Its base is the series'
 * reference prefix (digits, not starting with 0; may be NULL) followed by
 * the digits of the invoice number, the number's cut from the left to what
 * the scheme has room for after the prefix; a Finnish base without a prefix
 * drops its leading zeros (they do not count there).
 */
PG_FUNCTION_INFO_V1(ar_invoice_reference);
Datum
ar_invoice_reference(PG_FUNCTION_ARGS)
{
	int			i;
	char	   *prefix;
	char	   *number;
	StringInfoData digits;
	const char *base;
	int			room;
	int			plen;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(2))
		PG_RETURN_NULL();
	i = scheme_index(text_to_cstring(PG_GETARG_TEXT_PP(0)));
	prefix = PG_ARGISNULL(1) ? "" : text_to_cstring(PG_GETARG_TEXT_PP(1));
	number = text_to_cstring(PG_GETARG_TEXT_PP(2));
	room = base_room(i);
	plen = strlen(prefix);
	if (plen > 0 && (!ArAllDigits(prefix) || *prefix == '0'))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("reference prefix \"%s\" is not a string of digits that starts with 1 to 9", prefix)));
	if (plen >= room)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("reference prefix \"%s\" leaves no room for the number in a %s reference",
						prefix, schemes[i].name)));

	/* the number's digits, cut from the left to what the prefix leaves */
	initStringInfo(&digits);
	for (const char *c = number; *c; c++)
		if (isdigit((unsigned char) *c))
			appendStringInfoChar(&digits, *c);
	base = digits.data;
	if (digits.len > room - plen)
		base += digits.len - (room - plen);
	if (plen > 0)
		base = psprintf("%s%s", prefix, base);
	else if (schemes[i].scheme == REF_FI)
		while (*base == '0')
			base++;
	if (schemes[i].scheme == REF_FI && strlen(base) < 3)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invoice number \"%s\" gives no Finnish payment reference", number),
				 errdetail("Its digits without leading zeros, \"%s\", are fewer than the 3 a reference base needs.",
						   base),
				 errhint("Give the series a reference_prefix, such as '10', or a pattern with more digits, such as {YYYY}-{N}.")));
	if (*base == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invoice number \"%s\" has no digits to build a payment reference from", number),
				 errhint("Give the series a reference_prefix.")));
	PG_RETURN_TEXT_P(cstring_to_text(build_reference(i, base)));
}

/* IBAN lengths per country (ISO 13616 registry, SWIFT IBAN Registry). */
static const struct
{
	char		cc[3];
	int			len;
}			iban_lengths[] = {
	{"AD", 24}, {"AE", 23}, {"AL", 28}, {"AT", 20}, {"AZ", 28}, {"BA", 20},
	{"BE", 16}, {"BG", 22}, {"BH", 22}, {"BI", 27}, {"BR", 29}, {"BY", 28},
	{"CH", 21}, {"CR", 22}, {"CY", 28}, {"CZ", 24}, {"DE", 22}, {"DJ", 27},
	{"DK", 18}, {"DO", 28}, {"EE", 20}, {"EG", 29}, {"ES", 24}, {"FI", 18},
	{"FK", 18}, {"FO", 18}, {"FR", 27}, {"GB", 22}, {"GE", 22}, {"GI", 23},
	{"GL", 18}, {"GR", 27}, {"GT", 28}, {"HN", 28}, {"HR", 21}, {"HU", 28},
	{"IE", 22}, {"IL", 23}, {"IQ", 23}, {"IS", 26}, {"IT", 27}, {"JO", 30},
	{"KW", 30}, {"KZ", 20}, {"LB", 28}, {"LC", 32}, {"LI", 21}, {"LT", 20},
	{"LU", 20}, {"LV", 21}, {"LY", 25}, {"MC", 27}, {"MD", 24}, {"ME", 22},
	{"MK", 19}, {"MN", 20}, {"MR", 27}, {"MT", 31}, {"MU", 30}, {"NI", 28},
	{"NL", 18}, {"NO", 15}, {"OM", 23}, {"PK", 24}, {"PL", 28}, {"PS", 29},
	{"PT", 25}, {"QA", 29}, {"RO", 24}, {"RS", 22}, {"RU", 33}, {"SA", 24},
	{"SC", 31}, {"SD", 18}, {"SE", 24}, {"SI", 19}, {"SK", 24}, {"SM", 27},
	{"SO", 23}, {"ST", 25}, {"SV", 28}, {"TL", 23}, {"TN", 24}, {"TR", 26},
	{"UA", 29}, {"VA", 22}, {"VG", 24}, {"XK", 20}, {"YE", 30},
};

/* The registered IBAN length of a country, or 0 when it has no IBAN. */
static int
iban_length(const char *cc)
{
	for (int i = 0; i < (int) lengthof(iban_lengths); i++)
		if (cc[0] == iban_lengths[i].cc[0] && cc[1] == iban_lengths[i].cc[1])
			return iban_lengths[i].len;
	return 0;
}

/*
 * What is wrong with iban (blanks allowed, any case), in words, or NULL for
 * a valid IBAN.
 */
static char *
iban_problem(const char *iban)
{
	char	   *s = compact(iban);
	int			len = strlen(s);
	int			want;

	if (len < 5 || len > 34 ||
		!(s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z' &&
		  isdigit((unsigned char) s[2]) && isdigit((unsigned char) s[3])) ||
		!alnum_upper(s))
		return pstrdup("an IBAN is a country code, two check digits and the account, 5 to 34 letters and digits in all");
	want = iban_length(s);
	if (want == 0)
		return psprintf("country %.2s has no IBAN", s);
	if (want != len)
		return psprintf("an IBAN of %.2s has %d characters, this one %d", s, want, len);
	if (mod97_rotated(s, len) != 1)
		return pstrdup("its check digits do not match the account (ISO 13616 MOD 97-10)");
	return NULL;
}

/* Is iban (blanks allowed, any case) a valid IBAN? */
bool
ArIbanValid(const char *iban)
{
	return iban_problem(iban) == NULL;
}

/*
 * ar.iban_valid(text) → boolean
 */
PG_FUNCTION_INFO_V1(ar_iban_valid);
Datum
ar_iban_valid(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(ArIbanValid(text_to_cstring(PG_GETARG_TEXT_PP(0))));
}

/*
 * ar.iban_problem(text) → text: what is wrong with an IBAN, NULL when
 * nothing is (the message of a refused IBAN)
 */
PG_FUNCTION_INFO_V1(ar_iban_problem);
Datum
ar_iban_problem(PG_FUNCTION_ARGS)
{
	char	   *problem = iban_problem(text_to_cstring(PG_GETARG_TEXT_PP(0)));

	if (problem == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(problem));
}

/*
 * The zone named name, as SET TimeZone takes a name: from the server's zone
 * database or as a POSIX rule, without leap seconds.  NULL for anything
 * else, and for what SET TimeZone reads otherwise or what follows the host:
 * a numeric offset ('+05' is UTC+5 there but UTC-5 as a POSIX rule) and
 * 'localtime'.
 */
static pg_tz *
zone_named(const char *name)
{
	pg_tz	   *tz;

	if (name[0] == '\0' || name[0] == '+' || name[0] == '-' || isdigit((unsigned char) name[0]) ||
		pg_strcasecmp(name, "localtime") == 0)
		return NULL;
	tz = pg_tzset(name);
	if (tz == NULL || !pg_tz_acceptable(tz))
		return NULL;
	return tz;
}

/*
 * ar.time_zone_valid(text) → boolean
 *
 * Is the text a time zone by name ('Europe/Stockholm', 'UTC') or POSIX rule
 * ('CET-1CEST,M3.5.0,M10.5.0/3')?  A misspelt name ('Europe/Stockhom') is not.
 */
PG_FUNCTION_INFO_V1(ar_time_zone_valid);
Datum
ar_time_zone_valid(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(zone_named(text_to_cstring(PG_GETARG_TEXT_PP(0))) != NULL);
}

/*
 * ar.zone_today(zone text) → date
 *
 * The date in the zone at the start of the transaction.  The zone is read as
 * a zone, never as an abbreviation (which AT TIME ZONE tries first, in the
 * session's timezone_abbreviations: 'EST' there can be UTC+10), so every
 * session gets the same date.
 */
PG_FUNCTION_INFO_V1(ar_zone_today);
Datum
ar_zone_today(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	pg_tz	   *tz = zone_named(name);
	struct pg_tm tm;
	fsec_t		fsec;
	int			offset;

	if (tz == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("time zone \"%s\" is not known", name),
				 errhint("Give a zone name such as Europe/Stockholm.")));
	if (timestamp2tm(GetCurrentTransactionStartTimestamp(), &offset, &tm, &fsec, NULL, tz) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("timestamp out of range")));
	PG_RETURN_DATEADT(date2j(tm.tm_year, tm.tm_mon, tm.tm_mday) - POSTGRES_EPOCH_JDATE);
}
