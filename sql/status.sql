--
-- ar.invoice_status and its transition rule
--
SET search_path = public, ar;
\set SHOW_CONTEXT never

SELECT enum_range(NULL::ar.invoice_status);

-- the whole transition matrix: rows are from, columns are to
SELECT f AS "from",
       string_agg(CASE WHEN ar.status_transition_allowed(f, t) THEN t::text END, ' '
                  ORDER BY t) AS allowed_to
  FROM unnest(enum_range(NULL::ar.invoice_status)) f,
       unnest(enum_range(NULL::ar.invoice_status)) t
 GROUP BY f ORDER BY f;

SELECT ar.check_status_transition('draft', 'issued');
SELECT ar.check_status_transition('draft', 'paid');
SELECT ar.check_status_transition('paid', 'draft');
SELECT ar.check_status_transition('credited', 'issued');
SELECT ar.check_status_transition('issued', 'issued');

-- the trigger any table can use
CREATE TABLE doc (id int PRIMARY KEY, status ar.invoice_status NOT NULL DEFAULT 'draft',
                  note text);
CREATE TRIGGER doc_status BEFORE UPDATE ON doc
	FOR EACH ROW EXECUTE FUNCTION ar.status_guard('status');
INSERT INTO doc (id) VALUES (1), (2);
UPDATE doc SET status = 'issued' WHERE id = 1;
UPDATE doc SET status = 'partially_paid' WHERE id = 1;
UPDATE doc SET status = 'paid' WHERE id = 1;
UPDATE doc SET note = 'status unchanged' WHERE id = 1;
UPDATE doc SET status = 'issued' WHERE id = 1;
-- illegal: nothing changes
UPDATE doc SET status = 'paid' WHERE id = 2;
UPDATE doc SET status = 'cancelled' WHERE id = 2;
UPDATE doc SET status = 'issued' WHERE id = 2;
SELECT id, status, note FROM doc ORDER BY id;
-- a statement touching several rows is all or nothing
UPDATE doc SET status = 'draft';
SELECT id, status FROM doc ORDER BY id;

-- misuse of the trigger function
CREATE TABLE doc2 (id int, state ar.invoice_status);
CREATE TRIGGER doc2_status BEFORE UPDATE ON doc2
	FOR EACH ROW EXECUTE FUNCTION ar.status_guard('status');
INSERT INTO doc2 VALUES (1, 'draft');
UPDATE doc2 SET state = 'issued';
CREATE TRIGGER doc2_ins BEFORE INSERT ON doc2
	FOR EACH ROW EXECUTE FUNCTION ar.status_guard('state');
INSERT INTO doc2 VALUES (2, 'draft');
DROP TABLE doc, doc2;
