//! The Python `kubernetes` client (in the venv `scripts/setup.sh` makes) against a real
//! `orca server`. Prints SKIPPED when the venv is missing.

mod common;

use std::process::Command;

#[test]
fn python_client_lists_creates_patches_deletes_and_watches() {
    let root = common::workspace_root();
    let python = root.join(".venv/bin/python");
    let has_client = python.exists()
        && Command::new(&python)
            .args(["-c", "import kubernetes"])
            .status()
            .is_ok_and(|s| s.success());
    if !has_client {
        println!(
            "SKIPPED: no venv with the kubernetes client at {} (run scripts/setup.sh)",
            python.display()
        );
        return;
    }
    let server = common::Server::start();
    let out = Command::new(&python)
        .arg(root.join("tests/python/test_client.py"))
        .arg(&server.kubeconfig)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "python client checks failed:\n{stdout}\n{}\nserver log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        server.log()
    );
    assert!(stdout.contains("all checks passed"));
}
