//! The embedded backend: one SQLite file in WAL mode holding an etcd-style MVCC history.
//!
//! Writes go to one writer thread that group-commits them (the `writer` module); an
//! acknowledged write is committed with `synchronous=FULL`, so it survives `kill -9`
//! and power loss. Reads use a small pool of read connections (the `read` module);
//! watches replay the history, then follow the writer's published events (the `watch`
//! module). The table layout is in the `schema` module.

mod read;
mod schema;
mod watch;
mod writer;

use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use tokio::sync::{broadcast, oneshot};

use crate::{Error, KeyValue, ListOptions, ListResult, Result, Revision, Store, WatchStream};
use read::ReadPool;
use watch::Batch;
use writer::{Command, WriteOp, WriterConfig, WriterHandle};

/// Tuning for a [`SqliteStore`]; the defaults suit the API server.
#[derive(Clone, Debug)]
pub struct SqliteOptions {
    /// The most writes committed in one transaction (group commit).
    pub max_batch: usize,
    /// How many committed write groups are kept for watchers. A watcher further behind
    /// than this has its stream ended and must re-list.
    pub watch_buffer: usize,
    /// How many read connections run queries at once.
    pub read_connections: usize,
    /// How many revisions one compaction transaction covers, so writes interleave with a
    /// long compaction instead of waiting for all of it.
    pub compaction_chunk: i64,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        Self {
            max_batch: 512,
            watch_buffer: 1024,
            read_connections: 4,
            compaction_chunk: 10_000,
        }
    }
}

/// The revisions the writer has committed, readable without touching the database.
#[derive(Debug)]
pub(crate) struct Revisions {
    current: AtomicI64,
    compacted: AtomicI64,
}

/// A [`Store`] in one SQLite file. Dropping it stops its writer thread after the writes
/// already queued; open watch streams then end.
pub struct SqliteStore {
    pool: Arc<ReadPool>,
    revs: Arc<Revisions>,
    events: broadcast::Sender<Batch>,
    writer: WriterHandle,
}

impl SqliteStore {
    /// Opens (or creates) the store at `path` with default options.
    pub fn open(path: &Path) -> Result<Self> {
        Self::open_with(path, SqliteOptions::default())
    }

    /// Opens (or creates) the store at `path`.
    pub fn open_with(path: &Path, options: SqliteOptions) -> Result<Self> {
        let conn = schema::open_writer(path)?;
        let meta = schema::read_meta(&conn)?;
        let revs = Arc::new(Revisions {
            current: AtomicI64::new(meta.current),
            compacted: AtomicI64::new(meta.compacted),
        });
        let (events, _) = broadcast::channel(options.watch_buffer.max(1));
        let writer = writer::spawn(
            conn,
            events.clone(),
            Arc::clone(&revs),
            WriterConfig {
                max_batch: options.max_batch.max(1),
                compaction_chunk: options.compaction_chunk.max(1),
            },
        )?;
        tracing::info!(
            path = %path.display(),
            revision = meta.current,
            compacted = meta.compacted,
            "opened sqlite store"
        );
        Ok(Self {
            pool: Arc::new(ReadPool::new(path, options.read_connections)),
            revs,
            events,
            writer,
        })
    }

    /// Hands a write to the writer thread and waits for its commit.
    async fn write(&self, op: WriteOp) -> Result<KeyValue> {
        let (reply, answer) = oneshot::channel();
        self.writer.send(Command::Write { op, reply }).await?;
        answer.await.map_err(|_| Error::Closed)?
    }
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("revisions", &self.revs)
            .finish_non_exhaustive()
    }
}

#[async_trait::async_trait]
impl Store for SqliteStore {
    async fn get(&self, key: &str) -> Result<Option<KeyValue>> {
        let key = key.to_owned();
        self.pool.run_short(move |conn| read::get(conn, &key)).await
    }

    async fn list(&self, opts: ListOptions) -> Result<ListResult> {
        self.pool.run(move |conn| read::list(conn, &opts)).await
    }

    async fn create(&self, key: &str, value: Vec<u8>) -> Result<KeyValue> {
        self.write(WriteOp::Create {
            key: key.to_owned(),
            value,
        })
        .await
    }

    async fn update(&self, key: &str, value: Vec<u8>, expected: Revision) -> Result<KeyValue> {
        self.write(WriteOp::Update {
            key: key.to_owned(),
            value,
            expected,
        })
        .await
    }

    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<KeyValue> {
        self.write(WriteOp::Delete {
            key: key.to_owned(),
            expected,
        })
        .await
    }

    async fn watch(&self, prefix: &str, after: Revision) -> Result<WatchStream> {
        // Subscribe before reading history; see the `watch` module.
        let rx = self.events.subscribe();
        watch::start(Arc::clone(&self.pool), rx, prefix, after).await
    }

    async fn current_revision(&self) -> Result<Revision> {
        Ok(self.revs.current.load(Ordering::SeqCst))
    }

    /// Compacting at or below the compacted revision is a no-op; above the current
    /// revision it is `Error::FutureRevision`.
    async fn compact(&self, revision: Revision) -> Result<()> {
        let (reply, answer) = oneshot::channel();
        self.writer
            .send(Command::Compact { revision, reply })
            .await?;
        answer.await.map_err(|_| Error::Closed)?
    }

    async fn compacted_revision(&self) -> Result<Revision> {
        Ok(self.revs.compacted.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests;
