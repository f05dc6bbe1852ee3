#!/usr/bin/env bash
# test/t/ubl.sh: the e-invoices ar produces pass the official validation
# artefacts (../shared/einv/validate-ubl: OASIS UBL 2.1 XSD, CEN EN 16931 and
# OpenPeppol BIS Billing 3.0 schematron) with no errors.
#
# 1. A matrix of cases is issued in a throwaway cluster: each VAT category
#    (S, Z, E with its own VATEX code and with the standard reason, AE, K, G,
#    O), mixed rates, a credit note, JPY (no decimals), KWD (3 decimals,
#    amounts whole to 2), reverse charge to an EU customer, an
#    intra-community supply, an export, a customer without a VAT id, party
#    names with & < > " ' and å ä ö ø æ, 500 lines, a Norwegian seller, a
#    Danish seller and buyer (in DKK by FIK, and in SEK from a seller with a
#    bankgiro, which Danish parties may not use), a part credit of a KWD
#    invoice at 12 %, and an order delivered by an ERP (order reference
#    only).  The outbox payload of each (what a delivery agent
#    sends) is written to a file, checked to be byte-identical to a fresh
#    ar.invoice_ubl(), and all files go to one validate-ubl run, which must
#    pass every file with no error.
# 2. The official examples must still pass (Peppol examples with all rule
#    sets, the CEN examples with --no-peppol) and the negative examples must
#    fail with the rules they were made to break: this checks the validator
#    set-up.  One of our documents with its payable amount changed must fail
#    too, so a pass above means something.
#
# AR_VALIDATE_UBL overrides the validator (default ../shared/einv/validate-ubl
# next to the repository); AR_UBL_KEEP=DIR keeps the generated files in DIR.
set -uo pipefail
source "$(dirname "$0")/common.bash"

DB=ar_ubl
VALIDATE=${AR_VALIDATE_UBL:-$AR_ROOT/../shared/einv/validate-ubl}
ASSETS=$(dirname "$VALIDATE")/assets

[ -x "$VALIDATE" ] || fail "validator not found at $VALIDATE (set AR_VALIDATE_UBL)"
[ -d "$ASSETS/examples" ] || fail "official examples not found under $ASSETS/examples"

test_cluster ubl
make_db "$DB" || fail "cannot create database $DB"
OUT=${AR_UBL_KEEP:-$TMP/docs}
mkdir -p "$OUT" "$TMP/broken"

echo "part 1: issue the matrix of cases"
sql >/dev/null <<'SQL' || fail "the fixture failed"
-- sellers: Swedish (bankgiro and IBAN), Norwegian, Danish, and one whose
-- name needs escaping
INSERT INTO ar.entity (id, code, name, country, vat_id, company_id, currency, street, city,
                       postal_code, iban, bic, bankgiro, peppol_scheme, peppol_id, reference_scheme) VALUES
 (1, 'SE1', 'Nordvind AB', 'SE', 'SE556677889901', '556677-8899', 'SEK', 'Storgatan 1', 'Stockholm',
  '111 22', 'SE45 5000 0000 0583 9825 7466', 'ESSESESS', '5050-1055', '0007', '5566778899', 'ocr'),
 (2, 'NO1', 'Fjordkraft AS', 'NO', 'NO923609016MVA', '923609016', 'NOK', 'Bryggen 3', 'Bergen', '5003',
  'NO93 8601 1117 947', 'DNBANOKK', NULL, '0192', '923609016', 'kid10'),
 (3, 'DK1', 'Havn ApS', 'DK', 'DK13585628', '13585628', 'DKK', 'Havnegade 4', 'København K', '1058',
  'DK50 0040 0440 1162 43', 'DABADKKK', NULL, '0184', 'DK13585628', 'fik'),
 (4, 'SE4', 'Bröderna Ørn & Æsa <Åkeri> "Norr" ''Syd'' AB', 'SE', 'SE556036079301', '5560360793', 'SEK',
  'Ågatan 1 & 2', 'Umeå', '903 26', NULL, NULL, '5050-1055', '0007', '5560360793', 'ocr');
-- the Danish seller is paid by FIK too (its references are FIK payment ids),
-- and has a Swedish bankgiro
UPDATE ar.entity SET fik_creditor = '81234567', bankgiro = '5050-1055' WHERE id = 3;
INSERT INTO ar.series (entity_id, code, kind, pattern, reset)
SELECT e, v.code, v.kind, v.pattern, 'yearly' FROM generate_series(1, 4) e,
  (VALUES ('INV', 'invoice', 'INV-{YYYY}-{N:6}'), ('CN', 'credit_note', 'CN-{YYYY}-{N:5}')) v(code, kind, pattern);
-- buyers
INSERT INTO ar.customer (id, entity_id, customer_no, name, country, vat_id, company_id, street, city,
                         postal_code, email, peppol_scheme, peppol_id, channel, currency) VALUES
 (1, 1, 'C1', 'Kund & Söner AB', 'SE', 'SE559988776601', '5599887766', 'Kundvägen 2', 'Göteborg',
  '411 01', 'ap@kund.se', '0007', '5599887766', 'peppol', 'SEK'),
 (2, 1, 'C2', 'Föreningen Ærø', 'SE', NULL, NULL, 'Sjögatan 5', 'Malmö', '211 18',
  NULL, '0088', '7350053850019', 'peppol', 'SEK'),
 (3, 1, 'C3', 'Müller GmbH', 'DE', 'DE123456789', 'HRB 12345', 'Hauptstraße 5', 'Berlin', '10115',
  NULL, '9930', 'DE123456789', 'peppol', 'EUR'),
 (4, 1, 'C4', 'Acme Inc.', 'US', NULL, NULL, '1 Main St', 'Springfield', '12345',
  NULL, '0060', '123456789', 'peppol', 'USD'),
 (5, 1, 'C5', 'Hōkō KK', 'JP', NULL, NULL, '1-1 Marunouchi', 'Tokyo', '100-0005',
  NULL, '0088', '5790000435975', 'peppol', 'JPY'),
 (6, 1, 'C6', 'Gulf Trading', 'KW', NULL, NULL, 'Block 3', 'Kuwait City', '13001',
  NULL, '0088', '7300010000001', 'peppol', 'KWD'),
 (7, 2, 'N1', 'Nordlys AS', 'NO', 'NO974760673MVA', '974760673', 'Storgata 1', 'Tromsø', '9008',
  NULL, '0192', '974760673', 'peppol', 'NOK'),
 (8, 3, 'D1', 'Købmand Jørgensen A/S', 'DK', 'DK29403473', '29403473', 'Strøget 1', 'Aarhus C', '8000',
  NULL, '0184', '29403473', 'peppol', 'DKK'),
 (9, 4, 'Q1', 'Fröken Ågren & Søn <ÆØÅ> "Ölands" ''bästa''', 'SE', 'SE202100547101', '202100-5471',
  'Gränd <3> & "4"', 'Växjö', '352 30', 'ågren@example.se', '0007', '2021005471', 'peppol', 'SEK'),
 (10, 1, 'C10', 'Lager & Logistik AB', 'SE', 'SE559988776601', NULL, 'Hamnen 1', 'Luleå', '972 31',
  NULL, '0007', '5599887766', 'peppol', 'SEK');
UPDATE ar.customer SET auto_issue = true WHERE id = 10;

-- invoices in another currency than the seller's state their VAT in the
-- seller's currency too (BT-6, BT-111), at these rates
INSERT INTO ar.fx_rate (from_currency, to_currency, valid_on, rate)
SELECT f, t, '2026-01-01', r FROM (VALUES ('EUR', 'SEK', 11.2345), ('EUR', 'NOK', 11.7010), ('EUR', 'DKK', 7.4612),
	('USD', 'SEK', 10.4321), ('JPY', 'SEK', 0.0712), ('KWD', 'SEK', 34.1234), ('SEK', 'DKK', 0.6891)) v(f, t, r);
INSERT INTO ar.invoice (id, entity_id, customer_id, currency, issue_date, buyer_reference, order_reference)
SELECT v.id, c.entity_id, c.id, v.cur, '2026-03-02', v.bref, v.oref
  FROM (VALUES
	(101, 1, 'SEK', 'PO-101', NULL),        -- S, a description that needs escaping, a returned item
	(102, 2, 'SEK', 'Kassör Åsa', NULL),    -- Z; a customer without a VAT id (GLN endpoint)
	(103, 1, 'SEK', 'PO-103', 'ORD-9'),     -- E with its own VATEX code and text
	(104, 3, 'EUR', 'Einkauf 4711', NULL),  -- AE: reverse charge to an EU customer
	(105, 3, 'EUR', NULL, 'BESTELLUNG-77'), -- K: intra-community supply
	(106, 4, 'USD', 'PO 2026/55', NULL),    -- G: export
	(107, 2, 'SEK', 'Medlemsavgift', NULL), -- O: not subject to VAT
	(108, 1, 'SEK', 'PO-108', NULL),        -- mixed: S 25, 12, 6, Z and E
	(109, 5, 'JPY', 'PO-JP-1', NULL),       -- JPY, no decimals
	(110, 6, 'KWD', 'PO-KW-1', NULL),       -- KWD, 3 decimals
	(111, 1, 'SEK', 'PO-111', NULL),        -- 500 lines
	(112, 7, 'NOK', 'Innkjøp 42', NULL),    -- Norwegian seller and buyer
	(113, 8, 'DKK', 'Indkøb 7', NULL),      -- Danish seller and buyer
	(114, 1, 'SEK', 'PO-114', NULL),        -- credited below
	(115, 2, 'SEK', 'PO-115', NULL),        -- E with the standard reason
	(116, 9, 'SEK', 'Ref & <Åsa> "x" ''y''', NULL), -- names with & < > " ' and å ä ö ø æ
	(117, 8, 'SEK', 'Indkøb 8', NULL),      -- Danish parties in SEK, a seller with a bankgiro
	(118, 6, 'KWD', 'PO-KW-2', NULL)        -- KWD at 12 %, credited in part below
  ) v(id, cust, cur, bref, oref)
  JOIN ar.customer c ON c.id = v.cust;
SELECT setval(pg_get_serial_sequence('ar.invoice', 'id'), 1000);
INSERT INTO ar.invoice_line (invoice_id, line_no, item_name, description, quantity, unit_code, unit_price,
                             vat_category, vat_rate, vat_exemption_code, vat_exemption_reason) VALUES
 (101, 1, 'Konsulttimme', 'Rådgivning & <analys> "snabb"', 7.5, 'HUR', 1250, 'S', 25, NULL, NULL),
 (101, 2, 'Licens åäö ÅÄÖ', NULL, 1, 'C62', 4990.50, 'S', 25, NULL, NULL),
 (101, 3, 'Returnerad vara', NULL, -1, 'H87', 199, 'S', 25, NULL, NULL),
 (102, 1, 'Tidning', NULL, 12, 'C62', 45.90, 'Z', 0, NULL, NULL),
 (103, 1, 'Kurs i bokföring', 'Utbildning', 1, 'C62', 8000, 'E', 0, 'VATEX-EU-132-1I', 'Utbildning, ML 10 kap.'),
 (104, 1, 'Consulting', NULL, 10, 'HUR', 125.50, 'AE', 0, NULL, NULL),
 (105, 1, 'Steel beams', NULL, 4, 'TNE', 812.25, 'K', 0, NULL, NULL),
 (105, 2, 'Freight', NULL, 1, 'C62', 150, 'K', 0, 'VATEX-EU-IC', NULL),
 (106, 1, 'Sawmill blade', NULL, 3, 'H87', 1999.99, 'G', 0, NULL, NULL),
 (107, 1, 'Membership 2026', NULL, 1, 'ANN', 500, 'O', 0, NULL, NULL),
 (108, 1, 'Hammer', NULL, 2, 'H87', 149, 'S', 25, NULL, NULL),
 (108, 2, 'Smörgås', NULL, 3, 'C62', 45.50, 'S', 12, NULL, NULL),
 (108, 3, 'Bok', NULL, 1, 'C62', 299, 'S', 6, NULL, NULL),
 (108, 4, 'Tidning', NULL, 5, 'C62', 10.10, 'Z', 0, NULL, NULL),
 (108, 5, 'Hälsovård', NULL, 1, 'C62', 950, 'E', 0, 'VATEX-EU-132-1C', NULL),
 (108, 6, 'Hammer', NULL, 1, 'H87', 149, 'S', 25, NULL, NULL),
 (109, 1, 'Maintenance', NULL, 3, 'C62', 12345, 'S', 25, NULL, NULL),
 (109, 2, 'Cable', NULL, 7, 'MTR', 333, 'S', 25, NULL, NULL),
 (110, 1, 'Pump', NULL, 3, 'H87', 1.25, 'S', 25, NULL, NULL),
 (110, 2, 'Seal', NULL, 4, 'H87', 0.3, 'S', 25, NULL, NULL),
 (112, 1, 'Strøm', 'Desember', 1200, 'KWH', 1.2375, 'S', 25, NULL, NULL),
 (112, 2, 'Nettleie', NULL, 1, 'MON', 399, 'S', 25, NULL, NULL),
 (113, 1, 'Kaffe', NULL, 10, 'KGM', 89.95, 'S', 25, NULL, NULL),
 (114, 1, 'Widget', NULL, 3, 'H87', 100, 'S', 25, NULL, NULL),
 (114, 2, 'Bok', NULL, 2, 'C62', 250, 'S', 6, NULL, NULL),
 (115, 1, 'Sjukvård', NULL, 1, 'C62', 1200, 'E', 0, NULL, NULL),
 (116, 1, 'Åkning & <frakt> "express" ''nu''', 'Øl, æbler & smörgåsar', 2, 'H87', 350, 'S', 25, NULL, NULL),
 (117, 1, 'Kaffe', NULL, 10, 'KGM', 89.95, 'S', 25, NULL, NULL),
 (118, 1, 'Pump', NULL, 1, 'H87', 10, 'S', 12, NULL, NULL);
INSERT INTO ar.invoice_line (invoice_id, line_no, item_name, quantity, unit_code, unit_price, vat_category, vat_rate)
SELECT 111, g, 'Artikel ' || g || (ARRAY[' ø', ' æ', ' å', ' &', ' <'])[1 + g % 5], 1 + g % 7, 'H87',
       round((g * 3.17) % 500 + 0.5, 2), 'S', (ARRAY[25, 12, 6])[1 + g % 3]
  FROM generate_series(1, 500) g;
SELECT count(*) FROM ar.issue(ARRAY(SELECT id FROM ar.invoice WHERE status = 'draft' ORDER BY id));
SELECT ar.credit(114, 'Returned goods');
-- a part of the mixed-rate invoice: one line per VAT category and rate
SELECT ar.credit(108, 'Goodwill', '500.00 SEK');
-- a part of a KWD invoice at 12 %: the net is searched in steps of 0.010,
-- as the smallest net in fils (0.875) would not go by Peppol
SELECT ar.credit(118, 'Goodwill', '0.980 KWD');
-- the ERP path: a delivered order of an auto-issue customer (an order reference only)
INSERT INTO ar.sales_order (entity_id, customer_id, order_no, currency) VALUES (1, 10, 'SO-1', 'SEK');
INSERT INTO ar.sales_order_line (order_id, line_no, item_name, quantity, unit_price)
SELECT id, 1, 'Pall', 2, 350 FROM ar.sales_order WHERE order_no = 'SO-1';
UPDATE ar.sales_order SET status = 'delivered' WHERE order_no = 'SO-1';
SQL

# name of each case's file, by invoice id (the credit note and the order's
# invoice are found by what they refer to)
CASES_SQL="
SELECT c.name, o.invoice_id
  FROM (VALUES (101, 's-standard-rate'), (102, 'z-zero-rated-buyer-without-vat-id'),
               (103, 'e-exempt-own-vatex-code'), (115, 'e-exempt-standard-reason'),
               (104, 'ae-reverse-charge-eu-customer'), (105, 'k-intra-community-supply'),
               (106, 'g-export'), (107, 'o-not-subject-to-vat'), (108, 'mixed-rates'),
               (109, 'jpy-no-decimals'), (110, 'kwd-three-decimal-currency'), (111, '500-lines'),
               (112, 'norwegian-seller'), (113, 'danish-seller-and-buyer'),
               (116, 'names-with-special-characters'), (117, 'danish-parties-in-sek')) c(id, name)
  JOIN ar.outbox o ON o.invoice_id = c.id
UNION ALL
SELECT CASE i.credited_invoice_id WHEN 108 THEN 'credit-note-part-mixed-rates'
                                  WHEN 118 THEN 'credit-note-part-kwd' ELSE 'credit-note' END,
       o.invoice_id
  FROM ar.outbox o JOIN ar.invoice i ON i.id = o.invoice_id
 WHERE i.kind = 'credit_note'
UNION ALL
SELECT 'order-reference-only', o.invoice_id FROM ar.outbox o
  JOIN ar.sales_order s ON s.invoice_id = o.invoice_id
 ORDER BY 1"

# every Peppol document was queued with its UBL, byte-identical to a fresh rendering
bad=$(sql -c "SELECT o.invoice_id FROM ar.outbox o
               WHERE o.channel <> 'peppol' OR o.payload IS NULL
                  OR o.payload IS DISTINCT FROM ar.invoice_ubl(o.invoice_id)::text") \
	|| fail "comparing the outbox with ar.invoice_ubl failed"
[ -z "$bad" ] || fail "outbox payloads that are not the UBL of their document: $bad"
n_cases=0
while IFS='|' read -r name id; do
	sql -c "SELECT translate(encode(convert_to(payload, 'UTF8'), 'base64'), E'\n', '')
			  FROM ar.outbox WHERE invoice_id = $id" | base64 -d >"$OUT/$name.xml" \
		|| fail "cannot write $name.xml"
	n_cases=$((n_cases + 1))
done < <(sql -F '|' -c "$CASES_SQL")
[ "$n_cases" -eq 20 ] || fail "expected 20 cases, wrote $n_cases"
got=$(sql -c "SELECT l.unit_price || ' ' || i.total FROM ar.invoice i JOIN ar.invoice_line l ON l.invoice_id = i.id
              WHERE i.credited_invoice_id = 118")
[ "$got" = "0.880 0.990 KWD" ] || fail "the KWD part credit is '$got', not a 0.880 net and 0.990 KWD in all"
grep -q '<cbc:Name>Bröderna Ørn &amp; Æsa &lt;Åkeri&gt; &quot;Norr&quot; '"'"'Syd'"'"' AB</cbc:Name>' \
	"$OUT/names-with-special-characters.xml" || fail "the seller's name is not escaped as expected"
[ "$(grep -o '<cac:InvoiceLine>' "$OUT/500-lines.xml" | wc -l)" -eq 500 ] || fail "500-lines.xml has not 500 lines"
[ "$(grep -o '<cbc:PaymentMeansCode>[0-9]*' "$OUT/danish-parties-in-sek.xml" | sort -u)" = '<cbc:PaymentMeansCode>58' ] \
	|| fail "danish-parties-in-sek.xml pays by other means than the IBAN (58)"
say "ok: $n_cases outbox payloads written, each byte-identical to ar.invoice_ubl()"
# BT-6 and BT-111: the JPY invoice of a seller who accounts in SEK states its
# VAT in SEK too, at the issue date's rate: 9842 JPY x 0.0712 = 700.7504, so 700.75
# SEK; a SEK invoice does not
want=$(sql -c "SELECT ar.value_of(tax_total_accounting) || ' ' || tax_currency_rate FROM ar.invoice WHERE id = 109")
[ "$want" = "700.75 0.0712" ] || fail "invoice 109: VAT in SEK and rate are '$want', want '700.75 0.0712'"
grep -q '<cbc:DocumentCurrencyCode>JPY</cbc:DocumentCurrencyCode><cbc:TaxCurrencyCode>SEK</cbc:TaxCurrencyCode>' \
	"$OUT/jpy-no-decimals.xml" || fail "jpy-no-decimals.xml has no TaxCurrencyCode SEK (BT-6)"
grep -q '</cac:TaxTotal><cac:TaxTotal><cbc:TaxAmount currencyID="SEK">700.75</cbc:TaxAmount></cac:TaxTotal>' \
	"$OUT/jpy-no-decimals.xml" || fail "jpy-no-decimals.xml has no VAT total in SEK (BT-111)"
grep -q 'TaxCurrencyCode' "$OUT/s-standard-rate.xml" && fail "a SEK invoice of a SEK seller has a TaxCurrencyCode"
say "ok: the JPY invoice of a SEK seller carries TaxCurrencyCode SEK and its VAT in SEK (700.75); a SEK one neither"
# FIK: the Danish invoice is payable by FIK (93, "71#" and its payment id,
# the creditor number as account), and by nothing else: the means of a
# document share one code (UBL-SR-47), so its IBAN (58) is left out
fik=$(sql -c "SELECT '71#' || payment_reference FROM ar.invoice WHERE id = 113")
[[ "$fik" =~ ^71#[0-9]{15}$ ]] || fail "invoice 113: FIK payment id is '$fik'"
grep -q "<cac:PaymentMeans><cbc:PaymentMeansCode>93</cbc:PaymentMeansCode><cbc:PaymentID>$fik</cbc:PaymentID><cac:PayeeFinancialAccount><cbc:ID>81234567</cbc:ID></cac:PayeeFinancialAccount></cac:PaymentMeans><cac:PaymentTerms>" \
	"$OUT/danish-seller-and-buyer.xml" || fail "danish-seller-and-buyer.xml has not FIK (93, $fik, 81234567) as its only payment means"
say "ok: the Danish invoice is payable by FIK (93, $fik, creditor 81234567) alone"

# run_validator LOG ARGS...: validate-ubl with ARGS, output to LOG; returns its status
run_validator() {
	local log=$1; shift
	"$VALIDATE" "$@" >"$log" 2>&1
}

echo "part 1: validate-ubl (XSD, EN 16931, Peppol) over the matrix and the official Peppol examples"
t0=$SECONDS
run_validator "$TMP/matrix.log" "$OUT"/*.xml "$ASSETS"/examples/peppol/*.xml
rc=$?
n_files=$(( n_cases + $(ls "$ASSETS"/examples/peppol/*.xml | wc -l) ))
if [ $rc -ne 0 ] || ! grep -qx "validate-ubl: $n_files passed, 0 failed" "$TMP/matrix.log"; then
	grep -E '^== FAIL|ERROR' -A1 "$TMP/matrix.log" | head -n 60
	tail -n 2 "$TMP/matrix.log"
	fail "validate-ubl did not pass all $n_files files (exit status $rc)"
fi
grep -E '^== PASS' "$TMP/matrix.log" | sed "s|$OUT/||; s|$ASSETS/||; s/^/  /"
say "ok: $(tail -n 2 "$TMP/matrix.log" | head -n 1) ($((SECONDS - t0)) s)"
grep -q 'WARN' "$TMP/matrix.log" && grep -B3 'WARN' "$TMP/matrix.log" | grep -E '^==|WARN' | sed 's/^/    warning: /'

echo "part 2: the validator set-up: CEN examples pass, negative examples fail with their rules"
run_validator "$TMP/cen.log" --no-peppol "$ASSETS"/examples/en16931/*.xml \
	|| { cat "$TMP/cen.log"; fail "the CEN examples do not pass --no-peppol"; }
say "ok: CEN examples: $(tail -n 1 "$TMP/cen.log")"

# break_copy CASE RULE SED-EXPR: a copy of our document CASE.xml, edited by
# SED-EXPR so that it breaks RULE, as $TMP/broken/ours-RULE.xml
break_copy() {
	sed "$3" "$OUT/$1.xml" >"$TMP/broken/ours-$2.xml"
	cmp -s "$OUT/$1.xml" "$TMP/broken/ours-$2.xml" && fail "could not break $1.xml for $2"
	OURS_BROKEN+=("$TMP/broken/ours-$2.xml")
}
OURS_BROKEN=()
# the payable amount no longer adds up
break_copy s-standard-rate BR-CO-16 \
	's|<cbc:PayableAmount currencyID="SEK">[^<]*</cbc:PayableAmount>|<cbc:PayableAmount currencyID="SEK">1.00</cbc:PayableAmount>|'
# the tax currency (BT-6) but not the VAT total in it (BT-111)
break_copy jpy-no-decimals BR-53 's|<cac:TaxTotal><cbc:TaxAmount currencyID="SEK">[^<]*</cbc:TaxAmount></cac:TaxTotal>||'
# a FIK creditor number of 7 digits, and a FIK payment id of 14
break_copy danish-seller-and-buyer DK-R-010 's|<cbc:ID>81234567</cbc:ID>|<cbc:ID>8123456</cbc:ID>|'
break_copy danish-seller-and-buyer DK-R-011 \
	's|<cbc:PaymentID>71#[0-9]\([0-9]\{14\}\)</cbc:PaymentID>|<cbc:PaymentID>71#\1</cbc:PaymentID>|'
run_validator "$TMP/broken.log" "$ASSETS"/examples/broken/*.xml "${OURS_BROKEN[@]}"
rc=$?
n_broken=$(( $(ls "$ASSETS"/examples/broken/*.xml | wc -l) + ${#OURS_BROKEN[@]} ))
[ $rc -eq 1 ] || { cat "$TMP/broken.log"; fail "validate-ubl exited $rc on the negative examples, want 1"; }
grep -qx "validate-ubl: 0 passed, $n_broken failed" "$TMP/broken.log" \
	|| { cat "$TMP/broken.log"; fail "not all $n_broken negative examples failed"; }
# each fails for the rule it breaks (assets/README.md, "Negative tests")
expect_rule() { # FILE-PATTERN RULE
	awk -v f="$1" -v r="[$2]" '
		/^== / { cur = index($0, f) > 0 }
		cur && index($0, "ERROR") && index($0, r) { found = 1 }
		END { exit !found }' "$TMP/broken.log" || { cat "$TMP/broken.log"; fail "$1 did not fail with $2"; }
}
expect_rule invoice-BR-CO-16-payable-amount.xml BR-CO-16
expect_rule invoice-PEPPOL-R003-R004.xml PEPPOL-EN16931-R003
expect_rule invoice-PEPPOL-R003-R004.xml PEPPOL-EN16931-R004
expect_rule creditnote-BR-CL-01-type-code.xml BR-CL-01
expect_rule creditnote-BR-CL-01-type-code.xml PEPPOL-EN16931-P0101
expect_rule invoice-xsd-unexpected-element.xml XSD
expect_rule ours-BR-CO-16.xml BR-CO-16
expect_rule ours-BR-53.xml BR-53
expect_rule ours-DK-R-010.xml DK-R-010
expect_rule ours-DK-R-011.xml DK-R-011
say "ok: all $n_broken negative examples fail, each with the rule it breaks (ours too: BR-CO-16, BR-53, DK-R-010, DK-R-011)"

echo "ubl: all checks passed"
