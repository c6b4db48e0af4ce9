//! Writes the files of configMap, secret, downwardAPI and projected volumes the way
//! upstream's `AtomicWriter` does, so a container never sees a half-updated set:
//!
//! ```text
//! <volume>/..2026_01_01_00_00_00.000000001/<files>   one generation of the payload
//! <volume>/..data -> ..2026_01_01_00_00_00.000000001 swapped atomically by rename
//! <volume>/<key> -> ..data/<key>                      what the container reads
//! ```

use std::collections::BTreeMap;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path};

use super::host::VolumeHost;

/// One file of a payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileContent {
    pub data: Vec<u8>,
    pub mode: u32,
}

/// Files by relative path.
pub type Payload = BTreeMap<String, FileContent>;

const DATA: &str = "..data";

/// A relative path that stays inside its volume.
pub fn valid_relative_path(p: &str) -> bool {
    let path = Path::new(p);
    !p.is_empty()
        && !p.starts_with("..")
        && path.components().all(|c| matches!(c, Component::Normal(_)))
}

fn read_generation(dir: &Path, prefix: &Path, out: &mut Payload) -> io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let meta = entry.metadata()?;
        if meta.is_dir() {
            read_generation(&path, prefix, out)?;
        } else {
            let rel = path
                .strip_prefix(prefix)
                .unwrap_or(&path)
                .to_string_lossy()
                .into_owned();
            out.insert(
                rel,
                FileContent {
                    data: std::fs::read(&path)?,
                    mode: meta.permissions().mode() & 0o7777,
                },
            );
        }
    }
    Ok(())
}

/// Makes `dir` hold exactly `payload`. Returns whether anything changed.
pub fn write_payload(
    dir: &Path,
    payload: &Payload,
    gid: Option<u32>,
    host: &dyn VolumeHost,
) -> io::Result<bool> {
    std::fs::create_dir_all(dir)?;
    let data_link = dir.join(DATA);
    let old_generation = std::fs::read_link(&data_link).ok();
    if let Some(old) = &old_generation {
        let mut current = Payload::new();
        let gen_dir = dir.join(old);
        if read_generation(&gen_dir, &gen_dir, &mut current).is_ok() && &current == payload {
            return Ok(false);
        }
    }
    for path in payload.keys() {
        if !valid_relative_path(path) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("invalid path {path:?} in volume payload"),
            ));
        }
    }
    let stamp = chrono::Utc::now()
        .format("..%Y_%m_%d_%H_%M_%S.%f")
        .to_string();
    let gen_name = if dir.join(&stamp).exists() {
        format!("{stamp}{}", rand::random::<u32>())
    } else {
        stamp
    };
    let gen_dir = dir.join(&gen_name);
    std::fs::create_dir(&gen_dir)?;
    std::fs::set_permissions(&gen_dir, std::fs::Permissions::from_mode(0o755))?;
    for (rel, file) in payload {
        let target = gen_dir.join(rel);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&target, &file.data)?;
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(file.mode))?;
        if gid.is_some() {
            host.chown(&target, None, gid)?;
        }
    }
    let tmp_link = dir.join("..data_tmp");
    let _ = std::fs::remove_file(&tmp_link);
    std::os::unix::fs::symlink(&gen_name, &tmp_link)?;
    std::fs::rename(&tmp_link, &data_link)?;

    let wanted: std::collections::BTreeSet<String> = payload
        .keys()
        .filter_map(|k| Path::new(k).components().next())
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    for top in &wanted {
        let link = dir.join(top);
        if std::fs::symlink_metadata(&link).is_err() {
            std::os::unix::fs::symlink(Path::new(DATA).join(top), &link)?;
        }
    }
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("..") || wanted.contains(&name) {
            continue;
        }
        if entry.file_type()?.is_symlink() {
            std::fs::remove_file(entry.path())?;
        }
    }
    if let Some(old) = old_generation {
        let old_dir = dir.join(old);
        if old_dir != gen_dir {
            let _ = std::fs::remove_dir_all(old_dir);
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::volumes::host::FakeHost;

    fn payload(files: &[(&str, &str, u32)]) -> Payload {
        files
            .iter()
            .map(|(p, d, m)| {
                (
                    p.to_string(),
                    FileContent {
                        data: d.as_bytes().to_vec(),
                        mode: *m,
                    },
                )
            })
            .collect()
    }

    #[test]
    fn payload_files_appear_through_the_data_symlink_and_updates_swap_it() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("vol");
        let host = FakeHost::new();
        let p1 = payload(&[("username", "admin", 0o644), ("sub/dir/file", "x", 0o400)]);
        assert!(write_payload(&dir, &p1, None, &host).unwrap());
        assert_eq!(
            std::fs::read_to_string(dir.join("username")).unwrap(),
            "admin"
        );
        assert_eq!(
            std::fs::read_to_string(dir.join("sub/dir/file")).unwrap(),
            "x"
        );
        assert_eq!(
            std::fs::read_link(dir.join("username")).unwrap(),
            Path::new("..data/username")
        );
        let mode = std::fs::metadata(dir.join("sub/dir/file"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o400);
        assert!(
            !write_payload(&dir, &p1, None, &host).unwrap(),
            "an unchanged payload is not rewritten"
        );

        let p2 = payload(&[("username", "root", 0o644)]);
        assert!(write_payload(&dir, &p2, None, &host).unwrap());
        assert_eq!(
            std::fs::read_to_string(dir.join("username")).unwrap(),
            "root"
        );
        assert!(
            std::fs::symlink_metadata(dir.join("sub")).is_err(),
            "a key that went away is removed"
        );
        let generations = std::fs::read_dir(&dir)
            .unwrap()
            .filter(|e| {
                let n = e
                    .as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .into_owned();
                n.starts_with("..") && n != "..data"
            })
            .count();
        assert_eq!(generations, 1, "the old generation is removed");
    }

    #[test]
    fn paths_that_escape_the_volume_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let bad = payload(&[("../escape", "x", 0o644)]);
        assert!(write_payload(&tmp.path().join("v"), &bad, None, &FakeHost::new()).is_err());
        assert!(!valid_relative_path("/abs"));
        assert!(!valid_relative_path("..hidden"));
        assert!(valid_relative_path("a/b"));
    }
}
