//! Xen's own formats and services: xl vif specs, xend-config.sxp, XenStore.

pub mod vif_spec;
pub mod xend_config;
pub mod xenstore;
