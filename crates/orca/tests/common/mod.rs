//! The real `orca` binary as a test fixture: a server on a loopback port in its own
//! process group, on a temporary data directory, killed (and waited for) on drop.

#![allow(dead_code)]

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Server {
    child: Option<Child>,
    pub dir: PathBuf,
    pub kubeconfig: PathBuf,
    pub url: String,
    pub token: String,
    _tmp: Option<tempfile::TempDir>,
}

impl Server {
    /// A server on a fresh data directory.
    pub fn start() -> Server {
        let tmp = tempfile::tempdir().expect("creating a temp dir");
        let dir = tmp.path().to_path_buf();
        let mut s = Server::start_in(&dir);
        s._tmp = Some(tmp);
        s
    }

    /// An API-only server (no node agent) on `dir`, which may hold an earlier server's state.
    pub fn start_in(dir: &Path) -> Server {
        Server::start_with(dir, &["--disable-agent"])
    }

    /// A server with its embedded node agent on a fresh data directory.
    pub fn start_with_agent(extra: &[&str]) -> Server {
        let tmp = tempfile::tempdir().expect("creating a temp dir");
        let dir = tmp.path().to_path_buf();
        let mut s = Server::start_with(&dir, extra);
        s._tmp = Some(tmp);
        s
    }

    /// A server on `dir` with extra `orca server` flags.
    pub fn start_with(dir: &Path, extra: &[&str]) -> Server {
        let cwd = std::env::current_dir().expect("the test's working directory");
        Server::start_relative(&cwd, dir, extra)
    }

    /// A server started in working directory `cwd` with `--data-dir` given as `data_dir`
    /// (relative to `cwd`), with extra `orca server` flags.
    pub fn start_relative(cwd: &Path, data_dir: &Path, extra: &[&str]) -> Server {
        let dir = cwd.join(data_dir);
        std::fs::create_dir_all(&dir).expect("creating the data directory");
        let kubeconfig = dir.join("kubeconfig.yaml");
        let _ = std::fs::remove_file(&kubeconfig);
        let log = std::fs::File::create(dir.join("server.log")).expect("creating the server log");
        let child = Command::new(env!("CARGO_BIN_EXE_orca"))
            .current_dir(cwd)
            .args(["server", "--data-dir"])
            .arg(data_dir)
            .args(["--listen", "127.0.0.1:0"])
            .args(extra)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .process_group(0)
            .spawn()
            .expect("starting orca server");
        let mut s = Server {
            child: Some(child),
            dir,
            kubeconfig: kubeconfig.clone(),
            url: String::new(),
            token: String::new(),
            _tmp: None,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !kubeconfig.exists() {
            if let Some(status) = s.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("orca server exited with {status}: {}", s.log());
            }
            assert!(
                Instant::now() < deadline,
                "orca server did not start: {}",
                s.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(20));
        let kc = std::fs::read_to_string(&kubeconfig).unwrap();
        s.url = field(&kc, "server:");
        s.token = field(&kc, "token:");
        s
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }

    /// `kill -9` and reap.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM, then waits up to `timeout` for a clean exit; false (after a `kill -9`) if
    /// the server did not exit in time. True if it was not running.
    pub fn terminate(&mut self, timeout: Duration) -> bool {
        let Some(mut c) = self.child.take() else {
            return true;
        };
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(c.id().to_string())
            .status();
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = c.try_wait() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = c.kill();
        let _ = c.wait();
        false
    }

    /// The server's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// A kube client from the written kubeconfig.
    pub async fn client(&self) -> kube::Client {
        let kc = kube::config::Kubeconfig::read_from(&self.kubeconfig).unwrap();
        let config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
            .await
            .unwrap();
        kube::Client::try_from(config).unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SIGTERM first: a clean shutdown is part of what is tested.
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(c.id().to_string())
                .status();
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn field(doc: &str, name: &str) -> String {
    doc.lines()
        .find_map(|l| l.trim().strip_prefix(name))
        .map(|v| v.trim().to_string())
        .unwrap_or_default()
}

/// The workspace root (for examples/, the venv, scenarios).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// The shared scenarios directory, beside the checkout, or the project's own copies.
pub fn scenarios_dir() -> PathBuf {
    let shared = workspace_root().join("../shared/scenarios");
    if shared.is_dir() {
        shared
    } else {
        workspace_root().join("examples")
    }
}
