// A MySQL mask catalog built from rows shaped like the machine's MariaDB returns them for a small shop schema: the
// fixtures of the masking check's unit tests.
import type { ResolvedMask, SessionMasking } from '../../src/domain/masking.js';
import { buildMysqlMaskCatalog, type MysqlMaskCatalog, type MysqlCatalogRow } from '../../src/inspect/mysql/mask-catalog.js';

export const REDACT: ResolvedMask = { method: 'redact', keep: 4, key: null, rule: 'customers.email' };
export const PHONE: ResolvedMask = { method: 'partial', keep: 2, key: null, rule: 'label pii:phone' };

export function shopMasking(predicates: 'allow' | 'refuse' = 'allow'): SessionMasking {
  return {
    role: 'support',
    predicates,
    rules: [
      { column: 'customers.email', method: 'redact', resolved: REDACT },
      { label: 'pii:phone', method: 'partial', keep: 2, resolved: PHONE },
    ],
  };
}

const col = (table: string, column: string, type: string, comment = '', gen: string | null = null): MysqlCatalogRow => ({
  TABLE_SCHEMA: 'shop', TABLE_NAME: table, COLUMN_NAME: column, DATA_TYPE: type, COLUMN_COMMENT: comment, GENERATION_EXPRESSION: gen,
});

export const SHOP_ROWS = {
  columns: [
    col('customers', 'email', 'varchar'),
    col('customers', 'phone', 'varchar', 'pii:phone mobile'),
    col('customers', 'dom', 'varchar', '', "substring_index(`email`,'@',-1)"),
    col('customers', 'born', 'date', '', null),
    col('v_mail', 'mail', 'varchar'),
    col('v_lower', 'lm', 'varchar'),
  ],
  views: [
    { TABLE_SCHEMA: 'shop', TABLE_NAME: 'v_mail', VIEW_DEFINITION: 'select `c`.`id` AS `id`,`c`.`email` AS `mail`,`o`.`email` AS `email` from (`shop`.`customers` `c` join `shop`.`orders` `o` on(`o`.`cid` = `c`.`id`)) where `c`.`email` like \'a%\'' },
    { TABLE_SCHEMA: 'shop', TABLE_NAME: 'v_lower', VIEW_DEFINITION: 'select `shop`.`customers`.`id` AS `id`,lcase(`shop`.`customers`.`email`) AS `lm` from `shop`.`customers`' },
    { TABLE_SCHEMA: 'shop', TABLE_NAME: 'v_over', VIEW_DEFINITION: 'select `shop`.`v_mail`.`mail` AS `m2`,`shop`.`v_mail`.`id` AS `id` from `shop`.`v_mail`' },
    { TABLE_SCHEMA: 'shop', TABLE_NAME: 'v_plain', VIEW_DEFINITION: 'select `shop`.`customers`.`id` AS `id` from `shop`.`customers` where `shop`.`customers`.`email` like \'%@example.com\'' },
    { TABLE_SCHEMA: 'shop', TABLE_NAME: 'v_items', VIEW_DEFINITION: 'select `shop`.`items`.`id` AS `id` from `shop`.`items`' },
    { TABLE_SCHEMA: 'shop', TABLE_NAME: 'v_secret', VIEW_DEFINITION: '' },
  ],
  triggers: [
    { TRIGGER_NAME: 'orders_log', EVENT_OBJECT_SCHEMA: 'shop', EVENT_OBJECT_TABLE: 'orders', ACTION_STATEMENT: 'insert into audit_log values (NEW.id, (select email from customers where id = NEW.cid))' },
    { TRIGGER_NAME: 'items_touch', EVENT_OBJECT_SCHEMA: 'shop', EVENT_OBJECT_TABLE: 'items', ACTION_STATEMENT: 'set NEW.updated = now()' },
  ],
};

export function shopCatalog(predicates: 'allow' | 'refuse' = 'allow'): MysqlMaskCatalog {
  return buildMysqlMaskCatalog(SHOP_ROWS, shopMasking(predicates));
}
