//! Durability across a real `kill -9`: this test binary re-runs itself as a child that writes
//! and prints each acknowledged write; the parent kills it mid-stream with SIGKILL, reopens the
//! store and finds every acknowledged object.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use store::{Key, Store};

const CSRS: &str = "certificates.k8s.io/certificatesigningrequests";
const CHILD_DIR_VAR: &str = "STORE_CRASH_CHILD_DATA_DIR";
const CHILD_TEST: &str = "crash_child_writer";
const WRITERS: usize = 16;

/// The child's entry point: writes until killed, printing `ACK <name> <rv>` after each
/// acknowledged write. Only run by `acknowledged_writes_survive_sigkill`.
#[test]
#[ignore = "entry point of the child process that acknowledged_writes_survive_sigkill kills"]
fn crash_child_writer() {
    let Ok(data_dir) = std::env::var(CHILD_DIR_VAR) else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let store = Store::open(&data_dir).unwrap();
        let tasks: Vec<_> = (0..WRITERS)
            .map(|w| {
                let store = store.clone();
                tokio::spawn(async move {
                    // Bounded so a child the parent failed to kill still ends.
                    for i in 0..100_000 {
                        let name = format!("w{w}-{i}");
                        let stored = store
                            .create(
                                &Key::new(CSRS, "", &name),
                                json!({"metadata": {"name": name}}),
                            )
                            .await
                            .unwrap();
                        // println! locks stdout and writes the whole line at once.
                        println!("ACK {name} {}", stored.rv);
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
    });
}

#[test]
fn acknowledged_writes_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            CHILD_TEST,
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DIR_VAR, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();

    let mut acknowledged: BTreeMap<String, u64> = BTreeMap::new();
    let record = |line: &str, acknowledged: &mut BTreeMap<String, u64>| {
        if let Some(rest) = line.strip_prefix("ACK ") {
            let (name, rv) = rest.split_once(' ').expect("ACK <name> <rv>");
            acknowledged.insert(name.to_owned(), rv.parse().unwrap());
        }
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    while acknowledged.len() < 500 {
        assert!(Instant::now() < deadline, "the child wrote too slowly");
        let line = lines
            .next()
            .expect("the child exited before it was killed")
            .unwrap();
        record(&line, &mut acknowledged);
    }
    // Child::kill sends SIGKILL on Unix: no destructors, no flush, no clean close.
    child.kill().unwrap();
    // Acks printed before the kill are still in the pipe: they count too.
    for line in lines {
        let Ok(line) = line else { break };
        record(&line, &mut acknowledged);
    }
    let status = child.wait().unwrap();
    assert!(
        !status.success(),
        "the child must have been killed, got {status}"
    );

    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async {
        let store = Store::open(dir.path()).unwrap();
        let revision = store.current_revision().await.unwrap();
        let max_acked = acknowledged.values().copied().max().unwrap();
        assert!(
            revision >= max_acked,
            "revision {revision} < acknowledged {max_acked}"
        );
        for (name, rv) in &acknowledged {
            let stored = store
                .get(&Key::new(CSRS, "", name))
                .await
                .unwrap_or_else(|e| panic!("acknowledged {name} lost: {e}"));
            assert_eq!(stored.rv, *rv, "{name}");
        }
        // The store keeps working after the crash, above the old revision.
        let next = store
            .create(&Key::new(CSRS, "", "after-crash"), json!({"metadata": {}}))
            .await
            .unwrap();
        assert!(next.rv > revision);
    });
}
