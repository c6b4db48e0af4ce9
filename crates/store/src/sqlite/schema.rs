//! The on-disk layout of the SQLite backend: the tables, how connections are opened, and
//! the small helpers that turn rows into [`KeyValue`]s and [`Event`]s.
//!
//! Tables:
//! - `log` is the MVCC history, one row per write, keyed by revision (as kine). A delete is
//!   a tombstone row (`deleted = 1`) that carries the key's last value, so a watch can
//!   replay a delete without looking further back. `prev_rev` is the revision of the live
//!   value a write replaced (0 for a create); compaction uses it to find superseded rows.
//! - `current` maps every live key to the `log` row of its latest value: `get` and
//!   `list` at the latest revision read it instead of searching the history.
//! - `meta` holds the store's current and compacted revisions, so both survive restarts
//!   even when compaction removes the rows that carried them.

use std::path::Path;
use std::time::Duration;

use rusqlite::config::DbConfig;
use rusqlite::types::{ToSql, ToSqlOutput, ValueRef};
use rusqlite::{Connection, OpenFlags, Row};

use crate::{Error, Event, EventKind, KeyValue, Result, Revision};

/// Bumped when the layout changes incompatibly.
const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS log (
    rev        INTEGER PRIMARY KEY,
    key        TEXT    NOT NULL,
    value      BLOB    NOT NULL,
    create_rev INTEGER NOT NULL,
    prev_rev   INTEGER NOT NULL,
    deleted    INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS log_key_rev ON log (key, rev, deleted);
CREATE TABLE IF NOT EXISTS current (
    key TEXT    PRIMARY KEY,
    rev INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (
    name  TEXT    PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT OR IGNORE INTO meta (name, value) VALUES ('current_rev', 0), ('compacted_rev', 0);
";

/// How long a connection waits for a lock held by another connection before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Opens the one write connection: creates the file and tables if needed, switches the
/// database to WAL, and makes every commit durable (`synchronous=FULL`) before it returns.
pub(crate) fn open_writer(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    let mode: String = conn.pragma_update_and_check(None, "journal_mode", "wal", |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        tracing::warn!(path = %path.display(), %mode, "sqlite refused WAL mode");
    }
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "cache_size", -16_000)?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    // Checkpoints leave the WAL file at its largest size; cap what stays on disk.
    conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)?;
    stable_plans(&conn)?;
    conn.execute_batch(SCHEMA)?;
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version == 0 {
        conn.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    } else if version != SCHEMA_VERSION {
        return Err(Error::Backend(format!(
            "store schema version {version} is not supported (expected {SCHEMA_VERSION}); \
             use a matching orca version or a fresh data directory"
        )));
    }
    Ok(conn)
}

/// Opens a read connection. The file must already exist (the writer created it).
pub(crate) fn open_reader(path: &Path) -> rusqlite::Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "query_only", true)?;
    conn.pragma_update(None, "cache_size", -8_000)?;
    stable_plans(&conn)?;
    Ok(conn)
}

/// Keeps prepared statements prepared. The bundled SQLite is built with STAT4, so a plan may
/// depend on the values bound to it; such a statement is marked for re-preparation whenever
/// its bindings are cleared, which rusqlite's statement cache does after every use. With the
/// query planner stability guarantee a plan never depends on bound values, and a cached
/// statement is parsed once per connection instead of once per query.
fn stable_plans(conn: &Connection) -> rusqlite::Result<()> {
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    conn.set_prepared_statement_cache_capacity(32);
    Ok(())
}

/// The store's current and compacted revisions as recorded in `meta`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Meta {
    pub current: Revision,
    pub compacted: Revision,
}

/// Reads [`Meta`]; inside a transaction this is the snapshot's view.
pub(crate) fn read_meta(conn: &Connection) -> rusqlite::Result<Meta> {
    let mut stmt = conn.prepare_cached(
        "SELECT (SELECT value FROM meta WHERE name = 'current_rev'),
                (SELECT value FROM meta WHERE name = 'compacted_rev')",
    )?;
    stmt.query_row([], |r| {
        Ok(Meta {
            current: r.get(0)?,
            compacted: r.get(1)?,
        })
    })
}

/// Binds raw bytes as a TEXT value so key ranges can use bounds that are not valid UTF-8
/// (SQLite compares TEXT with memcmp under the default BINARY collation).
pub(crate) struct TextBytes<'a>(pub &'a [u8]);

impl ToSql for TextBytes<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(ValueRef::Text(self.0)))
    }
}

/// The half-open byte range `[lo, hi)` of keys that start with `prefix` and, when given,
/// sort strictly after `start_after`.
pub(crate) fn key_range(prefix: &str, start_after: Option<&str>) -> (Vec<u8>, Vec<u8>) {
    let mut lo = prefix.as_bytes().to_vec();
    if let Some(after) = start_after {
        // The smallest key greater than `after` is `after` followed by a NUL byte.
        let mut successor = after.as_bytes().to_vec();
        successor.push(0);
        if successor > lo {
            lo = successor;
        }
    }
    (lo, prefix_end(prefix))
}

/// The smallest byte string greater than every key starting with `prefix`. UTF-8 never
/// contains 0xFF, so bumping the last byte cannot overflow, and `[0xFF]` bounds all keys.
pub(crate) fn prefix_end(prefix: &str) -> Vec<u8> {
    let mut end = prefix.as_bytes().to_vec();
    match end.last_mut() {
        Some(last) => *last += 1,
        None => end.push(0xFF),
    }
    end
}

/// Maps a `log` row selected as `rev, key, value, create_rev, deleted` to its event.
pub(crate) fn event_from_row(row: &Row<'_>) -> rusqlite::Result<Event> {
    let rev: Revision = row.get(0)?;
    let create_rev: Revision = row.get(3)?;
    let deleted: bool = row.get(4)?;
    let kind = if deleted {
        EventKind::Delete
    } else if create_rev == rev {
        EventKind::Create
    } else {
        EventKind::Update
    };
    Ok(Event {
        kind,
        kv: KeyValue {
            key: row.get(1)?,
            value: row.get(2)?,
            create_revision: create_rev,
            mod_revision: rev,
        },
    })
}

/// Maps a row selected as `key, value, create_rev, rev` to a key-value.
pub(crate) fn kv_from_row(row: &Row<'_>) -> rusqlite::Result<KeyValue> {
    Ok(KeyValue {
        key: row.get(0)?,
        value: row.get(1)?,
        create_revision: row.get(2)?,
        mod_revision: row.get(3)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_bounds_exactly_the_keys_under_the_prefix() {
        let end = prefix_end("/registry/pods/a/");
        assert_eq!(end, b"/registry/pods/a0".to_vec());
        assert!(b"/registry/pods/a/zzz".as_slice() < end.as_slice());
        assert!(b"/registry/pods/ab/x".as_slice() > end.as_slice());
        assert_eq!(prefix_end(""), vec![0xFF]);
        assert!("\u{10FFFF}".as_bytes() < prefix_end("").as_slice());
    }

    #[test]
    fn key_range_starts_after_start_after_when_it_is_inside_the_prefix() {
        let (lo, hi) = key_range("/a/", Some("/a/k"));
        assert_eq!(lo, b"/a/k\0".to_vec());
        assert_eq!(hi, b"/a0".to_vec());
        // A start_after before the prefix does not widen the range.
        let (lo, _) = key_range("/a/", Some("/"));
        assert_eq!(lo, b"/a/".to_vec());
        let (lo, _) = key_range("/a/", None);
        assert_eq!(lo, b"/a/".to_vec());
    }

    #[test]
    fn opening_twice_keeps_the_schema_and_meta() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let conn = open_writer(&path).unwrap();
        conn.execute("UPDATE meta SET value = 7 WHERE name = 'current_rev'", [])
            .unwrap();
        drop(conn);
        let conn = open_writer(&path).unwrap();
        let meta = read_meta(&conn).unwrap();
        assert_eq!((meta.current, meta.compacted), (7, 0));
        let reader = open_reader(&path).unwrap();
        assert_eq!(read_meta(&reader).unwrap().current, 7);
        assert!(
            reader.execute("DELETE FROM meta", []).is_err(),
            "readers are query-only"
        );
    }

    #[test]
    fn cached_statements_are_prepared_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        drop(open_writer(&path).unwrap());
        let reader = open_reader(&path).unwrap();
        for sql in [
            super::super::read::GET_SQL,
            super::super::read::LIST_LATEST_SQL,
        ] {
            for _ in 0..3 {
                let mut stmt = reader.prepare_cached(sql).unwrap();
                let n = stmt.parameter_count();
                let params: Vec<&dyn ToSql> = [&"/a" as &dyn ToSql, &"/b", &10]
                    .into_iter()
                    .take(n)
                    .collect();
                let _ = stmt.query(params.as_slice()).unwrap().next().unwrap();
            }
            let stmt = reader.prepare_cached(sql).unwrap();
            let reprepared = stmt.get_status(rusqlite::StatementStatus::RePrepare);
            assert_eq!(reprepared, 0, "{sql} was re-prepared");
        }
    }

    #[test]
    fn unknown_schema_version_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let conn = open_writer(&path).unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
        drop(conn);
        let err = open_writer(&path).unwrap_err().to_string();
        assert!(err.contains("schema version 99"), "{err}");
    }
}
