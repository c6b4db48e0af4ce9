//! Unit tests of the SQLite backend's own behaviour. The shared behaviour is the
//! conformance suite, run here too with tiny replay pages so watches cross pages.

use std::path::Path;
use std::time::Duration;

use futures::StreamExt;

use super::{read, schema, watch, SqliteOptions, SqliteStore};
use crate::{Error, EventKind, ListOptions, Store, WatchStream};

async fn make() -> (SqliteStore, tempfile::TempDir) {
    open_with(SqliteOptions::default())
}

fn open_with(options: SqliteOptions) -> (SqliteStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open_with(&dir.path().join("db"), options).unwrap();
    (store, dir)
}

mod conformance_with_small_replay_pages {
    use super::make;
    crate::conformance_tests!(make);
}

fn log_rows(dir: &Path) -> i64 {
    let conn = schema::open_reader(&dir.join("db")).unwrap();
    conn.query_row("SELECT count(*) FROM log", [], |r| r.get(0))
        .unwrap()
}

async fn next(stream: &mut WatchStream) -> Option<crate::Result<crate::Event>> {
    tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .expect("watch stream stalled")
}

#[tokio::test]
async fn failed_checks_do_not_use_up_revisions() {
    let (store, _dir) = make().await;
    let a = store.create("/a", b"1".to_vec()).await.unwrap();
    store.create("/a", b"2".to_vec()).await.unwrap_err();
    store.update("/a", b"2".to_vec(), 99).await.unwrap_err();
    store.delete("/missing", None).await.unwrap_err();
    let b = store.create("/b", b"1".to_vec()).await.unwrap();
    assert_eq!(b.mod_revision, a.mod_revision + 1);
    assert_eq!(store.current_revision().await.unwrap(), b.mod_revision);
}

#[tokio::test]
async fn a_watcher_that_falls_behind_the_buffer_has_its_stream_ended() {
    let (store, _dir) = open_with(SqliteOptions {
        watch_buffer: 2,
        ..Default::default()
    });
    let mut stream = store.watch("/", 0).await.unwrap();
    for i in 0..10 {
        store.create(&format!("/k{i}"), vec![]).await.unwrap();
    }
    let mut seen = 0;
    while let Some(item) = next(&mut stream).await {
        item.unwrap();
        seen += 1;
    }
    assert!(
        seen < 10,
        "a lagging watcher must be cut off, yet it saw all {seen} events"
    );
}

#[tokio::test]
async fn replay_crosses_pages_in_order() {
    let (store, _dir) = make().await;
    for i in 0..30 {
        store.create(&format!("/p/{i:02}"), vec![i]).await.unwrap();
        store.create(&format!("/q/{i:02}"), vec![i]).await.unwrap();
    }
    let mut stream = store.watch("/p/", 0).await.unwrap();
    for i in 0..30u8 {
        let event = next(&mut stream).await.unwrap().unwrap();
        assert_eq!((event.kind, event.kv.value), (EventKind::Create, vec![i]));
    }
    let live = store.create("/p/live", vec![]).await.unwrap();
    assert_eq!(next(&mut stream).await.unwrap().unwrap().kv, live);
}

#[tokio::test]
async fn compaction_during_a_replay_ends_it_with_compacted() {
    let (store, _dir) = make().await;
    for i in 0..30 {
        store.create(&format!("/k{i:02}"), vec![]).await.unwrap();
    }
    for i in 0..30 {
        store.delete(&format!("/k{i:02}"), None).await.unwrap();
    }
    let mut stream = store.watch("/", 0).await.unwrap();
    next(&mut stream).await.unwrap().unwrap();
    store
        .compact(store.current_revision().await.unwrap())
        .await
        .unwrap();
    let mut delivered = 1;
    let err = loop {
        match next(&mut stream).await {
            Some(Ok(_)) => delivered += 1,
            Some(Err(e)) => break e,
            None => panic!("the stream ended without an error after {delivered} events"),
        }
    };
    assert!(matches!(err, Error::Compacted { .. }), "{err}");
    assert!(delivered < 60, "events replayed from a compacted range");
    assert!(
        next(&mut stream).await.is_none(),
        "the stream ends after the error"
    );
}

#[tokio::test]
async fn compaction_in_small_chunks_keeps_only_live_values() {
    let (store, dir) = open_with(SqliteOptions {
        compaction_chunk: 3,
        ..Default::default()
    });
    for i in 0..10 {
        let mut kv = store.create(&format!("/k{i}"), vec![0]).await.unwrap();
        for v in 1..4 {
            kv = store
                .update(&kv.key, vec![v], kv.mod_revision)
                .await
                .unwrap();
        }
        if i % 2 == 1 {
            store.delete(&kv.key, None).await.unwrap();
        }
    }
    let before = store.list(ListOptions::default()).await.unwrap();
    let current = store.current_revision().await.unwrap();
    // Writes racing the chunked compaction still commit.
    let (compacted, extra) = futures::join!(store.compact(current), store.create("/extra", vec![]));
    compacted.unwrap();
    let extra = extra.unwrap();
    assert_eq!(store.compacted_revision().await.unwrap(), current);
    assert_eq!(
        log_rows(dir.path()),
        5 + 1,
        "only the live values and the racing write remain"
    );
    let at = ListOptions {
        revision: current,
        ..Default::default()
    };
    assert_eq!(store.list(at).await.unwrap().items, before.items);
    let latest = store.list(ListOptions::default()).await.unwrap();
    assert_eq!(latest.items.len(), 6);
    assert!(latest.items.contains(&extra));
}

#[tokio::test]
async fn compacting_at_or_below_the_compacted_revision_is_a_no_op() {
    let (store, _dir) = make().await;
    for i in 0..3 {
        store.create(&format!("/k{i}"), vec![]).await.unwrap();
    }
    store.compact(2).await.unwrap();
    store.compact(1).await.unwrap();
    store.compact(2).await.unwrap();
    store.compact(0).await.unwrap();
    assert_eq!(store.compacted_revision().await.unwrap(), 2);
    assert!(matches!(
        store.compact(4).await,
        Err(Error::FutureRevision(4))
    ));
}

#[tokio::test]
async fn a_watch_from_a_future_revision_starts_after_it() {
    let (store, _dir) = make().await;
    let mut stream = store.watch("/", 2).await.unwrap();
    for i in 0..3 {
        store.create(&format!("/k{i}"), vec![]).await.unwrap();
    }
    let event = next(&mut stream).await.unwrap().unwrap();
    assert_eq!((event.kv.key.as_str(), event.kv.mod_revision), ("/k2", 3));
}

#[tokio::test]
async fn dropping_the_store_ends_its_watches() {
    let (store, _dir) = make().await;
    let mut stream = store.watch("/", 0).await.unwrap();
    store.create("/a", vec![]).await.unwrap();
    drop(store);
    assert_eq!(next(&mut stream).await.unwrap().unwrap().kv.key, "/a");
    assert!(next(&mut stream).await.is_none());
}

#[tokio::test]
async fn negative_list_revision_is_rejected() {
    let (store, _dir) = make().await;
    let opts = ListOptions {
        revision: -1,
        ..Default::default()
    };
    assert!(matches!(store.list(opts).await, Err(Error::Backend(_))));
}

#[tokio::test]
async fn keys_sort_by_bytes_including_non_ascii() {
    let (store, _dir) = make().await;
    for key in ["/p/é", "/p/z", "/p/a", "/p/\u{10FFFF}", "/p/a\0b"] {
        store.create(key, vec![]).await.unwrap();
    }
    let listed = store
        .list(ListOptions {
            prefix: "/p/".into(),
            start_after: Some("/p/a".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    let keys: Vec<_> = listed.items.iter().map(|kv| kv.key.as_str()).collect();
    assert_eq!(keys, ["/p/a\0b", "/p/z", "/p/é", "/p/\u{10FFFF}"]);
}

/// Every read query must seek an index and never sort or scan a whole table, or list and
/// watch latency grows with the size of the store.
#[test]
fn read_queries_use_indexes_and_never_sort() {
    let dir = tempfile::tempdir().unwrap();
    let conn = schema::open_writer(&dir.path().join("db")).unwrap();
    for sql in [
        read::GET_SQL,
        read::LIST_LATEST_SQL,
        read::LIST_AT_SQL,
        read::COUNT_LATEST_SQL,
        read::COUNT_AT_SQL,
        watch::REPLAY_SQL,
    ] {
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let nulls = vec![rusqlite::types::Null; stmt.parameter_count()];
        let plan: Vec<String> = stmt
            .query_map(rusqlite::params_from_iter(nulls), |r| r.get(3))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert!(
            plan.iter()
                .all(|step| step.starts_with("SEARCH") || step.starts_with("CORRELATED")),
            "query plan scans or sorts: {plan:?}\n{sql}"
        );
    }
}
