//! Link events: what the kernel announces to the rtnetlink multicast group
//! for links (`RTNLGRP_LINK`, the group `ip monitor link` listens to), parsed
//! into typed [`LinkEvent`]s. They come two ways:
//!
//! - [`LinkMonitor`], blocking: an iterator, or
//!   [`next_event`](LinkMonitor::next_event) with a timeout;
//! - [`LinkEventStream`], a `futures::Stream` for any executor. A thread owns
//!   the monitor and hands events over a channel; dropping the stream, or
//!   [`Stopper::stop`], ends it.
//!
//! A monitor subscribes first and then reads every link once, so no link
//! created in between is missed. From then on it knows the namespace's links
//! by index, which is how it tells a link that appeared
//! ([`LinkEvent::Added`]) from one that changed ([`LinkEvent::Changed`],
//! renames included). Events describe changes against
//! [`LinkMonitor::links`] as they were when it opened.
//!
//! Only whole-link notifications count (`ifi_family` `AF_UNSPEC`). The
//! bridge also sends `RTM_NEWLINK` / `RTM_DELLINK` to this group, with
//! family `AF_BRIDGE`, when a port joins or leaves it. Those say nothing
//! about the link itself, and a `DELLINK` of that kind does not mean the link
//! is gone, so they are skipped.
//!
//! # Lost events
//!
//! When the socket's receive buffer is full the kernel drops notifications
//! and reports `ENOBUFS` on the next read. The monitor asks for a 4 MiB
//! buffer, so that takes a burst of thousands of links. When it does happen,
//! the monitor resynchronises. It discards what is still queued (older than
//! the gap), reads every link again with a fresh dump, emits
//! [`LinkEvent::Overrun`], and then emits `Removed`, `Added` and `Changed`
//! for every difference between what it knew and the dump. A datagram too
//! large for the receive buffer is handled the same way. After an `Overrun`,
//! a consumer's view is right again once it has taken the events that
//! follow.

use std::collections::{HashMap, VecDeque};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use futures::channel::mpsc;
use futures::Stream;
use netlink_sys::{protocols::NETLINK_ROUTE, SocketAddr};

use super::read::{parse_link, RawLink};
use super::socket::{setsockopt_int, split, RCVBUF_WANTED};
use super::Socket;
use crate::error::{Error, Result};
use crate::names::{IfName, MacAddr};
use crate::state::LinkKind;

/// The rtnetlink multicast group for links (`RTNLGRP_LINK`; `RTMGRP_LINK` is
/// its bit, 1).
const RTNLGRP_LINK: u32 = 1;
const RTM_NEWLINK: u16 = 16;
const RTM_DELLINK: u16 = 17;
/// Larger than any link notification the kernel sends (a few KiB).
const RX_BUF: usize = 64 * 1024;
/// Bound on the datagrams discarded by one resynchronisation.
const DRAIN_MAX: usize = 100_000;
const OP: &str = "read link events";

/// A link as a notification describes it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LinkState {
    /// The kernel's interface index; it stays the same across renames.
    pub index: u32,
    /// Its name now.
    pub name: IfName,
    /// Its kind.
    pub kind: LinkKind,
    /// The driver's kind string (`IFLA_INFO_KIND`: `bridge`, `tun`, `veth`),
    /// when the kernel gives one.
    pub info_kind: Option<std::borrow::Cow<'static, str>>,
    /// Administratively up.
    pub up: bool,
    /// Its MTU.
    pub mtu: u32,
    /// Its hardware address, when it has one of six bytes.
    pub mac: Option<MacAddr>,
    /// The index of its master (the bridge it is a port of), if any.
    pub master: Option<u32>,
}

impl From<RawLink> for LinkState {
    fn from(r: RawLink) -> LinkState {
        LinkState {
            index: r.link.index,
            name: r.link.name,
            kind: r.link.kind,
            info_kind: r.link.info_kind,
            up: r.link.up,
            mtu: r.link.mtu,
            mac: r.link.mac,
            master: r.master,
        }
    }
}

/// Something that happened to the links of a namespace.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkEvent {
    /// A link appeared (`RTM_NEWLINK` for an index not known before).
    Added(LinkState),
    /// A known link changed: its name, MTU, MAC, up/down or master.
    /// Notifications that change none of those are not reported.
    Changed(LinkState),
    /// A known link is gone (`RTM_DELLINK`, or missing from the dump after a
    /// resynchronisation); the state is its last one.
    Removed(LinkState),
    /// The kernel dropped notifications. The monitor re-read every link; the
    /// differences follow as `Removed`, `Added` and `Changed` events.
    Overrun,
}

impl LinkEvent {
    /// The link the event is about (`None` for [`LinkEvent::Overrun`]).
    pub fn link(&self) -> Option<&LinkState> {
        match self {
            LinkEvent::Added(l) | LinkEvent::Changed(l) | LinkEvent::Removed(l) => Some(l),
            LinkEvent::Overrun => None,
        }
    }
}

/// Link events of one network namespace, read synchronously. The namespace is
/// the one the calling thread is in when [`open`](Self::open) runs; the
/// monitor may then be used from any thread.
pub struct LinkMonitor {
    sock: netlink_sys::Socket,
    dump: Socket,
    known: HashMap<u32, LinkState>,
    queue: VecDeque<LinkEvent>,
    rx: Vec<u8>,
    overruns: u64,
}

impl std::fmt::Debug for LinkMonitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkMonitor")
            .field("links", &self.known.len())
            .field("queued", &self.queue.len())
            .field("overruns", &self.overruns)
            .finish()
    }
}

enum Wait {
    Ready,
    TimedOut,
    Stopped,
}

impl LinkMonitor {
    /// Subscribes to the link notifications of the current network namespace
    /// (`ip monitor link`), then reads its links.
    pub fn open() -> Result<LinkMonitor> {
        Self::open_with_buffer(RCVBUF_WANTED)
    }

    /// [`open`](Self::open) with a receive buffer of about `bytes` (the kernel
    /// doubles the value and has a floor): tests use a small one to make the
    /// kernel drop events.
    #[doc(hidden)]
    pub fn open_with_buffer(bytes: usize) -> Result<LinkMonitor> {
        let op = "subscribe to link events";
        let mut sock = netlink_sys::Socket::new(NETLINK_ROUTE).map_err(|e| Error::io(op, e))?;
        sock.bind(&SocketAddr::new(0, 0))
            .map_err(|e| Error::io(op, e))?;
        sock.add_membership(RTNLGRP_LINK)
            .map_err(|e| Error::io(op, e))?;
        let fd = sock.as_raw_fd();
        let want = bytes.min(i32::MAX as usize) as libc::c_int;
        // SO_RCVBUFFORCE passes the system's cap and needs CAP_NET_ADMIN.
        if setsockopt_int(fd, libc::SO_RCVBUFFORCE, want).is_err() {
            let _ = setsockopt_int(fd, libc::SO_RCVBUF, want);
        }
        // Subscribed first, so a link made during the dump is in the dump,
        // in the queue, or both; never in neither.
        let mut dump = Socket::open()?;
        let known = by_index(dump.raw_links()?);
        Ok(LinkMonitor {
            sock,
            dump,
            known,
            queue: VecDeque::new(),
            rx: vec![0; RX_BUF],
            overruns: 0,
        })
    }

    /// The links as the monitor knows them now, by index: at first, every
    /// link there was when it opened; then updated by each event it has
    /// received (including events still waiting to be taken).
    pub fn links(&self) -> Vec<LinkState> {
        let mut v: Vec<LinkState> = self.known.values().cloned().collect();
        v.sort_by_key(|l| l.index);
        v
    }

    /// How many times the kernel dropped events and the monitor
    /// resynchronised.
    pub fn overruns(&self) -> u64 {
        self.overruns
    }

    /// The next event: a queued one at once, else waits up to `timeout`
    /// (`None`: for ever). `Ok(None)` when the time ran out.
    pub fn next_event(&mut self, timeout: Option<Duration>) -> Result<Option<LinkEvent>> {
        self.next_until(timeout, None)
    }

    /// Turns the monitor into a `futures::Stream`, read by a thread of its own.
    pub fn into_stream(self) -> Result<LinkEventStream> {
        let stopper = Stopper::new()?;
        let (tx, rx) = mpsc::unbounded();
        let stop = stopper.clone();
        let mut monitor = self;
        let thread = std::thread::Builder::new()
            .name("xenbr-link-events".into())
            .spawn(move || loop {
                match monitor.next_until(None, Some(stop.as_raw_fd())) {
                    Ok(Some(e)) => {
                        if tx.unbounded_send(Ok(e)).is_err() {
                            return; // nobody listens any more
                        }
                    }
                    Ok(None) => return, // stopped
                    Err(e) => {
                        let _ = tx.unbounded_send(Err(e));
                        return;
                    }
                }
            })
            .map_err(|e| Error::io("start the link event thread", e))?;
        Ok(LinkEventStream {
            rx,
            stopper,
            thread: Some(thread),
        })
    }

    /// The next event, waiting until `timeout` runs out or `stop` becomes
    /// readable (`Ok(None)` either way). Queued events come first.
    fn next_until(
        &mut self,
        timeout: Option<Duration>,
        stop: Option<RawFd>,
    ) -> Result<Option<LinkEvent>> {
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            if let Some(e) = self.queue.pop_front() {
                return Ok(Some(e));
            }
            match self.wait(deadline, stop)? {
                Wait::Ready => self.receive()?,
                Wait::TimedOut | Wait::Stopped => return Ok(None),
            }
        }
    }

    fn wait(&self, deadline: Option<Instant>, stop: Option<RawFd>) -> Result<Wait> {
        loop {
            let ms = match deadline {
                None => -1,
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    left.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32
                }
            };
            let mut fds = [
                libc::pollfd {
                    fd: self.sock.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                },
                libc::pollfd {
                    // poll ignores a negative descriptor.
                    fd: stop.unwrap_or(-1),
                    events: libc::POLLIN,
                    revents: 0,
                },
            ];
            // SAFETY: two valid pollfds for the duration of the call.
            let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, ms) };
            if n < 0 {
                let e = std::io::Error::last_os_error();
                if e.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(Error::io(OP, e));
            }
            if fds[1].revents != 0 {
                return Ok(Wait::Stopped);
            }
            if fds[0].revents != 0 {
                // POLLERR too: the pending error (ENOBUFS) comes out of recv.
                return Ok(Wait::Ready);
            }
            if n == 0 {
                return Ok(Wait::TimedOut);
            }
        }
    }

    /// Receives one datagram without blocking, or its error.
    fn recv_now(&mut self) -> std::result::Result<usize, std::io::Error> {
        // SAFETY: the buffer is valid for its length for the whole call.
        let n = unsafe {
            libc::recv(
                self.sock.as_raw_fd(),
                self.rx.as_mut_ptr().cast(),
                self.rx.len(),
                libc::MSG_DONTWAIT | libc::MSG_TRUNC,
            )
        };
        if n < 0 {
            Err(std::io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }

    /// Reads one datagram and queues its events; resynchronises when the
    /// kernel says it dropped some, or when the datagram did not fit.
    fn receive(&mut self) -> Result<()> {
        match self.recv_now() {
            Ok(n) if n > self.rx.len() => self.resync(),
            Ok(n) => apply_datagram(&self.rx[..n], &mut self.known, &mut self.queue),
            Err(e) => match e.raw_os_error() {
                Some(libc::EAGAIN) | Some(libc::EINTR) => Ok(()),
                Some(libc::ENOBUFS) => self.resync(),
                _ => Err(Error::io(OP, e)),
            },
        }
    }

    fn resync(&mut self) -> Result<()> {
        self.overruns += 1;
        // What is queued is older than the gap; the dump supersedes it.
        for _ in 0..DRAIN_MAX {
            match self.recv_now() {
                Ok(_) => {}
                Err(e) => match e.raw_os_error() {
                    Some(libc::EINTR) | Some(libc::ENOBUFS) => {}
                    Some(libc::EAGAIN) => break,
                    _ => return Err(Error::io(OP, e)),
                },
            }
        }
        let now = by_index(self.dump.raw_links()?);
        self.queue.push_back(LinkEvent::Overrun);
        differences(&self.known, &now, &mut self.queue);
        self.known = now;
        Ok(())
    }
}

impl Iterator for LinkMonitor {
    type Item = Result<LinkEvent>;
    /// Blocks until the next event.
    fn next(&mut self) -> Option<Result<LinkEvent>> {
        self.next_event(None).transpose()
    }
}

impl AsRawFd for LinkMonitor {
    /// The multicast socket, for a caller's own `poll`: take queued events
    /// with `next_event(Some(Duration::ZERO))` until it returns `None` first.
    fn as_raw_fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }
}

fn by_index(links: Vec<RawLink>) -> HashMap<u32, LinkState> {
    links
        .into_iter()
        .map(LinkState::from)
        .map(|l| (l.index, l))
        .collect()
}

/// Queues the events of every link notification in `datagram`, keeping
/// `known` up to date.
fn apply_datagram(
    datagram: &[u8],
    known: &mut HashMap<u32, LinkState>,
    out: &mut VecDeque<LinkEvent>,
) -> Result<()> {
    for m in split(datagram, OP)? {
        if m.ty != RTM_NEWLINK && m.ty != RTM_DELLINK {
            continue; // NOOP, DONE, ERROR: nothing about links
        }
        // A bridge port's notification (AF_BRIDGE) repeats what the link's
        // own says; ifinfomsg starts with the family.
        if m.payload.first().copied().unwrap_or(0) != 0 {
            continue;
        }
        let raw = parse_link(m.payload)
            .map_err(|e| Error::internal(OP, format!("cannot parse a kernel message: {e}")))?;
        if let Some(raw) = raw {
            apply_one(m.ty == RTM_NEWLINK, raw.into(), known, out);
        }
    }
    Ok(())
}

fn apply_one(
    new: bool,
    link: LinkState,
    known: &mut HashMap<u32, LinkState>,
    out: &mut VecDeque<LinkEvent>,
) {
    if new {
        match known.insert(link.index, link.clone()) {
            None => out.push_back(LinkEvent::Added(link)),
            Some(old) if old != link => out.push_back(LinkEvent::Changed(link)),
            Some(_) => {}
        }
    } else if known.remove(&link.index).is_some() {
        // An unknown index was never reported (or was already reported
        // gone by a resynchronisation): nothing to say.
        out.push_back(LinkEvent::Removed(link));
    }
}

/// The events that turn `before` into `after`, by index order: removals,
/// then additions and changes.
fn differences(
    before: &HashMap<u32, LinkState>,
    after: &HashMap<u32, LinkState>,
    out: &mut VecDeque<LinkEvent>,
) {
    let mut gone: Vec<&LinkState> = before
        .values()
        .filter(|l| !after.contains_key(&l.index))
        .collect();
    gone.sort_by_key(|l| l.index);
    out.extend(gone.into_iter().cloned().map(LinkEvent::Removed));
    let mut now: Vec<&LinkState> = after.values().collect();
    now.sort_by_key(|l| l.index);
    for l in now {
        match before.get(&l.index) {
            None => out.push_back(LinkEvent::Added(l.clone())),
            Some(old) if old != l => out.push_back(LinkEvent::Changed(l.clone())),
            Some(_) => {}
        }
    }
}

/// Ends a [`LinkEventStream`] from anywhere: another thread, or a signal
/// handler. Cheap to clone; every clone stops the same stream.
#[derive(Debug, Clone)]
pub struct Stopper(Arc<OwnedFd>);

impl Stopper {
    fn new() -> Result<Stopper> {
        // SAFETY: eventfd returns a new descriptor or -1.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if fd < 0 {
            return Err(Error::io(
                "create an eventfd",
                std::io::Error::last_os_error(),
            ));
        }
        // SAFETY: a fresh descriptor that nothing else owns.
        Ok(Stopper(Arc::new(unsafe { OwnedFd::from_raw_fd(fd) })))
    }

    /// Ends the stream: events already received are still delivered, then it
    /// returns `None`. Idempotent.
    pub fn stop(&self) {
        stop_fd(self.0.as_raw_fd());
    }

    /// True once [`stop`](Self::stop) was called.
    pub fn is_stopped(&self) -> bool {
        let mut p = libc::pollfd {
            fd: self.0.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd, no wait.
        unsafe { libc::poll(&mut p, 1, 0) == 1 }
    }
}

/// What [`Stopper::stop`] does, on the raw descriptor of a stopper
/// ([`AsRawFd::as_raw_fd`]): one `write(2)` of an 8-byte count, which is
/// async-signal-safe, so a signal handler may call it. The descriptor must be
/// a stopper's and the stopper must still be alive.
pub fn stop_fd(fd: RawFd) {
    let one: u64 = 1;
    // SAFETY: writes 8 bytes from a valid u64; an eventfd takes exactly that.
    unsafe { libc::write(fd, (&one as *const u64).cast(), 8) };
}

impl AsRawFd for Stopper {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

impl AsFd for Stopper {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

/// Link events as a `futures::Stream` of `Result<LinkEvent>`. A thread reads
/// the kernel and hands events over an unbounded channel, so a consumer that
/// falls behind costs memory, not lost events. The stream ends after
/// [`Stopper::stop`], after an error (its last item), or never; dropping it
/// stops and joins the thread.
#[derive(Debug)]
pub struct LinkEventStream {
    rx: mpsc::UnboundedReceiver<Result<LinkEvent>>,
    stopper: Stopper,
    thread: Option<JoinHandle<()>>,
}

impl LinkEventStream {
    /// `LinkMonitor::open()?.into_stream()`: the link events of the calling
    /// thread's network namespace.
    pub fn open() -> Result<LinkEventStream> {
        LinkMonitor::open()?.into_stream()
    }

    /// A handle that ends this stream.
    pub fn stopper(&self) -> Stopper {
        self.stopper.clone()
    }
}

impl Stream for LinkEventStream {
    type Item = Result<LinkEvent>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Pin::new(&mut self.rx).poll_next(cx)
    }
}

impl Drop for LinkEventStream {
    fn drop(&mut self) {
        self.stopper.stop();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_core::{NetlinkHeader, NetlinkMessage, NetlinkPayload};
    use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
    use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

    fn link(index: u32, name: &str, family: AddressFamily, up: bool) -> LinkMessage {
        let mut m = LinkMessage::default();
        m.header.index = index;
        m.header.interface_family = family;
        if up {
            m.header.flags = LinkFlags::Up;
        }
        m.attributes.push(LinkAttribute::IfName(name.into()));
        m.attributes.push(LinkAttribute::Mtu(1500));
        m
    }

    fn datagram(msgs: Vec<RouteNetlinkMessage>) -> Vec<u8> {
        let mut out = Vec::new();
        for msg in msgs {
            let mut m = NetlinkMessage::new(NetlinkHeader::default(), NetlinkPayload::from(msg));
            m.finalize();
            let start = out.len();
            out.resize(start + m.buffer_len(), 0);
            m.serialize(&mut out[start..]);
        }
        out
    }

    fn names(events: &VecDeque<LinkEvent>) -> Vec<String> {
        events
            .iter()
            .map(|e| match e {
                LinkEvent::Added(l) => format!("+{}", l.name),
                LinkEvent::Changed(l) => format!("~{}", l.name),
                LinkEvent::Removed(l) => format!("-{}", l.name),
                LinkEvent::Overrun => "!".into(),
            })
            .collect()
    }

    #[test]
    fn new_then_change_then_rename_then_delete() {
        let mut known = HashMap::new();
        let mut out = VecDeque::new();
        let u = AddressFamily::Unspec;
        let d = datagram(vec![
            RouteNetlinkMessage::NewLink(link(7, "vif5.0", u, false)),
            // The same state again: not a change.
            RouteNetlinkMessage::NewLink(link(7, "vif5.0", u, false)),
            RouteNetlinkMessage::NewLink(link(7, "vif5.0", u, true)),
            RouteNetlinkMessage::NewLink(link(7, "web1", u, true)),
            RouteNetlinkMessage::DelLink(link(7, "web1", u, true)),
            // Gone already: nothing more to say.
            RouteNetlinkMessage::DelLink(link(7, "web1", u, true)),
        ]);
        apply_datagram(&d, &mut known, &mut out).unwrap();
        assert_eq!(names(&out), ["+vif5.0", "~vif5.0", "~web1", "-web1"]);
        assert!(known.is_empty());
    }

    #[test]
    fn bridge_port_notifications_are_not_link_events() {
        let mut known = HashMap::new();
        let mut out = VecDeque::new();
        let d = datagram(vec![
            RouteNetlinkMessage::NewLink(link(7, "vif5.0", AddressFamily::Unspec, true)),
            // A port leaving its bridge: DELLINK with AF_BRIDGE, the link stays.
            RouteNetlinkMessage::DelLink(link(7, "vif5.0", AddressFamily::Bridge, true)),
            RouteNetlinkMessage::NewLink(link(7, "vif5.0", AddressFamily::Bridge, false)),
        ]);
        apply_datagram(&d, &mut known, &mut out).unwrap();
        assert_eq!(names(&out), ["+vif5.0"]);
        assert!(known.contains_key(&7));
    }

    #[test]
    fn differences_after_a_gap() {
        let st = |index: u32, name: &str, up: bool| LinkState {
            index,
            name: name.parse().unwrap(),
            kind: LinkKind::Tun,
            info_kind: Some("tun".into()),
            up,
            mtu: 1500,
            mac: None,
            master: None,
        };
        let before: HashMap<u32, LinkState> =
            [st(1, "lo", true), st(5, "a", false), st(6, "b", false)]
                .into_iter()
                .map(|l| (l.index, l))
                .collect();
        let after: HashMap<u32, LinkState> =
            [st(1, "lo", true), st(6, "b", true), st(9, "c", false)]
                .into_iter()
                .map(|l| (l.index, l))
                .collect();
        let mut out = VecDeque::new();
        differences(&before, &after, &mut out);
        assert_eq!(names(&out), ["-a", "~b", "+c"]);
    }

    #[test]
    fn a_malformed_datagram_is_an_error_not_a_panic() {
        let mut known = HashMap::new();
        let mut out = VecDeque::new();
        let mut d = datagram(vec![RouteNetlinkMessage::NewLink(link(
            7,
            "x",
            AddressFamily::Unspec,
            false,
        ))]);
        d[0] = 200; // a length past the end
        assert!(apply_datagram(&d, &mut known, &mut out).is_err());
    }
}
