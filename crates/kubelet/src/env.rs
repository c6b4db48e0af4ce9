//! A container's environment: `envFrom` (ConfigMaps and Secrets, with prefix), then `env`
//! in order (`value` with `$(VAR)` expansion over what came before, `valueFrom` field,
//! resource, ConfigMap and Secret references, honouring `optional`), as upstream's
//! `makeEnvironmentVariables`. Failures are CreateContainerConfigError messages.

use std::collections::{BTreeMap, HashMap};

use k8s_openapi::api::core::v1::{ConfigMap, Container, Pod, Secret};

use crate::cluster::PodApi;
use crate::command::expand;
use crate::fieldpath::{field_value, resource_value, PodFacts};

/// An ordered environment where a later definition replaces an earlier one in place.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Env {
    vars: Vec<(String, String)>,
    index: HashMap<String, usize>,
}

impl Env {
    pub fn set(&mut self, name: &str, value: String) {
        match self.index.get(name) {
            Some(&i) => self.vars[i].1 = value,
            None => {
                self.index.insert(name.to_string(), self.vars.len());
                self.vars.push((name.to_string(), value));
            }
        }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.index.get(name).map(|&i| self.vars[i].1.as_str())
    }

    pub fn vars(&self) -> &[(String, String)] {
        &self.vars
    }

    /// The variables as a map, for `$(VAR)` expansion of command and args.
    pub fn to_map(&self) -> HashMap<String, String> {
        self.vars.iter().cloned().collect()
    }

    /// `NAME=value` lines for the runtime: `base` (HOSTNAME, the image's Env) overridden by
    /// these variables.
    pub fn to_runtime(&self, base: &[String]) -> Vec<String> {
        let mut all = Env::default();
        for line in base {
            let (k, v) = line.split_once('=').unwrap_or((line.as_str(), ""));
            all.set(k, v.to_string());
        }
        for (k, v) in &self.vars {
            all.set(k, v.clone());
        }
        all.vars
            .into_iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect()
    }
}

/// ConfigMaps and Secrets fetched once per container start.
struct Sources<'a> {
    api: &'a dyn PodApi,
    namespace: String,
    config_maps: HashMap<String, Option<ConfigMap>>,
    secrets: HashMap<String, Option<Secret>>,
}

impl Sources<'_> {
    async fn config_map(&mut self, name: &str) -> Result<Option<&ConfigMap>, String> {
        if !self.config_maps.contains_key(name) {
            let cm = self
                .api
                .config_map(&self.namespace, name)
                .await
                .map_err(|e| e.to_string())?;
            self.config_maps.insert(name.to_string(), cm);
        }
        Ok(self.config_maps.get(name).and_then(Option::as_ref))
    }

    async fn secret(&mut self, name: &str) -> Result<Option<&Secret>, String> {
        if !self.secrets.contains_key(name) {
            let s = self
                .api
                .secret(&self.namespace, name)
                .await
                .map_err(|e| e.to_string())?;
            self.secrets.insert(name.to_string(), s);
        }
        Ok(self.secrets.get(name).and_then(Option::as_ref))
    }
}

/// A ConfigMap's string and binary data as text.
pub fn config_map_data(cm: &ConfigMap) -> BTreeMap<String, Vec<u8>> {
    let mut out: BTreeMap<String, Vec<u8>> = cm
        .data
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.clone().into_bytes()))
        .collect();
    for (k, v) in cm.binary_data.iter().flatten() {
        out.insert(k.clone(), v.0.clone());
    }
    out
}

/// A Secret's data (and `stringData`, should a server leave it unmerged).
pub fn secret_data(s: &Secret) -> BTreeMap<String, Vec<u8>> {
    let mut out: BTreeMap<String, Vec<u8>> = s
        .string_data
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.clone().into_bytes()))
        .collect();
    for (k, v) in s.data.iter().flatten() {
        out.insert(k.clone(), v.0.clone());
    }
    out
}

fn valid_env_name(name: &str) -> bool {
    !name.is_empty() && !name.contains('=') && name.chars().all(|c| c.is_ascii_graphic())
}

/// The container's environment, or the CreateContainerConfigError message.
pub async fn container_env(
    pod: &Pod,
    container: &Container,
    facts: &PodFacts,
    api: &dyn PodApi,
) -> Result<Env, String> {
    let namespace = pod.metadata.namespace.clone().unwrap_or_default();
    let mut src = Sources {
        api,
        namespace: namespace.clone(),
        config_maps: HashMap::new(),
        secrets: HashMap::new(),
    };
    let mut env = Env::default();
    for from in container.env_from.iter().flatten() {
        let prefix = from.prefix.clone().unwrap_or_default();
        let data = if let Some(r) = &from.config_map_ref {
            match src.config_map(&r.name).await? {
                Some(cm) => config_map_data(cm),
                None if r.optional == Some(true) => continue,
                None => return Err(format!("configmap \"{}\" not found", r.name)),
            }
        } else if let Some(r) = &from.secret_ref {
            match src.secret(&r.name).await? {
                Some(s) => secret_data(s),
                None if r.optional == Some(true) => continue,
                None => return Err(format!("secret \"{}\" not found", r.name)),
            }
        } else {
            continue;
        };
        for (k, v) in data {
            let name = format!("{prefix}{k}");
            if valid_env_name(&name) {
                env.set(&name, String::from_utf8_lossy(&v).into_owned());
            }
        }
    }
    for var in container.env.iter().flatten() {
        let value = if let Some(from) = &var.value_from {
            if let Some(f) = &from.field_ref {
                field_value(pod, facts, &f.field_path)?
            } else if let Some(r) = &from.resource_field_ref {
                let target = match r.container_name.as_deref().filter(|n| !n.is_empty()) {
                    Some(name) => find_container(pod, name).unwrap_or(container),
                    None => container,
                };
                resource_value(target, &r.resource, r.divisor.as_ref(), facts)?
            } else if let Some(r) = &from.config_map_key_ref {
                let optional = r.optional == Some(true);
                match src.config_map(&r.name).await? {
                    Some(cm) => match config_map_data(cm).remove(&r.key) {
                        Some(v) => String::from_utf8_lossy(&v).into_owned(),
                        None if optional => continue,
                        None => {
                            return Err(format!(
                                "couldn't find key {} in ConfigMap {namespace}/{}",
                                r.key, r.name
                            ))
                        }
                    },
                    None if optional => continue,
                    None => return Err(format!("configmap \"{}\" not found", r.name)),
                }
            } else if let Some(r) = &from.secret_key_ref {
                let optional = r.optional == Some(true);
                match src.secret(&r.name).await? {
                    Some(s) => match secret_data(s).remove(&r.key) {
                        Some(v) => String::from_utf8_lossy(&v).into_owned(),
                        None if optional => continue,
                        None => {
                            return Err(format!(
                                "couldn't find key {} in Secret {namespace}/{}",
                                r.key, r.name
                            ))
                        }
                    },
                    None if optional => continue,
                    None => return Err(format!("secret \"{}\" not found", r.name)),
                }
            } else {
                String::new()
            }
        } else {
            let raw = var.value.clone().unwrap_or_default();
            expand(&raw, |name| env.get(name).map(str::to_string))
        };
        env.set(&var.name, value);
    }
    Ok(env)
}

fn find_container<'a>(pod: &'a Pod, name: &str) -> Option<&'a Container> {
    let spec = pod.spec.as_ref()?;
    spec.containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .find(|c| c.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::fake::FakeApi;
    use serde_json::json;

    fn pod_with(container: serde_json::Value) -> (Pod, Container) {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "p", "namespace": "default", "uid": "u"},
            "spec": {"containers": [container]}
        }))
        .unwrap();
        let c = pod.spec.as_ref().unwrap().containers[0].clone();
        (pod, c)
    }

    fn facts() -> PodFacts {
        PodFacts {
            pod_ips: vec!["10.88.0.9".into()],
            host_ips: vec!["10.0.0.1".into()],
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn env_values_expand_references_to_earlier_variables_only() {
        // The scenario 06-env-expansion.yaml environment.
        let (pod, c) = pod_with(json!({"name": "c", "env": [
            {"name": "MESSAGE", "value": "hello world"},
            {"name": "SERVICE_IP", "value": "192.168.99.102"},
            {"name": "SERVICE_PORT", "value": "31111"},
            {"name": "UNCHANGED_REFERENCE", "value": "$(PROTOCAL)://$(SERVICE_IP):$(SERVICE_PORT)"},
            {"name": "PROTOCAL", "value": "https"},
            {"name": "SERVICE", "value": "$(PROTOCAL)://$(SERVICE_IP):$(SERVICE_PORT)"},
            {"name": "ESCAPED_SERVICE", "value": "$$(PROTOCAL)://$(SERVICE_IP):$(SERVICE_PORT)"}
        ]}));
        let env = container_env(&pod, &c, &facts(), &FakeApi::default())
            .await
            .unwrap();
        assert_eq!(
            env.get("UNCHANGED_REFERENCE"),
            Some("$(PROTOCAL)://192.168.99.102:31111")
        );
        assert_eq!(env.get("SERVICE"), Some("https://192.168.99.102:31111"));
        assert_eq!(
            env.get("ESCAPED_SERVICE"),
            Some("$(PROTOCAL)://192.168.99.102:31111")
        );
    }

    #[tokio::test]
    async fn env_from_applies_prefixes_and_env_overrides_it() {
        let api = FakeApi::default();
        api.add_config_map(
            "default",
            json!({"metadata": {"name": "cfg"}, "data": {"db-url": "localhost", "MODE": "a"}}),
        );
        api.add_secret(
            "default",
            json!({"metadata": {"name": "sec"}, "data": {"TOKEN": "czNjcjN0"}}),
        );
        let (pod, c) = pod_with(json!({"name": "c",
            "envFrom": [{"configMapRef": {"name": "cfg"}}, {"prefix": "S_", "secretRef": {"name": "sec"}},
                        {"configMapRef": {"name": "absent", "optional": true}}],
            "env": [{"name": "MODE", "value": "b-$(db-url)"}]}));
        let env = container_env(&pod, &c, &facts(), &api).await.unwrap();
        assert_eq!(env.get("db-url"), Some("localhost"));
        assert_eq!(env.get("S_TOKEN"), Some("s3cr3t"));
        assert_eq!(env.get("MODE"), Some("b-localhost"));
        assert_eq!(
            env.vars()[0].0,
            "MODE",
            "an overridden variable keeps its place"
        );
    }

    #[tokio::test]
    async fn missing_references_fail_unless_optional() {
        let api = FakeApi::default();
        api.add_config_map(
            "default",
            json!({"metadata": {"name": "cfg"}, "data": {"k": "v"}}),
        );
        let run = |c: serde_json::Value| {
            let api = api.clone();
            async move {
                let (pod, c) = pod_with(c);
                container_env(&pod, &c, &facts(), &api).await
            }
        };
        let e = run(json!({"name": "c", "envFrom": [{"configMapRef": {"name": "nope"}}]}))
            .await
            .unwrap_err();
        assert_eq!(e, "configmap \"nope\" not found");
        let e = run(json!({"name": "c", "env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "zz"}}}]}))
            .await
            .unwrap_err();
        assert_eq!(e, "couldn't find key zz in ConfigMap default/cfg");
        let e = run(json!({"name": "c", "env": [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]}))
            .await
            .unwrap_err();
        assert_eq!(e, "secret \"s\" not found");
        let env = run(json!({"name": "c", "env": [
            {"name": "X", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k", "optional": true}}},
            {"name": "Y", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "k"}}}]}))
        .await
        .unwrap();
        assert_eq!(env.get("X"), None);
        assert_eq!(env.get("Y"), Some("v"));
    }

    #[tokio::test]
    async fn field_and_resource_references_are_not_expanded() {
        let (pod, c) = pod_with(
            json!({"name": "c", "resources": {"limits": {"memory": "128Mi"}}, "env": [
            {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            {"name": "NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "MEM", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}}}]}),
        );
        let env = container_env(&pod, &c, &facts(), &FakeApi::default())
            .await
            .unwrap();
        assert_eq!(env.get("POD_IP"), Some("10.88.0.9"));
        assert_eq!(env.get("NAME"), Some("p"));
        assert_eq!(env.get("MEM"), Some("128"));
    }

    #[test]
    fn runtime_env_lets_container_variables_override_the_image() {
        let mut env = Env::default();
        env.set("PATH", "/custom".into());
        env.set("A", "1".into());
        let out = env.to_runtime(&["HOSTNAME=p".into(), "PATH=/bin".into(), "LANG=C".into()]);
        assert_eq!(out, vec!["HOSTNAME=p", "PATH=/custom", "LANG=C", "A=1"]);
    }
}
