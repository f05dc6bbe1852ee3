-- test/refs.sql: payment references and IBAN (CONTRACT.md §2), with every
-- test vector of DOMAIN.md §1.  reference_valid() answers false for anything
-- that is not a valid reference of the scheme; payment_reference() raises
-- 22023 for a base it cannot build a reference from; an unknown scheme is an
-- error (22023) for both.
SET search_path = public, ar;
BEGIN;
SELECT plan(119);

-- 1.1 Swedish OCR (Luhn), OCR with length digit --------------------------------------------
SELECT is(ar.payment_reference('ocr', '12345'), '123455', 'OCR 12345 -> 123455');
SELECT is(ar.payment_reference('ocr_len', '12345'), '1234574', 'OCR+length 12345 -> 1234574 (length 7)');
SELECT is(ar.payment_reference('ocr_len', '1234567890'), '123456789023', 'OCR+length 1234567890 -> 123456789023 (length 12 -> 2)');
SELECT is(ar.reference_valid('ocr', '123455'), true, 'OCR 123455 is valid');
SELECT is(ar.reference_valid('ocr_len', '1234574'), true, 'OCR+length 1234574 is valid');
SELECT is(ar.reference_valid('ocr_len', '123456789023'), true, 'OCR+length 123456789023 is valid');
SELECT is(ar.reference_valid('ocr', '665760'), true, 'BgMax sample ref 665760 is a valid OCR');
SELECT is(ar.reference_valid('ocr', '524967'), true, 'BgMax sample ref 524967 is a valid OCR');
SELECT is(ar.reference_valid('ocr', '8012577'), true, 'BgMax sample ref 8012577 is a valid OCR');
SELECT is(ar.reference_valid('ocr', '7495575'), true, 'BgMax sample ref 7495575 is a valid OCR');
SELECT is(ar.reference_valid('ocr', '74450'), true, 'BgMax sample ref 74450 is a valid OCR');
SELECT is(ar.reference_valid('ocr', '8988777'), false, 'BgMax sample ref 8988777 (reference code 5) is not a valid OCR');
SELECT is(ar.reference_valid('ocr', '123456'), false, 'OCR with a wrong check digit');
SELECT is(ar.reference_valid('ocr', '12 34 55'), true, 'OCR: blanks are ignored');
SELECT is(ar.reference_valid('ocr_len', '1234582'), false, 'OCR+length: right check digit, wrong length digit');
SELECT is(ar.reference_valid('ocr', '1234582'), true, '... which is a valid plain OCR');
SELECT is(ar.reference_valid('ocr_len', '1234575'), false, 'OCR+length with a wrong check digit');
SELECT is(ar.reference_valid('ocr', '12345A'), false, 'OCR with a letter is not valid');
SELECT is(ar.reference_valid('ocr', ''), false, 'empty OCR is not valid');
SELECT is(ar.reference_valid('ocr', '   '), false, 'blank OCR is not valid');
SELECT is(ar.reference_valid('ocr', '0'), false, 'a one-digit OCR is not valid');
SELECT is(ar.reference_valid('ocr', repeat('0', 25)), true, 'a 25-digit OCR can be valid');
SELECT is(ar.reference_valid('ocr', repeat('0', 26)), false, 'a 26-digit OCR (Luhn right) is too long');
SELECT is(ar.payment_reference('ocr', repeat('1', 24)), '1111111111111111111111114', 'OCR from a 24-digit base has 25 digits');
SELECT throws_ok($$SELECT ar.payment_reference('ocr', repeat('1', 25))$$, '22023',
	'invalid base "1111111111111111111111111" for payment reference scheme "ocr"', 'OCR from a 25-digit base is too long');
SELECT throws_ok($$SELECT ar.payment_reference('ocr_len', repeat('1', 24))$$, '22023',
	'invalid base "111111111111111111111111" for payment reference scheme "ocr_len"', 'OCR+length from a 24-digit base is too long');
SELECT throws_ok($$SELECT ar.payment_reference('ocr', '12A45')$$, '22023',
	'invalid base "12A45" for payment reference scheme "ocr"', 'OCR from a base with a letter');
SELECT throws_ok($$SELECT ar.payment_reference('ocr', '')$$, '22023',
	'invalid base "" for payment reference scheme "ocr"', 'OCR from an empty base');

-- Norwegian KID MOD10 ---------------------------------------------------------------------
SELECT is(ar.payment_reference('kid10', '1234'), '12344', 'KID10 1234 -> 12344');
SELECT is(ar.payment_reference('kid10', '2345678'), '23456783', 'KID10 2345678 -> 23456783');
SELECT is(ar.payment_reference('kid10', '60224'), '602243', 'KID10 60224 -> 602243');
SELECT is(ar.reference_valid('kid10', '12344'), true, 'KID10 12344 is valid');
SELECT is(ar.reference_valid('kid10', '23456783'), true, 'KID10 23456783 is valid');
SELECT is(ar.reference_valid('kid10', '602243'), true, 'KID10 602243 is valid');
SELECT is(ar.reference_valid('kid10', '602244'), false, 'KID10 with a wrong check digit');
SELECT is(ar.reference_valid('kid10', '6022A3'), false, 'KID10 with a letter');
SELECT is(ar.reference_valid('kid10', repeat('0', 26)), false, 'KID10 of 26 digits (Luhn right) is too long');
SELECT throws_ok($$SELECT ar.payment_reference('kid10', '60-224')$$, '22023',
	'invalid base "60-224" for payment reference scheme "kid10"', 'KID10 from a base with a hyphen');

-- 1.2 Norwegian KID MOD11 -------------------------------------------------------------------
SELECT is(ar.payment_reference('kid11', '1234'), '12343', 'KID11 1234 -> 12343');
SELECT is(ar.payment_reference('kid11', '2345678'), '23456788', 'KID11 2345678 -> 23456788');
SELECT is(ar.payment_reference('kid11', '12345678'), '123456785', 'KID11 12345678 -> 123456785');
SELECT is(ar.payment_reference('kid11', '6'), '6-', 'KID11 6 -> 6- (remainder 1)');
SELECT is(ar.payment_reference('kid11', '14'), '140', 'KID11 14 -> 140 (remainder 0)');
SELECT is(ar.reference_valid('kid11', '12343'), true, 'KID11 12343 is valid');
SELECT is(ar.reference_valid('kid11', '23456788'), true, 'KID11 23456788 is valid');
SELECT is(ar.reference_valid('kid11', '123456785'), true, 'KID11 123456785 is valid');
SELECT is(ar.reference_valid('kid11', '6-'), true, 'KID11 6- is valid');
SELECT is(ar.reference_valid('kid11', '140'), true, 'KID11 140 is valid');
SELECT is(ar.reference_valid('kid11', '60'), false, 'KID11 60 is not valid (check is -)');
SELECT is(ar.reference_valid('kid11', '14-'), false, 'KID11 14- is not valid (check is 0)');
SELECT is(ar.reference_valid('kid11', '123456784'), false, 'KID11 with a wrong check digit');
SELECT is(ar.reference_valid('kid11', '1-3'), false, 'KID11 with a hyphen inside');
SELECT is(ar.reference_valid('kid11', 'A-'), false, 'KID11 with a letter');

-- 1.3 Finnish reference ---------------------------------------------------------------------
SELECT is(ar.payment_reference('fi', '12345'), '123453', 'FI 12345 -> 123453');
SELECT is(ar.payment_reference('fi', '123456'), '1234561', 'FI 123456 -> 1234561');
SELECT is(ar.reference_valid('fi', '123453'), true, 'FI 123453 is valid');
SELECT is(ar.reference_valid('fi', '12 34561'), true, 'FI 12 34561 (printed in groups) is valid');
SELECT is(ar.reference_valid('fi', '123454'), false, 'FI with a wrong check digit');
SELECT is(ar.reference_valid('fi', '0123453'), false, 'FI with a leading zero');
SELECT is(ar.reference_valid('fi', '12A453'), false, 'FI with a letter');
SELECT is(ar.reference_valid('fi', '123'), false, 'FI of 3 digits is too short');
SELECT is(ar.reference_valid('fi', ar.payment_reference('fi', repeat('1', 19))), true, 'FI of 20 digits is valid');
SELECT is(ar.reference_valid('fi', repeat('1', 20) || '4'), false, 'FI of 21 digits (check digit right) is too long');
SELECT throws_ok($$SELECT ar.payment_reference('fi', '12')$$, '22023',
	'invalid base "12" for payment reference scheme "fi"', 'FI from a 2-digit base');
SELECT throws_ok($$SELECT ar.payment_reference('fi', '0123')$$, '22023',
	'invalid base "0123" for payment reference scheme "fi"', 'FI from a base with a leading zero');
SELECT throws_ok($$SELECT ar.payment_reference('fi', repeat('1', 20))$$, '22023',
	'invalid base "11111111111111111111" for payment reference scheme "fi"', 'FI from a 20-digit base');

-- 1.4 ISO 11649 RF -----------------------------------------------------------------------------
SELECT is(ar.reference_valid('rf', 'RF18 5390 0754 7034'), true, 'RF18 5390 0754 7034 is valid');
SELECT is(ar.reference_valid('rf', 'RF17 5390 0754 7034'), false, 'RF17 5390 0754 7034 is not valid');
SELECT is(ar.reference_valid('rf', 'RF45G72UUR'), true, 'RF45G72UUR is valid');
SELECT is(ar.reference_valid('rf', 'RF6518K5'), true, 'RF6518K5 is valid');
SELECT is(ar.reference_valid('rf', 'RF48 5000056789012345'), true, 'RF48 5000056789012345 is valid');
SELECT is(ar.reference_valid('rf', 'rf45g72uur'), true, 'RF in lower case is valid');
SELECT is(ar.payment_reference('rf', '123453'), 'RF81123453', 'Finnish ref 123453 -> RF81123453');
SELECT is(ar.payment_reference('rf', '1234561'), 'RF341234561', '1234561 -> RF341234561');
SELECT is(ar.payment_reference('rf', '5390 0754 7034'), 'RF18539007547034', '5390 0754 7034 -> RF18539007547034');
SELECT is(ar.payment_reference('rf', 'G72UUR'), 'RF45G72UUR', 'G72UUR -> RF45G72UUR');
SELECT is(ar.payment_reference('rf', '18K5'), 'RF6518K5', '18K5 -> RF6518K5');
SELECT is(ar.payment_reference('rf', '5000056789012345'), 'RF485000056789012345', '5000056789012345 -> RF485000056789012345');
SELECT is(ar.reference_valid('rf', 'RF81123453'), true, 'RF81123453 is valid');
SELECT is(ar.reference_valid('rf', 'RF341234561'), true, 'RF341234561 is valid');
SELECT is(ar.reference_valid('rf', 'RF18-5390-0754-7034'), false, 'RF with separators is not valid');
SELECT is(ar.reference_valid('rf', 'XX18539007547034'), false, 'RF without the RF prefix');
SELECT is(ar.reference_valid('rf', 'RF18'), false, 'RF without a reference part');
SELECT is(ar.reference_valid('rf', ''), false, 'empty RF');
SELECT is(ar.reference_valid('rf', ar.payment_reference('rf', repeat('1', 21))), true, 'RF of 25 characters is valid');
SELECT is(ar.reference_valid('rf', 'RF29' || repeat('1', 22)), false, 'RF of 26 characters (check digits right) is too long');
SELECT throws_ok($$SELECT ar.payment_reference('rf', repeat('1', 22))$$, '22023',
	'invalid base "1111111111111111111111" for payment reference scheme "rf"', 'RF from a 22-character base');
SELECT throws_ok($$SELECT ar.payment_reference('rf', 'AB-12')$$, '22023',
	'invalid base "AB-12" for payment reference scheme "rf"', 'RF from a base with a hyphen');

-- 1.5 Danish FIK ------------------------------------------------------------------------------
SELECT is(ar.payment_reference('fik', '1'), '000000000000018', 'FIK 1 -> 000000000000018');
SELECT is(ar.payment_reference('fik', '2'), '000000000000026', 'FIK 2 -> 000000000000026');
SELECT is(ar.reference_valid('fik', '026840149965328'), true, 'FIK 026840149965328 is valid');
SELECT is(ar.payment_reference('fik', '02684014996532'), '026840149965328', 'FIK 02684014996532 -> 026840149965328');
SELECT is(ar.payment_reference('fik', '00404040000066'), '004040400000669', 'FIK 00404040000066 -> check digit 9');
SELECT is(ar.reference_valid('fik', '004040400000669'), true, 'FIK 004040400000669 is valid');
SELECT is(ar.reference_valid('fik', '000000000000018'), true, 'FIK 000000000000018 is valid');
SELECT is(ar.reference_valid('fik', '026840149965329'), false, 'FIK with a wrong check digit');
SELECT is(ar.reference_valid('fik', '26840149965328'), false, 'FIK of 14 digits (Luhn right) is not valid');
SELECT is(ar.reference_valid('fik', '0026840149965328'), false, 'FIK of 16 digits (Luhn right) is not valid');
SELECT is(ar.reference_valid('fik', '02684014996532A'), false, 'FIK with a letter');
SELECT throws_ok($$SELECT ar.payment_reference('fik', repeat('1', 15))$$, '22023',
	'invalid base "111111111111111" for payment reference scheme "fik"', 'FIK from a 15-digit base');

-- every scheme validates what it builds ----------------------------------------------------------
SELECT is(ARRAY(SELECT s || ':' || b
				  FROM unnest(ARRAY['ocr', 'ocr_len', 'kid10', 'kid11', 'fi', 'rf', 'fik']) s,
					   generate_series(100, 2099) g, LATERAL (SELECT g::text) x(b)
				 WHERE NOT ar.reference_valid(s, ar.payment_reference(s, b))),
	'{}'::text[], 'reference_valid accepts payment_reference of bases 100 .. 2099 in every scheme');

-- unknown scheme ----------------------------------------------------------------------------------
SELECT throws_ok($$SELECT ar.reference_valid('xyz', '123')$$, '22023',
	'unknown payment reference scheme "xyz"', 'reference_valid with an unknown scheme');
SELECT throws_ok($$SELECT ar.payment_reference('xyz', '123')$$, '22023',
	'unknown payment reference scheme "xyz"', 'payment_reference with an unknown scheme');
SELECT throws_ok($$SELECT ar.payment_reference('', '123')$$, '22023',
	'unknown payment reference scheme ""', 'payment_reference with an empty scheme');

-- 1.6 IBAN ----------------------------------------------------------------------------------------
SELECT is(ar.iban_valid('GB82WEST12345698765432'), true, 'GB82WEST12345698765432 is valid');
SELECT is(ar.iban_valid('GB82TEST12345698765432'), false, 'GB82TEST12345698765432 is not valid');
SELECT is(ar.iban_valid('SE4550000000058398257466'), true, 'SE4550000000058398257466 is valid');
SELECT is(ar.iban_valid('NO9386011117947'), true, 'NO9386011117947 is valid');
SELECT is(ar.iban_valid('DK5000400440116243'), true, 'DK5000400440116243 is valid');
SELECT is(ar.iban_valid('FI2112345600000785'), true, 'FI2112345600000785 is valid');
SELECT is(ar.iban_valid('gb82 west 1234 5698 7654 32'), true, 'IBAN in lower case with blanks is valid');
SELECT is(ar.iban_valid('SE485000000005839825746'), false, 'SE IBAN of 23 characters (check digits right) is not valid');
SELECT is(ar.iban_valid('NO37860111179470'), false, 'NO IBAN of 16 characters (check digits right) is not valid');
SELECT is(ar.iban_valid('GB88WEST1234569876543'), false, 'GB IBAN of 21 characters (check digits right) is not valid');
SELECT is(ar.iban_valid('US8412345678901234'), false, 'a country without IBAN is not valid');
SELECT is(ar.iban_valid('SE4550000000058398257467'), false, 'SE IBAN with a wrong digit');
SELECT is(ar.iban_valid('GB82-WEST-1234-5698-7654-32'), false, 'IBAN with hyphens is not valid');
SELECT is(ar.iban_valid(''), false, 'empty IBAN is not valid');
SELECT is(ar.iban_valid('GB82'), false, 'a country and check digits alone are not valid');

SELECT * FROM finish();
ROLLBACK;
