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

CREATE TYPE ar.amount (
	INPUT = ar.amount_in,
	OUTPUT = ar.amount_out,
	RECEIVE = ar.amount_recv,
	SEND = ar.amount_send,
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
	AS 'MODULE_PATHNAME', 'ar_amount_eq' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
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
SELECT pg_catalog.pg_extension_config_dump('ar.fx_rate', '');

CREATE FUNCTION ar.convert(amount ar.amount, to_currency text, on_date date)
	RETURNS ar.amount
	LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	from_cur text := ar.currency_of(amount);
	to_cur text := upper(to_currency);
	r numeric;
BEGIN
	-- validates the target code, with the error of ar.amount()
	PERFORM ar.amount(0, to_cur);
	IF to_cur = from_cur THEN
		RETURN amount;
	END IF;
	SELECT f.rate INTO r
	  FROM ar.fx_rate f
	 WHERE f.from_currency = from_cur
	   AND f.to_currency = to_cur
	   AND f.valid_on <= on_date
	 ORDER BY f.valid_on DESC
	 LIMIT 1;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'no exchange rate from % to % on or before %', from_cur, to_cur,
			to_char(on_date, 'YYYY-MM-DD')
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Add a row to ar.fx_rate (from_currency, to_currency, valid_on, rate).';
	END IF;
	RETURN ar.round_amount(ar.value_of(amount) * r, to_cur);
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

CREATE FUNCTION ar.payment_reference(scheme text, base text) RETURNS text
	AS 'MODULE_PATHNAME', 'ar_payment_reference' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ar.payment_reference(text, text) IS
	'payment reference built from base: ocr, ocr_len, kid10, kid11, fi, rf or fik';
CREATE FUNCTION ar.reference_valid(scheme text, ref text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'ar_reference_valid' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ar.reference_valid(text, text) IS
	'is ref a valid payment reference of the scheme (blanks ignored)';
CREATE FUNCTION ar.iban_valid(iban text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'ar_iban_valid' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ar.iban_valid(text) IS
	'is the text a valid IBAN (ISO 13616: country length and MOD 97-10; blanks ignored)';
