//! The crash side of the recovery tests: this test binary, run again as a
//! child process inside a test namespace, applies a plan until a test hook
//! (`XENBR_TEST_CRASH_AFTER=k`, `XENBR_TEST_CRASH_JOURNALED=k`) kills it
//! with SIGKILL. Each test binary that uses it has a `child` test calling
//! [`child_main`].
#![allow(dead_code)]

use std::os::fd::AsRawFd;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Command;

use xenbr_core::op::Op;
use xenbr_core::state::compare::diff;
use xenbr_core::{Host, Plan, Snapshot};

/// Runs `ops` on `host` as one transaction.
pub fn run(host: &mut Host, ops: &[Op]) -> xenbr_core::Result<()> {
    host.transact("test plan", |s, _| {
        Ok((Plan::build(s, ops.to_vec())?, None, ()))
    })
    .map(drop)
}

/// The child's side of [`crash`]: runs the plan in `XENBR_CHILD_OPS` inside
/// the namespace `XENBR_CHILD_NETNS` until the hook kills it. Does nothing
/// when run as an ordinary test.
pub fn child_main() {
    let Some(mut host) = child_host() else {
        return;
    };
    let ops: Vec<Op> = serde_json::from_str(&std::env::var("XENBR_CHILD_OPS").unwrap()).unwrap();
    let r = run(&mut host, &ops);
    panic!("the child was not killed: {r:?}");
}

/// In a crash child, enters the namespace `XENBR_CHILD_NETNS` and opens the
/// host there with state directory `XENBR_CHILD_STATE`; `None` when this is
/// not a crash child (the `child` test run as an ordinary test).
pub fn child_host() -> Option<Host> {
    let ns = std::env::var("XENBR_CHILD_NETNS").ok()?;
    let f = std::fs::File::open(ns).unwrap();
    // SAFETY: setns on a namespace descriptor we hold open.
    assert_eq!(unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) }, 0);
    Some(
        Host::open()
            .unwrap()
            .with_state_dir(std::env::var("XENBR_CHILD_STATE").unwrap()),
    )
}

/// How a crash child ended.
#[derive(Debug)]
pub enum Crash {
    /// Killed by the hook, as meant.
    Killed,
    /// It lived: the transaction ended first (a step failed and was rolled
    /// back); what it printed.
    Survived(String),
}

/// Runs `ops` in a child process inside the namespace at `netns` (a
/// `/proc/PID/fd/N` path) with state directory `state`, with test hook
/// `hook` set to `k`.
pub fn crash(netns: &str, state: &Path, ops: &[Op], hook: &str, k: usize) -> Crash {
    let ops = serde_json::to_string(ops).unwrap();
    crash_child(netns, state, &[("XENBR_CHILD_OPS", &ops)], hook, k)
}

/// Runs this test binary's `child` test in a child process inside the
/// namespace at `netns`, with state directory `state`, the variables `job`
/// saying what to run, and test hook `hook` set to `k`.
pub fn crash_child(netns: &str, state: &Path, job: &[(&str, &str)], hook: &str, k: usize) -> Crash {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child", "--nocapture", "--test-threads=1"])
        .env("XENBR_CHILD_NETNS", netns)
        .env("XENBR_CHILD_STATE", state)
        .envs(job.iter().copied())
        .env(hook, k.to_string())
        .output()
        .unwrap();
    if out.status.signal() == Some(libc::SIGKILL) {
        Crash::Killed
    } else {
        Crash::Survived(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// The differences between `before` and the host now, as lines (empty: the
/// same host). MACs `before` does not know are taken from the host.
pub fn changes(host: &mut Host, before: &Snapshot) -> Vec<String> {
    let after = host.snapshot().unwrap();
    let mut want = before.clone();
    want.adopt_unknown_macs(&after);
    diff(&want, &after)
}
