//! `catch_unwind` around every exported function: since Rust 1.81 a panic
//! that reaches an `extern "C"` boundary aborts the process, and the process
//! is the caller's (a toolstack daemon). Every exported body is one call to
//! [`catch`] or [`call`]; a unit test checks that none is missing.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};

use xenbr_core::{Host, Result};

use crate::context::xenbr_context;
use crate::result::xenbr_result;

/// Runs `f`, returning `on_panic` if it panics.
///
/// Unwind safety is asserted rather than proven: the only state a panic can
/// leave half-changed is a context's, and [`call`] poisons that context.
pub(crate) fn catch<T>(on_panic: T, f: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(on_panic)
}

/// The message of a panic's payload.
pub(crate) fn panic_text(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_string())
}

/// Runs operation `func` on the context `ctx`: clears its last error, calls
/// `f` with its [`Host`], and keeps the error `f` returns, or the panic it
/// raises, as the context's last error. A NULL `ctx` is an invalid argument
/// (with nowhere to keep a message).
///
/// # Safety
/// `ctx` is NULL or a live context that no other thread is using.
pub(crate) unsafe fn call(
    ctx: *mut xenbr_context,
    func: &'static str,
    f: impl FnOnce(&mut Host) -> Result<()>,
) -> xenbr_result {
    catch(xenbr_result::Panic, || {
        // SAFETY: passed on from the caller.
        match unsafe { ctx.as_mut() } {
            None => xenbr_result::InvalidArgument,
            Some(ctx) => ctx.run(func, f),
        }
    })
}
