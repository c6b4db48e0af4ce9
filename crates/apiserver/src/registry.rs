//! The generic registry: create, get, list, update and delete of any served resource on
//! the store, with upstream's metadata rules (uid, creationTimestamp, generateName,
//! generation, resourceVersion), optimistic concurrency, status/main-resource separation,
//! graceful deletion and finalizers.

use std::sync::Arc;

use api::Resource;
use serde_json::{json, Value};
use store::{KeyValue, ListOptions, Store};

use crate::continue_token;
use crate::error::{ApiError, ApiResult};
use crate::object::{self, meta_mut};
use crate::request::{Query, Target};
use crate::select::Filter;

/// How many times a write without a client-given resourceVersion is retried when it
/// races another writer.
const CAS_RETRIES: usize = 16;

/// Namespaces that exist from the start and may not be deleted.
pub const SYSTEM_NAMESPACES: &[&str] =
    &["default", "kube-system", "kube-public", "kube-node-lease"];

/// The registry over one store.
#[derive(Clone)]
pub struct Registry {
    pub store: Arc<dyn Store>,
}

/// A page of objects (as stored; decode with `object::from_kv` or `raw_with_rv`) and the
/// list metadata to answer with.
pub struct Page {
    pub items: Vec<KeyValue>,
    pub revision: i64,
    pub continue_token: Option<String>,
    pub remaining: Option<i64>,
}

/// Which part of an object a write may change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    /// The main resource: everything but `status` (for kinds with a status subresource).
    Main,
    /// The `status` subresource: only `status`.
    Status,
    /// `pods/binding`: the server's own write of `spec.nodeName` and the PodScheduled
    /// condition, past pod spec immutability as upstream's binding is.
    Binding,
}

impl Registry {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Registry { store }
    }

    fn key(&self, t: &Target, name: &str) -> String {
        t.resource.key(t.namespace.as_deref(), name)
    }

    /// The stored object, or 404.
    pub async fn get(&self, t: &Target, name: &str) -> ApiResult<(Value, KeyValue)> {
        let kv = self
            .store
            .get(&self.key(t, name))
            .await?
            .ok_or_else(|| ApiError::not_found(t.resource.plural, t.resource.group, name))?;
        Ok((object::from_kv(&kv)?, kv))
    }

    /// A filtered page of the collection `t` names.
    pub async fn list(&self, t: &Target, q: &Query, filter: &Filter) -> ApiResult<Page> {
        let prefix = t.resource.key_prefix(t.namespace.as_deref());
        let (mut revision, mut start_after) = (0, None);
        if let Some(token) = &q.continue_token {
            let c = continue_token::decode(token)?;
            (revision, start_after) = (c.rv, Some(c.start));
        } else if q.resource_version_match.as_deref() == Some("Exact") {
            revision = q
                .resource_version
                .as_deref()
                .and_then(|rv| rv.parse().ok())
                .ok_or_else(|| {
                    ApiError::bad_request("resourceVersionMatch=Exact needs a resourceVersion")
                })?;
        }
        let want = if q.limit == 0 { usize::MAX } else { q.limit };
        let mut items = Vec::new();
        let mut last_key: Option<String> = None;
        let mut more;
        let mut remaining = None;
        loop {
            let fetch = if filter.is_empty() {
                want - items.len()
            } else {
                (want - items.len()).clamp(64, 1024)
            };
            let page = self
                .store
                .list(ListOptions {
                    prefix: prefix.clone(),
                    revision,
                    limit: if want == usize::MAX { 0 } else { fetch },
                    start_after: start_after.clone(),
                })
                .await
                .map_err(|e| match e {
                    store::Error::Compacted { .. } => ApiError::Gone {
                        message: "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.".into(),
                    },
                    other => other.into(),
                })?;
            revision = page.revision;
            more = page.remaining > 0;
            let fetched = page.items.len();
            for kv in &page.items {
                start_after = Some(kv.key.clone());
                if items.len() == want {
                    more = true;
                    break;
                }
                if filter.is_empty() || filter.matches(&object::from_kv(kv)?) {
                    items.push(kv.clone());
                    last_key = Some(kv.key.clone());
                }
            }
            if filter.is_empty() {
                remaining = Some(page.remaining);
            }
            if items.len() == want || !more || fetched == 0 {
                break;
            }
        }
        let continue_token = if more && items.len() == want {
            last_key.map(|k| continue_token::encode(revision, &k))
        } else {
            None
        };
        Ok(Page {
            items,
            revision,
            remaining: remaining.filter(|r| *r > 0 && continue_token.is_some()),
            continue_token,
        })
    }

    /// Creates a new object from a client's body.
    pub async fn create(&self, t: &Target, mut obj: Value, q: &Query) -> ApiResult<Value> {
        let r = t.resource;
        check_kind(r, &obj)?;
        if let Some(ns) = &t.namespace {
            match object::meta_str(&obj, "namespace") {
                Some(body_ns) if !body_ns.is_empty() && body_ns != ns => {
                    return Err(ApiError::bad_request(
                        "the namespace of the provided object does not match the namespace sent on the request",
                    ))
                }
                _ => {
                    meta_mut(&mut obj).insert("namespace".into(), json!(ns));
                }
            }
            self.check_namespace_open(ns).await?;
        } else {
            meta_mut(&mut obj).remove("namespace");
        }
        if object::name(&obj).is_empty() {
            if let Some(prefix) = object::meta_str(&obj, "generateName").filter(|p| !p.is_empty()) {
                let name = format!("{prefix}{}", random_suffix());
                meta_mut(&mut obj).insert("name".into(), json!(name));
            } else {
                return Err(ApiError::invalid(
                    r.kind,
                    r.group,
                    "",
                    &[api::FieldError {
                        kind: api::ErrorKind::Required,
                        field: "metadata.name".into(),
                        detail: "name or generateName is required".into(),
                        value: None,
                    }],
                ));
            }
        }
        let meta = meta_mut(&mut obj);
        meta.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
        meta.insert("creationTimestamp".into(), json!(object::now_rfc3339()));
        for field in [
            "resourceVersion",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "selfLink",
        ] {
            meta.remove(field);
        }
        if obj.get("spec").is_some() {
            meta_mut(&mut obj).insert("generation".into(), json!(1));
        }
        if r.has_status() && !matches!(r.kind, "Node" | "Namespace") {
            obj.as_object_mut().map(|m| m.remove("status"));
        }
        let name = object::name(&obj).to_string();
        let obj = api::admit_create(r, obj).map_err(|e| admit_error(r, &name, e))?;
        if q.dry_run {
            return Ok(obj);
        }
        let kv = match self
            .store
            .create(&self.key(t, &name), object::to_bytes(&obj))
            .await
        {
            Err(store::Error::AlreadyExists(_)) => {
                return Err(ApiError::already_exists(r.plural, r.group, &name))
            }
            other => other?,
        };
        let mut obj = obj;
        object::set_resource_version(&mut obj, kv.mod_revision);
        Ok(obj)
    }

    /// Refuses creation in a namespace that is missing or terminating.
    async fn check_namespace_open(&self, ns: &str) -> ApiResult<()> {
        let ns_res = api::resources::find("", "v1", "namespaces").expect("namespaces are served");
        let kv = self
            .store
            .get(&ns_res.key(None, ns))
            .await?
            .ok_or_else(|| ApiError::not_found("namespaces", "", ns))?;
        let obj = object::from_kv(&kv)?;
        if object::meta_str(&obj, "deletionTimestamp").is_some() {
            return Err(ApiError::forbidden(
                "namespaces",
                "",
                ns,
                &format!(
                    "unable to create new content in namespace {ns} because it is being terminated"
                ),
            ));
        }
        Ok(())
    }

    /// Replaces an object with `mutate(current)`, retrying on races unless the client
    /// pinned a resourceVersion. `mutate` returns the client's desired object.
    pub async fn update_with<F>(
        &self,
        t: &Target,
        name: &str,
        part: Part,
        q: &Query,
        mut mutate: F,
    ) -> ApiResult<Value>
    where
        F: FnMut(&Value) -> ApiResult<Value>,
    {
        let r = t.resource;
        for _ in 0..CAS_RETRIES {
            let (old, kv) = self.get(t, name).await?;
            let desired = mutate(&old)?;
            check_kind(r, &desired)?;
            let pinned = object::meta_str(&desired, "resourceVersion")
                .filter(|s| !s.is_empty())
                .map(|s| {
                    s.parse::<i64>().map_err(|_| {
                        ApiError::bad_request(format!("invalid resourceVersion {s:?}"))
                    })
                })
                .transpose()?;
            if let Some(rv) = pinned {
                if rv != kv.mod_revision {
                    return Err(ApiError::conflict(r.plural, r.group, name));
                }
            }
            if object::name(&desired) != name {
                return Err(ApiError::bad_request(format!(
                    "the name of the object ({}) does not match the name on the URL ({name})",
                    object::name(&desired)
                )));
            }
            let merged = merge_update(r, &old, desired, part, t.namespace.as_deref());
            let mut new = if part == Part::Binding {
                merged
            } else {
                api::admit_update(r, merged, &old).map_err(|e| admit_error(r, name, e))?
            };
            if spec_changed(&old, &new) {
                let generation = old
                    .pointer("/metadata/generation")
                    .and_then(Value::as_i64)
                    .unwrap_or(0);
                meta_mut(&mut new).insert("generation".into(), json!(generation + 1));
            }
            if q.dry_run || same_content(&old, &new) {
                return Ok(if q.dry_run { new } else { old });
            }
            if ready_to_remove(r, &new) {
                return self
                    .remove(t, name, kv.mod_revision)
                    .await
                    .map(|(obj, _)| obj);
            }
            match self
                .store
                .update(&kv.key, object::to_bytes(&new), kv.mod_revision)
                .await
            {
                Ok(kv) => {
                    object::set_resource_version(&mut new, kv.mod_revision);
                    return Ok(new);
                }
                Err(store::Error::Conflict { .. }) if pinned.is_none() => continue,
                Err(store::Error::Conflict { .. }) => {
                    return Err(ApiError::conflict(r.plural, r.group, name))
                }
                Err(store::Error::NotFound(_)) => {
                    return Err(ApiError::not_found(r.plural, r.group, name))
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(ApiError::conflict(r.plural, r.group, name))
    }

    /// Deletes an object: immediately, or by marking it (graceful pod deletion,
    /// finalizers). Returns the object as it is afterwards and whether it is gone.
    pub async fn delete(
        &self,
        t: &Target,
        name: &str,
        opts: &DeleteOptions,
    ) -> ApiResult<(Value, bool)> {
        let r = t.resource;
        if r.kind == "Namespace" && SYSTEM_NAMESPACES.contains(&name) {
            return Err(ApiError::forbidden(
                "namespaces",
                "",
                name,
                "this namespace may not be deleted",
            ));
        }
        for _ in 0..CAS_RETRIES {
            let (old, kv) = self.get(t, name).await?;
            if let Some(uid) = &opts.precondition_uid {
                if object::meta_str(&old, "uid") != Some(uid.as_str()) {
                    return Err(precondition_failed(
                        r,
                        name,
                        "UID",
                        uid,
                        object::meta_str(&old, "uid"),
                    ));
                }
            }
            if let Some(rv) = &opts.precondition_rv {
                if *rv != kv.mod_revision.to_string() {
                    return Err(ApiError::conflict(r.plural, r.group, name));
                }
            }
            let grace = grace_period(r, &old, opts.grace_period_seconds);
            let finalizing = object::has_finalizers(&old) || r.kind == "Namespace";
            if grace == 0 && !finalizing {
                if opts.dry_run {
                    return Ok((old, true));
                }
                match self.remove(t, name, kv.mod_revision).await {
                    Err(ApiError::Conflict { .. }) => continue,
                    other => return other,
                }
            }
            // Mark for deletion: a deletionTimestamp (now + grace) that only shortens.
            let mut new = old.clone();
            let now = chrono::Utc::now();
            let current_grace = old
                .pointer("/metadata/deletionGracePeriodSeconds")
                .and_then(Value::as_i64);
            if current_grace.is_some_and(|g| g <= grace) {
                return Ok((old, false));
            }
            let meta = meta_mut(&mut new);
            let when = now + chrono::Duration::seconds(grace);
            meta.insert(
                "deletionTimestamp".into(),
                json!(when.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
            );
            meta.insert("deletionGracePeriodSeconds".into(), json!(grace));
            if r.kind == "Namespace" {
                new["status"]["phase"] = json!("Terminating");
            }
            if opts.dry_run {
                return Ok((new, false));
            }
            match self
                .store
                .update(&kv.key, object::to_bytes(&new), kv.mod_revision)
                .await
            {
                Ok(kv) => {
                    object::set_resource_version(&mut new, kv.mod_revision);
                    return Ok((new, false));
                }
                Err(store::Error::Conflict { .. }) => continue,
                Err(store::Error::NotFound(_)) => {
                    return Err(ApiError::not_found(r.plural, r.group, name))
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(ApiError::conflict(r.plural, r.group, name))
    }

    /// Removes the key for good, returning the last value at the delete's revision.
    async fn remove(&self, t: &Target, name: &str, expected: i64) -> ApiResult<(Value, bool)> {
        let r = t.resource;
        match self.store.delete(&self.key(t, name), Some(expected)).await {
            Ok(kv) => Ok((object::from_kv(&kv)?, true)),
            Err(store::Error::Conflict { .. }) => Err(ApiError::conflict(r.plural, r.group, name)),
            Err(store::Error::NotFound(_)) => Err(ApiError::not_found(r.plural, r.group, name)),
            Err(e) => Err(e.into()),
        }
    }
}

/// Options of a delete, from the query and the `DeleteOptions` body.
#[derive(Clone, Debug, Default)]
pub struct DeleteOptions {
    pub grace_period_seconds: Option<i64>,
    pub precondition_uid: Option<String>,
    pub precondition_rv: Option<String>,
    pub propagation_policy: Option<String>,
    pub dry_run: bool,
}

impl DeleteOptions {
    pub fn from_request(q: &Query, body: Option<&Value>) -> DeleteOptions {
        let mut o = DeleteOptions {
            grace_period_seconds: q.grace_period_seconds,
            propagation_policy: q.propagation_policy.clone(),
            dry_run: q.dry_run,
            ..Default::default()
        };
        if let Some(b) = body {
            if let Some(g) = b.get("gracePeriodSeconds").and_then(Value::as_i64) {
                o.grace_period_seconds = Some(g);
            }
            if let Some(p) = b.get("propagationPolicy").and_then(Value::as_str) {
                o.propagation_policy = Some(p.to_string());
            }
            if b.get("orphanDependents").and_then(Value::as_bool) == Some(true) {
                o.propagation_policy = Some("Orphan".into());
            }
            o.precondition_uid = b
                .pointer("/preconditions/uid")
                .and_then(Value::as_str)
                .map(String::from);
            o.precondition_rv = b
                .pointer("/preconditions/resourceVersion")
                .and_then(Value::as_str)
                .map(String::from);
            if b.get("dryRun")
                .and_then(Value::as_array)
                .is_some_and(|d| !d.is_empty())
            {
                o.dry_run = true;
            }
        }
        o
    }
}

/// The grace period a delete gets: only pods are deleted gracefully, and only while
/// bound to a node and not yet finished (upstream's CheckGracefulDelete).
fn grace_period(r: &Resource, obj: &Value, requested: Option<i64>) -> i64 {
    if r.kind != "Pod" {
        return 0;
    }
    let bound = object::path(obj, "spec.nodeName")
        .and_then(Value::as_str)
        .is_some_and(|n| !n.is_empty());
    let phase = object::path(obj, "status.phase")
        .and_then(Value::as_str)
        .unwrap_or("");
    if !bound || matches!(phase, "Succeeded" | "Failed") {
        return 0;
    }
    let default = object::path(obj, "spec.terminationGracePeriodSeconds")
        .and_then(Value::as_i64)
        .unwrap_or(30);
    requested.unwrap_or(default).max(0)
}

/// Whether a marked object has nothing left holding it: no finalizers (and for a
/// namespace, no spec finalizers) and no grace period left to honour.
fn ready_to_remove(r: &Resource, obj: &Value) -> bool {
    if object::meta_str(obj, "deletionTimestamp").is_none() || object::has_finalizers(obj) {
        return false;
    }
    if r.kind == "Namespace" {
        return obj
            .pointer("/spec/finalizers")
            .and_then(Value::as_array)
            .is_none_or(|f| f.is_empty());
    }
    obj.pointer("/metadata/deletionGracePeriodSeconds")
        .and_then(Value::as_i64)
        .unwrap_or(0)
        == 0
}

/// Combines the client's desired object with the stored one: server-owned metadata is
/// kept, and a write to one part (main or status) leaves the other as stored.
fn merge_update(
    r: &Resource,
    old: &Value,
    mut desired: Value,
    part: Part,
    namespace: Option<&str>,
) -> Value {
    let old_meta = old.get("metadata").cloned().unwrap_or(json!({}));
    if part == Part::Status {
        let status = desired.get("status").cloned();
        let mut new = old.clone();
        match status {
            Some(s) => new["status"] = s,
            None => {
                new.as_object_mut().map(|m| m.remove("status"));
            }
        }
        return new;
    }
    let meta = meta_mut(&mut desired);
    for field in [
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "generation",
    ] {
        match old_meta.get(field) {
            Some(v) => {
                meta.insert(field.into(), v.clone());
            }
            None => {
                meta.remove(field);
            }
        }
    }
    meta.remove("resourceVersion");
    if let Some(ns) = namespace {
        meta.insert("namespace".into(), json!(ns));
    }
    if r.has_status() && part == Part::Main {
        match old.get("status") {
            Some(s) => desired["status"] = s.clone(),
            None => {
                desired.as_object_mut().map(|m| m.remove("status"));
            }
        }
    }
    if desired.get("apiVersion").is_none() {
        desired["apiVersion"] = json!(r.api_version());
    }
    if desired.get("kind").is_none() {
        desired["kind"] = json!(r.kind);
    }
    desired
}

/// Whether two objects agree on every top-level field but `skip`, compared in place
/// (updates run this on every status patch, so nothing is cloned).
fn same_except(a: &Value, b: &Value, skip: &[&str]) -> bool {
    let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else {
        return a == b;
    };
    let kept = |m: &'_ serde_json::Map<String, Value>| {
        m.iter()
            .filter(|(k, _)| !skip.contains(&k.as_str()))
            .count()
    };
    kept(a) == kept(b)
        && a.iter()
            .filter(|(k, _)| !skip.contains(&k.as_str()))
            .all(|(k, v)| b.get(k) == Some(v))
}

/// Whether the spec (everything but metadata and status) differs: that bumps
/// `metadata.generation`.
fn spec_changed(old: &Value, new: &Value) -> bool {
    !same_except(old, new, &["metadata", "status", "apiVersion", "kind"])
}

/// Whether an update changes nothing (then nothing is written, as upstream).
fn same_content(old: &Value, new: &Value) -> bool {
    let empty = Value::Object(Default::default());
    same_except(old, new, &["metadata"])
        && same_except(
            old.get("metadata").unwrap_or(&empty),
            new.get("metadata").unwrap_or(&empty),
            &["resourceVersion"],
        )
}

/// A body's kind and apiVersion, when given, must be the resource's.
pub fn check_kind(r: &Resource, obj: &Value) -> ApiResult<()> {
    if !obj.is_object() {
        return Err(ApiError::bad_request(
            "the body of the request was not a JSON object",
        ));
    }
    if let Some(kind) = obj.get("kind").and_then(Value::as_str) {
        if kind != r.kind {
            return Err(ApiError::bad_request(format!(
                "{} in version \"{}\" cannot be handled as a {}: the kind of the object ({kind}) does not match the kind of the request",
                kind, r.version, r.kind
            )));
        }
    }
    if let Some(av) = obj.get("apiVersion").and_then(Value::as_str) {
        if av != r.api_version() {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({av}) does not match the expected API version ({})",
                r.api_version()
            )));
        }
    }
    Ok(())
}

pub fn admit_error(r: &Resource, name: &str, e: api::AdmitError) -> ApiError {
    match e {
        api::AdmitError::Decode(msg) => ApiError::bad_request(format!(
            "{} in version \"{}\" cannot be handled as a {}: {msg}",
            r.kind, r.version, r.kind
        )),
        api::AdmitError::Invalid(errors) => ApiError::invalid(r.kind, r.group, name, &errors),
    }
}

fn precondition_failed(
    r: &Resource,
    name: &str,
    what: &str,
    want: &str,
    have: Option<&str>,
) -> ApiError {
    ApiError::Conflict {
        message: format!(
            "Precondition failed: {what} in precondition: {want}, {what} in object meta: {}",
            have.unwrap_or("")
        ),
        kind: r.plural.to_string(),
        name: name.to_string(),
        group: r.group.to_string(),
    }
}

/// Five characters from upstream's generateName alphabet (no vowels, no confusables).
fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    (0..5)
        .map(|_| ALPHABET[rand::random_range(0..ALPHABET.len())] as char)
        .collect()
}
