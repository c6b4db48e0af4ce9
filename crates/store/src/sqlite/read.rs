//! Reads of the SQLite backend: a small pool of read connections used from the blocking
//! thread pool, and the `get` and `list` queries. In WAL mode readers never wait for the
//! writer, and each read transaction sees one consistent snapshot.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use rusqlite::{params, Connection, OptionalExtension};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::schema::{key_range, kv_from_row, open_reader, read_meta, TextBytes};
use crate::{Error, KeyValue, ListOptions, ListResult, Result};

/// The live value of key ?1.
pub(super) const GET_SQL: &str = "
    SELECT c.key, l.value, l.create_rev, l.rev FROM current c JOIN log l ON l.rev = c.rev
    WHERE c.key = ?1";

/// Live keys in [?1, ?2), at most ?3, from `current`.
pub(super) const LIST_LATEST_SQL: &str = "
    SELECT c.key, l.value, l.create_rev, l.rev
    FROM current c CROSS JOIN log l ON l.rev = c.rev
    WHERE c.key >= ?1 AND c.key < ?2 ORDER BY c.key LIMIT ?3";

/// Keys in [?1, ?2) as of revision ?3, at most ?4: each key's latest row at or before
/// ?3 unless it is a tombstone. The scan walks `log_key_rev` in key order, so a LIMIT
/// stops it early.
pub(super) const LIST_AT_SQL: &str = "
    SELECT l.key, l.value, l.create_rev, l.rev FROM log l
    WHERE l.key >= ?1 AND l.key < ?2 AND l.deleted = 0
      AND l.rev = (SELECT max(m.rev) FROM log m WHERE m.key = l.key AND m.rev <= ?3)
    ORDER BY l.key LIMIT ?4";

/// How many live keys are in (?1, ?2).
pub(super) const COUNT_LATEST_SQL: &str = "
    SELECT count(*) FROM current WHERE key > ?1 AND key < ?2";

/// How many keys were live in (?1, ?2) as of revision ?3.
pub(super) const COUNT_AT_SQL: &str = "
    SELECT count(*) FROM log l
    WHERE l.key > ?1 AND l.key < ?2 AND l.deleted = 0
      AND l.rev = (SELECT max(m.rev) FROM log m WHERE m.key = l.key AND m.rev <= ?3)";

/// At most `size` read connections, opened on first use and reused.
pub(crate) struct ReadPool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    permits: Arc<Semaphore>,
}

impl ReadPool {
    pub(crate) fn new(path: &Path, size: usize) -> Self {
        Self {
            path: path.to_owned(),
            idle: Mutex::new(Vec::new()),
            permits: Arc::new(Semaphore::new(size.max(1))),
        }
    }

    /// Runs `f` with a read connection on tokio's blocking pool, so SQLite never blocks
    /// an async worker thread.
    pub(crate) async fn run<T, F>(self: &Arc<Self>, f: F) -> Result<T>
    where
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let permit = self.permit().await?;
        self.run_blocking(permit, f).await
    }

    /// Runs a short lookup (a key by its primary key: tens of microseconds from SQLite's
    /// page cache) in place, on the calling thread: handing it to the blocking pool and
    /// back costs two thread wake-ups, more than the lookup. Goes to the blocking pool
    /// when no open connection is idle (opening one is slow).
    pub(crate) async fn run_short<T, F>(self: &Arc<Self>, f: F) -> Result<T>
    where
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let permit = self.permit().await?;
        let Some(conn) = self.idle().pop() else {
            return self.run_blocking(permit, f).await;
        };
        let out = f(&conn);
        self.idle().push(conn);
        out
    }

    async fn permit(&self) -> Result<OwnedSemaphorePermit> {
        Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|_| Error::Closed)
    }

    async fn run_blocking<T, F>(self: &Arc<Self>, permit: OwnedSemaphorePermit, f: F) -> Result<T>
    where
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let pool = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            // The permit moves here so the connection count stays bounded even when the
            // caller stops waiting.
            let _permit = permit;
            let conn = match pool.idle().pop() {
                Some(conn) => conn,
                None => open_reader(&pool.path)?,
            };
            let out = f(&conn);
            pool.idle().push(conn);
            out
        })
        .await
        .map_err(|e| Error::Backend(format!("store read task failed: {e}")))?
    }

    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<Connection>> {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The latest value of `key`.
pub(crate) fn get(conn: &Connection, key: &str) -> Result<Option<KeyValue>> {
    let kv = conn
        .prepare_cached(GET_SQL)?
        .query_row([key], kv_from_row)
        .optional()?;
    Ok(kv)
}

/// One page of keys under a prefix, read from one snapshot: from `current` at the latest
/// revision, or from the history in `log` at an older one.
pub(crate) fn list(conn: &Connection, opts: &ListOptions) -> Result<ListResult> {
    let tx = conn.unchecked_transaction()?;
    let meta = read_meta(&tx)?;
    let rev = match opts.revision {
        0 => meta.current,
        r if r < 0 => return Err(Error::Backend(format!("invalid revision {r}"))),
        r => r,
    };
    if rev > meta.current {
        return Err(Error::FutureRevision(rev));
    }
    if rev < meta.compacted {
        return Err(Error::Compacted {
            requested: rev,
            compacted: meta.compacted,
        });
    }
    let (lo, hi) = key_range(&opts.prefix, opts.start_after.as_deref());
    // SQLite treats a negative LIMIT as none.
    let limit = i64::try_from(opts.limit).unwrap_or(i64::MAX);
    let limit = if limit == 0 { -1 } else { limit };
    let latest = rev == meta.current;
    let items = if latest {
        let mut stmt = tx.prepare_cached(LIST_LATEST_SQL)?;
        let rows = stmt.query_map(params![TextBytes(&lo), TextBytes(&hi), limit], kv_from_row)?;
        rows.collect::<rusqlite::Result<Vec<_>>>()?
    } else {
        let mut stmt = tx.prepare_cached(LIST_AT_SQL)?;
        let rows = stmt.query_map(
            params![TextBytes(&lo), TextBytes(&hi), rev, limit],
            kv_from_row,
        )?;
        rows.collect::<rusqlite::Result<Vec<_>>>()?
    };
    let full_page = limit > 0 && items.len() as i64 == limit;
    let remaining = match items.last() {
        Some(last) if full_page => count_after(&tx, &last.key, &hi, rev, latest)?,
        _ => 0,
    };
    Ok(ListResult {
        items,
        revision: rev,
        remaining,
    })
}

/// How many live keys at `rev` sort after `after` and before `hi`.
fn count_after(conn: &Connection, after: &str, hi: &[u8], rev: i64, latest: bool) -> Result<i64> {
    let count = if latest {
        conn.prepare_cached(COUNT_LATEST_SQL)?
            .query_row(params![after, TextBytes(hi)], |r| r.get(0))?
    } else {
        conn.prepare_cached(COUNT_AT_SQL)?
            .query_row(params![after, TextBytes(hi), rev], |r| r.get(0))?
    };
    Ok(count)
}
