//! `HaproxyRouter`: the `Router` over one HAProxy backend's stable and new servers.

use super::address::RuntimeApiAddress;
use super::client::RuntimeApi;
use super::config::HaproxyConfig;
use super::servers_state::{self, ServerState};
use super::spec::HaproxyRouterSpec;
use super::{split, stat};
use crate::provider::ProviderError;
use crate::router::{Router, Side, Weight};

/// The administrative states `set server <b>/<s> state` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerAdminState {
    Ready,
    Drain,
    Maint,
}

impl ServerAdminState {
    fn keyword(self) -> &'static str {
        match self {
            ServerAdminState::Ready => "ready",
            ServerAdminState::Drain => "drain",
            ServerAdminState::Maint => "maint",
        }
    }
}

#[derive(Debug, Clone)]
pub struct HaproxyRouter {
    config: HaproxyConfig,
    api: RuntimeApi,
}

impl HaproxyRouter {
    pub fn new(config: HaproxyConfig) -> Result<Self, ProviderError> {
        config.validate()?;
        let api = RuntimeApi::new(config.socket.clone(), config.timeout);
        Ok(Self { config, api })
    }

    /// The router a validated `router: haproxy` section describes.
    pub fn from_spec(spec: &HaproxyRouterSpec) -> Result<Self, ProviderError> {
        let socket: RuntimeApiAddress = spec.socket.parse().map_err(|error| {
            ProviderError::new(format!("{error}"))
                .with_hint("the address of a `stats socket ... level admin` line of haproxy.cfg")
        })?;
        Self::new(HaproxyConfig {
            socket,
            backend: spec.backend.clone(),
            stable_servers: spec.stable_servers.clone(),
            new_servers: spec.new_servers.clone(),
            weight_per_side: spec.weight_per_side,
            timeout: spec.timeout.get(),
        })
    }

    pub fn config(&self) -> &HaproxyConfig {
        &self.config
    }

    fn side(&self, side: Side) -> &[String] {
        match side {
            Side::Stable => &self.config.stable_servers,
            Side::New => &self.config.new_servers,
        }
    }

    /// Every server of the backend as HAProxy reports it (`show servers state <backend>`).
    pub async fn servers(&self) -> Result<Vec<ServerState>, ProviderError> {
        let command = format!("show servers state {}", self.config.backend);
        let reply = self.api.command(&command).await?;
        if !reply.starts_with('1') {
            return Err(self.refused(&command, &reply));
        }
        servers_state::parse(&reply).map_err(|e| {
            ProviderError::new(format!(
                "cannot read `{command}` from HAProxy at {}: {e}",
                self.api.address()
            ))
        })
    }

    /// The backend's servers, after checking that every configured server is there.
    async fn checked_servers(&self) -> Result<Vec<ServerState>, ProviderError> {
        let servers = self.servers().await?;
        let missing: Vec<&str> = self
            .configured()
            .map(|(name, _)| name)
            .filter(|name| !servers.iter().any(|s| s.name == *name))
            .collect();
        if missing.is_empty() {
            return Ok(servers);
        }
        let present: Vec<&str> = servers.iter().map(|s| s.name.as_str()).collect();
        Err(ProviderError::new(format!(
            "haproxy backend {} at {} has no server {}",
            self.config.backend,
            self.api.address(),
            missing.join(", ")
        ))
        .with_hint(format!(
            "the backend's servers are: {}",
            if present.is_empty() {
                "(none)".to_owned()
            } else {
                present.join(", ")
            }
        )))
    }

    /// Configured servers with true for the new side, new servers first.
    fn configured(&self) -> impl Iterator<Item = (&str, bool)> {
        let new = self.config.new_servers.iter().map(|s| (s.as_str(), true));
        let stable = self
            .config
            .stable_servers
            .iter()
            .map(|s| (s.as_str(), false));
        new.chain(stable)
    }

    /// Target weight per server for `weight`, new servers first, in configuration order.
    fn targets(&self, weight: Weight) -> Vec<(&str, u16)> {
        let split = split::weights(
            weight.percent(),
            self.config.weight_per_side,
            self.config.stable_servers.len(),
            self.config.new_servers.len(),
        );
        let new = self
            .config
            .new_servers
            .iter()
            .map(String::as_str)
            .zip(split.new);
        let stable = self
            .config
            .stable_servers
            .iter()
            .map(String::as_str)
            .zip(split.stable);
        new.chain(stable).collect()
    }

    fn weight_command(&self, server: &str, weight: u16) -> String {
        format!(
            "set server {}/{server} weight {weight}",
            self.config.backend
        )
    }

    /// The traffic share of the new servers given the backend's state. Servers of the backend
    /// that are in neither list still take their share of the traffic, so they count in the
    /// total.
    fn share(&self, servers: &[ServerState]) -> Result<Weight, ProviderError> {
        let new_total: u32 = servers
            .iter()
            .filter(|s| self.config.new_servers.contains(&s.name))
            .map(|s| u32::from(s.effective_weight()))
            .sum();
        let all_total: u32 = servers
            .iter()
            .map(|s| u32::from(s.effective_weight()))
            .sum();
        split::percent(new_total, all_total - new_total)
            .and_then(Weight::new)
            .ok_or_else(|| {
                ProviderError::new(format!(
                    "no server of haproxy backend {} at {} takes traffic: {}",
                    self.config.backend,
                    self.api.address(),
                    describe_servers(servers)
                ))
                .with_hint("every server has weight 0 or is down, draining or in maintenance")
            })
    }

    fn stat_command(&self) -> String {
        format!("show stat {} 4 -1", self.config.backend)
    }

    /// The sessions each server of the backend holds right now (`scur` of `show stat`).
    async fn all_sessions(&self) -> Result<Vec<(String, u64)>, ProviderError> {
        let command = self.stat_command();
        let reply = self.api.command(&command).await?;
        if !reply.starts_with("# ") {
            return Err(self.refused(&command, &reply));
        }
        stat::current_sessions(&reply).map_err(|e| {
            ProviderError::new(format!(
                "cannot read `{command}` from HAProxy at {}: {e}",
                self.api.address()
            ))
        })
    }

    /// The sessions `server` holds right now.
    pub async fn current_sessions(&self, server: &str) -> Result<u64, ProviderError> {
        self.all_sessions()
            .await?
            .into_iter()
            .find(|(name, _)| name == server)
            .map(|(_, n)| n)
            .ok_or_else(|| self.no_such_server(server))
    }

    fn no_such_server(&self, server: &str) -> ProviderError {
        ProviderError::new(format!(
            "haproxy backend {} at {} has no server {server}",
            self.config.backend,
            self.api.address()
        ))
    }

    fn state_command(&self, server: &str, state: ServerAdminState) -> String {
        format!(
            "set server {}/{server} state {}",
            self.config.backend,
            state.keyword()
        )
    }

    /// Sends `commands` in one exchange; any reply is HAProxy's refusal.
    async fn apply(&self, commands: &[String]) -> Result<(), ProviderError> {
        let replies = self.api.commands(commands).await?;
        let refusals: Vec<String> = commands
            .iter()
            .zip(&replies)
            .filter(|(_, reply)| !reply.is_empty())
            .map(|(command, reply)| format!("`{command}`: {:?}", reply.trim()))
            .collect();
        if refusals.is_empty() {
            return Ok(());
        }
        let error = ProviderError::new(format!(
            "HAProxy at {} refused {}",
            self.api.address(),
            refusals.join("; ")
        ));
        let hint = replies.iter().find_map(|reply| self.hint_for(reply));
        Err(match hint {
            Some(hint) => error.with_hint(hint),
            None => error,
        })
    }

    /// `set server <backend>/<server> state ready|drain|maint`.
    pub async fn set_state(
        &self,
        server: &str,
        state: ServerAdminState,
    ) -> Result<(), ProviderError> {
        let command = self.state_command(server, state);
        let reply = self.api.command(&command).await?;
        if reply.is_empty() {
            Ok(())
        } else {
            Err(self.refused(&command, &reply))
        }
    }

    fn refused(&self, command: &str, reply: &str) -> ProviderError {
        let error = ProviderError::new(format!(
            "HAProxy at {} refused `{command}`: {:?}",
            self.api.address(),
            reply.trim()
        ));
        match self.hint_for(reply) {
            Some(hint) => error.with_hint(hint),
            None => error,
        }
    }

    /// What to do about a refusal HAProxy words this way, when we know.
    fn hint_for(&self, reply: &str) -> Option<String> {
        if reply.contains("Permission denied") {
            Some(format!(
                "the socket must allow admin commands: `{}`",
                self.api.address().stats_socket_line()
            ))
        } else if reply.contains("static LB algorithm") {
            Some("use a dynamic algorithm such as `balance roundrobin` in the backend".to_owned())
        } else {
            None
        }
    }
}

/// Orders weight changes so that weights going up come before weights going down (stable
/// sort: configuration order otherwise). Then the backend's total weight never drops to 0 on
/// the way (from 100% to 0% new, lowering first would leave no server to send traffic to), and
/// the share in between stays between the old and the target percentage.
fn raise_first(targets: &mut [(&str, u16)], current: impl Fn(&str) -> u16) {
    targets.sort_by_key(|(server, w)| *w <= current(server));
}

fn describe_servers(servers: &[ServerState]) -> String {
    if servers.is_empty() {
        return "the backend has no servers".to_owned();
    }
    servers
        .iter()
        .map(|s| match s.why_out_of_rotation() {
            Some(why) => format!("{} weight {} ({why})", s.name, s.weight),
            None => format!("{} weight {}", s.name, s.weight),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[async_trait::async_trait]
impl Router for HaproxyRouter {
    fn describe(&self) -> String {
        format!(
            "haproxy backend {} at {} (stable: {}; new: {})",
            self.config.backend,
            self.api.address(),
            self.config.stable_servers.join(", "),
            self.config.new_servers.join(", ")
        )
    }

    /// One `set server` command per server, new servers first. `set_weight` sends exactly these
    /// commands, but reorders them so weights that go up are applied before weights that go
    /// down (see there).
    fn plan(&self, weight: Weight) -> Vec<String> {
        self.targets(weight)
            .into_iter()
            .map(|(server, w)| self.weight_command(server, w))
            .collect()
    }

    /// The socket answers, the backend exists and has every configured server.
    async fn preflight(&self) -> Result<(), ProviderError> {
        self.checked_servers().await.map(drop)
    }

    fn plan_drain(&self, side: Side) -> Vec<String> {
        let servers = self.side(side);
        servers
            .iter()
            .map(|server| self.state_command(server, ServerAdminState::Drain))
            .chain([format!(
                "`{}` until scur of {} is 0",
                self.stat_command(),
                servers.join(", ")
            )])
            .collect()
    }

    /// `state drain` on every server of `side` (no new sessions; open ones go on), then the
    /// sessions they still hold, summed.
    async fn drain(&self, side: Side) -> Result<Option<u64>, ProviderError> {
        let servers = self.side(side);
        let commands: Vec<String> = servers
            .iter()
            .map(|server| self.state_command(server, ServerAdminState::Drain))
            .collect();
        self.apply(&commands).await?;
        let sessions = self.all_sessions().await?;
        let mut open = 0;
        for server in servers {
            let (_, count) = sessions
                .iter()
                .find(|(name, _)| name == server)
                .ok_or_else(|| self.no_such_server(server))?;
            open += count;
        }
        Ok(Some(open))
    }

    /// The share of new traffic HAProxy applies now, from the weights in effect: a server that
    /// is down, draining or in maintenance counts as weight 0. Rounded half up to a whole
    /// percent (see `split`), so it equals what `set_weight` set.
    async fn weight(&self) -> Result<Weight, ProviderError> {
        let servers = self.checked_servers().await?;
        self.share(&servers)
    }

    async fn set_weight(&self, weight: Weight) -> Result<(), ProviderError> {
        let servers = self.checked_servers().await?;
        let current = |name: &str| {
            servers
                .iter()
                .find(|s| s.name == name)
                .map_or(0, |s| s.weight)
        };
        let mut targets = self.targets(weight);
        raise_first(&mut targets, current);
        // A server an earlier rollout drained comes back once it gets weight again;
        // maintenance set by someone else is left alone (and fails the check below).
        let undrain = targets.iter().filter(|(server, w)| {
            *w > 0
                && servers
                    .iter()
                    .any(|s| s.name == *server && s.draining() && !s.in_maintenance())
        });
        let commands: Vec<String> = undrain
            .map(|(server, _)| self.state_command(server, ServerAdminState::Ready))
            .chain(
                targets
                    .iter()
                    .map(|(server, w)| self.weight_command(server, *w)),
            )
            .collect();
        tracing::info!(router = %self.describe(), %weight, ?commands, "setting weights");
        self.apply(&commands).await?;
        // Verify: the weights alone don't send traffic to a server that is down or drained.
        let after = self.checked_servers().await?;
        let now = self.share(&after)?;
        if now != weight {
            return Err(ProviderError::new(format!(
                "haproxy backend {} at {} sends {now} of new traffic to the new servers after setting {weight}: {}",
                self.config.backend,
                self.api.address(),
                describe_servers(&after)
            ))
            .with_hint(
                "a server that is down, draining or in maintenance takes no traffic whatever its weight, and servers of the backend that are in neither list take their share",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::router::haproxy::RuntimeApiAddress;

    fn router(stable: &[&str], new: &[&str]) -> HaproxyRouter {
        HaproxyRouter::new(HaproxyConfig::new(
            RuntimeApiAddress::Unix("/run/haproxy.sock".into()),
            "app",
            stable.iter().map(|s| s.to_string()).collect(),
            new.iter().map(|s| s.to_string()).collect(),
        ))
        .unwrap()
    }

    #[test]
    fn plan_lists_every_server_new_first() {
        let r = router(&["blue1", "blue2"], &["green1"]);
        assert_eq!(
            r.plan(Weight::new(10).unwrap()),
            vec![
                "set server app/green1 weight 26",
                "set server app/blue1 weight 115",
                "set server app/blue2 weight 115",
            ]
        );
        assert_eq!(
            r.describe(),
            "haproxy backend app at /run/haproxy.sock (stable: blue1, blue2; new: green1)"
        );
    }

    #[test]
    fn weights_go_up_before_weights_go_down() {
        let current = |name: &str| match name {
            "green1" => 256,
            "blue1" => 0,
            _ => 0,
        };
        // 100% → 0%: blue1 must get its weight before green1 loses it.
        let mut targets = vec![("green1", 0), ("blue1", 256)];
        raise_first(&mut targets, current);
        assert_eq!(targets, vec![("blue1", 256), ("green1", 0)]);
        // 0% → 50% from the other side keeps configuration order among equals.
        let mut targets = vec![("green1", 256), ("blue1", 0), ("blue2", 0)];
        raise_first(&mut targets, |_| 10);
        assert_eq!(targets, vec![("green1", 256), ("blue1", 0), ("blue2", 0)]);
    }

    fn server(name: &str, weight: u16, admin_state: u16) -> ServerState {
        ServerState {
            backend: "app".into(),
            name: name.into(),
            op_state: 2,
            admin_state,
            weight,
            initial_weight: weight,
        }
    }

    #[test]
    fn share_ignores_servers_out_of_rotation() {
        let r = router(&["blue1"], &["green1", "green2"]);
        let servers = [
            server("blue1", 128, 0),
            server("green1", 128, 0),
            server("green2", 128, 0x08),
        ];
        assert_eq!(r.share(&servers).unwrap(), Weight::new(50).unwrap());
    }

    #[test]
    fn share_counts_unlisted_servers_and_fails_when_nothing_takes_traffic() {
        let r = router(&["blue1"], &["green1"]);
        let with_other = [
            server("blue1", 0, 0),
            server("green1", 100, 0),
            server("other", 100, 0),
        ];
        assert_eq!(r.share(&with_other).unwrap(), Weight::new(50).unwrap());
        let err = r
            .share(&[server("blue1", 0, 0), server("green1", 5, 0x01)])
            .unwrap_err();
        assert!(
            err.message.contains("green1 weight 5 (in maintenance)"),
            "{}",
            err.message
        );
    }
}
