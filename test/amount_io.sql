-- test/amount_io.sql: text and binary I/O of ar.amount, its constructors and
-- accessors (CONTRACT.md §1).  Errors are checked by SQLSTATE and exact
-- primary message as raised by src/amount.c and src/currency.c.
SET search_path = public, ar;
BEGIN;
SELECT plan(113);

-- canonical text output ------------------------------------------------------------
SELECT is('1234.50 SEK'::ar.amount::text, '1234.50 SEK', 'canonical 1234.50 SEK');
SELECT is('1234.5 SEK'::ar.amount::text, '1234.50 SEK', '1234.5 SEK is output with the currency''s two decimals');
SELECT is('-5 JPY'::ar.amount::text, '-5 JPY', 'JPY has no decimals: -5 JPY');
SELECT is('0.125 KWD'::ar.amount::text, '0.125 KWD', 'KWD has three decimals: 0.125 KWD');
SELECT is('1 CLF'::ar.amount::text, '1.0000 CLF', 'CLF has four decimals: 1.0000 CLF');
SELECT is('7 ISK'::ar.amount::text, '7 ISK', 'ISK has no decimals: 7 ISK');
SELECT is('0 SEK'::ar.amount::text, '0.00 SEK', 'zero is 0.00 SEK');
SELECT is('-0.00 SEK'::ar.amount::text, '0.00 SEK', 'negative zero is output as 0.00 SEK');
SELECT is('-0.01 SEK'::ar.amount::text, '-0.01 SEK', 'a negative amount below one unit keeps its sign and leading zero');
SELECT is(ar.amount_of_minor(-5, 'KWD')::text, '-0.005 KWD', '-5 fils is -0.005 KWD');
SELECT is(ar.amount_of_minor(5, 'CLF')::text, '0.0005 CLF', '5 minor units of CLF is 0.0005 CLF');

-- accepted input forms ---------------------------------------------------------------
SELECT is('SEK 1234.5'::ar.amount::text, '1234.50 SEK', 'code first: SEK 1234.5');
SELECT is('SEK -12.3'::ar.amount::text, '-12.30 SEK', 'code first with a sign: SEK -12.3');
SELECT is('   1234.5 SEK   '::ar.amount::text, '1234.50 SEK', 'surrounding blanks are ignored');
SELECT is(E'\t SEK 1234.5 \n'::ar.amount::text, '1234.50 SEK', 'surrounding tabs and newlines are ignored');
SELECT is('12 sek'::ar.amount::text, '12.00 SEK', 'a lower-case code is accepted and output in upper case');
SELECT is('+1.5 CLF'::ar.amount::text, '1.5000 CLF', 'an explicit plus sign is accepted');
SELECT is('0000000000000000000000001.00 SEK'::ar.amount::text, '1.00 SEK', 'leading zeros do not count toward the range');

-- range limits (int64 minor units) ---------------------------------------------------
SELECT is('9223372036854775807 JPY'::ar.amount::text, '9223372036854775807 JPY', 'largest JPY amount');
SELECT is('-9223372036854775808 JPY'::ar.amount::text, '-9223372036854775808 JPY', 'smallest JPY amount');
SELECT is('92233720368547758.07 SEK'::ar.amount::text, '92233720368547758.07 SEK', 'largest SEK amount');
SELECT is('-92233720368547758.08 SEK'::ar.amount::text, '-92233720368547758.08 SEK', 'smallest SEK amount');
SELECT is(ar.minor_units('-92233720368547758.08 SEK'), (-9223372036854775807 - 1)::bigint,
	'the smallest SEK amount is -2^63 öre');

-- round trip text -> amount -> text -> amount, for every usable currency ------------------
SELECT is('1234.50 SEK'::ar.amount::text::ar.amount, '1234.50 SEK'::ar.amount, 'text round trip of 1234.50 SEK');
SELECT is((SELECT count(*)::int FROM ar.currency c
			WHERE c.minor_unit IS NOT NULL
			  AND ar.amount_of_minor(-123456789, c.code)::text::ar.amount = ar.amount_of_minor(-123456789, c.code)
			  AND ar.amount_of_minor(9223372036854775807, c.code)::text::ar.amount = ar.amount_of_minor(9223372036854775807, c.code)
			  AND ar.amount_of_minor(-9223372036854775807 - 1, c.code)::text::ar.amount = ar.amount_of_minor(-9223372036854775807 - 1, c.code)),
		  165, 'text output reads back to the same amount for all 165 currencies with a minor unit, at both limits');

-- binary send: int8 big-endian minor units, then the three ASCII letters ----------------
SELECT is(ar.amount_send('12.34 SEK'), '\x00000000000004d253454b'::bytea, 'send of 12.34 SEK: 1234 as int8, then "SEK"');
SELECT is(ar.amount_send('-5 JPY'), '\xfffffffffffffffb4a5059'::bytea, 'send of -5 JPY: -5 as int8, then "JPY"');
SELECT is(ar.amount_send('0.125 KWD'), '\x000000000000007d4b5744'::bytea, 'send of 0.125 KWD: 125 as int8, then "KWD"');

-- binary receive (COPY BINARY; needs a superuser for COPY PROGRAM) -----------------------
CREATE TEMP TABLE bin_in (a ar.amount);
-- A hand-built COPY BINARY stream: header, one tuple of one 11-byte field
-- (int8 1234, "SEK"), a second tuple (int8 -5, "JPY"), trailer.
SELECT lives_ok($$COPY bin_in FROM PROGRAM 'printf ''PGCOPY\n\377\r\n\000\000\000\000\000\000\000\000\000\000\001\000\000\000\013\000\000\000\000\000\000\004\322SEK\000\001\000\000\000\013\377\377\377\377\377\377\377\373JPY\377\377''' (FORMAT binary)$$,
	'COPY BINARY reads amounts');
SELECT results_eq('SELECT a::text FROM bin_in', $$VALUES ('12.34 SEK'), ('-5 JPY')$$,
	'binary input of (1234, SEK) and (-5, JPY) is 12.34 SEK and -5 JPY');
SELECT throws_ok($$COPY bin_in FROM PROGRAM 'printf ''PGCOPY\n\377\r\n\000\000\000\000\000\000\000\000\000\000\001\000\000\000\013\000\000\000\000\000\000\004\322sek\377\377''' (FORMAT binary)$$,
	'22P03', 'invalid currency code in external ar.amount value: bytes 73 65 6b',
	'binary input refuses a lower-case code');
SELECT throws_ok($$COPY bin_in FROM PROGRAM 'printf ''PGCOPY\n\377\r\n\000\000\000\000\000\000\000\000\000\000\001\000\000\000\013\000\000\000\000\000\000\004\322ABC\377\377''' (FORMAT binary)$$,
	'22P03', 'invalid currency code in external ar.amount value: bytes 41 42 43',
	'binary input refuses an unknown code');
SELECT throws_ok($$COPY bin_in FROM PROGRAM 'printf ''PGCOPY\n\377\r\n\000\000\000\000\000\000\000\000\000\000\001\000\000\000\013\000\000\000\000\000\000\004\322XAU\377\377''' (FORMAT binary)$$,
	'22P03', 'invalid currency code in external ar.amount value: bytes 58 41 55',
	'binary input refuses a code without minor unit');
-- send -> recv round trip through a binary file
CREATE TEMP TABLE bin_src (i int, a ar.amount);
INSERT INTO bin_src VALUES (1, '1234.50 SEK'), (2, '-5 JPY'), (3, '0.125 KWD'), (4, '-92233720368547758.08 SEK'),
	(5, '9223372036854775807 JPY'), (6, '0.0001 CLF');
CREATE TEMP TABLE bin_dst (i int, a ar.amount);
CREATE FUNCTION pg_temp.binary_round_trip() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	f text := '/tmp/ar_tap_amount_' || pg_backend_pid() || '.bin';
BEGIN
	EXECUTE format('COPY (SELECT i, a FROM bin_src ORDER BY i) TO %L (FORMAT binary)', f);
	EXECUTE format('COPY bin_dst FROM PROGRAM %L (FORMAT binary)', 'cat ' || f || ' && rm -f ' || f);
END
$$;
SELECT lives_ok('SELECT pg_temp.binary_round_trip()', 'COPY BINARY out and back in');
SELECT results_eq('SELECT i, a::text FROM bin_dst ORDER BY i', 'SELECT i, a::text FROM bin_src ORDER BY i',
	'amounts survive a binary send/recv round trip');

-- rejected text input ------------------------------------------------------------------
SELECT throws_ok($$SELECT '1 ABC'::ar.amount$$, '22023', 'unknown currency code "ABC" in amount "1 ABC"',
	'unknown currency code');
SELECT throws_ok($$SELECT 'ABC 1'::ar.amount$$, '22023', 'unknown currency code "ABC" in amount "ABC 1"',
	'unknown currency code, code first');
SELECT throws_ok($$SELECT '12 SEKK'::ar.amount$$, '22023', 'unknown currency code "SEKK" in amount "12 SEKK"',
	'a four-letter code is unknown');
SELECT throws_ok($$SELECT '1 XAU'::ar.amount$$, '22023', 'currency "XAU" has no minor unit and cannot hold amounts',
	'gold (no minor unit) cannot hold amounts');
SELECT throws_ok($$SELECT '1 XXX'::ar.amount$$, '22023', 'currency "XXX" has no minor unit and cannot hold amounts',
	'XXX (no currency) cannot hold amounts');
SELECT throws_ok($$SELECT '1.005 SEK'::ar.amount$$, '22P02', 'too many fraction digits for currency SEK: "1.005 SEK"',
	'three decimals for SEK are refused, not rounded');
SELECT throws_ok($$SELECT '1.000 SEK'::ar.amount$$, '22P02', 'too many fraction digits for currency SEK: "1.000 SEK"',
	'more fraction digits than SEK has are refused even when zero');
SELECT throws_ok($$SELECT '1.5 JPY'::ar.amount$$, '22P02', 'too many fraction digits for currency JPY: "1.5 JPY"',
	'decimals for JPY are refused');
SELECT throws_ok($$SELECT '0.1234 KWD'::ar.amount$$, '22P02', 'too many fraction digits for currency KWD: "0.1234 KWD"',
	'four decimals for KWD are refused');
SELECT throws_ok($$SELECT '0.00001 CLF'::ar.amount$$, '22P02', 'too many fraction digits for currency CLF: "0.00001 CLF"',
	'five decimals for CLF are refused');
SELECT throws_ok($$SELECT ''::ar.amount$$, '22P02', 'invalid input syntax for type ar.amount: ""',
	'empty input');
SELECT throws_ok($$SELECT '   '::ar.amount$$, '22P02', 'invalid input syntax for type ar.amount: "   "',
	'blank input');
SELECT throws_ok($$SELECT 'SEK'::ar.amount$$, '22P02', 'invalid input syntax for type ar.amount: "SEK"',
	'a code without a number');
SELECT throws_ok($$SELECT '12'::ar.amount$$, '22P02', 'invalid input syntax for type ar.amount: "12"',
	'a number without a code');
SELECT throws_ok($$SELECT '- SEK'::ar.amount$$, '22P02', 'invalid input syntax for type ar.amount: "- SEK"',
	'a sign without digits');
SELECT throws_ok($$SELECT 'NaN SEK'::ar.amount$$, '22P02', 'invalid input syntax for type ar.amount: "NaN SEK"',
	'NaN');
SELECT throws_ok($$SELECT 'SEK nan'::ar.amount$$, '22P02', 'invalid input syntax for type ar.amount: "SEK nan"',
	'NaN, code first');
SELECT throws_ok($$SELECT 'Infinity SEK'::ar.amount$$, '22P02', 'invalid input syntax for type ar.amount: "Infinity SEK"',
	'Infinity');
SELECT throws_ok($$SELECT '-Infinity SEK'::ar.amount$$, '22P02', 'invalid input syntax for type ar.amount: "-Infinity SEK"',
	'-Infinity');
SELECT throws_ok($$SELECT 'inf SEK'::ar.amount$$, '22P02', 'invalid input syntax for type ar.amount: "inf SEK"',
	'inf');
SELECT throws_ok($$SELECT '1,234.50 SEK'::ar.amount$$, '22P02', 'invalid input syntax for type ar.amount: "1,234.50 SEK"',
	'comma digit group separator');
SELECT throws_ok($$SELECT '1 234.50 SEK'::ar.amount$$, '22P02', 'invalid input syntax for type ar.amount: "1 234.50 SEK"',
	'blank digit group separator');
SELECT throws_ok($$SELECT 'SEK 1 234'::ar.amount$$, '22P02', 'invalid input syntax for type ar.amount: "SEK 1 234"',
	'blank digit group separator, code first');
SELECT throws_ok($$SELECT '1_234.50 SEK'::ar.amount$$, '22P02', 'invalid input syntax for type ar.amount: "1_234.50 SEK"',
	'underscore digit group separator');
SELECT throws_ok($$SELECT '1''234.50 SEK'::ar.amount$$, '22P02', 'invalid input syntax for type ar.amount: "1''234.50 SEK"',
	'apostrophe digit group separator');
SELECT throws_ok($$SELECT '12,50 SEK'::ar.amount$$, '22P02', 'invalid input syntax for type ar.amount: "12,50 SEK"',
	'decimal comma');
SELECT throws_ok($$SELECT '1e3 SEK'::ar.amount$$, '22P02', 'invalid input syntax for type ar.amount: "1e3 SEK"',
	'exponent notation');
SELECT throws_ok($$SELECT '1.5E2 SEK'::ar.amount$$, '22P02', 'invalid input syntax for type ar.amount: "1.5E2 SEK"',
	'exponent notation, upper case');
SELECT throws_ok($$SELECT '12 SEK extra'::ar.amount$$, '22P02', 'invalid input syntax for type ar.amount: "12 SEK extra"',
	'trailing text');
SELECT throws_ok($$SELECT 'SEK 12 SEK'::ar.amount$$, '22P02', 'invalid input syntax for type ar.amount: "SEK 12 SEK"',
	'the code twice');
SELECT throws_ok($$SELECT '9223372036854775808 JPY'::ar.amount$$, '22003', 'amount out of range: "9223372036854775808 JPY"',
	'one above the largest JPY amount');
SELECT throws_ok($$SELECT '-9223372036854775809 JPY'::ar.amount$$, '22003', 'amount out of range: "-9223372036854775809 JPY"',
	'one below the smallest JPY amount');
SELECT throws_ok($$SELECT '92233720368547758.08 SEK'::ar.amount$$, '22003', 'amount out of range: "92233720368547758.08 SEK"',
	'one öre above the largest SEK amount');
SELECT throws_ok($$SELECT '99999999999999999999999999 SEK'::ar.amount$$, '22003', 'amount out of range: "99999999999999999999999999 SEK"',
	'far out of range');

-- ar.amount(numeric, text): exact; excess non-zero decimals are an error -----------------
SELECT is(ar.amount(12.50, 'SEK'), '12.50 SEK'::ar.amount, 'ar.amount(12.50, SEK)');
SELECT is(ar.amount(12.5, 'SEK'), '12.50 SEK'::ar.amount, 'ar.amount(12.5, SEK)');
SELECT is(ar.amount(12.5000, 'SEK'), '12.50 SEK'::ar.amount, 'ar.amount(12.5000, SEK): trailing zeros of the numeric scale are fine');
SELECT is(ar.amount(100.00, 'JPY'), '100 JPY'::ar.amount, 'ar.amount(100.00, JPY): zero decimals are fine for JPY');
SELECT is(ar.amount(-0.125, 'KWD'), '-0.125 KWD'::ar.amount, 'ar.amount(-0.125, KWD)');
SELECT is(ar.amount(1, 'sek'), '1.00 SEK'::ar.amount, 'ar.amount accepts a lower-case code');
SELECT is(ar.amount(92233720368547758.07, 'SEK'), '92233720368547758.07 SEK'::ar.amount, 'ar.amount at the upper limit');
SELECT is(ar.amount(-92233720368547758.08, 'SEK'), '-92233720368547758.08 SEK'::ar.amount, 'ar.amount at the lower limit');
SELECT throws_ok($$SELECT ar.amount(12.505, 'SEK')$$, '22023', 'too many fraction digits for currency SEK: 12.505',
	'ar.amount(12.505, SEK) is an error, not rounded');
SELECT throws_ok($$SELECT ar.amount(12.5, 'JPY')$$, '22023', 'too many fraction digits for currency JPY: 12.5',
	'ar.amount(12.5, JPY) is an error');
SELECT throws_ok($$SELECT ar.amount(1, 'ABC')$$, '22023', 'unknown currency code "ABC"',
	'ar.amount with an unknown code');
SELECT throws_ok($$SELECT ar.amount(1, 'XAU')$$, '22023', 'currency "XAU" has no minor unit and cannot hold amounts',
	'ar.amount with a code that has no minor unit');
SELECT throws_ok($$SELECT ar.amount('NaN', 'SEK')$$, '22023', 'cannot make an amount of SEK from NaN',
	'ar.amount(NaN)');
SELECT throws_ok($$SELECT ar.amount('Infinity', 'SEK')$$, '22023', 'cannot make an amount of SEK from Infinity',
	'ar.amount(Infinity)');
SELECT throws_ok($$SELECT ar.amount(92233720368547758.08, 'SEK')$$, '22003', 'amount out of range: 92233720368547758.08 SEK',
	'ar.amount one öre above the upper limit');
SELECT throws_ok($$SELECT ar.amount(1e20, 'SEK')$$, '22003', 'amount out of range: 100000000000000000000 SEK',
	'ar.amount far out of range');

-- ar.round_amount(numeric, text): half away from zero ----------------------------------------
SELECT is(ar.round_amount(0.125, 'SEK'), '0.13 SEK'::ar.amount, 'round_amount(0.125 SEK) = 0.13');
SELECT is(ar.round_amount(-0.125, 'SEK'), '-0.13 SEK'::ar.amount, 'round_amount(-0.125 SEK) = -0.13');
SELECT is(ar.round_amount(0.124999, 'SEK'), '0.12 SEK'::ar.amount, 'round_amount(0.124999 SEK) = 0.12');
SELECT is(ar.round_amount(-0.124999, 'SEK'), '-0.12 SEK'::ar.amount, 'round_amount(-0.124999 SEK) = -0.12');
SELECT is(ar.round_amount(2.5, 'JPY'), '3 JPY'::ar.amount, 'round_amount(2.5 JPY) = 3');
SELECT is(ar.round_amount(-2.5, 'JPY'), '-3 JPY'::ar.amount, 'round_amount(-2.5 JPY) = -3');
SELECT is(ar.round_amount(0.0005, 'KWD'), '0.001 KWD'::ar.amount, 'round_amount(0.0005 KWD) = 0.001');
SELECT is(ar.round_amount(1::numeric / 3, 'SEK'), '0.33 SEK'::ar.amount, 'round_amount(1/3 SEK) = 0.33');
SELECT is(ar.round_amount(-2::numeric / 3, 'SEK'), '-0.67 SEK'::ar.amount, 'round_amount(-2/3 SEK) = -0.67');
SELECT is(ar.round_amount(12.50, 'SEK'), '12.50 SEK'::ar.amount, 'round_amount of an exact value is that value');
SELECT throws_ok($$SELECT ar.round_amount(92233720368547758.075, 'SEK')$$, '22003',
	'amount out of range: 92233720368547758.075 SEK', 'round_amount that rounds past the upper limit');

-- accessors ------------------------------------------------------------------------------
SELECT is(ar.amount_of_minor(1234, 'SEK'), '12.34 SEK'::ar.amount, 'amount_of_minor(1234, SEK) = 12.34 SEK');
SELECT throws_ok($$SELECT ar.amount_of_minor(1, 'ABC')$$, '22023', 'unknown currency code "ABC"',
	'amount_of_minor with an unknown code');
SELECT is(ar.currency_of('12.34 sek'), 'SEK', 'currency_of is the upper-case code');
SELECT is(ar.minor_units('12.34 SEK'), 1234::bigint, 'minor_units(12.34 SEK) = 1234');
SELECT is(ar.minor_units('-5 JPY'), -5::bigint, 'minor_units(-5 JPY) = -5');
SELECT is(ar.minor_units('0.125 KWD'), 125::bigint, 'minor_units(0.125 KWD) = 125');
SELECT is(ar.value_of('1.5 SEK')::text, '1.50', 'value_of(1.5 SEK) is 1.50 with scale 2');
SELECT is(ar.value_of('5 JPY')::text, '5', 'value_of(5 JPY) is 5 with scale 0');
SELECT is(ar.value_of('1 KWD')::text, '1.000', 'value_of(1 KWD) is 1.000 with scale 3');
SELECT is(ar.value_of('1 CLF')::text, '1.0000', 'value_of(1 CLF) is 1.0000 with scale 4');
SELECT is(ar.value_of('-0.05 SEK')::text, '-0.05', 'value_of(-0.05 SEK) is -0.05');
SELECT is(scale(ar.value_of('-0.05 SEK')), 2, 'value_of(-0.05 SEK) has scale 2');
SELECT is(ar.value_of('92233720368547758.07 SEK')::text, '92233720368547758.07', 'value_of at the upper SEK limit');
SELECT is(ar.value_of('-92233720368547758.08 SEK')::text, '-92233720368547758.08', 'value_of at the lower SEK limit');
SELECT is(ar.value_of('-9223372036854775.808 KWD')::text, '-9223372036854775.808', 'value_of at the lower KWD limit');
SELECT is(ar.value_of('-9223372036854775808 JPY')::text, '-9223372036854775808', 'value_of at the lower JPY limit');
SELECT is(ar.amount(ar.value_of('-123.45 SEK'), 'SEK'), '-123.45 SEK'::ar.amount, 'ar.amount(value_of(x), currency_of(x)) = x');

SELECT * FROM finish();
ROLLBACK;
