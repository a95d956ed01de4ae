//! The kernel's answer to a request: an errno and, with extended ACKs on, the
//! kernel's own explanation (`NLMSGERR_ATTR_MSG`).

use crate::error::Error;

/// `NLM_F_CAPPED`: the error carries only the request's header, not all of it.
const NLM_F_CAPPED: u16 = 0x100;
/// `NLM_F_ACK_TLVS`: extended-ACK attributes follow.
const NLM_F_ACK_TLVS: u16 = 0x200;
/// `NLMSGERR_ATTR_MSG`: a NUL-terminated explanation.
const NLMSGERR_ATTR_MSG: u16 = 1;

/// One ACK: errno 0 for success.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelAck {
    /// Positive errno, 0 for success.
    pub errno: i32,
    /// The kernel's extended-ACK message, if any.
    pub message: Option<String>,
}

impl KernelAck {
    /// The error for a failed request, naming the operation. `note` replaces
    /// the errno text for `EEXIST` (so it can say what exists).
    pub fn into_error(self, op: impl Into<String>, note: Option<String>) -> Error {
        let note = if self.errno == libc::EEXIST {
            note
        } else {
            None
        };
        let note = note.or_else(|| {
            (self.errno == libc::EPERM)
                .then(|| "operation not permitted (xenbr needs CAP_NET_ADMIN)".to_string())
        });
        Error::Kernel {
            op: op.into(),
            errno: self.errno,
            ext_ack: self.message,
            note,
            ifname: None,
        }
    }
}

/// Parses the payload of an `NLMSG_ERROR` message (`struct nlmsgerr` then,
/// with `NLM_F_ACK_TLVS`, attributes), never panicking on a short or odd one.
pub fn parse_error_payload(flags: u16, payload: &[u8]) -> KernelAck {
    let code = payload
        .get(0..4)
        .map(|b| i32::from_ne_bytes(b.try_into().expect("4 bytes")))
        .unwrap_or(-libc::EPROTO);
    let mut ack = KernelAck {
        errno: code.checked_neg().unwrap_or(libc::EPROTO).max(0),
        message: None,
    };
    if flags & NLM_F_ACK_TLVS == 0 {
        return ack;
    }
    // After the code comes the request: its header only when capped, else
    // all of it (its own length field says how long).
    let orig = &payload[payload.len().min(4)..];
    let skip = if flags & NLM_F_CAPPED != 0 {
        16
    } else {
        orig.get(0..4)
            .map(|b| u32::from_ne_bytes(b.try_into().expect("4 bytes")) as usize)
            .unwrap_or(usize::MAX)
    };
    let skip = skip.saturating_add(3) & !3;
    let Some(mut tlvs) = orig.get(skip..) else {
        return ack;
    };
    while tlvs.len() >= 4 {
        let len = u16::from_ne_bytes([tlvs[0], tlvs[1]]) as usize;
        let ty = u16::from_ne_bytes([tlvs[2], tlvs[3]]) & 0x3fff;
        if len < 4 || len > tlvs.len() {
            break;
        }
        if ty == NLMSGERR_ATTR_MSG {
            let value = &tlvs[4..len];
            let end = value.iter().position(|&b| b == 0).unwrap_or(value.len());
            let text = String::from_utf8_lossy(&value[..end]).trim().to_string();
            if !text.is_empty() {
                ack.message = Some(text);
            }
        }
        let step = (len + 3) & !3;
        tlvs = &tlvs[step.min(tlvs.len())..];
    }
    ack
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn tlv(ty: u16, value: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&((4 + value.len()) as u16).to_ne_bytes());
        v.extend_from_slice(&ty.to_ne_bytes());
        v.extend_from_slice(value);
        while v.len() % 4 != 0 {
            v.push(0);
        }
        v
    }

    #[test]
    fn capped_error_with_message() {
        let mut p = (-libc::ENODEV).to_ne_bytes().to_vec();
        p.extend_from_slice(&[0x20, 0, 0, 0]); // original header, length 32
        p.extend_from_slice(&[0; 12]);
        p.extend(tlv(NLMSGERR_ATTR_MSG, b"Master device not found\0"));
        p.extend(tlv(2, &7u32.to_ne_bytes()));
        let ack = parse_error_payload(NLM_F_CAPPED | NLM_F_ACK_TLVS, &p);
        assert_eq!(ack.errno, libc::ENODEV);
        assert_eq!(ack.message.as_deref(), Some("Master device not found"));
        let e = ack.into_error("set master of vif1.0 to xenbr0", None);
        assert_eq!(
            e.to_string(),
            "set master of vif1.0 to xenbr0: no such device (kernel: Master device not found)"
        );
    }

    #[test]
    fn uncapped_error_skips_the_whole_request() {
        let mut p = (-libc::EEXIST).to_ne_bytes().to_vec();
        let mut orig = vec![0u8; 40];
        orig[0..4].copy_from_slice(&40u32.to_ne_bytes());
        p.extend(orig);
        p.extend(tlv(NLMSGERR_ATTR_MSG, b"exists\0"));
        let ack = parse_error_payload(NLM_F_ACK_TLVS, &p);
        assert_eq!(ack.message.as_deref(), Some("exists"));
        let e = ack.into_error("create bridge xenbr0", Some("xenbr0 already exists".into()));
        assert_eq!(
            e.to_string(),
            "create bridge xenbr0: xenbr0 already exists (kernel: exists)"
        );
    }

    #[test]
    fn plain_ack() {
        let p = 0i32.to_ne_bytes();
        assert_eq!(parse_error_payload(0, &p).errno, 0);
    }

    proptest! {
        #[test]
        fn never_panics(flags in any::<u16>(), payload in proptest::collection::vec(any::<u8>(), 0..200)) {
            let ack = parse_error_payload(flags, &payload);
            prop_assert!(ack.errno >= 0);
        }
    }
}
