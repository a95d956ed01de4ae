//! Known gap 6 of the recovery laws (`model_laws.rs`), on a real kernel: a
//! rollback re-creates a deleted link under a new index, but undo ops bound
//! to its old index are skipped as "already so" (ENODEV) or fail (EINVAL).
//! Ignored until the transaction re-binds them; run with `--ignored`.

#[path = "support/netns.rs"]
mod support;

use xenbr_core::op::Op;
use xenbr_core::state::compare::diff;
use xenbr_core::{IfName, Plan};

fn n(s: &str) -> IfName {
    s.parse().unwrap()
}

/// Runs `ops` then a last step that fails (the test hook), so the
/// transaction rolls back; returns what differs from before.
fn rolled_back(test: &str, setup: Vec<Op>, mut ops: Vec<Op>) -> Option<Vec<String>> {
    let w = support::world(test)?;
    w.host.apply(&setup).unwrap();
    let mut host = w.host.host(&support::state_dir(test)).unwrap();
    let before = host.snapshot().unwrap();
    ops.push(Op::SetMtu {
        name: n("eth0"),
        mtu: 1400,
    });
    std::env::set_var("XENBR_TEST_FAIL_STEP", ops.len().to_string());
    let r = host.transact(test, |s, _| Ok((Plan::build(s, ops.clone())?, None, ())));
    std::env::remove_var("XENBR_TEST_FAIL_STEP");
    eprintln!("{test}: {r:?}");
    let after = host.snapshot().unwrap();
    let mut want = before.clone();
    want.adopt_unknown_macs(&after);
    Some(diff(&want, &after))
}

/// One test, so that the two runs do not share the test hook's variable.
#[test]
#[ignore = "gap 6: a rollback loses what is bound to a re-created link's old index"]
fn rollback_of_a_deletion_restores_everything_bound_to_the_link() {
    // A veth pair whose end v1 has MTU 1400 and is up; deleting v0 and
    // rolling back brings v1 back with the kernel's defaults.
    let Some(veth) = rolled_back(
        "gap6_veth",
        vec![
            Op::CreateVeth {
                name: n("v0"),
                peer: n("v1"),
            },
            Op::SetMtu {
                name: n("v1"),
                mtu: 1400,
            },
            Op::SetUp {
                name: n("v1"),
                up: true,
            },
        ],
        vec![Op::DeleteLink { name: n("v0") }],
    ) else {
        return;
    };
    // network-bridge stop's shape: free the port, take the bridge down,
    // delete it. The rollback leaves the bridge down and the port free
    // (EINVAL: the recorded master index is gone).
    let Some(bridge) = rolled_back(
        "gap6_bridge",
        vec![
            Op::CreateBridge {
                name: n("br1"),
                mac: Some("02:00:00:00:00:0b".parse().unwrap()),
                stp: false,
                forward_delay: 0,
            },
            Op::CreateVeth {
                name: n("p0"),
                peer: n("p1"),
            },
            Op::SetMaster {
                name: n("p0"),
                master: Some(n("br1")),
            },
            Op::SetUp {
                name: n("br1"),
                up: true,
            },
        ],
        vec![
            Op::SetMaster {
                name: n("p0"),
                master: None,
            },
            Op::SetUp {
                name: n("br1"),
                up: false,
            },
            Op::DeleteLink { name: n("br1") },
        ],
    ) else {
        return;
    };
    assert!(
        veth.is_empty() && bridge.is_empty(),
        "after rollback:\n  veth: {veth:#?}\n  bridge: {bridge:#?}"
    );
}
