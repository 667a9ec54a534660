//! Parsing the CSV of `show stat <backend> 4 -1` (servers of one backend) for `scur`, the
//! number of sessions a server holds right now. Columns are found by header name.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(String);

/// Current sessions per server name, in the order HAProxy lists them.
pub fn current_sessions(reply: &str) -> Result<Vec<(String, u64)>, ParseError> {
    let mut lines = reply.lines().filter(|l| !l.trim().is_empty());
    let header = lines
        .next()
        .and_then(|l| l.strip_prefix("# "))
        .ok_or_else(|| ParseError("missing the `# pxname,svname,...` header".into()))?;
    let columns: Vec<&str> = header.split(',').collect();
    let col = |name: &str| {
        columns
            .iter()
            .position(|c| *c == name)
            .ok_or_else(|| ParseError(format!("column {name} missing from the header")))
    };
    let svname = col("svname")?;
    let scur = col("scur")?;
    let mut out = Vec::new();
    for line in lines {
        let fields: Vec<&str> = line.split(',').collect();
        let (Some(name), Some(raw)) = (fields.get(svname), fields.get(scur)) else {
            return Err(ParseError(format!("short line {line:?}")));
        };
        // The backend's own summary row is not a server.
        if *name == "BACKEND" || *name == "FRONTEND" {
            continue;
        }
        let sessions = raw
            .parse()
            .map_err(|_| ParseError(format!("scur {raw:?} of {name} is not a number")))?;
        out.push(((*name).to_owned(), sessions));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_scur_per_server() {
        // Shape of haproxy 2.6.12's reply, trimmed to the first columns.
        let reply = "# pxname,svname,qcur,qmax,scur,smax,slim,stot,\napp,stable1,0,0,3,5,,9,\napp,new1,0,0,0,1,,2,\n";
        assert_eq!(
            current_sessions(reply).unwrap(),
            vec![("stable1".to_owned(), 3), ("new1".to_owned(), 0)]
        );
    }

    #[test]
    fn skips_backend_row_and_rejects_garbage() {
        let reply = "# pxname,svname,scur\napp,BACKEND,4\napp,s1,4\n";
        assert_eq!(current_sessions(reply).unwrap().len(), 1);
        assert!(current_sessions("No such proxy.").is_err());
        assert!(current_sessions("# pxname,svname,scur\napp,s1,x\n").is_err());
    }
}
