/*
 * ar--1.0.sql: accounts receivable inside PostgreSQL, version 1.0.
 *
 * Everything lives in schema ar.  Every function and trigger below names its
 * objects with their schema, so it works whatever the caller's search_path.
 * Users put ar on their search_path to find the operators and aggregates:
 *   ALTER DATABASE db SET search_path = "$user", public, ar;
 */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION ar" to load this file. \quit

/* ------------------------------------------------------------------------
 * 1. ar.amount: money with currency
 * ------------------------------------------------------------------------ */

CREATE TYPE ar.amount;

CREATE FUNCTION ar.amount_in(cstring) RETURNS ar.amount
	AS 'MODULE_PATHNAME', 'ar_amount_in' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION ar.amount_out(ar.amount) RETURNS cstring
	AS 'MODULE_PATHNAME', 'ar_amount_out' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION ar.amount_recv(internal) RETURNS ar.amount
	AS 'MODULE_PATHNAME', 'ar_amount_recv' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION ar.amount_send(ar.amount) RETURNS bytea
	AS 'MODULE_PATHNAME', 'ar_amount_send' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION ar.amount_typanalyze(internal) RETURNS boolean
	AS 'MODULE_PATHNAME', 'ar_amount_typanalyze' LANGUAGE C STRICT;

CREATE TYPE ar.amount (
	INPUT = ar.amount_in,
	OUTPUT = ar.amount_out,
	RECEIVE = ar.amount_recv,
	SEND = ar.amount_send,
	ANALYZE = ar.amount_typanalyze,
	INTERNALLENGTH = 16,
	ALIGNMENT = double,
	STORAGE = plain
);
COMMENT ON TYPE ar.amount IS
	'exact money: a signed 64-bit count of minor units plus an ISO 4217 currency code, text form ''1234.50 SEK''';

-- constructors and accessors
CREATE FUNCTION ar.amount(value numeric, currency text) RETURNS ar.amount
	AS 'MODULE_PATHNAME', 'ar_amount_from_numeric' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ar.amount(numeric, text) IS
	'amount of a currency from a numeric; more non-zero decimals than the currency has is an error';
CREATE FUNCTION ar.round_amount(value numeric, currency text) RETURNS ar.amount
	AS 'MODULE_PATHNAME', 'ar_round_amount' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ar.round_amount(numeric, text) IS
	'amount of a currency from a numeric, rounded half away from zero to the minor unit';
CREATE FUNCTION ar.amount_of_minor(units bigint, currency text) RETURNS ar.amount
	AS 'MODULE_PATHNAME', 'ar_amount_of_minor' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ar.amount_of_minor(bigint, text) IS
	'amount from a count of minor units (öre, cents), as bank files carry them';
CREATE FUNCTION ar.currency_of(ar.amount) RETURNS text
	AS 'MODULE_PATHNAME', 'ar_currency_of' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ar.currency_of(ar.amount) IS 'ISO 4217 code of an amount';
CREATE FUNCTION ar.value_of(ar.amount) RETURNS numeric
	AS 'MODULE_PATHNAME', 'ar_value_of' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ar.value_of(ar.amount) IS
	'value of an amount in currency units, with the currency''s minor-unit scale';
CREATE FUNCTION ar.minor_units(ar.amount) RETURNS bigint
	AS 'MODULE_PATHNAME', 'ar_minor_units' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ar.minor_units(ar.amount) IS 'signed count of minor units of an amount';

-- comparison
CREATE FUNCTION ar.amount_eq(ar.amount, ar.amount) RETURNS boolean
	AS 'MODULE_PATHNAME', 'ar_amount_eq' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION ar.amount_ne(ar.amount, ar.amount) RETURNS boolean
	AS 'MODULE_PATHNAME', 'ar_amount_ne' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION ar.amount_lt(ar.amount, ar.amount) RETURNS boolean
	AS 'MODULE_PATHNAME', 'ar_amount_lt' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION ar.amount_le(ar.amount, ar.amount) RETURNS boolean
	AS 'MODULE_PATHNAME', 'ar_amount_le' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION ar.amount_gt(ar.amount, ar.amount) RETURNS boolean
	AS 'MODULE_PATHNAME', 'ar_amount_gt' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION ar.amount_ge(ar.amount, ar.amount) RETURNS boolean
	AS 'MODULE_PATHNAME', 'ar_amount_ge' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION ar.amount_cmp(ar.amount, ar.amount) RETURNS integer
	AS 'MODULE_PATHNAME', 'ar_amount_cmp' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION ar.amount_hash(ar.amount) RETURNS integer
	AS 'MODULE_PATHNAME', 'ar_amount_hash' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION ar.amount_hash_extended(ar.amount, bigint) RETURNS bigint
	AS 'MODULE_PATHNAME', 'ar_amount_hash_extended' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE OPERATOR ar.= (
	LEFTARG = ar.amount, RIGHTARG = ar.amount, PROCEDURE = ar.amount_eq,
	COMMUTATOR = OPERATOR(ar.=), NEGATOR = OPERATOR(ar.<>),
	RESTRICT = eqsel, JOIN = eqjoinsel, HASHES, MERGES
);
CREATE OPERATOR ar.<> (
	LEFTARG = ar.amount, RIGHTARG = ar.amount, PROCEDURE = ar.amount_ne,
	COMMUTATOR = OPERATOR(ar.<>), NEGATOR = OPERATOR(ar.=),
	RESTRICT = neqsel, JOIN = neqjoinsel
);
CREATE OPERATOR ar.< (
	LEFTARG = ar.amount, RIGHTARG = ar.amount, PROCEDURE = ar.amount_lt,
	COMMUTATOR = OPERATOR(ar.>), NEGATOR = OPERATOR(ar.>=),
	RESTRICT = scalarltsel, JOIN = scalarltjoinsel
);
CREATE OPERATOR ar.<= (
	LEFTARG = ar.amount, RIGHTARG = ar.amount, PROCEDURE = ar.amount_le,
	COMMUTATOR = OPERATOR(ar.>=), NEGATOR = OPERATOR(ar.>),
	RESTRICT = scalarlesel, JOIN = scalarlejoinsel
);
CREATE OPERATOR ar.> (
	LEFTARG = ar.amount, RIGHTARG = ar.amount, PROCEDURE = ar.amount_gt,
	COMMUTATOR = OPERATOR(ar.<), NEGATOR = OPERATOR(ar.<=),
	RESTRICT = scalargtsel, JOIN = scalargtjoinsel
);
CREATE OPERATOR ar.>= (
	LEFTARG = ar.amount, RIGHTARG = ar.amount, PROCEDURE = ar.amount_ge,
	COMMUTATOR = OPERATOR(ar.<=), NEGATOR = OPERATOR(ar.<),
	RESTRICT = scalargesel, JOIN = scalargejoinsel
);

CREATE OPERATOR CLASS ar.amount_ops DEFAULT FOR TYPE ar.amount USING btree AS
	OPERATOR 1 ar.<,
	OPERATOR 2 ar.<=,
	OPERATOR 3 ar.=,
	OPERATOR 4 ar.>=,
	OPERATOR 5 ar.>,
	FUNCTION 1 ar.amount_cmp(ar.amount, ar.amount);
CREATE OPERATOR CLASS ar.amount_hash_ops DEFAULT FOR TYPE ar.amount USING hash AS
	OPERATOR 1 ar.=,
	FUNCTION 1 ar.amount_hash(ar.amount),
	FUNCTION 2 ar.amount_hash_extended(ar.amount, bigint);

-- arithmetic
CREATE FUNCTION ar.amount_pl(ar.amount, ar.amount) RETURNS ar.amount
	AS 'MODULE_PATHNAME', 'ar_amount_pl' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION ar.amount_mi(ar.amount, ar.amount) RETURNS ar.amount
	AS 'MODULE_PATHNAME', 'ar_amount_mi' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION ar.amount_um(ar.amount) RETURNS ar.amount
	AS 'MODULE_PATHNAME', 'ar_amount_um' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION ar.amount_mul_num(ar.amount, numeric) RETURNS ar.amount
	AS 'MODULE_PATHNAME', 'ar_amount_mul_num' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION ar.num_mul_amount(numeric, ar.amount) RETURNS ar.amount
	AS 'MODULE_PATHNAME', 'ar_num_mul_amount' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION ar.amount_div_num(ar.amount, numeric) RETURNS ar.amount
	AS 'MODULE_PATHNAME', 'ar_amount_div_num' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE OPERATOR ar.+ (
	LEFTARG = ar.amount, RIGHTARG = ar.amount, PROCEDURE = ar.amount_pl,
	COMMUTATOR = OPERATOR(ar.+)
);
CREATE OPERATOR ar.- (
	LEFTARG = ar.amount, RIGHTARG = ar.amount, PROCEDURE = ar.amount_mi
);
CREATE OPERATOR ar.- (RIGHTARG = ar.amount, PROCEDURE = ar.amount_um);
CREATE OPERATOR ar.* (
	LEFTARG = ar.amount, RIGHTARG = numeric, PROCEDURE = ar.amount_mul_num,
	COMMUTATOR = OPERATOR(ar.*)
);
CREATE OPERATOR ar.* (
	LEFTARG = numeric, RIGHTARG = ar.amount, PROCEDURE = ar.num_mul_amount,
	COMMUTATOR = OPERATOR(ar.*)
);
CREATE OPERATOR ar./ (
	LEFTARG = ar.amount, RIGHTARG = numeric, PROCEDURE = ar.amount_div_num
);

-- aggregates
CREATE FUNCTION ar.amount_sum_accum(ar.amount, ar.amount) RETURNS ar.amount
	AS 'MODULE_PATHNAME', 'ar_amount_sum_accum' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION ar.amount_larger(ar.amount, ar.amount) RETURNS ar.amount
	AS 'MODULE_PATHNAME', 'ar_amount_larger' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION ar.amount_smaller(ar.amount, ar.amount) RETURNS ar.amount
	AS 'MODULE_PATHNAME', 'ar_amount_smaller' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE AGGREGATE ar.sum(ar.amount) (
	SFUNC = ar.amount_sum_accum,
	STYPE = ar.amount,
	COMBINEFUNC = ar.amount_sum_accum,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE ar.sum(ar.amount) IS
	'exact sum of amounts of one currency; overflow and mixed currencies are errors';
CREATE AGGREGATE ar.max(ar.amount) (
	SFUNC = ar.amount_larger,
	STYPE = ar.amount,
	COMBINEFUNC = ar.amount_larger,
	SORTOP = OPERATOR(ar.>),
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE ar.max(ar.amount) IS 'largest amount of one currency';
CREATE AGGREGATE ar.min(ar.amount) (
	SFUNC = ar.amount_smaller,
	STYPE = ar.amount,
	COMBINEFUNC = ar.amount_smaller,
	SORTOP = OPERATOR(ar.<),
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE ar.min(ar.amount) IS 'smallest amount of one currency';

/* ------------------------------------------------------------------------
 * Currencies and exchange rates
 * ------------------------------------------------------------------------ */

CREATE FUNCTION ar.iso4217(OUT code text, OUT numeric_code smallint,
						   OUT minor_unit smallint, OUT name text)
	RETURNS SETOF record
	AS 'MODULE_PATHNAME', 'ar_iso4217' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ar.iso4217() IS
	'the ISO 4217 list compiled into ar (list one, as published 2026-01-01)';

CREATE TABLE ar.currency (
	code text PRIMARY KEY CHECK (code ~ '^[A-Z]{3}$'),
	numeric_code smallint NOT NULL UNIQUE,
	minor_unit smallint CHECK (minor_unit BETWEEN 0 AND 4),
	name text NOT NULL
);
COMMENT ON TABLE ar.currency IS
	'ISO 4217 currencies; minor_unit is NULL where ISO says N.A. (such codes cannot hold amounts)';
INSERT INTO ar.currency SELECT * FROM ar.iso4217();

CREATE FUNCTION ar.currency_usable(code text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'ar_currency_usable' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ar.currency_usable(text) IS
	'true for an ISO 4217 code that can hold amounts; otherwise an error naming the code (unknown, or no minor unit such as XAU)';
-- The rows come from the compiled list at CREATE EXTENSION; pg_dump has
-- nothing of its own to carry for this table.
SELECT pg_catalog.pg_extension_config_dump('ar.currency', 'WHERE false');

CREATE TABLE ar.fx_rate (
	from_currency text NOT NULL REFERENCES ar.currency (code),
	to_currency text NOT NULL REFERENCES ar.currency (code),
	valid_on date NOT NULL,
	rate numeric NOT NULL CHECK (rate > 0),
	source text,
	PRIMARY KEY (from_currency, to_currency, valid_on),
	CHECK (from_currency <> to_currency)
);
COMMENT ON TABLE ar.fx_rate IS
	'exchange rates: 1 unit of from_currency = rate units of to_currency, valid from valid_on until the next row';

-- The rate of a pair on a day: the row of ar.fx_rate valid then; none is
-- an error, or NULL with missing_ok.
CREATE FUNCTION ar.fx_rate_on(from_currency text, to_currency text, on_date date,
							  missing_ok boolean DEFAULT false)
	RETURNS numeric
	LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, ar, pg_temp
AS $$
DECLARE
	r numeric;
BEGIN
	SELECT f.rate INTO r
	  FROM ar.fx_rate f
	 WHERE f.from_currency = upper(fx_rate_on.from_currency)
	   AND f.to_currency = upper(fx_rate_on.to_currency)
	   AND f.valid_on <= on_date
	 ORDER BY f.valid_on DESC
	 LIMIT 1;
	IF NOT FOUND AND NOT missing_ok THEN
		RAISE EXCEPTION 'no exchange rate from % to % on or before %', upper(from_currency),
			upper(to_currency), to_char(on_date, 'YYYY-MM-DD')
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Add a row to ar.fx_rate (from_currency, to_currency, valid_on, rate).';
	END IF;
	RETURN r;
END
$$;
COMMENT ON FUNCTION ar.fx_rate_on(text, text, date, boolean) IS
	'the rate of ar.fx_rate for a currency pair valid on a day (the latest row on or before it); none: an error, or NULL with missing_ok';

CREATE FUNCTION ar.convert(amount ar.amount, to_currency text, on_date date)
	RETURNS ar.amount
	LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, ar, pg_temp
AS $$
DECLARE
	from_cur text := ar.currency_of(amount);
	to_cur text := upper(to_currency);
BEGIN
	-- validates the target code, with the error of ar.amount()
	PERFORM ar.amount(0, to_cur);
	IF to_cur = from_cur THEN
		RETURN amount;
	END IF;
	RETURN ar.round_amount(ar.value_of(amount) * ar.fx_rate_on(from_cur, to_cur, on_date), to_cur);
END
$$;
COMMENT ON FUNCTION ar.convert(ar.amount, text, date) IS
	'amount converted at the latest ar.fx_rate on or before the date, rounded half away from zero';

/* ------------------------------------------------------------------------
 * ar.invoice_status
 * ------------------------------------------------------------------------ */

CREATE TYPE ar.invoice_status AS ENUM (
	'draft', 'issued', 'partially_paid', 'paid', 'credited', 'written_off', 'cancelled'
);
COMMENT ON TYPE ar.invoice_status IS
	'invoice life cycle; ar.status_transition_allowed() holds the rule. Overdue is derived, not a status';

CREATE FUNCTION ar.status_transition_allowed(from_status ar.invoice_status,
											 to_status ar.invoice_status)
	RETURNS boolean
	AS 'MODULE_PATHNAME', 'ar_status_transition_allowed' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ar.status_transition_allowed(ar.invoice_status, ar.invoice_status) IS
	'may an invoice go from the first status to the second';
CREATE FUNCTION ar.check_status_transition(from_status ar.invoice_status,
										   to_status ar.invoice_status)
	RETURNS void
	AS 'MODULE_PATHNAME', 'ar_check_status_transition' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ar.check_status_transition(ar.invoice_status, ar.invoice_status) IS
	'raises an error naming both states unless the transition is allowed';
CREATE FUNCTION ar.status_guard() RETURNS trigger
	AS 'MODULE_PATHNAME', 'ar_status_guard' LANGUAGE C;
COMMENT ON FUNCTION ar.status_guard() IS
	'BEFORE UPDATE row trigger: refuses illegal transitions of the ar.invoice_status column named by its argument (default status)';

/* ------------------------------------------------------------------------
 * 2. Payment references and identifiers
 * ------------------------------------------------------------------------ */

-- True while pg_restore or a pg_dump script loads rows with COPY (see
-- src/restore.c); the triggers that guard documents then let rows in as dumped.
CREATE FUNCTION ar.restoring() RETURNS boolean
	AS 'MODULE_PATHNAME', 'ar_restoring' LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION ar.restoring() IS
	'true while a superuser restores a dump (COPY with row_security off); ar''s guarding triggers then let rows in as dumped';

-- True while one of ar's internal writers runs (src/guard.c): the functions
-- that alone may write allocations, VAT breakdowns, series counters and the
-- bookkeeping columns of issued documents and payments.  Each is declared
-- as the C function ar_guarded, which runs the body of the same name with a
-- leading underscore (ar.credit runs ar._credit) with this mark set.
CREATE FUNCTION ar.internal() RETURNS boolean
	AS 'MODULE_PATHNAME', 'ar_internal' LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION ar.internal() IS
	'true while one of ar''s internal writers (ar.issue, ar.credit, ar.allocate, ar.unallocate, ar.reverse_payment, ar.match_payments) runs; the guarding triggers refuse their writes otherwise';
CREATE FUNCTION ar.internal_writer() RETURNS text
	AS 'MODULE_PATHNAME', 'ar_internal_writer' LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION ar.internal_writer() IS
	'the name of the outermost of ar''s internal writers running (credit while ar.credit issues its credit note), NULL when none runs';

-- The guarding triggers' refusal: TG_ARGV[0] says what is refused, [1]
-- how to do it instead.
CREATE FUNCTION ar.refuse_direct_write() RETURNS trigger
	LANGUAGE plpgsql
	SET search_path = pg_catalog, ar, pg_temp
AS $$
BEGIN
	RAISE EXCEPTION '% on ar.%: %', TG_OP, TG_TABLE_NAME, TG_ARGV[0]
		USING ERRCODE = 'insufficient_privilege', HINT = TG_ARGV[1];
END
$$;
COMMENT ON FUNCTION ar.refuse_direct_write() IS
	'trigger: refuses a write that only ar''s internal writers may do (see ar.internal())';

CREATE FUNCTION ar.payment_reference(scheme text, base text) RETURNS text
	AS 'MODULE_PATHNAME', 'ar_payment_reference' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ar.payment_reference(text, text) IS
	'payment reference built from base: ocr, ocr_len, kid10, kid11, fi, rf or fik';
CREATE FUNCTION ar.reference_valid(scheme text, ref text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'ar_reference_valid' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION ar.invoice_reference(scheme text, prefix text, number text) RETURNS text
	AS 'MODULE_PATHNAME', 'ar_invoice_reference' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION ar.invoice_reference(text, text, text) IS
	'the payment reference ar.issue gives an invoice: prefix (a series'' reference_prefix) and the number''s digits as the base, cut to fit the scheme; leading zeros dropped for fi';
COMMENT ON FUNCTION ar.reference_valid(text, text) IS
	'is ref a valid payment reference of the scheme (blanks ignored)';
CREATE FUNCTION ar.reference_normal(scheme text, ref text) RETURNS text
	AS 'MODULE_PATHNAME', 'ar_reference_normal' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ar.reference_normal(text, text) IS
	'a valid payment reference of the scheme in the form ar gives it (blanks removed, upper case; a fi reference unwrapped from RF and without leading zeros, a fik id padded to 15 digits); NULL when it is no valid reference';
CREATE FUNCTION ar.iban_valid(iban text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'ar_iban_valid' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ar.iban_valid(text) IS
	'is the text a valid IBAN (ISO 13616: country length and MOD 97-10; blanks ignored)';
CREATE FUNCTION ar.iban_problem(iban text) RETURNS text
	AS 'MODULE_PATHNAME', 'ar_iban_problem' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ar.iban_problem(text) IS
	'what is wrong with an IBAN (its form, its country''s length, its check digits), NULL when nothing is';

-- The failing end of a CHECK that says why: CHECK (x IS NULL OR valid(x) OR
-- ar.check_failed(...)) refuses a bad value with its own message, naming
-- the field, the value and what is wrong, instead of only the constraint
-- (the OR stops at the first true, so a good value never gets here).
CREATE FUNCTION ar.check_failed(table_name text, constraint_name text, field text, value text, problem text)
	RETURNS boolean
	LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RAISE EXCEPTION 'invalid % "%": %', field, value, problem
		USING ERRCODE = 'check_violation', SCHEMA = 'ar', TABLE = table_name, CONSTRAINT = constraint_name;
END
$$;
COMMENT ON FUNCTION ar.check_failed(text, text, text, text, text) IS
	'raises check_violation ''invalid FIELD "VALUE": PROBLEM'' for the named constraint; the last term of a CHECK that explains itself';
CREATE FUNCTION ar.time_zone_valid(name text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'ar_time_zone_valid' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ar.time_zone_valid(text) IS
	'is the text a time zone the server knows by name (Europe/Stockholm) or POSIX rule; not a numeric offset, localtime or a leap-second zone';
CREATE FUNCTION ar.zone_today(zone text) RETURNS date
	AS 'MODULE_PATHNAME', 'ar_zone_today' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ar.zone_today(text) IS
	'the date in the time zone at the start of the transaction, the zone read as a zone (never as a session abbreviation)';

/* ------------------------------------------------------------------------
 * 3. Master data: countries, entities, customers, series
 * ------------------------------------------------------------------------ */

CREATE FUNCTION ar.series_pattern_check(pattern text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'ar_series_pattern_check' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ar.series_pattern_check(text) IS
	'true for a valid series pattern, else an error saying what is wrong';
CREATE FUNCTION ar.format_number(pattern text, n bigint, on_date date) RETURNS text
	AS 'MODULE_PATHNAME', 'ar_format_number' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ar.format_number(text, bigint, date) IS
	'renders a series pattern for number n on a date: {YYYY} {YY} {MM} {N} {N:width}';

CREATE TABLE ar.country (
	code text PRIMARY KEY CHECK (code ~ '^[A-Z]{2}$'),
	name text NOT NULL
);
COMMENT ON TABLE ar.country IS 'ISO 3166-1 alpha-2 country codes';
INSERT INTO ar.country (code, name) VALUES
	('AD', 'Andorra'),
	('AE', 'United Arab Emirates'),
	('AF', 'Afghanistan'),
	('AG', 'Antigua and Barbuda'),
	('AI', 'Anguilla'),
	('AL', 'Albania'),
	('AM', 'Armenia'),
	('AO', 'Angola'),
	('AQ', 'Antarctica'),
	('AR', 'Argentina'),
	('AS', 'American Samoa'),
	('AT', 'Austria'),
	('AU', 'Australia'),
	('AW', 'Aruba'),
	('AX', 'Åland Islands'),
	('AZ', 'Azerbaijan'),
	('BA', 'Bosnia and Herzegovina'),
	('BB', 'Barbados'),
	('BD', 'Bangladesh'),
	('BE', 'Belgium'),
	('BF', 'Burkina Faso'),
	('BG', 'Bulgaria'),
	('BH', 'Bahrain'),
	('BI', 'Burundi'),
	('BJ', 'Benin'),
	('BL', 'Saint Barthélemy'),
	('BM', 'Bermuda'),
	('BN', 'Brunei Darussalam'),
	('BO', 'Bolivia'),
	('BQ', 'Bonaire, Sint Eustatius and Saba'),
	('BR', 'Brazil'),
	('BS', 'Bahamas'),
	('BT', 'Bhutan'),
	('BV', 'Bouvet Island'),
	('BW', 'Botswana'),
	('BY', 'Belarus'),
	('BZ', 'Belize'),
	('CA', 'Canada'),
	('CC', 'Cocos (Keeling) Islands'),
	('CD', 'Congo, The Democratic Republic of the'),
	('CF', 'Central African Republic'),
	('CG', 'Congo'),
	('CH', 'Switzerland'),
	('CI', 'Côte d''Ivoire'),
	('CK', 'Cook Islands'),
	('CL', 'Chile'),
	('CM', 'Cameroon'),
	('CN', 'China'),
	('CO', 'Colombia'),
	('CR', 'Costa Rica'),
	('CU', 'Cuba'),
	('CV', 'Cabo Verde'),
	('CW', 'Curaçao'),
	('CX', 'Christmas Island'),
	('CY', 'Cyprus'),
	('CZ', 'Czechia'),
	('DE', 'Germany'),
	('DJ', 'Djibouti'),
	('DK', 'Denmark'),
	('DM', 'Dominica'),
	('DO', 'Dominican Republic'),
	('DZ', 'Algeria'),
	('EC', 'Ecuador'),
	('EE', 'Estonia'),
	('EG', 'Egypt'),
	('EH', 'Western Sahara'),
	('ER', 'Eritrea'),
	('ES', 'Spain'),
	('ET', 'Ethiopia'),
	('FI', 'Finland'),
	('FJ', 'Fiji'),
	('FK', 'Falkland Islands (Malvinas)'),
	('FM', 'Micronesia, Federated States of'),
	('FO', 'Faroe Islands'),
	('FR', 'France'),
	('GA', 'Gabon'),
	('GB', 'United Kingdom'),
	('GD', 'Grenada'),
	('GE', 'Georgia'),
	('GF', 'French Guiana'),
	('GG', 'Guernsey'),
	('GH', 'Ghana'),
	('GI', 'Gibraltar'),
	('GL', 'Greenland'),
	('GM', 'Gambia'),
	('GN', 'Guinea'),
	('GP', 'Guadeloupe'),
	('GQ', 'Equatorial Guinea'),
	('GR', 'Greece'),
	('GS', 'South Georgia and the South Sandwich Islands'),
	('GT', 'Guatemala'),
	('GU', 'Guam'),
	('GW', 'Guinea-Bissau'),
	('GY', 'Guyana'),
	('HK', 'Hong Kong'),
	('HM', 'Heard Island and McDonald Islands'),
	('HN', 'Honduras'),
	('HR', 'Croatia'),
	('HT', 'Haiti'),
	('HU', 'Hungary'),
	('ID', 'Indonesia'),
	('IE', 'Ireland'),
	('IL', 'Israel'),
	('IM', 'Isle of Man'),
	('IN', 'India'),
	('IO', 'British Indian Ocean Territory'),
	('IQ', 'Iraq'),
	('IR', 'Iran'),
	('IS', 'Iceland'),
	('IT', 'Italy'),
	('JE', 'Jersey'),
	('JM', 'Jamaica'),
	('JO', 'Jordan'),
	('JP', 'Japan'),
	('KE', 'Kenya'),
	('KG', 'Kyrgyzstan'),
	('KH', 'Cambodia'),
	('KI', 'Kiribati'),
	('KM', 'Comoros'),
	('KN', 'Saint Kitts and Nevis'),
	('KP', 'North Korea'),
	('KR', 'South Korea'),
	('KW', 'Kuwait'),
	('KY', 'Cayman Islands'),
	('KZ', 'Kazakhstan'),
	('LA', 'Laos'),
	('LB', 'Lebanon'),
	('LC', 'Saint Lucia'),
	('LI', 'Liechtenstein'),
	('LK', 'Sri Lanka'),
	('LR', 'Liberia'),
	('LS', 'Lesotho'),
	('LT', 'Lithuania'),
	('LU', 'Luxembourg'),
	('LV', 'Latvia'),
	('LY', 'Libya'),
	('MA', 'Morocco'),
	('MC', 'Monaco'),
	('MD', 'Moldova'),
	('ME', 'Montenegro'),
	('MF', 'Saint Martin (French part)'),
	('MG', 'Madagascar'),
	('MH', 'Marshall Islands'),
	('MK', 'North Macedonia'),
	('ML', 'Mali'),
	('MM', 'Myanmar'),
	('MN', 'Mongolia'),
	('MO', 'Macao'),
	('MP', 'Northern Mariana Islands'),
	('MQ', 'Martinique'),
	('MR', 'Mauritania'),
	('MS', 'Montserrat'),
	('MT', 'Malta'),
	('MU', 'Mauritius'),
	('MV', 'Maldives'),
	('MW', 'Malawi'),
	('MX', 'Mexico'),
	('MY', 'Malaysia'),
	('MZ', 'Mozambique'),
	('NA', 'Namibia'),
	('NC', 'New Caledonia'),
	('NE', 'Niger'),
	('NF', 'Norfolk Island'),
	('NG', 'Nigeria'),
	('NI', 'Nicaragua'),
	('NL', 'Netherlands'),
	('NO', 'Norway'),
	('NP', 'Nepal'),
	('NR', 'Nauru'),
	('NU', 'Niue'),
	('NZ', 'New Zealand'),
	('OM', 'Oman'),
	('PA', 'Panama'),
	('PE', 'Peru'),
	('PF', 'French Polynesia'),
	('PG', 'Papua New Guinea'),
	('PH', 'Philippines'),
	('PK', 'Pakistan'),
	('PL', 'Poland'),
	('PM', 'Saint Pierre and Miquelon'),
	('PN', 'Pitcairn'),
	('PR', 'Puerto Rico'),
	('PS', 'Palestine, State of'),
	('PT', 'Portugal'),
	('PW', 'Palau'),
	('PY', 'Paraguay'),
	('QA', 'Qatar'),
	('RE', 'Réunion'),
	('RO', 'Romania'),
	('RS', 'Serbia'),
	('RU', 'Russian Federation'),
	('RW', 'Rwanda'),
	('SA', 'Saudi Arabia'),
	('SB', 'Solomon Islands'),
	('SC', 'Seychelles'),
	('SD', 'Sudan'),
	('SE', 'Sweden'),
	('SG', 'Singapore'),
	('SH', 'Saint Helena, Ascension and Tristan da Cunha'),
	('SI', 'Slovenia'),
	('SJ', 'Svalbard and Jan Mayen'),
	('SK', 'Slovakia'),
	('SL', 'Sierra Leone'),
	('SM', 'San Marino'),
	('SN', 'Senegal'),
	('SO', 'Somalia'),
	('SR', 'Suriname'),
	('SS', 'South Sudan'),
	('ST', 'Sao Tome and Principe'),
	('SV', 'El Salvador'),
	('SX', 'Sint Maarten (Dutch part)'),
	('SY', 'Syria'),
	('SZ', 'Eswatini'),
	('TC', 'Turks and Caicos Islands'),
	('TD', 'Chad'),
	('TF', 'French Southern Territories'),
	('TG', 'Togo'),
	('TH', 'Thailand'),
	('TJ', 'Tajikistan'),
	('TK', 'Tokelau'),
	('TL', 'Timor-Leste'),
	('TM', 'Turkmenistan'),
	('TN', 'Tunisia'),
	('TO', 'Tonga'),
	('TR', 'Türkiye'),
	('TT', 'Trinidad and Tobago'),
	('TV', 'Tuvalu'),
	('TW', 'Taiwan'),
	('TZ', 'Tanzania'),
	('UA', 'Ukraine'),
	('UG', 'Uganda'),
	('UM', 'United States Minor Outlying Islands'),
	('US', 'United States'),
	('UY', 'Uruguay'),
	('UZ', 'Uzbekistan'),
	('VA', 'Holy See (Vatican City State)'),
	('VC', 'Saint Vincent and the Grenadines'),
	('VE', 'Venezuela'),
	('VG', 'Virgin Islands, British'),
	('VI', 'Virgin Islands, U.S.'),
	('VN', 'Vietnam'),
	('VU', 'Vanuatu'),
	('WF', 'Wallis and Futuna'),
	('WS', 'Samoa'),
	('YE', 'Yemen'),
	('YT', 'Mayotte'),
	('ZA', 'South Africa'),
	('ZM', 'Zambia'),
	('ZW', 'Zimbabwe');
SELECT pg_catalog.pg_extension_config_dump('ar.country', 'WHERE false');

-- A VAT id starts with its country's prefix (Greece: EL) and has 2-13
-- letters or digits after it.
CREATE FUNCTION ar.vat_id_valid(vat_id text, country text) RETURNS boolean
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, ar, pg_temp
AS $$
	SELECT vat_id OPERATOR(pg_catalog.~) ('^' OPERATOR(pg_catalog.||)
		CASE country WHEN 'GR' THEN 'EL' ELSE country END
		OPERATOR(pg_catalog.||) '[0-9A-Z+*.]{2,13}$')
$$;
COMMENT ON FUNCTION ar.vat_id_valid(text, text) IS
	'does the VAT id carry the country prefix (EL for GR) followed by 2-13 characters';
CREATE FUNCTION ar.vat_id_problem(country text) RETURNS text
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
AS $$
	SELECT format('a VAT id of %s starts with %s, then 2 to 13 upper-case letters or digits', country,
				  CASE country WHEN 'GR' THEN 'EL' ELSE country END)
$$;
COMMENT ON FUNCTION ar.vat_id_problem(text) IS
	'the rule a VAT id of the country breaks when ar.vat_id_valid is false (the message of a refused VAT id)';

CREATE FUNCTION ar.bankgiro_valid(bankgiro text) RETURNS boolean
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, ar, pg_temp
AS $$
	SELECT bankgiro OPERATOR(pg_catalog.~) '^[0-9]{3,4}-?[0-9]{4}$'
	   AND ar.reference_valid('ocr', replace(bankgiro, '-', ''))
$$;
COMMENT ON FUNCTION ar.bankgiro_valid(text) IS
	'Swedish bankgiro number: 7 or 8 digits (NNN-NNNN or NNNN-NNNN) with a Luhn check digit';

CREATE TABLE ar.entity (
	id integer GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
	code text NOT NULL UNIQUE,
	name text NOT NULL CHECK (name <> ''),
	country text NOT NULL REFERENCES ar.country (code),
	vat_id text,
	company_id text,
	currency text NOT NULL REFERENCES ar.currency (code)
		CHECK (ar.currency_usable(currency)),
	street text,
	city text,
	postal_code text,
	iban text,
	bic text,
	bankgiro text,
	peppol_scheme text,
	peppol_id text,
	reference_scheme text NOT NULL DEFAULT 'ocr',
	fik_creditor text,
	jurisdiction text REFERENCES ar.country (code),
	-- the seller's local time zone: what "today" is for its documents,
	-- the same in every session (by default the creating session's zone)
	time_zone text NOT NULL DEFAULT current_setting('TimeZone')
		CONSTRAINT entity_time_zone_check CHECK (ar.time_zone_valid(time_zone)),
	created_at timestamptz NOT NULL DEFAULT now(),
	CONSTRAINT entity_vat_id_check CHECK (vat_id IS NULL OR ar.vat_id_valid(vat_id, country)
		OR ar.check_failed('entity', 'entity_vat_id_check', 'VAT id', vat_id, ar.vat_id_problem(country))),
	CONSTRAINT entity_iban_check CHECK (iban IS NULL OR ar.iban_valid(iban)
		OR ar.check_failed('entity', 'entity_iban_check', 'IBAN', iban, ar.iban_problem(iban))),
	CONSTRAINT entity_bic_check CHECK (bic IS NULL OR bic ~ '^[A-Z]{4}[A-Z]{2}[A-Z0-9]{2}([A-Z0-9]{3})?$'
		OR ar.check_failed('entity', 'entity_bic_check', 'BIC', bic,
			'a BIC is 4 letters (the bank), 2 (the country), 2 letters or digits (the place) and optionally 3 (the branch), in upper case')),
	CONSTRAINT entity_bankgiro_check CHECK (bankgiro IS NULL OR ar.bankgiro_valid(bankgiro)
		OR ar.check_failed('entity', 'entity_bankgiro_check', 'bankgiro number', bankgiro,
			CASE WHEN bankgiro ~ '^[0-9]{3,4}-?[0-9]{4}$' THEN 'its check digit does not match (Luhn)'
				 ELSE 'a bankgiro number has 7 or 8 digits, written NNN-NNNN or NNNN-NNNN' END)),
	CONSTRAINT entity_peppol_check CHECK ((peppol_scheme IS NULL) = (peppol_id IS NULL)),
	CONSTRAINT entity_peppol_scheme_check CHECK (peppol_scheme ~ '^[0-9]{4}$'),
	CONSTRAINT entity_reference_scheme_check CHECK (reference_scheme IN
		('ocr', 'ocr_len', 'kid10', 'kid11', 'fi', 'rf', 'fik')),
	-- the Danish FIK creditor number (kreditornummer): 8 digits, the first 8
	CONSTRAINT entity_fik_creditor_check CHECK (fik_creditor ~ '^8[0-9]{7}$'),
	-- FIK payments carry FIK payment ids: the entity's references must be them
	CONSTRAINT entity_fik_scheme_check CHECK (fik_creditor IS NULL OR reference_scheme = 'fik')
);
COMMENT ON TABLE ar.entity IS
	'legal entities that invoice: the tenant boundary of ar; jurisdiction (default: country) names the late-payment law';

CREATE FUNCTION ar.today(entity_id integer) RETURNS date
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, ar, pg_temp
AS $$
	SELECT ar.zone_today(e.time_zone) FROM ar.entity e WHERE e.id = today.entity_id
$$;
COMMENT ON FUNCTION ar.today(integer) IS
	'the date in the entity''s time zone at the start of the transaction: the default issue date of its invoices and credit notes';

-- The checks of a day a function runs for (NULL: each entity's today) and
-- of the entity it runs over (NULL: all): a day that is a day, an entity
-- that exists, and no day that has not come yet for one of the entities.
-- what names the day in the messages ('dunning', 'aging').
CREATE FUNCTION ar._check_day(day date, entity_id integer, what text, hint text) RETURNS void
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, ar, pg_temp
AS $$
DECLARE
	e record;
BEGIN
	IF day IS NOT NULL AND NOT isfinite(day) THEN
		RAISE EXCEPTION '% date % is not a day', what, day USING ERRCODE = 'invalid_datetime_format';
	END IF;
	IF _check_day.entity_id IS NOT NULL
	   AND NOT EXISTS (SELECT 1 FROM ar.entity x WHERE x.id = _check_day.entity_id) THEN
		RAISE EXCEPTION 'entity % does not exist', _check_day.entity_id USING ERRCODE = 'no_data_found';
	END IF;
	SELECT x.code, ar.zone_today(x.time_zone) AS today INTO e
	  FROM ar.entity x
	 WHERE (_check_day.entity_id IS NULL OR x.id = _check_day.entity_id) AND day > ar.zone_today(x.time_zone)
	 ORDER BY x.id LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION '% date % is after today (%) for entity %', what, day, e.today, e.code
			USING ERRCODE = 'invalid_parameter_value', HINT = hint;
	END IF;
END
$$;
COMMENT ON FUNCTION ar._check_day(date, integer, text, text) IS
	'internal: refuses a day that is not one or has not come yet for an entity, and an entity that does not exist';

CREATE TABLE ar.customer (
	id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
	entity_id integer NOT NULL REFERENCES ar.entity (id),
	customer_no text NOT NULL CHECK (customer_no <> ''),
	name text NOT NULL CHECK (name <> ''),
	country text NOT NULL REFERENCES ar.country (code),
	vat_id text,
	company_id text,
	street text,
	city text,
	postal_code text,
	email text CHECK (email ~ '^[^@\s]+@[^@\s]+$'),
	peppol_scheme text CHECK (peppol_scheme ~ '^[0-9]{4}$'),
	peppol_id text,
	channel text NOT NULL DEFAULT 'email' CHECK (channel IN ('peppol', 'email', 'print')),
	currency text NOT NULL REFERENCES ar.currency (code)
		CHECK (ar.currency_usable(currency)),
	language text NOT NULL DEFAULT 'en',
	payment_terms_days integer NOT NULL DEFAULT 30 CHECK (payment_terms_days BETWEEN 0 AND 365),
	credit_limit ar.amount,
	on_hold boolean NOT NULL DEFAULT false,
	segment text NOT NULL DEFAULT 'standard' CHECK (segment IN ('standard', 'key', 'consumer')),
	dunning_policy_id integer,
	account_manager text,
	-- the day the customer agreed to reminder fees, where the law asks for
	-- that before the debt arises (Sweden): invoices issued on or after it
	-- may bear one
	fee_agreed_on date CHECK (isfinite(fee_agreed_on)),
	auto_issue boolean NOT NULL DEFAULT false,
	created_at timestamptz NOT NULL DEFAULT now(),
	UNIQUE (entity_id, customer_no),
	UNIQUE (entity_id, id),
	CONSTRAINT customer_vat_id_check CHECK (vat_id IS NULL OR ar.vat_id_valid(vat_id, country)
		OR ar.check_failed('customer', 'customer_vat_id_check', 'VAT id', vat_id, ar.vat_id_problem(country))),
	CONSTRAINT customer_peppol_check CHECK ((peppol_scheme IS NULL) = (peppol_id IS NULL)),
	CONSTRAINT customer_peppol_channel_check CHECK (channel <> 'peppol' OR peppol_id IS NOT NULL),
	CONSTRAINT customer_credit_limit_check CHECK (credit_limit IS NULL OR
		(ar.currency_of(credit_limit) = currency AND ar.minor_units(credit_limit) >= 0)
		OR ar.check_failed('customer', 'customer_credit_limit_check', 'credit limit', credit_limit::text,
			CASE WHEN ar.currency_of(credit_limit) <> currency
				 THEN format('it must be in %s, the customer''s currency', currency)
				 ELSE 'it cannot be negative' END))
);
COMMENT ON TABLE ar.customer IS 'customers of an entity; credit_limit is in the customer''s currency';

-- Overriding the credit check is for ar_admin (SET ar.credit_check is
-- granted to it alone): a clerk may put a customer on hold or lower its
-- limit, but releasing a hold, raising a limit or removing it would be the
-- same override by another road.
CREATE FUNCTION ar.customer_credit_guard() RETURNS trigger
	LANGUAGE plpgsql
	SET search_path = pg_catalog, ar, pg_temp
AS $$
BEGIN
	IF OLD.on_hold AND NOT NEW.on_hold THEN
		RAISE EXCEPTION 'only members of ar_admin may release the hold of customer % (%)', OLD.customer_no, OLD.name
			USING ERRCODE = 'insufficient_privilege',
				  HINT = 'Ask a member of ar_admin; a clerk may put a customer on hold and lower its credit limit.';
	END IF;
	IF OLD.credit_limit IS NOT NULL AND
	   (NEW.credit_limit IS NULL OR ar.currency_of(NEW.credit_limit) <> ar.currency_of(OLD.credit_limit)
		OR ar.minor_units(NEW.credit_limit) > ar.minor_units(OLD.credit_limit)) THEN
		RAISE EXCEPTION 'only members of ar_admin may raise or remove the credit limit of customer % (%): % to %',
			OLD.customer_no, OLD.name, OLD.credit_limit, coalesce(NEW.credit_limit::text, 'none')
			USING ERRCODE = 'insufficient_privilege',
				  HINT = 'Ask a member of ar_admin; a clerk may put a customer on hold and lower its credit limit.';
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION ar.customer_credit_guard() IS
	'trigger: a hold is released and a credit limit raised or removed by ar_admin members only';
CREATE TRIGGER customer_credit_guard BEFORE UPDATE OF on_hold, credit_limit ON ar.customer
	FOR EACH ROW WHEN (NOT pg_catalog.pg_has_role('ar_admin', 'MEMBER')
					   AND (OLD.on_hold, OLD.credit_limit) IS DISTINCT FROM (NEW.on_hold, NEW.credit_limit))
	EXECUTE FUNCTION ar.customer_credit_guard();

CREATE TABLE ar.series (
	id integer GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
	entity_id integer NOT NULL REFERENCES ar.entity (id),
	code text NOT NULL CHECK (code <> ''),
	kind text NOT NULL DEFAULT 'invoice' CHECK (kind IN ('invoice', 'credit_note')),
	pattern text NOT NULL CHECK (ar.series_pattern_check(pattern)),
	reset text NOT NULL DEFAULT 'never' CHECK (reset IN ('never', 'yearly')),
	is_default boolean NOT NULL DEFAULT true,
	-- digits put before the number's digits in the payment references of
	-- this series: keeps apart the references of series whose numbers share
	-- digits (A1, B1), and lengthens short Finnish ones
	reference_prefix text CHECK (reference_prefix ~ '^[1-9][0-9]{0,9}$'),
	UNIQUE (entity_id, code),
	UNIQUE (entity_id, id),
	CONSTRAINT series_yearly_check CHECK (reset = 'never' OR pattern ~ '\{YY(YY)?\}')
);
CREATE UNIQUE INDEX series_one_default ON ar.series (entity_id, kind) WHERE is_default;

-- A series that has given out numbers keeps what makes them: its entity,
-- kind, pattern and reset (a new pattern or reset could give a number
-- twice or restart within a year).  Code and is_default may change.
CREATE FUNCTION ar._series_used(series_id integer) RETURNS boolean
	AS 'MODULE_PATHNAME', 'ar_series_used' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION ar._series_used(integer) IS
	'internal: has the series given out a number? waits for its issuers first (src/issue.c)';
CREATE FUNCTION ar.series_before() RETURNS trigger
	LANGUAGE plpgsql
	SET search_path = pg_catalog, ar, pg_temp
AS $$
BEGIN
	-- waits for an issuer that has taken a number of it and not committed
	IF ar._series_used(OLD.id) THEN
		RAISE EXCEPTION 'series % has given out numbers: its entity, kind, pattern and reset cannot change',
			OLD.code
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  HINT = 'Create a new series and make it the default (is_default).';
	END IF;
	RETURN NEW;
END
$$;
CREATE TRIGGER series_before BEFORE UPDATE ON ar.series
	FOR EACH ROW WHEN ((NEW.entity_id, NEW.kind, NEW.pattern, NEW.reset)
					   IS DISTINCT FROM (OLD.entity_id, OLD.kind, OLD.pattern, OLD.reset)
					   AND NOT ar.restoring())
	EXECUTE FUNCTION ar.series_before();
COMMENT ON TABLE ar.series IS
	'gapless number series; pattern tokens {YYYY} {YY} {MM} {N} {N:width}; a yearly series restarts at 1 each year and needs {YYYY} or {YY}';

-- The gapless counters: one row per series and period (the year for a
-- yearly series, 0 otherwise).  ar.issue locks the row from number
-- assignment to the end of the transaction; a rollback gives numbers back.
CREATE TABLE ar.series_counter (
	series_id integer NOT NULL REFERENCES ar.series (id),
	period integer NOT NULL,
	last_value bigint NOT NULL DEFAULT 0 CHECK (last_value >= 0),
	last_date date,
	PRIMARY KEY (series_id, period)
);
COMMENT ON TABLE ar.series_counter IS 'last number and date given out per series and period';

/* ------------------------------------------------------------------------
 * 4. Invoices
 * ------------------------------------------------------------------------ */

CREATE TABLE ar.invoice (
	id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
	entity_id integer NOT NULL REFERENCES ar.entity (id),
	customer_id bigint NOT NULL,
	series_id integer,
	kind text NOT NULL DEFAULT 'invoice' CHECK (kind IN ('invoice', 'credit_note')),
	credited_invoice_id bigint,	-- checked by invoice_before, not a foreign key (see there)
	number text COLLATE "C",
	seq_period integer,
	seq_no bigint,
	status ar.invoice_status NOT NULL DEFAULT 'draft',
	issue_date date,
	due_date date,
	currency text NOT NULL REFERENCES ar.currency (code)
		CHECK (ar.currency_usable(currency)),
	net_total ar.amount,
	tax_total ar.amount,
	total ar.amount,
	open_amount ar.amount,
	-- BT-6/BT-111: an invoice in another currency than the seller's also
	-- states its VAT in the seller's currency, at this rate (set at issue)
	tax_currency_rate numeric,
	tax_total_accounting ar.amount,
	payment_reference text COLLATE "C",
	buyer_reference text,
	order_reference text,
	note text,
	created_at timestamptz NOT NULL DEFAULT now(),
	issued_at timestamptz,
	FOREIGN KEY (entity_id, customer_id) REFERENCES ar.customer (entity_id, id),
	FOREIGN KEY (entity_id, series_id) REFERENCES ar.series (entity_id, id),
	CONSTRAINT invoice_number_check CHECK ((number IS NULL) = (status IN ('draft', 'cancelled'))
		AND (number IS NULL) = (seq_no IS NULL)),
	CONSTRAINT invoice_credit_check CHECK ((kind = 'credit_note') = (credited_invoice_id IS NOT NULL)),
	CONSTRAINT invoice_due_check CHECK (due_date >= issue_date),
	CONSTRAINT invoice_dates_finite_check CHECK (isfinite(issue_date) AND isfinite(due_date)),
	CONSTRAINT invoice_tax_currency_check CHECK ((tax_currency_rate IS NULL) = (tax_total_accounting IS NULL)
		AND tax_currency_rate > 0 AND ar.currency_of(tax_total_accounting) <> currency),
	CONSTRAINT invoice_open_check CHECK (CASE WHEN status IN ('draft', 'cancelled') THEN true
		ELSE open_amount IS NOT NULL AND ar.currency_of(open_amount) = currency END)
)
-- Half of every page is left free.  An issued invoice is updated once or
-- twice more (paid, partially paid), and only in status and open_amount,
-- which no index covers: with room on its page, that update is HOT and
-- writes no index entry (six indexes otherwise).
WITH (fillfactor = 50);
CREATE UNIQUE INDEX invoice_series_no ON ar.invoice (series_id, seq_period, seq_no);
CREATE UNIQUE INDEX invoice_number_unique ON ar.invoice (entity_id, number);
CREATE UNIQUE INDEX invoice_reference_unique ON ar.invoice (entity_id, payment_reference);
-- Not partial on status: an index whose predicate reads status would make
-- every payment's update of an invoice non-HOT.
CREATE INDEX invoice_customer ON ar.invoice (customer_id);
CREATE INDEX invoice_credited ON ar.invoice (credited_invoice_id) WHERE credited_invoice_id IS NOT NULL;
COMMENT ON TABLE ar.invoice IS
	'invoices and credit notes; number, dates, parties and amounts are immutable once issued';

CREATE TABLE ar.invoice_line (
	invoice_id bigint NOT NULL REFERENCES ar.invoice (id),
	line_no integer NOT NULL CHECK (line_no > 0),
	item_name text NOT NULL CHECK (item_name <> ''),
	description text,
	quantity numeric NOT NULL CHECK (quantity <> 0),
	unit_code text NOT NULL DEFAULT 'C62' CHECK (unit_code ~ '^[A-Z0-9]{2,3}$'),
	unit_price numeric NOT NULL CHECK (unit_price >= 0),
	currency text,
	vat_category text NOT NULL DEFAULT 'S' CHECK (vat_category IN ('S', 'Z', 'E', 'AE', 'K', 'G', 'O')),
	vat_rate numeric NOT NULL DEFAULT 25 CHECK (vat_rate >= 0 AND vat_rate < 100),
	vat_exemption_code text,
	vat_exemption_reason text,
	net_amount ar.amount,
	PRIMARY KEY (invoice_id, line_no),
	CONSTRAINT line_rate_check CHECK ((vat_category = 'S') = (vat_rate > 0))
);
COMMENT ON TABLE ar.invoice_line IS
	'invoice lines; net_amount = quantity x unit_price rounded half away from zero to the currency''s minor unit, set by a trigger';

-- The VAT breakdown of an issued invoice: one row per category and rate.
CREATE TABLE ar.invoice_tax (
	invoice_id bigint NOT NULL REFERENCES ar.invoice (id),
	vat_category text NOT NULL,
	vat_rate numeric NOT NULL,
	taxable_amount ar.amount NOT NULL,
	tax_amount ar.amount NOT NULL,
	exemption_code text,
	exemption_reason text,
	PRIMARY KEY (invoice_id, vat_category, vat_rate)
);
COMMENT ON TABLE ar.invoice_tax IS 'VAT breakdown per category and rate (EN 16931 BG-23), written by ar.issue';

-- Lines: currency follows the invoice; the net amount is computed here.
CREATE FUNCTION ar.invoice_line_before() RETURNS trigger
	LANGUAGE plpgsql SET search_path = pg_catalog, ar, pg_temp
AS $$
DECLARE
	inv record;
	what text;
BEGIN
	IF ar.restoring() THEN
		IF TG_OP = 'DELETE' THEN
			RETURN OLD;
		END IF;
		RETURN NEW;
	END IF;
	IF TG_OP = 'UPDATE' AND NEW.invoice_id <> OLD.invoice_id THEN
		RAISE EXCEPTION 'cannot move line % of invoice % to invoice %', OLD.line_no, OLD.invoice_id,
			NEW.invoice_id
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  HINT = 'A line stays with its invoice: delete it from the draft and insert it into the other.';
	END IF;
	-- FOR SHARE: a line written while its invoice is being issued waits for
	-- the issue and is then refused, and an issue waits for a line written
	-- first (ar.issue locks the invoice before it reads the lines)
	IF TG_OP = 'DELETE' THEN
		SELECT i.id, i.status, i.number INTO inv FROM ar.invoice i WHERE i.id = OLD.invoice_id FOR SHARE;
	ELSE
		SELECT i.id, i.status, i.number, i.currency INTO inv FROM ar.invoice i
		 WHERE i.id = NEW.invoice_id FOR SHARE;
	END IF;
	IF NOT FOUND THEN
		IF TG_OP = 'DELETE' THEN
			RETURN OLD;
		END IF;
		RETURN NEW;				-- the foreign key reports it
	END IF;
	IF inv.status <> 'draft' THEN
		what := CASE WHEN inv.number IS NULL THEN format('%s invoice %s', inv.status, inv.id)
					 ELSE format('issued invoice %s', inv.number) END;
		RAISE EXCEPTION '%', CASE WHEN TG_OP = 'DELETE' THEN format('cannot delete line %s of %s', OLD.line_no, what)
								  ELSE 'cannot change the lines of ' || what END
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  HINT = CASE WHEN inv.number IS NULL THEN 'A cancelled draft keeps its lines.'
							  ELSE 'Issued documents are immutable; correct them with ar.credit().' END;
	END IF;
	IF TG_OP = 'DELETE' THEN
		RETURN OLD;
	END IF;
	IF upper(NEW.currency) <> inv.currency THEN
		RAISE EXCEPTION 'line % is in % but invoice % is in %', NEW.line_no, NEW.currency,
			NEW.invoice_id, inv.currency
			USING ERRCODE = 'datatype_mismatch';
	END IF;
	NEW.currency := inv.currency;
	NEW.net_amount := ar.round_amount(NEW.quantity * NEW.unit_price, inv.currency);
	RETURN NEW;
END
$$;
CREATE TRIGGER invoice_line_before BEFORE INSERT OR UPDATE OR DELETE ON ar.invoice_line
	FOR EACH ROW EXECUTE FUNCTION ar.invoice_line_before();

-- Issued documents are immutable: only status, open amount and note move.
CREATE FUNCTION ar.invoice_before() RETURNS trigger
	LANGUAGE plpgsql SET search_path = pg_catalog, ar, pg_temp
AS $$
DECLARE
	credited record;
	made_from record;
BEGIN
	IF ar.restoring() THEN
		RETURN NEW;
	END IF;
	-- credited_invoice_id is checked here rather than by a foreign key: a
	-- table that references itself makes pg_dump warn about circular
	-- constraints and breaks restores row by row (pg_dump --inserts)
	IF TG_OP = 'DELETE' THEN
		IF EXISTS (SELECT 1 FROM ar.invoice c WHERE c.credited_invoice_id = OLD.id) THEN
			RAISE EXCEPTION 'cannot delete % %: a credit note refers to it',
				replace(OLD.kind, '_', ' '), coalesce(OLD.number, OLD.id::text)
				USING ERRCODE = 'foreign_key_violation';
		END IF;
	ELSIF NEW.credited_invoice_id IS NOT NULL AND
		  (TG_OP = 'INSERT' OR NEW.credited_invoice_id IS DISTINCT FROM OLD.credited_invoice_id) THEN
		SELECT c.kind, c.entity_id INTO credited
		  FROM ar.invoice c WHERE c.id = NEW.credited_invoice_id FOR KEY SHARE;
		IF NOT FOUND THEN
			RAISE EXCEPTION 'credited invoice % does not exist', NEW.credited_invoice_id
				USING ERRCODE = 'foreign_key_violation';
		END IF;
		IF credited.kind <> 'invoice' OR credited.entity_id <> NEW.entity_id THEN
			RAISE EXCEPTION 'credited document % must be an invoice of entity %', NEW.credited_invoice_id,
				NEW.entity_id
				USING ERRCODE = 'foreign_key_violation';
		END IF;
	END IF;
	IF TG_OP = 'DELETE' THEN
		IF OLD.status = 'cancelled' THEN
			RAISE EXCEPTION 'cannot delete cancelled invoice %', OLD.id
				USING ERRCODE = 'object_not_in_prerequisite_state',
					  HINT = 'A cancelled draft is kept as it was.';
		ELSIF OLD.status <> 'draft' THEN
			RAISE EXCEPTION 'cannot delete % % (status %)',
				replace(OLD.kind, '_', ' '), coalesce(OLD.number, OLD.id::text), OLD.status
				USING ERRCODE = 'object_not_in_prerequisite_state',
					  HINT = 'Issued documents are immutable; correct them with ar.credit().';
		END IF;
		SELECT o.order_no INTO made_from FROM ar.sales_order o WHERE o.invoice_id = OLD.id;
		IF FOUND THEN
			RAISE EXCEPTION 'cannot delete draft %: it was made from sales order %', OLD.id, made_from.order_no
				USING ERRCODE = 'object_not_in_prerequisite_state',
					  HINT = 'Cancel the order, which cancels its draft; or edit the draft''s lines.';
		END IF;
		DELETE FROM ar.invoice_line l WHERE l.invoice_id = OLD.id;
		RETURN OLD;
	END IF;
	IF TG_OP = 'UPDATE' AND NEW.id <> OLD.id THEN
		RAISE EXCEPTION 'the id of invoice % cannot change (to %)', OLD.id, NEW.id
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  HINT = 'Lines, allocations, the audit trail and the outbox refer to it.';
	END IF;
	IF TG_OP = 'INSERT' THEN
		IF NEW.status <> 'draft' OR NEW.number IS NOT NULL THEN
			RAISE EXCEPTION 'a new invoice must be a draft without a number (got status %)', NEW.status
				USING ERRCODE = 'object_not_in_prerequisite_state',
					  HINT = 'Insert a draft, add its lines, then call ar.issue().';
		END IF;
		NEW.net_total := NULL; NEW.tax_total := NULL; NEW.total := NULL; NEW.open_amount := NULL;
		NEW.tax_currency_rate := NULL; NEW.tax_total_accounting := NULL;
	END IF;
	-- what ar.issue() sets from the number: a draft holding one of them
	-- (a payment reference that a later number would get) blocks issuing
	IF NEW.status IN ('draft', 'cancelled') AND (TG_OP = 'INSERT' OR OLD.status = 'draft') AND
	   (NEW.payment_reference IS NOT NULL OR NEW.seq_period IS NOT NULL OR NEW.issued_at IS NOT NULL) THEN
		RAISE EXCEPTION 'draft % cannot have % of its own', coalesce(NEW.id::text, '(new)'),
			CASE WHEN NEW.payment_reference IS NOT NULL THEN format('a payment reference (%s)', NEW.payment_reference)
				 WHEN NEW.seq_period IS NOT NULL THEN format('a numbering period (%s)', NEW.seq_period)
				 ELSE 'an issue time' END
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  HINT = 'ar.issue() sets the payment reference, numbering period and issue time with the number.';
	END IF;
	IF TG_OP = 'INSERT' THEN
		RETURN NEW;
	END IF;
	IF OLD.status <> 'draft' AND (
		NEW.entity_id, NEW.customer_id, NEW.series_id, NEW.kind, NEW.credited_invoice_id,
		NEW.number, NEW.seq_period, NEW.seq_no, NEW.issue_date, NEW.due_date, NEW.currency,
		NEW.net_total::text, NEW.tax_total::text, NEW.total::text, NEW.payment_reference,
		NEW.buyer_reference, NEW.order_reference, NEW.issued_at, NEW.tax_currency_rate,
		NEW.tax_total_accounting::text, NEW.created_at)
		IS DISTINCT FROM (
		OLD.entity_id, OLD.customer_id, OLD.series_id, OLD.kind, OLD.credited_invoice_id,
		OLD.number, OLD.seq_period, OLD.seq_no, OLD.issue_date, OLD.due_date, OLD.currency,
		OLD.net_total::text, OLD.tax_total::text, OLD.total::text, OLD.payment_reference,
		OLD.buyer_reference, OLD.order_reference, OLD.issued_at, OLD.tax_currency_rate,
		OLD.tax_total_accounting::text, OLD.created_at) THEN
		IF OLD.status = 'cancelled' THEN
			RAISE EXCEPTION 'cancelled invoice % cannot be changed', OLD.id
				USING ERRCODE = 'object_not_in_prerequisite_state',
					  HINT = 'A cancelled draft is kept as it was; insert a new draft.';
		END IF;
		RAISE EXCEPTION '% % is issued and cannot be changed', initcap(replace(OLD.kind, '_', ' ')), OLD.number
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  DETAIL = 'Amounts, lines, parties, number and dates of an issued document are immutable.',
				  HINT = 'Correct it with a credit note: ar.credit().';
	END IF;
	IF OLD.status = 'draft' AND NEW.status <> 'draft' AND NEW.status <> 'cancelled' AND
	   (NEW.number IS NULL OR NOT ar.internal()) THEN
		RAISE EXCEPTION 'invoice % must be issued with ar.issue()', OLD.id
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  DETAIL = 'Issuing assigns the number, dates, totals and payment reference.';
	END IF;
	IF OLD.status = 'cancelled' AND NEW.status <> 'cancelled' THEN
		PERFORM ar.check_status_transition(OLD.status, NEW.status);
	END IF;
	-- a draft made from a sales order stays with the order's customer (the
	-- order may refer only to an invoice of its own entity and customer)
	IF OLD.status = 'draft' AND (NEW.entity_id, NEW.customer_id) IS DISTINCT FROM (OLD.entity_id, OLD.customer_id) THEN
		SELECT o.order_no INTO credited FROM ar.sales_order o WHERE o.invoice_id = OLD.id LIMIT 1;
		IF FOUND THEN
			RAISE EXCEPTION 'draft % was made from sales order %: its entity and customer cannot change',
				OLD.id, credited.order_no
				USING ERRCODE = 'object_not_in_prerequisite_state',
					  HINT = 'Change the order''s customer before it is delivered, or cancel the order and write a new one.';
		END IF;
	END IF;
	IF OLD.status = 'draft' AND NEW.status = 'cancelled' THEN
		SELECT o.order_no INTO credited FROM ar.sales_order o
		 WHERE o.invoice_id = OLD.id AND o.status <> 'cancelled' LIMIT 1;
		IF FOUND THEN
			RAISE EXCEPTION 'draft % was made from sales order %, which stands', OLD.id, credited.order_no
				USING ERRCODE = 'object_not_in_prerequisite_state',
					  HINT = 'Cancel the order (status cancelled): that cancels its draft.';
		END IF;
	END IF;
	-- the bookkeeping of an issued document follows its allocations
	IF OLD.status <> 'draft' AND NOT ar.internal() AND
	   (NEW.status, NEW.open_amount::text) IS DISTINCT FROM (OLD.status, OLD.open_amount::text) THEN
		RAISE EXCEPTION 'UPDATE on ar.invoice: the status and open amount of % % are written only by ar''s functions',
			replace(OLD.kind, '_', ' '), OLD.number
			USING ERRCODE = 'insufficient_privilege',
				  HINT = 'They follow the allocations: use ar.allocate(), ar.unallocate(), ar.credit() or ar.match_payments().';
	END IF;
	IF OLD.status = 'draft' AND NEW.open_amount IS NOT NULL AND NOT ar.internal() THEN
		RAISE EXCEPTION 'the totals and open amount of draft % are set by ar.issue()', OLD.id
			USING ERRCODE = 'insufficient_privilege';
	END IF;
	-- (compared, not multiplied or abs(): both overflow at -2^63)
	IF NEW.open_amount IS DISTINCT FROM OLD.open_amount AND NEW.open_amount IS NOT NULL AND NOT
		(CASE WHEN ar.minor_units(NEW.total) >= 0
			  THEN ar.minor_units(NEW.open_amount) BETWEEN 0 AND ar.minor_units(NEW.total)
			  ELSE ar.minor_units(NEW.open_amount) BETWEEN ar.minor_units(NEW.total) AND 0 END) THEN
		RAISE EXCEPTION 'open amount % of invoice % is outside 0 .. %', NEW.open_amount,
			OLD.number, NEW.total
			USING ERRCODE = 'check_violation';
	END IF;
	RETURN NEW;
END
$$;
CREATE TRIGGER invoice_before BEFORE DELETE ON ar.invoice
	FOR EACH ROW EXECUTE FUNCTION ar.invoice_before();
-- A new draft as ERPs write it (no number, no totals, no credited invoice)
-- needs no function call; anything else goes through the checks.
CREATE TRIGGER invoice_before_insert BEFORE INSERT ON ar.invoice
	FOR EACH ROW WHEN (
		NEW.status <> 'draft' OR NEW.number IS NOT NULL OR NEW.credited_invoice_id IS NOT NULL
		OR NEW.net_total IS NOT NULL OR NEW.tax_total IS NOT NULL OR NEW.total IS NOT NULL
		OR NEW.open_amount IS NOT NULL OR NEW.tax_currency_rate IS NOT NULL
		OR NEW.tax_total_accounting IS NOT NULL OR NEW.payment_reference IS NOT NULL
		OR NEW.seq_period IS NOT NULL OR NEW.issued_at IS NOT NULL)
	EXECUTE FUNCTION ar.invoice_before();
-- An update calls the function whenever one of its checks could fail: a
-- draft (issuing, editing), a new credited invoice, a change to what is
-- immutable once issued, an open amount outside 0 .. total, or status and
-- open amount changed from outside ar's functions.  The bookkeeping of an
-- issued document by ar's functions (status and open amount within its
-- total) and a new note pay no function call.
CREATE TRIGGER invoice_before_update BEFORE UPDATE ON ar.invoice
	FOR EACH ROW WHEN (
		OLD.status = 'draft'
		OR NEW.id <> OLD.id
		OR NEW.credited_invoice_id IS DISTINCT FROM OLD.credited_invoice_id
		OR (NEW.entity_id, NEW.customer_id, NEW.series_id, NEW.kind, NEW.number, NEW.seq_period,
			NEW.seq_no, NEW.issue_date, NEW.due_date, NEW.currency, NEW.net_total::text,
			NEW.tax_total::text, NEW.total::text, NEW.payment_reference, NEW.buyer_reference,
			NEW.order_reference, NEW.issued_at, NEW.tax_currency_rate, NEW.tax_total_accounting::text,
			NEW.created_at)
		   IS DISTINCT FROM
		   (OLD.entity_id, OLD.customer_id, OLD.series_id, OLD.kind, OLD.number, OLD.seq_period,
			OLD.seq_no, OLD.issue_date, OLD.due_date, OLD.currency, OLD.net_total::text,
			OLD.tax_total::text, OLD.total::text, OLD.payment_reference, OLD.buyer_reference,
			OLD.order_reference, OLD.issued_at, OLD.tax_currency_rate, OLD.tax_total_accounting::text,
			OLD.created_at)
		OR (NEW.open_amount IS NOT NULL AND NOT
			CASE WHEN ar.minor_units(NEW.total) >= 0
				 THEN ar.minor_units(NEW.open_amount) BETWEEN 0 AND ar.minor_units(NEW.total)
				 ELSE ar.minor_units(NEW.open_amount) BETWEEN ar.minor_units(NEW.total) AND 0 END)
		OR ((NEW.status, NEW.open_amount::text) IS DISTINCT FROM (OLD.status, OLD.open_amount::text)
			AND NOT ar.internal() AND NOT ar.restoring()))
	EXECUTE FUNCTION ar.invoice_before();
CREATE TRIGGER invoice_status BEFORE UPDATE OF status ON ar.invoice
	FOR EACH ROW EXECUTE FUNCTION ar.status_guard('status');

-- A draft's lines follow its currency: written again, each takes the new
-- currency and its net amount is computed in it (invoice_line_before).
CREATE FUNCTION ar.invoice_currency_changed() RETURNS trigger
	LANGUAGE plpgsql
	SET search_path = pg_catalog, ar, pg_temp
AS $$
BEGIN
	UPDATE ar.invoice_line l SET currency = NULL WHERE l.invoice_id = NEW.id;
	RETURN NULL;
END
$$;
CREATE TRIGGER invoice_currency_changed AFTER UPDATE OF currency ON ar.invoice
	FOR EACH ROW WHEN (OLD.status = 'draft' AND NEW.currency <> OLD.currency AND NOT ar.restoring())
	EXECUTE FUNCTION ar.invoice_currency_changed();

/* ------------------------------------------------------------------------
 * 5. Outbox (delivery of documents by channel)
 * ------------------------------------------------------------------------ */

CREATE TABLE ar.outbox (
	id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
	entity_id integer NOT NULL REFERENCES ar.entity (id),
	customer_id bigint,
	invoice_id bigint REFERENCES ar.invoice (id),
	kind text NOT NULL CHECK (kind IN ('invoice', 'credit_note', 'reminder', 'collection_notice',
									   'manager_alert', 'service_suspension')),
	channel text NOT NULL CHECK (channel IN ('peppol', 'email', 'print', 'internal')),
	payload text,
	status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
	attempts integer NOT NULL DEFAULT 0,
	last_error text,
	created_at timestamptz NOT NULL DEFAULT now(),
	sent_at timestamptz,
	-- the transaction that claimed the row last (ar.outbox_claim) and its
	-- start; only it may report the row, and it is not handed the row twice.
	-- (Both: a restored row's xid can come round again in another cluster.)
	claimed_by xid8,
	claimed_at timestamptz,
	CONSTRAINT outbox_sent_at_check CHECK (status <> 'sent' OR sent_at IS NOT NULL)
);
CREATE INDEX outbox_pending ON ar.outbox (id) WHERE status = 'pending';
COMMENT ON TABLE ar.outbox IS
	'documents to deliver; rows appear in the transaction of their cause, NOTIFY ar_outbox fires on commit';

-- Whoever writes outbox rows (ar.issue, an application), listening
-- delivery agents hear of them at commit; a row's document must belong to
-- the row's entity.
-- SECURITY DEFINER: the check must see documents the inserting role's
-- row-level security hides (those of other entities); its messages name
-- only ids.  It runs only as the trigger of ar.outbox (and only the owner
-- may attach it: EXECUTE is revoked from PUBLIC below), so that it cannot
-- be made to look up rows for a trigger on some other table.
CREATE FUNCTION ar.outbox_inserted() RETURNS trigger
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	bad record;
BEGIN
	IF TG_RELID <> 'ar.outbox'::regclass THEN
		RAISE EXCEPTION 'ar.outbox_inserted() is the trigger of ar.outbox, not of %', TG_RELID::regclass
			USING ERRCODE = 'insufficient_privilege';
	END IF;
	-- (checked here once per statement, not by a foreign key per row; a row
	-- with a document is covered by the document check below, as the
	-- document's customer is one of its entity)
	SELECT n.id, n.entity_id, n.customer_id INTO bad
	  FROM new_rows n
	 WHERE n.customer_id IS NOT NULL AND n.invoice_id IS NULL
	   AND NOT EXISTS (SELECT 1 FROM ar.customer c WHERE c.id = n.customer_id AND c.entity_id = n.entity_id)
	 LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION 'outbox row % names customer %, which is not a customer of entity %', bad.id,
			bad.customer_id, bad.entity_id
			USING ERRCODE = 'foreign_key_violation';
	END IF;
	SELECT n.id, n.entity_id, n.customer_id, n.invoice_id,
		   i.entity_id AS doc_entity, i.customer_id AS doc_customer INTO bad
	  FROM new_rows n JOIN ar.invoice i ON i.id = n.invoice_id
	 WHERE i.entity_id <> n.entity_id OR i.customer_id IS DISTINCT FROM n.customer_id LIMIT 1;
	IF FOUND AND bad.entity_id <> bad.doc_entity THEN
		RAISE EXCEPTION 'outbox row % of entity % refers to invoice %, which is not of entity %', bad.id,
			bad.entity_id, bad.invoice_id, bad.entity_id
			USING ERRCODE = 'foreign_key_violation';
	ELSIF FOUND THEN
		RAISE EXCEPTION 'outbox row % is for customer %, but invoice % is of customer %', bad.id,
			coalesce(bad.customer_id::text, 'NULL'), bad.invoice_id, bad.doc_customer
			USING ERRCODE = 'foreign_key_violation';
	END IF;
	PERFORM pg_catalog.pg_notify('ar_outbox', '');
	RETURN NULL;
END
$$;
CREATE TRIGGER outbox_inserted AFTER INSERT ON ar.outbox REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION ar.outbox_inserted();
-- An issued invoice or credit note is queued by ar.issue and ar.credit,
-- with the payload rendered from the document: a row of those kinds written
-- by anyone else could carry a payload of its own (another IBAN) and be
-- delivered in the document's place.  Applications queue the other kinds.
CREATE TRIGGER outbox_documents BEFORE INSERT ON ar.outbox
	FOR EACH ROW WHEN (NEW.kind IN ('invoice', 'credit_note') AND NOT ar.internal() AND NOT ar.restoring())
	EXECUTE FUNCTION ar.refuse_direct_write('invoices and credit notes are queued only by ar''s functions',
		'ar.issue() and ar.credit() queue the issued document with its payload; applications may queue the other kinds (reminder, manager_alert, ...).');
-- Delivery moves status, attempts, last_error and sent_at; what is to be
-- delivered stays as queued.
CREATE TRIGGER outbox_immutable BEFORE UPDATE ON ar.outbox
	FOR EACH ROW WHEN ((NEW.id, NEW.entity_id, NEW.customer_id, NEW.invoice_id, NEW.kind, NEW.channel,
						NEW.payload, NEW.created_at)
					   IS DISTINCT FROM
					   (OLD.id, OLD.entity_id, OLD.customer_id, OLD.invoice_id, OLD.kind, OLD.channel,
						OLD.payload, OLD.created_at))
	EXECUTE FUNCTION ar.refuse_direct_write('a queued document and its payload cannot be changed',
		'Delivery updates status, attempts, last_error and sent_at (ar.outbox_claim(), ar.outbox_done()).');
-- The delivery columns move through ar.outbox_claim and ar.outbox_done: a
-- row marked sent by a plain UPDATE could then be deleted, and its document
-- would never go out.  Members of ar_admin (and superusers) may repair
-- them, such as putting a failed row back to pending.
CREATE TRIGGER outbox_delivery BEFORE UPDATE ON ar.outbox
	FOR EACH ROW WHEN ((NEW.status, NEW.attempts, NEW.last_error, NEW.sent_at, NEW.claimed_by, NEW.claimed_at)
					   IS DISTINCT FROM
					   (OLD.status, OLD.attempts, OLD.last_error, OLD.sent_at, OLD.claimed_by, OLD.claimed_at)
					   AND NOT ar.internal() AND NOT pg_catalog.pg_has_role('ar_admin', 'MEMBER'))
	EXECUTE FUNCTION ar.refuse_direct_write('the delivery of an outbox row is recorded only by ar.outbox_claim() and ar.outbox_done()',
		'A delivery agent claims rows with ar.outbox_claim() and reports each with ar.outbox_done() in the same transaction; members of ar_admin may repair rows by hand.');

CREATE TRIGGER outbox_no_truncate BEFORE TRUNCATE ON ar.outbox
	FOR EACH STATEMENT EXECUTE FUNCTION ar.refuse_direct_write('the outbox holds documents that are not sent yet',
		'Delete sent rows only: DELETE FROM ar.outbox WHERE status = ''sent''.');

-- What is queued and not sent yet stays; sent rows may be cleared away.
CREATE TRIGGER outbox_keep BEFORE DELETE ON ar.outbox
	FOR EACH ROW WHEN (OLD.status <> 'sent')
	EXECUTE FUNCTION ar.refuse_direct_write('a queued document that is not sent cannot be deleted',
		'Only sent rows may be deleted; a document that must not go out is corrected with ar.credit().');
-- A delivery agent reports what it sent; the record of an invoice or
-- credit note sent is cleared away by ar_admin members only, so that a
-- clerk who claimed a document and reported it sent cannot also remove the
-- trace of it.
CREATE TRIGGER outbox_keep_documents BEFORE DELETE ON ar.outbox
	FOR EACH ROW WHEN (OLD.kind IN ('invoice', 'credit_note') AND NOT pg_catalog.pg_has_role('ar_admin', 'MEMBER'))
	EXECUTE FUNCTION ar.refuse_direct_write('the delivery record of an invoice or credit note is deleted only by ar_admin members',
		'Members of ar_admin clear sent rows away: DELETE FROM ar.outbox WHERE status = ''sent''.');

-- A delivery agent claims pending rows in its own transaction, sends them,
-- and reports each with ar.outbox_done before it commits.  SKIP LOCKED lets
-- several agents work side by side without taking the same rows.  A row is
-- handed to a transaction once: one that reported a failure and claims again
-- gets other rows, not the same one five times over.
CREATE FUNCTION ar._outbox_claim(max integer) RETURNS SETOF ar.outbox
	LANGUAGE plpgsql
	SET search_path = pg_catalog, ar, pg_temp
AS $$
BEGIN
	IF max IS NULL OR max < 1 THEN
		RAISE EXCEPTION 'ar.outbox_claim needs a positive number of rows, got %', max
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	RETURN QUERY
	UPDATE ar.outbox o SET attempts = o.attempts + 1, claimed_by = pg_current_xact_id(), claimed_at = now()
	 WHERE o.id IN (SELECT p.id FROM ar.outbox p
					 WHERE p.status = 'pending'
					   AND (p.claimed_by, p.claimed_at) IS DISTINCT FROM (pg_current_xact_id(), now())
					 ORDER BY p.id LIMIT max FOR UPDATE SKIP LOCKED)
	RETURNING o.*;
END
$$;
COMMENT ON FUNCTION ar._outbox_claim(integer) IS 'internal: the body of ar.outbox_claim (src/guard.c)';
CREATE FUNCTION ar.outbox_claim(max integer DEFAULT 10) RETURNS SETOF ar.outbox
	AS 'MODULE_PATHNAME', 'ar_guarded' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ar.outbox_claim(integer) IS
	'hands up to max pending outbox rows to a delivery agent (FOR UPDATE SKIP LOCKED), counting an attempt; a transaction gets a row once';

CREATE FUNCTION ar._outbox_done(id bigint, ok boolean, error text) RETURNS void
	LANGUAGE plpgsql
	SET search_path = pg_catalog, ar, pg_temp
AS $$
DECLARE
	row ar.outbox;
BEGIN
	IF _outbox_done.id IS NULL OR ok IS NULL THEN
		RAISE EXCEPTION 'ar.outbox_done needs an outbox row and whether it was delivered, got id % and ok %',
			coalesce(_outbox_done.id::text, 'NULL'), coalesce(ok::text, 'NULL')
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	SELECT * INTO row FROM ar.outbox o WHERE o.id = _outbox_done.id FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'outbox row % does not exist', _outbox_done.id USING ERRCODE = 'no_data_found';
	END IF;
	IF row.status <> 'pending' THEN
		RAISE EXCEPTION 'outbox row % is already %', _outbox_done.id, row.status
			USING ERRCODE = 'object_not_in_prerequisite_state';
	END IF;
	-- (the row lock above waited for any other claimer to finish)
	IF (row.claimed_by, row.claimed_at) IS DISTINCT FROM (pg_current_xact_id(), now()) THEN
		RAISE EXCEPTION 'outbox row % was not claimed in this transaction', _outbox_done.id
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  HINT = 'Claim rows with ar.outbox_claim() and report each with ar.outbox_done() before committing.';
	END IF;
	IF ok THEN
		UPDATE ar.outbox o SET status = 'sent', sent_at = now(), last_error = NULL WHERE o.id = row.id;
	ELSE
		UPDATE ar.outbox o
		   SET last_error = coalesce(error, 'unknown error'),
			   status = CASE WHEN o.attempts >= 5 THEN 'failed' ELSE 'pending' END
		 WHERE o.id = row.id;
	END IF;
END
$$;
COMMENT ON FUNCTION ar._outbox_done(bigint, boolean, text) IS 'internal: the body of ar.outbox_done (src/guard.c)';
CREATE FUNCTION ar.outbox_done(id bigint, ok boolean, error text DEFAULT NULL) RETURNS void
	AS 'MODULE_PATHNAME', 'ar_guarded' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ar.outbox_done(bigint, boolean, text) IS
	'records a delivery: ok marks the row sent; a failure keeps it pending for another try, failed after 5 attempts';

/* ------------------------------------------------------------------------
 * Issuing
 * ------------------------------------------------------------------------ */

CREATE TYPE ar.issue_item AS (
	id bigint,
	entity_id integer,
	customer_id bigint,
	series_id integer,
	kind text,
	currency text,
	minor_unit smallint,
	issue_date date,
	due_date date,
	period integer,
	ref_scheme text,
	ref_prefix text,
	channel text,
	tax_currency text,			-- the seller's currency when the invoice is in another (BT-6)
	tax_minor smallint,
	tax_rate numeric,			-- its rate: a credit note's is the invoice's it credits
	customer_version tid,		-- the row versions of the parties read (see ar._issue)
	entity_version tid
);

-- Numbers given out per series and period (src/numbering.c): this call's
-- numbers are base + 1 .. base + count; prev_date is the date of number base;
-- pattern is the series' pattern read under its lock, the one to number with.
CREATE TYPE ar.issue_number AS (
	series_id integer,
	period integer,
	base bigint,
	prev_date date,
	pattern text
);
CREATE FUNCTION ar._take_numbers(series_ids integer[], periods integer[], counts bigint[], last_dates date[])
	RETURNS SETOF ar.issue_number
	AS 'MODULE_PATHNAME', 'ar_take_numbers' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ar._take_numbers(integer[], integer[], bigint[], date[]) IS
	'internal to ar.issue: locks the series (in order, to commit), moves their counters and returns the bases (src/issue.c)';

CREATE FUNCTION ar._open_exposure(customer_ids bigint[])
	RETURNS TABLE (customer_id bigint, currency text, amount numeric)
	AS 'MODULE_PATHNAME', 'ar_open_exposure' LANGUAGE C VOLATILE;
CREATE FUNCTION ar._lines_current(kind text, ids bigint[]) RETURNS void
	AS 'MODULE_PATHNAME', 'ar_lines_current' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ar._lines_current(text, bigint[]) IS
	'internal: under REPEATABLE READ or SERIALIZABLE, 40001 when the lines of the locked invoices or sales orders changed after the transaction snapshot (src/issue.c)';
COMMENT ON FUNCTION ar._open_exposure(bigint[]) IS
	'internal to ar.issue''s credit check: the open amounts of issued invoices per customer and currency, summed in numeric and read with a fresh snapshot (src/issue.c)';
CREATE FUNCTION ar._party_changed(party text) RETURNS boolean
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RAISE EXCEPTION 'could not serialize access: % changed while ar.issue ran', party
		USING ERRCODE = 'serialization_failure',
			  HINT = 'Retry the transaction: ar.issue derives each document from its parties as it first read them.';
END
$$;
COMMENT ON FUNCTION ar._party_changed(text) IS
	'internal to ar.issue: raises the serialization failure for a customer or entity updated while it ran';

-- How ar._issue's errors name a draft: its id, and its order reference,
-- which an order's draft carries as its order number (the id of a draft
-- made by a delivery is rolled back with the error, the order stays).
CREATE FUNCTION ar._draft_label(invoice_id bigint) RETURNS text
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
AS $$
	SELECT replace(i.kind, '_', ' ') || ' ' || i.id || coalesce(' (order ' || i.order_reference || ')', '')
	  FROM ar.invoice i WHERE i.id = _draft_label.invoice_id
$$;
COMMENT ON FUNCTION ar._draft_label(bigint) IS
	'internal: a draft as ar.issue''s errors name it: invoice 19 (order SO-51)';

CREATE FUNCTION ar._issue(invoice_ids bigint[])
	RETURNS TABLE (invoice_id bigint, number text)
	LANGUAGE plpgsql
	SET search_path = pg_catalog, ar, pg_temp
	SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
	items ar.issue_item[];
	numbered ar.issue_number[];
	taxes ar.invoice_tax[];
	bad record;
	n_locked integer;
	held text;
	limited boolean;
	conflict text;
	negative bigint;
	nothing_due bigint[];
	too_large boolean;
BEGIN
	IF invoice_ids IS NULL OR cardinality(invoice_ids) = 0 THEN
		RETURN;
	END IF;
	IF array_ndims(invoice_ids) > 1 THEN
		RAISE EXCEPTION 'invoice ids must be a one-dimensional array, not one of % dimensions',
			array_ndims(invoice_ids)
			USING ERRCODE = 'array_subscript_error';
	END IF;
	IF array_position(invoice_ids, NULL) IS NOT NULL THEN
		RAISE EXCEPTION 'cannot issue a NULL invoice id' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	-- Generic plans (the function's SET clause), whatever the batch size:
	-- a call does not plan its dozen statements again (a third of the time
	-- of a single issue), and neither do the foreign-key checks its inserts
	-- fire, one per row (custom plans made a batch a third slower).  Every
	-- statement below joins the arrays to each other by hash or to tables by
	-- index, so a plan made for a small array stays linear for a large one.

	-- Lock the documents in id order, so concurrent issuers cannot deadlock.
	SELECT count(*) INTO n_locked
	  FROM (SELECT 1 FROM ar.invoice i WHERE i.id = ANY (invoice_ids) ORDER BY i.id FOR UPDATE) l;
	IF n_locked <> (SELECT count(DISTINCT x) FROM unnest(invoice_ids) x) THEN
		SELECT x AS id INTO bad FROM unnest(invoice_ids) x
		 WHERE NOT EXISTS (SELECT 1 FROM ar.invoice i WHERE i.id = x) ORDER BY x LIMIT 1;
		RAISE EXCEPTION 'invoice % does not exist', bad.id USING ERRCODE = 'no_data_found';
	END IF;
	IF n_locked <> cardinality(invoice_ids) THEN
		SELECT x AS id INTO bad FROM unnest(invoice_ids) x GROUP BY x HAVING count(*) > 1 ORDER BY x LIMIT 1;
		RAISE EXCEPTION 'invoice % is listed twice', bad.id USING ERRCODE = 'invalid_parameter_value';
	END IF;
	-- A writer of lines holds its draft FOR SHARE until it commits.  Under
	-- REPEATABLE READ and SERIALIZABLE the lines read below would be the
	-- snapshot's, without what that writer committed: 40001 instead.
	PERFORM ar._lines_current('invoice', invoice_ids);

	SELECT i.id, i.status, i.number INTO bad FROM ar.invoice i
	 WHERE i.id = ANY (invoice_ids) AND i.status <> 'draft' ORDER BY i.id LIMIT 1;
	IF FOUND THEN
		IF bad.number IS NOT NULL THEN
			RAISE EXCEPTION 'invoice % is already issued as %', bad.id, bad.number
				USING ERRCODE = 'object_not_in_prerequisite_state';
		END IF;
		RAISE EXCEPTION 'invoice % is % and cannot be issued', bad.id, bad.status
			USING ERRCODE = 'object_not_in_prerequisite_state';
	END IF;
	SELECT i.id INTO bad FROM ar.invoice i
	 WHERE i.id = ANY (invoice_ids)
	   AND NOT EXISTS (SELECT 1 FROM ar.invoice_line l WHERE l.invoice_id = i.id)
	 ORDER BY i.id LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION 'invoice % has no lines', bad.id
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  HINT = 'Add rows to ar.invoice_line before issuing.';
	END IF;

	-- What each document needs: its series, dates and the parties' settings.
	SELECT array_agg(ROW(i.id, i.entity_id, i.customer_id, s.id, i.kind, i.currency, cur.minor_unit,
						 d.issue_date,
						 coalesce(i.due_date, d.issue_date + c.payment_terms_days),
						 CASE s.reset WHEN 'yearly' THEN extract(year FROM d.issue_date)::integer ELSE 0 END,
						 e.reference_scheme, s.reference_prefix, c.channel,
						 nullif(e.currency, i.currency), ecur.minor_unit,
						 CASE WHEN e.currency <> i.currency THEN
							 coalesce(cr.tax_currency_rate, ar.fx_rate_on(i.currency, e.currency, d.issue_date, true))
						 END, c.ctid, e.ctid)::ar.issue_item
				   ORDER BY i.id)
	  INTO items
	  FROM ar.invoice i
	  -- one index lookup per document (OFFSET 0 keeps it a lookup): a
	  -- generic plan that merge-joined the customers read the customer
	  -- index up to the batch's highest id, every customer for one invoice
	  CROSS JOIN LATERAL (SELECT c.payment_terms_days, c.channel, c.ctid FROM ar.customer c
							WHERE c.id = i.customer_id OFFSET 0) c
	  JOIN ar.entity e ON e.id = i.entity_id
	  JOIN ar.currency cur ON cur.code = i.currency
	  JOIN ar.currency ecur ON ecur.code = e.currency
	  LEFT JOIN ar.invoice cr ON cr.id = i.credited_invoice_id
		   AND ar.currency_of(cr.tax_total_accounting) = e.currency
	  CROSS JOIN LATERAL (SELECT coalesce(i.issue_date, ar.zone_today(e.time_zone)) AS issue_date) d
	  LEFT JOIN ar.series s ON s.id = coalesce(i.series_id,
		  (SELECT ds.id FROM ar.series ds WHERE ds.entity_id = i.entity_id AND ds.kind = i.kind AND ds.is_default))
	 WHERE i.id = ANY (invoice_ids);

	-- A credit note must refer to an open invoice of its customer, credit at
	-- most what is open and be allocated against it: ar.credit does all of
	-- that, so a credit note is issued only from there.
	SELECT it.id INTO bad FROM unnest(items) it WHERE it.kind = 'credit_note' ORDER BY it.id LIMIT 1;
	IF FOUND AND ar.internal_writer() IS DISTINCT FROM 'credit' THEN
		RAISE EXCEPTION 'credit note % can only be issued by ar.credit', bad.id
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  HINT = 'ar.credit(invoice_id, reason, amount) checks the credited invoice, issues the credit note '
						 'from the credit-note series and allocates it; delete this draft and call ar.credit.';
	END IF;
	SELECT it.id, it.entity_id, it.kind INTO bad FROM unnest(items) it WHERE it.series_id IS NULL LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION 'entity % has no default % series for %', bad.entity_id,
			replace(bad.kind, '_', ' '), ar._draft_label(bad.id)
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  HINT = 'Create one in ar.series with is_default, or set invoice.series_id.';
	END IF;
	SELECT it.id, s.code, s.kind, it.kind AS want INTO bad FROM unnest(items) it
	  JOIN ar.series s ON s.id = it.series_id WHERE s.kind <> it.kind LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION 'series % numbers %s, not the % %', bad.code, replace(bad.kind, '_', ' '),
			replace(bad.want, '_', ' '), bad.id
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	SELECT it.id, it.issue_date, it.due_date INTO bad FROM unnest(items) it
	 WHERE it.due_date < it.issue_date LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION '% is due on % before its issue date %', ar._draft_label(bad.id), bad.due_date, bad.issue_date
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	-- Numbers follow dates: a document dated far ahead (a typo such as
	-- 2062) would hold its series up until then, for good once issued.
	SELECT it.id, it.kind, it.issue_date INTO bad FROM unnest(items) it JOIN ar.entity e ON e.id = it.entity_id
	 WHERE it.issue_date < date '0001-01-01' OR it.issue_date > ar.zone_today(e.time_zone) + 366
	 ORDER BY it.id LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION '% is dated %, %', ar._draft_label(bad.id),
			to_char(bad.issue_date, 'YYYY-MM-DD AD'),
			CASE WHEN bad.issue_date < date '0001-01-01' THEN 'before the year 1'
				 ELSE 'more than a year ahead' END
			USING ERRCODE = 'datetime_field_overflow',
				  HINT = 'Numbers follow the order of the dates: correct the draft''s issue_date.';
	END IF;

	-- The VAT breakdown (EN 16931): per category and rate, the tax of the
	-- summed base, rounded half away from zero to 2 decimals (to the minor
	-- unit for currencies with fewer).
	-- A breakdown carries one exemption code and one reason: lines of one
	-- category and rate that give different ones are refused.
	-- The sums are taken in numeric, exact, and checked to fit ar.amount
	-- before any is stored: an invoice too large is named (an overflow in
	-- ar.sum would not say which of a batch it was).
	WITH b AS (
		SELECT it.id, it.currency, it.minor_unit, it.tax_currency, it.tax_rate, it.tax_minor,
			   l.vat_category, l.vat_rate,
			   sum(ar.value_of(l.net_amount)) AS base,
			   max(l.vat_exemption_code) AS code, max(l.vat_exemption_reason) AS reason,
			   coalesce(min(l.vat_exemption_code) <> max(l.vat_exemption_code), false) AS codes_differ,
			   coalesce(min(l.vat_exemption_reason) <> max(l.vat_exemption_reason), false) AS reasons_differ
		  FROM unnest(items) it
		  JOIN ar.invoice_line l ON l.invoice_id = it.id
		 GROUP BY it.id, it.currency, it.minor_unit, it.tax_currency, it.tax_rate, it.tax_minor,
				  l.vat_category, l.vat_rate
	), v AS (
		-- (times 0.01, not divided by 100: a quotient is rounded to 16
		-- significant digits, and a large base rounded twice)
		SELECT b.*, round(b.base * b.vat_rate * 0.01, least(2, b.minor_unit)) AS tax FROM b
	), t AS (
		-- per document: the total; reach, what any partial sum of its nets
		-- and taxes can come to, against the largest amount of its currency;
		-- the VAT in the seller's currency against that currency's
		SELECT v.id, v.currency, v.minor_unit, v.tax_currency, v.tax_minor,
			   sum(v.base + v.tax) AS total, sum(abs(v.base) + abs(v.tax)) AS reach,
			   round(abs(sum(v.tax)) * v.tax_rate, least(2, v.tax_minor)) AS tax_reach
		  FROM v GROUP BY v.id, v.currency, v.minor_unit, v.tax_currency, v.tax_rate, v.tax_minor
	), big AS (
		SELECT format('%s is too large: its amounts reach %s %s, beyond the largest amount, %s %s',
					  ar._draft_label(t.id), x.reach, x.currency, x.top, x.currency) AS msg
		  FROM t
		 CROSS JOIN LATERAL (VALUES (t.reach, t.currency, t.minor_unit),
									(t.tax_reach, t.tax_currency, t.tax_minor)) x0 (reach, currency, minor)
		 CROSS JOIN LATERAL (SELECT x0.reach, x0.currency,
									round(9223372036854775807 * 10::numeric ^ (-x0.minor), x0.minor) AS top) x
		 WHERE x.reach > x.top
		 ORDER BY t.id LIMIT 1
	), ins AS (
		INSERT INTO ar.invoice_tax (invoice_id, vat_category, vat_rate, taxable_amount, tax_amount,
									exemption_code, exemption_reason)
		SELECT v.id, v.vat_category, v.vat_rate, ar.round_amount(v.base, v.currency),
			   ar.round_amount(v.tax, v.currency), v.code, v.reason
		  FROM v
		 WHERE NOT EXISTS (SELECT 1 FROM big)
		RETURNING *
	)
	SELECT (SELECT array_agg(ins) FROM ins),
		   coalesce((SELECT big.msg FROM big),
					(SELECT format('%s: its lines of VAT category %s at %s%% give different exemption %s',
								   ar._draft_label(b.id), b.vat_category, b.vat_rate,
								   CASE WHEN b.codes_differ THEN 'codes' ELSE 'reasons' END)
					   FROM b WHERE b.codes_differ OR b.reasons_differ ORDER BY b.id LIMIT 1)),
		   (SELECT EXISTS (SELECT 1 FROM big)),
		   (SELECT min(t.id) FILTER (WHERE t.total < 0) FROM t),
		   (SELECT array_agg(t.id) FILTER (WHERE t.total = 0) FROM t)
	  INTO taxes, conflict, too_large, negative, nothing_due;
	IF too_large THEN
		RAISE EXCEPTION '%', conflict
			USING ERRCODE = 'numeric_value_out_of_range',
				  DETAIL = 'The net, the VAT and the total of a document must each fit in an amount: at most '
						   '9223372036854775807 minor units of its currency.';
	END IF;
	IF conflict IS NOT NULL THEN
		RAISE EXCEPTION '%', conflict
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'A VAT breakdown (EN 16931 BG-23) carries one exemption code and one reason: give those lines the same, or set them on one line only.';
	END IF;
	-- An invoice asks for money.  One that would give money back (its
	-- returned items outweigh the rest) is a credit note, which refers to
	-- what it credits: ar.credit.
	IF negative IS NOT NULL THEN
		SELECT x.invoice_id, ar.sum(x.taxable_amount OPERATOR(ar.+) x.tax_amount) AS total,
			   (SELECT o.order_no FROM ar.sales_order o WHERE o.invoice_id = x.invoice_id) AS order_no
		  INTO bad
		  FROM unnest(taxes) x WHERE x.invoice_id = negative GROUP BY x.invoice_id;
		RAISE EXCEPTION 'invoice % totals %, less than zero', bad.invoice_id, bad.total
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = CASE WHEN bad.order_no IS NULL THEN 'An invoice cannot give money back.'
								ELSE format('It is the invoice of sales order %s: an invoice cannot give money back.',
											bad.order_no) END,
				  HINT = 'Credit the invoice the items were sold on with ar.credit(invoice_id, reason, amount), '
						 'or make the returned items a smaller part of this invoice.';
	END IF;

	-- An invoice in another currency than the seller's states its VAT in
	-- the seller's currency too (EN 16931 BT-6 and BT-111; the VAT Directive,
	-- art. 230): at the rate of the issue date, or for a credit note the
	-- rate of the invoice it credits.
	SELECT it.id, it.currency, it.tax_currency, it.issue_date INTO bad FROM unnest(items) it
	 WHERE it.tax_currency IS NOT NULL AND it.tax_rate IS NULL
	 ORDER BY it.id LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION '%: no exchange rate from % to % on or before %', ar._draft_label(bad.id), bad.currency,
			bad.tax_currency, to_char(bad.issue_date, 'YYYY-MM-DD')
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  DETAIL = format('An invoice in %s from a seller who accounts in %s states its VAT in %s too (EN 16931 BT-111).',
								  bad.currency, bad.tax_currency, bad.tax_currency),
				  HINT = 'Add a row to ar.fx_rate (from_currency, to_currency, valid_on, rate).';
	END IF;

	-- What a Peppol e-invoice needs must be there before a number is given:
	-- the error names the missing field (ar.ubl_check, src/ubl.c).
	PERFORM ar.ubl_check(ARRAY(SELECT it.id FROM unnest(items) it WHERE it.channel = 'peppol'));

	-- Numbering comes last: the series stays locked until commit, so the
	-- shorter the rest of the transaction, the more issuers get through.
	-- ar._take_numbers reads and moves the counters under that lock at
	-- their latest version, so issuing works at every isolation level.
	SELECT array_agg(t) INTO numbered
	  FROM (SELECT array_agg(g.series_id) AS series_ids, array_agg(g.period) AS periods,
				   array_agg(g.n) AS counts, array_agg(g.max_date) AS last_dates
			  FROM (SELECT it.series_id, it.period, count(*) AS n, max(it.issue_date) AS max_date
					  FROM unnest(items) it GROUP BY it.series_id, it.period) g) a
	 CROSS JOIN LATERAL ar._take_numbers(a.series_ids, a.periods, a.counts, a.last_dates) t;
	-- numbers follow dates: no document may be dated before the last one
	SELECT s.code, c.prev_date AS last_date, min(it.issue_date) AS first_date INTO bad
	  FROM unnest(items) it
	  JOIN unnest(numbered) c ON c.series_id = it.series_id AND c.period = it.period
	  JOIN ar.series s ON s.id = it.series_id
	 GROUP BY s.code, c.prev_date
	HAVING min(it.issue_date) < c.prev_date LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION 'issue date % is before %, the date of the last number of series %',
			bad.first_date, bad.last_date, bad.code
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = 'Numbers of a series must follow the order of their dates.';
	END IF;
	SELECT it.id INTO bad FROM (
		SELECT it.id, it.issue_date,
			   lag(it.issue_date) OVER (PARTITION BY it.series_id, it.period ORDER BY it.id) AS prev
		  FROM unnest(items) it) it
	 WHERE it.issue_date < it.prev LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION '% is dated before an invoice with a lower id in the same batch', ar._draft_label(bad.id)
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = 'Numbers are given in id order and must follow the order of the dates.';
	END IF;

	-- Credit check, with the counters locked: the customers on hold, then
	-- open exposure plus what is being issued, per customer, in the
	-- currency of the customer's limit (ar.convert at the issue date).  The
	-- customers checked stay locked until commit, so that two issuers cannot
	-- both pass on the same room: the second waits, then sees the first's
	-- invoices.  They are locked after the counters, which every issuer
	-- locks first, so issuers into one series do not deadlock on them.
	IF coalesce(current_setting('ar.credit_check', true), 'on') <> 'off' THEN
		held := NULL;
		limited := false;
		FOR bad IN
			-- locked in id order, looked up by key
			SELECT c.customer_no, c.name, c.on_hold
			  FROM (SELECT DISTINCT it.customer_id FROM unnest(items) it WHERE it.kind = 'invoice'
					 ORDER BY it.customer_id) x
			 CROSS JOIN LATERAL (SELECT c.customer_no, c.name, c.on_hold FROM ar.customer c
								  WHERE c.id = x.customer_id AND (c.on_hold OR c.credit_limit IS NOT NULL)
								  FOR NO KEY UPDATE) c
			 ORDER BY x.customer_id
		LOOP
			IF bad.on_hold AND held IS NULL THEN
				held := format('%s (%s)', bad.customer_no, bad.name);
			END IF;
			limited := limited OR NOT bad.on_hold;
		END LOOP;
		IF held IS NOT NULL THEN
			RAISE EXCEPTION 'customer % is on hold', held
				USING ERRCODE = 'object_not_in_prerequisite_state',
					  HINT = 'Release the hold, or SET LOCAL ar.credit_check = off to override.';
		END IF;
		IF limited THEN
			-- One pass over the batch, not one per customer (that was
			-- quadratic: 2,000 customers in 20,000 drafts took 3.5 s more).
			-- n: the customers with a limit and the day their amounts are
			-- converted on; s: what each owes per currency, this batch and
			-- then the open invoices.  All of it is numeric, converted at
			-- the rate of ar.convert and rounded as it rounds: what a
			-- customer owes may pass the largest amount, and must then fail
			-- the limit, not overflow.
			WITH n AS (
				SELECT it.customer_id, max(it.issue_date) AS on_date
				  FROM unnest(items) it
				 -- an invoice of 0.00 adds nothing: it passes also where the
				 -- customer is over a limit lowered since
				 WHERE it.kind = 'invoice' AND it.id <> ALL (coalesce(nothing_due, '{}'))
				   AND (SELECT c.credit_limit FROM ar.customer c WHERE c.id = it.customer_id) IS NOT NULL
				 GROUP BY it.customer_id
			), s AS (
				SELECT it.customer_id, it.currency,
					   sum(ar.value_of(x.taxable_amount) + ar.value_of(x.tax_amount)) AS amount
				  FROM unnest(items) it
				  JOIN unnest(taxes) x ON x.invoice_id = it.id
				 WHERE it.kind = 'invoice'
				 GROUP BY it.customer_id, it.currency
				UNION ALL
				-- read with a snapshot taken now, under the customer locks
				SELECT x.customer_id, x.currency, x.amount
				  FROM ar._open_exposure(ARRAY(SELECT n.customer_id FROM n)) x
			), e AS (
				SELECT c.id, c.customer_no, c.name, c.credit_limit, lc.code AS limit_currency,
					   sum(CASE WHEN s.currency = lc.code THEN s.amount
								ELSE round(s.amount * ar.fx_rate_on(s.currency, lc.code, n.on_date),
										   lc.minor_unit) END) AS exposure
				  FROM s
				  JOIN n ON n.customer_id = s.customer_id
				 CROSS JOIN LATERAL (SELECT c.id, c.customer_no, c.name, c.credit_limit FROM ar.customer c
									  WHERE c.id = s.customer_id OFFSET 0) c
				  JOIN ar.currency lc ON lc.code = ar.currency_of(c.credit_limit)
				 GROUP BY c.id, c.customer_no, c.name, c.credit_limit, lc.code
			)
			SELECT e.customer_no, e.name, e.credit_limit, e.exposure || ' ' || e.limit_currency AS exposure
			  INTO bad
			  FROM e
			 WHERE e.exposure > ar.value_of(e.credit_limit)
			 ORDER BY e.id LIMIT 1;
			IF FOUND THEN
				RAISE EXCEPTION 'customer % (%) would exceed the credit limit: exposure % > limit %',
					bad.customer_no, bad.name, bad.exposure, bad.credit_limit
					USING ERRCODE = 'check_violation',
						  HINT = 'Raise ar.customer.credit_limit, or SET LOCAL ar.credit_check = off to override.';
			END IF;
		END IF;
	END IF;

	-- The totals are joined to the items before anything else, and the
	-- bases are looked up per row (one per series and period): a join of
	-- the totals with a CTE the planner misjudges became a nested loop that
	-- rescanned them per invoice (quadratic).
	RETURN QUERY
	WITH n AS (
		SELECT it.*, tt.net, tt.tax,
			   row_number() OVER (PARTITION BY it.series_id, it.period ORDER BY it.id) AS k
		  FROM unnest(items) it
		  JOIN (SELECT x.invoice_id, ar.sum(x.taxable_amount) AS net, ar.sum(x.tax_amount) AS tax
				  FROM unnest(taxes) x
				 GROUP BY x.invoice_id) tt ON tt.invoice_id = it.id
		  -- Terms, due date, reference, channel and the Peppol check came
		  -- from the customer and entity as this call read them first; the
		  -- payload renders them as this statement sees them.  Under READ
		  -- COMMITTED that is later (after the wait for the series): a party
		  -- updated in between would mix old and new in one document (a due
		  -- date from the old terms next to the new address, an OCR reference
		  -- under a new FIK scheme, the old channel), so it is a
		  -- serialization failure, to retry.  Under REPEATABLE READ and
		  -- SERIALIZABLE both read the transaction's snapshot.  (Checked
		  -- once, before any row: the documents keep their id order.)
		 WHERE (SELECT count(*)
				  FROM unnest(items) x
				  LEFT JOIN LATERAL (SELECT cu.ctid, cu.customer_no, cu.name FROM ar.customer cu
									  WHERE cu.id = x.customer_id OFFSET 0) cu ON true
				  LEFT JOIN ar.entity en ON en.id = x.entity_id
				 WHERE CASE WHEN cu.ctid IS NOT DISTINCT FROM x.customer_version THEN true
							ELSE ar._party_changed(coalesce(format('customer %s (%s)', cu.customer_no, cu.name),
															 'customer ' || x.customer_id)) END
				   AND CASE WHEN en.ctid IS NOT DISTINCT FROM x.entity_version THEN true
							ELSE ar._party_changed(coalesce(format('entity %s (%s)', en.code, en.name),
															 'entity ' || x.entity_id)) END) IS NOT NULL
	), upd AS (
		UPDATE ar.invoice i
		   SET number = ar.format_number(counters.pattern, counters.base + n.k, n.issue_date),
			   seq_period = n.period,
			   seq_no = counters.base + n.k,
			   series_id = n.series_id,
			   status = 'issued',
			   issue_date = n.issue_date,
			   due_date = n.due_date,
			   net_total = n.net,
			   tax_total = n.tax,
			   total = n.net OPERATOR(ar.+) n.tax,
			   open_amount = n.net OPERATOR(ar.+) n.tax,
			   tax_currency_rate = n.tax_rate,
			   -- rounded once, to at most 2 decimals (BR-DEC-15)
			   tax_total_accounting = ar.round_amount(round(ar.value_of(n.tax) * n.tax_rate,
															  least(2, n.tax_minor)), n.tax_currency),
			   payment_reference = CASE n.kind WHEN 'invoice' THEN
				   ar.invoice_reference(n.ref_scheme, n.ref_prefix,
										ar.format_number(counters.pattern, counters.base + n.k, n.issue_date)) END,
			   issued_at = now()
		  FROM n
		 CROSS JOIN LATERAL (SELECT c.base, c.pattern FROM unnest(numbered) c
							  WHERE c.series_id = n.series_id AND c.period = n.period) counters
		 WHERE i.id = n.id
		RETURNING i.id, i.number, i.entity_id, i.customer_id, i.kind, n.channel, i AS doc
	), queued AS (
		-- the payload: UBL for peppol, the readable text for email and print;
		-- this statement cannot see its own updates, so the rows go along
		INSERT INTO ar.outbox (entity_id, customer_id, invoice_id, kind, channel, payload)
		SELECT upd.entity_id, upd.customer_id, upd.id, upd.kind, upd.channel, p.payload
		  FROM upd
		  JOIN ar.issue_payloads(ARRAY(SELECT u.doc FROM upd u ORDER BY u.id),
								 ARRAY(SELECT u.channel FROM upd u ORDER BY u.id)) p
			ON p.invoice_id = upd.id
		 ORDER BY upd.id
		RETURNING 1
	)
	SELECT upd.id, upd.number FROM upd ORDER BY upd.id;
	-- An invoice of 0.00 (everything on it free) has nothing to pay: it is
	-- paid from the start (issued, then paid, as the statuses run).
	IF nothing_due IS NOT NULL THEN
		UPDATE ar.invoice i SET status = 'paid' WHERE i.id = ANY (nothing_due) AND i.kind = 'invoice';
	END IF;
END
$$;
COMMENT ON FUNCTION ar._issue(bigint[]) IS 'internal: the body of ar.issue(bigint[]) (src/guard.c)';
CREATE FUNCTION ar.issue(invoice_ids bigint[])
	RETURNS TABLE (invoice_id bigint, number text)
	AS 'MODULE_PATHNAME', 'ar_guarded' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ar.issue(bigint[]) IS
	'issues drafts in one statement: totals, gapless numbers in id order, dates, payment references, outbox; all or nothing';

CREATE FUNCTION ar.issue(invoice_id bigint) RETURNS text
	LANGUAGE sql
	SET search_path = pg_catalog, ar, pg_temp
AS $$
	SELECT r.number FROM ar.issue(ARRAY[invoice_id]) r
$$;
COMMENT ON FUNCTION ar.issue(bigint) IS 'issues one draft and returns its number';

CREATE FUNCTION ar.verify_series(series_id integer)
	RETURNS TABLE (problem text, detail text)
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, ar, pg_temp
AS $$
	WITH docs AS (
		SELECT i.seq_period, i.seq_no, i.number, i.issue_date
		  FROM ar.invoice i WHERE i.series_id = verify_series.series_id AND i.seq_no IS NOT NULL
	), per AS (
		SELECT d.seq_period, count(*) AS n, count(DISTINCT d.seq_no) AS distinct_n, max(d.seq_no) AS top
		  FROM docs d GROUP BY d.seq_period
	), counter AS (
		SELECT sc.period, sc.last_value FROM ar.series_counter sc
		 WHERE sc.series_id = verify_series.series_id
	)
	SELECT 'unknown series', format('series %s does not exist', coalesce(verify_series.series_id::text, 'NULL'))
	 WHERE NOT EXISTS (SELECT 1 FROM ar.series s WHERE s.id = verify_series.series_id)
	UNION ALL
	SELECT 'gap', format('period %s: number %s is missing', p.seq_period, g)
	  FROM per p, generate_series(1, p.top) g
	 WHERE NOT EXISTS (SELECT 1 FROM docs d WHERE d.seq_period = p.seq_period AND d.seq_no = g)
	UNION ALL
	SELECT 'duplicate', format('period %s: number %s appears %s times', d.seq_period, d.seq_no, count(*))
	  FROM docs d GROUP BY d.seq_period, d.seq_no HAVING count(*) > 1
	UNION ALL
	SELECT 'duplicate', format('number %s appears %s times', d.number, count(*))
	  FROM docs d GROUP BY d.number HAVING count(*) > 1
	UNION ALL
	SELECT 'date order', format('%s dated %s follows %s dated %s', x.number, x.issue_date, x.prev_number, x.prev_date)
	  FROM (SELECT d.number, d.issue_date,
				   lag(d.number) OVER w AS prev_number, lag(d.issue_date) OVER w AS prev_date
			  FROM docs d WINDOW w AS (PARTITION BY d.seq_period ORDER BY d.seq_no)) x
	 WHERE x.issue_date < x.prev_date
	UNION ALL
	SELECT 'counter', format('period %s: counter is at %s but the highest number is %s',
							 c.period, c.last_value, coalesce(p.top, 0))
	  FROM counter c LEFT JOIN per p ON p.seq_period = c.period
	 WHERE c.last_value <> coalesce(p.top, 0)
$$;
COMMENT ON FUNCTION ar.verify_series(integer) IS
	'gaps, duplicates, dates out of number order and counter drift of a series; no rows means sound';

/* ------------------------------------------------------------------------
 * 6. Payments and allocations
 * ------------------------------------------------------------------------ */

-- One row per bank transaction.  Only kind 'credit' is an incoming payment
-- that can be matched; debits, reversals and returns are kept for the record.
CREATE TABLE ar.payment (
	id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
	entity_id integer NOT NULL REFERENCES ar.entity (id),
	bank_ref text COLLATE "C" NOT NULL CHECK (bank_ref <> ''),
	booking_date date NOT NULL,
	value_date date,
	amount ar.amount NOT NULL,
	reference text,
	remittance text,
	payer_name text,
	payer_account text,
	source text NOT NULL DEFAULT 'manual' CHECK (source IN ('camt053', 'camt054', 'bgmax', 'manual')),
	kind text NOT NULL DEFAULT 'credit' CHECK (kind IN ('credit', 'debit', 'reversal', 'return')),
	status text NOT NULL DEFAULT 'unmatched'
		CHECK (status IN ('unmatched', 'matched', 'partial', 'suggested', 'reversed', 'set_aside')),
	unallocated ar.amount,
	set_aside_reason text,
	import_file text,
	created_at timestamptz NOT NULL DEFAULT now(),
	UNIQUE (entity_id, bank_ref),
	UNIQUE (entity_id, id),
	CONSTRAINT payment_amount_check CHECK (ar.minor_units(amount) > 0),
	CONSTRAINT payment_unallocated_check CHECK (ar.currency_of(unallocated) = ar.currency_of(amount)
		AND ar.minor_units(unallocated) BETWEEN 0 AND ar.minor_units(amount)),
	CONSTRAINT payment_non_credit_check CHECK (kind = 'credit' OR ar.minor_units(unallocated) = 0),
	CONSTRAINT payment_set_aside_check CHECK ((status = 'set_aside') = (set_aside_reason IS NOT NULL))
);
CREATE INDEX payment_open ON ar.payment (entity_id) WHERE status IN ('unmatched', 'suggested', 'partial');
COMMENT ON TABLE ar.payment IS
	'bank transactions; kind credit is an incoming payment, unallocated is what is not yet applied to invoices';

CREATE FUNCTION ar.payment_before() RETURNS trigger
	LANGUAGE plpgsql SET search_path = pg_catalog, ar, pg_temp
AS $$
BEGIN
	IF ar.restoring() THEN
		RETURN NEW;
	END IF;
	IF TG_OP = 'INSERT' THEN
		IF NEW.reversed_by IS NOT NULL THEN
			RAISE EXCEPTION 'a new payment cannot have reversed_by (%)', NEW.reversed_by
				USING ERRCODE = 'object_not_in_prerequisite_state',
					  HINT = 'ar.reverse_payment(payment_id, reversal_id) links a credit to the entry that took it back.';
		END IF;
		NEW.unallocated := CASE WHEN NEW.kind = 'credit' THEN NEW.amount
							ELSE ar.amount(0, ar.currency_of(NEW.amount)) END;
		NEW.status := 'unmatched';
		RETURN NEW;
	END IF;
	IF TG_OP = 'DELETE' THEN
		RAISE EXCEPTION 'cannot delete payment % (bank_ref %)', OLD.id, OLD.bank_ref
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  HINT = 'Payments are bank records; undo their allocations with ar.unallocate().';
	END IF;
	-- UPDATE: the WHEN clauses of payment_immutable and payment_bank_fields
	-- call this only for an update that changes a bank field
	RAISE EXCEPTION 'payment % (bank_ref %) cannot be changed', OLD.id, OLD.bank_ref
		USING ERRCODE = 'object_not_in_prerequisite_state',
			  DETAIL = 'Only status and unallocated follow allocations.';
END
$$;
CREATE TRIGGER payment_before BEFORE INSERT OR DELETE ON ar.payment
	FOR EACH ROW EXECUTE FUNCTION ar.payment_before();
-- An update calls the function only when it touches a bank field, and the
-- function then refuses it: the WHEN clause is the check.  The bookkeeping
-- updates of status and unallocated, a million at a time from the matcher,
-- pay no function call.
CREATE TRIGGER payment_immutable BEFORE UPDATE ON ar.payment
	FOR EACH ROW WHEN (
		(NEW.entity_id, NEW.bank_ref, NEW.booking_date, NEW.value_date, NEW.amount::text,
		 NEW.reference, NEW.remittance, NEW.payer_name, NEW.payer_account, NEW.source, NEW.kind,
		 NEW.created_at)
		IS DISTINCT FROM
		(OLD.entity_id, OLD.bank_ref, OLD.booking_date, OLD.value_date, OLD.amount::text,
		 OLD.reference, OLD.remittance, OLD.payer_name, OLD.payer_account, OLD.source, OLD.kind,
		 OLD.created_at))
	EXECUTE FUNCTION ar.payment_before();

CREATE TABLE ar.match_suggestion (
	id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
	payment_id bigint NOT NULL REFERENCES ar.payment (id),
	invoice_id bigint NOT NULL REFERENCES ar.invoice (id),
	score numeric NOT NULL CHECK (score > 0 AND score <= 1),
	rule text NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now(),
	UNIQUE (payment_id, invoice_id)
);
CREATE INDEX match_suggestion_invoice ON ar.match_suggestion (invoice_id);
COMMENT ON TABLE ar.match_suggestion IS
	'possible matches the matcher would not apply on its own; a person confirms one with ar.allocate()';

CREATE TABLE ar.allocation (
	id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
	payment_id bigint REFERENCES ar.payment (id),
	credit_note_id bigint REFERENCES ar.invoice (id),
	-- a write-off by ar.match_payments: the payment whose shortfall it is;
	-- undoing that payment's allocation to the invoice undoes it too
	written_off_for bigint REFERENCES ar.payment (id),
	invoice_id bigint NOT NULL REFERENCES ar.invoice (id),
	amount ar.amount NOT NULL,
	rule text NOT NULL,
	confidence numeric NOT NULL DEFAULT 1 CHECK (confidence > 0 AND confidence <= 1),
	created_at timestamptz NOT NULL DEFAULT now(),
	reversed_at timestamptz,
	-- from a payment, from a credit note, or a write-off of a tiny remainder
	CONSTRAINT allocation_source_check CHECK (num_nonnulls(payment_id, credit_note_id) =
		CASE WHEN rule = 'write_off' THEN 0 ELSE 1 END),
	CONSTRAINT allocation_written_off_check CHECK (written_off_for IS NULL OR rule = 'write_off'),
	CONSTRAINT allocation_amount_check CHECK (ar.minor_units(amount) > 0)
);
CREATE INDEX allocation_invoice ON ar.allocation (invoice_id);
CREATE INDEX allocation_payment ON ar.allocation (payment_id) WHERE payment_id IS NOT NULL;
-- undone allocations, few: ar.allocation_span looks for them per payment
-- and credit note
CREATE INDEX allocation_undone_payment ON ar.allocation (payment_id) WHERE reversed_at IS NOT NULL;
CREATE INDEX allocation_undone_credit ON ar.allocation (credit_note_id) WHERE reversed_at IS NOT NULL;
COMMENT ON TABLE ar.allocation IS
	'money applied to invoices: from payments (payment_id) or credit notes (credit_note_id); reversed_at marks an undone allocation';

/* ------------------------------------------------------------------------
 * Internal writes (src/guard.c)
 * ------------------------------------------------------------------------ */
-- The bookkeeping only ar's functions write.  A statement from anywhere else
-- is refused before it touches a row (42501); a restore loads rows as dumped.
-- TRUNCATE of a table that holds money is refused always.
CREATE TRIGGER allocation_internal BEFORE INSERT OR UPDATE OR DELETE ON ar.allocation
	FOR EACH STATEMENT WHEN (NOT ar.internal() AND NOT ar.restoring())
	EXECUTE FUNCTION ar.refuse_direct_write('allocations are written only by ar''s functions',
		'Use ar.allocate(), ar.unallocate(), ar.credit() or ar.match_payments().');
CREATE TRIGGER invoice_tax_internal BEFORE INSERT OR UPDATE OR DELETE ON ar.invoice_tax
	FOR EACH STATEMENT WHEN (NOT ar.internal() AND NOT ar.restoring())
	EXECUTE FUNCTION ar.refuse_direct_write('the VAT breakdown is written only by ar''s functions',
		'ar.issue() computes it from the lines; correct an issued document with ar.credit().');
CREATE TRIGGER series_counter_internal BEFORE INSERT OR UPDATE OR DELETE ON ar.series_counter
	FOR EACH STATEMENT WHEN (NOT ar.internal() AND NOT ar.restoring())
	EXECUTE FUNCTION ar.refuse_direct_write('the counters are written only by ar''s functions',
		'ar.issue() gives out the numbers; ar.verify_series() checks them.');
CREATE TRIGGER match_suggestion_internal BEFORE INSERT OR UPDATE ON ar.match_suggestion
	FOR EACH STATEMENT WHEN (NOT ar.internal() AND NOT ar.restoring())
	EXECUTE FUNCTION ar.refuse_direct_write('suggestions are written only by ar''s functions',
		'ar.match_payments() writes them; confirm one with ar.allocate(), or delete it to dismiss it.');
CREATE TRIGGER payment_bookkeeping BEFORE UPDATE ON ar.payment
	FOR EACH ROW WHEN ((NEW.status, NEW.unallocated::text, NEW.set_aside_reason)
					   IS DISTINCT FROM (OLD.status, OLD.unallocated::text, OLD.set_aside_reason)
					   AND NOT ar.internal() AND NOT ar.restoring())
	EXECUTE FUNCTION ar.refuse_direct_write('status and unallocated amount are written only by ar''s functions',
		'They follow the allocations: use ar.allocate(), ar.unallocate() or ar.match_payments(); ar.set_aside() and ar.put_back() take a payment out of matching and back.');
DO $$
DECLARE
	t text;
BEGIN
	FOREACH t IN ARRAY ARRAY['invoice', 'invoice_line', 'invoice_tax', 'payment', 'allocation',
							 'series_counter'] LOOP
		EXECUTE format('CREATE TRIGGER %I BEFORE TRUNCATE ON ar.%I FOR EACH STATEMENT '
					   'EXECUTE FUNCTION ar.refuse_direct_write(%L, %L)', t || '_no_truncate', t,
					   'the table holds money and is never emptied at once',
					   'Delete drafts one by one; issued documents and payments are kept.');
	END LOOP;
END
$$;

/* ------------------------------------------------------------------------
 * Credit notes
 * ------------------------------------------------------------------------ */

-- The gross of a net (minor units) at a VAT rate, with the VAT rounded as
-- ar.issue rounds it: half away from zero to 2 decimals (to the minor unit
-- for currencies with fewer).
CREATE FUNCTION ar.gross_units(net numeric, vat_rate numeric, minor_unit integer) RETURNS numeric
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
RETURN net + round(net * 10::numeric ^ (-minor_unit) * vat_rate * 0.01, least(2, minor_unit))
			 * 10::numeric ^ minor_unit;
COMMENT ON FUNCTION ar.gross_units(numeric, numeric, integer) IS
	'net plus its VAT, in minor units, the VAT rounded as ar.issue rounds it';

CREATE FUNCTION ar._credit(invoice_id bigint, reason text, amount ar.amount, issue_date date) RETURNS bigint
	LANGUAGE plpgsql
	SET search_path = pg_catalog, ar, pg_temp
AS $$
DECLARE
	inv ar.invoice;
	amt ar.amount;
	cn_id bigint;
	cn_total ar.amount;
	settled ar.amount;
	mu integer;
	step numeric;
	over numeric;
BEGIN
	IF _credit.invoice_id IS NULL THEN
		RAISE EXCEPTION 'cannot credit a NULL invoice id' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	-- ar.allocation before the invoice, as ar.allocate
	LOCK TABLE ar.allocation IN ROW EXCLUSIVE MODE;
	SELECT * INTO inv FROM ar.invoice i WHERE i.id = _credit.invoice_id FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'invoice % does not exist', _credit.invoice_id USING ERRCODE = 'no_data_found';
	END IF;
	IF inv.kind <> 'invoice' THEN
		RAISE EXCEPTION 'cannot credit credit note %', inv.number
			USING ERRCODE = 'object_not_in_prerequisite_state';
	END IF;
	IF inv.status = 'draft' THEN
		RAISE EXCEPTION 'cannot credit draft invoice %', inv.id
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  HINT = 'A draft has no number yet: change or delete it instead.';
	END IF;
	IF inv.status NOT IN ('issued', 'partially_paid') THEN
		RAISE EXCEPTION 'cannot credit invoice % with status %', inv.number, inv.status
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  DETAIL = CASE WHEN inv.status = 'paid' AND ar.minor_units(inv.total) = 0
							THEN format('Invoice %s totals %s: it asks for nothing, so there is nothing to credit.',
										inv.number, inv.total)
							WHEN inv.status = 'paid'
							THEN 'A paid invoice cannot become credited; reverse its payments with ar.unallocate() first.'
							ELSE 'Only an issued or partially paid invoice can be credited.' END;
	END IF;
	IF ar.minor_units(inv.open_amount) <= 0 THEN
		RAISE EXCEPTION 'invoice % has nothing open to credit (open amount %)', inv.number, inv.open_amount
			USING ERRCODE = 'object_not_in_prerequisite_state';
	END IF;
	amt := coalesce(_credit.amount, inv.open_amount);
	IF ar.currency_of(amt) <> inv.currency THEN
		RAISE EXCEPTION 'credit amount % is not in the currency % of invoice %', amt, inv.currency, inv.number
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF ar.minor_units(amt) <= 0 THEN
		RAISE EXCEPTION 'credit amount must be positive, got %', amt
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF amt OPERATOR(ar.>) inv.open_amount THEN
		RAISE EXCEPTION 'credit amount % exceeds the open amount % of invoice %', amt, inv.open_amount, inv.number
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'What the customer paid is not credited; reverse payments with ar.unallocate() first.';
	END IF;

	-- the date (given, or the entity's today): a real day, not before the
	-- sale it corrects (its VAT period) and, as every issue date, at most a
	-- year ahead
	IF NOT isfinite(_credit.issue_date) THEN
		RAISE EXCEPTION 'credit note date % for invoice % is not a day', _credit.issue_date, inv.number
			USING ERRCODE = 'datetime_field_overflow';
	END IF;
	IF _credit.issue_date < inv.issue_date THEN
		RAISE EXCEPTION 'credit note date % is before %, the date of invoice %',
			_credit.issue_date, inv.issue_date, inv.number
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = 'A credit note corrects a sale: it cannot precede it.';
	ELSIF _credit.issue_date IS NULL AND ar.today(inv.entity_id) < inv.issue_date THEN
		RAISE EXCEPTION 'credit note date % (today) is before %, the date of invoice %',
			ar.today(inv.entity_id), inv.issue_date, inv.number
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = 'A credit note corrects a sale: it cannot precede it.',
				  HINT = format('Give ar.credit() an issue_date on or after %s; the credit-note series then numbers nothing dated earlier.',
								inv.issue_date);
	END IF;
	IF _credit.issue_date > ar.today(inv.entity_id) + 366 THEN
		RAISE EXCEPTION 'credit note date % for invoice % is more than a year ahead', _credit.issue_date,
			inv.number
			USING ERRCODE = 'datetime_field_overflow',
				  HINT = 'Numbers follow the order of the dates: a date far ahead would hold up the series until then.';
	END IF;
	IF NOT EXISTS (SELECT 1 FROM ar.series s
					WHERE s.entity_id = inv.entity_id AND s.kind = 'credit_note' AND s.is_default) THEN
		RAISE EXCEPTION 'cannot credit invoice %: entity % has no default credit note series', inv.number,
			inv.entity_id
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  HINT = 'Create one: INSERT INTO ar.series (entity_id, code, kind, pattern, is_default) '
						 'VALUES (..., ''credit_note'', ..., true).';
	END IF;
	INSERT INTO ar.invoice (entity_id, customer_id, kind, credited_invoice_id, currency, issue_date,
							buyer_reference, order_reference, note)
	VALUES (inv.entity_id, inv.customer_id, 'credit_note', inv.id, inv.currency,
			coalesce(_credit.issue_date, ar.today(inv.entity_id)), inv.buyer_reference, inv.order_reference,
			coalesce(reason, CASE WHEN amt OPERATOR(ar.=) inv.total THEN 'Credit of invoice ' || inv.number
								  ELSE 'Credit of ' || amt::text || ' of invoice ' || inv.number END))
	RETURNING id INTO cn_id;
	IF amt OPERATOR(ar.=) inv.total THEN
		-- the whole invoice: its lines again
		INSERT INTO ar.invoice_line (invoice_id, line_no, item_name, description, quantity, unit_code,
									 unit_price, vat_category, vat_rate, vat_exemption_code,
									 vat_exemption_reason)
		SELECT cn_id, l.line_no, l.item_name, l.description, l.quantity, l.unit_code, l.unit_price,
			   l.vat_category, l.vat_rate, l.vat_exemption_code, l.vat_exemption_reason
		  FROM ar.invoice_line l WHERE l.invoice_id = inv.id;
	ELSE
		-- a part: one line per VAT category and rate of the invoice, each the
		-- category's share of the amount in proportion to its gross (floors,
		-- then the left-over minor units by largest remainder), its net the
		-- smallest whose gross (net plus the VAT ar.issue computes on it)
		-- reaches the share
		SELECT cur.minor_unit INTO mu FROM ar.currency cur WHERE cur.code = inv.currency;
		-- nets in steps of 0.01 for a Peppol customer in a 3- or 4-decimal
		-- currency: an e-invoice carries amounts whole to 2 decimals (BR-DEC)
		SELECT CASE WHEN mu > 2 AND c.channel = 'peppol' THEN 10::numeric ^ (mu - 2) ELSE 1 END
		  INTO step FROM ar.customer c WHERE c.id = inv.customer_id;
		INSERT INTO ar.invoice_line (invoice_id, line_no, item_name, quantity, unit_price,
									 vat_category, vat_rate, vat_exemption_code, vat_exemption_reason)
		SELECT cn_id, row_number() OVER (ORDER BY p.vat_category, p.vat_rate),
			   format('Credit of invoice %s (VAT %s %s %%)', inv.number, p.vat_category, p.vat_rate),
			   sign(net.units), round(abs(net.units) / 10::numeric ^ mu, mu),
			   p.vat_category, p.vat_rate, p.exemption_code, p.exemption_reason
		  FROM (SELECT s.*, s.floor_units + CASE WHEN s.rank <= s.left_over THEN 1 ELSE 0 END AS share
				  FROM (SELECT t.*, g.*,
							   ar.minor_units(amt) - sum(g.floor_units) OVER () AS left_over,
							   row_number() OVER (ORDER BY g.rest DESC, t.vat_category, t.vat_rate) AS rank
						  FROM ar.invoice_tax t
						 CROSS JOIN LATERAL (
							SELECT x.f AS floor_units, x.scaled - x.f * ar.minor_units(inv.total) AS rest
							  FROM (SELECT y.scaled, floor(y.scaled / ar.minor_units(inv.total)) AS f
									  FROM (SELECT ar.minor_units(amt)::numeric
												   * (ar.minor_units(t.taxable_amount) + ar.minor_units(t.tax_amount))
												   AS scaled) y) x) g
						 WHERE t.invoice_id = inv.id) s) p
		 CROSS JOIN LATERAL (
			-- VAT is rounded to 2 decimals, so it moves the gross in steps of
			-- up to 10^(mu-2) minor units (100 in a 4-decimal currency): 30
			-- such steps either side always hold the answer
			SELECT c.units
			  FROM (SELECT (round(p.share / (1 + p.vat_rate / 100) / step) + d) * step AS units
					  FROM generate_series(-30 * greatest(1, 10 ^ (mu - 2) / step)::integer,
										   30 * greatest(1, 10 ^ (mu - 2) / step)::integer) d) c
			 WHERE ar.gross_units(c.units, p.vat_rate, mu) >= p.share
			 ORDER BY c.units LIMIT 1) net
		 WHERE net.units <> 0;
		-- what VAT rounding put above the amount, a line without VAT gives back
		SELECT sum(ar.gross_units(ar.minor_units(l.net_amount), l.vat_rate, mu)) - ar.minor_units(amt)
		  INTO over FROM ar.invoice_line l WHERE l.invoice_id = cn_id;
		IF over IS NULL OR over < 0 THEN
			RAISE EXCEPTION 'could not split % of invoice % over its VAT categories', amt, inv.number
				USING ERRCODE = 'internal_error';
		END IF;
		IF over > 0 THEN
			-- a line of rate 0 takes it off: a positive one at least as large
			-- by a lower price (one it takes to nothing goes), a negative
			-- (discount) one by a higher price
			UPDATE ar.invoice_line l
			   SET unit_price = round(l.unit_price - sign(l.quantity) * over / 10::numeric ^ mu, mu)
			 WHERE l.invoice_id = cn_id
			   AND l.line_no = (SELECT x.line_no FROM ar.invoice_line x
								 WHERE x.invoice_id = cn_id AND x.vat_rate = 0
								   AND (x.quantity < 0 OR ar.minor_units(x.net_amount) >= over)
								 ORDER BY x.quantity > 0 DESC, abs(ar.minor_units(x.net_amount)::numeric) DESC,
										  x.line_no LIMIT 1);
			-- (the lines made above are never 0)
			DELETE FROM ar.invoice_line l WHERE l.invoice_id = cn_id AND l.unit_price = 0;
		END IF;
	END IF;
	PERFORM ar.issue(cn_id);

	-- The credit note settles what it credits; a rounding cent over stays
	-- open on the credit note, owed back to the customer.
	SELECT i.total INTO cn_total FROM ar.invoice i WHERE i.id = cn_id;
	settled := CASE WHEN cn_total OPERATOR(ar.<) amt THEN cn_total ELSE amt END;
	INSERT INTO ar.allocation (credit_note_id, invoice_id, amount, rule)
	VALUES (cn_id, inv.id, settled, 'credit_note');
	UPDATE ar.invoice i
	   SET open_amount = inv.open_amount OPERATOR(ar.-) settled,
		   status = CASE WHEN inv.open_amount OPERATOR(ar.=) settled THEN 'credited'
						 ELSE 'partially_paid' END::ar.invoice_status
	 WHERE i.id = inv.id;
	PERFORM ar.drop_settled_suggestions(NULL, inv.id);
	UPDATE ar.invoice i
	   SET open_amount = cn_total OPERATOR(ar.-) settled,
		   status = CASE WHEN cn_total OPERATOR(ar.=) settled THEN 'paid'
						 ELSE 'partially_paid' END::ar.invoice_status
	 WHERE i.id = cn_id;
	RETURN cn_id;
END
$$;
COMMENT ON FUNCTION ar._credit(bigint, text, ar.amount, date) IS 'internal: the body of ar.credit (src/guard.c)';
CREATE FUNCTION ar.credit(invoice_id bigint, reason text DEFAULT NULL, amount ar.amount DEFAULT NULL,
						  issue_date date DEFAULT NULL)
	RETURNS bigint
	AS 'MODULE_PATHNAME', 'ar_guarded' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ar.credit(bigint, text, ar.amount, date) IS
	'issues a credit note (dated issue_date, by default the entity''s today) from the entity''s credit-note series for the open amount of an issued or partially paid invoice (or a smaller amount), allocated against it: the invoice''s lines when it credits the whole invoice, else one line per VAT category and rate';

/* ------------------------------------------------------------------------
 * Allocating payments by hand
 * ------------------------------------------------------------------------ */

-- An incoming payment locked for a change of its allocations or status
-- (its callers lock ar.allocation first, see ar._allocate): refused when it
-- does not exist, is no credit, or was taken back by the bank.
CREATE FUNCTION ar._lock_credit(payment_id bigint) RETURNS ar.payment
	LANGUAGE plpgsql
	SET search_path = pg_catalog, ar, pg_temp
AS $$
DECLARE
	pay ar.payment;
BEGIN
	SELECT * INTO pay FROM ar.payment p WHERE p.id = _lock_credit.payment_id FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'payment % does not exist', _lock_credit.payment_id USING ERRCODE = 'no_data_found';
	END IF;
	IF pay.kind <> 'credit' THEN
		RAISE EXCEPTION 'payment % is a % entry, not an incoming payment', pay.id, pay.kind
			USING ERRCODE = 'object_not_in_prerequisite_state';
	END IF;
	IF pay.status = 'reversed' THEN
		RAISE EXCEPTION 'payment % was taken back by the bank (bank entry %)', pay.id, pay.reversed_by
			USING ERRCODE = 'object_not_in_prerequisite_state';
	END IF;
	RETURN pay;
END
$$;
COMMENT ON FUNCTION ar._lock_credit(bigint) IS
	'internal: locks an incoming payment that money may move to or from (ar.allocate, ar.set_aside, ar.put_back)';

CREATE FUNCTION ar._allocate(payment_id bigint, invoice_id bigint, amount ar.amount)
	RETURNS bigint
	LANGUAGE plpgsql
	SET search_path = pg_catalog, ar, pg_temp
AS $$
DECLARE
	pay ar.payment;
	inv ar.invoice;
	amt ar.amount;
	alloc_id bigint;
BEGIN
	IF _allocate.payment_id IS NULL OR _allocate.invoice_id IS NULL THEN
		RAISE EXCEPTION 'cannot allocate % to %', coalesce('payment ' || _allocate.payment_id, 'a NULL payment'),
			coalesce('invoice ' || _allocate.invoice_id, 'a NULL invoice')
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	-- ar.allocation first, then the payment, then the invoice: the order of
	-- ar.match_payments, which waits here for us or makes us wait
	LOCK TABLE ar.allocation IN ROW EXCLUSIVE MODE;
	pay := ar._lock_credit(_allocate.payment_id);
	SELECT * INTO inv FROM ar.invoice i WHERE i.id = _allocate.invoice_id FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'invoice % does not exist', _allocate.invoice_id USING ERRCODE = 'no_data_found';
	END IF;
	IF pay.status = 'set_aside' THEN
		RAISE EXCEPTION 'payment % is set aside: %', pay.id, pay.set_aside_reason
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  HINT = 'ar.put_back(payment_id) returns it to matching first.';
	END IF;
	IF pay.entity_id <> inv.entity_id THEN
		RAISE EXCEPTION 'payment % belongs to entity %, invoice % to entity %',
			pay.id, pay.entity_id, coalesce(inv.number, inv.id::text), inv.entity_id
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF inv.kind <> 'invoice' OR inv.status NOT IN ('issued', 'partially_paid') THEN
		RAISE EXCEPTION 'invoice % is not open (kind %, status %)',
			coalesce(inv.number, inv.id::text), inv.kind, inv.status
			USING ERRCODE = 'object_not_in_prerequisite_state';
	END IF;
	IF ar.currency_of(pay.amount) <> inv.currency THEN
		RAISE EXCEPTION 'payment % is in %, invoice % in %', pay.id, ar.currency_of(pay.amount),
			inv.number, inv.currency
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	amt := coalesce(_allocate.amount, least(pay.unallocated, inv.open_amount));
	IF ar.currency_of(amt) <> inv.currency THEN
		RAISE EXCEPTION 'allocation amount % is not in the invoice currency %', amt, inv.currency
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF ar.minor_units(amt) <= 0 THEN
		RAISE EXCEPTION 'allocation amount must be positive, got % (payment % has % unallocated)',
			amt, pay.id, pay.unallocated
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF amt > pay.unallocated THEN
		RAISE EXCEPTION 'allocation amount % exceeds the % left on payment %', amt, pay.unallocated, pay.id
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF amt > inv.open_amount THEN
		RAISE EXCEPTION 'allocation amount % exceeds the open amount % of invoice %',
			amt, inv.open_amount, inv.number
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'An overpayment stays unallocated on the payment.';
	END IF;

	INSERT INTO ar.allocation (payment_id, invoice_id, amount, rule, confidence)
	VALUES (pay.id, inv.id, amt, 'manual', 1)
	RETURNING id INTO alloc_id;
	PERFORM ar.apply_allocation(pay.id, inv.id, amt);
	RETURN alloc_id;
END
$$;
COMMENT ON FUNCTION ar._allocate(bigint, bigint, ar.amount) IS 'internal: the body of ar.allocate (src/guard.c)';
CREATE FUNCTION ar.allocate(payment_id bigint, invoice_id bigint, amount ar.amount DEFAULT NULL)
	RETURNS bigint
	AS 'MODULE_PATHNAME', 'ar_guarded' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ar.allocate(bigint, bigint, ar.amount) IS
	'applies (part of) a payment to an open invoice of the same entity and currency; default amount: as much as both allow';

-- Moves amt from a payment's unallocated to an invoice's open amount (amt
-- may be negative to undo); statuses follow.  Both rows must be locked.  A
-- NULL payment_id (a write-off) moves the invoice side only.
-- The suggestions of a payment or invoice that is settled go; another
-- payment left without suggestions is unmatched again (one that another
-- transaction holds is left to it).  After an allocation, and after a
-- credit note settles an invoice.
CREATE FUNCTION ar.drop_settled_suggestions(payment_id bigint, invoice_id bigint)
	RETURNS void
	LANGUAGE sql
	SET search_path = pg_catalog, ar, pg_temp
BEGIN ATOMIC
	WITH gone AS (
		DELETE FROM ar.match_suggestion s
		 WHERE s.payment_id = drop_settled_suggestions.payment_id AND
			   (SELECT ar.minor_units(p.unallocated) FROM ar.payment p
				 WHERE p.id = drop_settled_suggestions.payment_id) = 0
			OR s.invoice_id = drop_settled_suggestions.invoice_id AND
			   (SELECT ar.minor_units(i.open_amount) FROM ar.invoice i
				 WHERE i.id = drop_settled_suggestions.invoice_id) = 0
		RETURNING s.payment_id
	), orphan AS (
		SELECT p.id FROM ar.payment p
		 WHERE p.id IN (SELECT g.payment_id FROM gone g)
		   AND p.id IS DISTINCT FROM drop_settled_suggestions.payment_id
		   AND p.status = 'suggested'
		   AND NOT EXISTS (SELECT 1 FROM ar.match_suggestion s
							WHERE s.payment_id = p.id AND s.invoice_id <> drop_settled_suggestions.invoice_id)
		   FOR UPDATE SKIP LOCKED
	)
	UPDATE ar.payment p SET status = 'unmatched' FROM orphan o WHERE p.id = o.id;
END;
COMMENT ON FUNCTION ar.drop_settled_suggestions(bigint, bigint) IS
	'internal: removes the suggestions of a settled payment or invoice; payments left without any are unmatched again';

CREATE FUNCTION ar.apply_allocation(payment_id bigint, invoice_id bigint, amt ar.amount)
	RETURNS void
	LANGUAGE sql
	SET search_path = pg_catalog, ar, pg_temp
BEGIN ATOMIC
	UPDATE ar.invoice i
	   SET open_amount = i.open_amount - amt,
		   status = CASE WHEN ar.minor_units(i.open_amount - amt) = 0 THEN 'paid'
						 WHEN i.open_amount - amt = i.total THEN 'issued'
						 ELSE 'partially_paid' END::ar.invoice_status
	 WHERE i.id = apply_allocation.invoice_id;
	UPDATE ar.payment p
	   SET unallocated = p.unallocated - amt,
		   -- (money an undone allocation gives back to a payment set aside
		   -- stays aside with the rest)
		   status = CASE WHEN p.status = 'set_aside' THEN 'set_aside'
						 WHEN ar.minor_units(p.unallocated - amt) = 0 THEN 'matched'
						 WHEN p.unallocated - amt <> p.amount THEN 'partial'
						 -- all of it unallocated again: back to its suggestions, if any
						 WHEN EXISTS (SELECT 1 FROM ar.match_suggestion s WHERE s.payment_id = p.id)
						 THEN 'suggested'
						 ELSE 'unmatched' END
	 WHERE p.id = apply_allocation.payment_id;
	SELECT ar.drop_settled_suggestions(apply_allocation.payment_id, apply_allocation.invoice_id)
	 WHERE ar.minor_units(amt) > 0;
END;
COMMENT ON FUNCTION ar.apply_allocation(bigint, bigint, ar.amount) IS
	'internal: moves an amount between a locked payment and a locked invoice and sets both statuses';

CREATE FUNCTION ar._unallocate(allocation_id bigint) RETURNS void
	LANGUAGE plpgsql
	SET search_path = pg_catalog, ar, pg_temp
AS $$
DECLARE
	a ar.allocation;
	inv record;
	w record;
BEGIN
	IF _unallocate.allocation_id IS NULL THEN
		RAISE EXCEPTION 'cannot reverse a NULL allocation' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	LOCK TABLE ar.allocation IN ROW EXCLUSIVE MODE;		-- first, as ar.allocate
	SELECT * INTO a FROM ar.allocation x WHERE x.id = _unallocate.allocation_id;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'allocation % does not exist', _unallocate.allocation_id USING ERRCODE = 'no_data_found';
	END IF;
	IF a.credit_note_id IS NOT NULL THEN
		RAISE EXCEPTION 'allocation % applies credit note % and cannot be undone', a.id, a.credit_note_id
			USING ERRCODE = 'object_not_in_prerequisite_state';
	END IF;
	-- same lock order as ar.allocate: ar.allocation, payment, invoice, then
	-- the allocation row
	PERFORM 1 FROM ar.payment p WHERE p.id = a.payment_id FOR UPDATE;
	PERFORM 1 FROM ar.invoice i WHERE i.id = a.invoice_id FOR UPDATE;
	SELECT * INTO a FROM ar.allocation x WHERE x.id = _unallocate.allocation_id FOR UPDATE;
	IF a.reversed_at IS NOT NULL THEN
		RAISE EXCEPTION 'allocation % was already reversed', a.id
			USING ERRCODE = 'object_not_in_prerequisite_state';
	END IF;
	SELECT i.number, i.status INTO inv FROM ar.invoice i WHERE i.id = a.invoice_id;
	IF inv.status IN ('credited', 'written_off') THEN
		RAISE EXCEPTION 'allocation % cannot be reversed: invoice % is %', a.id, inv.number, inv.status
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  DETAIL = 'A credited or written-off invoice does not open again; what was paid on it stays paid.',
				  HINT = 'To give a payment back with a credit note, reverse the payment first (ar.unallocate), then credit the invoice (ar.credit).';
	END IF;
	UPDATE ar.allocation x SET reversed_at = now() WHERE x.id = a.id;
	-- a write-off has no payment: only the invoice takes the amount back
	PERFORM ar.apply_allocation(a.payment_id, a.invoice_id, -a.amount);
	-- the shortfall the matcher wrote off because of this payment is open
	-- again with it: without the payment nothing justifies the write-off
	IF a.payment_id IS NOT NULL THEN
		FOR w IN UPDATE ar.allocation x SET reversed_at = now()
				  WHERE x.invoice_id = a.invoice_id AND x.written_off_for = a.payment_id
					AND x.reversed_at IS NULL
				 RETURNING x.amount LOOP
			PERFORM ar.apply_allocation(NULL, a.invoice_id, -w.amount);
		END LOOP;
	END IF;
END
$$;
COMMENT ON FUNCTION ar._unallocate(bigint) IS 'internal: the body of ar.unallocate (src/guard.c)';
CREATE FUNCTION ar.unallocate(allocation_id bigint) RETURNS void
	AS 'MODULE_PATHNAME', 'ar_guarded' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ar.unallocate(bigint) IS
	'reverses an allocation: the invoice is open again and the payment has the amount unallocated';

-- Overdue is not a status: it follows from the due date and the open
-- amount.  security_invoker, so that row-level security applies to readers.
CREATE VIEW ar.overdue WITH (security_invoker = true) AS
SELECT i.id AS invoice_id, i.entity_id, i.customer_id, i.number, i.currency, i.issue_date,
	   i.due_date, i.total, i.open_amount, t.today - i.due_date AS days_overdue
  FROM ar.invoice i
  JOIN ar.entity e ON e.id = i.entity_id
 CROSS JOIN LATERAL (SELECT ar.zone_today(e.time_zone) AS today) t
 WHERE i.kind = 'invoice' AND i.status IN ('issued', 'partially_paid')
   AND i.due_date < t.today AND ar.minor_units(i.open_amount) > 0;
COMMENT ON VIEW ar.overdue IS
	'open invoices past their due date, with the days overdue as of today in the entity''s time zone';

/* ------------------------------------------------------------------------
 * The ERP path: sales orders become invoices when delivered
 * ------------------------------------------------------------------------ */

CREATE TABLE ar.sales_order (
	id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
	entity_id integer NOT NULL REFERENCES ar.entity (id),
	customer_id bigint NOT NULL,
	order_no text NOT NULL CHECK (order_no <> ''),
	status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'delivered', 'cancelled')),
	currency text NOT NULL REFERENCES ar.currency (code)
		CHECK (ar.currency_usable(currency)),
	buyer_reference text,
	delivered_on date,
	invoice_id bigint REFERENCES ar.invoice (id),
	created_at timestamptz NOT NULL DEFAULT now(),
	UNIQUE (entity_id, order_no),
	FOREIGN KEY (entity_id, customer_id) REFERENCES ar.customer (entity_id, id)
);
COMMENT ON TABLE ar.sales_order IS
	'orders written by an ERP; status delivered creates the invoice in the same transaction and sets invoice_id';

CREATE TABLE ar.sales_order_line (
	order_id bigint NOT NULL REFERENCES ar.sales_order (id) ON DELETE CASCADE,
	line_no integer NOT NULL CHECK (line_no > 0),
	item_name text NOT NULL CHECK (item_name <> ''),
	description text,
	quantity numeric NOT NULL CHECK (quantity <> 0),
	unit_code text NOT NULL DEFAULT 'C62' CHECK (unit_code ~ '^[A-Z0-9]{2,3}$'),
	unit_price numeric NOT NULL CHECK (unit_price >= 0),
	-- the checks of ar.invoice_line, so that a bad line is refused when the
	-- ERP writes it, not when the order is delivered
	vat_category text NOT NULL DEFAULT 'S' CHECK (vat_category IN ('S', 'Z', 'E', 'AE', 'K', 'G', 'O')),
	vat_rate numeric NOT NULL DEFAULT 25 CHECK (vat_rate >= 0 AND vat_rate < 100),
	vat_exemption_code text,
	vat_exemption_reason text,
	PRIMARY KEY (order_id, line_no),
	CONSTRAINT sales_order_line_rate_check CHECK ((vat_category = 'S') = (vat_rate > 0))
);
COMMENT ON TABLE ar.sales_order_line IS 'order lines; copied to the invoice when the order is delivered';

-- Creates the invoice of a delivered order (a draft, or issued where the
-- customer has auto_issue) and links it; does nothing when already linked.
-- The invoices of delivered orders, many at once: the orders are locked
-- in id order, checked, their drafts made in one statement each for the
-- invoices, the lines and the orders, and those of auto_issue customers
-- issued by one ar.issue (numbers in order id order).  Orders already
-- invoiced are passed over.  An ERP that delivers 10,000 orders in one
-- UPDATE gets its invoices set-based (it was one order at a time: 2.5 ms
-- an order).
CREATE FUNCTION ar._invoice_orders(order_ids bigint[]) RETURNS void
	LANGUAGE plpgsql
	SET search_path = pg_catalog, ar, pg_temp
	-- planned once per session, as ar._issue is: custom plans planned its
	-- statements again on every call, a fifth of delivering one order.
	-- Every statement joins the arrays to the tables by key, with no
	-- condition on a table alone, so a plan made for a few orders stays
	-- linear for many.
	SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
	bad record;
	todo bigint[];
	orders bigint[];
	invoices bigint[];
BEGIN
	PERFORM 1 FROM ar.sales_order so WHERE so.id = ANY (order_ids) ORDER BY so.id FOR UPDATE;
	SELECT x AS id INTO bad FROM unnest(order_ids) x
	 WHERE NOT EXISTS (SELECT 1 FROM ar.sales_order so WHERE so.id = x) ORDER BY x LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION 'sales order % does not exist', bad.id USING ERRCODE = 'no_data_found';
	END IF;
	SELECT array_agg(so.id ORDER BY so.id) INTO todo
	  FROM ar.sales_order so WHERE so.id = ANY (order_ids) AND so.invoice_id IS NULL;
	IF todo IS NULL THEN
		RETURN;
	END IF;
	SELECT so.order_no, so.status INTO bad FROM ar.sales_order so
	 WHERE so.id = ANY (todo) AND so.status <> 'delivered' ORDER BY so.id LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION 'sales order % is %, not delivered', bad.order_no, bad.status
			USING ERRCODE = 'object_not_in_prerequisite_state';
	END IF;
	-- their lines as committed, not as an older transaction snapshot has
	-- them (a writer of order lines holds the order FOR SHARE, as for
	-- invoices)
	PERFORM ar._lines_current('sales_order', todo);
	SELECT so.order_no INTO bad FROM ar.sales_order so
	 WHERE so.id = ANY (todo) AND NOT EXISTS (SELECT 1 FROM ar.sales_order_line l WHERE l.order_id = so.id)
	 ORDER BY so.id LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION 'delivered sales order % has no lines', bad.order_no
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  HINT = 'Insert the order lines in the same transaction as the delivered order.';
	END IF;
	-- the drafts in order id order; an order is known by its number
	-- (unique per entity), which its invoice carries as order_reference
	WITH made AS (
		INSERT INTO ar.invoice (entity_id, customer_id, currency, buyer_reference, order_reference)
		SELECT so.entity_id, so.customer_id, so.currency, so.buyer_reference, so.order_no
		  FROM ar.sales_order so WHERE so.id = ANY (todo) ORDER BY so.id
		RETURNING id, entity_id, order_reference
	)
	SELECT array_agg(so.id ORDER BY so.id), array_agg(made.id ORDER BY so.id) INTO orders, invoices
	  FROM made JOIN ar.sales_order so ON so.entity_id = made.entity_id AND so.order_no = made.order_reference;
	INSERT INTO ar.invoice_line (invoice_id, line_no, item_name, description, quantity, unit_code,
								 unit_price, vat_category, vat_rate, vat_exemption_code,
								 vat_exemption_reason)
	SELECT m.invoice_id, l.line_no, l.item_name, l.description, l.quantity, l.unit_code, l.unit_price,
		   l.vat_category, l.vat_rate, l.vat_exemption_code, l.vat_exemption_reason
	  FROM unnest(orders, invoices) AS m (order_id, invoice_id)
	  JOIN ar.sales_order_line l ON l.order_id = m.order_id
	 ORDER BY m.invoice_id, l.line_no;
	UPDATE ar.sales_order so SET invoice_id = m.invoice_id
	  FROM unnest(orders, invoices) AS m (order_id, invoice_id)
	 WHERE so.id = m.order_id;
	PERFORM count(*) FROM ar.issue(ARRAY(
		SELECT m.invoice_id
		  FROM unnest(orders, invoices) AS m (order_id, invoice_id)
		  JOIN ar.sales_order so ON so.id = m.order_id
		 WHERE (SELECT c.auto_issue FROM ar.customer c WHERE c.id = so.customer_id)
		 ORDER BY m.invoice_id));
END
$$;
COMMENT ON FUNCTION ar._invoice_orders(bigint[]) IS
	'internal: the invoices of delivered orders, set-based (the body of ar.invoice_order and of the delivery trigger)';

CREATE FUNCTION ar.invoice_order(order_id bigint) RETURNS bigint
	LANGUAGE plpgsql
	SET search_path = pg_catalog, ar, pg_temp
AS $$
BEGIN
	PERFORM ar._invoice_orders(ARRAY[invoice_order.order_id]);
	RETURN (SELECT so.invoice_id FROM ar.sales_order so WHERE so.id = invoice_order.order_id);
END
$$;
COMMENT ON FUNCTION ar.invoice_order(bigint) IS
	'creates (and with auto_issue, issues) the invoice of a delivered sales order; idempotent';

-- An invoiced order keeps what its invoice was made from: entity,
-- customer, order number, currency, buyer reference and lines; it is not
-- deleted.  It may be cancelled while its invoice is a draft (the draft is
-- cancelled with it); after the invoice is issued, the invoice is credited
-- instead.  A cancelled order stays cancelled.
CREATE FUNCTION ar.sales_order_before() RETURNS trigger
	LANGUAGE plpgsql
	SET search_path = pg_catalog, ar, pg_temp
AS $$
DECLARE
	inv record;
BEGIN
	IF ar.restoring() THEN
		IF TG_OP = 'DELETE' THEN
			RETURN OLD;
		END IF;
		RETURN NEW;
	END IF;
	IF TG_OP = 'DELETE' THEN
		IF OLD.invoice_id IS NOT NULL THEN
			RAISE EXCEPTION 'sales order % is invoiced (invoice %) and cannot be deleted', OLD.order_no, OLD.invoice_id
				USING ERRCODE = 'object_not_in_prerequisite_state',
					  HINT = 'Set its status to cancelled while the invoice is a draft; credit an issued invoice with ar.credit().';
		END IF;
		RETURN OLD;
	END IF;
	IF TG_OP = 'UPDATE' THEN
		IF OLD.status = 'cancelled' AND NEW.status <> 'cancelled' THEN
			RAISE EXCEPTION 'sales order % is cancelled and cannot become %', OLD.order_no, NEW.status
				USING ERRCODE = 'object_not_in_prerequisite_state',
					  HINT = 'Enter a new order.';
		END IF;
		IF OLD.invoice_id IS NOT NULL THEN
			IF NEW.invoice_id IS DISTINCT FROM OLD.invoice_id THEN
				RAISE EXCEPTION 'sales order % is already invoiced', OLD.order_no
					USING ERRCODE = 'object_not_in_prerequisite_state';
			END IF;
			IF (NEW.entity_id, NEW.customer_id, NEW.order_no, NEW.currency, NEW.buyer_reference)
			   IS DISTINCT FROM (OLD.entity_id, OLD.customer_id, OLD.order_no, OLD.currency, OLD.buyer_reference) THEN
				RAISE EXCEPTION 'sales order % is invoiced (invoice %): its entity, customer, order number, currency and buyer reference cannot change',
					OLD.order_no, OLD.invoice_id
					USING ERRCODE = 'object_not_in_prerequisite_state',
						  HINT = 'Enter a new order; credit an issued invoice with ar.credit().';
			END IF;
			IF NEW.status <> OLD.status THEN
				SELECT i.status, i.total INTO inv FROM ar.invoice i WHERE i.id = OLD.invoice_id FOR UPDATE;
				IF NEW.status = 'cancelled' AND (inv.status IN ('draft', 'cancelled', 'credited')
												 OR (inv.status = 'paid' AND ar.minor_units(inv.total) = 0)) THEN
					-- sales_order_cancelled cancels the draft, once the order
					-- is cancelled; an invoice credited in full stays so, and
					-- so does one of 0.00 (it asks for nothing)
					NULL;
				ELSE
					RAISE EXCEPTION 'sales order % is invoiced and cannot become %', OLD.order_no, NEW.status
						USING ERRCODE = 'object_not_in_prerequisite_state',
							  HINT = CASE WHEN inv.status IN ('draft', 'cancelled')
										  THEN 'An invoiced order can only be cancelled, which cancels its draft invoice.'
										  WHEN NEW.status = 'cancelled' AND inv.status = 'paid'
										  THEN format('Its invoice %s is paid: undo its payments with ar.unallocate(allocation_id), then credit it with ar.credit(%s, reason).',
													  OLD.invoice_id, OLD.invoice_id)
										  WHEN NEW.status = 'cancelled' AND inv.status = 'written_off'
										  THEN format('Its invoice %s is written off: it is settled and cannot be credited.', OLD.invoice_id)
										  ELSE format('Credit its invoice with ar.credit(%s, reason) instead.', OLD.invoice_id) END;
				END IF;
			END IF;
		END IF;
	END IF;
	-- An order may be linked to an invoice of its own customer only (one the
	-- caller cannot see counts as none, so nothing is told about it).  The
	-- lookup is planned only when an order is linked: planned when the
	-- orders were delivered, before their invoices existed, the session kept
	-- a plan that scanned ar.invoice, and linking 20,000 delivered orders
	-- read it 20,000 times (12 s).
	IF NEW.invoice_id IS NOT NULL AND (TG_OP = 'INSERT' OR OLD.invoice_id IS NULL) THEN
		IF NOT EXISTS (SELECT 1 FROM ar.invoice i
						WHERE i.id = NEW.invoice_id AND i.entity_id = NEW.entity_id
						  AND i.customer_id = NEW.customer_id AND i.kind = 'invoice') THEN
			RAISE EXCEPTION 'sales order % cannot refer to invoice %: it is not an invoice of customer % of entity %',
				NEW.order_no, NEW.invoice_id, NEW.customer_id, NEW.entity_id
				USING ERRCODE = 'foreign_key_violation',
					  HINT = 'Leave invoice_id empty: setting the order''s status to delivered invoices it.';
		END IF;
	END IF;
	RETURN NEW;
END
$$;
CREATE TRIGGER sales_order_before BEFORE INSERT OR UPDATE OR DELETE ON ar.sales_order
	FOR EACH ROW EXECUTE FUNCTION ar.sales_order_before();

-- A cancelled order cancels its draft invoice.  After the update, so that
-- invoice_before sees the order cancelled: a draft made from an order that
-- still stands is cancelled only through the order.
CREATE FUNCTION ar.sales_order_cancelled() RETURNS trigger
	LANGUAGE plpgsql
	SET search_path = pg_catalog, ar, pg_temp
AS $$
BEGIN
	UPDATE ar.invoice i SET status = 'cancelled' WHERE i.id = NEW.invoice_id AND i.status = 'draft';
	RETURN NULL;
END
$$;
CREATE TRIGGER sales_order_cancelled AFTER UPDATE OF status ON ar.sales_order
	FOR EACH ROW WHEN (NEW.status = 'cancelled' AND OLD.status <> 'cancelled' AND NEW.invoice_id IS NOT NULL)
	EXECUTE FUNCTION ar.sales_order_cancelled();
-- one order per invoice
CREATE UNIQUE INDEX sales_order_invoice ON ar.sales_order (invoice_id) WHERE invoice_id IS NOT NULL;

-- The lines of an invoiced order stay as they were invoiced.  FOR SHARE: a
-- line written while the order is being delivered waits and is refused.
CREATE FUNCTION ar.sales_order_line_before() RETURNS trigger
	LANGUAGE plpgsql
	SET search_path = pg_catalog, ar, pg_temp
AS $$
DECLARE
	o record;
BEGIN
	IF NOT ar.restoring() THEN
		-- the row is locked before invoice_id is read: a filter on it would
		-- skip an order whose delivery is not committed yet
		FOR o IN SELECT so.id, so.order_no, so.invoice_id, so.currency FROM ar.sales_order so
				  WHERE so.id IN (CASE WHEN TG_OP <> 'INSERT' THEN OLD.order_id END,
								  CASE WHEN TG_OP <> 'DELETE' THEN NEW.order_id END)
				  ORDER BY so.id FOR SHARE LOOP
			IF o.invoice_id IS NOT NULL THEN
				RAISE EXCEPTION 'the lines of sales order % are invoiced (invoice %) and cannot change', o.order_no, o.invoice_id
					USING ERRCODE = 'object_not_in_prerequisite_state',
						  HINT = 'Enter a new order; credit an issued invoice with ar.credit().';
			END IF;
			-- the net amount the invoice line will get, so that an amount
			-- out of range is refused now, not when the order is delivered
			IF TG_OP <> 'DELETE' AND o.id = NEW.order_id THEN
				PERFORM ar.round_amount(NEW.quantity * NEW.unit_price, o.currency);
			END IF;
		END LOOP;
	END IF;
	IF TG_OP = 'DELETE' THEN
		RETURN OLD;
	END IF;
	RETURN NEW;
END
$$;
CREATE TRIGGER sales_order_line_before BEFORE INSERT OR UPDATE OR DELETE ON ar.sales_order_line
	FOR EACH ROW EXECUTE FUNCTION ar.sales_order_line_before();
-- TRUNCATE fires no row trigger: it would take invoiced orders with it
CREATE TRIGGER sales_order_no_truncate BEFORE TRUNCATE ON ar.sales_order
	FOR EACH STATEMENT EXECUTE FUNCTION ar.refuse_direct_write('invoiced sales orders are kept',
		'Delete orders that are not invoiced one by one.');
CREATE TRIGGER sales_order_line_no_truncate BEFORE TRUNCATE ON ar.sales_order_line
	FOR EACH STATEMENT EXECUTE FUNCTION ar.refuse_direct_write('the lines of invoiced sales orders are kept',
		'Delete the lines of orders that are not invoiced one by one.');

CREATE FUNCTION ar.sales_order_delivered() RETURNS trigger
	LANGUAGE plpgsql
	SET search_path = pg_catalog, ar, pg_temp
AS $$
DECLARE
	ids bigint[];
BEGIN
	IF TG_OP = 'UPDATE' THEN
		-- the orders this statement delivered, all at once (by id among
		-- those that were delivered before: an UPDATE may change an id)
		SELECT array_agg(n.id ORDER BY n.id) INTO ids
		  FROM new_rows n
		 WHERE n.status = 'delivered' AND n.invoice_id IS NULL
		   AND n.id NOT IN (SELECT o.id FROM old_rows o WHERE o.status = 'delivered');
		IF ids IS NOT NULL THEN
			PERFORM ar._invoice_orders(ids);
		END IF;
		RETURN NULL;
	END IF;
	-- at commit, an order inserted as delivered may since have been
	-- cancelled, invoiced or deleted in the same transaction
	IF NOT EXISTS (
		SELECT 1 FROM ar.sales_order so
		 WHERE so.id = NEW.id AND so.status = 'delivered' AND so.invoice_id IS NULL) THEN
		RETURN NULL;
	END IF;
	PERFORM ar.invoice_order(NEW.id);
	RETURN NULL;
END
$$;
-- An UPDATE to delivered invoices at once, every order the statement
-- delivered together; an INSERT of a delivered order waits for the end of
-- the transaction, so that its lines are there.
CREATE TRIGGER sales_order_delivered_update AFTER UPDATE ON ar.sales_order
	REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION ar.sales_order_delivered();
CREATE CONSTRAINT TRIGGER sales_order_delivered_insert AFTER INSERT ON ar.sales_order
	DEFERRABLE INITIALLY DEFERRED
	FOR EACH ROW WHEN (NEW.status = 'delivered' AND NEW.invoice_id IS NULL AND NOT ar.restoring())
	EXECUTE FUNCTION ar.sales_order_delivered();

/* ------------------------------------------------------------------------
 * 5. E-invoices: UBL (Peppol BIS Billing 3.0) and readable renderings
 * ------------------------------------------------------------------------ */

-- Peppol electronic addresses (src/peppol.c).  The scheme must be in the
-- Peppol list of electronic address schemes (EAS); where the Peppol rules
-- check the format of an identifier (0007, 0088, 0096, 0151, 0184, 0192,
-- 0198, 0208), the same check runs when an entity or customer is saved.
CREATE FUNCTION ar.peppol_id_valid(scheme text, id text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'ar_peppol_id_valid' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ar.peppol_id_valid(text, text) IS
	'does scheme:id pass the Peppol checks of an electronic address (EAS scheme list; format of 0007, 0088, 0096, 0151, 0184, 0192, 0198, 0208)';
CREATE FUNCTION ar.peppol_id_check(scheme text, id text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'ar_peppol_id_check' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ar.peppol_id_check(text, text) IS
	'true for a valid Peppol electronic address, else an error (23514) saying what is wrong; used by the CHECK constraints of ar.entity and ar.customer';

ALTER TABLE ar.entity ADD CONSTRAINT entity_peppol_id_check
	CHECK (peppol_scheme IS NULL OR peppol_id IS NULL OR ar.peppol_id_check(peppol_scheme, peppol_id));
ALTER TABLE ar.customer ADD CONSTRAINT customer_peppol_id_check
	CHECK (peppol_scheme IS NULL OR peppol_id IS NULL OR ar.peppol_id_check(peppol_scheme, peppol_id));

-- Documents (src/ubl.c).  Only issued documents render; drafts and
-- cancelled ones raise 55000.
CREATE FUNCTION ar.invoice_ubl(invoice_id bigint) RETURNS xml
	AS 'MODULE_PATHNAME', 'ar_invoice_ubl' LANGUAGE C STABLE STRICT;
COMMENT ON FUNCTION ar.invoice_ubl(bigint) IS
	'an issued invoice or credit note as UBL 2.1 (Peppol BIS Billing 3.0); an error names what the document lacks';
CREATE FUNCTION ar.invoice_ubl(invoice_ids bigint[])
	RETURNS TABLE (invoice_id bigint, ubl xml)
	AS 'MODULE_PATHNAME', 'ar_invoice_ubl_set' LANGUAGE C STABLE STRICT ROWS 1000;
COMMENT ON FUNCTION ar.invoice_ubl(bigint[]) IS
	'UBL of many issued documents, in the order given; reads them 1000 at a time (the fast path for bulk export)';
CREATE FUNCTION ar.invoice_text(invoice_id bigint) RETURNS text
	AS 'MODULE_PATHNAME', 'ar_invoice_text' LANGUAGE C STABLE STRICT;
COMMENT ON FUNCTION ar.invoice_text(bigint) IS
	'the readable rendering (plain UTF-8 text) of an issued invoice or credit note: the email and print payload';
CREATE FUNCTION ar.ubl_check(invoice_ids bigint[]) RETURNS void
	AS 'MODULE_PATHNAME', 'ar_ubl_check' LANGUAGE C STABLE STRICT;
COMMENT ON FUNCTION ar.ubl_check(bigint[]) IS
	'raises the first thing any of the documents (drafts too) lacks for a valid Peppol e-invoice, naming the field; ar.issue calls it for peppol customers';
CREATE FUNCTION ar.ubl_problems(invoice_id bigint)
	RETURNS TABLE (sqlstate text, field text, problem text, detail text)
	AS 'MODULE_PATHNAME', 'ar_ubl_problems' LANGUAGE C STABLE STRICT ROWS 5;
COMMENT ON FUNCTION ar.ubl_problems(bigint) IS
	'everything a document (a draft too) lacks for a valid Peppol e-invoice, one row each; no rows: it can go by Peppol';
CREATE FUNCTION ar.issue_payloads(docs ar.invoice[], channels text[])
	RETURNS TABLE (invoice_id bigint, payload text)
	AS 'MODULE_PATHNAME', 'ar_issue_payloads' LANGUAGE C STABLE STRICT ROWS 1000;
COMMENT ON FUNCTION ar.issue_payloads(ar.invoice[], text[]) IS
	'internal to ar.issue: the outbox payload of just-issued rows (UBL for peppol, the readable text otherwise)';

-- Payloads are a few kB of XML or text each, written once: lz4 compresses
-- them several times faster than the default pglz (where the server has it).
DO $$
BEGIN
	IF 'lz4' = ANY (SELECT pg_catalog.unnest(enumvals) FROM pg_catalog.pg_settings
					 WHERE name = 'default_toast_compression') THEN
		ALTER TABLE ar.outbox ALTER COLUMN payload SET COMPRESSION lz4;
	END IF;
END
$$;
-- (end of e-invoices)

/* ------------------------------------------------------------------------
 * 6. Bank statements: camt.053/054 and BgMax import
 * ------------------------------------------------------------------------ */
-- Accounts.  A file is routed to the entity that owns the account it is for:
-- the IBAN or bankgiro of ar.entity, or any account listed in
-- ar.bank_account.  Accounts are compared by ar.normalize_account (the same
-- rule as camt.c and bgmax.c use).
CREATE FUNCTION ar.normalize_account(account text) RETURNS text
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, ar, pg_temp
AS $$
	SELECT CASE WHEN a OPERATOR(pg_catalog.~) '^[0-9]+$'
				THEN coalesce(nullif(ltrim(a, '0'), ''), '0') ELSE a END
	  FROM (SELECT upper(regexp_replace(account, '[ \t\r\n-]', '', 'g')) AS a) s
$$;
COMMENT ON FUNCTION ar.normalize_account(text) IS
	'an account number as ar compares them: blanks and hyphens dropped, upper case, leading zeros of an all-digit number dropped';

CREATE TABLE ar.bank_account (
	id integer GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
	entity_id integer NOT NULL REFERENCES ar.entity (id),
	account text NOT NULL,
	account_key text GENERATED ALWAYS AS (ar.normalize_account(account)) STORED,
	currency text REFERENCES ar.currency (code)
		CHECK (ar.currency_usable(currency)),
	note text,
	created_at timestamptz NOT NULL DEFAULT now(),
	CONSTRAINT bank_account_account_check CHECK (ar.normalize_account(account) <> ''),
	CONSTRAINT bank_account_key UNIQUE (account_key)
);
CREATE INDEX bank_account_entity ON ar.bank_account (entity_id);
COMMENT ON TABLE ar.bank_account IS
	'further accounts of an entity (IBAN, bankgiro, plusgiro, other account ids), besides ar.entity.iban and ar.entity.bankgiro; bank files are routed by them';

CREATE FUNCTION ar.account_entity(account text) RETURNS integer
	LANGUAGE plpgsql STABLE STRICT
	SET search_path = pg_catalog, ar, pg_temp
AS $$
DECLARE
	key text := ar.normalize_account(account);
	owners integer[];
BEGIN
	SELECT array_agg(DISTINCT o.id ORDER BY o.id) INTO owners
	  FROM (SELECT e.id FROM ar.entity e
			 WHERE ar.normalize_account(e.iban) = key OR ar.normalize_account(e.bankgiro) = key
			UNION ALL
			SELECT b.entity_id FROM ar.bank_account b WHERE b.account_key = key) o;
	IF cardinality(owners) > 1 THEN
		RAISE EXCEPTION 'account % belongs to several entities: %', account, array_to_string(owners, ', ')
			USING ERRCODE = 'cardinality_violation',
				  HINT = 'An account can belong to one entity only; correct ar.entity.iban, ar.entity.bankgiro or ar.bank_account.';
	END IF;
	RETURN owners[1];
END
$$;
COMMENT ON FUNCTION ar.account_entity(text) IS
	'the entity that owns an account (ar.entity.iban, ar.entity.bankgiro or ar.bank_account), NULL when none';

-- What the import keeps besides the columns of section 6.
ALTER TABLE ar.payment
	ADD COLUMN account text,
	ADD COLUMN statement_id text,
	ADD COLUMN reference_code text,
	ADD COLUMN payer_address text,
	ADD COLUMN payer_org_no text,
	ADD COLUMN end_to_end_id text,
	ADD COLUMN transaction_code text,
	ADD COLUMN return_reason text;
COMMENT ON COLUMN ar.payment.account IS
	'the entity''s account the transaction was booked on (normalized IBAN, account id or bankgiro)';
COMMENT ON COLUMN ar.payment.statement_id IS 'camt: Stmt/Id or Ntfctn/Id; BgMax: the TK15 deposit serial number';
COMMENT ON COLUMN ar.payment.reference_code IS
	'camt: type of the structured reference (CdtrRefInf/Tp: SCOR, QRR, ...); BgMax: the TK20/TK21 reference code 0-5';
COMMENT ON COLUMN ar.payment.payer_address IS 'the other party''s postal address on one line (camt PstlAdr; BgMax TK27, TK28)';
COMMENT ON COLUMN ar.payment.payer_org_no IS 'the other party''s organisation number (camt Id/OrgId/Othr/Id; BgMax TK29)';
COMMENT ON COLUMN ar.payment.end_to_end_id IS 'camt Refs/EndToEndId (NOTPROVIDED left out)';
COMMENT ON COLUMN ar.payment.transaction_code IS
	'camt BkTxCd (Domn/Fmly/SubFmly, else Prtry/Cd); BgMax "TK20/<channel>" or "TK21/<channel>/<deduction code>"';
COMMENT ON COLUMN ar.payment.return_reason IS 'camt RtrInf/Rsn (for example AC06)';

-- A credit the bank took back: its reversal or return entry points at
-- nothing, so ar.reverse_payment links them.  Checked there, not by a
-- foreign key (a table that references itself breaks restores row by row).
ALTER TABLE ar.payment ADD COLUMN reversed_by bigint;
CREATE UNIQUE INDEX payment_reversed_by ON ar.payment (reversed_by) WHERE reversed_by IS NOT NULL;
COMMENT ON COLUMN ar.payment.reversed_by IS
	'for a credit with status reversed: the reversal or return entry that took it back (ar.reverse_payment)';
CREATE TRIGGER payment_reversed_by BEFORE UPDATE ON ar.payment
	FOR EACH ROW WHEN (NEW.reversed_by IS DISTINCT FROM OLD.reversed_by AND NOT ar.internal() AND NOT ar.restoring())
	EXECUTE FUNCTION ar.refuse_direct_write('reversed_by is written only by ar.reverse_payment()',
		'ar.reverse_payment(payment_id, reversal_id) links a credit to the entry that took it back.');

CREATE FUNCTION ar._reverse_payment(payment_id bigint, reversal_id bigint) RETURNS integer
	LANGUAGE plpgsql
	SET search_path = pg_catalog, ar, pg_temp
AS $$
DECLARE
	pay ar.payment;
	rev ar.payment;
	a record;
	n integer := 0;
BEGIN
	IF _reverse_payment.payment_id IS NULL OR _reverse_payment.reversal_id IS NULL THEN
		RAISE EXCEPTION 'cannot reverse % by %', coalesce('payment ' || _reverse_payment.payment_id, 'a NULL payment'),
			coalesce('bank entry ' || _reverse_payment.reversal_id, 'a NULL bank entry')
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	-- ar.allocation first, as ar.allocate; then both rows in id order, as
	-- every writer of payments does
	LOCK TABLE ar.allocation IN ROW EXCLUSIVE MODE;
	PERFORM 1 FROM ar.payment p WHERE p.id IN (_reverse_payment.payment_id, _reverse_payment.reversal_id)
	  ORDER BY p.id FOR UPDATE;
	SELECT * INTO pay FROM ar.payment p WHERE p.id = _reverse_payment.payment_id;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'payment % does not exist', _reverse_payment.payment_id USING ERRCODE = 'no_data_found';
	END IF;
	SELECT * INTO rev FROM ar.payment p WHERE p.id = _reverse_payment.reversal_id;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'bank entry % does not exist', _reverse_payment.reversal_id USING ERRCODE = 'no_data_found';
	END IF;
	IF pay.kind <> 'credit' THEN
		RAISE EXCEPTION 'payment % is a % entry; only an incoming payment (credit) is reversed', pay.id, pay.kind
			USING ERRCODE = 'object_not_in_prerequisite_state';
	END IF;
	IF rev.kind NOT IN ('reversal', 'return') THEN
		RAISE EXCEPTION 'bank entry % is a % entry, not a reversal or return', rev.id, rev.kind
			USING ERRCODE = 'object_not_in_prerequisite_state';
	END IF;
	IF rev.entity_id <> pay.entity_id THEN
		RAISE EXCEPTION 'bank entry % belongs to entity %, payment % to entity %', rev.id, rev.entity_id,
			pay.id, pay.entity_id
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF ar.currency_of(rev.amount) <> ar.currency_of(pay.amount)
	   OR ar.minor_units(rev.amount) <> ar.minor_units(pay.amount) THEN
		RAISE EXCEPTION 'bank entry % of % does not take back payment % of %', rev.id, rev.amount, pay.id, pay.amount
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'A reversal takes back the whole payment: the amounts must be equal.';
	END IF;
	IF pay.status = 'reversed' THEN
		RAISE EXCEPTION 'payment % is already reversed by bank entry %', pay.id, pay.reversed_by
			USING ERRCODE = 'object_not_in_prerequisite_state';
	END IF;
	SELECT p.id INTO a FROM ar.payment p WHERE p.reversed_by = rev.id;
	IF FOUND THEN
		RAISE EXCEPTION 'bank entry % already reverses payment %', rev.id, a.id
			USING ERRCODE = 'object_not_in_prerequisite_state';
	END IF;
	-- the invoices it paid are open again, each allocation reversed as
	-- ar.unallocate does it (and refused where that refuses it)
	FOR a IN SELECT x.id FROM ar.allocation x
			  WHERE x.payment_id = pay.id AND x.reversed_at IS NULL ORDER BY x.id LOOP
		PERFORM ar._unallocate(a.id);
		n := n + 1;
	END LOOP;
	DELETE FROM ar.match_suggestion s WHERE s.payment_id = pay.id;
	UPDATE ar.payment p
	   SET status = 'reversed', unallocated = ar.amount_of_minor(0, ar.currency_of(p.amount)), reversed_by = rev.id,
		   set_aside_reason = NULL
	 WHERE p.id = pay.id;
	UPDATE ar.payment p SET status = 'matched' WHERE p.id = rev.id;
	RETURN n;
END
$$;
COMMENT ON FUNCTION ar._reverse_payment(bigint, bigint) IS 'internal: the body of ar.reverse_payment (src/guard.c)';
CREATE FUNCTION ar.reverse_payment(payment_id bigint, reversal_id bigint) RETURNS integer
	AS 'MODULE_PATHNAME', 'ar_guarded' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ar.reverse_payment(bigint, bigint) IS
	'a credit the bank took back: reverses its allocations, links it to the reversal or return entry and takes it out of matching for good; returns the allocations reversed';

-- A credit that is no customer's payment (interest from the bank, a tax
-- refund, an overpayment paid back) is set aside: out of matching, of the
-- reconciliation worklist and of the dunning hold on unapplied cash, until it
-- is put back.  What was allocated of it stays allocated; the rest stays on
-- the payment.  ar.allocation is locked first, as ar.allocate does, so that a
-- running ar.match_payments finishes before the payment changes.
CREATE FUNCTION ar._set_aside(payment_id bigint, reason text) RETURNS text
	LANGUAGE plpgsql
	SET search_path = pg_catalog, ar, pg_temp
AS $$
DECLARE
	pay ar.payment;
	why text := regexp_replace(_set_aside.reason, '^\s+|\s+$', '', 'g');
BEGIN
	IF _set_aside.payment_id IS NULL THEN
		RAISE EXCEPTION 'cannot set aside a NULL payment' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF why IS NULL OR why = '' THEN
		RAISE EXCEPTION 'setting payment % aside needs a reason, got %', _set_aside.payment_id,
			coalesce(quote_literal(_set_aside.reason), 'NULL')
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Say what the money is, for example ''interest from the bank''.';
	END IF;
	LOCK TABLE ar.allocation IN ROW EXCLUSIVE MODE;
	pay := ar._lock_credit(_set_aside.payment_id);
	IF pay.status = 'set_aside' THEN
		RAISE EXCEPTION 'payment % is already set aside: %', pay.id, pay.set_aside_reason
			USING ERRCODE = 'object_not_in_prerequisite_state';
	END IF;
	IF pay.status = 'matched' THEN
		RAISE EXCEPTION 'payment % is applied in full: nothing of its % is left to set aside', pay.id, pay.amount
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  HINT = 'ar.unallocate(allocation_id) undoes an allocation first.';
	END IF;
	DELETE FROM ar.match_suggestion s WHERE s.payment_id = pay.id;
	UPDATE ar.payment p SET status = 'set_aside', set_aside_reason = why WHERE p.id = pay.id;
	RETURN 'set_aside';
END
$$;
COMMENT ON FUNCTION ar._set_aside(bigint, text) IS 'internal: the body of ar.set_aside (src/guard.c)';
CREATE FUNCTION ar.set_aside(payment_id bigint, reason text) RETURNS text
	AS 'MODULE_PATHNAME', 'ar_guarded' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ar.set_aside(bigint, text) IS
	'takes an incoming payment that is no customer''s (bank interest, a refund) out of matching with a reason; its suggestions go; returns its new status, set_aside';

CREATE FUNCTION ar._put_back(payment_id bigint) RETURNS text
	LANGUAGE plpgsql
	SET search_path = pg_catalog, ar, pg_temp
AS $$
DECLARE
	pay ar.payment;
	st text;
BEGIN
	IF _put_back.payment_id IS NULL THEN
		RAISE EXCEPTION 'cannot put back a NULL payment' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	LOCK TABLE ar.allocation IN ROW EXCLUSIVE MODE;
	pay := ar._lock_credit(_put_back.payment_id);
	IF pay.status <> 'set_aside' THEN
		RAISE EXCEPTION 'payment % is not set aside (status %)', pay.id, pay.status
			USING ERRCODE = 'object_not_in_prerequisite_state';
	END IF;
	st := CASE WHEN pay.unallocated = pay.amount THEN 'unmatched' ELSE 'partial' END;
	UPDATE ar.payment p SET status = st, set_aside_reason = NULL WHERE p.id = pay.id;
	RETURN st;
END
$$;
COMMENT ON FUNCTION ar._put_back(bigint) IS 'internal: the body of ar.put_back (src/guard.c)';
CREATE FUNCTION ar.put_back(payment_id bigint) RETURNS text
	AS 'MODULE_PATHNAME', 'ar_guarded' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ar.put_back(bigint) IS
	'returns a payment set aside to matching: unmatched, or partial when part of it is allocated; returns that status';
COMMENT ON COLUMN ar.payment.set_aside_reason IS
	'why the payment is set aside (ar.set_aside); NULL unless status is set_aside';

-- The import's columns are bank records too: they never change (see
-- payment_immutable).
CREATE TRIGGER payment_bank_fields BEFORE UPDATE ON ar.payment
	FOR EACH ROW WHEN (
		(NEW.import_file, NEW.account, NEW.statement_id, NEW.reference_code, NEW.payer_address,
		 NEW.payer_org_no, NEW.end_to_end_id, NEW.transaction_code, NEW.return_reason)
		IS DISTINCT FROM
		(OLD.import_file, OLD.account, OLD.statement_id, OLD.reference_code, OLD.payer_address,
		 OLD.payer_org_no, OLD.end_to_end_id, OLD.transaction_code, OLD.return_reason))
	EXECUTE FUNCTION ar.payment_before();

-- References beyond the first: BgMax TK22/TK23 (with their amounts, negative
-- for TK23), camt's further CdtrRefInf/Ref and RfrdDocInf/Nb.
CREATE TABLE ar.payment_extra_ref (
	entity_id integer NOT NULL,
	payment_id bigint NOT NULL,
	seq integer NOT NULL CHECK (seq > 0),
	reference text NOT NULL CHECK (reference <> ''),
	amount ar.amount,
	reference_code text,
	PRIMARY KEY (payment_id, seq),
	FOREIGN KEY (entity_id, payment_id) REFERENCES ar.payment (entity_id, id)
);
COMMENT ON TABLE ar.payment_extra_ref IS
	'further references of a payment: BgMax TK22/TK23 (amount in the payment''s currency, negative for TK23), camt Strd/CdtrRefInf/Ref after the first and Strd/RfrdDocInf/Nb';

CREATE FUNCTION ar.payment_extra_ref_before() RETURNS trigger
	LANGUAGE plpgsql SET search_path = pg_catalog, ar, pg_temp
AS $$
BEGIN
	RAISE EXCEPTION 'extra reference % of payment % cannot be changed', OLD.seq, OLD.payment_id
		USING ERRCODE = 'object_not_in_prerequisite_state',
			  DETAIL = 'References are part of the bank record.';
END
$$;
CREATE TRIGGER payment_extra_ref_before BEFORE UPDATE OR DELETE ON ar.payment_extra_ref
	FOR EACH ROW EXECUTE FUNCTION ar.payment_extra_ref_before();
COMMENT ON FUNCTION ar.payment_extra_ref_before() IS
	'trigger: extra references of a payment are part of the bank record and never change';

-- One bank transaction as the parsers return it.
CREATE TYPE ar.bank_transaction AS (
	seq integer,				-- order in the file, from 1
	source text,				-- camt053 | camt054 | bgmax
	format text,				-- camt.053.001.02, ..., BgMax 01
	message_id text,			-- GrpHdr/MsgId; BgMax: TK01 timestamp
	statement_id text,			-- Stmt/Id, Ntfctn/Id; BgMax: TK15 deposit serial
	account text,				-- the statement's account, normalized
	location text,				-- Stmt[1]/Ntry[2]/NtryDtls[1]/TxDtls[3]; line 14
	entry_status text,			-- BOOK, PDNG, INFO, ...; only BOOK is imported
	kind text,					-- credit | debit | reversal | return
	bank_ref text,
	booking_date date,
	value_date date,
	amount ar.amount,
	reference text,
	reference_code text,
	remittance text,
	payer_name text,
	payer_account text,
	payer_address text,
	payer_org_no text,
	end_to_end_id text,
	transaction_code text,
	return_reason text,
	extra_references text[],
	extra_amounts ar.amount[],
	extra_codes text[],
	ref_origin text				-- bank_ref from: bank (AcctSvcrRef; BgMax serials),
								-- end_to_end (EndToEndId, date, amount, payer) or hash
);
COMMENT ON TYPE ar.bank_transaction IS
	'one transaction of a bank file, as ar.camt_transactions and ar.bgmax_transactions return it';

CREATE FUNCTION ar.camt_transactions(doc xml) RETURNS SETOF ar.bank_transaction
	AS 'MODULE_PATHNAME', 'ar_camt_transactions' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ar.camt_transactions(xml) IS
	'every entry and transaction of a camt.053.001.02/.08 or camt.054.001.02/.04/.08 message; raises an error naming the element when it is malformed';

CREATE FUNCTION ar.bgmax_transactions(content bytea) RETURNS SETOF ar.bank_transaction
	AS 'MODULE_PATHNAME', 'ar_bgmax_transactions' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ar.bgmax_transactions(bytea) IS
	'every TK20 payment and TK21 deduction of a BgMax file given as its ISO-8859-1 bytes; counts and totals are checked';

CREATE FUNCTION ar.bgmax_transactions(content text) RETURNS SETOF ar.bank_transaction
	AS 'MODULE_PATHNAME', 'ar_bgmax_transactions' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ar.bgmax_transactions(text) IS
	'every TK20 payment and TK21 deduction of a BgMax file given as text (each character must exist in ISO-8859-1)';

-- Inserts the booked transactions of one file, all or nothing.  Each account
-- of the file must belong to an entity (to for_entity, when given).
CREATE FUNCTION ar.import_transactions(txs ar.bank_transaction[], for_entity integer)
	RETURNS integer
	LANGUAGE plpgsql
	SET search_path = pg_catalog, ar, pg_temp
AS $$
DECLARE
	acct record;
	owner_id integer;
	accounts text[] := '{}';
	owners integer[] := '{}';
	keys text[] := '{}';
	added integer;
	twice record;
BEGIN
	IF for_entity IS NOT NULL AND NOT EXISTS (SELECT 1 FROM ar.entity e WHERE e.id = for_entity) THEN
		RAISE EXCEPTION 'entity % does not exist', for_entity USING ERRCODE = 'no_data_found';
	END IF;
	FOR acct IN
		SELECT t.account, min(t.statement_id) AS statement_id, min(t.source) AS source
		  FROM unnest(txs) t GROUP BY t.account ORDER BY t.account
	LOOP
		owner_id := ar.account_entity(acct.account);
		IF owner_id IS NULL THEN
			RAISE EXCEPTION 'account % of % statement % belongs to no entity',
				acct.account, acct.source, acct.statement_id
				USING ERRCODE = 'no_data_found',
					  DETAIL = 'Nothing was imported.',
					  HINT = 'Set ar.entity.iban or ar.entity.bankgiro, or add the account to ar.bank_account.';
		END IF;
		IF for_entity IS NOT NULL AND owner_id <> for_entity THEN
			RAISE EXCEPTION 'account % of the file belongs to entity %, not to entity %',
				acct.account, owner_id, for_entity
				USING ERRCODE = 'invalid_parameter_value',
					  DETAIL = 'Nothing was imported.';
		END IF;
		accounts := accounts || acct.account;
		owners := owners || owner_id;
		-- The account part of the bank_refs: one account named by its IBAN
		-- in one file and by its domestic number (the IBAN's BBAN, registered
		-- in ar.bank_account) in another is one account, and the same
		-- transaction in both files one payment.
		keys := keys || coalesce(
			(SELECT k.key FROM (SELECT ar.normalize_account(e.iban) AS key FROM ar.entity e WHERE e.id = owner_id
								UNION ALL
								SELECT b.account_key FROM ar.bank_account b WHERE b.entity_id = owner_id) k
			  WHERE k.key ~ '^[A-Z]{2}[0-9]{2}[A-Z0-9]+$' AND ar.normalize_account(substr(k.key, 5)) = acct.account
			  ORDER BY k.key LIMIT 1),
			acct.account);
	END LOOP;

	-- No join between the file's rows and what is inserted: the entity comes
	-- from the small accounts array, and the extra references find their
	-- payment through the (entity_id, bank_ref) index, so that the work grows
	-- linearly with the file whatever the planner estimates.
	INSERT INTO ar.payment (entity_id, bank_ref, booking_date, value_date, amount, reference,
							remittance, payer_name, payer_account, source, kind, import_file,
							account, statement_id, reference_code, payer_address, payer_org_no,
							end_to_end_id, transaction_code, return_reason)
	SELECT owners[array_position(accounts, x.account)],
		   keys[array_position(accounts, x.account)] || substr(x.bank_ref, length(x.account) + 1),
		   x.booking_date, x.value_date,
		   x.amount, x.reference, x.remittance, x.payer_name, x.payer_account, x.source, x.kind,
		   x.format || ' ' || x.message_id,
		   x.account, x.statement_id, x.reference_code, x.payer_address, x.payer_org_no,
		   x.end_to_end_id, x.transaction_code, x.return_reason
	  FROM unnest(txs) x
	 WHERE x.entry_status = 'BOOK'
	 ORDER BY x.seq
	ON CONFLICT (entity_id, bank_ref) DO NOTHING;
	GET DIAGNOSTICS added = ROW_COUNT;

	-- A transaction whose bank_ref the bank did not give (no AcctSvcrRef)
	-- and that another file brought already is not imported again: it is
	-- most likely the same transaction reported twice (a camt.054, then the
	-- camt.053), but it could be a second payment, so it is not skipped in
	-- silence.
	SELECT x.location, x.source, x.statement_id, p.id, p.import_file, p.bank_ref,
		   count(*) OVER () AS n
	  INTO twice
	  FROM unnest(txs) x
	  JOIN ar.payment p ON p.entity_id = owners[array_position(accounts, x.account)]
					   AND p.bank_ref = keys[array_position(accounts, x.account)]
										|| substr(x.bank_ref, length(x.account) + 1)
	 WHERE x.entry_status = 'BOOK' AND x.ref_origin <> 'bank'
	   AND p.import_file IS DISTINCT FROM x.format || ' ' || x.message_id
	 ORDER BY x.seq LIMIT 1;
	IF FOUND THEN
		RAISE WARNING '% of % statement % was not imported: payment % from % has its bank_ref %',
			twice.location, twice.source, twice.statement_id, twice.id,
			coalesce(twice.import_file, 'no file'), twice.bank_ref
			USING DETAIL = format('%s transaction(s) of this file were not imported for that reason.', twice.n),
				  HINT = 'The bank gave no reference of its own (AcctSvcrRef), so the same transaction reported '
						 'again cannot be told from a second payment of the same amount, date and payer. '
						 'If it is a second payment, insert it into ar.payment with a bank_ref of your own.';
	END IF;

	-- extra references of the payments this file brought (a payment that came
	-- from another file keeps what that file said)
	INSERT INTO ar.payment_extra_ref (entity_id, payment_id, seq, reference, amount, reference_code)
	SELECT p.entity_id, p.id, r.seq, r.reference, r.amount, r.code
	  FROM unnest(txs) x
	  JOIN ar.payment p ON p.entity_id = owners[array_position(accounts, x.account)]
					   AND p.bank_ref = keys[array_position(accounts, x.account)]
										|| substr(x.bank_ref, length(x.account) + 1)
	 CROSS JOIN LATERAL unnest(x.extra_references, x.extra_amounts, x.extra_codes)
		   WITH ORDINALITY AS r(reference, amount, code, seq)
	 WHERE x.entry_status = 'BOOK' AND cardinality(x.extra_references) > 0
	   AND p.import_file = x.format || ' ' || x.message_id
	ON CONFLICT (payment_id, seq) DO NOTHING;
	RETURN added;
END
$$;
COMMENT ON FUNCTION ar.import_transactions(ar.bank_transaction[], integer) IS
	'inserts the booked transactions of one bank file into ar.payment (new bank_refs only) and returns how many were added; used by ar.import_camt and ar.import_bgmax';

CREATE FUNCTION ar.import_camt(doc xml) RETURNS integer
	LANGUAGE plpgsql
	SET search_path = pg_catalog, ar, pg_temp
AS $$
BEGIN
	IF doc IS NULL THEN
		RAISE EXCEPTION 'the camt message to import is NULL' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	RETURN ar.import_transactions(ARRAY(SELECT t FROM ar.camt_transactions(doc) t ORDER BY t.seq), NULL);
END
$$;
COMMENT ON FUNCTION ar.import_camt(xml) IS
	'imports a camt.053/camt.054 message into ar.payment, each statement to the entity that owns its account; returns the number of payments added (0 on a re-import)';

CREATE FUNCTION ar.import_bgmax(content bytea, entity_id integer) RETURNS integer
	LANGUAGE plpgsql
	SET search_path = pg_catalog, ar, pg_temp
AS $$
BEGIN
	IF content IS NULL THEN
		RAISE EXCEPTION 'the BgMax file to import is NULL' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF entity_id IS NULL THEN
		RAISE EXCEPTION 'the entity to import the BgMax file into is NULL' USING ERRCODE = 'null_value_not_allowed',
			HINT = 'A BgMax file does not name the entity: pass its id (ar.entity.id) as the second argument.';
	END IF;
	RETURN ar.import_transactions(ARRAY(SELECT t FROM ar.bgmax_transactions(content) t ORDER BY t.seq),
								  entity_id);
END
$$;
COMMENT ON FUNCTION ar.import_bgmax(bytea, integer) IS
	'imports a BgMax file (its ISO-8859-1 bytes) into ar.payment for the entity; its bankgiro must belong to the entity; returns the number of payments added';

CREATE FUNCTION ar.import_bgmax(content text, entity_id integer) RETURNS integer
	LANGUAGE plpgsql
	SET search_path = pg_catalog, ar, pg_temp
AS $$
BEGIN
	IF content IS NULL OR entity_id IS NULL THEN
		-- the errors of a NULL file or entity, as for the file's bytes
		RETURN ar.import_bgmax(CASE WHEN content IS NOT NULL THEN ''::bytea END, entity_id);
	END IF;
	-- decoded text is not looked at for UTF-8, as bytes are
	RETURN ar.import_transactions(ARRAY(SELECT t FROM ar.bgmax_transactions(content) t ORDER BY t.seq),
								  entity_id);
END
$$;
COMMENT ON FUNCTION ar.import_bgmax(text, integer) IS
	'imports a BgMax file given as text (each character must exist in ISO-8859-1) into ar.payment for the entity; returns the number of payments added';
-- (end of bank import)

/* ------------------------------------------------------------------------
 * 6. Payment matching
 * ------------------------------------------------------------------------ */
-- Learned payer accounts: the bank accounts that paid a customer's invoices.
-- ar.match_payments adds a row whenever it applies a payment from an account
-- it did not know for that customer, and a manual ar.allocate teaches the
-- same (trigger below).  Rule payer_amount and payer_sum only trust accounts
-- listed here.  Accounts are stored without blanks, in upper case.
CREATE TABLE ar.payer_account (
	entity_id integer NOT NULL REFERENCES ar.entity (id),
	payer_account text NOT NULL,
	customer_id bigint NOT NULL,
	learned_from bigint REFERENCES ar.payment (id),
	rule text NOT NULL DEFAULT 'manual',
	learned_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (entity_id, payer_account, customer_id),
	FOREIGN KEY (entity_id, customer_id) REFERENCES ar.customer (entity_id, id),
	CONSTRAINT payer_account_format_check CHECK (payer_account <> '' AND payer_account !~ '\s'
		AND payer_account = upper(payer_account))
);
CREATE INDEX payer_account_learned_from ON ar.payer_account (learned_from) WHERE learned_from IS NOT NULL;
COMMENT ON TABLE ar.payer_account IS
	'payer accounts learned from applied payments (account without blanks, upper case); rules payer_amount and payer_sum trust only these';

-- A manual allocation teaches the payment's account; reversing the
-- allocation that taught an account forgets it again.  It runs with the
-- rights of the allocating role (a clerk may write ar.payer_account of its
-- entities), so attached to another table it could do nothing the caller
-- cannot do directly; EXECUTE is revoked from PUBLIC all the same.
CREATE FUNCTION ar.payer_account_learn() RETURNS trigger
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF ar.restoring() THEN
		RETURN NULL;
	END IF;
	IF TG_OP = 'INSERT' THEN
		INSERT INTO ar.payer_account (entity_id, payer_account, customer_id, learned_from, rule)
		SELECT p.entity_id, upper(regexp_replace(p.payer_account, '\s', '', 'g')), i.customer_id,
			   p.id, NEW.rule
		  FROM ar.payment p
		  JOIN ar.invoice i ON i.id = NEW.invoice_id AND i.entity_id = p.entity_id
		 WHERE p.id = NEW.payment_id AND p.payer_account ~ '\S'
		   AND p.payer_account ~ '^[[:ascii:]]*$'
		ON CONFLICT DO NOTHING;
	ELSE
		DELETE FROM ar.payer_account a
		 USING ar.invoice i
		 WHERE a.learned_from = NEW.payment_id AND i.id = NEW.invoice_id
		   AND a.customer_id = i.customer_id AND a.entity_id = i.entity_id;
	END IF;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION ar.payer_account_learn() IS
	'trigger: a manual allocation teaches ar.payer_account; reversing the allocation that taught a row removes it';
CREATE TRIGGER allocation_payer_learn AFTER INSERT ON ar.allocation
	FOR EACH ROW WHEN (NEW.rule = 'manual' AND NEW.payment_id IS NOT NULL)
	EXECUTE FUNCTION ar.payer_account_learn();
CREATE TRIGGER allocation_payer_unlearn AFTER UPDATE OF reversed_at ON ar.allocation
	FOR EACH ROW WHEN (OLD.reversed_at IS NULL AND NEW.reversed_at IS NOT NULL
					   AND NEW.payment_id IS NOT NULL)
	EXECUTE FUNCTION ar.payer_account_learn();

-- A table that pg_restore (or a bulk load into a new database) filled has
-- no statistics until it is analyzed, which autovacuum does after a while.
-- Plans made before then take the matcher's status filters for one row and
-- scan ar.payment once per payment of a batch: the first run after a
-- restore took 134 s for 20 000 payments instead of 1.7 s.  ar.match_payments
-- analyzes the tables it reads and writes when they have never been
-- analyzed (pg_class.reltuples < 0), with the rights of the extension's
-- owner, as ANALYZE needs; it does nothing otherwise and takes no argument.
CREATE FUNCTION ar._analyze_unanalyzed() RETURNS void
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF EXISTS (SELECT 1 FROM pg_catalog.pg_class c
				WHERE c.oid IN ('ar.payment'::regclass, 'ar.invoice'::regclass, 'ar.allocation'::regclass,
								'ar.match_suggestion'::regclass, 'ar.payer_account'::regclass)
				  AND c.reltuples < 0) THEN
		ANALYZE ar.payment, ar.invoice, ar.allocation, ar.match_suggestion, ar.payer_account;
	END IF;
END
$$;
COMMENT ON FUNCTION ar._analyze_unanalyzed() IS
	'internal: analyzes the matcher''s tables when one was never analyzed (after a restore); called by ar.match_payments';

CREATE FUNCTION ar._match_payments(entity_id integer)
	RETURNS TABLE (rule text, payments bigint)
	AS 'MODULE_PATHNAME', 'ar_match_payments'
	LANGUAGE C VOLATILE
	SET search_path = pg_catalog, ar, pg_temp;
COMMENT ON FUNCTION ar._match_payments(integer) IS 'internal: the body of ar.match_payments (src/guard.c)';
CREATE FUNCTION ar.match_payments(entity_id integer DEFAULT NULL)
	RETURNS TABLE (rule text, payments bigint)
	AS 'MODULE_PATHNAME', 'ar_guarded' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ar.match_payments(integer) IS
	'matches every unmatched payment of the entity (NULL: all) to open invoices by reference, free text, known payer and amount, or a sum; applies only certain matches, suggests the rest; one row per outcome';
-- (end of payment matching)

/* ------------------------------------------------------------------------
 * 7. Dunning: legal parameters, policies, disputes, letters, late interest
 * ------------------------------------------------------------------------ */

-- Late-payment law as dated parameters: a value holds from valid_from until
-- the next row of the same jurisdiction and key.  Nothing legal is a
-- constant in code; the rows below are the figures of DOMAIN.md section 2,
-- each with its source ("derived" where the rate is computed from a
-- published reference rate and should be checked).  Keys ending in
-- _consumer apply to customers of segment 'consumer' where the law differs.
CREATE TABLE ar.legal_rate (
	jurisdiction text NOT NULL CHECK (jurisdiction ~ '^[A-Z]{2}$'),
	key text NOT NULL CHECK (key IN ('late_interest_pct', 'late_interest_pct_consumer', 'reminder_fee_max',
		'reminder_fee_max_consumer', 'reminder_fee_count_max', 'reminder_fee_min_days_after_due',
		'reminder_fee_min_days_between', 'reminder_fee_requires_agreement', 'collection_deadline_min_days',
		'interest_from_due_date', 'interest_day_basis', 'fixed_compensation')),
	valid_from date NOT NULL CHECK (isfinite(valid_from)),
	value numeric NOT NULL CHECK (value >= 0),
	currency text REFERENCES ar.currency (code),
	source text NOT NULL CHECK (btrim(source) <> ''),
	-- installed with ar (kept as shipped, not dumped: CREATE EXTENSION makes
	-- them again); a row of the same day added later overrides it
	installed boolean NOT NULL DEFAULT false,
	UNIQUE (jurisdiction, key, valid_from, installed),
	-- amounts carry their currency, rates, counts, days and flags do not
	CONSTRAINT legal_rate_currency_check CHECK ((currency IS NOT NULL) =
		(key IN ('reminder_fee_max', 'reminder_fee_max_consumer', 'fixed_compensation'))),
	CONSTRAINT legal_rate_whole_check CHECK (key NOT IN ('reminder_fee_count_max', 'reminder_fee_min_days_after_due',
		'reminder_fee_min_days_between', 'collection_deadline_min_days') OR value = trunc(value)),
	CONSTRAINT legal_rate_flag_check CHECK (key NOT IN ('reminder_fee_requires_agreement', 'interest_from_due_date')
		OR value IN (0, 1)),
	CONSTRAINT legal_rate_day_basis_check CHECK (key <> 'interest_day_basis' OR value IN (360, 365))
);
COMMENT ON TABLE ar.legal_rate IS
	'late-payment law as dated parameters: a value holds from valid_from until the next row of its jurisdiction and key';

INSERT INTO ar.legal_rate (jurisdiction, key, valid_from, value, currency, source, installed)
SELECT v.j, v.k, v.d::date, v.x, v.c, v.s, true FROM (VALUES
	-- Sweden: räntelagen 6 § (referensränta + 8 pp, half-yearly), 9 §
	('SE', 'late_interest_pct', '2024-07-01', 12.00, NULL, 'räntelagen 6 §: referensränta 4.00 % (riksbank.se, 2024-07-01) + 8 pp'),
	('SE', 'late_interest_pct', '2025-01-01', 10.50, NULL, 'derived: referensränta 2.50 % (policy rate 2.50 % rounded up to 0.5, räntelagen 9 §) + 8 pp; verify at riksbank.se'),
	('SE', 'late_interest_pct', '2025-07-01', 10.00, NULL, 'derived: referensränta 2.00 % (policy rate 2.00 %) + 8 pp; verify at riksbank.se'),
	('SE', 'late_interest_pct', '2026-01-01', 10.00, NULL, 'derived: referensränta 2.00 % (policy rate 1.75 % since Sep 2025, rounded up to 0.5) + 8 pp (DOMAIN.md 2); verify at riksbank.se'),
	('SE', 'reminder_fee_max', '2000-01-01', 60, 'SEK', 'lag (1981:739) om ersättning för inkassokostnader 2 §, 4 §: påminnelseavgift at most 60 SEK'),
	('SE', 'reminder_fee_requires_agreement', '2000-01-01', 1, NULL, 'lag (1981:739) 2 §: only if agreed no later than when the debt arose'),
	('SE', 'collection_deadline_min_days', '2000-01-01', 8, NULL, 'god inkassosed: inkassokrav deadline at least 8 days (imy.se)'),
	('SE', 'interest_from_due_date', '2000-01-01', 0, NULL, 'räntelagen 3 §: interest from the day after the due date'),
	('SE', 'interest_day_basis', '2000-01-01', 365, NULL, 'ACT/365 (no statutory day count; DOMAIN.md 5)'),
	('SE', 'fixed_compensation', '2013-03-16', 450, 'SEK', 'lag (1981:739) 4 a §: förseningsersättning 450 SEK'),
	-- Norway: forsinkelsesrenteloven § 3, inkassoforskriften §§ 1-2, 1-3, inkassoloven § 9
	('NO', 'late_interest_pct', '2025-01-01', 12.50, NULL, 'forsinkelsesrenteloven § 3, FOR-2024-12-19-3279 (lovdata)'),
	('NO', 'late_interest_pct', '2026-01-01', 12.00, NULL, 'forsinkelsesrenteloven § 3 (kred.no, nye satser fra 1. januar 2026)'),
	('NO', 'reminder_fee_max', '2020-10-01', 35, 'NOK', 'inkassoforskriften § 1-2: purregebyr 1/20 of inkassosatsen 700 NOK'),
	('NO', 'reminder_fee_min_days_after_due', '2000-01-01', 14, NULL, 'inkassoforskriften § 1-2: written purring sent at least 14 days after the due date'),
	('NO', 'reminder_fee_count_max', '2000-01-01', 2, NULL, 'inkassoforskriften § 1-3: fees for at most 2 purringer'),
	('NO', 'reminder_fee_min_days_between', '2000-01-01', 14, NULL, 'inkassoforskriften § 1-3: a second fee only after the first 14-day deadline passed'),
	('NO', 'collection_deadline_min_days', '2000-01-01', 14, NULL, 'inkassoloven § 9: inkassovarsel with at least 14 days to pay'),
	('NO', 'interest_from_due_date', '2000-01-01', 0, NULL, 'forsinkelsesrenteloven § 2: from the day after the due date'),
	('NO', 'interest_day_basis', '2000-01-01', 365, NULL, 'ACT/365 (DOMAIN.md 5)'),
	('NO', 'fixed_compensation', '2013-03-16', 40, 'EUR', 'forsinkelsesrenteloven § 3a: standardkompensasjon EUR 40 (in NOK)'),
	-- Denmark: renteloven §§ 3, 5, 9 a, 9 b
	('DK', 'late_interest_pct', '2023-07-01', 11.25, NULL, 'renteloven § 5: morarente 11.25 % (forbrug.dk)'),
	('DK', 'late_interest_pct', '2025-01-01', 10.50, NULL, 'derived: Nationalbanken udlånsrente 2.50 % + 8 pp (DOMAIN.md 2); verify at nationalbanken.dk'),
	('DK', 'reminder_fee_max', '2000-01-01', 100, 'DKK', 'renteloven § 9 b: rykkergebyr at most 100 DKK'),
	('DK', 'reminder_fee_count_max', '2000-01-01', 3, NULL, 'renteloven § 9 b: at most 3 rykkere with a fee'),
	('DK', 'reminder_fee_min_days_between', '2000-01-01', 10, NULL, 'renteloven § 9 b: at least 10 days between fee-bearing rykkere'),
	('DK', 'interest_from_due_date', '2000-01-01', 1, NULL, 'renteloven § 3: fra forfaldsdagen'),
	('DK', 'interest_day_basis', '2000-01-01', 360, NULL, '30/360 (Danish practice, DOMAIN.md 5)'),
	('DK', 'fixed_compensation', '2013-03-01', 310, 'DKK', 'renteloven § 9 a stk. 3: kompensationsbeløb 310 DKK'),
	-- Finland: korkolaki 4 §, 4 a §, 12 §; perintälaki
	('FI', 'late_interest_pct', '2025-01-01', 11.50, NULL, 'derived: viitekorko 3.50 % (ECB MRO 3.15 % rounded up to 0.5, korkolaki 12 §) + 8 pp (4 a §); verify at suomenpankki.fi'),
	('FI', 'late_interest_pct', '2025-07-01', 10.50, NULL, 'derived: viitekorko 2.50 % (ECB MRO 2.15 % rounded up) + 8 pp (4 a §); verify at suomenpankki.fi'),
	('FI', 'late_interest_pct', '2026-01-01', 10.50, NULL, 'korkolaki 4 a §: viitekorko 2.5 % + 8 pp (sttinfo.fi tiedote 71709487)'),
	('FI', 'late_interest_pct_consumer', '2025-01-01', 10.50, NULL, 'derived: viitekorko 3.50 % + 7 pp (korkolaki 4 §)'),
	('FI', 'late_interest_pct_consumer', '2025-07-01', 9.50, NULL, 'derived: viitekorko 2.50 % + 7 pp (korkolaki 4 §)'),
	('FI', 'late_interest_pct_consumer', '2026-01-01', 9.50, NULL, 'korkolaki 4 §: viitekorko 2.5 % + 7 pp (sttinfo.fi tiedote 71709487)'),
	('FI', 'reminder_fee_max', '2022-05-01', 12, 'EUR', 'perintälaki (B2B since 1.5.2022): at most 12 EUR'),
	('FI', 'reminder_fee_max_consumer', '2000-01-01', 5, 'EUR', 'perintälaki 10 §: consumer reminder at most 5 EUR'),
	('FI', 'reminder_fee_min_days_between', '2022-05-01', 10, NULL, 'perintälaki: at least 10 days since the previous reminder'),
	('FI', 'interest_from_due_date', '2000-01-01', 0, NULL, 'korkolaki: from the day after the due date'),
	('FI', 'interest_day_basis', '2000-01-01', 365, NULL, 'ACT/365 (DOMAIN.md 5)'),
	('FI', 'fixed_compensation', '2013-03-16', 40, 'EUR', 'perintälaki 10 e §: vakiokorvaus 40 EUR'),
	-- the EU minimum (directive 2011/7/EU), for EEA entities without rows of their own
	('EU', 'late_interest_pct', '2025-07-01', 10.15, NULL, 'directive 2011/7/EU art. 2(6): ECB MRO 2.15 % (since 11 Jun 2025) + 8 pp'),
	('EU', 'interest_from_due_date', '2013-03-16', 0, NULL, 'directive 2011/7/EU art. 3: from the day after the due date'),
	('EU', 'interest_day_basis', '2013-03-16', 365, NULL, 'ACT/365'),
	('EU', 'fixed_compensation', '2013-03-16', 40, 'EUR', 'directive 2011/7/EU art. 6: at least EUR 40')) v(j, k, d, x, c, s);
SELECT pg_catalog.pg_extension_config_dump('ar.legal_rate', 'WHERE NOT installed');
-- rows added later are the DBA's (dumped); the installed ones stay as shipped
CREATE FUNCTION ar.legal_rate_before() RETURNS trigger
	LANGUAGE plpgsql
	SET search_path = pg_catalog, ar, pg_temp
AS $$
BEGIN
	IF TG_OP = 'INSERT' THEN
		NEW.installed := false;
		RETURN NEW;
	END IF;
	IF NOT OLD.installed AND TG_OP = 'UPDATE' THEN
		NEW.installed := false;
		RETURN NEW;
	END IF;
	IF OLD.installed THEN
		RAISE EXCEPTION 'legal rate % % from % is installed with ar and kept as shipped', OLD.jurisdiction, OLD.key,
			OLD.valid_from
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  HINT = 'Insert a row with the same jurisdiction, key and valid_from: it overrides the installed one.';
	END IF;
	RETURN coalesce(NEW, OLD);
END
$$;
CREATE TRIGGER legal_rate_before BEFORE INSERT OR UPDATE OR DELETE ON ar.legal_rate
	FOR EACH ROW EXECUTE FUNCTION ar.legal_rate_before();

-- The states where directive 2011/7/EU applies (the EU and the EEA): an
-- entity there without a row of its own for a key falls back to 'EU'.
CREATE FUNCTION ar.eea_member(country text) RETURNS boolean
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
RETURN country = ANY ('{AT,BE,BG,CY,CZ,DE,DK,EE,ES,FI,FR,GR,HR,HU,IE,IS,IT,LI,LT,LU,LV,MT,NL,NO,PL,PT,RO,SE,SI,SK}'::text[]);
COMMENT ON FUNCTION ar.eea_member(text) IS
	'true for the EU and EEA states (ISO 3166 codes), whose late-payment law falls back to the directive''s minimum (jurisdiction EU)';

-- The row of ar.legal_rate in force on a day: the jurisdiction's own before
-- the EU's, the consumer key before the general one, the latest valid_from.
CREATE FUNCTION ar.legal_rate_on(jurisdiction text, key text, on_date date, consumer boolean DEFAULT false)
	RETURNS ar.legal_rate
	LANGUAGE sql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, ar, pg_temp
AS $$
	SELECT r.*
	  FROM ar.legal_rate r
	 WHERE (r.jurisdiction = $1 OR (r.jurisdiction = 'EU' AND ar.eea_member($1)))
	   AND (r.key = $2 OR ($4 AND r.key = $2 || '_consumer'))
	   AND r.valid_from <= $3
	 ORDER BY r.jurisdiction = $1 DESC, r.key = $2, r.valid_from DESC, r.installed
	 LIMIT 1
$$;
COMMENT ON FUNCTION ar.legal_rate_on(text, text, date, boolean) IS
	'the ar.legal_rate row in force on a day for a jurisdiction (its own, else the EU''s for EEA states) and key (the _consumer key first for consumers); NULL when none';

-- Days between two days under a day basis: 365 counts actual days, 360
-- counts 30-day months (30E/360), so that consecutive spans add up.
CREATE FUNCTION ar.interest_days(from_day date, to_day date, basis numeric) RETURNS integer
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
RETURN CASE WHEN basis = 360
			THEN (360 * extract(year FROM to_day) + 30 * extract(month FROM to_day) + least(extract(day FROM to_day), 30))::integer
			   - (360 * extract(year FROM from_day) + 30 * extract(month FROM from_day) + least(extract(day FROM from_day), 30))::integer
			ELSE to_day - from_day END;
COMMENT ON FUNCTION ar.interest_days(date, date, numeric) IS
	'the days from from_day to to_day (exclusive) under a day basis: 365 actual days, 360 30E/360';

-- Simple daily interest on the overdue principal: the invoice's total less
-- what was applied to it before each day (a payment on its value date, else
-- its booking date; a credit note on its issue date; a write-off on the day
-- it was made; reversed allocations not at all), at the rate in force on each
-- day, from the day after the due date (the due date itself where the law
-- says so) up to and including as_of.  Exact in numeric, rounded once, half
-- away from zero, to the currency's minor unit.
CREATE FUNCTION ar._late_interest(invoice_id bigint, as_of date, warn boolean) RETURNS ar.amount
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, ar, pg_temp
AS $$
DECLARE
	inv record;
	day_to date;
	first_day date;
	basis numeric;
	units numeric := 0;
	seg record;
	stale ar.legal_rate;
BEGIN
	IF _late_interest.invoice_id IS NULL THEN
		RAISE EXCEPTION 'late interest of a NULL invoice id' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	SELECT i.id, i.number, i.kind, i.status, i.due_date, i.total, i.currency, e.time_zone,
		   coalesce(e.jurisdiction, e.country) AS jur, ar.zone_today(e.time_zone) AS today,
		   c.segment = 'consumer' AS consumer
	  INTO inv
	  FROM ar.invoice i
	  JOIN ar.entity e ON e.id = i.entity_id
	  JOIN ar.customer c ON c.id = i.customer_id
	 WHERE i.id = _late_interest.invoice_id;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'invoice % does not exist', _late_interest.invoice_id USING ERRCODE = 'no_data_found';
	END IF;
	IF inv.kind <> 'invoice' THEN
		RAISE EXCEPTION 'credit note % bears no late interest', inv.number
			USING ERRCODE = 'object_not_in_prerequisite_state';
	END IF;
	IF inv.status IN ('draft', 'cancelled') THEN
		RAISE EXCEPTION 'invoice % is % and bears no late interest', inv.id, inv.status
			USING ERRCODE = 'object_not_in_prerequisite_state';
	END IF;
	day_to := coalesce(_late_interest.as_of, inv.today);
	IF NOT isfinite(day_to) THEN
		RAISE EXCEPTION 'late interest date % for invoice % is not a day', day_to, inv.number
			USING ERRCODE = 'invalid_datetime_format';
	END IF;
	first_day := inv.due_date +
		CASE WHEN (ar.legal_rate_on(inv.jur, 'interest_from_due_date', inv.due_date)).value = 1 THEN 0 ELSE 1 END;
	IF day_to < first_day THEN
		RETURN ar.amount(0, inv.currency);
	END IF;
	basis := coalesce((ar.legal_rate_on(inv.jur, 'interest_day_basis', inv.due_date)).value, 365);
	-- spans of one principal and one rate: cut where a payment lands and
	-- where a rate starts
	FOR seg IN
		WITH applied AS (
			SELECT CASE WHEN a.payment_id IS NOT NULL THEN coalesce(p.value_date, p.booking_date)
						WHEN a.credit_note_id IS NOT NULL THEN cn.issue_date
						ELSE (a.created_at AT TIME ZONE inv.time_zone)::date END AS paid_on,
				   ar.minor_units(a.amount) AS units
			  FROM ar.allocation a
			  LEFT JOIN ar.payment p ON p.id = a.payment_id
			  LEFT JOIN ar.invoice cn ON cn.id = a.credit_note_id
			 WHERE a.invoice_id = inv.id AND a.reversed_at IS NULL
		), cuts AS (
			SELECT first_day AS d
			UNION
			SELECT x.paid_on + 1 FROM applied x WHERE x.paid_on + 1 > first_day AND x.paid_on + 1 <= day_to
			UNION
			SELECT r.valid_from FROM ar.legal_rate r
			 WHERE (r.jurisdiction = inv.jur OR r.jurisdiction = 'EU')
			   AND r.key IN ('late_interest_pct', 'late_interest_pct_consumer')
			   AND r.valid_from > first_day AND r.valid_from <= day_to
		), spans AS (
			SELECT c.d AS span_from, coalesce(lead(c.d) OVER (ORDER BY c.d), day_to + 1) AS span_to FROM cuts c
		)
		SELECT s.span_from, s.span_to,
			   ar.minor_units(inv.total) - coalesce((SELECT sum(x.units) FROM applied x WHERE x.paid_on < s.span_from), 0)
				   AS principal,
			   ar.legal_rate_on(inv.jur, 'late_interest_pct', s.span_from, inv.consumer) AS rate
		  FROM spans s
		 ORDER BY s.span_from
	LOOP
		IF seg.principal <= 0 THEN
			CONTINUE;
		END IF;
		IF (seg.rate).value IS NULL THEN
			RAISE EXCEPTION 'no late-interest rate for jurisdiction % on %', inv.jur, seg.span_from
				USING ERRCODE = 'invalid_parameter_value',
					  DETAIL = format('Invoice %s is overdue since %s.', inv.number, inv.due_date),
					  HINT = 'Add the rate to ar.legal_rate (jurisdiction, key ''late_interest_pct'', valid_from, value, source).';
		END IF;
		units := units + seg.principal * (seg.rate).value * ar.interest_days(seg.span_from, seg.span_to, basis);
		stale := seg.rate;
	END LOOP;
	-- statutory rates are set for half a year: a rate more than half a year
	-- old is likely out of date
	IF warn AND stale.valid_from IS NOT NULL AND stale.valid_from + interval '6 months' <= day_to THEN
		RAISE WARNING 'late interest for % up to % uses the % rate valid from % (% %%)', inv.number, day_to,
			stale.jurisdiction, stale.valid_from, stale.value
			USING HINT = 'Statutory late-interest rates change every half-year: add the current rate to ar.legal_rate.';
	END IF;
	RETURN ar.amount_of_minor(round(units / (100 * basis))::bigint, inv.currency);
END
$$;
COMMENT ON FUNCTION ar._late_interest(bigint, date, boolean) IS
	'internal: ar.late_interest, with or without the warning about a rate more than half a year old';
CREATE FUNCTION ar.late_interest(invoice_id bigint, as_of date DEFAULT NULL) RETURNS ar.amount
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, ar, pg_temp
RETURN ar._late_interest(invoice_id, as_of, true);
COMMENT ON FUNCTION ar.late_interest(bigint, date) IS
	'simple daily late interest on the overdue principal of an invoice up to as_of (default: the entity''s today), at the dated statutory rates of its jurisdiction';

-- Dunning policies: ordered levels, each some days after the due date, with
-- its action, fee, interest and the deadline it gives.  A customer follows
-- its dunning_policy_id, else its entity's default policy; a customer with
-- neither is not dunned.
CREATE TABLE ar.dunning_policy (
	id integer GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
	entity_id integer NOT NULL REFERENCES ar.entity (id),
	name text NOT NULL CHECK (btrim(name) <> ''),
	is_default boolean NOT NULL DEFAULT false,
	created_at timestamptz NOT NULL DEFAULT now(),
	UNIQUE (entity_id, name),
	UNIQUE (entity_id, id)
);
CREATE UNIQUE INDEX dunning_policy_default ON ar.dunning_policy (entity_id) WHERE is_default;
COMMENT ON TABLE ar.dunning_policy IS
	'dunning procedures of an entity; customers follow their dunning_policy_id, else the entity''s default (is_default)';

CREATE TABLE ar.dunning_level (
	policy_id integer NOT NULL REFERENCES ar.dunning_policy (id) ON DELETE CASCADE,
	level integer NOT NULL CHECK (level BETWEEN 1 AND 20),
	days_after_due integer NOT NULL CHECK (days_after_due BETWEEN 1 AND 3650),
	action text NOT NULL CHECK (action IN ('reminder', 'collection_notice', 'manager_alert', 'handover',
										   'suspend_service')),
	fee ar.amount,
	charge_interest boolean NOT NULL DEFAULT false,
	deadline_days integer NOT NULL DEFAULT 10 CHECK (deadline_days BETWEEN 0 AND 365),
	PRIMARY KEY (policy_id, level),
	-- fees are charged on letters to the customer only
	CONSTRAINT dunning_level_fee_check CHECK (fee IS NULL OR
		(ar.minor_units(fee) >= 0 AND action IN ('reminder', 'collection_notice'))),
	CONSTRAINT dunning_level_interest_check CHECK (NOT charge_interest OR action IN ('reminder', 'collection_notice'))
);
COMMENT ON TABLE ar.dunning_level IS
	'the levels of a dunning policy: from days_after_due on, an overdue invoice gets this action (one level per run, after the previous letter''s deadline)';

-- The levels of a policy come later the higher they are (checked at commit,
-- so that a policy can be reordered in one transaction).
CREATE FUNCTION ar.dunning_level_order() RETURNS trigger
	LANGUAGE plpgsql
	SET search_path = pg_catalog, ar, pg_temp
AS $$
DECLARE
	bad record;
BEGIN
	SELECT l.level, l.days_after_due, p.name, prev.level AS prev_level, prev.days_after_due AS prev_days
	  INTO bad
	  FROM ar.dunning_level l
	  JOIN ar.dunning_policy p ON p.id = l.policy_id
	  JOIN LATERAL (SELECT x.level, x.days_after_due FROM ar.dunning_level x
					 WHERE x.policy_id = l.policy_id AND x.level < l.level
					 ORDER BY x.level DESC LIMIT 1) prev ON true
	 WHERE l.policy_id = NEW.policy_id AND l.days_after_due <= prev.days_after_due
	 ORDER BY l.level LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION 'dunning level % of policy "%" comes % days after the due date, not later than level % (% days)',
			bad.level, bad.name, bad.days_after_due, bad.prev_level, bad.prev_days
			USING ERRCODE = 'check_violation';
	END IF;
	RETURN NULL;
END
$$;
CREATE CONSTRAINT TRIGGER dunning_level_order AFTER INSERT OR UPDATE ON ar.dunning_level
	DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ar.dunning_level_order();

ALTER TABLE ar.customer
	ADD CONSTRAINT customer_dunning_policy_fkey FOREIGN KEY (entity_id, dunning_policy_id)
		REFERENCES ar.dunning_policy (entity_id, id);

-- Disputes: an open dispute stops the dunning of its invoice; accepting it
-- credits the invoice (its open amount, or amount), rejecting it lets
-- dunning go on.  Resolved disputes are kept as they are.
CREATE TABLE ar.dispute (
	id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
	entity_id integer NOT NULL REFERENCES ar.entity (id),
	invoice_id bigint NOT NULL REFERENCES ar.invoice (id),
	reason text NOT NULL CHECK (btrim(reason) <> ''),
	status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'accepted', 'rejected')),
	-- what accepting credits; NULL: the invoice's open amount
	amount ar.amount,
	opened_at timestamptz NOT NULL DEFAULT now(),
	resolved_at timestamptz,
	credit_note_id bigint REFERENCES ar.invoice (id),
	CONSTRAINT dispute_resolved_check CHECK ((status = 'open') = (resolved_at IS NULL)),
	CONSTRAINT dispute_credit_check CHECK ((status = 'accepted') = (credit_note_id IS NOT NULL))
);
CREATE UNIQUE INDEX dispute_open ON ar.dispute (invoice_id) WHERE status = 'open';
COMMENT ON TABLE ar.dispute IS
	'disputed invoices: an open dispute stops dunning; accepting it credits the invoice (credit_note_id)';

CREATE FUNCTION ar.dispute_before() RETURNS trigger
	LANGUAGE plpgsql
	SET search_path = pg_catalog, ar, pg_temp
AS $$
DECLARE
	inv record;
BEGIN
	IF ar.restoring() THEN
		RETURN coalesce(NEW, OLD);
	END IF;
	IF TG_OP = 'DELETE' THEN
		RAISE EXCEPTION 'dispute % of invoice % cannot be deleted', OLD.id, OLD.invoice_id
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  HINT = 'Disputes are kept: resolve an open one by setting its status to accepted or rejected.';
	END IF;
	IF TG_OP = 'INSERT' THEN
		SELECT i.entity_id, i.kind, i.status, coalesce(i.number, i.id::text) AS name INTO inv
		  FROM ar.invoice i WHERE i.id = NEW.invoice_id;
		IF NOT FOUND THEN
			RAISE EXCEPTION 'invoice % does not exist', NEW.invoice_id USING ERRCODE = 'foreign_key_violation';
		END IF;
		IF inv.kind <> 'invoice' OR inv.status NOT IN ('issued', 'partially_paid') THEN
			RAISE EXCEPTION 'cannot dispute % % with status %', replace(inv.kind, '_', ' '), inv.name, inv.status
				USING ERRCODE = 'object_not_in_prerequisite_state',
					  DETAIL = 'Only an issued or partially paid invoice can be disputed.';
		END IF;
		IF NEW.entity_id IS DISTINCT FROM inv.entity_id AND NEW.entity_id IS NOT NULL THEN
			RAISE EXCEPTION 'dispute of invoice % names entity %, the invoice is of entity %',
				inv.name, NEW.entity_id, inv.entity_id USING ERRCODE = 'invalid_parameter_value';
		END IF;
		IF NEW.status <> 'open' OR NEW.resolved_at IS NOT NULL OR NEW.credit_note_id IS NOT NULL THEN
			RAISE EXCEPTION 'a dispute of invoice % starts open (status %)', inv.name, NEW.status
				USING ERRCODE = 'invalid_parameter_value';
		END IF;
		IF EXISTS (SELECT 1 FROM ar.dispute d WHERE d.invoice_id = NEW.invoice_id AND d.status = 'open') THEN
			RAISE EXCEPTION 'invoice % has an open dispute already', inv.name
				USING ERRCODE = 'unique_violation',
					  HINT = 'Resolve it (status accepted or rejected) before opening another.';
		END IF;
		NEW.entity_id := inv.entity_id;
		RETURN NEW;
	END IF;
	-- UPDATE
	IF OLD.status <> 'open' THEN
		RAISE EXCEPTION 'dispute % is % and cannot be changed', OLD.id, OLD.status
			USING ERRCODE = 'object_not_in_prerequisite_state';
	END IF;
	IF (NEW.id, NEW.entity_id, NEW.invoice_id, NEW.opened_at) IS DISTINCT FROM
	   (OLD.id, OLD.entity_id, OLD.invoice_id, OLD.opened_at) THEN
		RAISE EXCEPTION 'dispute % keeps its invoice, entity and opening time', OLD.id
			USING ERRCODE = 'object_not_in_prerequisite_state';
	END IF;
	IF NEW.status = 'open' THEN
		IF NEW.resolved_at IS NOT NULL OR NEW.credit_note_id IS NOT NULL THEN
			RAISE EXCEPTION 'open dispute % has no resolution', OLD.id USING ERRCODE = 'invalid_parameter_value';
		END IF;
		RETURN NEW;
	END IF;
	NEW.resolved_at := now();
	IF NEW.status = 'accepted' THEN
		NEW.credit_note_id := ar.credit(NEW.invoice_id, format('Dispute %s: %s', NEW.id, NEW.reason), NEW.amount);
	ELSIF NEW.credit_note_id IS NOT NULL THEN
		RAISE EXCEPTION 'rejected dispute % has no credit note', OLD.id USING ERRCODE = 'invalid_parameter_value';
	END IF;
	RETURN NEW;
END
$$;
CREATE TRIGGER dispute_before BEFORE INSERT OR UPDATE OR DELETE ON ar.dispute
	FOR EACH ROW EXECUTE FUNCTION ar.dispute_before();
CREATE TRIGGER dispute_no_truncate BEFORE TRUNCATE ON ar.dispute
	FOR EACH STATEMENT EXECUTE FUNCTION ar.refuse_direct_write('disputes are kept',
		'Resolve an open dispute by setting its status to accepted or rejected.');

-- What dunning sent: one letter per customer, level and currency on a day,
-- with one item per invoice.  Written by ar.run_dunning only and never
-- changed; the letter is queued in ar.outbox (outbox_id: no foreign key,
-- as sent outbox rows may be cleared away).
CREATE TABLE ar.dunning_letter (
	id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
	entity_id integer NOT NULL REFERENCES ar.entity (id),
	customer_id bigint NOT NULL,
	policy_id integer NOT NULL,
	level integer NOT NULL CHECK (level >= 1),
	action text NOT NULL CHECK (action IN ('reminder', 'collection_notice', 'manager_alert', 'handover',
										   'suspend_service')),
	as_of date NOT NULL,
	deadline date NOT NULL,
	currency text NOT NULL REFERENCES ar.currency (code),
	open_total ar.amount NOT NULL,
	fee ar.amount NOT NULL,
	interest ar.amount NOT NULL,
	outbox_id bigint,
	created_at timestamptz NOT NULL DEFAULT now(),
	FOREIGN KEY (entity_id, customer_id) REFERENCES ar.customer (entity_id, id),
	FOREIGN KEY (entity_id, policy_id) REFERENCES ar.dunning_policy (entity_id, id),
	UNIQUE (customer_id, level, currency, as_of),
	CONSTRAINT dunning_letter_amounts_check CHECK (ar.currency_of(open_total) = currency
		AND ar.currency_of(fee) = currency AND ar.currency_of(interest) = currency
		AND ar.minor_units(fee) >= 0 AND ar.minor_units(interest) >= 0),
	CONSTRAINT dunning_letter_deadline_check CHECK (deadline >= as_of)
);
CREATE INDEX dunning_letter_customer ON ar.dunning_letter (customer_id);
COMMENT ON TABLE ar.dunning_letter IS
	'dunning letters and alerts sent by ar.run_dunning: fee and late interest as of the letter''s day, deadline to pay';

CREATE TABLE ar.dunning_item (
	id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
	entity_id integer NOT NULL REFERENCES ar.entity (id),
	letter_id bigint NOT NULL REFERENCES ar.dunning_letter (id),
	invoice_id bigint NOT NULL REFERENCES ar.invoice (id),
	level integer NOT NULL,
	days_overdue integer NOT NULL,
	open_amount ar.amount NOT NULL,
	interest ar.amount NOT NULL,
	-- the letter's fee is charged for this invoice (counts towards the caps)
	fee_bearing boolean NOT NULL,
	UNIQUE (letter_id, invoice_id),
	-- each level once per invoice
	UNIQUE (invoice_id, level)
);
COMMENT ON TABLE ar.dunning_item IS
	'the invoices of a dunning letter, with their open amount, days overdue and late interest on the letter''s day';

DO $$
DECLARE
	t text;
BEGIN
	FOREACH t IN ARRAY ARRAY['dunning_letter', 'dunning_item'] LOOP
		EXECUTE format('CREATE TRIGGER %I BEFORE INSERT ON ar.%I FOR EACH STATEMENT '
					   'WHEN (NOT ar.internal() AND NOT ar.restoring()) '
					   'EXECUTE FUNCTION ar.refuse_direct_write(%L, %L)', t || '_internal', t,
					   'dunning letters are written only by ar.run_dunning()',
					   'Run ar.run_dunning(as_of, entity_id).');
		EXECUTE format('CREATE TRIGGER %I BEFORE UPDATE OR DELETE ON ar.%I FOR EACH STATEMENT '
					   'EXECUTE FUNCTION ar.refuse_direct_write(%L, %L)', t || '_immutable', t,
					   'a dunning letter records what was sent and is never changed',
					   'A letter sent in error is answered by the next one; an invoice is kept out of dunning by an open ar.dispute.');
		EXECUTE format('CREATE TRIGGER %I BEFORE TRUNCATE ON ar.%I FOR EACH STATEMENT '
					   'EXECUTE FUNCTION ar.refuse_direct_write(%L, %L)', t || '_no_truncate', t,
					   'a dunning letter records what was sent and is never changed', 'Letters are kept.');
	END LOOP;
END
$$;

-- One line of a dunning letter, and the letter's text (the outbox payload).
CREATE TYPE ar.dunning_line AS (
	number text,
	due_date date,
	days_overdue integer,
	open_amount ar.amount,
	interest ar.amount,
	payment_reference text
);

CREATE FUNCTION ar.dunning_text(letter_id bigint, action text, level integer, as_of date, deadline date,
								open_total ar.amount, fee ar.amount, interest ar.amount, seller ar.entity,
								buyer ar.customer, lines ar.dunning_line[])
	RETURNS text
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, ar, pg_temp
AS $$
	SELECT concat_ws(E'\n',
		CASE $2 WHEN 'reminder' THEN 'PAYMENT REMINDER ' || $3
				WHEN 'collection_notice' THEN 'COLLECTION NOTICE (level ' || $3 || ')'
				WHEN 'manager_alert' THEN 'ACCOUNT MANAGER ALERT (level ' || $3 || ')'
				WHEN 'handover' THEN 'HAND OVER TO COLLECTION (level ' || $3 || ')'
				ELSE 'SUSPEND SERVICE (level ' || $3 || ')' END,
		format('Letter %s of %s from %s%s', $1, $4, ($9).name, ' (VAT ' || ($9).vat_id || ')'),
		format('To %s, customer %s', ($10).name, ($10).customer_no)
			|| CASE WHEN $2 IN ('reminder', 'collection_notice') THEN ''
					ELSE coalesce(', account manager ' || ($10).account_manager, '') END,
		'',
		CASE WHEN $2 IN ('reminder', 'collection_notice') THEN 'These invoices are overdue:'
			 WHEN ($10).segment = 'key' AND $2 = 'manager_alert'
				 THEN 'A key account: no letter went to the customer. These invoices are overdue:'
			 ELSE 'These invoices are overdue:' END,
		format('  %-20s %-10s %5s %20s %16s', 'Invoice', 'Due date', 'Days', 'Open', 'Interest'),
		(SELECT string_agg(format('  %-20s %-10s %5s %20s %16s', l.number, l.due_date, l.days_overdue,
								  l.open_amount, l.interest), E'\n' ORDER BY o)
		   FROM unnest($11) WITH ORDINALITY AS l(number, due_date, days_overdue, open_amount, interest,
												 payment_reference, o)),
		'',
		format('Open amount    %20s', $6),
		CASE WHEN ar.minor_units($8) > 0 THEN format('Late interest  %20s', $8) END,
		CASE WHEN ar.minor_units($7) > 0 THEN format('Reminder fee   %20s', $7) END,
		CASE WHEN $2 IN ('reminder', 'collection_notice')
			 THEN format('To pay         %20s by %s', $6 OPERATOR(ar.+) $8 OPERATOR(ar.+) $7, $5)
			 ELSE format('Follow up by %s.', $5) END,
		CASE WHEN $2 IN ('reminder', 'collection_notice') THEN
			concat_ws(E'\n', '',
				'Pay to ' || concat_ws(', ', 'IBAN ' || ($9).iban, 'BIC ' || ($9).bic, 'bankgiro ' || ($9).bankgiro)
					|| ', with each invoice''s payment reference:',
				(SELECT string_agg(format('  %s: %s', l.number, l.payment_reference), E'\n' ORDER BY o)
				   FROM unnest($11) WITH ORDINALITY AS l(number, due_date, days_overdue, open_amount, interest,
														 payment_reference, o)),
				'If you have paid already, please disregard this letter. If you dispute an invoice, tell us before the deadline.')
		END)
$$;
COMMENT ON FUNCTION ar.dunning_text(bigint, text, integer, date, date, ar.amount, ar.amount, ar.amount, ar.entity,
									ar.customer, ar.dunning_line[]) IS
	'the text of a dunning letter or alert, as ar.run_dunning queues it in ar.outbox';

-- The fee cap of a jurisdiction in a letter's currency: converted at the
-- day's rate and rounded down, so that it never exceeds the legal figure.
CREATE FUNCTION ar.fee_cap_in(cap ar.legal_rate, currency text, on_date date) RETURNS ar.amount
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, ar, pg_temp
AS $$
	SELECT ar.amount_of_minor(
			   floor(CASE WHEN (cap).currency = $2 THEN (cap).value
						  ELSE (cap).value * ar.fx_rate_on((cap).currency, $2, $3) END
					 * 10::numeric ^ c.minor_unit)::bigint, $2)
	  FROM ar.currency c WHERE c.code = $2
$$;
COMMENT ON FUNCTION ar.fee_cap_in(ar.legal_rate, text, date) IS
	'a legal fee cap in another currency, at the day''s ar.fx_rate, rounded down to the minor unit';

CREATE FUNCTION ar._run_dunning(as_of date, entity_id integer)
	RETURNS TABLE (action text, letters bigint, invoices bigint)
	LANGUAGE plpgsql
	SET search_path = pg_catalog, ar, pg_temp
AS $$
DECLARE
	e record;
	stale record;
BEGIN
	-- no run for a day that has not come yet
	PERFORM ar._check_day(_run_dunning.as_of, _run_dunning.entity_id, 'dunning',
						  'Dunning runs for today or a day that has passed.');
	-- one run per entity at a time (a second waits, then finds the letters
	-- of the first)
	FOR e IN SELECT x.id FROM ar.entity x
			  WHERE _run_dunning.entity_id IS NULL OR x.id = _run_dunning.entity_id ORDER BY x.id
	LOOP
		PERFORM pg_advisory_xact_lock(1634888046, e.id);
	END LOOP;

	RETURN QUERY
	WITH cash AS (
		-- customers with money on their known accounts not yet applied:
		-- their invoices may be paid already
		SELECT DISTINCT pa.customer_id
		  FROM ar.payment p
		  JOIN ar.payer_account pa ON pa.entity_id = p.entity_id
			   AND pa.payer_account = upper(regexp_replace(p.payer_account, '\s', '', 'g'))
		 WHERE p.kind = 'credit' AND p.status IN ('unmatched', 'partial', 'suggested')
		   AND ar.minor_units(p.unallocated) > 0
		   AND (_run_dunning.entity_id IS NULL OR p.entity_id = _run_dunning.entity_id)
	), cand AS MATERIALIZED (
		SELECT i.id AS invoice_id, i.entity_id, i.customer_id, i.currency, i.number, i.due_date, i.issue_date,
			   i.open_amount, i.payment_reference, d.day, d.day - i.due_date AS days_overdue,
			   c.segment, c.fee_agreed_on, coalesce(en.jurisdiction, en.country) AS jur,
			   p.id AS policy_id, lv.level, lv.fee AS level_fee, lv.charge_interest, lv.deadline_days,
			   CASE WHEN c.segment = 'key' AND lv.action IN ('reminder', 'collection_notice')
					THEN 'manager_alert' ELSE lv.action END AS act
		  FROM ar.invoice i
		  JOIN ar.entity en ON en.id = i.entity_id
		  CROSS JOIN LATERAL (SELECT coalesce(_run_dunning.as_of, ar.zone_today(en.time_zone)) AS day) d
		  JOIN ar.customer c ON c.id = i.customer_id
		  JOIN ar.dunning_policy p ON p.id = coalesce(c.dunning_policy_id,
			  (SELECT dp.id FROM ar.dunning_policy dp WHERE dp.entity_id = i.entity_id AND dp.is_default))
		  LEFT JOIN LATERAL (
			  SELECT it.level, l.as_of AS sent_on, l.deadline
				FROM ar.dunning_item it JOIN ar.dunning_letter l ON l.id = it.letter_id
			   WHERE it.invoice_id = i.id
			   ORDER BY it.level DESC LIMIT 1) prev ON true
		  JOIN LATERAL (
			  SELECT x.* FROM ar.dunning_level x
			   WHERE x.policy_id = p.id AND x.level > coalesce(prev.level, 0)
			   ORDER BY x.level LIMIT 1) lv ON true
		 WHERE (_run_dunning.entity_id IS NULL OR i.entity_id = _run_dunning.entity_id)
		   AND i.kind = 'invoice' AND i.status IN ('issued', 'partially_paid')
		   AND ar.minor_units(i.open_amount) > 0
		   AND d.day - i.due_date >= lv.days_after_due
		   AND (prev.level IS NULL OR (d.day > prev.sent_on AND d.day >= prev.deadline))
		   AND NOT EXISTS (SELECT 1 FROM ar.dispute ds WHERE ds.invoice_id = i.id AND ds.status = 'open')
		   AND NOT EXISTS (SELECT 1 FROM ar.match_suggestion s JOIN ar.payment py ON py.id = s.payment_id
							WHERE s.invoice_id = i.id AND py.status IN ('unmatched', 'partial', 'suggested'))
		   AND i.customer_id NOT IN (SELECT cash.customer_id FROM cash)
	), law AS MATERIALIZED (
		-- the fee rules in force, once per jurisdiction, day and kind of
		-- customer (not once per invoice)
		SELECT k.jur, k.day, k.consumer,
			   coalesce((ar.legal_rate_on(k.jur, 'reminder_fee_requires_agreement', k.day)).value, 0) = 1
				   AS needs_agreement,
			   coalesce((ar.legal_rate_on(k.jur, 'reminder_fee_min_days_after_due', k.day)).value, 0)
				   AS min_days_after_due,
			   (ar.legal_rate_on(k.jur, 'reminder_fee_count_max', k.day)).value AS count_max,
			   coalesce((ar.legal_rate_on(k.jur, 'reminder_fee_min_days_between', k.day)).value, 0)
				   AS min_days_between,
			   coalesce((ar.legal_rate_on(k.jur, 'collection_deadline_min_days', k.day)).value, 0)
				   AS collection_min_days,
			   ar.legal_rate_on(k.jur, 'reminder_fee_max', k.day, k.consumer) AS fee_cap
		  FROM (SELECT DISTINCT c.jur, c.day, c.segment = 'consumer' AS consumer FROM cand c) k
	), item AS MATERIALIZED (
		-- whether the law lets this invoice bear the letter's fee, and its
		-- interest
		SELECT c.*, w.fee_cap, w.collection_min_days,
			   c.level_fee IS NOT NULL AND ar.minor_units(c.level_fee) > 0
			   AND c.act IN ('reminder', 'collection_notice')
			   AND (NOT w.needs_agreement OR coalesce(c.fee_agreed_on <= c.issue_date, false))
			   AND c.days_overdue >= w.min_days_after_due
			   AND (w.count_max IS NULL OR f.n < w.count_max)
			   AND (f.last_on IS NULL OR c.day - f.last_on >= w.min_days_between)
				   AS fee_ok,
			   CASE WHEN c.charge_interest AND c.act IN ('reminder', 'collection_notice')
					THEN ar._late_interest(c.invoice_id, c.day, false) ELSE ar.amount(0, c.currency) END AS interest
		  FROM cand c
		  JOIN law w ON w.jur = c.jur AND w.day = c.day AND w.consumer = (c.segment = 'consumer')
		  CROSS JOIN LATERAL (
			  SELECT count(*) AS n, max(l.as_of) AS last_on
				FROM ar.dunning_item it JOIN ar.dunning_letter l ON l.id = it.letter_id
			   WHERE it.invoice_id = c.invoice_id AND it.fee_bearing) f
	), letter AS MATERIALIZED (
		SELECT nextval(pg_get_serial_sequence('ar.dunning_letter', 'id')) AS id,
			   nextval(pg_get_serial_sequence('ar.outbox', 'id')) AS outbox_id, g.*,
			   CASE WHEN NOT g.any_fee THEN ar.amount(0, g.currency)
					WHEN (g.fee_cap).value IS NULL THEN x.fee
					ELSE least(x.fee, ar.fee_cap_in(g.fee_cap, g.currency, g.day)) END AS fee,
			   g.day + CASE WHEN g.act = 'collection_notice' THEN greatest(g.deadline_days, g.collection_min_days)
							ELSE g.deadline_days END::integer AS deadline
		  FROM (SELECT it.entity_id, it.customer_id, it.policy_id, it.level, it.act, it.day, it.currency,
					   it.level_fee, it.deadline_days, it.fee_cap, it.collection_min_days,
					   bool_or(it.fee_ok) AS any_fee, ar.sum(it.open_amount) AS open_total,
					   ar.sum(it.interest) AS interest, count(*) AS n,
					   -- the letter's invoices go along with it: joining the
					   -- items to the letters again, or looking up each
					   -- letter's lines among all items, was a nested loop
					   -- over both (the planner takes each for one row),
					   -- quadratic in the letters of a run
					   array_agg(it.invoice_id ORDER BY it.due_date, it.number) AS item_ids,
					   array_agg(it.days_overdue ORDER BY it.due_date, it.number) AS item_days,
					   array_agg(it.open_amount ORDER BY it.due_date, it.number) AS item_open,
					   array_agg(it.interest ORDER BY it.due_date, it.number) AS item_interest,
					   array_agg(it.fee_ok ORDER BY it.due_date, it.number) AS item_fee_ok,
					   array_agg(ROW(it.number, it.due_date, it.days_overdue, it.open_amount, it.interest,
									 it.payment_reference)::ar.dunning_line ORDER BY it.due_date, it.number)
						   AS lines
				  FROM item it
				 GROUP BY it.entity_id, it.customer_id, it.policy_id, it.level, it.act, it.day, it.currency,
						  it.level_fee, it.deadline_days, it.fee_cap, it.collection_min_days
				 ORDER BY it.entity_id, it.customer_id, it.level, it.currency) g
		 -- the level's fee in the letter's currency
		 CROSS JOIN LATERAL (SELECT CASE WHEN NOT g.any_fee OR ar.currency_of(g.level_fee) = g.currency
										 THEN g.level_fee
										 ELSE ar.convert(g.level_fee, g.currency, g.day) END AS fee) x
	), ins_letter AS (
		INSERT INTO ar.dunning_letter (id, entity_id, customer_id, policy_id, level, action, as_of, deadline,
									   currency, open_total, fee, interest, outbox_id)
		SELECT l.id, l.entity_id, l.customer_id, l.policy_id, l.level, l.act, l.day, l.deadline, l.currency,
			   l.open_total, l.fee, l.interest, l.outbox_id
		  FROM letter l
	), ins_item AS (
		INSERT INTO ar.dunning_item (entity_id, letter_id, invoice_id, level, days_overdue, open_amount, interest,
									 fee_bearing)
		SELECT l.entity_id, l.id, x.invoice_id, l.level, x.days_overdue, x.open_amount, x.interest,
			   x.fee_ok AND ar.minor_units(l.fee) > 0
		  FROM letter l
		 CROSS JOIN LATERAL unnest(l.item_ids, l.item_days, l.item_open, l.item_interest, l.item_fee_ok)
			   AS x (invoice_id, days_overdue, open_amount, interest, fee_ok)
	), ins_outbox AS (
		INSERT INTO ar.outbox (id, entity_id, customer_id, kind, channel, payload)
		SELECT l.outbox_id, l.entity_id, l.customer_id,
			   CASE l.act WHEN 'reminder' THEN 'reminder' WHEN 'collection_notice' THEN 'collection_notice'
						  WHEN 'suspend_service' THEN 'service_suspension' ELSE 'manager_alert' END,
			   CASE WHEN l.act NOT IN ('reminder', 'collection_notice') THEN 'internal'
					WHEN cu.channel = 'print' OR cu.email IS NULL THEN 'print' ELSE 'email' END,
			   ar.dunning_text(l.id, l.act, l.level, l.day, l.deadline, l.open_total, l.fee, l.interest, en, cu,
							   l.lines)
		  FROM letter l
		  JOIN ar.customer cu ON cu.id = l.customer_id
		  JOIN ar.entity en ON en.id = l.entity_id
	)
	SELECT l.act, count(*), sum(l.n)::bigint
	  FROM letter l
	 GROUP BY l.act
	 ORDER BY l.act;
	-- statutory rates are set for half a year: say once per jurisdiction
	-- when the run charged interest at a rate more than half a year old
	FOR stale IN
		SELECT DISTINCT r.jurisdiction, r.valid_from, r.value, l.as_of
		  FROM ar.dunning_letter l
		  JOIN ar.entity en ON en.id = l.entity_id
		  CROSS JOIN LATERAL ar.legal_rate_on(coalesce(en.jurisdiction, en.country), 'late_interest_pct', l.as_of) r
		 WHERE l.created_at = now() AND l.as_of = coalesce(_run_dunning.as_of, ar.zone_today(en.time_zone))
		   AND ar.minor_units(l.interest) > 0
		   AND (_run_dunning.entity_id IS NULL OR l.entity_id = _run_dunning.entity_id)
		   AND r.valid_from + interval '6 months' <= l.as_of
		 ORDER BY 1
	LOOP
		RAISE WARNING 'late interest up to % used the % rate valid from % (% %%)', stale.as_of, stale.jurisdiction,
			stale.valid_from, stale.value
			USING HINT = 'Statutory late-interest rates change every half-year: add the current rate to ar.legal_rate.';
	END LOOP;
END
$$;
COMMENT ON FUNCTION ar._run_dunning(date, integer) IS 'internal: the body of ar.run_dunning (src/guard.c)';
CREATE FUNCTION ar.run_dunning(as_of date DEFAULT NULL, entity_id integer DEFAULT NULL)
	RETURNS TABLE (action text, letters bigint, invoices bigint)
	AS 'MODULE_PATHNAME', 'ar_guarded' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ar.run_dunning(date, integer) IS
	'dunning for a day (NULL: each entity''s today) of one entity or all: each overdue, undisputed invoice moves one level of its customer''s policy when due; one letter per customer, level and currency, fees within the legal caps, late interest, key accounts alert their manager; a second run for the same day finds nothing to do';
-- (end of dunning)

/* ------------------------------------------------------------------------
 * 8. Background worker and jobs (src/worker.c)
 * ------------------------------------------------------------------------ */

-- The values one field of a cron schedule allows: a comma list of *, n,
-- a-b, each optionally /step, within lo..hi.
CREATE FUNCTION ar.cron_field(field text, lo integer, hi integer, what text) RETURNS integer[]
	LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	item text;
	m text[];
	a integer;
	b integer;
	step integer;
	vals integer[] := '{}';
BEGIN
	FOREACH item IN ARRAY string_to_array(field, ',') LOOP
		m := regexp_match(item, '^(\*|([0-9]{1,2})(-([0-9]{1,2}))?)(/([0-9]{1,2}))?$');
		IF m IS NULL THEN
			RAISE EXCEPTION 'cron % field "%" is not *, n, a-b or one of them /step', what, field
				USING ERRCODE = 'invalid_parameter_value';
		END IF;
		IF m[1] = '*' THEN
			a := lo;
			b := hi;
		ELSE
			a := m[2]::integer;
			b := coalesce(m[4]::integer, CASE WHEN m[6] IS NULL THEN a ELSE hi END);
		END IF;
		step := coalesce(m[6]::integer, 1);
		IF a < lo OR b > hi OR a > b OR step < 1 THEN
			RAISE EXCEPTION 'cron % field "%" is outside %-% (or empty)', what, field, lo, hi
				USING ERRCODE = 'invalid_parameter_value';
		END IF;
		vals := vals || ARRAY(SELECT generate_series(a, b, step));
	END LOOP;
	RETURN ARRAY(SELECT DISTINCT v FROM unnest(vals) v ORDER BY v);
END
$$;
COMMENT ON FUNCTION ar.cron_field(text, integer, integer, text) IS
	'internal: the values a cron field allows';

-- Does a day match a cron schedule's month, day-of-month and day-of-week
-- sets?  both_match: one of the day fields started with * (both must match);
-- else either may.
CREATE FUNCTION ar.cron_day(d date, months integer[], doms integer[], dows integer[], both_match boolean)
	RETURNS boolean
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
RETURN extract(month FROM d)::integer = ANY (months)
	AND CASE WHEN both_match
			 THEN extract(day FROM d)::integer = ANY (doms) AND extract(dow FROM d)::integer = ANY (dows)
			 ELSE extract(day FROM d)::integer = ANY (doms) OR extract(dow FROM d)::integer = ANY (dows) END;
COMMENT ON FUNCTION ar.cron_day(date, integer[], integer[], integer[], boolean) IS
	'internal: whether a day matches the month and day fields of a cron schedule';

-- The first moment after "after" that a schedule names.  A schedule is an
-- interval ('5 minutes': that long after the last run), a cron expression
-- of five fields (minute hour day-of-month month day-of-week, in the job's
-- time zone; day of month and day of week both restricted means either),
-- or @hourly, @daily, @weekly, @monthly.
CREATE FUNCTION ar.job_next_run(schedule text, after timestamptz, time_zone text DEFAULT 'UTC')
	RETURNS timestamptz
	LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	spec text := btrim(schedule);
	f text[];
	mins integer[];
	hours integer[];
	doms integer[];
	months integer[];
	dows integer[];
	dom_any boolean;
	dow_any boolean;
	day_ok boolean;
	u timestamptz;
	local timestamp;
	d date;
	h integer;
	mi integer;
	every interval;
BEGIN
	spec := CASE lower(spec) WHEN '@hourly' THEN '0 * * * *' WHEN '@daily' THEN '0 0 * * *'
							 WHEN '@midnight' THEN '0 0 * * *' WHEN '@weekly' THEN '0 0 * * 0'
							 WHEN '@monthly' THEN '0 0 1 * *' ELSE spec END;
	f := regexp_split_to_array(spec, '\s+');
	IF cardinality(f) <> 5 THEN
		BEGIN
			every := spec::interval;
		EXCEPTION WHEN invalid_datetime_format OR datetime_field_overflow OR interval_field_overflow THEN
			RAISE EXCEPTION 'job schedule "%" is neither an interval nor a cron expression of five fields', schedule
				USING ERRCODE = 'invalid_parameter_value',
					  HINT = 'Examples: ''5 minutes'', ''0 6 * * *'' (06:00 every day), ''*/15 * * * 1-5'', ''@daily''.';
		END;
		IF every < interval '1 second' THEN
			RAISE EXCEPTION 'job schedule "%" is not a positive interval', schedule
				USING ERRCODE = 'invalid_parameter_value';
		END IF;
		RETURN after + every;
	END IF;
	IF NOT ar.time_zone_valid(time_zone) THEN
		RAISE EXCEPTION 'time zone "%" of a job schedule is not known', time_zone
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	mins := ar.cron_field(f[1], 0, 59, 'minute');
	hours := ar.cron_field(f[2], 0, 23, 'hour');
	doms := ar.cron_field(f[3], 1, 31, 'day-of-month');
	months := ar.cron_field(f[4], 1, 12, 'month');
	-- Sunday is 0 or 7
	dows := ARRAY(SELECT DISTINCT v % 7 FROM unnest(ar.cron_field(f[5], 0, 7, 'day-of-week')) v ORDER BY 1);
	-- as in Vixie cron: a field that starts with * leaves the day to the
	-- other (both must match); two restricted fields match either
	dom_any := f[3] LIKE '*%';
	dow_any := f[5] LIKE '*%';
	-- Where the clock goes back (autumn), local times repeat: walking local
	-- time would skip the repeated hour.  Every instant of the next two
	-- hours is looked at in UTC first.
	u := date_trunc('minute', after) + interval '1 minute';
	WHILE u <= after + interval '2 hours' LOOP
		local := u AT TIME ZONE time_zone;
		IF extract(minute FROM local)::integer = ANY (mins) AND extract(hour FROM local)::integer = ANY (hours)
		   AND ar.cron_day(local::date, months, doms, dows, dom_any OR dow_any) THEN
			RETURN u;
		END IF;
		u := u + interval '1 minute';
	END LOOP;
	-- the next whole minute, in the job's zone
	local := date_trunc('minute', after AT TIME ZONE time_zone) + interval '1 minute';
	d := local::date;
	-- (4 years and a day cover every date a schedule can name, 29 February too)
	WHILE d <= local::date + 1462 LOOP
		day_ok := ar.cron_day(d, months, doms, dows, dom_any OR dow_any);
		IF day_ok THEN
			FOREACH h IN ARRAY hours LOOP
				CONTINUE WHEN d = local::date AND h < extract(hour FROM local)::integer;
				FOREACH mi IN ARRAY mins LOOP
					CONTINUE WHEN d = local::date AND h = extract(hour FROM local)::integer
								  AND mi < extract(minute FROM local)::integer;
					RETURN (d + make_time(h, mi, 0)) AT TIME ZONE time_zone;
				END LOOP;
			END LOOP;
		END IF;
		d := d + 1;
	END LOOP;
	RAISE EXCEPTION 'job schedule "%" names no day that exists', schedule
		USING ERRCODE = 'invalid_parameter_value';
END
$$;
COMMENT ON FUNCTION ar.job_next_run(text, timestamptz, text) IS
	'the first moment after "after" named by a job schedule: an interval (''5 minutes'') or a cron expression (''0 6 * * *'', @hourly, @daily, @weekly, @monthly) read in time_zone';

CREATE TABLE ar.job (
	name text PRIMARY KEY CONSTRAINT job_name_check CHECK (name ~ '^[a-z0-9_][a-z0-9_.-]*$'),
	schedule text NOT NULL,
	command text NOT NULL CONSTRAINT job_command_check CHECK (command ~ '\S'),
	enabled boolean NOT NULL DEFAULT true,
	-- the role the command runs as (by oid: a dropped role's jobs do not pass
	-- to a new role of its name); only its members may set it
	run_as regrole NOT NULL DEFAULT current_user::regrole,
	time_zone text NOT NULL DEFAULT current_setting('TimeZone')
		CONSTRAINT job_time_zone_check CHECK (ar.time_zone_valid(time_zone)),
	next_run timestamptz,
	last_run timestamptz,
	last_status text CONSTRAINT job_last_status_check CHECK (last_status IN ('succeeded', 'failed')),
	last_error text,
	-- came with ar (the defaults); kept out of the dump until changed
	installed boolean NOT NULL DEFAULT false
);
COMMENT ON TABLE ar.job IS
	'jobs the ar worker runs in ar.database when next_run comes (schedule: an interval or a cron expression in time_zone); ar.run_job runs one by hand';

CREATE TABLE ar.job_run (
	id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
	job_name text NOT NULL,			-- no foreign key: the history outlives a job
	run_by name NOT NULL,
	started_at timestamptz NOT NULL,
	finished_at timestamptz NOT NULL,
	status text NOT NULL CONSTRAINT job_run_status_check CHECK (status IN ('succeeded', 'failed')),
	rows bigint,
	error text
);
CREATE INDEX job_run_job ON ar.job_run (job_name, started_at);
COMMENT ON TABLE ar.job_run IS
	'the history of ar.job: one row per run, by the worker or by hand (run_by), with the rows the command''s last statement processed or its error';

-- (the installed jobs are made with the roles they run as, below)
SELECT pg_catalog.pg_extension_config_dump('ar.job', 'WHERE NOT installed');

CREATE FUNCTION ar.job_before() RETURNS trigger
	LANGUAGE plpgsql SET search_path = pg_catalog, ar, pg_temp
AS $$
DECLARE
	next_time timestamptz;
BEGIN
	IF ar.restoring() THEN
		-- a dumped job replaces the default of the same name CREATE
		-- EXTENSION made again
		IF TG_OP = 'DELETE' THEN
			RETURN OLD;
		END IF;
		IF TG_OP = 'INSERT' THEN
			DELETE FROM ar.job j WHERE j.name = NEW.name AND j.installed;
		END IF;
		RETURN NEW;
	END IF;
	IF TG_OP = 'DELETE' THEN
		IF OLD.name IN ('match_payments', 'run_dunning', 'refresh_kpis') THEN
			RAISE EXCEPTION 'job % comes with ar and cannot be deleted', OLD.name
				USING ERRCODE = 'object_not_in_prerequisite_state',
					  HINT = format('Disable it: UPDATE ar.job SET enabled = false WHERE name = %L.', OLD.name);
		END IF;
		RETURN OLD;
	END IF;
	IF NEW.name !~ '^[a-z0-9_][a-z0-9_.-]*$' THEN
		RAISE EXCEPTION 'job name "%" is not lower-case letters, digits, _ . -', NEW.name
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF NEW.command !~ '\S' THEN
		RAISE EXCEPTION 'job % has an empty command', NEW.name
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	-- who may make a command run as a role: its members (who could run it
	-- as that role themselves)
	IF TG_OP = 'INSERT' OR NEW.command IS DISTINCT FROM OLD.command OR NEW.run_as IS DISTINCT FROM OLD.run_as THEN
		IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.oid = NEW.run_as) THEN
			RAISE EXCEPTION 'job %: its role (oid %) does not exist any more', NEW.name, NEW.run_as::oid
				USING ERRCODE = 'undefined_object',
					  HINT = 'Set run_as to an existing role.';
		END IF;
		IF NOT pg_catalog.pg_has_role(current_user, NEW.run_as::oid, 'MEMBER') THEN
			RAISE EXCEPTION 'permission denied to schedule job % as role "%"', NEW.name, NEW.run_as
				USING ERRCODE = 'insufficient_privilege',
					  HINT = 'A job''s command runs as its run_as role: set run_as to a role you are a member of.';
		END IF;
	END IF;
	-- a new job is the DBA's; so is a changed default, dumped from now on (a
	-- run, which writes only next_run and last_*, changes nothing of it)
	IF TG_OP = 'INSERT'
	   OR (NEW.schedule, NEW.command, NEW.enabled, NEW.run_as, NEW.time_zone)
		  IS DISTINCT FROM (OLD.schedule, OLD.command, OLD.enabled, OLD.run_as, OLD.time_zone)
	   OR NOT OLD.installed THEN
		NEW.installed := false;
	END IF;
	-- the next time from now: for a new job, a new schedule or zone, a job
	-- enabled again, or when next_run is cleared; a next_run given in the
	-- same statement stands (an unreadable schedule is refused either way)
	IF TG_OP = 'INSERT' OR NEW.next_run IS NULL
	   OR NEW.schedule IS DISTINCT FROM OLD.schedule OR NEW.time_zone IS DISTINCT FROM OLD.time_zone
	   OR (NEW.enabled AND NOT OLD.enabled) THEN
		next_time := ar.job_next_run(NEW.schedule, now(), NEW.time_zone);
		IF NEW.next_run IS NULL OR (TG_OP = 'UPDATE' AND NEW.next_run IS NOT DISTINCT FROM OLD.next_run) THEN
			NEW.next_run := next_time;
		END IF;
	END IF;
	RETURN NEW;
END
$$;
CREATE TRIGGER job_before BEFORE INSERT OR UPDATE OR DELETE ON ar.job
	FOR EACH ROW EXECUTE FUNCTION ar.job_before();

-- One run of a job, in the caller's transaction: the command as run_as in a
-- subtransaction (an error in it is caught and recorded, what it did is
-- undone), then the history row and the job's last_* and next_run.  With
-- only_if_due (the worker), a job that is disabled or not yet due, or that
-- another session is running, is left alone (NULL).
CREATE FUNCTION ar._run_job(name text, only_if_due boolean) RETURNS ar.job_run
	LANGUAGE plpgsql
	SET search_path = pg_catalog, ar, pg_temp
AS $$
DECLARE
	j ar.job;
	r ar.job_run;
	t0 timestamptz := clock_timestamp();
	n bigint;
	err text;
	st text := 'succeeded';
	state text;
BEGIN
	IF only_if_due THEN
		SELECT * INTO j FROM ar.job x WHERE x.name = _run_job.name AND x.enabled AND x.next_run <= now()
		   FOR UPDATE SKIP LOCKED;
		IF NOT FOUND THEN
			RETURN NULL;
		END IF;
	ELSE
		SELECT * INTO j FROM ar.job x WHERE x.name = _run_job.name FOR UPDATE;
		IF NOT FOUND THEN
			RAISE EXCEPTION 'job "%" does not exist', _run_job.name USING ERRCODE = 'no_data_found';
		END IF;
	END IF;
	BEGIN
		n := ar._execute_as(j.command, j.run_as);
	EXCEPTION WHEN OTHERS THEN
		GET STACKED DIAGNOSTICS err = MESSAGE_TEXT, state = RETURNED_SQLSTATE;
		err := state || ': ' || err;
		st := 'failed';
		n := NULL;
	END;
	INSERT INTO ar.job_run (job_name, run_by, started_at, finished_at, status, rows, error)
	VALUES (j.name, CASE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_stat_activity a
									   WHERE a.pid = pg_catalog.pg_backend_pid() AND a.backend_type = 'ar worker')
						 THEN 'ar worker' ELSE session_user END,
			t0, clock_timestamp(), st, n, err)
	RETURNING * INTO r;
	UPDATE ar.job x
	   SET last_run = t0, last_status = st, last_error = err,
		   next_run = ar.job_next_run(x.schedule, greatest(now(), clock_timestamp()), x.time_zone)
	 WHERE x.name = j.name;
	IF st = 'failed' THEN
		RAISE WARNING 'job % failed: %', j.name, err;
	END IF;
	RETURN r;
END
$$;
COMMENT ON FUNCTION ar._run_job(text, boolean) IS 'internal: ar.run_job, and the worker''s run of a due job';

CREATE FUNCTION ar.run_job(name text) RETURNS ar.job_run
	LANGUAGE sql
	SET search_path = pg_catalog, pg_temp
RETURN ar._run_job($1, false);
COMMENT ON FUNCTION ar.run_job(text) IS
	'runs a job now, in this transaction, whether enabled and due or not (its command as its run_as role, which the caller must be a member of); records the run in ar.job_run and moves next_run; a failed command is recorded and undone, not raised';

-- What the worker records when a run failed outside the job's command (a
-- cancelled statement): the job waits for its next time.
CREATE FUNCTION ar._job_failed(name text, error text) RETURNS void
	LANGUAGE plpgsql
	SET search_path = pg_catalog, ar, pg_temp
AS $$
BEGIN
	INSERT INTO ar.job_run (job_name, run_by, started_at, finished_at, status, error)
	VALUES (_job_failed.name, 'ar worker', now(), clock_timestamp(), 'failed', _job_failed.error);
	UPDATE ar.job x
	   SET last_run = now(), last_status = 'failed', last_error = _job_failed.error,
		   next_run = ar.job_next_run(x.schedule, clock_timestamp(), x.time_zone)
	 WHERE x.name = _job_failed.name;
END
$$;
COMMENT ON FUNCTION ar._job_failed(text, text) IS 'internal: the worker records a run that failed outside its command';

CREATE FUNCTION ar._execute_as(command text, run_as regrole) RETURNS bigint
	AS 'MODULE_PATHNAME', 'ar_execute_as' LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION ar._execute_as(text, regrole) IS
	'internal: runs a job''s command as run_as (the caller must be a member), which it cannot leave with SET ROLE; returns the rows of its last statement';

/* ------------------------------------------------------------------------
 * 9. KPIs: aging, DSO, best possible DSO, ADD, CEI, days to pay
 *    (formulas: DOMAIN.md section 4)
 * ------------------------------------------------------------------------ */

-- The days an allocation counts in the books: from the day the money came
-- (a payment's booking date, a credit note's issue date, a write-off's day
-- in the entity's time zone; never before the invoice's issue date) up to
-- the day it was undone, if it was.  Aging on a past day and the monthly
-- KPIs read it, so that a later payment or reversal does not change what a
-- past day looked like.
CREATE VIEW ar.allocation_span WITH (security_invoker = true) AS
SELECT a.id AS allocation_id, a.invoice_id, i.entity_id, i.customer_id, i.currency,
	   a.payment_id, a.credit_note_id, a.rule, ar.minor_units(a.amount) AS units,
	   d.applied_on,
	   CASE WHEN a.reversed_at IS NOT NULL
			THEN greatest(d.applied_on, (a.reversed_at AT TIME ZONE e.time_zone)::date) END AS undone_on
  FROM ar.allocation a
  JOIN ar.invoice i ON i.id = a.invoice_id
  JOIN ar.entity e ON e.id = i.entity_id
  LEFT JOIN ar.payment p ON p.id = a.payment_id
  LEFT JOIN ar.invoice cn ON cn.id = a.credit_note_id
 CROSS JOIN LATERAL (
	SELECT greatest(i.issue_date,
					CASE WHEN a.payment_id IS NOT NULL THEN p.booking_date
						 WHEN a.credit_note_id IS NOT NULL THEN cn.issue_date
						 ELSE (a.created_at AT TIME ZONE e.time_zone)::date END,
					-- money applied again after an earlier application of
					-- it was undone counts from the day it was applied
					-- again, so that no day counts it twice
					CASE WHEN EXISTS (SELECT 1 FROM ar.allocation u
									   WHERE u.payment_id = a.payment_id AND u.reversed_at IS NOT NULL
										 AND u.id <> a.id AND u.reversed_at <= a.created_at)
							   OR EXISTS (SELECT 1 FROM ar.allocation u
									   WHERE u.credit_note_id = a.credit_note_id AND u.reversed_at IS NOT NULL
										 AND u.id <> a.id AND u.reversed_at <= a.created_at)
						 THEN (a.created_at AT TIME ZONE e.time_zone)::date END)) d(applied_on);
COMMENT ON VIEW ar.allocation_span IS
	'the days each allocation counts against its invoice: from applied_on (payment booking date, credit note issue date, write-off day; the day it was applied when the same money was applied before and undone) up to but not including undone_on (the day it was reversed; NULL: still counts)';

-- An amount in minor units as a number in the currency's major unit, exact.
CREATE FUNCTION ar.major_units(units numeric, currency text) RETURNS numeric
	AS 'MODULE_PATHNAME', 'ar_major_units' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ar.major_units(numeric, text) IS
	'units minor units of currency as an exact number of major units (12345, ''SEK'' -> 123.45)';

-- The formulas.  Each returns NULL where it is undefined (no sales, no
-- receivables); the views below and the worked examples of DOMAIN.md use
-- these same functions.
CREATE FUNCTION ar.dso(receivables numeric, credit_sales numeric, days integer) RETURNS numeric
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
RETURN CASE WHEN credit_sales > 0 THEN round(receivables / credit_sales * days, 2) END;
COMMENT ON FUNCTION ar.dso(numeric, numeric, integer) IS
	'days sales outstanding: receivables / credit sales x days of the period, 2 decimals (15000, 10000, 30 -> 45.00); NULL without sales';

CREATE FUNCTION ar.countback_dso(receivables numeric, sales numeric[], days integer[]) RETURNS numeric
	LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	rest numeric := receivables;
	counted numeric := 0;
	i integer;
BEGIN
	IF cardinality(sales) IS DISTINCT FROM cardinality(days) THEN
		RAISE EXCEPTION 'countback DSO needs the days of every month: % months of sales, % of days',
			coalesce(cardinality(sales), 0), coalesce(cardinality(days), 0)
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF rest IS NULL THEN
		RETURN NULL;
	END IF;
	IF rest <= 0 THEN
		RETURN 0;
	END IF;
	-- the latest month first: a whole month's days while its sales fit in
	-- what is left of the receivables, then the share of the month they
	-- run out in
	FOR i IN 1 .. coalesce(cardinality(sales), 0) LOOP
		IF days[i] IS NULL OR days[i] <= 0 THEN
			RAISE EXCEPTION 'countback DSO: month % has % days', i, coalesce(days[i]::text, 'NULL')
				USING ERRCODE = 'invalid_parameter_value';
		END IF;
		IF sales[i] > 0 AND rest <= sales[i] THEN
			RETURN round(counted + rest / sales[i] * days[i], 2);
		END IF;
		rest := rest - coalesce(sales[i], 0);
		counted := counted + days[i];
	END LOOP;
	-- the months given do not cover the receivables
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION ar.countback_dso(numeric, numeric[], integer[]) IS
	'countback DSO: the receivables counted back through the sales of the latest months (sales[1] and days[1] the latest), whole months while they last, the last one pro rata; 2 decimals; NULL when the months do not cover them';

CREATE FUNCTION ar.cei(beginning_ar numeric, credit_sales numeric, months integer,
					   ending_ar numeric, ending_current_ar numeric) RETURNS numeric
	LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	base numeric;
BEGIN
	IF months IS NULL OR months <= 0 THEN
		RAISE EXCEPTION 'CEI over % months: the period has at least one month', coalesce(months::text, 'NULL')
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	base := beginning_ar + credit_sales / months;
	IF base - ending_current_ar = 0 THEN
		RETURN NULL;
	END IF;
	RETURN round((base - ending_ar) / (base - ending_current_ar) * 100, 2);
END
$$;
COMMENT ON FUNCTION ar.cei(numeric, numeric, integer, numeric, numeric) IS
	'collection effectiveness index in percent: (beginning AR + sales / months - ending AR) / (beginning AR + sales / months - ending current AR) x 100, 2 decimals';

-- The aging of a day: every issued invoice's open amount at the end of
-- as_of (its total less the allocations that counted that day), by days
-- past due.  A later payment, credit note or reversal does not change it.
CREATE FUNCTION ar._aging(day date, entity integer)
	RETURNS TABLE (entity_id integer, customer_id bigint, currency text,
				   current numeric, d1_30 numeric, d31_60 numeric, d61_90 numeric, d90_plus numeric,
				   total numeric, as_of date)
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, ar, pg_temp
AS $$
#variable_conflict use_column
BEGIN
	PERFORM ar._check_day(_aging.day, _aging.entity, 'aging',
						  'Age today or a day that has passed; pass NULL for each entity''s today.');
	RETURN QUERY
	WITH ent AS (
		SELECT x.id, coalesce(_aging.day, ar.zone_today(x.time_zone)) AS day
		  FROM ar.entity x
		 WHERE _aging.entity IS NULL OR x.id = _aging.entity
	), open AS (
		SELECT i.entity_id, i.customer_id, i.currency, ent.day, ent.day - i.due_date AS late,
			   ar.minor_units(i.total) - coalesce(paid.units, 0) AS units
		  FROM ar.invoice i
		  JOIN ent ON ent.id = i.entity_id
		  LEFT JOIN LATERAL (
			SELECT sum(s.units) AS units
			  FROM ar.allocation_span s
			 WHERE s.invoice_id = i.id AND s.applied_on <= ent.day
			   AND (s.undone_on IS NULL OR s.undone_on > ent.day)) paid ON true
		 WHERE i.kind = 'invoice' AND i.status NOT IN ('draft', 'cancelled') AND i.issue_date <= ent.day
	)
	SELECT o.entity_id, o.customer_id, o.currency,
		   ar.major_units(coalesce(sum(o.units) FILTER (WHERE o.late <= 0), 0), o.currency),
		   ar.major_units(coalesce(sum(o.units) FILTER (WHERE o.late BETWEEN 1 AND 30), 0), o.currency),
		   ar.major_units(coalesce(sum(o.units) FILTER (WHERE o.late BETWEEN 31 AND 60), 0), o.currency),
		   ar.major_units(coalesce(sum(o.units) FILTER (WHERE o.late BETWEEN 61 AND 90), 0), o.currency),
		   ar.major_units(coalesce(sum(o.units) FILTER (WHERE o.late > 90), 0), o.currency),
		   ar.major_units(sum(o.units), o.currency),
		   o.day
	  FROM open o
	 WHERE o.units > 0
	 GROUP BY o.entity_id, o.customer_id, o.currency, o.day
	 ORDER BY o.entity_id, o.customer_id, o.currency;
END
$$;
COMMENT ON FUNCTION ar._aging(date, integer) IS 'internal: ar.aging';
-- (a wrapper: PL/pgSQL cannot name a parameter and a result column alike)
CREATE FUNCTION ar.aging(as_of date, entity_id integer DEFAULT NULL)
	RETURNS TABLE (entity_id integer, customer_id bigint, currency text,
				   current numeric, d1_30 numeric, d31_60 numeric, d61_90 numeric, d90_plus numeric,
				   total numeric, as_of date)
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
AS $$
	SELECT * FROM ar._aging($1, $2)
$$;
COMMENT ON FUNCTION ar.aging(date, integer) IS
	'the receivables at the end of as_of (NULL: each entity''s today) per entity, customer and currency, by days past due: current (not yet due), 1-30, 31-60, 61-90, over 90; later payments do not change a past day';

-- The stored KPIs.  PostgreSQL has no row-level security on materialized
-- views: they are read only through the views ar.kpi_aging and
-- ar.kpi_monthly, which show each role its entities, and refreshed by
-- ar.refresh_kpis() as their owner.
CREATE MATERIALIZED VIEW ar.kpi_aging_mv AS
SELECT * FROM ar.aging(NULL);
CREATE UNIQUE INDEX kpi_aging_mv_key ON ar.kpi_aging_mv (entity_id, customer_id, currency);
COMMENT ON MATERIALIZED VIEW ar.kpi_aging_mv IS
	'internal: the stored ar.kpi_aging (read it through that view)';

-- One row per entity, currency and month, from the month of the first
-- issued document to the current one (which ends today).
--   credit_sales       invoices issued in the month less credit notes issued
--   ending_ar          receivables at the end of the month
--   ending_current_ar  of them not yet due
--   dso                ending_ar / credit_sales x days of the month
--   countback_dso      ending_ar counted back through the sales of this and
--                      earlier months
--   best_possible_dso  ending_current_ar / credit_sales x days
--   add                dso - best_possible_dso
--   cei                one-month CEI (beginning AR: the previous month's end)
--   avg_days_to_pay    payments applied in the month: days from invoice
--                      date to booking date, weighted by amount
--   avg_days_beyond_terms  the same from the due date
--   pct_current        ending_current_ar / ending_ar x 100
CREATE MATERIALIZED VIEW ar.kpi_monthly_mv AS
WITH ent AS (
	SELECT e.id, ar.zone_today(e.time_zone) AS today FROM ar.entity e
), doc AS (
	SELECT i.id, i.entity_id, i.currency, i.kind, i.issue_date, i.due_date, ar.minor_units(i.total) AS units
	  FROM ar.invoice i JOIN ent ON ent.id = i.entity_id
	 WHERE i.status NOT IN ('draft', 'cancelled') AND i.issue_date <= ent.today
), months AS (
	SELECT f.entity_id, f.currency, m.month::date AS month, (m.month + interval '1 month')::date - 1 AS month_end,
		   least((m.month + interval '1 month')::date - 1, ent.today) AS last_day
	  FROM (SELECT d.entity_id, d.currency, min(d.issue_date) AS first_day FROM doc d GROUP BY 1, 2) f
	  JOIN ent ON ent.id = f.entity_id
	 CROSS JOIN LATERAL generate_series(date_trunc('month', f.first_day), date_trunc('month', ent.today),
										interval '1 month') m(month)
), span AS (
	SELECT s.entity_id, s.currency, s.units, s.payment_id IS NOT NULL AS paid, s.applied_on, s.undone_on,
		   d.issue_date, d.due_date
	  FROM ar.allocation_span s
	  JOIN doc d ON d.id = s.invoice_id
	  JOIN ent ON ent.id = s.entity_id
	 WHERE d.kind = 'invoice' AND s.applied_on <= ent.today
), flow AS (
	-- what each month adds to sales and to the receivables
	SELECT x.entity_id, x.currency, date_trunc('month', x.day)::date AS month,
		   sum(x.sales) AS sales, sum(x.ar) AS ar
	  FROM (SELECT d.entity_id, d.currency, d.issue_date AS day,
				   CASE d.kind WHEN 'invoice' THEN d.units ELSE -d.units END AS sales,
				   CASE d.kind WHEN 'invoice' THEN d.units ELSE 0 END AS ar
			  FROM doc d
			UNION ALL
			SELECT s.entity_id, s.currency, s.applied_on, 0, -s.units FROM span s
			UNION ALL
			SELECT s.entity_id, s.currency, s.undone_on, 0, s.units FROM span s
			  JOIN ent ON ent.id = s.entity_id
			 WHERE s.undone_on <= ent.today) x
	 GROUP BY 1, 2, 3
), cur AS (
	-- receivables not yet due at the end of a month: invoices whose issue
	-- and due dates enclose it
	SELECT m.entity_id, m.currency, m.month,
		   sum(d.units - coalesce((SELECT sum(s.units) FROM ar.allocation_span s
									WHERE s.invoice_id = d.id AND s.applied_on <= m.last_day
									  AND (s.undone_on IS NULL OR s.undone_on > m.last_day)), 0)) AS units
	  FROM doc d
	  JOIN months m ON m.entity_id = d.entity_id AND m.currency = d.currency
		   AND m.last_day BETWEEN d.issue_date AND d.due_date
	 WHERE d.kind = 'invoice'
	 GROUP BY 1, 2, 3
), pay AS (
	SELECT m.entity_id, m.currency, m.month, sum(s.units) AS units,
		   sum(s.units * (s.applied_on - s.issue_date)) AS unit_days,
		   sum(s.units * (s.applied_on - s.due_date)) AS unit_days_late
	  FROM span s
	  JOIN months m ON m.entity_id = s.entity_id AND m.currency = s.currency
		   AND s.applied_on BETWEEN m.month AND m.last_day
	 WHERE s.paid AND (s.undone_on IS NULL OR s.undone_on > m.last_day)
	 GROUP BY 1, 2, 3
), base AS (
	SELECT m.entity_id, m.currency, m.month, m.last_day - m.month + 1 AS days,
		   ar.major_units(coalesce(f.sales, 0), m.currency) AS credit_sales,
		   ar.major_units(sum(coalesce(f.ar, 0)) OVER w, m.currency) AS ending_ar,
		   ar.major_units(coalesce(sum(coalesce(f.ar, 0)) OVER w - coalesce(f.ar, 0), 0), m.currency) AS beginning_ar,
		   ar.major_units(coalesce(c.units, 0), m.currency) AS ending_current_ar,
		   round(p.unit_days / p.units, 2) AS avg_days_to_pay,
		   round(p.unit_days_late / p.units, 2) AS avg_days_beyond_terms
	  FROM months m
	  LEFT JOIN flow f USING (entity_id, currency, month)
	  LEFT JOIN cur c USING (entity_id, currency, month)
	  LEFT JOIN pay p USING (entity_id, currency, month)
	WINDOW w AS (PARTITION BY m.entity_id, m.currency ORDER BY m.month)
), hist AS (
	SELECT b.*,
		   array_agg(b.credit_sales) OVER h AS sales_back,
		   array_agg(b.days) OVER h AS days_back
	  FROM base b
	WINDOW h AS (PARTITION BY b.entity_id, b.currency ORDER BY b.month DESC
				 ROWS BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING)
)
SELECT h.entity_id, h.currency, h.month, h.credit_sales, h.ending_ar, h.ending_current_ar,
	   x.dso,
	   ar.countback_dso(h.ending_ar, h.sales_back, h.days_back) AS countback_dso,
	   x.best_possible_dso,
	   x.dso - x.best_possible_dso AS add,
	   ar.cei(h.beginning_ar, h.credit_sales, 1, h.ending_ar, h.ending_current_ar) AS cei,
	   h.avg_days_to_pay,
	   CASE WHEN h.ending_ar > 0 THEN round(h.ending_current_ar / h.ending_ar * 100, 2) END AS pct_current,
	   h.beginning_ar, h.days, h.avg_days_beyond_terms
  FROM hist h
 CROSS JOIN LATERAL (SELECT ar.dso(h.ending_ar, h.credit_sales, h.days) AS dso,
							ar.dso(h.ending_current_ar, h.credit_sales, h.days) AS best_possible_dso) x;
CREATE UNIQUE INDEX kpi_monthly_mv_key ON ar.kpi_monthly_mv (entity_id, currency, month);
COMMENT ON MATERIALIZED VIEW ar.kpi_monthly_mv IS
	'internal: the stored ar.kpi_monthly (read it through that view)';

-- (the views ar.kpi_aging and ar.kpi_monthly over them are made with the
-- row-level security below)

-- Readers go on reading the old rows while the new ones are computed
-- (CONCURRENTLY); the owner refreshes, so the views cover every entity.
CREATE FUNCTION ar.refresh_kpis() RETURNS void
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	REFRESH MATERIALIZED VIEW CONCURRENTLY ar.kpi_aging_mv;
	REFRESH MATERIALIZED VIEW CONCURRENTLY ar.kpi_monthly_mv;
END
$$;
COMMENT ON FUNCTION ar.refresh_kpis() IS
	'recomputes ar.kpi_aging and ar.kpi_monthly without blocking their readers';

/* ------------------------------------------------------------------------
 * 10. Audit trail
 * ------------------------------------------------------------------------ */
-- The audit trail.  Every insert, update and delete of invoices, lines,
-- VAT breakdowns, payments, allocations and dunning letters and items
-- writes one row per changed row (row_key: its primary key, '/'-joined), with the new row
-- (the old one for a delete, the changed columns for an update) as jsonb and
-- the row's sha256 hash.  At commit
-- a deferred trigger seals the transaction's rows: one ar.audit_seal row
-- whose hash chains the previous seal's hash with the hash of all the rows.
-- Rows are written once; the chain head is locked only while sealing.
CREATE SEQUENCE ar.audit_id_seq;
CREATE TABLE ar.audit (
	id bigint PRIMARY KEY DEFAULT nextval('ar.audit_id_seq'),
	xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
	at timestamptz NOT NULL DEFAULT now(),
	actor text NOT NULL,
	table_name text COLLATE "C" NOT NULL,
	op text NOT NULL CHECK (op IN ('INSERT', 'UPDATE', 'DELETE')),
	row_key text COLLATE "C" NOT NULL,
	entity_id integer,
	data jsonb NOT NULL,
	first_in_xact boolean NOT NULL DEFAULT false,
	hash bytea NOT NULL
);
ALTER SEQUENCE ar.audit_id_seq OWNED BY ar.audit.id;
CREATE INDEX audit_xid ON ar.audit (xid, id);
CREATE INDEX audit_row ON ar.audit (table_name, row_key);
COMMENT ON TABLE ar.audit IS
	'append-only record of every change to invoices, lines, VAT breakdowns, payments, allocations and dunning letters and items; hash = sha256 of the row, chained by ar.audit_seal';

CREATE TABLE ar.audit_seal (
	seq bigint PRIMARY KEY,
	xid xid8 NOT NULL,
	first_id bigint NOT NULL,
	last_id bigint NOT NULL,
	row_count bigint NOT NULL,
	rows_hash bytea NOT NULL,
	prev_hash bytea NOT NULL,
	hash bytea NOT NULL,
	sealed_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX audit_seal_xid ON ar.audit_seal (xid, last_id);
COMMENT ON TABLE ar.audit_seal IS
	'one link of the audit hash chain per sealed transaction: hash = sha256(prev_hash, seq, xid, ids, count, rows_hash)';

-- The head of the chain: one row, locked while a transaction seals.  The
-- first seal creates it (an empty chain has no head: seq 0 and the genesis
-- hash), so that a restored dump brings its own head.
CREATE TABLE ar.audit_head (
	one boolean PRIMARY KEY DEFAULT true CHECK (one),
	seq bigint NOT NULL,
	hash bytea NOT NULL
);
COMMENT ON TABLE ar.audit_head IS 'the last link of the audit chain; no row before the first seal (seq 0, the genesis hash)';

-- The hash of one audit row over all of its columns but the hash itself.
-- Timestamps enter as microseconds since the epoch, so that neither TimeZone
-- nor DateStyle changes a hash.
CREATE FUNCTION ar.audit_row_hash(id bigint, xid xid8, at timestamptz, actor text,
								  table_name text, op text, row_key text, entity_id integer,
								  data jsonb, first_in_xact boolean)
	RETURNS bytea
	AS 'MODULE_PATHNAME', 'ar_audit_row_hash' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION ar.audit_row_hash(bigint, xid8, timestamptz, text, text, text, text, integer, jsonb, boolean) IS
	'sha256 of id|xid|at (epoch microseconds)|actor|table_name|op|row_key|entity_id|t or f|data (src/audit.c)';

-- A row as its audit rows say it is now: ar.audit_state(op, data ORDER BY
-- id) over one row's audit rows replays them (an INSERT sets the whole row,
-- an UPDATE lays its changed columns over it, a DELETE leaves NULL).
-- ar.verify_audit compares it with the table.
CREATE FUNCTION ar.audit_fold(state jsonb, op text, data jsonb) RETURNS jsonb
	AS 'MODULE_PATHNAME', 'ar_audit_fold' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION ar.audit_fold(jsonb, text, jsonb) IS
	'transition function of ar.audit_state: INSERT gives data, UPDATE state || data, DELETE NULL (src/audit.c)';
CREATE AGGREGATE ar.audit_state(op text, data jsonb) (SFUNC = ar.audit_fold, STYPE = jsonb);
COMMENT ON AGGREGATE ar.audit_state(text, jsonb) IS
	'a row as its audit rows, in id order, say it is now (NULL when deleted); use with ORDER BY id';

CREATE FUNCTION ar.audit_seal_hash(prev_hash bytea, seq bigint, xid xid8, first_id bigint,
								   last_id bigint, row_count bigint, rows_hash bytea)
	RETURNS bytea
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
RETURN sha256(prev_hash || convert_to(concat_ws('|', seq, xid, first_id, last_id, row_count), 'UTF8')
			  || rows_hash);

-- Statement-level capture over the transition tables (src/audit.c): one
-- row per changed row, written with one INSERT per few thousand rows.  The
-- data of an INSERT is the new row, of a DELETE the old row (as to_jsonb
-- gives them); of an UPDATE the columns whose value changed, with their
-- new values.  The first row a transaction writes while none of its rows
-- waits for a seal is flagged; its deferred trigger seals at commit.
CREATE FUNCTION ar.audit_capture() RETURNS trigger
	AS 'MODULE_PATHNAME', 'ar_audit_capture'
	LANGUAGE C SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION ar.audit_capture() IS
	'statement trigger: writes one hashed ar.audit row per inserted, updated or deleted row (src/audit.c)';
-- Nobody else may hang it (or the seal) on a table of their own: it refuses
-- any table but ar's four, and only the owner may create such triggers.
REVOKE EXECUTE ON FUNCTION ar.audit_capture() FROM PUBLIC;
-- true only while ar.audit_capture writes its rows (src/audit.c)
CREATE FUNCTION ar.audit_capturing() RETURNS boolean
	AS 'MODULE_PATHNAME', 'ar_audit_capturing' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ar.audit_capturing() IS
	'internal: is ar.audit_capture writing audit rows right now (the guard of direct inserts into ar.audit)';

-- At commit: link this transaction's unsealed rows into the chain (src/audit.c).
-- Sealers take turns on an ExclusiveLock on ar.audit_head and read the head
-- with a snapshot taken under it, so that REPEATABLE READ and SERIALIZABLE
-- transactions seal like READ COMMITTED ones.
CREATE FUNCTION ar.audit_seal() RETURNS trigger
	AS 'MODULE_PATHNAME', 'ar_audit_seal'
	LANGUAGE C SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION ar.audit_seal() IS
	'deferred trigger: at commit, chains the transaction''s audit rows to the previous seal under the head lock';
REVOKE EXECUTE ON FUNCTION ar.audit_seal() FROM PUBLIC;

CREATE CONSTRAINT TRIGGER audit_seal AFTER INSERT ON ar.audit
	DEFERRABLE INITIALLY DEFERRED
	FOR EACH ROW WHEN (NEW.first_in_xact AND NOT ar.restoring())
	EXECUTE FUNCTION ar.audit_seal();

-- Append-only: nobody updates, deletes or truncates the trail.
CREATE FUNCTION ar.audit_refuse() RETURNS trigger
	LANGUAGE plpgsql
	SET search_path = pg_catalog, ar, pg_temp
AS $$
BEGIN
	RAISE EXCEPTION '% on % is not allowed: the audit trail is append-only', TG_OP, TG_TABLE_NAME
		USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON ar.audit
	FOR EACH ROW EXECUTE FUNCTION ar.audit_refuse();
-- Rows come from ar.audit_capture only (or a restore), never from a plain
-- INSERT, which the seal would otherwise chain like a real one.
CREATE TRIGGER audit_insert_guard BEFORE INSERT ON ar.audit
	FOR EACH STATEMENT WHEN (NOT ar.audit_capturing() AND NOT ar.restoring())
	EXECUTE FUNCTION ar.refuse_direct_write('audit rows are written only by ar.audit_capture()',
		'The audit trail records changes to invoices, lines, payments and allocations by itself.');
CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON ar.audit
	FOR EACH STATEMENT EXECUTE FUNCTION ar.audit_refuse();
CREATE TRIGGER audit_seal_append_only BEFORE UPDATE OR DELETE ON ar.audit_seal
	FOR EACH ROW EXECUTE FUNCTION ar.audit_refuse();
CREATE TRIGGER audit_seal_no_truncate BEFORE TRUNCATE ON ar.audit_seal
	FOR EACH STATEMENT EXECUTE FUNCTION ar.audit_refuse();
CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON ar.audit_head
	FOR EACH ROW EXECUTE FUNCTION ar.audit_refuse();
CREATE TRIGGER audit_head_no_truncate BEFORE TRUNCATE ON ar.audit_head
	FOR EACH STATEMENT EXECUTE FUNCTION ar.audit_refuse();

-- The audited tables: separate triggers per event, each with its
-- transition table.
DO $$
DECLARE
	t text;
BEGIN
	FOREACH t IN ARRAY ARRAY['invoice', 'invoice_line', 'invoice_tax', 'payment', 'allocation',
							 'dunning_letter', 'dunning_item'] LOOP
		EXECUTE format('CREATE TRIGGER %I AFTER INSERT ON ar.%I REFERENCING NEW TABLE AS new_rows '
					   'FOR EACH STATEMENT EXECUTE FUNCTION ar.audit_capture()', t || '_audit_insert', t);
		EXECUTE format('CREATE TRIGGER %I AFTER UPDATE ON ar.%I '
					   'REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows '
					   'FOR EACH STATEMENT EXECUTE FUNCTION ar.audit_capture()', t || '_audit_update', t);
		EXECUTE format('CREATE TRIGGER %I AFTER DELETE ON ar.%I REFERENCING OLD TABLE AS old_rows '
					   'FOR EACH STATEMENT EXECUTE FUNCTION ar.audit_capture()', t || '_audit_delete', t);
	END LOOP;
END
$$;

-- The first broken link, or no row.  SECURITY DEFINER, so that it sees the
-- whole chain whatever the caller's entities.  Checks, in chain order: every row's
-- own hash; every seal's row count, rows hash, link to the previous seal and
-- own hash; rows that no seal covers; and that the head is the last seal.
CREATE FUNCTION ar.verify_audit()
	RETURNS TABLE (audit_id bigint, seal_seq bigint, problem text)
	LANGUAGE sql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
	WITH all_rows AS (
		SELECT a.id, a.xid, a.at, a.hash,
			   a.hash = ar.audit_row_hash(a.id, a.xid, a.at, a.actor, a.table_name, a.op, a.row_key,
										  a.entity_id, a.data, a.first_in_xact) AS hash_ok
		  FROM ar.audit a
	), seals AS (
		SELECT s.*, lag(s.hash) OVER (ORDER BY s.seq) AS prior_hash,
			   lag(s.seq) OVER (ORDER BY s.seq) AS prior_seq
		  FROM ar.audit_seal s
	), covered AS (
		SELECT s.seq, count(r.id) AS n,
			   sha256(coalesce(string_agg(r.hash, ''::bytea ORDER BY r.id), ''::bytea)) AS rows_hash
		  FROM ar.audit_seal s
		  LEFT JOIN all_rows r ON r.xid = s.xid AND r.id BETWEEN s.first_id AND s.last_id
		 GROUP BY s.seq
	), problems AS (
		SELECT r.id AS audit_id, NULL::bigint AS seal_seq, 'row hash does not match its content' AS problem,
			   r.id AS pos
		  FROM all_rows r WHERE NOT r.hash_ok
		UNION ALL
		SELECT r.id, NULL, 'row is not covered by any seal', r.id
		  FROM all_rows r
		 WHERE NOT EXISTS (SELECT 1 FROM ar.audit_seal s
							WHERE s.xid = r.xid AND r.id BETWEEN s.first_id AND s.last_id)
		   -- the caller's own rows are sealed when it commits (its xid and
		   -- start: a restored row's xid can come round again here)
		   AND (r.xid, r.at) IS DISTINCT FROM (pg_current_xact_id_if_assigned(), now())
		UNION ALL
		SELECT NULL, s.seq,
			   CASE WHEN s.prior_seq IS DISTINCT FROM nullif(s.seq - 1, 0)
						 THEN 'seal ' || coalesce(s.seq - 1, 0) || ' is missing'
					WHEN s.prev_hash <> coalesce(s.prior_hash, sha256('ar audit genesis'::bytea))
						 THEN 'seal does not link to the previous seal'
					WHEN c.n <> s.row_count THEN 'seal covers ' || s.row_count || ' rows, found ' || c.n
					WHEN c.rows_hash <> s.rows_hash THEN 'rows do not match the seal''s rows hash'
					ELSE 'seal hash does not match its content' END,
			   s.last_id			-- after its rows: an altered row is named, not its seal
		  FROM seals s JOIN covered c ON c.seq = s.seq
		 WHERE s.prior_seq IS DISTINCT FROM nullif(s.seq - 1, 0)
			OR s.prev_hash <> coalesce(s.prior_hash, sha256('ar audit genesis'::bytea))
			OR c.n <> s.row_count OR c.rows_hash <> s.rows_hash
			OR s.hash <> ar.audit_seal_hash(s.prev_hash, s.seq, s.xid, s.first_id, s.last_id,
											 s.row_count, s.rows_hash)
		UNION ALL
		SELECT NULL, h.seq, 'the chain head does not match the last seal', 9223372036854775807
		  FROM (SELECT coalesce((SELECT x.seq FROM ar.audit_head x), 0) AS seq,
					   coalesce((SELECT x.hash FROM ar.audit_head x), sha256('ar audit genesis'::bytea)) AS hash) h
		 WHERE h.seq <> (SELECT coalesce(max(s.seq), 0) FROM ar.audit_seal s)
			OR h.hash <> coalesce((SELECT s.hash FROM ar.audit_seal s ORDER BY s.seq DESC LIMIT 1),
								  sha256('ar audit genesis'::bytea))
	), trail AS (
		SELECT a.table_name, a.row_key, max(a.id) AS last_id,
			   ar.audit_state(a.op, a.data ORDER BY a.id) AS state
		  FROM ar.audit a
		 GROUP BY a.table_name, a.row_key
	), compared AS (
		-- each row of the audited tables against its trail, both as to_jsonb
		-- gives them in this session (the trail's values read back into the
		-- row type first, so that TimeZone and the like do not enter)
		SELECT 1 AS tab, 'invoice' AS tname, t.last_id, coalesce(x.id::text, t.row_key) AS row_key,
			   to_jsonb(x) AS now, to_jsonb(jsonb_populate_record(NULL::ar.invoice, t.state)) AS was
		  FROM (SELECT * FROM trail WHERE trail.table_name = 'invoice') t
		  FULL JOIN ar.invoice x ON (x.id::text COLLATE "C") = t.row_key
		UNION ALL
		SELECT 2, 'invoice_line', t.last_id, coalesce(x.invoice_id || '/' || x.line_no, t.row_key),
			   to_jsonb(x), to_jsonb(jsonb_populate_record(NULL::ar.invoice_line, t.state))
		  FROM (SELECT * FROM trail WHERE trail.table_name = 'invoice_line') t
		  FULL JOIN ar.invoice_line x ON ((x.invoice_id || '/' || x.line_no) COLLATE "C") = t.row_key
		UNION ALL
		SELECT 3, 'payment', t.last_id, coalesce(x.id::text, t.row_key),
			   to_jsonb(x), to_jsonb(jsonb_populate_record(NULL::ar.payment, t.state))
		  FROM (SELECT * FROM trail WHERE trail.table_name = 'payment') t
		  FULL JOIN ar.payment x ON (x.id::text COLLATE "C") = t.row_key
		UNION ALL
		SELECT 4, 'allocation', t.last_id, coalesce(x.id::text, t.row_key),
			   to_jsonb(x), to_jsonb(jsonb_populate_record(NULL::ar.allocation, t.state))
		  FROM (SELECT * FROM trail WHERE trail.table_name = 'allocation') t
		  FULL JOIN ar.allocation x ON (x.id::text COLLATE "C") = t.row_key
		UNION ALL
		SELECT 5, 'dunning_letter', t.last_id, coalesce(x.id::text, t.row_key),
			   to_jsonb(x), to_jsonb(jsonb_populate_record(NULL::ar.dunning_letter, t.state))
		  FROM (SELECT * FROM trail WHERE trail.table_name = 'dunning_letter') t
		  FULL JOIN ar.dunning_letter x ON (x.id::text COLLATE "C") = t.row_key
		UNION ALL
		SELECT 6, 'dunning_item', t.last_id, coalesce(x.id::text, t.row_key),
			   to_jsonb(x), to_jsonb(jsonb_populate_record(NULL::ar.dunning_item, t.state))
		  FROM (SELECT * FROM trail WHERE trail.table_name = 'dunning_item') t
		  FULL JOIN ar.dunning_item x ON (x.id::text COLLATE "C") = t.row_key
		UNION ALL
		SELECT 7, 'invoice_tax', t.last_id,
			   coalesce(x.invoice_id || '/' || x.vat_category || '/' || x.vat_rate, t.row_key),
			   to_jsonb(x), to_jsonb(jsonb_populate_record(NULL::ar.invoice_tax, t.state))
		  FROM (SELECT * FROM trail WHERE trail.table_name = 'invoice_tax') t
		  FULL JOIN ar.invoice_tax x
			ON ((x.invoice_id || '/' || x.vat_category || '/' || x.vat_rate) COLLATE "C") = t.row_key
		 -- the VAT rows of an invoice issued before the VAT breakdown was
		 -- audited (in a dump of an earlier build) have no trail: its
		 -- issuing audit row comes before the first VAT audit row (their
		 -- totals are audited with the invoice); any other VAT row needs one
		 WHERE t.row_key IS NOT NULL
			OR NOT EXISTS (SELECT 1 FROM ar.audit a
							WHERE a.table_name = 'invoice' AND a.row_key = (x.invoice_id::text COLLATE "C")
							  AND a.op = 'UPDATE' AND a.data ? 'number'
							  AND a.id < coalesce((SELECT min(f.id) FROM ar.audit f
												   WHERE f.table_name = 'invoice_tax'),
												  9223372036854775807))
	), row_problems AS (
		SELECT c.last_id AS audit_id,
			   'ar.' || c.tname || ' ' || c.row_key ||
			   CASE WHEN c.now IS NULL THEN ' is in the audit trail but not in the table'
					WHEN c.last_id IS NULL THEN ' has no audit row'
					WHEN c.was IS NULL THEN ' is deleted in the audit trail but is in the table'
					ELSE ' differs from its audit trail in ' ||
						 (SELECT string_agg(k.key, ', ' ORDER BY k.key) FROM jsonb_each(c.now) k
						   WHERE k.value IS DISTINCT FROM c.was -> k.key) END AS problem,
			   c.tab, c.row_key
		  FROM compared c
		 WHERE c.now IS DISTINCT FROM c.was
	)
	SELECT q.audit_id, q.seal_seq, q.problem
	  FROM (SELECT p.audit_id, p.seal_seq, p.problem, 0 AS rank, p.pos, NULL::integer AS tab,
				   NULL::text AS row_key
			  FROM problems p
			UNION ALL
			-- the tables are compared only with a trail that is whole
			SELECT r.audit_id, NULL, r.problem, 1, r.audit_id, r.tab, r.row_key
			  FROM row_problems r
			 WHERE NOT EXISTS (SELECT 1 FROM problems)) q
	 ORDER BY q.rank, q.tab, q.pos, q.seal_seq NULLS FIRST, q.row_key LIMIT 1;
END;
COMMENT ON FUNCTION ar.verify_audit() IS
	'recomputes the audit hash chain and compares invoices, lines, VAT breakdowns, payments, allocations and dunning letters and items with it; returns the first broken link (an altered, unsealed or missing row or seal, or a row written behind the triggers) or no row';
-- (end of audit trail)

/* ------------------------------------------------------------------------
 * 10. Roles and row-level security
 * ------------------------------------------------------------------------ */
-- Three roles, created once per cluster (NOLOGIN: grant them to your users):
--   ar_reader  reads everything of its entities (BI tools, auditors);
--   ar_clerk   also writes the day-to-day rows: customers, orders, drafts,
--              issuing, credit notes, payments, allocations, the outbox;
--   ar_admin   also manages entities, series, fx rates and entity access,
--              and sees every entity.
-- Which entities a role sees is kept in ar.entity_access.
DO $$
DECLARE
	r text;
BEGIN
	FOREACH r IN ARRAY ARRAY['ar_reader', 'ar_clerk', 'ar_admin'] LOOP
		IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = r) THEN
			EXECUTE format('CREATE ROLE %I NOLOGIN', r);
		END IF;
	END LOOP;
	IF NOT pg_catalog.pg_has_role('ar_clerk', 'ar_reader', 'MEMBER') THEN
		GRANT ar_reader TO ar_clerk;
	END IF;
	IF NOT pg_catalog.pg_has_role('ar_admin', 'ar_clerk', 'MEMBER') THEN
		GRANT ar_clerk TO ar_admin;
	END IF;
END
$$;

CREATE TABLE ar.entity_access (
	role_name name NOT NULL,
	entity_id integer NOT NULL REFERENCES ar.entity (id),
	PRIMARY KEY (role_name, entity_id)
);
COMMENT ON TABLE ar.entity_access IS
	'which roles see which entities: members of role_name (directly or through other roles) see entity_id; members of ar_admin see all';

CREATE FUNCTION ar.entity_access_before() RETURNS trigger
	LANGUAGE plpgsql SET search_path = pg_catalog, ar, pg_temp
AS $$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = NEW.role_name) THEN
		RAISE EXCEPTION 'role "%" does not exist', NEW.role_name
			USING ERRCODE = 'undefined_object';
	END IF;
	RETURN NEW;
END
$$;
CREATE TRIGGER entity_access_before BEFORE INSERT OR UPDATE ON ar.entity_access
	FOR EACH ROW WHEN (NOT ar.restoring())
	EXECUTE FUNCTION ar.entity_access_before();

CREATE FUNCTION ar.is_admin() RETURNS boolean
	LANGUAGE sql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
RETURN pg_has_role(current_user, 'ar_admin', 'MEMBER');
COMMENT ON FUNCTION ar.is_admin() IS 'true when the current user is a member of ar_admin and so sees every entity';

-- A role sees the access rows of the roles it is a member of (what
-- ar.my_entities reads), not who else sees which entity; ar_admin members
-- see and manage all.  (Not by entity: ar.my_entities reads this table.)
ALTER TABLE ar.entity_access ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_roles ON ar.entity_access
	USING ((SELECT ar.is_admin())
		   OR EXISTS (SELECT 1 FROM pg_catalog.pg_roles r
					   WHERE r.rolname = entity_access.role_name
						 AND pg_catalog.pg_has_role(current_user, r.oid, 'MEMBER')))
	WITH CHECK ((SELECT ar.is_admin()));

CREATE FUNCTION ar.my_entities() RETURNS integer[]
	LANGUAGE sql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
RETURN (SELECT coalesce(array_agg(DISTINCT a.entity_id ORDER BY a.entity_id), '{}')
		  FROM ar.entity_access a JOIN pg_roles r ON r.rolname = a.role_name
		 WHERE pg_has_role(current_user, r.oid, 'MEMBER'));
COMMENT ON FUNCTION ar.my_entities() IS
	'the entities the current user sees through ar.entity_access (ar_admin members see all, whatever this returns)';

-- Row-level security by entity.  Each policy calls the two functions once
-- per query (as initplans), not once per row.  Superusers and the owner of
-- the tables (who installed ar) are not subject to it.
DO $$
DECLARE
	t text;
	vis constant text := '(SELECT ar.is_admin()) OR %s = ANY ((SELECT ar.my_entities())::integer[])';
BEGIN
	-- tables that carry the entity
	FOR t IN
		SELECT c.relname FROM pg_catalog.pg_class c
		 WHERE c.relnamespace = 'ar'::regnamespace AND c.relkind = 'r'
		   AND EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a
						WHERE a.attrelid = c.oid AND a.attname = 'entity_id' AND NOT a.attisdropped)
		   AND c.relname <> 'entity_access'
		 ORDER BY 1
	LOOP
		EXECUTE format('ALTER TABLE ar.%I ENABLE ROW LEVEL SECURITY', t);
		EXECUTE format('CREATE POLICY entity_scope ON ar.%I USING (%s) WITH CHECK (%s)', t,
					   format(vis, 'entity_id'), format(vis, 'entity_id'));
	END LOOP;
	ALTER TABLE ar.entity ENABLE ROW LEVEL SECURITY;
	EXECUTE format('CREATE POLICY entity_scope ON ar.entity USING (%s) WITH CHECK (%s)',
				   format(vis, 'id'), '(SELECT ar.is_admin())');
END
$$;
-- tables that belong to a parent row: visible with their parent
DO $$
DECLARE
	t record;
BEGIN
	FOR t IN
		SELECT * FROM (VALUES ('invoice_line', 'invoice', 'invoice_id'),
							  ('invoice_tax', 'invoice', 'invoice_id'),
							  ('allocation', 'invoice', 'invoice_id'),
							  ('series_counter', 'series', 'series_id'),
							  ('match_suggestion', 'payment', 'payment_id'),
							  ('sales_order_line', 'sales_order', 'order_id'),
							  ('dunning_level', 'dunning_policy', 'policy_id')) v(child, parent, fk)
	LOOP
		EXECUTE format('ALTER TABLE ar.%I ENABLE ROW LEVEL SECURITY', t.child);
		EXECUTE format('CREATE POLICY entity_scope ON ar.%I USING (EXISTS (SELECT 1 FROM ar.%I p WHERE p.id = %I))',
					   t.child, t.parent, t.fk);
	END LOOP;
END
$$;

-- The KPI views: each role sees the rows of its entities (materialized
-- views take no policies).
CREATE VIEW ar.kpi_aging WITH (security_barrier = true) AS
SELECT k.entity_id, k.customer_id, k.currency, k.current, k.d1_30, k.d31_60, k.d61_90, k.d90_plus,
	   k.total, k.as_of
  FROM ar.kpi_aging_mv k
 WHERE (SELECT ar.is_admin()) OR k.entity_id = ANY ((SELECT ar.my_entities())::integer[]);
COMMENT ON VIEW ar.kpi_aging IS
	'aging per entity, customer and currency as of each entity''s day at the last ar.refresh_kpis(): current, 1-30, 31-60, 61-90, over 90 days past due; each role sees its entities';

CREATE VIEW ar.kpi_monthly WITH (security_barrier = true) AS
SELECT k.entity_id, k.currency, k.month, k.credit_sales, k.ending_ar, k.ending_current_ar, k.dso,
	   k.countback_dso, k.best_possible_dso, k.add, k.cei, k.avg_days_to_pay, k.pct_current,
	   k.beginning_ar, k.days, k.avg_days_beyond_terms
  FROM ar.kpi_monthly_mv k
 WHERE (SELECT ar.is_admin()) OR k.entity_id = ANY ((SELECT ar.my_entities())::integer[]);
COMMENT ON VIEW ar.kpi_monthly IS
	'monthly DSO, countback DSO, best possible DSO, ADD, CEI, days to pay and % current per entity and currency (DOMAIN.md section 4), as of the last ar.refresh_kpis(); each role sees its entities';

-- The default jobs, marked installed: CREATE EXTENSION makes them, so the
-- dump leaves them out until they are changed.  They run as ar_admin,
-- which sees every entity, and may be changed and disabled (not deleted).
ALTER TABLE ar.job DISABLE TRIGGER job_before;
INSERT INTO ar.job (name, schedule, command, run_as, time_zone, next_run, installed)
SELECT v.name, v.schedule, v.command, 'ar_admin'::regrole, v.time_zone, ar.job_next_run(v.schedule, now(), v.time_zone), true
  FROM (VALUES ('match_payments', '*/5 * * * *', 'SELECT * FROM ar.match_payments()', 'UTC'),
			   ('run_dunning', '0 6 * * *', 'SELECT * FROM ar.run_dunning()', 'Europe/Stockholm'),
			   ('refresh_kpis', '30 * * * *', 'SELECT ar.refresh_kpis()', 'UTC')) v(name, schedule, command, time_zone);
ALTER TABLE ar.job ENABLE TRIGGER job_before;

-- Privileges.  Functions run with the caller's rights (except the audit
-- trail's), so these grants and the policies above decide what a role can do.
GRANT USAGE ON SCHEMA ar TO ar_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA ar TO ar_reader;
GRANT INSERT, UPDATE, DELETE ON ar.customer, ar.invoice, ar.invoice_line, ar.invoice_tax,
	ar.series_counter, ar.outbox, ar.payment, ar.allocation, ar.match_suggestion,
	ar.sales_order, ar.sales_order_line TO ar_clerk;
GRANT INSERT ON ar.payment_extra_ref TO ar_clerk;
GRANT INSERT ON ar.dunning_letter, ar.dunning_item TO ar_clerk;
GRANT INSERT, UPDATE ON ar.dispute TO ar_clerk;
GRANT INSERT, UPDATE, DELETE ON ar.legal_rate, ar.dunning_policy, ar.dunning_level TO ar_admin;
GRANT INSERT, UPDATE, DELETE ON ar.payer_account TO ar_clerk;
GRANT INSERT, UPDATE, DELETE ON ar.entity, ar.series, ar.fx_rate, ar.entity_access, ar.bank_account
	TO ar_admin;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA ar TO ar_clerk;
-- it waits on a series' lock until the end of the transaction: only for
-- those who may change a series
REVOKE EXECUTE ON FUNCTION ar._series_used(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ar._series_used(integer) TO ar_admin;
-- (the audit trail is written only by its SECURITY DEFINER triggers; no
-- role gets more than SELECT on it)
REVOKE EXECUTE ON FUNCTION ar.verify_audit() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ar.verify_audit() TO ar_reader;
-- the matcher's ANALYZE runs as the extension's owner: for those who match
REVOKE EXECUTE ON FUNCTION ar._analyze_unanalyzed() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ar._analyze_unanalyzed() TO ar_clerk;
-- ar's trigger functions serve ar's tables only: nobody else may attach
-- them to a table (EXECUTE is checked when a trigger is created, not when
-- it fires, so ar's own triggers still fire for every role)
DO $$
DECLARE
	f regprocedure;
BEGIN
	FOR f IN SELECT p.oid FROM pg_catalog.pg_proc p
			  WHERE p.pronamespace = 'ar'::regnamespace AND p.prorettype = 'pg_catalog.trigger'::regtype
	LOOP
		EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC', f);
	END LOOP;
END
$$;
-- Overrides of ar's checks are for administrators: a clerk cannot switch
-- off the credit check or write off shortfalls by raising the tolerance
-- (the settings are SUSET in the library; ALTER ROLE/DATABASE ... SET by a
-- superuser applies to everyone)
GRANT SET ON PARAMETER ar.credit_check, ar.match_tolerance TO ar_admin;
-- jobs: ar_admin schedules them and runs them by hand (as their run_as
-- role, which it must be a member of); the worker runs them as superuser
-- (commands and errors of jobs that cover every entity: for ar_admin only)
REVOKE ALL ON ar.job, ar.job_run FROM ar_reader;
GRANT SELECT, INSERT, UPDATE, DELETE ON ar.job TO ar_admin;
GRANT SELECT, INSERT ON ar.job_run TO ar_admin;
REVOKE EXECUTE ON FUNCTION ar.run_job(text), ar._run_job(text, boolean), ar._execute_as(text, regrole),
	ar._job_failed(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ar.run_job(text), ar._run_job(text, boolean), ar._execute_as(text, regrole) TO ar_admin;
-- the stored KPIs are read through ar.kpi_aging and ar.kpi_monthly, which
-- show each role its entities; refreshing is for those who write
REVOKE ALL ON ar.kpi_aging_mv, ar.kpi_monthly_mv FROM ar_reader;
REVOKE EXECUTE ON FUNCTION ar.refresh_kpis() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ar.refresh_kpis() TO ar_clerk;
-- (end of roles and row-level security)

/* ------------------------------------------------------------------------
 * pg_dump carries every table and sequence of ar.  The reference tables
 * (ar.currency, ar.country) are filled by CREATE EXTENSION and registered
 * above with 'WHERE false'; everything else is registered here, whole.
 * This block stays last so that it sees every table.
 * ------------------------------------------------------------------------ */
DO $$
DECLARE
	rel regclass;
BEGIN
	FOR rel IN
		SELECT c.oid::regclass
		  FROM pg_catalog.pg_class c
		 WHERE c.relnamespace = 'ar'::regnamespace
		   AND c.relkind IN ('r', 'S')
		   AND c.oid NOT IN ('ar.currency'::regclass, 'ar.country'::regclass, 'ar.legal_rate'::regclass,
							 'ar.job'::regclass)
		 ORDER BY c.relname
	LOOP
		PERFORM pg_catalog.pg_extension_config_dump(rel, '');
	END LOOP;
END
$$;
