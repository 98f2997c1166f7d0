//! A child process that cannot outlive its test: killed (SIGKILL) and reaped on drop.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;

/// A running program whose stdout and stderr go to a log file.
#[derive(Debug)]
pub struct ChildGuard {
    child: Option<Child>,
    log: PathBuf,
}

impl ChildGuard {
    /// Starts `command` with both output streams appended to `log`.
    pub fn spawn(mut command: Command, log: &Path) -> anyhow::Result<ChildGuard> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| format!("cannot open log {}", log.display()))?;
        let stderr = file
            .try_clone()
            .context("cannot duplicate the log file handle")?;
        command.stdin(Stdio::null()).stdout(file).stderr(stderr);
        let child = command
            .spawn()
            .with_context(|| format!("cannot start {command:?}"))?;
        Ok(ChildGuard {
            child: Some(child),
            log: log.to_path_buf(),
        })
    }

    pub fn id(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// `Some(status)` once the process has exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// The last `max_bytes` of the log, for failure messages.
    pub fn log_tail(&self, max_bytes: usize) -> String {
        let text = std::fs::read(&self.log).unwrap_or_default();
        let start = text.len().saturating_sub(max_bytes);
        String::from_utf8_lossy(&text[start..]).into_owned()
    }

    /// SIGKILL (`kill -9`) and reap.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, then wait up to `grace` for a clean exit (SIGKILL after that).
    pub fn terminate(&mut self, grace: Duration) -> anyhow::Result<Option<ExitStatus>> {
        let Some(mut child) = self.child.take() else {
            return Ok(None);
        };
        let sent = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        if !matches!(sent, Ok(s) if s.success()) {
            let _ = child.kill();
            let _ = child.wait();
            anyhow::bail!("could not send SIGTERM to {}", child.id());
        }
        let deadline = Instant::now() + grace;
        loop {
            if let Some(status) = child.try_wait().context("waiting for the child")? {
                return Ok(Some(status));
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                anyhow::bail!(
                    "process {} did not exit within {grace:?} of SIGTERM",
                    child.id()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

impl ChildGuard {
    /// Takes ownership of an already started child (its output handled by the caller); `log`
    /// is only named in messages.
    pub fn adopt(child: Child, log: &Path) -> ChildGuard {
        ChildGuard {
            child: Some(child),
            log: log.to_path_buf(),
        }
    }
}
