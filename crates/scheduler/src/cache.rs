//! The scheduler's cache: every node with the pods placed on it — bound as the watch shows,
//! or assumed by this scheduler ahead of the watch — kept incrementally, so a scheduling
//! cycle reads precomputed allocations instead of summing pods.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Taint};

use crate::plugins::PluginSet;
use crate::pod_info::PodInfo;
use crate::resources::{HostPort, Resources, Usage};

/// What the filters read of a Node object.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NodeFacts {
    pub labels: BTreeMap<String, String>,
    pub taints: Vec<Taint>,
    pub unschedulable: bool,
    pub allocatable: Resources,
    pub allowed_pods: i64,
}

impl NodeFacts {
    pub fn of(node: &Node) -> NodeFacts {
        let status = node.status.as_ref();
        let allocatable = status
            .and_then(|s| s.allocatable.as_ref().or(s.capacity.as_ref()))
            .map(Resources::from_allocatable)
            .unwrap_or_default();
        let spec = node.spec.as_ref();
        NodeFacts {
            labels: node.metadata.labels.clone().unwrap_or_default(),
            taints: spec.and_then(|s| s.taints.clone()).unwrap_or_default(),
            unschedulable: spec.and_then(|s| s.unschedulable).unwrap_or(false),
            allocatable: allocatable.0,
            allowed_pods: allocatable.1,
        }
    }

    /// Which filters may now decide differently after the node changed from `old`
    /// (upstream's per-plugin node update events).
    pub fn changes_from(&self, old: &NodeFacts) -> PluginSet {
        let mut set = PluginSet::EMPTY;
        if self.labels != old.labels {
            set |= PluginSet::NODE_AFFINITY;
        }
        if self.taints != old.taints {
            set |= PluginSet::TAINT_TOLERATION;
        }
        if self.unschedulable != old.unschedulable {
            set |= PluginSet::NODE_UNSCHEDULABLE;
        }
        if self.allocatable != old.allocatable || self.allowed_pods != old.allowed_pods {
            set |= PluginSet::NODE_RESOURCES_FIT;
        }
        set
    }
}

/// One node and what is placed on it.
#[derive(Debug)]
pub struct NodeInfo {
    pub name: Arc<str>,
    /// The Node object's facts; `None` while pods name a node the watch has not shown.
    pub facts: Option<NodeFacts>,
    /// The sum of the effective requests of the pods on the node.
    pub requested: Resources,
    pub non_zero_cpu: i64,
    pub non_zero_memory: i64,
    pub pod_count: i64,
    /// Host ports in use, with how many pods claim each.
    pub ports: Vec<(HostPort, u32)>,
}

impl NodeInfo {
    fn new(name: Arc<str>) -> NodeInfo {
        NodeInfo {
            name,
            facts: None,
            requested: Resources::default(),
            non_zero_cpu: 0,
            non_zero_memory: 0,
            pod_count: 0,
            ports: Vec::new(),
        }
    }

    fn add(&mut self, u: &Usage) {
        self.requested.add(&u.requests);
        self.non_zero_cpu += u.non_zero_cpu;
        self.non_zero_memory += u.non_zero_memory;
        self.pod_count += 1;
        for p in &u.ports {
            match self.ports.iter_mut().find(|(q, _)| q == p) {
                Some((_, n)) => *n += 1,
                None => self.ports.push((p.clone(), 1)),
            }
        }
    }

    fn remove(&mut self, u: &Usage) {
        self.requested.sub(&u.requests);
        self.non_zero_cpu -= u.non_zero_cpu;
        self.non_zero_memory -= u.non_zero_memory;
        self.pod_count -= 1;
        for p in &u.ports {
            if let Some(i) = self.ports.iter().position(|(q, _)| q == p) {
                self.ports[i].1 -= 1;
                if self.ports[i].1 == 0 {
                    self.ports.swap_remove(i);
                }
            }
        }
    }
}

/// Where one pod stands.
#[derive(Debug)]
pub enum PodRecord {
    /// Waiting for a node: queued, backing off, unschedulable, or in a cycle.
    Pending(Arc<PodInfo>),
    /// Placed on `node` by this scheduler: counted there while the binding is in flight
    /// and until the watch shows the pod bound.
    Assumed { node: Arc<str>, info: Arc<PodInfo> },
    /// On `node`, as the watch shows.
    Bound { node: Arc<str>, usage: Usage },
}

/// Nodes, the pods placed on them, and the pods still waiting.
#[derive(Debug, Default)]
pub struct Cache {
    nodes: HashMap<Arc<str>, NodeInfo>,
    /// Nodes with facts, in the order cycles scan them.
    order: Vec<Arc<str>>,
    position: HashMap<Arc<str>, usize>,
    pods: HashMap<Arc<str>, PodRecord>,
}

/// How a node event changed the cache.
#[derive(Debug, PartialEq)]
pub enum NodeChange {
    Added,
    Updated(PluginSet),
}

impl Cache {
    /// Scheduling candidates: nodes the watch has shown, in scan order.
    pub fn node_order(&self) -> &[Arc<str>] {
        &self.order
    }

    pub fn node(&self, name: &str) -> Option<&NodeInfo> {
        self.nodes.get(name)
    }

    pub fn node_count(&self) -> usize {
        self.order.len()
    }

    pub fn pod(&self, uid: &str) -> Option<&PodRecord> {
        self.pods.get(uid)
    }

    pub fn pod_count(&self) -> usize {
        self.pods.len()
    }

    /// Node names the cache knows (for reconciling after a relist).
    pub fn node_names(&self) -> Vec<Arc<str>> {
        self.order.clone()
    }

    /// Pod uids the cache knows, with whether the pod is assumed (for relists).
    pub fn pod_uids(&self) -> Vec<(Arc<str>, bool)> {
        self.pods
            .iter()
            .map(|(k, v)| (k.clone(), matches!(v, PodRecord::Assumed { .. })))
            .collect()
    }

    fn node_entry(&mut self, name: &str) -> &mut NodeInfo {
        if !self.nodes.contains_key(name) {
            let name: Arc<str> = Arc::from(name);
            self.nodes.insert(name.clone(), NodeInfo::new(name));
        }
        self.nodes.get_mut(name).expect("inserted above")
    }

    pub fn upsert_node(&mut self, node: &Node) -> Option<NodeChange> {
        let name = node.metadata.name.as_deref()?;
        let facts = NodeFacts::of(node);
        let entry = self.node_entry(name);
        let change = match &entry.facts {
            None => NodeChange::Added,
            Some(old) => NodeChange::Updated(facts.changes_from(old)),
        };
        entry.facts = Some(facts);
        if change == NodeChange::Added {
            let name = entry.name.clone();
            self.position.insert(name.clone(), self.order.len());
            self.order.push(name);
        }
        Some(change)
    }

    pub fn remove_node(&mut self, name: &str) {
        let Some(entry) = self.nodes.get_mut(name) else {
            return;
        };
        entry.facts = None;
        if entry.pod_count == 0 {
            self.nodes.remove(name);
        }
        if let Some(i) = self.position.remove(name) {
            self.order.swap_remove(i);
            if let Some(moved) = self.order.get(i) {
                self.position.insert(moved.clone(), i);
            }
        }
    }

    fn place(&mut self, node: &str, usage: &Usage) {
        self.node_entry(node).add(usage);
    }

    fn unplace(&mut self, node: &str, usage: &Usage) {
        if let Some(n) = self.nodes.get_mut(node) {
            n.remove(usage);
            if n.pod_count == 0 && n.facts.is_none() {
                self.nodes.remove(node);
            }
        }
    }

    /// Records a pod waiting for a node.
    pub fn set_pending(&mut self, info: Arc<PodInfo>) {
        self.pods.insert(info.uid.clone(), PodRecord::Pending(info));
    }

    /// Counts a pending pod on `node` ahead of its binding.
    pub fn assume(&mut self, uid: &str, node: Arc<str>) {
        let Some(PodRecord::Pending(info)) = self.pods.remove(uid) else {
            return;
        };
        self.place(&node, &info.usage);
        self.pods
            .insert(info.uid.clone(), PodRecord::Assumed { node, info });
    }

    /// Takes back an assumption whose binding failed; the pod is pending again.
    pub fn forget(&mut self, uid: &str) -> Option<Arc<PodInfo>> {
        match self.pods.remove(uid) {
            Some(PodRecord::Assumed { node, info }) => {
                self.unplace(&node, &info.usage);
                self.pods
                    .insert(info.uid.clone(), PodRecord::Pending(info.clone()));
                Some(info)
            }
            Some(other) => {
                self.pods.insert(Arc::from(uid), other);
                None
            }
            None => None,
        }
    }

    /// Records a pod the watch shows on `node` (confirming an assumption, or a pod bound
    /// by anyone else).
    pub fn set_bound(&mut self, uid: Arc<str>, node: &str, usage: Usage) {
        match self.pods.remove(&uid) {
            Some(PodRecord::Assumed { node: n, info }) if &*n == node && info.usage == usage => {
                self.pods.insert(uid, PodRecord::Bound { node: n, usage });
                return;
            }
            Some(PodRecord::Bound { node: n, usage: u }) if &*n == node && u == usage => {
                self.pods
                    .insert(uid, PodRecord::Bound { node: n, usage: u });
                return;
            }
            Some(PodRecord::Assumed { node: n, info }) => self.unplace(&n, &info.usage),
            Some(PodRecord::Bound { node: n, usage: u }) => self.unplace(&n, &u),
            Some(PodRecord::Pending(_)) | None => {}
        }
        self.place(node, &usage);
        let node = self.nodes.get(node).expect("placed above").name.clone();
        self.pods.insert(uid, PodRecord::Bound { node, usage });
    }

    /// Forgets a pod; returns what it was (a bound pod frees its node's resources).
    pub fn remove_pod(&mut self, uid: &str) -> Option<PodRecord> {
        let record = self.pods.remove(uid)?;
        match &record {
            PodRecord::Assumed { node, info } => self.unplace(node, &info.usage),
            PodRecord::Bound { node, usage } => self.unplace(node, usage),
            PodRecord::Pending(_) => {}
        }
        Some(record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(name: &str, labels: serde_json::Value) -> Node {
        serde_json::from_value(json!({
            "metadata": {"name": name, "labels": labels},
            "status": {"allocatable": {"cpu": "2", "memory": "4Gi", "pods": "10"}},
        }))
        .unwrap()
    }

    fn pod(uid: &str, cpu: &str) -> Arc<PodInfo> {
        let p = serde_json::from_value(json!({
            "metadata": {"name": uid, "namespace": "default", "uid": uid},
            "spec": {"containers": [{"name": "c", "image": "x", "resources": {"requests": {"cpu": cpu}},
                "ports": [{"containerPort": 80, "hostPort": 80}]}]},
        }))
        .unwrap();
        Arc::new(PodInfo::new(&p).unwrap())
    }

    #[test]
    fn assumed_pods_count_until_forgotten_and_bound_pods_until_removed() {
        let mut c = Cache::default();
        assert_eq!(
            c.upsert_node(&node("n1", json!({}))),
            Some(NodeChange::Added)
        );
        c.set_pending(pod("p1", "500m"));
        c.assume("p1", Arc::from("n1"));
        let n = c.node("n1").unwrap();
        assert_eq!(
            (n.requested.milli_cpu, n.pod_count, n.ports.len()),
            (500, 1, 1)
        );
        assert!(c.forget("p1").is_some());
        assert_eq!(c.node("n1").unwrap().pod_count, 0);
        assert!(matches!(c.pod("p1"), Some(PodRecord::Pending(_))));

        c.assume("p1", Arc::from("n1"));
        let usage = pod("p1", "500m").usage.clone();
        c.set_bound(Arc::from("p1"), "n1", usage);
        assert!(matches!(c.pod("p1"), Some(PodRecord::Bound { .. })));
        assert_eq!(
            c.node("n1").unwrap().requested.milli_cpu,
            500,
            "confirmation does not double count"
        );
        c.remove_pod("p1");
        let n = c.node("n1").unwrap();
        assert_eq!(
            (n.requested.milli_cpu, n.pod_count, n.ports.len()),
            (0, 0, 0)
        );
    }

    #[test]
    fn pods_on_unknown_nodes_are_kept_until_the_node_appears() {
        let mut c = Cache::default();
        c.set_bound(Arc::from("p1"), "n9", pod("p1", "1").usage.clone());
        assert_eq!(c.node_count(), 0, "not a candidate without its Node");
        assert_eq!(
            c.upsert_node(&node("n9", json!({}))),
            Some(NodeChange::Added)
        );
        assert_eq!(c.node("n9").unwrap().requested.milli_cpu, 1000);
        c.remove_node("n9");
        assert_eq!(c.node_count(), 0);
        assert!(c.node("n9").is_some(), "still holds its pod");
        c.remove_pod("p1");
        assert!(c.node("n9").is_none());
    }

    #[test]
    fn node_updates_name_the_plugins_they_concern() {
        let mut c = Cache::default();
        c.upsert_node(&node("n1", json!({})));
        c.upsert_node(&node("n2", json!({})));
        assert_eq!(
            c.upsert_node(&node("n1", json!({"disk": "ssd"}))),
            Some(NodeChange::Updated(PluginSet::NODE_AFFINITY))
        );
        assert_eq!(
            c.upsert_node(&node("n1", json!({"disk": "ssd"}))),
            Some(NodeChange::Updated(PluginSet::EMPTY))
        );
        c.remove_node("n1");
        assert_eq!(c.node_order(), &[Arc::<str>::from("n2")]);
    }
}
