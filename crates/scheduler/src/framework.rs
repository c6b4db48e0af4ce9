//! One scheduling decision: run the filters over the nodes (a rotating sample once enough
//! fit, like upstream's `percentageOfNodesToScore`), score the feasible ones, and pick the
//! best (ties at random) — or explain why none fit.

use std::sync::Arc;

use rand::Rng;

use crate::cache::{Cache, NodeInfo};
use crate::diagnosis::{Absent, Diagnosis};
use crate::plugins::{self, Filter, PluginSet, Rejection, Score};
use crate::pod_info::PodInfo;

/// Upstream `minFeasibleNodesToFind`.
const MIN_FEASIBLE_NODES_TO_FIND: usize = 100;
/// Upstream `minFeasibleNodesPercentageToFind`.
const MIN_FEASIBLE_NODES_PERCENTAGE: usize = 5;

/// The outcome of one scheduling cycle.
#[derive(Debug)]
pub enum Decision {
    /// The pod goes to this node.
    Fit(Arc<str>),
    /// No node fits; why.
    NoFit(Diagnosis),
    /// The cluster has no nodes at all.
    NoNodes,
}

/// The plugin pipeline and the rotating start of the node scan.
pub struct Framework {
    filters: Vec<Box<dyn Filter>>,
    scores: Vec<Box<dyn Score>>,
    /// Percentage of nodes to find feasible before scoring; 0 is upstream's adaptive rule.
    percentage: usize,
    next_start: usize,
}

/// How many feasible nodes are enough to pick from (upstream `numFeasibleNodesToFind`).
pub fn feasible_nodes_to_find(all: usize, percentage: usize) -> usize {
    if all < MIN_FEASIBLE_NODES_TO_FIND {
        return all;
    }
    let percentage = match percentage {
        0 => 50usize
            .saturating_sub(all / 125)
            .max(MIN_FEASIBLE_NODES_PERCENTAGE),
        p => p.min(100),
    };
    (all * percentage / 100).max(MIN_FEASIBLE_NODES_TO_FIND)
}

impl Framework {
    /// Upstream's default profile, as far as it applies here.
    pub fn new(percentage_of_nodes_to_score: u32) -> Framework {
        let filters = plugins::default_filters();
        let scores = plugins::default_scores();
        tracing::debug!(
            filters = ?filters.iter().map(|f| f.name()).collect::<Vec<_>>(),
            scores = ?scores.iter().map(|s| (s.name(), s.weight())).collect::<Vec<_>>(),
            "scheduling profile"
        );
        Framework {
            filters,
            scores,
            percentage: percentage_of_nodes_to_score as usize,
            next_start: 0,
        }
    }

    /// Decides where `pod` goes given the cache.
    pub fn schedule(&mut self, pod: &PodInfo, cache: &Cache) -> Decision {
        let order = cache.node_order();
        let all = order.len();
        if all == 0 {
            return Decision::NoNodes;
        }
        // NodeAffinity PreFilter: `matchFields` on the node name narrows the candidates.
        let pinned: Option<Vec<&NodeInfo>> = pod.affinity_names.as_ref().map(|names| {
            names
                .iter()
                .filter_map(|n| cache.node(n))
                .filter(|n| n.facts.is_some())
                .collect()
        });
        if pod.affinity_names.as_ref().is_some_and(|n| n.is_empty()) {
            return Decision::NoFit(Diagnosis {
                num_all_nodes: all,
                rejections: Vec::new(),
                absent: Some(Absent {
                    reason: plugins::AFFINITY_CONFLICT,
                    count: all,
                }),
                prefilter_message: Some(plugins::AFFINITY_CONFLICT.into()),
                plugins: PluginSet::NODE_AFFINITY,
            });
        }
        let filters: Vec<&dyn Filter> = self
            .filters
            .iter()
            .map(|f| f.as_ref())
            .filter(|f| f.applies(pod))
            .collect();
        let candidates = pinned.as_ref().map_or(all, Vec::len);
        let wanted = feasible_nodes_to_find(candidates, self.percentage);
        let mut feasible: Vec<&NodeInfo> = Vec::with_capacity(wanted.min(candidates));
        let mut rejections: Vec<Rejection> = Vec::new();
        let mut plugins_rejecting = PluginSet::EMPTY;
        let start = if pinned.is_some() {
            0
        } else {
            self.next_start % all
        };
        for i in 0..candidates {
            if feasible.len() >= wanted {
                break;
            }
            let node = match &pinned {
                Some(p) => p[i],
                None => match cache.node(&order[(start + i) % all]) {
                    Some(n) => n,
                    None => continue,
                },
            };
            let Some(facts) = node.facts.as_ref() else {
                continue;
            };
            match filters.iter().find_map(|f| f.filter(pod, node, facts)) {
                None => feasible.push(node),
                Some(r) => {
                    plugins_rejecting |= r.plugin;
                    rejections.push(r);
                }
            }
        }
        if pinned.is_none() {
            self.next_start = (start + feasible.len() + rejections.len()) % all;
        }
        match feasible.len() {
            0 => {
                let absent = pinned.map(|_| Absent {
                    reason: plugins::AFFINITY_PREFILTER,
                    count: all - candidates,
                });
                Decision::NoFit(Diagnosis {
                    num_all_nodes: all,
                    rejections,
                    absent: absent.filter(|a| a.count > 0),
                    prefilter_message: None,
                    plugins: plugins_rejecting,
                })
            }
            1 => Decision::Fit(feasible[0].name.clone()),
            _ => Decision::Fit(self.select(pod, &feasible)),
        }
    }

    /// Scores the feasible nodes and picks the best, ties broken uniformly at random.
    fn select(&self, pod: &PodInfo, feasible: &[&NodeInfo]) -> Arc<str> {
        let mut totals = vec![0i64; feasible.len()];
        let mut scores = vec![0i64; feasible.len()];
        for plugin in self.scores.iter().filter(|s| s.applies(pod)) {
            for (s, node) in scores.iter_mut().zip(feasible) {
                let facts = node.facts.as_ref().expect("feasible nodes have facts");
                *s = plugin.score(pod, node, facts);
            }
            plugin.normalize(&mut scores);
            for (t, s) in totals.iter_mut().zip(&scores) {
                *t += s * plugin.weight();
            }
        }
        let mut rng = rand::rng();
        let (mut best, mut best_score, mut ties) = (0, i64::MIN, 0u32);
        for (i, t) in totals.iter().enumerate() {
            if *t > best_score {
                (best, best_score, ties) = (i, *t, 1);
            } else if *t == best_score {
                ties += 1;
                if rng.random_range(0..ties) == 0 {
                    best = i;
                }
            }
        }
        feasible[best].name.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feasible_nodes_to_find_follows_upstreams_adaptive_percentage() {
        assert_eq!(feasible_nodes_to_find(50, 0), 50);
        assert_eq!(feasible_nodes_to_find(100, 0), 100);
        assert_eq!(feasible_nodes_to_find(1000, 0), 420);
        assert_eq!(feasible_nodes_to_find(5000, 0), 500);
        assert_eq!(feasible_nodes_to_find(10000, 0), 500);
        assert_eq!(feasible_nodes_to_find(1000, 100), 1000);
        assert_eq!(feasible_nodes_to_find(1000, 5), 100);
    }
}
