//! An acknowledged write survives `kill -9` of the server at any moment: writers record
//! every object the server acknowledged; the server is killed mid-stream and restarted,
//! and every recorded object must be there.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams, PostParams};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_kill_9() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let mut acked_total = 0;
    for round in 0..3 {
        let mut server = common::Server::start_in(dir.path());
        let client = server.client().await;
        let acked = Arc::new(Mutex::new(Vec::<String>::new()));
        let mut writers = Vec::new();
        for w in 0..8 {
            let api: Api<ConfigMap> = Api::default_namespaced(client.clone());
            let acked = acked.clone();
            writers.push(tokio::spawn(async move {
                for i in 0.. {
                    let name = format!("r{round}-w{w}-{i}");
                    let cm: ConfigMap = serde_json::from_value(serde_json::json!({
                        "metadata": {"name": name}, "data": {"i": i.to_string()}
                    }))
                    .unwrap();
                    match api.create(&PostParams::default(), &cm).await {
                        Ok(_) => acked.lock().unwrap().push(name),
                        Err(_) => return,
                    }
                }
            }));
        }
        // Kill at a different moment each round, while writes are in flight.
        tokio::time::sleep(Duration::from_millis(400 + 250 * round)).await;
        server.kill9();
        for w in writers {
            let _ = w.await;
        }
        let acked = acked.lock().unwrap().clone();
        assert!(
            !acked.is_empty(),
            "round {round}: no write was acknowledged before the kill"
        );
        acked_total += acked.len();

        let server = common::Server::start_in(dir.path());
        let client = server.client().await;
        let api: Api<ConfigMap> = Api::default_namespaced(client);
        let stored: std::collections::HashSet<String> = api
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .filter_map(|c| c.metadata.name)
            .collect();
        let lost: Vec<&String> = acked.iter().filter(|n| !stored.contains(*n)).collect();
        assert!(
            lost.is_empty(),
            "round {round}: {} acknowledged writes lost, e.g. {:?}",
            lost.len(),
            &lost[..lost.len().min(5)]
        );
        drop(server);
    }
    println!("{acked_total} acknowledged writes over 3 kill -9 rounds, none lost");
}
