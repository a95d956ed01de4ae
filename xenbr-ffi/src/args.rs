//! Checked reading of C arguments. Each refusal is an
//! [`Error::Invalid`](xenbr_core::Error) whose message names the function
//! and the argument (`xenbr_vif_online_many: vifs[3].name is NULL`), made
//! before anything is changed.

use std::ffi::{c_char, CStr, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use xenbr_core::{Error, IfName, Result};

/// The refusal of argument `arg` of `func`, with the reason.
fn refuse(func: &str, arg: &str, reason: impl std::fmt::Display) -> Error {
    Error::invalid(func, format!("{arg} {reason}"))
}

/// The bytes of a C string, or `None` for NULL.
///
/// # Safety
/// `p` is NULL or a NUL-terminated string that outlives `'a`.
unsafe fn bytes<'a>(p: *const c_char) -> Option<&'a [u8]> {
    // SAFETY: passed on from the caller.
    (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_bytes())
}

/// A string argument that may be NULL, as UTF-8.
///
/// # Safety
/// `p` is NULL or a NUL-terminated string that outlives `'a`.
pub(crate) unsafe fn opt_str<'a>(
    p: *const c_char,
    func: &str,
    arg: &str,
) -> Result<Option<&'a str>> {
    // SAFETY: passed on from the caller.
    let Some(b) = (unsafe { bytes(p) }) else {
        return Ok(None);
    };
    std::str::from_utf8(b)
        .map(Some)
        .map_err(|_| refuse(func, arg, format!("is not UTF-8: \"{}\"", b.escape_ascii())))
}

/// A string argument that must not be NULL, as UTF-8.
///
/// # Safety
/// As [`opt_str`].
pub(crate) unsafe fn req_str<'a>(p: *const c_char, func: &str, arg: &str) -> Result<&'a str> {
    // SAFETY: passed on from the caller.
    unsafe { opt_str(p, func, arg) }?.ok_or_else(|| refuse(func, arg, "is NULL"))
}

/// An interface name argument that may be NULL. A refusal is about
/// interface `owner` (the vif whose field it is) or, without one, about
/// the refused name itself (bytes that are not UTF-8 shown as U+FFFD).
///
/// # Safety
/// As [`opt_str`].
pub(crate) unsafe fn opt_ifname(
    p: *const c_char,
    func: &str,
    arg: &str,
    owner: Option<&IfName>,
) -> Result<Option<IfName>> {
    // SAFETY: passed on from the caller.
    let about = |e: Error| match (owner, unsafe { bytes(p) }) {
        (Some(o), _) => e.about(o),
        (None, Some(b)) => e.about(String::from_utf8_lossy(b)),
        (None, None) => e,
    };
    // SAFETY: passed on from the caller.
    let Some(s) = unsafe { opt_str(p, func, arg) }.map_err(about)? else {
        return Ok(None);
    };
    IfName::new(s)
        .map(Some)
        .map_err(|e| about(Error::invalid(func, format!("{arg}: {e}"))))
}

/// An interface name argument that must not be NULL; a refusal is about
/// the refused name.
///
/// # Safety
/// As [`opt_str`].
pub(crate) unsafe fn ifname(p: *const c_char, func: &str, arg: &str) -> Result<IfName> {
    // SAFETY: passed on from the caller.
    unsafe { opt_ifname(p, func, arg, None) }?.ok_or_else(|| refuse(func, arg, "is NULL"))
}

/// A path argument that may be NULL; any bytes but empty.
///
/// # Safety
/// As [`opt_str`].
pub(crate) unsafe fn opt_path(p: *const c_char, func: &str, arg: &str) -> Result<Option<PathBuf>> {
    // SAFETY: passed on from the caller.
    match unsafe { bytes(p) } {
        None => Ok(None),
        Some([]) => Err(refuse(func, arg, "is empty; pass NULL for the default")),
        Some(b) => Ok(Some(PathBuf::from(OsStr::from_bytes(b)))),
    }
}

/// An array argument of `len` elements at `p`. NULL is an empty array when
/// `len` is 0; an empty one is refused unless `empty_ok`.
///
/// # Safety
/// `p` is NULL or points to `len` initialised elements that outlive `'a`.
pub(crate) unsafe fn array<'a, T>(
    p: *const T,
    len: usize,
    func: &str,
    arg: &str,
    empty_ok: bool,
) -> Result<&'a [T]> {
    if len == 0 {
        return match empty_ok {
            true => Ok(&[]),
            false => Err(refuse(
                func,
                arg,
                "is empty (its length is 0): nothing to do",
            )),
        };
    }
    if p.is_null() {
        return Err(refuse(
            func,
            arg,
            format!("is NULL but its length is {len}"),
        ));
    }
    if !p.is_aligned() {
        return Err(refuse(func, arg, "is not aligned for its element type"));
    }
    if len > isize::MAX as usize / std::mem::size_of::<T>().max(1) {
        return Err(refuse(func, arg, format!("cannot have {len} elements")));
    }
    // SAFETY: non-NULL, aligned, not too long; the caller vouches for the rest.
    Ok(unsafe { std::slice::from_raw_parts(p, len) })
}

/// Checks that a required out-parameter is not NULL.
pub(crate) fn out<T>(p: *mut T, func: &str, arg: &str) -> Result<()> {
    match p.is_null() {
        true => Err(refuse(
            func,
            arg,
            "is NULL; it must point to where the result goes",
        )),
        false => Ok(()),
    }
}
