//! The single writer thread of the SQLite backend. It owns the write connection, commits
//! every write queued while the previous commit was running in one transaction (group
//! commit: one fsync for many callers), answers each caller only after COMMIT, and then
//! publishes the committed events to watchers. Compaction runs here too, in chunks, so
//! writes keep flowing during a long compaction.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use tokio::sync::mpsc::error::TryRecvError;
use tokio::sync::{broadcast, mpsc, oneshot};

use super::schema::read_meta;
use super::watch::Batch;
use super::Revisions;
use crate::{Error, Event, EventKind, KeyValue, Result, Revision};

/// One write, checked and applied atomically with its own revision.
#[derive(Debug)]
pub(crate) enum WriteOp {
    Create {
        key: String,
        value: Vec<u8>,
    },
    Update {
        key: String,
        value: Vec<u8>,
        expected: Revision,
    },
    Delete {
        key: String,
        expected: Option<Revision>,
    },
}

impl WriteOp {
    fn key(&self) -> &str {
        match self {
            WriteOp::Create { key, .. }
            | WriteOp::Update { key, .. }
            | WriteOp::Delete { key, .. } => key,
        }
    }
}

/// A request to the writer thread.
pub(crate) enum Command {
    Write {
        op: WriteOp,
        reply: oneshot::Sender<Result<KeyValue>>,
    },
    Compact {
        revision: Revision,
        reply: oneshot::Sender<Result<()>>,
    },
}

/// Tuning the writer needs.
pub(crate) struct WriterConfig {
    pub max_batch: usize,
    pub compaction_chunk: i64,
}

/// The caller's side of the writer thread: dropping it stops the thread and waits for it,
/// so a store reopened on the same file never races the old writer.
pub(crate) struct WriterHandle {
    tx: Option<mpsc::Sender<Command>>,
    thread: Option<JoinHandle<()>>,
}

impl WriterHandle {
    /// Queues a command; `Error::Closed` if the writer thread is gone.
    pub(crate) async fn send(&self, cmd: Command) -> Result<()> {
        let tx = self.tx.as_ref().ok_or(Error::Closed)?;
        tx.send(cmd).await.map_err(|_| Error::Closed)
    }
}

impl Drop for WriterHandle {
    fn drop(&mut self) {
        self.tx.take();
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                tracing::error!("store writer thread panicked");
            }
        }
    }
}

/// Starts the writer thread on `conn`.
pub(crate) fn spawn(
    conn: Connection,
    events: broadcast::Sender<Batch>,
    revs: Arc<Revisions>,
    config: WriterConfig,
) -> Result<WriterHandle> {
    // Enough queue for every caller of a busy API server; senders wait beyond it.
    let (tx, rx) = mpsc::channel(config.max_batch.max(1) * 4);
    let writer = Writer {
        conn,
        rx,
        events,
        revs,
        config,
        compaction: None,
    };
    let thread = std::thread::Builder::new()
        .name("store-writer".into())
        .spawn(move || writer.run())
        .map_err(|e| Error::Backend(format!("cannot start the store writer thread: {e}")))?;
    Ok(WriterHandle {
        tx: Some(tx),
        thread: Some(thread),
    })
}

/// A compaction in progress: the revision to reach and who waits for it.
struct PendingCompaction {
    target: Revision,
    waiters: Vec<oneshot::Sender<Result<()>>>,
}

/// A write waiting for the next group commit.
type Queued = (WriteOp, oneshot::Sender<Result<KeyValue>>);

struct Writer {
    conn: Connection,
    rx: mpsc::Receiver<Command>,
    events: broadcast::Sender<Batch>,
    revs: Arc<Revisions>,
    config: WriterConfig,
    compaction: Option<PendingCompaction>,
}

impl Writer {
    fn run(mut self) {
        tracing::debug!("store writer started");
        loop {
            // Wait for work unless a compaction still has chunks to do.
            let first = if self.compaction.is_some() {
                match self.rx.try_recv() {
                    Ok(cmd) => Some(cmd),
                    Err(TryRecvError::Empty) => None,
                    Err(TryRecvError::Disconnected) => break,
                }
            } else {
                match self.rx.blocking_recv() {
                    Some(cmd) => Some(cmd),
                    None => break,
                }
            };
            let mut writes = Vec::new();
            if let Some(cmd) = first {
                self.accept(cmd, &mut writes);
                while writes.len() < self.config.max_batch {
                    match self.rx.try_recv() {
                        Ok(cmd) => self.accept(cmd, &mut writes),
                        Err(_) => break,
                    }
                }
            }
            if !writes.is_empty() {
                self.commit(writes);
            }
            if self.compaction.is_some() {
                self.compact_step();
            }
        }
        tracing::debug!("store writer stopped");
    }

    /// Sorts a command into the pending batch or the pending compaction.
    fn accept(&mut self, cmd: Command, writes: &mut Vec<Queued>) {
        match cmd {
            Command::Write { op, reply } => writes.push((op, reply)),
            Command::Compact { revision, reply } => {
                let current = self.revs.current.load(Ordering::SeqCst);
                let compacted = self.revs.compacted.load(Ordering::SeqCst);
                if revision > current {
                    let _ = reply.send(Err(Error::FutureRevision(revision)));
                } else if revision <= compacted {
                    let _ = reply.send(Ok(()));
                } else if let Some(pending) = &mut self.compaction {
                    pending.target = pending.target.max(revision);
                    pending.waiters.push(reply);
                } else {
                    self.compaction = Some(PendingCompaction {
                        target: revision,
                        waiters: vec![reply],
                    });
                }
            }
        }
    }

    /// Commits `writes` as one transaction and answers every caller. If the group fails
    /// (an SQLite error, not a failed check), each write is retried alone so one bad
    /// write (say, a value over SQLite's size limit) cannot fail its neighbours.
    fn commit(&mut self, writes: Vec<Queued>) {
        let ops: Vec<&WriteOp> = writes.iter().map(|(op, _)| op).collect();
        match self.commit_group(&ops) {
            Ok(outcomes) => {
                let replies = writes.into_iter().map(|(_, reply)| reply);
                self.finish(outcomes, replies.collect());
            }
            Err(err) if writes.len() > 1 => {
                tracing::warn!(
                    error = %err,
                    writes = writes.len(),
                    "group commit failed; retrying writes one by one"
                );
                for (op, reply) in writes {
                    match self.commit_group(&[&op]) {
                        Ok(outcomes) => self.finish(outcomes, vec![reply]),
                        Err(err) => {
                            tracing::error!(error = %err, key = op.key(), "store write failed");
                            let _ = reply.send(Err(err.into()));
                        }
                    }
                }
            }
            Err(err) => {
                let (op, reply) = writes.into_iter().next().expect("one write");
                tracing::error!(error = %err, key = op.key(), "store write failed");
                let _ = reply.send(Err(err.into()));
            }
        }
    }

    /// Applies `ops` in order in one transaction, each with the next revision if its
    /// check passes, and commits. Only SQLite errors fail the whole group.
    fn commit_group(&mut self, ops: &[&WriteOp]) -> rusqlite::Result<Vec<Result<Event>>> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        // Read the revision inside the transaction rather than trusting memory, so even
        // a second process writing the same file cannot make revisions collide.
        let start = read_meta(&tx)?.current;
        let mut rev = start;
        let mut outcomes = Vec::with_capacity(ops.len());
        for op in ops {
            let outcome = apply(&tx, rev + 1, op)?;
            if outcome.is_ok() {
                rev += 1;
            }
            outcomes.push(outcome);
        }
        if rev != start {
            tx.prepare_cached("UPDATE meta SET value = ?1 WHERE name = 'current_rev'")?
                .execute([rev])?;
        }
        tx.commit()?;
        self.revs.current.fetch_max(rev, Ordering::SeqCst);
        Ok(outcomes)
    }

    /// Answers callers of a committed group and publishes its events.
    fn finish(
        &self,
        outcomes: Vec<Result<Event>>,
        replies: Vec<oneshot::Sender<Result<KeyValue>>>,
    ) {
        let watched = self.events.receiver_count() > 0;
        let mut batch = Vec::new();
        for (outcome, reply) in outcomes.into_iter().zip(replies) {
            let answer = outcome.map(|event| {
                if watched {
                    batch.push(event.clone());
                }
                event.kv
            });
            let _ = reply.send(answer);
        }
        if !batch.is_empty() {
            // An error only means every watcher has gone away meanwhile.
            let _ = self.events.send(Arc::new(batch));
        }
    }

    /// Runs one chunk of the pending compaction and answers its waiters when it is done.
    fn compact_step(&mut self) {
        let Some(pending) = &self.compaction else {
            return;
        };
        let target = pending.target;
        match compact_chunk(&mut self.conn, target, self.config.compaction_chunk) {
            Ok((reached, removed)) => {
                self.revs.compacted.fetch_max(reached, Ordering::SeqCst);
                tracing::debug!(reached, removed, target, "compacted store history");
                if reached >= target {
                    tracing::info!(revision = reached, "store compaction done");
                    for waiter in self
                        .compaction
                        .take()
                        .map(|p| p.waiters)
                        .unwrap_or_default()
                    {
                        let _ = waiter.send(Ok(()));
                    }
                }
            }
            Err(err) => {
                tracing::error!(error = %err, target, "store compaction failed");
                for waiter in self
                    .compaction
                    .take()
                    .map(|p| p.waiters)
                    .unwrap_or_default()
                {
                    let _ = waiter.send(Err(Error::Backend(format!("compaction failed: {err}"))));
                }
            }
        }
    }
}

/// Checks one write against the key's current state and, if it passes, records it at
/// `rev`. The inner `Err` is the caller's error (exists, not found, conflict).
fn apply(conn: &Connection, rev: Revision, op: &WriteOp) -> rusqlite::Result<Result<Event>> {
    let key = op.key();
    // The key's live revision and creation revision, if it exists.
    let current: Option<(Revision, Revision)> = conn
        .prepare_cached(
            "SELECT c.rev, l.create_rev FROM current c JOIN log l ON l.rev = c.rev
             WHERE c.key = ?1",
        )?
        .query_row([key], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let (kind, value, create_rev, prev_rev) = match (op, current) {
        (WriteOp::Create { .. }, Some(_)) => {
            return Ok(Err(Error::AlreadyExists(key.to_owned())));
        }
        (WriteOp::Create { value, .. }, None) => (EventKind::Create, value.clone(), rev, 0),
        (WriteOp::Update { .. } | WriteOp::Delete { .. }, None) => {
            return Ok(Err(Error::NotFound(key.to_owned())));
        }
        (WriteOp::Update { expected, .. }, Some((mod_rev, _)))
        | (
            WriteOp::Delete {
                expected: Some(expected),
                ..
            },
            Some((mod_rev, _)),
        ) if *expected != mod_rev => {
            let current = current_kv(conn, key, mod_rev)?;
            return Ok(Err(Error::Conflict {
                key: key.to_owned(),
                expected: *expected,
                current: Some(Box::new(current)),
            }));
        }
        (WriteOp::Update { value, .. }, Some((mod_rev, create_rev))) => {
            (EventKind::Update, value.clone(), create_rev, mod_rev)
        }
        (WriteOp::Delete { .. }, Some((mod_rev, create_rev))) => {
            // The tombstone carries the last value, for the delete event.
            let last = current_kv(conn, key, mod_rev)?.value;
            (EventKind::Delete, last, create_rev, mod_rev)
        }
    };
    conn.prepare_cached(
        "INSERT INTO log (rev, key, value, create_rev, prev_rev, deleted)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        rev,
        key,
        value,
        create_rev,
        prev_rev,
        kind == EventKind::Delete
    ])?;
    if kind == EventKind::Delete {
        conn.prepare_cached("DELETE FROM current WHERE key = ?1")?
            .execute([key])?;
    } else {
        conn.prepare_cached(
            "INSERT INTO current (key, rev) VALUES (?1, ?2)
             ON CONFLICT (key) DO UPDATE SET rev = excluded.rev",
        )?
        .execute(params![key, rev])?;
    }
    Ok(Ok(Event {
        kind,
        kv: KeyValue {
            key: key.to_owned(),
            value,
            create_revision: create_rev,
            mod_revision: rev,
        },
    }))
}

/// The stored value of `key` at its live revision `rev`.
fn current_kv(conn: &Connection, key: &str, rev: Revision) -> rusqlite::Result<KeyValue> {
    conn.prepare_cached("SELECT value, create_rev FROM log WHERE rev = ?1")?
        .query_row([rev], |r| {
            Ok(KeyValue {
                key: key.to_owned(),
                value: r.get(0)?,
                create_revision: r.get(1)?,
                mod_revision: rev,
            })
        })
}

/// Compacts at most `chunk` revisions past the recorded compacted revision, up to
/// `target`, in one transaction. Returns the compacted revision reached and how many
/// rows were removed.
///
/// A row at or below the new compacted revision goes if a later row at or below it
/// replaced it (found through that row's `prev_rev`), or if it is a tombstone; each
/// key's latest live value as of the compacted revision stays, so reads at that
/// revision and later are unchanged.
fn compact_chunk(
    conn: &mut Connection,
    target: Revision,
    chunk: i64,
) -> rusqlite::Result<(Revision, usize)> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let lo = read_meta(&tx)?.compacted;
    if lo >= target {
        return Ok((lo, 0));
    }
    let hi = target.min(lo.saturating_add(chunk.max(1)));
    let superseded = tx.execute(
        "DELETE FROM log WHERE rev IN
            (SELECT prev_rev FROM log WHERE rev > ?1 AND rev <= ?2 AND prev_rev > 0)",
        [lo, hi],
    )?;
    let tombstones = tx.execute(
        "DELETE FROM log WHERE rev > ?1 AND rev <= ?2 AND deleted = 1",
        [lo, hi],
    )?;
    tx.execute(
        "UPDATE meta SET value = ?1 WHERE name = 'compacted_rev'",
        [hi],
    )?;
    tx.commit()?;
    Ok((hi, superseded + tombstones))
}
