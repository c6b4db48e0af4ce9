//! The OpenAPI documents: `/openapi/v2` (Swagger 2.0) and `/openapi/v3` (an index of one
//! OpenAPI 3.0 document per group version), built once from k8s-openapi's schemas.
//!
//! Clients read more than schemas from them. kubectl (1.27+) sends `fieldValidation` and
//! skips its own client-side validation only when the PATCH operation of the kind's GVK
//! lists a `fieldValidation` query parameter (inline, by name); `kubectl apply` computes
//! strategic merge patches from the `x-kubernetes-patch-*` extensions of the v3 schemas
//! when the PATCH operation accepts `application/strategic-merge-patch+json`; `kubectl
//! explain` finds a resource's GVK on the operations of its paths and then the schema
//! carrying that GVK in `x-kubernetes-group-version-kind`, following `$ref` and `allOf`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use api::patch_meta::{list_strategy, ListStrategy};
use api::{Resource, RESOURCES};
use k8s_openapi::api::{apps, autoscaling, batch, coordination, core, policy};
use k8s_openapi::apimachinery::pkg::apis::meta::v1 as meta;
use schemars::generate::SchemaSettings;
use schemars::{Schema, SchemaGenerator};
use serde_json::{json, Map, Value};

/// GET /openapi/v2 body (Swagger 2.0 JSON) covering every resource in api::RESOURCES.
pub fn v2() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| {
        let all: Vec<&Resource> = RESOURCES.iter().collect();
        let (paths, definitions) = build(Flavor::V2, &all);
        json!({
            "swagger": "2.0",
            "info": {"title": "Kubernetes", "version": version()},
            "paths": paths,
            "definitions": definitions,
            "securityDefinitions": {"BearerToken": bearer_token()},
            "security": [{"BearerToken": []}],
        })
    })
}

/// GET /openapi/v3 body: {"paths": {"api/v1": {"serverRelativeURL":
/// "/openapi/v3/api/v1?hash=<HASH>"}, "apis/apps/v1": ..., ...}} — one entry per group
/// version served.
pub fn v3_index() -> &'static Value {
    static INDEX: OnceLock<Value> = OnceLock::new();
    INDEX.get_or_init(|| {
        let paths: Map<String, Value> = v3_documents()
            .iter()
            .map(|(gv, doc)| {
                let url = format!("/openapi/v3/{gv}?hash={}", content_hash(doc));
                (gv.clone(), json!({"serverRelativeURL": url}))
            })
            .collect();
        json!({"paths": paths})
    })
}

/// GET /openapi/v3/<path> body (OpenAPI 3.0 JSON) for "api/v1", "apis/apps/v1", ...; None
/// if unknown.
pub fn v3_group_version(path: &str) -> Option<&'static Value> {
    let path = path.trim_start_matches('/').trim_end_matches('/');
    v3_documents().get(path)
}

/// One OpenAPI 3.0 document per group version, keyed "api/v1", "apis/apps/v1", ...
fn v3_documents() -> &'static BTreeMap<String, Value> {
    static DOCS: OnceLock<BTreeMap<String, Value>> = OnceLock::new();
    DOCS.get_or_init(|| {
        let mut by_gv: BTreeMap<String, Vec<&Resource>> = BTreeMap::new();
        for r in RESOURCES {
            by_gv.entry(gv_path(r)).or_default().push(r);
        }
        by_gv
            .into_iter()
            .map(|(gv, resources)| {
                let (paths, schemas) = build(Flavor::V3, &resources);
                let doc = json!({
                    "openapi": "3.0.0",
                    "info": {"title": "Kubernetes", "version": version()},
                    "paths": paths,
                    "components": {
                        "schemas": schemas,
                        "securitySchemes": {"BearerToken": bearer_token()},
                    },
                    "security": [{"BearerToken": []}],
                });
                (gv, doc)
            })
            .collect()
    })
}

fn version() -> String {
    format!("v{}.{}.0", crate::KUBE_MAJOR, crate::KUBE_MINOR)
}

fn bearer_token() -> Value {
    json!({"type": "apiKey", "name": "authorization", "in": "header",
        "description": "Bearer Token authentication"})
}

/// "api/v1" or "apis/apps/v1".
fn gv_path(r: &Resource) -> String {
    if r.group.is_empty() {
        format!("api/{}", r.version)
    } else {
        format!("apis/{}/{}", r.group, r.version)
    }
}

/// FNV-1a of the document: changes whenever the document does, which is all clients
/// (which cache by it) need.
fn content_hash(doc: &Value) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in doc.to_string().bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{hash:016X}")
}

/// Swagger 2.0 or OpenAPI 3.0: where schemas live and how operations carry bodies.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Flavor {
    V2,
    V3,
}

impl Flavor {
    fn ref_prefix(self) -> &'static str {
        match self {
            Flavor::V2 => "#/definitions/",
            Flavor::V3 => "#/components/schemas/",
        }
    }

    fn generator(self) -> SchemaGenerator {
        SchemaSettings::openapi3()
            .with(|s| {
                s.meta_schema = None;
                if self == Flavor::V2 {
                    // Swagger 2.0 as upstream writes it: `$ref` beside a description.
                    s.definitions_path = "/definitions".into();
                    s.transforms = Vec::new();
                }
            })
            .into_generator()
    }
}

type SchemaFn = fn(&mut SchemaGenerator) -> Schema;

/// The k8s-openapi type of a served kind.
fn kind_schema(group: &str, kind: &str) -> Option<SchemaFn> {
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

/// Schemas of one document, with the names (refs) of the common ones.
struct Schemas {
    generator: SchemaGenerator,
    flavor: Flavor,
    /// Definition name → its GVKs, attached once all schemas are generated.
    gvks: BTreeMap<String, Vec<Value>>,
    /// List definitions, built by hand (k8s-openapi has a generic `List<T>`).
    lists: Map<String, Value>,
}

impl Schemas {
    fn new(flavor: Flavor) -> Self {
        Schemas {
            generator: flavor.generator(),
            flavor,
            gvks: BTreeMap::new(),
            lists: Map::new(),
        }
    }

    /// A `$ref` schema to the definition made by `f`, recording its GVK.
    fn kind(&mut self, f: SchemaFn, gvk: Option<Value>) -> Value {
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
        Some(reference.strip_prefix(self.flavor.ref_prefix())?.to_string())
    }

    fn reference(&self, name: &str) -> Value {
        json!({"$ref": format!("{}{name}", self.flavor.ref_prefix())})
    }

    /// `<Kind>List` of a resource, beside the kind's own definition.
    fn list(&mut self, r: &Resource, item: &Value) -> Value {
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
                    "items": {"type": "array", "items": item, "description": format!("List of {}s.", r.plural)},
                    "kind": {"type": "string", "description": "Kind is a string value representing the REST resource this object represents."},
                    "metadata": with_description(list_meta, "Standard list metadata."),
                },
                "required": ["items"],
            }),
        );
        self.gvks.entry(name.clone()).or_default().push(gvk(r.group, r.version, r.list_kind));
        self.reference(&name)
    }

    /// Every definition, with GVKs, patch strategies and upstream's optional `metadata`.
    fn finish(mut self) -> Map<String, Value> {
        let mut defs = self.generator.take_definitions(true);
        for (name, list) in std::mem::take(&mut self.lists) {
            let mut list = Schema::try_from(list).expect("a list schema is an object");
            if self.flavor == Flavor::V3 {
                self.generator.apply_transforms(&mut list);
            }
            defs.insert(name, list.to_value());
        }
        for (name, gvks) in &self.gvks {
            if let Some(Value::Object(def)) = defs.get_mut(name) {
                def.insert("x-kubernetes-group-version-kind".into(), Value::Array(gvks.clone()));
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

fn gvk(group: &str, version: &str, kind: &str) -> Value {
    json!({"group": group, "kind": kind, "version": version})
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

/// One query or path parameter: name, location, type, description.
type Param = (&'static str, &'static str, &'static str, &'static str);

const PRETTY: Param = ("pretty", "query", "string", "If 'true', then the output is pretty printed.");
const NAMESPACE: Param = ("namespace", "path", "string", "object name and auth scope, such as for teams and projects");
const DRY_RUN: Param = ("dryRun", "query", "string", "When present, indicates that modifications should not be persisted. The only valid value is All.");
const FIELD_MANAGER: Param = ("fieldManager", "query", "string", "A name associated with the actor or entity making these changes.");
const FIELD_VALIDATION: Param = ("fieldValidation", "query", "string", "How the server treats unknown or duplicate fields in the request object: Ignore (drop them silently), Warn (drop them with a warning per field) or Strict (fail the request). Defaults to Warn unless the client asks otherwise.");
const FORCE: Param = ("force", "query", "boolean", "Force takes ownership of conflicting fields in an apply request; must be unset for non-apply patches.");
const CONTINUE: Param = ("continue", "query", "string", "The continue token of the previous page of a chunked list.");
const FIELD_SELECTOR: Param = ("fieldSelector", "query", "string", "A selector restricting the returned objects by their fields.");
const LABEL_SELECTOR: Param = ("labelSelector", "query", "string", "A selector restricting the returned objects by their labels.");
const LIMIT: Param = ("limit", "query", "integer", "The maximum number of objects to return in one page.");
const RESOURCE_VERSION: Param = ("resourceVersion", "query", "string", "The resource version the list or watch starts from.");
const RESOURCE_VERSION_MATCH: Param = ("resourceVersionMatch", "query", "string", "How resourceVersion applies to a list: Exact or NotOlderThan.");
const SEND_INITIAL_EVENTS: Param = ("sendInitialEvents", "query", "boolean", "Whether a watch starts with synthetic events for the current state.");
const TIMEOUT_SECONDS: Param = ("timeoutSeconds", "query", "integer", "Timeout of the list or watch call.");
const WATCH: Param = ("watch", "query", "boolean", "Watch for changes and return them as a stream of add, update and remove notifications.");
const BOOKMARKS: Param = ("allowWatchBookmarks", "query", "boolean", "Whether a watch may receive BOOKMARK events.");
const GRACE: Param = ("gracePeriodSeconds", "query", "integer", "The duration in seconds before the object should be deleted.");
const ORPHAN: Param = ("orphanDependents", "query", "boolean", "Deprecated: use propagationPolicy.");
const PROPAGATION: Param = ("propagationPolicy", "query", "string", "Whether and how garbage collection is performed: Orphan, Background or Foreground.");
const UNSAFE_DELETE: Param = ("ignoreStoreReadErrorWithClusterBreakingPotential", "query", "boolean", "Delete an object that cannot be read from storage (unsafe).");

const LIST: &[Param] = &[BOOKMARKS, CONTINUE, FIELD_SELECTOR, LABEL_SELECTOR, LIMIT, RESOURCE_VERSION, RESOURCE_VERSION_MATCH, SEND_INITIAL_EVENTS, TIMEOUT_SECONDS, WATCH];
const WRITE: &[Param] = &[DRY_RUN, FIELD_MANAGER, FIELD_VALIDATION];
const PATCH: &[Param] = &[DRY_RUN, FIELD_MANAGER, FIELD_VALIDATION, FORCE];
const DELETE: &[Param] = &[DRY_RUN, GRACE, UNSAFE_DELETE, ORPHAN, PROPAGATION];
const DELETE_COLLECTION: &[Param] = &[CONTINUE, DRY_RUN, FIELD_SELECTOR, GRACE, UNSAFE_DELETE, LABEL_SELECTOR, LIMIT, ORPHAN, PROPAGATION, RESOURCE_VERSION, RESOURCE_VERSION_MATCH, SEND_INITIAL_EVENTS, TIMEOUT_SECONDS];
const LOG: &[Param] = &[
    ("container", "query", "string", "The container to stream logs of; defaults to the only container."),
    ("follow", "query", "boolean", "Follow the log stream."),
    ("insecureSkipTLSVerifyBackend", "query", "boolean", "Skip verifying the serving certificate of the node."),
    ("limitBytes", "query", "integer", "The number of bytes to read before stopping."),
    ("previous", "query", "boolean", "Return the logs of the previous terminated container."),
    ("sinceSeconds", "query", "integer", "Only logs newer than this many seconds."),
    ("tailLines", "query", "integer", "The number of lines from the end of the logs to show."),
    ("timestamps", "query", "boolean", "Prefix every line with an RFC3339 timestamp."),
];
const CONTAINER: Param = ("container", "query", "string", "The container to connect to; defaults to the only container.");
const STDERR: Param = ("stderr", "query", "boolean", "Redirect the standard error stream.");
const STDIN: Param = ("stdin", "query", "boolean", "Redirect the standard input stream.");
const STDOUT: Param = ("stdout", "query", "boolean", "Redirect the standard output stream.");
const TTY: Param = ("tty", "query", "boolean", "Allocate a terminal.");
const ATTACH: &[Param] = &[CONTAINER, STDERR, STDIN, STDOUT, TTY];
const EXEC: &[Param] = &[
    ("command", "query", "string", "The command to execute, one argument per parameter."),
    CONTAINER, STDERR, STDIN, STDOUT, TTY,
];
const NAME: Param = ("name", "path", "string", "");
const PORTS: &[Param] = &[("ports", "query", "integer", "The ports to forward.")];

fn param(flavor: Flavor, (name, location, kind, description): Param, what: &str) -> Value {
    let description = if location == "path" && name == "name" {
        format!("name of the {what}")
    } else {
        description.to_string()
    };
    let mut p = json!({"name": name, "in": location, "description": description});
    match flavor {
        Flavor::V2 => {
            p["type"] = kind.into();
            p["uniqueItems"] = true.into();
        }
        Flavor::V3 => p["schema"] = json!({"type": kind, "uniqueItems": true}),
    }
    if location == "path" {
        p["required"] = true.into();
    }
    p
}

/// What a request body of an operation is.
enum Body {
    None,
    /// The object itself (create, replace).
    Object(Value),
    /// A patch document in any of the four patch formats.
    Patch(Value),
    /// DeleteOptions.
    Delete(Value),
}

/// One operation of a path, before it is written in a flavor.
struct Op {
    method: &'static str,
    action: &'static str,
    id: String,
    gvk: Value,
    params: &'static [Param],
    body: Body,
    /// Response codes with the schema of their body.
    responses: Vec<(&'static str, Value)>,
}

const PATCH_TYPES: [&str; 4] = [
    "application/apply-patch+yaml",
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
];

impl Op {
    fn render(self, flavor: Flavor, tag: &str, what: &str) -> Value {
        let mut op = Map::new();
        op.insert("tags".into(), json!([tag]));
        let description = match self.action {
            "list" => format!("list or watch objects of kind {what}"),
            "post" => format!("create a {what}"),
            "put" => format!("replace the specified {what}"),
            "patch" => format!("partially update the specified {what}"),
            "delete" => format!("delete a {what}"),
            "deletecollection" => format!("delete collection of {what}"),
            "connect" => format!("connect to the specified {what}"),
            _ => format!("read the specified {what}"),
        };
        op.insert("description".into(), description.into());
        op.insert("operationId".into(), self.id.into());
        let mut params: Vec<Value> = self.params.iter().map(|p| param(flavor, *p, what)).collect();
        let (body_types, body_schema, required): (Vec<&str>, Option<Value>, bool) = match self.body {
            Body::None => (vec![], None, false),
            Body::Object(s) => (vec!["*/*"], Some(s), true),
            Body::Patch(s) => (PATCH_TYPES.to_vec(), Some(s), true),
            Body::Delete(s) => (vec!["*/*"], Some(s), false),
        };
        let produces = ["application/json", "application/yaml"];
        let mut responses = Map::new();
        for (code, schema) in self.responses {
            let description = match code {
                "201" => "Created",
                "202" => "Accepted",
                _ => "OK",
            };
            let response = match flavor {
                Flavor::V2 => json!({"description": description, "schema": schema}),
                Flavor::V3 => {
                    let content: Map<String, Value> = produces
                        .iter()
                        .map(|t| (t.to_string(), json!({"schema": schema})))
                        .collect();
                    json!({"description": description, "content": content})
                }
            };
            responses.insert(code.into(), response);
        }
        responses.insert("401".into(), json!({"description": "Unauthorized"}));
        match (flavor, body_schema) {
            (Flavor::V2, schema) => {
                if let Some(schema) = schema {
                    params.insert(0, json!({"name": "body", "in": "body", "required": required, "schema": schema}));
                }
                op.insert("consumes".into(), json!(if body_types.is_empty() { vec!["*/*"] } else { body_types }));
                op.insert("produces".into(), json!(produces));
                op.insert("schemes".into(), json!(["https"]));
            }
            (Flavor::V3, Some(schema)) => {
                let content: Map<String, Value> = body_types
                    .iter()
                    .map(|t| (t.to_string(), json!({"schema": schema})))
                    .collect();
                op.insert("requestBody".into(), json!({"content": content, "required": required}));
            }
            (Flavor::V3, None) => {}
        }
        if !params.is_empty() {
            op.insert("parameters".into(), Value::Array(params));
        }
        op.insert("responses".into(), Value::Object(responses));
        op.insert("x-kubernetes-action".into(), self.action.into());
        op.insert("x-kubernetes-group-version-kind".into(), self.gvk);
        Value::Object(op)
    }
}

/// The group's first DNS label: "core", "apps", "coordination".
fn group_word(r: &Resource) -> &'static str {
    if r.group.is_empty() {
        "core"
    } else {
        r.group.split('.').next().unwrap_or(r.group)
    }
}

fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    chars
        .next()
        .map_or_else(String::new, |c| c.to_uppercase().chain(chars).collect())
}

/// What the operations of one resource share.
struct Kind<'a> {
    r: &'a Resource,
    /// "CoreV1Namespaced", "CoreV1": operation ids are verb + this + kind + suffix.
    id: String,
    gvk: Value,
    patch: Value,
}

impl Kind<'_> {
    fn id(&self, verb: &str, suffix: &str) -> String {
        format!("{verb}{}{}{suffix}", self.id, self.r.kind)
    }

    fn op(&self, method: &'static str, action: &'static str, id: String, params: &'static [Param], body: Body, responses: Vec<(&'static str, Value)>) -> Op {
        Op { method, action, id, gvk: self.gvk.clone(), params, body, responses }
    }

    /// get, put and patch of the object itself or of a subresource (`suffix`).
    fn read_write(&self, suffix: &str, schema: &Value, gvk: &Value) -> Vec<Op> {
        let both = || vec![("200", schema.clone()), ("201", schema.clone())];
        let mut ops = vec![
            self.op("get", "get", self.id("read", suffix), &[], Body::None, vec![("200", schema.clone())]),
            self.op("put", "put", self.id("replace", suffix), WRITE, Body::Object(schema.clone()), both()),
            self.op("patch", "patch", self.id("patch", suffix), PATCH, Body::Patch(self.patch.clone()), both()),
        ];
        for op in &mut ops {
            op.gvk = gvk.clone();
        }
        ops
    }

    /// GET and POST of a streaming subresource (exec, attach, portforward).
    fn connect(&self, suffix: &str, options: &str, params: &'static [Param]) -> Vec<Op> {
        ["get", "post"]
            .into_iter()
            .map(|method| Op {
                method,
                action: "connect",
                id: self.id(&format!("connect{}", capitalize(method)), suffix),
                gvk: gvk("", "v1", options),
                params,
                body: Body::None,
                responses: vec![("200", json!({"type": "string"}))],
            })
            .collect()
    }
}

/// A path item: its operations and the path-level parameters.
fn path_item(flavor: Flavor, r: &Resource, path: &str, ops: Vec<Op>) -> Value {
    let tag = format!("{}_{}", group_word(r), r.version);
    let mut item = Map::new();
    for op in ops {
        let method = op.method;
        item.insert(method.into(), op.render(flavor, &tag, r.kind));
    }
    let mut params = Vec::new();
    if path.ends_with("{name}") || path.contains("{name}/") {
        params.push(NAME);
    }
    if path.contains("{namespace}") {
        params.push(NAMESPACE);
    }
    params.push(PRETTY);
    let params: Vec<Value> = params.into_iter().map(|p| param(flavor, p, r.kind)).collect();
    item.insert("parameters".into(), params.into());
    Value::Object(item)
}

/// The paths of `resources` and the schemas they use.
fn build(flavor: Flavor, resources: &[&Resource]) -> (Map<String, Value>, Map<String, Value>) {
    let mut schemas = Schemas::new(flavor);
    let status = schemas.kind(SchemaGenerator::subschema_for::<meta::Status>, Some(gvk("", "v1", "Status")));
    let patch = schemas.kind(SchemaGenerator::subschema_for::<meta::Patch>, None);
    let mut delete_options = Value::Null;
    let groups: BTreeSet<(&str, &str)> = resources.iter().map(|r| (r.group, r.version)).collect();
    for (group, version) in groups {
        let g = gvk(group, version, "DeleteOptions");
        delete_options = schemas.kind(SchemaGenerator::subschema_for::<meta::DeleteOptions>, Some(g));
    }

    let mut paths = Map::new();
    for r in resources {
        let Some(f) = kind_schema(r.group, r.kind) else { continue };
        let own = gvk(r.group, r.version, r.kind);
        let object = schemas.kind(f, Some(own.clone()));
        let list = schemas.list(r, &object);
        let scope = if r.namespaced { "Namespaced" } else { "" };
        let k = Kind { r, id: format!("{}{}{scope}", capitalize(group_word(r)), capitalize(r.version)), gvk: own.clone(), patch: patch.clone() };
        let ns = if r.namespaced { "/namespaces/{namespace}" } else { "" };
        let collection = format!("/{}{ns}/{}", gv_path(r), r.plural);
        let item = format!("{collection}/{{name}}");
        let created = || vec![("200", object.clone()), ("201", object.clone()), ("202", object.clone())];

        let ops = vec![
            k.op("get", "list", k.id("list", ""), LIST, Body::None, vec![("200", list.clone())]),
            k.op("post", "post", k.id("create", ""), WRITE, Body::Object(object.clone()), created()),
            k.op("delete", "deletecollection", format!("delete{}Collection{scope}{}", &k.id[..k.id.len() - scope.len()], r.kind),
                DELETE_COLLECTION, Body::Delete(delete_options.clone()), vec![("200", status.clone())]),
        ];
        paths.insert(collection.clone(), path_item(flavor, r, &collection, ops));

        let mut ops = k.read_write("", &object, &own);
        ops.push(k.op("delete", "delete", k.id("delete", ""), DELETE, Body::Delete(delete_options.clone()),
            vec![("200", object.clone()), ("202", object.clone())]));
        paths.insert(item.clone(), path_item(flavor, r, &item, ops));

        if r.namespaced {
            let all = format!("/{}/{}", gv_path(r), r.plural);
            let id = format!("list{}{}ForAllNamespaces", &k.id[..k.id.len() - scope.len()], r.kind);
            let ops = vec![k.op("get", "list", id, LIST, Body::None, vec![("200", list.clone())])];
            paths.insert(all.clone(), path_item(flavor, r, &all, ops));
        }

        for sub in r.subresources {
            let suffix = capitalize(sub);
            let ops = match *sub {
                "status" => k.read_write(&suffix, &object, &own),
                "scale" => {
                    let g = gvk("autoscaling", "v1", "Scale");
                    let scale = schemas.kind(SchemaGenerator::subschema_for::<autoscaling::v1::Scale>, Some(g.clone()));
                    k.read_write(&suffix, &scale, &g)
                }
                "binding" | "eviction" => {
                    let (group, kind) = if *sub == "binding" { ("", "Binding") } else { ("policy", "Eviction") };
                    let g = gvk(group, "v1", kind);
                    let Some(f) = kind_schema(group, kind) else { continue };
                    let schema = schemas.kind(f, Some(g.clone()));
                    let responses = vec![("200", schema.clone()), ("201", schema.clone()), ("202", schema.clone())];
                    let mut op = k.op("post", "post", k.id("create", &suffix), WRITE, Body::Object(schema), responses);
                    op.gvk = g;
                    vec![op]
                }
                "finalize" => vec![k.op("put", "put", k.id("replace", &suffix), WRITE, Body::Object(object.clone()),
                    vec![("200", object.clone()), ("201", object.clone())])],
                "log" => vec![k.op("get", "get", k.id("read", &suffix), LOG, Body::None, vec![("200", json!({"type": "string"}))])],
                "exec" => k.connect(&suffix, "PodExecOptions", EXEC),
                "attach" => k.connect(&suffix, "PodAttachOptions", ATTACH),
                "portforward" => k.connect(&suffix, "PodPortForwardOptions", PORTS),
                _ => continue,
            };
            let path = format!("{item}/{sub}");
            paths.insert(path.clone(), path_item(flavor, r, &path, ops));
        }
    }
    (paths, schemas.finish())
}
