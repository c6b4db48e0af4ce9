//! Request decoding: which resource, namespace, name, subresource and verb a URL names,
//! the list/watch/delete query options, and the body's media type.

use std::collections::HashMap;

use api::Resource;
use http::{HeaderMap, Method};

use crate::error::{ApiError, ApiResult};

/// The verb of a resource request, as upstream's RequestInfo names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verb {
    Get,
    List,
    Watch,
    Create,
    Update,
    Patch,
    Delete,
    DeleteCollection,
}

/// A request against a resource, decoded from its path and method.
#[derive(Clone, Debug)]
pub struct Target {
    pub resource: &'static Resource,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub subresource: Option<String>,
    pub verb: Verb,
}

/// What a path under `/api` or `/apis` names.
#[derive(Debug)]
pub enum Route {
    /// `/api`
    CoreVersions,
    /// `/apis`
    Groups,
    /// `/apis/<group>`
    Group(String),
    /// `/api/v1`, `/apis/<group>/<version>`
    GroupVersion(String, String),
    Resource(Target),
}

/// Decodes a path (without query) and method.
pub fn route(path: &str, method: &Method, query: &Query) -> ApiResult<Route> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match segs.as_slice() {
        ["api"] => return Ok(Route::CoreVersions),
        ["apis"] => return Ok(Route::Groups),
        ["api", v] => return Ok(Route::GroupVersion(String::new(), v.to_string())),
        ["apis", g] => return Ok(Route::Group(g.to_string())),
        ["apis", g, v] => return Ok(Route::GroupVersion(g.to_string(), v.to_string())),
        ["api", v, rest @ ..] => ("", *v, rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return Err(not_found_path(path)),
    };
    let (namespace, rest) = match rest {
        ["namespaces", ns, plural, tail @ ..]
            if !is_namespace_subresource(plural) || !tail.is_empty() =>
        {
            (Some(ns.to_string()), [&[*plural][..], tail].concat())
        }
        _ => (None, rest.to_vec()),
    };
    let (plural, name, subresource) = match rest.as_slice() {
        [plural] => (*plural, None, None),
        [plural, name] => (*plural, Some(name.to_string()), None),
        [plural, name, sub] => (*plural, Some(name.to_string()), Some(sub.to_string())),
        _ => return Err(not_found_path(path)),
    };
    let resource =
        api::resources::find(group, version, plural).ok_or_else(|| not_found_path(path))?;
    if namespace.is_some() && !resource.namespaced {
        return Err(not_found_path(path));
    }
    if let Some(sub) = &subresource {
        if !resource.subresources.contains(&sub.as_str()) {
            return Err(not_found_path(path));
        }
    }
    let verb = match (method, name.is_some()) {
        (&Method::GET, true) if query.watch => Verb::Watch,
        (&Method::GET, true) => Verb::Get,
        (&Method::GET, false) if query.watch => Verb::Watch,
        (&Method::GET, false) => Verb::List,
        (&Method::POST, false) => Verb::Create,
        // POST on a named object is only for creating subresources (binding, eviction).
        (&Method::POST, true) if subresource.is_some() => Verb::Create,
        (&Method::PUT, true) => Verb::Update,
        (&Method::PATCH, true) => Verb::Patch,
        (&Method::DELETE, true) => Verb::Delete,
        (&Method::DELETE, false) => Verb::DeleteCollection,
        _ => {
            return Err(ApiError::method_not_allowed(&format!(
                "{} {}",
                method, resource.plural
            )))
        }
    };
    Ok(Route::Resource(Target {
        resource,
        namespace,
        name,
        subresource,
        verb,
    }))
}

/// `/api/v1/namespaces/<ns>/status` and `/finalize` are subresources of a namespace, not
/// collections inside it.
fn is_namespace_subresource(seg: &str) -> bool {
    matches!(seg, "status" | "finalize")
}

fn not_found_path(path: &str) -> ApiError {
    ApiError::NotFound {
        message: format!("the server could not find the requested resource ({path})"),
        kind: String::new(),
        name: String::new(),
        group: String::new(),
    }
}

/// The query options of list, watch, write and delete requests.
#[derive(Clone, Debug, Default)]
pub struct Query {
    pub label_selector: Option<String>,
    pub field_selector: Option<String>,
    pub limit: usize,
    pub continue_token: Option<String>,
    pub resource_version: Option<String>,
    pub resource_version_match: Option<String>,
    pub watch: bool,
    pub allow_bookmarks: bool,
    pub send_initial_events: bool,
    pub timeout_seconds: Option<u64>,
    pub dry_run: bool,
    pub grace_period_seconds: Option<i64>,
    pub propagation_policy: Option<String>,
    pub include_object: Option<String>,
    /// `Strict`, `Warn` (the default) or `Ignore`: what unknown fields in a body do.
    pub field_validation: Option<String>,
    /// Everything, for subresources that take their own parameters (log).
    pub raw: HashMap<String, String>,
}

impl Query {
    pub fn parse(query: Option<&str>) -> ApiResult<Query> {
        let mut q = Query::default();
        let Some(query) = query else { return Ok(q) };
        for (k, v) in form_urlencoded(query) {
            match k.as_str() {
                "labelSelector" => q.label_selector = Some(v.clone()).filter(|s| !s.is_empty()),
                "fieldSelector" => q.field_selector = Some(v.clone()).filter(|s| !s.is_empty()),
                "limit" => {
                    q.limit = v
                        .parse()
                        .map_err(|_| ApiError::bad_request(format!("invalid limit {v:?}")))?
                }
                "continue" => q.continue_token = Some(v.clone()).filter(|s| !s.is_empty()),
                "resourceVersion" => q.resource_version = Some(v.clone()).filter(|s| !s.is_empty()),
                "resourceVersionMatch" => {
                    q.resource_version_match = Some(v.clone()).filter(|s| !s.is_empty())
                }
                "watch" => q.watch = v == "true" || v == "1",
                "allowWatchBookmarks" => q.allow_bookmarks = v == "true",
                "sendInitialEvents" => q.send_initial_events = v == "true",
                "timeoutSeconds" => q.timeout_seconds = v.parse().ok(),
                "dryRun" => q.dry_run = !v.is_empty(),
                "gracePeriodSeconds" => {
                    q.grace_period_seconds = Some(v.parse().map_err(|_| {
                        ApiError::bad_request(format!("invalid gracePeriodSeconds {v:?}"))
                    })?)
                }
                "propagationPolicy" => q.propagation_policy = Some(v.clone()),
                "includeObject" => q.include_object = Some(v.clone()),
                "fieldValidation" => q.field_validation = Some(v.clone()),
                _ => {}
            }
            q.raw.insert(k, v);
        }
        Ok(q)
    }
}

/// Decodes `application/x-www-form-urlencoded` pairs.
pub fn form_urlencoded(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The representation a client asked for in `Accept`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wanted {
    Object,
    Table,
}

/// Whether the client asked for a `meta.k8s.io` Table (kubectl get does).
pub fn wanted(headers: &HeaderMap) -> Wanted {
    let accept = headers
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let table = accept.split(',').any(|part| {
        let part = part.replace(' ', "");
        part.contains("as=Table") && part.contains("g=meta.k8s.io")
    });
    if table {
        Wanted::Table
    } else {
        Wanted::Object
    }
}

/// The media type of a request body.
pub fn content_type(headers: &HeaderMap) -> String {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(path: &str, m: Method) -> Route {
        route(path, &m, &Query::default()).unwrap()
    }

    #[test]
    fn namespaced_collection_and_object_paths_decode() {
        let Route::Resource(t) = r("/api/v1/namespaces/default/pods/web", Method::GET) else {
            panic!()
        };
        assert_eq!(t.resource.kind, "Pod");
        assert_eq!(t.namespace.as_deref(), Some("default"));
        assert_eq!(t.name.as_deref(), Some("web"));
        assert_eq!(t.verb, Verb::Get);
        let Route::Resource(t) = r(
            "/apis/apps/v1/namespaces/x/deployments/d/scale",
            Method::PUT,
        ) else {
            panic!()
        };
        assert_eq!(t.subresource.as_deref(), Some("scale"));
        assert_eq!(t.verb, Verb::Update);
    }

    #[test]
    fn namespace_status_is_a_subresource_not_a_collection() {
        let Route::Resource(t) = r("/api/v1/namespaces/foo/status", Method::PUT) else {
            panic!()
        };
        assert_eq!(t.resource.kind, "Namespace");
        assert_eq!(t.name.as_deref(), Some("foo"));
        assert_eq!(t.subresource.as_deref(), Some("status"));
        let Route::Resource(t) = r("/api/v1/namespaces/foo", Method::DELETE) else {
            panic!()
        };
        assert_eq!(t.verb, Verb::Delete);
    }

    #[test]
    fn unknown_resources_and_bad_methods_are_rejected() {
        assert!(route("/api/v1/widgets", &Method::GET, &Query::default()).is_err());
        let e = route("/api/v1/namespaces/a/pods", &Method::PUT, &Query::default()).unwrap_err();
        assert_eq!(e.code(), http::StatusCode::METHOD_NOT_ALLOWED);
        assert!(route(
            "/api/v1/namespaces/a/nodes",
            &Method::GET,
            &Query::default()
        )
        .is_err());
    }

    #[test]
    fn query_decodes_selectors_with_escapes() {
        let q = Query::parse(Some(
            "labelSelector=app%3Dweb%2Ctier+in+%28a%29&limit=5&watch=true",
        ))
        .unwrap();
        assert_eq!(q.label_selector.as_deref(), Some("app=web,tier in (a)"));
        assert_eq!(q.limit, 5);
        assert!(q.watch);
    }

    #[test]
    fn table_accept_header_is_recognised() {
        let mut h = HeaderMap::new();
        h.insert(
            http::header::ACCEPT,
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
                .parse()
                .unwrap(),
        );
        assert_eq!(wanted(&h), Wanted::Table);
    }
}
