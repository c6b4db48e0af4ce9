//! Image references, normalised the way docker and containerd do it.
//!
//! `busybox` → `docker.io/library/busybox:latest`, `busybox:1.36` →
//! `docker.io/library/busybox:1.36`, `localhost:5000/app` → `localhost:5000/app:latest`,
//! `name:tag@sha256:…` → `name@sha256:…` (the digest wins, as in containerd's CRI plugin).
//! The grammar is distribution's `reference` package without regular expressions.

use std::fmt;

use crate::error::{Error, Result};

/// The default registry for names without a domain.
pub const DEFAULT_DOMAIN: &str = "docker.io";
const LEGACY_DEFAULT_DOMAIN: &str = "index.docker.io";
const OFFICIAL_REPO_PREFIX: &str = "library/";
const MAX_NAME_LEN: usize = 255;
const MAX_TAG_LEN: usize = 128;

/// A parsed, normalised image reference: `domain/path` plus a tag or a digest.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    /// Registry host, with port if any (`docker.io`, `localhost:5000`).
    pub domain: String,
    /// Repository path inside the registry (`library/busybox`).
    pub path: String,
    /// Tag, absent when the reference has a digest.
    pub tag: Option<String>,
    /// Manifest digest (`sha256:<hex>`).
    pub digest: Option<String>,
}

impl Reference {
    /// Parses and normalises `reference`; a reference with neither tag nor digest gets `latest`.
    pub fn parse(reference: &str) -> Result<Reference> {
        let s = reference;
        if s.is_empty() {
            return Err(Error::invalid_reference(s, "the image name is empty"));
        }
        if s.trim() != s || s.chars().any(char::is_whitespace) {
            return Err(Error::invalid_reference(
                s,
                "the image name contains whitespace",
            ));
        }
        if s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::invalid_reference(
                s,
                "a 64-character hexadecimal string is an image id, not a name",
            ));
        }

        let (rest, digest) = match s.split_once('@') {
            Some((rest, digest)) => {
                validate_digest(digest).map_err(|why| Error::invalid_reference(s, why))?;
                (rest, Some(digest.to_string()))
            }
            None => (s, None),
        };

        // A tag is after the last ':' that follows the last '/' (a ':' before it is a port).
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => {
                let i = last_slash + i;
                (&rest[..i], Some(&rest[i + 1..]))
            }
            None => (rest, None),
        };
        if let Some(tag) = tag {
            validate_tag(tag).map_err(|why| Error::invalid_reference(s, why))?;
        }
        if name.is_empty() {
            return Err(Error::invalid_reference(s, "the repository name is empty"));
        }

        let (mut domain, mut path) = split_domain(name);
        if domain == LEGACY_DEFAULT_DOMAIN {
            domain = DEFAULT_DOMAIN.to_string();
        }
        if domain == DEFAULT_DOMAIN && !path.contains('/') {
            path = format!("{OFFICIAL_REPO_PREFIX}{path}");
        }
        validate_domain(&domain).map_err(|why| Error::invalid_reference(s, why))?;
        validate_path(&path).map_err(|why| Error::invalid_reference(s, why))?;
        if domain.len() + 1 + path.len() > MAX_NAME_LEN {
            return Err(Error::invalid_reference(
                s,
                format!("the repository name must not be longer than {MAX_NAME_LEN} characters"),
            ));
        }

        let tag = match (&digest, tag) {
            (Some(_), _) => None,
            (None, Some(tag)) => Some(tag.to_string()),
            (None, None) => Some("latest".to_string()),
        };
        Ok(Reference {
            domain,
            path,
            tag,
            digest,
        })
    }

    /// The repository name without tag or digest: `docker.io/library/busybox`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// The reference in oci-client's terms.
    pub(crate) fn to_oci(&self) -> oci_client::Reference {
        match (&self.digest, &self.tag) {
            (Some(digest), _) => oci_client::Reference::with_digest(
                self.domain.clone(),
                self.path.clone(),
                digest.clone(),
            ),
            (None, tag) => oci_client::Reference::with_tag(
                self.domain.clone(),
                self.path.clone(),
                tag.clone().unwrap_or_else(|| "latest".to_string()),
            ),
        }
    }

    /// Whether the registry is on this machine and is spoken to over plain HTTP, as docker
    /// and containerd treat `localhost:PORT` / `127.0.0.1:PORT` / `[::1]:PORT`.
    pub fn is_local_registry(&self) -> bool {
        let host = match self.domain.rsplit_once(':') {
            Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
            _ => self.domain.as_str(),
        };
        matches!(host, "localhost" | "127.0.0.1" | "[::1]")
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.domain, self.path)?;
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")
        } else if let Some(tag) = &self.tag {
            write!(f, ":{tag}")
        } else {
            Ok(())
        }
    }
}

/// Normalises an image reference: `busybox:1.36` → `docker.io/library/busybox:1.36`.
pub fn normalize(reference: &str) -> Result<String> {
    Reference::parse(reference).map(|r| r.to_string())
}

/// The registry host a reference pulls from (`docker.io`, `localhost:5000`), for picking
/// credentials out of a pull secret with [`crate::parse_docker_config_json`].
pub fn registry_host(reference: &str) -> Result<String> {
    Reference::parse(reference).map(|r| r.domain)
}

/// Splits `name` into domain and path: the first component is a domain when it has a `.` or
/// a `:`, is `localhost`, or has upper-case letters (which a path component never has).
fn split_domain(name: &str) -> (String, String) {
    match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.bytes().any(|b| b.is_ascii_uppercase()) =>
        {
            (first.to_string(), rest.to_string())
        }
        _ => (DEFAULT_DOMAIN.to_string(), name.to_string()),
    }
}

/// `sha256:<64 lower-hex>` or `sha512:<128 lower-hex>`.
pub(crate) fn validate_digest(digest: &str) -> std::result::Result<(), String> {
    let Some((algorithm, hex)) = digest.split_once(':') else {
        return Err(format!("digest {digest:?} has no algorithm"));
    };
    let want = match algorithm {
        "sha256" => 64,
        "sha512" => 128,
        _ => return Err(format!("unsupported digest algorithm {algorithm:?}")),
    };
    if hex.len() != want
        || !hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(format!(
            "digest {digest:?} must be {want} lower-case hexadecimal characters after {algorithm}:"
        ));
    }
    Ok(())
}

/// `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
fn validate_tag(tag: &str) -> std::result::Result<(), String> {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let ok = !tag.is_empty()
        && tag.len() <= MAX_TAG_LEN
        && word(tag.as_bytes()[0])
        && tag.bytes().all(|b| word(b) || b == b'.' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "tag {tag:?} must be 1 to {MAX_TAG_LEN} letters, digits, '_', '.' or '-', not starting with '.' or '-'"
        ))
    }
}

/// `host[:port]` where host is dot-separated DNS labels or a bracketed IPv6 address.
fn validate_domain(domain: &str) -> std::result::Result<(), String> {
    let bad = || {
        Err(format!(
            "registry host {domain:?} is not a valid host[:port]"
        ))
    };
    let (host, port) = if let Some(after) = domain.strip_prefix('[') {
        let Some((ip, rest)) = after.split_once(']') else {
            return bad();
        };
        if ip.is_empty() || !ip.bytes().all(|b| b.is_ascii_hexdigit() || b == b':') {
            return bad();
        }
        match rest {
            "" => return Ok(()),
            _ => match rest.strip_prefix(':') {
                Some(port) => ("x", Some(port)),
                None => return bad(),
            },
        }
    } else {
        match domain.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (domain, None),
        }
    };
    if let Some(port) = port {
        if port.is_empty() || port.len() > 5 || !port.bytes().all(|b| b.is_ascii_digit()) {
            return bad();
        }
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if host.split('.').all(label_ok) {
        Ok(())
    } else {
        bad()
    }
}

/// Components `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*` joined by `/`.
fn validate_path(path: &str) -> std::result::Result<(), String> {
    if path.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(format!("repository name {path:?} must be lower-case"));
    }
    for component in path.split('/') {
        if !path_component_ok(component) {
            return Err(format!(
                "repository path component {component:?} must be lower-case letters and digits \
                 separated by '.', '_', '__' or '-'"
            ));
        }
    }
    Ok(())
}

fn path_component_ok(c: &str) -> bool {
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = c.as_bytes();
    if bytes.is_empty() || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        // A separator run: '.', '_', '__' or one or more '-'.
        let start = i;
        let sep = bytes[i];
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let run = &bytes[start..i];
        let ok = match sep {
            b'.' => run.len() == 1,
            b'_' => run.len() <= 2 && run.iter().all(|&b| b == b'_'),
            b'-' => run.iter().all(|&b| b == b'-'),
            _ => false,
        };
        if !ok {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> String {
        normalize(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn short_names_go_to_docker_hub_library() {
        assert_eq!(n("busybox"), "docker.io/library/busybox:latest");
        assert_eq!(n("busybox:1.36"), "docker.io/library/busybox:1.36");
        assert_eq!(
            n("docker.io/library/busybox:1.36"),
            "docker.io/library/busybox:1.36"
        );
        assert_eq!(
            n("docker.io/busybox:1.36"),
            "docker.io/library/busybox:1.36"
        );
        assert_eq!(
            n("index.docker.io/busybox"),
            "docker.io/library/busybox:latest"
        );
        assert_eq!(n("bitnami/nginx:1.2"), "docker.io/bitnami/nginx:1.2");
    }

    #[test]
    fn domains_are_recognised_by_dot_colon_or_localhost() {
        assert_eq!(n("localhost/app"), "localhost/app:latest");
        assert_eq!(n("localhost:5000/app:v1"), "localhost:5000/app:v1");
        assert_eq!(n("127.0.0.1:5000/a/b/c:v1"), "127.0.0.1:5000/a/b/c:v1");
        assert_eq!(n("quay.io/coreos/etcd"), "quay.io/coreos/etcd:latest");
        assert_eq!(n("[::1]:5000/app"), "[::1]:5000/app:latest");
        assert_eq!(n("Registry/app"), "Registry/app:latest");
    }

    #[test]
    fn digest_wins_over_tag() {
        let d = format!("sha256:{}", "a".repeat(64));
        assert_eq!(
            n(&format!("busybox@{d}")),
            format!("docker.io/library/busybox@{d}")
        );
        assert_eq!(
            n(&format!("busybox:1.36@{d}")),
            format!("docker.io/library/busybox@{d}")
        );
        let r = Reference::parse(&format!("localhost:5000/x@{d}")).unwrap();
        assert_eq!(r.tag, None);
        assert_eq!(r.digest.as_deref(), Some(d.as_str()));
        assert_eq!(r.name(), "localhost:5000/x");
    }

    #[test]
    fn invalid_references_are_rejected() {
        for bad in [
            "",
            "Busybox",
            "busybox:",
            "busybox:-x",
            "busybox@sha256:abc",
            "busybox@md5:0123456789abcdef0123456789abcdef",
            "a//b",
            "a/-b",
            "a/b-",
            "a..b",
            "a___b",
            "busy box",
            ":tag",
            "localhost:port/x",
            &"a".repeat(64).replace('a', "f"),
            &format!("busybox:{}", "t".repeat(129)),
            &format!("docker.io/{}", "a".repeat(260)),
        ] {
            let err = normalize(bad).expect_err(bad);
            assert!(
                matches!(err, Error::InvalidReference { .. }),
                "{bad}: {err}"
            );
            assert_eq!(err.reason(), "InvalidImageName");
        }
    }

    #[test]
    fn separators_inside_components() {
        for good in ["a.b", "a_b", "a__b", "a-b", "a---b", "a1/b2.c_d__e-f"] {
            n(good);
        }
    }

    #[test]
    fn local_registries_are_plain_http() {
        for (r, local) in [
            ("localhost:5000/a", true),
            ("127.0.0.1:5000/a", true),
            ("[::1]:5000/a", true),
            ("localhost/a", true),
            ("docker.io/a", false),
            ("registry.example.com:5000/a", false),
        ] {
            assert_eq!(
                Reference::parse(r).unwrap().is_local_registry(),
                local,
                "{r}"
            );
        }
    }

    #[test]
    fn registry_host_is_the_domain() {
        assert_eq!(registry_host("busybox").unwrap(), "docker.io");
        assert_eq!(
            registry_host("localhost:5000/x:y").unwrap(),
            "localhost:5000"
        );
    }
}
