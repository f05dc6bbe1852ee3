-- test/status.sql: ar.invoice_status and its transition rule (CONTRACT.md §1):
--   draft -> issued | cancelled
--   issued -> partially_paid | paid | credited | written_off
--   partially_paid -> paid | issued | credited | written_off
--   paid -> partially_paid | issued
-- and nothing else; ar.check_status_transition() and the trigger
-- ar.status_guard() raise an error naming both states.
SET search_path = public, ar;
BEGIN;
SELECT plan(77);

-- all 49 pairs of ar.status_transition_allowed ------------------------------------------
SELECT is(ar.status_transition_allowed('draft', 'draft'), false, 'draft -> draft is refused');
SELECT is(ar.status_transition_allowed('draft', 'issued'), true, 'draft -> issued is allowed');
SELECT is(ar.status_transition_allowed('draft', 'partially_paid'), false, 'draft -> partially_paid is refused');
SELECT is(ar.status_transition_allowed('draft', 'paid'), false, 'draft -> paid is refused');
SELECT is(ar.status_transition_allowed('draft', 'credited'), false, 'draft -> credited is refused');
SELECT is(ar.status_transition_allowed('draft', 'written_off'), false, 'draft -> written_off is refused');
SELECT is(ar.status_transition_allowed('draft', 'cancelled'), true, 'draft -> cancelled is allowed');
SELECT is(ar.status_transition_allowed('issued', 'draft'), false, 'issued -> draft is refused');
SELECT is(ar.status_transition_allowed('issued', 'issued'), false, 'issued -> issued is refused');
SELECT is(ar.status_transition_allowed('issued', 'partially_paid'), true, 'issued -> partially_paid is allowed');
SELECT is(ar.status_transition_allowed('issued', 'paid'), true, 'issued -> paid is allowed');
SELECT is(ar.status_transition_allowed('issued', 'credited'), true, 'issued -> credited is allowed');
SELECT is(ar.status_transition_allowed('issued', 'written_off'), true, 'issued -> written_off is allowed');
SELECT is(ar.status_transition_allowed('issued', 'cancelled'), false, 'issued -> cancelled is refused');
SELECT is(ar.status_transition_allowed('partially_paid', 'draft'), false, 'partially_paid -> draft is refused');
SELECT is(ar.status_transition_allowed('partially_paid', 'issued'), true, 'partially_paid -> issued is allowed');
SELECT is(ar.status_transition_allowed('partially_paid', 'partially_paid'), false, 'partially_paid -> partially_paid is refused');
SELECT is(ar.status_transition_allowed('partially_paid', 'paid'), true, 'partially_paid -> paid is allowed');
SELECT is(ar.status_transition_allowed('partially_paid', 'credited'), true, 'partially_paid -> credited is allowed');
SELECT is(ar.status_transition_allowed('partially_paid', 'written_off'), true, 'partially_paid -> written_off is allowed');
SELECT is(ar.status_transition_allowed('partially_paid', 'cancelled'), false, 'partially_paid -> cancelled is refused');
SELECT is(ar.status_transition_allowed('paid', 'draft'), false, 'paid -> draft is refused');
SELECT is(ar.status_transition_allowed('paid', 'issued'), true, 'paid -> issued is allowed');
SELECT is(ar.status_transition_allowed('paid', 'partially_paid'), true, 'paid -> partially_paid is allowed');
SELECT is(ar.status_transition_allowed('paid', 'paid'), false, 'paid -> paid is refused');
SELECT is(ar.status_transition_allowed('paid', 'credited'), false, 'paid -> credited is refused');
SELECT is(ar.status_transition_allowed('paid', 'written_off'), false, 'paid -> written_off is refused');
SELECT is(ar.status_transition_allowed('paid', 'cancelled'), false, 'paid -> cancelled is refused');
SELECT is(ar.status_transition_allowed('credited', 'draft'), false, 'credited -> draft is refused');
SELECT is(ar.status_transition_allowed('credited', 'issued'), false, 'credited -> issued is refused');
SELECT is(ar.status_transition_allowed('credited', 'partially_paid'), false, 'credited -> partially_paid is refused');
SELECT is(ar.status_transition_allowed('credited', 'paid'), false, 'credited -> paid is refused');
SELECT is(ar.status_transition_allowed('credited', 'credited'), false, 'credited -> credited is refused');
SELECT is(ar.status_transition_allowed('credited', 'written_off'), false, 'credited -> written_off is refused');
SELECT is(ar.status_transition_allowed('credited', 'cancelled'), false, 'credited -> cancelled is refused');
SELECT is(ar.status_transition_allowed('written_off', 'draft'), false, 'written_off -> draft is refused');
SELECT is(ar.status_transition_allowed('written_off', 'issued'), false, 'written_off -> issued is refused');
SELECT is(ar.status_transition_allowed('written_off', 'partially_paid'), false, 'written_off -> partially_paid is refused');
SELECT is(ar.status_transition_allowed('written_off', 'paid'), false, 'written_off -> paid is refused');
SELECT is(ar.status_transition_allowed('written_off', 'credited'), false, 'written_off -> credited is refused');
SELECT is(ar.status_transition_allowed('written_off', 'written_off'), false, 'written_off -> written_off is refused');
SELECT is(ar.status_transition_allowed('written_off', 'cancelled'), false, 'written_off -> cancelled is refused');
SELECT is(ar.status_transition_allowed('cancelled', 'draft'), false, 'cancelled -> draft is refused');
SELECT is(ar.status_transition_allowed('cancelled', 'issued'), false, 'cancelled -> issued is refused');
SELECT is(ar.status_transition_allowed('cancelled', 'partially_paid'), false, 'cancelled -> partially_paid is refused');
SELECT is(ar.status_transition_allowed('cancelled', 'paid'), false, 'cancelled -> paid is refused');
SELECT is(ar.status_transition_allowed('cancelled', 'credited'), false, 'cancelled -> credited is refused');
SELECT is(ar.status_transition_allowed('cancelled', 'written_off'), false, 'cancelled -> written_off is refused');
SELECT is(ar.status_transition_allowed('cancelled', 'cancelled'), false, 'cancelled -> cancelled is refused');
SELECT is((SELECT count(*)::int
			 FROM unnest(enum_range(NULL::ar.invoice_status)) f, unnest(enum_range(NULL::ar.invoice_status)) t
			WHERE ar.status_transition_allowed(f, t)), 12,
	'exactly 12 of the 49 transitions are allowed');
SELECT is(ar.status_transition_allowed(NULL, 'issued'), NULL, 'status_transition_allowed is strict');

-- ar.check_status_transition agrees with the rule on all 49 pairs --------------------------
CREATE FUNCTION pg_temp.check_disagreements() RETURNS text[] LANGUAGE plpgsql AS $$
DECLARE
	f ar.invoice_status;
	t ar.invoice_status;
	raised boolean;
	bad text[] := '{}';
BEGIN
	FOREACH f IN ARRAY enum_range(NULL::ar.invoice_status) LOOP
		FOREACH t IN ARRAY enum_range(NULL::ar.invoice_status) LOOP
			BEGIN
				PERFORM ar.check_status_transition(f, t);
				raised := false;
			EXCEPTION WHEN object_not_in_prerequisite_state THEN
				raised := true;
			END;
			IF raised = ar.status_transition_allowed(f, t) THEN
				bad := bad || (f || '->' || t);
			END IF;
		END LOOP;
	END LOOP;
	RETURN bad;
END
$$;
SELECT is(pg_temp.check_disagreements(), '{}'::text[],
	'check_status_transition raises 55000 exactly for the refused transitions');
SELECT lives_ok($$SELECT ar.check_status_transition('draft', 'issued')$$, 'check: draft -> issued passes');
SELECT lives_ok($$SELECT ar.check_status_transition('paid', 'issued')$$, 'check: paid -> issued passes (reversed payment)');
SELECT throws_ok($$SELECT ar.check_status_transition('draft', 'paid')$$, '55000',
	'illegal status transition of invoice from "draft" to "paid"', 'check: draft -> paid raises, naming both states');
SELECT throws_ok($$SELECT ar.check_status_transition('cancelled', 'issued')$$, '55000',
	'illegal status transition of invoice from "cancelled" to "issued"', 'check: cancelled -> issued raises');
SELECT throws_ok($$SELECT ar.check_status_transition('paid', 'credited')$$, '55000',
	'illegal status transition of invoice from "paid" to "credited"', 'check: paid -> credited raises');
SELECT throws_ok($$SELECT ar.check_status_transition('issued', 'draft')$$, '55000',
	'illegal status transition of invoice from "issued" to "draft"', 'check: issued -> draft raises');
SELECT throws_ok($$SELECT ar.check_status_transition('issued', 'issued')$$, '55000',
	'illegal status transition of invoice from "issued" to "issued"', 'check: issued -> issued is not a transition');

-- the trigger ar.status_guard() ------------------------------------------------------------
CREATE TEMP TABLE inv (id int PRIMARY KEY, status ar.invoice_status NOT NULL, note text);
CREATE TRIGGER inv_status_guard BEFORE UPDATE ON inv
	FOR EACH ROW EXECUTE FUNCTION ar.status_guard('status');
INSERT INTO inv VALUES (1, 'draft', NULL), (2, 'draft', NULL), (3, 'cancelled', NULL), (4, 'paid', NULL);

SELECT lives_ok($$UPDATE inv SET status = 'issued' WHERE id = 1$$, 'trigger: draft -> issued passes');
SELECT is((SELECT status FROM inv WHERE id = 1), 'issued'::ar.invoice_status, 'trigger: the legal update is applied');
SELECT throws_ok($$UPDATE inv SET status = 'paid' WHERE id = 2$$, '55000',
	'illegal status transition of a row of "inv" from "draft" to "paid"', 'trigger: draft -> paid raises, naming both states');
SELECT is((SELECT status FROM inv WHERE id = 2), 'draft'::ar.invoice_status, 'trigger: the illegal update is not applied');
SELECT lives_ok($$UPDATE inv SET note = 'reminded' WHERE id = 3$$, 'trigger: an update that keeps a final status passes');
SELECT lives_ok($$UPDATE inv SET status = 'cancelled', note = 'again' WHERE id = 3$$,
	'trigger: setting the unchanged status passes');
SELECT is((SELECT note FROM inv WHERE id = 3), 'again', 'trigger: the update with unchanged status is applied');
SELECT throws_ok($$UPDATE inv SET status = 'issued' WHERE id = 3$$, '55000',
	'illegal status transition of a row of "inv" from "cancelled" to "issued"', 'trigger: cancelled is final');
SELECT lives_ok($$UPDATE inv SET status = 'partially_paid' WHERE id = 1;
				  UPDATE inv SET status = 'paid' WHERE id = 1;
				  UPDATE inv SET status = 'issued' WHERE id = 1;
				  UPDATE inv SET status = 'credited' WHERE id = 1$$,
	'trigger: issued -> partially_paid -> paid -> issued -> credited passes');
SELECT is((SELECT status FROM inv WHERE id = 1), 'credited'::ar.invoice_status, 'trigger: the chain of legal updates is applied');
SELECT throws_ok($$UPDATE inv SET status = 'issued'$$, '55000', NULL,
	'trigger: a multi-row update with one illegal row raises');
SELECT results_eq('SELECT id, status::text FROM inv ORDER BY id',
	$$VALUES (1, 'credited'), (2, 'draft'), (3, 'cancelled'), (4, 'paid')$$,
	'trigger: the failed multi-row update changed nothing');

-- a column of another name, and the default column name
CREATE TEMP TABLE doc (id int, state ar.invoice_status);
CREATE TRIGGER doc_state_guard BEFORE UPDATE ON doc
	FOR EACH ROW EXECUTE FUNCTION ar.status_guard('state');
INSERT INTO doc VALUES (1, 'issued');
SELECT throws_ok($$UPDATE doc SET state = 'draft'$$, '55000',
	'illegal status transition of a row of "doc" from "issued" to "draft"', 'trigger on a column named state');
SELECT lives_ok($$UPDATE doc SET state = 'written_off'$$, 'trigger on a column named state: issued -> written_off passes');
CREATE TEMP TABLE inv2 (id int, status ar.invoice_status);
CREATE TRIGGER inv2_guard BEFORE UPDATE ON inv2 FOR EACH ROW EXECUTE FUNCTION ar.status_guard();
INSERT INTO inv2 VALUES (1, 'paid');
SELECT throws_ok($$UPDATE inv2 SET status = 'draft'$$, '55000',
	'illegal status transition of a row of "inv2" from "paid" to "draft"', 'trigger without argument guards column status');
CREATE TEMP TABLE inv3 (id int, status ar.invoice_status);
CREATE TRIGGER inv3_guard BEFORE UPDATE ON inv3 FOR EACH ROW EXECUTE FUNCTION ar.status_guard('nope');
INSERT INTO inv3 VALUES (1, 'draft');
SELECT throws_ok($$UPDATE inv3 SET status = 'issued'$$, '42703',
	'column "nope" of ar.status_guard() not found in table "inv3"', 'trigger naming a missing column raises');
-- works whatever the search_path
CREATE FUNCTION pg_temp.update_on_bare_path(s text) RETURNS void LANGUAGE plpgsql
	SET search_path = pg_catalog AS $$
BEGIN
	UPDATE pg_temp.inv SET status = s::ar.invoice_status WHERE id = 4;
END
$$;
SELECT throws_ok($$SELECT pg_temp.update_on_bare_path('draft')$$, '55000',
	'illegal status transition of a row of "inv" from "paid" to "draft"', 'trigger guards with search_path = pg_catalog');
SELECT lives_ok($$SELECT pg_temp.update_on_bare_path('partially_paid')$$,
	'trigger passes a legal update with search_path = pg_catalog');

SELECT * FROM finish();
ROLLBACK;
