//! The text `xenbr status` prints: each bridge as a tree (its physical port,
//! dom0's link behind `vif0.N`, the guests' interfaces), then the other
//! links; a loud warning first when a transaction was cut off.

use std::fmt::Write;

use serde::Serialize;

use crate::journal::Unfinished;
use crate::names::IfName;
use crate::records::{Mode, Records, Takeover};
use crate::state::{Link, Snapshot};

/// The host as `xenbr status` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// Links, addresses, routes (the JSON's `links`, `addresses`, `routes`).
    #[serde(flatten)]
    pub snapshot: Snapshot,
    /// The takeovers xenbr has recorded.
    pub takeovers: Vec<Takeover>,
    /// A transaction that was cut off, if any.
    pub unfinished: Option<UnfinishedInfo>,
}

/// What is known of a transaction that was cut off.
#[derive(Debug, Clone, Serialize)]
pub struct UnfinishedInfo {
    /// What it was doing.
    pub what: String,
    /// Its process.
    pub pid: u32,
    /// Whether that process still runs.
    pub running: bool,
    /// When it started, seconds since the epoch.
    pub started: u64,
}

impl Status {
    /// Gathers the status from its parts.
    pub fn new(snapshot: Snapshot, records: Records, unfinished: Option<&Unfinished>) -> Status {
        Status {
            snapshot,
            takeovers: records.takeovers,
            unfinished: unfinished.map(|u| UnfinishedInfo {
                what: u.what.clone(),
                pid: u.pid,
                running: u.owner_alive(),
                started: u.started,
            }),
        }
    }

    /// The tree `xenbr status` prints.
    pub fn to_text(&self) -> String {
        render(
            &self.snapshot,
            &Records {
                takeovers: self.takeovers.clone(),
            },
            self.unfinished.as_ref(),
        )
    }

    /// What `xenbr status --json` prints.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a status always serialises")
    }
}

fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

fn line(l: &Link) -> String {
    format!(
        "{}  mtu {}  {}  rx {} pkts {}  tx {} pkts {}",
        l.mac
            .map(|m| m.to_string())
            .unwrap_or_else(|| "no mac".into()),
        l.mtu,
        if l.up {
            format!("up ({})", l.oper)
        } else {
            "down".to_string()
        },
        l.stats.rx_packets,
        bytes(l.stats.rx_bytes),
        l.stats.tx_packets,
        bytes(l.stats.tx_bytes),
    )
}

fn addresses(s: &Snapshot, name: &IfName) -> Vec<String> {
    s.addresses_of(name)
        .filter(|a| !a.is_kernel_made())
        .map(
            |a| match a.label.as_deref().filter(|l| *l != name.as_str()) {
                Some(l) => format!("{} ({l})", a.address),
                None => a.address.to_string(),
            },
        )
        .collect()
}

/// Renders the status text.
fn render(s: &Snapshot, records: &Records, unfinished: Option<&UnfinishedInfo>) -> String {
    let mut out = String::new();
    if let Some(u) = unfinished {
        let _ = writeln!(
            out,
            "WARNING: a transaction was cut off ({:?}, pid {}{}); the host may be half-changed.\n\
             WARNING: run `xenbr recover` to put it back as it was before.\n",
            u.what,
            u.pid,
            if u.running { ", still running" } else { "" }
        );
    }
    let mut shown: Vec<&IfName> = Vec::new();
    for br in s.bridges() {
        let t = records.by_bridge(&br.name);
        let what = match t {
            Some(t) => format!("{} takeover of {}", t.mode, t.netdev),
            None => "bridge".to_string(),
        };
        let _ = writeln!(out, "{}  [{what}]  {}", br.name, line(br));
        if t.is_some_and(|t| t.mode == Mode::Bridge) {
            let a = addresses(s, &br.name);
            if !a.is_empty() {
                let _ = writeln!(out, "│   dom0 addresses: {}", a.join(", "));
            }
        }
        shown.push(&br.name);
        let ports: Vec<&Link> = s.ports(&br.name).collect();
        for (i, p) in ports.iter().enumerate() {
            let last = i + 1 == ports.len();
            let (branch, cont) = if last {
                ("└──", "    ")
            } else {
                ("├──", "│   ")
            };
            let role = match t {
                Some(t) if t.physical == p.name => "physical",
                Some(t) if t.vif0.as_ref() == Some(&p.name) => "dom0 port",
                _ => "guest",
            };
            let _ = writeln!(
                out,
                "{branch} {:<15} {:<9} {}",
                p.name.as_str(),
                role,
                line(p)
            );
            shown.push(&p.name);
            // Classic mode: dom0's own link sits behind vif0.N.
            if let Some(peer) = p
                .peer
                .as_ref()
                .and_then(|n| s.link(n))
                .filter(|_| role == "dom0 port")
            {
                let _ = writeln!(
                    out,
                    "{cont}└── {:<11} {:<9} {}",
                    peer.name.as_str(),
                    "dom0",
                    line(peer)
                );
                let a = addresses(s, &peer.name);
                if !a.is_empty() {
                    let _ = writeln!(out, "{cont}    addresses: {}", a.join(", "));
                }
                shown.push(&peer.name);
            }
        }
        out.push('\n');
    }
    let others: Vec<&Link> = s
        .links
        .iter()
        .filter(|l| !shown.contains(&&l.name))
        .collect();
    if !others.is_empty() {
        let _ = writeln!(out, "other links:");
        for l in others {
            let a = addresses(s, &l.name);
            let _ = writeln!(
                out,
                "  {:<15} {:<6} {}{}",
                l.name.as_str(),
                format!("{:?}", l.kind).to_lowercase(),
                line(l),
                if a.is_empty() {
                    String::new()
                } else {
                    format!("  {}", a.join(", "))
                }
            );
        }
    }
    out
}
