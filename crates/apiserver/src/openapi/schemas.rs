//! The schemas of a document: k8s-openapi's, named as upstream, with the GVK, patch-strategy
//! and list definitions clients look for.

use std::collections::BTreeMap;

use api::patch_meta::{list_strategy, ListStrategy};
use api::Resource;
use k8s_openapi::api::{apps, autoscaling, batch, coordination, core, policy};
use k8s_openapi::apimachinery::pkg::apis::meta::v1 as meta;
use schemars::{Schema, SchemaGenerator};
use serde_json::{json, Map, Value};

use super::{gvk, Flavor};

pub(super) type SchemaFn = fn(&mut SchemaGenerator) -> Schema;

/// The k8s-openapi type of a served kind.
pub(super) fn kind_schema(group: &str, kind: &str) -> Option<SchemaFn> {
    Some(match (group, kind) {
        ("", "Pod") => SchemaGenerator::subschema_for::<core::v1::Pod>,
        ("", "Node") => SchemaGenerator::subschema_for::<core::v1::Node>,
        ("", "Namespace") => SchemaGenerator::subschema_for::<core::v1::Namespace>,
        ("", "ConfigMap") => SchemaGenerator::subschema_for::<core::v1::ConfigMap>,
        ("", "Secret") => SchemaGenerator::subschema_for::<core::v1::Secret>,
        ("", "ServiceAccount") => SchemaGenerator::subschema_for::<core::v1::ServiceAccount>,
        ("", "Event") => SchemaGenerator::subschema_for::<core::v1::Event>,
        ("", "Binding") => SchemaGenerator::subschema_for::<core::v1::Binding>,
        ("apps", "Deployment") => SchemaGenerator::subschema_for::<apps::v1::Deployment>,
        ("apps", "ReplicaSet") => SchemaGenerator::subschema_for::<apps::v1::ReplicaSet>,
        ("batch", "Job") => SchemaGenerator::subschema_for::<batch::v1::Job>,
        ("coordination.k8s.io", "Lease") => {
            SchemaGenerator::subschema_for::<coordination::v1::Lease>
        }
        ("autoscaling", "Scale") => SchemaGenerator::subschema_for::<autoscaling::v1::Scale>,
        ("policy", "Eviction") => SchemaGenerator::subschema_for::<policy::v1::Eviction>,
        _ => return None,
    })
}

/// The schemas of one document while its paths are built.
pub(super) struct Schemas {
    generator: SchemaGenerator,
    flavor: Flavor,
    /// Definition name → its GVKs, attached once all schemas are generated.
    gvks: BTreeMap<String, Vec<Value>>,
    /// List definitions, built by hand (k8s-openapi has a generic `List<T>`).
    lists: Map<String, Value>,
}

impl Schemas {
    pub(super) fn new(flavor: Flavor) -> Self {
        Schemas {
            generator: flavor.generator(),
            flavor,
            gvks: BTreeMap::new(),
            lists: Map::new(),
        }
    }

    /// A `$ref` schema to the definition made by `f`, recording its GVK.
    pub(super) fn kind(&mut self, f: SchemaFn, gvk: Option<Value>) -> Value {
        let schema = f(&mut self.generator).to_value();
        if let (Some(gvk), Some(name)) = (gvk, self.name_of(&schema)) {
            let entry = self.gvks.entry(name).or_default();
            if !entry.contains(&gvk) {
                entry.push(gvk);
            }
        }
        schema
    }

    fn name_of(&self, schema: &Value) -> Option<String> {
        let reference = schema.get("$ref")?.as_str()?;
        Some(
            reference
                .strip_prefix(self.flavor.ref_prefix())?
                .to_string(),
        )
    }

    fn reference(&self, name: &str) -> Value {
        json!({"$ref": format!("{}{name}", self.flavor.ref_prefix())})
    }

    /// `<Kind>List` of a resource, beside the kind's own definition.
    pub(super) fn list(&mut self, r: &Resource, item: &Value) -> Value {
        let item_name = self.name_of(item).unwrap_or_default();
        let package = item_name.strip_suffix(r.kind).unwrap_or("");
        let name = format!("{package}{}", r.list_kind);
        let list_meta = self.kind(SchemaGenerator::subschema_for::<meta::ListMeta>, None);
        self.lists.insert(
            name.clone(),
            json!({
                "description": format!("{} is a list of {}s.", r.list_kind, r.kind),
                "type": "object",
                "properties": {
                    "apiVersion": {"type": "string", "description": "APIVersion defines the versioned schema of this representation of an object."},
                    "items": {"type": "array", "items": item, "description": format!("List of {}.", r.plural)},
                    "kind": {"type": "string", "description": "Kind is a string value representing the REST resource this object represents."},
                    "metadata": with_description(list_meta, "Standard list metadata."),
                },
                "required": ["items"],
            }),
        );
        self.gvks
            .entry(name.clone())
            .or_default()
            .push(gvk(r.group, r.version, r.list_kind));
        self.reference(&name)
    }

    /// Every definition, with GVKs, patch strategies and upstream's optional `metadata`.
    pub(super) fn finish(mut self) -> Map<String, Value> {
        let lists = std::mem::take(&mut self.lists);
        self.generator.definitions_mut().extend(lists);
        let mut defs = self.generator.take_definitions(true);
        for (name, gvks) in &self.gvks {
            if let Some(Value::Object(def)) = defs.get_mut(name) {
                def.insert(
                    "x-kubernetes-group-version-kind".into(),
                    Value::Array(gvks.clone()),
                );
                if let Some(Value::Array(required)) = def.get_mut("required") {
                    required.retain(|f| f != "metadata");
                    if required.is_empty() {
                        def.remove("required");
                    }
                }
            }
        }
        for def in defs.values_mut() {
            add_patch_strategies(def);
        }
        defs
    }
}

fn with_description(mut schema: Value, description: &str) -> Value {
    if let Value::Object(map) = &mut schema {
        map.insert("description".into(), description.into());
    }
    schema
}

/// Marks merging lists, found by field name in [`api::patch_meta::LIST_STRATEGIES`], with
/// `x-kubernetes-patch-strategy`/`x-kubernetes-patch-merge-key`, in this schema and the
/// object schemas nested in it.
fn add_patch_strategies(schema: &mut Value) {
    let Value::Object(map) = schema else { return };
    if let Some(Value::Object(props)) = map.get_mut("properties") {
        for (field, prop) in props.iter_mut() {
            if prop.get("type").and_then(Value::as_str) == Some("array") {
                if let (Some(strategy), Value::Object(p)) = (list_strategy(field), &mut *prop) {
                    p.insert("x-kubernetes-patch-strategy".into(), "merge".into());
                    if let ListStrategy::MergeByKey(key) = strategy {
                        p.insert("x-kubernetes-patch-merge-key".into(), key.into());
                    }
                }
            }
            add_patch_strategies(prop);
        }
    }
    for key in ["items", "additionalProperties"] {
        if let Some(sub) = map.get_mut(key) {
            add_patch_strategies(sub);
        }
    }
    if let Some(Value::Array(all_of)) = map.get_mut("allOf") {
        all_of.iter_mut().for_each(add_patch_strategies);
    }
}
