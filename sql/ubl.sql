--
-- E-invoices: Peppol identifiers checked on save, UBL 2.1 (Peppol BIS
-- Billing 3.0) of issued documents, what issuing refuses for Peppol
-- customers, the readable rendering, outbox payloads
--
-- a clean slate: earlier test files leave documents behind
DROP EXTENSION ar CASCADE;
CREATE EXTENSION ar;
SET search_path = public, ar;
\set SHOW_CONTEXT never
SET datestyle = ISO, YMD;

-- 1. Peppol identifiers: the checks of the Peppol rules, at save time
SELECT scheme, id, ar.peppol_id_valid(scheme, id) AS valid
  FROM (VALUES ('0007', '5566778899'),     -- Swedish org. no., Luhn
               ('0007', '5566778898'),     -- wrong check digit
               ('0007', '556677-8899'),    -- no dash in an endpoint
               ('0007', '556677889'),      -- 9 digits
               ('0192', '923609016'),      -- Norwegian org. no., mod 11
               ('0192', '923609017'),
               ('0192', '92360901'),
               ('0184', '13585628'),       -- Danish CVR: 8 digits
               ('0184', 'DK13585628'),     -- or DK and 8 digits
               ('0184', 'DK1358562'),
               ('0184', '1358562A'),
               ('0088', '7350053850019'),  -- GLN, GS1 check digit
               ('0088', '7350053850018'),
               ('0088', '735005385001X'),
               ('0208', '0403019261'),     -- Belgian enterprise no., mod 97
               ('0208', '0403019262'),
               ('9930', 'DE123456789'),    -- a scheme Peppol does not check
               ('9999', '123'),            -- not an EAS scheme
               ('0007', ' 5566778899')) v(scheme, id);

\set VERBOSITY terse
-- exchange rates: an invoice in another currency than its seller's states
-- its VAT in the seller's currency too (BT-111), at the issue date's rate
INSERT INTO ar.fx_rate (from_currency, to_currency, valid_on, rate) VALUES
	('EUR', 'SEK', '2026-01-01', 11.2345), ('KWD', 'SEK', '2026-01-01', 34.5), ('JPY', 'SEK', '2026-01-01', 0.0712),
	('EUR', 'NOK', '2026-01-01', 11.7), ('EUR', 'DKK', '2026-01-01', 7.46), ('SEK', 'NOK', '2026-01-01', 1.02),
	('SEK', 'DKK', '2026-01-01', 0.66), ('NOK', 'SEK', '2026-01-01', 0.98), ('DKK', 'SEK', '2026-01-01', 1.51);
INSERT INTO ar.entity (code, name, country, currency, peppol_scheme, peppol_id)
VALUES ('B1', 'Bad', 'SE', 'SEK', '0007', '5566778898');
INSERT INTO ar.entity (code, name, country, currency, peppol_scheme, peppol_id)
VALUES ('B2', 'Bad', 'NO', 'NOK', '0192', '923609017');
INSERT INTO ar.entity (code, name, country, currency, peppol_scheme, peppol_id)
VALUES ('B3', 'Bad', 'DK', 'DKK', '0184', 'DK1358562');
INSERT INTO ar.entity (code, name, country, currency, peppol_scheme, peppol_id)
VALUES ('B4', 'Bad', 'SE', 'SEK', '0088', '7350053850018');
INSERT INTO ar.entity (code, name, country, currency, peppol_scheme, peppol_id)
VALUES ('B5', 'Bad', 'SE', 'SEK', '9999', '123');
\set VERBOSITY default
INSERT INTO ar.entity (code, name, country, currency, peppol_scheme, peppol_id)
VALUES ('B6', 'Bad', 'SE', 'SEK', '0007', '5566778898');

-- the sellers
INSERT INTO ar.entity (id, code, name, country, vat_id, company_id, currency, street, city,
                       postal_code, iban, bic, bankgiro, peppol_scheme, peppol_id, reference_scheme)
VALUES (1, 'SE1', 'Nordvind AB', 'SE', 'SE556677889901', '556677-8899', 'SEK', 'Storgatan 1',
        'Stockholm', '111 22', 'SE45 5000 0000 0583 9825 7466', 'ESSESESS', '5050-1055', '0007',
        '5566778899', 'ocr'),
       (2, 'SE2', 'Lösa Boken AB', 'SE', NULL, NULL, 'SEK', NULL, 'Lund', NULL, NULL, NULL,
        '5050-1055', NULL, NULL, 'ocr');
INSERT INTO ar.series (entity_id, code, kind, pattern, reset) VALUES
	(1, 'INV', 'invoice', 'INV-{YYYY}-{N:6}', 'yearly'),
	(1, 'CN', 'credit_note', 'CN-{YYYY}-{N:5}', 'yearly'),
	(2, 'F', 'invoice', 'F{N:4}', 'never');

-- the buyers; a bad endpoint is refused on insert and on update
INSERT INTO ar.customer (id, entity_id, customer_no, name, country, vat_id, company_id, street,
                         city, postal_code, email, peppol_scheme, peppol_id, channel, currency)
VALUES (1, 1, 'C1', 'Kund & Söner <AB> "Ölands" ''bästa''', 'SE', 'SE559988776601',
        '5599887766', 'Kundvägen 2', 'Göteborg', '411 01', 'ap@kund.se', '0007', '5599887766',
        'peppol', 'SEK'),
       (2, 1, 'C2', 'Föreningen Ærø & Øresund', 'SE', NULL, NULL, 'Sjögatan 5', 'Malmö', '211 18',
        NULL, '0088', '7350053850019', 'peppol', 'SEK'),
       (3, 1, 'C3', 'Müller GmbH', 'DE', 'DE123456789', NULL, 'Hauptstraße 5', 'Berlin', '10115',
        NULL, '9930', 'DE123456789', 'peppol', 'EUR'),
       (4, 1, 'C4', 'Papper & Co', 'SE', 'SE556036079301', NULL, 'Bruksgatan 1', 'Borås', '503 30',
        'faktura@papper.se', '0007', '5560360793', 'email', 'SEK'),
       (5, 1, 'C5', 'Gulf Trading', 'KW', NULL, NULL, 'Block 3', 'Kuwait City', '13001',
        NULL, '0088', '7300010000001', 'peppol', 'KWD'),
       (6, 2, 'L1', 'Bokhandeln', 'SE', NULL, NULL, NULL, 'Lund', NULL, NULL, '0007', '2021005471',
        'peppol', 'SEK');
INSERT INTO ar.customer (entity_id, customer_no, name, country, currency, peppol_scheme, peppol_id, channel)
VALUES (1, 'X1', 'Bad', 'NO', 'NOK', '0192', '92360901', 'peppol');
UPDATE ar.customer SET peppol_id = '5599887767' WHERE id = 1;
UPDATE ar.customer SET peppol_scheme = '0192' WHERE id = 1;

-- drafts
INSERT INTO ar.invoice (id, entity_id, customer_id, currency, issue_date, buyer_reference, order_reference)
VALUES (1, 1, 1, 'SEK', '2026-03-02', 'PO-1 <ÅÄÖ>', 'SO-1'),   -- S 25 / 12 / 6, Z, E
       (2, 1, 2, 'SEK', '2026-03-02', 'Kassör Åsa', NULL),     -- no buyer VAT id; E, standard reason
       (3, 1, 3, 'EUR', '2026-03-02', NULL, 'BEST-77'),        -- reverse charge to an EU buyer
       (4, 1, 3, 'EUR', '2026-03-02', 'Einkauf', NULL),        -- intra-community supply
       (5, 1, 4, 'SEK', '2026-03-02', NULL, NULL),             -- by email: no reference needed
       (6, 1, 5, 'KWD', '2026-03-02', 'PO-KW-1', NULL);        -- 3-decimal currency
INSERT INTO ar.invoice_line (invoice_id, line_no, item_name, description, quantity, unit_code,
                             unit_price, vat_category, vat_rate, vat_exemption_code, vat_exemption_reason)
VALUES (1, 1, 'Konsulttimme', 'Rådgivning & <analys>', 7.5, 'HUR', 1250, 'S', 25, NULL, NULL),
       (1, 2, 'Smörgås', NULL, 3, 'C62', 45.50, 'S', 12, NULL, NULL),
       (1, 3, 'Bok', NULL, 1, 'C62', 299, 'S', 6, NULL, NULL),
       (1, 4, 'Tidning', NULL, 2, 'C62', 10.10, 'Z', 0, NULL, NULL),
       (1, 5, 'Kurs', NULL, 1, 'C62', 8000, 'E', 0, 'VATEX-EU-132-1I', 'Utbildning'),
       (1, 6, 'Returnerad vara', NULL, -1, 'H87', 199, 'S', 25, NULL, NULL),
       (2, 1, 'Sjukvård', NULL, 1, 'C62', 1200, 'E', 0, NULL, NULL),
       (3, 1, 'Consulting', NULL, 10, 'HUR', 125.50, 'AE', 0, NULL, NULL),
       (4, 1, 'Steel beams', NULL, 4, 'TNE', 812.25, 'K', 0, NULL, NULL),
       (5, 1, 'Papper A4', NULL, 10, 'H87', 49.90, 'S', 25, NULL, NULL),
       (6, 1, 'Pump', NULL, 3, 'H87', 1.25, 'S', 25, NULL, NULL),
       (6, 2, 'Seal', NULL, 4, 'H87', 0.3, 'S', 25, NULL, NULL);

-- (the ids above were given; ar.credit takes the next one from the sequence)
SELECT setval(pg_get_serial_sequence('ar.invoice', 'id'), 100) > 0 AS ok;

-- 2. A draft has no rendering; unknown documents do not exist
SELECT ar.invoice_ubl(1);
SELECT ar.invoice_text(1);
SELECT * FROM ar.invoice_ubl(ARRAY[1]::bigint[]);
SELECT ar.invoice_ubl(999);
SELECT * FROM ar.invoice_ubl(ARRAY[NULL]::bigint[]);
-- what a draft still lacks for Peppol (nothing: it can go)
SELECT * FROM ar.ubl_problems(1);

-- 3. Issuing refuses, before numbering, what a Peppol document would lack;
-- the error names the field.  Nothing is numbered or queued.
INSERT INTO ar.invoice (id, entity_id, customer_id, currency, issue_date, buyer_reference)
VALUES (10, 1, 1, 'SEK', '2026-03-02', NULL);
INSERT INTO ar.invoice_line (invoice_id, line_no, item_name, quantity, unit_price) VALUES (10, 1, 'Widget', 1, 100);
SELECT ar.issue(10);
-- the error carries the SQLSTATE and the field, for programs
DO $$
DECLARE
	st text;
	sch text;
	tbl text;
	col text;
BEGIN
	PERFORM ar.issue(10);
EXCEPTION WHEN others THEN
	GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, sch = SCHEMA_NAME, tbl = TABLE_NAME, col = COLUMN_NAME;
	RAISE NOTICE 'SQLSTATE %, field %.%.%', st, sch, tbl, col;
END
$$;
UPDATE ar.invoice SET buyer_reference = '   ' WHERE id = 10;
SELECT ar.issue(10);
UPDATE ar.invoice SET buyer_reference = 'PO-10' WHERE id = 10;
-- the seller's endpoint, VAT id, legal registration id and bank account
-- (entity 2 has none of them): all of them listed, the first one raised
UPDATE ar.entity SET bankgiro = NULL WHERE id = 2;
INSERT INTO ar.invoice (id, entity_id, customer_id, currency, issue_date, buyer_reference)
VALUES (11, 2, 6, 'SEK', '2026-03-02', 'Inköp');
INSERT INTO ar.invoice_line (invoice_id, line_no, item_name, quantity, unit_price, vat_rate)
VALUES (11, 1, 'Bok', 1, 100, 6);
SELECT * FROM ar.ubl_problems(11);
SELECT ar.issue(11);
UPDATE ar.entity SET peppol_scheme = '0007', peppol_id = '2021005471' WHERE id = 2;
SELECT ar.issue(11);
UPDATE ar.entity SET vat_id = 'SE202100547101' WHERE id = 2;
SELECT ar.issue(11);
UPDATE ar.entity SET company_id = '202100-5471' WHERE id = 2;
SELECT ar.issue(11);
UPDATE ar.entity SET company_id = '202100-5472' WHERE id = 2;
SELECT ar.issue(11);
UPDATE ar.entity SET company_id = '202100-5471', bankgiro = '5050-1055' WHERE id = 2;
SELECT * FROM ar.ubl_problems(11);
-- the lines: a document that is fine apart from what each step breaks
INSERT INTO ar.invoice (id, entity_id, customer_id, currency, issue_date, buyer_reference)
VALUES (14, 1, 1, 'SEK', '2026-03-02', 'PO-14');
INSERT INTO ar.invoice_line (invoice_id, line_no, item_name, quantity, unit_price, vat_category, vat_rate)
VALUES (14, 1, 'Bok', 1, 100, 'S', 6);
-- a Swedish seller's standard rates are 25, 12 and 6 (SE-R-006)
UPDATE ar.invoice_line SET vat_rate = 10 WHERE invoice_id = 14;
SELECT ar.issue(14);
-- category and exemption reason must fit
UPDATE ar.invoice_line SET vat_category = 'Z', vat_rate = 0, vat_exemption_reason = 'Nollskattad' WHERE invoice_id = 14;
SELECT ar.issue(14);
UPDATE ar.invoice_line SET vat_category = 'E', vat_exemption_code = 'VATEX-EU-IC', vat_exemption_reason = NULL WHERE invoice_id = 14;
SELECT ar.issue(14);
UPDATE ar.invoice_line SET vat_exemption_code = 'VATEX-XX-1' WHERE invoice_id = 14;
SELECT ar.issue(14);
UPDATE ar.invoice_line SET vat_category = 'S', vat_rate = 6, vat_exemption_code = NULL WHERE invoice_id = 14;
-- not subject to VAT cannot be mixed with other categories (BR-O-11)
INSERT INTO ar.invoice_line (invoice_id, line_no, item_name, quantity, unit_price, vat_category, vat_rate)
VALUES (14, 2, 'Medlemsavgift', 1, 50, 'O', 0);
SELECT ar.issue(14);
DELETE FROM ar.invoice_line WHERE invoice_id = 14 AND line_no = 2;
-- unit codes are UN/ECE Recommendation 20
UPDATE ar.invoice_line SET unit_code = 'QQQ' WHERE invoice_id = 14;
SELECT ar.issue(14);
UPDATE ar.invoice_line SET unit_code = 'H87' WHERE invoice_id = 14;
-- control characters cannot go into XML
UPDATE ar.invoice_line SET item_name = E'Bok\x01' WHERE invoice_id = 14;
SELECT ar.issue(14);
-- ... and neither can U+FFFE and U+FFFF
UPDATE ar.invoice_line SET item_name = E'Bok \uFFFE' WHERE invoice_id = 14;
SELECT ar.issue(14);
-- lines of one category and rate with different exemption reasons: one
-- breakdown cannot carry both
UPDATE ar.invoice_line SET item_name = 'Bok', vat_category = 'E', vat_rate = 0,
	   vat_exemption_reason = 'Sjukvård' WHERE invoice_id = 14;
INSERT INTO ar.invoice_line (invoice_id, line_no, item_name, quantity, unit_price, vat_category, vat_rate,
							 vat_exemption_reason)
VALUES (14, 2, 'Hyra', 1, 50, 'E', 0, 'Upplåtelse av fastighet');
SELECT ar.issue(14);
-- the same reason on both lines, or on one line only, is one breakdown
BEGIN;
UPDATE ar.invoice_line SET vat_exemption_reason = NULL WHERE invoice_id = 14 AND line_no = 2;
SELECT ar.issue(14) IS NOT NULL AS issued;
SELECT vat_category, vat_rate, taxable_amount, exemption_reason FROM ar.invoice_tax WHERE invoice_id = 14;
ROLLBACK;
DELETE FROM ar.invoice WHERE id = 14;
-- a series pattern with a control character (it would go into cbc:ID)
INSERT INTO ar.series (entity_id, code, kind, pattern, is_default) VALUES (1, 'X', 'invoice', E'X\x01{N}', false);
-- a buyer VAT id for an intra-community supply (BR-IC-02)
UPDATE ar.customer SET vat_id = NULL WHERE id = 3;
SELECT ar.issue(4);
UPDATE ar.customer SET vat_id = 'DE123456789' WHERE id = 3;
-- a 3-decimal currency: amounts must be whole to 2 decimals (BR-DEC)
INSERT INTO ar.invoice (id, entity_id, customer_id, currency, issue_date, buyer_reference)
VALUES (12, 1, 5, 'KWD', '2026-03-02', 'PO-KW-2');
INSERT INTO ar.invoice_line (invoice_id, line_no, item_name, quantity, unit_price) VALUES (12, 1, 'Valve', 3, 0.125);
SELECT ar.issue(12);
-- the rounded net amount of a line must be within 0.02 of quantity x price (R120)
UPDATE ar.invoice SET currency = 'JPY' WHERE id = 12;
UPDATE ar.invoice_line SET currency = 'JPY', quantity = 3, unit_price = 10.5 WHERE invoice_id = 12;
SELECT ar.issue(12);
DELETE FROM ar.invoice WHERE id = 12;
-- all of it refused before a number was given
SELECT count(*) FILTER (WHERE status <> 'draft') AS issued, (SELECT count(*) FROM ar.outbox) AS queued,
       (SELECT count(*) FROM ar.series_counter) AS counters
  FROM ar.invoice;

-- 4. Issuing: the outbox gets UBL for peppol, the readable text otherwise
SELECT * FROM ar.issue(ARRAY[1, 2, 3, 4, 5, 6, 10, 11]);
SELECT o.invoice_id, o.channel, o.kind,
       CASE WHEN o.payload LIKE '<?xml version="1.0" encoding="UTF-8"?>%' THEN 'UBL'
            WHEN o.payload LIKE 'INVOICE %' THEN 'text' END AS payload,
       o.payload = CASE o.channel WHEN 'peppol' THEN ar.invoice_ubl(o.invoice_id)::text
                                  ELSE ar.invoice_text(o.invoice_id) END AS same_as_rendered
  FROM ar.outbox o ORDER BY o.id;

-- 5. The structure of a Peppol invoice
CREATE TEMP TABLE doc AS SELECT ar.invoice_ubl(1) AS x;
CREATE FUNCTION pg_temp.xp(path text, d xml) RETURNS text LANGUAGE sql AS $$
	SELECT string_agg(v::text, ' | ')
	  FROM unnest(xpath(path, d, ARRAY[
		ARRAY['i', 'urn:oasis:names:specification:ubl:schema:xsd:Invoice-2'],
		ARRAY['c', 'urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2'],
		ARRAY['cac', 'urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2'],
		ARRAY['cbc', 'urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2']])) v
$$;
SELECT p AS path, pg_temp.xp(p, x) AS value
  FROM doc, unnest(ARRAY[
	'name(/*)',
	'/i:Invoice/cbc:CustomizationID/text()',
	'/i:Invoice/cbc:ProfileID/text()',
	'/i:Invoice/cbc:ID/text()',
	'/i:Invoice/cbc:IssueDate/text()',
	'/i:Invoice/cbc:DueDate/text()',
	'/i:Invoice/cbc:InvoiceTypeCode/text()',
	'/i:Invoice/cbc:DocumentCurrencyCode/text()',
	'/i:Invoice/cbc:BuyerReference/text()',
	'/i:Invoice/cac:OrderReference/cbc:ID/text()',
	'//cac:AccountingSupplierParty//cbc:EndpointID/@schemeID',
	'//cac:AccountingSupplierParty//cbc:EndpointID/text()',
	'//cac:AccountingSupplierParty//cac:PartyTaxScheme/cbc:CompanyID/text()',
	'//cac:AccountingSupplierParty//cac:PartyLegalEntity/cbc:CompanyID/@schemeID',
	'//cac:AccountingSupplierParty//cac:PartyLegalEntity/cbc:CompanyID/text()',
	'//cac:AccountingSupplierParty//cac:PostalAddress/cbc:PostalZone/text()',
	'//cac:AccountingCustomerParty//cbc:EndpointID/text()',
	'//cac:AccountingCustomerParty//cac:PartyName/cbc:Name/text()',
	'//cac:AccountingCustomerParty//cac:Contact/cbc:ElectronicMail/text()',
	'//cac:PaymentMeans/cbc:PaymentMeansCode/text()',
	'//cac:PaymentMeans/cbc:PaymentID/text()',
	'//cac:PayeeFinancialAccount/cbc:ID/text()',
	'//cac:FinancialInstitutionBranch/cbc:ID/text()',
	'//cac:PaymentTerms/cbc:Note/text()',
	'/i:Invoice/cac:TaxTotal/cbc:TaxAmount/text()',
	'//cac:TaxSubtotal/cac:TaxCategory/cbc:ID/text()',
	'//cac:TaxSubtotal/cac:TaxCategory/cbc:Percent/text()',
	'//cac:TaxSubtotal/cbc:TaxableAmount/text()',
	'//cac:TaxSubtotal/cbc:TaxAmount/text()',
	'//cac:TaxSubtotal/cac:TaxCategory/cbc:TaxExemptionReasonCode/text()',
	'//cac:TaxSubtotal/cac:TaxCategory/cbc:TaxExemptionReason/text()',
	'//cac:LegalMonetaryTotal/*/text()',
	'//cac:LegalMonetaryTotal/cbc:PayableAmount/@currencyID',
	'count(//cac:InvoiceLine)',
	'//cac:InvoiceLine/cbc:InvoicedQuantity/@unitCode',
	'//cac:InvoiceLine/cbc:InvoicedQuantity/text()',
	'//cac:InvoiceLine/cbc:LineExtensionAmount/text()',
	'//cac:InvoiceLine/cac:Item/cbc:Name/text()',
	'//cac:InvoiceLine/cac:Item/cbc:Description/text()',
	'//cac:InvoiceLine/cac:Item/cac:ClassifiedTaxCategory/cbc:ID/text()',
	'//cac:InvoiceLine/cac:Price/cbc:PriceAmount/text()']) p;

-- 6. Text is escaped; Nordic letters stay UTF-8 (no character references)
SELECT strpos(d, '<cbc:Name>Kund &amp; Söner &lt;AB&gt; ') > 0 AS name_escaped,
       strpos(d, '<cbc:Description>Rådgivning &amp; &lt;analys&gt;</cbc:Description>') > 0 AS description_escaped,
       strpos(d, '<cbc:BuyerReference>PO-1 &lt;ÅÄÖ&gt;</cbc:BuyerReference>') > 0 AS reference_escaped,
       strpos(d, '<cbc:Name>Föreningen Ærø &amp; Øresund</cbc:Name>') > 0 AS nordic_letters,
       strpos(d, '&#') = 0 AS no_character_references,
       octet_length(d) - length(d) AS utf8_extra_bytes
  FROM (SELECT ar.invoice_ubl(1)::text || ar.invoice_ubl(2)::text AS d) s;
SELECT pg_temp.xp('//cac:AccountingCustomerParty//cbc:RegistrationName/text()', ar.invoice_ubl(1)) =
       'Kund &amp; Söner &lt;AB&gt; "Ölands" ''bästa''' AS xpath_sees_the_escaped_name,
       (xpath('//*[local-name()="RegistrationName"]/text()', ar.invoice_ubl(2)))[2]::text AS buyer_name;

-- 7. The same issued document gives the same bytes every time, singly or in a set
SELECT count(DISTINCT md5(ar.invoice_ubl(1)::text)) AS distinct_single,
       (SELECT count(DISTINCT md5(u.ubl::text)) FROM ar.invoice_ubl(ARRAY[1, 1, 1]) u) AS distinct_set,
       md5(ar.invoice_ubl(1)::text) = (SELECT md5(payload) FROM ar.outbox WHERE invoice_id = 1) AS same_as_sent
  FROM generate_series(1, 5);
SELECT u.invoice_id, u.ubl::text = ar.invoice_ubl(u.invoice_id)::text AS same
  FROM ar.invoice_ubl(ARRAY[6, 1, 2]) u;
SELECT * FROM ar.invoice_ubl(ARRAY[1, 999]);

-- 8. VAT categories, exemption reasons (filled in with the standard ones)
SELECT i.id, pg_temp.xp('//cac:TaxSubtotal/cac:TaxCategory/cbc:ID/text()', ar.invoice_ubl(i.id)) AS categories,
       pg_temp.xp('//cac:TaxSubtotal//cbc:TaxExemptionReasonCode/text()', ar.invoice_ubl(i.id)) AS codes,
       pg_temp.xp('//cac:TaxSubtotal//cbc:TaxExemptionReason/text()', ar.invoice_ubl(i.id)) AS reasons,
       pg_temp.xp('count(//cac:PartyTaxScheme)', ar.invoice_ubl(i.id)) AS vat_ids,
       pg_temp.xp('//cac:Delivery/cbc:ActualDeliveryDate/text()', ar.invoice_ubl(i.id)) AS delivered,
       pg_temp.xp('//cac:Delivery//cbc:IdentificationCode/text()', ar.invoice_ubl(i.id)) AS delivered_to,
       pg_temp.xp('//cac:PaymentMeans/cbc:PaymentMeansCode/text()', ar.invoice_ubl(i.id)) AS means
  FROM ar.invoice i WHERE i.id IN (1, 2, 3, 4, 11) ORDER BY i.id;

-- 9. A 3-decimal currency: amounts whole to 2 decimals are written with 2
SELECT total, pg_temp.xp('//cac:LegalMonetaryTotal/*/text()', ar.invoice_ubl(6)) AS totals,
       pg_temp.xp('//cac:InvoiceLine/cbc:LineExtensionAmount/text()', ar.invoice_ubl(6)) AS lines
  FROM ar.invoice WHERE id = 6;
-- ... and one with a third decimal can go by email, but has no UBL
INSERT INTO ar.invoice (id, entity_id, customer_id, currency, issue_date, buyer_reference)
VALUES (13, 1, 4, 'KWD', '2026-03-03', 'Ref 13');
INSERT INTO ar.invoice_line (invoice_id, line_no, item_name, quantity, unit_price) VALUES (13, 1, 'Valve', 3, 0.125);
SELECT ar.issue(13);
SELECT ar.invoice_ubl(13);
SELECT substr(payload, 1, 23) AS payload FROM ar.outbox WHERE invoice_id = 13;

-- 10. A credit note: CreditNote 381 with a reference to the credited invoice
SELECT ar.credit(3, 'Wrong hours') AS cn \gset
SELECT p AS path, pg_temp.xp(p, ar.invoice_ubl(:cn)) AS value
  FROM unnest(ARRAY[
	'name(/*)',
	'/c:CreditNote/cbc:CreditNoteTypeCode/text()',
	'//cac:BillingReference/cac:InvoiceDocumentReference/cbc:ID/text()',
	'//cac:BillingReference/cac:InvoiceDocumentReference/cbc:IssueDate/text()',
	'count(//cac:CreditNoteLine)',
	'//cac:CreditNoteLine/cbc:CreditedQuantity/text()',
	'count(//cac:PaymentMeans)',
	'//cac:PaymentTerms/cbc:Note/text()',
	'//cac:TaxSubtotal//cbc:TaxExemptionReasonCode/text()',
	'//cac:LegalMonetaryTotal/cbc:PayableAmount/text()']) p;
SELECT o.channel, o.kind, o.payload = ar.invoice_ubl(o.invoice_id)::text AS same_as_rendered,
       pg_temp.xp('/c:CreditNote/cbc:ID/text()', ar.invoice_ubl(:cn)) = i.number AS numbered
  FROM ar.outbox o JOIN ar.invoice i ON i.id = o.invoice_id WHERE o.invoice_id = :cn;

-- an IBAN is written without any of the white space ar.iban_valid ignores
UPDATE ar.entity SET iban = E'SE45\t5000\x0b0000 0583\f9825 7466' WHERE id = 1;
SELECT pg_temp.xp('//cac:PayeeFinancialAccount/cbc:ID/text()', ar.invoice_ubl(1)) AS iban;
UPDATE ar.entity SET iban = 'SE45 5000 0000 0583 9825 7466' WHERE id = 1;

-- 11. The readable rendering (the email and print payload)
SELECT ar.invoice_text(1);
SELECT payload FROM ar.outbox WHERE invoice_id = 5;

-- 12. VAT in the seller's currency (BT-6, BT-111): an invoice in EUR from a
-- seller who accounts in SEK states its VAT in SEK too, at the rate of its
-- issue date: 250.00 EUR x 11.1111 = 2777.775, rounded once to 2777.78 SEK
INSERT INTO ar.fx_rate (from_currency, to_currency, valid_on, rate) VALUES ('EUR', 'SEK', '2026-03-01', 11.1111);
INSERT INTO ar.invoice (id, entity_id, customer_id, currency, issue_date, buyer_reference)
VALUES (40, 1, 1, 'EUR', '2026-03-10', 'PO-EUR');
INSERT INTO ar.invoice_line (invoice_id, line_no, item_name, quantity, unit_price, vat_category, vat_rate)
VALUES (40, 1, 'Konsulttimme', 3, 333.33, 'S', 25);
SELECT ar.issue(40);
SELECT tax_total, tax_currency_rate, tax_total_accounting FROM ar.invoice WHERE id = 40;
-- the rate it took, looked up by ar.fx_rate_on; no rate is an error, or NULL with missing_ok
SELECT ar.fx_rate_on('eur', 'sek', '2026-03-10') AS rate,
       ar.fx_rate_on('EUR', 'NOK', '2025-12-31', missing_ok => true) AS none_before_2026;
SELECT ar.fx_rate_on('EUR', 'NOK', '2025-12-31');
SELECT p AS path, pg_temp.xp(p, ar.invoice_ubl(40)) AS value
  FROM unnest(ARRAY[
	'/i:Invoice/cbc:DocumentCurrencyCode/text()',
	'/i:Invoice/cbc:TaxCurrencyCode/text()',
	'count(/i:Invoice/cac:TaxTotal)',
	'/i:Invoice/cac:TaxTotal[1]/cbc:TaxAmount/text()',
	'/i:Invoice/cac:TaxTotal[1]/cbc:TaxAmount/@currencyID',
	'count(/i:Invoice/cac:TaxTotal[2]/*)',
	'/i:Invoice/cac:TaxTotal[2]/cbc:TaxAmount/text()',
	'/i:Invoice/cac:TaxTotal[2]/cbc:TaxAmount/@currencyID']) p;
SELECT line FROM regexp_split_to_table(ar.invoice_text(40), E'\n') line WHERE line ~ '^(Total|VAT)';
-- a SEK invoice has neither
SELECT tax_currency_rate, tax_total_accounting, pg_temp.xp('count(//cbc:TaxCurrencyCode)', ar.invoice_ubl(1)) AS bt6
  FROM ar.invoice WHERE id = 1;
-- issued, they are as immutable as the other amounts
UPDATE ar.invoice SET tax_total_accounting = '2777.77 SEK' WHERE id = 40;
UPDATE ar.invoice SET tax_currency_rate = 11.2 WHERE id = 40;
-- a credit note converts at the rate of the invoice it credits, whatever
-- the rate of its own date: 25.00 EUR x 11.1111 = 277.7775 -> 277.78 SEK
INSERT INTO ar.fx_rate (from_currency, to_currency, valid_on, rate) VALUES ('EUR', 'SEK', '2026-03-11', 12.5);
SELECT ar.credit(40, 'One hour less', '125.00 EUR') AS cn40 \gset
SELECT kind, tax_total, tax_currency_rate, tax_total_accounting FROM ar.invoice WHERE id = :cn40;
SELECT pg_temp.xp('/c:CreditNote/cac:TaxTotal[2]/cbc:TaxAmount/text()', ar.invoice_ubl(:cn40)) AS cn_vat_in_sek;

-- 13. Danish FIK: a DKK invoice of an entity with a FIK creditor number is
-- payable by FIK, payment means 93 with "71#" and the payment id, and the
-- creditor number as the account (DK-R-010, DK-R-011); the text shows the
-- code line of the payment slip.  The creditor number is 8 digits, the
-- first 8, and only for an entity whose references are FIK payment ids.
\set VERBOSITY terse
INSERT INTO ar.entity (id, code, name, country, vat_id, company_id, currency, city,
                       peppol_scheme, peppol_id, reference_scheme, fik_creditor)
VALUES (3, 'DK1', 'Havn ApS', 'DK', 'DK13585628', '13585628', 'DKK', 'København',
        '0184', 'DK13585628', 'fik', '71234567');
INSERT INTO ar.entity (id, code, name, country, currency, reference_scheme, fik_creditor)
VALUES (3, 'DK1', 'Havn ApS', 'DK', 'DKK', 'ocr', '81234567');
\set VERBOSITY default
INSERT INTO ar.entity (id, code, name, country, vat_id, company_id, currency, city,
                       peppol_scheme, peppol_id, reference_scheme, fik_creditor)
VALUES (3, 'DK1', 'Havn ApS', 'DK', 'DK13585628', '13585628', 'DKK', 'København',
        '0184', 'DK13585628', 'fik', '81234567');
INSERT INTO ar.series (entity_id, code, kind, pattern) VALUES (3, 'F', 'invoice', 'F{N}');
INSERT INTO ar.customer (id, entity_id, customer_no, name, country, vat_id, company_id, city,
                         peppol_scheme, peppol_id, channel, currency)
VALUES (7, 3, 'D1', 'Købmand Jørgensen A/S', 'DK', 'DK29403473', '29403473', 'Aarhus',
        '0184', '29403473', 'peppol', 'DKK');
INSERT INTO ar.invoice (id, entity_id, customer_id, currency, issue_date, buyer_reference)
VALUES (50, 3, 7, 'DKK', '2026-03-10', 'Indkøb 7');
INSERT INTO ar.invoice_line (invoice_id, line_no, item_name, quantity, unit_price, vat_category, vat_rate)
VALUES (50, 1, 'Reb', 4, 125, 'S', 25);
-- no IBAN is needed: FIK is where to pay
SELECT ar.issue(50);
SELECT number, payment_reference FROM ar.invoice WHERE id = 50;
SELECT pg_temp.xp('count(//cac:PaymentMeans)', d) AS means,
       pg_temp.xp('//cac:PaymentMeans/cbc:PaymentMeansCode/text()', d) AS code,
       pg_temp.xp('//cac:PaymentMeans/cbc:PaymentID/text()', d) AS payment_id,
       pg_temp.xp('//cac:PaymentMeans/cac:PayeeFinancialAccount/cbc:ID/text()', d) AS account
  FROM (SELECT ar.invoice_ubl(50) AS d) x;
-- with an IBAN too, FIK stays the only means: the means of a document share
-- one code and one payment id (UBL-SR-44, UBL-SR-47); the text shows both
UPDATE ar.entity SET iban = 'DK50 0040 0440 1162 43', bic = 'DABADKKK' WHERE id = 3;
SELECT pg_temp.xp('//cac:PaymentMeans/cbc:PaymentMeansCode/text()', d) AS codes,
       pg_temp.xp('//cac:PaymentMeans/cbc:PaymentID/text()', d) AS payment_ids,
       pg_temp.xp('//cac:PaymentMeans/cac:PayeeFinancialAccount/cbc:ID/text()', d) AS accounts
  FROM (SELECT ar.invoice_ubl(50) AS d) x;
SELECT line FROM regexp_split_to_table(ar.invoice_text(50), E'\n') line
 WHERE line ~ '^(Reference|FIK|IBAN)';
-- the creditor number is the entity's: a scheme that is not FIK is refused while it is set
\set VERBOSITY terse
UPDATE ar.entity SET reference_scheme = 'rf' WHERE id = 3;
\set VERBOSITY default
-- a document in another currency pays by IBAN only
INSERT INTO ar.fx_rate (from_currency, to_currency, valid_on, rate) VALUES ('EUR', 'DKK', '2026-03-01', 7.46);
INSERT INTO ar.invoice (id, entity_id, customer_id, currency, issue_date, buyer_reference)
VALUES (51, 3, 7, 'EUR', '2026-03-10', 'Indkøb 8');
INSERT INTO ar.invoice_line (invoice_id, line_no, item_name, quantity, unit_price, vat_category, vat_rate)
VALUES (51, 1, 'Reb', 4, 16.75, 'S', 25);
SELECT ar.issue(51) IS NOT NULL AS issued;
SELECT pg_temp.xp('//cac:PaymentMeans/cbc:PaymentMeansCode/text()', ar.invoice_ubl(51)) AS codes,
       strpos(ar.invoice_text(51), 'FIK') AS fik_in_text;

-- 14. A Danish seller with a bankgiro invoicing a Danish buyer in SEK: the
-- means of a document share one code, and between Danish parties 30 is not
-- allowed (DK-R-005, UBL-SR-47): the IBAN alone, as 58.  With the bankgiro
-- alone, the account is missing.
INSERT INTO ar.fx_rate (from_currency, to_currency, valid_on, rate) VALUES ('SEK', 'DKK', '2026-03-01', 0.6891);
UPDATE ar.entity SET bankgiro = '5050-1055' WHERE id = 3;
INSERT INTO ar.invoice (id, entity_id, customer_id, currency, issue_date, buyer_reference)
VALUES (52, 3, 7, 'SEK', '2026-03-10', 'Indkøb 9'), (53, 3, 7, 'SEK', '2026-03-10', 'Indkøb 10');
INSERT INTO ar.invoice_line (invoice_id, line_no, item_name, quantity, unit_price, vat_category, vat_rate)
VALUES (52, 1, 'Kaffe', 10, 89.95, 'S', 25), (53, 1, 'Kaffe', 1, 89.95, 'S', 25);
SELECT ar.issue(52) IS NOT NULL AS issued;
SELECT pg_temp.xp('//cac:PaymentMeans/cbc:PaymentMeansCode/text()', d) AS codes,
       pg_temp.xp('//cac:PaymentMeans/cac:PayeeFinancialAccount/cbc:ID/text()', d) AS accounts
  FROM (SELECT ar.invoice_ubl(52) AS d) x;
UPDATE ar.entity SET iban = NULL, bic = NULL WHERE id = 3;
SELECT sqlstate, field, problem, detail FROM ar.ubl_problems(53) WHERE field LIKE '%.iban';

-- 15. What the official rules cannot check is refused before a number is
-- given: a VAT accounting currency outside the EN 16931 list (BT-6, here
-- STN), a standard rate below 0.5 % (read as no rate), and net amounts of
-- 10^15 units or more (computed in double precision).
INSERT INTO ar.entity (id, code, name, country, vat_id, company_id, currency, city, iban,
                       peppol_scheme, peppol_id)
VALUES (5, 'ST1', 'Cacau Lda', 'ST', 'ST123456789', '123456789', 'STN', 'São Tomé',
        'DE89 3704 0044 0532 0130 00', '0088', '7300010000001');
INSERT INTO ar.series (entity_id, code, kind, pattern) VALUES (5, 'F', 'invoice', 'S{N}');
INSERT INTO ar.customer (id, entity_id, customer_no, name, country, vat_id, city,
                         peppol_scheme, peppol_id, channel, currency)
VALUES (8, 5, 'P1', 'Loja Lda', 'PT', 'PT501964843', 'Lisboa', '9946', 'PT501964843', 'peppol', 'EUR');
INSERT INTO ar.fx_rate (from_currency, to_currency, valid_on, rate) VALUES ('EUR', 'STN', '2026-03-01', 24.5);
INSERT INTO ar.invoice (id, entity_id, customer_id, currency, issue_date, buyer_reference) VALUES
	(60, 5, 8, 'EUR', '2026-03-10', 'R60'), (61, 3, 7, 'DKK', '2026-03-10', 'R61'),
	(62, 3, 7, 'DKK', '2026-03-10', 'R62');
INSERT INTO ar.invoice_line (invoice_id, line_no, item_name, quantity, unit_price, vat_category, vat_rate) VALUES
	(60, 1, 'Cacau', 10, 12.5, 'S', 15),
	(61, 1, 'Reb', 1, 1000, 'S', 0.4),
	(62, 1, 'Skib', 1, 999999999999999.99, 'S', 25),
	(62, 2, 'Skib', 1, 0.01, 'S', 25);
SELECT sqlstate, field, problem FROM ar.ubl_problems(60) WHERE field LIKE '%.currency';
SELECT sqlstate, field, problem, detail FROM ar.ubl_problems(61) WHERE field LIKE '%.vat_rate';
SELECT sqlstate, field, problem FROM ar.ubl_problems(62) WHERE field LIKE '%.net_amount';
\set VERBOSITY terse
SELECT ar.issue(60);
\set VERBOSITY default
SELECT status, number FROM ar.invoice WHERE id = 60;
-- one cent less is still sent
DELETE FROM ar.invoice_line WHERE invoice_id = 62 AND line_no = 2;
SELECT count(*) AS problems FROM ar.ubl_problems(62);

-- 16. VAT is the exact product rounded once: 10000000000063.71 x 12.345 %
-- is 1234500000007.8649995, so .86 (dividing by 100 rounded the quotient
-- to 16 digits first, .86500, and then to .87)
INSERT INTO ar.customer (id, entity_id, customer_no, name, country, currency, channel)
VALUES (9, 3, 'D9', 'Rederi A/S', 'DK', 'DKK', 'email');
INSERT INTO ar.invoice (id, entity_id, customer_id, currency, issue_date) VALUES (63, 3, 9, 'DKK', '2026-03-10');
INSERT INTO ar.invoice_line (invoice_id, line_no, item_name, quantity, unit_price, vat_category, vat_rate)
VALUES (63, 1, 'Skib', 1, 10000000000063.71, 'S', 12.345);
SELECT ar.issue(63) IS NOT NULL AS issued;
SELECT taxable_amount, tax_amount FROM ar.invoice_tax WHERE invoice_id = 63;
