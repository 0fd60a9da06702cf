//! Druid's tables as the store creates them: `<base>_tasks`, `<base>_tasklocks`,
//! `<base>_segments`, `<base>_pendingSegments`, `<base>_config` and `<base>_audit` with Druid's
//! columns, encodings and index names, so that the rows mean what they do in Druid and a Druid
//! cluster's tables are found as they are, plus the indexes that keep every read of a long task
//! history bounded.
//!
//! The table base goes into SQL text, so it is checked here before any statement is built.

use super::dialect::Syntax;
use crate::StoreError;

/// The longest identifier every supported database accepts (PostgreSQL's limit; MySQL's is 64).
const MAX_IDENTIFIER: usize = 63;

/// Index name suffixes. A listing reads complete rows newest first up to a limit, so each
/// combination of its equality filters has an index on exactly those columns and `active`,
/// followed by `created_date`: the matching rows come out in order, a time range narrows the
/// same index, and the LIMIT ends the read, however long the history.
pub(super) const BY_ACTIVE: &str = "active_created_date";
pub(super) const BY_DATASOURCE: &str = "datasource_active_created_date";
pub(super) const BY_TYPE: &str = "active_type_created_date";
pub(super) const BY_DATASOURCE_TYPE: &str = "datasource_type_active_created_date";

/// Index name suffixes of the orders complete rows are paged in besides creation time
/// (`TaskSort`), which the listing indexes above serve: each yields the
/// rows of one datasource or type, or all of them, in (column, id) order, the id byte-ordered,
/// so that a page after any row reads only the rows it returns, and a count filtering on the id
/// reads no table row.
pub(super) const BY_ID: &str = "active_id";
pub(super) const BY_DATASOURCE_ID: &str = "active_datasource_id";
pub(super) const BY_TYPE_ID: &str = "active_type_id";

/// The task table's indexes as (name suffix, columns).
const INDEXES: [(&str, &str); 4] = [
    // Druid's: the active set, retention, and every listing without a datasource or type filter.
    (BY_ACTIVE, "active, created_date"),
    // Druid indexes (datasource, active); with created_date appended it serves every lookup
    // Druid's does, without sorting a datasource's whole history to find its newest rows.
    (BY_DATASOURCE, "datasource, active, created_date"),
    (BY_TYPE, "active, type, created_date"),
    (BY_DATASOURCE_TYPE, "datasource, type, active, created_date"),
];

/// The names of a table base's tables and of the indexes queries name in hints.
#[derive(Debug)]
pub(super) struct TableNames {
    /// Druid's `druid.metadata.storage.tables.base`.
    pub(super) base: String,
    pub(super) tasks: String,
    pub(super) locks: String,
    pub(super) segments: String,
    pub(super) pending: String,
    pub(super) config: String,
    pub(super) audit: String,
}

impl TableNames {
    /// The tables of Druid's `druid.metadata.storage.tables.base`. Only ASCII letters, digits and
    /// `_` are accepted, not starting with a digit; anything else is refused as
    /// [`StoreError::Unavailable`].
    pub(super) fn new(base: &str) -> Result<TableNames, StoreError> {
        let valid = base
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && base.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(StoreError::Unavailable(format!(
                "invalid metadata table base name [{base}]: use ASCII letters, digits and '_', \
                 not starting with a digit"
            )));
        }
        Ok(TableNames {
            base: base.to_string(),
            tasks: format!("{base}_tasks"),
            locks: format!("{base}_tasklocks"),
            segments: format!("{base}_segments"),
            pending: format!("{base}_pendingSegments"),
            config: format!("{base}_config"),
            audit: format!("{base}_audit"),
        })
    }

    /// The task table's index with name suffix `suffix` (one of the `BY_*` constants).
    pub(super) fn task_index(&self, suffix: &str) -> String {
        format!("idx_{}_{suffix}", self.tasks)
    }

    /// The audit table's index on (key, time).
    pub(super) fn audit_index(&self) -> String {
        format!("idx_{}_key_time", self.audit)
    }
}

/// A column Druid added to one of its tables after creating it first, and adds when missing.
#[derive(Debug)]
pub(super) struct AddedColumn {
    pub(super) table: String,
    /// A select of the column from no rows: fails without the column.
    pub(super) probe: String,
    /// The `ALTER TABLE` adding it.
    pub(super) alter: String,
}

/// The statements that create a table base's schema, each skipping what exists.
#[derive(Debug)]
pub(super) struct Schema {
    pub(super) tables: Vec<String>,
    /// Columns an older Druid's tables lack.
    pub(super) added_columns: Vec<AddedColumn>,
    pub(super) indexes: Vec<String>,
}

impl Schema {
    /// The schema of `names` in this database's syntax. A table base long enough for an index
    /// name to exceed some database's identifier limit is refused as
    /// [`StoreError::Unavailable`].
    pub(super) fn new(syntax: &Syntax, names: &TableNames) -> Result<Schema, StoreError> {
        let TableNames {
            base,
            tasks: t,
            locks: l,
            segments: s,
            pending: p,
            config: c,
            audit: a,
        } = names;
        let Syntax {
            payload,
            serial_key,
            datasource_collation,
            table_options,
            create_index,
            quote: q,
            ..
        } = syntax;
        let mut tables = vec![format!(
            "CREATE TABLE IF NOT EXISTS {t} (\
                 id VARCHAR(255) NOT NULL PRIMARY KEY, \
                 created_date VARCHAR(255) NOT NULL, \
                 datasource VARCHAR(255){datasource_collation} NOT NULL, \
                 payload {payload} NOT NULL, \
                 status_payload {payload} NOT NULL, \
                 active BOOLEAN NOT NULL DEFAULT FALSE, \
                 type VARCHAR(255), \
                 group_id VARCHAR(255)){table_options}"
        )];
        let b = syntax.byte_order;
        let paged = [
            (BY_ID, format!("active, id{b}")),
            (BY_DATASOURCE_ID, format!("active, datasource{b}, id{b}")),
            (BY_TYPE_ID, format!("active, type{b}, id{b}")),
        ];
        let mut indexes: Vec<(String, &str, String)> = INDEXES
            .iter()
            .map(|(suffix, columns)| (*suffix, columns.to_string()))
            .chain(paged)
            .map(|(suffix, columns)| (names.task_index(suffix), t.as_str(), columns))
            .collect();
        // Druid's lock table: a row per lock an active task holds.
        tables.push(format!(
            "CREATE TABLE IF NOT EXISTS {l} (\
                 id {serial_key}, \
                 task_id VARCHAR(255) DEFAULT NULL, \
                 lock_payload {payload}){table_options}"
        ));
        indexes.push((format!("idx_{l}_task_id"), l, "task_id".into()));
        // Druid's segment table. Dates are ISO strings of one format, so they compare as
        // strings. Of Druid's centralized-schema columns, a publish fills `num_rows` from the
        // task's `segmentSchemaMapping`; `schema_fingerprint` stays NULL (no schema is stored).
        tables.push(format!(
            "CREATE TABLE IF NOT EXISTS {s} (\
                 id VARCHAR(255) NOT NULL PRIMARY KEY, \
                 dataSource VARCHAR(255){datasource_collation} NOT NULL, \
                 created_date VARCHAR(255) NOT NULL, \
                 start VARCHAR(255) NOT NULL, \
                 {q}end{q} VARCHAR(255) NOT NULL, \
                 partitioned BOOLEAN NOT NULL, \
                 version VARCHAR(255) NOT NULL, \
                 used BOOLEAN NOT NULL, \
                 payload {payload} NOT NULL, \
                 used_status_last_updated VARCHAR(255) NOT NULL, \
                 upgraded_from_segment_id VARCHAR(255), \
                 schema_fingerprint VARCHAR(255), \
                 num_rows BIGINT){table_options}"
        ));
        indexes.push((format!("idx_{s}_used"), s, "used".into()));
        indexes.push((
            format!("idx_{s}_datasource_used_end_start"),
            s,
            format!("dataSource, used, {q}end{q}, start"),
        ));
        indexes.push((
            format!("idx_{s}_datasource_upgraded_from_segment_id"),
            s,
            "dataSource, upgraded_from_segment_id".into(),
        ));
        // Druid's pending segment table: one row per allocated segment id, unique per
        // sequence, previous id (or interval) and version through the SHA-1 of them.
        tables.push(format!(
            "CREATE TABLE IF NOT EXISTS {p} (\
                 id VARCHAR(255) NOT NULL PRIMARY KEY, \
                 dataSource VARCHAR(255){datasource_collation} NOT NULL, \
                 created_date VARCHAR(255) NOT NULL, \
                 start VARCHAR(255) NOT NULL, \
                 {q}end{q} VARCHAR(255) NOT NULL, \
                 sequence_name VARCHAR(255) NOT NULL, \
                 sequence_prev_id VARCHAR(255) NOT NULL, \
                 sequence_name_prev_id_sha1 VARCHAR(255) NOT NULL UNIQUE, \
                 payload {payload} NOT NULL, \
                 upgraded_from_segment_id VARCHAR(255), \
                 task_allocator_id VARCHAR(255)){table_options}"
        ));
        indexes.push((
            format!("idx_{p}_datasource_end"),
            p,
            format!("dataSource, {q}end{q}"),
        ));
        indexes.push((
            format!("idx_{p}_datasource_sequence"),
            p,
            "dataSource, sequence_name".into(),
        ));
        indexes.push((
            format!("idx_{p}_datasource_task_allocator_id"),
            p,
            "dataSource, task_allocator_id".into(),
        ));
        tables.push(format!(
            "CREATE TABLE IF NOT EXISTS {c} (\
                 name VARCHAR(255) NOT NULL PRIMARY KEY, \
                 payload {payload} NOT NULL){table_options}"
        ));
        // Druid's audit table; `id` increases with every row, so it orders rows written in the
        // same millisecond.
        tables.push(format!(
            "CREATE TABLE IF NOT EXISTS {a} (\
                 id {serial_key}, \
                 audit_key VARCHAR(255) NOT NULL, \
                 type VARCHAR(255) NOT NULL, \
                 author VARCHAR(255) NOT NULL, \
                 comment VARCHAR(2048) NOT NULL, \
                 created_date VARCHAR(255) NOT NULL, \
                 payload {payload} NOT NULL){table_options}"
        ));
        // SQLite and InnoDB end every index entry with the row's key anyway; PostgreSQL needs
        // `id` spelled out to read same-millisecond rows in order without sorting them.
        indexes.push((names.audit_index(), a, "audit_key, created_date, id".into()));
        for (name, _, _) in &indexes {
            if name.len() > MAX_IDENTIFIER {
                return Err(StoreError::Unavailable(format!(
                    "metadata table base name [{base}] is too long: index name [{name}] would \
                     exceed {MAX_IDENTIFIER} characters"
                )));
            }
        }
        let indexes = indexes
            .iter()
            .map(|(name, table, columns)| format!("{create_index} {name} ON {table}({columns})"))
            .collect();
        // Druid added these columns to its tables later and adds them when missing. A segment
        // table from before `used_status_last_updated` gets it nullable, as in Druid: its old
        // rows never recorded when they were marked.
        let added_columns = [
            (t, "type", "VARCHAR(255)"),
            (t, "group_id", "VARCHAR(255)"),
            (s, "used_status_last_updated", "VARCHAR(255)"),
            (s, "upgraded_from_segment_id", "VARCHAR(255)"),
            (s, "schema_fingerprint", "VARCHAR(255)"),
            (s, "num_rows", "BIGINT"),
            (p, "upgraded_from_segment_id", "VARCHAR(255)"),
            (p, "task_allocator_id", "VARCHAR(255)"),
        ]
        .into_iter()
        .map(|(table, column, column_type)| AddedColumn {
            table: table.clone(),
            probe: format!("SELECT {column} FROM {table} WHERE 1 = 0"),
            alter: format!("ALTER TABLE {table} ADD COLUMN {column} {column_type}"),
        })
        .collect();
        Ok(Schema {
            tables,
            added_columns,
            indexes,
        })
    }
}
