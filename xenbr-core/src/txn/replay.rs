//! Replaying undo, newest step first: the one mechanism behind a rollback
//! after a failed step and behind recovery after a crash.
//!
//! Every undo op sets something back to what it was, so applying the undo of
//! a step that never ran (or ran in part) changes nothing; the kernel's
//! "already so" answers (no such device, address exists, no such route) are
//! taken as success. Links are addressed by the index recorded in the journal;
//! only a link created by the transaction itself is looked up by name.

use std::collections::{HashMap, HashSet};

use super::bind::{already_so, bind};
use crate::error::Error;
use crate::journal::{BoundOp, StepUndo};
use crate::names::IfName;
use crate::netlink::{Encoded, Outcome, Request, SetLink, Socket, Target};
use crate::op::Op;

/// Applies the undo of `steps` (given in the order they were journaled),
/// newest first. Returns the errors that were not "already so"; empty means
/// the host is back where it was.
pub(crate) fn replay(
    sock: &mut Socket,
    steps: &[StepUndo],
    created: &[(usize, IfName, u32)],
) -> Vec<Error> {
    // The link called `n` that the transaction created last at or before
    // step `k` (a plan may create, delete and create again one name).
    let created_by = |n: &IfName, k: usize| {
        created
            .iter()
            .filter(|(s, m, _)| m == n && *s <= k)
            .max_by_key(|(s, _, _)| *s)
            .map(|(_, _, i)| *i)
    };
    let mut errors = Vec::new();
    let mut batch: Vec<(Request, String)> = Vec::new();
    // Old index -> new index, for links the transaction deleted and this
    // replay re-created.
    let mut remap: HashMap<u32, u32> = HashMap::new();
    // The links whose master this replay has set so far (by index).
    let mut moved: HashSet<u32> = HashSet::new();
    for StepUndo { step, did, ops } in steps.iter().rev() {
        // The links of a delete that never ran, which are still there as
        // they were: what its undo sets on them, it would set to what the
        // model says they had (which a step before that never ran either
        // may have changed), and what it puts back by deleting it and
        // adding it again (a route that lost hops) is still whole. The rest
        // puts back what is there (already so) or what the undo of a later
        // step that never ran either changed in the belief that it had
        // (a port freed from the deleted bridge).
        let mut never_ran: Option<Vec<IfName>> = None;
        // The index of a link an entry names, now: as journaled, or of the
        // link this step's create made, either re-created since by the
        // undo of a later delete.
        let index_of = |b: &BoundOp, n: &IfName| {
            b.at.iter()
                .find(|(m, _)| m == n)
                .map(|(_, i)| *i)
                .or_else(|| created_by(n, *step))
                .map(|i| remap.get(&i).copied().unwrap_or(i))
        };
        // A step that set a link's MTU, MAC, master or state took effect
        // only if the kernel shows what it set (a later step that changed
        // the same has been undone already): otherwise it never ran (its
        // segment was journaled, not sent), nor did anything it causes.
        if let Some(did) = did {
            flush(sock, &mut batch, &mut errors);
            if shows(sock, did, &|n| index_of(did, n)) == Some(false) {
                continue;
            }
        }
        // A step's undo begins with the inverse of its own change: when the
        // kernel already shows what that sets back, the step never took
        // effect either; its undo would only change what it did not
        // (setting a bridge's MTU or MAC makes the bridge stop following
        // its ports).
        if let Some(first) = ops.first() {
            flush(sock, &mut batch, &mut errors);
            if shows(sock, first, &|n| index_of(first, n)) == Some(true) {
                continue;
            }
        }
        for b in ops {
            let now = |i: &u32| remap.get(i).copied().unwrap_or(*i);
            // Indices as journaled, or of the link this step's create made;
            // either may have been deleted by a later step and re-created
            // by that step's undo: the new one's then.
            let known: HashMap<&IfName, u32> = b.at.iter().map(|(n, i)| (n, *i)).collect();
            let lookup = |n: &IfName| {
                known
                    .get(n)
                    .copied()
                    .or_else(|| created_by(n, *step))
                    .map(|i| now(&i))
            };
            if let Some(kept) = &never_ran {
                // What it sets back on other links is what the delete would
                // have changed of them: a bridge's MTU or MAC when a port
                // went, which setting would pin for good.
                let own = b.op.subject().is_some_and(|n| kept.contains(n));
                let follows = matches!(b.op, Op::SetMtu { .. } | Op::SetMac { .. });
                if own || follows || matches!(b.op, Op::DelRoute(_)) {
                    continue;
                }
                // A port it puts back is one the undo of a later step took
                // off here; any other is where it is, and one that was no
                // port yet joined by an earlier step that never ran either
                // (attaching it would make that step look done).
                if let Op::SetMaster { name, .. } = &b.op {
                    if !lookup(name).is_some_and(|i| moved.contains(&i)) {
                        continue;
                    }
                }
            }
            let req = match bind(&b.op, &lookup) {
                Ok(r) => r,
                Err(_) => {
                    // A link that did not exist when the entry was written:
                    // one an earlier undo op re-created. Find it now.
                    flush(sock, &mut batch, &mut errors);
                    let mut live: HashMap<IfName, u32> = HashMap::new();
                    for n in b.op.links() {
                        if let Some(i) = lookup(n) {
                            live.insert(n.clone(), i);
                        } else if let Ok(i) = sock.link_index(n) {
                            live.insert(n.clone(), i);
                        }
                    }
                    match bind(&b.op, &|n| live.get(n).copied()) {
                        Ok(r) => r,
                        // Still missing: the link is gone, so is what the op would undo.
                        Err(_) => continue,
                    }
                }
            };
            // Setting a MAC the link already has would still change it: the
            // kernel then keeps it as set, where it may have chosen it (a
            // bridge takes the smallest of its ports' MACs until one is set).
            if let Request::SetLink {
                target: Target::Index(i),
                set:
                    SetLink {
                        mac: Some(mac),
                        name: None,
                        mtu: None,
                        master: None,
                        up: None,
                    },
            } = &req
            {
                flush(sock, &mut batch, &mut errors);
                if sock.link_mac(*i).ok().flatten() == Some(*mac) {
                    continue;
                }
            }
            // Deleting a route the kernel does not hold (its add never ran)
            // would delete another of the same prefix: a delete takes no
            // gateway, metric 0 or protocol 0 for "any".
            if let Request::DelRoute { route, oif, hops } = &req {
                flush(sock, &mut batch, &mut errors);
                if !sock.holds_route(route, *oif, hops).unwrap_or(true) {
                    continue;
                }
            }
            // Renaming back a link that does not carry the name the rename
            // gave it: the rename never ran (its segment was journaled, not
            // sent), and the name to go back to may still be another link's
            // that a step which never ran either would have freed.
            if let (
                Op::Rename { name: from, .. },
                Request::SetLink {
                    target: Target::Index(i),
                    ..
                },
            ) = (&b.op, &req)
            {
                flush(sock, &mut batch, &mut errors);
                if sock.link_index(from).ok() != Some(*i) {
                    continue;
                }
            }
            let creates = matches!(req, Request::NewBridge { .. } | Request::NewVeth { .. });
            if creates && !b.at.is_empty() {
                // The undo of a delete: if the link it deleted is still
                // there, the delete never ran and there is nothing to
                // re-create (a name lookup would otherwise make a duplicate
                // when a rename before the delete never ran either).
                flush(sock, &mut batch, &mut errors);
                if b.at
                    .iter()
                    .all(|(_, old)| sock.link_exists(*old).unwrap_or(false))
                {
                    never_ran = Some(b.at.iter().map(|(n, _)| n.clone()).collect());
                    continue;
                }
            }
            if let (
                Op::SetMaster { .. },
                Request::SetLink {
                    target: Target::Index(i),
                    ..
                },
            ) = (&b.op, &req)
            {
                moved.insert(*i);
            }
            batch.push((req, format!("undo: {}", b.op.describe())));
            if creates {
                // What follows may need the new link's index, and older
                // entries name the deleted link by its old one.
                flush(sock, &mut batch, &mut errors);
                for (n, old) in &b.at {
                    if let Ok(new) = sock.link_index(n) {
                        remap.insert(*old, new);
                    }
                }
            }
        }
    }
    flush(sock, &mut batch, &mut errors);
    errors
}

/// Whether the kernel shows what `b`, a change of one link's master, MTU,
/// MAC or state, sets: `None` when that cannot be told (`b` is another
/// kind of op, or its link is not bound or gone).
fn shows(
    sock: &mut Socket,
    b: &BoundOp,
    index_of: &dyn Fn(&IfName) -> Option<u32>,
) -> Option<bool> {
    let Ok(Request::SetLink {
        target: Target::Index(i),
        set,
    }) = bind(&b.op, index_of)
    else {
        return None;
    };
    if set.name.is_some() {
        return None;
    }
    let now = sock.link_raw(i).ok()??;
    Some(
        set.master.is_none_or(|m| now.master.unwrap_or(0) == m)
            && set.mtu.is_none_or(|m| now.link.mtu == m)
            && set.mac.is_none_or(|m| now.link.mac == Some(m))
            && set.up.is_none_or(|u| now.link.up == u),
    )
}

/// Sends the pending undo requests as one pipelined batch, continuing past
/// failures, and records the ones that were not "already so".
fn flush(sock: &mut Socket, batch: &mut Vec<(Request, String)>, errors: &mut Vec<Error>) {
    if batch.is_empty() {
        return;
    }
    let reqs = Encoded::of(sock, batch.iter().map(|(r, _)| r));
    // Each datagram's requests are all processed; a failure must not stop
    // the rest of the undo, so send datagrams one at a time until all went.
    let mut start = 0;
    while start < batch.len() {
        match sock.batch(&reqs, start, "undo") {
            Ok(outcomes) => {
                let mut sent = 0;
                for (k, o) in outcomes.into_iter().enumerate() {
                    let (req, what) = &batch[start + k];
                    match o {
                        Outcome::Done => sent = k + 1,
                        Outcome::Failed(ack) => {
                            sent = k + 1;
                            if !already_so(req, ack.errno) {
                                errors.push(ack.into_error(what.clone(), None));
                            }
                        }
                        Outcome::NotSent => break,
                    }
                }
                if sent == 0 {
                    break;
                }
                start += sent;
            }
            Err(e) => {
                errors.push(e);
                break;
            }
        }
    }
    batch.clear();
}
