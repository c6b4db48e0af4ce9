//! Registry credentials from `kubernetes.io/dockerconfigjson` (and legacy
//! `kubernetes.io/dockercfg`) pull secrets.
//!
//! Keys are matched like the kubelet's credential keyring: a key may be a bare host, a host
//! with port, or a URL (`https://index.docker.io/v1/`); its host is compared with the
//! registry host label by label, where a key label may be a `*` glob (`*.example.com`).
//! The Docker Hub aliases (`index.docker.io`, `registry-1.docker.io`) all mean `docker.io`.

use base64::Engine as _;
use oci_client::secrets::RegistryAuth;
use serde_json::Value;

/// The credentials in a docker `config.json` (the `.dockerconfigjson` key of a pull secret,
/// or the bare map of a legacy `.dockercfg`) that apply to `registry_host` (as returned by
/// [`crate::registry_host`]). `None` when nothing matches or the data does not parse.
///
/// An exact host match wins over a glob match; among equals the first entry in the file wins.
pub fn parse_docker_config_json(bytes: &[u8], registry_host: &str) -> Option<RegistryAuth> {
    let value: Value = serde_json::from_slice(bytes).ok()?;
    let auths = match value.get("auths") {
        Some(Value::Object(map)) => map,
        Some(_) => return None,
        None => value.as_object()?,
    };
    let want = normalize_host(registry_host);
    let mut glob_match = None;
    for (key, entry) in auths {
        let host = normalize_host(key);
        let exact = host == want;
        let first_glob = glob_match.is_none() && host_glob_matches(&host, &want);
        if !exact && !first_glob {
            continue;
        }
        let Some(auth) = entry_auth(entry) else {
            continue;
        };
        if exact {
            return Some(auth);
        }
        glob_match = Some(auth);
    }
    glob_match
}

/// The credentials of one `auths` entry: `auth` (base64 `user:password`) first, then
/// `username`/`password`, then `registrytoken` as a bearer token.
fn entry_auth(entry: &Value) -> Option<RegistryAuth> {
    let field = |name: &str| {
        entry
            .get(name)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    if let Some(encoded) = field("auth") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .ok()?;
        let decoded = String::from_utf8(decoded).ok()?;
        let (user, password) = decoded.split_once(':')?;
        return Some(RegistryAuth::Basic(user.to_string(), password.to_string()));
    }
    if let (Some(user), Some(password)) = (field("username"), field("password")) {
        return Some(RegistryAuth::Basic(user.to_string(), password.to_string()));
    }
    field("registrytoken").map(|token| RegistryAuth::Bearer(token.to_string()))
}

/// `https://Index.Docker.io/v1/` → `docker.io`; `http://localhost:5000/v2/` → `localhost:5000`.
fn normalize_host(key: &str) -> String {
    let key = key.trim();
    let key = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let host = key
        .split('/')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    match host.as_str() {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => {
            "docker.io".to_string()
        }
        _ => host,
    }
}

/// `*.example.com:5000` matches `a.example.com:5000`: same port, same number of labels, each
/// label a glob (`*` for any run of characters).
fn host_glob_matches(pattern: &str, host: &str) -> bool {
    if !pattern.contains('*') {
        return false;
    }
    let split = |h: &str| -> (String, String) {
        match h.rsplit_once(':') {
            Some((host, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => {
                (host.to_string(), port.to_string())
            }
            _ => (h.to_string(), String::new()),
        }
    };
    let (pattern_host, pattern_port) = split(pattern);
    let (host, port) = split(host);
    if pattern_port != port {
        return false;
    }
    let pattern_labels: Vec<&str> = pattern_host.split('.').collect();
    let labels: Vec<&str> = host.split('.').collect();
    pattern_labels.len() == labels.len()
        && pattern_labels
            .iter()
            .zip(&labels)
            .all(|(p, l)| glob(p.as_bytes(), l.as_bytes()))
}

fn glob(pattern: &[u8], text: &[u8]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some((b'*', rest)) => (0..=text.len()).any(|i| glob(rest, &text[i..])),
        Some((c, rest)) => text.first() == Some(c) && glob(rest, &text[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    #[test]
    fn auth_field_is_decoded() {
        let json = format!(
            r#"{{"auths":{{"localhost:5000":{{"auth":"{}"}}}}}}"#,
            b64("alice:s3cr:et")
        );
        assert_eq!(
            parse_docker_config_json(json.as_bytes(), "localhost:5000"),
            Some(RegistryAuth::Basic("alice".into(), "s3cr:et".into()))
        );
        assert_eq!(
            parse_docker_config_json(json.as_bytes(), "localhost:5001"),
            None
        );
        assert_eq!(parse_docker_config_json(json.as_bytes(), "localhost"), None);
    }

    #[test]
    fn username_and_password_fields_are_used_without_auth() {
        let json =
            r#"{"auths":{"https://registry.example.com/v2/":{"username":"bob","password":"pw"}}}"#;
        assert_eq!(
            parse_docker_config_json(json.as_bytes(), "registry.example.com"),
            Some(RegistryAuth::Basic("bob".into(), "pw".into()))
        );
    }

    #[test]
    fn docker_hub_aliases_match_docker_io() {
        for key in [
            "https://index.docker.io/v1/",
            "index.docker.io",
            "docker.io",
            "registry-1.docker.io",
        ] {
            let json = format!(r#"{{"auths":{{"{key}":{{"auth":"{}"}}}}}}"#, b64("u:p"));
            assert_eq!(
                parse_docker_config_json(json.as_bytes(), "docker.io"),
                Some(RegistryAuth::Basic("u".into(), "p".into())),
                "{key}"
            );
        }
    }

    #[test]
    fn legacy_dockercfg_without_auths_wrapper() {
        let json = format!(r#"{{"quay.io":{{"auth":"{}","email":"x@y"}}}}"#, b64("q:w"));
        assert_eq!(
            parse_docker_config_json(json.as_bytes(), "quay.io"),
            Some(RegistryAuth::Basic("q".into(), "w".into()))
        );
    }

    #[test]
    fn exact_match_beats_glob_and_globs_match_one_label() {
        let json = format!(
            r#"{{"auths":{{"*.example.com":{{"auth":"{}"}},"a.example.com":{{"auth":"{}"}}}}}}"#,
            b64("glob:1"),
            b64("exact:2")
        );
        let parse = |h| parse_docker_config_json(json.as_bytes(), h);
        assert_eq!(
            parse("a.example.com"),
            Some(RegistryAuth::Basic("exact".into(), "2".into()))
        );
        assert_eq!(
            parse("b.example.com"),
            Some(RegistryAuth::Basic("glob".into(), "1".into()))
        );
        assert_eq!(parse("x.b.example.com"), None);
        assert_eq!(parse("b.example.com:5000"), None);
    }

    #[test]
    fn registry_token_is_a_bearer_token() {
        let json = r#"{"auths":{"ghcr.io":{"registrytoken":"tok"}}}"#;
        assert_eq!(
            parse_docker_config_json(json.as_bytes(), "ghcr.io"),
            Some(RegistryAuth::Bearer("tok".into()))
        );
    }

    #[test]
    fn garbage_and_empty_entries_give_none() {
        assert_eq!(parse_docker_config_json(b"not json", "docker.io"), None);
        assert_eq!(
            parse_docker_config_json(br#"{"auths":[]}"#, "docker.io"),
            None
        );
        assert_eq!(
            parse_docker_config_json(br#"{"auths":{"docker.io":{}}}"#, "docker.io"),
            None
        );
        assert_eq!(
            parse_docker_config_json(br#"{"auths":{"docker.io":{"auth":"!!"}}}"#, "docker.io"),
            None
        );
    }
}
