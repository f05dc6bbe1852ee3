--
-- ar.amount: text and binary I/O, constructors, accessors, rejection list
--
SET search_path = public, ar;
\set SHOW_CONTEXT never

-- canonical output with exactly the currency's minor-unit digits
SELECT '1234.5 SEK'::ar.amount AS sek, '-5 JPY'::ar.amount AS jpy,
       '0.125 KWD'::ar.amount AS kwd, '1.0001 CLF'::ar.amount AS clf,
       '0 ISK'::ar.amount AS isk, '-0.01 EUR'::ar.amount AS eur;
-- code first, blanks around, lower-case code, plus sign, leading point
SELECT 'SEK 1234.5'::ar.amount, '  12 NOK  '::ar.amount, '7.1 dkk'::ar.amount,
       '+3 EUR'::ar.amount, '.5 EUR'::ar.amount, 'EUR -0.5'::ar.amount, '-0 SEK'::ar.amount;
-- the int64 limits
SELECT '9223372036854775807 JPY'::ar.amount AS max_jpy,
       '-9223372036854775808 JPY'::ar.amount AS min_jpy,
       '92233720368547758.07 SEK'::ar.amount AS max_sek,
       '-922337203685477.5808 CLF'::ar.amount AS min_clf;

-- the rejection list: each is an error naming the value
SELECT '1 XYZ'::ar.amount;
SELECT 'XYZ 1'::ar.amount;
SELECT '1 XAU'::ar.amount;
SELECT '1.001 SEK'::ar.amount;
SELECT '1.5 JPY'::ar.amount;
SELECT '1.0 JPY'::ar.amount;
SELECT '0.1234 KWD'::ar.amount;
SELECT ''::ar.amount;
SELECT '   '::ar.amount;
SELECT 'SEK'::ar.amount;
SELECT '12'::ar.amount;
SELECT 'NaN SEK'::ar.amount;
SELECT 'SEK NaN'::ar.amount;
SELECT 'Infinity SEK'::ar.amount;
SELECT '-Infinity EUR'::ar.amount;
SELECT 'inf EUR'::ar.amount;
SELECT '1,234.50 SEK'::ar.amount;
SELECT '1 234.50 SEK'::ar.amount;
SELECT '1_234 SEK'::ar.amount;
SELECT '1''234 SEK'::ar.amount;
SELECT '12,50 SEK'::ar.amount;
SELECT '1e3 SEK'::ar.amount;
SELECT '9223372036854775808 JPY'::ar.amount;
SELECT '-9223372036854775809 JPY'::ar.amount;
SELECT '92233720368547758.08 SEK'::ar.amount;
SELECT '1 SEK extra'::ar.amount;
SELECT '1 SEKK'::ar.amount;
SELECT 'SE 1'::ar.amount;
SELECT '- SEK'::ar.amount;
SELECT '1. SEK'::ar.amount;

-- binary I/O: int8 minor units, then the three letters of the code
SELECT ar.amount_send('12.34 SEK') AS send_sek, ar.amount_send('-5 JPY') AS send_jpy;
CREATE TEMP TABLE bin_src (a ar.amount);
INSERT INTO bin_src VALUES ('12.34 SEK'), ('-5 JPY'), ('0.125 KWD'), ('-9223372036854775808 JPY');
COPY bin_src TO '/tmp/ar_regress_amount.bin' WITH (FORMAT binary);
CREATE TEMP TABLE bin_dst (a ar.amount);
COPY bin_dst FROM '/tmp/ar_regress_amount.bin' WITH (FORMAT binary);
SELECT a::text FROM bin_dst ORDER BY ar.currency_of(a), ar.minor_units(a);

-- constructors
SELECT ar.amount(12.5, 'SEK'), ar.amount(12.50, 'sek'), ar.amount(100.00, 'JPY'),
       ar.amount(-0.125, 'KWD'), ar.amount(0, 'EUR');
SELECT ar.amount(12.505, 'SEK');
SELECT ar.amount(1.5, 'JPY');
SELECT ar.amount(1, 'XYZ');
SELECT ar.amount(1, 'XAU');
SELECT ar.amount(1, '');
SELECT ar.amount('NaN', 'SEK');
SELECT ar.amount(92233720368547758.08, 'SEK');
-- rounding is half away from zero
SELECT ar.round_amount(12.505, 'SEK') AS up, ar.round_amount(-12.505, 'SEK') AS down,
       ar.round_amount(12.504999, 'SEK') AS stays, ar.round_amount(2.5, 'JPY') AS jpy,
       ar.round_amount(-2.5, 'JPY') AS neg_jpy, ar.round_amount(0.0005, 'KWD') AS kwd;
SELECT ar.round_amount('Infinity', 'SEK');
SELECT ar.amount_of_minor(123450, 'SEK'), ar.amount_of_minor(-7, 'JPY'),
       ar.amount_of_minor(1, 'KWD');

-- accessors
SELECT ar.currency_of('12.34 SEK'), ar.value_of('12.3 SEK'), ar.value_of('-5 JPY'),
       ar.value_of('0.1 KWD'), ar.minor_units('12.34 SEK'), ar.minor_units('-5 JPY');
SELECT ar.value_of('-9223372036854775808 JPY'), ar.minor_units('-92233720368547758.08 SEK');
