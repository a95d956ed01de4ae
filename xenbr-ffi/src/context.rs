//! Contexts: a [`Host`] (one network namespace and its state directory)
//! and the details of the last failure on it.

use std::ffi::{c_char, c_int, CString};

use xenbr_core::{Error, Host, Result};

use crate::args;
use crate::guard::{self, catch};
use crate::result::{copy_out, xenbr_result};

/// A handle on one network namespace and its state directory, and the
/// details of the last error of a call on it.
///
/// Opaque: made by xenbr_context_new() or xenbr_context_new_netns(), owned
/// by the caller, freed with xenbr_context_free(). It may be moved between
/// threads but not used by two at once.
pub struct xenbr_context {
    host: Host,
    error: Option<LastError>,
    /// Set by a panic: the host handle may be half-way through an exchange
    /// with the kernel, so the context is not used again.
    poisoned: bool,
}

/// The details of a failure, kept as C strings so accessors can lend them.
struct LastError {
    code: xenbr_result,
    cause: xenbr_result,
    message: CString,
    op: CString,
    interface: Option<CString>,
    errno: c_int,
}

/// A C string of `s`; a NUL inside (never expected) is shown as `\0`.
fn c_string(s: &str) -> CString {
    CString::new(s.replace('\0', "\\0")).unwrap_or_default()
}

impl LastError {
    fn of(e: &Error) -> LastError {
        LastError {
            code: xenbr_result::of(e.kind()),
            cause: xenbr_result::of(e.root_kind()),
            message: c_string(&e.to_string()),
            op: c_string(e.op()),
            interface: e.interface().map(c_string),
            errno: e.errno().unwrap_or(0),
        }
    }

    fn panic(func: &str, what: &str) -> LastError {
        LastError {
            code: xenbr_result::Panic,
            cause: xenbr_result::Panic,
            message: c_string(&format!("{func}: {what}")),
            op: c_string(func),
            interface: None,
            errno: 0,
        }
    }
}

// A context is handed from thread to thread by C; it must be Send.
const _: fn() = || {
    fn send<T: Send>() {}
    send::<xenbr_context>();
};

impl xenbr_context {
    /// Runs operation `func` (see [`guard::call`]).
    pub(crate) fn run(
        &mut self,
        func: &'static str,
        f: impl FnOnce(&mut Host) -> Result<()>,
    ) -> xenbr_result {
        self.error = None;
        if self.poisoned {
            self.error = Some(LastError::panic(
                func,
                "this context is unusable after an earlier panic; free it and open another",
            ));
            return xenbr_result::Panic;
        }
        let host = &mut self.host;
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(host))) {
            Ok(Ok(())) => xenbr_result::Ok,
            Ok(Err(e)) => {
                let last = LastError::of(&e);
                let code = last.code;
                self.error = Some(last);
                code
            }
            Err(payload) => {
                self.poisoned = true;
                let text = format!("panicked: {}", guard::panic_text(&*payload));
                self.error = Some(LastError::panic(func, &text));
                xenbr_result::Panic
            }
        }
    }
}

/// Builds a context with `open`, writing it to `*ctx_out` on success, or
/// the error's message into the caller's buffer on failure.
///
/// # Safety
/// `ctx_out` is NULL or writable; `err_buf` is NULL or `err_len` writable bytes.
unsafe fn open(
    func: &str,
    ctx_out: *mut *mut xenbr_context,
    err_buf: *mut c_char,
    err_len: usize,
    open: impl FnOnce() -> Result<Host>,
) -> xenbr_result {
    let fail = |code: xenbr_result, message: &str| {
        // SAFETY: passed on from the caller.
        unsafe { copy_out(message, err_buf, err_len) };
        code
    };
    let opened = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        args::out(ctx_out, func, "ctx_out")?;
        open()
    }));
    match opened {
        Ok(Ok(host)) => {
            let ctx = Box::new(xenbr_context {
                host,
                error: None,
                poisoned: false,
            });
            // SAFETY: checked non-NULL above; the caller gives it writable.
            unsafe { *ctx_out = Box::into_raw(ctx) };
            xenbr_result::Ok
        }
        Ok(Err(e)) => fail(xenbr_result::of(e.kind()), &e.to_string()),
        Err(p) => fail(
            xenbr_result::Panic,
            &format!("{func}: panicked: {}", guard::panic_text(&*p)),
        ),
    }
}

/// `host` with state directory `dir`, when one was given.
fn in_dir(host: Host, dir: Option<std::path::PathBuf>) -> Host {
    match dir {
        Some(d) => host.with_state_dir(d),
        None => host,
    }
}

/// Opens a context on the calling thread's current network namespace.
///
/// `state_dir` is the directory for xenbr's lock, journal and records, or
/// NULL for the default: `$XENBR_STATE_DIR`, else `/run/xenbr` (in the
/// initial namespace) or `/run/xenbr/netns/ino-N` (in another one). It is
/// copied; the caller keeps ownership of the string.
///
/// On success writes the new context to `*ctx_out`; the caller owns it and
/// frees it with xenbr_context_free(). On failure `*ctx_out` is not written
/// and, when `err_buf` is not NULL, the error's message is written into it
/// (`err_len` bytes, truncated, NUL-terminated), since there is no context
/// yet to keep it.
///
/// # Safety
/// `state_dir` is NULL or a NUL-terminated string; `ctx_out` is NULL or
/// writable; `err_buf` is NULL or points to `err_len` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn xenbr_context_new(
    state_dir: *const c_char,
    ctx_out: *mut *mut xenbr_context,
    err_buf: *mut c_char,
    err_len: usize,
) -> xenbr_result {
    const FUNC: &str = "xenbr_context_new";
    catch(xenbr_result::Panic, || {
        // SAFETY: passed on from the caller.
        unsafe {
            open(FUNC, ctx_out, err_buf, err_len, || {
                let dir = args::opt_path(state_dir, FUNC, "state_dir")?;
                Ok(in_dir(Host::open()?, dir))
            })
        }
    })
}

/// Opens a context on the network namespace `/run/netns/NAME`, as
/// `ip -n NAME` names it. Only the context's netlink socket lives there:
/// the calling thread is back in its own namespace when this returns, and
/// the context may be used from any thread. Needs CAP_SYS_ADMIN.
///
/// `state_dir` is as for xenbr_context_new(), with
/// `/run/xenbr/netns/NAME` as the default. Ownership, `*ctx_out` and
/// `err_buf` are as for xenbr_context_new(). A missing namespace gives
/// XENBR_RESULT_NOT_FOUND.
///
/// # Safety
/// `netns` and `state_dir` are NULL or NUL-terminated strings; `ctx_out` is
/// NULL or writable; `err_buf` is NULL or points to `err_len` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn xenbr_context_new_netns(
    netns: *const c_char,
    state_dir: *const c_char,
    ctx_out: *mut *mut xenbr_context,
    err_buf: *mut c_char,
    err_len: usize,
) -> xenbr_result {
    const FUNC: &str = "xenbr_context_new_netns";
    catch(xenbr_result::Panic, || {
        // SAFETY: passed on from the caller.
        unsafe {
            open(FUNC, ctx_out, err_buf, err_len, || {
                let name = args::req_str(netns, FUNC, "netns")?;
                let dir = args::opt_path(state_dir, FUNC, "state_dir")?;
                Ok(in_dir(Host::open_netns(name)?, dir))
            })
        }
    })
}

/// Frees a context and everything it lent (error strings). NULL is
/// accepted and does nothing. The context must not be used afterwards.
///
/// # Safety
/// `ctx` is NULL or a context from xenbr_context_new*() not freed before.
#[no_mangle]
pub unsafe extern "C" fn xenbr_context_free(ctx: *mut xenbr_context) {
    catch((), || {
        if !ctx.is_null() {
            // SAFETY: made by Box::into_raw in `open`, freed once (caller).
            drop(unsafe { Box::from_raw(ctx) });
        }
    })
}

/// The last error on `ctx`, for the accessors.
///
/// # Safety
/// `ctx` is NULL or a live context no other thread is using.
unsafe fn last<'a>(ctx: *const xenbr_context) -> Option<&'a LastError> {
    // SAFETY: passed on from the caller.
    unsafe { ctx.as_ref() }.and_then(|c| c.error.as_ref())
}

/// The result code of the last call on `ctx` that failed, or
/// XENBR_RESULT_OK when the last call succeeded (or for a NULL `ctx`).
///
/// Every call on a context other than these xenbr_context_error_*
/// accessors clears its error first, so the details below always describe
/// the most recent call.
///
/// # Safety
/// `ctx` is NULL or a live context no other thread is using.
#[no_mangle]
pub unsafe extern "C" fn xenbr_context_error_code(ctx: *const xenbr_context) -> xenbr_result {
    // SAFETY: passed on from the caller.
    catch(xenbr_result::Panic, || match unsafe { last(ctx) } {
        Some(e) => e.code,
        None => xenbr_result::Ok,
    })
}

/// The class of the first failure behind the last error: for
/// XENBR_RESULT_ROLLED_BACK and XENBR_RESULT_ROLLBACK_FAILED, the code of
/// the step that failed (XENBR_RESULT_NOT_FOUND, ...); otherwise the same
/// as xenbr_context_error_code().
///
/// # Safety
/// `ctx` is NULL or a live context no other thread is using.
#[no_mangle]
pub unsafe extern "C" fn xenbr_context_error_cause(ctx: *const xenbr_context) -> xenbr_result {
    // SAFETY: passed on from the caller.
    catch(xenbr_result::Panic, || match unsafe { last(ctx) } {
        Some(e) => e.cause,
        None => xenbr_result::Ok,
    })
}

/// The last error's whole message, naming the operation and its interfaces
/// ("vif online vif9.0: interface vif9.0 does not exist"), or NULL when the
/// last call succeeded.
///
/// Borrowed: the string belongs to `ctx` and stays valid until the next
/// call on `ctx` other than these xenbr_context_error_* accessors, or until
/// xenbr_context_free(). Do not free it; copy it to keep it.
///
/// # Safety
/// `ctx` is NULL or a live context no other thread is using.
#[no_mangle]
pub unsafe extern "C" fn xenbr_context_error_message(ctx: *const xenbr_context) -> *const c_char {
    // SAFETY: passed on from the caller.
    catch(std::ptr::null(), || match unsafe { last(ctx) } {
        Some(e) => e.message.as_ptr(),
        None => std::ptr::null(),
    })
}

/// The operation the last error is about, such as
/// "vif online: set master of vif9.0 to xenbr0 (step 3 of 5)" or
/// "xenbr_vif_offline", or NULL when the last call succeeded.
///
/// Borrowed, as xenbr_context_error_message().
///
/// # Safety
/// `ctx` is NULL or a live context no other thread is using.
#[no_mangle]
pub unsafe extern "C" fn xenbr_context_error_op(ctx: *const xenbr_context) -> *const c_char {
    // SAFETY: passed on from the caller.
    catch(std::ptr::null(), || match unsafe { last(ctx) } {
        Some(e) => e.op.as_ptr(),
        None => std::ptr::null(),
    })
}

/// The interface the last error is about, when one is known, else NULL: in
/// an array of vifs the one whose request failed, for a start the NIC, for
/// a refused name the name itself (not UTF-8 bytes shown as U+FFFD).
///
/// Borrowed, as xenbr_context_error_message().
///
/// # Safety
/// `ctx` is NULL or a live context no other thread is using.
#[no_mangle]
pub unsafe extern "C" fn xenbr_context_error_interface(ctx: *const xenbr_context) -> *const c_char {
    // SAFETY: passed on from the caller.
    catch(std::ptr::null(), || match unsafe { last(ctx) } {
        Some(e) => e
            .interface
            .as_ref()
            .map_or(std::ptr::null(), |s| s.as_ptr()),
        None => std::ptr::null(),
    })
}

/// The errno behind the last error (positive, as `errno` is: ENODEV, ...)
/// when the kernel or the file system gave one, else 0.
///
/// # Safety
/// `ctx` is NULL or a live context no other thread is using.
#[no_mangle]
pub unsafe extern "C" fn xenbr_context_error_errno(ctx: *const xenbr_context) -> c_int {
    // SAFETY: passed on from the caller.
    catch(0, || unsafe { last(ctx) }.map_or(0, |e| e.errno))
}
