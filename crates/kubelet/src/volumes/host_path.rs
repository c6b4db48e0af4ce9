//! hostPath volumes: the `type` check (and creation for the `OrCreate` types) upstream's
//! `hostPathTypeChecker` does before a pod may use the path.

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;

/// Checks (or creates) `path` as `type_` demands; the error is the FailedMount message.
pub fn check(path: &Path, type_: Option<&str>) -> Result<(), String> {
    let shown = path.display();
    let meta = std::fs::metadata(path);
    match type_.unwrap_or("") {
        "" => Ok(()),
        "DirectoryOrCreate" => match meta {
            Ok(m) if m.is_dir() => Ok(()),
            Ok(_) => Err(format!(
                "hostPath type check failed: {shown} is not a directory"
            )),
            Err(_) => {
                std::fs::create_dir_all(path)
                    .map_err(|e| format!("creating hostPath directory {shown}: {e}"))?;
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
                    .map_err(|e| format!("setting permissions of {shown}: {e}"))
            }
        },
        "Directory" => match meta {
            Ok(m) if m.is_dir() => Ok(()),
            Ok(_) => Err(format!(
                "hostPath type check failed: {shown} is not a directory"
            )),
            Err(_) => Err(format!(
                "hostPath type check failed: {shown} is not a directory"
            )),
        },
        "FileOrCreate" => match meta {
            Ok(m) if m.is_file() => Ok(()),
            Ok(_) => Err(format!("hostPath type check failed: {shown} is not a file")),
            Err(_) => {
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|e| format!("creating hostPath file {shown}: {e}"))?;
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644))
                    .map_err(|e| format!("setting permissions of {shown}: {e}"))
            }
        },
        "File" => match meta {
            Ok(m) if m.is_file() => Ok(()),
            _ => Err(format!("hostPath type check failed: {shown} is not a file")),
        },
        "Socket" => match meta {
            Ok(m) if m.file_type().is_socket() => Ok(()),
            _ => Err(format!(
                "hostPath type check failed: {shown} is not a socket file"
            )),
        },
        "CharDevice" => match meta {
            Ok(m) if m.file_type().is_char_device() => Ok(()),
            _ => Err(format!(
                "hostPath type check failed: {shown} is not a character device"
            )),
        },
        "BlockDevice" => match meta {
            Ok(m) if m.file_type().is_block_device() => Ok(()),
            _ => Err(format!(
                "hostPath type check failed: {shown} is not a block device"
            )),
        },
        other => Err(format!("hostPath type {other:?} is not supported")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_path_types_are_checked_and_or_create_types_create() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("d");
        let file = tmp.path().join("f");
        assert!(check(&dir, Some("Directory")).is_err());
        check(&dir, Some("DirectoryOrCreate")).unwrap();
        assert!(dir.is_dir());
        check(&dir, Some("Directory")).unwrap();
        assert!(check(&dir, Some("File"))
            .unwrap_err()
            .contains("is not a file"));
        assert!(check(&file, Some("File")).is_err());
        check(&file, Some("FileOrCreate")).unwrap();
        assert!(file.is_file());
        check(&file, Some("File")).unwrap();
        assert!(check(&file, Some("DirectoryOrCreate"))
            .unwrap_err()
            .contains("is not a directory"));
        assert!(check(&file, Some("Socket")).is_err());
        assert!(check(Path::new("/dev/null"), Some("CharDevice")).is_ok());
        check(&tmp.path().join("anything"), None).unwrap();
    }
}
