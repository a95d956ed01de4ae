//! SIGTERM and SIGINT for `xenbr watch`: the handler only writes to the
//! link stream's stopper (an eventfd: the self-pipe), which is
//! async-signal-safe. The stream then ends, and watch finishes the batch in
//! hand before it returns, so a signal never cuts a transaction.

use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicI32, Ordering};

use xenbr_core::netlink::events::stop_fd;
use xenbr_core::netlink::Stopper;
use xenbr_core::{Error, Result};

/// The stopper's descriptor while handlers are installed, else -1.
static STOP_FD: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_signal(_: libc::c_int) {
    let fd = STOP_FD.load(Ordering::SeqCst);
    if fd >= 0 {
        stop_fd(fd);
    }
}

/// Puts the default handlers back when dropped; holds the stopper, so that
/// its descriptor stays open while a handler may write to it.
pub struct Installed {
    _stopper: Stopper,
}

const SIGNALS: [libc::c_int; 2] = [libc::SIGTERM, libc::SIGINT];

fn set(signal: libc::c_int, handler: libc::sighandler_t) -> std::io::Result<()> {
    // SAFETY: a zeroed sigaction is valid; the fields we need are set
    // before it is used; sigemptyset and sigaction get valid pointers.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = handler;
        // Interrupted system calls restart: netlink, journal and XenStore
        // I/O go on as if nothing happened.
        sa.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut sa.sa_mask);
        if libc::sigaction(signal, &sa, std::ptr::null_mut()) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Makes SIGTERM and SIGINT stop the stream of `stopper`.
pub fn stop_on_signals(stopper: &Stopper) -> Result<Installed> {
    STOP_FD.store(stopper.as_raw_fd(), Ordering::SeqCst);
    for s in SIGNALS {
        set(s, on_signal as *const () as libc::sighandler_t)
            .map_err(|e| Error::io("install the SIGTERM and SIGINT handlers", e))?;
    }
    Ok(Installed {
        _stopper: stopper.clone(),
    })
}

impl Drop for Installed {
    fn drop(&mut self) {
        for s in SIGNALS {
            let _ = set(s, libc::SIG_DFL);
        }
        STOP_FD.store(-1, Ordering::SeqCst);
    }
}
