//! The journal's `undo` lines of link settings, written by hand: the undo of
//! a batch of a thousand guests is five thousand such ops, and serde's
//! writer took 0.9 ms for them. The bytes are exactly serde's (the tests
//! compare them); a line holding anything else, or a name JSON would have to
//! escape, is left to serde.

use super::BoundOp;
use crate::names::IfName;
use crate::op::Op;

/// Appends `{"undo":{"step":..,"did":..,"ops":[..]}}` (without the newline)
/// when every op is a link setting; `false`, with `out` as it was, otherwise.
pub(super) fn write_undo(
    out: &mut Vec<u8>,
    step: usize,
    did: Option<&BoundOp>,
    ops: &[BoundOp],
) -> bool {
    let start = out.len();
    out.extend_from_slice(b"{\"undo\":{\"step\":");
    number(out, step as u64);
    let mut ok = true;
    if let Some(d) = did {
        out.extend_from_slice(b",\"did\":");
        ok &= bound_op(out, d);
    }
    out.extend_from_slice(b",\"ops\":[");
    for (k, b) in ops.iter().enumerate() {
        if k > 0 {
            out.push(b',');
        }
        ok &= bound_op(out, b);
    }
    out.extend_from_slice(b"]}}");
    if !ok {
        out.truncate(start);
    }
    ok
}

/// `{"op":{..},"at":[["name",index],..]}`, `"at"` left out when empty.
fn bound_op(out: &mut Vec<u8>, b: &BoundOp) -> bool {
    out.extend_from_slice(b"{\"op\":");
    if !op(out, &b.op) {
        return false;
    }
    if !b.at.is_empty() {
        out.extend_from_slice(b",\"at\":[");
        for (k, (name, index)) in b.at.iter().enumerate() {
            if k > 0 {
                out.push(b',');
            }
            out.push(b'[');
            if !string(out, name) {
                return false;
            }
            out.push(b',');
            number(out, u64::from(*index));
            out.push(b']');
        }
        out.push(b']');
    }
    out.push(b'}');
    true
}

/// The four link settings, internally tagged as `Op` derives them.
fn op(out: &mut Vec<u8>, op: &Op) -> bool {
    let (tag, name) = match op {
        Op::SetMac { name, .. } => ("set_mac", name),
        Op::SetMtu { name, .. } => ("set_mtu", name),
        Op::SetMaster { name, .. } => ("set_master", name),
        Op::SetUp { name, .. } => ("set_up", name),
        _ => return false,
    };
    out.extend_from_slice(b"{\"op\":\"");
    out.extend_from_slice(tag.as_bytes());
    out.extend_from_slice(b"\",\"name\":");
    if !string(out, name) {
        return false;
    }
    match op {
        Op::SetMac { mac, .. } => {
            out.extend_from_slice(b",\"mac\":\"");
            out.extend_from_slice(&mac.text());
            out.push(b'"');
        }
        Op::SetMtu { mtu, .. } => {
            out.extend_from_slice(b",\"mtu\":");
            number(out, u64::from(*mtu));
        }
        Op::SetMaster { master, .. } => {
            out.extend_from_slice(b",\"master\":");
            match master {
                Some(m) => {
                    if !string(out, m) {
                        return false;
                    }
                }
                None => out.extend_from_slice(b"null"),
            }
        }
        Op::SetUp { up, .. } => {
            out.extend_from_slice(if *up {
                b",\"up\":true"
            } else {
                b",\"up\":false"
            });
        }
        _ => unreachable!("matched above"),
    }
    out.push(b'}');
    true
}

/// A name as a JSON string; `false` for one JSON would escape (a quote, a
/// backslash or a control character, which the kernel allows in names).
fn string(out: &mut Vec<u8>, name: &IfName) -> bool {
    let b = name.as_str().as_bytes();
    if b.iter()
        .any(|c| *c < 0x20 || *c == b'"' || *c == b'\\' || *c == 0x7f)
    {
        return false;
    }
    out.push(b'"');
    out.extend_from_slice(b);
    out.push(b'"');
    true
}

fn number(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::Entry;
    use crate::names::MacAddr;
    use proptest::prelude::*;

    fn serde_line(step: usize, did: Option<&BoundOp>, ops: &[BoundOp]) -> Vec<u8> {
        serde_json::to_vec(&Entry::Undo {
            step,
            did: did.cloned().map(Box::new),
            ops: ops.to_vec(),
        })
        .unwrap()
    }

    fn name() -> impl Strategy<Value = IfName> {
        // Any byte the kernel allows, quotes, backslashes and non-ASCII
        // included, so that the fallback is tested too.
        prop::collection::vec(
            prop_oneof![
                1 => Just('"'),
                1 => Just('\\'),
                1 => Just('é'),
                1 => Just('\u{7f}'),
                40 => prop::char::range('!', '~')
            ],
            1..6,
        )
        .prop_filter_map("a valid name", |c| {
            IfName::new(&c.into_iter().collect::<String>()).ok()
        })
    }

    fn any_op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (name(), any::<[u8; 6]>()).prop_map(|(name, m)| Op::SetMac {
                name,
                mac: MacAddr(m)
            }),
            (name(), any::<u32>()).prop_map(|(name, mtu)| Op::SetMtu { name, mtu }),
            (name(), prop::option::of(name()))
                .prop_map(|(name, master)| Op::SetMaster { name, master }),
            (name(), any::<bool>()).prop_map(|(name, up)| Op::SetUp { name, up }),
            name().prop_map(|name| Op::DeleteLink { name }),
        ]
    }

    fn bound() -> impl Strategy<Value = BoundOp> {
        (
            any_op(),
            prop::collection::vec((name(), any::<u32>()), 0..3),
        )
            .prop_map(|(op, at)| BoundOp { op, at: at.into() })
    }

    static WROTE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

    proptest! {
        /// Whatever it writes is what serde writes; it declines only lines
        /// with an op it does not know or a name to escape, and leaves the
        /// buffer as it was when it does.
        #[test]
        fn writes_what_serde_writes(
            step in any::<usize>(),
            did in prop::option::of(bound()),
            ops in prop::collection::vec(bound(), 0..4),
        ) {
            let mut out = b"before".to_vec();
            let wrote = write_undo(&mut out, step, did.as_ref(), &ops);
            let all = did.iter().chain(&ops);
            let plain = |b: &BoundOp| {
                let names = b.op.links().chain(b.at.iter().map(|(n, _)| n));
                !matches!(b.op, Op::DeleteLink { .. })
                    && names.into_iter().all(|n| n.as_str().chars().all(|c| c >= ' ' && c != '"' && c != '\\' && c != '\u{7f}'))
            };
            prop_assert_eq!(wrote, all.clone().all(plain));
            WROTE.fetch_add(usize::from(wrote), std::sync::atomic::Ordering::Relaxed);
            if wrote {
                prop_assert_eq!(&out[..6], b"before");
                prop_assert_eq!(
                    String::from_utf8(out[6..].to_vec()).unwrap(),
                    String::from_utf8(serde_line(step, did.as_ref(), &ops)).unwrap()
                );
            } else {
                prop_assert_eq!(out, b"before".to_vec());
            }
        }
    }

    /// The cases above are not all declined ones.
    #[test]
    fn most_lines_are_written_by_hand() {
        writes_what_serde_writes();
        assert!(WROTE.load(std::sync::atomic::Ordering::Relaxed) > 20);
    }
}
