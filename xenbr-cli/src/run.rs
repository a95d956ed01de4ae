//! Dispatch: each command calls xenbr-core and renders what came back.

use serde::Serialize;
use xenbr_core::plan::takeover::{StartPlan, StopPlan};
use xenbr_core::xen::xend_config::XendConfig;
use xenbr_core::{
    Error, Host, IfName, Mode, Pair, Plan, Recovered, Result, StartRequest, StopRequest, VifRequest,
};

use crate::cli::{Cli, Command, ModeArg, PlanCommand, StartArgs, StopArgs, VifCommand};

fn json<T: Serialize>(v: &T) -> String {
    serde_json::to_string_pretty(v).expect("results serialise")
}

fn open(cli: &Cli) -> Result<Host> {
    let host = match &cli.netns {
        Some(ns) => Host::open_netns(ns)?,
        None => Host::open()?,
    };
    Ok(match &cli.state_dir {
        Some(d) => host.with_state_dir(d),
        None => host,
    })
}

/// The start request from all the ways `start` can be told what to do.
fn start_request(a: &StartArgs) -> Result<StartRequest> {
    let mut pairs = Vec::new();
    if a.netdev.is_some() || a.bridge.is_some() {
        pairs.push(Pair {
            netdev: a.netdev.clone(),
            bridge: a.bridge.clone(),
        });
    }
    for p in &a.pair {
        let (netdev, bridge) = match p.split_once(':') {
            Some((n, b)) => (n, Some(b.parse::<IfName>()?)),
            None => (p.as_str(), None),
        };
        pairs.push(Pair {
            netdev: Some(netdev.parse()?),
            bridge,
        });
    }
    pairs.extend(Pair::parse_xen_words(&a.xen)?);
    if let Some(f) = &a.from_xend_config {
        for args in XendConfig::parse_file(f)?.network_bridges()? {
            pairs.extend(Pair::from_xen(&args)?);
        }
    }
    Ok(StartRequest {
        mode: match a.mode {
            ModeArg::Classic => Mode::Classic,
            ModeArg::Bridge => Mode::Bridge,
        },
        pairs,
    })
}

fn stop_request(a: &StopArgs) -> Result<StopRequest> {
    let bridges = a
        .bridges
        .iter()
        .map(|b| {
            b.strip_prefix("bridge=")
                .unwrap_or(b)
                .parse::<IfName>()
                .map_err(Error::from)
        })
        .collect::<Result<_>>()?;
    Ok(StopRequest {
        bridges,
        force: a.force,
    })
}

fn vif_requests(
    bridge: &Option<IfName>,
    mtu: Option<xenbr_core::Mtu>,
    vifname: &Option<IfName>,
    vifs: &[IfName],
) -> Result<Vec<VifRequest>> {
    if vifname.is_some() && vifs.len() != 1 {
        return Err(Error::invalid(
            "vif online",
            "--vifname renames one interface; give exactly one",
        ));
    }
    Ok(vifs
        .iter()
        .map(|v| VifRequest {
            name: v.clone(),
            bridge: bridge.clone(),
            mtu,
            vifname: vifname.clone(),
        })
        .collect())
}

fn plan_text(title: &str, plan: &Plan) -> String {
    format!("{title} ({} steps):\n{plan}", plan.steps.len())
}

fn list(names: &[IfName]) -> String {
    names
        .iter()
        .map(|n| n.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Runs the command and returns what to print.
pub fn run(cli: Cli) -> Result<String> {
    if let Command::Sandbox = cli.command {
        return crate::sandbox::run(cli.json);
    }
    let mut host = open(&cli)?;
    let as_json = cli.json;
    Ok(match &cli.command {
        Command::Sandbox => unreachable!("handled above"),
        Command::Status => {
            let s = host.status()?;
            if as_json {
                s.to_json()
            } else {
                s.to_text()
            }
        }
        Command::Start(a) => {
            let out = host.start(&start_request(a)?)?;
            if as_json {
                return Ok(json(&out));
            }
            let mut text = String::new();
            for t in &out.already {
                text += &format!(
                    "already started: {} on {} ({} mode)\n",
                    t.netdev, t.bridge, t.mode
                );
            }
            for t in &out.started {
                text += &match t.mode {
                    Mode::Classic => format!(
                        "started {}: {} is a port of {}; dom0 keeps {} (veth to {})\n",
                        t.bridge,
                        t.physical,
                        t.bridge,
                        t.netdev,
                        t.vif0.as_ref().map(|v| v.as_str()).unwrap_or("?")
                    ),
                    Mode::Bridge => format!(
                        "started {}: {} is a port of it; dom0's addresses are on {}\n",
                        t.bridge, t.physical, t.bridge
                    ),
                };
            }
            if !out.started.is_empty() {
                text += &format!(
                    "{} steps in {} netlink messages\n",
                    out.applied.steps, out.applied.requests
                );
            }
            text
        }
        Command::Stop(a) => {
            let out = host.stop(&stop_request(a)?)?;
            if as_json {
                return Ok(json(&out));
            }
            let mut text = String::new();
            if !out.detached.is_empty() {
                text += &format!("detached {}\n", list(&out.detached));
            }
            for t in &out.stopped {
                text += &format!(
                    "stopped {}: {} is {} again, as before start\n",
                    t.bridge, t.physical, t.netdev
                );
            }
            if out.stopped.is_empty() {
                text += "nothing to stop: xenbr has started no bridge here\n";
            }
            text
        }
        Command::Plan(p) => plan(&mut host, p, as_json)?,
        Command::Recover => {
            let r = host.recover()?;
            if as_json {
                return Ok(json(&r));
            }
            match r {
                Recovered::Nothing => "nothing to recover: no transaction was cut off".into(),
                Recovered::Undone { what, pid, steps } => format!(
                    "undid {what:?} (pid {pid}, {steps} steps journaled): the host is as it was before it"
                ),
            }
        }
        Command::Vif(v) => vif(&mut host, v, as_json)?,
    })
}

fn vif(host: &mut Host, v: &VifCommand, as_json: bool) -> Result<String> {
    let out = match v {
        VifCommand::Online(a) => {
            host.vif_online(&vif_requests(&a.bridge, a.mtu, &a.vifname, &a.vifs)?)?
        }
        VifCommand::Offline(a) => host.vif_offline(&a.vifs)?,
    };
    if as_json {
        return Ok(json(&out));
    }
    let mut text = String::new();
    const EACH: usize = 20;
    if out.attached.len() <= EACH {
        for (i, b) in &out.attached {
            text += &format!("attached {i} to {b}\n");
        }
    } else {
        text += &format!("attached {} interfaces\n", out.attached.len());
    }
    if out.detached.len() <= EACH {
        for i in &out.detached {
            text += &format!("detached {i}\n");
        }
    } else {
        text += &format!("detached {} interfaces\n", out.detached.len());
    }
    if !out.unchanged.is_empty() {
        text += &format!("already so: {}\n", list(&out.unchanged));
    }
    if !out.gone.is_empty() {
        text += &format!("already gone: {}\n", list(&out.gone));
    }
    Ok(text)
}

fn plan(host: &mut Host, p: &PlanCommand, as_json: bool) -> Result<String> {
    let (title, plan) = match p {
        PlanCommand::Start(a) => {
            let StartPlan {
                plan,
                started,
                already,
                ..
            } = host.plan_start(&start_request(a)?)?;
            let what: Vec<String> = started
                .iter()
                .map(|t| format!("{} on {}", t.netdev, t.bridge))
                .collect();
            let mut title = format!("start {}", what.join(", "));
            if !already.is_empty() {
                title += &format!(
                    " (already started: {})",
                    already
                        .iter()
                        .map(|t| t.bridge.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
            (title, plan)
        }
        PlanCommand::Stop(a) => {
            let StopPlan { plan, stopped, .. } = host.plan_stop(&stop_request(a)?)?;
            let what: Vec<&str> = stopped.iter().map(|t| t.bridge.as_str()).collect();
            (format!("stop {}", what.join(", ")), plan)
        }
        PlanCommand::Vif(VifCommand::Online(a)) => {
            let p = host.plan_vif_online(&vif_requests(&a.bridge, a.mtu, &a.vifname, &a.vifs)?)?;
            ("vif online".to_string(), p.plan)
        }
        PlanCommand::Vif(VifCommand::Offline(a)) => (
            "vif offline".to_string(),
            host.plan_vif_offline(&a.vifs)?.plan,
        ),
    };
    Ok(if as_json {
        json(&plan)
    } else {
        plan_text(&title, &plan)
    })
}
