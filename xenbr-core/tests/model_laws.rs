//! The laws of plans and their undo, checked on the in-memory model with
//! random hosts and random op sequences (pure: no root, no kernel).
//!
//! - **Undo**: for any host H and valid ops P, `Plan::build(H, P)` succeeds,
//!   and applying `plan.undo_all()` to `plan.expected` gives back H; so does
//!   `plan.inverse()`, the way back as a plan of its own.
//! - **Inverse**: every single op, followed by `op.inverse(before)`, gives
//!   back `before` (up to the MAC of a link the plan created, which the
//!   model does not know).
//! - **Refusal**: an invalid op in a plan makes `Plan::build` fail, naming
//!   that op; a refused op leaves the snapshot exactly as it was; no op
//!   sequence, however wrong, makes `Plan::build` panic.
//!
//! Crash recovery and rollback are laws of the transaction, not of the
//! model: `recovery.rs` and `faults.rs` check them on a real kernel, at
//! every step and in both crash windows (after a step, and with later steps
//! journaled but not sent).
//!
//! `PROPTEST_CASES` raises (or lowers) the number of cases of every law.

#[path = "support/gen.rs"]
mod gen;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use xenbr_core::op::Op;
use xenbr_core::state::compare::diff;
use xenbr_core::{ErrorKind, Plan, Snapshot};

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

    /// Law 3: the short way to an op's undo (for an op that can drop
    /// nothing, as attaching guests) gives what the long way gives, trying
    /// the undo on a copy of the host, and leaves the same state.
    #[test]
    fn the_short_way_to_an_undo_is_the_long_way(
        h in gen::host(),
        seeds in gen::op_seeds(1..=16),
    ) {
        let (ops, _) = gen::valid_ops(&h, &seeds);
        let (mut short, mut long) = (h.clone(), h.clone());
        for op in &ops {
            let a = xenbr_core::op::apply_with_inverse(&mut short, op)
                .map_err(|e| TestCaseError::fail(format!("{op}: {e}")))?;
            let b = xenbr_core::op::apply_with_inverse_tried(&mut long, op)
                .map_err(|e| TestCaseError::fail(format!("{op} the long way: {e}")))?;
            prop_assert!(
                a == b,
                "undo of `{}`:\n  short:{}\n  long:{}",
                op.ip_command(),
                listing(&a),
                listing(&b)
            );
            prop_assert!(short == long, "after `{}`:{}", op.ip_command(), differences(&long, &short));
        }
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
