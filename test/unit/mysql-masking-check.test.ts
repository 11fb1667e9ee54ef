// The MySQL masking check and catalog on a small shop schema (test/support/mysql-mask-catalog.ts): what a masked
// session may run (and whether its results are masked), what it is refused with the column named, views, generated
// columns, triggers, labels, `predicates: refuse`, and the result-column lookup the gateway masks by.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { checkMysqlMasking, type MysqlMaskCheckOptions } from '../../src/inspect/mysql/masking.js';
import { buildMysqlMaskCatalog, mysqlMaskCatalogQueries, mysqlRuleMatches } from '../../src/inspect/mysql/mask-catalog.js';
import { SHOP_ROWS, shopCatalog, shopMasking } from '../support/mysql-mask-catalog.js';

const catalog = shopCatalog();
const opts: MysqlMaskCheckOptions = { predicates: 'allow', noBackslashEscapes: false };
const check = (sql: string, c = catalog, o = opts) => checkMysqlMasking(sql, c, o);

/** Allowed, and whether the result passes through the masker. */
const ALLOWED: [string, boolean][] = [
  ['SELECT email, c.email AS e, shop.c.email FROM customers c', true],
  ['SELECT `email` FROM `customers`', true],
  ['SELECT EMAIL FROM Customers', true],
  ['SELECT * FROM customers', true],
  ['SELECT c.* FROM customers c JOIN orders o ON o.cid = c.id', true],
  ['TABLE customers', true],
  ['SELECT name AS email FROM customers', true],
  ["SELECT email 'the mail' FROM customers", true],
  ['SELECT DISTINCT email FROM customers ORDER BY email DESC', true],
  ['SELECT email FROM customers GROUP BY email WITH ROLLUP', true],
  ['SELECT email, COUNT(*) FROM customers GROUP BY email HAVING COUNT(email) > 1', true],
  ['SELECT COUNT(email), COUNT(DISTINCT email), COUNT(*) FROM customers', true],
  ["SELECT id FROM customers WHERE email LIKE 'a%' ORDER BY email", true],
  ["SELECT id FROM customers WHERE email BETWEEN 'a' AND 'b' OR email IS NULL OR NOT email <=> 'x'", true],
  ["SELECT id FROM customers WHERE (email, id) IN (('a', 1)) AND email REGEXP '^a'", true],
  ["SELECT id FROM customers WHERE email = 'a' COLLATE utf8mb4_bin", true],
  ["SELECT id FROM customers WHERE email LIKE CONCAT('a', '%')", true],
  ['SELECT c.id FROM customers c JOIN orders o ON o.email = c.email', true],
  ['SELECT id FROM customers JOIN orders USING (email)', true],
  ['SELECT id FROM customers WHERE email IN (SELECT email FROM customers WHERE id = 1)', true],
  ["SELECT EXISTS (SELECT 1 FROM customers WHERE email = 'a')", true],
  ["SELECT (SELECT COUNT(*) FROM customers c WHERE c.email = o.email) FROM orders o", true],
  ['SELECT ROW_NUMBER() OVER (PARTITION BY email ORDER BY email) FROM customers', true],
  ["WITH c AS (SELECT id FROM customers WHERE email LIKE 'a%') SELECT * FROM c", true],
  ['(SELECT email FROM customers) ORDER BY email LIMIT 1', true],
  ['SELECT email FROM customers WHERE id = 1 FOR UPDATE', true],
  ['SELECT email FROM customers WHERE email = ?', true],
  ["SELECT id INTO @i FROM customers WHERE email = 'a' LIMIT 1", true],
  ["SET @n = (SELECT COUNT(*) FROM customers WHERE email LIKE 'a%')", true],
  ['SELECT mail FROM v_mail', true],
  ['SELECT * FROM v_over', true],
  ['SELECT dom, phone FROM customers', true],
  ["UPDATE customers SET email = 'x@y.z' WHERE id = 1", true],
  ["UPDATE customers SET name = 'x' WHERE email = 'a@b.c'", true],
  ["DELETE FROM customers WHERE email LIKE 'a%'", true],
  ['DELETE FROM customers WHERE id = 2 RETURNING *', true],
  ["INSERT INTO customers (id, email) VALUES (3, 'x@y.z') RETURNING id, email", true],
  ["INSERT INTO customers SET id = 4, email = 'q@r.s'", true],
  ['SELECT id FROM customers UNION SELECT id FROM items', true],
  ['SELECT id, email FROM customers WHERE id = 1\\G', true],
  ['SELECT * FROM v_plain', false],
  ['SELECT * FROM v_items', false],
  ['SELECT LOWER(email) FROM orders', false],
  ['SELECT 1', false],
  ['SHOW COUNT(*) WARNINGS', false],
  ['SELECT * FROM information_schema.COLUMNS', false],
  ['EXPLAIN SELECT email FROM customers', false],
  ['CREATE TABLE t9 (id INT, d DATETIME(6))', false],
  ['INSERT INTO items (id, name) VALUES (1, CONCAT(\'a\', \'b\'))', false],
];

/** Refused, and the column the refusal names ('' for refusals that name none). */
const REFUSED: [string, string][] = [
  ['SELECT LOWER(email) FROM customers', 'shop.customers.email'],
  ["SELECT CONCAT(email, '') FROM customers", 'shop.customers.email'],
  ["SELECT email || '' FROM customers", 'shop.customers.email'],
  ['SELECT SUBSTR(email, 1, 3) FROM customers', 'shop.customers.email'],
  ['SELECT CAST(email AS BINARY) FROM customers', 'shop.customers.email'],
  ['SELECT CONVERT(email USING latin1) FROM customers', 'shop.customers.email'],
  ['SELECT HEX(email) FROM customers', 'shop.customers.email'],
  ["SELECT JSON_OBJECT('e', email) FROM customers", 'shop.customers.email'],
  ['SELECT JSON_ARRAYAGG(email) FROM customers', 'shop.customers.email'],
  ['SELECT GROUP_CONCAT(email) FROM customers', 'shop.customers.email'],
  ['SELECT MAX(email) FROM customers', 'shop.customers.email'],
  ['SELECT (email) FROM customers', 'shop.customers.email'],
  ['SELECT BINARY email FROM customers', 'shop.customers.email'],
  ['SELECT name email FROM customers', 'shop.customers.email'],
  ["SELECT CASE WHEN email LIKE 'a%' THEN 1 END FROM customers", 'shop.customers.email'],
  ['SELECT LAG(email) OVER (ORDER BY id) FROM customers', 'shop.customers.email'],
  ['SELECT *, LOWER(email) FROM customers', 'shop.customers.email'],
  ['SELECT REVERSE(phone) FROM customers', 'shop.customers.phone'],
  ['SELECT UPPER(mail) FROM v_mail', 'shop.v_mail.mail'],
  ["SELECT email FROM customers UNION SELECT 'x'", 'shop.customers.email'],
  ['SELECT * FROM customers UNION SELECT * FROM customers', 'shop.customers.email'],
  ['SELECT (SELECT email FROM customers LIMIT 1) AS e', 'shop.customers.email'],
  ['SELECT d.e FROM (SELECT email AS e FROM customers) d', 'shop.customers.email'],
  ['SELECT * FROM (SELECT * FROM customers) d', 'shop.customers.email'],
  ['WITH c AS (SELECT email FROM customers) SELECT * FROM c', 'shop.customers.email'],
  ['WITH c(a) AS (SELECT * FROM customers) SELECT a FROM c', 'shop.customers.email'],
  ['SELECT * FROM customers c, LATERAL (SELECT c.email AS e) x', 'shop.customers.email'],
  ['SELECT email INTO @e FROM customers LIMIT 1', 'shop.customers.email'],
  ['(SELECT email FROM customers) INTO @x', 'shop.customers.email'],
  ["SELECT * FROM customers INTO OUTFILE '/tmp/x'", 'shop.customers.email'],
  ["SELECT email FROM customers INTO DUMPFILE '/tmp/x'", 'shop.customers.email'],
  ['SELECT @x := email FROM customers', 'shop.customers.email'],
  ['SELECT * FROM customers WHERE (@x := email) IS NOT NULL', 'shop.customers.email'],
  ['SELECT * FROM customers WHERE id = 1 AND (@x := (SELECT email FROM customers LIMIT 1)) IS NOT NULL', 'shop.customers.email'],
  ['SET @x = (SELECT email FROM customers LIMIT 1)', 'shop.customers.email'],
  ['DO @x := (SELECT email FROM customers LIMIT 1)', 'shop.customers.email'],
  ["SELECT id FROM customers WHERE LOWER(email) = 'a'", 'shop.customers.email'],
  ['SELECT id FROM customers WHERE -email < 0', 'shop.customers.email'],
  ['SELECT id FROM customers WHERE email + 0 > 0', 'shop.customers.email'],
  ["SELECT id FROM customers WHERE MATCH(email) AGAINST ('x')", 'shop.customers.email'],
  ['SELECT id FROM customers ORDER BY LOWER(email)', 'shop.customers.email'],
  ['UPDATE customers SET name = email WHERE id = 1', 'shop.customers.email'],
  ['INSERT INTO items (id, name) SELECT id, email FROM customers', 'shop.customers.email'],
  ['INSERT INTO items SELECT * FROM customers', 'shop.customers.email'],
  ["INSERT INTO customers (id, email) VALUES (3, 'x') ON DUPLICATE KEY UPDATE email = VALUES(email)", 'shop.customers.email'],
  ['INSERT INTO customers (id, phone) VALUES (5, email)', 'shop.customers.email'],
  ['DELETE FROM customers WHERE id = 2 RETURNING LOWER(email)', 'shop.customers.email'],
  ['EXPLAIN SELECT LOWER(email) FROM customers', 'shop.customers.email'],
  ['EXPLAIN FORMAT=JSON SELECT * FROM customers c JOIN orders o ON o.email = c.email WHERE c.id = 1', 'shop.customers.email'],
  ['ANALYZE FORMAT=JSON SELECT email FROM customers', 'shop.customers.email'],
  ['CREATE TABLE t9 AS SELECT * FROM customers', 'shop.customers.email'],
  ['ALTER TABLE customers MODIFY email VARCHAR(200)', 'shop.customers.email'],
  ['SELECT /*!99999 LOWER(*/ email /*!99999 )*/ FROM customers', 'shop.customers.email'],
  ['SELECT email FROM customers; SELECT LOWER(email) FROM customers', 'shop.customers.email'],
  ['SELECT * FROM v_lower', 'shop.v_lower'],
  ['SELECT * FROM v_secret', 'shop.v_secret'],
  ['INSERT INTO orders (id) VALUES (1)', 'shop.orders'],
  ['SELECT * FROM customers PROCEDURE ANALYSE()', ''],
  ['CALL p()', ''],
  ['SELECT get_mail(1)', ''],
  ['SELECT `lower`(email) FROM customers', ''],
  ['SELECT count (email) FROM customers', ''],
  ["SELECT LOAD_FILE('/var/lib/mysql/shop/customers.ibd')", ''],
  ['SHOW WARNINGS', ''],
  ['SHOW ERRORS', ''],
  ['SHOW FULL PROCESSLIST', ''],
  ['SHOW ENGINE INNODB STATUS', ''],
  ['SHOW BINLOG EVENTS', ''],
  ['GET DIAGNOSTICS CONDITION 1 @m = MESSAGE_TEXT', ''],
  ['SELECT * FROM mysql.column_stats', ''],
  ['SELECT * FROM information_schema.PROCESSLIST', ''],
  ['SELECT * FROM information_schema.OPTIMIZER_TRACE', ''],
  ['SELECT * FROM performance_schema.events_statements_history', ''],
  ['SELECT * FROM sys.statement_analysis', ''],
  ['CREATE VIEW v9 AS SELECT 1', ''],
  ['CREATE DEFINER = CURRENT_USER TRIGGER t BEFORE INSERT ON items FOR EACH ROW SET NEW.name = 1', ''],
  ['HANDLER customers OPEN', ''],
  ["LOAD DATA INFILE '/var/lib/mysql/shop/customers.ibd' INTO TABLE items", ''],
  ["PREPARE s FROM 'SELECT LOWER(email) FROM customers'", ''],
  ['EXECUTE IMMEDIATE CONCAT(\'SELECT LOWER(em\', \'ail) FROM customers\')', ''],
  ['BEGIN NOT ATOMIC SELECT email FROM customers; END', ''],
  ["SELECT 'unterminated", ''],
  ['CHECKSUM TABLE customers', 'shop.customers.email'],
];

describe('MySQL masking check: allowed statements', () => {
  test('the corpora are large enough', () => {
    assert.ok(ALLOWED.length >= 40);
    assert.ok(REFUSED.length >= 60);
  });
  for (const [sql, masked] of ALLOWED) {
    test(`allows ${JSON.stringify(sql)}${masked ? ', masked' : ''}`, () => {
      assert.deepEqual(check(sql), { ok: true, masked });
    });
  }
});

describe('MySQL masking check: refused statements', () => {
  for (const [sql, column] of REFUSED) {
    test(`refuses ${JSON.stringify(sql)}`, () => {
      const v = check(sql);
      assert.equal(v.ok, false, `expected a refusal: ${sql}`);
      if (v.ok) return;
      assert.equal(v.column, column);
      if (column !== '') assert.ok(v.message.includes(column), v.message);
      assert.ok(v.message.length > 40 && !v.message.includes('undefined'), v.message);
    });
  }
});

describe('MySQL masking check: predicates refuse', () => {
  const strict = shopCatalog('refuse');
  const o: MysqlMaskCheckOptions = { predicates: 'refuse', noBackslashEscapes: false };
  for (const sql of ["SELECT id FROM customers WHERE email = 'a'", 'SELECT id FROM customers ORDER BY email', 'SELECT id FROM customers GROUP BY email', 'SELECT c.id FROM customers c JOIN orders o ON o.email = c.email', 'SELECT id FROM customers JOIN orders USING (email)', 'SELECT id FROM items WHERE name IN (SELECT email FROM customers)', 'SELECT ROW_NUMBER() OVER (ORDER BY email) FROM customers', "DELETE FROM customers WHERE email LIKE 'a%'"]) {
    test(`refuses ${JSON.stringify(sql)}`, () => {
      const v = check(sql, strict, o);
      assert.equal(v.ok, false);
      if (!v.ok) assert.match(v.message, /predicates: refuse/);
    });
  }
  test('plain reads still pass', () => {
    assert.deepEqual(check('SELECT id, email FROM customers WHERE id = 1 ORDER BY id', strict, o), { ok: true, masked: true });
  });
});

describe('MySQL mask catalog', () => {
  test('rules by column and label, generated columns, views passing masked columns through, with their masks', () => {
    assert.deepEqual(catalog.columns.map((c) => [c.name, c.kind, c.mask.method]), [
      ['shop.customers.email', 'text', 'redact'],
      ['shop.customers.phone', 'text', 'partial'],
      ['shop.customers.dom', 'text', 'redact'],
      ['shop.v_mail.mail', 'text', 'redact'],
      ['shop.v_over.m2', 'text', 'redact'],
    ]);
  });
  test('result columns by their origin: exact schema, or any schema when the server leaves it empty (materialized)', () => {
    assert.equal(catalog.maskOf('shop', 'customers', 'email')?.name, 'shop.customers.email');
    assert.equal(catalog.maskOf('SHOP', 'Customers', 'EMAIL')?.name, 'shop.customers.email');
    assert.equal(catalog.maskOf('', 'customers', 'email')?.name, 'shop.customers.email');
    assert.equal(catalog.maskOf('shop', 'v_mail', 'mail')?.name, 'shop.v_mail.mail');
    assert.equal(catalog.maskOf('shop', 'v_mail', 'email'), null, 'orders.email through the view is not masked');
    assert.equal(catalog.maskOf('other', 'customers', 'email'), null);
    assert.equal(catalog.maskOf('shop', 'orders', 'email'), null);
    assert.equal(catalog.maskOf('', '', 'email'), null);
  });
  test('a view computing from masked columns, or whose definition is hidden, is refused; a trigger reading them refuses writes', () => {
    assert.match(catalog.relation('v_lower')?.refused ?? '', /view shop\.v_lower computes a value from masked column shop\.customers\.email/);
    assert.match(catalog.relation('v_secret')?.refused ?? '', /SHOW VIEW/);
    assert.match(catalog.relation('orders')?.writeRefused ?? '', /trigger shop\.orders_log/);
    assert.equal(catalog.relation('items'), undefined);
    assert.equal(catalog.relation('v_plain'), undefined);
  });
  test('no masked column: an empty catalog checks nothing', () => {
    const none = buildMysqlMaskCatalog({ columns: [], views: [], triggers: [] }, { ...shopMasking(), rules: [] });
    assert.equal(none.empty, true);
    assert.deepEqual(checkMysqlMasking('SELECT LOWER(email) FROM customers', none, opts), { ok: true, masked: false });
  });
  test('a table the account cannot see but a rule names still makes statements checked', () => {
    const hidden = buildMysqlMaskCatalog({ columns: [], views: [], triggers: [] }, shopMasking());
    assert.equal(hidden.empty, false);
    assert.equal(checkMysqlMasking('SELECT LOWER(email) FROM customers', hidden, opts).ok, false);
  });
  test('rules: table.column in any schema, db.table.column, * per position, labels by comment or its first word', () => {
    const rule = (column: string) => ({ column, method: 'redact' as const });
    assert.equal(mysqlRuleMatches(rule('customers.email'), 'shop', 'customers', 'EMAIL', ''), true);
    assert.equal(mysqlRuleMatches(rule('shop.customers.email'), 'crm', 'customers', 'email', ''), false);
    assert.equal(mysqlRuleMatches(rule('*.email'), 'crm', 'leads', 'email', ''), true);
    assert.equal(mysqlRuleMatches(rule('shop.*.card'), 'shop', 'payments', 'card', ''), true);
    assert.equal(mysqlRuleMatches({ label: 'pii:email', method: 'redact' }, 's', 't', 'c', 'pii:email primary address'), true);
    assert.equal(mysqlRuleMatches({ label: 'pii:email', method: 'redact' }, 's', 't', 'c', 'not pii:email'), false);
  });
  test('the catalog query asks only for the named columns, comments and generated columns, outside the system schemas', () => {
    const q = mysqlMaskCatalogQueries(shopMasking());
    assert.match(q.columns, /LOWER\(COLUMN_NAME\) IN \('email'\) OR COLUMN_COMMENT <> '' OR GENERATION_EXPRESSION <> ''/);
    assert.match(q.views, /NOT IN \('mysql', 'information_schema', 'performance_schema', 'sys'\)/);
    assert.match(mysqlMaskCatalogQueries({ ...shopMasking(), rules: [{ column: "x.o'brien", method: 'null', resolved: { method: 'null', keep: 0, key: null, rule: '' } }] }).columns, /\(TRUE OR/);
    assert.equal(SHOP_ROWS.views.length, 6);
  });
});
