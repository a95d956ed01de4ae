//! One element of an xl guest config's `vif = [ '...' ]` list, as
//! xl-network-configuration(5) describes it: `key=value` items separated by
//! commas, such as `mac=00:16:3e:02:00:41, bridge=xenbr1, mtu=9000`.
//!
//! [`VifSpec`] is the typed value; parsing it checks everything that can be
//! checked without the host (interface name lengths, unicast MACs, the `rate=`
//! syntax), and its `Display` writes a canonical spec that parses back to an
//! equal value.
//!
//! Where xenbr differs from xl (`tools/xl/xl_parse.c`, `parse_nic_config`):
//! - An unknown key, a key given twice, an item without `=` and an empty value
//!   are errors. xl warns about unknown keys, lets the last duplicate win and
//!   keeps empty strings.
//! - The COLO keys (`colo_*`, `forwarddev`) and `accel` (which xl ignores with
//!   a warning) are unknown keys here: xenbr does not implement COLO.
//! - Empty items (`mac=..., , bridge=...` or a trailing comma) are skipped, as
//!   xl's `strtok` skips them. White space around items, keys and values is
//!   ignored; xl only strips leading spaces from an item.
//! - `type=` takes `vif` or `ioemu`, the two spellings xl accepts. libxl's own
//!   name for the second, `vif_ioemu` (what it writes to XenStore), is refused
//!   in a spec, as xl refuses it.
//! - `netdev=` is read as the deprecated alias of `gatewaydev=` it is in xl;
//!   giving both is a duplicate.
//! - A MAC takes one or two hexadecimal digits per octet (`0:16:3e:1:2:3`, as
//!   xl's `strtoul` reads it), separated by `:` or `-`. A group (multicast or
//!   broadcast) address is refused, and so is `00:00:00:00:00:00`, which libxl
//!   silently replaces with a random address: leave `mac=` out for that.
//! - In `rate=` the number is decimal. libxl reads it with `strtoul(.., 0)`,
//!   which would take `010Mb/s` as octal 8. A rate that rounds down to less
//!   than one byte per interval (`1b/s`, `1B/s@1us`) is refused; libxl would
//!   pass a rate of zero to netback, which stops the interface dead.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, Result};
use crate::names::{IfName, IpNet, MacAddr, Mtu};

const OP: &str = "parse vif spec";

fn bad(reason: impl fmt::Display) -> Error {
    Error::invalid(OP, reason)
}

/// A guest network interface as an xl `vif=` spec describes it. Every field
/// is optional; `None` means "xl's default".
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VifSpec {
    /// `mac=`: the guest's MAC address, unicast. Without it libxl draws a
    /// random one in Xen's OUI; see [`VifSpec::mac_or_random`].
    pub mac: Option<MacAddr>,
    /// `bridge=`: the bridge the backend interface joins (xl's default:
    /// `xenbr0`).
    pub bridge: Option<IfName>,
    /// `ip=`: addresses the guest may use, for the hotplug script's
    /// anti-spoofing rules. A bare address is kept as a full-length prefix
    /// (`/32`, `/128`). Empty when `ip=` is not given.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ip: Vec<IpNet>,
    /// `mtu=`: the MTU of the backend interface (libxl's default: 1500).
    pub mtu: Option<Mtu>,
    /// `vifname=`: the backend interface's name instead of `vif<domid>.<devid>`.
    pub vifname: Option<IfName>,
    /// `script=`: the hotplug script (libxl's default: `vif-bridge`).
    pub script: Option<SpecText>,
    /// `type=`: a paravirtual interface only, or also an emulated one.
    #[serde(rename = "type")]
    pub nic_type: Option<NicType>,
    /// `model=`: the emulated NIC model for `type=ioemu` (`e1000`, ...).
    pub model: Option<SpecText>,
    /// `rate=`: the backend's transmit rate limit.
    pub rate: Option<Rate>,
    /// `gatewaydev=` (or its deprecated alias `netdev=`): the dom0 interface
    /// that routed and NATed setups send the guest's traffic through.
    pub gatewaydev: Option<IfName>,
    /// `backend=`: the driver domain serving the interface (default: dom0).
    pub backend: Option<Backend>,
    /// `devid=`: the device number, the `N` of `vif<domid>.N` (xl's default:
    /// the position in the `vif` list).
    pub devid: Option<u32>,
}

/// The keys a vif spec may hold, in the order `Display` writes them.
pub const VIF_SPEC_KEYS: &[&str] = &[
    "mac",
    "bridge",
    "ip",
    "mtu",
    "vifname",
    "script",
    "type",
    "model",
    "rate",
    "gatewaydev",
    "backend",
    "devid",
];

impl VifSpec {
    /// Parses one spec; the same as `s.parse::<VifSpec>()`.
    pub fn parse(s: &str) -> Result<VifSpec> {
        let mut spec = VifSpec::default();
        // Each key seen so far, by its canonical name, with the spelling used.
        let mut seen: Vec<(&'static str, &str)> = Vec::new();
        for item in s.split(',') {
            let item = item.trim();
            if item.is_empty() {
                continue;
            }
            let Some((key, value)) = item.split_once('=') else {
                return Err(bad(format!(
                    "item {item:?} is not key=value (known keys: {})",
                    VIF_SPEC_KEYS.join(", ")
                )));
            };
            let (key, value) = (key.trim(), value.trim());
            if key.is_empty() {
                return Err(bad(format!("item {item:?} has no key before '='")));
            }
            let canonical = match key {
                "netdev" => "gatewaydev",
                k => match VIF_SPEC_KEYS.iter().find(|&&known| known == k) {
                    Some(&known) => known,
                    None => {
                        return Err(bad(format!(
                            "unknown key {key:?} (known keys: {})",
                            VIF_SPEC_KEYS.join(", ")
                        )))
                    }
                },
            };
            if let Some((_, first)) = seen.iter().find(|(c, _)| *c == canonical) {
                let what = if *first == key {
                    format!("key {key:?} is given twice")
                } else {
                    format!(
                        "key {key:?} is given twice ({first}= came first; netdev= is an alias \
                         of gatewaydev=)"
                    )
                };
                return Err(bad(what));
            }
            seen.push((canonical, key));
            if value.is_empty() {
                return Err(bad(format!("key {key:?} has an empty value")));
            }
            spec.set(canonical, key, value)?;
        }
        Ok(spec)
    }

    fn set(&mut self, canonical: &str, key: &str, value: &str) -> Result<()> {
        let ctx = |e: crate::names::ValueError| bad(format!("{key}={value}: {e}"));
        match canonical {
            "mac" => self.mac = Some(parse_mac(value)?),
            "bridge" => self.bridge = Some(IfName::new(value).map_err(ctx)?),
            "ip" => self.ip = parse_ips(value)?,
            "mtu" => self.mtu = Some(value.parse().map_err(ctx)?),
            "vifname" => self.vifname = Some(IfName::new(value).map_err(ctx)?),
            "script" => self.script = Some(SpecText::for_key(key, value)?),
            "type" => self.nic_type = Some(value.parse()?),
            "model" => self.model = Some(SpecText::for_key(key, value)?),
            "rate" => self.rate = Some(value.parse()?),
            "gatewaydev" => self.gatewaydev = Some(IfName::new(value).map_err(ctx)?),
            "backend" => self.backend = Some(value.parse()?),
            "devid" => self.devid = Some(parse_devid(value)?),
            other => return Err(Error::internal(OP, format!("key {other:?} has no field"))),
        }
        Ok(())
    }

    /// The spec's MAC, or, without one, the random address libxl would draw:
    /// Xen's OUI `00:16:3e`, then `rng_bytes` with the top bit of the first
    /// cleared (as libxl does). Pass three random bytes.
    pub fn mac_or_random(&self, rng_bytes: [u8; 3]) -> MacAddr {
        self.mac.unwrap_or_else(|| xen_random_mac(rng_bytes))
    }

    /// [`VifSpec::mac_or_random`] with three bytes from `/dev/urandom`, read
    /// only when the spec has no MAC.
    pub fn mac_or_urandom(&self) -> Result<MacAddr> {
        match self.mac {
            Some(m) => Ok(m),
            None => Ok(xen_random_mac(urandom3()?)),
        }
    }
}

/// A MAC address in Xen's OUI `00:16:3e` with the last three octets taken from
/// `rng_bytes`, the top bit of the fourth octet cleared, as libxl makes one
/// for a vif without `mac=`. The result is always unicast.
pub fn xen_random_mac(rng_bytes: [u8; 3]) -> MacAddr {
    let [o0, o1, o2] = MacAddr::XEN_OUI;
    MacAddr([o0, o1, o2, rng_bytes[0] & 0x7f, rng_bytes[1], rng_bytes[2]])
}

fn urandom3() -> Result<[u8; 3]> {
    use std::io::Read;
    const PATH: &str = "/dev/urandom";
    let mut buf = [0u8; 3];
    std::fs::File::open(PATH)
        .and_then(|mut f| f.read_exact(&mut buf))
        .map_err(|e| Error::io(format!("read random MAC bytes from {PATH}"), e))?;
    Ok(buf)
}

impl FromStr for VifSpec {
    type Err = Error;
    fn from_str(s: &str) -> Result<VifSpec> {
        VifSpec::parse(s)
    }
}

impl fmt::Display for VifSpec {
    /// The canonical spec: keys in [`VIF_SPEC_KEYS`] order, `", "` between
    /// items, MACs in lower case, `gatewaydev=` rather than `netdev=`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut items: Vec<String> = Vec::new();
        let mut push = |k: &str, v: Option<String>| {
            if let Some(v) = v {
                items.push(format!("{k}={v}"));
            }
        };
        push("mac", self.mac.map(|m| m.to_string()));
        push("bridge", self.bridge.as_ref().map(|n| n.to_string()));
        push(
            "ip",
            (!self.ip.is_empty())
                .then(|| self.ip.iter().map(format_ip).collect::<Vec<_>>().join(" ")),
        );
        push("mtu", self.mtu.map(|m| m.to_string()));
        push("vifname", self.vifname.as_ref().map(|n| n.to_string()));
        push("script", self.script.as_ref().map(|s| s.to_string()));
        push("type", self.nic_type.map(|t| t.to_string()));
        push("model", self.model.as_ref().map(|s| s.to_string()));
        push("rate", self.rate.map(|r| r.to_string()));
        push(
            "gatewaydev",
            self.gatewaydev.as_ref().map(|n| n.to_string()),
        );
        push("backend", self.backend.as_ref().map(|b| b.to_string()));
        push("devid", self.devid.map(|d| d.to_string()));
        f.write_str(&items.join(", "))
    }
}

fn format_ip(n: &IpNet) -> String {
    let full = if n.is_ipv4() { 32 } else { 128 };
    if n.prefix() == full {
        n.addr().to_string()
    } else {
        n.to_string()
    }
}

fn parse_mac(value: &str) -> Result<MacAddr> {
    let why = |reason: &str| bad(format!("mac={value}: {reason}"));
    let sep = if value.contains('-') { '-' } else { ':' };
    let parts: Vec<&str> = value.split(sep).collect();
    if parts.len() != 6 {
        return Err(why(
            "expected six hexadecimal octets separated by ':' or '-'",
        ));
    }
    let mut out = [0u8; 6];
    for (slot, part) in out.iter_mut().zip(&parts) {
        if part.is_empty() || part.len() > 2 || !part.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(why(&format!(
                "{part:?} is not one or two hexadecimal digits"
            )));
        }
        *slot = u8::from_str_radix(part, 16).map_err(|_| why("not hexadecimal"))?;
    }
    let mac = MacAddr(out);
    if mac.is_multicast() {
        return Err(why(
            "it is a group (multicast or broadcast) address; a guest needs a unicast one \
             (the lowest bit of the first octet must be 0)",
        ));
    }
    if mac.is_zero() {
        return Err(why(
            "the all-zero address is not usable; leave mac= out to get a random one",
        ));
    }
    Ok(mac)
}

fn parse_ips(value: &str) -> Result<Vec<IpNet>> {
    value
        .split_whitespace()
        .map(|word| {
            if word.contains('/') {
                word.parse::<IpNet>()
                    .map_err(|e| bad(format!("ip={value}: {e}")))
            } else {
                let addr: IpAddr = word.parse().map_err(|_| {
                    bad(format!(
                        "ip={value}: {word:?} is not an IPv4 or IPv6 address"
                    ))
                })?;
                let full = if addr.is_ipv4() { 32 } else { 128 };
                IpNet::new(addr, full).map_err(|e| bad(format!("ip={value}: {e}")))
            }
        })
        .collect()
}

fn parse_devid(value: &str) -> Result<u32> {
    // libxl keeps the device id in an `int`.
    match parse_decimal(value) {
        Some(v) if v <= i32::MAX as u64 => Ok(v as u32),
        Some(_) => Err(bad(format!(
            "devid={value}: it must be at most {}",
            i32::MAX
        ))),
        None => Err(bad(format!("devid={value}: it is not a whole number"))),
    }
}

/// All ASCII digits, at least one, value fitting a u64.
fn parse_decimal(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// A free-form value in a vif spec (`script=`, `model=`, a backend domain's
/// name): not empty, no comma (it would end the item), no white space at
/// either end (it would be trimmed away) and no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SpecText(String);

impl SpecText {
    /// Checks `s` and wraps it.
    pub fn new(s: &str) -> Result<SpecText> {
        SpecText::for_key("value", s)
    }

    fn for_key(key: &str, s: &str) -> Result<SpecText> {
        let reason = if s.is_empty() {
            Some("it is empty".to_string())
        } else if s.contains(',') {
            Some("it contains ',', which separates items".to_string())
        } else if s.trim() != s {
            Some("it starts or ends with white space".to_string())
        } else {
            s.chars()
                .find(|c| c.is_control())
                .map(|c| format!("it contains the control character {c:?}"))
        };
        match reason {
            Some(r) => Err(bad(format!("{key}={s:?}: {r}"))),
            None => Ok(SpecText(s.to_string())),
        }
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for SpecText {
    type Err = Error;
    fn from_str(s: &str) -> Result<SpecText> {
        SpecText::new(s)
    }
}

impl fmt::Display for SpecText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `type=` of a vif spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NicType {
    /// `vif`: a paravirtual interface only.
    Vif,
    /// `ioemu`: for an HVM guest, also an emulated NIC in the device model
    /// (libxl's `vif_ioemu`), whose tap is named after the vif plus `-emu`.
    Ioemu,
}

impl FromStr for NicType {
    type Err = Error;
    fn from_str(s: &str) -> Result<NicType> {
        match s {
            "vif" => Ok(NicType::Vif),
            "ioemu" => Ok(NicType::Ioemu),
            _ => Err(bad(format!("type={s}: expected `vif` or `ioemu`"))),
        }
    }
}

impl fmt::Display for NicType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NicType::Vif => "vif",
            NicType::Ioemu => "ioemu",
        })
    }
}

/// The first domain id Xen reserves (`DOMID_FIRST_RESERVED`); real domains
/// have smaller ids.
pub const DOMID_FIRST_RESERVED: u16 = 0x7ff0;

/// `backend=` of a vif spec: the driver domain, by id or by name, as libxl's
/// `libxl_domain_qualifier_to_domid` reads it (all digits: an id).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Backend {
    /// A domain id, below [`DOMID_FIRST_RESERVED`].
    Id(u16),
    /// A domain name; not all digits (that would be an id).
    Name(SpecText),
}

impl FromStr for Backend {
    type Err = Error;
    fn from_str(s: &str) -> Result<Backend> {
        if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
            return match parse_decimal(s) {
                Some(v) if v < u64::from(DOMID_FIRST_RESERVED) => Ok(Backend::Id(v as u16)),
                _ => Err(bad(format!(
                    "backend={s}: a domain id must be below {DOMID_FIRST_RESERVED}"
                ))),
            };
        }
        Ok(Backend::Name(SpecText::for_key("backend", s)?))
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Backend::Id(id) => write!(f, "{id}"),
            Backend::Name(n) => write!(f, "{n}"),
        }
    }
}

/// `rate=` of a vif spec: a transmit credit of so many bytes per interval,
/// which libxl writes to the backend as `rate = "<bytes>,<usecs>"`.
///
/// The syntax is libxl's `RATE[@INTERVAL]`. RATE is a decimal number (1 to
/// 2^32-1), an optional `K`, `M` or `G` (powers of 1000), then `B/s` (bytes)
/// or `b/s` (bits, divided by 8, rounding down). INTERVAL is a decimal number
/// (1 to 2^32-1) with an optional `m` or `u` and an optional `s`: no unit or
/// `s` means seconds, `m`/`ms` milliseconds, `u`/`us` microseconds; the result
/// must fit 2^32-1 microseconds. Without `@INTERVAL` the interval is 50 ms.
/// The bytes per interval are `bytes_per_sec * interval_usecs / 10^6`, rounded
/// down, and must be at least 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rate {
    bytes_per_sec: u64,
    interval_usecs: u32,
}

impl Rate {
    /// libxl's replenishment interval when the spec names none: 50 ms.
    pub const DEFAULT_INTERVAL_USECS: u32 = 50_000;

    /// A rate from its parts, checked as a parsed one is: both at least 1,
    /// no overflow, at least one byte per interval, and expressible in the
    /// `RATE[@INTERVAL]` syntax (so that it prints and parses back).
    pub fn new(bytes_per_sec: u64, interval_usecs: u32) -> Result<Rate> {
        let text = format!("rate of {bytes_per_sec} bytes/s every {interval_usecs} us");
        if bytes_per_sec == 0 || interval_usecs == 0 {
            return Err(bad(format!("{text}: both parts must be at least 1")));
        }
        let rate = Rate {
            bytes_per_sec,
            interval_usecs,
        };
        rate.check(&text)?;
        if rate_text(bytes_per_sec).is_none() {
            return Err(bad(format!(
                "{text}: not expressible in libxl's RATE syntax"
            )));
        }
        Ok(rate)
    }

    /// `what` names the rate in messages ("rate=10MB/s").
    fn check(&self, what: &str) -> Result<()> {
        let product = u128::from(self.bytes_per_sec) * u128::from(self.interval_usecs);
        if product > u128::from(u64::MAX) {
            return Err(bad(format!("{what}: rate overflow")));
        }
        if product < 1_000_000 {
            return Err(bad(format!(
                "{what}: less than one byte per interval, which would stop all traffic"
            )));
        }
        Ok(())
    }

    /// The rate in bytes per second.
    pub fn bytes_per_sec(&self) -> u64 {
        self.bytes_per_sec
    }

    /// The replenishment interval in microseconds.
    pub fn interval_usecs(&self) -> u32 {
        self.interval_usecs
    }

    /// The credit per interval in bytes, as libxl computes it.
    pub fn bytes_per_interval(&self) -> u64 {
        // `check` made sure this fits.
        ((u128::from(self.bytes_per_sec) * u128::from(self.interval_usecs)) / 1_000_000) as u64
    }
}

/// Decimal digits then the rest; `None` without a digit or when the number
/// does not fit a u64.
fn split_number(s: &str) -> Option<(u64, &str)> {
    let end = s
        .bytes()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(s.len());
    if end == 0 {
        return None;
    }
    // Leading zeros are allowed; an overflow is reported by the caller as such.
    let n = s[..end].parse::<u64>().unwrap_or(u64::MAX);
    Some((n, &s[end..]))
}

fn parse_bytes_per_sec(whole: &str, s: &str) -> Result<u64> {
    let invalid = || {
        bad(format!(
            "rate={whole}: invalid rate {s:?} (expected a number, an optional K, M or G, \
             then B/s or b/s)"
        ))
    };
    let (n, rest) = split_number(s).ok_or_else(invalid)?;
    let (mult, rest) = match rest.as_bytes().first() {
        Some(b'G') => (1_000_000_000u64, &rest[1..]),
        Some(b'M') => (1_000_000, &rest[1..]),
        Some(b'K') => (1_000, &rest[1..]),
        _ => (1, rest),
    };
    let bits = match rest {
        "B/s" => false,
        "b/s" => true,
        _ => return Err(invalid()),
    };
    if n == 0 {
        return Err(bad(format!("rate={whole}: the rate must not be 0")));
    }
    if n > u64::from(u32::MAX) {
        return Err(bad(format!(
            "rate={whole}: rate overflow (the number must be at most {})",
            u32::MAX
        )));
    }
    let v = n * mult;
    Ok(if bits { v / 8 } else { v })
}

fn parse_interval_usecs(whole: &str, s: &str) -> Result<u32> {
    let invalid = || {
        bad(format!(
            "rate={whole}: invalid replenishment interval {s:?} (expected a number, then \
             s, ms or us)"
        ))
    };
    let (n, rest) = split_number(s).ok_or_else(invalid)?;
    let mult: u64 = match rest {
        "" | "s" => 1_000_000,
        "m" | "ms" => 1_000,
        "u" | "us" => 1,
        _ => return Err(invalid()),
    };
    if n == 0 {
        return Err(bad(format!("rate={whole}: the interval must not be 0")));
    }
    let usecs = u128::from(n) * u128::from(mult);
    if n > u64::from(u32::MAX) || usecs > u128::from(u32::MAX) {
        return Err(bad(format!(
            "rate={whole}: replenishment interval overflow (at most {} us)",
            u32::MAX
        )));
    }
    Ok(usecs as u32)
}

/// The bytes-per-second part in a form `parse_bytes_per_sec` reads back as
/// exactly `v`: bytes with the largest fitting unit, else bits.
fn rate_text(v: u64) -> Option<String> {
    const UNITS: [(&str, u128); 4] = [
        ("G", 1_000_000_000),
        ("M", 1_000_000),
        ("K", 1_000),
        ("", 1),
    ];
    for (amount, suffix) in [(u128::from(v), "B/s"), (u128::from(v) * 8, "b/s")] {
        for (unit, mult) in UNITS {
            if amount % mult == 0 && amount / mult <= u128::from(u32::MAX) {
                return Some(format!("{}{unit}{suffix}", amount / mult));
            }
        }
    }
    None
}

impl FromStr for Rate {
    type Err = Error;
    fn from_str(s: &str) -> Result<Rate> {
        let (rate, interval) = match s.split_once('@') {
            Some((r, i)) => (r, Some(i)),
            None => (s, None),
        };
        if rate.is_empty() {
            return Err(bad(format!("rate={s}: no rate given before '@'")));
        }
        let bytes_per_sec = parse_bytes_per_sec(s, rate)?;
        let interval_usecs = match interval {
            Some(i) => parse_interval_usecs(s, i)?,
            None => Rate::DEFAULT_INTERVAL_USECS,
        };
        let r = Rate {
            bytes_per_sec,
            interval_usecs,
        };
        r.check(&format!("rate={s}"))?;
        Ok(r)
    }
}

impl fmt::Display for Rate {
    /// The largest whole unit for each part, and no `@` for the default
    /// interval: `10Mb/s` prints as `1250KB/s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match rate_text(self.bytes_per_sec) {
            Some(t) => f.write_str(&t)?,
            // Unreachable for values made by `new` or `from_str`.
            None => write!(f, "{}B/s", self.bytes_per_sec)?,
        }
        let us = self.interval_usecs;
        if us != Rate::DEFAULT_INTERVAL_USECS {
            if us % 1_000_000 == 0 {
                write!(f, "@{}s", us / 1_000_000)?;
            } else if us % 1_000 == 0 {
                write!(f, "@{}ms", us / 1_000)?;
            } else {
                write!(f, "@{us}us")?;
            }
        }
        Ok(())
    }
}

/// Serde through the text form, validated again on the way in.
macro_rules! serde_via_text {
    ($($t:ty),*) => {$(
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    )*};
}
serde_via_text!(SpecText, NicType, Backend, Rate);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn err(s: &str) -> String {
        VifSpec::parse(s).unwrap_err().to_string()
    }

    #[test]
    fn the_article_example() {
        let v = VifSpec::parse("mac=00:16:3e:02:00:41, bridge=xenbr1").unwrap();
        assert_eq!(v.mac.unwrap().to_string(), "00:16:3e:02:00:41");
        assert_eq!(v.bridge.as_ref().unwrap(), "xenbr1");
        assert_eq!(v.to_string(), "mac=00:16:3e:02:00:41, bridge=xenbr1");
    }

    #[test]
    fn every_key() {
        let s = "  mac=00:16:3E:2:0:41 ,bridge=xenbr1,ip=192.0.2.5 2001:db8::5/64, mtu=9000, \
                 vifname=web0, script=vif-route, type=ioemu, model=e1000, rate=10Mb/s@20ms, \
                 netdev=eth1, backend=netdom, devid=3,";
        let v = VifSpec::parse(s).unwrap();
        assert_eq!(v.mac.unwrap().to_string(), "00:16:3e:02:00:41");
        assert_eq!(v.ip.len(), 2);
        assert_eq!(v.ip[0].to_string(), "192.0.2.5/32");
        assert_eq!(v.mtu.unwrap().get(), 9000);
        assert_eq!(v.vifname.as_ref().unwrap(), "web0");
        assert_eq!(v.script.as_ref().unwrap().as_str(), "vif-route");
        assert_eq!(v.nic_type, Some(NicType::Ioemu));
        assert_eq!(v.model.as_ref().unwrap().as_str(), "e1000");
        let r = v.rate.unwrap();
        assert_eq!(r.bytes_per_sec(), 1_250_000);
        assert_eq!(r.interval_usecs(), 20_000);
        assert_eq!(r.bytes_per_interval(), 25_000);
        assert_eq!(v.gatewaydev.as_ref().unwrap(), "eth1");
        assert_eq!(
            v.backend,
            Some(Backend::Name(SpecText::new("netdom").unwrap()))
        );
        assert_eq!(v.devid, Some(3));
        assert_eq!(
            v.to_string(),
            "mac=00:16:3e:02:00:41, bridge=xenbr1, ip=192.0.2.5 2001:db8::5/64, mtu=9000, \
             vifname=web0, script=vif-route, type=ioemu, model=e1000, rate=1250KB/s@20ms, \
             gatewaydev=eth1, backend=netdom, devid=3"
        );
        assert_eq!(VifSpec::parse(&v.to_string()).unwrap(), v);
    }

    #[test]
    fn empty_spec_is_all_defaults() {
        assert_eq!(VifSpec::parse("").unwrap(), VifSpec::default());
        assert_eq!(VifSpec::parse(" , ,, ").unwrap(), VifSpec::default());
        assert_eq!(VifSpec::default().to_string(), "");
    }

    #[test]
    fn unknown_key_names_the_key() {
        let e = err("mac=00:16:3e:00:00:01, brigde=xenbr0");
        assert!(e.contains("unknown key \"brigde\""), "{e}");
        assert!(e.starts_with("parse vif spec: "), "{e}");
        assert!(err("accel=x").contains("\"accel\""));
        assert!(err("colo_sock_mirror_id=1").contains("\"colo_sock_mirror_id\""));
    }

    #[test]
    fn duplicate_key() {
        let e = err("bridge=xenbr0, bridge=xenbr1");
        assert!(e.contains("\"bridge\" is given twice"), "{e}");
        let e = err("gatewaydev=eth0, netdev=eth1");
        assert!(e.contains("\"netdev\" is given twice"), "{e}");
        assert!(e.contains("alias"), "{e}");
    }

    #[test]
    fn item_without_equals() {
        let e = err("bridge=xenbr0, xenbr1");
        assert!(e.contains("\"xenbr1\" is not key=value"), "{e}");
        assert!(err("=x").contains("no key"));
        assert!(err("bridge=").contains("empty value"));
    }

    #[test]
    fn bad_macs() {
        let e = err("mac=01:16:3e:00:00:01");
        assert!(e.contains("multicast"), "{e}");
        assert!(err("mac=ff:ff:ff:ff:ff:ff").contains("multicast"));
        assert!(err("mac=00:00:00:00:00:00").contains("all-zero"));
        assert!(err("mac=00:16:3e:00:00").contains("six"));
        assert!(err("mac=00:16:3e:00:00:100").contains("\"100\""));
        assert!(err("mac=00:16:3e:00:00:g0").contains("hexadecimal"));
        assert!(err("mac=00:16:3e:00::01").contains("hexadecimal"));
    }

    #[test]
    fn vifname_must_be_an_interface_name() {
        let e = err("vifname=abcdefghijklmnop");
        assert!(e.contains("16 bytes long"), "{e}");
        assert!(e.contains("vifname="), "{e}");
        assert!(VifSpec::parse("vifname=abcdefghijklmno").is_ok());
        assert!(err("vifname=a/b").contains("forbids"));
        assert!(err("bridge=a:b").contains("bridge="));
    }

    #[test]
    fn other_bad_values() {
        assert!(err("mtu=67").contains("between 68"));
        assert!(err("mtu=x").contains("whole number"));
        assert!(err("type=vif_ioemu").contains("`vif` or `ioemu`"));
        assert!(err("type=vif-ioemu").contains("`vif` or `ioemu`"));
        assert!(err("ip=192.0.2.300").contains("not an IPv4 or IPv6"));
        assert!(err("ip=192.0.2.3/33").contains("at most 32"));
        assert!(err("backend=32752").contains("below 32752"));
        assert_eq!(
            VifSpec::parse("backend=0").unwrap().backend,
            Some(Backend::Id(0))
        );
        assert!(err("devid=-1").contains("whole number"));
        assert!(err("devid=2147483648").contains("at most"));
        assert!(err("model=a\tb").contains("control"));
    }

    #[test]
    fn rates_as_libxl_computes_them() {
        let r = |s: &str| s.parse::<Rate>().unwrap();
        // 10 Mbit/s, default 50 ms: 1.25 MB/s, 62500 bytes per interval.
        assert_eq!(r("10Mb/s").bytes_per_interval(), 62_500);
        assert_eq!(r("10Mb/s").interval_usecs(), 50_000);
        assert_eq!(r("5MB/s@20ms").bytes_per_interval(), 100_000);
        assert_eq!(r("5MB/s@20ms").interval_usecs(), 20_000);
        assert_eq!(r("1GB/s@1s").interval_usecs(), 1_000_000);
        assert_eq!(r("1GB/s@1").interval_usecs(), 1_000_000);
        assert_eq!(r("1GB/s@7u").interval_usecs(), 7);
        assert_eq!(r("1GB/s@7m").interval_usecs(), 7_000);
        assert_eq!(r("100KB/s@250us").bytes_per_interval(), 25);
        assert_eq!(r("9b/s@1s").bytes_per_sec(), 1);
        assert_eq!(
            r("4294967295GB/s@1us").bytes_per_interval(),
            4_294_967_295_000
        );
        assert_eq!(r("10Mb/s").to_string(), "1250KB/s");
        assert_eq!(r("4294967295Gb/s@1us").to_string(), "4294967295Gb/s@1us");
        assert_eq!(r("1000KB/s@1000ms").to_string(), "1MB/s@1s");
    }

    #[test]
    fn bad_rates() {
        let e = |s: &str| s.parse::<Rate>().unwrap_err().to_string();
        assert!(e("10Mbit/s").contains("invalid rate"));
        assert!(e("10mb/s").contains("invalid rate"));
        assert!(e("10MB").contains("invalid rate"));
        assert!(e("MB/s").contains("invalid rate"));
        assert!(e("@20ms").contains("no rate"));
        assert!(e("0MB/s").contains("not be 0"));
        assert!(e("4294967296B/s").contains("overflow"));
        assert!(e("99999999999999999999999B/s").contains("overflow"));
        assert!(e("10MB/s@").contains("invalid replenishment interval"));
        assert!(e("10MB/s@20ns").contains("invalid replenishment interval"));
        assert!(e("10MB/s@20ms@1s").contains("invalid replenishment interval"));
        assert!(e("10MB/s@0ms").contains("not be 0"));
        assert!(e("10MB/s@4295s").contains("interval overflow"));
        assert!(e("4294967295GB/s@4294967295us").contains("rate overflow"));
        assert!(e("1b/s").contains("less than one byte"));
        assert!(e("1B/s@1us").contains("less than one byte"));
        let spec = err("rate=10Mbps");
        assert!(spec.contains("rate=10Mbps"), "{spec}");
        assert!(Rate::new(0, 1).is_err());
        assert!(Rate::new(1, 0).is_err());
        assert!(Rate::new(1_000_000, 1).is_ok());
    }

    #[test]
    fn random_mac_is_xen_and_unicast() {
        let v = VifSpec::default();
        assert_eq!(
            v.mac_or_random([0xff, 0xee, 0xdd]).to_string(),
            "00:16:3e:7f:ee:dd"
        );
        let m = v.mac_or_urandom().unwrap();
        assert_eq!(m.octets()[..3], MacAddr::XEN_OUI);
        let fixed = VifSpec::parse("mac=00:16:3e:00:00:09").unwrap();
        assert_eq!(fixed.mac_or_random([1, 2, 3]), fixed.mac.unwrap());
    }

    #[test]
    fn serde_round_trip() {
        let v = VifSpec::parse("mac=00:16:3e:00:00:09, type=vif, rate=5MB/s@20ms, ip=192.0.2.1")
            .unwrap();
        let j = serde_json::to_string(&v).unwrap();
        assert!(j.contains("\"rate\":\"5MB/s@20ms\""), "{j}");
        assert_eq!(serde_json::from_str::<VifSpec>(&j).unwrap(), v);
        let partial: VifSpec = serde_json::from_str(r#"{"bridge":"xenbr1"}"#).unwrap();
        assert_eq!(partial, VifSpec::parse("bridge=xenbr1").unwrap());
        assert!(serde_json::from_str::<VifSpec>(r#"{"rate":"1b/s"}"#).is_err());
    }

    // --- property tests ---

    fn ifname() -> impl Strategy<Value = IfName> {
        "[A-Za-z0-9_.@#+-]{1,15}"
            .prop_filter("not . or ..", |s| s != "." && s != "..")
            .prop_map(|s| IfName::new(&s).unwrap())
    }

    fn spec_text() -> impl Strategy<Value = SpecText> {
        "[A-Za-z0-9_./+-]([A-Za-z0-9_./+ =-]{0,20}[A-Za-z0-9_./+-])?"
            .prop_map(|s| SpecText::new(&s).unwrap())
    }

    fn ipnet() -> impl Strategy<Value = IpNet> {
        prop_oneof![
            (any::<[u8; 4]>(), 0u8..=32).prop_map(|(a, p)| IpNet::new(IpAddr::from(a), p).unwrap()),
            (any::<[u8; 16]>(), 0u8..=128)
                .prop_map(|(a, p)| IpNet::new(IpAddr::from(a), p).unwrap()),
        ]
    }

    fn rate() -> impl Strategy<Value = Rate> {
        let unit = prop_oneof![Just(""), Just("K"), Just("M"), Just("G")];
        let kind = prop_oneof![Just("B"), Just("b")];
        let ival = prop_oneof![
            Just(String::new()),
            (
                1u32..5000,
                prop_oneof![
                    Just(""),
                    Just("s"),
                    Just("ms"),
                    Just("m"),
                    Just("us"),
                    Just("u")
                ]
            )
                .prop_map(|(n, u)| format!("@{n}{u}")),
        ];
        (1u64..=u64::from(u32::MAX), unit, kind, ival)
            .prop_filter_map("valid rate", |(n, u, k, i)| {
                format!("{n}{u}{k}/s{i}").parse::<Rate>().ok()
            })
    }

    fn unicast_mac() -> impl Strategy<Value = MacAddr> {
        any::<[u8; 6]>()
            .prop_map(|mut b| {
                b[0] &= 0xfe;
                MacAddr(b)
            })
            .prop_filter("not zero", |m| !m.is_zero())
    }

    fn backend() -> impl Strategy<Value = Backend> {
        prop_oneof![
            (0u16..DOMID_FIRST_RESERVED).prop_map(Backend::Id),
            "[a-z][a-z0-9-]{0,10}".prop_map(|s| Backend::Name(SpecText::new(&s).unwrap())),
        ]
    }

    prop_compose! {
        fn vif_spec()(
            mac in proptest::option::of(unicast_mac()),
            bridge in proptest::option::of(ifname()),
            ip in proptest::collection::vec(ipnet(), 0..4),
            mtu in proptest::option::of((68u32..=65535).prop_map(|v| Mtu::new(v).unwrap())),
            vifname in proptest::option::of(ifname()),
            script in proptest::option::of(spec_text()),
            nic_type in proptest::option::of(prop_oneof![Just(NicType::Vif), Just(NicType::Ioemu)]),
            model in proptest::option::of(spec_text()),
            rate in proptest::option::of(rate()),
            gatewaydev in proptest::option::of(ifname()),
            backend in proptest::option::of(backend()),
            devid in proptest::option::of(0u32..=i32::MAX as u32),
        ) -> VifSpec {
            VifSpec { mac, bridge, ip, mtu, vifname, script, nic_type, model, rate, gatewaydev, backend, devid }
        }
    }

    proptest! {
        #[test]
        fn spec_round_trips(v in vif_spec()) {
            let text = v.to_string();
            let back = VifSpec::parse(&text);
            prop_assert!(back.is_ok(), "{text}: {}", back.unwrap_err());
            prop_assert_eq!(back.unwrap(), v.clone());
            let j = serde_json::to_string(&v).unwrap();
            prop_assert_eq!(serde_json::from_str::<VifSpec>(&j).unwrap(), v);
        }

        #[test]
        fn items_may_come_in_any_order_with_any_spacing(v in vif_spec(), seed in any::<u64>(), pad in "[ \t]{0,2}") {
            let text = v.to_string();
            let mut items: Vec<&str> = if text.is_empty() { vec![] } else { text.split(", ").collect() };
            // A cheap deterministic shuffle.
            let n = items.len();
            for i in 0..n {
                let j = (seed.wrapping_mul(i as u64 + 7) % n as u64) as usize;
                items.swap(i, j);
            }
            let joined = items.iter().map(|i| format!("{pad}{i}{pad}")).collect::<Vec<_>>().join(",");
            prop_assert_eq!(VifSpec::parse(&joined).unwrap(), v);
        }

        #[test]
        fn rate_round_trips(r in rate()) {
            let text = r.to_string();
            prop_assert_eq!(text.parse::<Rate>().unwrap(), r);
            prop_assert_eq!(Rate::new(r.bytes_per_sec(), r.interval_usecs()).unwrap(), r);
            prop_assert!(r.bytes_per_interval() >= 1);
        }

        #[test]
        fn random_strings_never_panic(s in ".{0,80}") {
            match VifSpec::parse(&s) {
                Ok(v) => prop_assert_eq!(VifSpec::parse(&v.to_string()).unwrap(), v),
                Err(e) => prop_assert!(e.to_string().starts_with("parse vif spec: ")),
            }
        }

        #[test]
        fn random_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..80)) {
            let s = String::from_utf8_lossy(&b);
            let _ = VifSpec::parse(&s);
            let _ = s.parse::<Rate>();
        }

        #[test]
        fn spec_like_strings_never_panic(s in "((mac|bridge|ip|mtu|rate|type|vifname|backend|devid|x)=[0-9a-fA-F:./@KMGBbsmu -]{0,12},?){0,5}") {
            match VifSpec::parse(&s) {
                Ok(v) => prop_assert_eq!(VifSpec::parse(&v.to_string()).unwrap(), v),
                Err(e) => prop_assert!(!e.to_string().is_empty()),
            }
        }

        #[test]
        fn random_macs_are_xen_unicast(b in any::<[u8; 3]>()) {
            let m = VifSpec::default().mac_or_random(b);
            prop_assert!(!m.is_multicast());
            prop_assert_eq!(&m.octets()[..3], &MacAddr::XEN_OUI[..]);
            prop_assert_eq!(&m.octets()[4..], &b[1..]);
        }

        #[test]
        fn multicast_macs_are_refused(b in any::<[u8; 6]>()) {
            let mut b = b;
            b[0] |= 1;
            let e = VifSpec::parse(&format!("mac={}", MacAddr(b))).unwrap_err();
            prop_assert!(e.to_string().contains("multicast"));
        }
    }
}
