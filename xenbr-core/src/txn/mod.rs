//! Transactions: the only code that changes the host. A transaction runs a
//! [`Plan`] under the state directory's lock: it writes each step's undo to
//! the journal and syncs it before sending the step, sends steps pipelined
//! (consecutive changes of one link merged into one message, a round trip
//! only where a later step needs a created link's index), re-reads the kernel
//! to verify the result, and on any failure undoes what was sent, newest
//! first, returning the first error and reporting any rollback failure beside
//! it.

mod bind;
mod replay;
mod statedir;

use std::collections::HashMap;

pub use statedir::{Lock, StateDir};

use crate::error::{Error, Result};
use crate::fasthash::{FastMap, FastSet};
use crate::journal::{BoundLinks, BoundOp, Entry, Journal, StepUndo};
use crate::names::IfName;
use crate::netlink::{Encoded, Outcome, Request, Socket};
use crate::op::Op;
use crate::plan::Plan;
use crate::state::{compare, Snapshot};
pub(crate) use replay::replay;

/// What a finished transaction did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Applied {
    /// Steps applied.
    pub steps: usize,
    /// Netlink requests sent for them (fewer than steps where changes of one
    /// link were merged).
    pub requests: usize,
}

/// Test hooks, read from the environment in debug builds only: fail step K
/// (`XENBR_TEST_FAIL_STEP=K`, from 1), kill the process with SIGKILL right
/// after step K (`XENBR_TEST_CRASH_AFTER=K`, 0 for before the first), or
/// kill it once the undo of the steps after K is journaled but before they
/// are sent (`XENBR_TEST_CRASH_JOURNALED=K`).
/// A [`crate::Host`] can also be given them directly (`Host::test_faults`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Faults {
    /// Fail this step (from 1) instead of sending it.
    pub fail_step: Option<usize>,
    /// SIGKILL the process once this many steps are done.
    pub crash_after: Option<usize>,
    /// SIGKILL the process once the steps after this many are journaled,
    /// before they are sent.
    pub crash_journaled: Option<usize>,
}

impl Faults {
    #[cfg(debug_assertions)]
    fn resolve(given: Faults) -> Faults {
        let get = |k: &str| std::env::var(k).ok().and_then(|v| v.parse().ok());
        Faults {
            fail_step: given.fail_step.or_else(|| get("XENBR_TEST_FAIL_STEP")),
            crash_after: given.crash_after.or_else(|| get("XENBR_TEST_CRASH_AFTER")),
            crash_journaled: given
                .crash_journaled
                .or_else(|| get("XENBR_TEST_CRASH_JOURNALED")),
        }
    }

    #[cfg(not(debug_assertions))]
    fn resolve(_: Faults) -> Faults {
        Faults::default()
    }

    /// True when a segment must end after `done` steps.
    fn boundary(&self, done: usize) -> bool {
        self.fail_step.map(|k| k.saturating_sub(1)) == Some(done)
            || self.crash_after == Some(done)
            || self.crash_journaled == Some(done)
    }

    /// Called with the journal written for the segment that starts after
    /// `done` steps, before it is sent.
    fn journaled(&self, done: usize) {
        if self.crash_journaled == Some(done) {
            // SAFETY: sending SIGKILL to ourselves, as a crash would.
            unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
        }
    }

    fn at(&self, done: usize, n: usize) -> Result<()> {
        if self.crash_after == Some(done) {
            // SAFETY: sending SIGKILL to ourselves, as a crash would.
            unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
        }
        if self.fail_step == Some(done + 1) && done < n {
            return Err(Error::internal(
                format!("step {} of {n}", done + 1),
                "injected test failure",
            ));
        }
        Ok(())
    }
}

/// A running transaction's progress: what was journaled, what was sent.
struct Progress {
    map: FastMap<IfName, u32>,
    journaled: Vec<StepUndo>,
    /// `(step, name, index)` of each link created.
    created: Vec<(usize, IfName, u32)>,
    /// The settings `(link, kind)` the undo journaled so far sets back.
    set_by_undo: FastSet<(IfName, Setting)>,
    /// Whether a step journaled so far renamed or deleted a link.
    reshaped: bool,
    /// Steps that were sent, so may have been applied.
    sent: usize,
    requests: usize,
}

/// The state records around a transaction.
pub(crate) struct RecordsChange {
    /// As the caller read them, under the lock (`None`: absent).
    pub before: Option<String>,
    /// What replaces them on success (`None`: leave them as they are;
    /// `Some(None)`: remove them).
    pub after: Option<Option<String>>,
}

/// Runs `plan` (built from `before`) as one transaction; the caller holds
/// `dir`'s lock.
pub(crate) fn run(
    sock: &mut Socket,
    dir: &StateDir,
    what: &str,
    before: &Snapshot,
    plan: &Plan,
    records: RecordsChange,
    faults: Faults,
) -> Result<Applied> {
    let records_before = records.before;
    let records = records.after.filter(|r| *r != records_before);
    if plan.is_empty() && records.is_none() {
        return Ok(Applied::default());
    }
    let mut journal = Journal::begin(dir.path(), what, records_before.clone())?;
    let mut p = Progress {
        map: before
            .links
            .iter()
            .filter(|l| l.index > 0)
            .map(|l| (l.name.clone(), l.index))
            .collect(),
        journaled: Vec::with_capacity(plan.steps.len()),
        created: Vec::new(),
        set_by_undo: FastSet::with_capacity_and_hasher(plan.steps.len(), Default::default()),
        reshaped: false,
        sent: 0,
        requests: 0,
    };
    let faults = Faults::resolve(faults);
    let result = forward(sock, &mut journal, plan, &mut p, faults)
        .and_then(|()| faults.at(plan.steps.len(), plan.steps.len()))
        .and_then(|()| verify(sock, plan, &p.map))
        .and_then(|()| match &records {
            Some(r) => dir.write_records(r.as_deref()),
            None => Ok(()),
        });
    match result {
        Ok(()) => {
            journal.finish()?;
            Ok(Applied {
                steps: plan.steps.len(),
                requests: p.requests,
            })
        }
        Err(cause) => {
            let mut failures = replay(
                sock,
                &p.journaled[..p.sent.min(p.journaled.len())],
                &p.created,
            );
            if records.is_some() {
                if let Err(e) = dir.write_records(records_before.as_deref()) {
                    failures.push(e);
                }
            }
            if failures.is_empty() {
                journal.finish()?;
                Err(Error::RolledBack {
                    cause: Box::new(cause),
                    undone: p.sent,
                })
            } else {
                Err(Error::RollbackFailed {
                    cause: Box::new(cause),
                    failures,
                })
            }
        }
    }
}

/// A link's setting an op may change on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Setting {
    Mtu,
    Mac,
    Master,
    Up,
}

/// The link and setting `op` sets, when it sets one.
fn setting(op: &Op) -> Option<(IfName, Setting)> {
    let (name, kind) = match op {
        Op::SetMtu { name, .. } => (name, Setting::Mtu),
        Op::SetMac { name, .. } => (name, Setting::Mac),
        Op::SetMaster { name, .. } => (name, Setting::Master),
        Op::SetUp { name, .. } => (name, Setting::Up),
        _ => return None,
    };
    Some((name.clone(), kind))
}

/// What an op sets, for telling when a later step sets it again: a link's
/// setting, a route (by table and destination), an address (by link and
/// prefix), or a name (the two a rename gives up and takes).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Touch {
    Link(IfName, Setting),
    Route(u32, crate::names::IpNet),
    Address(IfName, crate::names::IpNet),
    Name(IfName),
}

/// What `op` sets, as [`Touch`]es.
fn touches(op: &Op) -> impl Iterator<Item = Touch> {
    let (first, second) = match op {
        Op::Rename { name, to } => (
            Some(Touch::Name(name.clone())),
            Some(Touch::Name(to.clone())),
        ),
        Op::AddRoute(r) | Op::DelRoute(r) => (Some(Touch::Route(r.table, r.destination)), None),
        Op::AddAddress(a) | Op::DelAddress(a) => {
            (Some(Touch::Address(a.ifname.clone(), a.address)), None)
        }
        _ => (setting(op).map(|(n, s)| Touch::Link(n, s)), None),
    };
    first.into_iter().chain(second)
}

/// Sends the plan's steps, segment by segment. A segment ends after a step
/// that creates a link (later steps may need its index), before a step that
/// sets again what the segment set, or at a test hook.
fn forward(
    sock: &mut Socket,
    journal: &mut Journal,
    plan: &Plan,
    p: &mut Progress,
    faults: Faults,
) -> Result<()> {
    let n = plan.steps.len();
    let mut i = 0;
    faults.at(0, n)?;
    // What the current segment set, as 64-bit hashes of the touches: two
    // that collide (about one chance in 10^12 for a thousand guests) only
    // end a segment early, which costs a round trip and nothing else. Sized
    // for one segment of every step and its undo, as a batch of guests is,
    // and cleared for each segment: grown step by step it rehashed a dozen
    // times, and touches themselves were five times the size.
    let mut set_here: FastSet<u64> = FastSet::with_capacity_and_hasher(2 * n, Default::default());
    let hasher = std::hash::BuildHasherDefault::<crate::fasthash::FastHasher>::default();
    let hash = |t: Touch| std::hash::BuildHasher::hash_one(&hasher, t);
    while i < n {
        // A create is a segment of its own: its undo (delete by name, as
        // its index is not known yet) is journaled only once every earlier
        // step is acknowledged, when the name is free or is the new link's.
        // An earlier step may free the name (bridge mode renames the NIC
        // away); replay undoes the create before it undoes that rename.
        //
        // A step that sets what an earlier step of the segment set, or set
        // as a side effect its undo puts back (a bridge's MTU after its
        // port's), begins a segment of its own: were both journaled and
        // never sent, the kernel could show the later step's value from
        // before the earlier one (A, B, A), replay would take the later
        // step for done, and its undo would set B, with B's side effects
        // (a bridge below 1280 loses IPv6), which the earlier step's undo,
        // judged never run, would not repair.
        // The same holds of a route or an address added and deleted (or
        // deleted and added) within one segment, and of a rename there and
        // back: the link would carry the name the second gave, and both
        // undos would run (the kernel relabels addresses at each rename).
        set_here.clear();
        let mut end = i;
        while end < n {
            end += 1;
            let done = &plan.steps[end - 1];
            set_here.extend(touches(&done.op).map(hash));
            set_here.extend(done.undo.iter().flat_map(touches).map(hash));
            let next = plan.steps.get(end);
            let next_creates = next.is_some_and(|s| s.op.is_create());
            let next_sets_again =
                next.is_some_and(|s| touches(&s.op).any(|t| set_here.contains(&hash(t))));
            if done.op.is_create() || next_creates || next_sets_again || faults.boundary(end) {
                break;
            }
        }
        let mut reqs: Vec<Request> = Vec::with_capacity(end - i);
        let mut owners: Vec<(usize, usize)> = Vec::with_capacity(end - i);
        let first_undo = p.journaled.len();
        for k in i..end {
            let step = &plan.steps[k];
            let req = bind::bind(&step.op, &|n| p.map.get(n).copied()).map_err(|name| {
                Error::internal(
                    step.op.describe(),
                    format!("the index of {name} is not known"),
                )
            })?;
            // The indices an undo's links have now, or had just before this
            // step deleted them.
            let bound = |op: &Op, map: &FastMap<IfName, u32>, gone: &[(IfName, u32)]| {
                op.links()
                    .filter_map(|n| {
                        map.get(n)
                            .or_else(|| gone.iter().find(|(g, _)| g == n).map(|(_, i)| i))
                            .map(|i| (n.clone(), *i))
                    })
                    .collect::<BoundLinks>()
            };
            // An undo that re-creates a link (of a delete) records the indices
            // it replaces, read before the delete: replay maps older entries'
            // indices to the new link's. (Only undos of deletes re-create, so
            // this list is almost always empty and allocates nothing.)
            let replaced: Vec<(usize, BoundLinks)> = step
                .undo
                .iter()
                .enumerate()
                .filter(|(_, op)| op.is_create())
                .map(|(j, op)| (j, bound(op, &p.map, &[])))
                .collect();
            // The links a delete removes: its undo re-creates them and
            // then restores their settings, addresses and routes, which are
            // bound to the old indices (replay maps them to the new link's).
            let mut gone: Vec<(IfName, u32)> = Vec::new();
            match &step.op {
                Op::Rename { name, to } => {
                    if let Some(ix) = p.map.remove(name) {
                        p.map.insert(to.clone(), ix);
                    }
                }
                Op::DeleteLink { name } => {
                    gone.extend(p.map.remove(name).map(|i| (name.clone(), i)));
                    // Deleting one end of a veth deletes the other.
                    for u in &step.undo {
                        if let Op::CreateVeth { peer, .. } = u {
                            gone.extend(p.map.remove(peer).map(|i| (peer.clone(), i)));
                        }
                    }
                }
                _ => {}
            }
            let mut replaced = replaced.into_iter().peekable();
            let undo: Vec<BoundOp> = step
                .undo
                .iter()
                .enumerate()
                .map(|(j, op)| BoundOp {
                    at: match replaced.next_if(|(r, _)| *r == j) {
                        Some((_, at)) => at,
                        None => bound(op, &p.map, &gone),
                    },
                    op: op.clone(),
                })
                .collect();
            // A change of a link's setting, for replay to see whether it
            // took effect before undoing it, where its undo alone cannot
            // tell: when an earlier step changed that setting too (its undo
            // sets it back), or renamed or deleted links (names then stand
            // for other links). Otherwise the value the undo sets back is
            // the host's own, and the kernel showing it means the step never
            // ran. (Attaching a batch of guests journals no `did` at all.)
            let did = setting(&step.op)
                .filter(|s| p.reshaped || p.set_by_undo.contains(s))
                .map(|_| BoundOp {
                    at: bound(&step.op, &p.map, &gone),
                    op: step.op.clone(),
                });
            p.reshaped |= matches!(step.op, Op::Rename { .. } | Op::DeleteLink { .. });
            p.set_by_undo.extend(step.undo.iter().filter_map(setting));
            p.journaled.push(StepUndo {
                step: k + 1,
                did: did.map(Box::new),
                ops: undo,
            });
            if let Some(last) = reqs.last_mut() {
                if bind::merge(last, &req) {
                    owners.last_mut().expect("same length").1 = k;
                    continue;
                }
            }
            reqs.push(req);
            owners.push((k, k));
        }
        journal.append_undo(&p.journaled[first_undo..])?;
        faults.journaled(i);
        let encoded = Encoded::of(sock, reqs.iter());
        // From here on, every step of the segment may have reached the kernel.
        p.sent = end;
        p.requests += reqs.len();
        let outcomes = sock.batch(&encoded, 0, "apply plan")?;
        if let Some((k, ack)) = outcomes.iter().enumerate().find_map(|(k, o)| match o {
            Outcome::Failed(a) => Some((k, a.clone())),
            _ => None,
        }) {
            let (a, b) = owners[k];
            // A create is the last step of its segment. When it is what
            // failed, it made nothing, and the name its undo would delete
            // may be another's link (EEXIST): it is not among the sent.
            if b + 1 == end && plan.steps[b].op.is_create() {
                p.sent = b;
            }
            let what = plan.steps[a..=b]
                .iter()
                .map(|s| s.op.describe())
                .collect::<Vec<_>>()
                .join(", ");
            let place = if a == b {
                format!("step {} of {n}", a + 1)
            } else {
                format!("steps {}-{} of {n}", a + 1, b + 1)
            };
            let e = ack.into_error(format!("{what} ({place})"), reqs[k].exists_note());
            return Err(match plan.steps[a].op.subject() {
                Some(n) => e.about(n),
                None => e,
            });
        }
        if let Some(Op::CreateBridge { name, .. } | Op::CreateVeth { name, .. }) =
            plan.steps.get(end - 1).map(|s| &s.op)
        {
            let mut names = vec![name.clone()];
            if let Op::CreateVeth { peer, .. } = &plan.steps[end - 1].op {
                names.push(peer.clone());
            }
            let mut found = Vec::new();
            for name in names {
                let index = sock.link_index(&name)?;
                p.map.insert(name.clone(), index);
                p.created.push((end, name.clone(), index));
                found.push(Entry::Created { name, index });
            }
            journal.append(&found)?;
        }
        faults.at(end, n)?;
        i = end;
    }
    Ok(())
}

/// Applies `ops` one at a time, without lock or journal, resolving names as
/// it goes. For building sandboxes and test worlds in namespaces xenbr owns;
/// never for a host's own configuration.
pub(crate) fn direct(sock: &mut Socket, ops: &[Op]) -> Result<()> {
    for op in ops {
        let mut known = HashMap::new();
        for n in op.links() {
            if let Ok(i) = sock.link_index(n) {
                known.insert(n.clone(), i);
            }
        }
        let req = bind::bind(op, &|n| known.get(n).copied())
            .map_err(|n| Error::not_found(op.describe(), format!("interface {n}")).about(&n))?;
        send_one(sock, &req, &op.describe())?;
    }
    Ok(())
}

/// Sends one request and waits for its ACK.
pub(crate) fn send_one(sock: &mut Socket, req: &Request, what: &str) -> Result<()> {
    let one = Encoded::of(sock, [req].into_iter());
    match sock.batch(&one, 0, what)?.pop() {
        Some(Outcome::Done) => Ok(()),
        Some(Outcome::Failed(ack)) => Err(ack.into_error(what, req.exists_note())),
        _ => Err(Error::internal(what, "no answer from the kernel")),
    }
}

/// Re-reads the kernel and compares the links the plan touched (and their
/// addresses and routes, when the plan changes any) with what the model
/// predicted. `map` holds the kernel index of each link by its name at the
/// end of the plan.
fn verify(sock: &mut Socket, plan: &Plan, map: &FastMap<IfName, u32>) -> Result<()> {
    if plan.touched.is_empty() {
        return Ok(());
    }
    let routes = plan
        .steps
        .iter()
        .any(|s| matches!(s.op, Op::AddRoute(_) | Op::DelRoute(_)));
    // Addresses are re-read when a step changes them in the model: adds and
    // deletes, and the side effects of taking a link down, deleting it or
    // renaming it (labels). A plan of MACs, MTUs, masters and ups, such as
    // attaching a batch of guests, leaves them as they were, and reading
    // them back would check only that no one else changed them meanwhile.
    let addresses = plan.steps.iter().any(|s| {
        matches!(
            s.op,
            Op::AddAddress(_)
                | Op::DelAddress(_)
                | Op::SetUp { up: false, .. }
                | Op::DeleteLink { .. }
                | Op::Rename { .. }
        )
    });
    let ports = match addresses || routes {
        true => None,
        false => read_as_ports(sock, plan, map)?,
    };
    let actual = match ports {
        Some(actual) => actual,
        None => sock.snapshot_of(&crate::netlink::Scope {
            links: plan.touched.clone(),
            bridges: false,
            addresses,
            routes,
        })?,
    };
    // The model as it can be compared: MACs the kernel chose taken from it,
    // and what was not read left out. Copied only when that changes it (a
    // batch of attaches compares the model as it is).
    let unknown_mac = plan
        .touched
        .iter()
        .any(|n| plan.expected.link(n).is_some_and(|l| l.mac.is_none()));
    let unread = (!routes && !plan.expected.routes.is_empty())
        || (!addresses && !plan.expected.addresses.is_empty());
    let adjusted;
    let expected = if unknown_mac || unread {
        let mut e = plan.expected.clone();
        e.adopt_unknown_macs(&actual);
        if !routes {
            e.routes.clear();
        }
        if !addresses {
            e.addresses.clear();
        }
        adjusted = e;
        &adjusted
    } else {
        &plan.expected
    };
    let d = compare::diff_on(expected, &actual, &plan.touched);
    if d.is_empty() {
        return Ok(());
    }
    Err(Error::conflict(
        "verify the result",
        format!(
            "the kernel does not show what the plan made: {}",
            d.join("; ")
        ),
    ))
}

/// Reads back the links a plan touched from the bridges' own dump (see
/// [`Socket::bridge_ports`]) instead of a link dump, when that is sure to
/// say as much: the batch is large enough to be read with a dump anyway,
/// every step only sets a MAC, an MTU, a master or up/down, and every
/// touched link ends as a port of a bridge. What a bridge does not report
/// (the kind, a veth's peer, ...) belongs to the device, and no such step
/// changes it: it is taken from the model for each port that is still the
/// device the plan changed (the same kernel index, under the same name).
///
/// `None` (read the links as usual) when the plan is not of that shape, and
/// also when a touched link is not found as the same port of the bridge
/// predicted: the difference is then described from a full read.
fn read_as_ports(
    sock: &mut Socket,
    plan: &Plan,
    map: &FastMap<IfName, u32>,
) -> Result<Option<Snapshot>> {
    if plan.touched.len() <= crate::netlink::BY_NAME_MAX {
        return Ok(None);
    }
    let shape = plan.steps.iter().all(|s| {
        matches!(
            s.op,
            Op::SetMac { .. }
                | Op::SetMtu { .. }
                | Op::SetMaster {
                    master: Some(_),
                    ..
                }
                | Op::SetUp { .. }
        )
    });
    if !shape {
        return Ok(None);
    }
    // The links predicted, by index, and the names of their bridges by index.
    let mut want: FastMap<u32, &crate::state::Link> =
        FastMap::with_capacity_and_hasher(plan.touched.len(), Default::default());
    let mut bridges: FastMap<u32, &IfName> = FastMap::default();
    for name in &plan.touched {
        let Some(l) = plan.expected.link(name) else {
            return Ok(None);
        };
        let (Some(master), Some(&index)) = (l.master.as_ref(), map.get(name)) else {
            return Ok(None);
        };
        let Some(&master_index) = map.get(master) else {
            return Ok(None);
        };
        bridges.insert(master_index, master);
        want.insert(index, l);
    }
    let mut links = Vec::with_capacity(want.len());
    for port in sock.bridge_ports()? {
        let Some(l) = want.get(&port.link.index) else {
            continue;
        };
        let Some(master) = port.master.and_then(|i| bridges.get(&i)) else {
            return Ok(None);
        };
        if port.link.name != l.name {
            return Ok(None);
        }
        let mut got = port.link;
        got.master = Some((*master).clone());
        got.kind = l.kind;
        got.info_kind = l.info_kind.clone();
        got.peer = l.peer.clone();
        got.peer_elsewhere = l.peer_elsewhere;
        got.bridge = l.bridge;
        got.min_mtu = l.min_mtu;
        got.max_mtu = l.max_mtu;
        links.push(got);
    }
    if links.len() != want.len() {
        return Ok(None);
    }
    Ok(Some(Snapshot::new(links, Vec::new(), Vec::new())))
}
