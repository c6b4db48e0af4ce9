//! Who a container's process runs as: the security context's `runAsUser`/`runAsGroup`
//! or the image's `User` ("name", "uid", "name:group", "uid:gid"), names resolved from the
//! container's own /etc/passwd and /etc/group (read without following symlinks out of
//! the root file system), plus group memberships and supplemental groups.

use std::path::Path;

use crate::Security;

/// The resolved identity of a container process.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ResolvedUser {
    pub(crate) uid: u32,
    pub(crate) gid: u32,
    pub(crate) additional_gids: Vec<u32>,
    /// From the passwd entry, for `HOME`.
    pub(crate) home: Option<String>,
}

#[derive(Debug, PartialEq, Eq)]
struct PasswdEntry<'a> {
    name: &'a str,
    uid: u32,
    gid: u32,
    home: &'a str,
}

fn passwd_entries(passwd: &str) -> impl Iterator<Item = PasswdEntry<'_>> {
    passwd
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            Some(PasswdEntry {
                name: f.first()?,
                uid: f.get(2)?.parse().ok()?,
                gid: f.get(3)?.parse().ok()?,
                home: f.get(5).copied().unwrap_or(""),
            })
        })
}

/// (name, gid, members) of each /etc/group line.
fn group_entries(group: &str) -> impl Iterator<Item = (&str, u32, Vec<&str>)> {
    group
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            let members = f
                .get(3)
                .map(|m| m.split(',').filter(|s| !s.is_empty()).collect())
                .unwrap_or_default();
            Some((*f.first()?, f.get(2)?.parse().ok()?, members))
        })
}

/// Resolves the process identity. `passwd`/`group` are the image's files (None when
/// absent); a user or group *name* that is not in them is an error, as with Docker.
/// Supplementary groups are the primary group, the user's memberships in /etc/group,
/// then the pod's supplemental groups.
pub(crate) fn resolve_user(
    image_user: Option<&str>,
    sec: &Security,
    passwd: Option<&str>,
    group: Option<&str>,
) -> Result<ResolvedUser, String> {
    let passwd = passwd.unwrap_or("");
    let group = group.unwrap_or("");
    let (user_part, group_part) = match (sec.run_as_user, image_user.filter(|u| !u.is_empty())) {
        (Some(uid), _) => (uid.to_string(), None),
        (None, Some(u)) => match u.split_once(':') {
            Some((u, g)) => (u.to_string(), Some(g.to_string())),
            None => (u.to_string(), None),
        },
        (None, None) => ("0".to_string(), None),
    };
    let entry = match user_part.parse::<u32>() {
        Ok(uid) => passwd_entries(passwd).find(|e| e.uid == uid),
        Err(_) => Some(
            passwd_entries(passwd)
                .find(|e| e.name == user_part)
                .ok_or_else(|| {
                    format!("unable to find user {user_part}: no matching entries in passwd file")
                })?,
        ),
    };
    let uid = match user_part.parse::<u32>() {
        Ok(uid) => uid,
        Err(_) => entry.as_ref().map(|e| e.uid).unwrap_or_default(),
    };
    let mut gid = entry.as_ref().map(|e| e.gid).unwrap_or(0);
    if let Some(g) = group_part.filter(|g| !g.is_empty()) {
        gid = match g.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => group_entries(group)
                .find(|(name, _, _)| *name == g)
                .map(|(_, gid, _)| gid)
                .ok_or_else(|| {
                    format!("unable to find group {g}: no matching entries in group file")
                })?,
        };
    }
    if let Some(g) = sec.run_as_group {
        gid = g;
    }
    // As Docker and containerd do, the primary group is also a supplementary one.
    let mut additional: Vec<u32> = vec![gid];
    if let Some(e) = &entry {
        for (_, g, members) in group_entries(group) {
            if members.contains(&e.name) && !additional.contains(&g) {
                additional.push(g);
            }
        }
    }
    for g in &sec.supplemental_groups {
        if !additional.contains(g) {
            additional.push(*g);
        }
    }
    Ok(ResolvedUser {
        uid,
        gid,
        additional_gids: additional,
        home: entry.map(|e| e.home.to_string()).filter(|h| !h.is_empty()),
    })
}

/// Reads a small file of the container's root file system (e.g. "etc/passwd"), resolving
/// the path inside `rootfs` (symlinks cannot point out of it). None when missing.
pub(crate) fn read_rootfs_file(rootfs: &Path, rel: &str) -> Option<String> {
    use nix::fcntl::{open, openat2, OFlag, OpenHow, ResolveFlag};
    use nix::sys::stat::Mode;
    let root = open(
        rootfs,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .ok()?;
    let how = OpenHow::new()
        .flags(OFlag::O_RDONLY | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    let fd = openat2(&root, rel, how).ok()?;
    let mut s = String::new();
    use std::io::Read;
    std::fs::File::from(fd)
        .take(4 << 20)
        .read_to_string(&mut s)
        .ok()?;
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n#comment\nwww:x:33:33:www:/var/www:/bin/false\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";
    const GROUP: &str =
        "root:x:0:\nwww:x:33:\nstaff:x:50:www,other\naudio:x:29:www\nnogroup:x:65534:\n";

    fn resolve(user: Option<&str>, sec: Security) -> Result<ResolvedUser, String> {
        resolve_user(user, &sec, Some(PASSWD), Some(GROUP))
    }

    #[test]
    fn no_user_is_root() {
        let u = resolve(None, Security::default()).unwrap();
        assert_eq!((u.uid, u.gid, u.home.as_deref()), (0, 0, Some("/root")));
    }

    #[test]
    fn names_resolve_from_passwd_with_group_memberships() {
        let u = resolve(Some("www"), Security::default()).unwrap();
        assert_eq!((u.uid, u.gid), (33, 33));
        assert_eq!(u.additional_gids, vec![33, 50, 29]);
        assert_eq!(u.home.as_deref(), Some("/var/www"));
    }

    #[test]
    fn user_and_group_pairs_accept_names_and_numbers() {
        let u = resolve(Some("www:staff"), Security::default()).unwrap();
        assert_eq!((u.uid, u.gid), (33, 50));
        let u = resolve(Some("1000:1000"), Security::default()).unwrap();
        assert_eq!((u.uid, u.gid, u.home), (1000, 1000, None));
        let u = resolve(Some("65534"), Security::default()).unwrap();
        assert_eq!(
            u.gid, 65534,
            "a numeric uid in passwd takes its primary group"
        );
    }

    #[test]
    fn security_context_overrides_the_image_user() {
        let sec = Security {
            run_as_user: Some(1234),
            run_as_group: Some(99),
            supplemental_groups: vec![5, 99],
            ..Default::default()
        };
        let u = resolve(Some("www"), sec).unwrap();
        assert_eq!((u.uid, u.gid), (1234, 99));
        assert_eq!(u.additional_gids, vec![99, 5], "primary then supplemental");
    }

    #[test]
    fn unknown_names_are_errors() {
        assert!(resolve(Some("ghost"), Security::default())
            .unwrap_err()
            .contains("unable to find user ghost"));
        assert!(resolve(Some("www:ghosts"), Security::default())
            .unwrap_err()
            .contains("unable to find group ghosts"));
    }

    #[test]
    fn rootfs_files_cannot_escape_through_symlinks() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("etc")).unwrap();
        std::fs::write(d.path().join("etc/passwd"), PASSWD).unwrap();
        std::fs::write(d.path().join("secret"), "inside").unwrap();
        std::os::unix::fs::symlink("/secret", d.path().join("etc/group")).unwrap();
        assert_eq!(
            read_rootfs_file(d.path(), "etc/passwd").as_deref(),
            Some(PASSWD)
        );
        // An absolute symlink resolves inside the root, not on the host.
        assert_eq!(
            read_rootfs_file(d.path(), "etc/group").as_deref(),
            Some("inside")
        );
        assert_eq!(read_rootfs_file(d.path(), "etc/missing"), None);
    }
}
