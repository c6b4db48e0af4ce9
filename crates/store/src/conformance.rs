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

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::StreamExt;

use crate::{Error, Event, EventKind, KeyValue, ListOptions, ListResult, Revision, Store, WatchStream};

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
const ROOT: &str = "/registry/conformance";

/// How long a case waits for an event before failing.
const EVENT_TIMEOUT: Duration = Duration::from_secs(10);

fn bytes(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

fn keys(list: &ListResult) -> Vec<&str> {
    list.items.iter().map(|kv| kv.key.as_str()).collect()
}

async fn list(store: &dyn Store, prefix: &str, revision: Revision) -> ListResult {
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

async fn next_event(stream: &mut WatchStream, what: &str) -> Event {
    match tokio::time::timeout(EVENT_TIMEOUT, stream.next()).await {
        Ok(Some(Ok(event))) => event,
        Ok(Some(Err(e))) => panic!("watch failed while waiting for {what}: {e}"),
        Ok(None) => panic!("watch ended while waiting for {what}"),
        Err(_) => panic!("no watch event within {EVENT_TIMEOUT:?} while waiting for {what}"),
    }
}

async fn assert_no_event(stream: &mut WatchStream, why: &str) {
    if let Ok(item) = tokio::time::timeout(Duration::from_millis(100), stream.next()).await {
        panic!("{why}, but the watch yielded {item:?}");
    }
}

fn assert_event(event: &Event, kind: EventKind, kv: &KeyValue, what: &str) {
    assert_eq!(event.kind, kind, "{what}: event kind");
    assert_eq!(&event.kv, kv, "{what}: event key-value");
}

/// A created key reads back with the value and with create = mod revision.
pub async fn create_then_get_returns_the_value(store: &dyn Store) {
    let key = format!("{ROOT}/create/a");
    let before = store.current_revision().await.expect("current revision");
    let kv = store.create(&key, bytes("one")).await.expect("create");
    assert_eq!(kv.key, key, "create returns the key");
    assert_eq!(kv.value, bytes("one"), "create returns the value");
    assert!(kv.mod_revision > before, "create gets a new revision: {kv:?} after {before}");
    assert_eq!(kv.create_revision, kv.mod_revision, "a new key's create revision is its mod revision");
    assert_eq!(store.get(&key).await.expect("get"), Some(kv.clone()), "get returns what create stored");
    let now = store.current_revision().await.expect("current revision");
    assert!(now >= kv.mod_revision, "current revision {now} is behind an acknowledged write {kv:?}");
    let missing = store.get(&format!("{ROOT}/create/missing")).await.expect("get missing");
    assert_eq!(missing, None, "get of a missing key is None");
}

/// A second create of a key fails and leaves the first value.
pub async fn create_of_an_existing_key_is_already_exists(store: &dyn Store) {
    let key = format!("{ROOT}/dup/a");
    let first = store.create(&key, bytes("one")).await.expect("create");
    match store.create(&key, bytes("two")).await {
        Err(Error::AlreadyExists(k)) => assert_eq!(k, key, "AlreadyExists names the key"),
        other => panic!("second create must be AlreadyExists, got {other:?}"),
    }
    assert_eq!(store.get(&key).await.unwrap(), Some(first), "a failed create changes nothing");
}

/// An update with the key's current revision stores the value at a new revision.
pub async fn update_with_the_current_revision_replaces_the_value(store: &dyn Store) {
    let key = format!("{ROOT}/update/a");
    let created = store.create(&key, bytes("one")).await.expect("create");
    let updated = store
        .update(&key, bytes("two"), created.mod_revision)
        .await
        .expect("update with the current revision");
    assert_eq!(updated.value, bytes("two"), "update returns the new value");
    assert!(updated.mod_revision > created.mod_revision, "update gets a new revision");
    assert_eq!(updated.create_revision, created.create_revision, "update keeps the create revision");
    assert_eq!(store.get(&key).await.unwrap(), Some(updated), "get returns the updated value");
}

/// An update with an old revision fails with the value now stored.
pub async fn update_with_a_stale_revision_is_a_conflict_carrying_the_current_value(store: &dyn Store) {
    let key = format!("{ROOT}/conflict/a");
    let first = store.create(&key, bytes("one")).await.expect("create");
    let second = store.update(&key, bytes("two"), first.mod_revision).await.expect("update");
    match store.update(&key, bytes("three"), first.mod_revision).await {
        Err(Error::Conflict { key: k, expected, current }) => {
            assert_eq!(k, key, "Conflict names the key");
            assert_eq!(expected, first.mod_revision, "Conflict carries the expected revision");
            assert_eq!(current.as_deref(), Some(&second), "Conflict carries the current value");
        }
        other => panic!("update with a stale revision must be Conflict, got {other:?}"),
    }
    assert_eq!(store.get(&key).await.unwrap(), Some(second), "a failed update changes nothing");
}

/// Updates and deletes of keys that do not exist (or no longer exist) fail.
pub async fn update_or_delete_of_a_missing_key_is_not_found(store: &dyn Store) {
    let key = format!("{ROOT}/missing/a");
    assert!(
        matches!(store.update(&key, bytes("x"), 1).await, Err(Error::NotFound(k)) if k == key),
        "update of a never-created key must be NotFound"
    );
    assert!(
        matches!(store.delete(&key, None).await, Err(Error::NotFound(_))),
        "delete of a never-created key must be NotFound"
    );
    let kv = store.create(&key, bytes("x")).await.expect("create");
    store.delete(&key, Some(kv.mod_revision)).await.expect("delete");
    assert!(
        matches!(store.update(&key, bytes("y"), kv.mod_revision).await, Err(Error::NotFound(_))),
        "update of a deleted key must be NotFound"
    );
    assert!(
        matches!(store.delete(&key, None).await, Err(Error::NotFound(_))),
        "delete of a deleted key must be NotFound"
    );
}

/// Deletes honour the expected revision and return the last value at the delete's
/// revision.
pub async fn delete_checks_the_expected_revision_and_returns_the_last_value(store: &dyn Store) {
    let key = format!("{ROOT}/delete/a");
    let first = store.create(&key, bytes("one")).await.expect("create");
    let second = store.update(&key, bytes("two"), first.mod_revision).await.expect("update");
    match store.delete(&key, Some(first.mod_revision)).await {
        Err(Error::Conflict { current, .. }) => {
            assert_eq!(current.as_deref(), Some(&second), "Conflict carries the current value");
        }
        other => panic!("delete with a stale revision must be Conflict, got {other:?}"),
    }
    assert_eq!(store.get(&key).await.unwrap(), Some(second.clone()), "a failed delete changes nothing");
    let deleted = store.delete(&key, Some(second.mod_revision)).await.expect("delete");
    assert_eq!(deleted.key, key);
    assert_eq!(deleted.value, second.value, "delete returns the last value");
    assert_eq!(deleted.create_revision, first.create_revision, "delete keeps the create revision");
    assert!(deleted.mod_revision > second.mod_revision, "delete returns its own revision");
    assert_eq!(store.get(&key).await.unwrap(), None, "a deleted key is gone");

    let other = format!("{ROOT}/delete/b");
    store.create(&other, bytes("x")).await.expect("create");
    store.delete(&other, None).await.expect("delete without an expected revision");
    assert_eq!(store.get(&other).await.unwrap(), None);
}

/// A key created again after a delete is a new key: new create revision.
pub async fn delete_then_recreate_gets_a_new_create_revision(store: &dyn Store) {
    let key = format!("{ROOT}/recreate/a");
    let first = store.create(&key, bytes("one")).await.expect("create");
    let deleted = store.delete(&key, None).await.expect("delete");
    let again = store.create(&key, bytes("two")).await.expect("create again");
    assert!(again.create_revision > deleted.mod_revision, "recreate gets a create revision after the delete");
    assert_ne!(again.create_revision, first.create_revision);
    assert_eq!(again.create_revision, again.mod_revision);
    assert_eq!(store.get(&key).await.unwrap(), Some(again));
}

/// Every write, on any key, gets a revision above all earlier ones, also when many
/// writers race.
pub async fn revisions_are_store_global_and_strictly_increasing(store: &dyn Store) {
    let mut last = store.current_revision().await.unwrap();
    for i in 0..5 {
        let key = format!("{ROOT}/revs/{i}");
        let created = store.create(&key, bytes("a")).await.expect("create");
        assert!(created.mod_revision > last, "create revision {} after {last}", created.mod_revision);
        let _ = store.create(&key, bytes("b")).await.expect_err("duplicate create");
        let updated = store.update(&key, bytes("c"), created.mod_revision).await.expect("update");
        assert!(updated.mod_revision > created.mod_revision, "update revision after create");
        last = updated.mod_revision;
    }
    let writes = (0..32).map(|i| create_revision_of(store, format!("{ROOT}/revs/race/{i}")));
    let revisions: Vec<Revision> = futures::future::join_all(writes).await;
    let distinct: BTreeSet<Revision> = revisions.iter().copied().collect();
    assert_eq!(distinct.len(), revisions.len(), "concurrent writes share a revision: {revisions:?}");
    assert!(distinct.iter().all(|&r| r > last), "concurrent writes went back in revision");
    let now = store.current_revision().await.unwrap();
    assert!(now >= *distinct.last().unwrap(), "current revision {now} behind acknowledged writes");
}

/// Creates `key` with a fixed value and returns its revision.
async fn create_revision_of(store: &dyn Store, key: String) -> Revision {
    store
        .create(&key, bytes("x"))
        .await
        .unwrap_or_else(|e| panic!("create {key}: {e}"))
        .mod_revision
}

/// Racing creates of one key, and racing updates expecting the same revision: exactly
/// one of each wins, the others fail without effect.
pub async fn racing_writes_to_one_key_let_exactly_one_win(store: &dyn Store) {
    let key = format!("{ROOT}/cas/a");
    let creates = (0..16).map(|i| {
        let key = key.clone();
        async move { store.create(&key, bytes(&format!("c{i}"))).await }
    });
    let results = futures::future::join_all(creates).await;
    let winners: Vec<&KeyValue> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(winners.len(), 1, "exactly one racing create wins: {results:?}");
    let created = winners[0].clone();
    for result in &results {
        if let Err(e) = result {
            assert!(matches!(e, Error::AlreadyExists(_)), "a losing create is AlreadyExists, got {e}");
        }
    }
    let updates = (0..16).map(|i| {
        let key = key.clone();
        async move { store.update(&key, bytes(&format!("u{i}")), created.mod_revision).await }
    });
    let results = futures::future::join_all(updates).await;
    let winners: Vec<&KeyValue> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(winners.len(), 1, "exactly one racing update wins: {results:?}");
    for result in &results {
        if let Err(e) = result {
            assert!(matches!(e, Error::Conflict { .. }), "a losing update is Conflict, got {e}");
        }
    }
    assert_eq!(store.get(&key).await.unwrap().as_ref(), Some(winners[0]), "the winner's value is stored");
}

/// Values round-trip exactly: empty, not UTF-8, and large.
pub async fn values_are_opaque_bytes(store: &dyn Store) {
    let prefix = format!("{ROOT}/bytes/");
    let large: Vec<u8> = (0..256 * 1024).map(|i| (i % 251) as u8).collect();
    let values = [Vec::new(), vec![0, 0xFF, 0xFE, b'\n'], large];
    for (i, value) in values.iter().enumerate() {
        let key = format!("{prefix}{i}");
        store.create(&key, value.clone()).await.expect("create");
        let got = store.get(&key).await.unwrap().expect("stored key");
        assert_eq!(&got.value, value, "value {i} must read back unchanged");
    }
    let listed = list(store, &prefix, 0).await;
    let listed: Vec<&Vec<u8>> = listed.items.iter().map(|kv| &kv.value).collect();
    assert_eq!(listed, values.iter().collect::<Vec<_>>(), "list returns values unchanged");
}

/// A list returns exactly the keys starting with the prefix, sorted; `/a/` never
/// matches `/ab/`.
pub async fn list_returns_only_keys_under_the_prefix_in_key_order(store: &dyn Store) {
    let base = format!("{ROOT}/list/registry/pods/");
    let names = ["a/y", "ab/x", "a/x", "b/x", "a", "a/b", "a/x/deeper"];
    for name in names {
        store.create(&format!("{base}{name}"), bytes(name)).await.expect("create");
    }
    store.create(&format!("{ROOT}/list/registry/podsx/a/x"), bytes("x")).await.expect("create");

    let under_a = list(store, &format!("{base}a/"), 0).await;
    let expected: Vec<String> = ["a/b", "a/x", "a/x/deeper", "a/y"].iter().map(|n| format!("{base}{n}")).collect();
    assert_eq!(keys(&under_a), expected, "prefix {base}a/ must not match {base}ab/ or {base}a");
    assert_eq!(under_a.remaining, 0, "an unlimited list has nothing remaining");
    assert_eq!(under_a.revision, store.current_revision().await.unwrap(), "a latest list reads at the current revision");
    for kv in &under_a.items {
        assert_eq!(Some(kv), store.get(&kv.key).await.unwrap().as_ref(), "list and get agree on {}", kv.key);
    }

    let all = list(store, &base, 0).await;
    let mut sorted: Vec<String> = names.iter().map(|n| format!("{base}{n}")).collect();
    sorted.sort();
    assert_eq!(keys(&all), sorted, "list {base} returns every key under it, sorted");
    assert!(list(store, &format!("{base}zzz/"), 0).await.items.is_empty(), "an empty prefix lists nothing");
}

/// Pages are consecutive, `remaining` counts what follows, and pages read at the first
/// page's revision ignore later writes.
pub async fn list_paginates_with_limit_start_after_and_remaining(store: &dyn Store) {
    let prefix = format!("{ROOT}/pages/");
    for i in 0..10 {
        store.create(&format!("{prefix}k{i:02}"), bytes("v")).await.expect("create");
    }
    let page = |start_after: Option<String>, revision: Revision, limit: usize| ListOptions {
        prefix: prefix.clone(),
        revision,
        limit,
        start_after,
    };
    let first = store.list(page(None, 0, 3)).await.expect("first page");
    let revision = first.revision;
    assert_eq!(keys(&first), ["k00", "k01", "k02"].map(|k| format!("{prefix}{k}")), "first page");
    assert_eq!(first.remaining, 7, "remaining after the first page");

    // Writes after the first page must not show in later pages read at its revision.
    store.create(&format!("{prefix}k05a"), bytes("new")).await.expect("create");
    store.delete(&format!("{prefix}k08"), None).await.expect("delete");

    let mut seen = keys(&first).iter().map(|k| k.to_string()).collect::<Vec<_>>();
    let mut after = first.items.last().map(|kv| kv.key.clone());
    for expected_remaining in [4, 1, 0] {
        let next = store.list(page(after.clone(), revision, 3)).await.expect("next page");
        assert_eq!(next.revision, revision, "a page read at a revision reports it");
        assert_eq!(next.remaining, expected_remaining, "remaining after page ending {:?}", next.items.last());
        seen.extend(next.items.iter().map(|kv| kv.key.clone()));
        after = next.items.last().map(|kv| kv.key.clone());
    }
    let expected: Vec<String> = (0..10).map(|i| format!("{prefix}k{i:02}")).collect();
    assert_eq!(seen, expected, "pages at one revision cover the keys exactly once, in order");

    let latest = store.list(page(None, 0, 100)).await.expect("latest");
    assert_eq!(latest.items.len(), 10, "latest list sees the create and the delete");
    assert!(keys(&latest).contains(&format!("{prefix}k05a").as_str()));
    assert!(!keys(&latest).contains(&format!("{prefix}k08").as_str()));
    assert_eq!(latest.remaining, 0, "a limit above the count leaves nothing remaining");
    let past_end = store.list(page(Some(format!("{prefix}zz")), 0, 3)).await.expect("past the end");
    assert!(past_end.items.is_empty() && past_end.remaining == 0, "start_after past the last key is empty");
    let exact = store.list(page(Some(format!("{prefix}k08")), 0, 1)).await.expect("after a deleted key");
    assert_eq!(keys(&exact), [format!("{prefix}k09")], "start_after need not be a live key");
    assert_eq!(exact.remaining, 0);
}

/// A list at an older revision shows every key as it was then, deleted keys included.
pub async fn list_at_an_old_revision_returns_the_state_at_that_revision(store: &dyn Store) {
    let prefix = format!("{ROOT}/history/");
    let (a, b, c) = (format!("{prefix}a"), format!("{prefix}b"), format!("{prefix}c"));
    let a1 = store.create(&a, bytes("a1")).await.expect("create a");
    let b1 = store.create(&b, bytes("b1")).await.expect("create b");
    let r1 = b1.mod_revision;
    let a2 = store.update(&a, bytes("a2"), a1.mod_revision).await.expect("update a");
    let r2 = a2.mod_revision;
    store.delete(&b, None).await.expect("delete b");
    let c1 = store.create(&c, bytes("c1")).await.expect("create c");
    store.create(&format!("{ROOT}/historyx/a"), bytes("elsewhere")).await.expect("create");

    let at_r1 = list(store, &prefix, r1).await;
    assert_eq!(at_r1.revision, r1, "a list at a revision reports it");
    assert_eq!(at_r1.items, vec![a1.clone(), b1.clone()], "state at revision {r1}");
    let at_r2 = list(store, &prefix, r2).await;
    assert_eq!(at_r2.items, vec![a2.clone(), b1.clone()], "state at revision {r2}");
    let latest = list(store, &prefix, 0).await;
    assert_eq!(latest.items, vec![a2.clone(), c1.clone()], "latest state");
    let at_latest = list(store, &prefix, latest.revision).await;
    assert_eq!(at_latest.items, latest.items, "a list at the current revision equals the latest list");

    let paged = store
        .list(ListOptions { prefix: prefix.clone(), revision: r1, limit: 1, start_after: None })
        .await
        .expect("paged list at an old revision");
    assert_eq!((paged.items, paged.remaining), (vec![a1], 1), "paging at an old revision");
}

/// Lists at revisions not yet written fail rather than returning today's state.
pub async fn list_at_a_future_revision_is_an_error(store: &dyn Store) {
    store.create(&format!("{ROOT}/future/a"), bytes("x")).await.expect("create");
    let future = store.current_revision().await.unwrap() + 1000;
    let opts = ListOptions { prefix: format!("{ROOT}/future/"), revision: future, ..Default::default() };
    match store.list(opts).await {
        Err(Error::FutureRevision(r)) => assert_eq!(r, future, "FutureRevision names the revision"),
        other => panic!("list at a future revision must be FutureRevision, got {other:?}"),
    }
}

/// After compaction at R, reads at R and later are unchanged, reads and watches before R
/// are `Compacted`, and the latest values all remain.
pub async fn compaction_keeps_latest_values_and_rejects_older_revisions(store: &dyn Store) {
    let prefix = format!("{ROOT}/compact/");
    let key = |n: &str| format!("{prefix}{n}");
    let a1 = store.create(&key("a"), bytes("a1")).await.expect("create a");
    store.create(&key("b"), bytes("b1")).await.expect("create b");
    let c1 = store.create(&key("c"), bytes("c1")).await.expect("create c");
    let a2 = store.update(&key("a"), bytes("a2"), a1.mod_revision).await.expect("update a");
    let deleted = store.delete(&key("b"), None).await.expect("delete b");
    let at = deleted.mod_revision;
    let d1 = store.create(&key("d"), bytes("d1")).await.expect("create d");

    store.compact(at).await.expect("compact");
    let compacted = store.compacted_revision().await.unwrap();
    assert!(compacted >= at, "compacted revision {compacted} must reach {at}");

    let opts = |revision| ListOptions { prefix: prefix.clone(), revision, ..Default::default() };
    match store.list(opts(a1.mod_revision)).await {
        Err(Error::Compacted { requested, compacted }) => {
            assert_eq!(requested, a1.mod_revision, "Compacted names the requested revision");
            assert!(compacted >= at, "Compacted names the compacted revision");
        }
        other => panic!("list before the compacted revision must be Compacted, got {other:?}"),
    }
    assert_eq!(list(store, &prefix, at).await.items, vec![a2.clone(), c1.clone()], "state at the compacted revision is kept");
    assert_eq!(list(store, &prefix, 0).await.items, vec![a2.clone(), c1.clone(), d1.clone()], "latest state is kept");
    assert_eq!(store.get(&key("c")).await.unwrap(), Some(c1.clone()), "an old but live value survives compaction");

    match store.watch(&prefix, a1.mod_revision).await {
        Err(Error::Compacted { .. }) => {}
        Err(e) => panic!("watch from before the compacted revision must be Compacted, got {e}"),
        Ok(_) => panic!("watch from before the compacted revision must be Compacted, got a stream"),
    }
    let mut stream = store.watch(&prefix, at).await.expect("watch from the compacted revision");
    assert_event(&next_event(&mut stream, "create d").await, EventKind::Create, &d1, "history after compaction");

    match store.compact(store.current_revision().await.unwrap() + 1000).await {
        Err(Error::FutureRevision(_)) => {}
        other => panic!("compacting a future revision must be FutureRevision, got {other:?}"),
    }
    // Writes carry on, and older keys still behave.
    let c2 = store.update(&key("c"), bytes("c2"), c1.mod_revision).await.expect("update after compaction");
    assert_event(&next_event(&mut stream, "update c").await, EventKind::Update, &c2, "live after compaction");
    assert_eq!(list(store, &prefix, at).await.items, vec![a2, c1], "state at the compacted revision is still kept");
}

/// A watch from revision R first yields every change after R, in order and with the
/// right kinds, then live changes.
pub async fn watch_replays_history_after_the_revision_then_streams_live_events(store: &dyn Store) {
    let prefix = format!("{ROOT}/watch/");
    let (a, b) = (format!("{prefix}a"), format!("{prefix}b"));
    let start = store.current_revision().await.unwrap();
    let a1 = store.create(&a, bytes("a1")).await.expect("create a");
    let a2 = store.update(&a, bytes("a2"), a1.mod_revision).await.expect("update a");
    let gone = store.delete(&a, Some(a2.mod_revision)).await.expect("delete a");
    let b1 = store.create(&b, bytes("b1")).await.expect("create b");

    let mut stream = store.watch(&prefix, start).await.expect("watch");
    assert_event(&next_event(&mut stream, "create a").await, EventKind::Create, &a1, "replayed create");
    assert_event(&next_event(&mut stream, "update a").await, EventKind::Update, &a2, "replayed update");
    let delete = next_event(&mut stream, "delete a").await;
    assert_eq!(delete.kind, EventKind::Delete, "replayed delete kind");
    assert_eq!(delete.kv.value, a2.value, "a delete event carries the last value");
    assert_eq!(delete.kv.mod_revision, gone.mod_revision, "a delete event has the delete's revision");
    assert_eq!(delete.kv, gone, "a delete event matches what delete returned");
    assert_event(&next_event(&mut stream, "create b").await, EventKind::Create, &b1, "replayed create");

    let a3 = store.create(&a, bytes("a3")).await.expect("recreate a");
    assert_event(&next_event(&mut stream, "live recreate").await, EventKind::Create, &a3, "a recreate is a Create");
    let b2 = store.update(&b, bytes("b2"), b1.mod_revision).await.expect("update b");
    assert_event(&next_event(&mut stream, "live update").await, EventKind::Update, &b2, "live update");

    let mut later = store.watch(&prefix, a1.mod_revision).await.expect("watch from the middle");
    assert_event(&next_event(&mut later, "update a").await, EventKind::Update, &a2, "a watch starts after its revision");
}

/// A watch of `/a/` sees neither `/ab/` nor `/a`.
pub async fn watch_only_sees_keys_under_its_prefix(store: &dyn Store) {
    let base = format!("{ROOT}/watchprefix/");
    let start = store.current_revision().await.unwrap();
    let mut stream = store.watch(&format!("{base}a/"), start).await.expect("watch");
    let mut expected = Vec::new();
    for i in 0..3 {
        store.create(&format!("{base}ab/{i}"), bytes("no")).await.expect("create");
        store.create(&format!("{base}a{i}"), bytes("no")).await.expect("create");
        expected.push(store.create(&format!("{base}a/{i}"), bytes("yes")).await.expect("create"));
    }
    for kv in &expected {
        assert_event(&next_event(&mut stream, &kv.key).await, EventKind::Create, kv, "prefix watch");
    }
    assert_no_event(&mut stream, "only keys under the prefix were written").await;
    let mut replay = store.watch(&format!("{base}a/"), start).await.expect("replaying watch");
    for kv in &expected {
        assert_event(&next_event(&mut replay, &kv.key).await, EventKind::Create, kv, "prefix replay");
    }
}

/// A watch from the current revision replays nothing and then sees new writes.
pub async fn watch_from_the_current_revision_sees_only_new_events(store: &dyn Store) {
    let prefix = format!("{ROOT}/watchnow/");
    store.create(&format!("{prefix}old"), bytes("old")).await.expect("create");
    let now = store.current_revision().await.unwrap();
    let mut stream = store.watch(&prefix, now).await.expect("watch");
    assert_no_event(&mut stream, "nothing was written after the watch's revision").await;
    let kv = store.create(&format!("{prefix}new"), bytes("new")).await.expect("create");
    assert_event(&next_event(&mut stream, "new key").await, EventKind::Create, &kv, "live event");
}

/// Watches started while many writers race see every write after their start revision
/// exactly once, in revision order: nothing is lost or repeated where the history replay
/// hands over to live events.
pub async fn watch_has_no_gap_or_duplicate_under_concurrent_writes(store: &dyn Store) {
    const WRITERS: usize = 8;
    const ROUNDS: usize = 40;
    const WATCHES: usize = 100;
    let prefix = format!("{ROOT}/race/");
    let done = format!("{prefix}~done");
    let first = store.current_revision().await.unwrap();
    let finished = AtomicBool::new(false);

    let writer = |w: usize| {
        let prefix = prefix.clone();
        async move {
            let mut revisions = Vec::new();
            for i in 0..ROUNDS {
                let key = format!("{prefix}{w}/{i}");
                let kv = store.create(&key, bytes("1")).await.expect("create");
                revisions.push(kv.mod_revision);
                let kv = store.update(&key, bytes("2"), kv.mod_revision).await.expect("update");
                revisions.push(kv.mod_revision);
            }
            revisions
        }
    };
    let writes = async {
        let revisions = futures::future::join_all((0..WRITERS).map(writer)).await;
        finished.store(true, Ordering::SeqCst);
        revisions.into_iter().flatten().collect::<BTreeSet<_>>()
    };
    // Start watches throughout the race: even ones replay from before it, odd ones start
    // from whatever revision is current, so the replay/live hand-over lands mid-stream.
    let watches = async {
        let mut streams = Vec::new();
        while !finished.load(Ordering::SeqCst) && streams.len() < WATCHES {
            let after = if streams.len() % 2 == 0 { first } else { store.current_revision().await.unwrap() };
            streams.push((after, store.watch(&prefix, after).await.expect("watch")));
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        streams
    };
    let (written, streams) = futures::future::join(writes, watches).await;
    store.create(&done, bytes("done")).await.expect("create the end marker");
    assert_eq!(written.len(), WRITERS * ROUNDS * 2, "every write has its own revision");
    assert!(!streams.is_empty(), "no watch started");
    for (after, mut stream) in streams {
        let mut seen = Vec::new();
        loop {
            let event = next_event(&mut stream, "the end marker").await;
            if event.kv.key == done {
                break;
            }
            seen.push(event.kv.mod_revision);
        }
        let expected: Vec<Revision> = written.iter().copied().filter(|&r| r > after).collect();
        let duplicates = seen.len() - seen.iter().collect::<BTreeSet<_>>().len();
        assert_eq!(duplicates, 0, "watch from {after} repeated events");
        assert!(seen.windows(2).all(|w| w[0] < w[1]), "watch from {after} is out of order: {seen:?}");
        let missing: Vec<_> = expected.iter().filter(|r| !seen.contains(r)).collect();
        assert!(missing.is_empty(), "watch from {after} missed revisions {missing:?}");
        assert_eq!(seen, expected, "watch from {after} saw exactly the writes after it");
    }
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
    let a2 = store.update(&a, bytes("a2"), a1.mod_revision).await.expect("update a");
    // The last write is a delete, and compaction removes its tombstone.
    let last = store.delete(&b, None).await.expect("delete b").mod_revision;
    store.compact(last).await.expect("compact");
    drop(store);
    drop(guard);

    let (store, guard) = open().await;
    let current = store.current_revision().await.unwrap();
    assert!(current >= last, "current revision went back from {last} to {current} across reopen");
    let compacted = store.compacted_revision().await.unwrap();
    assert!(compacted >= last, "compacted revision went back from {last} to {compacted} across reopen");
    assert_eq!(store.get(&a).await.unwrap(), Some(a2.clone()), "data survives reopen");
    assert_eq!(store.get(&b).await.unwrap(), None, "deletes survive reopen");
    let next = store.create(&b, bytes("b2")).await.expect("create after reopen");
    assert!(next.mod_revision > last, "revision {} after reopen is not above {last}", next.mod_revision);
    assert_eq!(list(store_ref(&store), &prefix, 0).await.items, vec![a2, next]);
    drop(store);
    drop(guard);
}

fn store_ref<S: Store>(store: &S) -> &dyn Store {
    store
}
