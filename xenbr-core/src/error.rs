//! The one error type of xenbr-core. Every message starts with the operation
//! and the interfaces it was about ("set master of vif1.0 to xenbr0: ..."), and
//! kernel errors keep their errno and the kernel's own explanation.

use std::fmt;

/// A `Result` whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The coarse class of an [`Error`], which the CLI maps to an exit code and the
/// C ABI to a result code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The request itself is malformed or refers to values that cannot work.
    InvalidInput,
    /// Something the request names is not on the host.
    NotFound,
    /// Something the request would create is already there.
    Exists,
    /// The host's state does not allow the request (a port of another bridge,
    /// guests still attached, several bridges to choose from).
    Conflict,
    /// The caller lacks a privilege (CAP_NET_ADMIN, write access).
    Permission,
    /// Another xenbr holds the state lock, or the kernel asked to try again.
    Busy,
    /// The kernel refused a request for another reason.
    Kernel,
    /// Reading or writing a file failed.
    Io,
    /// A step failed and everything done before it was undone.
    RolledBack,
    /// A step failed and undoing the earlier steps failed too.
    RollbackFailed,
    /// A defect in xenbr.
    Internal,
}

/// An error from xenbr-core.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A value or request was refused before anything was changed.
    #[error("{op}: {reason}")]
    Invalid {
        /// The operation, naming its interfaces.
        op: String,
        /// What is wrong.
        reason: String,
        /// The interface the failed request was about, when one is known
        /// (see [`Error::interface`]).
        ifname: Option<String>,
    },
    /// A named thing is not on the host.
    #[error("{op}: {what} does not exist")]
    NotFound {
        /// The operation, naming its interfaces.
        op: String,
        /// What is missing ("interface eth9").
        what: String,
        /// The interface the failed request was about, when one is known
        /// (see [`Error::interface`]).
        ifname: Option<String>,
    },
    /// A thing the request would create already exists.
    #[error("{op}: {what} already exists")]
    Exists {
        /// The operation.
        op: String,
        /// What exists already ("interface peth0").
        what: String,
        /// The interface the failed request was about, when one is known
        /// (see [`Error::interface`]).
        ifname: Option<String>,
    },
    /// The host's current state forbids the request.
    #[error("{op}: {reason}")]
    Conflict {
        /// The operation.
        op: String,
        /// Why it cannot proceed.
        reason: String,
        /// The interface the failed request was about, when one is known
        /// (see [`Error::interface`]).
        ifname: Option<String>,
    },
    /// The caller lacks a privilege.
    #[error("{op}: permission denied: {needs}")]
    Permission {
        /// The operation.
        op: String,
        /// What is needed ("CAP_NET_ADMIN").
        needs: String,
    },
    /// Another process holds the lock, or the kernel said to try again.
    #[error("{op}: {reason}")]
    Busy {
        /// The operation.
        op: String,
        /// What is busy.
        reason: String,
    },
    /// The kernel refused a netlink request.
    #[error("{op}: {}{}", errno_text(*.errno, .note.as_deref()), kernel_suffix(.ext_ack.as_deref()))]
    Kernel {
        /// The operation, naming its interfaces.
        op: String,
        /// The positive errno (`ENODEV` = 19, ...).
        errno: i32,
        /// The kernel's extended-ACK message, when it sent one.
        ext_ack: Option<String>,
        /// A better explanation than `strerror` where xenbr knows one
        /// ("xenbr0 already exists").
        note: Option<String>,
        /// The interface the failed request was about, when one is known
        /// (see [`Error::interface`]).
        ifname: Option<String>,
    },
    /// A file or socket operation failed.
    #[error("{op}: {source}")]
    Io {
        /// The operation ("write journal /run/xenbr/journal").
        op: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A step failed; the steps before it were undone and the host is as it was.
    #[error("{cause} (nothing changed: {undone} step(s) rolled back)")]
    RolledBack {
        /// The first error, which caused the rollback.
        cause: Box<Error>,
        /// How many steps had been applied and were undone.
        undone: usize,
    },
    /// A step failed, and undoing the earlier steps failed as well.
    #[error("{cause}; rolling back also failed: {}; the journal is kept, run `xenbr recover`", join(.failures))]
    RollbackFailed {
        /// The first error, which caused the rollback.
        cause: Box<Error>,
        /// What failed while rolling back.
        failures: Vec<Error>,
    },
    /// A defect in xenbr; please report it.
    #[error("{op}: internal error: {reason}")]
    Internal {
        /// The operation.
        op: String,
        /// What went wrong.
        reason: String,
    },
}

fn join(errors: &[Error]) -> String {
    errors
        .iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("; ")
}

fn kernel_suffix(ext_ack: Option<&str>) -> String {
    match ext_ack {
        Some(m) if !m.is_empty() => format!(" (kernel: {m})"),
        _ => String::new(),
    }
}

/// `strerror`, starting lower case so it reads inside a sentence.
pub(crate) fn errno_text(errno: i32, note: Option<&str>) -> String {
    if let Some(n) = note {
        return n.to_string();
    }
    let text = std::io::Error::from_raw_os_error(errno).to_string();
    // io::Error renders as "No such device (os error 19)".
    let text = text.split(" (os error").next().unwrap_or(&text).to_string();
    let mut chars = text.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => format!("errno {errno}"),
    }
}

/// Matches every variant: those with an `op` bind it, the two rollback
/// variants bind their `cause`. One list for both `&self` and `&mut self`.
macro_rules! each_op {
    ($e:expr, $op:ident => $own:expr, $cause:ident => $of_cause:expr) => {
        match $e {
            Error::Invalid { op: $op, .. }
            | Error::NotFound { op: $op, .. }
            | Error::Exists { op: $op, .. }
            | Error::Conflict { op: $op, .. }
            | Error::Permission { op: $op, .. }
            | Error::Busy { op: $op, .. }
            | Error::Kernel { op: $op, .. }
            | Error::Io { op: $op, .. }
            | Error::Internal { op: $op, .. } => $own,
            Error::RolledBack { cause: $cause, .. }
            | Error::RollbackFailed { cause: $cause, .. } => $of_cause,
        }
    };
}

impl Error {
    /// An [`Error::Invalid`] for `op`.
    pub fn invalid(op: impl fmt::Display, reason: impl fmt::Display) -> Self {
        Error::Invalid {
            op: op.to_string(),
            reason: reason.to_string(),
            ifname: None,
        }
    }

    /// An [`Error::NotFound`] for `op`.
    pub fn not_found(op: impl fmt::Display, what: impl fmt::Display) -> Self {
        Error::NotFound {
            op: op.to_string(),
            what: what.to_string(),
            ifname: None,
        }
    }

    /// An [`Error::Exists`] for `op`.
    pub fn exists(op: impl fmt::Display, what: impl fmt::Display) -> Self {
        Error::Exists {
            op: op.to_string(),
            what: what.to_string(),
            ifname: None,
        }
    }

    /// An [`Error::Conflict`] for `op`.
    pub fn conflict(op: impl fmt::Display, reason: impl fmt::Display) -> Self {
        Error::Conflict {
            op: op.to_string(),
            reason: reason.to_string(),
            ifname: None,
        }
    }

    /// An [`Error::Io`] for `op`.
    pub fn io(op: impl fmt::Display, source: std::io::Error) -> Self {
        Error::Io {
            op: op.to_string(),
            source,
        }
    }

    /// An [`Error::Internal`] for `op`.
    pub fn internal(op: impl fmt::Display, reason: impl fmt::Display) -> Self {
        Error::Internal {
            op: op.to_string(),
            reason: reason.to_string(),
        }
    }

    /// The class of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Invalid { .. } => ErrorKind::InvalidInput,
            Error::NotFound { .. } => ErrorKind::NotFound,
            Error::Exists { .. } => ErrorKind::Exists,
            Error::Conflict { .. } => ErrorKind::Conflict,
            Error::Permission { .. } => ErrorKind::Permission,
            Error::Busy { .. } => ErrorKind::Busy,
            Error::Kernel { errno, .. } => match *errno {
                libc::EPERM | libc::EACCES => ErrorKind::Permission,
                libc::ENODEV | libc::ENOENT => ErrorKind::NotFound,
                libc::EEXIST => ErrorKind::Exists,
                libc::EBUSY | libc::EAGAIN => ErrorKind::Busy,
                libc::EINVAL | libc::ERANGE | libc::EOPNOTSUPP => ErrorKind::InvalidInput,
                _ => ErrorKind::Kernel,
            },
            Error::Io { source, .. } => match source.kind() {
                std::io::ErrorKind::PermissionDenied => ErrorKind::Permission,
                std::io::ErrorKind::NotFound => ErrorKind::NotFound,
                _ => ErrorKind::Io,
            },
            Error::RolledBack { .. } => ErrorKind::RolledBack,
            Error::RollbackFailed { .. } => ErrorKind::RollbackFailed,
            Error::Internal { .. } => ErrorKind::Internal,
        }
    }

    /// The class of the first error: for a rolled-back transaction, the kind of
    /// the step that failed.
    pub fn root_kind(&self) -> ErrorKind {
        match self {
            Error::RolledBack { cause, .. } | Error::RollbackFailed { cause, .. } => {
                cause.root_kind()
            }
            e => e.kind(),
        }
    }

    /// The raw errno, for kernel and I/O errors (of the first error, after a rollback).
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::Kernel { errno, .. } => Some(*errno),
            Error::Io { source, .. } => source.raw_os_error(),
            Error::RolledBack { cause, .. } | Error::RollbackFailed { cause, .. } => cause.errno(),
            _ => None,
        }
    }

    /// The operation of the first error (after a rollback, of its cause).
    fn first_op_mut(&mut self) -> &mut String {
        each_op!(self, op => op, cause => cause.first_op_mut())
    }

    /// The operation the error is about (of the first error, after a rollback).
    pub fn op(&self) -> &str {
        each_op!(self, op => op, cause => cause.op())
    }

    /// The kernel's extended-ACK text, when the error came from the kernel with one.
    pub fn kernel_message(&self) -> Option<&str> {
        match self {
            Error::Kernel { ext_ack, .. } => ext_ack.as_deref(),
            Error::RolledBack { cause, .. } | Error::RollbackFailed { cause, .. } => {
                cause.kernel_message()
            }
            _ => None,
        }
    }

    /// The interface the failed request was about, when one is known: in a
    /// batch (`vif online` of many interfaces, `start` of several NICs) the
    /// one whose request failed, for a failed step the link it changes, for
    /// a refused name the name itself. Errors that are not about one
    /// interface (permission, the lock, I/O) have none.
    pub fn interface(&self) -> Option<&str> {
        match self {
            Error::Invalid { ifname, .. }
            | Error::NotFound { ifname, .. }
            | Error::Exists { ifname, .. }
            | Error::Conflict { ifname, .. }
            | Error::Kernel { ifname, .. } => ifname.as_deref(),
            Error::RolledBack { cause, .. } | Error::RollbackFailed { cause, .. } => {
                cause.interface()
            }
            _ => None,
        }
    }

    /// Says which interface the error is about (see [`Error::interface`]),
    /// unless it already names one: the innermost, most precise, answer
    /// wins. Kinds that are never about one interface are left as they are.
    pub fn about(mut self, interface: impl fmt::Display) -> Self {
        match &mut self {
            Error::Invalid { ifname, .. }
            | Error::NotFound { ifname, .. }
            | Error::Exists { ifname, .. }
            | Error::Conflict { ifname, .. }
            | Error::Kernel { ifname, .. } => {
                if ifname.is_none() {
                    *ifname = Some(interface.to_string());
                }
            }
            Error::RolledBack { cause, .. } | Error::RollbackFailed { cause, .. } => {
                let c = std::mem::replace(cause.as_mut(), Error::internal("", ""));
                **cause = c.about(interface);
            }
            Error::Permission { .. }
            | Error::Busy { .. }
            | Error::Io { .. }
            | Error::Internal { .. } => {}
        }
        self
    }

    /// Prefixes the operation with more context ("start xenbr0: ...").
    pub fn context(mut self, outer: impl fmt::Display) -> Self {
        let op = self.first_op_mut();
        *op = format!("{outer}: {op}");
        self
    }
}

impl From<crate::names::ValueError> for Error {
    fn from(e: crate::names::ValueError) -> Self {
        // A refused interface name is the interface the error is about.
        let ifname = (e.what == crate::names::IFNAME_WHAT).then(|| e.input.clone());
        Error::Invalid {
            op: format!("check {}", e.what),
            reason: format!("{:?}: {}", e.input, e.reason),
            ifname,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_error_reads_like_a_sentence() {
        let e = Error::Kernel {
            op: "set master of vif1.0 to xenbr0".into(),
            errno: libc::ENODEV,
            ext_ack: Some("Master device not found".into()),
            note: None,
            ifname: None,
        };
        assert_eq!(
            e.to_string(),
            "set master of vif1.0 to xenbr0: no such device (kernel: Master device not found)"
        );
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert_eq!(e.errno(), Some(libc::ENODEV));
    }

    #[test]
    fn rollback_keeps_the_first_error() {
        let first = Error::not_found("attach vif9.0", "interface vif9.0");
        let e = Error::RollbackFailed {
            cause: Box::new(first),
            failures: vec![Error::internal("undo", "x")],
        };
        assert!(e
            .to_string()
            .starts_with("attach vif9.0: interface vif9.0 does not exist; rolling back"));
        assert_eq!(e.root_kind(), ErrorKind::NotFound);
        assert_eq!(e.op(), "attach vif9.0");
        let e = e.context("vif online");
        assert_eq!(e.op(), "vif online: attach vif9.0");
    }

    #[test]
    fn the_innermost_interface_wins_through_a_rollback() {
        let e = Error::RolledBack {
            cause: Box::new(Error::not_found("attach vif9.0", "bridge xenbr9").about("vif9.0")),
            undone: 2,
        };
        assert_eq!(e.interface(), Some("vif9.0"));
        let e = e.about("vif1.0").context("vif online");
        assert_eq!(e.interface(), Some("vif9.0"));
        let bare = Error::RolledBack {
            cause: Box::new(Error::conflict("start", "x")),
            undone: 1,
        };
        assert_eq!(bare.about("eth0").interface(), Some("eth0"));
        assert_eq!(Error::internal("x", "y").about("eth0").interface(), None);
    }

    #[test]
    fn a_refused_name_is_the_interface() {
        let e: Error = crate::IfName::new("sixteen-bytes-xx").unwrap_err().into();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        assert_eq!(e.interface(), Some("sixteen-bytes-xx"));
        let e: Error = crate::Mtu::new(1).unwrap_err().into();
        assert_eq!(e.interface(), None);
    }
}
