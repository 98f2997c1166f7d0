//! The real `kubectl`, always with its own `--kubeconfig` and `--cache-dir` so tests never read
//! or write the user's `~/.kube`.

use std::ffi::OsStr;
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::process::ChildGuard;

/// How long one kubectl command may take before the test gives up on it.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// One kubectl binary bound to one kubeconfig.
#[derive(Debug, Clone)]
pub struct Kubectl {
    pub binary: PathBuf,
    pub kubeconfig: PathBuf,
    pub cache_dir: PathBuf,
}

/// What a finished command printed.
#[derive(Debug, Clone)]
pub struct Output {
    pub success: bool,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl std::fmt::Display for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {:?}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

impl Kubectl {
    pub fn new(
        binary: impl Into<PathBuf>,
        kubeconfig: impl Into<PathBuf>,
        cache_dir: impl Into<PathBuf>,
    ) -> Kubectl {
        Kubectl {
            binary: binary.into(),
            kubeconfig: kubeconfig.into(),
            cache_dir: cache_dir.into(),
        }
    }

    /// The same binary with another kubeconfig (and its own discovery cache).
    pub fn with_kubeconfig(&self, kubeconfig: &Path, cache_dir: &Path) -> Kubectl {
        Kubectl::new(&self.binary, kubeconfig, cache_dir)
    }

    fn command<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut command = Command::new(&self.binary);
        command
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(&self.cache_dir)
            .args(args)
            .env("HOME", self.cache_dir.parent().unwrap_or(&self.cache_dir))
            .env_remove("KUBECONFIG");
        command
    }

    /// Runs a command to completion (killing it after a minute).
    pub fn run<I, S>(&self, args: I) -> anyhow::Result<Output>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut command = self.command(args);
        let description = format!("{command:?}");
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let child = command
            .spawn()
            .with_context(|| format!("cannot start {description}"))?;
        let pid = child.id();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait_with_output());
        });
        let output = match rx.recv_timeout(COMMAND_TIMEOUT) {
            Ok(output) => output.with_context(|| format!("waiting for {description}"))?,
            Err(_) => {
                let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
                anyhow::bail!("{description} did not finish within {COMMAND_TIMEOUT:?}");
            }
        };
        Ok(Output {
            success: output.status.success(),
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        })
    }

    /// Runs a command that must succeed; returns its stdout.
    pub fn ok<I, S>(&self, args: I) -> anyhow::Result<String>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let args: Vec<S> = args.into_iter().collect();
        let shown: Vec<String> = args
            .iter()
            .map(|a| a.as_ref().to_string_lossy().into_owned())
            .collect();
        let output = self.run(args)?;
        anyhow::ensure!(
            output.success,
            "`kubectl {}` failed: {output}",
            shown.join(" ")
        );
        Ok(output.stdout)
    }

    /// Waits until `args` succeed with this kubectl's credentials (`accepted`) or are refused
    /// as unauthenticated (401) (`!accepted`); the error carries `log()`.
    pub fn wait_credentials(
        &self,
        args: &[&str],
        accepted: bool,
        log: &dyn Fn() -> String,
    ) -> anyhow::Result<()> {
        crate::wait::until(
            if accepted {
                "the credentials to be accepted"
            } else {
                "the credentials to be refused"
            },
            Duration::from_secs(20),
            Duration::from_millis(50),
            || {
                let output = self.run(args).map_err(|e| e.to_string())?;
                let refused = output
                    .stderr
                    .contains("error: You must be logged in to the server (Unauthorized)");
                Ok(match (output.success, refused) {
                    (true, _) if accepted => Some(()),
                    (false, true) if !accepted => Some(()),
                    _ => None,
                })
            },
        )
        .map_err(|e| e.context(log()))
    }

    /// Starts a long-running command (e.g. `get csr -w`) whose stdout lines are read as they come.
    pub fn spawn_lines<I, S>(&self, args: I, log_dir: &Path) -> anyhow::Result<LineStream>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut command = self.command(args);
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command
            .spawn()
            .with_context(|| format!("cannot start {command:?}"))?;
        let (tx, rx) = mpsc::channel();
        for reader in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(reader).lines() {
                    let Ok(line) = line else { break };
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        let guard = ChildGuard::adopt(child, &log_dir.join("kubectl-stream.log"));
        Ok(LineStream {
            _child: guard,
            lines: rx,
            seen: Vec::new(),
        })
    }
}

/// Lines of a running command; the command is killed when this is dropped.
#[derive(Debug)]
pub struct LineStream {
    _child: ChildGuard,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl LineStream {
    /// Waits (bounded) for a line matching `wanted`; returns it.
    pub fn wait_for(
        &mut self,
        what: &str,
        timeout: Duration,
        wanted: impl Fn(&str) -> bool,
    ) -> anyhow::Result<String> {
        if let Some(line) = self.seen.iter().find(|l| wanted(l)) {
            return Ok(line.clone());
        }
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let matched = wanted(&line);
                    self.seen.push(line.clone());
                    if matched {
                        return Ok(line);
                    }
                }
                Err(_) => anyhow::bail!(
                    "no line with {what} within {timeout:?}; lines so far: {:#?}",
                    self.seen
                ),
            }
        }
    }

    pub fn seen(&self) -> &[String] {
        &self.seen
    }
}

/// The cells of kubectl's printed table, one row per line, header first (split on whitespace,
/// so a header like `NOMINATED NODE` is two cells).
pub fn table(output: &str) -> Vec<Vec<&str>> {
    output
        .lines()
        .map(|line| line.split_whitespace().collect())
        .collect()
}
