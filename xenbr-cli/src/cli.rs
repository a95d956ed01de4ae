//! The command line, as clap parses it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use xenbr_core::{IfName, Mtu, NamePattern};

/// Xen's network-bridge and vif-bridge, done as transactions over rtnetlink:
/// either everything happens, or the host is left exactly as it was.
#[derive(Debug, Parser)]
#[command(name = "xenbr", version, about)]
pub struct Cli {
    /// Work in the network namespace /run/netns/NAME (as `ip -n NAME`).
    #[arg(long, global = true, value_name = "NAME")]
    pub netns: Option<String>,
    /// Keep the lock, journal and records here (default: /run/xenbr, or
    /// $XENBR_STATE_DIR).
    #[arg(long, global = true, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Print results as JSON.
    #[arg(long, global = true)]
    pub json: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show bridges as trees (physical port, dom0, guests), then other links.
    Status,
    /// Take over NICs and put each on a bridge (network-bridge start).
    Start(StartArgs),
    /// Undo takeovers, leaving the host as before start (network-bridge stop).
    Stop(StopArgs),
    /// Print the steps a command would take, with their `ip` commands; change nothing.
    #[command(subcommand)]
    Plan(PlanCommand),
    /// Put back the state from before a transaction that was cut off.
    Recover,
    /// Plug guests' interfaces into bridges or take them out (vif-bridge).
    #[command(subcommand)]
    Vif(VifCommand),
    /// Show the whole job in throwaway namespaces: start, two guests, packets, stop.
    Sandbox,
    /// Run as Xen's hotplug scripts, with libxl's arguments and environment
    /// (also by a link to this program named vif-bridge or network-bridge).
    #[command(subcommand)]
    Hotplug(HotplugCommand),
    /// Attach each new guest interface as the kernel makes it, and forget it
    /// when it goes: hotplug without udev. Stops cleanly on SIGTERM or SIGINT.
    Watch(WatchArgs),
}

/// `hotplug`'s scripts.
#[derive(Debug, Subcommand)]
pub enum HotplugCommand {
    /// `vif-bridge online|offline|add|remove [type_if=vif|tap] [KEY=VALUE]...`,
    /// with $vif (or $INTERFACE for a tap) and $XENBUS_PATH; reads the
    /// backend's bridge, mtu, vifname from XenStore and writes hotplug-status.
    #[command(name = "vif-bridge")]
    VifBridge(ScriptWords),
    /// `network-bridge start|stop|status [bridge=B] [netdev=D] [antispoof=no]
    /// [mode=classic|bridge]`; bridge=null does nothing.
    #[command(name = "network-bridge")]
    NetworkBridge(ScriptWords),
}

/// A script's words, as Xen passes them.
#[derive(Debug, Args, Clone)]
pub struct ScriptWords {
    /// The command and `key=value` arguments, in any order.
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "WORD"
    )]
    pub words: Vec<String>,
}

/// `watch`'s arguments.
#[derive(Debug, Args, Clone)]
pub struct WatchArgs {
    /// Attach new interfaces whose names match this shell pattern (`*`, `?`);
    /// repeat for several.
    #[arg(long = "pattern", value_name = "GLOB", default_value = "vif*.*")]
    pub patterns: Vec<NamePattern>,
    /// The bridge (default: the host's, as Xen chooses it); a backend's
    /// `bridge` in XenStore wins.
    #[arg(long)]
    pub bridge: Option<IfName>,
    /// The MTU (default: the bridge's); a backend's `mtu` wins.
    #[arg(long)]
    pub mtu: Option<Mtu>,
    /// Neither read backend directories nor write hotplug-status, even when
    /// xenstored runs.
    #[arg(long)]
    pub no_xenstore: bool,
    /// Leave alone the matching interfaces already there at the start.
    #[arg(long)]
    pub no_catch_up: bool,
}

/// Which of Xen's layouts.
#[derive(Debug, Clone, Copy, ValueEnum, Default)]
pub enum ModeArg {
    /// Xen 3.0/3.1: veth pair, NIC renamed peth0 on xenbr0.
    #[default]
    Classic,
    /// Xen 3.2-4.4: the bridge takes the NIC's name and addresses.
    Bridge,
}

/// `start`'s arguments.
#[derive(Debug, Args, Clone)]
pub struct StartArgs {
    /// The layout.
    #[arg(long, value_enum, default_value_t)]
    pub mode: ModeArg,
    /// The NIC (default: the device of the IPv4 default route).
    #[arg(long)]
    pub netdev: Option<IfName>,
    /// The bridge (default: xenbrN, or the NIC's name in bridge mode).
    #[arg(long)]
    pub bridge: Option<IfName>,
    /// One more NIC and its bridge, as `NETDEV[:BRIDGE]`; repeat for several.
    #[arg(long, value_name = "NETDEV[:BRIDGE]")]
    pub pair: Vec<String>,
    /// Take the pairs from a xend-config.sxp's (network-script ...) lines.
    #[arg(long, value_name = "FILE")]
    pub from_xend_config: Option<PathBuf>,
    /// Xen's style: `netdev=eth0 bridge=xenbr0 [antispoof=no]`, a lone `,`
    /// between pairs.
    #[arg(value_name = "KEY=VALUE")]
    pub xen: Vec<String>,
}

/// `stop`'s arguments.
#[derive(Debug, Args, Clone)]
pub struct StopArgs {
    /// Detach guests' interfaces still on the bridge instead of refusing.
    #[arg(long)]
    pub force: bool,
    /// Bridges to stop, by name or as `bridge=NAME` (default: all xenbr started).
    #[arg(value_name = "BRIDGE")]
    pub bridges: Vec<String>,
}

/// `plan`'s subcommands.
#[derive(Debug, Subcommand)]
pub enum PlanCommand {
    /// The steps of `start`.
    Start(StartArgs),
    /// The steps of `stop`.
    Stop(StopArgs),
    /// The steps of `vif online|offline`.
    #[command(subcommand)]
    Vif(VifCommand),
}

/// `vif`'s subcommands.
#[derive(Debug, Subcommand, Clone)]
pub enum VifCommand {
    /// Down, MAC fe:ff:ff:ff:ff:ff, addresses flushed, MTU, onto the bridge, up.
    #[command(alias = "add")]
    Online(VifOnlineArgs),
    /// Down and off the bridge; an interface already gone is fine.
    #[command(alias = "remove")]
    Offline(VifOfflineArgs),
}

/// `vif online`'s arguments.
#[derive(Debug, Args, Clone)]
pub struct VifOnlineArgs {
    /// The bridge (default: the host's, as Xen chooses it).
    #[arg(long)]
    pub bridge: Option<IfName>,
    /// The MTU (default: the bridge's).
    #[arg(long)]
    pub mtu: Option<Mtu>,
    /// Rename the interface first (only with one interface).
    #[arg(long)]
    pub vifname: Option<IfName>,
    /// The interfaces (vif5.0, vif5.0-emu, ...).
    #[arg(required = true, value_name = "VIF")]
    pub vifs: Vec<IfName>,
}

/// `vif offline`'s arguments.
#[derive(Debug, Args, Clone)]
pub struct VifOfflineArgs {
    /// The interfaces.
    #[arg(required = true, value_name = "VIF")]
    pub vifs: Vec<IfName>,
}
