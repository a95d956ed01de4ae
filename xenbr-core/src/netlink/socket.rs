//! The rtnetlink socket: one synchronous request/ACK exchange, dumps that
//! check their `Done` code and restart when the kernel marks them interrupted,
//! and pipelined batches packed into as few datagrams as fit.

use std::os::fd::AsRawFd;

use netlink_packet_core::{
    DecodeError, NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_DUMP,
    NLM_F_REQUEST,
};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::{protocols::NETLINK_ROUTE, SocketAddr};

use super::ack::{parse_error_payload, KernelAck};
use crate::error::{Error, Result};

const NLMSG_NOOP: u16 = 1;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLMSG_OVERRUN: u16 = 4;
const NLM_F_DUMP_INTR: u16 = 0x10;

/// Receive buffer: the kernel fills dump datagrams up to 32 KiB when the reader
/// offers that much; we offer twice as much and still detect truncation.
const RX_BUF: usize = 64 * 1024;
/// Bytes of requests packed into one datagram.
const TX_DATAGRAM: usize = 32 * 1024;
/// How often a dump is restarted when the kernel says it was interrupted.
const DUMP_RETRIES: usize = 8;
/// What we ask for `SO_RCVBUF`: room for the ACKs of a whole datagram.
pub(crate) const RCVBUF_WANTED: usize = 4 << 20;

/// A message as it arrived: header fields and the raw payload.
pub(crate) struct Incoming<'a> {
    pub ty: u16,
    pub flags: u16,
    pub seq: u32,
    pub payload: &'a [u8],
}

/// What became of one request of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The kernel ACKed it.
    Done,
    /// The kernel refused it.
    Failed(KernelAck),
    /// It was never sent, because an earlier datagram had a failure.
    NotSent,
}

/// A synchronous rtnetlink socket (`NETLINK_ROUTE`).
pub struct Socket {
    sock: netlink_sys::Socket,
    seq: u32,
    rx: Vec<u8>,
    /// How many requests' ACKs safely fit in the receive buffer at once.
    window: usize,
}

fn io(op: &str) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |e| Error::io(op, e)
}

impl Socket {
    /// Opens a socket in the current network namespace with extended ACKs,
    /// strict checking and capped ACKs on.
    pub fn open() -> Result<Socket> {
        let op = "open rtnetlink socket";
        let mut sock = netlink_sys::Socket::new(NETLINK_ROUTE).map_err(io(op))?;
        sock.bind_auto().map_err(io(op))?;
        sock.connect(&SocketAddr::new(0, 0)).map_err(io(op))?;
        sock.set_ext_ack(true).map_err(io(op))?;
        sock.set_cap_ack(true).map_err(io(op))?;
        sock.set_netlink_get_strict_chk(true).map_err(io(op))?;
        let fd = sock.as_raw_fd();
        let want = RCVBUF_WANTED as libc::c_int;
        // SO_RCVBUFFORCE needs CAP_NET_ADMIN, which a changing caller has;
        // a reading one falls back to what SO_RCVBUF allows.
        if setsockopt_int(fd, libc::SO_RCVBUFFORCE, want).is_err() {
            let _ = setsockopt_int(fd, libc::SO_RCVBUF, want);
        }
        let rcvbuf = sock.get_rx_buf_sz().unwrap_or(212_992);
        // An ACK's buffer costs about 1 KiB of the receive budget; keep a margin.
        let window = (rcvbuf / 2048).clamp(16, 1024);
        Ok(Socket {
            sock,
            seq: 0,
            rx: vec![0; RX_BUF],
            window,
        })
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1).max(1);
        self.seq
    }

    /// Serialises `msg` with `flags` and a fresh sequence number onto `out`;
    /// returns the sequence number.
    pub(crate) fn encode(
        &mut self,
        msg: RouteNetlinkMessage,
        flags: u16,
        out: &mut Vec<u8>,
    ) -> u32 {
        let seq = self.next_seq();
        let mut header = NetlinkHeader::default();
        header.flags = flags | NLM_F_REQUEST;
        header.sequence_number = seq;
        let mut m = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(msg));
        m.finalize();
        let start = out.len();
        out.resize(start + m.buffer_len(), 0);
        m.serialize(&mut out[start..]);
        seq
    }

    fn send(&self, buf: &[u8], op: &str) -> Result<()> {
        let n = self.sock.send(buf, 0).map_err(io(op))?;
        if n != buf.len() {
            return Err(Error::internal(
                op,
                format!("sent {n} of {} bytes", buf.len()),
            ));
        }
        Ok(())
    }

    /// Receives one datagram into the buffer and returns its length. A
    /// datagram larger than the buffer is an error, never silently cut.
    fn recv(&mut self, op: &str) -> Result<usize> {
        loop {
            // SAFETY: the buffer is valid for `len` bytes for the whole call.
            let n = unsafe {
                libc::recv(
                    self.sock.as_raw_fd(),
                    self.rx.as_mut_ptr().cast(),
                    self.rx.len(),
                    libc::MSG_TRUNC,
                )
            };
            if n < 0 {
                let e = std::io::Error::last_os_error();
                if e.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                if e.raw_os_error() == Some(libc::ENOBUFS) {
                    return Err(Error::Busy {
                        op: op.into(),
                        reason: "the kernel dropped netlink messages (receive buffer full)".into(),
                    });
                }
                return Err(Error::io(op, e));
            }
            let n = n as usize;
            if n > self.rx.len() {
                return Err(Error::internal(
                    op,
                    format!(
                        "a {n}-byte netlink datagram did not fit the {}-byte buffer",
                        self.rx.len()
                    ),
                ));
            }
            return Ok(n);
        }
    }

    /// The messages in the first `len` bytes of the buffer, split as they
    /// are read: no list is built for a datagram.
    fn messages<'a>(&'a self, len: usize, op: &'a str) -> Messages<'a> {
        Messages {
            buf: &self.rx[..len],
            op,
        }
    }

    /// Runs a dump request (`NLM_F_DUMP`) and returns what `parse` makes of
    /// each of its messages (given the message type and its payload; `None`
    /// leaves a message out). Parsing as the datagrams arrive, into the
    /// caller's own types, spares building a full `RouteNetlinkMessage` for
    /// every message only to keep a few of its attributes. Checks the `Done`
    /// message's code and restarts, a bounded number of times, when the
    /// kernel flags the dump as interrupted by a concurrent change.
    pub(crate) fn dump<T>(
        &mut self,
        msg: RouteNetlinkMessage,
        what: &str,
        mut parse: impl FnMut(u16, &[u8]) -> std::result::Result<Option<T>, DecodeError>,
    ) -> Result<Vec<T>> {
        let op = format!("read {what}");
        let mut req = Vec::new();
        'attempt: for _ in 0..DUMP_RETRIES {
            req.clear();
            let seq = self.encode(msg.clone(), NLM_F_DUMP, &mut req);
            self.send(&req, &op)?;
            let mut out = Vec::new();
            let mut interrupted = false;
            loop {
                let len = self.recv(&op)?;
                let mut done = None;
                for m in self.messages(len, &op) {
                    let m = m?;
                    if m.seq != seq {
                        continue; // a stale reply of an abandoned exchange
                    }
                    interrupted |= m.flags & NLM_F_DUMP_INTR != 0;
                    match m.ty {
                        NLMSG_DONE => {
                            let code = m
                                .payload
                                .get(0..4)
                                .map(|b| i32::from_ne_bytes(b.try_into().expect("4")));
                            done = Some(code.unwrap_or(0));
                        }
                        NLMSG_ERROR => {
                            let ack = parse_error_payload(m.flags, m.payload);
                            if ack.errno != 0 {
                                return Err(ack.into_error(op, None));
                            }
                        }
                        NLMSG_NOOP | NLMSG_OVERRUN => {}
                        // This attempt's values will be thrown away: do not
                        // make them.
                        _ if interrupted => {}
                        ty => {
                            let parsed = parse(ty, m.payload).map_err(|e| {
                                Error::internal(&op, format!("cannot parse a kernel message: {e}"))
                            })?;
                            out.extend(parsed);
                        }
                    }
                }
                if let Some(code) = done {
                    if code == libc::EINTR.wrapping_neg() || interrupted {
                        continue 'attempt;
                    }
                    if code < 0 {
                        return Err(KernelAck {
                            errno: -code,
                            message: None,
                        }
                        .into_error(op, None));
                    }
                    return Ok(out);
                }
            }
        }
        Err(Error::Busy {
            op,
            reason: format!(
                "the kernel's state kept changing; {DUMP_RETRIES} dumps in a row were interrupted"
            ),
        })
    }

    /// Sends one request with `NLM_F_ACK` and waits for its answer; returns
    /// the messages that came before the ACK (for a `GET` request, the reply).
    pub(crate) fn request(
        &mut self,
        msg: RouteNetlinkMessage,
        flags: u16,
        op: &str,
        note_eexist: Option<String>,
    ) -> Result<Vec<RouteNetlinkMessage>> {
        let mut req = Vec::new();
        let seq = self.encode(msg, flags | NLM_F_ACK, &mut req);
        self.send(&req, op)?;
        let mut out = Vec::new();
        loop {
            let len = self.recv(op)?;
            let mut result = None;
            for m in self.messages(len, op) {
                let m = m?;
                if m.seq != seq {
                    continue;
                }
                if m.ty == NLMSG_ERROR {
                    let ack = parse_error_payload(m.flags, m.payload);
                    result = Some(if ack.errno == 0 {
                        Ok(())
                    } else {
                        Err(ack.into_error(op.to_string(), note_eexist.clone()))
                    });
                } else if m.ty > NLMSG_OVERRUN {
                    let parsed =
                        <RouteNetlinkMessage as netlink_packet_core::NetlinkDeserializable>::deserialize(&header_of(&m), m.payload)
                            .map_err(|e| Error::internal(op, format!("cannot parse a kernel message: {e}")))?;
                    out.push(parsed);
                }
            }
            if let Some(r) = result {
                return r.map(|()| out);
            }
        }
    }

    /// Sends `GET` requests pipelined (as many per datagram as the receive
    /// buffer can answer) and parses each reply with `parse`. For each request:
    /// `Ok(Some(_))` its parsed reply, `Ok(None)` when the kernel answered
    /// `ENODEV`/`ENOENT` (no such object), `Err` for any other refusal.
    pub(crate) fn gets<T>(
        &mut self,
        reqs: Vec<RouteNetlinkMessage>,
        op: &str,
        mut parse: impl FnMut(u16, &[u8]) -> std::result::Result<Option<T>, DecodeError>,
    ) -> Result<Vec<Option<T>>> {
        let mut out: Vec<Option<T>> = (0..reqs.len()).map(|_| None).collect();
        let window = self.window.min(64);
        let mut start = 0;
        let mut reqs = reqs.into_iter().peekable();
        let mut buf = Vec::new();
        while reqs.peek().is_some() {
            buf.clear();
            let mut first = 0;
            let mut count = 0;
            while count < window {
                let Some(r) = reqs.next() else { break };
                let seq = self.encode(r, NLM_F_ACK, &mut buf);
                if count == 0 {
                    first = seq;
                }
                count += 1;
            }
            self.send(&buf, op)?;
            let mut pending = count;
            while pending > 0 {
                let len = self.recv(op)?;
                for m in self.messages(len, op) {
                    let m = m?;
                    let k = m.seq.wrapping_sub(first) as usize;
                    if k >= count {
                        continue;
                    }
                    if m.ty == NLMSG_ERROR {
                        let ack = parse_error_payload(m.flags, m.payload);
                        if ack.errno != 0 && ack.errno != libc::ENODEV && ack.errno != libc::ENOENT
                        {
                            return Err(ack.into_error(op.to_string(), None));
                        }
                        pending -= 1;
                    } else if m.ty > NLMSG_OVERRUN {
                        out[start + k] = parse(m.ty, m.payload).map_err(|e| {
                            Error::internal(op, format!("cannot parse a kernel message: {e}"))
                        })?;
                    }
                }
            }
            start += count;
        }
        Ok(out)
    }

    /// Sends the requests of `reqs` from the `from`th on, packed into
    /// datagrams of up to 32 KiB and as many requests as the receive buffer
    /// has room to ACK, and maps every ACK back to its request. After a
    /// datagram with a failure, later datagrams are not sent (their requests
    /// are `NotSent`); requests in the same datagram after the failed one have
    /// been processed by the kernel and are reported as they came out.
    pub(crate) fn batch(&mut self, reqs: &Encoded, from: usize, op: &str) -> Result<Vec<Outcome>> {
        let n = reqs.len();
        let mut outcomes = vec![Outcome::NotSent; n.saturating_sub(from)];
        let mut i = from;
        while i < n {
            // The requests lie back to back: a datagram is a slice of them.
            let start = i;
            let begin = reqs.start(start);
            while i < n
                && i - start < self.window
                && (i == start || reqs.ends[i] - begin <= TX_DATAGRAM)
            {
                i += 1;
            }
            self.send(&reqs.bytes[begin..reqs.ends[i - 1]], op)?;
            let seqs = &reqs.seqs[start..i];
            let first = seqs[0];
            let mut pending = i - start;
            while pending > 0 {
                let len = self.recv(op)?;
                for m in self.messages(len, op) {
                    let m = m?;
                    if m.ty != NLMSG_ERROR {
                        continue;
                    }
                    let k = m.seq.wrapping_sub(first) as usize;
                    if k >= seqs.len() || seqs[k] != m.seq {
                        continue;
                    }
                    let ack = parse_error_payload(m.flags, m.payload);
                    outcomes[start - from + k] = if ack.errno == 0 {
                        Outcome::Done
                    } else {
                        Outcome::Failed(ack)
                    };
                    pending -= 1;
                }
            }
            if outcomes[start - from..i - from]
                .iter()
                .any(|o| matches!(o, Outcome::Failed(_)))
            {
                break;
            }
        }
        Ok(outcomes)
    }
}

/// Requests encoded back to back, each with `NLM_F_ACK` and its own
/// sequence number, as [`Socket::batch`] sends them: one buffer, so that a
/// datagram is a slice of it rather than a copy of a thousand small ones.
#[derive(Debug, Default)]
pub(crate) struct Encoded {
    bytes: Vec<u8>,
    /// Where each request ends in `bytes`.
    ends: Vec<usize>,
    seqs: Vec<u32>,
}

impl Encoded {
    /// `reqs` encoded in order, each with a fresh sequence number of `sock`.
    pub(crate) fn of<'a>(
        sock: &mut Socket,
        reqs: impl ExactSizeIterator<Item = &'a super::Request>,
    ) -> Encoded {
        let n = reqs.len();
        let mut e = Encoded {
            // Room for requests of a link's size.
            bytes: Vec::with_capacity(n * 64),
            ends: Vec::with_capacity(n),
            seqs: Vec::with_capacity(n),
        };
        for req in reqs {
            e.seqs.push(req.encode(sock, &mut e.bytes));
            e.ends.push(e.bytes.len());
        }
        e
    }

    /// How many requests it holds.
    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }

    fn start(&self, k: usize) -> usize {
        match k {
            0 => 0,
            k => self.ends[k - 1],
        }
    }
}

/// Splits a received datagram into its messages, checking every length.
pub(crate) fn split<'a>(datagram: &'a [u8], op: &'a str) -> Result<Vec<Incoming<'a>>> {
    Messages { buf: datagram, op }.collect()
}

/// The messages of one datagram, in order; a malformed length ends the
/// walk with an error.
struct Messages<'a> {
    buf: &'a [u8],
    op: &'a str,
}

impl<'a> Iterator for Messages<'a> {
    type Item = Result<Incoming<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        let buf = self.buf;
        if buf.len() < 16 {
            return None;
        }
        let mlen = u32::from_ne_bytes(buf[0..4].try_into().expect("4 bytes")) as usize;
        if mlen < 16 || mlen > buf.len() {
            self.buf = &[];
            return Some(Err(Error::internal(
                self.op,
                format!("malformed netlink message of length {mlen}"),
            )));
        }
        let step = (mlen + 3) & !3;
        self.buf = &buf[step.min(buf.len())..];
        Some(Ok(Incoming {
            ty: u16::from_ne_bytes(buf[4..6].try_into().expect("2 bytes")),
            flags: u16::from_ne_bytes(buf[6..8].try_into().expect("2 bytes")),
            seq: u32::from_ne_bytes(buf[8..12].try_into().expect("4 bytes")),
            payload: &buf[16..mlen],
        }))
    }
}

fn header_of(m: &Incoming<'_>) -> NetlinkHeader {
    let mut h = NetlinkHeader::default();
    h.message_type = m.ty;
    h.flags = m.flags;
    h.sequence_number = m.seq;
    h.length = (m.payload.len() + 16) as u32;
    h
}

pub(crate) fn setsockopt_int(fd: i32, opt: libc::c_int, value: libc::c_int) -> std::io::Result<()> {
    // SAFETY: a plain int option on a valid socket.
    let r = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            opt,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(())
    }
}
