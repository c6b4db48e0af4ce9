//! Throughput and latency checks of the SQLite backend, ignored by default because they
//! measure the machine as much as the code. Run them with
//! `cargo test -p store --release --test sqlite_perf -- --ignored --nocapture`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use store::sqlite::SqliteStore;
use store::{ListOptions, Store};

const VALUE: usize = 1024;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "performance measurement"]
async fn creates_per_second_with_64_concurrent_writers() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("db")).unwrap());
    const TASKS: usize = 64;
    const PER_TASK: usize = 300;
    let started = Instant::now();
    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(PER_TASK);
                for i in 0..PER_TASK {
                    let began = Instant::now();
                    store
                        .create(&format!("/registry/pods/ns{t}/pod-{i}"), vec![b'x'; VALUE])
                        .await
                        .unwrap();
                    latencies.push(began.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.unwrap());
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let total = TASKS * PER_TASK;
    println!(
        "{total} creates ({VALUE} B values) by {TASKS} tasks in {elapsed:?}: {:.0} creates/s, latency p50 {:?} p99 {:?}",
        total as f64 / elapsed.as_secs_f64(),
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "performance measurement"]
async fn get_and_list_latency_with_10k_keys() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("db")).unwrap());
    const KEYS: usize = 10_000;
    let tasks: Vec<_> = (0..64)
        .map(|t| {
            let store = store.clone();
            tokio::spawn(async move {
                for i in (t..KEYS).step_by(64) {
                    let key = format!("/registry/pods/default/pod-{i:05}");
                    let kv = store.create(&key, vec![b'x'; VALUE]).await.unwrap();
                    if i % 2 == 0 {
                        store
                            .update(&key, vec![b'y'; VALUE], kv.mod_revision)
                            .await
                            .unwrap();
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let old_revision = store.current_revision().await.unwrap();
    store
        .create("/registry/pods/default/zz", vec![])
        .await
        .unwrap();

    let mut latencies = Vec::with_capacity(KEYS);
    for i in 0..KEYS {
        let key = format!("/registry/pods/default/pod-{:05}", (i * 7919) % KEYS);
        let began = Instant::now();
        store.get(&key).await.unwrap().expect("key exists");
        latencies.push(began.elapsed());
    }
    latencies.sort();
    println!(
        "get of {KEYS} keys: p50 {:?} p99 {:?} max {:?}",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies.last().unwrap()
    );

    let timed = |opts: ListOptions| {
        let store = store.clone();
        async move {
            let began = Instant::now();
            let list = store.list(opts).await.unwrap();
            (began.elapsed(), list.items.len(), list.remaining)
        }
    };
    let prefix = "/registry/pods/".to_string();
    for (name, opts) in [
        (
            "list all at latest",
            ListOptions {
                prefix: prefix.clone(),
                ..Default::default()
            },
        ),
        (
            "list page of 500 at latest",
            ListOptions {
                prefix: prefix.clone(),
                limit: 500,
                ..Default::default()
            },
        ),
        (
            "list all at an old revision",
            ListOptions {
                prefix: prefix.clone(),
                revision: old_revision,
                ..Default::default()
            },
        ),
        (
            "list page of 500 at an old revision",
            ListOptions {
                prefix: prefix.clone(),
                revision: old_revision,
                limit: 500,
                ..Default::default()
            },
        ),
    ] {
        let (elapsed, items, remaining) = timed(opts).await;
        println!("{name}: {items} items, {remaining} remaining, {elapsed:?}");
    }
}
