//! A model of the transaction's journal and of its replay (`txn::forward`,
//! `txn::replay`), on snapshots instead of a kernel: what crash recovery
//! and rollback actually do, as opposed to applying the undo ops by name.
//!
//! The journal binds each undo op to the kernel indices of the links it
//! names, as known when the step was written: the indices of the host's
//! links, updated for the step's own rename or deletion, and those of links
//! created by earlier steps (`created` entries). The replay sends each undo
//! op, newest step first, to the link with the recorded index, under
//! whatever name it has now; an op whose needed index is unknown is bound
//! by looking the name up now, and skipped if that fails. The kernel's
//! ENODEV for an index that is gone counts as "already so", as do the
//! answers of `txn::bind::already_so`.
//!
//! Links a step creates get fresh indices (and MACs) here, as the kernel
//! would give them; the model leaves them at 0 (and unknown). A port moved
//! straight from one bridge to another is moved, as the kernel does (the
//! model refuses it as a planning conflict).
#![allow(dead_code)]

use std::collections::BTreeMap;

use xenbr_core::names::{IfName, MacAddr};
use xenbr_core::op::Op;
use xenbr_core::state::Snapshot;
use xenbr_core::{Error, ErrorKind, Plan};

/// The journal of a plan run to the end, and the states along the way.
#[derive(Debug, Clone)]
pub struct Journal {
    /// For each step, its undo ops, each with the indices of the links it
    /// names as the journal records them.
    pub undo: Vec<Vec<(Op, BTreeMap<IfName, u32>)>>,
    /// `(step, name, index)` for each link a step created (from 0).
    pub created: Vec<(usize, IfName, u32)>,
    /// The state after each prefix of the steps (`states[k]`: after k
    /// steps), with kernel indices for the links the steps created.
    pub states: Vec<Snapshot>,
    /// The next index the kernel would give.
    pub next: u32,
}

/// Gives the links a step just created (index 0) their index, from `next`
/// on: the kernel does not reuse an index soon.
fn give_indices(s: &mut Snapshot, next: &mut u32, mut made: impl FnMut(&IfName, u32)) {
    *next = (*next).max(s.links.iter().map(|l| l.index).max().unwrap_or(0) + 1);
    for l in s.links.iter_mut().filter(|l| l.index == 0) {
        // The kernel gives a new link an index, and a MAC of its choosing.
        l.index = *next;
        let [_, _, a, b] = next.to_be_bytes();
        l.mac = l.mac.or(Some(MacAddr([0x02, 0xee, 0, 0, a, b])));
        made(&l.name, *next);
        *next += 1;
    }
}

/// Writes the journal of `plan` on `host` as `txn::forward` would.
pub fn journal(host: &Snapshot, plan: &Plan) -> Journal {
    let mut state = host.clone();
    let mut next = 1;
    give_indices(&mut state, &mut next, |_, _| {});
    let mut map: BTreeMap<IfName, u32> = state
        .links
        .iter()
        .map(|l| (l.name.clone(), l.index))
        .collect();
    let mut j = Journal {
        undo: Vec::new(),
        created: Vec::new(),
        states: vec![state.clone()],
        next: 0,
    };
    for (k, step) in plan.steps.iter().enumerate() {
        match &step.op {
            Op::Rename { name, to } => {
                if let Some(i) = map.remove(name) {
                    map.insert(to.clone(), i);
                }
            }
            Op::DeleteLink { name } => {
                map.remove(name);
            }
            _ => {}
        }
        j.undo.push(
            step.undo
                .iter()
                .map(|u| {
                    let at = u
                        .links()
                        .into_iter()
                        .filter_map(|n| map.get(n).map(|i| (n.clone(), *i)))
                        .collect();
                    (u.clone(), at)
                })
                .collect(),
        );
        state.apply(&step.op).expect("a built plan applies");
        give_indices(&mut state, &mut next, |n, i| {
            map.insert(n.clone(), i);
            j.created.push((k, n.clone(), i));
        });
        j.states.push(state.clone());
    }
    j.next = next;
    j
}

/// The names an op needs the index of (`txn::bind::bind`'s `need`), and
/// those it addresses by index when known, else by name (`target`).
fn bound_names(op: &Op) -> (Vec<&IfName>, Vec<&IfName>) {
    match op {
        Op::CreateBridge { .. } | Op::CreateVeth { .. } => (vec![], vec![]),
        Op::Rename { name, .. } => (vec![name], vec![]),
        Op::DeleteLink { name }
        | Op::SetMac { name, .. }
        | Op::SetMtu { name, .. }
        | Op::SetUp { name, .. } => (vec![], vec![name]),
        Op::SetMaster { name, master } => (master.iter().collect(), vec![name]),
        Op::AddAddress(a) | Op::DelAddress(a) => (vec![&a.ifname], vec![]),
        Op::AddRoute(r) | Op::DelRoute(r) => (
            r.oif
                .iter()
                .chain(r.multipath.iter().filter_map(|h| h.oif.as_ref()))
                .collect(),
            vec![],
        ),
    }
}

/// `op` with each link name it refers to replaced by `f(name)` (a new
/// name, a rename's target and a create's names are no references).
fn relink(op: &Op, f: &dyn Fn(&IfName) -> IfName) -> Op {
    let mut op = op.clone();
    match &mut op {
        Op::CreateBridge { .. } | Op::CreateVeth { .. } => {}
        Op::Rename { name, .. }
        | Op::DeleteLink { name }
        | Op::SetMac { name, .. }
        | Op::SetMtu { name, .. }
        | Op::SetUp { name, .. } => *name = f(name),
        Op::SetMaster { name, master } => {
            *name = f(name);
            if let Some(m) = master {
                *m = f(m);
            }
        }
        Op::AddAddress(a) | Op::DelAddress(a) => a.ifname = f(&a.ifname),
        Op::AddRoute(r) | Op::DelRoute(r) => {
            if let Some(o) = &mut r.oif {
                *o = f(o);
            }
            for h in &mut r.multipath {
                if let Some(o) = &mut h.oif {
                    *o = f(o);
                }
            }
        }
    }
    op
}

/// What became of one undo op in the replay.
#[derive(Debug)]
pub enum Sent {
    /// It applied.
    Done,
    /// It was not sent: a link it needs is unknown and not there by name.
    Skipped,
    /// The kernel refused it as "already so" (or a link it is bound to is
    /// gone: ENODEV).
    AlreadySo,
    /// The kernel refused it otherwise: the op as sent (names as they are
    /// now) and the error.
    Refused(Box<(Op, Error)>),
}

/// True when the model's refusal `e` of `op` is one of the kernel answers
/// `txn::bind::already_so` takes as success: EEXIST for a create; ENODEV for
/// anything about a link; EEXIST for an add; EADDRNOTAVAIL and ESRCH for a
/// delete. (The model says NotFound where the kernel says ENODEV.)
pub fn already_so(op: &Op, e: &Error) -> bool {
    let gone = e.kind() == ErrorKind::NotFound;
    let errno = e.errno();
    match op {
        Op::CreateBridge { .. } | Op::CreateVeth { .. } => e.kind() == ErrorKind::Exists,
        Op::AddAddress(_) | Op::AddRoute(_) => gone || errno == Some(libc::EEXIST),
        Op::DelAddress(_) => gone || errno == Some(libc::EADDRNOTAVAIL),
        Op::DelRoute(_) => gone || errno == Some(libc::ESRCH),
        Op::DeleteLink { .. }
        | Op::Rename { .. }
        | Op::SetMac { .. }
        | Op::SetMtu { .. }
        | Op::SetMaster { .. }
        | Op::SetUp { .. } => gone,
    }
}

/// Sends `op`, bound with `at` and `created`, to the model of the kernel
/// `s`, as `txn::replay` does.
pub fn send(
    s: &mut Snapshot,
    next: &mut u32,
    op: &Op,
    at: &BTreeMap<IfName, u32>,
    created: &BTreeMap<IfName, u32>,
) -> Sent {
    let recorded = |n: &IfName| at.get(n).or_else(|| created.get(n)).copied();
    let (need, target) = bound_names(op);
    let index_of: BTreeMap<IfName, u32> = if need.iter().all(|n| recorded(n).is_some()) {
        need.iter()
            .chain(&target)
            .filter_map(|n| recorded(n).map(|i| ((*n).clone(), i)))
            .collect()
    } else {
        // A link that did not exist when the entry was written: look it
        // up now, by name.
        let live = |n: &IfName| recorded(n).or_else(|| s.link(n).map(|l| l.index));
        if need.iter().any(|n| live(n).is_none()) {
            return Sent::Skipped;
        }
        need.iter()
            .chain(&target)
            .filter_map(|n| live(n).map(|i| ((*n).clone(), i)))
            .collect()
    };
    // The kernel acts on the link with the bound index, whatever its name.
    let mut now: BTreeMap<IfName, IfName> = BTreeMap::new();
    for (n, i) in &index_of {
        match s.links.iter().find(|l| l.index == *i) {
            Some(l) => {
                now.insert(n.clone(), l.name.clone());
            }
            // A master that is gone: EINVAL, as measured on Linux 6.18.
            None if matches!(op, Op::SetMaster { master: Some(m), .. } if m == n) => {
                return Sent::Refused(Box::new((
                    op.clone(),
                    Error::Kernel {
                        op: op.describe(),
                        errno: libc::EINVAL,
                        ext_ack: None,
                        note: Some(format!("no link has the index {i} recorded for {n}")),
                    },
                )))
            }
            None => return Sent::AlreadySo, // ENODEV
        }
    }
    let sent = relink(op, &|n| now.get(n).cloned().unwrap_or_else(|| n.clone()));
    // The kernel moves a port from one bridge to another in one request.
    if let Op::SetMaster {
        name,
        master: Some(m),
    } = &sent
    {
        let moving = s
            .link(name)
            .and_then(|l| l.master.as_ref())
            .is_some_and(|c| c != m);
        if moving && s.link(m).is_some() {
            let mut t = s.clone();
            let freed = t.apply(&Op::SetMaster {
                name: name.clone(),
                master: None,
            });
            if freed.is_ok() && t.apply(&sent).is_ok() {
                *s = t;
                return Sent::Done;
            }
        }
    }
    match s.apply(&sent) {
        Ok(_) => {
            give_indices(s, next, |_, _| {});
            Sent::Done
        }
        Err(e) if already_so(&sent, &e) => Sent::AlreadySo,
        Err(e) => Sent::Refused(Box::new((sent, e))),
    }
}

impl Journal {
    /// How many steps the journal can hold when `k` steps ran: the
    /// transaction journals a segment (up to and including a step that
    /// creates a link, whose index later steps need) before sending it, so a
    /// crash finds the whole segment that was being sent; or, right after a
    /// segment, only the steps that ran.
    pub fn extents(&self, k: usize, plan: &Plan) -> Vec<usize> {
        let n = plan.steps.len();
        let ends: Vec<usize> = (1..=n)
            .filter(|&e| e == n || plan.steps[e - 1].op.is_create())
            .collect();
        let mut out = Vec::new();
        if k == 0 || ends.contains(&k) {
            out.push(k);
        }
        if let Some(&e) = ends.iter().find(|&&e| e > k) {
            out.push(e);
        }
        out
    }
}

/// Recovery after the first `k` steps ran, with the undo of the first `m`
/// steps journaled (`m` >= `k`, see [`Journal::extents`]): that undo
/// replayed on `j.states[k]`, with the `created` entries of the steps that
/// ran. Returns the state it leaves and the refusals that were not
/// "already so" nor `tolerated` (asked with the state at the time).
pub fn recover(
    j: &Journal,
    k: usize,
    m: usize,
    tolerated: &dyn Fn(&Snapshot, &Op, &Error) -> bool,
) -> (Snapshot, Vec<(Op, Error)>) {
    let mut s = j.states[k].clone();
    let created: BTreeMap<IfName, u32> = j
        .created
        .iter()
        .filter(|(step, _, _)| *step < k)
        .map(|(_, n, i)| (n.clone(), *i))
        .collect();
    let mut refused = Vec::new();
    let mut next = j.next;
    for ops in j.undo[..m].iter().rev() {
        for (op, at) in ops {
            if let Sent::Refused(r) = send(&mut s, &mut next, op, at, &created) {
                if !tolerated(&s, &r.0, &r.1) {
                    refused.push(*r);
                }
            }
        }
    }
    (s, refused)
}
