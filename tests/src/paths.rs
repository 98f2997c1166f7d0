//! Where the binaries under test and the installed kubectl versions are.

use std::path::{Path, PathBuf};

use anyhow::Context as _;

/// The workspace root (this package lives in `<root>/tests`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// A binary of this workspace built by `cargo build` (scripts/test.sh builds them first): next to
/// the running test executable's profile folder, else under `CARGO_TARGET_DIR` or `<root>/target`.
pub fn workspace_binary(name: &str) -> anyhow::Result<PathBuf> {
    let mut candidates = Vec::new();
    // A test executable lives in `<target>/<profile>/deps/`.
    if let Ok(exe) = std::env::current_exe()
        && let Some(profile_dir) = exe.parent().and_then(Path::parent)
    {
        candidates.push(profile_dir.join(name));
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|dir| {
            if dir.is_relative() {
                workspace_root().join(dir)
            } else {
                dir
            }
        })
        .unwrap_or_else(|| workspace_root().join("target"));
    candidates.push(target.join("debug").join(name));
    candidates.into_iter().find(|path| path.is_file()).with_context(|| {
        format!("binary `{name}` is not built; run `cargo build -p {name}` first (scripts/test.sh does)")
    })
}

/// The folder holding the real kubectl (`readlink -f $(command -v kubectl)`), where the
/// versioned `kubectl.1.NN` binaries are installed beside it.
pub fn kubectl_dir() -> anyhow::Result<PathBuf> {
    let path = std::env::var_os("PATH").context("PATH is not set")?;
    let kubectl = std::env::split_paths(&path)
        .map(|dir| dir.join("kubectl"))
        .find(|candidate| candidate.is_file())
        .context("kubectl is not on PATH")?;
    let real = std::fs::canonicalize(&kubectl)
        .with_context(|| format!("cannot resolve {}", kubectl.display()))?;
    real.parent()
        .map(Path::to_path_buf)
        .context("kubectl has no parent folder")
}

/// The default `kubectl`.
pub fn kubectl() -> anyhow::Result<PathBuf> {
    Ok(kubectl_dir()?.join("kubectl"))
}

/// Installed `kubectl.1.NN` binaries, oldest minor first.
pub fn versioned_kubectls() -> anyhow::Result<Vec<(u32, PathBuf)>> {
    let dir = kubectl_dir()?;
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir(&dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            let minor = name.strip_prefix("kubectl.1.")?.parse().ok()?;
            Some((minor, entry.path()))
        })
        .collect();
    found.sort();
    Ok(found)
}

/// The oldest and the newest installed minor version's kubectl.
pub fn oldest_and_newest_kubectl() -> anyhow::Result<[PathBuf; 2]> {
    let all = versioned_kubectls()?;
    match (all.first(), all.last()) {
        (Some(oldest), Some(newest)) => Ok([oldest.1.clone(), newest.1.clone()]),
        _ => anyhow::bail!(
            "no kubectl.1.NN binaries beside {}",
            kubectl_dir()?.display()
        ),
    }
}
