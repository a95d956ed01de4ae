//! The write-ahead undo log of a transaction: `journal` in the state
//! directory, one JSON object per line, synced to disk before the steps it
//! covers are sent. It exists only while a transaction runs; finding one means
//! a transaction was cut off, and [`crate::Host::recover`] replays its undo.
//!
//! What is synced, and why: the journal guards against the process dying
//! half-way, which loses nothing the kernel holds. The undo of each segment is
//! `fdatasync`ed before the segment is sent, as a write-ahead log must be;
//! creating and removing the file are not synced, since a power loss or kernel
//! crash takes the network configuration with it. A journal that outlives its
//! boot (a state directory on disk) names kernel indices of another boot, so
//! it records the boot id and [`read`] reports it as stale rather than
//! letting anyone replay it.
//!
//! Lines: a `begin` (what, who, when, and the state records as they were),
//! then `undo` entries (a step's undo ops with the kernel indices of the links
//! they name, as known when written), and `created` entries (the index of a
//! link the transaction created, learnt after creating it). A torn last line,
//! from a crash during a write, is ignored: its steps had not been sent.

mod line;

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use smallvec::SmallVec;

use crate::error::{Error, Result};
use crate::names::IfName;
use crate::op::Op;

/// An op with the kernel indices of the links it names, as known when the
/// entry was written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoundOp {
    /// The op.
    pub op: Op,
    /// `(name, index)` for each link the op names whose index was known. For
    /// an op that re-creates a link (the undo of a delete): the indices the
    /// deleted link had, which the re-created one replaces.
    #[serde(default, skip_serializing_if = "SmallVec::is_empty")]
    pub at: BoundLinks,
}

/// The `(name, index)` pairs of a [`BoundOp`], held inline up to two (one
/// link for most ops, two for a master's): a batch of guests journals
/// thousands of them.
pub type BoundLinks = SmallVec<[(IfName, u32); 2]>;

/// One line of the journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Entry {
    /// The transaction started.
    Begin {
        /// What it was doing ("start netdev=eth0 bridge=xenbr0").
        what: String,
        /// The process that ran it.
        pid: u32,
        /// Seconds since the epoch.
        started: u64,
        /// The state records file before the transaction (`None`: absent).
        records_before: Option<String>,
        /// `/proc/sys/kernel/random/boot_id` when it was written.
        #[serde(default)]
        boot_id: String,
    },
    /// The undo of one step, to be applied in order.
    Undo {
        /// The step's number, from 1.
        step: usize,
        /// The step itself when it sets a link's MTU, MAC, master or state
        /// (see [`StepUndo::did`]).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        did: Option<Box<BoundOp>>,
        /// The undo ops.
        ops: Vec<BoundOp>,
    },
    /// A link the transaction created, and its index.
    Created {
        /// Its name when created.
        name: IfName,
        /// Its index.
        index: u32,
    },
}

/// An `undo` line, borrowed from the transaction that writes it: it
/// serialises exactly as [`Entry::Undo`], without copying the ops into an
/// `Entry` first.
#[derive(Serialize)]
#[serde(rename_all = "snake_case")]
enum UndoLine<'a> {
    Undo {
        step: usize,
        #[serde(skip_serializing_if = "Option::is_none")]
        did: Option<&'a BoundOp>,
        ops: &'a [BoundOp],
    },
}

/// The undo of one step, as journaled and replayed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StepUndo {
    /// The step's number, from 1.
    pub step: usize,
    /// The step itself, when it sets a link's MTU, MAC, master or state:
    /// replay undoes such a step only when the kernel shows what it set.
    /// (A step journaled but never sent, after one that never ran either,
    /// finds the link as neither its undo nor the step would leave it, and
    /// its undo would set a value the model had only in a plan never run.)
    pub did: Option<Box<BoundOp>>,
    /// The undo ops, in the order they apply.
    pub ops: Vec<BoundOp>,
}

/// An open journal, being written.
pub struct Journal {
    file: File,
    path: PathBuf,
    line: Vec<u8>,
}

impl Journal {
    /// The journal's path in state directory `dir`.
    pub fn path_in(dir: &Path) -> PathBuf {
        dir.join("journal")
    }

    /// Creates the journal with its `begin` line, durably. Fails if one exists.
    pub fn begin(dir: &Path, what: &str, records_before: Option<String>) -> Result<Journal> {
        let path = Self::path_in(dir);
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| Error::io(format!("create journal {}", path.display()), e))?;
        let mut j = Journal {
            file,
            path,
            line: Vec::with_capacity(4096),
        };
        let started = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        // Written, not synced: see the module documentation.
        j.write(&[Entry::Begin {
            what: what.into(),
            pid: std::process::id(),
            started,
            records_before,
            boot_id: boot_id(),
        }])?;
        Ok(j)
    }

    fn write(&mut self, entries: &[Entry]) -> Result<()> {
        self.line.clear();
        for e in entries {
            serde_json::to_writer(&mut self.line, e)
                .map_err(|e| Error::internal("write journal", e))?;
            self.line.push(b'\n');
        }
        self.flush_line()
    }

    fn flush_line(&mut self) -> Result<()> {
        let op = || format!("write journal {}", self.path.display());
        self.file
            .write_all(&self.line)
            .map_err(|e| Error::io(op(), e))
    }

    fn sync(&mut self) -> Result<()> {
        self.file
            .sync_data()
            .map_err(|e| Error::io(format!("sync journal {}", self.path.display()), e))
    }

    /// Appends entries and syncs them to disk before returning.
    pub fn append(&mut self, entries: &[Entry]) -> Result<()> {
        self.write(entries)?;
        self.sync()
    }

    /// Appends one `undo` line per `(step, ops)` (as [`Entry::Undo`]) and
    /// syncs them to disk before returning.
    pub fn append_undo(&mut self, undo: &[StepUndo]) -> Result<()> {
        // Written a buffer at a time rather than all at once: the undo of a
        // batch of a thousand guests is a third of a megabyte of JSON, and a
        // buffer that size is memory to fault in and copy as it grows.
        const CHUNK: usize = 60 * 1024;
        self.line.clear();
        for u in undo {
            if !line::write_undo(&mut self.line, u.step, u.did.as_deref(), &u.ops) {
                let line = UndoLine::Undo {
                    step: u.step,
                    did: u.did.as_deref(),
                    ops: &u.ops,
                };
                serde_json::to_writer(&mut self.line, &line)
                    .map_err(|e| Error::internal("write journal", e))?;
            }
            self.line.push(b'\n');
            if self.line.len() >= CHUNK {
                self.flush_line()?;
                self.line.clear();
            }
        }
        self.flush_line()?;
        self.sync()
    }

    /// Removes the journal: the transaction is over (done or fully undone).
    pub fn finish(self) -> Result<()> {
        remove(&self.path)
    }
}

/// Removes the journal at `path` (not synced: see the module documentation).
pub fn remove(path: &Path) -> Result<()> {
    std::fs::remove_file(path)
        .map_err(|e| Error::io(format!("remove journal {}", path.display()), e))
}

/// This boot's id (`/proc/sys/kernel/random/boot_id`), or empty if unknown.
/// Read once per process: it cannot change while the process lives.
pub fn boot_id() -> String {
    static ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ID.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    })
    .clone()
}

/// What an unfinished journal says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Unfinished {
    /// What the transaction was doing.
    pub what: String,
    /// The process that ran it.
    pub pid: u32,
    /// When it started, seconds since the epoch.
    pub started: u64,
    /// The state records before it.
    pub records_before: Option<String>,
    /// The boot it was written in (empty for journals of older versions).
    pub boot_id: String,
    /// The undo of each step, in the order written.
    pub undo: Vec<StepUndo>,
    /// Links it created: `(step, name when created, index)`; the step is
    /// the one whose undo was written last before (a create is a segment of
    /// its own, journaled before it is sent and recorded after).
    pub created: Vec<(usize, IfName, u32)>,
}

impl Unfinished {
    /// True when it was written in an earlier boot: its kernel indices mean
    /// nothing now, and the network configuration it changed is gone anyway.
    pub fn is_stale(&self) -> bool {
        !self.boot_id.is_empty() && self.boot_id != boot_id()
    }

    /// True when the process that wrote it is still running.
    pub fn owner_alive(&self) -> bool {
        // SAFETY: signal 0 only checks that the process exists.
        self.pid != 0 && unsafe { libc::kill(self.pid as libc::pid_t, 0) } == 0
    }
}

/// Reads the journal in `dir`, if there is one.
pub fn read(dir: &Path) -> Result<Option<Unfinished>> {
    let path = Journal::path_in(dir);
    let file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(format!("read journal {}", path.display()), e)),
    };
    let mut u = Unfinished::default();
    for line in BufReader::new(file).split(b'\n') {
        let line = line.map_err(|e| Error::io(format!("read journal {}", path.display()), e))?;
        // A torn line (crash during the write) ends the journal.
        let Ok(entry) = serde_json::from_slice::<Entry>(&line) else {
            break;
        };
        match entry {
            Entry::Begin {
                what,
                pid,
                started,
                records_before,
                boot_id,
            } => {
                u.what = what;
                u.pid = pid;
                u.started = started;
                u.records_before = records_before;
                u.boot_id = boot_id;
            }
            Entry::Undo { step, did, ops } => u.undo.push(StepUndo { step, did, ops }),
            Entry::Created { name, index } => {
                let step = u.undo.last().map(|s| s.step).unwrap_or(0);
                u.created.push((step, name, index))
            }
        }
    }
    Ok(Some(u))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_borrowed_undo_line_is_an_undo_entry() {
        let ops = vec![BoundOp {
            op: Op::SetMaster {
                name: IfName::new("vif1.0").unwrap(),
                master: None,
            },
            at: vec![(IfName::new("vif1.0").unwrap(), 12)].into(),
        }];
        let did = BoundOp {
            op: Op::SetMaster {
                name: IfName::new("vif1.0").unwrap(),
                master: Some(IfName::new("xenbr0").unwrap()),
            },
            at: smallvec::smallvec![
                (IfName::new("vif1.0").unwrap(), 12),
                (IfName::new("xenbr0").unwrap(), 3),
            ],
        };
        for did in [None, Some(did)] {
            let borrowed = serde_json::to_string(&UndoLine::Undo {
                step: 3,
                did: did.as_ref(),
                ops: &ops,
            })
            .unwrap();
            let owned = serde_json::to_string(&Entry::Undo {
                step: 3,
                did: did.clone().map(Box::new),
                ops: ops.clone(),
            })
            .unwrap();
            assert_eq!(borrowed, owned);
            // And reads back as it was.
            match serde_json::from_str::<Entry>(&owned).unwrap() {
                Entry::Undo { did: back, .. } => assert_eq!(back, did.clone().map(Box::new)),
                e => panic!("{e:?}"),
            }
        }
    }

    #[test]
    fn round_trip_and_torn_line() {
        let dir = std::env::temp_dir().join(format!("xenbr-journal-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let _ = std::fs::remove_file(Journal::path_in(&dir));
        let mut j = Journal::begin(&dir, "start", Some("{}".into())).unwrap();
        assert!(
            Journal::begin(&dir, "again", None).is_err(),
            "a second journal is refused"
        );
        let name = IfName::new("xenbr0").unwrap();
        j.append(&[
            Entry::Undo {
                step: 1,
                did: None,
                ops: vec![BoundOp {
                    op: Op::DeleteLink { name: name.clone() },
                    at: SmallVec::new(),
                }],
            },
            Entry::Created {
                name: name.clone(),
                index: 7,
            },
        ])
        .unwrap();
        // A crash in the middle of a write.
        std::fs::OpenOptions::new()
            .append(true)
            .open(Journal::path_in(&dir))
            .unwrap()
            .write_all(b"{\"undo\":{\"step\":2,\"op")
            .unwrap();
        let u = read(&dir).unwrap().unwrap();
        assert_eq!(u.what, "start");
        assert_eq!(u.records_before.as_deref(), Some("{}"));
        assert_eq!(u.undo.len(), 1);
        assert_eq!(u.created, vec![(1, name, 7)]);
        assert!(u.owner_alive());
        assert!(!u.is_stale(), "written in this boot");
        let mut old = u.clone();
        old.boot_id = "00000000-0000-0000-0000-000000000000".into();
        assert!(old.is_stale(), "a journal of another boot is stale");
        j.finish().unwrap();
        assert!(read(&dir).unwrap().is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
