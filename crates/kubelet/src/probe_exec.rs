//! Exec probes and hooks: a command run in the container through the runtime.

use std::time::Duration;

use runtime::{ContainerId, Runtime};

use crate::probe::Outcome;

/// Runs `command` in the container; exit 0 is success, anything else a failure carrying
/// the command's output.
pub async fn run(
    runtime: &dyn Runtime,
    id: &ContainerId,
    command: &[String],
    timeout: Duration,
) -> Outcome {
    let timed = tokio::time::timeout(
        timeout + Duration::from_secs(1),
        runtime.exec_sync(id, command, timeout),
    )
    .await;
    match timed {
        Err(_) => Outcome::Failure(format!(
            "command {command:?} timed out after {}s",
            timeout.as_secs()
        )),
        Ok(Err(e)) if e.is_timeout() => Outcome::Failure(format!("command {command:?} timed out")),
        Ok(Err(e)) => Outcome::Failure(e.to_string()),
        Ok(Ok(r)) if r.exit_code == 0 => Outcome::Success,
        Ok(Ok(r)) => {
            let mut out = String::from_utf8_lossy(&r.stdout).into_owned();
            out.push_str(&String::from_utf8_lossy(&r.stderr));
            let out = out.trim_end().to_string();
            if out.is_empty() {
                Outcome::Failure(format!("command {command:?} exited with {}", r.exit_code))
            } else {
                Outcome::Failure(out)
            }
        }
    }
}
