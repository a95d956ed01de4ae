//! Throwaway network namespaces and a simulated Xen host inside them, for
//! `xenbr sandbox`, the tests and the benchmarks. Nothing here touches the
//! namespace the process started in.
//!
//! A physical NIC is simulated by a veth whose other end lives in an
//! "upstream" namespace (the switch and the router beyond it); a guest by a
//! namespace reached through a veth `vifN.0` on the host side.

mod netns;
mod probe;
mod tap;
mod world;

pub use netns::Netns;
pub use probe::{probe, Reach};
pub use world::{
    address, hop, route, Guest, World, GUEST_NET, HOST_ADDR4, HOST_ADDR6, UPSTREAM_ADDR4,
    UPSTREAM_ADDR6,
};
