// The catalog reads a masked session starts with: every relation and column (with its type's kind and comment),
// generated columns' expressions, inheritance and partitions, view definitions, and the names of the database's own functions and operators. Every
// catalog here is readable by PUBLIC, so the session's own credential reads them, in one READ ONLY transaction.

const SYSTEM = `('pg_catalog', 'information_schema')`;

export const MASK_CATALOG_QUERIES: Record<string, string> = {
  relations: `select c.oid::int8 as oid, n.nspname::text as schema, c.relname::text as name, c.relkind::text as kind,
      case when c.relkind in ('v', 'm') and n.nspname not in ${SYSTEM} then pg_get_viewdef(c.oid) end as definition
    from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where c.relkind in ('r', 'p', 'v', 'm', 'f', 'S')`,
  // A domain's kind is its base type's (domains over domains included).
  columns: `with recursive base(oid, base) as (
        select t.oid, t.oid from pg_type t where t.typtype <> 'd'
        union all
        select d.oid, b.base from pg_type d join base b on b.oid = d.typbasetype where d.typtype = 'd')
    select a.attrelid::int8 as relid, a.attnum::int4 as attnum, a.attname::text as name,
      case when bt.oid = 114 then 'json' when bt.oid = 3802 then 'jsonb' when bt.typcategory = 'S' then 'text' else 'other' end as type_kind,
      d.description as comment,
      case when a.attgenerated <> '' then pg_get_expr(ad.adbin, ad.adrelid) end as generated
    from pg_attribute a join pg_class c on c.oid = a.attrelid
      join base on base.oid = a.atttypid join pg_type bt on bt.oid = base.base
      left join pg_description d on d.objoid = a.attrelid and d.classoid = 'pg_class'::regclass and d.objsubid = a.attnum
      left join pg_attrdef ad on ad.adrelid = a.attrelid and ad.adnum = a.attnum
    where c.relkind in ('r', 'p', 'v', 'm', 'f', 'S') and a.attnum > 0 and not a.attisdropped
    order by a.attrelid, a.attnum`,
  inherits: `select i.inhrelid::int8 as child, i.inhparent::int8 as parent from pg_inherits i`,
  functions: `select distinct p.proname::text as name from pg_proc p join pg_namespace n on n.oid = p.pronamespace
    where n.nspname not in ${SYSTEM}`,
  operators: `select distinct o.oprname::text as name from pg_operator o join pg_namespace n on n.oid = o.oprnamespace
    where n.nspname <> 'pg_catalog'`,
};
