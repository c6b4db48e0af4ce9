//! `$(VAR)` expansion and the argv of a container: Kubernetes `command`/`args` combined
//! with the image's Entrypoint/Cmd by the rules of the API reference (and containerd).

use std::collections::HashMap;

use k8s_openapi::api::core::v1::Container;

use crate::images::ImageConfig;

/// Expands `$(VAR)` references in `input` with `lookup`: an unresolved reference stays
/// verbatim, `$$` is an escaped `$`, and a `$` that starts no reference is kept (upstream's
/// `third_party/forked/golang/expansion`).
pub fn expand(input: &str, lookup: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        let mut chars = after.chars();
        match chars.next() {
            None => {
                out.push('$');
                rest = after;
            }
            Some('$') => {
                out.push('$');
                rest = &after[1..];
            }
            Some('(') => match after[1..].find(')') {
                Some(close) => {
                    let name = &after[1..1 + close];
                    match lookup(name) {
                        Some(v) => out.push_str(&v),
                        None => {
                            out.push_str("$(");
                            out.push_str(name);
                            out.push(')');
                        }
                    }
                    rest = &after[close + 2..];
                }
                None => {
                    out.push_str("$(");
                    rest = &after[1..];
                }
            },
            Some(c) => {
                out.push('$');
                out.push(c);
                rest = &after[c.len_utf8()..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Expands with a map of variables.
pub fn expand_with(input: &str, vars: &HashMap<String, String>) -> String {
    expand(input, |name| vars.get(name).cloned())
}

/// The container's argv: `command` replaces the image's Entrypoint (and drops its Cmd),
/// `args` replaces the image's Cmd; both `$(VAR)`-expanded with the container's own
/// environment. `None` when there is nothing to run.
pub fn argv(
    container: &Container,
    image: &ImageConfig,
    env: &HashMap<String, String>,
) -> Option<Vec<String>> {
    let command: Vec<String> = container
        .command
        .iter()
        .flatten()
        .map(|c| expand_with(c, env))
        .collect();
    let args: Vec<String> = container
        .args
        .iter()
        .flatten()
        .map(|a| expand_with(a, env))
        .collect();
    let mut argv = Vec::new();
    if command.is_empty() {
        let entrypoint = image.entrypoint.clone().unwrap_or_default();
        if !(entrypoint.len() == 1 && entrypoint[0].is_empty()) {
            argv.extend(entrypoint);
        }
        if args.is_empty() {
            argv.extend(image.cmd.clone().unwrap_or_default());
        } else {
            argv.extend(args);
        }
    } else {
        argv.extend(command);
        argv.extend(args);
    }
    (!argv.is_empty()).then_some(argv)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn references_expand_and_unresolved_ones_stay_verbatim() {
        let v = vars(&[("A", "1"), ("B", "two")]);
        assert_eq!(expand_with("$(A)-$(B)", &v), "1-two");
        assert_eq!(expand_with("$(MISSING)/$(A)", &v), "$(MISSING)/1");
        assert_eq!(expand_with("x$(A)y$(A)z", &v), "x1y1z");
        assert_eq!(expand_with("", &v), "");
        assert_eq!(expand_with("no refs", &v), "no refs");
    }

    #[test]
    fn double_dollar_escapes_and_lone_dollars_are_kept() {
        let v = vars(&[("A", "1")]);
        assert_eq!(expand_with("$$(A)", &v), "$(A)");
        assert_eq!(expand_with("$$$(A)", &v), "$1");
        assert_eq!(expand_with("$A", &v), "$A");
        assert_eq!(expand_with("cost: 5$", &v), "cost: 5$");
        assert_eq!(expand_with("$(A", &v), "$(A");
        assert_eq!(expand_with("$()", &v), "$()");
        assert_eq!(expand_with("$é$(A)", &v), "$é1");
        assert_eq!(expand_with("$$", &v), "$");
    }

    fn container(command: &[&str], args: &[&str]) -> Container {
        Container {
            name: "c".into(),
            command: (!command.is_empty()).then(|| command.iter().map(|s| s.to_string()).collect()),
            args: (!args.is_empty()).then(|| args.iter().map(|s| s.to_string()).collect()),
            ..Default::default()
        }
    }

    fn image(entrypoint: &[&str], cmd: &[&str]) -> ImageConfig {
        ImageConfig {
            entrypoint: (!entrypoint.is_empty())
                .then(|| entrypoint.iter().map(|s| s.to_string()).collect()),
            cmd: (!cmd.is_empty()).then(|| cmd.iter().map(|s| s.to_string()).collect()),
            ..Default::default()
        }
    }

    #[test]
    fn command_and_args_combine_with_entrypoint_and_cmd_by_the_kubernetes_rules() {
        let img = image(&["/ep"], &["--cmd"]);
        let none = HashMap::new();
        let v = |c: &[&str], a: &[&str]| argv(&container(c, a), &img, &none).unwrap();
        assert_eq!(v(&[], &[]), vec!["/ep", "--cmd"]);
        assert_eq!(v(&[], &["--arg"]), vec!["/ep", "--arg"]);
        assert_eq!(v(&["/bin/sh"], &[]), vec!["/bin/sh"]);
        assert_eq!(v(&["/bin/sh"], &["-c", "x"]), vec!["/bin/sh", "-c", "x"]);
        let sh = image(&[], &["sh"]);
        assert_eq!(argv(&container(&[], &[]), &sh, &none).unwrap(), vec!["sh"]);
        assert_eq!(
            argv(&container(&[], &["echo"]), &sh, &none).unwrap(),
            vec!["echo"]
        );
        let empty_ep = image(&[""], &["run"]);
        assert_eq!(
            argv(&container(&[], &[]), &empty_ep, &none).unwrap(),
            vec!["run"]
        );
        assert_eq!(argv(&container(&[], &[]), &image(&[], &[]), &none), None);
    }

    #[test]
    fn command_and_args_are_expanded_with_the_container_env() {
        let env = vars(&[("MESSAGE", "hello world")]);
        let c = container(
            &["sh", "-c"],
            &["echo \"$(MESSAGE)\"; echo $HOME $(NOPE) $$(MESSAGE)"],
        );
        assert_eq!(
            argv(&c, &ImageConfig::default(), &env).unwrap(),
            vec![
                "sh",
                "-c",
                "echo \"hello world\"; echo $HOME $(NOPE) $(MESSAGE)"
            ]
        );
    }
}
