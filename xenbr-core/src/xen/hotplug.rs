//! Xen's hotplug-script interface, typed. This module turns what libxl (or
//! xend, or udev) hands `vif-bridge` and `network-bridge` in arguments and
//! environment into requests, without I/O. It also owns the XenStore side of
//! `vif-bridge`: the backend keys it reads and the status it writes. Running
//! them is [`Host::vif_bridge`](crate::Host::vif_bridge) and
//! [`Host::network_bridge`](crate::Host::network_bridge).
//!
//! # `vif-bridge`
//!
//! libxl runs `vif-bridge online|offline type_if=vif` for a guest's PV
//! interface, and `vif-bridge add|remove type_if=tap` for the emulated one of
//! an HVM guest. The environment carries:
//!
//! - `vif`: the backend interface, `vif<domid>.<devid>` (`type_if=vif`);
//! - `INTERFACE`: the tap, `vif<domid>.<devid>-emu` (`type_if=tap`);
//! - `XENBUS_PATH`: the backend directory, relative to dom0's home
//!   (`backend/vif/5/0`); for a tap without it, it is worked out from the
//!   name, as `vif-common.sh` does;
//! - `script`, `netdev` (libxl's `gatewaydev`, for `vif-route` and
//!   `vif-nat`), `XENBUS_TYPE`, `XENBUS_BASE_PATH`: accepted, not needed.
//!
//! As in the scripts (`evalVariables`), a `key=value` argument sets the same
//! variable and wins over the environment, and an empty value counts as
//! unset. Other keys are refused. The command is the first word without `=`,
//! wherever it is. `online|offline` act only with `type_if=vif`, and
//! `add|remove` only with `type_if=tap`. The other pairings do nothing and
//! succeed, because libxl runs the script for both types.
//!
//! The script reads these keys from XenStore, under `XENBUS_PATH` and nowhere
//! else. A guest can write its frontend directory (`device/vif/...`), so
//! nothing is ever read from there (the lesson of XSA-175). A `XENBUS_PATH`
//! that is not a backend directory is refused.
//!
//! | key | use |
//! |---|---|
//! | `bridge` | the bridge; wins over `bridge=` of arguments or environment; absent: chosen as `vif online` does |
//! | `mtu` | the interface's MTU; absent: the bridge's |
//! | `vifname` | the name the interface takes (a tap gets `<vifname>-emu`) |
//! | `mac` | the *guest's* MAC: checked, never applied (the backend interface gets `fe:ff:ff:ff:ff:ff`) |
//! | `ip` | the guest's addresses, for the scripts' iptables antispoofing: xenbr manages no iptables rules, so it is accepted and ignored, with a note |
//!
//! On success of `online` (`type_if=vif`), `hotplug-status` = `connected` is
//! written there. On a failure, after the transaction has rolled back,
//! `hotplug-error` (the message) and then `hotplug-status` = `error` are
//! written in one XenStore transaction, and the call fails. Xen's newer
//! scripts also write the MTU into the guest's frontend directory; xenbr
//! writes nothing outside `XENBUS_PATH`.
//!
//! # `network-bridge`
//!
//! `network-bridge start|stop|status` with `bridge=`, `netdev=`,
//! `antispoof=` and the older `vifnum=` ([`NetworkBridgeArgs`]), from
//! arguments or the environment. `bridge=null` does nothing, as in Xen. One
//! key is xenbr's own: `mode=classic|bridge` picks the layout. It may also
//! come from the environment as `XENBR_MODE`, and defaults to `classic`, as
//! for `xenbr start`.

use std::fmt;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::names::{IfName, MacAddr, Mtu};
use crate::plan::vif::VifRequest;
use crate::records::Mode;
use crate::xen::xend_config::{parse_script_args, NetworkBridgeArgs, ScriptArg};
use crate::xen::xenstore::XenStore;

/// The XenStore key a hotplug script's result goes to.
pub const HOTPLUG_STATUS: &str = "hotplug-status";
/// The XenStore key a hotplug script's error message goes to.
pub const HOTPLUG_ERROR: &str = "hotplug-error";

/// Where variables come from besides the arguments: the process environment,
/// or a map in tests.
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The process environment, for [`VifBridgeCall::parse`] and
/// [`NetworkBridgeCall::parse`].
pub fn process_env(key: &str) -> Option<String> {
    std::env::var(key).ok()
}

/// What the toolstack asks `vif-bridge` to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum VifAction {
    /// A PV interface came up: attach it.
    Online,
    /// A PV interface goes away: detach it.
    Offline,
    /// An emulated (tap) interface came up: attach it.
    Add,
    /// An emulated interface goes away: detach it.
    Remove,
}

impl VifAction {
    /// True for `online` and `add`.
    pub fn attaches(self) -> bool {
        matches!(self, VifAction::Online | VifAction::Add)
    }

    /// The interface type the action concerns.
    pub fn type_if(self) -> IfType {
        match self {
            VifAction::Online | VifAction::Offline => IfType::Vif,
            VifAction::Add | VifAction::Remove => IfType::Tap,
        }
    }
}

impl fmt::Display for VifAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            VifAction::Online => "online",
            VifAction::Offline => "offline",
            VifAction::Add => "add",
            VifAction::Remove => "remove",
        })
    }
}

/// `type_if=`: which kind of backend interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum IfType {
    /// A netback interface, `vif<domid>.<devid>`.
    Vif,
    /// A device model's tap, `vif<domid>.<devid>-emu`.
    Tap,
}

impl fmt::Display for IfType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IfType::Vif => "vif",
            IfType::Tap => "tap",
        })
    }
}

/// A vif's backend directory in XenStore: `backend/vif/<domid>/<devid>`
/// (relative to the backend domain's home), or the same below
/// `/local/domain/<n>/`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct BackendPath {
    path: String,
    domid: u32,
    devid: u32,
}

fn number(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0'))
    {
        return None;
    }
    s.parse().ok()
}

impl BackendPath {
    /// Checks that `s` is a vif backend directory. Anything else, a guest's
    /// frontend directory above all, is refused.
    pub fn parse(s: &str) -> Result<BackendPath> {
        let op = format!("check XENBUS_PATH {s:?}");
        let rel = match s.strip_prefix("/local/domain/") {
            Some(rest) => match rest.split_once('/') {
                Some((dom, rel)) if number(dom).is_some() => rel,
                _ => "",
            },
            None => s,
        };
        let parts: Vec<&str> = rel.split('/').collect();
        if let ["backend", "vif", d, n] = parts.as_slice() {
            if let (Some(domid), Some(devid)) = (number(d), number(n)) {
                return Ok(BackendPath {
                    path: s.to_string(),
                    domid,
                    devid,
                });
            }
        }
        let why = if parts.contains(&"device") {
            "that is a guest's frontend directory, which the guest can write; \
             xenbr reads only the backend directory (XSA-175)"
        } else {
            "expected a vif backend directory, backend/vif/DOMID/DEVID"
        };
        Err(Error::invalid(op, why))
    }

    /// `backend/vif/<domid>/<devid>`.
    pub fn for_vif(domid: u32, devid: u32) -> BackendPath {
        BackendPath {
            path: format!("backend/vif/{domid}/{devid}"),
            domid,
            devid,
        }
    }

    /// The backend of an interface named as Xen names them:
    /// `vif<domid>.<devid>` (a vif) or `vif<domid>.<devid>-emu` (a tap).
    pub fn of_interface(name: &IfName) -> Option<(BackendPath, IfType)> {
        let rest = name.as_str().strip_prefix("vif")?;
        let (rest, ty) = match rest.strip_suffix("-emu") {
            Some(r) => (r, IfType::Tap),
            None => (rest, IfType::Vif),
        };
        let (d, n) = rest.split_once('.')?;
        Some((BackendPath::for_vif(number(d)?, number(n)?), ty))
    }

    /// The path as given.
    pub fn as_str(&self) -> &str {
        &self.path
    }

    /// The guest's domain id.
    pub fn domid(&self) -> u32 {
        self.domid
    }

    /// The device number within the guest.
    pub fn devid(&self) -> u32 {
        self.devid
    }

    /// The path of `key` below this directory.
    pub fn key(&self, key: &str) -> String {
        format!("{}/{key}", self.path)
    }
}

impl fmt::Display for BackendPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.path)
    }
}

/// The keys `vif-bridge` reads from a backend directory, checked.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BackendEntries {
    /// The directory exists.
    pub exists: bool,
    /// `bridge`.
    pub bridge: Option<IfName>,
    /// `mtu`.
    pub mtu: Option<Mtu>,
    /// `vifname`.
    pub vifname: Option<IfName>,
    /// `mac`: the guest's MAC, never applied to the backend interface.
    pub mac: Option<MacAddr>,
    /// `ip`: the guest's addresses, for iptables rules xenbr does not make.
    pub ip: Option<String>,
}

impl BackendEntries {
    /// Reads the keys in one XenStore transaction, so that they are seen
    /// together. A missing directory gives `exists: false` and no keys.
    pub fn read(xs: &mut XenStore, at: &BackendPath) -> Result<BackendEntries> {
        let values = xs.transaction(|tx| {
            if tx.read_bytes(at.as_str())?.is_none() {
                return Ok(None);
            }
            let mut v = Vec::with_capacity(BACKEND_KEYS.len());
            for k in BACKEND_KEYS {
                v.push((*k, tx.read(&at.key(k))?));
            }
            Ok(Some(v))
        })?;
        match values {
            None => Ok(BackendEntries::default()),
            Some(v) => BackendEntries::parse(at, |k| {
                v.iter()
                    .find(|(key, _)| *key == k)
                    .and_then(|(_, v)| v.clone())
            }),
        }
    }

    /// Checks the values `get` gives for the keys of an existing directory
    /// (an empty value is an absent key, as for the scripts).
    pub fn parse(at: &BackendPath, get: impl Fn(&str) -> Option<String>) -> Result<BackendEntries> {
        let value = |k: &str| {
            get(k)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let op = |k: &str| format!("read {}", at.key(k));
        let name = |k: &str| -> Result<Option<IfName>> {
            value(k)
                .map(|v| IfName::new(&v).map_err(|e| Error::invalid(op(k), e)))
                .transpose()
        };
        let mtu = value("mtu")
            .map(|v| v.parse::<Mtu>().map_err(|e| Error::invalid(op("mtu"), e)))
            .transpose()?;
        let mac = value("mac")
            .map(|v| {
                let m = v
                    .parse::<MacAddr>()
                    .map_err(|e| Error::invalid(op("mac"), e))?;
                if m.is_multicast() || m.is_zero() {
                    return Err(Error::invalid(
                        op("mac"),
                        format!("{m} is not a unicast address a guest can have"),
                    ));
                }
                Ok(m)
            })
            .transpose()?;
        Ok(BackendEntries {
            exists: true,
            bridge: name("bridge")?,
            mtu,
            vifname: name("vifname")?,
            mac,
            ip: value("ip"),
        })
    }
}

/// The backend keys `vif-bridge` reads.
pub const BACKEND_KEYS: &[&str] = &["bridge", "mtu", "vifname", "mac", "ip"];

/// The keys `vif-bridge` takes as `key=value` arguments or from the
/// environment.
pub const VIF_BRIDGE_KEYS: &[&str] = &[
    "type_if",
    "vif",
    "INTERFACE",
    "XENBUS_PATH",
    "bridge",
    "ip",
    "netdev",
    "script",
];

/// A `vif-bridge` call that has work to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VifBridgeCall {
    /// The command.
    pub action: VifAction,
    /// The interface type.
    pub type_if: IfType,
    /// The interface as the backend made it (`$vif`, or `$INTERFACE` for a tap).
    pub dev: IfName,
    /// The backend directory (`$XENBUS_PATH`).
    pub backend: BackendPath,
    /// `bridge=` of the arguments or environment; XenStore's `bridge` wins.
    pub bridge: Option<IfName>,
    /// `ip=` of the arguments or environment; XenStore's `ip` wins.
    pub ip: Option<String>,
}

/// What a `vif-bridge` command line asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VifBridge {
    /// Work to do.
    Run(VifBridgeCall),
    /// Nothing for this pairing of command and type (libxl runs the script
    /// for both types); why.
    Nothing(String),
}

/// Splits script words into the command (the first word without `=`) and
/// the `key=value` arguments; another bare word is refused.
fn command_and_args<S: AsRef<str>>(
    words: &[S],
    op: &str,
    commands: &str,
) -> Result<(String, Vec<ScriptArg>)> {
    let mut command = None;
    let mut kv = Vec::new();
    for w in words.iter().map(|w| w.as_ref()) {
        if w.contains('=') {
            kv.push(w);
        } else if command.is_none() {
            command = Some(w.to_string());
        } else {
            return Err(Error::invalid(
                op,
                format!("unexpected argument {w:?} (one command, then key=value arguments)"),
            ));
        }
    }
    let command =
        command.ok_or_else(|| Error::invalid(op, format!("no command: expected {commands}")))?;
    let args = parse_script_args(kv).map_err(|e| e.context(op))?;
    Ok((command, args))
}

/// The value of variable `key`: its argument, else the environment; empty
/// means unset.
fn var(args: &[ScriptArg], env: Env<'_>, key: &str) -> Option<String> {
    args.iter()
        .find(|a| a.key() == key)
        .map(|a| a.value().to_string())
        .or_else(|| env(key))
        .filter(|v| !v.is_empty())
}

impl VifBridgeCall {
    /// Reads a `vif-bridge` command line: `words` are the arguments after the
    /// script's name (`online type_if=vif`), `env` the environment. Nothing is
    /// read from XenStore or the kernel here.
    pub fn parse<S: AsRef<str>>(words: &[S], env: Env<'_>) -> Result<VifBridge> {
        let op = "vif-bridge";
        let (command, args) = command_and_args(words, op, "online, offline, add or remove")?;
        if let Some(a) = args.iter().find(|a| !VIF_BRIDGE_KEYS.contains(&a.key())) {
            return Err(Error::invalid(
                op,
                format!(
                    "unknown argument {a} (vif-bridge takes {})",
                    VIF_BRIDGE_KEYS.join(", ")
                ),
            ));
        }
        let action = match command.as_str() {
            "online" => VifAction::Online,
            "offline" => VifAction::Offline,
            "add" => VifAction::Add,
            "remove" => VifAction::Remove,
            _ => {
                return Err(Error::invalid(
                    op,
                    format!("invalid command {command:?}: expected online, offline, add or remove"),
                ))
            }
        };
        let op = format!("vif-bridge {action}");
        // Older Xen does not say; vif-common.sh defaults to vif.
        let type_if = match var(&args, env, "type_if").as_deref() {
            None | Some("vif") => IfType::Vif,
            Some("tap") => IfType::Tap,
            Some(t) => {
                return Err(Error::invalid(
                    op,
                    format!("unknown interface type type_if={t} (expected vif or tap)"),
                ))
            }
        };
        if action.type_if() != type_if {
            return Ok(VifBridge::Nothing(format!(
                "{action} concerns type_if={}; nothing to do for type_if={type_if}",
                action.type_if()
            )));
        }
        let (dev_var, hint) = match type_if {
            IfType::Vif => ("vif", "the backend interface (vif<domid>.<devid>)"),
            IfType::Tap => ("INTERFACE", "the tap (vif<domid>.<devid>-emu)"),
        };
        let dev = var(&args, env, dev_var).ok_or_else(|| {
            Error::invalid(&op, format!("${dev_var} is not set: it should name {hint}"))
        })?;
        let dev = IfName::new(&dev).map_err(|e| Error::invalid(&op, format!("{dev_var}: {e}")))?;
        let backend = match (var(&args, env, "XENBUS_PATH"), type_if) {
            (Some(p), _) => BackendPath::parse(&p)?,
            // vif-common.sh works a tap's backend out from its name.
            (None, IfType::Tap) => {
                BackendPath::of_interface(&dev)
                    .map(|(p, _)| p)
                    .ok_or_else(|| {
                        Error::invalid(
                            &op,
                            format!(
                            "$XENBUS_PATH is not set and {dev} is not named vif<domid>.<devid>-emu"
                        ),
                        )
                    })?
            }
            (None, IfType::Vif) => {
                return Err(Error::invalid(
                    &op,
                    "$XENBUS_PATH is not set: it should name the backend directory (backend/vif/DOMID/DEVID)",
                ))
            }
        };
        let bridge = var(&args, env, "bridge")
            .map(|b| IfName::new(&b).map_err(|e| Error::invalid(&op, format!("bridge: {e}"))))
            .transpose()?;
        Ok(VifBridge::Run(VifBridgeCall {
            action,
            type_if,
            dev,
            backend,
            bridge,
            ip: var(&args, env, "ip"),
        }))
    }

    /// The name the interface has once attached (`online`, `add`), or may
    /// have when detached: `vifname` (with `-emu` for a tap) when XenStore
    /// gives one, else the name it was made with.
    pub fn final_name(&self, e: &BackendEntries) -> Result<IfName> {
        match (&e.vifname, self.type_if) {
            (None, _) => Ok(self.dev.clone()),
            (Some(v), IfType::Vif) => Ok(v.clone()),
            (Some(v), IfType::Tap) => IfName::new(&format!("{v}-emu")).map_err(|err| {
                Error::invalid(
                    format!("read {}", self.backend.key("vifname")),
                    format!("the tap would be named {:?}: {}", err.input, err.reason),
                )
            }),
        }
    }

    /// The `vif online` request for `online` or `add`, from this call and
    /// the backend's keys.
    pub fn request(&self, e: &BackendEntries) -> Result<VifRequest> {
        let name = self.final_name(e)?;
        Ok(VifRequest {
            name: self.dev.clone(),
            bridge: e.bridge.clone().or_else(|| self.bridge.clone()),
            mtu: e.mtu,
            vifname: (name != self.dev).then_some(name),
        })
    }

    /// Connects to xenstored at its usual place ([`XenStore::open`]) as this
    /// call needs it: `online` and `add` cannot go without (its error says
    /// where it looked); `offline` and `remove` can, so for them `None` when
    /// nothing listens.
    pub fn connect(&self) -> Result<Option<XenStore>> {
        if self.action.attaches() {
            XenStore::open().map(Some)
        } else {
            xenstore_if_running()
        }
    }

    /// What the caller should know about keys that xenbr reads and does not
    /// act on.
    pub fn notes(&self, e: &BackendEntries) -> Vec<String> {
        let mut notes = Vec::new();
        if let Some(ip) = e.ip.as_ref().or(self.ip.as_ref()) {
            notes.push(format!(
                "ip={ip} ignored: it is for the scripts' iptables antispoofing, and xenbr manages no iptables rules"
            ));
        }
        notes
    }
}

/// Connects to xenstored at its usual place ([`XenStore::open`]) when it
/// runs there: `None` when nothing listens (a host without Xen, or with
/// xenstored down), any other failure an error.
pub fn xenstore_if_running() -> Result<Option<XenStore>> {
    match XenStore::open() {
        Ok(xs) => Ok(Some(xs)),
        Err(e) if e.kind() == crate::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Writes `hotplug-status` = `connected` under `at`.
pub fn write_connected(xs: &mut XenStore, at: &BackendPath) -> Result<()> {
    xs.write(&at.key(HOTPLUG_STATUS), "connected")
}

/// Writes `hotplug-error` = `message`, then `hotplug-status` = `error`,
/// under `at`, in one transaction: whoever watches the status finds the
/// message already there.
pub fn write_error(xs: &mut XenStore, at: &BackendPath, message: &str) -> Result<()> {
    xs.transaction(|tx| {
        tx.write(&at.key(HOTPLUG_ERROR), message)?;
        tx.write(&at.key(HOTPLUG_STATUS), "error")
    })
}

/// `network-bridge`'s commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NetworkBridgeCommand {
    /// Take over the NIC.
    Start,
    /// Undo the takeover.
    Stop,
    /// Show the host.
    Status,
}

impl fmt::Display for NetworkBridgeCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NetworkBridgeCommand::Start => "start",
            NetworkBridgeCommand::Stop => "stop",
            NetworkBridgeCommand::Status => "status",
        })
    }
}

/// A `network-bridge` call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkBridgeCall {
    /// The command.
    pub command: NetworkBridgeCommand,
    /// Xen's arguments.
    pub args: NetworkBridgeArgs,
    /// The layout (`mode=`, `XENBR_MODE`; default classic).
    pub mode: Mode,
}

/// The Xen keys `network-bridge` takes from the environment as well.
const NETWORK_BRIDGE_ENV: &[&str] = &["bridge", "netdev", "antispoof", "vifnum"];

impl NetworkBridgeCall {
    /// Reads a `network-bridge` command line: `words` after the script's
    /// name (`start bridge=xenbr0 netdev=eth0`), `env` the environment.
    pub fn parse<S: AsRef<str>>(words: &[S], env: Env<'_>) -> Result<NetworkBridgeCall> {
        let op = "network-bridge";
        let (command, args) = command_and_args(words, op, "start, stop or status")?;
        let command = match command.as_str() {
            "start" => NetworkBridgeCommand::Start,
            "stop" => NetworkBridgeCommand::Stop,
            "status" => NetworkBridgeCommand::Status,
            _ => {
                return Err(Error::invalid(
                    op,
                    format!("unknown command {command:?}: expected start, stop or status"),
                ))
            }
        };
        let mode = match args
            .iter()
            .find(|a| a.key() == "mode")
            .map(|a| a.value().to_string())
            .or_else(|| env("XENBR_MODE").filter(|v| !v.is_empty()))
        {
            Some(m) => m.parse::<Mode>().map_err(|e| e.context(op))?,
            None => Mode::default(),
        };
        let mut merged: Vec<ScriptArg> = args.into_iter().filter(|a| a.key() != "mode").collect();
        for k in NETWORK_BRIDGE_ENV {
            if merged.iter().all(|a| a.key() != *k) {
                if let Some(v) = env(k).filter(|v| !v.is_empty()) {
                    merged.push(ScriptArg::new(k, &v).map_err(|e| e.context(op))?);
                }
            }
        }
        let args = NetworkBridgeArgs::from_args(&merged).map_err(|e| e.context(op))?;
        Ok(NetworkBridgeCall {
            command,
            args,
            mode,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::xen::xend_config::BridgeArg;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| m.get(k).cloned()
    }

    fn libxl_vif() -> impl Fn(&str) -> Option<String> {
        env(&[
            ("script", "/etc/xen/scripts/vif-bridge"),
            ("XENBUS_TYPE", "vif"),
            ("XENBUS_PATH", "backend/vif/5/0"),
            ("XENBUS_BASE_PATH", "backend"),
            ("netdev", ""),
            ("vif", "vif5.0"),
        ])
    }

    fn run(v: VifBridge) -> VifBridgeCall {
        match v {
            VifBridge::Run(c) => c,
            VifBridge::Nothing(why) => panic!("nothing to do: {why}"),
        }
    }

    fn n(s: &str) -> IfName {
        s.parse().unwrap()
    }

    #[test]
    fn libxl_online_of_a_pv_interface() {
        let c = run(VifBridgeCall::parse(&["online", "type_if=vif"], &libxl_vif()).unwrap());
        assert_eq!(c.action, VifAction::Online);
        assert_eq!(c.type_if, IfType::Vif);
        assert_eq!(c.dev, n("vif5.0"));
        assert_eq!(c.backend.as_str(), "backend/vif/5/0");
        assert_eq!((c.backend.domid(), c.backend.devid()), (5, 0));
        assert_eq!(c.bridge, None);
        // The command may come after the arguments, as findCommand allows.
        let d = run(VifBridgeCall::parse(&["type_if=vif", "online"], &libxl_vif()).unwrap());
        assert_eq!(c, d);
        // Older Xen passes no type_if.
        let d = run(VifBridgeCall::parse(&["online"], &libxl_vif()).unwrap());
        assert_eq!(c, d);
    }

    #[test]
    fn libxl_add_of_an_emulated_interface() {
        let e = env(&[
            ("XENBUS_PATH", "backend/vif/5/0"),
            ("vif", "vif5.0"),
            ("INTERFACE", "vif5.0-emu"),
        ]);
        let c = run(VifBridgeCall::parse(&["add", "type_if=tap"], &e).unwrap());
        assert_eq!((c.action, c.type_if), (VifAction::Add, IfType::Tap));
        assert_eq!(c.dev, n("vif5.0-emu"));
        // Without XENBUS_PATH, the backend comes from the tap's name.
        let e = env(&[("INTERFACE", "vif12.3-emu")]);
        let c = run(VifBridgeCall::parse(&["remove", "type_if=tap"], &e).unwrap());
        assert_eq!(c.backend.as_str(), "backend/vif/12/3");
    }

    #[test]
    fn the_other_pairings_do_nothing() {
        for words in [
            &["online", "type_if=tap"][..],
            &["offline", "type_if=tap"],
            &["add", "type_if=vif"],
            &["remove"],
        ] {
            // Nothing is required of the environment for them.
            assert!(
                matches!(
                    VifBridgeCall::parse(words, &env(&[])).unwrap(),
                    VifBridge::Nothing(_)
                ),
                "{words:?}"
            );
        }
    }

    #[test]
    fn arguments_win_over_the_environment_and_empty_is_unset() {
        let e = env(&[
            ("XENBUS_PATH", "backend/vif/5/0"),
            ("vif", "vif5.0"),
            ("bridge", "xenbr0"),
            ("ip", ""),
        ]);
        let c = run(VifBridgeCall::parse(&["online"], &e).unwrap());
        assert_eq!(c.bridge, Some(n("xenbr0")));
        assert_eq!(c.ip, None);
        let c = run(VifBridgeCall::parse(
            &["online", "bridge=xenbr1", "vif=vif7.1", "ip=192.0.2.9"],
            &e,
        )
        .unwrap());
        assert_eq!(c.bridge, Some(n("xenbr1")));
        assert_eq!(c.dev, n("vif7.1"));
        assert_eq!(c.ip.as_deref(), Some("192.0.2.9"));
    }

    #[test]
    fn bad_command_lines_are_refused_clearly() {
        let e = libxl_vif();
        let err = |words: &[&str], e: &dyn Fn(&str) -> Option<String>| {
            VifBridgeCall::parse(words, e).unwrap_err().to_string()
        };
        assert!(err(&[], &e).contains("no command"));
        assert!(err(&["up"], &e).contains("invalid command \"up\""));
        assert!(err(&["online", "extra"], &e).contains("unexpected argument \"extra\""));
        assert!(err(&["online", "type_if=veth"], &e).contains("type_if=veth"));
        assert!(err(&["online", "colour=red"], &e).contains("unknown argument colour=red"));
        assert!(err(&["online", "bridge=a", "bridge=b"], &e).contains("given twice"));
        let no_vif = env(&[("XENBUS_PATH", "backend/vif/5/0")]);
        assert!(err(&["online"], &no_vif).contains("vif is not set"));
        let no_path = env(&[("vif", "vif5.0")]);
        assert!(err(&["online"], &no_path).contains("XENBUS_PATH is not set"));
        let long = env(&[
            ("XENBUS_PATH", "backend/vif/5/0"),
            ("vif", "vif12345.123456x"),
        ]);
        assert!(err(&["online"], &long).contains("at most 15"));
    }

    #[test]
    fn only_backend_directories_are_read() {
        for ok in [
            "backend/vif/5/0",
            "/local/domain/0/backend/vif/5/0",
            "/local/domain/3/backend/vif/12/1",
        ] {
            BackendPath::parse(ok).unwrap();
        }
        let e = BackendPath::parse("/local/domain/5/device/vif/0").unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::InvalidInput);
        assert!(e.to_string().contains("XSA-175"), "{e}");
        for bad in [
            "",
            "backend/vif/5",
            "backend/vif/5/0/",
            "backend/vbd/5/0",
            "backend/vif/x/0",
            "backend/vif/05/0",
            "backend/vif/5/0/../../../../5/device/vif/0",
            "/local/domain//backend/vif/5/0",
        ] {
            assert!(BackendPath::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn interface_names_give_their_backend() {
        let (p, t) = BackendPath::of_interface(&n("vif5.0")).unwrap();
        assert_eq!((p.as_str(), t), ("backend/vif/5/0", IfType::Vif));
        let (p, t) = BackendPath::of_interface(&n("vif17.2-emu")).unwrap();
        assert_eq!((p.as_str(), t), ("backend/vif/17/2", IfType::Tap));
        for other in ["eth0", "vif5", "vif.0", "vifa.0", "web1", "vif5.0-emux"] {
            assert!(BackendPath::of_interface(&n(other)).is_none(), "{other}");
        }
    }

    fn entries(pairs: &[(&str, &str)]) -> Result<BackendEntries> {
        let e = env(pairs);
        BackendEntries::parse(&BackendPath::for_vif(5, 0), e)
    }

    #[test]
    fn backend_keys_are_checked() {
        let e = entries(&[
            ("bridge", "xenbr1"),
            ("mtu", "1400"),
            ("mac", "00:16:3e:02:00:41"),
            ("ip", "192.0.2.50"),
            ("vifname", ""),
        ])
        .unwrap();
        assert_eq!(e.bridge, Some(n("xenbr1")));
        assert_eq!(e.mtu.map(Mtu::get), Some(1400));
        assert_eq!(e.mac.unwrap().to_string(), "00:16:3e:02:00:41");
        assert_eq!(e.vifname, None, "empty is absent");
        let err = entries(&[("mtu", "9")]).unwrap_err().to_string();
        assert!(err.starts_with("read backend/vif/5/0/mtu:"), "{err}");
        let err = entries(&[("mac", "ff:ff:ff:ff:ff:ff")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a unicast address"), "{err}");
        let err = entries(&[("bridge", "a/b")]).unwrap_err().to_string();
        assert!(err.starts_with("read backend/vif/5/0/bridge:"), "{err}");
    }

    #[test]
    fn the_request_takes_xenstore_over_arguments_and_never_the_guest_mac() {
        let e = libxl_vif();
        let c = run(VifBridgeCall::parse(&["online", "bridge=xenbr0"], &e).unwrap());
        let got = c.request(&entries(&[]).unwrap()).unwrap();
        assert_eq!(
            got,
            VifRequest {
                bridge: Some(n("xenbr0")),
                ..VifRequest::new(n("vif5.0"))
            }
        );
        let xs = entries(&[
            ("bridge", "xenbr1"),
            ("mtu", "9000"),
            ("vifname", "web1"),
            ("mac", "00:16:3e:02:00:41"),
            ("ip", "192.0.2.50 192.0.2.51"),
        ])
        .unwrap();
        let got = c.request(&xs).unwrap();
        assert_eq!(
            got,
            VifRequest {
                name: n("vif5.0"),
                bridge: Some(n("xenbr1")),
                mtu: Some(Mtu::new(9000).unwrap()),
                vifname: Some(n("web1")),
            }
        );
        assert!(c.notes(&xs)[0].contains("iptables"));
        // A tap's vifname gets -emu, and must still fit.
        let tap = env(&[("INTERFACE", "vif5.0-emu")]);
        let c = run(VifBridgeCall::parse(&["add", "type_if=tap"], &tap).unwrap());
        assert_eq!(c.final_name(&xs).unwrap(), n("web1-emu"));
        let long = entries(&[("vifname", "webserver-00001")]).unwrap();
        let err = c.final_name(&long).unwrap_err().to_string();
        assert!(err.contains("webserver-00001-emu"), "{err}");
    }

    #[test]
    fn network_bridge_command_lines() {
        let c = NetworkBridgeCall::parse(&["start", "bridge=xenbr1", "netdev=eth1"], &env(&[]))
            .unwrap();
        assert_eq!(c.command, NetworkBridgeCommand::Start);
        assert_eq!(c.args.bridge, Some(BridgeArg::Named(n("xenbr1"))));
        assert_eq!(c.args.netdev, Some(n("eth1")));
        assert_eq!(c.mode, Mode::Classic);
        // The environment gives defaults; arguments win.
        let e = env(&[
            ("netdev", "eth2"),
            ("bridge", "xenbr2"),
            ("XENBR_MODE", "bridge"),
        ]);
        let c = NetworkBridgeCall::parse(&["bridge=null", "stop"], &e).unwrap();
        assert_eq!(c.command, NetworkBridgeCommand::Stop);
        assert_eq!(c.args.bridge, Some(BridgeArg::Null));
        assert_eq!(c.args.netdev, Some(n("eth2")));
        assert_eq!(c.mode, Mode::Bridge);
        let c = NetworkBridgeCall::parse(&["status", "mode=classic"], &e).unwrap();
        assert_eq!(c.mode, Mode::Classic);
        for (words, msg) in [
            (&["restart"][..], "unknown command"),
            (&[], "no command"),
            (&["start", "mode=fast"], "not `classic` or `bridge`"),
            (&["start", "antispoof=maybe"], "expected yes or no"),
            (&["start", "colour=red"], "unknown key"),
        ] {
            let err = NetworkBridgeCall::parse(words, &env(&[]))
                .unwrap_err()
                .to_string();
            assert!(err.contains(msg), "{words:?}: {err}");
        }
    }
}
