#!/usr/bin/env bash
# test/t/match_wait.sh: ar.match_payments that has to wait for another
# writer of allocations.  A run takes SHARE ROW EXCLUSIVE on ar.allocation,
# so a second run, or an ar.allocate, waits for the first to commit.  The
# waiting run must then read what the first committed: before, it read
# with its statement's snapshot, taken before the wait, and failed with
# "payments changed while ar.match_payments ran" (40001) every time.
#
# Part 1: session A runs the matcher and keeps its transaction open; B runs
# it meanwhile.  B waits, then succeeds and finds nothing left to do.
# Part 2: A allocates a payment by hand to invoice 4 and keeps its
# transaction open; B runs the matcher with another payment that names
# invoice 4 by reference.  B waits, then sees invoice 4 paid: the second
# payment is a double payment and stays unmatched, and the one A allocated
# is not counted again.
# Part 3: part 2 under REPEATABLE READ, where B's snapshot is older than
# A's commit: B fails with the serialization failure on the invoice A paid,
# and nothing of B's is written.
# Part 4: ar.allocate while a run's transaction is open, which then pays the
# invoice B allocates to: B waits for the run before it locks any row, so
# the two do not deadlock.
# Part 5: ar.set_aside of a payment that names an open invoice, in an open
# transaction: a run waits for it and then leaves the payment alone.
# Part 6: ar.set_aside while a run's transaction is open waits for the run
# (which would otherwise fail with 40001 on the payment it decided).
set -euo pipefail
source "$(dirname "$0")/common.bash"
DB=ar_match_wait

test_cluster match-wait
setup_books
# invoices 1..6 of 100..600 SEK (totals with VAT 125..750), references
# see refs below (OCR of the numbers INV-2026-000001..6)
sql >/dev/null <<'SQL' || fail "setup of the invoices failed"
INSERT INTO ar.invoice (id, entity_id, customer_id, currency, issue_date)
SELECT g, 1, g, 'SEK', '2026-11-02' FROM generate_series(1, 6) g;
INSERT INTO ar.invoice_line (invoice_id, line_no, item_name, quantity, unit_price, vat_rate)
SELECT g, 1, 'Konsult', 1, 100 * g, 25 FROM generate_series(1, 6) g;
SELECT count(*) FROM ar.issue(ARRAY[1, 2, 3, 4, 5, 6]::bigint[]);
SQL
refs=$(sql -c "SELECT string_agg(payment_reference, ' ' ORDER BY id) FROM ar.invoice")
[ "$refs" = "20260000011 20260000029 20260000037 20260000045 20260000052 20260000060" ] || fail "unexpected payment references: $refs"

# outcomes SQL: the rule=payments pairs of a run, in rule order
outcomes="SELECT coalesce(string_agg(rule || '=' || payments, ' ' ORDER BY rule), '') FROM ar.match_payments(1) WHERE payments > 0"

echo "part 1: a second run waits for the first"
sql >/dev/null <<'SQL' || fail "part 1: setup failed"
INSERT INTO ar.payment (entity_id, bank_ref, booking_date, amount, reference)
VALUES (1, 'W1', '2026-11-10', '125.00 SEK', '20260000011'), (1, 'W2', '2026-11-10', '250.00 SEK', '20260000029');
SQL
race part1 "BEGIN;
$outcomes;
SELECT 'a matched', pg_sleep(3);
COMMIT;" 'a matched' "$outcomes"
[ "$RACE_WAITED" = yes ] || fail "part 1: session B did not wait for session A's run"
say "ok: session B waited on a lock while session A's run was open"
grep -qx 'reference=2' "$TMP/part1.a" || { cat "$TMP/part1.a"; fail "part 1: session A did not match both payments"; }
[ "$RACE_B_RC" -eq 0 ] || { cat "$TMP/part1.b"; fail "part 1: the waiting run failed"; }
[ "$(cat "$TMP/part1.b")" = "" ] || { cat "$TMP/part1.b"; fail "part 1: the waiting run decided payments again"; }
state=$(sql -c "SELECT string_agg(bank_ref || ':' || status, ' ' ORDER BY id) FROM ar.payment")
[ "$state" = "W1:matched W2:matched" ] || fail "part 1: unexpected payments: $state"
n=$(sql -c "SELECT count(*) FROM ar.allocation")
[ "$n" = 2 ] || fail "part 1: $n allocations, not 2"
say "ok: the waiting run succeeded and found A's payments decided (2 allocations in all)"

# allocate_race PART INVOICE AMOUNT REFERENCE B_SQL: payments W<2k-1> (no
# reference) and W<2k> (the invoice's reference) of AMOUNT; session A
# allocates the first to INVOICE by hand and keeps its transaction open,
# session B runs B_SQL meanwhile and must wait.
allocate_race() {
	local part=$1 invoice=$2 amount=$3 ref=$4 b_sql=$5 k=${1#part}
	local w1="W$((2 * k - 1))" w2="W$((2 * k))"
	sql -c "INSERT INTO ar.payment (entity_id, bank_ref, booking_date, amount, reference)
	        VALUES (1, '$w1', '2026-11-11', '$amount SEK', NULL), (1, '$w2', '2026-11-11', '$amount SEK', '$ref')" \
		>/dev/null || fail "$part: setup failed"
	race "$part" "BEGIN;
SELECT ar.allocate((SELECT id FROM ar.payment WHERE bank_ref = '$w1'), $invoice);
SELECT 'a allocated $part', pg_sleep(3);
COMMIT;" "a allocated $part" "$b_sql"
	[ "$RACE_WAITED" = yes ] || fail "$part: session B did not wait for session A's allocation"
}

echo "part 2: a run waits for ar.allocate"
allocate_race part2 4 500.00 20260000045 "$outcomes"
[ "$RACE_B_RC" -eq 0 ] || { cat "$TMP/part2.b"; fail "part 2: the waiting run failed"; }
[ "$(cat "$TMP/part2.b")" = "unmatched=1" ] || { cat "$TMP/part2.b"; fail "part 2: unexpected outcomes"; }
state=$(sql -c "SELECT string_agg(bank_ref || ':' || status, ' ' ORDER BY id) FROM ar.payment WHERE bank_ref IN ('W3', 'W4')")
[ "$state" = "W3:matched W4:unmatched" ] || fail "part 2: unexpected payments: $state"
state=$(sql -c "SELECT status || ' ' || open_amount FROM ar.invoice WHERE id = 4")
[ "$state" = "paid 0.00 SEK" ] || fail "part 2: invoice 4 is $state"
say "ok: the waiting run saw invoice 4 paid by A: W4 (a double payment) stays unmatched, W3 is not counted"

echo "part 3: the same under REPEATABLE READ"
allocate_race part3 5 625.00 20260000052 "BEGIN ISOLATION LEVEL REPEATABLE READ; $outcomes; COMMIT"
# B read invoice 5 open and writes it: the row A updated since B's snapshot
[ "$(head -n 1 "$TMP/part3.b")" = 'ERROR:  could not serialize access due to concurrent update' ] \
	|| { cat "$TMP/part3.b"; fail "part 3: session B did not fail with a serialization failure"; }
state=$(sql -c "SELECT string_agg(bank_ref || ':' || status, ' ' ORDER BY id) FROM ar.payment WHERE bank_ref IN ('W5', 'W6')")
[ "$state" = "W5:matched W6:unmatched" ] || fail "part 3: unexpected payments: $state"
say "ok: under REPEATABLE READ the waiting run failed with a serialization failure and wrote nothing"

echo "part 4: ar.allocate waits for a run before it locks any row"
# A's run holds ar.allocation; B allocates to invoice 6 and waits; then A's
# transaction runs the matcher again and pays invoice 6 in part.  B took
# ar.allocation after its row locks once, and held invoice 6 while waiting
# for A, who then waited for B: a deadlock (40P01), one of them aborted.
sql -c "INSERT INTO ar.payment (entity_id, bank_ref, booking_date, amount)
        VALUES (1, 'W7', '2026-11-12', '100.00 SEK')" >/dev/null || fail "part 4: setup failed"
race part4 "BEGIN;
$outcomes;
SELECT 'a runs part4', pg_sleep(2);
INSERT INTO ar.payment (entity_id, bank_ref, booking_date, amount, reference)
VALUES (1, 'W8', '2026-11-12', '125.00 SEK', '20260000060');
$outcomes;
COMMIT;" "a runs part4" "SELECT ar.allocate((SELECT id FROM ar.payment WHERE bank_ref = 'W7'), 6)"
[ "$RACE_WAITED" = yes ] || fail "part 4: session B did not wait for session A's run"
grep -qx 'partial=1 unmatched=3' "$TMP/part4.a" || { cat "$TMP/part4.a"; fail "part 4: session A's second run did not pay invoice 6 in part"; }
[ "$RACE_B_RC" -eq 0 ] || { cat "$TMP/part4.b"; fail "part 4: the waiting ar.allocate failed"; }
state=$(sql -c "SELECT status || ' ' || open_amount FROM ar.invoice WHERE id = 6")
[ "$state" = "partially_paid 525.00 SEK" ] || fail "part 4: invoice 6 is $state"
say "ok: B waited for A's run without holding invoice 6; both paid it in part (750.00 - 125.00 - 100.00 open)"

echo "part 5: a run waits for ar.set_aside, and leaves the payment alone"
# W9 names invoice 3 by its reference; A sets it aside and keeps its
# transaction open, B's run waits for A and then does not apply W9
sql -c "INSERT INTO ar.payment (entity_id, bank_ref, booking_date, amount, reference)
        VALUES (1, 'W9', '2026-11-13', '375.00 SEK', '20260000037')" >/dev/null || fail "part 5: setup failed"
race part5 "BEGIN;
SELECT ar.set_aside((SELECT id FROM ar.payment WHERE bank_ref = 'W9'), 'paid back to the customer');
SELECT 'a set aside', pg_sleep(3);
COMMIT;" "a set aside" "$outcomes"
[ "$RACE_WAITED" = yes ] || fail "part 5: session B did not wait for session A's ar.set_aside"
[ "$RACE_B_RC" -eq 0 ] || { cat "$TMP/part5.b"; fail "part 5: the waiting run failed"; }
grep -q 'reference' "$TMP/part5.b" && { cat "$TMP/part5.b"; fail "part 5: the run applied a payment by reference"; }
state=$(sql -c "SELECT status || ' ' || unallocated || ' ' || set_aside_reason FROM ar.payment WHERE bank_ref = 'W9'")
[ "$state" = "set_aside 375.00 SEK paid back to the customer" ] || fail "part 5: W9 is $state"
state=$(sql -c "SELECT status || ' ' || open_amount FROM ar.invoice WHERE id = 3")
[ "$state" = "issued 375.00 SEK" ] || fail "part 5: invoice 3 is $state"
say "ok: B's run waited for A's ar.set_aside and left W9 aside (invoice 3 stays open)"

echo "part 6: ar.set_aside waits for a run, which cannot fail because of it"
# A's run is open with W10 decided (no reference: unmatched); B sets W10
# aside meanwhile and waits for A instead of changing W10 under the run
sql -c "INSERT INTO ar.payment (entity_id, bank_ref, booking_date, amount)
        VALUES (1, 'W10', '2026-11-13', '12.34 SEK')" >/dev/null || fail "part 6: setup failed"
race part6 "BEGIN;
$outcomes;
SELECT 'a runs part6', pg_sleep(3);
COMMIT;" "a runs part6" "SELECT ar.set_aside((SELECT id FROM ar.payment WHERE bank_ref = 'W10'), 'interest')"
[ "$RACE_WAITED" = yes ] || fail "part 6: session B did not wait for session A's run"
[ "$RACE_B_RC" -eq 0 ] || { cat "$TMP/part6.b"; fail "part 6: the waiting ar.set_aside failed"; }
grep -q '^ERROR' "$TMP/part6.a" && { cat "$TMP/part6.a"; fail "part 6: the run failed"; }
state=$(sql -c "SELECT status FROM ar.payment WHERE bank_ref = 'W10'")
[ "$state" = "set_aside" ] || fail "part 6: W10 is $state"
say "ok: ar.set_aside waited for the run and then set W10 aside"

out=$(sql -c "SELECT problem FROM ar.verify_audit()")
[ -z "$out" ] || fail "ar.verify_audit: $out"
say "ok: ar.verify_audit finds nothing"
