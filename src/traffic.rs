//! The vocabulary of a traffic split, shared by the engine, the routers, the
//! reports and the demo's sandbox: how much goes to the new version, and
//! which version's servers are meant.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Share of traffic on the new version, in percent (0–100).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub struct Weight(u8);

impl Weight {
    pub const ZERO: Weight = Weight(0);
    pub const FULL: Weight = Weight(100);

    pub fn new(percent: u8) -> Option<Self> {
        (percent <= 100).then_some(Self(percent))
    }

    /// For values already validated to lie in 0–100.
    pub(crate) fn clamped(percent: i64) -> Self {
        Self(percent.clamp(0, 100) as u8)
    }

    pub fn percent(self) -> u8 {
        self.0
    }
}

impl TryFrom<u8> for Weight {
    type Error = String;
    fn try_from(percent: u8) -> Result<Self, Self::Error> {
        Self::new(percent).ok_or_else(|| format!("weight {percent} is above 100"))
    }
}

impl From<Weight> for u8 {
    fn from(weight: Weight) -> u8 {
        weight.0
    }
}

impl fmt::Display for Weight {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}%", self.0)
    }
}

/// The servers of one version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Stable,
    New,
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Stable => "stable",
            Side::New => "new",
        })
    }
}

/// What a router can do with traffic besides setting a weight. Each router
/// states its own (`RouterSpec::capabilities`); the plan is compiled from them,
/// so the engine never asks which router it drives.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Capabilities {
    /// Takes a version's servers out of rotation before it is removed and
    /// counts their open sessions; `None` when the router cannot, or the spec
    /// turned it off.
    pub drain: Option<Drain>,
}

/// How long open sessions get to finish, and how often to count them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Drain {
    pub timeout: std::time::Duration,
    pub interval: std::time::Duration,
}

/// One running instance of a version (a Marathon task): what an
/// instance-by-instance migration takes out of the load balancer, drains and
/// kills, and what a drain gate's query sees as `task`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    pub id: String,
    pub host: String,
    /// The first port it listens on, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
}
