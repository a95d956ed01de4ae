//! `Host::vif_online` and `Host::vif_offline`: Xen's `vif-bridge` as
//! transactions over any number of interfaces. The planning is in
//! [`crate::plan::vif`].

use super::Host;
use crate::error::Result;
use crate::names::IfName;
use crate::netlink::Scope;
use crate::plan::vif::{plan_offline, plan_online, VifRequest};
use crate::records::Records;
use crate::txn::Applied;

/// What `vif online` or `vif offline` did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct VifOutcome {
    /// `(interface, bridge)` attached now (online).
    pub attached: Vec<(IfName, IfName)>,
    /// Interfaces taken down and off their bridge (offline).
    pub detached: Vec<IfName>,
    /// Interfaces that were already as asked.
    pub unchanged: Vec<IfName>,
    /// Interfaces that no longer exist (offline only; not an error).
    pub gone: Vec<IfName>,
    /// Steps and requests.
    pub applied: Applied,
}

fn what<T: std::fmt::Display>(verb: &str, names: impl ExactSizeIterator<Item = T>) -> String {
    let n = names.len();
    let shown = if n <= 3 { n } else { 2 };
    let mut s = format!("vif {verb}");
    for name in names.take(shown) {
        s.push(' ');
        s.push_str(&name.to_string());
    }
    if n > shown {
        s.push_str(&format!(" and {} more", n - shown));
    }
    s
}

/// What `vif online` needs to see: the interfaces, the names they will take,
/// the bridges asked for (and `ethN` for Xen's `xenbrN` fallback), and every
/// bridge when one has to be chosen.
fn scope_online(reqs: &[VifRequest]) -> Option<Scope> {
    let mut links = Vec::with_capacity(reqs.len() + 2);
    // A batch names the same bridge a thousand times: each once.
    let mut bridges: crate::fasthash::FastSet<&IfName> = Default::default();
    for r in reqs {
        links.push(r.name.clone());
        links.extend(r.vifname.iter().cloned());
        if let Some(b) = r.bridge.as_ref().filter(|b| bridges.insert(*b)) {
            links.push(b.clone());
            if let Some(eth) = b
                .as_str()
                .strip_prefix("xenbr")
                .and_then(|n| IfName::new(&format!("eth{n}")).ok())
            {
                links.push(eth);
            }
        }
    }
    links.sort();
    links.dedup();
    Some(Scope {
        links,
        bridges: reqs.iter().any(|r| r.bridge.is_none()),
        addresses: true,
        routes: false,
    })
}

/// What `vif offline` needs to see: the interfaces.
fn scope_offline(names: &[IfName]) -> Option<Scope> {
    Some(Scope {
        links: names.to_vec(),
        ..Default::default()
    })
}

impl Host {
    /// Puts guest interfaces on their bridges in one transaction, all or
    /// nothing (`vif-bridge online`): each goes down, gets MAC
    /// `fe:ff:ff:ff:ff:ff`, loses its addresses, takes the bridge's MTU (or
    /// the one asked), joins the bridge and comes up. Interfaces already
    /// attached as asked are left alone.
    pub fn vif_online(&mut self, reqs: &[VifRequest]) -> Result<VifOutcome> {
        let scope = scope_online(reqs);
        // The plan is moved to the transaction, not copied: for a batch of
        // guests it holds thousands of steps and the predicted host.
        let (applied, (attached, unchanged)) = self.transact_in(
            &what("online", reqs.iter().map(|r| &r.name)),
            scope.as_ref(),
            |snap, rec| {
                let p = plan_online(snap, &Records::parse(rec)?, reqs)?;
                Ok((p.plan, None, (p.attached, p.unchanged)))
            },
        )?;
        Ok(VifOutcome {
            attached,
            unchanged,
            applied,
            ..Default::default()
        })
    }

    /// Takes guest interfaces down and off their bridges in one transaction
    /// (`vif-bridge offline`). Interfaces already gone are reported, not
    /// refused.
    pub fn vif_offline(&mut self, names: &[IfName]) -> Result<VifOutcome> {
        let scope = scope_offline(names);
        let (applied, (detached, unchanged, gone)) =
            self.transact_in(&what("offline", names.iter()), scope.as_ref(), |snap, _| {
                let p = plan_offline(snap, names)?;
                Ok((p.plan, None, (p.detached, p.unchanged, p.gone)))
            })?;
        Ok(VifOutcome {
            detached,
            unchanged,
            gone,
            applied,
            ..Default::default()
        })
    }

    /// What [`Host::vif_online`] would do, without doing it.
    pub fn plan_vif_online(&mut self, reqs: &[VifRequest]) -> Result<crate::plan::vif::OnlinePlan> {
        self.preview(|snap, rec| {
            let p = plan_online(snap, &Records::parse(rec)?, reqs)?;
            Ok((p.plan.clone(), p))
        })
        .map(|(_, p)| p)
    }

    /// What [`Host::vif_offline`] would do, without doing it.
    pub fn plan_vif_offline(&mut self, names: &[IfName]) -> Result<crate::plan::vif::OfflinePlan> {
        self.preview(|snap, _| {
            let p = plan_offline(snap, names)?;
            Ok((p.plan.clone(), p))
        })
        .map(|(_, p)| p)
    }
}
