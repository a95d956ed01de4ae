//! Turning xenstored's answers (an errno *name* in an ERROR reply) and socket
//! failures into [`Error`]s that name the operation and the path.

use std::io;
use std::path::Path;

use crate::error::{errno_text, Error};

/// What a request was about, so that an error says what was missing or taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Subject {
    /// A node (read, write, rm, directory, mkdir).
    Node,
    /// A watch (unwatch of one never set).
    Watch,
    /// A transaction (ending one xenstored does not know).
    Transaction,
}

impl Subject {
    fn noun(self) -> &'static str {
        match self {
            Subject::Node => "node",
            Subject::Watch => "watch",
            Subject::Transaction => "transaction",
        }
    }
}

/// The errno number of an errno name xenstored sends. `EQUOTA` (a quota of
/// xenstored's, not a Linux errno) becomes `EDQUOT`, the nearest one.
pub(super) fn errno_of(name: &str) -> Option<i32> {
    Some(match name {
        "EINVAL" => libc::EINVAL,
        "EACCES" => libc::EACCES,
        "EEXIST" => libc::EEXIST,
        "EISDIR" => libc::EISDIR,
        "ENOENT" => libc::ENOENT,
        "ENOMEM" => libc::ENOMEM,
        "ENOSPC" => libc::ENOSPC,
        "EIO" => libc::EIO,
        "ENOTEMPTY" => libc::ENOTEMPTY,
        "ENOSYS" => libc::ENOSYS,
        "EROFS" => libc::EROFS,
        "EBUSY" => libc::EBUSY,
        "EAGAIN" => libc::EAGAIN,
        "EISCONN" => libc::EISCONN,
        "E2BIG" => libc::E2BIG,
        "EPERM" => libc::EPERM,
        "EQUOTA" => libc::EDQUOT,
        _ => return None,
    })
}

/// The typed error for an ERROR reply naming `name`, for operation `op`.
pub(super) fn from_xenstored(name: &str, op: String, subject: Subject) -> Error {
    let noun = subject.noun();
    match name {
        "ENOENT" => Error::not_found(op, noun),
        "EEXIST" => Error::exists(op, noun),
        "EACCES" => Error::Permission {
            op,
            needs: "the node's permissions do not allow this connection (EACCES)".into(),
        },
        "EPERM" => Error::Permission {
            op,
            needs: "a privileged connection to xenstored (EPERM)".into(),
        },
        "EAGAIN" => Error::Busy {
            op,
            reason: "another writer changed what this transaction used; try again (EAGAIN)".into(),
        },
        "EBUSY" => Error::Busy {
            op,
            reason: "xenstored is busy (EBUSY)".into(),
        },
        _ => {
            let (errno, note) = match errno_of(name) {
                Some(errno) => (errno, xenstored_note(name, errno)),
                None => (
                    libc::EIO,
                    format!("xenstored answered an unknown error {name}"),
                ),
            };
            Error::Kernel {
                op,
                errno,
                ext_ack: None,
                note: Some(note),
                ifname: None,
            }
        }
    }
}

fn xenstored_note(name: &str, errno: i32) -> String {
    let text = match name {
        "E2BIG" => "path or value too long for xenstored".to_string(),
        "EQUOTA" | "ENOSPC" => "xenstored's quota for this connection is used up".to_string(),
        "EINVAL" => "xenstored refused the request as invalid (a bad path or token?)".into(),
        "EISCONN" => "already connected".to_string(),
        _ => errno_text(errno, None),
    };
    format!("{text} ({name} from xenstored)")
}

/// The error for a failed connect to the socket at `path`.
pub(super) fn connect_failed(path: &Path, e: io::Error) -> Error {
    let op = "connect to xenstored".to_string();
    match e.raw_os_error() {
        Some(libc::ENOENT) | Some(libc::ENOTDIR) => {
            Error::not_found(op, format!("socket {}", path.display()))
        }
        // The file is there but nothing listens: a xenstored that died.
        Some(libc::ECONNREFUSED) => {
            Error::not_found(op, format!("a listener on socket {}", path.display()))
        }
        Some(libc::EACCES) | Some(libc::EPERM) => Error::Permission {
            op,
            needs: format!("write access to socket {}", path.display()),
        },
        _ => Error::io(format!("{op} at {}", path.display()), e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn errno_names_become_typed_errors() {
        let op = || "xenstore read backend/vif/5/0/bridge".to_string();
        let e = from_xenstored("ENOENT", op(), Subject::Node);
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert_eq!(
            e.to_string(),
            "xenstore read backend/vif/5/0/bridge: node does not exist"
        );
        for (name, kind) in [
            ("EACCES", ErrorKind::Permission),
            ("EPERM", ErrorKind::Permission),
            ("EAGAIN", ErrorKind::Busy),
            ("EBUSY", ErrorKind::Busy),
            ("EEXIST", ErrorKind::Exists),
            ("EINVAL", ErrorKind::InvalidInput),
            ("E2BIG", ErrorKind::Kernel),
            ("ENOSPC", ErrorKind::Kernel),
            ("EQUOTA", ErrorKind::Kernel),
            ("EIO", ErrorKind::Kernel),
            ("ENOSYS", ErrorKind::Kernel),
            ("EROFS", ErrorKind::Kernel),
            ("EISCONN", ErrorKind::Kernel),
            ("EWHAT", ErrorKind::Kernel),
        ] {
            let e = from_xenstored(name, op(), Subject::Node);
            assert_eq!(e.kind(), kind, "{name}");
            assert_eq!(e.op(), op());
            let text = e.to_string();
            assert!(
                text.starts_with("xenstore read backend/vif/5/0/bridge: "),
                "{text}"
            );
            if name != "EEXIST" {
                assert!(text.contains(name), "{name} missing from {text}");
            }
        }
        let e = from_xenstored("E2BIG", op(), Subject::Node);
        assert_eq!(e.errno(), Some(libc::E2BIG));
        let e = from_xenstored("EQUOTA", op(), Subject::Node);
        assert_eq!(e.errno(), Some(libc::EDQUOT));
    }

    #[test]
    fn missing_socket_names_the_path() {
        let p = Path::new("/nonexistent/socket");
        let e = connect_failed(p, io::Error::from_raw_os_error(libc::ENOENT));
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert_eq!(
            e.to_string(),
            "connect to xenstored: socket /nonexistent/socket does not exist"
        );
    }
}
