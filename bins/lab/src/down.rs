//! `lab down`: stop a running lab through its pid file, then remove its state folder — only a
//! folder that holds a lab (`lab.json`), so a mistyped `--state-dir` never deletes anything else.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::children::send_signal;
use crate::state::Layout;

/// Writes `<lab pid>` then `<pid> <program>` per child.
pub fn write_pid_file(
    layout: &Layout,
    lab_pid: u32,
    children: &[(u32, String)],
) -> anyhow::Result<()> {
    let mut text = format!("{lab_pid} lab\n");
    for (pid, name) in children {
        text.push_str(&format!("{pid} {name}\n"));
    }
    crate::files::write_public(&layout.pid_file(), &text)
}

/// `(pid, program)` pairs of the pid file.
pub fn read_pid_file(path: &Path) -> Vec<(u32, String)> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| {
            let (pid, name) = line.split_once(' ')?;
            Some((pid.parse().ok()?, name.to_string()))
        })
        .collect()
}

/// Whether `pid` is alive and still runs a program called `name` (pids get reused).
pub fn is_running(pid: u32, name: &str) -> bool {
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let argv0 = cmdline.split(|b| *b == 0).next().unwrap_or_default();
    let argv0 = String::from_utf8_lossy(argv0);
    // A zombie has an empty command line: it is gone for our purposes.
    Path::new(argv0.as_ref())
        .file_name()
        .is_some_and(|f| f.to_string_lossy() == name)
}

fn wait_gone(pid: u32, name: &str, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if !is_running(pid, name) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    !is_running(pid, name)
}

/// Stops what the pid file lists (the lab first, which stops its children in order; then any
/// child left behind) and removes the state folder.
pub fn down(layout: &Layout) -> anyhow::Result<()> {
    let root = layout.root();
    if !root.exists() {
        println!("nothing to do: {} does not exist", root.display());
        return Ok(());
    }
    anyhow::ensure!(
        layout.settings_file().exists(),
        "{} does not look like a lab state folder (no lab.json); not removing it",
        root.display()
    );
    let entries = read_pid_file(&layout.pid_file());
    for (pid, name) in &entries {
        if !is_running(*pid, name) {
            continue;
        }
        println!("stopping {name} (pid {pid})");
        send_signal(*pid, "TERM");
        // The lab itself waits up to 10 s per child; give it time to do so.
        let grace = if name == "lab" {
            Duration::from_secs(60)
        } else {
            Duration::from_secs(10)
        };
        if !wait_gone(*pid, name, grace) {
            println!("{name} (pid {pid}) did not stop; killing it");
            send_signal(*pid, "KILL");
            wait_gone(*pid, name, Duration::from_secs(5));
        }
    }
    std::fs::remove_dir_all(root).with_context(|| format!("cannot remove {}", root.display()))?;
    println!("removed {}", root.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_a_folder_that_is_not_a_lab() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("precious.txt"), "keep me").unwrap();
        let err = down(&Layout::new(dir.path())).unwrap_err().to_string();
        assert!(err.contains("lab.json"), "{err}");
        assert!(dir.path().join("precious.txt").exists());
    }

    #[test]
    fn stops_listed_processes_and_removes_the_state() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path().join("state"));
        std::fs::create_dir_all(layout.root()).unwrap();
        std::fs::write(layout.settings_file(), "{}").unwrap();
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pid = child.id();
        // Reap in the background so the stopped child does not linger as a zombie.
        let reaper = std::thread::spawn(move || child.wait());
        write_pid_file(&layout, 999_999_999, &[(pid, "sleep".to_string())]).unwrap();
        assert_eq!(read_pid_file(&layout.pid_file()).len(), 2);
        // Until exec, the child's command line is still the test binary's.
        let deadline = Instant::now() + Duration::from_secs(5);
        while !is_running(pid, "sleep") && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(is_running(pid, "sleep"));
        down(&layout).unwrap();
        assert!(!layout.root().exists());
        assert!(!reaper.join().unwrap().unwrap().success());
    }
}
