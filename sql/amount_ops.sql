--
-- ar.amount: operators, operator classes, aggregates, overflow, conversion
--
SET search_path = public, ar;
\set SHOW_CONTEXT never

-- arithmetic
SELECT '10.00 SEK'::ar.amount + '0.05 SEK' AS plus, '10 SEK'::ar.amount - '10.05 SEK' AS minus,
       -'3.10 SEK'::ar.amount AS neg, -'-3.10 SEK'::ar.amount AS negneg;
-- multiplication and division by numeric round half away from zero
SELECT '10 SEK'::ar.amount * 0.125 AS a, 0.125 * '10 SEK'::ar.amount AS b,
       '0.05 SEK'::ar.amount * 0.5 AS c, '-0.05 SEK'::ar.amount * 0.5 AS d,
       '0.05 SEK'::ar.amount * -0.5 AS e, '100 JPY'::ar.amount * 1.005 AS f,
       '3 SEK'::ar.amount * 0 AS g;
SELECT '10 SEK'::ar.amount / 3 AS a, '-10 SEK'::ar.amount / 3 AS b,
       '0.05 SEK'::ar.amount / 2 AS c, '-0.05 SEK'::ar.amount / 2 AS d,
       '0.05 SEK'::ar.amount / -2 AS e, '-0.05 SEK'::ar.amount / -2 AS f,
       '1 JPY'::ar.amount / 3 AS g, '2 JPY'::ar.amount / 3 AS h,
       '1 SEK'::ar.amount / 0.3 AS i, '0.01 SEK'::ar.amount / 0.02 AS j;
-- exactly .5 after many digits is not decided by a rounded quotient
SELECT '0.01 SEK'::ar.amount / 1.999999999999999999999999 AS above_half,
       '0.01 SEK'::ar.amount / 2.000000000000000000000001 AS below_half,
       '-0.01 SEK'::ar.amount / 2.000000000000000000000001 AS neg_below_half,
       '1.00 SEK'::ar.amount / 0.8 AS a, '1 JPY'::ar.amount / 0.000000000000000001 AS b;

-- comparison
SELECT '1 SEK'::ar.amount = '1.00 SEK' AS eq, '1 SEK'::ar.amount <> '2 SEK' AS ne,
       '-1 SEK'::ar.amount < '0 SEK' AS lt, '1 SEK'::ar.amount <= '1 SEK' AS le,
       '2 SEK'::ar.amount > '1.99 SEK' AS gt, '1 SEK'::ar.amount >= '1.01 SEK' AS ge;

-- any operator on two currencies is an error naming both
SELECT '1 SEK'::ar.amount + '1 EUR';
SELECT '1 SEK'::ar.amount - '1 NOK';
SELECT '1 SEK'::ar.amount = '1 EUR';
SELECT '1 SEK'::ar.amount < '1 DKK';
SELECT ar.amount_cmp('1 USD', '1 SEK');

-- overflow at the int64 limits is an error, never a wrap
SELECT '9223372036854775807 JPY'::ar.amount + '1 JPY';
SELECT '-9223372036854775808 JPY'::ar.amount - '1 JPY';
SELECT -'-9223372036854775808 JPY'::ar.amount;
SELECT '9223372036854775807 JPY'::ar.amount * 2;
SELECT '92233720368547758.07 SEK'::ar.amount * -1.0000001;
SELECT '-9223372036854775808 JPY'::ar.amount / -1;
SELECT '-9223372036854775807 JPY'::ar.amount / -1 AS ok;
SELECT '1 SEK'::ar.amount / 0;
SELECT '1 SEK'::ar.amount / 0.000;
SELECT '1 SEK'::ar.amount * 'NaN'::numeric;
SELECT '1 SEK'::ar.amount / 'Infinity'::numeric;

-- aggregates: NULLs ignored, empty input gives NULL
CREATE TEMP TABLE t (id int, a ar.amount);
INSERT INTO t VALUES (1, '1.10 SEK'), (2, NULL), (3, '-0.10 SEK'), (4, '100 SEK');
SELECT sum(a), min(a), max(a), count(a) FROM t;
SELECT sum(a), min(a), max(a) FROM t WHERE false;
SELECT sum(a) FROM t WHERE a IS NULL;
-- mixed currencies in aggregates
INSERT INTO t VALUES (5, '1 EUR');
SELECT sum(a) FROM t;
SELECT min(a) FROM t;
SELECT max(a) FROM t;
-- sum overflow
SELECT sum(a) FROM (VALUES ('9223372036854775807 JPY'::ar.amount), ('1 JPY')) v(a);
SELECT sum(a) FROM (VALUES ('-9223372036854775808 JPY'::ar.amount), ('-1 JPY')) v(a);
-- a sum that ends inside the range; a running total outside it is an error
SELECT sum(a) FROM (VALUES ('9223372036854775807 JPY'::ar.amount), ('-7 JPY')) v(a);

-- btree and hash operator classes: indexes, ORDER BY, DISTINCT, GROUP BY,
-- hash and merge joins
DELETE FROM t WHERE id = 5;
CREATE INDEX t_a_btree ON t (a);
SELECT a FROM t ORDER BY a DESC NULLS LAST;
SELECT DISTINCT a FROM (VALUES ('1 SEK'::ar.amount), ('1.00 SEK'), ('2 SEK')) v(a) ORDER BY a;
SELECT a, count(*) FROM (VALUES ('1 SEK'::ar.amount), ('1.00 SEK'), ('2 SEK')) v(a)
 GROUP BY a ORDER BY a;
SET enable_seqscan = off;
SET enable_bitmapscan = off;
EXPLAIN (COSTS OFF) SELECT * FROM t WHERE a = '100 SEK';
SELECT id FROM t WHERE a = '100 SEK';
SELECT id FROM t WHERE a BETWEEN '0 SEK' AND '2 SEK' ORDER BY a;
DROP INDEX t_a_btree;
CREATE INDEX t_a_hash ON t USING hash (a);
EXPLAIN (COSTS OFF) SELECT * FROM t WHERE a = '100 SEK';
SELECT id FROM t WHERE a = '100 SEK';
RESET enable_seqscan;
RESET enable_bitmapscan;
CREATE TEMP TABLE u (a ar.amount);
INSERT INTO u VALUES ('100 SEK'), ('-0.10 SEK'), ('5 SEK');
SET enable_mergejoin = off;
SET enable_nestloop = off;
EXPLAIN (COSTS OFF) SELECT t.id FROM t JOIN u USING (a);
SELECT t.id FROM t JOIN u USING (a) ORDER BY t.id;
SET enable_hashjoin = off;
SET enable_mergejoin = on;
EXPLAIN (COSTS OFF) SELECT t.id FROM t JOIN u USING (a);
SELECT t.id FROM t JOIN u USING (a) ORDER BY t.id;
RESET enable_hashjoin;
RESET enable_mergejoin;
RESET enable_nestloop;

-- sum runs in parallel plans through its combine function
CREATE TABLE par (a ar.amount);
INSERT INTO par SELECT ar.amount_of_minor(g, 'SEK') FROM generate_series(1, 200000) g;
ANALYZE par;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF) SELECT sum(a), min(a), max(a) FROM par;
SELECT sum(a), min(a), max(a) FROM par;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;
DROP TABLE par;

-- conversion at the latest rate on or before the date
INSERT INTO ar.fx_rate (from_currency, to_currency, valid_on, rate) VALUES
	('EUR', 'SEK', '2026-01-01', 11.2),
	('EUR', 'SEK', '2026-02-01', 11.4567),
	('SEK', 'JPY', '2026-01-01', 14.055);
SELECT ar.convert('100 EUR', 'SEK', '2026-01-15') AS jan,
       ar.convert('100 EUR', 'SEK', '2026-02-01') AS feb,
       ar.convert('0.05 EUR', 'SEK', '2026-03-01') AS tiny,
       ar.convert('1.00 SEK', 'JPY', '2026-06-01') AS jpy,
       ar.convert('1.50 SEK', 'sek', '1900-01-01') AS same;
SELECT ar.convert('100 EUR', 'SEK', '2025-12-31');
SELECT ar.convert('100 SEK', 'EUR', '2026-06-01');
SELECT ar.convert('100 SEK', 'XYZ', '2026-06-01');
INSERT INTO ar.fx_rate VALUES ('EUR', 'XYZ', '2026-01-01', 1);
INSERT INTO ar.fx_rate VALUES ('EUR', 'NOK', '2026-01-01', 0);
INSERT INTO ar.fx_rate VALUES ('EUR', 'EUR', '2026-01-01', 1);
