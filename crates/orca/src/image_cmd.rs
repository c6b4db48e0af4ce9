//! `orca image`: the node's image store from the command line (load, import, ls, rm).

use std::path::PathBuf;

use anyhow::{Context, Result};

/// Options of `orca image`.
#[derive(clap::Args, Debug)]
pub struct ImageArgs {
    /// The node's data directory (the store is `DATA_DIR/images`).
    #[arg(long, global = true, default_value = "/var/lib/orca")]
    pub data_dir: PathBuf,
    #[command(subcommand)]
    pub command: ImageCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum ImageCommand {
    /// Load a docker-archive or OCI-archive tarball (`docker save`, `podman save`, `skopeo copy ... oci-archive:`).
    Load { archive: PathBuf },
    /// Import a root filesystem tarball as a single-layer image.
    Import {
        rootfs: PathBuf,
        /// The image reference, e.g. busybox:1.36.
        reference: String,
        /// The image's entrypoint (repeat for each argument).
        #[arg(long = "entrypoint", allow_hyphen_values = true)]
        entrypoint: Vec<String>,
        /// Environment variables NAME=value (default PATH=/usr/local/sbin:...:/bin).
        #[arg(long = "env")]
        env: Vec<String>,
        #[arg(long)]
        workdir: Option<String>,
        #[arg(long)]
        user: Option<String>,
        #[arg(long)]
        stop_signal: Option<String>,
        /// The image's default command (its Cmd), after `--`: `... -- httpd -f -p 80`.
        #[arg(last = true)]
        cmd: Vec<String>,
    },
    /// List images.
    Ls,
    /// Remove an image by reference or id.
    Rm { references: Vec<String> },
}

pub fn run(args: ImageArgs) -> Result<()> {
    let root = args.data_dir.join("images");
    let store = image::ImageStore::open(&root)
        .with_context(|| format!("opening the image store {}", root.display()))?;
    match args.command {
        ImageCommand::Load { archive } => {
            for r in store.load_archive(&archive)? {
                println!("Loaded image: {r}");
            }
        }
        ImageCommand::Import {
            rootfs,
            reference,
            cmd,
            entrypoint,
            env,
            workdir,
            user,
            stop_signal,
        } => {
            let env = if env.is_empty() {
                vec![
                    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string(),
                ]
            } else {
                env
            };
            let config = image::ImageConfig {
                entrypoint: (!entrypoint.is_empty()).then_some(entrypoint),
                cmd: (!cmd.is_empty()).then_some(cmd),
                env,
                working_dir: workdir,
                user,
                stop_signal,
            };
            let img = store.import_rootfs(&rootfs, &reference, config)?;
            println!("Imported image: {} ({})", img.reference, img.id);
        }
        ImageCommand::Ls => {
            println!("{:<50} {:<20} {:>10}", "IMAGE", "ID", "SIZE");
            for i in store.list() {
                let id = i.id.strip_prefix("sha256:").unwrap_or(&i.id);
                println!(
                    "{:<50} {:<20} {:>10}",
                    i.reference,
                    &id[..id.len().min(12)],
                    human_size(i.size)
                );
            }
        }
        ImageCommand::Rm { references } => {
            for r in references {
                store.remove(&r).with_context(|| format!("removing {r}"))?;
                println!("Deleted: {r}");
            }
        }
    }
    Ok(())
}

fn human_size(bytes: u64) -> String {
    let mut v = bytes as f64;
    for unit in ["B", "kB", "MB", "GB"] {
        if v < 1000.0 {
            return format!("{v:.1}{unit}");
        }
        v /= 1000.0;
    }
    format!("{v:.1}TB")
}
