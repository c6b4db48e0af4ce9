//! kube-runtime watchers feeding the scheduler's single owner task over channels, and the
//! list/relist bookkeeping each watch needs (a relist replaces what the cache knew).

use std::fmt::Debug;

use futures::StreamExt;
use kube::runtime::watcher::{self, watcher};
use kube::runtime::WatchStreamExt;
use kube::{Api, Resource};
use serde::de::DeserializeOwned;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Where one watch stands.
#[derive(Debug)]
pub enum WatchState<K> {
    /// Waiting for the first complete list; nothing may be scheduled yet.
    Listing(Vec<K>),
    /// Up to date; events apply one by one.
    Synced,
    /// The watch restarted and lists again; objects are buffered until the list ends,
    /// then replace the cache's view.
    Relisting(Vec<K>),
}

/// What a list/watch event means for the owner.
pub enum Step<K> {
    /// Nothing to do yet.
    Buffered,
    /// One object changed.
    Apply(K),
    /// One object is gone.
    Delete(K),
    /// A complete list: the objects that exist now.
    Replace(Vec<K>),
}

impl<K> WatchState<K> {
    pub fn new() -> Self {
        WatchState::Listing(Vec::new())
    }

    pub fn is_synced(&self) -> bool {
        matches!(self, WatchState::Synced)
    }

    /// Folds one watcher event into the state.
    pub fn step(&mut self, event: watcher::Event<K>) -> Step<K> {
        match event {
            watcher::Event::Init => {
                let next = match self {
                    WatchState::Listing(_) => WatchState::Listing(Vec::new()),
                    WatchState::Synced | WatchState::Relisting(_) => {
                        WatchState::Relisting(Vec::new())
                    }
                };
                *self = next;
                Step::Buffered
            }
            watcher::Event::InitApply(obj) => match self {
                WatchState::Listing(buf) | WatchState::Relisting(buf) => {
                    buf.push(obj);
                    Step::Buffered
                }
                WatchState::Synced => Step::Apply(obj),
            },
            watcher::Event::InitDone => match std::mem::replace(self, WatchState::Synced) {
                WatchState::Listing(buf) | WatchState::Relisting(buf) => Step::Replace(buf),
                WatchState::Synced => Step::Buffered,
            },
            watcher::Event::Apply(obj) => Step::Apply(obj),
            watcher::Event::Delete(obj) => Step::Delete(obj),
        }
    }
}

/// Forwards the events of a watch on `api` to `tx` until `shutdown` or the receiver goes.
pub fn spawn<K>(
    api: Api<K>,
    what: &'static str,
    tx: mpsc::Sender<watcher::Event<K>>,
    shutdown: CancellationToken,
) -> JoinHandle<()>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
{
    tokio::spawn(async move {
        let stream = watcher(api, watcher::Config::default()).default_backoff();
        futures::pin_mut!(stream);
        loop {
            let next = tokio::select! {
                _ = shutdown.cancelled() => return,
                next = stream.next() => next,
            };
            match next {
                Some(Ok(event)) => {
                    if tx.send(event).await.is_err() {
                        return;
                    }
                }
                Some(Err(e)) => {
                    tracing::warn!(resource = what, error = %e, "watch failed; retrying")
                }
                None => return,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_buffered_until_done_and_relists_replace() {
        let mut s: WatchState<u32> = WatchState::new();
        assert!(matches!(s.step(watcher::Event::Init), Step::Buffered));
        assert!(matches!(
            s.step(watcher::Event::InitApply(1)),
            Step::Buffered
        ));
        assert!(!s.is_synced());
        assert!(matches!(s.step(watcher::Event::InitDone), Step::Replace(v) if v == vec![1]));
        assert!(s.is_synced());
        assert!(matches!(s.step(watcher::Event::Apply(2)), Step::Apply(2)));
        assert!(matches!(s.step(watcher::Event::Init), Step::Buffered));
        assert!(matches!(s, WatchState::Relisting(_)));
        s.step(watcher::Event::InitApply(3));
        assert!(matches!(s.step(watcher::Event::InitDone), Step::Replace(v) if v == vec![3]));
    }
}
