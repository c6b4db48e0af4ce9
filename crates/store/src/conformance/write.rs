//! Conformance cases for single-key writes: create, update, delete, and revisions.

use std::collections::BTreeSet;

use super::{bytes, list, ROOT};
use crate::{Error, KeyValue, Revision, Store};

/// A created key reads back with the value and with create = mod revision.
pub async fn create_then_get_returns_the_value(store: &dyn Store) {
    let key = format!("{ROOT}/create/a");
    let before = store.current_revision().await.expect("current revision");
    let kv = store.create(&key, bytes("one")).await.expect("create");
    assert_eq!(kv.key, key, "create returns the key");
    assert_eq!(kv.value, bytes("one"), "create returns the value");
    assert!(
        kv.mod_revision > before,
        "create gets a new revision: {kv:?} after {before}"
    );
    assert_eq!(
        kv.create_revision, kv.mod_revision,
        "a new key's create revision is its mod revision"
    );
    assert_eq!(
        store.get(&key).await.expect("get"),
        Some(kv.clone()),
        "get returns what create stored"
    );
    let now = store.current_revision().await.expect("current revision");
    assert!(
        now >= kv.mod_revision,
        "current revision {now} is behind an acknowledged write {kv:?}"
    );
    let missing = store
        .get(&format!("{ROOT}/create/missing"))
        .await
        .expect("get missing");
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
    assert_eq!(
        store.get(&key).await.unwrap(),
        Some(first),
        "a failed create changes nothing"
    );
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
    assert!(
        updated.mod_revision > created.mod_revision,
        "update gets a new revision"
    );
    assert_eq!(
        updated.create_revision, created.create_revision,
        "update keeps the create revision"
    );
    assert_eq!(
        store.get(&key).await.unwrap(),
        Some(updated),
        "get returns the updated value"
    );
}

/// An update with an old revision fails with the value now stored.
pub async fn update_with_a_stale_revision_is_a_conflict_carrying_the_current_value(
    store: &dyn Store,
) {
    let key = format!("{ROOT}/conflict/a");
    let first = store.create(&key, bytes("one")).await.expect("create");
    let second = store
        .update(&key, bytes("two"), first.mod_revision)
        .await
        .expect("update");
    match store.update(&key, bytes("three"), first.mod_revision).await {
        Err(Error::Conflict {
            key: k,
            expected,
            current,
        }) => {
            assert_eq!(k, key, "Conflict names the key");
            assert_eq!(
                expected, first.mod_revision,
                "Conflict carries the expected revision"
            );
            assert_eq!(
                current.as_deref(),
                Some(&second),
                "Conflict carries the current value"
            );
        }
        other => panic!("update with a stale revision must be Conflict, got {other:?}"),
    }
    assert_eq!(
        store.get(&key).await.unwrap(),
        Some(second),
        "a failed update changes nothing"
    );
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
    store
        .delete(&key, Some(kv.mod_revision))
        .await
        .expect("delete");
    assert!(
        matches!(
            store.update(&key, bytes("y"), kv.mod_revision).await,
            Err(Error::NotFound(_))
        ),
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
    let second = store
        .update(&key, bytes("two"), first.mod_revision)
        .await
        .expect("update");
    match store.delete(&key, Some(first.mod_revision)).await {
        Err(Error::Conflict { current, .. }) => {
            assert_eq!(
                current.as_deref(),
                Some(&second),
                "Conflict carries the current value"
            );
        }
        other => panic!("delete with a stale revision must be Conflict, got {other:?}"),
    }
    assert_eq!(
        store.get(&key).await.unwrap(),
        Some(second.clone()),
        "a failed delete changes nothing"
    );
    let deleted = store
        .delete(&key, Some(second.mod_revision))
        .await
        .expect("delete");
    assert_eq!(deleted.key, key);
    assert_eq!(deleted.value, second.value, "delete returns the last value");
    assert_eq!(
        deleted.create_revision, first.create_revision,
        "delete keeps the create revision"
    );
    assert!(
        deleted.mod_revision > second.mod_revision,
        "delete returns its own revision"
    );
    assert_eq!(
        store.get(&key).await.unwrap(),
        None,
        "a deleted key is gone"
    );

    let other = format!("{ROOT}/delete/b");
    store.create(&other, bytes("x")).await.expect("create");
    store
        .delete(&other, None)
        .await
        .expect("delete without an expected revision");
    assert_eq!(store.get(&other).await.unwrap(), None);
}

/// A key created again after a delete is a new key: new create revision.
pub async fn delete_then_recreate_gets_a_new_create_revision(store: &dyn Store) {
    let key = format!("{ROOT}/recreate/a");
    let first = store.create(&key, bytes("one")).await.expect("create");
    let deleted = store.delete(&key, None).await.expect("delete");
    let again = store
        .create(&key, bytes("two"))
        .await
        .expect("create again");
    assert!(
        again.create_revision > deleted.mod_revision,
        "recreate gets a create revision after the delete"
    );
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
        assert!(
            created.mod_revision > last,
            "create revision {} after {last}",
            created.mod_revision
        );
        let _ = store
            .create(&key, bytes("b"))
            .await
            .expect_err("duplicate create");
        let updated = store
            .update(&key, bytes("c"), created.mod_revision)
            .await
            .expect("update");
        assert!(
            updated.mod_revision > created.mod_revision,
            "update revision after create"
        );
        last = updated.mod_revision;
    }
    let writes = (0..32).map(|i| create_revision_of(store, format!("{ROOT}/revs/race/{i}")));
    let revisions: Vec<Revision> = futures::future::join_all(writes).await;
    let distinct: BTreeSet<Revision> = revisions.iter().copied().collect();
    assert_eq!(
        distinct.len(),
        revisions.len(),
        "concurrent writes share a revision: {revisions:?}"
    );
    assert!(
        distinct.iter().all(|&r| r > last),
        "concurrent writes went back in revision"
    );
    let now = store.current_revision().await.unwrap();
    assert!(
        now >= *distinct.last().unwrap(),
        "current revision {now} behind acknowledged writes"
    );
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
    assert_eq!(
        winners.len(),
        1,
        "exactly one racing create wins: {results:?}"
    );
    let created = winners[0].clone();
    for result in &results {
        if let Err(e) = result {
            assert!(
                matches!(e, Error::AlreadyExists(_)),
                "a losing create is AlreadyExists, got {e}"
            );
        }
    }
    let updates = (0..16).map(|i| {
        let key = key.clone();
        async move {
            store
                .update(&key, bytes(&format!("u{i}")), created.mod_revision)
                .await
        }
    });
    let results = futures::future::join_all(updates).await;
    let winners: Vec<&KeyValue> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(
        winners.len(),
        1,
        "exactly one racing update wins: {results:?}"
    );
    for result in &results {
        if let Err(e) = result {
            assert!(
                matches!(e, Error::Conflict { .. }),
                "a losing update is Conflict, got {e}"
            );
        }
    }
    assert_eq!(
        store.get(&key).await.unwrap().as_ref(),
        Some(winners[0]),
        "the winner's value is stored"
    );
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
    assert_eq!(
        listed,
        values.iter().collect::<Vec<_>>(),
        "list returns values unchanged"
    );
}
