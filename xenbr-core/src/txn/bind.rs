//! Binding: an [`Op`] (names) becomes a [`Request`] (kernel indices), and
//! consecutive changes of one link merge into one `RTM_NEWLINK` when the
//! kernel's order of applying them is the plan's order.

use crate::names::IfName;
use crate::netlink::{Request, SetLink, Target};
use crate::op::Op;

/// Binds `op` with `index_of`; `Err(name)` names a link whose index is needed
/// and unknown.
pub(crate) fn bind(op: &Op, index_of: &dyn Fn(&IfName) -> Option<u32>) -> Result<Request, IfName> {
    let need = |n: &IfName| index_of(n).ok_or_else(|| n.clone());
    let target = |n: &IfName| {
        index_of(n)
            .map(Target::Index)
            .unwrap_or_else(|| Target::Name(n.clone()))
    };
    let set = |n: &IfName, set: SetLink| Request::SetLink {
        target: target(n),
        set,
    };
    Ok(match op {
        Op::CreateBridge {
            name,
            mac,
            stp,
            forward_delay,
        } => Request::NewBridge {
            name: name.clone(),
            mac: *mac,
            stp: *stp,
            forward_delay: *forward_delay,
        },
        Op::CreateVeth { name, peer } => Request::NewVeth {
            name: name.clone(),
            peer: peer.clone(),
        },
        Op::DeleteLink { name } => Request::DelLink {
            target: target(name),
        },
        Op::Rename { name, to } => Request::SetLink {
            target: Target::Index(need(name)?),
            set: SetLink {
                name: Some(to.clone()),
                ..Default::default()
            },
        },
        Op::SetMac { name, mac } => set(
            name,
            SetLink {
                mac: Some(*mac),
                ..Default::default()
            },
        ),
        Op::SetMtu { name, mtu } => set(
            name,
            SetLink {
                mtu: Some(*mtu),
                ..Default::default()
            },
        ),
        Op::SetUp { name, up } => set(
            name,
            SetLink {
                up: Some(*up),
                ..Default::default()
            },
        ),
        Op::SetMaster { name, master } => {
            let m = match master {
                Some(m) => need(m)?,
                None => 0,
            };
            set(
                name,
                SetLink {
                    master: Some(m),
                    ..Default::default()
                },
            )
        }
        Op::AddAddress(a) => Request::NewAddr {
            index: need(&a.ifname)?,
            addr: a.clone(),
        },
        Op::DelAddress(a) => Request::DelAddr {
            index: need(&a.ifname)?,
            addr: a.clone(),
        },
        Op::AddRoute(r) | Op::DelRoute(r) => {
            let oif = r.oif.as_ref().map(need).transpose()?;
            let hops = r
                .multipath
                .iter()
                .map(|h| h.oif.as_ref().map(need).transpose().map(|i| i.unwrap_or(0)))
                .collect::<Result<Vec<u32>, IfName>>()?;
            let route = r.clone();
            if matches!(op, Op::AddRoute(_)) {
                Request::NewRoute { route, oif, hops }
            } else {
                Request::DelRoute { route, oif, hops }
            }
        }
    })
}

/// Folds `next` into `prev` when both change the same link and one message
/// does the same as two.
pub(crate) fn merge(prev: &mut Request, next: &Request) -> bool {
    match (prev, next) {
        (Request::SetLink { target: a, set: sa }, Request::SetLink { target: b, set: sb })
            if a == b =>
        {
            sa.absorb(sb)
        }
        _ => false,
    }
}

/// The errnos that mean "already so" for a request when undoing: the undo of a
/// step that never ran, or ran only in part.
pub(crate) fn already_so(req: &Request, errno: i32) -> bool {
    let gone = errno == libc::ENODEV;
    match req {
        Request::NewBridge { .. } | Request::NewVeth { .. } | Request::NewVethAcross { .. } => {
            errno == libc::EEXIST
        }
        Request::DelLink { .. } | Request::SetLink { .. } => gone,
        Request::NewAddr { .. } => gone || errno == libc::EEXIST,
        // ENETDOWN: the link is down, so no route through it existed before
        // the step being undone either.
        Request::NewRoute { .. } => gone || errno == libc::EEXIST || errno == libc::ENETDOWN,
        // ENXIO: the link has no IPv6 at all (an MTU below 1280), so not
        // that address.
        Request::DelAddr { .. } => gone || errno == libc::EADDRNOTAVAIL || errno == libc::ENXIO,
        Request::DelRoute { .. } => gone || errno == libc::ESRCH || errno == libc::ENOENT,
    }
}
