//! What `start` set up, kept in `records.json` in the state directory so that
//! `stop` knows the layout and `vif online` knows the host's bridge. Written
//! only at the end of a transaction, atomically, and put back by rollback and
//! recovery.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::names::IfName;

/// The two layouts Xen's `network-bridge` has made over the years.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Xen 3.0/3.1: a veth pair carries dom0's identity; the NIC becomes
    /// `peth0` on bridge `xenbr0` with `vif0.0`.
    #[default]
    Classic,
    /// Xen 3.2 to 4.4: the bridge takes the NIC's name and addresses; the NIC
    /// becomes `p<netdev>`, a port of it.
    Bridge,
}

impl std::str::FromStr for Mode {
    type Err = Error;
    fn from_str(s: &str) -> Result<Mode> {
        match s {
            "classic" => Ok(Mode::Classic),
            "bridge" => Ok(Mode::Bridge),
            _ => Err(Error::invalid(
                "parse mode",
                format!("{s:?} is not `classic` or `bridge`"),
            )),
        }
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Mode::Classic => "classic",
            Mode::Bridge => "bridge",
        })
    }
}

/// One NIC taken over by `start`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Takeover {
    /// The layout.
    pub mode: Mode,
    /// The bridge.
    pub bridge: IfName,
    /// The name dom0's traffic uses: the NIC's name before the takeover (in
    /// classic mode the veth end carries it afterwards).
    pub netdev: IfName,
    /// The NIC's name while taken over (`peth0`).
    pub physical: IfName,
    /// Classic mode: the veth end that became `netdev`, by its name at creation (`veth0`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub veth: Option<IfName>,
    /// Classic mode: the veth end on the bridge (`vif0.0`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vif0: Option<IfName>,
}

impl Takeover {
    /// The link that carries dom0's addresses while taken over.
    pub fn carrier(&self) -> &IfName {
        match self.mode {
            Mode::Classic => &self.netdev,
            Mode::Bridge => &self.bridge,
        }
    }

    /// The bridge ports that belong to the takeover itself (not guests).
    pub fn own_ports(&self) -> Vec<&IfName> {
        std::iter::once(&self.physical)
            .chain(self.vif0.as_ref())
            .collect()
    }
}

/// Everything xenbr has set up on this host.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Records {
    /// The NICs taken over, in the order they were.
    #[serde(default)]
    pub takeovers: Vec<Takeover>,
}

impl Records {
    /// Parses the records file's content (`None`: no file, no records).
    pub fn parse(content: Option<&str>) -> Result<Records> {
        match content {
            None => Ok(Records::default()),
            Some(c) => serde_json::from_str(c).map_err(|e| {
                Error::invalid(
                    "read records.json",
                    format!("it is not valid ({e}); fix or remove it, then run xenbr again"),
                )
            }),
        }
    }

    /// The file content for these records (`None` when there are none).
    pub fn to_content(&self) -> Option<String> {
        (!self.takeovers.is_empty())
            .then(|| serde_json::to_string_pretty(self).expect("records serialise") + "\n")
    }

    /// The takeover whose bridge is `bridge`.
    pub fn by_bridge(&self, bridge: &IfName) -> Option<&Takeover> {
        self.takeovers.iter().find(|t| &t.bridge == bridge)
    }
}
