//! Conformance cases for watches: replay, live events, prefixes, and races.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::{assert_event, assert_no_event, bytes, next_event, ROOT};
use crate::{EventKind, Revision, Store};

/// A watch from revision R first yields every change after R, in order and with the
/// right kinds, then live changes.
pub async fn watch_replays_history_after_the_revision_then_streams_live_events(store: &dyn Store) {
    let prefix = format!("{ROOT}/watch/");
    let (a, b) = (format!("{prefix}a"), format!("{prefix}b"));
    let start = store.current_revision().await.unwrap();
    let a1 = store.create(&a, bytes("a1")).await.expect("create a");
    let a2 = store
        .update(&a, bytes("a2"), a1.mod_revision)
        .await
        .expect("update a");
    let gone = store
        .delete(&a, Some(a2.mod_revision))
        .await
        .expect("delete a");
    let b1 = store.create(&b, bytes("b1")).await.expect("create b");

    let mut stream = store.watch(&prefix, start).await.expect("watch");
    assert_event(
        &next_event(&mut stream, "create a").await,
        EventKind::Create,
        &a1,
        "replayed create",
    );
    assert_event(
        &next_event(&mut stream, "update a").await,
        EventKind::Update,
        &a2,
        "replayed update",
    );
    let delete = next_event(&mut stream, "delete a").await;
    assert_eq!(delete.kind, EventKind::Delete, "replayed delete kind");
    assert_eq!(
        delete.kv.value, a2.value,
        "a delete event carries the last value"
    );
    assert_eq!(
        delete.kv.mod_revision, gone.mod_revision,
        "a delete event has the delete's revision"
    );
    assert_eq!(
        delete.kv, gone,
        "a delete event matches what delete returned"
    );
    assert_event(
        &next_event(&mut stream, "create b").await,
        EventKind::Create,
        &b1,
        "replayed create",
    );

    let a3 = store.create(&a, bytes("a3")).await.expect("recreate a");
    assert_event(
        &next_event(&mut stream, "live recreate").await,
        EventKind::Create,
        &a3,
        "a recreate is a Create",
    );
    let b2 = store
        .update(&b, bytes("b2"), b1.mod_revision)
        .await
        .expect("update b");
    assert_event(
        &next_event(&mut stream, "live update").await,
        EventKind::Update,
        &b2,
        "live update",
    );

    let mut later = store
        .watch(&prefix, a1.mod_revision)
        .await
        .expect("watch from the middle");
    assert_event(
        &next_event(&mut later, "update a").await,
        EventKind::Update,
        &a2,
        "a watch starts after its revision",
    );
}

/// A watch of `/a/` sees neither `/ab/` nor `/a`.
pub async fn watch_only_sees_keys_under_its_prefix(store: &dyn Store) {
    let base = format!("{ROOT}/watchprefix/");
    let start = store.current_revision().await.unwrap();
    let mut stream = store
        .watch(&format!("{base}a/"), start)
        .await
        .expect("watch");
    let mut expected = Vec::new();
    for i in 0..3 {
        store
            .create(&format!("{base}ab/{i}"), bytes("no"))
            .await
            .expect("create");
        store
            .create(&format!("{base}a{i}"), bytes("no"))
            .await
            .expect("create");
        expected.push(
            store
                .create(&format!("{base}a/{i}"), bytes("yes"))
                .await
                .expect("create"),
        );
    }
    for kv in &expected {
        assert_event(
            &next_event(&mut stream, &kv.key).await,
            EventKind::Create,
            kv,
            "prefix watch",
        );
    }
    assert_no_event(&mut stream, "only keys under the prefix were written").await;
    let mut replay = store
        .watch(&format!("{base}a/"), start)
        .await
        .expect("replaying watch");
    for kv in &expected {
        assert_event(
            &next_event(&mut replay, &kv.key).await,
            EventKind::Create,
            kv,
            "prefix replay",
        );
    }
}

/// A watch from the current revision replays nothing and then sees new writes.
pub async fn watch_from_the_current_revision_sees_only_new_events(store: &dyn Store) {
    let prefix = format!("{ROOT}/watchnow/");
    store
        .create(&format!("{prefix}old"), bytes("old"))
        .await
        .expect("create");
    let now = store.current_revision().await.unwrap();
    let mut stream = store.watch(&prefix, now).await.expect("watch");
    assert_no_event(
        &mut stream,
        "nothing was written after the watch's revision",
    )
    .await;
    let kv = store
        .create(&format!("{prefix}new"), bytes("new"))
        .await
        .expect("create");
    assert_event(
        &next_event(&mut stream, "new key").await,
        EventKind::Create,
        &kv,
        "live event",
    );
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
                let kv = store
                    .update(&key, bytes("2"), kv.mod_revision)
                    .await
                    .expect("update");
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
            let after = if streams.len() % 2 == 0 {
                first
            } else {
                store.current_revision().await.unwrap()
            };
            streams.push((after, store.watch(&prefix, after).await.expect("watch")));
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        streams
    };
    let (written, streams) = futures::future::join(writes, watches).await;
    store
        .create(&done, bytes("done"))
        .await
        .expect("create the end marker");
    assert_eq!(
        written.len(),
        WRITERS * ROUNDS * 2,
        "every write has its own revision"
    );
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
        assert!(
            seen.windows(2).all(|w| w[0] < w[1]),
            "watch from {after} is out of order: {seen:?}"
        );
        let missing: Vec<_> = expected.iter().filter(|r| !seen.contains(r)).collect();
        assert!(
            missing.is_empty(),
            "watch from {after} missed revisions {missing:?}"
        );
        assert_eq!(
            seen, expected,
            "watch from {after} saw exactly the writes after it"
        );
    }
}
