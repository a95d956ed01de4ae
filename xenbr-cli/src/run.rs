//! Dispatch: each command calls xenbr-core and renders what came back.

use serde::Serialize;
use xenbr_core::netlink::LinkEventStream;
use xenbr_core::plan::takeover::{StartPlan, StopPlan};
use xenbr_core::xen::hotplug::{
    process_env, xenstore_if_running, NetworkBridgeCall, VifBridge, VifBridgeCall, HOTPLUG_STATUS,
};
use xenbr_core::xen::xend_config::XendConfig;
use xenbr_core::{
    in_named_netns, Error, Host, IfName, Mode, NetworkBridgeOutcome, Pair, Plan, Recovered, Result,
    StartOutcome, StartRequest, StopOutcome, StopRequest, VifRequest, WatchOptions, WatchReport,
};

use crate::cli::{
    Cli, Command, HotplugCommand, ModeArg, PlanCommand, StartArgs, StopArgs, VifCommand, WatchArgs,
};

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
    match &cli.command {
        Command::Sandbox => return crate::sandbox::run(cli.json),
        Command::Watch(a) => return watch(&cli, a),
        _ => {}
    }
    let mut host = open(&cli)?;
    let as_json = cli.json;
    Ok(match &cli.command {
        Command::Sandbox | Command::Watch(_) => unreachable!("handled above"),
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
            start_text(&out)
        }
        Command::Stop(a) => {
            let out = host.stop(&stop_request(a)?)?;
            if as_json {
                return Ok(json(&out));
            }
            stop_text(&out)
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
        Command::Hotplug(HotplugCommand::VifBridge(w)) => vif_bridge(&mut host, &w.words, as_json)?,
        Command::Hotplug(HotplugCommand::NetworkBridge(w)) => {
            network_bridge(&mut host, &w.words, as_json)?
        }
    })
}

fn start_text(out: &StartOutcome) -> String {
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

fn stop_text(out: &StopOutcome) -> String {
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

/// `vif-bridge`, as libxl runs it: the words, and the environment.
fn vif_bridge(host: &mut Host, words: &[String], as_json: bool) -> Result<String> {
    let call = match VifBridgeCall::parse(words, &process_env)? {
        VifBridge::Run(c) => c,
        VifBridge::Nothing(why) => {
            return Ok(if as_json {
                json(&VifBridge::Nothing(why))
            } else {
                format!("vif-bridge: {why}")
            })
        }
    };
    let mut xs = call.connect()?;
    let out = host.vif_bridge(&call, xs.as_mut())?;
    if as_json {
        return Ok(json(&out));
    }
    let mut text = format!("vif-bridge {} {}: ", out.action, call.dev);
    text += &match (&out.bridge, out.action.attaches()) {
        (Some(b), _) => format!("{} attached to {b}", out.interface),
        (None, true) => format!("{} was already attached", out.interface),
        (None, false) if !out.vif.gone.is_empty() && out.vif.detached.is_empty() => {
            format!("{} is already gone", out.interface)
        }
        (None, false) => format!("{} is down and on no bridge", out.interface),
    };
    if let Some(s) = &out.status {
        text += &format!("; {} {s}", call.backend.key(HOTPLUG_STATUS));
    }
    text.push('\n');
    for n in &out.notes {
        text += &format!("note: {n}\n");
    }
    Ok(text)
}

/// `network-bridge`, as xend ran it.
fn network_bridge(host: &mut Host, words: &[String], as_json: bool) -> Result<String> {
    let call = NetworkBridgeCall::parse(words, &process_env)?;
    let out = host.network_bridge(&call)?;
    if as_json {
        return Ok(match &out {
            NetworkBridgeOutcome::Status(s) => s.to_json(),
            o => json(o),
        });
    }
    Ok(match out {
        NetworkBridgeOutcome::Nothing(why) => format!("network-bridge {}: {why}", call.command),
        NetworkBridgeOutcome::Started(o) => start_text(&o),
        NetworkBridgeOutcome::Stopped(o) => stop_text(&o),
        NetworkBridgeOutcome::Status(s) => s.to_text(),
    })
}

fn report_text(r: &WatchReport) -> String {
    match r {
        WatchReport::Attached {
            interface,
            renamed,
            bridge,
            backend,
        } => {
            let mut s = format!("attached {interface}");
            if let Some(n) = renamed {
                s += &format!(" as {n}");
            }
            s += &format!(" to {bridge}");
            if let Some(b) = backend {
                s += &format!(" ({b})");
            }
            s
        }
        WatchReport::AlreadyAttached { interface } => format!("{interface} was already attached"),
        WatchReport::Failed { interface, error } => format!("failed {interface}: {error}"),
        WatchReport::Vanished { interface } => {
            format!("{interface} went away before it could be attached")
        }
        WatchReport::Forgotten { interface } => format!("{interface} is gone; forgotten"),
        WatchReport::Skipped { interface, reason } => format!("left {interface} alone: {reason}"),
        WatchReport::Resynced => "the kernel dropped link events; read every link again".into(),
        WatchReport::Warning { message } => format!("warning: {message}"),
        WatchReport::Batch {
            interfaces,
            attempts,
            micros,
        } => format!(
            "batch of {interfaces} in {:.1} ms ({attempts} transaction(s))",
            *micros as f64 / 1000.0
        ),
    }
}

/// `watch`: follows the link events of the host's namespace until SIGTERM or
/// SIGINT, printing each report as a line (a JSON object with --json).
fn watch(cli: &Cli, a: &WatchArgs) -> Result<String> {
    // Subscribed before the catch-up looks at the links, so none is missed.
    let events = match &cli.netns {
        Some(ns) => in_named_netns(ns, LinkEventStream::open)?,
        None => LinkEventStream::open()?,
    };
    let _signals = crate::signals::stop_on_signals(&events.stopper())?;
    let mut host = open(cli)?;
    let mut xs = if a.no_xenstore {
        None
    } else {
        xenstore_if_running()?
    };
    let opts = WatchOptions {
        patterns: a.patterns.clone(),
        bridge: a.bridge.clone(),
        mtu: a.mtu,
        catch_up: !a.no_catch_up,
        ..WatchOptions::default()
    };
    let as_json = cli.json;
    eprintln!(
        "xenbr watch: attaching new interfaces named {}{}; SIGTERM or SIGINT stops",
        opts.patterns
            .iter()
            .map(|p| p.as_str())
            .collect::<Vec<_>>()
            .join(" or "),
        if xs.is_some() {
            ", with their XenStore backends"
        } else {
            ""
        }
    );
    let summary = host.watch(events, &opts, xs.as_mut(), |r| {
        if as_json {
            println!("{}", serde_json::to_string(&r).expect("reports serialise"));
        } else {
            println!("{}", report_text(&r));
        }
    })?;
    Ok(if as_json {
        serde_json::to_string(&summary).expect("summaries serialise")
    } else {
        format!(
            "watch stopped: {} attached, {} failed, {} forgotten, in {} batches",
            summary.attached, summary.failed, summary.forgotten, summary.batches
        )
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
