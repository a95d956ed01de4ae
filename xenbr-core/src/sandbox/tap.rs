//! Persistent tap devices, as Xen's qemu backends leave them for
//! `vif-bridge add` (`ip tuntap add NAME mode tap`). Made with the tun
//! driver's ioctls: there is no netlink request for them.

use std::fs::OpenOptions;
use std::os::fd::AsRawFd;

use super::Netns;
use crate::error::{Error, Result};
use crate::names::IfName;

const TUNSETIFF: libc::c_ulong = 0x4004_54ca;
const TUNSETPERSIST: libc::c_ulong = 0x4004_54cb;
const IFF_TAP: libc::c_short = 0x0002;
const IFF_NO_PI: libc::c_short = 0x1000;

fn create(name: &IfName) -> Result<()> {
    let op = format!("create tap {name}");
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/net/tun")
        .map_err(|e| Error::io(&op, e))?;
    // struct ifreq: the name, then the flags.
    let mut ifr = [0u8; 40];
    ifr[..name.as_str().len()].copy_from_slice(name.as_str().as_bytes());
    ifr[16..18].copy_from_slice(&(IFF_TAP | IFF_NO_PI).to_ne_bytes());
    // SAFETY: both ioctls take a pointer to a 40-byte ifreq or an int.
    unsafe {
        if libc::ioctl(f.as_raw_fd(), TUNSETIFF as _, ifr.as_mut_ptr()) < 0
            || libc::ioctl(f.as_raw_fd(), TUNSETPERSIST as _, 1 as libc::c_ulong) < 0
        {
            return Err(Error::io(&op, std::io::Error::last_os_error()));
        }
    }
    Ok(())
}

impl Netns {
    /// Creates persistent tap devices, down and on no bridge, in this namespace.
    pub fn create_taps(&self, names: &[IfName]) -> Result<()> {
        self.run(|| names.iter().try_for_each(create))?
    }
}
