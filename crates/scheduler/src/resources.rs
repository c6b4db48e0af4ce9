//! Resource vectors in the integer units the scheduler compares (milli-cpu, bytes, counts),
//! what one pod takes from a node (its [`Usage`]), and host ports.

use std::collections::BTreeMap;

use api::quantity::ParsedQuantity;
use api::scheduling::is_scalar_resource;
use k8s_openapi::api::core::v1::{Container, PodSpec};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

/// cpu, memory, ephemeral-storage and scalar (extended) resources.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resources {
    pub milli_cpu: i64,
    pub memory: i64,
    pub ephemeral_storage: i64,
    /// Extended resources by name, sorted by name; few per pod or node.
    pub scalars: Vec<(String, i64)>,
}

fn clamp(v: i128) -> i64 {
    v.clamp(i64::MIN as i128, i64::MAX as i128) as i64
}

impl Resources {
    /// From parsed requests (cpu in milli-units, the rest in whole units rounded up).
    pub fn from_parsed(map: &BTreeMap<String, ParsedQuantity>) -> Resources {
        let mut r = Resources::default();
        for (name, q) in map {
            r.set(name, q);
        }
        r
    }

    /// A node's allocatable resources and its pod capacity.
    pub fn from_allocatable(map: &BTreeMap<String, Quantity>) -> (Resources, i64) {
        let mut r = Resources::default();
        let mut pods = 0;
        for (name, q) in map {
            let Ok(q) = ParsedQuantity::parse(&q.0) else {
                continue;
            };
            if name == "pods" {
                pods = clamp(q.value());
            } else {
                r.set(name, &q);
            }
        }
        (r, pods)
    }

    fn set(&mut self, name: &str, q: &ParsedQuantity) {
        match name {
            "cpu" => self.milli_cpu = clamp(q.milli_value()),
            "memory" => self.memory = clamp(q.value()),
            "ephemeral-storage" => self.ephemeral_storage = clamp(q.value()),
            n if is_scalar_resource(n) => {
                let v = clamp(q.value());
                match self.scalars.binary_search_by(|(k, _)| k.as_str().cmp(n)) {
                    Ok(i) => self.scalars[i].1 = v,
                    Err(i) => self.scalars.insert(i, (n.to_string(), v)),
                }
            }
            _ => {}
        }
    }

    /// The amount of scalar resource `name` (0 when absent).
    pub fn scalar(&self, name: &str) -> i64 {
        self.scalars
            .binary_search_by(|(k, _)| k.as_str().cmp(name))
            .map_or(0, |i| self.scalars[i].1)
    }

    /// Whether nothing at all is requested.
    pub fn is_zero(&self) -> bool {
        self.milli_cpu == 0
            && self.memory == 0
            && self.ephemeral_storage == 0
            && self.scalars.iter().all(|(_, v)| *v == 0)
    }

    pub fn add(&mut self, other: &Resources) {
        self.combine(other, 1);
    }

    pub fn sub(&mut self, other: &Resources) {
        self.combine(other, -1);
    }

    fn combine(&mut self, other: &Resources, sign: i64) {
        self.milli_cpu += sign * other.milli_cpu;
        self.memory += sign * other.memory;
        self.ephemeral_storage += sign * other.ephemeral_storage;
        for (name, v) in &other.scalars {
            match self.scalars.binary_search_by(|(k, _)| k.cmp(name)) {
                Ok(i) => self.scalars[i].1 += sign * v,
                Err(i) => self.scalars.insert(i, (name.clone(), sign * v)),
            }
        }
    }
}

/// One host port a container asks for; an empty IP means all addresses (`0.0.0.0`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HostPort {
    pub ip: String,
    pub protocol: String,
    pub port: i32,
}

impl HostPort {
    /// Whether the two claims collide: same protocol and port, and the same address or
    /// either on all addresses (upstream `HostPortInfo.CheckConflict`).
    pub fn conflicts(&self, other: &HostPort) -> bool {
        self.port == other.port
            && self.protocol == other.protocol
            && (self.ip == other.ip || self.ip == WILDCARD || other.ip == WILDCARD)
    }
}

const WILDCARD: &str = "0.0.0.0";

/// The host ports of a pod's containers (and sidecars, which run beside them).
pub fn host_ports(spec: &PodSpec) -> Vec<HostPort> {
    let sidecars = spec
        .init_containers
        .iter()
        .flatten()
        .filter(|c| api::pod::is_restartable_init_container(c));
    spec.containers
        .iter()
        .chain(sidecars)
        .flat_map(|c: &Container| c.ports.iter().flatten())
        .filter_map(|p| {
            let port = p.host_port.filter(|p| *p > 0)?;
            let ip = p.host_ip.as_deref().filter(|ip| !ip.is_empty());
            Some(HostPort {
                ip: ip.unwrap_or(WILDCARD).to_string(),
                protocol: p.protocol.clone().unwrap_or_else(|| "TCP".into()),
                port,
            })
        })
        .collect()
}

/// What one pod takes from the node it runs on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// The effective requests (what must fit).
    pub requests: Resources,
    /// cpu (milli) and memory with the scheduler's defaults for unset requests (scoring).
    pub non_zero_cpu: i64,
    pub non_zero_memory: i64,
    pub ports: Vec<HostPort>,
}

impl Usage {
    pub fn of(spec: &PodSpec) -> Usage {
        let non_zero = api::scheduling::non_zero_requests(spec);
        let get = |name: &str, milli: bool| {
            non_zero.get(name).map_or(0, |q| {
                clamp(if milli { q.milli_value() } else { q.value() })
            })
        };
        Usage {
            requests: Resources::from_parsed(&api::pod::effective_requests(spec)),
            non_zero_cpu: get("cpu", true),
            non_zero_memory: get("memory", false),
            ports: host_ports(spec),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(v: serde_json::Value) -> PodSpec {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn usage_takes_effective_requests_and_defaults_for_scoring() {
        let s = spec(json!({"containers": [
            {"name": "a", "image": "x", "resources": {"requests": {"cpu": "250m", "memory": "1Gi", "example.com/gpu": "2", "ephemeral-storage": "1G"}}},
            {"name": "b", "image": "x", "ports": [{"containerPort": 80, "hostPort": 8080}, {"containerPort": 53, "hostPort": 53, "protocol": "UDP", "hostIP": "10.0.0.1"}, {"containerPort": 9}]},
        ]}));
        let u = Usage::of(&s);
        assert_eq!(u.requests.milli_cpu, 250);
        assert_eq!(u.requests.memory, 1 << 30);
        assert_eq!(u.requests.ephemeral_storage, 1_000_000_000);
        assert_eq!(u.requests.scalar("example.com/gpu"), 2);
        assert_eq!(u.non_zero_cpu, 350);
        assert_eq!(u.non_zero_memory, (1 << 30) + 200 * 1024 * 1024);
        assert_eq!(u.ports.len(), 2);
        assert_eq!(u.ports[0].ip, "0.0.0.0");
        assert_eq!(u.ports[1].protocol, "UDP");
    }

    #[test]
    fn allocatable_splits_out_the_pod_count() {
        let map: BTreeMap<String, Quantity> = serde_json::from_value(
            json!({"cpu": "4", "memory": "8Gi", "pods": "110", "example.com/gpu": "1", "hugepages-2Mi": "0"}),
        )
        .unwrap();
        let (r, pods) = Resources::from_allocatable(&map);
        assert_eq!((r.milli_cpu, r.memory, pods), (4000, 8 << 30, 110));
        assert_eq!(r.scalar("example.com/gpu"), 1);
        assert_eq!(r.scalars.len(), 2);
    }

    #[test]
    fn resources_add_and_subtract_scalars_by_name() {
        let mut a = Resources {
            milli_cpu: 100,
            scalars: vec![("b/x".into(), 1)],
            ..Default::default()
        };
        let b = Resources {
            milli_cpu: 50,
            scalars: vec![("a/y".into(), 2), ("b/x".into(), 3)],
            ..Default::default()
        };
        a.add(&b);
        assert_eq!(a.milli_cpu, 150);
        assert_eq!((a.scalar("a/y"), a.scalar("b/x")), (2, 4));
        a.sub(&b);
        assert_eq!(a.milli_cpu, 100);
        assert!(!a.is_zero());
        assert_eq!(a.scalar("a/y"), 0);
    }

    #[test]
    fn host_ports_conflict_on_the_same_address_or_a_wildcard() {
        let p = |ip: &str, proto: &str, port| HostPort {
            ip: ip.into(),
            protocol: proto.into(),
            port,
        };
        assert!(p("0.0.0.0", "TCP", 80).conflicts(&p("10.0.0.1", "TCP", 80)));
        assert!(p("10.0.0.1", "TCP", 80).conflicts(&p("0.0.0.0", "TCP", 80)));
        assert!(p("10.0.0.1", "TCP", 80).conflicts(&p("10.0.0.1", "TCP", 80)));
        assert!(!p("10.0.0.1", "TCP", 80).conflicts(&p("10.0.0.2", "TCP", 80)));
        assert!(!p("0.0.0.0", "TCP", 80).conflicts(&p("0.0.0.0", "UDP", 80)));
        assert!(!p("0.0.0.0", "TCP", 80).conflicts(&p("0.0.0.0", "TCP", 81)));
    }
}
