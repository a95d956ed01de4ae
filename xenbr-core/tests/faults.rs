//! Nothing lost, whatever step fails: for every step k of each takeover plan
//! (classic and bridge mode, start and stop), a failure injected at step k
//! leaves a snapshot equal to the one before, and a process killed with
//! SIGKILL right after step k, followed by `recover`, does too.
//!
//! One world serves every k of a case: each rollback or recovery must put it
//! back exactly, or the next k starts from a wrong state and fails.

#[path = "support/crash.rs"]
mod crash;
#[path = "support/netns.rs"]
mod support;

use std::path::Path;

use xenbr_core::{ErrorKind, Host, Mode, Recovered, StartRequest, StopRequest};

#[derive(Clone, Copy, Debug)]
enum Phase {
    Start,
    Stop,
}

fn request(mode: Mode) -> StartRequest {
    StartRequest {
        mode,
        pairs: vec![],
    }
}

fn run(host: &mut Host, phase: Phase, mode: Mode) -> xenbr_core::Result<()> {
    match phase {
        Phase::Start => host.start(&request(mode)).map(drop),
        Phase::Stop => host.stop(&StopRequest::default()).map(drop),
    }
}

/// Runs `phase` in a child process inside `netns_path` that SIGKILLs itself
/// at test hook `hook` = `k`; returns whether it died of SIGKILL.
fn crash_child(
    netns_path: &str,
    state: &Path,
    phase: Phase,
    mode: Mode,
    hook: &str,
    k: usize,
) -> bool {
    let (phase, mode) = (format!("{phase:?}"), mode.to_string());
    let job = [("XENBR_CHILD_PHASE", &*phase), ("XENBR_CHILD_MODE", &*mode)];
    matches!(
        crash::crash_child(netns_path, state, &job, hook, k),
        crash::Crash::Killed
    )
}

/// The child's side of `crash_child` (does nothing when run as a test).
#[test]
fn child() {
    let Some(mut host) = crash::child_host() else {
        return;
    };
    let mode: Mode = std::env::var("XENBR_CHILD_MODE").unwrap().parse().unwrap();
    let phase = match std::env::var("XENBR_CHILD_PHASE").unwrap().as_str() {
        "Start" => Phase::Start,
        _ => Phase::Stop,
    };
    let r = run(&mut host, phase, mode);
    panic!("the child was not killed: {r:?}");
}

fn every_step(test: &str, mode: Mode, phase: Phase) {
    let Some(w) = support::world(test) else {
        return;
    };
    let dir = support::state_dir(test);
    let mut host = w.host.host(&dir).unwrap();
    if let Phase::Stop = phase {
        host.start(&request(mode)).unwrap();
    }
    let before = host.snapshot().unwrap();
    let records = host.records().unwrap();
    let steps = match phase {
        Phase::Start => host.plan_start(&request(mode)).unwrap().plan.steps.len(),
        Phase::Stop => host
            .plan_stop(&StopRequest::default())
            .unwrap()
            .plan
            .steps
            .len(),
    };
    assert!(steps > 10, "{test}: a plan of {steps} steps");
    let netns_path = format!("/proc/{}/fd/{}", std::process::id(), w.host.fd());

    for k in 1..=steps {
        let mut h = w.host.host(&dir).unwrap().test_faults(Some(k), None);
        let e = run(&mut h, phase, mode).unwrap_err();
        assert_eq!(
            e.kind(),
            ErrorKind::RolledBack,
            "{test}: failure at step {k}: {e}"
        );
        assert!(
            e.to_string().contains(&format!("step {k} of {steps}")),
            "{test}: {e}"
        );
        support::assert_same(
            &before,
            &host.snapshot().unwrap(),
            &format!("{test}: failure at step {k}"),
        );
        assert!(
            host.unfinished().unwrap().is_none(),
            "{test}: journal left after a rollback"
        );
        assert_eq!(
            host.records().unwrap(),
            records,
            "{test}: records after a rollback at {k}"
        );
    }

    // A crash after step k, and one with the steps after k journaled but not sent.
    let points = (0..=steps)
        .map(|k| ("XENBR_TEST_CRASH_AFTER", k))
        .chain((0..steps).map(|k| ("XENBR_TEST_CRASH_JOURNALED", k)));
    for (hook, k) in points {
        assert!(
            crash_child(&netns_path, &dir, phase, mode, hook, k),
            "{test}: the child survived {hook}={k}"
        );
        let u = host.unfinished().unwrap().expect("a journal after a crash");
        assert!(!u.owner_alive());
        // A new transaction refuses to run over it.
        let e = run(&mut host, phase, mode).unwrap_err();
        assert!(e.to_string().contains("xenbr recover"), "{test}: {e}");
        match host.recover().unwrap() {
            Recovered::Undone { .. } => {}
            Recovered::Nothing => panic!("{test}: nothing recovered after a crash at {hook}={k}"),
        }
        support::assert_same(
            &before,
            &host.snapshot().unwrap(),
            &format!("{test}: crash at {hook}={k}, then recover"),
        );
        assert!(host.unfinished().unwrap().is_none());
        assert_eq!(
            host.records().unwrap(),
            records,
            "{test}: records after recovery at {k}"
        );
    }
    // And the real thing still works afterwards.
    run(&mut host, phase, mode).unwrap();
}

#[test]
fn classic_start() {
    every_step("faults_classic_start", Mode::Classic, Phase::Start);
}

#[test]
fn classic_stop() {
    every_step("faults_classic_stop", Mode::Classic, Phase::Stop);
}

#[test]
fn bridge_start() {
    every_step("faults_bridge_start", Mode::Bridge, Phase::Start);
}

#[test]
fn bridge_stop() {
    every_step("faults_bridge_stop", Mode::Bridge, Phase::Stop);
}
