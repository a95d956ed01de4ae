//! A network namespace held open by a file descriptor: created by a thread
//! that unshares, entered by short-lived threads, gone when dropped.

use std::fs::File;
use std::os::fd::{AsRawFd, RawFd};

use crate::error::{Error, Result};
use crate::netlink::{Request, Socket};
use crate::op::Op;

/// A network namespace that lives as long as this value.
#[derive(Debug)]
pub struct Netns {
    fd: File,
    label: String,
}

fn set_thread_ns(fd: RawFd, op: &str) -> Result<()> {
    // SAFETY: setns on a namespace descriptor we hold open.
    if unsafe { libc::setns(fd, libc::CLONE_NEWNET) } != 0 {
        return Err(permission_or_io(op, std::io::Error::last_os_error()));
    }
    Ok(())
}

fn permission_or_io(op: &str, e: std::io::Error) -> Error {
    match e.raw_os_error() {
        Some(libc::EPERM) => Error::Permission {
            op: op.into(),
            needs: "CAP_SYS_ADMIN to create or enter network namespaces".into(),
        },
        _ => Error::io(op, e),
    }
}

impl Netns {
    /// Creates a fresh network namespace with its loopback up.
    pub fn new(label: &str) -> Result<Netns> {
        let op = format!("create network namespace {label}");
        let fd = std::thread::scope(|s| {
            s.spawn(|| {
                // SAFETY: unshare affects only this short-lived thread.
                if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
                    return Err(permission_or_io(&op, std::io::Error::last_os_error()));
                }
                File::open("/proc/thread-self/ns/net").map_err(|e| Error::io(&op, e))
            })
            .join()
            .map_err(|_| Error::internal(&op, "the namespace thread panicked"))?
        })?;
        let ns = Netns {
            fd,
            label: label.to_string(),
        };
        ns.apply(&[Op::SetUp {
            name: "lo".parse()?,
            up: true,
        }])?;
        Ok(ns)
    }

    /// Its label.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// A descriptor of the namespace (valid while `self` lives).
    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Runs `f` on a new thread inside this namespace and returns its result.
    /// Sockets `f` opens stay in this namespace wherever they are used.
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> Result<T> {
        let op = format!("enter network namespace {}", self.label);
        std::thread::scope(|s| {
            s.spawn(|| -> Result<T> {
                set_thread_ns(self.fd(), &op)?;
                Ok(f())
            })
            .join()
            .map_err(|p| {
                let msg = p
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                Error::internal(&op, format!("the thread panicked: {msg}"))
            })?
        })
    }

    /// A netlink socket inside this namespace.
    pub fn socket(&self) -> Result<Socket> {
        self.run(Socket::open)?
    }

    /// Applies `ops` inside this namespace directly (no lock, no journal):
    /// for building a world, never for changing a host.
    pub fn apply(&self, ops: &[Op]) -> Result<()> {
        let mut sock = self.socket()?;
        crate::txn::direct(&mut sock, ops)
    }

    /// Creates veth `name` here with its other end `peer` in `other`.
    pub fn veth_to(&self, name: &str, other: &Netns, peer: &str) -> Result<()> {
        let mut sock = self.socket()?;
        let req = Request::NewVethAcross {
            name: name.parse()?,
            peer: peer.parse()?,
            peer_netns_fd: other.fd(),
        };
        crate::txn::send_one(
            &mut sock,
            &req,
            &format!("create veth {name} with {peer} in {}", other.label),
        )
    }

    /// A [`crate::Host`] for this namespace, with state kept in `state_dir`.
    pub fn host(&self, state_dir: &std::path::Path) -> Result<crate::Host> {
        let dir = state_dir.to_path_buf();
        self.run(move || crate::Host::open().map(|h| h.with_state_dir(dir)))?
    }
}
