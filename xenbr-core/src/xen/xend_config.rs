//! xend's `/etc/xen/xend-config.sxp`: the `(network-script ...)` and
//! `(vif-script ...)` forms, and the `key=value` arguments of Xen's network
//! scripts, whether they come from that file or from a command line
//! (`network-bridge start bridge=xenbr1 netdev=eth1`).
//!
//! The file is a sequence of S-expressions with `#` comments, read here as
//! xend's `sxp.py` reads it:
//! - white space is space, tab, newline, vertical tab, form feed, carriage
//!   return; `#` outside a string starts a comment that runs to the end of
//!   the line;
//! - a string is quoted with `'` or `"` and may span lines; its escapes are
//!   `\a \b \t \n \v \f \r \\ \' \"`, `\xH` or `\xHH` (one byte), `\o`, `\oo`
//!   or `\ooo` (octal, at most 0377; one byte). A byte from an escape becomes
//!   the character with that code (Latin-1). An unknown escape such as `\.`
//!   is kept as written, backslash included (sxp.py keeps the backslash and
//!   drops the character; no Xen config relies on that);
//! - an atom is any run of other characters, ended by white space, `(`, `)`
//!   or `#`. A quote inside an atom is part of it, as in sxp.py. sxp.py also
//!   splits atoms at `{}<>[]!;`, which never occur in these forms; here they
//!   are ordinary atom characters;
//! - an atom and a string are the same kind of value, as for xend;
//! - control characters other than white space are refused outside strings;
//!   lists may nest 256 deep.
//!
//! Only top-level `(network-script ...)` and `(vif-script ...)` forms are
//! read; every other form is checked for syntax and skipped. Each form yields
//! its words: every atom or string after the head, strings split at white
//! space (xend split the string at single spaces). The first word is the
//! script, the rest must be `key=value` arguments ([`parse_script_args`]).
//! `(network-script '')` or `(network-script)` means "run no script", as
//! for xend.
//!
//! Where this differs from xend (`XendOptions.get_config_string`):
//! - xend used only the first form of each name and, within it, only the
//!   first atom: `(network-script network-bridge netdev=eth1)` ran plain
//!   `network-bridge`, which is why the documented form is quoted. Here every
//!   form is returned in file order (the several-bridges setups that a wrapper
//!   script used to make), and every word of a form counts.
//! - An argument without `=`, an argument whose key is not a shell variable
//!   name, a repeated key and an empty value are errors. The scripts'
//!   `evalVariables` ignored the first, `eval`ed the second, let the last
//!   repeat win and treated an empty value as unset.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::names::IfName;

const DEFAULT_SOURCE: &str = "xend-config.sxp";
const MAX_DEPTH: usize = 256;

// ---------------------------------------------------------------------------
// key=value arguments

/// One `key=value` argument of a Xen network or vif script.
///
/// The key is a shell variable name (`[A-Za-z_][A-Za-z0-9_]*`), since the
/// scripts `eval` it; the value is not empty and holds no white space or
/// control characters. It may hold `=`: only the first `=` splits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ScriptArg {
    key: String,
    value: String,
}

impl ScriptArg {
    /// Checks `key` and `value` and pairs them.
    pub fn new(key: &str, value: &str) -> Result<ScriptArg> {
        check_arg(key, value).map_err(|r| Error::invalid(ARGS_OP, r))
    }

    /// The key (`bridge`).
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The value (`xenbr1`).
    pub fn value(&self) -> &str {
        &self.value
    }
}

impl FromStr for ScriptArg {
    type Err = Error;
    /// Reads one `key=value` word.
    fn from_str(word: &str) -> Result<ScriptArg> {
        arg_from_word(word).map_err(|r| Error::invalid(ARGS_OP, r))
    }
}

impl fmt::Display for ScriptArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.key, self.value)
    }
}

const ARGS_OP: &str = "parse script arguments";

fn check_arg(key: &str, value: &str) -> std::result::Result<ScriptArg, String> {
    let ident = key
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !ident {
        return Err(format!(
            "{:?} is not a variable name (a letter or _, then letters, digits or _)",
            key
        ));
    }
    if value.is_empty() {
        return Err(format!("{key}= has an empty value"));
    }
    if let Some(c) = value.chars().find(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("{key}={value:?}: the value contains {c:?}"));
    }
    Ok(ScriptArg {
        key: key.to_string(),
        value: value.to_string(),
    })
}

fn arg_from_word(word: &str) -> std::result::Result<ScriptArg, String> {
    match word.split_once('=') {
        Some((k, v)) => check_arg(k, v),
        None => Err(format!("argument {word:?} is not key=value")),
    }
}

fn args_from_words<I, S>(words: I) -> std::result::Result<Vec<ScriptArg>, String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let mut out: Vec<ScriptArg> = Vec::new();
    for w in words {
        let arg = arg_from_word(w.as_ref())?;
        if out.iter().any(|a| a.key == arg.key) {
            return Err(format!("key {:?} is given twice", arg.key));
        }
        out.push(arg);
    }
    Ok(out)
}

/// Reads the `key=value` words given to a Xen network or vif script, from a
/// command line (`bridge=xenbr1 netdev=eth1`) or from a xend-config.sxp form.
/// Every word must be `key=value` and no key may repeat.
pub fn parse_script_args<I, S>(words: I) -> Result<Vec<ScriptArg>>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    args_from_words(words).map_err(|r| Error::invalid(ARGS_OP, r))
}

// ---------------------------------------------------------------------------
// network-bridge's arguments

/// The keys [`NetworkBridgeArgs`] takes. `bridge`, `netdev` and `antispoof`
/// are those of every `network-bridge` since Xen 3.0; `vifnum` is the older
/// scripts' (Xen 3.0 to 3.2, `tools/examples/network-bridge`).
pub const NETWORK_BRIDGE_KEYS: &[&str] = &["bridge", "netdev", "antispoof", "vifnum"];

const NB_OP: &str = "parse network-bridge arguments";

/// `bridge=` of `network-bridge`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BridgeArg {
    /// `bridge=NAME`: the bridge to create or tear down.
    Named(IfName),
    /// `bridge=null`: the script does nothing, neither at `start` nor `stop`.
    Null,
}

impl fmt::Display for BridgeArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BridgeArg::Named(n) => write!(f, "{n}"),
            BridgeArg::Null => f.write_str("null"),
        }
    }
}

/// What a `network-bridge start|stop|status` call asks for, as typed values.
/// `None` leaves the script's default, which the planner works out from the
/// host: `netdev` the device of the default route, `bridge` `xenbr<vifnum>`
/// in the old (veth) scripts or the netdev's own name in the later ones,
/// `antispoof` no, `vifnum` 0.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkBridgeArgs {
    /// `bridge=`: the bridge's name, or `null` for "do nothing".
    pub bridge: Option<BridgeArg>,
    /// `netdev=`: the physical interface to take over.
    pub netdev: Option<IfName>,
    /// `antispoof=yes|no`: restrict forwarding to packets from the physical
    /// interface (the script's iptables rules).
    pub antispoof: Option<bool>,
    /// `vifnum=N`: the old scripts' device number, naming `vethN`, `vif0.N`
    /// and the defaults `xenbrN` and `ethN`.
    pub vifnum: Option<u32>,
}

impl NetworkBridgeArgs {
    /// Types parsed arguments. An unknown key is an error naming it.
    pub fn from_args(args: &[ScriptArg]) -> Result<NetworkBridgeArgs> {
        nb_from_args(args).map_err(|r| Error::invalid(NB_OP, r))
    }

    /// Reads `network-bridge`'s `key=value` words, as a command line gives
    /// them after `start`, `stop` or `status`: [`parse_script_args`] then
    /// [`NetworkBridgeArgs::from_args`].
    pub fn parse_words<I, S>(words: I) -> Result<NetworkBridgeArgs>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        args_from_words(words)
            .and_then(|a| nb_from_args(&a))
            .map_err(|r| Error::invalid(NB_OP, r))
    }

    /// The arguments that say this, in [`NETWORK_BRIDGE_KEYS`] order.
    pub fn to_args(&self) -> Vec<ScriptArg> {
        let mut out = Vec::new();
        let mut push = |k: &str, v: Option<String>| {
            if let Some(v) = v {
                out.push(ScriptArg {
                    key: k.to_string(),
                    value: v,
                });
            }
        };
        push("bridge", self.bridge.as_ref().map(|b| b.to_string()));
        push("netdev", self.netdev.as_ref().map(|n| n.to_string()));
        push(
            "antispoof",
            self.antispoof
                .map(|b| if b { "yes" } else { "no" }.to_string()),
        );
        push("vifnum", self.vifnum.map(|n| n.to_string()));
        out
    }
}

fn nb_from_args(args: &[ScriptArg]) -> std::result::Result<NetworkBridgeArgs, String> {
    let mut out = NetworkBridgeArgs::default();
    for a in args {
        let (k, v) = (a.key(), a.value());
        let name = || IfName::new(v).map_err(|e| format!("{k}={v}: {e}"));
        match k {
            "bridge" if v == "null" => out.bridge = Some(BridgeArg::Null),
            "bridge" => out.bridge = Some(BridgeArg::Named(name()?)),
            "netdev" => out.netdev = Some(name()?),
            "antispoof" => {
                out.antispoof = Some(match v {
                    "yes" => true,
                    "no" => false,
                    _ => return Err(format!("{k}={v}: expected yes or no")),
                })
            }
            "vifnum" => {
                let n = if v.bytes().all(|b| b.is_ascii_digit()) {
                    v.parse::<u32>().ok()
                } else {
                    None
                };
                out.vifnum =
                    Some(n.ok_or_else(|| format!("{k}={v}: expected a number below 2^32"))?);
            }
            _ => {
                return Err(format!(
                    "unknown key {k:?} (network-bridge takes {})",
                    NETWORK_BRIDGE_KEYS.join(", ")
                ))
            }
        }
    }
    Ok(out)
}

impl fmt::Display for NetworkBridgeArgs {
    /// The words, separated by spaces: `bridge=xenbr1 netdev=eth1`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let words: Vec<String> = self.to_args().iter().map(|a| a.to_string()).collect();
        f.write_str(&words.join(" "))
    }
}

// ---------------------------------------------------------------------------
// the file's forms

/// Which form a script came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScriptKind {
    /// `(network-script ...)`: run once when the toolstack starts.
    NetworkScript,
    /// `(vif-script ...)`: the default hotplug script for guest interfaces.
    VifScript,
}

impl ScriptKind {
    /// The form's head as the file writes it (`network-script`).
    pub fn head(self) -> &'static str {
        match self {
            ScriptKind::NetworkScript => "network-script",
            ScriptKind::VifScript => "vif-script",
        }
    }

    fn from_head(s: &str) -> Option<ScriptKind> {
        match s {
            "network-script" => Some(ScriptKind::NetworkScript),
            "vif-script" => Some(ScriptKind::VifScript),
            _ => None,
        }
    }
}

/// A script and its arguments: `network-bridge bridge=xenbr1 netdev=eth1`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ScriptCall {
    script: String,
    args: Vec<ScriptArg>,
}

impl ScriptCall {
    /// Checks the script (not empty, no white space or control characters,
    /// no `=`) and the arguments (no repeated key).
    pub fn new(script: &str, args: Vec<ScriptArg>) -> Result<ScriptCall> {
        check_script(script).map_err(|r| Error::invalid(ARGS_OP, r))?;
        for (i, a) in args.iter().enumerate() {
            if args[..i].iter().any(|b| b.key == a.key) {
                return Err(Error::invalid(
                    ARGS_OP,
                    format!("key {:?} is given twice", a.key),
                ));
            }
        }
        Ok(ScriptCall {
            script: script.to_string(),
            args,
        })
    }

    /// The script as written: a name (`network-bridge`, found in xend's
    /// script directory) or a path.
    pub fn script(&self) -> &str {
        &self.script
    }

    /// The script's file name, without a directory.
    pub fn script_name(&self) -> &str {
        self.script.rsplit('/').next().unwrap_or(&self.script)
    }

    /// The arguments, in order.
    pub fn args(&self) -> &[ScriptArg] {
        &self.args
    }

    /// True when the script is Xen's `network-bridge` (by file name).
    pub fn is_network_bridge(&self) -> bool {
        self.script_name() == "network-bridge"
    }

    /// The typed arguments of a `network-bridge` call; an error for another
    /// script.
    pub fn network_bridge_args(&self) -> Result<NetworkBridgeArgs> {
        self.nb_args().map_err(|r| Error::invalid(NB_OP, r))
    }

    fn nb_args(&self) -> std::result::Result<NetworkBridgeArgs, String> {
        if !self.is_network_bridge() {
            return Err(format!(
                "the script is {:?}, not network-bridge",
                self.script
            ));
        }
        nb_from_args(&self.args)
    }
}

fn check_script(script: &str) -> std::result::Result<(), String> {
    if script.is_empty() {
        return Err("the script name is empty".into());
    }
    if let Some(c) = script.chars().find(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("script {script:?} contains {c:?}"));
    }
    if script.contains('=') {
        return Err(format!(
            "{script:?} is an argument, but the first word must name the script"
        ));
    }
    Ok(())
}

impl fmt::Display for ScriptCall {
    /// The words, separated by spaces.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.script)?;
        for a in &self.args {
            write!(f, " {a}")?;
        }
        Ok(())
    }
}

/// One `(network-script ...)` or `(vif-script ...)` form of the file.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ScriptForm {
    /// Which form.
    pub kind: ScriptKind,
    /// The script to run, or `None` for `(network-script '')`: run none.
    pub call: Option<ScriptCall>,
    /// The line of the form's `(`, counting from 1.
    pub line: usize,
}

/// What xenbr reads from a xend-config.sxp: its script forms, in file order.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct XendConfig {
    /// Every top-level `network-script` and `vif-script` form.
    pub forms: Vec<ScriptForm>,
}

impl XendConfig {
    /// Parses the text of a xend-config.sxp.
    pub fn parse(text: &str) -> Result<XendConfig> {
        parse_named(text, DEFAULT_SOURCE)
    }

    /// Parses a file's bytes; they must be UTF-8.
    pub fn parse_bytes(bytes: &[u8]) -> Result<XendConfig> {
        parse_bytes_named(bytes, DEFAULT_SOURCE)
    }

    /// Reads and parses the file at `path` (usually
    /// `/etc/xen/xend-config.sxp`). Errors name the file.
    pub fn parse_file(path: impl AsRef<Path>) -> Result<XendConfig> {
        let path = path.as_ref();
        let shown = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|e| Error::io(format!("read {shown}"), e))?;
        parse_bytes_named(&bytes, &shown)
    }

    /// The `network-script` forms, in file order.
    pub fn network_scripts(&self) -> impl Iterator<Item = &ScriptForm> {
        self.forms
            .iter()
            .filter(|f| f.kind == ScriptKind::NetworkScript)
    }

    /// The `vif-script` forms, in file order (xend used the first).
    pub fn vif_scripts(&self) -> impl Iterator<Item = &ScriptForm> {
        self.forms
            .iter()
            .filter(|f| f.kind == ScriptKind::VifScript)
    }

    /// The typed arguments of every `network-script` form that runs
    /// `network-bridge`, in file order; forms that run no script are
    /// skipped. A form that runs another script is an error naming its line,
    /// since xenbr would not do what that script does.
    pub fn network_bridges(&self) -> Result<Vec<NetworkBridgeArgs>> {
        let mut out = Vec::new();
        for form in self.network_scripts() {
            if let Some(call) = &form.call {
                let args = call.nb_args().map_err(|r| {
                    Error::invalid(
                        format!("read network-bridge arguments from {DEFAULT_SOURCE}"),
                        format!("line {}: network-script: {r}", form.line),
                    )
                })?;
                out.push(args);
            }
        }
        Ok(out)
    }
}

impl FromStr for XendConfig {
    type Err = Error;
    fn from_str(s: &str) -> Result<XendConfig> {
        XendConfig::parse(s)
    }
}

impl fmt::Display for XendConfig {
    /// One form a line, the words quoted: `(network-script 'network-bridge
    /// bridge=xenbr1')`. The line numbers are not written; parsing the text
    /// numbers the forms 1, 2, ...
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for form in &self.forms {
            let words = form
                .call
                .as_ref()
                .map(|c| c.to_string())
                .unwrap_or_default();
            writeln!(f, "({} {})", form.kind.head(), quote(&words))?;
        }
        Ok(())
    }
}

/// `s` as a single-quoted sxp string.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        if c == '\\' || c == '\'' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('\'');
    out
}

fn parse_bytes_named(bytes: &[u8], source: &str) -> Result<XendConfig> {
    match std::str::from_utf8(bytes) {
        Ok(text) => parse_named(text, source),
        Err(e) => {
            let line = 1 + bytes[..e.valid_up_to()]
                .iter()
                .filter(|&&b| b == b'\n')
                .count();
            Err(Error::invalid(
                format!("parse {source}"),
                format!("line {line}: the file is not valid UTF-8"),
            ))
        }
    }
}

fn parse_named(text: &str, source: &str) -> Result<XendConfig> {
    let bad = |line: usize, r: String| {
        Error::invalid(format!("parse {source}"), format!("line {line}: {r}"))
    };
    let mut forms = Vec::new();
    for node in read_sxp(text).map_err(|(l, r)| bad(l, r))? {
        let Sx::List(items) = node.sx else { continue };
        let Some(kind) = items
            .first()
            .and_then(|h| h.text())
            .and_then(ScriptKind::from_head)
        else {
            continue;
        };
        let mut words: Vec<&str> = Vec::new();
        for item in &items[1..] {
            match item.text() {
                Some(t) => words.extend(t.split(is_space).filter(|w| !w.is_empty())),
                None => {
                    return Err(bad(
                        item.line,
                        format!(
                            "{} takes a script and its arguments, not a list",
                            kind.head()
                        ),
                    ))
                }
            }
        }
        let call = match words.split_first() {
            None => None,
            Some((script, rest)) => {
                let r = check_script(script).and_then(|()| args_from_words(rest));
                let args = r.map_err(|r| bad(node.line, format!("{}: {r}", kind.head())))?;
                Some(ScriptCall {
                    script: script.to_string(),
                    args,
                })
            }
        };
        forms.push(ScriptForm {
            kind,
            call,
            line: node.line,
        });
    }
    Ok(XendConfig { forms })
}

// ---------------------------------------------------------------------------
// the S-expression reader

enum Sx {
    /// An atom or a string: xend does not tell them apart.
    Text(String),
    List(Vec<Node>),
}

struct Node {
    sx: Sx,
    line: usize,
}

impl Node {
    fn text(&self) -> Option<&str> {
        match &self.sx {
            Sx::Text(t) => Some(t),
            Sx::List(_) => None,
        }
    }
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\x0b' | '\x0c' | '\r')
}

type SxResult<T> = std::result::Result<T, (usize, String)>;

/// Reads every top-level value. Errors carry the line they are about.
fn read_sxp(text: &str) -> SxResult<Vec<Node>> {
    let mut top: Vec<Node> = Vec::new();
    // The lists being read: the line of each `(` and the items so far.
    let mut open: Vec<(usize, Vec<Node>)> = Vec::new();
    let mut line = 1usize;
    let mut chars = text.chars().peekable();

    while let Some(c) = chars.next() {
        let node = match c {
            '\n' => {
                line += 1;
                continue;
            }
            c if is_space(c) => continue,
            '#' => {
                while chars.next_if(|&c| c != '\n').is_some() {}
                continue;
            }
            '(' => {
                if open.len() >= MAX_DEPTH {
                    return Err((line, format!("lists nest deeper than {MAX_DEPTH}")));
                }
                open.push((line, Vec::new()));
                continue;
            }
            ')' => match open.pop() {
                Some((at, items)) => Node {
                    sx: Sx::List(items),
                    line: at,
                },
                None => return Err((line, "')' has no matching '('".into())),
            },
            '\'' | '"' => {
                let at = line;
                let s = read_string(c, &mut chars, &mut line)?;
                Node {
                    sx: Sx::Text(s),
                    line: at,
                }
            }
            c if c.is_control() => {
                return Err((
                    line,
                    format!("invalid character U+{:04X} outside a string", u32::from(c)),
                ))
            }
            c => {
                let mut s = String::from(c);
                while let Some(c) =
                    chars.next_if(|&c| !is_space(c) && !matches!(c, '(' | ')' | '#'))
                {
                    if c.is_control() {
                        return Err((
                            line,
                            format!("invalid character U+{:04X} outside a string", u32::from(c)),
                        ));
                    }
                    s.push(c);
                }
                Node {
                    sx: Sx::Text(s),
                    line,
                }
            }
        };
        match open.last_mut() {
            Some((_, items)) => items.push(node),
            None => top.push(node),
        }
    }
    if let Some((at, _)) = open.last() {
        return Err((*at, "'(' is never closed".into()));
    }
    Ok(top)
}

/// Reads a string after its opening `quote`, up to the matching one.
fn read_string(
    quote: char,
    chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
    line: &mut usize,
) -> SxResult<String> {
    let start = *line;
    let unterminated = || {
        (
            start,
            format!("the string opened with {quote} is never closed"),
        )
    };
    let mut s = String::new();
    loop {
        let c = chars.next().ok_or_else(unterminated)?;
        if c == '\n' {
            *line += 1;
        }
        if c == quote {
            return Ok(s);
        }
        if c != '\\' {
            s.push(c);
            continue;
        }
        let e = chars.next().ok_or_else(unterminated)?;
        match e {
            'a' => s.push('\x07'),
            'b' => s.push('\x08'),
            't' => s.push('\t'),
            'n' => s.push('\n'),
            'v' => s.push('\x0b'),
            'f' => s.push('\x0c'),
            'r' => s.push('\r'),
            '\\' | '\'' | '"' => s.push(e),
            'x' => {
                let mut v = 0u32;
                let mut n = 0;
                while n < 2 {
                    match chars.next_if(char::is_ascii_hexdigit) {
                        Some(d) => v = v * 16 + d.to_digit(16).unwrap_or(0),
                        None => break,
                    }
                    n += 1;
                }
                if n == 0 {
                    return Err((*line, "\\x is not followed by a hexadecimal digit".into()));
                }
                s.push(char::from(v as u8));
            }
            '0'..='7' => {
                let mut v = e.to_digit(8).unwrap_or(0);
                let mut n = 1;
                while n < 3 {
                    match chars.next_if(|c| matches!(c, '0'..='7')) {
                        Some(d) => v = v * 8 + d.to_digit(8).unwrap_or(0),
                        None => break,
                    }
                    n += 1;
                }
                if v > 0xff {
                    return Err((*line, format!("octal escape \\{v:o} is above \\377")));
                }
                s.push(char::from(v as u8));
            }
            other => {
                if other == '\n' {
                    *line += 1;
                }
                s.push('\\');
                s.push(other);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn err(text: &str) -> String {
        XendConfig::parse(text).unwrap_err().to_string()
    }

    fn call(words: &str) -> ScriptCall {
        let mut w = words.split(' ');
        let script = w.next().unwrap();
        ScriptCall::new(script, parse_script_args(w).unwrap()).unwrap()
    }

    /// The bridged-networking part of Xen 3's example file, with its
    /// neighbours.
    const XEN3_EXAMPLE: &str = r#"# -*- sh -*-
#(logfile /var/log/xen/xend.log)
(xend-relocation-server yes)
(xend-relocation-hosts-allow '^localhost$ ^localhost\\.localdomain$')
#(xen-api-server ((9363 '^localhost$ example\\.com$')))
##
# (network-script 'network-bridge netdev=eth1')
(network-script network-bridge)
(vif-script vif-bridge)
#(network-script network-route)
(dom0-min-mem 196)
(vncpasswd '')
"#;

    #[test]
    fn xen3_example_file() {
        let c = XendConfig::parse(XEN3_EXAMPLE).unwrap();
        assert_eq!(c.forms.len(), 2);
        assert_eq!(c.forms[0].kind, ScriptKind::NetworkScript);
        assert_eq!(c.forms[0].line, 8);
        assert_eq!(c.forms[0].call.as_ref().unwrap().script(), "network-bridge");
        assert!(c.forms[0].call.as_ref().unwrap().args().is_empty());
        assert_eq!(c.forms[1].kind, ScriptKind::VifScript);
        assert_eq!(c.forms[1].call.as_ref().unwrap().to_string(), "vif-bridge");
        assert_eq!(
            c.network_bridges().unwrap(),
            vec![NetworkBridgeArgs::default()]
        );
    }

    #[test]
    fn quoted_unquoted_and_wrapper_forms() {
        let text = "(network-script 'network-bridge bridge=xenbr1 netdev=eth1')\n\
                    (network-script \"network-bridge netdev=eth0 bridge=xenbr0 antispoof=yes\")\n\
                    (network-script /etc/xen/scripts/network-bridge bridge=null)\n\
                    (network-script network-bridge 'vifnum=2'  \"netdev=eth2\")\n\
                    (vif-script 'vif-bridge bridge=xenbr1') # a comment\n";
        let c: XendConfig = text.parse().unwrap();
        assert_eq!(c.forms.len(), 5);
        assert_eq!(
            c.forms.iter().map(|f| f.line).collect::<Vec<_>>(),
            vec![1, 2, 3, 4, 5]
        );
        let nb = c.network_bridges().unwrap();
        assert_eq!(nb.len(), 4);
        assert_eq!(nb[0].to_string(), "bridge=xenbr1 netdev=eth1");
        assert_eq!(
            nb[1],
            NetworkBridgeArgs {
                bridge: Some(BridgeArg::Named(IfName::new("xenbr0").unwrap())),
                netdev: Some(IfName::new("eth0").unwrap()),
                antispoof: Some(true),
                vifnum: None,
            }
        );
        assert_eq!(nb[2].bridge, Some(BridgeArg::Null));
        assert_eq!(
            c.forms[2].call.as_ref().unwrap().script_name(),
            "network-bridge"
        );
        assert_eq!(nb[3].vifnum, Some(2));
        assert_eq!(nb[3].netdev.as_ref().unwrap(), "eth2");
        let vif = c.vif_scripts().next().unwrap().call.as_ref().unwrap();
        assert_eq!(vif.args()[0].key(), "bridge");
        assert_eq!(vif.args()[0].value(), "xenbr1");
    }

    #[test]
    fn disabled_forms_and_other_scripts() {
        let c =
            XendConfig::parse("(network-script '')\n(network-script)\n(vif-script \"\")").unwrap();
        assert!(c.forms.iter().all(|f| f.call.is_none()));
        assert!(c.network_bridges().unwrap().is_empty());
        assert_eq!(
            c.to_string(),
            "(network-script '')\n(network-script '')\n(vif-script '')\n"
        );

        let c = XendConfig::parse("\n(network-script 'network-route netdev=eth0')").unwrap();
        assert_eq!(c.forms[0].call.as_ref().unwrap().script(), "network-route");
        let e = c.network_bridges().unwrap_err().to_string();
        assert!(e.contains("line 2"), "{e}");
        assert!(e.contains("not network-bridge"), "{e}");
    }

    #[test]
    fn nested_and_other_forms_are_skipped() {
        let text = "(xend-config (network-script bogus) (a (b (c 'd\\'e'))))\n\
                    ; atom-at-top \"string at top\"\n\
                    (network-script network-bridge)";
        let c = XendConfig::parse(text).unwrap();
        assert_eq!(c.forms.len(), 1);
        assert_eq!(c.forms[0].line, 3);
    }

    #[test]
    fn string_escapes() {
        let c =
            XendConfig::parse(r#"(vif-script 'vif-bridge bridge=a\'b\\c\x41\101\.\"d')"#).unwrap();
        let call = c.forms[0].call.as_ref().unwrap();
        assert_eq!(call.args()[0].value(), r#"a'b\cAA\."d"#);
        // A newline escape splits words, as a real newline would.
        let c = XendConfig::parse(r"(vif-script 'vif-bridge\nbridge=xenbr0')").unwrap();
        assert_eq!(c.forms[0].call.as_ref().unwrap().args().len(), 1);
        assert!(err(r"(x '\x')").contains("hexadecimal"));
        assert!(err(r"(x '\400')").contains("above"));
    }

    #[test]
    fn unbalanced_parens_name_the_line() {
        let e = err("(a b)\n\n(network-script network-bridge\n(vif-script vif-bridge)\n");
        assert_eq!(e, "parse xend-config.sxp: line 3: '(' is never closed");
        let e = err("(a b)\n# (\n(c))\n");
        assert_eq!(e, "parse xend-config.sxp: line 3: ')' has no matching '('");
        let e = err("(a\n  (b\n    (c)\n");
        assert!(e.contains("line 2:"), "{e}");
    }

    #[test]
    fn unterminated_quotes_name_the_line() {
        let e = err("(a 'b)\n(c d)\n");
        assert_eq!(
            e,
            "parse xend-config.sxp: line 1: the string opened with ' is never closed"
        );
        let e = err("\n(a \"b\n c\\\")");
        assert!(e.contains("line 2:"), "{e}");
        assert!(err("(a 'b\\").contains("never closed"));
    }

    #[test]
    fn other_syntax_errors() {
        assert!(err("(a \u{1}b)").contains("U+0001"));
        let deep = "(".repeat(300) + &")".repeat(300);
        assert!(err(&deep).contains("nest deeper than 256"));
        let ok = "(".repeat(256) + &")".repeat(256);
        assert!(XendConfig::parse(&ok).unwrap().forms.is_empty());
        let e = XendConfig::parse_bytes(b"(a)\n(b \xff)")
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "parse xend-config.sxp: line 2: the file is not valid UTF-8"
        );
    }

    #[test]
    fn bad_script_forms() {
        let e = err("(a)\n(network-script (network-bridge))");
        assert!(e.contains("line 2: network-script takes a script"), "{e}");
        let e = err("(network-script 'network-bridge eth1')");
        assert!(e.contains("\"eth1\" is not key=value"), "{e}");
        let e = err("(network-script 'bridge=xenbr0')");
        assert!(e.contains("first word must name the script"), "{e}");
        let e = err("(network-script 'network-bridge bridge=a bridge=b')");
        assert!(e.contains("\"bridge\" is given twice"), "{e}");
        let e = err("(network-script 'network-bridge 1x=2')");
        assert!(e.contains("not a variable name"), "{e}");
        let e = err("(network-script 'network-bridge bridge=')");
        assert!(e.contains("empty value"), "{e}");
    }

    #[test]
    fn network_bridge_arguments() {
        let words = |s: &str| NetworkBridgeArgs::parse_words(s.split_whitespace());
        assert_eq!(words("").unwrap(), NetworkBridgeArgs::default());
        let a = words("netdev=enp1s0 bridge=xenbr1 antispoof=no vifnum=0").unwrap();
        assert_eq!(
            a.to_string(),
            "bridge=xenbr1 netdev=enp1s0 antispoof=no vifnum=0"
        );
        let e = words("bridge=xenbr1 bridgeip=192.0.2.1")
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown key \"bridgeip\""), "{e}");
        assert!(e.contains("bridge, netdev, antispoof, vifnum"), "{e}");
        let e = words("netdev=enx001122334455x").unwrap_err().to_string();
        assert!(e.contains("16 bytes long"), "{e}");
        assert!(words("antispoof=1")
            .unwrap_err()
            .to_string()
            .contains("yes or no"));
        assert!(words("vifnum=-1")
            .unwrap_err()
            .to_string()
            .contains("number"));
        assert!(words("vifnum=4294967296")
            .unwrap_err()
            .to_string()
            .contains("number"));
        assert!(words("start")
            .unwrap_err()
            .to_string()
            .contains("not key=value"));
        let e = call("network-route netdev=eth0")
            .network_bridge_args()
            .unwrap_err()
            .to_string();
        assert!(e.contains("not network-bridge"), "{e}");
        assert!(ScriptCall::new("a b", vec![]).is_err());
        assert!(ScriptArg::new("bridge", "a b").is_err());
        assert_eq!("k=v=w".parse::<ScriptArg>().unwrap().value(), "v=w");
    }

    #[test]
    fn parse_file_names_the_file() {
        let dir = std::env::temp_dir().join(format!("xenbr-xend-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("xend-config.sxp");
        std::fs::write(
            &p,
            "(network-script 'network-bridge bridge=xenbr1')\n(oops\n",
        )
        .unwrap();
        let e = XendConfig::parse_file(&p).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("parse {}: line 2: '(' is never closed", p.display())
        );
        std::fs::write(&p, XEN3_EXAMPLE).unwrap();
        assert_eq!(XendConfig::parse_file(&p).unwrap().forms.len(), 2);
        let missing = XendConfig::parse_file(dir.join("nope")).unwrap_err();
        assert_eq!(missing.kind(), crate::ErrorKind::NotFound);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    // --- property tests ---

    fn ifname() -> impl Strategy<Value = IfName> {
        "[A-Za-z0-9_.@+-]{1,15}"
            .prop_filter("not . or ..", |s| s != "." && s != ".." && s != "null")
            .prop_map(|s| IfName::new(&s).unwrap())
    }

    prop_compose! {
        fn nb_args()(
            bridge in proptest::option::of(prop_oneof![
                1 => Just(BridgeArg::Null),
                4 => ifname().prop_map(BridgeArg::Named),
            ]),
            netdev in proptest::option::of(ifname()),
            antispoof in proptest::option::of(any::<bool>()),
            vifnum in proptest::option::of(any::<u32>()),
        ) -> NetworkBridgeArgs {
            NetworkBridgeArgs { bridge, netdev, antispoof, vifnum }
        }
    }

    /// Values with the characters that need care in an sxp string.
    fn value() -> impl Strategy<Value = String> {
        "[A-Za-z0-9_./:=@'\"\\\\#()é€-]{1,12}"
    }

    fn script_call() -> impl Strategy<Value = ScriptCall> {
        let script = "[A-Za-z0-9_./'\"\\\\#()-]{1,20}";
        let args = proptest::collection::btree_map("[A-Za-z_][A-Za-z0-9_]{0,8}", value(), 0..5);
        (script, args).prop_map(|(s, args)| {
            let args = args
                .iter()
                .map(|(k, v)| ScriptArg::new(k, v).unwrap())
                .collect();
            ScriptCall::new(&s, args).unwrap()
        })
    }

    fn script_form() -> impl Strategy<Value = (ScriptKind, Option<ScriptCall>)> {
        (
            prop_oneof![Just(ScriptKind::NetworkScript), Just(ScriptKind::VifScript)],
            proptest::option::weighted(0.9, script_call()),
        )
    }

    /// Syntactically valid sxp that is not a script form, on one line.
    fn noise() -> impl Strategy<Value = String> {
        let leaf = prop_oneof![
            "[a-z0-9.:/@-]{1,8}".prop_filter("not a script head", |s| {
                s != "network-script" && s != "vif-script"
            }),
            "[ a-z'\"\\\\()#]{0,8}".prop_map(|s| {
                let mut out = String::from("\"");
                for c in s.chars() {
                    if c == '"' || c == '\\' {
                        out.push('\\');
                    }
                    out.push(c);
                }
                out.push('"');
                out
            }),
        ];
        leaf.prop_recursive(4, 24, 5, |inner| {
            proptest::collection::vec(inner, 0..5).prop_map(|v| format!("({})", v.join(" ")))
        })
        .prop_map(|s| format!("(x-other {s})"))
    }

    proptest! {
        #[test]
        fn config_round_trips(forms in proptest::collection::vec(script_form(), 0..6)) {
            let c = XendConfig {
                forms: forms
                    .into_iter()
                    .enumerate()
                    .map(|(i, (kind, call))| ScriptForm { kind, call, line: i + 1 })
                    .collect(),
            };
            let text = c.to_string();
            let back = XendConfig::parse(&text);
            prop_assert!(back.is_ok(), "{}: {}", text, back.unwrap_err());
            prop_assert_eq!(back.unwrap(), c);
        }

        #[test]
        fn forms_survive_comments_and_other_forms(
            forms in proptest::collection::vec((script_form(), proptest::collection::vec(noise(), 0..3)), 0..5),
            comment in "[^\n]{0,30}",
        ) {
            let mut text = String::new();
            let mut expected = Vec::new();
            let mut line = 1;
            for ((kind, call), noise) in forms {
                for n in noise {
                    text.push_str(&format!("{n} # {comment}\n"));
                    line += 1;
                }
                text.push_str(&format!("# {comment}\n"));
                line += 1;
                let form = ScriptForm { kind, call, line };
                let one = XendConfig { forms: vec![form.clone()] }.to_string();
                text.push_str(&one);
                line += 1;
                expected.push(form);
            }
            let back = XendConfig::parse(&text);
            prop_assert!(back.is_ok(), "{}: {}", text, back.unwrap_err());
            prop_assert_eq!(back.unwrap().forms, expected);
        }

        #[test]
        fn network_bridge_args_round_trip(a in nb_args()) {
            let text = a.to_string();
            prop_assert_eq!(NetworkBridgeArgs::parse_words(text.split_whitespace()).unwrap(), a.clone());
            let c = XendConfig {
                forms: vec![ScriptForm {
                    kind: ScriptKind::NetworkScript,
                    call: Some(ScriptCall::new("network-bridge", a.to_args()).unwrap()),
                    line: 1,
                }],
            };
            let back = XendConfig::parse(&c.to_string()).unwrap();
            prop_assert_eq!(back.network_bridges().unwrap(), vec![a.clone()]);
            let j = serde_json::to_string(&a).unwrap();
            prop_assert_eq!(serde_json::from_str::<NetworkBridgeArgs>(&j).unwrap(), a);
        }

        #[test]
        fn random_strings_never_panic(s in "\\PC{0,120}") {
            match XendConfig::parse(&s) {
                Ok(c) => prop_assert_eq!(XendConfig::parse(&c.to_string()).unwrap().forms.len(), c.forms.len()),
                Err(e) => prop_assert!(e.to_string().contains("line "), "{}", e),
            }
            let _ = parse_script_args(s.split_whitespace());
            let _ = NetworkBridgeArgs::parse_words(s.split(' '));
        }

        #[test]
        fn sxp_like_strings_never_panic(s in "[()'\"\\\\# \nax=-]{0,60}|(\\(network-script [()'\"\\\\# \na-z=]{0,30}\\)\n?){1,3}") {
            match XendConfig::parse(&s) {
                Ok(c) => prop_assert_eq!(XendConfig::parse(&c.to_string()).unwrap().forms.len(), c.forms.len()),
                Err(e) => prop_assert!(e.to_string().contains("line "), "{}", e),
            }
        }

        #[test]
        fn random_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..120)) {
            if let Err(e) = XendConfig::parse_bytes(&b) {
                prop_assert!(e.to_string().contains("line "), "{}", e);
            }
        }

        #[test]
        fn truncated_configs_never_panic(forms in proptest::collection::vec(script_form(), 1..4), cut in any::<prop::sample::Index>()) {
            let c = XendConfig {
                forms: forms.into_iter().map(|(kind, call)| ScriptForm { kind, call, line: 1 }).collect(),
            };
            let text = c.to_string();
            let chars: Vec<char> = text.chars().collect();
            let cut = cut.index(chars.len());
            let partial: String = chars[..cut].iter().collect();
            let _ = XendConfig::parse(&partial);
        }
    }
}
