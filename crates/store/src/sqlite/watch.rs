//! Watches on the SQLite backend: replay of the history in `log`, then the live events
//! the writer publishes after each commit, with no gap and no duplicate between the two.
//!
//! The watch subscribes to the writer's broadcast *before* it reads any history. Every
//! event committed before that read is in the history; every event committed after it is
//! in the broadcast; events in both are dropped from the live part by revision.

use std::collections::VecDeque;
use std::sync::Arc;

use futures::StreamExt;
use rusqlite::{params, Connection};
use tokio::sync::broadcast::{self, error::RecvError};

use super::read::ReadPool;
use super::schema::{event_from_row, key_range, read_meta, TextBytes};
use crate::{Error, Event, Result, Revision, WatchStream};

/// The events of one group commit, in revision order.
pub(crate) type Batch = Arc<Vec<Event>>;

/// How many history rows one replay read takes (few in unit tests, to cross pages).
const REPLAY_PAGE: usize = if cfg!(test) { 7 } else { 1000 };

/// Events under [?3, ?4) with revisions in (?1, ?2], oldest first, at most ?5.
pub(super) const REPLAY_SQL: &str = "
    SELECT rev, key, value, create_rev, deleted FROM log
    WHERE rev > ?1 AND rev <= ?2 AND key >= ?3 AND key < ?4 ORDER BY rev LIMIT ?5";

/// Where a watch is in its life.
enum Phase {
    /// Reading history: rows in `(pos, until]` are still to be read from the log.
    Replay { pos: Revision, until: Revision },
    /// Forwarding published batches, minus events at or before `skip_through`, which the
    /// replay delivered or which come before the watch's start.
    Live { skip_through: Revision },
    /// The stream has ended.
    Done,
}

struct Watch {
    prefix: String,
    pool: Arc<ReadPool>,
    rx: broadcast::Receiver<Batch>,
    ready: VecDeque<Event>,
    phase: Phase,
}

/// Starts a watch of `prefix` from just after `after`. `rx` must have been subscribed
/// before this call; the first page of history is read here so that a compacted start
/// is reported as an error rather than as a failing stream.
pub(crate) async fn start(
    pool: Arc<ReadPool>,
    rx: broadcast::Receiver<Batch>,
    prefix: &str,
    after: Revision,
) -> Result<WatchStream> {
    let owned = prefix.to_owned();
    let (first, until) = pool
        .run(move |conn| {
            let tx = conn.unchecked_transaction()?;
            let meta = read_meta(&tx)?;
            if after < meta.compacted {
                return Err(Error::Compacted {
                    requested: after,
                    compacted: meta.compacted,
                });
            }
            let page = read_page(&tx, &owned, after, meta.current)?;
            Ok((page, meta.current))
        })
        .await?;
    let phase = next_phase(&first, after, until);
    let watch = Watch {
        prefix: prefix.to_owned(),
        pool,
        rx,
        ready: first.into(),
        phase,
    };
    Ok(futures::stream::unfold(watch, |mut watch| async move {
        let item = watch.next().await?;
        Some((item, watch))
    })
    .boxed())
}

/// What follows a replay page that read rows after `pos` up to `until`.
fn next_phase(page: &[Event], pos: Revision, until: Revision) -> Phase {
    match page.last() {
        Some(last) if page.len() == REPLAY_PAGE => Phase::Replay {
            pos: last.kv.mod_revision,
            until,
        },
        _ => Phase::Live {
            skip_through: until.max(pos),
        },
    }
}

impl Watch {
    /// The next event, an error that ends the stream, or `None` when it has ended.
    async fn next(&mut self) -> Option<Result<Event>> {
        loop {
            if let Some(event) = self.ready.pop_front() {
                return Some(Ok(event));
            }
            match self.phase {
                Phase::Replay { pos, until } => {
                    let prefix = self.prefix.clone();
                    let page = self
                        .pool
                        .run(move |conn| {
                            let tx = conn.unchecked_transaction()?;
                            let compacted = read_meta(&tx)?.compacted;
                            if pos < compacted {
                                // Rows we have not read yet may be gone.
                                return Err(Error::Compacted {
                                    requested: pos,
                                    compacted,
                                });
                            }
                            read_page(&tx, &prefix, pos, until)
                        })
                        .await;
                    match page {
                        Ok(page) => {
                            self.phase = next_phase(&page, pos, until);
                            self.ready.extend(page);
                        }
                        Err(err) => {
                            self.phase = Phase::Done;
                            return Some(Err(err));
                        }
                    }
                }
                Phase::Live { skip_through } => match self.rx.recv().await {
                    Ok(batch) => self.ready.extend(
                        batch
                            .iter()
                            .filter(|e| {
                                e.kv.mod_revision > skip_through
                                    && e.kv.key.starts_with(&self.prefix)
                            })
                            .cloned(),
                    ),
                    Err(RecvError::Lagged(missed)) => {
                        tracing::warn!(
                            prefix = %self.prefix,
                            missed,
                            "watcher fell behind; ending its watch"
                        );
                        self.phase = Phase::Done;
                    }
                    Err(RecvError::Closed) => self.phase = Phase::Done,
                },
                Phase::Done => return None,
            }
        }
    }
}

/// Up to [`REPLAY_PAGE`] events under `prefix` with revisions in `(after, until]`.
fn read_page(
    conn: &Connection,
    prefix: &str,
    after: Revision,
    until: Revision,
) -> Result<Vec<Event>> {
    if after >= until {
        return Ok(Vec::new());
    }
    let (lo, hi) = key_range(prefix, None);
    let mut stmt = conn.prepare_cached(REPLAY_SQL)?;
    let rows = stmt.query_map(
        params![
            after,
            until,
            TextBytes(&lo),
            TextBytes(&hi),
            REPLAY_PAGE as i64
        ],
        event_from_row,
    )?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}
