--
-- Payment references and IBAN (DOMAIN.md §1 test vectors)
--
SET search_path = public, ar;
\set SHOW_CONTEXT never

-- Swedish OCR (Luhn), OCR with length digit, Norwegian KID MOD10
SELECT ar.payment_reference('ocr', '12345') AS ocr,
       ar.payment_reference('ocr_len', '12345') AS ocr_len,
       ar.payment_reference('ocr_len', '1234567890') AS ocr_len_12,
       ar.payment_reference('kid10', '1234') AS kid10_a,
       ar.payment_reference('kid10', '2345678') AS kid10_b,
       ar.payment_reference('kid10', '60224') AS kid10_c;
-- BgMax sample references are valid OCR; 8988777 is not
SELECT r, ar.reference_valid('ocr', r)
  FROM unnest(ARRAY['665760', '524967', '8012577', '7495575', '74450', '8988777']) r;
-- Norwegian KID MOD11, with '-' for check value 10 and 0 for 11
SELECT ar.payment_reference('kid11', '1234') AS a, ar.payment_reference('kid11', '2345678') AS b,
       ar.payment_reference('kid11', '12345678') AS c, ar.payment_reference('kid11', '6') AS d,
       ar.payment_reference('kid11', '14') AS e;
SELECT ar.reference_valid('kid11', '6-'), ar.reference_valid('kid11', '140'),
       ar.reference_valid('kid11', '123456785'), ar.reference_valid('kid11', '123456784'),
       ar.reference_valid('kid11', '1-3');
-- Finnish viite
SELECT ar.payment_reference('fi', '12345') AS a, ar.payment_reference('fi', '123456') AS b;
SELECT ar.reference_valid('fi', '12 34561'), ar.reference_valid('fi', '1234561'),
       ar.reference_valid('fi', '1234562'), ar.reference_valid('fi', '0123453'),
       ar.reference_valid('fi', '123');
-- ISO 11649 RF
SELECT ar.payment_reference('rf', '123453') AS a, ar.payment_reference('rf', '1234561') AS b,
       ar.payment_reference('rf', '539007547034') AS c, ar.payment_reference('rf', 'g72uur') AS d;
SELECT r, ar.reference_valid('rf', r)
  FROM unnest(ARRAY['RF18 5390 0754 7034', 'RF18539007547034', 'rf18539007547034',
                    'RF17 5390 0754 7034', 'RF45G72UUR', 'RF6518K5',
                    'RF48 5000056789012345', 'RF81123453', 'RF341234561',
                    'RF18', 'XX18539007547034', 'RF1853900754703412345678901']) r;
-- Danish FIK (+71): 15 digits, Luhn
SELECT ar.payment_reference('fik', '1') AS one, ar.payment_reference('fik', '2') AS two,
       ar.payment_reference('fik', '00404040000066') AS uniconta;
SELECT ar.reference_valid('fik', '026840149965328'), ar.reference_valid('fik', '026840149965327'),
       ar.reference_valid('fik', '26840149965328'), ar.reference_valid('fik', '000000000000018');
-- every generated reference validates under its own scheme
SELECT s, count(*) FILTER (WHERE ar.reference_valid(s, ar.payment_reference(s, g::text))) AS valid,
       count(*) AS total
  FROM unnest(ARRAY['ocr', 'ocr_len', 'kid10', 'kid11', 'fi', 'rf', 'fik']) s,
       generate_series(100, 5099) g
 GROUP BY s ORDER BY s;

-- bad input: wrong check digit, letters, too long, empty, unknown scheme
SELECT ar.reference_valid('ocr', '123454') AS wrong_check,
       ar.reference_valid('ocr', '12a455') AS letters,
       ar.reference_valid('ocr', '12345678901234567890123455') AS too_long,
       ar.reference_valid('ocr', '') AS empty,
       ar.reference_valid('ocr_len', '1234564') AS wrong_length_digit,
       ar.reference_valid('kid10', '1') AS too_short;
SELECT ar.payment_reference('ocr', '12a45');
SELECT ar.payment_reference('ocr', '');
SELECT ar.payment_reference('ocr', '1234567890123456789012345');
SELECT ar.payment_reference('ocr_len', '123456789012345678901234');
SELECT ar.payment_reference('fi', '12');
SELECT ar.payment_reference('fi', '01234');
SELECT ar.payment_reference('fi', '12345678901234567890');
SELECT ar.payment_reference('rf', 'ABC-1');
SELECT ar.payment_reference('rf', '1234567890123456789012');
SELECT ar.payment_reference('fik', '123456789012345');
SELECT ar.payment_reference('kid11', '12x');
SELECT ar.payment_reference('bogus', '123');
SELECT ar.reference_valid('bogus', '123');

-- IBAN
SELECT i, ar.iban_valid(i)
  FROM unnest(ARRAY['GB82WEST12345698765432', 'GB82 WEST 1234 5698 7654 32',
                    'gb82west12345698765432', 'GB82TEST12345698765432',
                    'SE4550000000058398257466', 'NO9386011117947', 'DK5000400440116243',
                    'FI2112345600000785', 'SE45500000000583982574660', 'NO938601111794',
                    'XX82WEST12345698765432', 'GB82WEST1234569876543!', '', 'GB']) i;
