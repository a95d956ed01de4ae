//! xenbr-core: what Xen's `network-bridge` and `vif-bridge` hotplug scripts do
//! on a Linux dom0, as transactions over rtnetlink that either complete or
//! leave the host exactly as it was.
//!
//! The shape: a request is turned, by pure functions, into a plan (a list of
//! typed operations) computed from a snapshot of the kernel's state; a
//! transaction executes the plan over rtnetlink, journals each step's undo
//! first, verifies the result, and rolls back on any failure.
#![warn(missing_docs)]

pub mod error;
mod fasthash;
mod host;
pub mod journal;
pub mod names;
pub mod netlink;
pub mod op;
pub mod plan;
pub mod records;
pub mod sandbox;
pub mod state;
pub mod status;
pub mod txn;
pub mod xen;

pub use error::{Error, ErrorKind, Result};
pub use host::{
    has_cap_net_admin, in_named_netns, BatchOutcome, Host, NetworkBridgeOutcome, Recovered,
    StartOutcome, StopOutcome, VifBridgeOutcome, VifOutcome, WatchOptions, WatchReport,
    WatchSummary,
};
pub use names::{IfName, IpNet, MacAddr, Mtu, NamePattern, ValueError};
pub use op::Op;
pub use plan::takeover::{Pair, StartRequest, StopRequest};
pub use plan::vif::VifRequest;
pub use plan::Plan;
pub use records::{Mode, Records, Takeover};
pub use state::Snapshot;
