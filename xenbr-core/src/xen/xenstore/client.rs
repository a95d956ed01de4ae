//! The connection to xenstored: one Unix socket, one request in flight at a
//! time, replies matched by request id, watch events queued as they arrive
//! (also in the middle of waiting for a reply).

use std::collections::VecDeque;
use std::ffi::OsString;
use std::fmt;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::errors::{connect_failed, from_xenstored, Subject};
use super::wire::{self, Message, MsgType, PAYLOAD_MAX};
use crate::error::{Error, Result};

/// Where xenstored listens when no environment variable says otherwise.
pub const DEFAULT_SOCKET: &str = "/var/run/xenstored/socket";

/// How long a request waits for its reply unless [`XenStore::set_timeout`]
/// says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// A watch fired: `path` (the watched node or one below it) changed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WatchEvent {
    /// The node that changed, as xenstored names it (relative if the watch
    /// was set on a relative path).
    pub path: String,
    /// The token given to [`XenStore::watch`].
    pub token: String,
}

/// A connection to xenstored over its Unix socket.
///
/// Synchronous: each call sends one request and waits for its reply. Watch
/// events that arrive meanwhile are queued and handed out by
/// [`next_event`](Self::next_event).
#[derive(Debug)]
pub struct XenStore {
    sock: UnixStream,
    socket_path: PathBuf,
    next_req: u32,
    rbuf: Vec<u8>,
    events: VecDeque<WatchEvent>,
    timeout: Option<Duration>,
    /// Set once the byte stream can no longer be trusted (EOF, garbage).
    broken: Option<String>,
}

/// How a request failed: xenstored's own refusal (an errno name) is kept
/// apart so that the transaction helper can recognise EAGAIN.
pub(super) enum Failure {
    Refused(String),
    Other(Error),
}

/// The operation an error message names: "xenstore read backend/vif/5/0/bridge".
#[derive(Clone, Copy)]
pub(super) struct Op<'a> {
    pub(super) verb: &'static str,
    pub(super) path: Option<&'a str>,
    pub(super) token: Option<&'a str>,
    pub(super) tx: u32,
}

impl<'a> Op<'a> {
    pub(super) fn node(verb: &'static str, path: &'a str, tx: u32) -> Self {
        Op {
            verb,
            path: Some(path),
            token: None,
            tx,
        }
    }
}

impl fmt::Display for Op<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "xenstore {}", self.verb)?;
        if let Some(p) = self.path {
            write!(f, " {p}")?;
        }
        if let Some(t) = self.token {
            write!(f, " (token {t:?})")?;
        }
        if self.tx != 0 {
            write!(f, " (transaction {})", self.tx)?;
        }
        Ok(())
    }
}

impl Failure {
    pub(super) fn into_error(self, op: Op<'_>, subject: Subject) -> Error {
        match self {
            Failure::Refused(name) => from_xenstored(&name, op.to_string(), subject),
            Failure::Other(e) => e,
        }
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Other(e)
    }
}

fn check_no_nul(op: Op<'_>, what: &str, s: &str) -> Result<()> {
    if s.contains('\0') {
        return Err(Error::invalid(
            op,
            format!("the {what} contains a NUL byte"),
        ));
    }
    Ok(())
}

pub(super) fn text(op: Op<'_>, bytes: Vec<u8>) -> Result<String> {
    String::from_utf8(bytes)
        .map_err(|_| Error::invalid(op, "the value is not UTF-8 text (read it with read_bytes)"))
}

/// [`XenStore::default_path`] given the two variables' values; empty counts as unset.
fn socket_path_from(xenstored_path: Option<OsString>, rundir: Option<OsString>) -> PathBuf {
    if let Some(p) = xenstored_path.filter(|v| !v.is_empty()) {
        return PathBuf::from(p);
    }
    if let Some(dir) = rundir.filter(|v| !v.is_empty()) {
        return PathBuf::from(dir).join("socket");
    }
    PathBuf::from(DEFAULT_SOCKET)
}

impl XenStore {
    /// The socket path [`open`](Self::open) uses: `$XENSTORED_PATH` if set,
    /// else `$XENSTORED_RUNDIR/socket`, else [`DEFAULT_SOCKET`] (the same
    /// rules as libxenstore).
    pub fn default_path() -> PathBuf {
        socket_path_from(
            std::env::var_os("XENSTORED_PATH"),
            std::env::var_os("XENSTORED_RUNDIR"),
        )
    }

    /// Connects to xenstored at [`default_path`](Self::default_path).
    pub fn open() -> Result<Self> {
        Self::open_path(Self::default_path())
    }

    /// Connects to xenstored listening on the Unix socket `path`. A missing
    /// socket, or one nobody listens on, is an [`Error::NotFound`] naming it.
    pub fn open_path(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let sock = UnixStream::connect(path).map_err(|e| connect_failed(path, e))?;
        Ok(XenStore {
            sock,
            socket_path: path.to_path_buf(),
            next_req: 1,
            rbuf: Vec::new(),
            events: VecDeque::new(),
            timeout: Some(DEFAULT_TIMEOUT),
            broken: None,
        })
    }

    /// The socket this connection was opened on.
    pub fn socket_path(&self) -> &Path {
        &self.socket_path
    }

    /// How long a request waits for its reply (`None`: for ever). A reply that
    /// comes after its request timed out is recognised by its id and dropped.
    pub fn set_timeout(&mut self, timeout: Option<Duration>) {
        self.timeout = timeout;
    }

    /// Reads the value at `path` as text; `None` when the node does not exist.
    /// Equivalent to `xenstore-read PATH`.
    pub fn read(&mut self, path: &str) -> Result<Option<String>> {
        let op = Op::node("read", path, 0);
        match self.read_bytes(path)? {
            Some(v) => text(op, v).map(Some),
            None => Ok(None),
        }
    }

    /// Reads the value at `path` as text; a missing node is an
    /// [`Error::NotFound`] naming the path.
    pub fn read_required(&mut self, path: &str) -> Result<String> {
        let op = Op::node("read", path, 0);
        let v = self
            .do_read(0, path)
            .map_err(|f| f.into_error(op, Subject::Node))?;
        text(op, v)
    }

    /// Reads the raw bytes at `path`; `None` when the node does not exist.
    pub fn read_bytes(&mut self, path: &str) -> Result<Option<Vec<u8>>> {
        let op = Op::node("read", path, 0);
        match self.do_read(0, path) {
            Ok(v) => Ok(Some(v)),
            Err(Failure::Refused(name)) if name == "ENOENT" => Ok(None),
            Err(f) => Err(f.into_error(op, Subject::Node)),
        }
    }

    /// Writes `value` at `path`, creating the node and its missing parents.
    /// Equivalent to `xenstore-write PATH VALUE`.
    pub fn write(&mut self, path: &str, value: impl AsRef<[u8]>) -> Result<()> {
        let op = Op::node("write", path, 0);
        self.do_write(0, path, value.as_ref())
            .map_err(|f| f.into_error(op, Subject::Node))
    }

    /// Removes `path` and everything below it. Equivalent to `xenstore-rm PATH`;
    /// xenstored accepts a missing node whose parent exists.
    pub fn rm(&mut self, path: &str) -> Result<()> {
        let op = Op::node("rm", path, 0);
        self.do_path_only(MsgType::Rm, op)
            .map_err(|f| f.into_error(op, Subject::Node))
    }

    /// Creates `path` with an empty value, and its missing parents; an existing
    /// node is left as it is.
    pub fn mkdir(&mut self, path: &str) -> Result<()> {
        let op = Op::node("mkdir", path, 0);
        self.do_path_only(MsgType::Mkdir, op)
            .map_err(|f| f.into_error(op, Subject::Node))
    }

    /// The names of the children of `path`. Equivalent to `xenstore-list PATH`.
    pub fn directory(&mut self, path: &str) -> Result<Vec<String>> {
        let op = Op::node("directory", path, 0);
        self.do_directory(op)
            .map_err(|f| f.into_error(op, Subject::Node))
    }

    /// Watches `path` and everything below it; events carry `token`.
    ///
    /// xenstored fires the new watch once at once, for `path` itself, so the
    /// first [`next_event`](Self::next_event) after this returns that event.
    /// Special paths `@introduceDomain` and `@releaseDomain` are accepted.
    pub fn watch(&mut self, path: &str, token: &str) -> Result<()> {
        self.watch_request(MsgType::Watch, "watch", path, token)
    }

    /// Removes the watch set with the same `path` and `token`.
    pub fn unwatch(&mut self, path: &str, token: &str) -> Result<()> {
        self.watch_request(MsgType::Unwatch, "unwatch", path, token)
    }

    /// The next watch event: a queued one at once, else waits up to `timeout`
    /// (`None`: for ever; `Some(Duration::ZERO)`: only what has arrived).
    /// `Ok(None)` when the time ran out.
    ///
    /// To wait in a `poll` loop of your own, first take queued events with
    /// `next_event(Some(Duration::ZERO))` until it returns `None`, then poll
    /// [`as_raw_fd`](AsRawFd::as_raw_fd) for readability.
    pub fn next_event(&mut self, timeout: Option<Duration>) -> Result<Option<WatchEvent>> {
        let deadline = timeout.map(|t| Instant::now() + t);
        let op = Op {
            verb: "wait for a watch event",
            path: None,
            token: None,
            tx: 0,
        };
        loop {
            if let Some(e) = self.events.pop_front() {
                return Ok(Some(e));
            }
            // A reply here answers a request that timed out: drop it.
            while self.take_message(op)?.is_some() {}
            if !self.events.is_empty() {
                continue;
            }
            if !self.fill(op, deadline)? {
                return Ok(None);
            }
        }
    }

    /// How many watch events are queued, already read from the socket. Poll
    /// the socket only when this is 0.
    pub fn pending_events(&self) -> usize {
        self.events.len()
    }

    fn watch_request(
        &mut self,
        ty: MsgType,
        verb: &'static str,
        path: &str,
        token: &str,
    ) -> Result<()> {
        let op = Op {
            verb,
            path: Some(path),
            token: Some(token),
            tx: 0,
        };
        check_no_nul(op, "path", path)?;
        check_no_nul(op, "token", token)?;
        let payload = wire::join_payload(&[path, token], b"");
        self.request(ty, 0, payload, op)
            .map(drop)
            .map_err(|f| f.into_error(op, Subject::Watch))
    }

    pub(super) fn start_transaction(&mut self) -> Result<u32> {
        let op = Op {
            verb: "transaction start",
            path: None,
            token: None,
            tx: 0,
        };
        let reply = self
            .request(MsgType::TransactionStart, 0, vec![0], op)
            .map_err(|f| f.into_error(op, Subject::Transaction))?;
        wire::transaction_id(&reply).map_err(|e| self.protocol_error(op, e))
    }

    pub(super) fn end_transaction(&mut self, id: u32, commit: bool) -> Result<(), Failure> {
        let op = Op {
            verb: "transaction end",
            path: None,
            token: None,
            tx: id,
        };
        let payload = if commit { b"T\0" } else { b"F\0" };
        self.request(MsgType::TransactionEnd, id, payload.to_vec(), op)
            .map(drop)
    }

    pub(super) fn do_read(&mut self, tx: u32, path: &str) -> Result<Vec<u8>, Failure> {
        let op = Op::node("read", path, tx);
        check_no_nul(op, "path", path)?;
        self.request(MsgType::Read, tx, wire::join_payload(&[path], b""), op)
    }

    pub(super) fn do_write(&mut self, tx: u32, path: &str, value: &[u8]) -> Result<(), Failure> {
        let op = Op::node("write", path, tx);
        check_no_nul(op, "path", path)?;
        self.request(MsgType::Write, tx, wire::join_payload(&[path], value), op)
            .map(drop)
    }

    pub(super) fn do_path_only(&mut self, ty: MsgType, op: Op<'_>) -> Result<(), Failure> {
        let path = op.path.unwrap_or_default();
        check_no_nul(op, "path", path)?;
        self.request(ty, op.tx, wire::join_payload(&[path], b""), op)
            .map(drop)
    }

    pub(super) fn do_directory(&mut self, op: Op<'_>) -> Result<Vec<String>, Failure> {
        let path = op.path.unwrap_or_default();
        check_no_nul(op, "path", path)?;
        let reply = self.request(
            MsgType::Directory,
            op.tx,
            wire::join_payload(&[path], b""),
            op,
        )?;
        wire::split_strings(MsgType::Directory, &reply)
            .map_err(|e| Failure::Other(self.protocol_error(op, e)))
    }

    /// Sends one request and waits for the reply with the same id.
    fn request(
        &mut self,
        ty: MsgType,
        tx: u32,
        payload: Vec<u8>,
        op: Op<'_>,
    ) -> Result<Vec<u8>, Failure> {
        if let Some(why) = &self.broken {
            return Err(
                Error::io(op, io::Error::new(io::ErrorKind::NotConnected, why.clone())).into(),
            );
        }
        if payload.len() > PAYLOAD_MAX {
            return Err(Error::invalid(
                op,
                format!(
                    "the request is {} bytes, more than XenStore's limit of {PAYLOAD_MAX}; \
                     nothing was sent",
                    payload.len()
                ),
            )
            .into());
        }
        let req_id = self.next_req;
        // Watch events carry id 0; never use it for a request.
        self.next_req = self.next_req.wrapping_add(1).max(1);
        let bytes = wire::encode(ty, req_id, tx, &payload);
        if let Err(e) = self.sock.write_all(&bytes) {
            return Err(self.io_failure(op, e).into());
        }
        let deadline = self.timeout.map(|t| Instant::now() + t);
        loop {
            while let Some(msg) = self.take_message(op)? {
                if msg.req_id != req_id {
                    continue; // the late reply of a request that timed out
                }
                return match msg.ty {
                    MsgType::Error => match wire::error_name(&msg.payload) {
                        Ok(name) => Err(Failure::Refused(name.to_string())),
                        Err(e) => Err(self.protocol_error(op, e).into()),
                    },
                    t if t == ty => Ok(msg.payload),
                    t => Err(self
                        .protocol_error(
                            op,
                            format!("a {} reply to a {} request", t.name(), ty.name()),
                        )
                        .into()),
                };
            }
            if !self.fill(op, deadline)? {
                let after = self.timeout.unwrap_or_default();
                return Err(Error::io(
                    op,
                    io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("xenstored did not answer within {after:?}"),
                    ),
                )
                .into());
            }
        }
    }

    /// Takes one whole message that is not a watch event off the receive
    /// buffer, queueing the watch events before it.
    fn take_message(&mut self, op: Op<'_>) -> Result<Option<Message>> {
        loop {
            let (msg, used) = match wire::decode(&self.rbuf) {
                Ok(Some(m)) => m,
                Ok(None) => return Ok(None),
                Err(e) => return Err(self.protocol_error(op, e)),
            };
            self.rbuf.drain(..used);
            if msg.ty != MsgType::WatchEvent {
                return Ok(Some(msg));
            }
            let (path, token) =
                wire::watch_event(&msg.payload).map_err(|e| self.protocol_error(op, e))?;
            self.events.push_back(WatchEvent { path, token });
        }
    }

    /// Reads what the socket has, waiting until `deadline`; false on timeout.
    fn fill(&mut self, op: Op<'_>, deadline: Option<Instant>) -> Result<bool> {
        loop {
            let wait_ms = match deadline {
                None => -1,
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    // Round up so that a wait of 0.4 ms does not spin.
                    left.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32
                }
            };
            let mut pfd = libc::pollfd {
                fd: self.sock.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd, for the duration of the call.
            let n = unsafe { libc::poll(&mut pfd, 1, wait_ms) };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(Error::io(op, e));
            }
            if n == 0 {
                return Ok(false);
            }
            let mut chunk = [0u8; wire::HEADER_LEN + PAYLOAD_MAX];
            return match self.sock.read(&mut chunk) {
                Ok(0) => Err(self.io_failure(
                    op,
                    io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "xenstored closed the connection",
                    ),
                )),
                Ok(n) => {
                    self.rbuf.extend_from_slice(&chunk[..n]);
                    Ok(true)
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => Err(self.io_failure(op, e)),
            };
        }
    }

    fn io_failure(&mut self, op: Op<'_>, e: io::Error) -> Error {
        let e = match e.kind() {
            io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset => {
                io::Error::new(e.kind(), "xenstored closed the connection")
            }
            _ => e,
        };
        self.broken = Some(format!("the connection to xenstored failed earlier: {e}"));
        Error::io(op, e)
    }

    fn protocol_error(&mut self, op: Op<'_>, why: impl fmt::Display) -> Error {
        let why = format!("xenstored sent something this client does not understand: {why}");
        self.broken = Some(format!("the connection to xenstored is out of step: {why}"));
        Error::io(op, io::Error::new(io::ErrorKind::InvalidData, why))
    }
}

impl AsRawFd for XenStore {
    /// The socket, for a caller's own `poll`: readable when a watch event (or
    /// a late reply) may be waiting. See [`XenStore::next_event`].
    fn as_raw_fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }
}

impl AsFd for XenStore {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.sock.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_path_follows_libxenstore_rules() {
        let some = |s: &str| Some(OsString::from(s));
        assert_eq!(
            socket_path_from(some("/tmp/xs"), some("/run/other")),
            Path::new("/tmp/xs")
        );
        assert_eq!(
            socket_path_from(None, some("/run/xs")),
            Path::new("/run/xs/socket")
        );
        assert_eq!(
            socket_path_from(some(""), some("")),
            Path::new("/var/run/xenstored/socket")
        );
        assert_eq!(socket_path_from(None, None), Path::new(DEFAULT_SOCKET));
    }

    #[test]
    fn operations_name_path_token_and_transaction() {
        assert_eq!(
            Op::node("read", "backend/vif/5/0/bridge", 0).to_string(),
            "xenstore read backend/vif/5/0/bridge"
        );
        assert_eq!(
            Op::node("write", "/a", 7).to_string(),
            "xenstore write /a (transaction 7)"
        );
        let op = Op {
            verb: "watch",
            path: Some("/vm"),
            token: Some("t"),
            tx: 0,
        };
        assert_eq!(op.to_string(), "xenstore watch /vm (token \"t\")");
    }
}
