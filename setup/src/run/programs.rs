//! The programs qmail-run installs into its folder: the ones built beside
//! it. Started by `cargo run`, qmail-run first has cargo build the others
//! (`cargo run --bin qmail-run` builds only qmail-run), in the same
//! profile and target folder, so the one command of the README builds
//! the whole system and later runs pick up changes.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::hier;
use crate::install::Source;
use crate::{Context, Error};

/// How cargo started us, when it did: the cargo program and the
/// workspace (`CARGO` and `CARGO_MANIFEST_DIR` are set by `cargo run`).
#[derive(Debug, Clone)]
pub struct Cargo {
    pub cargo: PathBuf,
    pub workspace: PathBuf,
}

impl Cargo {
    /// `Some` when started by `cargo run` from this workspace.
    pub fn from_env() -> Option<Cargo> {
        let cargo = std::env::var_os("CARGO")?;
        let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR")?);
        let workspace = manifest.parent()?.to_path_buf();
        workspace.join("Cargo.toml").is_file().then(|| Cargo {
            cargo: PathBuf::from(cargo),
            workspace,
        })
    }

    /// The `cargo build` that makes every program of [`hier::BINARIES`]
    /// in the profile of `bin_dir` (`release` or `debug`).
    pub fn build_command(&self, bin_dir: &Path) -> Command {
        let mut cmd = Command::new(&self.cargo);
        cmd.arg("build").current_dir(&self.workspace);
        if bin_dir.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        for &(name, _, _) in hier::BINARIES {
            cmd.args(["--bin", name]);
        }
        // cargo run's own variables are for us, not for the build.
        for k in [
            "CARGO_MANIFEST_DIR",
            "CARGO_MANIFEST_PATH",
            "CARGO_PKG_NAME",
        ] {
            cmd.env_remove(k);
        }
        cmd
    }
}

/// The programs beside this one, built first when cargo started us.
pub fn find(say: &mut dyn FnMut(&str)) -> Result<Source, Error> {
    let source = Source::beside_me().ctx(|| "find my own folder".into())?;
    if let Some(cargo) = Cargo::from_env() {
        let mut cmd = cargo.build_command(&source.bin_dir);
        say(&format!(
            "building the other programs: cargo {}",
            cmd.get_args()
                .map(|a| a.to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        ));
        let status = cmd
            .status()
            .ctx(|| format!("run {}", cargo.cargo.display()))?;
        if !status.success() {
            return Err(Error::Other(format!("cargo build failed ({status})")));
        }
    }
    let missing = source.missing();
    if !missing.is_empty() {
        return Err(Error::Other(format!(
            "missing programs in {}: {} (build them with cargo build --release)",
            source.bin_dir.display(),
            missing.join(", ")
        )));
    }
    Ok(source)
}
