//! Validated values: interface names, MAC addresses, MTUs and IP prefixes.
//!
//! Every value that reaches the kernel is one of these types, and each one is
//! checked when it is built, so a request that would fail half-way through a
//! plan ("name too long") fails before the first change instead.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a value was refused; the message says what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueError {
    /// What kind of value it was ("interface name", "MAC address", ...).
    pub what: &'static str,
    /// The text that was refused.
    pub input: String,
    /// Why, in a few words.
    pub reason: String,
}

impl fmt::Display for ValueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid {} {:?}: {}", self.what, self.input, self.reason)
    }
}

impl std::error::Error for ValueError {}

fn refuse<T>(what: &'static str, input: &str, reason: impl Into<String>) -> Result<T, ValueError> {
    Err(ValueError {
        what,
        input: input.to_string(),
        reason: reason.into(),
    })
}

/// The kernel's limit on an interface name, in bytes, without the final NUL
/// (`IFNAMSIZ - 1`).
pub const IFNAME_MAX: usize = 15;

/// [`ValueError::what`] for a refused interface name.
pub(crate) const IFNAME_WHAT: &str = "interface name";

/// A network interface name that the kernel will accept, as `ip link` names one.
///
/// The kernel's rules (`dev_valid_name`): 1 to 15 bytes, not `.` or `..`, no
/// `/`, `:` or white space. xenbr also refuses `%` (the kernel would treat the
/// name as a template and pick another one) and NUL.
///
/// Held inline, like the kernel's `char name[IFNAMSIZ]`: names are copied
/// into every op, journal entry and snapshot a transaction makes (thousands
/// for a batch of guests), and a copy of 16 bytes costs nothing where a
/// `String` costs an allocation. The bytes after the name are zero, so the
/// derived order is the order of the names as text.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct IfName {
    bytes: [u8; IFNAME_MAX],
    len: u8,
}

impl IfName {
    /// Checks `s` against the kernel's rules and wraps it.
    pub fn new(s: &str) -> Result<Self, ValueError> {
        const WHAT: &str = IFNAME_WHAT;
        if s.is_empty() {
            return refuse(WHAT, s, "it is empty");
        }
        if s.len() > IFNAME_MAX {
            return refuse(
                WHAT,
                s,
                format!(
                    "it is {} bytes long; the kernel allows at most {IFNAME_MAX}",
                    s.len()
                ),
            );
        }
        if s == "." || s == ".." {
            return refuse(WHAT, s, "`.` and `..` are reserved");
        }
        if let Some(c) = s
            .chars()
            .find(|c| matches!(c, '/' | ':' | '%' | '\0') || c.is_whitespace())
        {
            let why = match c {
                '/' | ':' => format!("it contains {c:?}, which the kernel forbids in names"),
                '%' => "it contains '%', which would make the kernel pick a different name".into(),
                _ => format!("it contains the character {c:?}"),
            };
            return refuse(WHAT, s, why);
        }
        Ok(IfName::inline(s))
    }

    /// Copies `s` (at most [`IFNAME_MAX`] bytes, no NUL) inline.
    fn inline(s: &str) -> Self {
        let mut bytes = [0; IFNAME_MAX];
        bytes[..s.len()].copy_from_slice(s.as_bytes());
        IfName {
            bytes,
            len: s.len() as u8,
        }
    }

    /// A name as the kernel reported it, taken as it is. (The kernel's
    /// names fit; one that did not would be cut at a character boundary
    /// rather than refused, since it names a link that exists.)
    pub(crate) fn from_kernel(s: &str) -> Self {
        let mut end = s.len().min(IFNAME_MAX);
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        let s = &s[..end];
        IfName::inline(s.split('\0').next().unwrap_or(s))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        // Built only from the prefix of a `&str` ending at a character
        // boundary, so always UTF-8.
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).expect("an IfName is UTF-8")
    }

    /// `prefix` + this name, checked again (`p` + a 15-byte name is refused).
    pub fn with_prefix(&self, prefix: &str) -> Result<IfName, ValueError> {
        IfName::new(&format!("{prefix}{}", self.as_str()))
    }
}

/// Hashes the name's bytes alone: equal names have equal bytes, and the
/// padding adds nothing to hash.
impl std::hash::Hash for IfName {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write(&self.bytes[..usize::from(self.len)]);
    }
}

impl FromStr for IfName {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, ValueError> {
        IfName::new(s)
    }
}

impl fmt::Display for IfName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for IfName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl AsRef<str> for IfName {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq<str> for IfName {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for IfName {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// A 48-bit Ethernet (MAC) address, as `ip link set address` takes it.
///
/// Parses `aa:bb:cc:dd:ee:ff` and `aa-bb-cc-dd-ee-ff` (either case); always
/// displays lower case with colons.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// `fe:ff:ff:ff:ff:ff`, the address Xen gives every bridge port so that the
    /// bridge never adopts a guest's or the NIC's address as its own.
    pub const BRIDGE_PORT: MacAddr = MacAddr([0xfe, 0xff, 0xff, 0xff, 0xff, 0xff]);

    /// Xen's organisationally unique identifier, `00:16:3e`.
    pub const XEN_OUI: [u8; 3] = [0x00, 0x16, 0x3e];

    /// True for a group (multicast or broadcast) address.
    pub fn is_multicast(&self) -> bool {
        self.0[0] & 1 == 1
    }

    /// True for `00:00:00:00:00:00`.
    pub fn is_zero(&self) -> bool {
        self.0 == [0; 6]
    }

    /// True for an address an Ethernet device can have: neither zero nor
    /// a group address (the kernel's `is_valid_ether_addr`).
    pub fn is_valid_unicast(&self) -> bool {
        !self.is_zero() && !self.is_multicast()
    }

    /// The bytes.
    pub fn octets(&self) -> [u8; 6] {
        self.0
    }
}

impl FromStr for MacAddr {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, ValueError> {
        const WHAT: &str = "MAC address";
        let sep = if s.contains('-') { '-' } else { ':' };
        let parts: Vec<&str> = s.split(sep).collect();
        if parts.len() != 6 {
            return refuse(
                WHAT,
                s,
                "expected six hexadecimal octets separated by ':' or '-'",
            );
        }
        let mut out = [0u8; 6];
        for (slot, part) in out.iter_mut().zip(&parts) {
            if part.len() != 2 || !part.bytes().all(|b| b.is_ascii_hexdigit()) {
                return refuse(WHAT, s, format!("{part:?} is not two hexadecimal digits"));
            }
            *slot = u8::from_str_radix(part, 16).expect("two hex digits");
        }
        Ok(MacAddr(out))
    }
}

impl MacAddr {
    /// `aa:bb:cc:dd:ee:ff`, written without the formatting machinery (the
    /// journal writes one for every MAC a batch changes).
    pub(crate) fn text(&self) -> [u8; 17] {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut t = [b':'; 17];
        for (i, b) in self.0.iter().enumerate() {
            t[3 * i] = HEX[usize::from(b >> 4)];
            t[3 * i + 1] = HEX[usize::from(b & 0xf)];
        }
        t
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.text();
        f.write_str(std::str::from_utf8(&t).expect("ASCII"))
    }
}

impl fmt::Debug for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A link MTU within what any Ethernet-like link can take: 68 (the IPv4
/// minimum) to 65535 (`ETH_MAX_MTU`). A device may have narrower bounds of its
/// own; planners check those against the snapshot.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Mtu(u32);

impl Mtu {
    /// The smallest MTU xenbr accepts.
    pub const MIN: u32 = 68;
    /// The largest MTU xenbr accepts.
    pub const MAX: u32 = 65535;

    /// Checks the bounds.
    pub fn new(v: u32) -> Result<Self, ValueError> {
        if !(Self::MIN..=Self::MAX).contains(&v) {
            return refuse(
                "MTU",
                &v.to_string(),
                format!("it must be between {} and {}", Self::MIN, Self::MAX),
            );
        }
        Ok(Mtu(v))
    }

    /// The value in bytes.
    pub fn get(self) -> u32 {
        self.0
    }
}

impl FromStr for Mtu {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, ValueError> {
        match s.trim().parse::<u32>() {
            Ok(v) => Mtu::new(v),
            Err(_) => refuse("MTU", s, "it is not a whole number"),
        }
    }
}

impl fmt::Display for Mtu {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// An IPv4 or IPv6 address with a prefix length, as `ip addr` and `ip route`
/// write them (`192.0.2.10/24`, `2001:db8::/32`).
///
/// For an interface address the host bits are kept; [`IpNet::network`] clears
/// them, as route destinations need.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl IpNet {
    /// Checks that `prefix` fits the address family (32 for IPv4, 128 for IPv6).
    pub fn new(addr: IpAddr, prefix: u8) -> Result<Self, ValueError> {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if prefix > max {
            return refuse(
                "IP prefix",
                &format!("{addr}/{prefix}"),
                format!("the prefix length must be at most {max}"),
            );
        }
        Ok(IpNet { addr, prefix })
    }

    /// The address.
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// True for IPv4.
    pub fn is_ipv4(&self) -> bool {
        self.addr.is_ipv4()
    }

    /// The same prefix with the host bits cleared.
    pub fn network(&self) -> IpNet {
        let addr = match self.addr {
            IpAddr::V4(a) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                IpAddr::V4(Ipv4Addr::from(u32::from(a) & mask))
            }
            IpAddr::V6(a) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                IpAddr::V6(Ipv6Addr::from(u128::from(a) & mask))
            }
        };
        IpNet {
            addr,
            prefix: self.prefix,
        }
    }

    /// True when `ip` lies inside this prefix.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr.is_ipv4(), ip.is_ipv4()) {
            (a, b) if a != b => false,
            _ => {
                IpNet {
                    addr: ip,
                    prefix: self.prefix,
                }
                .network()
                    == self.network()
            }
        }
    }

    /// The default route's destination for the family of `addr`
    /// (`0.0.0.0/0` or `::/0`).
    pub fn default_for(addr: IpAddr) -> IpNet {
        let addr = if addr.is_ipv4() {
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        } else {
            IpAddr::V6(Ipv6Addr::UNSPECIFIED)
        };
        IpNet { addr, prefix: 0 }
    }
}

impl FromStr for IpNet {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, ValueError> {
        const WHAT: &str = "IP prefix";
        let Some((a, p)) = s.split_once('/') else {
            return refuse(WHAT, s, "expected ADDRESS/LENGTH");
        };
        let Ok(addr) = a.parse::<IpAddr>() else {
            return refuse(WHAT, s, format!("{a:?} is not an IPv4 or IPv6 address"));
        };
        if p.is_empty() || p.len() > 3 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return refuse(WHAT, s, format!("{p:?} is not a prefix length"));
        }
        let prefix: u8 = match p.parse() {
            Ok(v) => v,
            Err(_) => return refuse(WHAT, s, format!("{p:?} is not a prefix length")),
        };
        IpNet::new(addr, prefix).map_err(|e| ValueError {
            input: s.to_string(),
            ..e
        })
    }
}

impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl fmt::Debug for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Serde through the text form, so JSON carries `"eth0"`, `"fe:ff:..."`,
/// `"192.0.2.10/24"`, and a journal read back is validated again.
macro_rules! serde_via_text {
    ($($t:ty),*) => {$(
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    )*};
}
serde_via_text!(Mtu, IpNet);

/// Names and MACs are written as their text too, but handed to the
/// serializer as a string rather than through `Display` and a formatter
/// adapter: the journal writes a few of them for every step of a batch.
impl Serialize for IfName {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl Serialize for MacAddr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let t = self.text();
        s.serialize_str(std::str::from_utf8(&t).expect("ASCII"))
    }
}

macro_rules! deserialize_via_text {
    ($($t:ty),*) => {$(
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    )*};
}
deserialize_via_text!(IfName, MacAddr);

/// A shell-style pattern for interface names, as `xenbr watch --pattern`
/// takes it: `*` matches any run of characters (none too), `?` exactly one,
/// every other character itself. `vif*.*` matches `vif5.0` and
/// `vif5.0-emu`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct NamePattern(String);

impl NamePattern {
    /// Checks `s`: 1 to 64 bytes, none of them `/`, `:`, white space or a
    /// control character (no interface name has them).
    pub fn new(s: &str) -> Result<Self, ValueError> {
        const WHAT: &str = "name pattern";
        if s.is_empty() || s.len() > 64 {
            return refuse(WHAT, s, "it must be 1 to 64 bytes long");
        }
        if let Some(c) = s
            .chars()
            .find(|c| matches!(c, '/' | ':') || c.is_whitespace() || c.is_control())
        {
            return refuse(
                WHAT,
                s,
                format!("it contains {c:?}, which no interface name has"),
            );
        }
        Ok(NamePattern(s.to_string()))
    }

    /// The pattern as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True when `name` matches the whole pattern.
    pub fn matches(&self, name: &str) -> bool {
        let (p, n) = (self.0.as_bytes(), name.as_bytes());
        let (mut pi, mut ni) = (0, 0);
        // Where the last `*` was, and where in the name it started matching.
        let mut star: Option<(usize, usize)> = None;
        while ni < n.len() {
            match p.get(pi) {
                Some(b'*') => {
                    star = Some((pi, ni));
                    pi += 1;
                }
                Some(&c) if c == b'?' || c == n[ni] => {
                    pi += 1;
                    ni += 1;
                }
                _ => match star {
                    // Let the last `*` take one more character.
                    Some((sp, sn)) => {
                        pi = sp + 1;
                        ni = sn + 1;
                        star = Some((sp, sn + 1));
                    }
                    None => return false,
                },
            }
        }
        p[pi..].iter().all(|&c| c == b'*')
    }
}

impl FromStr for NamePattern {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, ValueError> {
        NamePattern::new(s)
    }
}

impl fmt::Display for NamePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for NamePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl Serialize for NamePattern {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Names the kernel accepts, built from a wide alphabet.
    pub(crate) fn valid_name() -> impl Strategy<Value = String> {
        "[A-Za-z0-9_.@#+=-]{1,15}".prop_filter("not . or ..", |s| s != "." && s != "..")
    }

    proptest! {
        #[test]
        fn ifname_round_trips(s in valid_name()) {
            let n = IfName::new(&s).unwrap();
            prop_assert_eq!(n.to_string(), s.clone());
            prop_assert_eq!(n.to_string().parse::<IfName>().unwrap(), n);
        }

        #[test]
        fn ifname_orders_and_compares_as_its_text(a in valid_name(), b in valid_name()) {
            let (x, y) = (IfName::new(&a).unwrap(), IfName::new(&b).unwrap());
            prop_assert_eq!(x.cmp(&y), a.cmp(&b));
            prop_assert_eq!(x == y, a == b);
            prop_assert_eq!(x.as_str(), a.as_str());
        }

        #[test]
        fn ifname_from_kernel_keeps_a_name_and_cuts_at_a_char_boundary(s in "\\PC{0,20}") {
            let n = IfName::from_kernel(&s);
            prop_assert!(n.as_str().len() <= IFNAME_MAX);
            prop_assert!(s.starts_with(n.as_str()));
        }

        #[test]
        fn mac_and_name_text_is_the_formatted_text(b in any::<[u8; 6]>(), s in valid_name()) {
            let m = MacAddr(b);
            let want = format!(
                "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
                b[0], b[1], b[2], b[3], b[4], b[5]
            );
            prop_assert_eq!(m.to_string(), want.clone());
            prop_assert_eq!(serde_json::to_string(&m).unwrap(), format!("\"{want}\""));
            let n = IfName::new(&s).unwrap();
            prop_assert_eq!(serde_json::to_string(&n).unwrap(), serde_json::to_string(&s).unwrap());
            prop_assert_eq!(serde_json::from_str::<IfName>(&serde_json::to_string(&n).unwrap()).unwrap(), n);
        }

        #[test]
        fn ifname_too_long_is_refused(s in "[a-z0-9]{16,40}") {
            let e = IfName::new(&s).unwrap_err();
            prop_assert!(e.reason.contains("at most 15"), "{}", e);
        }

        #[test]
        fn ifname_forbidden_chars_are_refused(a in "[a-z]{0,6}", c in "[/: \t\n%]", b in "[a-z]{0,6}") {
            let s = format!("{a}{c}{b}");
            let e = IfName::new(&s).unwrap_err();
            prop_assert!(!e.reason.is_empty());
        }

        #[test]
        fn ifname_never_panics(s in ".*") {
            let _ = IfName::new(&s);
        }

        #[test]
        fn mac_round_trips(b in any::<[u8; 6]>(), dash in any::<bool>(), upper in any::<bool>()) {
            let m = MacAddr(b);
            let mut text = m.to_string();
            prop_assert_eq!(text.len(), 17);
            if dash { text = text.replace(':', "-"); }
            if upper { text = text.to_uppercase(); }
            prop_assert_eq!(text.parse::<MacAddr>().unwrap(), m);
        }

        #[test]
        fn mac_garbage_is_refused_not_panicking(s in ".{0,30}") {
            if let Err(e) = s.parse::<MacAddr>() {
                prop_assert!(e.to_string().contains("MAC address"));
            }
        }

        #[test]
        fn mtu_bounds(v in any::<u32>()) {
            let r = Mtu::new(v);
            prop_assert_eq!(r.is_ok(), (68..=65535).contains(&v));
            if let Ok(m) = r { prop_assert_eq!(m.to_string().parse::<Mtu>().unwrap(), m); }
        }

        #[test]
        fn ipnet_round_trips(v4 in any::<[u8; 4]>(), p4 in 0u8..=32, v6 in any::<[u8; 16]>(), p6 in 0u8..=128) {
            for n in [IpNet::new(IpAddr::from(v4), p4).unwrap(), IpNet::new(IpAddr::from(v6), p6).unwrap()] {
                prop_assert_eq!(n.to_string().parse::<IpNet>().unwrap(), n);
                prop_assert!(n.contains(n.addr()));
                prop_assert_eq!(n.network().network(), n.network());
            }
        }

        #[test]
        fn ipnet_long_prefix_is_refused(v4 in any::<[u8; 4]>(), p in 33u8..=255) {
            let s = format!("{}/{}", Ipv4Addr::from(v4), p);
            let e = s.parse::<IpNet>().unwrap_err();
            prop_assert!(e.reason.contains("at most 32") || e.reason.contains("prefix length"), "{}", e);
        }

        #[test]
        fn ipnet_never_panics(s in ".{0,50}") {
            let _ = s.parse::<IpNet>();
        }
    }

    #[test]
    fn examples() {
        assert!(IfName::new("vif1.0").is_ok());
        assert!(IfName::new("p").unwrap().as_str() == "p");
        let e = IfName::new("enx001122334455")
            .unwrap()
            .with_prefix("p")
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid interface name \"penx001122334455\": it is 16 bytes long; the kernel allows at most 15"
        );
        assert_eq!(
            "00-16-3E-AA-bb-0c".parse::<MacAddr>().unwrap().to_string(),
            "00:16:3e:aa:bb:0c"
        );
        assert!("00:16:3e:aa:bb".parse::<MacAddr>().is_err());
        assert!("0:16:3e:aa:bb:cc".parse::<MacAddr>().is_err());
        assert_eq!(
            "192.0.2.10/24"
                .parse::<IpNet>()
                .unwrap()
                .network()
                .to_string(),
            "192.0.2.0/24"
        );
        assert_eq!(
            "2001:db8::10/64"
                .parse::<IpNet>()
                .unwrap()
                .network()
                .to_string(),
            "2001:db8::/64"
        );
        assert!("192.0.2.0/24"
            .parse::<IpNet>()
            .unwrap()
            .contains("192.0.2.200".parse().unwrap()));
        assert!(!"192.0.2.0/24"
            .parse::<IpNet>()
            .unwrap()
            .contains("2001:db8::1".parse().unwrap()));
        assert!("0.0.0.0/0"
            .parse::<IpNet>()
            .unwrap()
            .contains("203.0.113.9".parse().unwrap()));
    }

    #[test]
    fn name_patterns_match_like_the_shell() {
        let p = |s: &str| NamePattern::new(s).unwrap();
        let vif = p("vif*.*");
        for yes in ["vif5.0", "vif5.0-emu", "vif12.3", "vif.", "vif0.0"] {
            assert!(vif.matches(yes), "{yes}");
        }
        for no in ["vif5", "eth0", "xvif5.0", "vif50"] {
            assert!(!vif.matches(no), "{no}");
        }
        assert!(p("tap?").matches("tap1"));
        assert!(!p("tap?").matches("tap12"));
        assert!(p("*").matches("anything"));
        assert!(p("a*b*c").matches("aXXbYYbc"));
        assert!(!p("a*b*c").matches("aXXbYYb"));
        assert!(p("eth0").matches("eth0"));
        assert!(!p("eth0").matches("eth01"));
        for bad in ["", "a b", "x/y", "x:y"] {
            assert!(NamePattern::new(bad).is_err(), "{bad:?}");
        }
    }
}
