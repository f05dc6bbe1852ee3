--
-- The ERP path (sales orders become invoices) and credit notes
--
-- a clean slate: earlier test files leave documents behind
DROP EXTENSION ar CASCADE;
CREATE EXTENSION ar;
SET search_path = public, ar;
\set SHOW_CONTEXT never
SET datestyle = ISO, YMD;

INSERT INTO ar.entity (id, code, name, country, vat_id, currency, iban, reference_scheme)
VALUES (1, 'NO1', 'Fjellet AS', 'NO', 'NO912345678MVA', 'NOK', 'NO9386011117947', 'kid10');
INSERT INTO ar.series (entity_id, code, kind, pattern) VALUES
	(1, 'F', 'invoice', '1{N:7}'), (1, 'K', 'credit_note', '9{N:7}');
INSERT INTO ar.customer (id, entity_id, customer_no, name, country, currency, auto_issue) VALUES
	(1, 1, '1000', 'Draft Kunde AS', 'NO', 'NOK', false),
	(2, 1, '2000', 'Auto Kunde AS', 'NO', 'NOK', true);

-- an UPDATE to delivered creates a draft at once and links it
INSERT INTO ar.sales_order (id, entity_id, customer_id, order_no, currency, buyer_reference)
VALUES (1, 1, 1, 'SO-1', 'NOK', 'Ola');
INSERT INTO ar.sales_order_line (order_id, line_no, item_name, quantity, unit_price, vat_rate) VALUES
	(1, 1, 'Ski', 2, 4999.50, 25), (1, 2, 'Voks', 3, 89.90, 25);
UPDATE ar.sales_order SET status = 'delivered' WHERE id = 1;
SELECT o.order_no, o.status, i.status AS invoice_status, i.number, i.order_reference, i.buyer_reference,
       (SELECT count(*) FROM ar.invoice_line l WHERE l.invoice_id = i.id) AS lines
  FROM ar.sales_order o JOIN ar.invoice i ON i.id = o.invoice_id;

-- an INSERT of a delivered order for an auto_issue customer: issued in the
-- same transaction, once its lines are there
BEGIN;
INSERT INTO ar.sales_order (id, entity_id, customer_id, order_no, currency, status)
VALUES (2, 1, 2, 'SO-2', 'NOK', 'delivered');
INSERT INTO ar.sales_order_line (order_id, line_no, item_name, quantity, unit_price, vat_rate) VALUES
	(2, 1, 'Fiskestang', 1, 1200, 25), (2, 2, 'Bok', 1, 300, 12);
COMMIT;
SELECT o.order_no, i.status, i.number, i.total, i.payment_reference,
       ar.reference_valid('kid10', i.payment_reference) AS kid_ok
  FROM ar.sales_order o JOIN ar.invoice i ON i.id = o.invoice_id WHERE o.id = 2;
-- a delivered order without lines rolls back whole
BEGIN;
INSERT INTO ar.sales_order (id, entity_id, customer_id, order_no, currency, status)
VALUES (3, 1, 2, 'SO-3', 'NOK', 'delivered');
COMMIT;
SELECT count(*) FROM ar.sales_order WHERE id = 3;
-- cancelling an invoiced order points at ar.credit
UPDATE ar.sales_order SET status = 'cancelled' WHERE id = 2;
UPDATE ar.sales_order SET invoice_id = NULL WHERE id = 1;
-- cancelling an order that is not invoiced is fine
INSERT INTO ar.sales_order (id, entity_id, customer_id, order_no, currency) VALUES (4, 1, 1, 'SO-4', 'NOK');
UPDATE ar.sales_order SET status = 'cancelled' WHERE id = 4;
SELECT ar.invoice_order(4);

-- credit notes
SELECT ar.credit((SELECT invoice_id FROM ar.sales_order WHERE id = 1));
SELECT ar.credit(999);
SELECT ar.issue(invoice_id) FROM ar.sales_order WHERE id = 1;
SELECT ar.credit((SELECT invoice_id FROM ar.sales_order WHERE id = 2), 'Returned goods') AS credit_note_id;
SELECT i.kind, i.number, i.status, i.total, i.open_amount, c.number AS credits, i.note,
       i.payment_reference
  FROM ar.invoice i LEFT JOIN ar.invoice c ON c.id = i.credited_invoice_id
 WHERE i.status <> 'draft' ORDER BY i.id;
SELECT a.rule, a.amount, cn.number AS credit_note, inv.number AS invoice
  FROM ar.allocation a JOIN ar.invoice cn ON cn.id = a.credit_note_id JOIN ar.invoice inv ON inv.id = a.invoice_id;
-- crediting twice, crediting a credit note
SELECT ar.credit((SELECT invoice_id FROM ar.sales_order WHERE id = 2));
SELECT ar.credit((SELECT id FROM ar.invoice WHERE kind = 'credit_note'));
-- both series are sound
SELECT s.code, v.* FROM ar.series s LEFT JOIN LATERAL ar.verify_series(s.id) v ON true ORDER BY s.code;
