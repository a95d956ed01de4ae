//! `Host::start` and `Host::stop`: Xen's `network-bridge start|stop` as
//! transactions. The planning is in [`crate::plan::takeover`].

use super::Host;
use crate::error::Result;
use crate::names::IfName;
use crate::plan::takeover::{
    plan_start, plan_stop, StartPlan, StartRequest, StopPlan, StopRequest,
};
use crate::records::{Records, Takeover};
use crate::txn::Applied;

/// What `start` did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StartOutcome {
    /// Takeovers made now.
    pub started: Vec<Takeover>,
    /// Pairs that were already in place; nothing was done for them.
    pub already: Vec<Takeover>,
    /// Steps and requests.
    pub applied: Applied,
}

/// What `stop` did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StopOutcome {
    /// Takeovers undone.
    pub stopped: Vec<Takeover>,
    /// Guests' interfaces detached first (`force`).
    pub detached: Vec<IfName>,
    /// Steps and requests.
    pub applied: Applied,
}

fn describe_start(req: &StartRequest) -> String {
    let pairs: Vec<String> = req
        .pairs
        .iter()
        .map(|p| {
            let mut s = Vec::new();
            if let Some(n) = &p.netdev {
                s.push(format!("netdev={n}"));
            }
            if let Some(b) = &p.bridge {
                s.push(format!("bridge={b}"));
            }
            s.join(" ")
        })
        .collect();
    format!("start mode={} {}", req.mode, pairs.join(" , "))
        .trim_end()
        .to_string()
}

impl Host {
    /// Takes over the NICs of `req` and puts each on its bridge, in one
    /// transaction (`network-bridge start`). Pairs already in place are
    /// reported as such and left alone.
    pub fn start(&mut self, req: &StartRequest) -> Result<StartOutcome> {
        let (applied, (started, already)) = self.transact(&describe_start(req), |snap, rec| {
            let p = plan_start(snap, &Records::parse(rec)?, req)?;
            let records = Some(p.records.to_content());
            Ok((p.plan, records, (p.started, p.already)))
        })?;
        Ok(StartOutcome {
            started,
            already,
            applied,
        })
    }

    /// What [`Host::start`] would do, without doing it (`xenbr plan start`).
    pub fn plan_start(&mut self, req: &StartRequest) -> Result<StartPlan> {
        self.preview(|snap, rec| {
            let p = plan_start(snap, &Records::parse(rec)?, req)?;
            Ok((p.plan.clone(), p))
        })
        .map(|(_, p)| p)
    }

    /// Undoes takeovers, in one transaction (`network-bridge stop`): the host
    /// is left as it was before `start`, with dom0's current addresses and
    /// routes carried back to the NIC.
    pub fn stop(&mut self, req: &StopRequest) -> Result<StopOutcome> {
        let what = if req.bridges.is_empty() {
            "stop".to_string()
        } else {
            format!(
                "stop {}",
                req.bridges
                    .iter()
                    .map(|b| b.as_str())
                    .collect::<Vec<_>>()
                    .join(" ")
            )
        };
        let (applied, (stopped, detached)) = self.transact(&what, |snap, rec| {
            let p = plan_stop(snap, &Records::parse(rec)?, req)?;
            let records = Some(p.records.to_content());
            Ok((p.plan, records, (p.stopped, p.detached)))
        })?;
        Ok(StopOutcome {
            stopped,
            detached,
            applied,
        })
    }

    /// What [`Host::stop`] would do, without doing it (`xenbr plan stop`).
    pub fn plan_stop(&mut self, req: &StopRequest) -> Result<StopPlan> {
        self.preview(|snap, rec| {
            let p = plan_stop(snap, &Records::parse(rec)?, req)?;
            Ok((p.plan.clone(), p))
        })
        .map(|(_, p)| p)
    }

    /// The takeovers xenbr has recorded on this host.
    pub fn records(&self) -> Result<Records> {
        Records::parse(self.dir.read_records()?.as_deref())
    }
}
