//! Test harness for everything that touches links: each test builds its own
//! network namespaces (never the host's). Without the privilege to create
//! them a test prints a SKIP line and passes, unless `XENBR_REQUIRE_NETNS=1`
//! (which `.ci/run` sets), where a skip is a failure.
#![allow(dead_code)]

use std::io::Write;
use std::path::PathBuf;

use xenbr_core::sandbox::{Netns, World};
use xenbr_core::{ErrorKind, Result};

fn required() -> bool {
    std::env::var("XENBR_REQUIRE_NETNS").is_ok_and(|v| v == "1")
}

fn or_skip<T>(test: &str, r: Result<T>) -> Option<T> {
    match r {
        Ok(v) => Some(v),
        Err(e) if e.kind() == ErrorKind::Permission && !required() => {
            let _ = writeln!(
                std::io::stderr(),
                "SKIP {test}: cannot create network namespaces: {e}"
            );
            None
        }
        Err(e) => panic!("{test}: cannot build the test namespaces: {e}"),
    }
}

/// The simulated host of the foundation issue, or `None` after a SKIP line.
pub fn world(test: &str) -> Option<World> {
    or_skip(test, World::new())
}

/// An empty namespace, or `None` after a SKIP line.
pub fn netns(test: &str) -> Option<Netns> {
    or_skip(test, Netns::new(test))
}

/// A fresh state directory for `test`.
pub fn state_dir(test: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("state")
        .join(format!("{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// `let w = world!("name");` or return (skipped).
#[macro_export]
macro_rules! world {
    ($t:expr) => {
        match support::world($t) {
            Some(w) => w,
            None => return,
        }
    };
}

/// Stops a link-event stream when dropped, so that a test failing while a
/// watch runs on another thread unwinds instead of waiting for it for ever.
pub struct StopOnDrop(pub xenbr_core::netlink::Stopper);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.stop();
    }
}

/// Asserts two snapshots are the same host, printing the differences.
#[track_caller]
pub fn assert_same(before: &xenbr_core::Snapshot, after: &xenbr_core::Snapshot, what: &str) {
    let d = xenbr_core::state::compare::diff(before, after);
    assert!(
        d.is_empty(),
        "{what}: the host changed:\n  {}",
        d.join("\n  ")
    );
}
