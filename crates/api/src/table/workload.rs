//! Workload controllers: jobs, deployments and replicasets, each with the wide CONTAINERS
//! IMAGES SELECTOR columns of its pod template.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{
    age, col, container_cells, format_label_selector, human_duration, int_at, list_at, name,
    selector_string, str_at, time, wide, Column, Row, AGE, CONTAINERS_DOC, IMAGES_DOC, NAME,
};

const CONTAINERS: Column = wide("Containers", "string", CONTAINERS_DOC);
const IMAGES: Column = wide("Images", "string", IMAGES_DOC);
const SELECTOR: Column = wide(
    "Selector",
    "string",
    "A label query over pods that should match the pod count.",
);

pub(super) const JOB_COLUMNS: &[Column] = &[
    NAME,
    col("Status", "string", "Status of the job."),
    col(
        "Completions",
        "string",
        "The number of pods which reached phase Succeeded.",
    ),
    col("Duration", "string", "Time required to complete the job."),
    AGE,
    CONTAINERS,
    IMAGES,
    SELECTOR,
];

pub(super) const DEPLOYMENT_COLUMNS: &[Column] = &[
    NAME,
    col("Ready", "string", "Number of the pod with ready state"),
    col("Up-to-date", "string", "Total number of non-terminated pods targeted by this deployment that have the desired template spec."),
    col("Available", "string", "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment."),
    AGE,
    CONTAINERS,
    IMAGES,
    SELECTOR,
];

pub(super) const REPLICASET_COLUMNS: &[Column] = &[
    NAME,
    col(
        "Desired",
        "integer",
        "Replicas is the number of desired replicas.",
    ),
    col(
        "Current",
        "integer",
        "Replicas is the most recently observed number of replicas.",
    ),
    col(
        "Ready",
        "integer",
        "The number of ready replicas for this replica set.",
    ),
    AGE,
    CONTAINERS,
    IMAGES,
    SELECTOR,
];

/// The `status` of the first condition of a type is "True".
fn has_condition(obj: &Value, kind: &str) -> bool {
    list_at(obj, "/status/conditions")
        .iter()
        .find(|c| str_at(c, "/type") == kind)
        .is_some_and(|c| str_at(c, "/status") == "True")
}

fn template_containers(obj: &Value) -> &[Value] {
    list_at(obj, "/spec/template/spec/containers")
}

pub(super) fn job_row(job: &Value, now: DateTime<Utc>) -> Row {
    let succeeded = int_at(job, "/status/succeeded").unwrap_or(0);
    let completions = match int_at(job, "/spec/completions") {
        Some(completions) => format!("{succeeded}/{completions}"),
        None => match int_at(job, "/spec/parallelism").unwrap_or(0) {
            parallelism if parallelism > 1 => format!("{succeeded}/1 of {parallelism}"),
            _ => format!("{succeeded}/1"),
        },
    };
    let duration = match (
        time(job, "/status/startTime"),
        time(job, "/status/completionTime"),
    ) {
        (None, _) => String::new(),
        (Some(start), None) => human_duration(now - start),
        (Some(start), Some(end)) => human_duration(end - start),
    };
    let deleting = job
        .pointer("/metadata/deletionTimestamp")
        .is_some_and(|t| !t.is_null());
    let status = if has_condition(job, "Complete") {
        "Complete"
    } else if has_condition(job, "Failed") {
        "Failed"
    } else if deleting {
        "Terminating"
    } else if has_condition(job, "Suspended") {
        "Suspended"
    } else if has_condition(job, "FailureTarget") {
        "FailureTarget"
    } else {
        "Running"
    };
    let (names, images) = container_cells(template_containers(job));
    Row::new(vec![
        name(job).into(),
        status.into(),
        completions.into(),
        duration.into(),
        age(job, now),
        names,
        images,
        format_label_selector(job.pointer("/spec/selector")).into(),
    ])
}

pub(super) fn deployment_row(deploy: &Value, now: DateTime<Utc>) -> Row {
    // An unset spec.replicas defaults to 1.
    let desired = int_at(deploy, "/spec/replicas").unwrap_or(1);
    let ready = int_at(deploy, "/status/readyReplicas").unwrap_or(0);
    let (names, images) = container_cells(template_containers(deploy));
    let selector =
        selector_string(deploy.pointer("/spec/selector")).unwrap_or_else(|| "<invalid>".into());
    Row::new(vec![
        name(deploy).into(),
        format!("{ready}/{desired}").into(),
        int_at(deploy, "/status/updatedReplicas")
            .unwrap_or(0)
            .into(),
        int_at(deploy, "/status/availableReplicas")
            .unwrap_or(0)
            .into(),
        age(deploy, now),
        names,
        images,
        selector.into(),
    ])
}

pub(super) fn replicaset_row(rs: &Value, now: DateTime<Utc>) -> Row {
    let (names, images) = container_cells(template_containers(rs));
    Row::new(vec![
        name(rs).into(),
        int_at(rs, "/spec/replicas").unwrap_or(1).into(),
        int_at(rs, "/status/replicas").unwrap_or(0).into(),
        int_at(rs, "/status/readyReplicas").unwrap_or(0).into(),
        age(rs, now),
        names,
        images,
        format_label_selector(rs.pointer("/spec/selector")).into(),
    ])
}

#[cfg(test)]
mod tests {
    use crate::table::tests::{ago, cells, headers, now, resource, wide_headers};
    use crate::table::to_table;
    use chrono::Duration;
    use serde_json::{json, Value};

    fn template() -> Value {
        json!({"metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "app", "image": "nginx:1"}, {"name": "log", "image": "busybox"}]}})
    }

    fn job(spec: Value, status: Value) -> Value {
        let mut spec = spec;
        spec["template"] = template();
        spec["selector"] = json!({"matchLabels": {"batch.kubernetes.io/controller-uid": "u1"}});
        json!({"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": "pi", "creationTimestamp": ago(Duration::minutes(20))},
            "spec": spec, "status": status})
    }

    fn job_cells(spec: Value, status: Value) -> Vec<Value> {
        cells(&to_table(
            resource("jobs"),
            &[job(spec, status)],
            "None",
            now(),
        ))
    }

    #[test]
    fn job_columns_match_upstream() {
        let t = to_table(resource("jobs"), &[], "None", now());
        assert_eq!(
            headers(&t),
            [
                "Name",
                "Status",
                "Completions",
                "Duration",
                "Age",
                "Containers",
                "Images",
                "Selector"
            ]
        );
        assert_eq!(wide_headers(&t), ["Containers", "Images", "Selector"]);
    }

    #[test]
    fn running_job_counts_completions_and_time_since_start() {
        let c = job_cells(
            json!({"completions": 3, "parallelism": 1}),
            json!({"succeeded": 1, "startTime": ago(Duration::seconds(90))}),
        );
        assert_eq!(
            c,
            [
                json!("pi"),
                json!("Running"),
                json!("1/3"),
                json!("90s"),
                json!("20m"),
                json!("app,log"),
                json!("nginx:1,busybox"),
                json!("batch.kubernetes.io/controller-uid=u1")
            ]
        );
    }

    #[test]
    fn job_completions_without_a_count_follow_parallelism() {
        assert_eq!(
            job_cells(json!({"parallelism": 4}), json!({}))[2],
            "0/1 of 4"
        );
        assert_eq!(job_cells(json!({}), json!({"succeeded": 1}))[2], "1/1");
        assert_eq!(job_cells(json!({}), json!({}))[3], "");
    }

    #[test]
    fn job_status_follows_conditions_in_upstream_order() {
        let cond = |kind: &str| {
            json!({"conditions": [{"type": kind, "status": "True"}],
            "startTime": ago(Duration::minutes(10)), "completionTime": ago(Duration::minutes(7))})
        };
        let c = job_cells(json!({"completions": 1}), cond("Complete"));
        assert_eq!(
            (c[1].clone(), c[3].clone()),
            (json!("Complete"), json!("3m"))
        );
        assert_eq!(job_cells(json!({}), cond("Failed"))[1], "Failed");
        assert_eq!(job_cells(json!({}), cond("Suspended"))[1], "Suspended");
        assert_eq!(
            job_cells(json!({}), cond("FailureTarget"))[1],
            "FailureTarget"
        );
        let not_true = json!({"conditions": [{"type": "Complete", "status": "False"}]});
        assert_eq!(job_cells(json!({}), not_true)[1], "Running");
        let mut deleting = job(json!({}), json!({}));
        deleting["metadata"]["deletionTimestamp"] = json!(ago(Duration::seconds(1)));
        assert_eq!(
            cells(&to_table(resource("jobs"), &[deleting], "None", now()))[1],
            "Terminating"
        );
    }

    #[test]
    fn deployment_prints_ready_of_desired_and_counts() {
        let d = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "creationTimestamp": ago(Duration::days(10))},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}}, "template": template()},
            "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}});
        let t = to_table(resource("deployments"), &[d], "None", now());
        assert_eq!(
            headers(&t),
            [
                "Name",
                "Ready",
                "Up-to-date",
                "Available",
                "Age",
                "Containers",
                "Images",
                "Selector"
            ]
        );
        assert_eq!(
            cells(&t),
            [
                json!("web"),
                json!("2/3"),
                json!(3),
                json!(2),
                json!("10d"),
                json!("app,log"),
                json!("nginx:1,busybox"),
                json!("app=web")
            ]
        );
        let fresh = json!({"metadata": {"name": "new"}, "spec": {}});
        let c = cells(&to_table(resource("deployments"), &[fresh], "None", now()));
        assert_eq!(c[1..4], [json!("0/1"), json!(0), json!(0)]);
        assert_eq!(c[7], "");
    }

    #[test]
    fn replicaset_prints_desired_current_ready() {
        let rs = json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": "web-6d4cf56db6", "creationTimestamp": ago(Duration::hours(5))},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web", "pod-template-hash": "6d4cf56db6"}},
                "template": template()},
            "status": {"replicas": 2, "readyReplicas": 1}});
        let t = to_table(resource("replicasets"), &[rs], "None", now());
        assert_eq!(
            headers(&t),
            [
                "Name",
                "Desired",
                "Current",
                "Ready",
                "Age",
                "Containers",
                "Images",
                "Selector"
            ]
        );
        assert_eq!(
            cells(&t),
            [
                json!("web-6d4cf56db6"),
                json!(2),
                json!(2),
                json!(1),
                json!("5h"),
                json!("app,log"),
                json!("nginx:1,busybox"),
                json!("app=web,pod-template-hash=6d4cf56db6")
            ]
        );
    }
}
