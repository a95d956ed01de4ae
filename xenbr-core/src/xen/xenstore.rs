//! A XenStore client: the xenstored wire protocol over its Unix socket,
//! synchronous and std-only.
//!
//! `client` owns the socket, request/reply matching and the watch-event
//! queue; `transaction` the retry loop; `wire` the message format (pure, no
//! I/O); `errors` the mapping of xenstored's errno names to [`crate::Error`]:
//! ENOENT is [`Error::NotFound`](crate::Error::NotFound), EACCES and EPERM
//! [`Error::Permission`](crate::Error::Permission), EAGAIN and EBUSY
//! [`Error::Busy`](crate::Error::Busy), EEXIST
//! [`Error::Exists`](crate::Error::Exists), and the others
//! [`Error::Kernel`](crate::Error::Kernel) with their errno. Every message
//! names the operation and the path: "xenstore read backend/vif/5/0/bridge:
//! node does not exist".
//!
//! ```no_run
//! use xenbr_core::xen::xenstore::XenStore;
//!
//! let mut xs = XenStore::open()?;
//! let bridge = xs.read("backend/vif/5/0/bridge")?;
//! xs.write("backend/vif/5/0/hotplug-status", "connected")?;
//! # let _ = bridge;
//! # Ok::<(), xenbr_core::Error>(())
//! ```

mod client;
mod errors;
mod transaction;
mod wire;

pub use client::{WatchEvent, XenStore, DEFAULT_SOCKET, DEFAULT_TIMEOUT};
pub use transaction::{Transaction, TRANSACTION_ATTEMPTS};
pub use wire::PAYLOAD_MAX;
