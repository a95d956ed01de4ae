//! Exit codes (sysexits): 0 ok, 64 usage, 65 bad input data, 69 something
//! missing or unavailable on the host, 77 no permission, 70 internal.

use xenbr_core::{Error, ErrorKind};

/// Bad command line.
pub const USAGE: i32 = 64;

/// The exit code for an error, from the kind of the first failure.
pub fn code(e: &Error) -> i32 {
    match e.root_kind() {
        ErrorKind::InvalidInput | ErrorKind::Exists | ErrorKind::Conflict => 65,
        ErrorKind::NotFound | ErrorKind::Busy | ErrorKind::Kernel => 69,
        ErrorKind::Permission => 77,
        _ => 70,
    }
}
