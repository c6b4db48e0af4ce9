//! Lifecycle hooks: postStart (after a container starts; its failure kills the container)
//! and preStop (before a container is stopped, within the grace period), each an exec,
//! an httpGet or a sleep.

use std::time::Duration;

use k8s_openapi::api::core::v1::LifecycleHandler;

use crate::probe::{check, Action, Outcome, Target};

/// Runs a hook handler; the error is the message of the FailedPostStartHook /
/// FailedPreStopHook Event.
pub async fn run(
    handler: &LifecycleHandler,
    target: &Target,
    timeout: Duration,
) -> Result<(), String> {
    if let Some(s) = &handler.sleep {
        tokio::time::sleep(Duration::from_secs(s.seconds.max(0) as u64).min(timeout)).await;
        return Ok(());
    }
    if handler.exec.is_none() && handler.http_get.is_none() {
        // tcpSocket is accepted for compatibility and does nothing, as upstream.
        return Ok(());
    }
    let action = Action {
        exec: handler.exec.as_ref(),
        http_get: handler.http_get.as_ref(),
        tcp_socket: None,
    };
    match check(&action, target, timeout).await {
        Outcome::Success => Ok(()),
        Outcome::Failure(m) => {
            if let Some(e) = &handler.exec {
                Err(format!(
                    "Exec lifecycle hook ({:?}) failed: {m}",
                    e.command.clone().unwrap_or_default()
                ))
            } else {
                Err(format!("HTTP lifecycle hook failed: {m}"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use runtime::fake::FakeRuntime;
    use runtime::ExecResult;
    use std::sync::Arc;

    #[tokio::test(start_paused = true)]
    async fn exec_hooks_fail_with_the_command_output_and_sleep_hooks_sleep() {
        let rt = FakeRuntime::new();
        let id = rt.running_container("c").await;
        rt.on_exec("c", |cmd| ExecResult {
            exit_code: if cmd[0] == "ok" { 0 } else { 2 },
            stdout: b"boom".to_vec(),
            stderr: vec![],
        });
        let target = Target {
            runtime: Arc::new(rt.clone()),
            id,
            pod_ip: None,
            ports: vec![],
        };
        let h = |v: serde_json::Value| -> LifecycleHandler { serde_json::from_value(v).unwrap() };
        assert!(run(
            &h(serde_json::json!({"exec": {"command": ["ok"]}})),
            &target,
            Duration::from_secs(5)
        )
        .await
        .is_ok());
        let err = run(
            &h(serde_json::json!({"exec": {"command": ["bad"]}})),
            &target,
            Duration::from_secs(5),
        )
        .await
        .unwrap_err();
        assert_eq!(err, "Exec lifecycle hook ([\"bad\"]) failed: boom");
        let start = tokio::time::Instant::now();
        run(
            &h(serde_json::json!({"sleep": {"seconds": 4}})),
            &target,
            Duration::from_secs(30),
        )
        .await
        .unwrap();
        assert_eq!(start.elapsed(), Duration::from_secs(4));
    }
}
