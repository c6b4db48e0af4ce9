//! The behaviour every [`Store`] backend must have, written once and run against each
//! backend (SQLite here, etcd elsewhere) so the API server can rely on it.
//!
//! Each case is a public async function taking a fresh, empty store; it panics with a
//! message saying which behaviour broke. [`conformance_tests!`](crate::conformance_tests)
//! turns them into one `#[tokio::test]` each for a backend, and
//! [`revisions_increase_across_reopen`] checks persistence given a way to reopen.
//!
//! Cases assume nothing about absolute revisions, only their order, and keep their keys
//! under their own prefix, so they also hold on a shared store.

mod list;
mod watch;
mod write;

pub use list::*;
pub use watch::*;
pub use write::*;

use std::future::Future;
use std::time::Duration;

use futures::StreamExt;

use crate::{Event, EventKind, KeyValue, ListOptions, ListResult, Revision, Store, WatchStream};

/// Generates one `#[tokio::test]` per conformance case (except the reopen case) for a
/// backend. `$make` is an async function or closure returning `(store, guard)`: a fresh
/// store and whatever must outlive it (a temp dir, a server), dropped after the store.
/// The calling crate needs `tokio` with the `macros` and `rt-multi-thread` features.
///
/// ```ignore
/// async fn make() -> (SqliteStore, tempfile::TempDir) { ... }
/// store::conformance_tests!(make);
/// ```
#[macro_export]
macro_rules! conformance_tests {
    ($make:expr) => {
        $crate::conformance_tests!(@cases $make;
            create_then_get_returns_the_value,
            create_of_an_existing_key_is_already_exists,
            update_with_the_current_revision_replaces_the_value,
            update_with_a_stale_revision_is_a_conflict_carrying_the_current_value,
            update_or_delete_of_a_missing_key_is_not_found,
            delete_checks_the_expected_revision_and_returns_the_last_value,
            delete_then_recreate_gets_a_new_create_revision,
            revisions_are_store_global_and_strictly_increasing,
            racing_writes_to_one_key_let_exactly_one_win,
            values_are_opaque_bytes,
            list_returns_only_keys_under_the_prefix_in_key_order,
            list_paginates_with_limit_start_after_and_remaining,
            list_at_an_old_revision_returns_the_state_at_that_revision,
            list_at_a_future_revision_is_an_error,
            compaction_keeps_latest_values_and_rejects_older_revisions,
            watch_replays_history_after_the_revision_then_streams_live_events,
            watch_only_sees_keys_under_its_prefix,
            watch_from_the_current_revision_sees_only_new_events,
            watch_has_no_gap_or_duplicate_under_concurrent_writes,
        );
    };
    (@cases $make:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let (store, guard) = ($make)().await;
                $crate::conformance::$case(&store).await;
                drop(store);
                drop(guard);
            }
        )*
    };
}

/// Every case's keys live under here.
pub(crate) const ROOT: &str = "/registry/conformance";

/// How long a case waits for an event before failing.
pub(crate) const EVENT_TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) fn bytes(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

pub(crate) fn keys(list: &ListResult) -> Vec<&str> {
    list.items.iter().map(|kv| kv.key.as_str()).collect()
}

pub(crate) async fn list(store: &dyn Store, prefix: &str, revision: Revision) -> ListResult {
    let opts = ListOptions {
        prefix: prefix.to_owned(),
        revision,
        ..Default::default()
    };
    store
        .list(opts)
        .await
        .unwrap_or_else(|e| panic!("list {prefix} at revision {revision}: {e}"))
}

pub(crate) async fn next_event(stream: &mut WatchStream, what: &str) -> Event {
    match tokio::time::timeout(EVENT_TIMEOUT, stream.next()).await {
        Ok(Some(Ok(event))) => event,
        Ok(Some(Err(e))) => panic!("watch failed while waiting for {what}: {e}"),
        Ok(None) => panic!("watch ended while waiting for {what}"),
        Err(_) => panic!("no watch event within {EVENT_TIMEOUT:?} while waiting for {what}"),
    }
}

pub(crate) async fn assert_no_event(stream: &mut WatchStream, why: &str) {
    if let Ok(item) = tokio::time::timeout(Duration::from_millis(100), stream.next()).await {
        panic!("{why}, but the watch yielded {item:?}");
    }
}

pub(crate) fn assert_event(event: &Event, kind: EventKind, kv: &KeyValue, what: &str) {
    assert_eq!(event.kind, kind, "{what}: event kind");
    assert_eq!(&event.kv, kv, "{what}: event key-value");
}

/// Revisions and data survive closing and reopening the store, even when compaction
/// removed the record of the highest revision. `open` must open the same store each time.
pub async fn revisions_increase_across_reopen<S, G, F, Fut>(mut open: F)
where
    S: Store,
    F: FnMut() -> Fut,
    Fut: Future<Output = (S, G)>,
{
    let prefix = format!("{ROOT}/reopen/");
    let (a, b) = (format!("{prefix}a"), format!("{prefix}b"));
    let (store, guard) = open().await;
    let a1 = store.create(&a, bytes("a1")).await.expect("create a");
    store.create(&b, bytes("b1")).await.expect("create b");
    let a2 = store
        .update(&a, bytes("a2"), a1.mod_revision)
        .await
        .expect("update a");
    // The last write is a delete, and compaction removes its tombstone.
    let last = store.delete(&b, None).await.expect("delete b").mod_revision;
    store.compact(last).await.expect("compact");
    drop(store);
    drop(guard);

    let (store, guard) = open().await;
    let current = store.current_revision().await.unwrap();
    assert!(
        current >= last,
        "current revision went back from {last} to {current} across reopen"
    );
    let compacted = store.compacted_revision().await.unwrap();
    assert!(
        compacted >= last,
        "compacted revision went back from {last} to {compacted} across reopen"
    );
    assert_eq!(
        store.get(&a).await.unwrap(),
        Some(a2.clone()),
        "data survives reopen"
    );
    assert_eq!(store.get(&b).await.unwrap(), None, "deletes survive reopen");
    let next = store
        .create(&b, bytes("b2"))
        .await
        .expect("create after reopen");
    assert!(
        next.mod_revision > last,
        "revision {} after reopen is not above {last}",
        next.mod_revision
    );
    assert_eq!(
        list(store_ref(&store), &prefix, 0).await.items,
        vec![a2, next]
    );
    drop(store);
    drop(guard);
}

fn store_ref<S: Store>(store: &S) -> &dyn Store {
    store
}
