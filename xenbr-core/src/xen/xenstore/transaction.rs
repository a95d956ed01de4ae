//! XenStore transactions: the closure-running helper that starts over when
//! xenstored reports a conflict (EAGAIN), and the handle the closure gets.

use std::time::Duration;

use super::client::{text, Failure, Op, XenStore};
use super::errors::Subject;
use super::wire::MsgType;
use crate::error::{Error, Result};

/// How many times [`XenStore::transaction`] runs its closure before giving up
/// when other writers keep changing the nodes it uses.
pub const TRANSACTION_ATTEMPTS: u32 = 10;

impl XenStore {
    /// Runs `f` inside a XenStore transaction and commits it. When the commit
    /// fails because another writer changed a node the transaction used
    /// (EAGAIN), or an operation inside it fails that way, it starts over, up
    /// to [`TRANSACTION_ATTEMPTS`] times; `f` must therefore be safe to repeat.
    /// An error from `f` aborts the transaction and is returned as it is.
    pub fn transaction<T, F>(&mut self, mut f: F) -> Result<T>
    where
        F: FnMut(&mut Transaction<'_>) -> Result<T>,
    {
        for attempt in 0..TRANSACTION_ATTEMPTS {
            if attempt > 1 {
                // Give the other writer room; 1, 2, 4 ... 64 ms.
                std::thread::sleep(Duration::from_millis(1 << (attempt - 2).min(6)));
            }
            let id = self.start_transaction()?;
            let mut tx = Transaction {
                xs: self,
                id,
                conflicted: false,
            };
            let out = f(&mut tx);
            let conflicted = tx.conflicted;
            let end = Op {
                verb: "transaction end",
                path: None,
                token: None,
                tx: id,
            };
            match out {
                Err(e) => {
                    // The closure's error is the one that matters; an abort
                    // that fails too changes nothing in the store.
                    let _ = self.end_transaction(id, false);
                    if !conflicted {
                        return Err(e);
                    }
                }
                Ok(value) => match self.end_transaction(id, true) {
                    Ok(()) => return Ok(value),
                    Err(Failure::Refused(name)) if name == "EAGAIN" => {}
                    Err(f) => return Err(f.into_error(end, Subject::Transaction)),
                },
            }
        }
        Err(Error::Busy {
            op: "xenstore transaction".into(),
            reason: format!(
                "gave up after {TRANSACTION_ATTEMPTS} attempts: other writers kept changing \
                 the nodes it used (EAGAIN)"
            ),
        })
    }
}

/// An open XenStore transaction, handed to the closure of
/// [`XenStore::transaction`]. Reads see a snapshot; writes become visible to
/// others only when the transaction commits.
#[derive(Debug)]
pub struct Transaction<'a> {
    xs: &'a mut XenStore,
    id: u32,
    conflicted: bool,
}

impl Transaction<'_> {
    /// xenstored's id for this transaction.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// Remembers a conflict, so that the helper retries even when the
    /// closure turns the error into another one.
    fn note<T>(&mut self, r: Result<T, Failure>) -> Result<T, Failure> {
        if matches!(&r, Err(Failure::Refused(name)) if name == "EAGAIN") {
            self.conflicted = true;
        }
        r
    }

    /// [`XenStore::read`] inside the transaction.
    pub fn read(&mut self, path: &str) -> Result<Option<String>> {
        let op = Op::node("read", path, self.id);
        match self.read_bytes(path)? {
            Some(v) => text(op, v).map(Some),
            None => Ok(None),
        }
    }

    /// [`XenStore::read_bytes`] inside the transaction.
    pub fn read_bytes(&mut self, path: &str) -> Result<Option<Vec<u8>>> {
        let op = Op::node("read", path, self.id);
        let r = self.xs.do_read(self.id, path);
        match self.note(r) {
            Ok(v) => Ok(Some(v)),
            Err(Failure::Refused(name)) if name == "ENOENT" => Ok(None),
            Err(f) => Err(f.into_error(op, Subject::Node)),
        }
    }

    /// [`XenStore::write`] inside the transaction.
    pub fn write(&mut self, path: &str, value: impl AsRef<[u8]>) -> Result<()> {
        let op = Op::node("write", path, self.id);
        let r = self.xs.do_write(self.id, path, value.as_ref());
        self.note(r).map_err(|f| f.into_error(op, Subject::Node))
    }

    /// [`XenStore::rm`] inside the transaction.
    pub fn rm(&mut self, path: &str) -> Result<()> {
        let op = Op::node("rm", path, self.id);
        let r = self.xs.do_path_only(MsgType::Rm, op);
        self.note(r).map_err(|f| f.into_error(op, Subject::Node))
    }

    /// [`XenStore::mkdir`] inside the transaction.
    pub fn mkdir(&mut self, path: &str) -> Result<()> {
        let op = Op::node("mkdir", path, self.id);
        let r = self.xs.do_path_only(MsgType::Mkdir, op);
        self.note(r).map_err(|f| f.into_error(op, Subject::Node))
    }

    /// [`XenStore::directory`] inside the transaction.
    pub fn directory(&mut self, path: &str) -> Result<Vec<String>> {
        let op = Op::node("directory", path, self.id);
        let r = self.xs.do_directory(op);
        self.note(r).map_err(|f| f.into_error(op, Subject::Node))
    }
}
