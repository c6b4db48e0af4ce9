//! Namespace finalization: a namespace marked for deletion has its contents deleted, then
//! its `kubernetes` finalizer removed, which removes it (upstream's namespace controller).

use std::time::Duration;

use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use crate::error::{ApiError, ApiResult};
use crate::object;
use crate::registry::{DeleteOptions, Part, Registry};
use crate::request::{Query, Target, Verb};
use crate::select::Filter;

/// How often terminating namespaces are looked at while any exist.
const RESYNC: Duration = Duration::from_secs(1);

/// Finalizes terminating namespaces until `shutdown`.
pub async fn run(reg: Registry, shutdown: CancellationToken) -> ApiResult<()> {
    let namespaces = target("namespaces", None);
    loop {
        let page = reg
            .list(&namespaces, &Query::default(), &Filter::default())
            .await?;
        let mut terminating = false;
        let items = page
            .items
            .iter()
            .map(object::from_kv)
            .collect::<ApiResult<Vec<_>>>()?;
        for ns in items
            .iter()
            .filter(|ns| object::meta_str(ns, "deletionTimestamp").is_some())
        {
            terminating = true;
            if let Err(e) = finalize(&reg, object::name(ns)).await {
                tracing::warn!(namespace = object::name(ns), error = %e, "namespace finalization failed, will retry");
            }
        }
        let wait = if terminating { RESYNC } else { RESYNC * 5 };
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

fn target(plural: &str, namespace: Option<&str>) -> Target {
    let resource = api::RESOURCES
        .iter()
        .find(|r| r.plural == plural)
        .expect("served resource");
    Target {
        resource,
        namespace: namespace.map(String::from),
        name: None,
        subresource: None,
        verb: Verb::List,
    }
}

/// Deletes what is left in the namespace; once it is empty, drops the finalizer.
async fn finalize(reg: &Registry, ns: &str) -> ApiResult<()> {
    let mut left = 0;
    for r in api::RESOURCES.iter().filter(|r| r.namespaced) {
        let t = target(r.plural, Some(ns));
        let page = reg.list(&t, &Query::default(), &Filter::default()).await?;
        left += page.items.len();
        for kv in &page.items {
            let item = object::from_kv(kv)?;
            match reg
                .delete(&t, object::name(&item), &DeleteOptions::default())
                .await
            {
                Ok(_) | Err(ApiError::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
    }
    if left > 0 {
        return Ok(());
    }
    let t = target("namespaces", None);
    let result = reg
        .update_with(&t, ns, Part::Main, &Query::default(), |old: &Value| {
            let mut new = old.clone();
            new["spec"]["finalizers"] = json!([]);
            object::meta_mut(&mut new).remove("resourceVersion");
            Ok(new)
        })
        .await;
    match result {
        Ok(_) | Err(ApiError::NotFound { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}
