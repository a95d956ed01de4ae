//! [`Host`]: one network namespace and its state directory, the handle every
//! front end (CLI, C ABI, Rust callers) goes through.

mod hotplug;
mod takeover;
mod vif;
mod watch;

pub use hotplug::{BatchOutcome, NetworkBridgeOutcome, VifBridgeOutcome};
pub use takeover::{StartOutcome, StopOutcome};
pub use vif::VifOutcome;
pub use watch::{WatchOptions, WatchReport, WatchSummary};

use std::fs::File;
use std::os::fd::AsRawFd;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::journal::{self, Unfinished};
use crate::netlink::Socket;
use crate::plan::Plan;
use crate::state::Snapshot;
use crate::txn::{self, Applied, StateDir};

/// A network namespace to work in, with its state directory.
pub struct Host {
    sock: Socket,
    dir: StateDir,
    lock_timeout: Duration,
    faults: txn::Faults,
}

/// What [`Host::recover`] did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Recovered {
    /// There was no unfinished transaction.
    Nothing,
    /// The transaction described was undone and its journal removed.
    Undone {
        /// What it had been doing.
        what: String,
        /// Its process id.
        pid: u32,
        /// How many steps' undo were replayed.
        steps: usize,
    },
}

/// True when this process has CAP_NET_ADMIN in its user namespace.
pub fn has_cap_net_admin() -> bool {
    const CAP_NET_ADMIN: u32 = 12;
    // capget(2) first: one system call, where reading /proc/self/status
    // is an open, eight reads and a close on every transaction.
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy, Default)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;
    let mut header = Header {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let mut data = [Data::default(); 2];
    let (h, d): (*mut Header, *mut Data) = (&mut header, data.as_mut_ptr());
    // SAFETY: capget with a version-3 header and the two data structs that
    // version fills, both alive for the call.
    if unsafe { libc::syscall(libc::SYS_capget, h, d) } == 0 {
        return data[0].effective & (1 << CAP_NET_ADMIN) != 0;
    }
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapEff:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .is_some_and(|caps| caps & (1 << CAP_NET_ADMIN) != 0)
}

/// Runs `f` with the calling thread in the network namespace at
/// `/run/netns/NAME` (as `ip -n NAME` does), then moves the thread back.
pub fn in_named_netns<T>(name: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    let op = format!("enter network namespace {name}");
    if name.is_empty() || name.contains('/') || name == "." || name == ".." {
        return Err(Error::invalid(
            op,
            "a namespace name is one path component of /run/netns",
        ));
    }
    let target = File::open(format!("/run/netns/{name}")).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::not_found(&op, format!("/run/netns/{name}")),
        _ => Error::io(&op, e),
    })?;
    let home = File::open("/proc/thread-self/ns/net").map_err(|e| Error::io(&op, e))?;
    let enter = |fd: &File, what: &str| {
        // SAFETY: setns on namespace file descriptors we own.
        if unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            let e = std::io::Error::last_os_error();
            return Err(match e.raw_os_error() {
                Some(libc::EPERM) => Error::Permission {
                    op: what.to_string(),
                    needs: "CAP_SYS_ADMIN".into(),
                },
                _ => Error::io(what, e),
            });
        }
        Ok(())
    };
    enter(&target, &op)?;
    let out = f();
    enter(&home, "return to the original network namespace")?;
    out
}

impl Host {
    /// The current network namespace, with its default state directory
    /// (`XENBR_STATE_DIR`, else `/run/xenbr`, see [`StateDir::default_for`]).
    pub fn open() -> Result<Host> {
        Ok(Host {
            sock: Socket::open()?,
            dir: StateDir::default_for(None),
            lock_timeout: Duration::from_secs(30),
            faults: txn::Faults::default(),
        })
    }

    /// The network namespace `/run/netns/NAME` (`ip -n NAME`), with its own
    /// state directory. Only this handle's socket lives there; the calling
    /// thread is back in its own namespace when this returns.
    pub fn open_netns(name: &str) -> Result<Host> {
        let sock = in_named_netns(name, Socket::open)?;
        Ok(Host {
            sock,
            dir: StateDir::default_for(Some(name)),
            lock_timeout: Duration::from_secs(30),
            faults: txn::Faults::default(),
        })
    }

    /// Uses `dir` as the state directory.
    pub fn with_state_dir(mut self, dir: impl Into<std::path::PathBuf>) -> Host {
        self.dir = StateDir::at(dir);
        self
    }

    /// Waits at most `t` for another xenbr's lock.
    pub fn with_lock_timeout(mut self, t: Duration) -> Host {
        self.lock_timeout = t;
        self
    }

    /// Test hook: fail step `fail_step` (from 1) or SIGKILL the process after
    /// `crash_after` steps, in every transaction of this handle. Has no
    /// effect in release builds.
    #[doc(hidden)]
    pub fn test_faults(mut self, fail_step: Option<usize>, crash_after: Option<usize>) -> Host {
        self.faults = txn::Faults {
            fail_step,
            crash_after,
            crash_journaled: None,
        };
        self
    }

    /// The state directory.
    pub fn state_dir(&self) -> &StateDir {
        &self.dir
    }

    /// Reads links, addresses and routes (`ip link; ip addr; ip route show table all`).
    pub fn snapshot(&mut self) -> Result<Snapshot> {
        self.sock.snapshot()
    }

    /// Everything `xenbr status` shows: the snapshot, the recorded
    /// takeovers, and a transaction that was cut off, if any.
    pub fn status(&mut self) -> Result<crate::status::Status> {
        let snapshot = self.sock.snapshot()?;
        let records = crate::records::Records::parse(self.dir.read_records()?.as_deref())?;
        Ok(crate::status::Status::new(
            snapshot,
            records,
            self.unfinished()?.as_ref(),
        ))
    }

    /// The journal of an unfinished transaction, if one was cut off in this
    /// boot. (One from an earlier boot is stale: the next transaction or
    /// `recover` removes it.)
    pub fn unfinished(&self) -> Result<Option<Unfinished>> {
        Ok(journal::read(self.dir.path())?.filter(|u| !u.is_stale()))
    }

    /// Removes a journal left by an earlier boot; the caller holds the lock.
    fn drop_stale_journal(&self) -> Result<()> {
        if journal::read(self.dir.path())?.is_some_and(|u| u.is_stale()) {
            journal::remove(&journal::Journal::path_in(self.dir.path()))?;
        }
        Ok(())
    }

    /// Plans with `planner` from a fresh snapshot and the state records, and
    /// applies the plan as one transaction, all under the lock. The planner
    /// returns the plan and, optionally, new records to store on success.
    pub fn transact<T>(
        &mut self,
        what: &str,
        planner: impl FnOnce(&Snapshot, Option<&str>) -> Result<(Plan, Option<Option<String>>, T)>,
    ) -> Result<(Applied, T)> {
        self.transact_in(what, None, planner)
    }

    /// [`Host::transact`], planning from only the part of the host `scope`
    /// names (all of it when `None`): what keeps attaching one interface on a
    /// host with thousands as cheap as `ip link set`.
    pub fn transact_in<T>(
        &mut self,
        what: &str,
        scope: Option<&crate::netlink::Scope>,
        planner: impl FnOnce(&Snapshot, Option<&str>) -> Result<(Plan, Option<Option<String>>, T)>,
    ) -> Result<(Applied, T)> {
        let _lock = self
            .dir
            .lock(self.lock_timeout)
            .map_err(|e| e.context(what))?;
        self.clear_stale_or_refuse(what)?;
        let before = match scope {
            Some(s) => self.sock.snapshot_of(s)?,
            None => self.sock.snapshot()?,
        };
        let records = self.dir.read_records()?;
        let (plan, new_records, extra) = planner(&before, records.as_deref())?;
        if !plan.is_empty() && !has_cap_net_admin() {
            return Err(Error::Permission {
                op: what.to_string(),
                needs: "CAP_NET_ADMIN (run as root)".into(),
            });
        }
        let applied = txn::run(
            &mut self.sock,
            &self.dir,
            what,
            &before,
            &plan,
            txn::RecordsChange {
                before: records,
                after: new_records,
            },
            self.faults,
        )
        .map_err(|e| e.context(what))?;
        Ok((applied, extra))
    }

    /// Plans without applying: what `xenbr plan` shows. Takes no lock.
    pub fn preview<T>(
        &mut self,
        planner: impl FnOnce(&Snapshot, Option<&str>) -> Result<(Plan, T)>,
    ) -> Result<(Plan, T)> {
        let before = self.sock.snapshot()?;
        let records = self.dir.read_records()?;
        planner(&before, records.as_deref())
    }

    /// Removes a journal left by an earlier boot, or refuses to start while
    /// one of this boot is unfinished: one read of the journal for both.
    fn clear_stale_or_refuse(&self, what: &str) -> Result<()> {
        match journal::read(self.dir.path())? {
            Some(u) if u.is_stale() => journal::remove(&journal::Journal::path_in(self.dir.path())),
            Some(u) => Err(self.unfinished_error(what, &u)),
            None => Ok(()),
        }
    }

    fn unfinished_error(&self, what: &str, u: &Unfinished) -> Error {
        let who = if u.owner_alive() {
            "still running"
        } else {
            "no longer running"
        };
        Error::conflict(
            what,
            format!(
                "an unfinished transaction ({:?}, pid {} {who}) left a journal in {}; run `xenbr recover` first",
                u.what,
                u.pid,
                self.dir.path().display()
            ),
        )
    }

    /// Undoes a transaction that was cut off (the process killed half-way),
    /// restoring the host and the state records to what they were before it,
    /// then removes its journal. Safe to run at any time.
    pub fn recover(&mut self) -> Result<Recovered> {
        let what = "recover";
        let _lock = self
            .dir
            .lock(self.lock_timeout)
            .map_err(|e| e.context(what))?;
        self.drop_stale_journal()?;
        let Some(u) = self.unfinished()? else {
            return Ok(Recovered::Nothing);
        };
        if !has_cap_net_admin() {
            return Err(Error::Permission {
                op: what.into(),
                needs: "CAP_NET_ADMIN (run as root)".into(),
            });
        }
        let failures = txn::replay(&mut self.sock, &u.undo, &u.created);
        if !failures.is_empty() {
            return Err(Error::RollbackFailed {
                cause: Box::new(Error::conflict(
                    what,
                    format!(
                        "undoing the unfinished transaction {:?} (pid {})",
                        u.what, u.pid
                    ),
                )),
                failures,
            });
        }
        self.dir.write_records(u.records_before.as_deref())?;
        journal::remove(&journal::Journal::path_in(self.dir.path()))?;
        Ok(Recovered::Undone {
            what: u.what,
            pid: u.pid,
            steps: u.undo.len(),
        })
    }
}
