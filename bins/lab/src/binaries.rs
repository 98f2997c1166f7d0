//! Finding the sibling programs: `lab` starts the binaries built next to it (same cargo
//! profile folder), so `cargo build --release && target/release/lab up` runs release builds of
//! all four.

use std::path::{Path, PathBuf};

use anyhow::Context as _;

/// The programs a lab runs.
pub const PROGRAMS: [&str; 3] = ["apiserver", "controller-manager", "kubelet-agent"];

/// Paths of the three programs.
#[derive(Debug, Clone)]
pub struct Binaries {
    pub apiserver: PathBuf,
    pub controller_manager: PathBuf,
    pub kubelet_agent: PathBuf,
}

/// The folder of the running `lab` executable.
pub fn own_dir() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("cannot find the lab executable's path")?;
    exe.parent()
        .map(Path::to_path_buf)
        .context("the lab executable has no parent folder")
}

/// Finds the programs in `dir`; a missing one is named with the command that builds it.
pub fn find(dir: &Path) -> anyhow::Result<Binaries> {
    let missing: Vec<&str> = PROGRAMS
        .into_iter()
        .filter(|name| !dir.join(name).is_file())
        .collect();
    if !missing.is_empty() {
        let profile = if dir.ends_with("release") {
            " --release"
        } else {
            ""
        };
        let packages: Vec<String> = missing.iter().map(|m| format!("-p {m}")).collect();
        anyhow::bail!(
            "missing program{} {} in {}; build {} with `cargo build{profile} {}` (or all of them with `cargo build{profile} --bins`), or point --bin-dir at them",
            if missing.len() == 1 { "" } else { "s" },
            missing.join(", "),
            dir.display(),
            if missing.len() == 1 { "it" } else { "them" },
            packages.join(" "),
        );
    }
    Ok(Binaries {
        apiserver: dir.join("apiserver"),
        controller_manager: dir.join("controller-manager"),
        kubelet_agent: dir.join("kubelet-agent"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_programs_are_named_with_the_cargo_command() {
        let dir = tempfile::tempdir().unwrap();
        let release = dir.path().join("release");
        std::fs::create_dir(&release).unwrap();
        std::fs::write(release.join("apiserver"), "").unwrap();
        let err = find(&release).unwrap_err().to_string();
        assert!(err.contains("controller-manager, kubelet-agent"), "{err}");
        assert!(
            err.contains("cargo build --release -p controller-manager -p kubelet-agent"),
            "{err}"
        );
        for name in PROGRAMS {
            std::fs::write(release.join(name), "").unwrap();
        }
        let found = find(&release).unwrap();
        assert_eq!(found.kubelet_agent, release.join("kubelet-agent"));
    }
}
