//! The only code that speaks netlink: a synchronous rtnetlink [`Socket`]
//! (request/ACK by sequence number, checked dumps, pipelined batches), the
//! typed [`Request`]s that carry bound operations, the parsing of kernel
//! messages into [`crate::state`] values, and the link notifications of
//! [`events`] (a [`LinkMonitor`], or a `futures::Stream`).

mod ack;
pub mod events;
mod read;
mod request;
mod scope;
mod socket;

pub use ack::KernelAck;
pub use events::{LinkEvent, LinkEventStream, LinkMonitor, LinkState, Stopper};
pub use request::{Request, SetLink, Target};
pub use scope::Scope;
pub(crate) use scope::BY_NAME_MAX;
pub use socket::Socket;
pub(crate) use socket::{Encoded, Outcome};
