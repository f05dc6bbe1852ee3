-- test/amount_ops.sql: operators, aggregates and conversion of ar.amount
-- (CONTRACT.md §1): comparisons, arithmetic with overflow checks at the int64
-- limits, mixed currencies, division by zero, rounding half away from zero,
-- sum/min/max, ar.convert with ar.fx_rate.
SET search_path = public, ar;
BEGIN;
SET LOCAL DateStyle = 'ISO, YMD';
SELECT plan(116);

-- comparisons ----------------------------------------------------------------------------
SELECT is('1.00 SEK'::ar.amount = '1 SEK'::ar.amount, true, '1.00 SEK = 1 SEK');
SELECT is('1.00 SEK'::ar.amount = '1.01 SEK'::ar.amount, false, '1.00 SEK = 1.01 SEK is false');
SELECT is('1.00 SEK'::ar.amount <> '1.01 SEK'::ar.amount, true, '1.00 SEK <> 1.01 SEK');
SELECT is('1.00 SEK'::ar.amount <> '1.00 SEK'::ar.amount, false, '1.00 SEK <> 1.00 SEK is false');
SELECT is('-1.00 SEK'::ar.amount < '0.01 SEK'::ar.amount, true, '-1.00 SEK < 0.01 SEK');
SELECT is('0.02 SEK'::ar.amount < '0.01 SEK'::ar.amount, false, '0.02 SEK < 0.01 SEK is false');
SELECT is('0.01 SEK'::ar.amount <= '0.01 SEK'::ar.amount, true, '0.01 SEK <= 0.01 SEK');
SELECT is('0.02 SEK'::ar.amount <= '0.01 SEK'::ar.amount, false, '0.02 SEK <= 0.01 SEK is false');
SELECT is('10 SEK'::ar.amount > '9.99 SEK'::ar.amount, true, '10 SEK > 9.99 SEK');
SELECT is('-10 SEK'::ar.amount > '-9.99 SEK'::ar.amount, false, '-10 SEK > -9.99 SEK is false');
SELECT is('5 SEK'::ar.amount >= '5.00 SEK'::ar.amount, true, '5 SEK >= 5.00 SEK');
SELECT is('4.99 SEK'::ar.amount >= '5.00 SEK'::ar.amount, false, '4.99 SEK >= 5.00 SEK is false');
SELECT is(ARRAY[ar.amount_cmp('1 SEK', '2 SEK'), ar.amount_cmp('2 SEK', '2 SEK'), ar.amount_cmp('2 SEK', '1 SEK'),
				ar.amount_cmp('-9223372036854775808 JPY', '9223372036854775807 JPY')],
		  ARRAY[-1, 0, 1, -1], 'amount_cmp returns -1, 0, 1 (also across the full range)');
SELECT results_eq(
	$$SELECT a::text FROM (VALUES ('10 SEK'::ar.amount), ('-0.01 SEK'), ('0 SEK'), ('-1 SEK'), ('0.01 SEK'),
		('-92233720368547758.08 SEK'), ('92233720368547758.07 SEK')) v(a) ORDER BY v.a$$,
	$$VALUES ('-92233720368547758.08 SEK'), ('-1.00 SEK'), ('-0.01 SEK'), ('0.00 SEK'), ('0.01 SEK'), ('10.00 SEK'),
		('92233720368547758.07 SEK')$$,
	'ORDER BY sorts amounts numerically, negatives first');

-- arithmetic ------------------------------------------------------------------------------
SELECT is('1.50 SEK'::ar.amount + '2.75 SEK'::ar.amount, '4.25 SEK'::ar.amount, '1.50 SEK + 2.75 SEK = 4.25 SEK');
SELECT is('1.50 SEK'::ar.amount - '2.75 SEK'::ar.amount, '-1.25 SEK'::ar.amount, '1.50 SEK - 2.75 SEK = -1.25 SEK');
SELECT is(-'1.50 SEK'::ar.amount, '-1.50 SEK'::ar.amount, '-(1.50 SEK) = -1.50 SEK');
SELECT is(-'-0.125 KWD'::ar.amount, '0.125 KWD'::ar.amount, '-(-0.125 KWD) = 0.125 KWD');
SELECT is('12.34 SEK'::ar.amount * 3, '37.02 SEK'::ar.amount, '12.34 SEK * 3 = 37.02 SEK');
SELECT is(3 * '12.34 SEK'::ar.amount, '37.02 SEK'::ar.amount, '3 * 12.34 SEK = 37.02 SEK');
SELECT is('100 SEK'::ar.amount * 0.25, '25.00 SEK'::ar.amount, '100 SEK * 0.25 = 25.00 SEK');
SELECT is('100 SEK'::ar.amount / 4, '25.00 SEK'::ar.amount, '100 SEK / 4 = 25.00 SEK');
SELECT is('100 JPY'::ar.amount / -8, '-13 JPY'::ar.amount, '100 JPY / -8 = -12.5 -> -13 JPY');

-- overflow at the int64 limits -----------------------------------------------------------------
SELECT is('9223372036854775806 JPY'::ar.amount + '1 JPY'::ar.amount, '9223372036854775807 JPY'::ar.amount,
	'addition up to the largest amount');
SELECT throws_ok($$SELECT '9223372036854775807 JPY'::ar.amount + '1 JPY'::ar.amount$$,
	'22003', 'ar.amount out of range: 9223372036854775807 JPY + 1 JPY', 'addition past the largest amount');
SELECT throws_ok($$SELECT '-9223372036854775808 JPY'::ar.amount + '-1 JPY'::ar.amount$$,
	'22003', 'ar.amount out of range: -9223372036854775808 JPY + -1 JPY', 'addition past the smallest amount');
SELECT is('-9223372036854775807 JPY'::ar.amount - '1 JPY'::ar.amount, '-9223372036854775808 JPY'::ar.amount,
	'subtraction down to the smallest amount');
SELECT throws_ok($$SELECT '-9223372036854775808 JPY'::ar.amount - '1 JPY'::ar.amount$$,
	'22003', 'ar.amount out of range: -9223372036854775808 JPY - 1 JPY', 'subtraction past the smallest amount');
SELECT throws_ok($$SELECT '0 JPY'::ar.amount - '-9223372036854775808 JPY'::ar.amount$$,
	'22003', 'ar.amount out of range: 0 JPY - -9223372036854775808 JPY', '0 minus the smallest amount');
SELECT is(-'9223372036854775807 JPY'::ar.amount, '-9223372036854775807 JPY'::ar.amount, 'negation of the largest amount');
SELECT throws_ok($$SELECT -'-9223372036854775808 JPY'::ar.amount$$,
	'22003', 'ar.amount out of range: -(-9223372036854775808 JPY)', 'negation of the smallest amount');
SELECT throws_ok($$SELECT '9223372036854775807 JPY'::ar.amount * 2$$,
	'22003', 'ar.amount out of range: 9223372036854775807 JPY * 2', 'multiplication past the largest amount');
SELECT throws_ok($$SELECT '-9223372036854775808 JPY'::ar.amount * -1$$,
	'22003', 'ar.amount out of range: -9223372036854775808 JPY * -1', 'the smallest amount times -1');
SELECT throws_ok($$SELECT '-4611686018427387905 JPY'::ar.amount * 2$$,
	'22003', 'ar.amount out of range: -4611686018427387905 JPY * 2', 'multiplication past the smallest amount');
SELECT is('-4611686018427387904 JPY'::ar.amount * 2, '-9223372036854775808 JPY'::ar.amount,
	'multiplication down to the smallest amount');
SELECT throws_ok($$SELECT '9223372036854775807 JPY'::ar.amount * 1.0000000000000000001$$,
	'22003', 'ar.amount out of range: 9223372036854775807 JPY * 1.0000000000000000001', 'the largest amount times a factor just above 1 rounds past the limit');
SELECT throws_ok($$SELECT '-9223372036854775808 JPY'::ar.amount / -1$$,
	'22003', 'ar.amount out of range: -9223372036854775808 JPY / -1', 'the smallest amount divided by -1');
SELECT throws_ok($$SELECT '9223372036854775807 JPY'::ar.amount / 0.5$$,
	'22003', 'ar.amount out of range: 9223372036854775807 JPY / 0.5', 'the largest amount divided by 0.5');
SELECT throws_ok($$SELECT '9223372036854775807 JPY'::ar.amount / 0.9999999999999999999$$,
	'22003', 'ar.amount out of range: 9223372036854775807 JPY / 0.9999999999999999999', 'the largest amount divided by a divisor just below 1 rounds past the limit');
SELECT is('9223372036854775807 JPY'::ar.amount / 1, '9223372036854775807 JPY'::ar.amount, 'the largest amount divided by 1');
SELECT throws_ok($$SELECT ar.sum(a) FROM (VALUES ('9223372036854775807 JPY'::ar.amount), ('1 JPY')) v(a)$$,
	'22003', 'ar.amount out of range: sum() passed 9223372036854775807 JPY + 1 JPY', 'sum past the largest amount');
SELECT throws_ok($$SELECT ar.sum(a) FROM (VALUES ('-9223372036854775808 JPY'::ar.amount), ('-1 JPY')) v(a)$$,
	'22003', 'ar.amount out of range: sum() passed -9223372036854775808 JPY + -1 JPY', 'sum past the smallest amount');
SELECT is((SELECT ar.sum(a) FROM (VALUES ('9223372036854775807 JPY'::ar.amount), ('-1 JPY'), ('1 JPY')) v(a)),
	'9223372036854775807 JPY'::ar.amount, 'sum that touches but does not pass the largest amount');

-- mixed currencies: every operator and aggregate raises an error naming both ------------------
SELECT throws_ok($$SELECT '1 SEK'::ar.amount = '1 NOK'::ar.amount$$, '42804',
	'cannot combine amounts in different currencies: SEK and NOK', '= of SEK and NOK');
SELECT throws_ok($$SELECT '1 SEK'::ar.amount <> '1 NOK'::ar.amount$$, '42804',
	'cannot combine amounts in different currencies: SEK and NOK', '<> of SEK and NOK');
SELECT throws_ok($$SELECT '1 SEK'::ar.amount < '1 NOK'::ar.amount$$, '42804',
	'cannot combine amounts in different currencies: SEK and NOK', '< of SEK and NOK');
SELECT throws_ok($$SELECT '1 SEK'::ar.amount <= '1 NOK'::ar.amount$$, '42804',
	'cannot combine amounts in different currencies: SEK and NOK', '<= of SEK and NOK');
SELECT throws_ok($$SELECT '1 SEK'::ar.amount > '1 NOK'::ar.amount$$, '42804',
	'cannot combine amounts in different currencies: SEK and NOK', '> of SEK and NOK');
SELECT throws_ok($$SELECT '1 SEK'::ar.amount >= '1 NOK'::ar.amount$$, '42804',
	'cannot combine amounts in different currencies: SEK and NOK', '>= of SEK and NOK');
SELECT throws_ok($$SELECT ar.amount_cmp('1 EUR', '1 USD')$$, '42804',
	'cannot combine amounts in different currencies: EUR and USD', 'amount_cmp of EUR and USD');
SELECT throws_ok($$SELECT '1 SEK'::ar.amount + '1 NOK'::ar.amount$$, '42804',
	'cannot combine amounts in different currencies: SEK and NOK', '+ of SEK and NOK');
SELECT throws_ok($$SELECT '1 JPY'::ar.amount - '1 SEK'::ar.amount$$, '42804',
	'cannot combine amounts in different currencies: JPY and SEK', '- of JPY and SEK');
SELECT throws_ok($$SELECT ar.sum(a) FROM (VALUES ('1 SEK'::ar.amount), ('1 NOK')) v(a)$$, '42804',
	'cannot combine amounts in different currencies: SEK and NOK', 'sum of SEK and NOK');
SELECT throws_ok($$SELECT ar.min(a) FROM (VALUES ('1 SEK'::ar.amount), ('1 NOK')) v(a)$$, '42804',
	'cannot combine amounts in different currencies: SEK and NOK', 'min of SEK and NOK');
SELECT throws_ok($$SELECT ar.max(a) FROM (VALUES ('1 SEK'::ar.amount), ('1 NOK')) v(a)$$, '42804',
	'cannot combine amounts in different currencies: SEK and NOK', 'max of SEK and NOK');

-- division by zero, NaN and Infinity factors ---------------------------------------------------
SELECT throws_ok($$SELECT '1 SEK'::ar.amount / 0$$, '22012', 'division by zero: 1.00 SEK / 0', 'division by 0');
SELECT throws_ok($$SELECT '-5 JPY'::ar.amount / 0.000$$, '22012', 'division by zero: -5 JPY / 0', 'division by 0.000');
SELECT throws_ok($$SELECT '1 SEK'::ar.amount * 'NaN'::numeric$$, '22023', 'cannot multiply an amount by NaN', 'multiplication by NaN');
SELECT throws_ok($$SELECT '1 SEK'::ar.amount * 'Infinity'::numeric$$, '22023', 'cannot multiply an amount by Infinity', 'multiplication by Infinity');
SELECT throws_ok($$SELECT '1 SEK'::ar.amount / 'NaN'::numeric$$, '22023', 'cannot divide an amount by NaN', 'division by NaN');
SELECT throws_ok($$SELECT '1 SEK'::ar.amount / '-Infinity'::numeric$$, '22023', 'cannot divide an amount by -Infinity', 'division by -Infinity');

-- rounding half away from zero ----------------------------------------------------------------
SELECT is('0.05 SEK'::ar.amount / 2, '0.03 SEK'::ar.amount, '0.05 SEK / 2 = 0.03 SEK');
SELECT is('-0.05 SEK'::ar.amount / 2, '-0.03 SEK'::ar.amount, '-0.05 SEK / 2 = -0.03 SEK');
SELECT is('0.05 SEK'::ar.amount / -2, '-0.03 SEK'::ar.amount, '0.05 SEK / -2 = -0.03 SEK');
SELECT is('-0.05 SEK'::ar.amount / -2, '0.03 SEK'::ar.amount, '-0.05 SEK / -2 = 0.03 SEK');
SELECT is('0.01 SEK'::ar.amount / 2, '0.01 SEK'::ar.amount, '0.01 SEK / 2 = 0.01 SEK (exactly half rounds away)');
SELECT is('0.01 SEK'::ar.amount / 3, '0.00 SEK'::ar.amount, '0.01 SEK / 3 = 0.00 SEK');
SELECT is('1 SEK'::ar.amount / 3, '0.33 SEK'::ar.amount, '1 SEK / 3 = 0.33 SEK');
SELECT is('2 SEK'::ar.amount / 3, '0.67 SEK'::ar.amount, '2 SEK / 3 = 0.67 SEK');
SELECT is('-2 SEK'::ar.amount / 3, '-0.67 SEK'::ar.amount, '-2 SEK / 3 = -0.67 SEK');
SELECT is('-0.02 SEK'::ar.amount / 3, '-0.01 SEK'::ar.amount, '-0.02 SEK / 3 = -0.01 SEK');
SELECT is('10 SEK'::ar.amount / 0.3, '33.33 SEK'::ar.amount, '10 SEK / 0.3 = 33.33 SEK');
SELECT is('0.01 SEK'::ar.amount / 2.000000000000000000000000000001, '0.00 SEK'::ar.amount,
	'0.01 SEK / 2.000000000000000000000000000001 = 0.00 SEK (exact quotient just below one half: no double rounding)');
SELECT is('-0.01 SEK'::ar.amount / 1.999999999999999999999999999999, '-0.01 SEK'::ar.amount,
	'-0.01 SEK / 1.999999999999999999999999999999 = -0.01 SEK (just above one half)');
SELECT is('0.05 SEK'::ar.amount * 0.5, '0.03 SEK'::ar.amount, '0.05 SEK * 0.5 = 0.03 SEK');
SELECT is('-0.05 SEK'::ar.amount * 0.5, '-0.03 SEK'::ar.amount, '-0.05 SEK * 0.5 = -0.03 SEK');
SELECT is('0.05 SEK'::ar.amount * -0.5, '-0.03 SEK'::ar.amount, '0.05 SEK * -0.5 = -0.03 SEK');
SELECT is(0.5 * '0.05 SEK'::ar.amount, '0.03 SEK'::ar.amount, '0.5 * 0.05 SEK = 0.03 SEK');
SELECT is('5 JPY'::ar.amount * 0.5, '3 JPY'::ar.amount, '5 JPY * 0.5 = 3 JPY');
SELECT is('-5 JPY'::ar.amount * 0.5, '-3 JPY'::ar.amount, '-5 JPY * 0.5 = -3 JPY');
SELECT is('0.01 SEK'::ar.amount * 0.49, '0.00 SEK'::ar.amount, '0.01 SEK * 0.49 = 0.00 SEK');
SELECT is('1 SEK'::ar.amount * (1::numeric / 3), '0.33 SEK'::ar.amount, '1 SEK * (1/3) = 0.33 SEK');
SELECT is('2 SEK'::ar.amount * (1::numeric / 3), '0.67 SEK'::ar.amount, '2 SEK * (1/3) = 0.67 SEK');
SELECT is('-2 SEK'::ar.amount * (1::numeric / 3), '-0.67 SEK'::ar.amount, '-2 SEK * (1/3) = -0.67 SEK');
SELECT is('0.001 KWD'::ar.amount * 0.4999999999999999999999999, '0.000 KWD'::ar.amount,
	'0.001 KWD * 0.4999999999999999999999999 = 0.000 KWD');
SELECT is('1000.00 SEK'::ar.amount * 0.25 / 1, '250.00 SEK'::ar.amount, 'chained * and / stay exact');

-- aggregates ----------------------------------------------------------------------------------
CREATE TEMP TABLE agg (i int, a ar.amount);
INSERT INTO agg VALUES (1, '1.50 SEK'), (2, NULL), (3, '2.25 SEK'), (4, '-0.75 SEK'), (5, NULL);
SELECT is((SELECT ar.sum(a) FROM agg), '3.00 SEK'::ar.amount, 'sum ignores NULLs');
SELECT is((SELECT ar.min(a) FROM agg), '-0.75 SEK'::ar.amount, 'min ignores NULLs');
SELECT is((SELECT ar.max(a) FROM agg), '2.25 SEK'::ar.amount, 'max ignores NULLs');
SELECT is((SELECT ar.sum(a)::text FROM agg WHERE a IS NULL), NULL, 'sum of only NULLs is NULL');
SELECT is((SELECT ar.sum(a)::text FROM agg WHERE false), NULL, 'sum of no rows is NULL');
SELECT is((SELECT ar.min(a)::text FROM agg WHERE false), NULL, 'min of no rows is NULL');
SELECT is((SELECT ar.sum(a) FROM agg WHERE i = 1), '1.50 SEK'::ar.amount, 'sum of one row is that row');
SELECT is((SELECT ar.sum(DISTINCT a) FROM (VALUES ('1 SEK'::ar.amount), ('1 SEK'), ('2 SEK')) v(a)), '3.00 SEK'::ar.amount,
	'sum(DISTINCT) adds each amount once');
SELECT is((SELECT ar.sum(a) FILTER (WHERE i > 2) FROM agg), '1.50 SEK'::ar.amount, 'sum with FILTER');
SELECT results_eq(
	$$SELECT i, (ar.sum(a) OVER (ORDER BY i))::text FROM agg ORDER BY i$$,
	$$VALUES (1, '1.50 SEK'), (2, '1.50 SEK'), (3, '3.75 SEK'), (4, '3.00 SEK'), (5, '3.00 SEK')$$,
	'running sum as a window aggregate');
SELECT results_eq(
	$$SELECT i, (ar.sum(a) OVER (ORDER BY i ROWS BETWEEN 1 PRECEDING AND CURRENT ROW))::text FROM agg ORDER BY i$$,
	$$VALUES (1, '1.50 SEK'), (2, '1.50 SEK'), (3, '2.25 SEK'), (4, '1.50 SEK'), (5, '-0.75 SEK')$$,
	'moving-frame sum as a window aggregate');
SELECT results_eq(
	$$SELECT ar.currency_of(a), ar.sum(a)::text, ar.min(a)::text, ar.max(a)::text, count(*)::int
		FROM (VALUES ('1.10 SEK'::ar.amount), ('5 JPY'), ('2.20 SEK'), ('-7 JPY'), ('0.125 KWD')) v(a)
	   GROUP BY 1 ORDER BY 1$$,
	$$VALUES ('JPY', '-2 JPY', '-7 JPY', '5 JPY', 2), ('KWD', '0.125 KWD', '0.125 KWD', '0.125 KWD', 1),
			 ('SEK', '3.30 SEK', '1.10 SEK', '2.20 SEK', 2)$$,
	'sum, min and max per currency with GROUP BY currency_of');
SELECT is((SELECT ar.sum(a) FROM generate_series(1, 1000) g, LATERAL (SELECT ar.amount_of_minor(g, 'SEK')) v(a)),
	'5005.00 SEK'::ar.amount, 'sum of 0.01 .. 10.00 SEK = 5005.00 SEK');

-- ar.convert --------------------------------------------------------------------------------
INSERT INTO ar.fx_rate (from_currency, to_currency, valid_on, rate) VALUES
	('EUR', 'SEK', '2024-01-01', 11.5),
	('EUR', 'SEK', '2024-02-01', 11.25),
	('SEK', 'JPY', '2024-01-01', 14.123),
	('NOK', 'JPY', '2024-01-01', 2.5),
	('USD', 'KWD', '2024-01-01', 0.30725);
SELECT is(ar.convert('10.00 EUR', 'SEK', '2024-01-15'), '115.00 SEK'::ar.amount, 'convert uses the rate valid on the date');
SELECT is(ar.convert('10.00 EUR', 'SEK', '2024-01-01'), '115.00 SEK'::ar.amount, 'a rate is valid on its own date');
SELECT is(ar.convert('10.00 EUR', 'SEK', '2024-01-31'), '115.00 SEK'::ar.amount, 'the old rate holds until the next one');
SELECT is(ar.convert('10.00 EUR', 'SEK', '2024-02-01'), '112.50 SEK'::ar.amount, 'the new rate from its date on');
SELECT is(ar.convert('10.00 EUR', 'SEK', '2030-12-31'), '112.50 SEK'::ar.amount, 'the latest rate on or before the date');
SELECT is(ar.convert('10.00 EUR', 'sek', '2024-01-15'), '115.00 SEK'::ar.amount, 'the target code may be lower case');
SELECT is(ar.convert('1.00 SEK', 'JPY', '2024-06-01'), '14 JPY'::ar.amount, 'convert rounds to the target minor unit');
SELECT is(ar.convert('1 NOK', 'JPY', '2024-06-01'), '3 JPY'::ar.amount, '1 NOK at 2.5 = 3 JPY (half away from zero)');
SELECT is(ar.convert('-1 NOK', 'JPY', '2024-06-01'), '-3 JPY'::ar.amount, '-1 NOK at 2.5 = -3 JPY (half away from zero)');
SELECT is(ar.convert('100.00 USD', 'KWD', '2024-06-01'), '30.725 KWD'::ar.amount, 'convert into a three-decimal currency');
SELECT is(ar.convert('10.00 EUR', 'EUR', '1900-01-01'), '10.00 EUR'::ar.amount, 'same currency: identity, no rate needed');
SELECT throws_ok($$SELECT ar.convert('10.00 EUR', 'SEK', '2023-12-31')$$, '22023',
	'no exchange rate from EUR to SEK on or before 2023-12-31', 'no rate before the first one');
SELECT throws_ok($$SELECT ar.convert('10.00 SEK', 'EUR', '2024-06-01')$$, '22023',
	'no exchange rate from SEK to EUR on or before 2024-06-01', 'no rate in that direction');
SELECT throws_ok($$SELECT ar.convert('10.00 EUR', 'ABC', '2024-06-01')$$, '22023',
	'unknown currency code "ABC"', 'unknown target currency');
SELECT throws_ok($$SELECT ar.convert('10.00 EUR', 'XAU', '2024-06-01')$$, '22023',
	'currency "XAU" has no minor unit and cannot hold amounts', 'target currency without minor unit');
-- it works whatever the caller's search_path
CREATE FUNCTION pg_temp.convert_on_bare_path(d date) RETURNS text LANGUAGE sql
	SET search_path = pg_catalog AS $$ SELECT ar.convert('10.00 EUR'::ar.amount, 'SEK', d)::text $$;
SELECT is(pg_temp.convert_on_bare_path('2024-03-01'), '112.50 SEK', 'convert works with search_path = pg_catalog');
SELECT throws_ok($$SELECT pg_temp.convert_on_bare_path('2020-01-01')$$, '22023',
	'no exchange rate from EUR to SEK on or before 2020-01-01', 'convert reports a missing rate with search_path = pg_catalog');

SELECT * FROM finish();
ROLLBACK;
