//! Outside programs the tests drive: the real kubectl and Debian's docker-registry.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use kube::api::LogParams;

/// The options of one `kubectl logs`.
#[derive(Clone, Debug, Default)]
pub struct Logs<'a> {
    pub container: Option<&'a str>,
    pub previous: bool,
    pub tail: Option<i64>,
    pub timestamps: bool,
    pub since_seconds: Option<i64>,
}

impl Logs<'_> {
    /// The flags of `kubectl logs` for these options.
    pub fn kubectl_args(&self) -> Vec<String> {
        let mut a = Vec::new();
        if let Some(c) = self.container {
            a.push(format!("--container={c}"));
        }
        if self.previous {
            a.push("--previous".into());
        }
        if let Some(t) = self.tail {
            a.push(format!("--tail={t}"));
        }
        if self.timestamps {
            a.push("--timestamps".into());
        }
        if let Some(s) = self.since_seconds {
            a.push(format!("--since={s}s"));
        }
        a
    }

    pub fn params(&self) -> LogParams {
        LogParams {
            container: self.container.map(str::to_string),
            previous: self.previous,
            tail_lines: self.tail,
            timestamps: self.timestamps,
            since_seconds: self.since_seconds,
            ..Default::default()
        }
    }
}

/// The real kubectl against one server.
pub struct Kubectl {
    pub bin: PathBuf,
    kubeconfig: PathBuf,
    home: tempfile::TempDir,
}

impl Kubectl {
    /// `kubectl` on PATH, or None.
    pub fn find(kubeconfig: &Path) -> Option<Kubectl> {
        // ORCA_E2E_NO_KUBECTL=1 exercises the kube-rs path on machines that have kubectl.
        if std::env::var_os("ORCA_E2E_NO_KUBECTL").is_some_and(|v| v == "1") {
            return None;
        }
        let out = Command::new("sh")
            .args(["-c", "command -v kubectl"])
            .output()
            .ok()?;
        let p = String::from_utf8_lossy(&out.stdout).trim().to_string();
        (!p.is_empty()).then(|| Kubectl {
            bin: PathBuf::from(p),
            kubeconfig: kubeconfig.to_path_buf(),
            home: tempfile::tempdir().unwrap(),
        })
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin);
        c.env("KUBECONFIG", &self.kubeconfig)
            .env("HOME", self.home.path())
            .arg("--cache-dir")
            .arg(self.home.path().join("cache"))
            .args(args);
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("running kubectl")
    }

    /// Runs and asserts success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "kubectl {} failed: {}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

/// Debian's `docker-registry` on a free loopback port with filesystem storage, killed (and
/// reaped) on drop.
pub struct Registry {
    child: std::process::Child,
    pub addr: String,
    pub access_log: PathBuf,
    _dir: tempfile::TempDir,
}

pub const REGISTRY_BIN: &str = "/usr/bin/docker-registry";

impl Registry {
    pub fn start() -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = format!("127.0.0.1:{port}");
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n\
                 http:\n  addr: {addr}\n  secret: orca-e2e\n",
                dir.path().join("data").display()
            ),
        )
        .unwrap();
        let access_log = dir.path().join("access.log");
        let child = Command::new(REGISTRY_BIN)
            .arg("serve")
            .arg(&config)
            .stdout(std::fs::File::create(&access_log).unwrap())
            .stderr(std::fs::File::create(dir.path().join("registry.log")).unwrap())
            .stdin(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let registry = Registry {
            child,
            addr,
            access_log,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(&registry.addr).is_err() {
            assert!(
                Instant::now() < deadline,
                "docker-registry did not start listening"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        registry
    }

    /// Access-log lines of GETs whose path contains `needle`.
    pub fn gets(&self, needle: &str) -> usize {
        std::fs::read_to_string(&self.access_log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("\"GET /v2/") && l.contains(needle))
            .count()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
