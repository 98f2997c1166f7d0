//! The lab's child processes: started in their own process group (so a Ctrl-C in the terminal
//! reaches only `lab`, which then stops them in order), output appended to one log file each,
//! stopped with SIGTERM, a grace period, then SIGKILL.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use anyhow::Context as _;
use tokio::process::{Child, Command};

/// One running program.
#[derive(Debug)]
struct Program {
    name: String,
    child: Child,
    log: PathBuf,
}

/// How a program ended.
#[derive(Debug)]
pub struct Exit {
    pub name: String,
    pub status: ExitStatus,
    pub log: PathBuf,
}

/// Every program the lab started, in start order.
#[derive(Debug, Default)]
pub struct Supervisor {
    programs: Vec<Program>,
}

impl Supervisor {
    /// Starts `binary args...` with stdout and stderr appended to `log`.
    pub fn spawn(
        &mut self,
        name: &str,
        binary: &Path,
        args: &[String],
        log: &Path,
    ) -> anyhow::Result<u32> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| format!("cannot open log {}", log.display()))?;
        let stderr = file.try_clone().context("cannot duplicate a log handle")?;
        let mut command = Command::new(binary);
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(stderr)
            .process_group(0)
            .kill_on_drop(true);
        let child = command
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        let pid = child.id().unwrap_or(0);
        self.programs.push(Program {
            name: name.to_string(),
            child,
            log: log.to_path_buf(),
        });
        Ok(pid)
    }

    /// `(pid, name)` of every running program.
    pub fn pids(&self) -> Vec<(u32, String)> {
        self.programs
            .iter()
            .filter_map(|p| p.child.id().map(|pid| (pid, p.name.clone())))
            .collect()
    }

    /// Resolves when any program exits (it is then forgotten). Pending forever when none runs.
    pub async fn next_exit(&mut self) -> Exit {
        loop {
            for index in 0..self.programs.len() {
                if let Ok(Some(status)) = self.programs[index].child.try_wait() {
                    let program = self.programs.remove(index);
                    return Exit {
                        name: program.name,
                        status,
                        log: program.log,
                    };
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Stops every program, last started first: SIGTERM, up to `grace` to exit, then SIGKILL.
    /// Returns each program's name and how it ended.
    pub async fn stop_all(&mut self, grace: Duration) -> Vec<(String, String)> {
        let mut outcomes = Vec::new();
        while let Some(mut program) = self.programs.pop() {
            let outcome = stop(&mut program.child, grace).await;
            outcomes.push((program.name, outcome));
        }
        outcomes
    }
}

async fn stop(child: &mut Child, grace: Duration) -> String {
    if let Ok(Some(status)) = child.try_wait() {
        return format!("had already exited ({status})");
    }
    if let Some(pid) = child.id() {
        send_signal(pid, "TERM");
    }
    match tokio::time::timeout(grace, child.wait()).await {
        Ok(Ok(status)) if status.success() => "stopped".to_string(),
        Ok(Ok(status)) => format!("stopped ({status})"),
        Ok(Err(e)) => format!("could not be waited for: {e}"),
        Err(_) => {
            let _ = child.kill().await;
            format!("did not stop within {grace:?} of SIGTERM; killed")
        }
    }
}

/// `kill -<signal> <pid>`; the workspace forbids `unsafe`, so no direct `libc::kill`.
pub fn send_signal(pid: u32, signal: &str) -> bool {
    std::process::Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The last `lines` lines of a log file.
pub fn log_tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read(path).unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reports_an_exit_and_stops_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("x.log");
        let mut supervisor = Supervisor::default();
        let sh = Path::new("/bin/sh");
        supervisor
            .spawn("sleeper", sh, &["-c".into(), "sleep 30".into()], &log)
            .unwrap();
        supervisor
            .spawn(
                "crasher",
                sh,
                &["-c".into(), "echo line1; echo boom >&2; exit 3".into()],
                &dir.path().join("crasher.log"),
            )
            .unwrap();
        let exit = tokio::time::timeout(Duration::from_secs(10), supervisor.next_exit())
            .await
            .expect("an exit");
        assert_eq!(exit.name, "crasher");
        assert_eq!(exit.status.code(), Some(3));
        assert_eq!(log_tail(&exit.log, 1), "boom");
        assert_eq!(supervisor.pids().len(), 1);
        let outcomes = supervisor.stop_all(Duration::from_secs(5)).await;
        assert_eq!(outcomes.len(), 1);
        // sh dies of SIGTERM: not a success status, but stopped within the grace period.
        assert!(outcomes[0].1.starts_with("stopped"), "{outcomes:?}");
        assert!(supervisor.pids().is_empty());
    }
}
