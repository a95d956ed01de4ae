//! The laws of plans and their undo, checked on the in-memory model with
//! random hosts and random op sequences (pure: no root, no kernel).
//!
//! - **Undo**: for any host H and valid ops P, `Plan::build(H, P)` succeeds,
//!   and applying `plan.undo_all()` to `plan.expected` gives back H; so does
//!   `plan.inverse()`, the way back as a plan of its own.
//! - **Inverse**: every single op, followed by `op.inverse(before)`, gives
//!   back `before` (up to the MAC of a link the plan created, which the
//!   model does not know).
//! - **Recovery**: for any prefix of k steps of a valid plan, undoing the
//!   plan (newest step first) on the state after those k steps, taking the
//!   kernel's "already so" answers as success, gives back H, with no other
//!   refusal. This is crash recovery, where the journal holds the undo of
//!   steps that never ran; and rollback. Checked two ways: by name, every
//!   undo op of the whole plan applied to the model as it is (the law as
//!   first stated); and as the transaction replays its journal, each undo
//!   op bound to the kernel indices recorded when it was written, with as
//!   much journaled as a crash after k steps can leave ([`replay`]).
//! - **Refusal**: an invalid op in a plan makes `Plan::build` fail, naming
//!   that op; a refused op leaves the snapshot exactly as it was; no op
//!   sequence, however wrong, makes `Plan::build` panic.
//!
//! The recovery laws do not hold in full. The runs in `cargo test` leave out
//! the op patterns of these known gaps; the `*_in_full` laws (ignored) leave
//! out nothing, and the `gap_*` tests (ignored) pin the smallest
//! counterexample of each:
//!
//! 1. The undo of a create that never ran deletes a namesake: network-bridge's
//!    `ip link set eth0 name peth0; ip link add eth0 type bridge` is journaled
//!    as one segment; a crash before it is sent leaves the undo
//!    `ip link del eth0`, with no `created` entry, so the replay binds it by
//!    name, to the original eth0.
//! 2. The undo of a deletion that never ran makes a duplicate: `ip link set
//!    a name b; ip link del b`, neither sent, replays as `ip link add b`
//!    beside the intact `a`.
//! 3. Re-adding what a link cannot carry yet is no "already so": a route
//!    through a link still down (ENETDOWN), IPv6 on a link whose MTU is still
//!    below 1280 (EINVAL), when the step that would have allowed it never ran.
//!    The host comes back, but the recovery reports failure.
//! 4. (By name only.) Undo by name cannot follow a rename that never ran:
//!    an undo op naming a link by its new name misses it, and an earlier
//!    undo op has already acted on it. The replay binds by index.
//! 5. (By name only.) The model refuses to move a port straight from one
//!    bridge to another (a planning conflict); the kernel does it.
//! 6. (Also rollback; confirmed on Linux 6.18.) The undo of a deletion
//!    re-creates the link under a new index, but the undo ops of earlier
//!    steps, and those for a deleted veth's other end, stay bound to the
//!    old one: ENODEV, taken as "already so", so they are skipped silently
//!    (`ip link set a down; ip link del a` rolls back to `a` down; a deleted
//!    veth pair comes back with one end's MAC, MTU and state lost), or
//!    EINVAL for a port re-attached to a re-created bridge.
//! 7. The replay performs the undo of renames that never ran: bound by
//!    index, `ip link set b name a_0; ip link set a_0 name a` renames the
//!    link that is still `a` there and back, and the kernel relabels its
//!    IPv4 addresses on the way. The plan's rename was allowed because, by
//!    then, a step had moved the addresses off (`ip addr del
//!    192.0.2.1/24 dev a` of an address labelled `a:0`, which comes back
//!    labelled `a`).
//!
//! `PROPTEST_CASES` raises (or lowers) the number of cases of every law.

#[path = "support/gen.rs"]
mod gen;
#[path = "support/replay.rs"]
mod replay;

use std::collections::BTreeMap;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{TestCaseError, TestRunner};

use xenbr_core::op::Op;
use xenbr_core::state::compare::diff;
use xenbr_core::{Error, ErrorKind, Plan, Snapshot};

/// The cases of a law: `default` unless `PROPTEST_CASES` says otherwise.
fn config(default: u32) -> ProptestConfig {
    if std::env::var_os("PROPTEST_CASES").is_some() {
        ProptestConfig::default()
    } else {
        ProptestConfig::with_cases(default)
    }
}

fn listing(ops: &[Op]) -> String {
    ops.iter()
        .map(|o| format!("\n    {}", o.ip_command()))
        .collect()
}

fn differences(want: &Snapshot, got: &Snapshot) -> String {
    diff(want, got)
        .iter()
        .map(|l| format!("\n    {l}"))
        .collect()
}

/// Builds the plan of `ops` on `h`; a valid sequence must build.
fn build(h: &Snapshot, ops: &[Op]) -> Result<Plan, TestCaseError> {
    Plan::build(h, ops.to_vec()).map_err(|e| {
        TestCaseError::fail(format!(
            "a valid plan was refused: {e}\n  ops:{}",
            listing(ops)
        ))
    })
}

/// Refusals a recovery law may take as success beyond the recovery's own
/// "already so" list (each a known gap, see the module documentation).
#[derive(Debug, Clone, Copy, Default)]
struct Tolerate {
    /// Re-adding an address or route that the link cannot carry now: a
    /// route through a link that is down (ENETDOWN), IPv6 on a link whose
    /// MTU is below 1280 (EINVAL).
    cannot_carry: bool,
    /// Moving a port straight from one bridge to another, which the model
    /// refuses as a planning conflict and the kernel does.
    port_moves: bool,
}

impl Tolerate {
    const NOTHING: Tolerate = Tolerate {
        cannot_carry: false,
        port_moves: false,
    };

    /// True when `e`, the refusal of `op` on state `s`, is tolerated.
    fn allows(&self, s: &Snapshot, op: &Op, e: &Error) -> bool {
        let low_mtu = |n: &xenbr_core::IfName| s.link(n).is_some_and(|l| l.mtu < 1280);
        (self.cannot_carry
            && match op {
                Op::AddRoute(_) => e.errno() == Some(libc::ENETDOWN),
                Op::AddAddress(a) => e.errno() == Some(libc::EINVAL) && low_mtu(&a.ifname),
                _ => false,
            })
            || (self.port_moves
                && matches!(op, Op::SetMaster { .. })
                && e.kind() == ErrorKind::Conflict)
    }
}

/// The failure message of a recovery law.
fn recovery_failure(
    what: String,
    h: &Snapshot,
    s: &Snapshot,
    refused: &[String],
    ops: &[Op],
    undo: &[Op],
) -> TestCaseError {
    TestCaseError::fail(format!(
        "{what} {}:{}{}\n  ops:{}\n  undo:{}",
        if s == h {
            "gives back the host but has undo ops refused, not as \"already so\""
        } else {
            "does not give back the host"
        },
        differences(h, s),
        refused.concat(),
        listing(ops),
        listing(undo)
    ))
}

/// Law 3 by name: after each prefix of k steps, the whole plan's undo,
/// newest first, applied by name, continuing past refusals as the replay
/// does; the host must come back with nothing refused but "already so".
fn recovers_by_name(h: &Snapshot, ops: &[Op], tolerate: Tolerate) -> Result<(), TestCaseError> {
    let plan = build(h, ops)?;
    let undo = plan.undo_all();
    let mut done = h.clone();
    for k in 0..=ops.len() {
        if k > 0 {
            done.apply(&ops[k - 1])
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
        }
        let mut s = done.clone();
        let mut refused = Vec::new();
        for u in &undo {
            if let Err(e) = s.apply(u) {
                if !replay::already_so(u, &e) && !tolerate.allows(&s, u, &e) {
                    refused.push(format!("\n    `{}`: {e}", u.ip_command()));
                }
            }
        }
        if !refused.is_empty() || s != *h {
            let what = format!("after {k} of {} steps, the undo by name", ops.len());
            return Err(recovery_failure(what, h, &s, &refused, ops, &undo));
        }
    }
    Ok(())
}

/// Law 3 as the transaction recovers ([`replay`]): after each prefix of k
/// steps, with as much journaled as a crash there can leave, the journal
/// replayed with the kernel indices it recorded; the host must come back
/// with nothing refused but "already so".
fn recovers_by_replay(h: &Snapshot, ops: &[Op], tolerate: Tolerate) -> Result<(), TestCaseError> {
    let plan = build(h, ops)?;
    let j = replay::journal(h, &plan);
    for k in 0..=ops.len() {
        for m in j.extents(k, &plan) {
            let (s, refused) = replay::recover(&j, k, m, &|s, op, e| tolerate.allows(s, op, e));
            let refused: Vec<String> = refused
                .iter()
                .map(|(op, e)| format!("\n    `{}`: {e}", op.ip_command()))
                .collect();
            if !refused.is_empty() || s != *h {
                let what = format!(
                    "after {k} of {} steps, with {m} journaled, the replayed journal",
                    ops.len()
                );
                return Err(recovery_failure(
                    what,
                    h,
                    &s,
                    &refused,
                    ops,
                    &plan.undo_all(),
                ));
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(128))]

    /// Law 1: the whole plan's undo, applied after the plan, gives back the host.
    #[test]
    fn undo_all_gives_back_the_host(h in gen::host(), seeds in gen::op_seeds(0..=16)) {
        let (ops, _) = gen::valid_ops(&h, &seeds);
        let plan = build(&h, &ops)?;
        let undo = plan.undo_all();
        let mut s = plan.expected.clone();
        for u in &undo {
            if let Err(e) = s.apply(u) {
                return Err(TestCaseError::fail(format!(
                    "undo op refused: {e}\n  ops:{}\n  undo:{}",
                    listing(&ops),
                    listing(&undo)
                )));
            }
        }
        prop_assert!(
            s == h,
            "plan then undo differs from the host:{}\n  ops:{}\n  undo:{}",
            differences(&h, &s),
            listing(&ops),
            listing(&undo)
        );
    }

    /// Law 1 again, through the public way back: `plan.inverse()` builds and
    /// predicts the host.
    #[test]
    fn the_inverse_plan_predicts_the_host(h in gen::host(), seeds in gen::op_seeds(0..=16)) {
        let (ops, _) = gen::valid_ops(&h, &seeds);
        let plan = build(&h, &ops)?;
        let back = plan.inverse().map_err(|e| {
            TestCaseError::fail(format!(
                "the inverse plan was refused: {e}\n  ops:{}\n  undo:{}",
                listing(&ops),
                listing(&plan.undo_all())
            ))
        })?;
        prop_assert!(
            back.expected == h,
            "the inverse plan predicts another host:{}\n  ops:{}\n  undo:{}",
            differences(&h, &back.expected),
            listing(&ops),
            listing(&plan.undo_all())
        );
    }

    /// Law 2: each op, then its inverse computed from the state before it,
    /// gives back that state (for every op of a random valid sequence).
    #[test]
    fn each_inverse_undoes_its_op(h in gen::host(), seeds in gen::op_seeds(1..=12)) {
        let (ops, _) = gen::valid_ops(&h, &seeds);
        let mut before = h.clone();
        for op in &ops {
            let inverse = op.inverse(&before).map_err(|e| {
                TestCaseError::fail(format!("inverse of {op} refused: {e}"))
            })?;
            let mut s = before.clone();
            s.apply(op).map_err(|e| TestCaseError::fail(format!("{op}: {e}")))?;
            let after = s.clone();
            for u in &inverse {
                if let Err(e) = s.apply(u) {
                    return Err(TestCaseError::fail(format!(
                        "undo of {op} refused at {u}: {e}\n  undo:{}",
                        listing(&inverse)
                    )));
                }
            }
            // A MAC the model does not know (of a link the plan created) may
            // be anything, and nothing but deleting the link takes it back.
            let mut want = before.clone();
            want.adopt_unknown_macs(&s);
            prop_assert!(
                s == want,
                "`{}` then its inverse differs from before:{}\n  inverse:{}",
                op.ip_command(),
                differences(&want, &s),
                listing(&inverse)
            );
            before = after;
        }
    }

    /// Law 3 by name, as far as it holds: leaves out names taken again
    /// (gap 1) and renames (gaps 2 and 4), tolerates gaps 3 and 5.
    /// `recovery_by_name_in_full` leaves out nothing.
    #[test]
    fn undo_by_name_after_any_prefix_gives_back_the_host(
        h in gen::host(),
        seeds in gen::op_seeds(0..=14),
    ) {
        let avoid = gen::Avoid {
            name_reuse: true,
            renaming: true,
            ..gen::Avoid::NOTHING
        };
        let (ops, _) = gen::valid_ops_avoiding(&h, &seeds, avoid);
        let tolerate = Tolerate { cannot_carry: true, port_moves: true };
        recovers_by_name(&h, &ops, tolerate)?;
    }

    /// Law 3 by name, in full, as first stated. Fails on the known
    /// gaps; run with `--ignored`.
    #[test]
    #[ignore = "fails on known gaps 1 to 5 (see the module documentation)"]
    fn recovery_by_name_in_full(h in gen::host(), seeds in gen::op_seeds(0..=14)) {
        let (ops, _) = gen::valid_ops(&h, &seeds);
        recovers_by_name(&h, &ops, Tolerate::NOTHING)?;
    }

    /// Law 3 as the transaction replays its journal, as far as it holds:
    /// leaves out names taken again (gap 1), deleting renamed links (gap 2),
    /// deleting a link an earlier step's undo names, or a veth (gap 6),
    /// renaming a link that carried IPv4 addresses a rename relabels
    /// (gap 7); tolerates gap 3.
    /// `recovery_by_replay_in_full` leaves out nothing.
    #[test]
    fn replayed_journal_after_any_prefix_gives_back_the_host(
        h in gen::host(),
        seeds in gen::op_seeds(0..=14),
    ) {
        let avoid = gen::Avoid {
            name_reuse: true,
            deleting_renamed: true,
            deleting_touched: true,
            renaming_labelled: true,
            ..gen::Avoid::NOTHING
        };
        let (ops, _) = gen::valid_ops_avoiding(&h, &seeds, avoid);
        let tolerate = Tolerate { cannot_carry: true, ..Tolerate::NOTHING };
        recovers_by_replay(&h, &ops, tolerate)?;
    }

    /// Law 3 as the transaction replays its journal, in full. Fails on the
    /// known gaps; run with `--ignored`.
    #[test]
    #[ignore = "fails on known gaps 1, 2, 3, 6 and 7 (see the module documentation)"]
    fn recovery_by_replay_in_full(h in gen::host(), seeds in gen::op_seeds(0..=14)) {
        let (ops, _) = gen::valid_ops(&h, &seeds);
        recovers_by_replay(&h, &ops, Tolerate::NOTHING)?;
    }

    /// Law 4: an invalid op anywhere in a plan makes `Plan::build` fail, and
    /// the error names that op and is no internal error.
    #[test]
    fn an_invalid_op_is_refused_by_name(
        h in gen::host(),
        seeds in gen::op_seeds(0..=8),
        bad in gen::op_seed(),
        tail in gen::op_seeds(0..=4),
    ) {
        let (mut ops, _) = gen::valid_ops(&h, &seeds);
        let mid = build(&h, &ops)?.expected;
        let bad = gen::realise_invalid(&mid, &bad);
        let (rest, _) = gen::valid_ops(&mid, &tail);
        ops.push(bad.clone());
        ops.extend(rest);
        match Plan::build(&h, ops.clone()) {
            Ok(_) => prop_assert!(
                false,
                "`{}` was accepted\n  ops:{}",
                bad.ip_command(),
                listing(&ops)
            ),
            Err(e) => {
                prop_assert_eq!(e.op(), bad.describe(), "the error names another op: {}", e);
                prop_assert_ne!(e.kind(), ErrorKind::Internal, "{}", e);
            }
        }
    }

    /// Law 5: `Plan::build` never panics, whatever the ops (nor does
    /// showing them); and an op the model refuses leaves the snapshot
    /// exactly as it was.
    #[test]
    fn refusals_change_nothing_and_nothing_panics(
        h in gen::host(),
        seeds in gen::op_seeds(0..=6),
        wild in vec(gen::arbitrary_op(), 1..=10),
    ) {
        let (mut ops, _) = gen::valid_ops(&h, &seeds);
        ops.extend(wild);
        let _ = Plan::build(&h, ops.clone());
        let mut s = h.clone();
        for op in &ops {
            let _ = (op.ip_command(), op.describe());
            let before = format!("{s:?}");
            if s.apply(op).is_err() {
                prop_assert_eq!(
                    before,
                    format!("{s:?}"),
                    "refused `{}` changed the snapshot",
                    op.ip_command()
                );
            }
        }
    }
}

// ------------------------------------------------------------ known gaps
//
// The smallest counterexample of each gap of the recovery laws, pinned. Each
// fails today; run them with `cargo test -p xenbr-core --test model_laws --
// --ignored gap_`.

fn name(s: &str) -> xenbr_core::IfName {
    s.parse().expect("a valid name")
}

/// A host made by `ops` on an empty one, its links numbered from 1 and
/// given MACs, as a snapshot read from a kernel would have them.
fn pinned_host(ops: &[Op]) -> Snapshot {
    let mut s = Snapshot::default();
    for op in ops {
        s.apply(op).expect("a pinned host builds");
    }
    for (i, l) in s.links.iter_mut().enumerate() {
        l.index = i as u32 + 1;
        l.mac = l
            .mac
            .or(Some(xenbr_core::MacAddr([2, 0, 0, 0, 0, i as u8 + 1])));
    }
    s
}

fn bridge(n: &str) -> Op {
    Op::CreateBridge {
        name: name(n),
        mac: None,
        stp: false,
        forward_delay: 0,
    }
}

fn rename(from: &str, to: &str) -> Op {
    Op::Rename {
        name: name(from),
        to: name(to),
    }
}

fn up(n: &str, up: bool) -> Op {
    Op::SetUp { name: name(n), up }
}

fn fails(r: Result<(), TestCaseError>) {
    if let Err(e) = r {
        panic!("{e}");
    }
}

/// Gap 1: network-bridge's `ip link set eth0 name peth0; ip link add eth0
/// type bridge`, journaled together, crash before either ran: the undo
/// `ip link del eth0` (no `created` entry, so bound by name) deletes the
/// original eth0.
#[test]
#[ignore = "gap 1: the undo of a create that never ran deletes a namesake"]
fn gap_1_a_create_that_never_ran_deletes_its_namesake() {
    let h = pinned_host(&[bridge("eth0"), up("eth0", true)]);
    let ops = [rename("eth0", "peth0"), bridge("eth0")];
    fails(recovers_by_replay(&h, &ops, Tolerate::NOTHING));
}

/// Gap 2: `ip link set a name b; ip link del b`, crash before either ran:
/// the undo re-creates `b` beside the intact `a` (then renames `a`, bound
/// by index, to its own name), leaving a stray bridge.
#[test]
#[ignore = "gap 2: the undo of a deletion that never ran makes a duplicate"]
fn gap_2_a_deletion_that_never_ran_leaves_a_duplicate() {
    let h = pinned_host(&[bridge("a")]);
    let ops = [rename("a", "b"), Op::DeleteLink { name: name("b") }];
    fails(recovers_by_replay(&h, &ops, Tolerate::NOTHING));
}

/// Gap 3: `ip link set a up; ip route add R dev a; ip route del R dev a`,
/// crash before any ran: the undo of the deletion, `ip route add R dev a`,
/// meets a link that is down (ENETDOWN), which `already_so` does not take:
/// recovery fails although the host is as it was. (The same with IPv6 on a
/// link whose MTU is below 1280: EINVAL.)
#[test]
#[ignore = "gap 3: re-adding what the link cannot carry yet is no 'already so'"]
fn gap_3_a_route_through_a_link_still_down() {
    let h = pinned_host(&[bridge("a")]);
    let r = xenbr_core::sandbox::route("198.51.100.0/24", None, "a", None, 254);
    let ops = [up("a", true), Op::AddRoute(r.clone()), Op::DelRoute(r)];
    fails(recovers_by_replay(&h, &ops, Tolerate::NOTHING));
}

/// Gap 6 (rollback too, confirmed on Linux 6.18): `ip link set a down; ip
/// link del a`, both ran: the undo re-creates `a` under a new index, and
/// the undo of the first step, `ip link set a up`, bound to the old index,
/// meets ENODEV and is skipped as "already so": `a` comes back down. The
/// same loses the settings of a deleted veth's other end, a port's
/// re-attachment to a re-created bridge (EINVAL), an address's removal.
#[test]
#[ignore = "gap 6: undo bound to the index of a link that the undo re-creates"]
fn gap_6_undo_bound_to_a_deleted_links_old_index() {
    let h = pinned_host(&[bridge("a"), up("a", true)]);
    let ops = [up("a", false), Op::DeleteLink { name: name("a") }];
    fails(recovers_by_replay(&h, &ops, Tolerate::NOTHING));
}

/// Gap 7: `a` carries 192.0.2.1/24 labelled `a:0`; `ip addr del
/// 192.0.2.1/24 dev a; ip link set a name a_0; ip link set a_0 name b`,
/// crash before any ran: the replay renames `a` to `a_0` and back (bound by
/// index), which relabels the address `a`.
#[test]
#[ignore = "gap 7: the replay renames links whose renames never ran"]
fn gap_7_the_undo_of_renames_that_never_ran_relabels() {
    let h = pinned_host(&[
        bridge("a"),
        Op::AddAddress(xenbr_core::sandbox::address(
            "a",
            "192.0.2.1/24",
            Some("a:0"),
        )),
    ]);
    let ops = [
        Op::DelAddress(h.addresses[0].clone()),
        rename("a", "a_0"),
        rename("a_0", "b"),
    ];
    fails(recovers_by_replay(&h, &ops, Tolerate::NOTHING));
}

/// Gap 4 (undo by name only): `c` a port of `a`; `ip link set a name b;
/// ip link set c nomaster; ip link set c master b`, crash before any ran:
/// by name, the undo of the last step detaches `c` from `a`, and that of
/// the second, `ip link set c master b`, finds no `b`. The replay binds `b`
/// to `a`'s index and gives back the host.
#[test]
#[ignore = "gap 4: undo by name cannot follow a rename that never ran"]
fn gap_4_undo_by_name_misses_a_renamed_link() {
    let h = pinned_host(&[
        bridge("a"),
        Op::CreateVeth {
            name: name("c"),
            peer: name("d"),
        },
        Op::SetMaster {
            name: name("c"),
            master: Some(name("a")),
        },
    ]);
    let ops = [
        rename("a", "b"),
        Op::SetMaster {
            name: name("c"),
            master: None,
        },
        Op::SetMaster {
            name: name("c"),
            master: Some(name("b")),
        },
    ];
    recovers_by_replay(&h, &ops, Tolerate::NOTHING).expect("the replay follows renames");
    fails(recovers_by_name(&h, &ops, Tolerate::NOTHING));
}

/// Gap 5 (undo by name only, the model being stricter than the kernel):
/// `b` a port of `a`; `ip link del a; ip link set b master d; ip link del
/// b`, crash before any ran: the undo of the last step sets `b`'s master
/// back to `d` while `b` is still a port of `a`. The kernel moves it; the
/// model refuses it as a planning conflict. (The host comes back.)
#[test]
#[ignore = "gap 5: the model refuses moving a port, which the kernel does"]
fn gap_5_moving_a_port_is_a_conflict_to_the_model() {
    let h = pinned_host(&[
        bridge("a"),
        bridge("d"),
        Op::CreateVeth {
            name: name("b"),
            peer: name("c"),
        },
        Op::SetMaster {
            name: name("b"),
            master: Some(name("a")),
        },
    ]);
    let ops = [
        Op::DeleteLink { name: name("a") },
        Op::SetMaster {
            name: name("b"),
            master: Some(name("d")),
        },
        Op::DeleteLink { name: name("b") },
    ];
    fails(recovers_by_name(&h, &ops, Tolerate::NOTHING));
}

/// The generators reach what the laws are about: every kind of op, steps
/// whose undo restores side effects, secondaries, multipath routes, names
/// reused after a rename. Prints the numbers with `--nocapture`.
#[test]
fn generators_cover_the_model() {
    let mut runner = TestRunner::deterministic();
    let strategy = (gen::host(), gen::op_seeds(0..=16));
    let mut count: BTreeMap<String, usize> = BTreeMap::new();
    let mut bump = |k: &str, n: usize| *count.entry(k.to_string()).or_default() += n;
    let samples = 200;
    for _ in 0..samples {
        let (h, seeds) = strategy.new_tree(&mut runner).expect("a sample").current();
        bump("links", h.links.len());
        bump(
            "links without MAC",
            h.links.iter().filter(|l| l.mac.is_none()).count(),
        );
        bump(
            "ports",
            h.links.iter().filter(|l| l.master.is_some()).count(),
        );
        bump(
            "veth pairs",
            h.links.iter().filter(|l| l.peer.is_some()).count() / 2,
        );
        bump(
            "15-byte names",
            h.links
                .iter()
                .filter(|l| l.name.as_str().len() == 15)
                .count(),
        );
        bump("addresses", h.addresses.len());
        bump(
            "IPv4 secondaries",
            h.addresses.iter().filter(|a| a.is_secondary()).count(),
        );
        bump(
            "IPv6 addresses",
            h.addresses.iter().filter(|a| !a.address.is_ipv4()).count(),
        );
        bump("routes", h.routes.len());
        bump(
            "multipath routes",
            h.routes.iter().filter(|r| !r.multipath.is_empty()).count(),
        );
        bump(
            "routes outside main",
            h.routes.iter().filter(|r| r.table != 254).count(),
        );
        bump(
            "IPv6 routes",
            h.routes.iter().filter(|r| !r.destination.is_ipv4()).count(),
        );
        bump(
            "routes with prefsrc",
            h.routes.iter().filter(|r| r.prefsrc.is_some()).count(),
        );
        let (ops, dropped) = gen::valid_ops(&h, &seeds);
        bump("seeds", seeds.len());
        bump("seeds dropped", dropped);
        for op in &ops {
            bump(&format!("op {:?}", gen::kind_of(op)), 1);
        }
        let Ok(plan) = Plan::build(&h, ops.clone()) else {
            panic!("a valid plan was refused");
        };
        for step in &plan.steps {
            if step.undo.len() > 1 {
                bump("steps with side effects", 1);
            }
        }
        // A name taken by a new link after it was renamed away or deleted.
        let mut freed: Vec<&xenbr_core::IfName> = Vec::new();
        for op in &ops {
            let taken = match op {
                Op::CreateBridge { name, .. } | Op::CreateVeth { name, .. } => Some(name),
                Op::Rename { to, .. } => Some(to),
                _ => None,
            };
            if taken.is_some_and(|n| freed.contains(&n)) {
                bump("names reused", 1);
            }
            if let Op::Rename { name, .. } | Op::DeleteLink { name } = op {
                freed.push(name);
            }
        }
    }
    for (k, n) in &count {
        println!("{k:>24}: {n}");
    }
    let at_least = |k: &str, n: usize| {
        let got = count.get(k).copied().unwrap_or(0);
        assert!(got >= n, "only {got} {k} in {samples} samples");
    };
    for k in [
        "CreateBridge",
        "CreateVeth",
        "DeleteLink",
        "Rename",
        "SetMac",
        "SetMtu",
        "SetMaster",
        "SetUp",
        "AddAddress",
        "DelAddress",
        "AddRoute",
        "DelRoute",
    ] {
        at_least(&format!("op {k}"), 35);
    }
    at_least("IPv4 secondaries", 30);
    at_least("multipath routes", 30);
    at_least("ports", 40);
    at_least("veth pairs", 40);
    at_least("steps with side effects", 40);
    at_least("names reused", 15);
    at_least("routes with prefsrc", 20);
    at_least("links without MAC", 15);
    let (seeds, dropped) = (count["seeds"], count["seeds dropped"]);
    assert!(
        dropped * 3 < seeds,
        "{dropped} of {seeds} seeds made no valid op"
    );
}
