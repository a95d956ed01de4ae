//! Xen's own formats and services: xl vif specs, xend-config.sxp, XenStore,
//! and the hotplug scripts' interface.

pub mod hotplug;
pub mod vif_spec;
pub mod xend_config;
pub mod xenstore;
