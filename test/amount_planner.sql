-- test/amount_planner.sql: what the btree and hash operator classes of
-- ar.amount let the planner do (CONTRACT.md §1: indexes, GROUP BY, DISTINCT,
-- hash joins, merge joins), the parallel plan of sum(), and the support
-- function contracts the planner and ANALYZE rely on.
SET search_path = public, ar;
BEGIN;
SELECT plan(34);

-- EXPLAIN (COSTS OFF) of a query as one text
CREATE FUNCTION pg_temp.plan_of(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	line text;
	result text := '';
BEGIN
	FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || q LOOP
		result := result || line || E'\n';
	END LOOP;
	RETURN result;
END
$$;
-- EXPLAIN (ANALYZE) of a statement, which is executed
CREATE FUNCTION pg_temp.run_plan_of(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	line text;
	result text := '';
BEGIN
	FOR line IN EXECUTE 'EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) ' || q LOOP
		result := result || line || E'\n';
	END LOOP;
	RETURN result;
END
$$;

-- the integer result of a query, or NULL when it raises an error
CREATE FUNCTION pg_temp.int_or_null(q text) RETURNS int LANGUAGE plpgsql AS $$
DECLARE
	result int;
BEGIN
	EXECUTE q INTO result;
	RETURN result;
EXCEPTION WHEN OTHERS THEN
	RETURN NULL;
END
$$;

-- a1: amounts 0.00 .. 9.99 SEK, each 5 times; a2: 0.00 .. 6.99 SEK, 4 or 5 times (3000 rows)
CREATE TEMP TABLE a1 (id int, amt ar.amount);
CREATE TEMP TABLE a2 (id int, amt ar.amount);
INSERT INTO a1 SELECT g, ar.amount_of_minor(g % 1000, 'SEK') FROM generate_series(1, 5000) g;
INSERT INTO a2 SELECT g, ar.amount_of_minor(g % 700, 'SEK') FROM generate_series(1, 3000) g;
INSERT INTO a1 VALUES (0, '-5.00 SEK'), (-1, '-0.01 SEK');
CREATE INDEX a1_amt_btree ON a1 (amt);
CREATE INDEX a2_amt_hash ON a2 USING hash (amt);
ANALYZE a1;
ANALYZE a2;

-- hash join
SET LOCAL enable_mergejoin = off;
SET LOCAL enable_nestloop = off;
SELECT matches(pg_temp.plan_of('SELECT * FROM a1 JOIN a2 ON a1.amt = a2.amt'),
	'Hash Join\s+Hash Cond: \(a1\.amt = a2\.amt\)',
	'a hash join on ar.amount can be planned');
SELECT is((SELECT count(*)::int FROM a1 JOIN a2 ON a1.amt = a2.amt), 15000, 'the hash join finds all 15000 pairs');
-- merge join
SET LOCAL enable_mergejoin = on;
SET LOCAL enable_hashjoin = off;
SELECT matches(pg_temp.plan_of('SELECT * FROM a1 JOIN a2 ON a1.amt = a2.amt'),
	'Merge Join\s+Merge Cond: \(a1\.amt = a2\.amt\)',
	'a merge join on ar.amount can be planned');
SELECT is((SELECT count(*)::int FROM a1 JOIN a2 ON a1.amt = a2.amt), 15000, 'the merge join finds all 15000 pairs');
SELECT is((SELECT ar.sum(a1.amt) FROM a1 JOIN a2 ON a1.amt = a2.amt), '49935.00 SEK'::ar.amount,
	'the merge join pairs equal amounts');
SET LOCAL enable_hashjoin = on;
SET LOCAL enable_nestloop = on;

-- btree index scans
SET LOCAL enable_seqscan = off;
SET LOCAL enable_bitmapscan = off;
SELECT matches(pg_temp.plan_of($$SELECT * FROM a1 WHERE amt = '5.00 SEK'$$),
	'Index Scan using a1_amt_btree on a1\s+Index Cond: \(amt = ''5\.00 SEK''::(ar\.)?amount\)',
	'a btree index scan for = on ar.amount');
SELECT is((SELECT count(*)::int FROM a1 WHERE amt = '5.00 SEK'), 5, 'the btree index finds the 5 rows of 5.00 SEK');
SELECT matches(pg_temp.plan_of($$SELECT amt FROM a1 WHERE amt < '0.02 SEK' ORDER BY amt$$),
	'^Index (Only )?Scan using a1_amt_btree on a1\s+Index Cond: \(amt < ''0\.02 SEK''::(ar\.)?amount\)\s*$',
	'a btree range scan returns amounts in order, without a Sort');
SELECT results_eq($$SELECT amt::text FROM a1 WHERE amt < '0.02 SEK' ORDER BY a1.amt$$,
	$$VALUES ('-5.00 SEK'), ('-0.01 SEK'), ('0.00 SEK'), ('0.00 SEK'), ('0.00 SEK'), ('0.00 SEK'), ('0.00 SEK'),
			 ('0.01 SEK'), ('0.01 SEK'), ('0.01 SEK'), ('0.01 SEK'), ('0.01 SEK')$$,
	'the btree range scan returns the right rows, negatives first');
SELECT matches(pg_temp.plan_of('SELECT max(amt) FROM a1'),
	'Index Only Scan Backward using a1_amt_btree on a1',
	'max(ar.amount) is answered from the btree index');
SELECT is((SELECT ar.max(amt) FROM a1), '9.99 SEK'::ar.amount, 'max from the index');
SELECT is((SELECT ar.min(amt) FROM a1), '-5.00 SEK'::ar.amount, 'min from the index');
-- hash index scan
SELECT matches(pg_temp.plan_of($$SELECT * FROM a2 WHERE amt = '5.00 SEK'$$),
	'Index Scan using a2_amt_hash on a2\s+Index Cond: \(amt = ''5\.00 SEK''::(ar\.)?amount\)',
	'a hash index scan for = on ar.amount');
SELECT is((SELECT count(*)::int FROM a2 WHERE amt = '5.00 SEK'), 4, 'the hash index finds the 4 rows of 5.00 SEK');
SET LOCAL enable_seqscan = on;
SET LOCAL enable_bitmapscan = on;

-- GROUP BY and DISTINCT, hashed and sorted
SET LOCAL enable_sort = off;
SELECT matches(pg_temp.plan_of('SELECT amt, count(*) FROM a2 GROUP BY amt'), 'HashAggregate\s+Group Key: amt',
	'GROUP BY ar.amount can hash');
SELECT results_eq('SELECT count(*)::int, sum(n)::int, max(n)::int FROM (SELECT amt, count(*) AS n FROM a2 GROUP BY amt) s',
	$$VALUES (700, 3000, 5)$$, 'hashed GROUP BY makes 700 groups of 4 or 5');
SELECT matches(pg_temp.plan_of('SELECT DISTINCT amt FROM a2'), 'HashAggregate\s+Group Key: amt',
	'DISTINCT ar.amount can hash');
SELECT is((SELECT count(*)::int FROM (SELECT DISTINCT amt FROM a2) s), 700, 'hashed DISTINCT finds 700 amounts');
SET LOCAL enable_sort = on;
SET LOCAL enable_hashagg = off;
SELECT matches(pg_temp.plan_of('SELECT amt, count(*) FROM a2 GROUP BY amt'), 'GroupAggregate\s+Group Key: amt\s+->  Sort',
	'GROUP BY ar.amount can sort');
SELECT results_eq('SELECT count(*)::int, sum(n)::int, max(n)::int FROM (SELECT amt, count(*) AS n FROM a2 GROUP BY amt) s',
	$$VALUES (700, 3000, 5)$$, 'sorted GROUP BY makes 700 groups of 4 or 5');
SELECT matches(pg_temp.plan_of('SELECT DISTINCT amt FROM a2'), 'Unique\s+->  Sort',
	'DISTINCT ar.amount can sort');
SELECT is((SELECT count(*)::int FROM (SELECT DISTINCT amt FROM a2) s), 700, 'sorted DISTINCT finds 700 amounts');
SET LOCAL enable_hashagg = on;

-- hash support functions: equal amounts hash alike; the extended hash with
-- seed 0 agrees with the standard hash in its low 32 bits (access/hash.h)
SELECT is(ar.amount_hash('1 SEK'), ar.amount_hash('1.00 SEK'), 'equal amounts have equal hashes');
SELECT isnt(ar.amount_hash('1 SEK'), ar.amount_hash('100 JPY'), 'the hash depends on the currency');
SELECT is((SELECT count(*)::int FROM a1
			WHERE ar.amount_hash(amt) <> (ar.amount_hash_extended(amt, 0) << 32 >> 32)::int), 0,
	'amount_hash_extended(x, 0) has the low 32 bits of amount_hash(x)');
SELECT isnt(ar.amount_hash_extended('1 SEK', 0), ar.amount_hash_extended('1 SEK', 1),
	'the extended hash depends on its seed');

-- amounts in several currencies in one column (payments, invoices)
CREATE TEMP TABLE multi (id int, amt ar.amount);
INSERT INTO multi SELECT g, ar.amount_of_minor(g, (ARRAY['SEK', 'EUR', 'NOK', 'JPY'])[1 + g % 4])
	FROM generate_series(1, 400) g;
SELECT lives_ok('ANALYZE multi', 'ANALYZE of a column holding several currencies succeeds (autovacuum runs it)');
-- a security barrier: the user's qual must not be evaluated on hidden rows
-- if it can raise an error that reveals them (ar.= names both currencies)
CREATE TEMP VIEW sek_only WITH (security_barrier) AS
	SELECT * FROM multi WHERE ar.currency_of(amt) = 'SEK';
SELECT lives_ok($$SELECT * FROM sek_only WHERE amt = '0.04 SEK'$$,
	'a qual on a security-barrier view does not see the hidden rows of other currencies');
SELECT is(pg_temp.int_or_null($$SELECT count(*)::int FROM sek_only WHERE amt = '0.04 SEK'$$), 1,
	'the security-barrier view finds its one row');

-- parallel sum: partial aggregates in workers, combined in the leader
CREATE TABLE public.ar_tap_parallel_sum (id int, amt ar.amount);
INSERT INTO public.ar_tap_parallel_sum
	SELECT g, ar.amount_of_minor(g * 7 - 100000, 'SEK') FROM generate_series(1, 200000) g;
ANALYZE public.ar_tap_parallel_sum;
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
SET LOCAL max_parallel_workers_per_gather = 2;
SET LOCAL parallel_leader_participation = off;
SELECT matches(pg_temp.plan_of('SELECT ar.sum(amt), ar.min(amt), ar.max(amt) FROM public.ar_tap_parallel_sum'),
	'Finalize Aggregate\s+->  Gather\s+Workers Planned: 2\s+->  Partial Aggregate\s+->  Parallel Seq Scan on ar_tap_parallel_sum',
	'sum, min and max of ar.amount get a parallel plan with Partial Aggregate');
SELECT matches(pg_temp.run_plan_of('CREATE TEMP TABLE par_result AS
		SELECT ar.sum(amt) AS s, ar.min(amt) AS lo, ar.max(amt) AS hi FROM public.ar_tap_parallel_sum'),
	'Workers Launched: [12]\s+->  Partial Aggregate',
	'the parallel aggregate ran in workers');
SET LOCAL max_parallel_workers_per_gather = 0;
SELECT doesnt_match(pg_temp.plan_of('SELECT ar.sum(amt) FROM public.ar_tap_parallel_sum'), 'Partial Aggregate',
	'without workers the plan is serial');
SELECT results_eq('SELECT s::text, lo::text, hi::text FROM par_result',
	$$SELECT ar.sum(amt)::text, ar.min(amt)::text, ar.max(amt)::text FROM public.ar_tap_parallel_sum$$,
	'the parallel result equals the serial one');
SELECT results_eq('SELECT s::text, lo::text, hi::text FROM par_result',
	$$VALUES ('1200007000.00 SEK', '-999.93 SEK', '13000.00 SEK')$$,
	'the parallel sum, min and max are exact');

SELECT * FROM finish();
ROLLBACK;
