//! The wire format, the well-known types, the schema table and malformed input.

use serde_json::{json, Value};

use super::objects::KUBECTL_FIXTURES;
use super::*;
use crate::protobuf::decode::{self as decoder, MAX_DEPTH};
use crate::protobuf::schema::{self, Shape};
use crate::protobuf::well_known::go_duration;
use crate::protobuf::wire::base64;

#[test]
fn truncated_kubectl_bodies_fail_cleanly_at_every_length() {
    for (command, body, _) in KUBECTL_FIXTURES {
        for len in 0..body.len() {
            // A cut may land on a field boundary and still parse; it must never panic.
            let _ = decode(&body[..len]);
        }
        assert!(
            decode(&body[..body.len() - 3]).is_err(),
            "kubectl {command}"
        );
    }
}

#[test]
fn micro_time_keeps_microseconds_and_time_drops_the_fraction() {
    let lease = Msg::new()
        .message(1, meta("node-a", "kube-node-lease"))
        .message(
            2,
            Msg::new()
                .string(1, "node-a")
                .int(2, 40)
                .message(3, time(1_700_000_000, 0))
                .message(4, time(1_700_000_000, 123_456_789))
                .int(5, 0),
        );
    assert_eq!(
        decode_ok(&body("coordination.k8s.io/v1", "Lease", lease))["spec"],
        json!({
            "holderIdentity": "node-a",
            "leaseDurationSeconds": 40,
            "acquireTime": "2023-11-14T22:13:20.000000Z",
            "renewTime": "2023-11-14T22:13:20.123456Z",
            "leaseTransitions": 0,
        })
    );
    let meta = meta("x", "").message(9, time(1_700_000_000, 999_999_999));
    let got = decode_ok(&body("v1", "ConfigMap", Msg::new().message(1, meta)));
    assert_eq!(got["metadata"]["deletionTimestamp"], "2023-11-14T22:13:20Z");
}

#[test]
fn zero_times_are_null_and_epoch_is_not() {
    let schema = schema::get();
    let t = schema
        .message("k8s.io.apimachinery.pkg.apis.meta.v1.Time")
        .unwrap();
    let at = |m: Msg| decoder::message(schema, t, &m.0, 0).unwrap();
    assert_eq!(at(Msg::new()), Value::Null);
    assert_eq!(at(time(-62_135_596_800, 0)), Value::Null);
    assert_eq!(at(time(0, 0)), "1970-01-01T00:00:00Z");
    assert_eq!(at(time(10, -1_000_000_000)), "1970-01-01T00:00:09Z");
    let far = decoder::message(schema, t, &time(i64::MAX, 0).0, 0).unwrap_err();
    assert!(far.to_string().contains("out of range"), "{far}");
}

#[test]
fn durations_print_like_go() {
    for (nanos, want) in [
        (0, "0s"),
        (1, "1ns"),
        (1_500, "1.5µs"),
        (100_000_000, "100ms"),
        (1_500_000_000, "1.5s"),
        (90_000_000_000, "1m30s"),
        (3_600_000_000_000, "1h0m0s"),
        (3_723_500_000_000, "1h2m3.5s"),
        (-60_000_000_000, "-1m0s"),
    ] {
        assert_eq!(go_duration(nanos), want, "{nanos}ns");
    }
    let schema = schema::get();
    let d = schema
        .message("k8s.io.apimachinery.pkg.apis.meta.v1.Duration")
        .unwrap();
    let got = decoder::message(schema, d, &Msg::new().int(1, 300_000_000_000).0, 0).unwrap();
    assert_eq!(got, "5m0s");
}

#[test]
fn base64_matches_the_standard_alphabet_with_padding() {
    for (input, want) in [
        (&b""[..], ""),
        (b"f", "Zg=="),
        (b"fo", "Zm8="),
        (b"foo", "Zm9v"),
        (b"foobar", "Zm9vYmFy"),
        (&[0xfb, 0xff, 0xbf][..], "+/+/"),
    ] {
        assert_eq!(base64(input), want);
    }
}

#[test]
fn raw_extensions_nested_too_deeply_are_refused() {
    let mut inner = body("v1", "ConfigMap", Msg::new());
    for _ in 0..=MAX_DEPTH {
        inner = body(
            "apps/v1",
            "ControllerRevision",
            Msg::new().message(2, Msg::new().bytes(1, &inner)),
        );
    }
    let err = decode_err(&inner);
    assert!(err.contains("nest more than"), "{err}");
}

#[test]
fn packed_and_unpacked_repeated_scalars_both_decode() {
    let mut packed = Msg::new();
    for v in [1000u64, 2000, 3000] {
        packed.raw_varint(v);
    }
    let security = Msg::new().varint(4, 5).bytes(4, &packed.0).int(4, -1);
    let pod = Msg::new().message(2, Msg::new().message(14, security));
    assert_eq!(
        decode_ok(&body("v1", "Pod", pod))["spec"]["securityContext"]["supplementalGroups"],
        json!([5, 1000, 2000, 3000, -1])
    );
}

#[test]
fn unknown_fields_of_every_wire_type_are_skipped() {
    let cm = Msg::new()
        .message(1, meta("cfg", "").fixed32(99, 7).string(98, "future"))
        .fixed64(50, u64::MAX)
        .varint(51, 3)
        .string_entry(2, "a", "b");
    assert_eq!(
        decode_ok(&body("v1", "ConfigMap", cm)),
        json!({"kind": "ConfigMap", "apiVersion": "v1", "metadata": {"name": "cfg", "creationTimestamp": null}, "data": {"a": "b"}})
    );
}

#[test]
fn a_repeated_singular_message_merges_and_the_last_scalar_wins() {
    let deployment = Msg::new()
        .message(2, Msg::new().int(1, 1).int(5, 3))
        .message(2, Msg::new().int(1, 2).int(5, 0));
    assert_eq!(
        decode_ok(&body("apps/v1", "Deployment", deployment))["spec"],
        json!({"replicas": 2})
    );
}

#[test]
fn int_or_string_with_an_unknown_type_is_refused() {
    let pdb = Msg::new().message(2, Msg::new().message(1, Msg::new().int(1, 2)));
    let err = decode_err(&body("policy/v1", "PodDisruptionBudget", pdb));
    assert!(
        err.contains("spec.minAvailable: int-or-string has type 2"),
        "{err}"
    );
}

#[test]
fn a_body_without_the_magic_prefix_is_refused() {
    let err = decode_err(br#"{"kind":"ConfigMap"}"#);
    assert!(err.contains("k8s\\0"), "{err}");
    assert!(decode(b"").is_err());
}

#[test]
fn kinds_without_a_schema_are_refused_with_a_hint() {
    let err = decode_err(&body("example.com/v1", "Widget", Msg::new()));
    assert!(
        err.contains("no protobuf schema for kind Widget in example.com/v1"),
        "{err}"
    );
    assert!(err.contains("application/json"), "{err}");
    let err = decode_err(&body("v1", "Widget", Msg::new()));
    assert!(
        err.contains("no protobuf schema for kind Widget in v1"),
        "{err}"
    );
    // Wrappers and well-known messages are not kinds.
    assert!(decode(&body("meta.k8s.io/v1", "Verbs", Msg::new())).is_err());
    assert!(decode(&body("meta.k8s.io/v1", "Time", Msg::new())).is_err());
}

#[test]
fn an_envelope_without_kind_or_with_encoding_is_refused() {
    let no_kind = [MAGIC.as_slice(), &Msg::new().message(2, Msg::new()).0].concat();
    assert!(decode_err(&no_kind).contains("no apiVersion or kind"));
    let gzip = Msg::new()
        .message(1, Msg::new().string(1, "v1").string(2, "ConfigMap"))
        .string(3, "gzip");
    let err = decode_err(&[MAGIC.as_slice(), &gzip.0].concat());
    assert!(err.contains("content encoding \"gzip\""), "{err}");
    let json = Msg::new()
        .message(1, Msg::new().string(1, "v1").string(2, "ConfigMap"))
        .string(4, "application/json");
    assert!(decode_err(&[MAGIC.as_slice(), &json.0].concat()).contains("application/json"));
}

#[test]
fn malformed_wire_data_is_refused_with_the_field_path() {
    // spec.replicas sent as a string.
    let wrong = Msg::new().message(2, Msg::new().string(1, "3"));
    let err = decode_err(&body("apps/v1", "Deployment", wrong));
    assert!(
        err.contains("spec.replicas: expected a varint, found a length-delimited value"),
        "{err}"
    );
    // A length running past the end of metadata.
    let truncated = Msg::new().bytes(1, &[0x0a, 0x05, b'a']);
    let err = decode_err(&body("v1", "ConfigMap", truncated));
    assert!(err.contains("metadata: message is truncated"), "{err}");
    // Group wire types, invalid wire types, field number zero, an endless varint.
    for bad in [
        &[0x0b][..],
        &[0x0e],
        &[0x00, 0x01],
        &[
            0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f,
        ],
    ] {
        let err = decode_err(&body("v1", "ConfigMap", Msg(bad.to_vec())));
        assert!(err.starts_with("invalid protobuf body: "), "{err}");
    }
}

#[test]
fn invalid_utf8_in_strings_becomes_the_replacement_character() {
    let cm = Msg::new().message(2, Msg::new().string(1, "k").bytes(2, b"a\xffb"));
    assert_eq!(
        decode_ok(&body("v1", "ConfigMap", cm))["data"]["k"],
        "a\u{fffd}b"
    );
}

#[test]
fn schema_covers_the_served_group_versions() {
    let schema = schema::get();
    for (api_version, kinds) in [
        (
            "v1",
            &[
                "Pod",
                "ConfigMap",
                "Secret",
                "Namespace",
                "Service",
                "Node",
                "Event",
                "Binding",
                "DeleteOptions",
            ][..],
        ),
        (
            "apps/v1",
            &[
                "Deployment",
                "ReplicaSet",
                "StatefulSet",
                "DaemonSet",
                "ControllerRevision",
            ],
        ),
        ("batch/v1", &["Job", "CronJob"]),
        ("coordination.k8s.io/v1", &["Lease"]),
        ("policy/v1", &["Eviction", "PodDisruptionBudget"]),
        ("autoscaling/v1", &["Scale", "HorizontalPodAutoscaler"]),
        (
            "authentication.k8s.io/v1",
            &["TokenReview", "SelfSubjectReview"],
        ),
        (
            "authorization.k8s.io/v1",
            &["SelfSubjectAccessReview", "SubjectAccessReview"],
        ),
        (
            "meta.k8s.io/v1",
            &["DeleteOptions", "Status", "CreateOptions"],
        ),
    ] {
        for kind in kinds {
            assert!(
                schema.message_for_kind(api_version, kind).is_some(),
                "{api_version} {kind}"
            );
        }
    }
    let lists: Vec<&str> = schema
        .messages
        .iter()
        .filter(|m| m.shape == Shape::List)
        .map(|m| m.name.as_str())
        .collect();
    assert_eq!(
        lists,
        [
            "k8s.io.api.authentication.v1.ExtraValue",
            "k8s.io.api.authorization.v1.ExtraValue",
            "k8s.io.apimachinery.pkg.apis.meta.v1.Verbs",
        ]
    );
}

#[test]
fn every_message_decodes_from_an_empty_body() {
    let schema = schema::get();
    for (i, message) in schema.messages.iter().enumerate() {
        let got = decoder::message(schema, i, &[], 0);
        assert!(got.is_ok(), "{}: {got:?}", message.name);
    }
}

#[test]
fn a_repeated_inlined_message_merges_too() {
    let volume = Msg::new()
        .string(1, "v")
        .message(2, Msg::new().message(1, Msg::new().string(1, "/data")))
        .message(2, Msg::new().message(1, Msg::new().string(2, "Directory")));
    let pod = Msg::new().message(2, Msg::new().message(1, volume));
    assert_eq!(
        decode_ok(&body("v1", "Pod", pod))["spec"]["volumes"],
        json!([{"name": "v", "hostPath": {"path": "/data", "type": "Directory"}}])
    );
}

#[test]
fn many_repeats_of_a_singular_message_decode_in_linear_time() {
    let mut cm = Msg::new();
    for i in 0..100_000 {
        cm = cm.message(1, Msg::new().string(1, &format!("n{i}")));
    }
    let started = std::time::Instant::now();
    let got = decode_ok(&body("v1", "ConfigMap", cm));
    assert_eq!(got["metadata"]["name"], "n99999");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}
