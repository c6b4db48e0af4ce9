//! The paths of a document: every operation of every resource and subresource, with the
//! parameters, bodies and extensions kubectl inspects.

use std::collections::BTreeSet;

use api::Resource;
use k8s_openapi::api::autoscaling;
use k8s_openapi::apimachinery::pkg::apis::meta::v1 as meta;
use schemars::SchemaGenerator;
use serde_json::{json, Map, Value};

use super::schemas::{kind_schema, Schemas};
use super::{gv_path, gvk, Flavor};

/// One query or path parameter: name, location, type, description.
type Param = (&'static str, &'static str, &'static str, &'static str);

const PRETTY: Param = (
    "pretty",
    "query",
    "string",
    "If 'true', then the output is pretty printed.",
);
const NAMESPACE: Param = (
    "namespace",
    "path",
    "string",
    "object name and auth scope, such as for teams and projects",
);
const DRY_RUN: Param = ("dryRun", "query", "string", "When present, indicates that modifications should not be persisted. The only valid value is All.");
const FIELD_MANAGER: Param = (
    "fieldManager",
    "query",
    "string",
    "A name associated with the actor or entity making these changes.",
);
const FIELD_VALIDATION: Param = ("fieldValidation", "query", "string", "How the server treats unknown or duplicate fields in the request object: Ignore (drop them silently), Warn (drop them with a warning per field) or Strict (fail the request). Defaults to Warn unless the client asks otherwise.");
const FORCE: Param = ("force", "query", "boolean", "Force takes ownership of conflicting fields in an apply request; must be unset for non-apply patches.");
const CONTINUE: Param = (
    "continue",
    "query",
    "string",
    "The continue token of the previous page of a chunked list.",
);
const FIELD_SELECTOR: Param = (
    "fieldSelector",
    "query",
    "string",
    "A selector restricting the returned objects by their fields.",
);
const LABEL_SELECTOR: Param = (
    "labelSelector",
    "query",
    "string",
    "A selector restricting the returned objects by their labels.",
);
const LIMIT: Param = (
    "limit",
    "query",
    "integer",
    "The maximum number of objects to return in one page.",
);
const RESOURCE_VERSION: Param = (
    "resourceVersion",
    "query",
    "string",
    "The resource version the list or watch starts from.",
);
const RESOURCE_VERSION_MATCH: Param = (
    "resourceVersionMatch",
    "query",
    "string",
    "How resourceVersion applies to a list: Exact or NotOlderThan.",
);
const SEND_INITIAL_EVENTS: Param = (
    "sendInitialEvents",
    "query",
    "boolean",
    "Whether a watch starts with synthetic events for the current state.",
);
const TIMEOUT_SECONDS: Param = (
    "timeoutSeconds",
    "query",
    "integer",
    "Timeout of the list or watch call.",
);
const WATCH: Param = (
    "watch",
    "query",
    "boolean",
    "Watch for changes and return them as a stream of add, update and remove notifications.",
);
const BOOKMARKS: Param = (
    "allowWatchBookmarks",
    "query",
    "boolean",
    "Whether a watch may receive BOOKMARK events.",
);
const GRACE: Param = (
    "gracePeriodSeconds",
    "query",
    "integer",
    "The duration in seconds before the object should be deleted.",
);
const ORPHAN: Param = (
    "orphanDependents",
    "query",
    "boolean",
    "Deprecated: use propagationPolicy.",
);
const PROPAGATION: Param = (
    "propagationPolicy",
    "query",
    "string",
    "Whether and how garbage collection is performed: Orphan, Background or Foreground.",
);
const UNSAFE_DELETE: Param = (
    "ignoreStoreReadErrorWithClusterBreakingPotential",
    "query",
    "boolean",
    "Delete an object that cannot be read from storage (unsafe).",
);

const LIST: &[Param] = &[
    BOOKMARKS,
    CONTINUE,
    FIELD_SELECTOR,
    LABEL_SELECTOR,
    LIMIT,
    RESOURCE_VERSION,
    RESOURCE_VERSION_MATCH,
    SEND_INITIAL_EVENTS,
    TIMEOUT_SECONDS,
    WATCH,
];
const WRITE: &[Param] = &[DRY_RUN, FIELD_MANAGER, FIELD_VALIDATION];
const PATCH: &[Param] = &[DRY_RUN, FIELD_MANAGER, FIELD_VALIDATION, FORCE];
const DELETE: &[Param] = &[DRY_RUN, GRACE, UNSAFE_DELETE, ORPHAN, PROPAGATION];
const DELETE_COLLECTION: &[Param] = &[
    CONTINUE,
    DRY_RUN,
    FIELD_SELECTOR,
    GRACE,
    UNSAFE_DELETE,
    LABEL_SELECTOR,
    LIMIT,
    ORPHAN,
    PROPAGATION,
    RESOURCE_VERSION,
    RESOURCE_VERSION_MATCH,
    SEND_INITIAL_EVENTS,
    TIMEOUT_SECONDS,
];
const LOG: &[Param] = &[
    (
        "container",
        "query",
        "string",
        "The container to stream logs of; defaults to the only container.",
    ),
    ("follow", "query", "boolean", "Follow the log stream."),
    (
        "insecureSkipTLSVerifyBackend",
        "query",
        "boolean",
        "Skip verifying the serving certificate of the node.",
    ),
    (
        "limitBytes",
        "query",
        "integer",
        "The number of bytes to read before stopping.",
    ),
    (
        "previous",
        "query",
        "boolean",
        "Return the logs of the previous terminated container.",
    ),
    (
        "sinceSeconds",
        "query",
        "integer",
        "Only logs newer than this many seconds.",
    ),
    (
        "tailLines",
        "query",
        "integer",
        "The number of lines from the end of the logs to show.",
    ),
    (
        "timestamps",
        "query",
        "boolean",
        "Prefix every line with an RFC3339 timestamp.",
    ),
];
const CONTAINER: Param = (
    "container",
    "query",
    "string",
    "The container to connect to; defaults to the only container.",
);
const STDERR: Param = (
    "stderr",
    "query",
    "boolean",
    "Redirect the standard error stream.",
);
const STDIN: Param = (
    "stdin",
    "query",
    "boolean",
    "Redirect the standard input stream.",
);
const STDOUT: Param = (
    "stdout",
    "query",
    "boolean",
    "Redirect the standard output stream.",
);
const TTY: Param = ("tty", "query", "boolean", "Allocate a terminal.");
const ATTACH: &[Param] = &[CONTAINER, STDERR, STDIN, STDOUT, TTY];
const EXEC: &[Param] = &[
    (
        "command",
        "query",
        "string",
        "The command to execute, one argument per parameter.",
    ),
    CONTAINER,
    STDERR,
    STDIN,
    STDOUT,
    TTY,
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
        let mut params: Vec<Value> = self
            .params
            .iter()
            .map(|p| param(flavor, *p, what))
            .collect();
        let (body_types, body_schema, required): (Vec<&str>, Option<Value>, bool) = match self.body
        {
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
                op.insert(
                    "consumes".into(),
                    json!(if body_types.is_empty() {
                        vec!["*/*"]
                    } else {
                        body_types
                    }),
                );
                op.insert("produces".into(), json!(produces));
                op.insert("schemes".into(), json!(["https"]));
            }
            (Flavor::V3, Some(schema)) => {
                let content: Map<String, Value> = body_types
                    .iter()
                    .map(|t| (t.to_string(), json!({"schema": schema})))
                    .collect();
                op.insert(
                    "requestBody".into(),
                    json!({"content": content, "required": required}),
                );
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
    /// "CoreV1": the group version in operation ids.
    gv: String,
    /// "Namespaced" for namespaced resources.
    scope: &'static str,
    gvk: Value,
    patch: Value,
}

impl Kind<'_> {
    fn id(&self, verb: &str, suffix: &str) -> String {
        format!("{verb}{}{}{}{suffix}", self.gv, self.scope, self.r.kind)
    }

    fn op(
        &self,
        method: &'static str,
        action: &'static str,
        id: String,
        params: &'static [Param],
        body: Body,
        responses: Vec<(&'static str, Value)>,
    ) -> Op {
        Op {
            method,
            action,
            id,
            gvk: self.gvk.clone(),
            params,
            body,
            responses,
        }
    }

    /// get, put and patch of the object itself or of a subresource (`suffix`).
    fn read_write(&self, suffix: &str, schema: &Value, gvk: &Value) -> Vec<Op> {
        let both = || vec![("200", schema.clone()), ("201", schema.clone())];
        let mut ops = vec![
            self.op(
                "get",
                "get",
                self.id("read", suffix),
                &[],
                Body::None,
                vec![("200", schema.clone())],
            ),
            self.op(
                "put",
                "put",
                self.id("replace", suffix),
                WRITE,
                Body::Object(schema.clone()),
                both(),
            ),
            self.op(
                "patch",
                "patch",
                self.id("patch", suffix),
                PATCH,
                Body::Patch(self.patch.clone()),
                both(),
            ),
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
                id: format!(
                    "connect{}{}{}{}{suffix}",
                    self.gv,
                    capitalize(method),
                    self.scope,
                    self.r.kind
                ),
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
    let params: Vec<Value> = params
        .into_iter()
        .map(|p| param(flavor, p, r.kind))
        .collect();
    item.insert("parameters".into(), params.into());
    Value::Object(item)
}

/// The paths of `resources` and the schemas they use.
pub(super) fn build(
    flavor: Flavor,
    resources: &[&Resource],
) -> (Map<String, Value>, Map<String, Value>) {
    let mut schemas = Schemas::new(flavor);
    let status = schemas.kind(
        SchemaGenerator::subschema_for::<meta::Status>,
        Some(gvk("", "v1", "Status")),
    );
    let patch = schemas.kind(SchemaGenerator::subschema_for::<meta::Patch>, None);
    let delete_options = schemas.kind(SchemaGenerator::subschema_for::<meta::DeleteOptions>, None);
    let groups: BTreeSet<(&str, &str)> = resources.iter().map(|r| (r.group, r.version)).collect();
    for (group, version) in groups {
        let g = gvk(group, version, "DeleteOptions");
        schemas.kind(
            SchemaGenerator::subschema_for::<meta::DeleteOptions>,
            Some(g),
        );
    }

    let mut paths = Map::new();
    for r in resources {
        let Some(f) = kind_schema(r.group, r.kind) else {
            continue;
        };
        let own = gvk(r.group, r.version, r.kind);
        let object = schemas.kind(f, Some(own.clone()));
        let list = schemas.list(r, &object);
        let scope = if r.namespaced { "Namespaced" } else { "" };
        let gv = format!("{}{}", capitalize(group_word(r)), capitalize(r.version));
        let k = Kind {
            r,
            gv,
            scope,
            gvk: own.clone(),
            patch: patch.clone(),
        };
        let ns = if r.namespaced {
            "/namespaces/{namespace}"
        } else {
            ""
        };
        let collection = format!("/{}{ns}/{}", gv_path(r), r.plural);
        let item = format!("{collection}/{{name}}");
        let created = || {
            vec![
                ("200", object.clone()),
                ("201", object.clone()),
                ("202", object.clone()),
            ]
        };

        let ops = vec![
            k.op(
                "get",
                "list",
                k.id("list", ""),
                LIST,
                Body::None,
                vec![("200", list.clone())],
            ),
            k.op(
                "post",
                "post",
                k.id("create", ""),
                WRITE,
                Body::Object(object.clone()),
                created(),
            ),
            k.op(
                "delete",
                "deletecollection",
                format!("delete{}Collection{scope}{}", k.gv, r.kind),
                DELETE_COLLECTION,
                Body::Delete(delete_options.clone()),
                vec![("200", status.clone())],
            ),
        ];
        paths.insert(collection.clone(), path_item(flavor, r, &collection, ops));

        let mut ops = k.read_write("", &object, &own);
        ops.push(k.op(
            "delete",
            "delete",
            k.id("delete", ""),
            DELETE,
            Body::Delete(delete_options.clone()),
            vec![("200", object.clone()), ("202", object.clone())],
        ));
        paths.insert(item.clone(), path_item(flavor, r, &item, ops));

        if r.namespaced {
            let all = format!("/{}/{}", gv_path(r), r.plural);
            let id = format!("list{}{}ForAllNamespaces", k.gv, r.kind);
            let ops = vec![k.op(
                "get",
                "list",
                id,
                LIST,
                Body::None,
                vec![("200", list.clone())],
            )];
            paths.insert(all.clone(), path_item(flavor, r, &all, ops));
        }

        for sub in r.subresources {
            let suffix = capitalize(sub);
            let ops = match *sub {
                "status" => k.read_write(&suffix, &object, &own),
                "scale" => {
                    let g = gvk("autoscaling", "v1", "Scale");
                    let scale = schemas.kind(
                        SchemaGenerator::subschema_for::<autoscaling::v1::Scale>,
                        Some(g.clone()),
                    );
                    k.read_write(&suffix, &scale, &g)
                }
                "binding" | "eviction" => {
                    let (group, kind) = if *sub == "binding" {
                        ("", "Binding")
                    } else {
                        ("policy", "Eviction")
                    };
                    let g = gvk(group, "v1", kind);
                    let Some(f) = kind_schema(group, kind) else {
                        continue;
                    };
                    let schema = schemas.kind(f, Some(g.clone()));
                    let responses = vec![
                        ("200", schema.clone()),
                        ("201", schema.clone()),
                        ("202", schema.clone()),
                    ];
                    let mut op = k.op(
                        "post",
                        "post",
                        k.id("create", &suffix),
                        WRITE,
                        Body::Object(schema),
                        responses,
                    );
                    op.gvk = g;
                    vec![op]
                }
                "finalize" => vec![k.op(
                    "put",
                    "put",
                    k.id("replace", &suffix),
                    WRITE,
                    Body::Object(object.clone()),
                    vec![("200", object.clone()), ("201", object.clone())],
                )],
                "log" => vec![k.op(
                    "get",
                    "get",
                    k.id("read", &suffix),
                    LOG,
                    Body::None,
                    vec![("200", json!({"type": "string"}))],
                )],
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
