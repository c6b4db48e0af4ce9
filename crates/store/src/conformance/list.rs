//! Conformance cases for lists: prefixes, pages, old revisions, and compaction.

use super::{assert_event, bytes, keys, list, next_event, ROOT};
use crate::{Error, EventKind, ListOptions, Revision, Store};

/// A list returns exactly the keys starting with the prefix, sorted; `/a/` never
/// matches `/ab/`.
pub async fn list_returns_only_keys_under_the_prefix_in_key_order(store: &dyn Store) {
    let base = format!("{ROOT}/list/registry/pods/");
    let names = ["a/y", "ab/x", "a/x", "b/x", "a", "a/b", "a/x/deeper"];
    for name in names {
        store
            .create(&format!("{base}{name}"), bytes(name))
            .await
            .expect("create");
    }
    store
        .create(&format!("{ROOT}/list/registry/podsx/a/x"), bytes("x"))
        .await
        .expect("create");

    let under_a = list(store, &format!("{base}a/"), 0).await;
    let expected: Vec<String> = ["a/b", "a/x", "a/x/deeper", "a/y"]
        .iter()
        .map(|n| format!("{base}{n}"))
        .collect();
    assert_eq!(
        keys(&under_a),
        expected,
        "prefix {base}a/ must not match {base}ab/ or {base}a"
    );
    assert_eq!(
        under_a.remaining, 0,
        "an unlimited list has nothing remaining"
    );
    assert_eq!(
        under_a.revision,
        store.current_revision().await.unwrap(),
        "a latest list reads at the current revision"
    );
    for kv in &under_a.items {
        assert_eq!(
            Some(kv),
            store.get(&kv.key).await.unwrap().as_ref(),
            "list and get agree on {}",
            kv.key
        );
    }

    let all = list(store, &base, 0).await;
    let mut sorted: Vec<String> = names.iter().map(|n| format!("{base}{n}")).collect();
    sorted.sort();
    assert_eq!(
        keys(&all),
        sorted,
        "list {base} returns every key under it, sorted"
    );
    assert!(
        list(store, &format!("{base}zzz/"), 0)
            .await
            .items
            .is_empty(),
        "an empty prefix lists nothing"
    );
}

/// Pages are consecutive, `remaining` counts what follows, and pages read at the first
/// page's revision ignore later writes.
pub async fn list_paginates_with_limit_start_after_and_remaining(store: &dyn Store) {
    let prefix = format!("{ROOT}/pages/");
    for i in 0..10 {
        store
            .create(&format!("{prefix}k{i:02}"), bytes("v"))
            .await
            .expect("create");
    }
    let page = |start_after: Option<String>, revision: Revision, limit: usize| ListOptions {
        prefix: prefix.clone(),
        revision,
        limit,
        start_after,
    };
    let first = store.list(page(None, 0, 3)).await.expect("first page");
    let revision = first.revision;
    assert_eq!(
        keys(&first),
        ["k00", "k01", "k02"].map(|k| format!("{prefix}{k}")),
        "first page"
    );
    assert_eq!(first.remaining, 7, "remaining after the first page");

    // Writes after the first page must not show in later pages read at its revision.
    store
        .create(&format!("{prefix}k05a"), bytes("new"))
        .await
        .expect("create");
    store
        .delete(&format!("{prefix}k08"), None)
        .await
        .expect("delete");

    let mut seen = keys(&first)
        .iter()
        .map(|k| k.to_string())
        .collect::<Vec<_>>();
    let mut after = first.items.last().map(|kv| kv.key.clone());
    for expected_remaining in [4, 1, 0] {
        let next = store
            .list(page(after.clone(), revision, 3))
            .await
            .expect("next page");
        assert_eq!(
            next.revision, revision,
            "a page read at a revision reports it"
        );
        assert_eq!(
            next.remaining,
            expected_remaining,
            "remaining after page ending {:?}",
            next.items.last()
        );
        seen.extend(next.items.iter().map(|kv| kv.key.clone()));
        after = next.items.last().map(|kv| kv.key.clone());
    }
    let expected: Vec<String> = (0..10).map(|i| format!("{prefix}k{i:02}")).collect();
    assert_eq!(
        seen, expected,
        "pages at one revision cover the keys exactly once, in order"
    );

    let latest = store.list(page(None, 0, 100)).await.expect("latest");
    assert_eq!(
        latest.items.len(),
        10,
        "latest list sees the create and the delete"
    );
    assert!(keys(&latest).contains(&format!("{prefix}k05a").as_str()));
    assert!(!keys(&latest).contains(&format!("{prefix}k08").as_str()));
    assert_eq!(
        latest.remaining, 0,
        "a limit above the count leaves nothing remaining"
    );
    let past_end = store
        .list(page(Some(format!("{prefix}zz")), 0, 3))
        .await
        .expect("past the end");
    assert!(
        past_end.items.is_empty() && past_end.remaining == 0,
        "start_after past the last key is empty"
    );
    let exact = store
        .list(page(Some(format!("{prefix}k08")), 0, 1))
        .await
        .expect("after a deleted key");
    assert_eq!(
        keys(&exact),
        [format!("{prefix}k09")],
        "start_after need not be a live key"
    );
    assert_eq!(exact.remaining, 0);
}

/// A list at an older revision shows every key as it was then, deleted keys included.
pub async fn list_at_an_old_revision_returns_the_state_at_that_revision(store: &dyn Store) {
    let prefix = format!("{ROOT}/history/");
    let (a, b, c) = (
        format!("{prefix}a"),
        format!("{prefix}b"),
        format!("{prefix}c"),
    );
    let a1 = store.create(&a, bytes("a1")).await.expect("create a");
    let b1 = store.create(&b, bytes("b1")).await.expect("create b");
    let r1 = b1.mod_revision;
    let a2 = store
        .update(&a, bytes("a2"), a1.mod_revision)
        .await
        .expect("update a");
    let r2 = a2.mod_revision;
    store.delete(&b, None).await.expect("delete b");
    let c1 = store.create(&c, bytes("c1")).await.expect("create c");
    store
        .create(&format!("{ROOT}/historyx/a"), bytes("elsewhere"))
        .await
        .expect("create");

    let at_r1 = list(store, &prefix, r1).await;
    assert_eq!(at_r1.revision, r1, "a list at a revision reports it");
    assert_eq!(
        at_r1.items,
        vec![a1.clone(), b1.clone()],
        "state at revision {r1}"
    );
    let at_r2 = list(store, &prefix, r2).await;
    assert_eq!(
        at_r2.items,
        vec![a2.clone(), b1.clone()],
        "state at revision {r2}"
    );
    let latest = list(store, &prefix, 0).await;
    assert_eq!(latest.items, vec![a2.clone(), c1.clone()], "latest state");
    let at_latest = list(store, &prefix, latest.revision).await;
    assert_eq!(
        at_latest.items, latest.items,
        "a list at the current revision equals the latest list"
    );

    let paged = store
        .list(ListOptions {
            prefix: prefix.clone(),
            revision: r1,
            limit: 1,
            start_after: None,
        })
        .await
        .expect("paged list at an old revision");
    assert_eq!(
        (paged.items, paged.remaining),
        (vec![a1], 1),
        "paging at an old revision"
    );
}

/// Lists at revisions not yet written fail rather than returning today's state.
pub async fn list_at_a_future_revision_is_an_error(store: &dyn Store) {
    store
        .create(&format!("{ROOT}/future/a"), bytes("x"))
        .await
        .expect("create");
    let future = store.current_revision().await.unwrap() + 1000;
    let opts = ListOptions {
        prefix: format!("{ROOT}/future/"),
        revision: future,
        ..Default::default()
    };
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
    let a1 = store
        .create(&key("a"), bytes("a1"))
        .await
        .expect("create a");
    store
        .create(&key("b"), bytes("b1"))
        .await
        .expect("create b");
    let c1 = store
        .create(&key("c"), bytes("c1"))
        .await
        .expect("create c");
    let a2 = store
        .update(&key("a"), bytes("a2"), a1.mod_revision)
        .await
        .expect("update a");
    let deleted = store.delete(&key("b"), None).await.expect("delete b");
    let at = deleted.mod_revision;
    let d1 = store
        .create(&key("d"), bytes("d1"))
        .await
        .expect("create d");

    store.compact(at).await.expect("compact");
    let compacted = store.compacted_revision().await.unwrap();
    assert!(
        compacted >= at,
        "compacted revision {compacted} must reach {at}"
    );

    let opts = |revision| ListOptions {
        prefix: prefix.clone(),
        revision,
        ..Default::default()
    };
    match store.list(opts(a1.mod_revision)).await {
        Err(Error::Compacted {
            requested,
            compacted,
        }) => {
            assert_eq!(
                requested, a1.mod_revision,
                "Compacted names the requested revision"
            );
            assert!(compacted >= at, "Compacted names the compacted revision");
        }
        other => panic!("list before the compacted revision must be Compacted, got {other:?}"),
    }
    assert_eq!(
        list(store, &prefix, at).await.items,
        vec![a2.clone(), c1.clone()],
        "state at the compacted revision is kept"
    );
    assert_eq!(
        list(store, &prefix, 0).await.items,
        vec![a2.clone(), c1.clone(), d1.clone()],
        "latest state is kept"
    );
    assert_eq!(
        store.get(&key("c")).await.unwrap(),
        Some(c1.clone()),
        "an old but live value survives compaction"
    );

    match store.watch(&prefix, a1.mod_revision).await {
        Err(Error::Compacted { .. }) => {}
        Err(e) => panic!("watch from before the compacted revision must be Compacted, got {e}"),
        Ok(_) => panic!("watch from before the compacted revision must be Compacted, got a stream"),
    }
    let mut stream = store
        .watch(&prefix, at)
        .await
        .expect("watch from the compacted revision");
    assert_event(
        &next_event(&mut stream, "create d").await,
        EventKind::Create,
        &d1,
        "history after compaction",
    );

    match store
        .compact(store.current_revision().await.unwrap() + 1000)
        .await
    {
        Err(Error::FutureRevision(_)) => {}
        other => panic!("compacting a future revision must be FutureRevision, got {other:?}"),
    }
    // Writes carry on, and older keys still behave.
    let c2 = store
        .update(&key("c"), bytes("c2"), c1.mod_revision)
        .await
        .expect("update after compaction");
    assert_event(
        &next_event(&mut stream, "update c").await,
        EventKind::Update,
        &c2,
        "live after compaction",
    );
    assert_eq!(
        list(store, &prefix, at).await.items,
        vec![a2, c1],
        "state at the compacted revision is still kept"
    );
}
