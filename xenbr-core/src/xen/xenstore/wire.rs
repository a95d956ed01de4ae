//! The XenStore wire format (`xen/io/xs_wire.h`), as pure functions: a
//! 16-byte header of four host-order `u32` (`type`, `req_id`, `tx_id`, `len`)
//! followed by `len` bytes of payload, at most [`PAYLOAD_MAX`]. No I/O here, so
//! all of it is tested without a daemon.

use std::fmt;

/// Bytes in a message header.
pub const HEADER_LEN: usize = 16;

/// The largest payload xenstored accepts or sends (`XENSTORE_PAYLOAD_MAX`).
/// A longer request makes xenstored drop the connection, so the client refuses
/// it before sending.
pub const PAYLOAD_MAX: usize = 4096;

/// The message types this client sends or expects (`enum xsd_sockmsg_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum MsgType {
    /// List a node's children.
    Directory = 1,
    /// Read a node's value.
    Read = 2,
    /// Register a watch.
    Watch = 4,
    /// Remove a watch.
    Unwatch = 5,
    /// Start a transaction.
    TransactionStart = 6,
    /// Commit or abort a transaction.
    TransactionEnd = 7,
    /// Write a node's value, creating it and its parents.
    Write = 11,
    /// Create a node with an empty value, if missing.
    Mkdir = 12,
    /// Remove a node and its children.
    Rm = 13,
    /// A watch fired; sent by xenstored unasked.
    WatchEvent = 15,
    /// A request failed; the payload is the errno's name.
    Error = 16,
}

impl MsgType {
    /// The name xenstored's trace and `xs_wire.h` use.
    pub fn name(self) -> &'static str {
        match self {
            MsgType::Directory => "DIRECTORY",
            MsgType::Read => "READ",
            MsgType::Watch => "WATCH",
            MsgType::Unwatch => "UNWATCH",
            MsgType::TransactionStart => "TRANSACTION_START",
            MsgType::TransactionEnd => "TRANSACTION_END",
            MsgType::Write => "WRITE",
            MsgType::Mkdir => "MKDIR",
            MsgType::Rm => "RM",
            MsgType::WatchEvent => "WATCH_EVENT",
            MsgType::Error => "ERROR",
        }
    }

    fn from_u32(v: u32) -> Option<Self> {
        Some(match v {
            1 => MsgType::Directory,
            2 => MsgType::Read,
            4 => MsgType::Watch,
            5 => MsgType::Unwatch,
            6 => MsgType::TransactionStart,
            7 => MsgType::TransactionEnd,
            11 => MsgType::Write,
            12 => MsgType::Mkdir,
            13 => MsgType::Rm,
            15 => MsgType::WatchEvent,
            16 => MsgType::Error,
            _ => return None,
        })
    }
}

/// Why bytes from xenstored could not be understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WireError {
    /// The header names a message type this client never asks for.
    UnknownType(u32),
    /// The header announces more than [`PAYLOAD_MAX`] bytes.
    TooLong(u32),
    /// The payload does not have the shape its type requires.
    BadPayload {
        /// The message type.
        ty: MsgType,
        /// What is wrong with it.
        reason: &'static str,
    },
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::UnknownType(t) => write!(f, "unknown message type {t}"),
            WireError::TooLong(n) => {
                write!(f, "payload of {n} bytes announced, more than {PAYLOAD_MAX}")
            }
            WireError::BadPayload { ty, reason } => {
                write!(f, "malformed {} payload: {reason}", ty.name())
            }
        }
    }
}

impl std::error::Error for WireError {}

/// One whole message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Its type.
    pub ty: MsgType,
    /// The request id it answers (0 for watch events).
    pub req_id: u32,
    /// The transaction it belongs to (0 for none).
    pub tx_id: u32,
    /// The payload, at most [`PAYLOAD_MAX`] bytes.
    pub payload: Vec<u8>,
}

/// Encodes a request. The caller has checked that `payload` fits.
pub fn encode(ty: MsgType, req_id: u32, tx_id: u32, payload: &[u8]) -> Vec<u8> {
    debug_assert!(payload.len() <= PAYLOAD_MAX);
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    for word in [ty as u32, req_id, tx_id, payload.len() as u32] {
        out.extend_from_slice(&word.to_ne_bytes());
    }
    out.extend_from_slice(payload);
    out
}

/// Splits the first message off `buf`: `Ok(None)` while it is incomplete,
/// `Ok(Some((message, bytes used)))` once it is whole. A header that cannot be
/// right is an error at once, before waiting for its payload.
pub fn decode(buf: &[u8]) -> Result<Option<(Message, usize)>, WireError> {
    let Some(header) = buf.get(..HEADER_LEN) else {
        return Ok(None);
    };
    let word = |i: usize| {
        let mut w = [0u8; 4];
        w.copy_from_slice(&header[i * 4..i * 4 + 4]);
        u32::from_ne_bytes(w)
    };
    let (raw_ty, req_id, tx_id, len) = (word(0), word(1), word(2), word(3));
    let ty = MsgType::from_u32(raw_ty).ok_or(WireError::UnknownType(raw_ty))?;
    if len as usize > PAYLOAD_MAX {
        return Err(WireError::TooLong(len));
    }
    let end = HEADER_LEN + len as usize;
    let Some(payload) = buf.get(HEADER_LEN..end) else {
        return Ok(None);
    };
    let msg = Message {
        ty,
        req_id,
        tx_id,
        payload: payload.to_vec(),
    };
    Ok(Some((msg, end)))
}

/// A request's payload: each string followed by a NUL, then `tail` as is
/// (WRITE's value is not terminated).
pub fn join_payload(strings: &[&str], tail: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for s in strings {
        out.extend_from_slice(s.as_bytes());
        out.push(0);
    }
    out.extend_from_slice(tail);
    out
}

/// Splits a payload of NUL-terminated strings (DIRECTORY, WATCH_EVENT).
/// A missing final NUL is tolerated; the strings must be UTF-8.
pub fn split_strings(ty: MsgType, payload: &[u8]) -> Result<Vec<String>, WireError> {
    let body = payload.strip_suffix(&[0]).unwrap_or(payload);
    if body.is_empty() {
        return Ok(Vec::new());
    }
    body.split(|&b| b == 0)
        .map(|s| {
            String::from_utf8(s.to_vec()).map_err(|_| WireError::BadPayload {
                ty,
                reason: "a string is not UTF-8",
            })
        })
        .collect()
}

/// The errno name of an ERROR reply ("ENOENT").
pub fn error_name(payload: &[u8]) -> Result<&str, WireError> {
    let bad = |reason| WireError::BadPayload {
        ty: MsgType::Error,
        reason,
    };
    let body = payload
        .strip_suffix(&[0])
        .ok_or(bad("not NUL-terminated"))?;
    let name = std::str::from_utf8(body).map_err(|_| bad("not ASCII"))?;
    let well_formed = name.len() > 1
        && name.starts_with('E')
        && name
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    if !well_formed {
        return Err(bad("not an errno name"));
    }
    Ok(name)
}

/// The transaction id in a TRANSACTION_START reply (decimal, NUL-terminated).
pub fn transaction_id(payload: &[u8]) -> Result<u32, WireError> {
    let bad = |reason| WireError::BadPayload {
        ty: MsgType::TransactionStart,
        reason,
    };
    let body = payload.strip_suffix(&[0]).unwrap_or(payload);
    let text = std::str::from_utf8(body).map_err(|_| bad("not a number"))?;
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad("not a number"));
    }
    match text.parse::<u32>() {
        Ok(0) => Err(bad("transaction id 0")),
        Ok(id) => Ok(id),
        Err(_) => Err(bad("number out of range")),
    }
}

/// A WATCH_EVENT payload: the path that changed, then the watch's token.
pub fn watch_event(payload: &[u8]) -> Result<(String, String), WireError> {
    // An empty token is legal: "path\0\0" splits to [path, ""].
    let parts = split_strings(MsgType::WatchEvent, payload)?;
    match <[String; 2]>::try_from(parts) {
        Ok([path, token]) if !path.is_empty() => Ok((path, token)),
        _ => Err(WireError::BadPayload {
            ty: MsgType::WatchEvent,
            reason: "not a path and a token",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn encodes_header_in_host_order() {
        let m = encode(MsgType::Write, 7, 3, b"a\0b");
        assert_eq!(m.len(), HEADER_LEN + 3);
        assert_eq!(&m[0..4], &11u32.to_ne_bytes());
        assert_eq!(&m[4..8], &7u32.to_ne_bytes());
        assert_eq!(&m[8..12], &3u32.to_ne_bytes());
        assert_eq!(&m[12..16], &3u32.to_ne_bytes());
        assert_eq!(&m[16..], b"a\0b");
    }

    #[test]
    fn decodes_what_it_encodes_and_waits_for_the_rest() {
        let m = encode(MsgType::Read, 9, 0, b"bar");
        for cut in 0..m.len() {
            assert_eq!(decode(&m[..cut]), Ok(None), "cut at {cut}");
        }
        let mut two = m.clone();
        two.extend(encode(MsgType::WatchEvent, 0, 0, b"/p\0tok\0"));
        let (first, used) = decode(&two).unwrap().unwrap();
        assert_eq!(used, m.len());
        assert_eq!(first.ty, MsgType::Read);
        assert_eq!(first.req_id, 9);
        assert_eq!(first.payload, b"bar");
        let (second, _) = decode(&two[used..]).unwrap().unwrap();
        assert_eq!(second.ty, MsgType::WatchEvent);
    }

    #[test]
    fn refuses_impossible_headers_before_the_payload() {
        let mut m = encode(MsgType::Read, 1, 0, b"");
        m[12..16].copy_from_slice(&4097u32.to_ne_bytes());
        assert_eq!(decode(&m), Err(WireError::TooLong(4097)));
        let mut m = encode(MsgType::Read, 1, 0, b"");
        m[0..4].copy_from_slice(&99u32.to_ne_bytes());
        assert_eq!(decode(&m), Err(WireError::UnknownType(99)));
    }

    #[test]
    fn payload_helpers() {
        assert_eq!(join_payload(&["/a", "tok"], b""), b"/a\0tok\0");
        assert_eq!(join_payload(&["/a"], b"v\0x"), b"/a\0v\0x");
        assert_eq!(
            split_strings(MsgType::Directory, b"a\0bb\0").unwrap(),
            ["a", "bb"]
        );
        assert!(split_strings(MsgType::Directory, b"").unwrap().is_empty());
        assert_eq!(error_name(b"ENOENT\0"), Ok("ENOENT"));
        assert_eq!(error_name(b"E2BIG\0"), Ok("E2BIG"));
        assert!(error_name(b"ENOENT").is_err());
        assert!(error_name(b"OK\0").is_err());
        assert_eq!(transaction_id(b"12\0"), Ok(12));
        assert!(transaction_id(b"0\0").is_err());
        assert!(transaction_id(b"-1\0").is_err());
        assert!(transaction_id(b"99999999999\0").is_err());
        assert_eq!(
            watch_event(b"/a/b\0tok\0").unwrap(),
            ("/a/b".to_string(), "tok".to_string())
        );
        assert_eq!(
            watch_event(b"/a\0\0").unwrap(),
            ("/a".to_string(), String::new())
        );
        assert!(watch_event(b"/a\0").is_err());
        assert!(watch_event(b"/a\0t\0x\0").is_err());
    }

    fn arb_type() -> impl Strategy<Value = MsgType> {
        prop::sample::select(vec![
            MsgType::Directory,
            MsgType::Read,
            MsgType::Watch,
            MsgType::Unwatch,
            MsgType::TransactionStart,
            MsgType::TransactionEnd,
            MsgType::Write,
            MsgType::Mkdir,
            MsgType::Rm,
            MsgType::WatchEvent,
            MsgType::Error,
        ])
    }

    proptest! {
        /// Whatever arrives, the parser does not panic, and it only yields a
        /// message that encodes back to the bytes it came from.
        #[test]
        fn decode_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
            if let Ok(Some((m, used))) = decode(&bytes) {
                prop_assert_eq!(encode(m.ty, m.req_id, m.tx_id, &m.payload), &bytes[..used]);
            }
        }

        /// A header with a type never sent or a length over the limit is an
        /// error, whatever follows it.
        #[test]
        fn decode_refuses_bad_headers(
            ty in any::<u32>(),
            len in any::<u32>(),
            ids in any::<(u32, u32)>(),
            rest in prop::collection::vec(any::<u8>(), 0..32),
        ) {
            prop_assume!(MsgType::from_u32(ty).is_none() || len as usize > PAYLOAD_MAX);
            let mut bytes = Vec::new();
            for w in [ty, ids.0, ids.1, len] {
                bytes.extend_from_slice(&w.to_ne_bytes());
            }
            bytes.extend(rest);
            prop_assert!(decode(&bytes).is_err());
        }

        /// Random payloads given to the reply parsers never panic, and those
        /// that are not the expected shape give an error.
        #[test]
        fn payload_parsers_never_panic(
            ty in arb_type(),
            payload in prop::collection::vec(any::<u8>(), 0..48),
        ) {
            let _ = split_strings(ty, &payload);
            if let Ok(name) = error_name(&payload) {
                prop_assert!(name.starts_with('E'));
            }
            if let Ok(id) = transaction_id(&payload) {
                prop_assert!(id > 0);
            }
            if let Ok((path, _)) = watch_event(&payload) {
                prop_assert!(!path.is_empty());
            }
            if payload.contains(&0xff) {
                prop_assert!(error_name(&payload).is_err());
                prop_assert!(transaction_id(&payload).is_err());
                prop_assert!(watch_event(&payload).is_err());
            }
        }

        /// Any message decodes to itself, whole or in any two pieces.
        #[test]
        fn round_trip(
            ty in arb_type(),
            req in any::<u32>(),
            tx in any::<u32>(),
            payload in prop::collection::vec(any::<u8>(), 0..PAYLOAD_MAX + 1),
            cut in any::<prop::sample::Index>(),
        ) {
            let bytes = encode(ty, req, tx, &payload);
            let cut = cut.index(bytes.len());
            prop_assert_eq!(decode(&bytes[..cut]), Ok(None));
            let (m, used) = decode(&bytes).unwrap().unwrap();
            prop_assert_eq!(used, bytes.len());
            prop_assert_eq!(m, Message { ty, req_id: req, tx_id: tx, payload });
        }
    }
}
