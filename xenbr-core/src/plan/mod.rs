//! Plans: ordered lists of [`Op`]s with the undo of each, computed by pure
//! functions from a [`Snapshot`]. Planners never do I/O; building a plan
//! dry-runs it on the in-memory model, so every check the model can make
//! (names free, links present, MTU in range) happens before the first change.

pub mod takeover;
pub mod vif;

use std::fmt;

use serde::Serialize;

use crate::error::Result;
use crate::names::IfName;
use crate::op::{apply_with_inverse_for, Op, Undone};
use crate::state::Snapshot;

/// One step: an op and the ops that undo it (from the state just before it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    /// The change.
    pub op: Op,
    /// What undoes it, in order.
    pub undo: Vec<Op>,
}

/// An ordered list of steps, with the state it should leave behind.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// The steps, in order.
    pub steps: Vec<Step>,
    /// The state the model predicts after the last step.
    #[serde(skip)]
    pub expected: Snapshot,
    /// Links the plan touches, by their names at the end (what verification re-reads).
    pub touched: Vec<IfName>,
}

impl Plan {
    /// Dry-runs `ops` on `before` and records each one's undo. Fails, naming
    /// the op, if any op cannot apply to the state its predecessors leave.
    pub fn build(before: &Snapshot, ops: Vec<Op>) -> Result<Plan> {
        Self::build_for(before, ops, Undone::Maybe)
    }

    fn build_for(before: &Snapshot, ops: Vec<Op>, undone: Undone) -> Result<Plan> {
        let mut state = before.clone();
        state.track_port_mtus();
        let mut steps = Vec::with_capacity(ops.len());
        let mut touched: Vec<IfName> = Vec::new();
        for op in ops {
            let undo = apply_with_inverse_for(&mut state, &op, undone)?;
            match &op {
                Op::Rename { name, to } => {
                    touched.retain(|n| n != name);
                    touched.push(to.clone());
                }
                Op::DeleteLink { name } => touched.retain(|n| n != name),
                Op::CreateVeth { name, peer } => touched.extend([name.clone(), peer.clone()]),
                _ => touched.extend(op.subject().cloned()),
            }
            steps.push(Step { op, undo });
        }
        touched.sort();
        touched.dedup();
        touched.retain(|n| state.has_link(n));
        state.untrack_port_mtus();
        Ok(Plan {
            steps,
            expected: state,
            touched,
        })
    }

    /// True when there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// Every step's undo, newest step first: applying these after the whole
    /// plan gives back the state before it.
    pub fn undo_all(&self) -> Vec<Op> {
        self.steps
            .iter()
            .rev()
            .flat_map(|s| s.undo.iter().cloned())
            .collect()
    }

    /// The plan of the undo: what `xenbr plan` shows as the way back.
    pub fn inverse(&self) -> Result<Plan> {
        Plan::build_for(&self.expected, self.undo_all(), Undone::Never)
    }
}

impl fmt::Display for Plan {
    /// One numbered line per step: its description, then the `ip` command.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.steps.is_empty() {
            return writeln!(f, "nothing to do");
        }
        let width = self.steps.len().to_string().len();
        for (i, s) in self.steps.iter().enumerate() {
            writeln!(
                f,
                "{:>width$}. {:<48} # {}",
                i + 1,
                s.op.describe(),
                s.op.ip_command()
            )?;
        }
        Ok(())
    }
}
