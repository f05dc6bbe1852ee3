-- test/amount_schema.sql: the catalog objects of ar 1.0 that CONTRACT.md §1-2
-- names: schema, types, functions, operators, operator classes, aggregates,
-- the currency and exchange-rate tables, the status enum, and the
-- registration of the extension's tables for pg_dump.
SET search_path = public, ar;
BEGIN;
SELECT plan(60);

-- schema and types ----------------------------------------------------------
SELECT has_schema('ar', 'schema ar exists');
SELECT has_type('ar', 'amount', 'type ar.amount exists');
SELECT is((SELECT typlen::int FROM pg_type WHERE oid = 'ar.amount'::regtype), 16,
	'ar.amount is fixed length (16 bytes)');
SELECT is((SELECT ARRAY[typinput::oid, typoutput::oid, typreceive::oid, typsend::oid]
			 FROM pg_type WHERE oid = 'ar.amount'::regtype),
		  ARRAY['ar.amount_in'::regproc::oid, 'ar.amount_out'::regproc::oid,
				'ar.amount_recv'::regproc::oid, 'ar.amount_send'::regproc::oid],
	'ar.amount has text and binary I/O functions (in, out, recv, send)');
SELECT has_enum('ar', 'invoice_status', 'enum ar.invoice_status exists');
SELECT enum_has_labels('ar', 'invoice_status',
	ARRAY['draft', 'issued', 'partially_paid', 'paid', 'credited', 'written_off', 'cancelled'],
	'ar.invoice_status has its seven labels in contract order');

-- functions named by the contract -------------------------------------------
SELECT has_function('ar', 'amount', ARRAY['numeric', 'text'], 'ar.amount(numeric, text) exists');
SELECT has_function('ar', 'round_amount', ARRAY['numeric', 'text'], 'ar.round_amount(numeric, text) exists');
SELECT has_function('ar', 'currency_of', ARRAY['ar.amount'], 'ar.currency_of(ar.amount) exists');
SELECT has_function('ar', 'value_of', ARRAY['ar.amount'], 'ar.value_of(ar.amount) exists');
SELECT has_function('ar', 'minor_units', ARRAY['ar.amount'], 'ar.minor_units(ar.amount) exists');
SELECT has_function('ar', 'convert', ARRAY['ar.amount', 'text', 'date'], 'ar.convert(ar.amount, text, date) exists');
SELECT has_function('ar', 'status_transition_allowed', ARRAY['ar.invoice_status', 'ar.invoice_status'],
	'ar.status_transition_allowed(invoice_status, invoice_status) exists');
SELECT has_function('ar', 'check_status_transition', ARRAY['ar.invoice_status', 'ar.invoice_status'],
	'ar.check_status_transition(invoice_status, invoice_status) exists');
SELECT has_function('ar', 'status_guard', '{}'::name[], 'ar.status_guard() exists');
SELECT has_function('ar', 'payment_reference', ARRAY['text', 'text'], 'ar.payment_reference(text, text) exists');
SELECT has_function('ar', 'reference_valid', ARRAY['text', 'text'], 'ar.reference_valid(text, text) exists');
SELECT has_function('ar', 'iban_valid', ARRAY['text'], 'ar.iban_valid(text) exists');

-- result type, volatility, parallel safety and strictness of each
SELECT set_has(
	$$SELECT p.oid::regprocedure::text, pg_get_function_result(p.oid), p.provolatile::text,
			 p.proparallel::text, p.proisstrict
		FROM pg_proc p WHERE p.pronamespace = 'ar'::regnamespace$$,
	$$VALUES
		('amount_in(cstring)', 'amount', 'i', 's', true),
		('amount_out(amount)', 'cstring', 'i', 's', true),
		('amount_recv(internal)', 'amount', 'i', 's', true),
		('amount_send(amount)', 'bytea', 'i', 's', true),
		('amount(numeric,text)', 'amount', 'i', 's', true),
		('round_amount(numeric,text)', 'amount', 'i', 's', true),
		('currency_of(amount)', 'text', 'i', 's', true),
		('value_of(amount)', 'numeric', 'i', 's', true),
		('minor_units(amount)', 'bigint', 'i', 's', true),
		('convert(amount,text,date)', 'amount', 's', 's', true),
		('amount_cmp(amount,amount)', 'integer', 'i', 's', true),
		('amount_hash(amount)', 'integer', 'i', 's', true),
		('amount_hash_extended(amount,bigint)', 'bigint', 'i', 's', true),
		('status_transition_allowed(invoice_status,invoice_status)', 'boolean', 's', 's', true),
		('check_status_transition(invoice_status,invoice_status)', 'void', 's', 's', true),
		('status_guard()', 'trigger', 'v', 'u', false),
		('payment_reference(text,text)', 'text', 'i', 's', true),
		('reference_valid(text,text)', 'boolean', 'i', 's', true),
		('iban_valid(text)', 'boolean', 'i', 's', true)$$,
	'ar functions have the contract signatures, result types, volatility, parallel safety and strictness');

-- operators -------------------------------------------------------------------
SELECT set_has(
	$$SELECT o.oprname::text COLLATE "default", o.oprleft::regtype::text, o.oprright::regtype::text,
			 o.oprresult::regtype::text
		FROM pg_operator o WHERE o.oprnamespace = 'ar'::regnamespace$$,
	$$VALUES
		('=', 'amount', 'amount', 'boolean'),
		('<>', 'amount', 'amount', 'boolean'),
		('<', 'amount', 'amount', 'boolean'),
		('<=', 'amount', 'amount', 'boolean'),
		('>', 'amount', 'amount', 'boolean'),
		('>=', 'amount', 'amount', 'boolean'),
		('+', 'amount', 'amount', 'amount'),
		('-', 'amount', 'amount', 'amount'),
		('-', '-', 'amount', 'amount'),
		('*', 'amount', 'numeric', 'amount'),
		('*', 'numeric', 'amount', 'amount'),
		('/', 'amount', 'numeric', 'amount')$$,
	'ar.amount has = <> < <= > >=, + and - of two amounts, unary -, * and / by numeric');
SELECT results_eq(
	$$SELECT oprcanhash, oprcanmerge,
			 oprcom = 'ar.=(ar.amount,ar.amount)'::regoperator,
			 oprnegate = 'ar.<>(ar.amount,ar.amount)'::regoperator
		FROM pg_operator WHERE oid = 'ar.=(ar.amount,ar.amount)'::regoperator$$,
	$$VALUES (true, true, true, true)$$,
	'ar.= is hashable, mergeable, its own commutator, and negated by ar.<>');
-- amount_eq raises an error that names both currencies for mixed input, so
-- it reveals its arguments by more than its result: it must not be LEAKPROOF
-- (a leakproof qual is evaluated below security barriers and RLS policies).
SELECT is((SELECT proleakproof FROM pg_proc WHERE oid = 'ar.amount_eq(ar.amount,ar.amount)'::regprocedure),
	false, 'ar.amount_eq is not LEAKPROOF, since it raises errors naming its arguments');

-- operator classes --------------------------------------------------------------
SELECT results_eq(
	$$SELECT a.amname::text COLLATE "default", n.nspname::text COLLATE "default", c.opcname::text COLLATE "default", c.opcdefault
		FROM pg_opclass c
		JOIN pg_am a ON a.oid = c.opcmethod
		JOIN pg_namespace n ON n.oid = c.opcnamespace
	   WHERE c.opcintype = 'ar.amount'::regtype AND c.opcdefault
	   ORDER BY 1$$,
	$$VALUES ('btree', 'ar', 'amount_ops', true), ('hash', 'ar', 'amount_hash_ops', true)$$,
	'ar.amount has default btree (ar.amount_ops) and hash (ar.amount_hash_ops) operator classes');
SELECT results_eq(
	$$SELECT o.amopstrategy::int, o.amopopr::regoperator::text
		FROM pg_amop o
		JOIN pg_opclass c ON c.opcfamily = o.amopfamily
		JOIN pg_am a ON a.oid = c.opcmethod
	   WHERE c.opcintype = 'ar.amount'::regtype AND c.opcdefault AND a.amname = 'btree'
		 AND o.amoplefttype = 'ar.amount'::regtype AND o.amoprighttype = 'ar.amount'::regtype
	   ORDER BY 1$$,
	$$VALUES (1, 'ar.<(ar.amount,ar.amount)'::regoperator::text),
			 (2, 'ar.<=(ar.amount,ar.amount)'::regoperator::text),
			 (3, 'ar.=(ar.amount,ar.amount)'::regoperator::text),
			 (4, 'ar.>=(ar.amount,ar.amount)'::regoperator::text),
			 (5, 'ar.>(ar.amount,ar.amount)'::regoperator::text)$$,
	'btree strategies 1-5 of ar.amount are < <= = >= >');
SELECT set_has(
	$$SELECT a.amname::text COLLATE "default", p.amprocnum::int, p.amproc::regprocedure::text
		FROM pg_amproc p
		JOIN pg_opclass c ON c.opcfamily = p.amprocfamily
		JOIN pg_am a ON a.oid = c.opcmethod
	   WHERE c.opcintype = 'ar.amount'::regtype AND c.opcdefault$$,
	$$VALUES ('btree', 1, 'ar.amount_cmp(ar.amount,ar.amount)'::regprocedure::text),
			 ('hash', 1, 'ar.amount_hash(ar.amount)'::regprocedure::text),
			 ('hash', 2, 'ar.amount_hash_extended(ar.amount,bigint)'::regprocedure::text)$$,
	'support functions: btree 1 amount_cmp, hash 1 amount_hash, hash 2 amount_hash_extended');
SELECT results_eq(
	$$SELECT o.amopopr::regoperator::text
		FROM pg_amop o
		JOIN pg_opclass c ON c.opcfamily = o.amopfamily
		JOIN pg_am a ON a.oid = c.opcmethod
	   WHERE c.opcintype = 'ar.amount'::regtype AND c.opcdefault AND a.amname = 'hash'$$,
	$$VALUES ('ar.=(ar.amount,ar.amount)'::regoperator::text)$$,
	'the hash operator class of ar.amount has = as strategy 1');

-- aggregates (pgTAP compares argument types as displayed: 'amount' on this search_path)
-- --------------------------------------------------------------------
SELECT is_aggregate('ar', 'sum', ARRAY['amount'], 'ar.sum(ar.amount) is an aggregate');
SELECT is_aggregate('ar', 'min', ARRAY['amount'], 'ar.min(ar.amount) is an aggregate');
SELECT is_aggregate('ar', 'max', ARRAY['amount'], 'ar.max(ar.amount) is an aggregate');
SELECT results_eq(
	$$SELECT p.proname::text COLLATE "default", pg_get_function_result(p.oid), a.aggcombinefn <> 0, p.proparallel::text
		FROM pg_aggregate a JOIN pg_proc p ON p.oid = a.aggfnoid
	   WHERE p.pronamespace = 'ar'::regnamespace AND p.proname IN ('sum', 'min', 'max')
		 AND p.pronargs = 1 AND p.proargtypes[0] = 'ar.amount'::regtype
	   ORDER BY 1$$,
	$$VALUES ('max', 'amount', true, 's'), ('min', 'amount', true, 's'), ('sum', 'amount', true, 's')$$,
	'sum, min and max of ar.amount return ar.amount, have a combine function and are parallel safe');
SELECT is((SELECT aggcombinefn::oid FROM pg_aggregate WHERE aggfnoid = 'ar.sum(ar.amount)'::regprocedure),
	'ar.amount_sum_accum'::regproc::oid, 'ar.sum combines partial sums with ar.amount_sum_accum');
SELECT is((SELECT aggsortop FROM pg_aggregate WHERE aggfnoid = 'ar.min(ar.amount)'::regprocedure),
	'ar.<(ar.amount,ar.amount)'::regoperator::oid, 'ar.min has sort operator ar.< (index optimisation)');
SELECT is((SELECT aggsortop FROM pg_aggregate WHERE aggfnoid = 'ar.max(ar.amount)'::regprocedure),
	'ar.>(ar.amount,ar.amount)'::regoperator::oid, 'ar.max has sort operator ar.> (index optimisation)');

-- ar.currency -------------------------------------------------------------------
SELECT has_table('ar', 'currency', 'table ar.currency exists');
SELECT col_type_is('ar', 'currency', 'code', 'text', 'ar.currency.code is text');
SELECT col_type_is('ar', 'currency', 'numeric_code', 'smallint', 'ar.currency.numeric_code is smallint');
SELECT col_type_is('ar', 'currency', 'minor_unit', 'smallint', 'ar.currency.minor_unit is smallint');
SELECT col_type_is('ar', 'currency', 'name', 'text', 'ar.currency.name is text');
SELECT col_is_pk('ar', 'currency', 'code', 'ar.currency is keyed by code');
SELECT is((SELECT count(*)::int FROM ar.currency), 178, 'ar.currency has the 178 codes of ISO 4217 list one');
SELECT is((SELECT count(*)::int FROM ar.currency WHERE minor_unit IS NULL), 13,
	'13 ISO codes have no minor unit (N.A.)');
SELECT results_eq(
	$$SELECT code, minor_unit::int FROM ar.currency
	   WHERE code IN ('JPY', 'ISK', 'KWD', 'BHD', 'CLF', 'SEK', 'XAU', 'EUR', 'NOK', 'DKK', 'UYW')
	   ORDER BY code$$,
	$$VALUES ('BHD', 3), ('CLF', 4), ('DKK', 2), ('EUR', 2), ('ISK', 0), ('JPY', 0),
			 ('KWD', 3), ('NOK', 2), ('SEK', 2), ('UYW', 4), ('XAU', NULL::int)$$,
	'minor units: JPY/ISK 0, KWD/BHD 3, CLF/UYW 4, SEK/NOK/DKK/EUR 2, XAU none');
SELECT results_eq(
	$$SELECT code, numeric_code::int FROM ar.currency
	   WHERE code IN ('SEK', 'NOK', 'DKK', 'EUR', 'USD', 'ISK', 'XAU', 'XXX') ORDER BY code$$,
	$$VALUES ('DKK', 208), ('EUR', 978), ('ISK', 352), ('NOK', 578), ('SEK', 752),
			 ('USD', 840), ('XAU', 959), ('XXX', 999)$$,
	'ISO numeric codes of some currencies');
SELECT is((SELECT count(*)::int FROM ar.currency
			WHERE code IN ('XCG', 'ZWG', 'SLE', 'VED', 'VES', 'MRU', 'STN', 'CHF', 'GBP', 'USD')), 10,
	'current codes (XCG, ZWG, SLE, VED, VES, MRU, STN, CHF, GBP, USD) are listed');
SELECT is((SELECT count(*)::int FROM ar.currency WHERE code IN ('HRK', 'LTL', 'EEK', 'BYR', 'DEM', 'FIM')), 0,
	'withdrawn codes (HRK, LTL, EEK, BYR, DEM, FIM) are not listed');
SELECT set_eq('SELECT code, numeric_code, minor_unit, name FROM ar.currency',
	'SELECT code, numeric_code, minor_unit, name FROM ar.iso4217()',
	'ar.currency holds exactly the compiled ISO 4217 table');
SELECT is((SELECT count(*)::int FROM ar.currency c
			WHERE c.minor_unit IS NOT NULL
			  AND ar.value_of(ar.amount_of_minor(1, c.code)) = 1 / 10::numeric ^ c.minor_unit), 165,
	'every code with a minor unit holds amounts with that many decimals');

-- ar.fx_rate --------------------------------------------------------------------
SELECT has_table('ar', 'fx_rate', 'table ar.fx_rate exists');
SELECT col_type_is('ar', 'fx_rate', 'from_currency', 'text', 'ar.fx_rate.from_currency is text');
SELECT col_type_is('ar', 'fx_rate', 'to_currency', 'text', 'ar.fx_rate.to_currency is text');
SELECT col_type_is('ar', 'fx_rate', 'valid_on', 'date', 'ar.fx_rate.valid_on is date');
SELECT col_type_is('ar', 'fx_rate', 'rate', 'numeric', 'ar.fx_rate.rate is numeric');
SELECT col_not_null('ar', 'fx_rate', 'rate', 'ar.fx_rate.rate is NOT NULL');
SELECT throws_ok($$INSERT INTO ar.fx_rate (from_currency, to_currency, valid_on, rate)
				   VALUES ('EUR', 'SEK', '2024-01-01', 0)$$, '23514', NULL,
	'ar.fx_rate refuses a rate that is not positive');
SELECT throws_ok($$INSERT INTO ar.fx_rate (from_currency, to_currency, valid_on, rate)
				   VALUES ('EUR', 'ABC', '2024-01-01', 1)$$, '23503', NULL,
	'ar.fx_rate refuses a currency missing from ar.currency');

-- pg_dump: every table of the extension is registered ----------------------------
SELECT set_has(
	$$SELECT format('%I.%I', n.nspname, c.relname)
		FROM pg_extension e, unnest(e.extconfig) AS x(oid)
		JOIN pg_class c ON c.oid = x.oid
		JOIN pg_namespace n ON n.oid = c.relnamespace
	   WHERE e.extname = 'ar'$$,
	$$VALUES ('ar.currency'), ('ar.fx_rate')$$,
	'ar.currency and ar.fx_rate are registered in pg_extension.extconfig');
SELECT is(
	ARRAY(SELECT format('%I.%I', n.nspname, c.relname)
			FROM pg_extension e
			JOIN pg_depend d ON d.refclassid = 'pg_extension'::regclass AND d.refobjid = e.oid
							AND d.classid = 'pg_class'::regclass AND d.deptype = 'e'
			JOIN pg_class c ON c.oid = d.objid
			JOIN pg_namespace n ON n.oid = c.relnamespace
		   WHERE e.extname = 'ar' AND c.relkind IN ('r', 'p')
			 AND NOT c.oid = ANY (e.extconfig)
		   ORDER BY 1),
	'{}'::text[],
	'every table of the extension is registered with pg_extension_config_dump');
SELECT is(
	ARRAY(SELECT format('%I.%I', n.nspname, c.relname)
			FROM pg_extension e
			JOIN pg_depend d ON d.refclassid = 'pg_extension'::regclass AND d.refobjid = e.oid
							AND d.classid = 'pg_class'::regclass AND d.deptype = 'e'
			JOIN pg_class c ON c.oid = d.objid
			JOIN pg_namespace n ON n.oid = c.relnamespace
		   WHERE e.extname = 'ar' AND c.relkind = 'S'
			 AND NOT c.oid = ANY (e.extconfig)
		   ORDER BY 1),
	'{}'::text[],
	'every sequence of the extension is registered with pg_extension_config_dump (its value is dumped)');
SELECT is((SELECT extrelocatable FROM pg_extension WHERE extname = 'ar'), false,
	'ar is not relocatable');
SELECT is((SELECT n.nspname::text COLLATE "default" FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
			WHERE e.extname = 'ar'), 'ar', 'the extension lives in schema ar');

SELECT * FROM finish();
ROLLBACK;
