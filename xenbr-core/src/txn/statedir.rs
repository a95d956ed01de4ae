//! The state directory: the lock that serialises xenbr's transactions, the
//! journal of the running one, and the records of what `start` set up.
//!
//! Default: `/run/xenbr` in the host's own network namespace,
//! `/run/xenbr/netns/NAME` for a namespace named with `--netns`, and
//! `/run/xenbr/netns/ino-N` for an anonymous one (so a sandbox never shares
//! state with the host). `XENBR_STATE_DIR` overrides all of these.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// The state directory of one network namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateDir {
    path: PathBuf,
}

/// The exclusive lock on a state directory, released when dropped.
#[derive(Debug)]
pub struct Lock {
    _file: File,
}

/// The records file's name in the state directory.
const RECORDS: &str = "records.json";

impl StateDir {
    /// The state directory at `path`.
    pub fn at(path: impl Into<PathBuf>) -> StateDir {
        StateDir { path: path.into() }
    }

    /// The default for the current network namespace (see the module
    /// documentation), or `netns_name`'s when one was named.
    pub fn default_for(netns_name: Option<&str>) -> StateDir {
        if let Some(p) = std::env::var_os("XENBR_STATE_DIR").filter(|p| !p.is_empty()) {
            return StateDir::at(PathBuf::from(p));
        }
        let base = PathBuf::from("/run/xenbr");
        if let Some(n) = netns_name {
            return StateDir::at(base.join("netns").join(n));
        }
        let ino = |p: &str| std::fs::metadata(p).map(|m| m.ino()).ok();
        match (ino("/proc/thread-self/ns/net"), ino("/proc/1/ns/net")) {
            (Some(me), Some(init)) if me != init => {
                StateDir::at(base.join("netns").join(format!("ino-{me}")))
            }
            _ => StateDir::at(base),
        }
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn ensure(&self) -> Result<()> {
        std::fs::create_dir_all(&self.path)
            .map_err(|e| Error::io(format!("create state directory {}", self.path.display()), e))
    }

    /// Takes the exclusive lock, waiting up to `timeout` for another xenbr
    /// to finish.
    pub fn lock(&self, timeout: Duration) -> Result<Lock> {
        self.ensure()?;
        let path = self.path.join("lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io(format!("open lock {}", path.display()), e))?;
        let deadline = Instant::now() + timeout;
        loop {
            // SAFETY: flock on a file descriptor we own.
            if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
                return Ok(Lock { _file: file });
            }
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EWOULDBLOCK) {
                return Err(Error::io(format!("lock {}", path.display()), e));
            }
            if Instant::now() >= deadline {
                return Err(Error::Busy {
                    op: format!("lock {}", path.display()),
                    reason: format!(
                        "another xenbr has held it for more than {}s",
                        timeout.as_secs()
                    ),
                });
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// The records file's content, if there is one.
    pub fn read_records(&self) -> Result<Option<String>> {
        let path = self.path.join(RECORDS);
        match std::fs::read_to_string(&path) {
            Ok(s) => Ok(Some(s)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(format!("read {}", path.display()), e)),
        }
    }

    /// Replaces the records file atomically and durably (`None` removes it).
    pub fn write_records(&self, content: Option<&str>) -> Result<()> {
        self.ensure()?;
        let path = self.path.join(RECORDS);
        let op = || format!("write {}", path.display());
        match content {
            None => match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io(op(), e)),
            },
            Some(c) => {
                let tmp = self.path.join(format!("{RECORDS}.tmp"));
                let mut f = File::create(&tmp).map_err(|e| Error::io(op(), e))?;
                f.write_all(c.as_bytes()).map_err(|e| Error::io(op(), e))?;
                f.sync_data().map_err(|e| Error::io(op(), e))?;
                std::fs::rename(&tmp, &path).map_err(|e| Error::io(op(), e))?;
            }
        }
        File::open(&self.path)
            .and_then(|d| d.sync_all())
            .map_err(|e| Error::io(op(), e))
    }
}
