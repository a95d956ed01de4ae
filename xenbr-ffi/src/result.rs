//! The result codes, their messages, and the library's version: the parts of
//! the API that need no context.

use std::ffi::{c_char, c_int};

use xenbr_core::ErrorKind;

use crate::guard;

/// What a call did: `XENBR_RESULT_OK`, or the class of its failure.
///
/// The numbers are stable: a code never changes its number, and new codes
/// are only added after the last one, so treat an unknown code as a failure.
/// The details of a failure (message, operation, interface, errno) are kept
/// in the context the call was made on: see xenbr_context_error_message().
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum xenbr_result {
    /// Success.
    Ok = 0,
    /// An argument was refused before anything was changed: a NULL pointer
    /// where a value is needed, a string that is not UTF-8, an interface name
    /// the kernel would refuse (empty, over 15 bytes, `/`, `:`, white space),
    /// an empty array, a NULL element, an MTU or mode out of range, or a
    /// request that cannot work on this host (a NIC that is itself a bridge).
    InvalidArgument = 1,
    /// Something the request names is not on the host (an interface, a
    /// bridge, the named network namespace, a recorded takeover).
    NotFound = 2,
    /// Something the request would create is already there.
    Exists = 3,
    /// The host's state does not allow the request: a NIC already on another
    /// bridge, guests still on a bridge `stop` was asked to remove, several
    /// bridges to choose from, an unfinished transaction (run
    /// xenbr_recover()).
    Conflict = 4,
    /// The caller lacks a privilege: CAP_NET_ADMIN, write access to the
    /// state directory, CAP_SYS_ADMIN to enter a named namespace.
    Permission = 5,
    /// Another xenbr held the state directory's lock for too long (30 s),
    /// or the kernel said to try again.
    Busy = 6,
    /// The kernel refused a request for another reason; see
    /// xenbr_context_error_errno().
    Kernel = 7,
    /// Reading or writing a file (the journal, the records) failed.
    Io = 8,
    /// A step failed and every step before it was undone: the host is as
    /// it was. xenbr_context_error_cause() gives the class of the step's
    /// failure.
    RolledBack = 9,
    /// A step failed and undoing the earlier ones failed too. The journal
    /// is kept: call xenbr_recover() once the cause is dealt with.
    RollbackFailed = 10,
    /// xenbr panicked (a defect: please report it). The panic was caught;
    /// the context refuses every further operation with this code and
    /// should be freed. A transaction cut off by it is undone by
    /// xenbr_recover() on a new context.
    Panic = 11,
    /// Another defect in xenbr: please report it.
    Internal = 12,
}

/// The last code; [`xenbr_result::text`]'s table must cover every one up to it.
#[cfg(test)]
const LAST: c_int = xenbr_result::Internal as c_int;

impl xenbr_result {
    /// The code for an error of class `kind`.
    pub fn of(kind: ErrorKind) -> xenbr_result {
        match kind {
            ErrorKind::InvalidInput => xenbr_result::InvalidArgument,
            ErrorKind::NotFound => xenbr_result::NotFound,
            ErrorKind::Exists => xenbr_result::Exists,
            ErrorKind::Conflict => xenbr_result::Conflict,
            ErrorKind::Permission => xenbr_result::Permission,
            ErrorKind::Busy => xenbr_result::Busy,
            ErrorKind::Kernel => xenbr_result::Kernel,
            ErrorKind::Io => xenbr_result::Io,
            ErrorKind::RolledBack => xenbr_result::RolledBack,
            ErrorKind::RollbackFailed => xenbr_result::RollbackFailed,
            ErrorKind::Internal => xenbr_result::Internal,
            // A class added to xenbr-core later, before a code is given to it.
            _ => xenbr_result::Internal,
        }
    }

    /// The code with number `n`, if there is one.
    pub fn from_number(n: c_int) -> Option<xenbr_result> {
        use xenbr_result::*;
        [
            Ok,
            InvalidArgument,
            NotFound,
            Exists,
            Conflict,
            Permission,
            Busy,
            Kernel,
            Io,
            RolledBack,
            RollbackFailed,
            Panic,
            Internal,
        ]
        .into_iter()
        .find(|c| *c as c_int == n)
    }

    /// What the code means, in a few words.
    pub fn text(self) -> &'static str {
        match self {
            xenbr_result::Ok => "success",
            xenbr_result::InvalidArgument => "invalid argument",
            xenbr_result::NotFound => "not found",
            xenbr_result::Exists => "already exists",
            xenbr_result::Conflict => "the host's state does not allow this",
            xenbr_result::Permission => "permission denied",
            xenbr_result::Busy => "busy",
            xenbr_result::Kernel => "the kernel refused the request",
            xenbr_result::Io => "input/output error",
            xenbr_result::RolledBack => "failed; every change was rolled back",
            xenbr_result::RollbackFailed => {
                "failed, and rolling back failed too; run xenbr_recover"
            }
            xenbr_result::Panic => "xenbr panicked (a bug; please report it)",
            xenbr_result::Internal => "internal error in xenbr (a bug; please report it)",
        }
    }
}

/// Copies `msg` into the caller's buffer `buf` of `len` bytes: as much as
/// fits, cut at a character boundary, always NUL-terminated. Writes nothing
/// when `buf` is NULL or `len` is 0. Returns `msg`'s full length in bytes.
///
/// # Safety
/// `buf` is NULL or points to `len` writable bytes.
pub(crate) unsafe fn copy_out(msg: &str, buf: *mut c_char, len: usize) -> usize {
    if buf.is_null() || len == 0 {
        return msg.len();
    }
    let mut n = msg.len().min(len - 1);
    while !msg.is_char_boundary(n) {
        n -= 1;
    }
    // SAFETY: the caller gives `len` writable bytes; n + 1 <= len.
    unsafe {
        std::ptr::copy_nonoverlapping(msg.as_ptr(), buf.cast::<u8>(), n);
        *buf.add(n) = 0;
    }
    msg.len()
}

/// The version of this library, such as "0.1.0".
///
/// The string is static: do not free it.
#[no_mangle]
pub extern "C" fn xenbr_version() -> *const c_char {
    guard::catch(std::ptr::null(), || {
        concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
    })
}

/// Writes what result code `code` means into `buf`, a caller's buffer of
/// `len` bytes ("not found"), truncating to fit and always NUL-terminating.
/// Nothing is allocated, so there is nothing to free. An unknown code gets
/// "unknown xenbr result code N".
///
/// Returns the message's full length in bytes, without the NUL, as
/// snprintf() does: a result >= `len` means it was truncated. With `buf`
/// NULL or `len` 0 nothing is written, which measures the message.
///
/// # Safety
/// `buf` is NULL or points to `len` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn xenbr_result_message(code: c_int, buf: *mut c_char, len: usize) -> usize {
    guard::catch(0, || {
        let msg = match xenbr_result::from_number(code) {
            Some(c) => c.text().to_string(),
            None => format!("unknown xenbr result code {code}"),
        };
        // SAFETY: passed on from the caller.
        unsafe { copy_out(&msg, buf, len) }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_number_up_to_the_last_is_a_code_with_a_message() {
        for n in 0..=LAST {
            let c = xenbr_result::from_number(n).expect("no gaps");
            assert_eq!(c as c_int, n);
            assert!(!c.text().is_empty());
        }
        assert_eq!(xenbr_result::from_number(LAST + 1), None);
        assert_eq!(xenbr_result::from_number(-1), None);
    }

    #[test]
    fn copy_out_truncates_at_a_character_and_terminates() {
        let mut buf = [0x55 as c_char; 8];
        let n = unsafe { copy_out("ab\u{e9}cdefgh", buf.as_mut_ptr(), 4) };
        assert_eq!(n, 10);
        // "ab" + the first byte of é would not be UTF-8: stop before it.
        let bytes: Vec<u8> = buf[..4].iter().map(|&c| c as u8).collect();
        assert_eq!(&bytes, b"ab\0\x55");
        let n = unsafe { copy_out("xyz", buf.as_mut_ptr(), 8) };
        assert_eq!(n, 3);
        assert_eq!(buf[3], 0);
        assert_eq!(unsafe { copy_out("xyz", std::ptr::null_mut(), 8) }, 3);
        assert_eq!(unsafe { copy_out("xyz", buf.as_mut_ptr(), 0) }, 3);
        let n = unsafe { copy_out("xyz", buf.as_mut_ptr(), 1) };
        assert_eq!((n, buf[0]), (3, 0));
    }
}
