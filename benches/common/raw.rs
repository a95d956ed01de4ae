//! The floor the benchmarks measure tools against: rtnetlink messages
//! encoded by hand and sent pipelined, with nothing around them (no
//! journal, no lock, no planning, no verification, no error text). Only
//! what the kernel must be told, and only what a sender must ask the kernel
//! to know what to tell it.
//!
//! Hand-encoded on purpose: a message crate would add its own cost to a
//! number whose point is to have none. The socket is set up as xenbr's is
//! (a 4 MiB receive buffer, so that a window of ACKs cannot overflow it,
//! and capped ACKs), since those choices decide how far a batch can be
//! pipelined, which is what a floor is about.

use std::collections::HashMap;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

const RTM_NEWLINK: u16 = 16;
const RTM_GETLINK: u16 = 18;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;
const NLM_F_DUMP: u16 = 0x300;
const IFLA_ADDRESS: u16 = 1;
const IFLA_IFNAME: u16 = 3;
const IFLA_MTU: u16 = 4;
const IFLA_MASTER: u16 = 10;
const IFLA_LINKINFO: u16 = 18;
const IFLA_EXT_MASK: u16 = 29;
const IFLA_INFO_KIND: u16 = 1;
const IFLA_INFO_DATA: u16 = 2;
const VETH_INFO_PEER: u16 = 1;
const NLA_F_NESTED: u16 = 0x8000;
const RTEXT_FILTER_SKIP_STATS: u32 = 1 << 3;
const IFF_UP: u32 = 0x1;
const SOL_NETLINK: libc::c_int = 270;
const NETLINK_CAP_ACK: libc::c_int = 10;
/// Bytes of requests per datagram, as xenbr packs them.
const DATAGRAM: usize = 32 * 1024;
/// Requests in flight at once: well inside what a 4 MiB receive buffer
/// holds of their ACKs.
const WINDOW: usize = 1024;

/// A raw `NETLINK_ROUTE` socket.
pub struct Raw {
    fd: OwnedFd,
    seq: u32,
    rx: Vec<u8>,
}

/// One link's attach, as one `RTM_NEWLINK`: `ip link set dev INDEX address
/// MAC mtu MTU master MASTER up`.
#[derive(Debug, Clone, Copy)]
pub struct Attach {
    pub index: u32,
    pub mac: [u8; 6],
    pub mtu: u32,
    pub master: u32,
}

fn align(n: usize) -> usize {
    (n + 3) & !3
}

fn put_attr(out: &mut Vec<u8>, ty: u16, data: &[u8]) {
    let len = 4 + data.len();
    out.extend_from_slice(&(len as u16).to_ne_bytes());
    out.extend_from_slice(&ty.to_ne_bytes());
    out.extend_from_slice(data);
    out.resize(out.len() - len + align(len), 0);
}

/// Starts a nested attribute; returns where its length goes.
fn open_nest(out: &mut Vec<u8>, ty: u16) -> usize {
    let at = out.len();
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&(ty | NLA_F_NESTED).to_ne_bytes());
    at
}

fn close_nest(out: &mut [u8], at: usize) {
    let len = (out.len() - at) as u16;
    out[at..at + 2].copy_from_slice(&len.to_ne_bytes());
}

/// An `ifinfomsg`: family 0, the index, flags and change mask.
fn ifinfo(out: &mut Vec<u8>, index: u32, flags: u32, change: u32) {
    out.extend_from_slice(&[0, 0, 0, 0]); // family, pad, type
    out.extend_from_slice(&index.to_ne_bytes());
    out.extend_from_slice(&flags.to_ne_bytes());
    out.extend_from_slice(&change.to_ne_bytes());
}

fn name_attr(out: &mut Vec<u8>, ty: u16, name: &str) {
    let mut b = name.as_bytes().to_vec();
    b.push(0);
    put_attr(out, ty, &b);
}

impl Raw {
    /// Opens the socket in the calling thread's network namespace.
    pub fn open() -> io::Result<Raw> {
        // SAFETY: plain socket calls on a descriptor we own.
        unsafe {
            let fd = libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_ROUTE,
            );
            if fd < 0 {
                return Err(io::Error::last_os_error());
            }
            let fd = OwnedFd::from_raw_fd(fd);
            let one: libc::c_int = 1;
            let buf: libc::c_int = 4 << 20;
            let set = |level, opt, v: &libc::c_int| {
                libc::setsockopt(
                    fd.as_raw_fd(),
                    level,
                    opt,
                    (v as *const libc::c_int).cast(),
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                )
            };
            if set(libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, &buf) < 0
                || set(SOL_NETLINK, NETLINK_CAP_ACK, &one) < 0
            {
                return Err(io::Error::last_os_error());
            }
            let mut sa: libc::sockaddr_nl = std::mem::zeroed();
            sa.nl_family = libc::AF_NETLINK as libc::sa_family_t;
            if libc::bind(
                fd.as_raw_fd(),
                (&sa as *const libc::sockaddr_nl).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            ) < 0
            {
                return Err(io::Error::last_os_error());
            }
            Ok(Raw {
                fd,
                seq: 0,
                rx: vec![0; 64 * 1024],
            })
        }
    }

    /// Appends a message header for `ty` with `flags`; returns where the
    /// message starts, for [`Raw::finish`].
    fn begin(&mut self, out: &mut Vec<u8>, ty: u16, flags: u16) -> usize {
        self.seq += 1;
        let at = out.len();
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(&ty.to_ne_bytes());
        out.extend_from_slice(&(flags | NLM_F_REQUEST).to_ne_bytes());
        out.extend_from_slice(&self.seq.to_ne_bytes());
        out.extend_from_slice(&[0; 4]);
        at
    }

    fn finish(out: &mut [u8], at: usize) {
        let len = (out.len() - at) as u32;
        out[at..at + 4].copy_from_slice(&len.to_ne_bytes());
    }

    fn send(&self, buf: &[u8]) -> io::Result<()> {
        // SAFETY: the buffer is valid for its length.
        let n = unsafe { libc::send(self.fd.as_raw_fd(), buf.as_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    fn recv(&mut self) -> io::Result<usize> {
        // SAFETY: the buffer is valid for its length.
        let n = unsafe {
            libc::recv(
                self.fd.as_raw_fd(),
                self.rx.as_mut_ptr().cast(),
                self.rx.len(),
                0,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(n as usize)
    }

    /// Calls `f(type, payload)` for each message of the first `len` bytes
    /// received.
    fn each(&self, len: usize, mut f: impl FnMut(u16, &[u8]) -> io::Result<()>) -> io::Result<()> {
        let mut b = &self.rx[..len];
        while b.len() >= 16 {
            let mlen = u32::from_ne_bytes(b[0..4].try_into().unwrap()) as usize;
            if mlen < 16 || mlen > b.len() {
                return Err(io::Error::other("malformed netlink message"));
            }
            let ty = u16::from_ne_bytes(b[4..6].try_into().unwrap());
            f(ty, &b[16..mlen])?;
            b = &b[align(mlen).min(b.len())..];
        }
        Ok(())
    }

    /// Every link's index by name: one `RTM_GETLINK` dump, statistics
    /// skipped (as `ip` and xenbr ask), names read straight from the
    /// attributes.
    pub fn link_indices(&mut self) -> io::Result<HashMap<String, u32>> {
        let mut req = Vec::with_capacity(64);
        let at = self.begin(&mut req, RTM_GETLINK, NLM_F_DUMP);
        ifinfo(&mut req, 0, 0, 0);
        put_attr(
            &mut req,
            IFLA_EXT_MASK,
            &RTEXT_FILTER_SKIP_STATS.to_ne_bytes(),
        );
        Self::finish(&mut req, at);
        self.send(&req)?;
        let mut out = HashMap::new();
        loop {
            let len = self.recv()?;
            let mut done = false;
            self.each(len, |ty, p| {
                match ty {
                    NLMSG_DONE => done = true,
                    NLMSG_ERROR => {
                        let errno = i32::from_ne_bytes(p[0..4].try_into().unwrap());
                        if errno != 0 {
                            return Err(io::Error::from_raw_os_error(-errno));
                        }
                    }
                    RTM_NEWLINK if p.len() >= 16 => {
                        let index = u32::from_ne_bytes(p[4..8].try_into().unwrap());
                        let mut a = &p[16..];
                        while a.len() >= 4 {
                            let alen = u16::from_ne_bytes(a[0..2].try_into().unwrap()) as usize;
                            let aty = u16::from_ne_bytes(a[2..4].try_into().unwrap());
                            if alen < 4 || alen > a.len() {
                                break;
                            }
                            if aty == IFLA_IFNAME {
                                let v = &a[4..alen];
                                let v = v.split(|c| *c == 0).next().unwrap_or(v);
                                out.insert(String::from_utf8_lossy(v).into_owned(), index);
                                break;
                            }
                            a = &a[align(alen).min(a.len())..];
                        }
                    }
                    _ => {}
                }
                Ok(())
            })?;
            if done {
                return Ok(out);
            }
        }
    }

    /// Sends `msgs` (each a whole message with `NLM_F_ACK`, sequence
    /// numbers consecutive from `first`) packed into datagrams, a window at
    /// a time, and checks every ACK.
    fn pipeline(&mut self, msgs: &[Vec<u8>], first: u32) -> io::Result<()> {
        let mut i = 0;
        let mut dgram = Vec::with_capacity(DATAGRAM);
        while i < msgs.len() {
            let start = i;
            let mut pending = 0;
            while i < msgs.len() && i - start < WINDOW {
                dgram.clear();
                while i < msgs.len()
                    && i - start < WINDOW
                    && (dgram.is_empty() || dgram.len() + msgs[i].len() <= DATAGRAM)
                {
                    dgram.extend_from_slice(&msgs[i]);
                    i += 1;
                    pending += 1;
                }
                self.send(&dgram)?;
            }
            while pending > 0 {
                let len = self.recv()?;
                let mut failed = None;
                let mut acked = 0;
                self.each(len, |ty, p| {
                    if ty == NLMSG_ERROR {
                        acked += 1;
                        let errno = i32::from_ne_bytes(p[0..4].try_into().unwrap());
                        if errno != 0 && failed.is_none() {
                            let seq = u32::from_ne_bytes(p[12..16].try_into().unwrap());
                            failed = Some((seq.wrapping_sub(first), errno));
                        }
                    }
                    Ok(())
                })?;
                if let Some((k, errno)) = failed {
                    return Err(io::Error::other(format!(
                        "request {k} failed: {}",
                        io::Error::from_raw_os_error(-errno)
                    )));
                }
                pending -= acked;
            }
        }
        Ok(())
    }

    /// Attaches links, one combined `RTM_NEWLINK` each, by index, pipelined.
    pub fn attach(&mut self, links: &[Attach]) -> io::Result<()> {
        let first = self.seq + 1;
        let mut msgs = Vec::with_capacity(links.len());
        for l in links {
            let mut m = Vec::with_capacity(64);
            let at = self.begin(&mut m, RTM_NEWLINK, NLM_F_ACK);
            ifinfo(&mut m, l.index, IFF_UP, IFF_UP);
            put_attr(&mut m, IFLA_ADDRESS, &l.mac);
            put_attr(&mut m, IFLA_MTU, &l.mtu.to_ne_bytes());
            put_attr(&mut m, IFLA_MASTER, &l.master.to_ne_bytes());
            Self::finish(&mut m, at);
            msgs.push(m);
        }
        self.pipeline(&msgs, first)
    }

    /// Creates veth pairs `(name, peer)`, one `RTM_NEWLINK` each, pipelined.
    pub fn create_veths(&mut self, pairs: &[(String, String)]) -> io::Result<()> {
        let first = self.seq + 1;
        let mut msgs = Vec::with_capacity(pairs.len());
        for (name, peer) in pairs {
            let mut m = Vec::with_capacity(96);
            let at = self.begin(&mut m, RTM_NEWLINK, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL);
            ifinfo(&mut m, 0, 0, 0);
            name_attr(&mut m, IFLA_IFNAME, name);
            let info = open_nest(&mut m, IFLA_LINKINFO);
            name_attr(&mut m, IFLA_INFO_KIND, "veth");
            let data = open_nest(&mut m, IFLA_INFO_DATA);
            let p = open_nest(&mut m, VETH_INFO_PEER);
            ifinfo(&mut m, 0, 0, 0);
            name_attr(&mut m, IFLA_IFNAME, peer);
            close_nest(&mut m, p);
            close_nest(&mut m, data);
            close_nest(&mut m, info);
            Self::finish(&mut m, at);
            msgs.push(m);
        }
        self.pipeline(&msgs, first)
    }
}
