#!/usr/bin/env bash
# bench/ubl.sh: UBL with ar.invoice_ubl against the same documents built with
# PostgreSQL's SQL/XML functions (xmlelement, xmlattributes, xmlforest,
# xmlagg), in the same run.
#
# Data: one Swedish entity (bankgiro and IBAN), 100 Peppol customers and
# AR_BENCH_UBL_DOCS (100,000) invoices of 3 lines each (S 25, 12 and 6 %),
# issued (in batches of 1,000), vacuumed, analyzed and read into
# shared_buffers.  bench.ubl_sqlxml(ids) builds each document with SQL/XML,
# element for element and byte for byte what ar.invoice_ubl writes for these
# invoices.
#
# Timed, AR_BENCH_UBL_REPS (3) rounds, round-robin, best times compared
# (server times, bench.race in bench/lib.sql), over all the documents:
#   single: ar.invoice_ubl(id), called once per invoice;
#   set:    ar.invoice_ubl(bigint[]), all ids in one call (reads 1,000
#           documents per round of queries), called in the select list so
#           that its rows stream;
#   sqlxml: bench.ubl_sqlxml(ids).
# Each query returns the total size of the documents and the sum of their
# hashes: the three must agree, so the documents are the same bytes.
#
# Memory: a new session renders AR_BENCH_UBL_MEMDOCS (1,000,000) documents
# (the invoices again and again) with ar.invoice_ubl(id), then as many with
# the set-based form in one call, reading its own peak RSS (VmHWM in
# /proc/self/status) after the first pass over the invoices and after all of
# them.  The peak after the first pass includes the shared buffers the
# backend has touched; after that it must stay flat.
#
# Fails (exit 1) on any error, on results that disagree, or on documents
# that are not the same.  Goals: ar.invoice_ubl at least 2x the speed of the
# SQL/XML build (5x is the stretch goal), judged for the single and the
# set-based form; peak RSS flat (grows by less than 8 MB from 100,000 to
# 1,000,000 documents).  A miss is printed, not failed.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

DOCS=${AR_BENCH_UBL_DOCS:-100000}
REPS=${AR_BENCH_UBL_REPS:-3}
MEMDOCS=${AR_BENCH_UBL_MEMDOCS:-1000000}
DB=bench_ubl

bench_db "$DB"
sql() { bench_sql "$DB" "$@"; }

# -- data --------------------------------------------------------------------
start=$SECONDS
sql >/dev/null <<SQL || fail "the setup failed"
CREATE EXTENSION pg_prewarm;
INSERT INTO ar.entity (id, code, name, country, vat_id, company_id, currency, street, city,
                       postal_code, iban, bic, bankgiro, peppol_scheme, peppol_id, reference_scheme)
VALUES (1, 'SE1', 'Nordvind AB', 'SE', 'SE556677889901', '556677-8899', 'SEK', 'Storgatan 1',
        'Stockholm', '111 22', 'SE45 5000 0000 0583 9825 7466', 'ESSESESS', '5050-1055', '0007',
        '5566778899', 'ocr');
INSERT INTO ar.series (entity_id, code, kind, pattern, reset)
VALUES (1, 'INV', 'invoice', 'INV-{YYYY}-{N:7}', 'yearly');
INSERT INTO ar.customer (id, entity_id, customer_no, name, country, vat_id, company_id, street, city,
                         postal_code, email, peppol_scheme, peppol_id, channel, currency)
SELECT g, 1, 'C' || g, 'Kund ' || g || ' AB', 'SE', 'SE559988776601', '5599887766', 'Gatan ' || g,
       'Göteborg', '411 01', 'ap' || g || '@kund.se', '0007', '5599887766', 'peppol', 'SEK'
  FROM generate_series(1, 100) g;
INSERT INTO ar.invoice (entity_id, customer_id, currency, issue_date, buyer_reference)
SELECT 1, 1 + g % 100, 'SEK', current_date, 'PO-' || g FROM generate_series(1, $DOCS) g;
INSERT INTO ar.invoice_line (invoice_id, line_no, item_name, quantity, unit_code, unit_price, vat_category, vat_rate)
SELECT i.id, l, (ARRAY['Konsulttimme', 'Licens', 'Frakt'])[l], 1 + i.id % 5, 'H87',
       10.50 * l + i.id % 100, 'S', (ARRAY[25, 12, 6])[l]
  FROM ar.invoice i CROSS JOIN generate_series(1, 3) l;
SQL
made=$((SECONDS - start))
# ar.issue in batches of 1,000 (see README, issuing, for large batches)
sql >/dev/null <<'SQL' || fail "issuing failed"
SET ar.credit_check = off;
DO $$
DECLARE
	ids bigint[];
BEGIN
	LOOP
		ids := ARRAY(SELECT id FROM ar.invoice WHERE status = 'draft' ORDER BY id LIMIT 1000);
		EXIT WHEN cardinality(ids) = 0;
		PERFORM count(*) FROM ar.issue(ids);
	END LOOP;
END
$$;
SQL
n=$(sql -c "SELECT count(*) FROM ar.invoice WHERE status = 'issued'")
[ "$n" -eq "$DOCS" ] || fail "$n invoices issued, not $DOCS"
sql -c "VACUUM ANALYZE" >/dev/null
sql >/dev/null <<'SQL'
SELECT pg_prewarm(c.oid)
  FROM pg_class c
 WHERE c.relnamespace = 'ar'::regnamespace AND c.relkind IN ('r', 'i')
   AND c.relname IN ('invoice', 'invoice_pkey', 'invoice_line', 'invoice_line_pkey',
                     'invoice_tax', 'invoice_tax_pkey', 'entity', 'entity_pkey',
                     'customer', 'customer_pkey');
SQL
echo "data: $DOCS issued invoices with 3 lines each (drafts made in $made s," \
	"issued in $((SECONDS - start - made)) s, all in $((SECONDS - start)) s)"

# -- the SQL/XML baseline: the same document, element for element -------------
sql >/dev/null <<'SQL' || fail "cannot create bench.ubl_sqlxml"
CREATE FUNCTION bench.ubl_sqlxml(ids bigint[]) RETURNS TABLE (invoice_id bigint, ubl text)
LANGUAGE sql STABLE AS $f$
SELECT i.id,
 '<?xml version="1.0" encoding="UTF-8"?>' || E'\n' || xmlelement(name "Invoice",
   xmlattributes('urn:oasis:names:specification:ubl:schema:xsd:Invoice-2' AS xmlns,
                 'urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2' AS "xmlns:cac",
                 'urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2' AS "xmlns:cbc"),
   xmlelement(name "cbc:CustomizationID", 'urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0'),
   xmlelement(name "cbc:ProfileID", 'urn:fdc:peppol.eu:2017:poacc:billing:01:1.0'),
   xmlelement(name "cbc:ID", i.number),
   xmlelement(name "cbc:IssueDate", i.issue_date),
   xmlelement(name "cbc:DueDate", i.due_date),
   xmlelement(name "cbc:InvoiceTypeCode", '380'),
   xmlelement(name "cbc:DocumentCurrencyCode", i.currency),
   xmlforest(i.buyer_reference AS "cbc:BuyerReference"),
   CASE WHEN i.order_reference IS NOT NULL THEN
     xmlelement(name "cac:OrderReference", xmlelement(name "cbc:ID", i.order_reference)) END,
   xmlelement(name "cac:AccountingSupplierParty", xmlelement(name "cac:Party",
     xmlelement(name "cbc:EndpointID", xmlattributes(e.peppol_scheme AS "schemeID"), e.peppol_id),
     xmlelement(name "cac:PartyName", xmlelement(name "cbc:Name", e.name)),
     xmlelement(name "cac:PostalAddress",
       xmlforest(e.street AS "cbc:StreetName", e.city AS "cbc:CityName", e.postal_code AS "cbc:PostalZone"),
       xmlelement(name "cac:Country", xmlelement(name "cbc:IdentificationCode", e.country))),
     xmlelement(name "cac:PartyTaxScheme", xmlelement(name "cbc:CompanyID", e.vat_id),
       xmlelement(name "cac:TaxScheme", xmlelement(name "cbc:ID", 'VAT'))),
     xmlelement(name "cac:PartyLegalEntity", xmlelement(name "cbc:RegistrationName", e.name),
       xmlelement(name "cbc:CompanyID", xmlattributes('0007' AS "schemeID"),
                  translate(e.company_id, ' -.', ''))))),
   xmlelement(name "cac:AccountingCustomerParty", xmlelement(name "cac:Party",
     xmlelement(name "cbc:EndpointID", xmlattributes(c.peppol_scheme AS "schemeID"), c.peppol_id),
     xmlelement(name "cac:PartyName", xmlelement(name "cbc:Name", c.name)),
     xmlelement(name "cac:PostalAddress",
       xmlforest(c.street AS "cbc:StreetName", c.city AS "cbc:CityName", c.postal_code AS "cbc:PostalZone"),
       xmlelement(name "cac:Country", xmlelement(name "cbc:IdentificationCode", c.country))),
     xmlelement(name "cac:PartyTaxScheme", xmlelement(name "cbc:CompanyID", c.vat_id),
       xmlelement(name "cac:TaxScheme", xmlelement(name "cbc:ID", 'VAT'))),
     xmlelement(name "cac:PartyLegalEntity", xmlelement(name "cbc:RegistrationName", c.name),
       xmlelement(name "cbc:CompanyID", xmlattributes('0007' AS "schemeID"),
                  translate(c.company_id, ' -.', ''))),
     xmlelement(name "cac:Contact", xmlelement(name "cbc:ElectronicMail", c.email)))),
   xmlelement(name "cac:PaymentMeans", xmlelement(name "cbc:PaymentMeansCode", '30'),
     xmlelement(name "cbc:PaymentID", i.payment_reference),
     xmlelement(name "cac:PayeeFinancialAccount", xmlelement(name "cbc:ID", translate(e.bankgiro, ' -.', '')),
       xmlelement(name "cac:FinancialInstitutionBranch", xmlelement(name "cbc:ID", 'SE:BANKGIRO')))),
   xmlelement(name "cac:PaymentMeans", xmlelement(name "cbc:PaymentMeansCode", '30'),
     xmlelement(name "cbc:PaymentID", i.payment_reference),
     xmlelement(name "cac:PayeeFinancialAccount", xmlelement(name "cbc:ID", upper(replace(e.iban, ' ', ''))),
       xmlelement(name "cac:FinancialInstitutionBranch", xmlelement(name "cbc:ID", e.bic)))),
   xmlelement(name "cac:PaymentTerms", xmlelement(name "cbc:Note",
     'Payment within ' || (i.due_date - i.issue_date) || ' days, due ' || i.due_date)),
   xmlelement(name "cac:TaxTotal",
     xmlelement(name "cbc:TaxAmount", xmlattributes(i.currency AS "currencyID"), ar.value_of(i.tax_total)),
     (SELECT xmlagg(xmlelement(name "cac:TaxSubtotal",
         xmlelement(name "cbc:TaxableAmount", xmlattributes(i.currency AS "currencyID"), ar.value_of(t.taxable_amount)),
         xmlelement(name "cbc:TaxAmount", xmlattributes(i.currency AS "currencyID"), ar.value_of(t.tax_amount)),
         xmlelement(name "cac:TaxCategory", xmlelement(name "cbc:ID", t.vat_category),
           xmlelement(name "cbc:Percent", t.vat_rate),
           xmlelement(name "cac:TaxScheme", xmlelement(name "cbc:ID", 'VAT'))))
         ORDER BY t.vat_rate DESC)
        FROM ar.invoice_tax t WHERE t.invoice_id = i.id)),
   xmlelement(name "cac:LegalMonetaryTotal",
     xmlelement(name "cbc:LineExtensionAmount", xmlattributes(i.currency AS "currencyID"), ar.value_of(i.net_total)),
     xmlelement(name "cbc:TaxExclusiveAmount", xmlattributes(i.currency AS "currencyID"), ar.value_of(i.net_total)),
     xmlelement(name "cbc:TaxInclusiveAmount", xmlattributes(i.currency AS "currencyID"), ar.value_of(i.total)),
     xmlelement(name "cbc:PayableAmount", xmlattributes(i.currency AS "currencyID"), ar.value_of(i.total))),
   (SELECT xmlagg(xmlelement(name "cac:InvoiceLine",
      xmlelement(name "cbc:ID", l.line_no),
      xmlelement(name "cbc:InvoicedQuantity", xmlattributes(l.unit_code AS "unitCode"), l.quantity),
      xmlelement(name "cbc:LineExtensionAmount", xmlattributes(i.currency AS "currencyID"), ar.value_of(l.net_amount)),
      xmlelement(name "cac:Item", xmlforest(l.description AS "cbc:Description"),
        xmlelement(name "cbc:Name", l.item_name),
        xmlelement(name "cac:ClassifiedTaxCategory", xmlelement(name "cbc:ID", l.vat_category),
          xmlelement(name "cbc:Percent", l.vat_rate),
          xmlelement(name "cac:TaxScheme", xmlelement(name "cbc:ID", 'VAT')))),
      xmlelement(name "cac:Price", xmlelement(name "cbc:PriceAmount", xmlattributes(i.currency AS "currencyID"), l.unit_price)))
      ORDER BY l.line_no)
     FROM ar.invoice_line l WHERE l.invoice_id = i.id)
 )::text || E'\n'
  FROM ar.invoice i
  JOIN ar.entity e ON e.id = i.entity_id
  JOIN ar.customer c ON c.id = i.customer_id
 WHERE i.id = ANY (ids)
$f$;
SQL

# the same bytes: a sample compared document by document (all of them are
# compared by size and hash below)
diffs=$(sql -c "
	WITH ids AS (SELECT ARRAY(SELECT id FROM ar.invoice ORDER BY id LIMIT 2000) AS a)
	SELECT count(*) FILTER (WHERE u.ubl::text IS DISTINCT FROM s.ubl) || ' of ' || count(*)
	  FROM ids, ar.invoice_ubl(ids.a) u FULL JOIN bench.ubl_sqlxml((SELECT a FROM ids)) s USING (invoice_id)")
[ "$diffs" = "0 of 2000" ] || fail "ar.invoice_ubl and the SQL/XML build differ in $diffs documents"
size=$(sql -c "SELECT octet_length(ar.invoice_ubl(min(id))::text) FROM ar.invoice")
echo "documents: the SQL/XML build is byte-identical to ar.invoice_ubl on the first 2,000;" \
	"one is $size bytes"

# -- timings -----------------------------------------------------------------
ALL="ARRAY(SELECT i.id FROM ar.invoice i ORDER BY i.id)"
MEASURE="sum(octet_length(d)) || ' bytes, hash sum ' || sum(hashtext(d)::bigint)"
# (OFFSET 0 keeps the planner from pulling the document expression up into
# the two aggregates, which would build every document twice)
Q_SINGLE="SELECT $MEASURE FROM (SELECT ar.invoice_ubl(i.id)::text AS d FROM ar.invoice i OFFSET 0) s"
Q_SET="SELECT $MEASURE FROM (SELECT (r.r).ubl::text AS d FROM (SELECT ar.invoice_ubl($ALL) AS r) r OFFSET 0) s"
Q_SQLXML="SELECT $MEASURE FROM (SELECT x.ubl AS d FROM bench.ubl_sqlxml($ALL) x OFFSET 0) s"
echo "timing $REPS rounds of: ar.invoice_ubl(id) per invoice, ar.invoice_ubl(bigint[]), SQL/XML"
race=$(sql <<SQL
SELECT ord, round(best_ms::numeric, 1), round(median_ms::numeric, 1), result
  FROM bench.race(ARRAY[\$q\$$Q_SINGLE\$q\$, \$q\$$Q_SET\$q\$, \$q\$$Q_SQLXML\$q\$], $REPS, 0);
SQL
) || fail "the timings failed"
declare -A BEST MEDIAN RESULT
while IFS='|' read -r ord best median result; do
	BEST[$ord]=$best; MEDIAN[$ord]=$median; RESULT[$ord]=$result
done <<<"$race"
[ -n "${BEST[3]:-}" ] || fail "the timings gave: $race"
[ "${RESULT[1]}" = "${RESULT[3]}" ] && [ "${RESULT[2]}" = "${RESULT[3]}" ] \
	|| fail "the documents differ: single ${RESULT[1]}; set ${RESULT[2]}; SQL/XML ${RESULT[3]}"
echo "all three give the same documents: ${RESULT[1]}"

# -- memory ------------------------------------------------------------------
PASSES=$(( (MEMDOCS + DOCS - 1) / DOCS ))
mem=$(sql <<SQL
CREATE TEMP TABLE hwm (step text, kb bigint, anon_kb bigint);
CREATE FUNCTION pg_temp.mark(step text) RETURNS void LANGUAGE sql AS \$\$
	INSERT INTO hwm SELECT step,
		substring(pg_read_file('/proc/self/status') FROM 'VmHWM:\s*([0-9]+) kB')::bigint,
		substring(pg_read_file('/proc/self/status') FROM 'RssAnon:\s*([0-9]+) kB')::bigint
\$\$;
SELECT pg_temp.mark('start');
SELECT sum(octet_length(ar.invoice_ubl(i.id)::text)) FROM ar.invoice i;
SELECT pg_temp.mark('single, after $DOCS documents');
SELECT sum(octet_length(ar.invoice_ubl(i.id)::text)) FROM ar.invoice i, generate_series(2, $PASSES) p;
SELECT pg_temp.mark('single, after $((PASSES * DOCS)) documents');
SELECT sum(octet_length((s.r).ubl::text))
  FROM (SELECT ar.invoice_ubl(ARRAY(SELECT i.id FROM ar.invoice i, generate_series(1, $PASSES) p)) AS r) s;
SELECT pg_temp.mark('set, $((PASSES * DOCS)) more in one call (ids held)');
SELECT step || '|' || kb || '|' || anon_kb FROM hwm;
SQL
) || fail "the memory run failed"
mem=$(grep '|' <<<"$mem")

# -- report ------------------------------------------------------------------
docs_per_s() { awk -v n="$DOCS" -v ms="$1" 'BEGIN { printf "%.0f", n / ms * 1000 }'; }
speed_single=$(bench_ratio "${BEST[3]}" "${BEST[1]}")
speed_set=$(bench_ratio "${BEST[3]}" "${BEST[2]}")
echo
printf '%-40s %10s %10s %12s %12s\n' "$DOCS documents" "best ms" "median ms" "documents/s" "vs SQL/XML"
printf '%-40s %10s %10s %12s %11sx\n' "ar.invoice_ubl(id), one call each" "${BEST[1]}" "${MEDIAN[1]}" \
	"$(docs_per_s "${BEST[1]}")" "$speed_single"
printf '%-40s %10s %10s %12s %11sx\n' "ar.invoice_ubl(bigint[]), one call" "${BEST[2]}" "${MEDIAN[2]}" \
	"$(docs_per_s "${BEST[2]}")" "$speed_set"
printf '%-40s %10s %10s %12s %11s\n' "SQL/XML (xmlelement, xmlforest, xmlagg)" "${BEST[3]}" "${MEDIAN[3]}" \
	"$(docs_per_s "${BEST[3]}")" "1.00x"
echo
printf '%-48s %14s %14s\n' "backend memory (one session)" "peak RSS (MB)" "RssAnon (MB)"
while IFS='|' read -r step kb anon; do
	printf '%-48s %14s %14s\n' "$step" "$(awk -v k="$kb" 'BEGIN { printf "%.1f", k / 1024 }')" \
		"$(awk -v k="$anon" 'BEGIN { printf "%.1f", k / 1024 }')"
done <<<"$mem"
echo
first=$(sed -n 2p <<<"$mem" | cut -d'|' -f2)
last=$(sed -n 3p <<<"$mem" | cut -d'|' -f2)
growth=$(awk -v a="$first" -v b="$last" 'BEGIN { printf "%.1f", (b - a) / 1024 }')
goal_min "ar.invoice_ubl(id) at least 2x the speed of SQL/XML" "$speed_single" 2
goal_min "ar.invoice_ubl(bigint[]) at least 2x the speed of SQL/XML" "$speed_set" 2
goal_min "ar.invoice_ubl(id) at least 5x the speed of SQL/XML (stretch)" "$speed_single" 5
goal_min "ar.invoice_ubl(bigint[]) at least 5x the speed of SQL/XML (stretch)" "$speed_set" 5
bench_goal "ar.invoice_ubl(id): peak RSS grows by less than 8 MB from $DOCS to $((PASSES * DOCS)) documents (MB)" "$growth" 8 lt
