-- test/security.sql: the security rules of STYLE/CONTRACT §10, checked over
-- the whole catalog so that every object added later is held to them:
-- SECURITY DEFINER only with a safe search_path, a fixed search_path on
-- every SQL and PL/pgSQL function, row-level security on every
-- entity-scoped table, the audit trail append-only, the three roles.
SET search_path = public, ar;
BEGIN;
SELECT plan(12);

SELECT is(
	(SELECT array_agg(p.oid::regprocedure::text ORDER BY 1) FROM pg_proc p
	  WHERE p.pronamespace = 'ar'::regnamespace AND p.prosecdef
		AND NOT coalesce(p.proconfig @> ARRAY['search_path=pg_catalog, pg_temp'], false)),
	NULL,
	'every SECURITY DEFINER function of ar sets search_path = pg_catalog, pg_temp');
SELECT cmp_ok(
	(SELECT count(*)::int FROM pg_proc p WHERE p.pronamespace = 'ar'::regnamespace AND p.prosecdef),
	'>=', 3, 'the audit capture, seal and verify functions are SECURITY DEFINER');
SELECT is(
	(SELECT array_agg(p.oid::regprocedure::text ORDER BY 1) FROM pg_proc p
	   JOIN pg_language l ON l.oid = p.prolang
	  WHERE p.pronamespace = 'ar'::regnamespace AND l.lanname IN ('sql', 'plpgsql')
		AND NOT EXISTS (SELECT 1 FROM unnest(p.proconfig) c WHERE c LIKE 'search_path=pg_catalog%')),
	NULL,
	'every SQL and PL/pgSQL function of ar pins search_path, starting with pg_catalog');
SELECT is(
	(SELECT array_agg(c.relname::text ORDER BY 1) FROM pg_class c
	  WHERE c.relnamespace = 'ar'::regnamespace AND c.relkind = 'r' AND NOT c.relrowsecurity
		AND EXISTS (SELECT 1 FROM pg_attribute a
					 WHERE a.attrelid = c.oid AND a.attname = 'entity_id' AND NOT a.attisdropped)
		AND c.relname <> 'entity_access'),
	NULL,
	'every table with an entity_id has row-level security');
SELECT is(
	(SELECT array_agg(c.relname::text ORDER BY 1) FROM pg_class c
	  WHERE c.relnamespace = 'ar'::regnamespace AND c.relkind = 'r' AND c.relrowsecurity
		AND NOT EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid)),
	NULL,
	'every table with row-level security has a policy');
SELECT is(
	(SELECT array_agg(x ORDER BY x) FROM unnest(ARRAY['entity', 'invoice_line', 'invoice_tax',
		'allocation', 'series_counter', 'match_suggestion', 'sales_order_line']) x
	  WHERE NOT (SELECT relrowsecurity FROM pg_class WHERE oid = ('ar.' || x)::regclass)),
	NULL,
	'ar.entity and the tables that hang off a parent row have row-level security');
SELECT bag_eq(
	$$SELECT t.tgname::text FROM pg_trigger t WHERE t.tgrelid = 'ar.audit'::regclass AND NOT t.tgisinternal$$,
	ARRAY['audit_append_only', 'audit_insert_guard', 'audit_no_truncate', 'audit_seal'],
	'ar.audit refuses UPDATE, DELETE, TRUNCATE and inserts from outside the capture, and seals at commit');
SELECT bag_eq(
	$$SELECT c.relname::text FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
	   WHERE t.tgfoid = 'ar.audit_capture'::regproc$$,
	ARRAY['invoice', 'invoice', 'invoice', 'invoice_line', 'invoice_line', 'invoice_line',
		  'invoice_tax', 'invoice_tax', 'invoice_tax', 'payment', 'payment', 'payment', 'allocation', 'allocation', 'allocation',
		  'dunning_letter', 'dunning_letter', 'dunning_letter', 'dunning_item', 'dunning_item', 'dunning_item'],
	'the audit capture watches INSERT, UPDATE and DELETE of invoices, lines, VAT breakdowns, payments, allocations and dunning letters');
SELECT ok(NOT has_table_privilege('ar_admin', 'ar.audit', 'INSERT')
		  AND NOT has_table_privilege('ar_admin', 'ar.audit', 'UPDATE')
		  AND NOT has_table_privilege('ar_clerk', 'ar.audit_seal', 'INSERT')
		  AND NOT has_table_privilege('ar_clerk', 'ar.audit_head', 'UPDATE')
		  AND has_table_privilege('ar_reader', 'ar.audit', 'SELECT'),
	'no ar role writes the audit trail; readers read it');
SELECT ok(pg_has_role('ar_admin', 'ar_clerk', 'MEMBER') AND pg_has_role('ar_clerk', 'ar_reader', 'MEMBER')
		  AND NOT pg_has_role('ar_reader', 'ar_clerk', 'MEMBER'),
	'ar_admin includes ar_clerk, which includes ar_reader');
SELECT ok(NOT has_table_privilege('ar_clerk', 'ar.series', 'INSERT')
		  AND NOT has_table_privilege('ar_clerk', 'ar.entity', 'UPDATE')
		  AND has_table_privilege('ar_clerk', 'ar.invoice', 'INSERT')
		  AND has_table_privilege('ar_admin', 'ar.series', 'INSERT')
		  AND NOT has_table_privilege('ar_reader', 'ar.invoice', 'UPDATE'),
	'clerks write documents, admins master data, readers nothing');
SELECT ok(NOT has_function_privilege('public', 'ar.verify_audit()', 'EXECUTE')
		  AND has_function_privilege('ar_reader', 'ar.verify_audit()', 'EXECUTE'),
	'ar.verify_audit is for ar roles only');

SELECT * FROM finish();
ROLLBACK;
