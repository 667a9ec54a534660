//! Parsing `show servers state <backend>`.
//!
//! Format version 1 (HAProxy 2.6 management.txt, checked against haproxy 2.6.12): a line with
//! the version, a `#` header line naming the columns, then one line per server:
//! `be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight
//! srv_time_since_last_change ...`. Newer releases append columns, so columns are found by
//! their header name, never by position.

/// `srv_op_state` values.
const OP_STOPPED: u8 = 0;
const OP_STOPPING: u8 = 3;

/// `srv_admin_state` bits: FMAINT, IMAINT, CMAINT, RMAINT (maintenance of any origin).
const ADMIN_MAINT: u16 = 0x01 | 0x02 | 0x04 | 0x20;
/// `srv_admin_state` bits: FDRAIN, IDRAIN.
const ADMIN_DRAIN: u16 = 0x08 | 0x10;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerState {
    pub backend: String,
    pub name: String,
    /// 0 stopped (down), 1 starting, 2 running, 3 stopping.
    pub op_state: u8,
    /// Bit mask, see the constants above.
    pub admin_state: u16,
    /// The weight set by configuration or `set server ... weight` (0–256).
    pub weight: u16,
    /// The weight in haproxy.cfg.
    pub initial_weight: u16,
}

impl ServerState {
    pub fn in_maintenance(&self) -> bool {
        self.admin_state & ADMIN_MAINT != 0
    }

    pub fn draining(&self) -> bool {
        self.admin_state & ADMIN_DRAIN != 0
    }

    pub fn down(&self) -> bool {
        self.op_state == OP_STOPPED
    }

    /// The weight this server really gets new traffic with: a server that is down, stopping,
    /// draining or in maintenance takes no new requests whatever its weight.
    pub fn effective_weight(&self) -> u16 {
        let excluded =
            self.down() || self.op_state == OP_STOPPING || self.in_maintenance() || self.draining();
        if excluded { 0 } else { self.weight }
    }

    /// Why the server takes no new traffic despite its weight, if it doesn't.
    pub fn why_out_of_rotation(&self) -> Option<&'static str> {
        if self.in_maintenance() {
            Some("in maintenance")
        } else if self.draining() {
            Some("draining")
        } else if self.down() {
            Some("down (failing health checks)")
        } else if self.op_state == OP_STOPPING {
            Some("stopping")
        } else {
            None
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(String);

/// Parses the whole reply of `show servers state [<backend>]`.
pub fn parse(reply: &str) -> Result<Vec<ServerState>, ParseError> {
    let mut lines = reply.lines().filter(|l| !l.trim().is_empty());
    let version = lines
        .next()
        .ok_or_else(|| ParseError("empty reply".into()))?
        .trim();
    if version != "1" {
        return Err(ParseError(format!(
            "expected format version 1 on the first line, got {version:?}"
        )));
    }
    let header = lines
        .next()
        .and_then(|l| l.strip_prefix('#'))
        .ok_or_else(|| ParseError("missing the `#` column header line".into()))?;
    let columns: Vec<&str> = header.split_whitespace().collect();
    let col = |name: &str| {
        columns
            .iter()
            .position(|c| *c == name)
            .ok_or_else(|| ParseError(format!("column {name} missing from the header")))
    };
    let be_name = col("be_name")?;
    let srv_name = col("srv_name")?;
    let op_state = col("srv_op_state")?;
    let admin_state = col("srv_admin_state")?;
    let uweight = col("srv_uweight")?;
    let iweight = col("srv_iweight")?;

    let mut servers = Vec::new();
    for line in lines {
        if line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        let field = |i: usize, name: &str| {
            fields
                .get(i)
                .copied()
                .ok_or_else(|| ParseError(format!("line {line:?} has no {name} column")))
        };
        let number = |i: usize, name: &str| -> Result<u16, ParseError> {
            let raw = field(i, name)?;
            raw.parse()
                .map_err(|_| ParseError(format!("{name} {raw:?} in line {line:?} is not a number")))
        };
        let op = number(op_state, "srv_op_state")?;
        servers.push(ServerState {
            backend: field(be_name, "be_name")?.to_owned(),
            name: field(srv_name, "srv_name")?.to_owned(),
            op_state: u8::try_from(op)
                .map_err(|_| ParseError(format!("srv_op_state {op} out of range")))?,
            admin_state: number(admin_state, "srv_admin_state")?,
            weight: number(uweight, "srv_uweight")?,
            initial_weight: number(iweight, "srv_iweight")?,
        });
    }
    Ok(servers)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Captured from haproxy 2.6.12 after `set server app/new1 state drain`.
    const REAL: &str = "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port\n4 app 1 stable1 127.0.0.1 2 0 20 256 1 1 0 2 0 0 0 0 - 18090 - 0 0 - - 0\n4 app 2 new1 127.0.0.1 2 8 10 0 0 1 0 2 0 0 0 0 - 18091 - 0 0 - - 0";

    #[test]
    fn parses_haproxy_2_6_reply() {
        let servers = parse(REAL).unwrap();
        assert_eq!(servers.len(), 2);
        assert_eq!(
            servers[0],
            ServerState {
                backend: "app".into(),
                name: "stable1".into(),
                op_state: 2,
                admin_state: 0,
                weight: 20,
                initial_weight: 256,
            }
        );
        assert_eq!(servers[1].name, "new1");
        assert!(servers[1].draining());
        assert_eq!(servers[1].weight, 10);
        assert_eq!(servers[1].effective_weight(), 0);
        assert_eq!(servers[0].effective_weight(), 20);
    }

    #[test]
    fn finds_columns_by_name_not_position() {
        let reply = "1\n# srv_uweight be_name srv_name srv_iweight srv_admin_state srv_op_state\n7 app s1 9 0 2\n";
        let servers = parse(reply).unwrap();
        assert_eq!(servers[0].weight, 7);
        assert_eq!(servers[0].initial_weight, 9);
    }

    #[test]
    fn maintenance_and_down_take_no_traffic() {
        let base = ServerState {
            backend: "b".into(),
            name: "s".into(),
            op_state: 2,
            admin_state: 0,
            weight: 10,
            initial_weight: 10,
        };
        let maint = ServerState {
            admin_state: 0x01,
            ..base.clone()
        };
        let down = ServerState {
            op_state: 0,
            ..base.clone()
        };
        assert_eq!(maint.effective_weight(), 0);
        assert_eq!(maint.why_out_of_rotation(), Some("in maintenance"));
        assert_eq!(down.effective_weight(), 0);
        assert_eq!(base.why_out_of_rotation(), None);
    }

    #[test]
    fn rejects_other_versions_and_garbage() {
        assert!(parse("2\n# be_name\n").is_err());
        assert!(parse("Can't find backend.").is_err());
        assert!(parse("").is_err());
        assert!(parse("1\n# be_name srv_name srv_op_state srv_admin_state srv_uweight srv_iweight\napp s1 x 0 1 1\n").is_err());
    }
}
