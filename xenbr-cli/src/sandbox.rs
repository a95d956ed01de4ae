//! `xenbr sandbox`: the whole job, shown in throwaway network namespaces
//! that are gone when it ends. Nothing touches the namespace it was run from.

use std::fmt::Write;
use std::net::IpAddr;
use std::time::Duration;

use serde::Serialize;
use xenbr_core::sandbox::{probe, Netns, Reach, World, HOST_ADDR4, UPSTREAM_ADDR4, UPSTREAM_ADDR6};
use xenbr_core::state::compare;
use xenbr_core::{Error, Result, StartRequest, StopRequest, VifRequest};

#[derive(Serialize)]
struct Proof {
    from: String,
    to: String,
    ok: bool,
    detail: Option<String>,
}

#[derive(Serialize)]
struct Summary {
    started: Vec<xenbr_core::Takeover>,
    attached: Vec<(String, String)>,
    proofs: Vec<Proof>,
    restored: bool,
    differences: Vec<String>,
}

fn prove(
    out: &mut String,
    proofs: &mut Vec<Proof>,
    from: &Netns,
    to: &Netns,
    addr: IpAddr,
    what: &str,
) -> Result<()> {
    let r = probe(from, to, addr, Duration::from_secs(3))?;
    let (ok, detail) = match r {
        Reach::Yes => (true, None),
        Reach::No(why) => (false, Some(why)),
    };
    let _ = writeln!(
        out,
        "  {} {what}: {}",
        if ok { "ok  " } else { "FAIL" },
        detail.as_deref().unwrap_or("a TCP byte there and back")
    );
    proofs.push(Proof {
        from: from.label().into(),
        to: format!("{addr} in {}", to.label()),
        ok,
        detail,
    });
    Ok(())
}

/// Runs the walkthrough; returns what to print.
pub fn run(as_json: bool) -> Result<String> {
    let mut out = String::new();
    let state = std::env::temp_dir().join(format!("xenbr-sandbox-{}", std::process::id()));
    let result = walk(&mut out, &state, as_json);
    let _ = std::fs::remove_dir_all(&state);
    result.map(|json| json.unwrap_or(out))
}

fn walk(out: &mut String, state: &std::path::Path, as_json: bool) -> Result<Option<String>> {
    let _ = writeln!(
        out,
        "== A throwaway dom0: namespace `host`, NIC eth0 wired to namespace `upstream` (router 192.0.2.1, 2001:db8::1)"
    );
    let w = World::new()?;
    let mut host = w.host.host(state)?;
    let before = host.snapshot()?;
    let _ = writeln!(out, "{}", host.status()?.to_text());

    let _ = writeln!(out, "== xenbr start   (plan first: xenbr plan start)");
    let plan = host.plan_start(&StartRequest::default())?.plan;
    let _ = writeln!(out, "{plan}");
    let started = host.start(&StartRequest::default())?;
    let _ = writeln!(
        out,
        "started in one transaction: {} steps, {} netlink messages\n",
        started.applied.steps, started.applied.requests
    );

    let _ = writeln!(out, "== Two guests boot; xenbr vif online vif1.0 vif2.0");
    let g1 = w.add_guest(1)?;
    let g2 = w.add_guest(2)?;
    let vifs = host.vif_online(&[
        VifRequest::new(g1.vif.clone()),
        VifRequest::new(g2.vif.clone()),
    ])?;
    for (v, b) in &vifs.attached {
        let _ = writeln!(out, "attached {v} to {b}");
    }
    let _ = writeln!(out, "\n== xenbr status\n{}", host.status()?.to_text());

    let _ = writeln!(out, "== Packets through the bridge (TCP, no ping here)");
    let mut proofs = Vec::new();
    prove(
        out,
        &mut proofs,
        &w.host,
        &w.upstream,
        UPSTREAM_ADDR4.into(),
        "dom0 -> router 192.0.2.1",
    )?;
    prove(
        out,
        &mut proofs,
        &w.host,
        &w.upstream,
        UPSTREAM_ADDR6.into(),
        "dom0 -> router 2001:db8::1",
    )?;
    prove(
        out,
        &mut proofs,
        &w.upstream,
        &w.host,
        HOST_ADDR4.into(),
        "router -> dom0 192.0.2.10",
    )?;
    prove(
        out,
        &mut proofs,
        &g1.ns,
        &w.upstream,
        UPSTREAM_ADDR4.into(),
        "guest 1 -> router",
    )?;
    prove(
        out,
        &mut proofs,
        &g2.ns,
        &w.upstream,
        UPSTREAM_ADDR4.into(),
        "guest 2 -> router",
    )?;
    prove(
        out,
        &mut proofs,
        &g1.ns,
        &g2.ns,
        g2.addr.into(),
        "guest 1 -> guest 2",
    )?;

    let _ = writeln!(
        out,
        "\n== The guests shut down; xenbr vif offline, then xenbr stop"
    );
    host.vif_offline(&[g1.vif.clone(), g2.vif.clone()])?;
    // Xen's backend removes a guest's interface when the guest is gone.
    w.host.apply(&[
        xenbr_core::Op::DeleteLink {
            name: g1.vif.clone(),
        },
        xenbr_core::Op::DeleteLink {
            name: g2.vif.clone(),
        },
    ])?;
    host.stop(&StopRequest::default())?;
    let after = host.snapshot()?;
    let differences = compare::diff(&before, &after);
    let restored = differences.is_empty();
    if restored {
        let _ = writeln!(
            out,
            "the host is exactly as before start: names, MACs, MTUs, up/down, every address and route\n"
        );
    } else {
        let _ = writeln!(
            out,
            "the host DIFFERS from before start:\n  {}\n",
            differences.join("\n  ")
        );
    }
    let _ = writeln!(out, "{}", host.status()?.to_text());
    let _ = writeln!(out, "== Done; the namespaces go away with this process.");

    let failed = proofs.iter().filter(|p| !p.ok).count();
    if as_json {
        return Ok(Some(
            serde_json::to_string_pretty(&Summary {
                started: started.started,
                attached: vifs
                    .attached
                    .iter()
                    .map(|(a, b)| (a.to_string(), b.to_string()))
                    .collect(),
                proofs,
                restored,
                differences,
            })
            .expect("serialises"),
        ));
    }
    if failed > 0 || !restored {
        return Err(Error::internal(
            "sandbox",
            format!("{failed} connectivity proof(s) failed or the host was not restored:\n{out}"),
        ));
    }
    Ok(None)
}
