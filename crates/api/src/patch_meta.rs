//! Strategic-merge-patch metadata of the built-in types: which lists merge, and by which key.
//!
//! Upstream carries this as `patchStrategy`/`patchMergeKey` struct tags (and as
//! `x-kubernetes-patch-strategy`/`x-kubernetes-patch-merge-key` in OpenAPI). For the
//! kinds served here a field's name decides it, so the table is keyed by field name.

/// How a list field is patched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListStrategy {
    /// Items are objects merged by the value of this key.
    MergeByKey(&'static str),
    /// Items are primitives; the patch's items are added to the set (`finalizers`).
    MergePrimitives,
}

/// Field name → strategy, for every merging list of the served kinds. Lists not named here
/// are replaced whole (atomic), as upstream.
pub static LIST_STRATEGIES: &[(&str, ListStrategy)] = &[
    ("containers", ListStrategy::MergeByKey("name")),
    ("initContainers", ListStrategy::MergeByKey("name")),
    ("ephemeralContainers", ListStrategy::MergeByKey("name")),
    ("volumes", ListStrategy::MergeByKey("name")),
    ("volumeMounts", ListStrategy::MergeByKey("mountPath")),
    ("volumeDevices", ListStrategy::MergeByKey("devicePath")),
    ("env", ListStrategy::MergeByKey("name")),
    ("ports", ListStrategy::MergeByKey("containerPort")),
    ("imagePullSecrets", ListStrategy::MergeByKey("name")),
    ("hostAliases", ListStrategy::MergeByKey("ip")),
    ("conditions", ListStrategy::MergeByKey("type")),
    ("ownerReferences", ListStrategy::MergeByKey("uid")),
    (
        "topologySpreadConstraints",
        ListStrategy::MergeByKey("topologyKey"),
    ),
    ("resourceClaims", ListStrategy::MergeByKey("name")),
    ("schedulingGates", ListStrategy::MergeByKey("name")),
    ("taints", ListStrategy::MergeByKey("key")),
    ("addresses", ListStrategy::MergeByKey("type")),
    ("finalizers", ListStrategy::MergePrimitives),
];

/// The patch strategy of a list field, by its name; `None` means replace the whole list.
pub fn list_strategy(field: &str) -> Option<ListStrategy> {
    LIST_STRATEGIES
        .iter()
        .find(|(name, _)| *name == field)
        .map(|(_, s)| *s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn containers_merge_by_name_and_tolerations_are_atomic() {
        assert_eq!(
            list_strategy("containers"),
            Some(ListStrategy::MergeByKey("name"))
        );
        assert_eq!(
            list_strategy("finalizers"),
            Some(ListStrategy::MergePrimitives)
        );
        assert_eq!(list_strategy("tolerations"), None);
    }
}
