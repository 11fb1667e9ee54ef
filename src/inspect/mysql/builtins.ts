// MySQL/MariaDB built-in functions that cannot write or take locks, and the keywords and type names that a `(`
// may follow without being a function call. Anything else followed by `(` is treated as a stored function.

/**
 * Built-in functions a read-only role may call. Left out on purpose: GET_LOCK, RELEASE_LOCK, RELEASE_ALL_LOCKS
 * (named locks outlive the statement), NEXTVAL, SETVAL (advance a MariaDB sequence), LOAD_FILE (reads files
 * on the database server's disk), MASTER_POS_WAIT, SOURCE_POS_WAIT, WAIT_FOR_EXECUTED_GTID_SET,
 * WAIT_UNTIL_SQL_THREAD_AFTER_GTIDS (replication waits), and every user-defined (UDF) or stored function.
 */
const FUNCTIONS = `
abs acos adddate addtime aes_decrypt aes_encrypt any_value ascii asin atan atan2 avg benchmark bin bin_to_uuid
bit_and bit_count bit_length bit_or bit_xor cast ceil ceiling char char_length character_length charset coalesce
coercibility collation compress concat concat_ws connection_id conv convert convert_tz cos cot count crc32
cume_dist curdate current_date current_role current_time current_timestamp current_user curtime database date
date_add date_format date_sub datediff day dayname dayofmonth dayofweek dayofyear decode default degrees
dense_rank des_decrypt des_encrypt elt encode encrypt exp export_set extract extractvalue field find_in_set
first_value floor format format_bytes format_pico_time found_rows from_base64 from_days from_unixtime
geomcollection geometrycollection get_format greatest group_concat grouping hex hour if ifnull in inet6_aton
inet6_ntoa inet_aton inet_ntoa insert instr interval is_free_lock is_ipv4 is_ipv4_compat is_ipv4_mapped is_ipv6
is_used_lock is_uuid isnull json_array json_arrayagg json_array_append json_array_insert json_contains
json_contains_path json_depth json_extract json_insert json_keys json_length json_merge json_merge_patch
json_merge_preserve json_object json_objectagg json_overlaps json_pretty json_quote json_remove json_replace
json_schema_valid json_schema_validation_report json_search json_set json_storage_free json_storage_size
json_table json_type json_unquote json_valid json_value json_exists json_query json_detailed json_compact
json_loose json_normalize json_equals json_array_intersect json_object_filter_keys json_object_to_array
json_key_value lag last_day last_insert_id last_value lastval lcase lead least left length line linestring ln
load_file_disabled localtime localtimestamp locate log log10 log2 lower lpad ltrim make_set makedate maketime
match max md5 microsecond mid min minute mod month monthname multilinestring multipoint multipolygon
name_const now nth_value ntile nullif oct octet_length ord percent_rank period_add period_diff pi point polygon
position pow power quarter quote radians rand random_bytes rank regexp_instr regexp_like regexp_replace
regexp_substr release_all_locks_disabled repeat replace reverse right round row_count row_number rpad rtrim
schema sec_to_time second session_user sha sha1 sha2 sign sin sleep soundex space sqrt st_area st_asbinary
st_astext st_aswkb st_aswkt st_buffer st_centroid st_contains st_crosses st_difference st_dimension st_disjoint
st_distance st_distance_sphere st_endpoint st_envelope st_equals st_exteriorring st_geomfromtext
st_geomfromwkb st_geometryn st_geometrytype st_intersection st_intersects st_isclosed st_isempty st_isvalid
st_length st_numgeometries st_numpoints st_overlaps st_pointn st_srid st_startpoint st_symdifference
st_touches st_transform st_union st_within st_x st_y std stddev stddev_pop stddev_samp str_to_date strcmp
subdate substr substring substring_index subtime sum sysdate system_user tan time time_format time_to_sec
timediff timestamp timestampadd timestampdiff to_base64 to_days to_seconds trim truncate ucase uncompress
uncompressed_length unhex unix_timestamp updatexml upper user utc_date utc_time utc_timestamp uuid uuid_short
uuid_to_bin validate_password_strength values var_pop var_samp variance version week weekday weekofyear
weight_string year yearweek column_create column_get column_json column_list column_exists column_check
column_add column_delete sformat natural_sort_key to_char decode_histogram median percentile_cont
percentile_disc json_objectagg row exists not sys_guid chr lengthb oct concat_operator_oracle nvl nvl2
wsrep_last_written_gtid wsrep_last_seen_gtid kdf
`;

/**
 * Reserved words (in both MySQL 8 and MariaDB 10.11) a `(` may follow without a function call: clause keywords,
 * operators written as words, type names in CAST/CONVERT, index hints. Being reserved, none can name a stored
 * function unquoted. Non-reserved words (OVER, ANY, LATERAL, type names such as DATETIME …) are told apart by
 * their context in classify.ts, since an unreserved name followed by `(` can call a stored function.
 */
const NOT_CALLS = `
select from where and or xor not in is like rlike regexp between exists all as on using join values into
partition by order group having limit union intersect except distinct with table key index primary unique
foreign references check constraint default for ignore force use straight_join case when then else update set
char varchar binary varbinary decimal dec numeric float double real int integer tinyint smallint mediumint
bigint unsigned blob interval div mod row
`;

/**
 * Built-ins the server resolves as built-ins only when `(` follows the name directly: with a space or a comment
 * between (and IGNORE_SPACE off) the name is read as a stored function's. See "Function Name Parsing and
 * Resolution" in the MySQL manual.
 */
export const MYSQL_SPACE_SENSITIVE: ReadonlySet<string> = new Set(`
adddate bit_and bit_or bit_xor cast count curdate curtime date_add date_sub extract group_concat max mid min now
position session_user std stddev stddev_pop stddev_samp subdate substr substring sum sysdate system_user trim
variance var_pop var_samp
`.split(/\s+/).filter((w) => w !== ''));

/**
 * Names above that MariaDB 10.11 does not have as built-ins (checked on 10.11.19: MySQL 8's, and MariaDB 11's): there a
 * call resolves to the schema's stored function of that name, which may write. Without knowing the server's
 * functions per version, they are not safe anywhere; a role that needs one lists it in allow_functions.
 */
const NOT_BUILT_IN_EVERYWHERE = new Set(`
any_value bin_to_uuid uuid_to_bin format_bytes format_pico_time grouping json_schema_valid json_schema_validation_report
json_storage_free json_storage_size regexp_like st_transform validate_password_strength geomcollection is_uuid
json_array_intersect json_object_filter_keys json_object_to_array json_key_value kdf
`.split(/\s+/).filter((w) => w !== ''));

export const MYSQL_SAFE_FUNCTIONS: ReadonlySet<string> = new Set(FUNCTIONS.split(/\s+/).filter((w) => w !== '' && !w.endsWith('_disabled') && !NOT_BUILT_IN_EVERYWHERE.has(w)));
export const MYSQL_NOT_CALLS: ReadonlySet<string> = new Set(NOT_CALLS.split(/\s+/).filter((w) => w !== '').map((w) => w.toUpperCase()));

/** Functions that act beyond the statement, with the reason a read-only role may not call them. */
export const MYSQL_STATEFUL_FUNCTIONS: Readonly<Record<string, string>> = {
  get_lock: 'GET_LOCK takes a named lock that outlives the statement',
  release_lock: 'RELEASE_LOCK releases a named lock',
  release_all_locks: 'RELEASE_ALL_LOCKS releases named locks',
  nextval: 'NEXTVAL advances a sequence',
  setval: 'SETVAL changes a sequence',
  load_file: 'LOAD_FILE reads a file on the database server',
  master_pos_wait: 'MASTER_POS_WAIT waits on replication',
  source_pos_wait: 'SOURCE_POS_WAIT waits on replication',
  wait_for_executed_gtid_set: 'WAIT_FOR_EXECUTED_GTID_SET waits on replication',
  wait_until_sql_thread_after_gtids: 'WAIT_UNTIL_SQL_THREAD_AFTER_GTIDS waits on replication',
};
