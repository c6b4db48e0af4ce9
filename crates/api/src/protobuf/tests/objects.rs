//! Whole objects: real kubectl bodies and hand-built ones of the kinds clients send.

use serde_json::{json, Value};

use super::*;

/// Real bodies kubectl 1.33.1 sent (captured at -v=9), with the JSON `kubectl create
/// --dry-run=client -o json` prints for the same command.
pub(super) const KUBECTL_FIXTURES: &[(&str, &[u8], &str)] = &[
    (
        "create configmap fixture --from-literal=a=b",
        include_bytes!("../testdata/kubectl-1.33-create-configmap.pb"),
        r#"{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"fixture","creationTimestamp":null},"data":{"a":"b"}}"#,
    ),
    (
        "create deployment web --image=nginx:1.27 --replicas=2 --port=80",
        include_bytes!("../testdata/kubectl-1.33-create-deployment.pb"),
        r#"{"kind":"Deployment","apiVersion":"apps/v1","metadata":{"name":"web","creationTimestamp":null,"labels":{"app":"web"}},"spec":{"replicas":2,"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"creationTimestamp":null,"labels":{"app":"web"}},"spec":{"containers":[{"name":"nginx","image":"nginx:1.27","ports":[{"containerPort":80}],"resources":{}}]}},"strategy":{}},"status":{}}"#,
    ),
    (
        "create job j2 --image=busybox -- echo hi",
        include_bytes!("../testdata/kubectl-1.33-create-job.pb"),
        r#"{"kind":"Job","apiVersion":"batch/v1","metadata":{"name":"j2","creationTimestamp":null},"spec":{"template":{"metadata":{"creationTimestamp":null},"spec":{"containers":[{"name":"j2","image":"busybox","command":["echo","hi"],"resources":{}}],"restartPolicy":"Never"}}},"status":{}}"#,
    ),
    (
        "create secret generic s1 --from-literal=k=v",
        include_bytes!("../testdata/kubectl-1.33-create-secret.pb"),
        r#"{"kind":"Secret","apiVersion":"v1","metadata":{"name":"s1","creationTimestamp":null},"data":{"k":"dg=="}}"#,
    ),
    (
        "create namespace ns1",
        include_bytes!("../testdata/kubectl-1.33-create-namespace.pb"),
        r#"{"kind":"Namespace","apiVersion":"v1","metadata":{"name":"ns1","creationTimestamp":null},"spec":{},"status":{}}"#,
    ),
];

#[test]
fn kubectl_1_33_bodies_decode_to_the_json_kubectl_would_send() {
    for (command, body, json) in KUBECTL_FIXTURES {
        let want: Value = serde_json::from_str(json).unwrap();
        assert_eq!(decode_ok(body), want, "kubectl {command}");
    }
}

#[test]
fn kind_and_api_version_come_first_as_in_go_json() {
    let got = decode_ok(KUBECTL_FIXTURES[0].1);
    let keys: Vec<&String> = got.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["kind", "apiVersion", "metadata", "data"]);
}

#[test]
fn configmap_data_is_strings_and_binary_data_is_base64() {
    let cm = Msg::new()
        .message(1, meta("cfg", "default"))
        .string_entry(2, "a", "b")
        .string_entry(2, "empty", "")
        .message(3, Msg::new().string(1, "bin").bytes(2, &[0, 1, 2, 0xff]))
        .message(3, Msg::new().string(1, "nothing"));
    assert_eq!(
        decode_ok(&body("v1", "ConfigMap", cm)),
        json!({
            "kind": "ConfigMap",
            "apiVersion": "v1",
            "metadata": {"name": "cfg", "namespace": "default", "creationTimestamp": null},
            "data": {"a": "b", "empty": ""},
            "binaryData": {"bin": "AAEC/w==", "nothing": ""},
        })
    );
}

#[test]
fn pod_decodes_with_json_names_inlined_structs_and_well_known_types() {
    let container = Msg::new()
        .string(1, "app")
        .string(2, "nginx")
        .string(3, "nginx")
        .string(3, "-g")
        .string(5, "")
        .message(
            6,
            Msg::new()
                .string(1, "http")
                .int(2, 0)
                .int(3, 8080)
                .string(4, "TCP")
                .string(5, ""),
        )
        .message(
            7,
            Msg::new().string(1, "POD_IP").string(2, "").message(
                3,
                Msg::new().message(1, Msg::new().string(1, "v1").string(2, "status.podIP")),
            ),
        )
        .message(
            7,
            Msg::new().string(1, "TOKEN").string(2, "").message(
                3,
                Msg::new().message(
                    4,
                    Msg::new()
                        .message(1, Msg::new().string(1, "creds"))
                        .string(2, "token")
                        .boolean(3, true),
                ),
            ),
        )
        .message(
            8,
            Msg::new()
                .entry(1, "cpu", quantity("500m"))
                .entry(1, "memory", quantity("128Mi"))
                .entry(2, "cpu", quantity("250m")),
        )
        .message(
            10,
            Msg::new()
                .message(
                    1,
                    Msg::new().message(
                        2,
                        Msg::new()
                            .string(1, "/healthz")
                            .message(2, int_or_string_int(8080))
                            .string(3, "")
                            .string(4, ""),
                    ),
                )
                .int(2, 5)
                .int(3, 0)
                .int(4, 10)
                .int(5, 0)
                .int(6, 3),
        )
        .message(
            11,
            Msg::new().message(
                1,
                Msg::new().message(3, Msg::new().message(1, int_or_string_str("http"))),
            ),
        )
        .message(
            15,
            Msg::new()
                .boolean(2, false)
                .boolean(5, true)
                .boolean(6, true)
                .boolean(7, true)
                .int(4, 1000),
        )
        .string(13, "")
        .string(14, "IfNotPresent")
        .boolean(16, false);
    let pod = Msg::new()
        .message(
            1,
            meta("web", "default").message(8, time(1_700_000_000, 123_000_000)),
        )
        .message(
            2,
            Msg::new()
                .message(
                    1,
                    Msg::new()
                        .string(1, "scratch")
                        .message(2, Msg::new().message(2, Msg::new())),
                )
                .message(2, container)
                .string(3, "")
                .int(4, 30)
                .int(25, -5),
        )
        .message(3, Msg::new());
    assert_eq!(
        decode_ok(&body("v1", "Pod", pod)),
        json!({
            "kind": "Pod",
            "apiVersion": "v1",
            "metadata": {
                "name": "web",
                "namespace": "default",
                "creationTimestamp": "2023-11-14T22:13:20Z",
            },
            "spec": {
                "volumes": [{"name": "scratch", "emptyDir": {}}],
                "containers": [{
                    "name": "app",
                    "image": "nginx",
                    "command": ["nginx", "-g"],
                    "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
                    "env": [
                        {"name": "POD_IP", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "status.podIP"}}},
                        {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "token", "optional": true}}},
                    ],
                    "resources": {"limits": {"cpu": "500m", "memory": "128Mi"}, "requests": {"cpu": "250m"}},
                    "livenessProbe": {
                        "httpGet": {"path": "/healthz", "port": 8080},
                        "initialDelaySeconds": 5,
                        "periodSeconds": 10,
                        "failureThreshold": 3,
                    },
                    "readinessProbe": {"tcpSocket": {"port": "http"}},
                    "securityContext": {
                        "privileged": false,
                        "runAsNonRoot": true,
                        "readOnlyRootFilesystem": true,
                        "allowPrivilegeEscalation": true,
                        "runAsUser": 1000,
                    },
                    "imagePullPolicy": "IfNotPresent",
                }],
                "terminationGracePeriodSeconds": 30,
                "priority": -5,
            },
            "status": {},
        })
    );
}

#[test]
fn deployment_keeps_pointer_zero_replicas_and_decodes_selector_and_strategy() {
    let deployment = Msg::new().message(1, meta("web", "")).message(
        2,
        Msg::new()
            .int(1, 0)
            .message(
                2,
                Msg::new().string_entry(1, "app", "web").message(
                    2,
                    Msg::new().string(1, "tier").string(2, "In").string(3, "fe"),
                ),
            )
            .message(3, Msg::new().message(1, meta("", "")))
            .message(
                4,
                Msg::new().string(1, "RollingUpdate").message(
                    2,
                    Msg::new()
                        .message(1, int_or_string_int(0))
                        .message(2, int_or_string_str("25%")),
                ),
            )
            .int(5, 0)
            .boolean(7, false),
    );
    assert_eq!(
        decode_ok(&body("apps/v1", "Deployment", deployment)),
        json!({
            "kind": "Deployment",
            "apiVersion": "apps/v1",
            "metadata": {"name": "web", "creationTimestamp": null},
            "spec": {
                "replicas": 0,
                "selector": {
                    "matchLabels": {"app": "web"},
                    "matchExpressions": [{"key": "tier", "operator": "In", "values": ["fe"]}],
                },
                "template": {"metadata": {"creationTimestamp": null}},
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": "25%"}},
            },
        })
    );
}

#[test]
fn secret_bytes_are_base64_and_string_data_stays_text() {
    let secret = Msg::new()
        .message(1, meta("creds", "prod"))
        .message(2, Msg::new().string(1, "password").bytes(2, b"hunter2"))
        .message(2, Msg::new().string(1, "blob").bytes(2, b"ab"))
        .string(3, "Opaque")
        .string_entry(4, "user", "admin")
        .boolean(5, false);
    assert_eq!(
        decode_ok(&body("v1", "Secret", secret)),
        json!({
            "kind": "Secret",
            "apiVersion": "v1",
            "metadata": {"name": "creds", "namespace": "prod", "creationTimestamp": null},
            "data": {"password": "aHVudGVyMg==", "blob": "YWI="},
            "type": "Opaque",
            "stringData": {"user": "admin"},
            "immutable": false,
        })
    );
}

#[test]
fn eviction_carries_its_delete_options() {
    let eviction = Msg::new().message(1, meta("web-0", "default")).message(
        2,
        Msg::new()
            .int(1, 0)
            .message(2, Msg::new().string(1, "uid-1"))
            .string(5, "All"),
    );
    assert_eq!(
        decode_ok(&body("policy/v1", "Eviction", eviction)),
        json!({
            "kind": "Eviction",
            "apiVersion": "policy/v1",
            "metadata": {"name": "web-0", "namespace": "default", "creationTimestamp": null},
            "deleteOptions": {"gracePeriodSeconds": 0, "preconditions": {"uid": "uid-1"}, "dryRun": ["All"]},
        })
    );
}

#[test]
fn delete_options_of_any_group_version_decode_as_meta_v1() {
    let options = Msg::new()
        .int(1, 30)
        .message(2, Msg::new().string(1, "uid-1").string(2, "42"))
        .string(4, "Foreground");
    for api_version in ["v1", "apps/v1", "batch/v1", "meta.k8s.io/v1"] {
        assert_eq!(
            decode_ok(&body(api_version, "DeleteOptions", options.clone())),
            json!({
                "kind": "DeleteOptions",
                "apiVersion": api_version,
                "gracePeriodSeconds": 30,
                "preconditions": {"uid": "uid-1", "resourceVersion": "42"},
                "propagationPolicy": "Foreground",
            })
        );
    }
}

#[test]
fn namespace_decodes_with_labels_and_empty_spec_and_status() {
    let ns = Msg::new()
        .message(
            1,
            meta("team-a", "")
                .string_entry(11, "env", "dev")
                .string_entry(12, "note", "x"),
        )
        .message(2, Msg::new())
        .message(3, Msg::new().string(1, ""));
    assert_eq!(
        decode_ok(&body("v1", "Namespace", ns)),
        json!({
            "kind": "Namespace",
            "apiVersion": "v1",
            "metadata": {
                "name": "team-a",
                "creationTimestamp": null,
                "labels": {"env": "dev"},
                "annotations": {"note": "x"},
            },
            "spec": {},
            "status": {},
        })
    );
}

#[test]
fn inlined_embedded_structs_merge_into_the_parent_object() {
    let pod = Msg::new().message(1, meta("dbg", "")).message(
        2,
        Msg::new().message(
            34,
            Msg::new()
                .message(
                    1,
                    Msg::new()
                        .string(1, "debugger")
                        .string(2, "busybox")
                        .boolean(18, true),
                )
                .string(2, "app"),
        ),
    );
    let got = decode_ok(&body("v1", "Pod", pod));
    assert_eq!(
        got["spec"]["ephemeralContainers"],
        json!([{"name": "debugger", "image": "busybox", "tty": true, "targetContainerName": "app"}])
    );
}

#[test]
fn verbs_and_extra_value_wrappers_decode_as_plain_arrays() {
    let list = Msg::new().string(1, "v1").message(
        2,
        Msg::new()
            .string(1, "pods")
            .boolean(2, true)
            .string(3, "Pod")
            .message(4, Msg::new().string(1, "get").string(1, "list"))
            .string(5, "po"),
    );
    assert_eq!(
        decode_ok(&body("v1", "APIResourceList", list))["resources"],
        json!([{"name": "pods", "namespaced": true, "kind": "Pod", "verbs": ["get", "list"], "shortNames": ["po"]}])
    );
    let review = Msg::new().message(1, meta("", "")).message(
        2,
        Msg::new().message(
            1,
            Msg::new()
                .string(1, "alice")
                .string(3, "devs")
                .entry(4, "scopes", Msg::new().string(1, "a").string(1, "b"))
                .entry(4, "none", Msg::new()),
        ),
    );
    assert_eq!(
        decode_ok(&body(
            "authentication.k8s.io/v1",
            "SelfSubjectReview",
            review
        ))["status"],
        json!({"userInfo": {"username": "alice", "groups": ["devs"], "extra": {"scopes": ["a", "b"], "none": []}}})
    );
}

#[test]
fn managed_fields_embed_their_fields_v1_json() {
    let entry = Msg::new()
        .string(1, "kubectl-create")
        .string(2, "Update")
        .string(3, "v1")
        .message(4, time(1_700_000_000, 0))
        .string(6, "FieldsV1")
        .message(7, Msg::new().bytes(1, br#"{"f:data":{".":{},"f:a":{}}}"#))
        .string(8, "");
    let cm = Msg::new().message(1, meta("cfg", "").message(17, entry));
    assert_eq!(
        decode_ok(&body("v1", "ConfigMap", cm))["metadata"]["managedFields"],
        json!([{
            "manager": "kubectl-create",
            "operation": "Update",
            "apiVersion": "v1",
            "time": "2023-11-14T22:13:20Z",
            "fieldsType": "FieldsV1",
            "fieldsV1": {"f:data": {".": {}, "f:a": {}}},
        }])
    );
}

#[test]
fn raw_extensions_hold_json_or_nested_protobuf() {
    let revision = |raw: &[u8]| {
        let cr = Msg::new()
            .message(1, meta("web-1", ""))
            .message(2, Msg::new().bytes(1, raw))
            .int(3, 1);
        body("apps/v1", "ControllerRevision", cr)
    };
    let got = decode_ok(&revision(br#" {"spec": {"replicas": 2}}"#));
    assert_eq!(got["data"], json!({"spec": {"replicas": 2}}));
    assert_eq!(got["revision"], 1);

    let nested = body("v1", "ConfigMap", Msg::new().string_entry(2, "k", "v"));
    let got = decode_ok(&revision(&nested));
    assert_eq!(
        got["data"],
        json!({"kind": "ConfigMap", "apiVersion": "v1", "data": {"k": "v"}})
    );

    let err = decode_err(&revision(b"\xa1\x01\x02"));
    assert!(
        err.contains("data: an embedded object is neither JSON"),
        "{err}"
    );
}
