//! Xen's own formats and services: xl vif specs, xend-config.sxp, XenStore.

pub mod xenstore;
