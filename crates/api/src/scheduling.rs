//! Pure scheduling predicates shared by the scheduler and the node lifecycle controller:
//! taints against tolerations, node selectors and node affinity against a node's labels and
//! name, and the request arithmetic the scorers use — all with upstream's rules
//! (`k8s.io/component-helpers/scheduling/corev1`).

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{
    Container, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, PodSpec,
    ResourceRequirements, Taint, Toleration,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use crate::quantity::ParsedQuantity;

/// The node's Ready condition is False.
pub const TAINT_NOT_READY: &str = "node.kubernetes.io/not-ready";
/// The node's Ready condition is Unknown (its heartbeats stopped).
pub const TAINT_UNREACHABLE: &str = "node.kubernetes.io/unreachable";
/// The node is cordoned (`spec.unschedulable`).
pub const TAINT_UNSCHEDULABLE: &str = "node.kubernetes.io/unschedulable";
/// The node reports MemoryPressure.
pub const TAINT_MEMORY_PRESSURE: &str = "node.kubernetes.io/memory-pressure";
/// The node reports DiskPressure.
pub const TAINT_DISK_PRESSURE: &str = "node.kubernetes.io/disk-pressure";
/// The node reports PIDPressure.
pub const TAINT_PID_PRESSURE: &str = "node.kubernetes.io/pid-pressure";
/// The node reports NetworkUnavailable.
pub const TAINT_NETWORK_UNAVAILABLE: &str = "node.kubernetes.io/network-unavailable";

/// Taint effects.
pub const NO_SCHEDULE: &str = "NoSchedule";
pub const PREFER_NO_SCHEDULE: &str = "PreferNoSchedule";
pub const NO_EXECUTE: &str = "NoExecute";

/// The scheduler's stand-in cpu request for a container that sets none (upstream
/// `DefaultMilliCPURequest`), used only for scoring.
pub const DEFAULT_MILLI_CPU_REQUEST: i128 = 100;
/// The scheduler's stand-in memory request for a container that sets none (200 MiB).
pub const DEFAULT_MEMORY_REQUEST: i128 = 200 * 1024 * 1024;

/// Whether `toleration` tolerates `taint` (upstream `Toleration.ToleratesTaint`): an empty
/// effect matches every effect, an empty key (with `Exists`) every key.
pub fn tolerates(toleration: &Toleration, taint: &Taint) -> bool {
    let effect = toleration.effect.as_deref().unwrap_or("");
    if !effect.is_empty() && effect != taint.effect {
        return false;
    }
    let key = toleration.key.as_deref().unwrap_or("");
    if !key.is_empty() && key != taint.key {
        return false;
    }
    match toleration.operator.as_deref().unwrap_or("") {
        "" | "Equal" => {
            toleration.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or("")
        }
        "Exists" => true,
        _ => false,
    }
}

/// Whether any of `tolerations` tolerates `taint`.
pub fn tolerations_tolerate(tolerations: &[Toleration], taint: &Taint) -> bool {
    tolerations.iter().any(|t| tolerates(t, taint))
}

/// The first of `taints` with one of `effects` that no toleration tolerates (upstream
/// `FindMatchingUntoleratedTaint`).
pub fn find_untolerated<'a>(
    taints: &'a [Taint],
    tolerations: &[Toleration],
    effects: &[&str],
) -> Option<&'a Taint> {
    taints
        .iter()
        .filter(|t| effects.contains(&t.effect.as_str()))
        .find(|t| !tolerations_tolerate(tolerations, t))
}

/// For NoExecute eviction: whether every NoExecute taint is tolerated, and if so the
/// shortest `tolerationSeconds` among the tolerations used (`None`: tolerated forever).
/// `Err(taint)` names a taint no toleration matches (upstream `GetMatchingTolerations`
/// and `getMinTolerationTime`).
pub fn no_execute_toleration<'a>(
    taints: &'a [Taint],
    tolerations: &[Toleration],
) -> Result<Option<i64>, &'a Taint> {
    let mut min: Option<i64> = None;
    for taint in taints.iter().filter(|t| t.effect == NO_EXECUTE) {
        let used = tolerations
            .iter()
            .find(|t| tolerates(t, taint))
            .ok_or(taint)?;
        if let Some(secs) = used.toleration_seconds {
            let secs = secs.max(0);
            min = Some(min.map_or(secs, |m| m.min(secs)));
        }
    }
    Ok(min)
}

/// One parsed node selector requirement.
#[derive(Clone, Debug, PartialEq)]
enum Op {
    In(Vec<String>),
    NotIn(Vec<String>),
    Exists,
    DoesNotExist,
    Gt(i64),
    Lt(i64),
}

#[derive(Clone, Debug, PartialEq)]
struct Requirement {
    key: String,
    op: Op,
}

impl Requirement {
    /// A label requirement, or `None` when it is malformed (which makes its term match
    /// nothing, as upstream's lazy-error selector does).
    fn label(r: &NodeSelectorRequirement) -> Option<Requirement> {
        let values = r.values.clone().unwrap_or_default();
        let int = |values: &[String]| -> Option<i64> {
            match values {
                [v] => v.parse().ok(),
                _ => None,
            }
        };
        let op = match r.operator.as_str() {
            "In" if !values.is_empty() => Op::In(values),
            "NotIn" if !values.is_empty() => Op::NotIn(values),
            "Exists" if values.is_empty() => Op::Exists,
            "DoesNotExist" if values.is_empty() => Op::DoesNotExist,
            "Gt" => Op::Gt(int(&values)?),
            "Lt" => Op::Lt(int(&values)?),
            _ => return None,
        };
        Some(Requirement {
            key: r.key.clone(),
            op,
        })
    }

    /// A field requirement: only `In`/`NotIn` with exactly one value.
    fn field(r: &NodeSelectorRequirement) -> Option<Requirement> {
        let values = r.values.clone().unwrap_or_default();
        if values.len() != 1 {
            return None;
        }
        let op = match r.operator.as_str() {
            "In" => Op::In(values),
            "NotIn" => Op::NotIn(values),
            _ => return None,
        };
        Some(Requirement {
            key: r.key.clone(),
            op,
        })
    }

    fn matches(&self, value: Option<&str>) -> bool {
        match (&self.op, value) {
            (Op::In(vs), Some(v)) => vs.iter().any(|x| x == v),
            (Op::In(_), None) => false,
            (Op::NotIn(vs), Some(v)) => !vs.iter().any(|x| x == v),
            (Op::NotIn(_), None) => true,
            (Op::Exists, v) => v.is_some(),
            (Op::DoesNotExist, v) => v.is_none(),
            (Op::Gt(n), Some(v)) => v.parse::<i64>().is_ok_and(|x| x > *n),
            (Op::Lt(n), Some(v)) => v.parse::<i64>().is_ok_and(|x| x < *n),
            (Op::Gt(_) | Op::Lt(_), None) => false,
        }
    }
}

/// A node selector term compiled once for matching against many nodes: its expressions
/// (on labels) and fields (`metadata.name`) are ANDed.
#[derive(Clone, Debug, PartialEq)]
pub struct CompiledTerm {
    labels: Vec<Requirement>,
    fields: Vec<Requirement>,
}

impl CompiledTerm {
    /// The term, or `None` when it is empty (selects nothing) or malformed.
    pub fn new(term: &NodeSelectorTerm) -> Option<CompiledTerm> {
        let exprs = term.match_expressions.as_deref().unwrap_or_default();
        let fields = term.match_fields.as_deref().unwrap_or_default();
        if exprs.is_empty() && fields.is_empty() {
            return None;
        }
        Some(CompiledTerm {
            labels: exprs
                .iter()
                .map(Requirement::label)
                .collect::<Option<_>>()?,
            fields: fields
                .iter()
                .map(Requirement::field)
                .collect::<Option<_>>()?,
        })
    }

    /// Whether a node with `labels` and `name` satisfies every requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>, name: &str) -> bool {
        self.labels
            .iter()
            .all(|r| r.matches(labels.get(&r.key).map(String::as_str)))
            && self.fields.iter().all(|r| {
                // Nodes expose one selectable field; any other reads as empty.
                let value = if r.key == "metadata.name" { name } else { "" };
                r.matches(Some(value))
            })
    }
}

/// A `NodeSelector` (terms ORed) compiled for matching.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeSelectorMatcher {
    terms: Vec<CompiledTerm>,
}

impl NodeSelectorMatcher {
    pub fn new(selector: &NodeSelector) -> NodeSelectorMatcher {
        NodeSelectorMatcher {
            terms: selector
                .node_selector_terms
                .iter()
                .filter_map(CompiledTerm::new)
                .collect(),
        }
    }

    /// Whether any term matches; a selector without usable terms matches nothing.
    pub fn matches(&self, labels: &BTreeMap<String, String>, name: &str) -> bool {
        self.terms.iter().any(|t| t.matches(labels, name))
    }
}

/// A pod's hard placement constraints on node labels: `spec.nodeSelector` AND the required
/// node affinity (upstream `GetRequiredNodeAffinity`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RequiredNodeAffinity {
    node_selector: Vec<(String, String)>,
    affinity: Option<NodeSelectorMatcher>,
}

impl RequiredNodeAffinity {
    pub fn of(spec: &PodSpec) -> RequiredNodeAffinity {
        RequiredNodeAffinity {
            node_selector: spec
                .node_selector
                .iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            affinity: spec
                .affinity
                .as_ref()
                .and_then(|a| a.node_affinity.as_ref())
                .and_then(|n| {
                    n.required_during_scheduling_ignored_during_execution
                        .as_ref()
                })
                .map(NodeSelectorMatcher::new),
        }
    }

    /// Whether the pod constrains node labels at all.
    pub fn is_empty(&self) -> bool {
        self.node_selector.is_empty() && self.affinity.is_none()
    }

    pub fn matches(&self, labels: &BTreeMap<String, String>, name: &str) -> bool {
        self.node_selector
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v))
            && self
                .affinity
                .as_ref()
                .is_none_or(|a| a.matches(labels, name))
    }
}

/// A pod's preferred node affinity terms with their weights.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PreferredNodeAffinity {
    terms: Vec<(i64, CompiledTerm)>,
}

impl PreferredNodeAffinity {
    pub fn of(spec: &PodSpec) -> PreferredNodeAffinity {
        let terms = spec
            .affinity
            .as_ref()
            .and_then(|a| a.node_affinity.as_ref())
            .and_then(|n| {
                n.preferred_during_scheduling_ignored_during_execution
                    .as_ref()
            })
            .into_iter()
            .flatten()
            .filter(|t| t.weight != 0)
            .filter_map(|t| CompiledTerm::new(&t.preference).map(|c| (i64::from(t.weight), c)))
            .collect();
        PreferredNodeAffinity { terms }
    }

    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// The sum of the weights of the terms the node matches.
    pub fn score(&self, labels: &BTreeMap<String, String>, name: &str) -> i64 {
        self.terms
            .iter()
            .filter(|(_, t)| t.matches(labels, name))
            .map(|(w, _)| w)
            .sum()
    }
}

/// The node names a pod's required node affinity pins it to through `matchFields`
/// `metadata.name In` (upstream NodeAffinity PreFilter): `None` when some term does not
/// pin names (every node may match); an empty set when the terms conflict.
pub fn affinity_node_names(spec: &PodSpec) -> Option<BTreeSet<String>> {
    let terms = &spec
        .affinity
        .as_ref()?
        .node_affinity
        .as_ref()?
        .required_during_scheduling_ignored_during_execution
        .as_ref()?
        .node_selector_terms;
    let mut names: Option<BTreeSet<String>> = None;
    for term in terms {
        let mut term_names: Option<BTreeSet<String>> = None;
        for r in term.match_fields.iter().flatten() {
            if r.key == "metadata.name" && r.operator == "In" {
                let set: BTreeSet<String> = r.values.iter().flatten().cloned().collect();
                term_names = Some(match term_names {
                    None => set,
                    Some(prev) => prev.intersection(&set).cloned().collect(),
                });
            }
        }
        let term_names = term_names?;
        names.get_or_insert_with(BTreeSet::new).extend(term_names);
    }
    names
}

/// Whether the scheduler counts `name` as a scalar resource (extended resources such as
/// `example.com/gpu`, `hugepages-*`, `attachable-volumes-*`, prefixed native resources);
/// cpu, memory, ephemeral-storage and pods are handled on their own.
pub fn is_scalar_resource(name: &str) -> bool {
    name.starts_with("hugepages-")
        || name.starts_with("attachable-volumes-")
        || (name.contains('/') && !name.starts_with("requests."))
}

/// The pod's requests for scoring (upstream `NonMissingContainerRequests`): like
/// [`crate::pod::effective_requests`], but a container that sets no cpu or memory request
/// counts as asking for 100m and 200Mi.
pub fn non_zero_requests(spec: &PodSpec) -> BTreeMap<String, ParsedQuantity> {
    let defaulted = |c: &Container| -> Container {
        let mut requests = c
            .resources
            .as_ref()
            .and_then(|r| r.requests.clone())
            .unwrap_or_default();
        requests
            .entry("cpu".into())
            .or_insert_with(|| Quantity(format!("{DEFAULT_MILLI_CPU_REQUEST}m")));
        requests
            .entry("memory".into())
            .or_insert_with(|| Quantity(DEFAULT_MEMORY_REQUEST.to_string()));
        Container {
            name: c.name.clone(),
            restart_policy: c.restart_policy.clone(),
            resources: Some(ResourceRequirements {
                requests: Some(requests),
                ..Default::default()
            }),
            ..Default::default()
        }
    };
    let reduced = PodSpec {
        containers: spec.containers.iter().map(defaulted).collect(),
        init_containers: spec
            .init_containers
            .as_ref()
            .map(|cs| cs.iter().map(defaulted).collect()),
        overhead: spec.overhead.clone(),
        ..Default::default()
    };
    crate::pod::effective_requests(&reduced)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn taint(key: &str, value: &str, effect: &str) -> Taint {
        Taint {
            key: key.into(),
            value: (!value.is_empty()).then(|| value.into()),
            effect: effect.into(),
            time_added: None,
        }
    }

    fn tol(v: serde_json::Value) -> Toleration {
        serde_json::from_value(v).unwrap()
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn spec(v: serde_json::Value) -> PodSpec {
        serde_json::from_value(v).unwrap()
    }

    fn term(v: serde_json::Value) -> NodeSelectorTerm {
        serde_json::from_value(v).unwrap()
    }

    fn expr(key: &str, op: &str, values: &[&str]) -> serde_json::Value {
        json!({"matchExpressions": [{"key": key, "operator": op, "values": values}]})
    }

    #[test]
    fn equal_toleration_needs_key_value_and_effect() {
        let t = taint("dedicated", "gpu", NO_SCHEDULE);
        assert!(tolerates(
            &tol(
                json!({"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"})
            ),
            &t
        ));
        assert!(
            tolerates(&tol(json!({"key": "dedicated", "value": "gpu"})), &t),
            "empty operator is Equal, empty effect is any"
        );
        assert!(!tolerates(
            &tol(json!({"key": "dedicated", "value": "cpu"})),
            &t
        ));
        assert!(!tolerates(
            &tol(json!({"key": "other", "value": "gpu"})),
            &t
        ));
        assert!(!tolerates(
            &tol(json!({"key": "dedicated", "value": "gpu", "effect": "NoExecute"})),
            &t
        ));
        assert!(
            tolerates(&tol(json!({"key": "k"})), &taint("k", "", NO_EXECUTE)),
            "empty values are equal"
        );
    }

    #[test]
    fn exists_toleration_ignores_value_and_empty_key_matches_every_key() {
        let t = taint("dedicated", "gpu", NO_EXECUTE);
        assert!(tolerates(
            &tol(json!({"key": "dedicated", "operator": "Exists"})),
            &t
        ));
        assert!(tolerates(&tol(json!({"operator": "Exists"})), &t));
        assert!(tolerates(
            &tol(json!({"operator": "Exists", "effect": "NoExecute"})),
            &t
        ));
        assert!(!tolerates(
            &tol(json!({"operator": "Exists", "effect": "NoSchedule"})),
            &t
        ));
        assert!(
            !tolerates(
                &tol(json!({"key": "dedicated", "operator": "Gt", "value": "1"})),
                &t
            ),
            "unknown operators tolerate nothing"
        );
    }

    #[test]
    fn find_untolerated_only_looks_at_the_given_effects_in_order() {
        let taints = vec![
            taint("soft", "", PREFER_NO_SCHEDULE),
            taint("a", "1", NO_SCHEDULE),
            taint("b", "2", NO_EXECUTE),
        ];
        let effects = [NO_SCHEDULE, NO_EXECUTE];
        assert_eq!(find_untolerated(&taints, &[], &effects).unwrap().key, "a");
        let tolerate_a = [tol(json!({"key": "a", "operator": "Exists"}))];
        assert_eq!(
            find_untolerated(&taints, &tolerate_a, &effects)
                .unwrap()
                .key,
            "b"
        );
        let all = [tol(json!({"operator": "Exists"}))];
        assert!(find_untolerated(&taints, &all, &effects).is_none());
        assert!(find_untolerated(&taints[..1], &[], &effects).is_none());
    }

    #[test]
    fn no_execute_toleration_reports_the_shortest_toleration_seconds() {
        let taints = vec![
            taint(TAINT_UNREACHABLE, "", NO_EXECUTE),
            taint(TAINT_NOT_READY, "", NO_EXECUTE),
            taint("other", "", NO_SCHEDULE),
        ];
        assert_eq!(
            no_execute_toleration(&taints, &[]).unwrap_err().key,
            TAINT_UNREACHABLE
        );
        let tols = [
            tol(
                json!({"key": TAINT_UNREACHABLE, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}),
            ),
            tol(
                json!({"key": TAINT_NOT_READY, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 5}),
            ),
        ];
        assert_eq!(no_execute_toleration(&taints, &tols), Ok(Some(5)));
        let forever = [tol(json!({"operator": "Exists"}))];
        assert_eq!(no_execute_toleration(&taints, &forever), Ok(None));
        let negative = [tol(json!({"operator": "Exists", "tolerationSeconds": -3}))];
        assert_eq!(no_execute_toleration(&taints, &negative), Ok(Some(0)));
        assert_eq!(
            no_execute_toleration(&taints[2..], &[]),
            Ok(None),
            "only NoExecute taints count"
        );
    }

    #[test]
    fn label_operators_match_as_upstream() {
        let l = labels(&[("zone", "a"), ("cores", "8"), ("name", "x")]);
        let m = |v| CompiledTerm::new(&term(v)).unwrap().matches(&l, "n1");
        assert!(m(expr("zone", "In", &["a", "b"])));
        assert!(!m(expr("zone", "In", &["b"])));
        assert!(!m(expr("missing", "In", &["a"])));
        assert!(m(expr("zone", "NotIn", &["b"])));
        assert!(!m(expr("zone", "NotIn", &["a"])));
        assert!(
            m(expr("missing", "NotIn", &["a"])),
            "NotIn matches an absent label"
        );
        assert!(m(expr("zone", "Exists", &[])));
        assert!(!m(expr("missing", "Exists", &[])));
        assert!(m(expr("missing", "DoesNotExist", &[])));
        assert!(!m(expr("zone", "DoesNotExist", &[])));
        assert!(m(expr("cores", "Gt", &["4"])));
        assert!(!m(expr("cores", "Gt", &["8"])));
        assert!(m(expr("cores", "Lt", &["9"])));
        assert!(!m(expr("cores", "Lt", &["8"])));
        assert!(
            !m(expr("name", "Gt", &["1"])),
            "a non-integer label is never greater"
        );
        assert!(!m(expr("missing", "Lt", &["1"])));
    }

    #[test]
    fn malformed_requirements_make_the_term_select_nothing() {
        for bad in [
            expr("zone", "In", &[]),
            expr("zone", "Exists", &["a"]),
            expr("cores", "Gt", &["1", "2"]),
            expr("cores", "Lt", &["many"]),
            expr("zone", "Like", &["a"]),
            json!({"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["a", "b"]}]}),
            json!({"matchFields": [{"key": "metadata.name", "operator": "Exists"}]}),
            json!({}),
        ] {
            assert!(CompiledTerm::new(&term(bad.clone())).is_none(), "{bad}");
        }
    }

    #[test]
    fn match_fields_select_on_the_node_name() {
        let l = labels(&[]);
        let in_n1 = CompiledTerm::new(&term(
            json!({"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]}),
        ))
        .unwrap();
        assert!(in_n1.matches(&l, "n1"));
        assert!(!in_n1.matches(&l, "n2"));
        let not_n1 = CompiledTerm::new(&term(json!({"matchFields": [{"key": "metadata.name", "operator": "NotIn", "values": ["n1"]}]}))).unwrap();
        assert!(!not_n1.matches(&l, "n1"));
        assert!(not_n1.matches(&l, "n2"));
        let other = CompiledTerm::new(&term(
            json!({"matchFields": [{"key": "spec.x", "operator": "In", "values": ["n1"]}]}),
        ))
        .unwrap();
        assert!(!other.matches(&l, "n1"));
    }

    #[test]
    fn terms_are_ored_and_requirements_anded() {
        let sel: NodeSelector = serde_json::from_value(json!({"nodeSelectorTerms": [
            {"matchExpressions": [
                {"key": "zone", "operator": "In", "values": ["a"]},
                {"key": "disk", "operator": "In", "values": ["ssd"]}]},
            {"matchExpressions": [{"key": "gpu", "operator": "Exists"}]},
            {},
        ]}))
        .unwrap();
        let m = NodeSelectorMatcher::new(&sel);
        assert!(m.matches(&labels(&[("zone", "a"), ("disk", "ssd")]), "n"));
        assert!(!m.matches(&labels(&[("zone", "a")]), "n"));
        assert!(m.matches(&labels(&[("gpu", "1")]), "n"));
        assert!(!m.matches(&labels(&[]), "n"));
        let empty = NodeSelectorMatcher::new(&NodeSelector::default());
        assert!(
            !empty.matches(&labels(&[("zone", "a")]), "n"),
            "no terms select nothing"
        );
    }

    #[test]
    fn required_affinity_needs_node_selector_and_affinity() {
        let s = spec(json!({
            "containers": [],
            "nodeSelector": {"disk": "ssd"},
            "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [expr("zone", "In", &["a"])]}}},
        }));
        let r = RequiredNodeAffinity::of(&s);
        assert!(!r.is_empty());
        assert!(r.matches(&labels(&[("disk", "ssd"), ("zone", "a")]), "n"));
        assert!(!r.matches(&labels(&[("disk", "ssd"), ("zone", "b")]), "n"));
        assert!(!r.matches(&labels(&[("disk", "hdd"), ("zone", "a")]), "n"));
        let none = RequiredNodeAffinity::of(&spec(json!({"containers": []})));
        assert!(none.is_empty());
        assert!(none.matches(&labels(&[]), "n"));
    }

    #[test]
    fn preferred_affinity_sums_the_weights_of_matching_terms() {
        let s = spec(json!({"containers": [], "affinity": {"nodeAffinity": {
        "preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 10, "preference": expr("zone", "In", &["a"])},
            {"weight": 5, "preference": expr("disk", "Exists", &[])},
            {"weight": 0, "preference": expr("zone", "Exists", &[])},
            {"weight": 7, "preference": {}},
        ]}}}));
        let p = PreferredNodeAffinity::of(&s);
        assert!(!p.is_empty());
        assert_eq!(p.score(&labels(&[("zone", "a"), ("disk", "x")]), "n"), 15);
        assert_eq!(p.score(&labels(&[("zone", "b"), ("disk", "x")]), "n"), 5);
        assert_eq!(p.score(&labels(&[]), "n"), 0);
        assert!(PreferredNodeAffinity::of(&spec(json!({"containers": []}))).is_empty());
    }

    fn names_of(terms: serde_json::Value) -> Option<BTreeSet<String>> {
        affinity_node_names(&spec(
            json!({"containers": [], "affinity": {"nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}}}}),
        ))
    }

    fn name_in(values: &[&str]) -> serde_json::Value {
        json!({"key": "metadata.name", "operator": "In", "values": values})
    }

    #[test]
    fn affinity_node_names_are_pinned_only_when_every_term_pins_them() {
        let set = |v: &[&str]| Some(v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>());
        assert_eq!(affinity_node_names(&spec(json!({"containers": []}))), None);
        assert_eq!(
            names_of(json!([{"matchFields": [name_in(&["a", "b"])]}])),
            set(&["a", "b"])
        );
        assert_eq!(
            names_of(
                json!([{"matchFields": [name_in(&["a"])]}, {"matchFields": [name_in(&["c"])]}])
            ),
            set(&["a", "c"]),
            "terms are ORed"
        );
        assert_eq!(
            names_of(json!([{"matchFields": [name_in(&["a", "b"]), name_in(&["b", "c"])]}])),
            set(&["b"]),
            "requirements in a term are ANDed"
        );
        assert_eq!(
            names_of(json!([{"matchFields": [name_in(&["a"]), name_in(&["b"])]}])),
            set(&[])
        );
        assert_eq!(
            names_of(json!([{"matchFields": [name_in(&["a"])]}, expr("zone", "Exists", &[])])),
            None,
            "a term without names lets every node through"
        );
    }

    #[test]
    fn scalar_resources_are_extended_hugepages_and_prefixed_ones() {
        for yes in [
            "example.com/gpu",
            "nvidia.com/gpu",
            "hugepages-2Mi",
            "attachable-volumes-aws-ebs",
            "kubernetes.io/batch-cpu",
        ] {
            assert!(is_scalar_resource(yes), "{yes}");
        }
        for no in [
            "cpu",
            "memory",
            "ephemeral-storage",
            "pods",
            "storage",
            "requests.example.com/x",
        ] {
            assert!(!is_scalar_resource(no), "{no}");
        }
    }

    fn values(m: &BTreeMap<String, ParsedQuantity>) -> (i128, i128) {
        (m["cpu"].milli_value(), m["memory"].value())
    }

    #[test]
    fn non_zero_requests_default_each_container_without_a_request() {
        let s = spec(json!({"containers": [
            {"name": "a", "image": "x"},
            {"name": "b", "image": "x", "resources": {"requests": {"cpu": "1"}}},
            {"name": "c", "image": "x", "resources": {"requests": {"cpu": "0", "memory": "0"}}},
        ]}));
        assert_eq!(
            values(&non_zero_requests(&s)),
            (1100, 2 * DEFAULT_MEMORY_REQUEST)
        );
        let effective = crate::pod::effective_requests(&s);
        assert_eq!(effective["cpu"].milli_value(), 1000);
        assert_eq!(effective["memory"].value(), 0);
    }

    #[test]
    fn non_zero_requests_keep_init_peaks_sidecars_and_overhead() {
        let s = spec(json!({
            "initContainers": [
                {"name": "init", "image": "x", "resources": {"requests": {"cpu": "2", "memory": "1Gi"}}},
                {"name": "side", "image": "x", "restartPolicy": "Always"},
            ],
            "containers": [{"name": "a", "image": "x", "resources": {"requests": {"cpu": "500m", "memory": "100Mi"}}}],
            "overhead": {"cpu": "10m", "memory": "1Mi"},
        }));
        let (cpu, mem) = values(&non_zero_requests(&s));
        assert_eq!(
            cpu,
            2000 + 10,
            "the init container's peak wins, plus overhead"
        );
        assert_eq!(mem, (1 << 30) + (1 << 20));
    }
}
