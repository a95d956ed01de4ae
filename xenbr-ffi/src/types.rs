//! The structs C fills in to describe a request. Each is plain data that
//! xenbr only reads during the call and never keeps: the caller owns it and
//! every string it points to. Zero-initialise one (`= {0}`) and set what you
//! need: every zero or NULL field means "the default".

use std::ffi::c_char;

/// The layout `xenbr_start` builds, for xenbr_start_options.mode.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum xenbr_mode {
    /// Xen 3.0/3.1 (the default): bridge `xenbrN`; the NIC becomes `pethN`,
    /// and a veth pair's end takes the NIC's name, MAC, addresses and routes,
    /// its peer `vif0.N` on the bridge.
    Classic = 0,
    /// Xen 3.2 to 4.4: the bridge takes the NIC's name, MAC, addresses and
    /// routes; the NIC becomes `p<netdev>`, its port.
    Bridge = 1,
}

/// One NIC and the bridge to put it on. A NULL field takes Xen's default:
/// the NIC of the IPv4 default route, the bridge `xenbrN` (classic) or the
/// NIC's own name (bridge mode).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct xenbr_pair {
    /// The NIC ("eth0"), or NULL.
    pub netdev: *const c_char,
    /// The bridge ("xenbr0"), or NULL.
    pub bridge: *const c_char,
}

/// What xenbr_start() takes over: Xen's `network-bridge start`.
///
/// The pairs are `netdev`/`bridge` (when either is set) followed by the
/// `pairs_len` entries of `pairs`. No pair at all means one pair with every
/// default, as `network-bridge start` without arguments.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct xenbr_start_options {
    /// A xenbr_mode value: XENBR_MODE_CLASSIC (0, the default) or
    /// XENBR_MODE_BRIDGE (1). Any other value is an invalid argument.
    pub mode: u32,
    /// The NIC of a first pair, or NULL.
    pub netdev: *const c_char,
    /// The bridge of a first pair, or NULL.
    pub bridge: *const c_char,
    /// More pairs, or NULL when `pairs_len` is 0.
    pub pairs: *const xenbr_pair,
    /// How many entries `pairs` has.
    pub pairs_len: usize,
}

/// What xenbr_stop() undoes: Xen's `network-bridge stop`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct xenbr_stop_options {
    /// The bridges whose takeover to undo, or NULL (with `bridges_len` 0)
    /// for every takeover xenbr has recorded on this host.
    pub bridges: *const *const c_char,
    /// How many entries `bridges` has.
    pub bridges_len: usize,
    /// Take guests' interfaces still on a bridge down and off it first,
    /// instead of refusing with XENBR_RESULT_CONFLICT.
    pub force: bool,
}

/// One guest's backend interface for xenbr_vif_online(): Xen's
/// `vif-bridge online` (or `add`, for a tap).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct xenbr_vif {
    /// The interface as it exists now ("vif5.0", "vif5.0-emu"). Required.
    pub name: *const c_char,
    /// The bridge, or NULL: the one xenbr_start() set up when there is one,
    /// else the only bridge on the host (several is an error naming them).
    pub bridge: *const c_char,
    /// The MTU, or 0 for the bridge's.
    pub mtu: u32,
    /// A new name for the interface (xl's `vifname=`), or NULL to keep it.
    pub vifname: *const c_char,
}
