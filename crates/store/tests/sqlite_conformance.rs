//! The conformance suite on the SQLite backend, plus what only a file-backed store can
//! show: reopening, and acknowledged writes surviving `kill -9`.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use store::sqlite::SqliteStore;
use store::Store;

async fn make() -> (SqliteStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(&dir.path().join("state.db")).expect("open store");
    (store, dir)
}

store::conformance_tests!(make);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revisions_increase_across_reopen() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("state.db");
    store::conformance::revisions_increase_across_reopen(|| {
        let path = path.clone();
        async move { (SqliteStore::open(&path).expect("open store"), ()) }
    })
    .await;
}

/// Set in the child process of the kill test: the database it writes to.
const CHILD_DB: &str = "ORCA_STORE_KILL_TEST_DB";

/// The child side of `acknowledged_writes_survive_kill_9`: writes keys from many tasks
/// and prints each one after the store acknowledged it, until it is killed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by acknowledged_writes_survive_kill_9 in a child process"]
async fn kill_test_child_writes_until_killed() {
    let Some(path) = std::env::var_os(CHILD_DB) else {
        return;
    };
    let store = std::sync::Arc::new(SqliteStore::open(Path::new(&path)).expect("open store"));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    for w in 0..16 {
        let (store, tx) = (store.clone(), tx.clone());
        tokio::spawn(async move {
            for i in 0.. {
                let key = format!("/registry/kill/{w}/{i}");
                store.create(&key, vec![7; 512]).await.expect("create");
                let _ = tx.send(key);
            }
        });
    }
    drop(tx);
    let mut out = std::io::stdout().lock();
    while let Some(key) = rx.recv().await {
        writeln!(out, "acked {key}").unwrap();
        out.flush().unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_kill_9() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path: PathBuf = dir.path().join("state.db");
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--ignored",
            "--exact",
            "kill_test_child_writes_until_killed",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DB, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the writing child");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut acked = Vec::new();
    let deadline = Instant::now() + Duration::from_millis(400);
    while Instant::now() < deadline || acked.len() < 50 {
        match lines.next() {
            Some(line) => {
                if let Some(key) = line.expect("child output").strip_prefix("acked ") {
                    acked.push(key.to_owned());
                }
            }
            None => panic!(
                "the child stopped before it was killed ({} writes acknowledged)",
                acked.len()
            ),
        }
    }
    child.kill().expect("kill -9 the child"); // SIGKILL on Unix
    child.wait().expect("reap the child");
    // Acknowledgements already in the pipe count too.
    acked.extend(
        lines
            .map_while(|l| l.ok())
            .filter_map(|l| l.strip_prefix("acked ").map(str::to_owned)),
    );

    let store = SqliteStore::open(&path).expect("reopen after kill -9");
    let mut lost = Vec::new();
    for key in &acked {
        if store.get(key).await.expect("get").is_none() {
            lost.push(key);
        }
    }
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged writes lost after kill -9: {:?}",
        lost.len(),
        acked.len(),
        &lost[..lost.len().min(5)]
    );
    let newest = store.current_revision().await.unwrap();
    assert!(
        newest >= acked.len() as i64,
        "revision {newest} below {} acknowledged creates",
        acked.len()
    );
}
