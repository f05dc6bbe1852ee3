-- bench/lib.sql: timing helpers installed into every benchmark database
-- (schema bench) by bench_db in bench/lib.sh.
--
-- Times are server times: clock_timestamp() read in PL/pgSQL right before
-- and right after each EXECUTE, so client round trips and result transfer
-- are not counted.  Parse and plan of the (one-shot) statement are, but they
-- take microseconds against queries of hundreds of milliseconds.  EXECUTE
-- runs through SPI, which plans with CURSOR_OPT_PARALLEL_OK, so a parallel
-- plan is used where the planner picks one (bench.check_parallel proves it).

CREATE SCHEMA bench;

-- bench.race(queries, reps, warmup): runs each query `warmup` times untimed,
-- then `reps` timed rounds, round-robin over the queries (so that drift in
-- the machine's speed hits every query alike).  One row a query, in input
-- order: best and median milliseconds, and the query's first column as text
-- (its one-row result is read INTO a text variable: the output function
-- call this adds to the timed span costs microseconds).
-- Raises an error if a query returns different results in different rounds.
CREATE FUNCTION bench.race(queries text[], reps int DEFAULT 5, warmup int DEFAULT 1)
RETURNS TABLE (ord int, query text, best_ms float8, median_ms float8, result text)
LANGUAGE plpgsql AS $$
DECLARE
	nq int := cardinality(queries);
	times float8[] := array_fill(0::float8, ARRAY[nq, reps]);
	results text[] := array_fill(NULL::text, ARRAY[nq]);
	t0 timestamptz;
	t1 timestamptz;
	v text;
	row_ms float8[];
BEGIN
	FOR i IN 1 .. nq LOOP
		FOR w IN 1 .. warmup LOOP
			EXECUTE queries[i] INTO v;
		END LOOP;
	END LOOP;
	FOR r IN 1 .. reps LOOP
		FOR i IN 1 .. nq LOOP
			t0 := clock_timestamp();
			EXECUTE queries[i] INTO v;
			t1 := clock_timestamp();
			times[i][r] := extract(epoch FROM t1 - t0) * 1000;
			IF r = 1 THEN
				results[i] := v;
			ELSIF v IS DISTINCT FROM results[i] THEN
				RAISE EXCEPTION 'bench: % returned % and then %', queries[i], results[i], v;
			END IF;
		END LOOP;
	END LOOP;
	FOR i IN 1 .. nq LOOP
		row_ms := ARRAY(SELECT times[i][r] FROM generate_series(1, reps) r ORDER BY 1);
		ord := i;
		query := queries[i];
		best_ms := row_ms[1];
		median_ms := CASE WHEN reps % 2 = 1 THEN row_ms[(reps + 1) / 2]
					 ELSE (row_ms[reps / 2] + row_ms[reps / 2 + 1]) / 2 END;
		result := results[i];
		RETURN NEXT;
	END LOOP;
END
$$;

-- bench.plan(query): the EXPLAIN text of a query, one string.
CREATE FUNCTION bench.plan(query text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	line text;
	plan text := '';
BEGIN
	FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || query LOOP
		plan := plan || line || E'\n';
	END LOOP;
	RETURN plan;
END
$$;
