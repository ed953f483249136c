//! Whether a domain's name servers are DigitalOcean's: the DNS records
//! Pond makes on DigitalOcean only reach visitors when the domain (or the
//! zone it is in) is delegated to ns1/ns2/ns3.digitalocean.com. One NS
//! query per label over UDP to a resolver, walking up from the domain to
//! the zone that has NS records — a few dozen lines of DNS wire format
//! here rather than a resolver library. The resolver is `POND_DNS_RESOLVER`
//! (`ADDR:PORT`) or the first `nameserver` of /etc/resolv.conf. The lab
//! answers the same queries on loopback ([`answer`] builds its replies).

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use anyhow::{Context, bail};

/// DigitalOcean's name servers.
pub const DIGITALOCEAN: [&str; 3] = [
    "ns1.digitalocean.com",
    "ns2.digitalocean.com",
    "ns3.digitalocean.com",
];

/// What DNS says about a domain's delegation.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Delegation {
    /// The zone whose NS records were found (the domain or a parent).
    pub zone: String,
    /// Its name servers, lower-case, sorted.
    pub nameservers: Vec<String>,
    /// Every one of them is DigitalOcean's.
    pub to_digitalocean: bool,
}

impl Delegation {
    /// One sentence for the user.
    pub fn note(&self, domain: &str) -> String {
        if self.to_digitalocean {
            format!(
                "{} is delegated to DigitalOcean ({}): the records Pond makes for {domain} will be served.",
                self.zone,
                self.nameservers.join(", ")
            )
        } else {
            format!(
                "{} uses {}, not DigitalOcean: set its name servers to ns1, ns2 and ns3.digitalocean.com at the registrar, or {domain} will not reach the server.",
                self.zone,
                self.nameservers.join(", ")
            )
        }
    }
}

/// The resolver to ask: `POND_DNS_RESOLVER`, else /etc/resolv.conf's first
/// name server on port 53; None when neither gives one.
pub fn system_resolver() -> Option<SocketAddr> {
    if let Ok(v) = std::env::var("POND_DNS_RESOLVER") {
        return v.parse().ok();
    }
    let conf = std::fs::read_to_string("/etc/resolv.conf").ok()?;
    conf.lines().find_map(|l| {
        let ip = l.trim().strip_prefix("nameserver")?.trim();
        let ip: std::net::IpAddr = ip.split('%').next()?.parse().ok()?;
        Some(SocketAddr::new(ip, 53))
    })
}

/// Checks `domain`'s delegation for an account: with `POND_DNS_RESOLVER`
/// or the system's resolver, except that an account on this machine (the
/// lab) is only checked against a resolver named in `POND_DNS_RESOLVER`
/// (the lab's own), so a lab run never asks the outside world. None when
/// there is no resolver to ask.
pub async fn check_for(
    client: &crate::digitalocean::Client,
    domain: &str,
) -> Option<anyhow::Result<Delegation>> {
    let resolver = if client.is_local() && std::env::var_os("POND_DNS_RESOLVER").is_none() {
        None
    } else {
        system_resolver()
    }?;
    let domain = domain.to_string();
    Some(
        tokio::task::spawn_blocking(move || check(&domain, resolver))
            .await
            .unwrap_or_else(|e| Err(anyhow::anyhow!("the DNS check stopped: {e}"))),
    )
}

/// Asks `resolver` for the NS records of `domain`, then of each parent
/// until some are found. Blocking (a few UDP round trips).
pub fn check(domain: &str, resolver: SocketAddr) -> anyhow::Result<Delegation> {
    let labels: Vec<&str> = domain.trim_end_matches('.').split('.').collect();
    for start in 0..labels.len().saturating_sub(1) {
        let zone = labels[start..].join(".");
        let mut ns = query_ns(&zone, resolver)?;
        if !ns.is_empty() {
            ns.sort();
            ns.dedup();
            let to_digitalocean = ns.iter().all(|n| DIGITALOCEAN.contains(&n.as_str()));
            return Ok(Delegation {
                zone,
                nameservers: ns,
                to_digitalocean,
            });
        }
    }
    bail!("DNS ({resolver}) knows no name servers for {domain} or its parents; is it registered?")
}

fn query_ns(name: &str, resolver: SocketAddr) -> anyhow::Result<Vec<String>> {
    let bind: SocketAddr = if resolver.is_ipv4() {
        "0.0.0.0:0".parse()?
    } else {
        "[::]:0".parse()?
    };
    let socket = UdpSocket::bind(bind)?;
    socket.set_read_timeout(Some(Duration::from_secs(2)))?;
    socket.connect(resolver)?;
    let id = (std::process::id() as u16) ^ (name.len() as u16).rotate_left(7);
    let query = encode_query(id, name)?;
    let mut buf = [0u8; 4096];
    for _ in 0..3 {
        socket.send(&query)?;
        match socket.recv(&mut buf) {
            Ok(n) => {
                let reply = &buf[..n];
                if reply.len() < 12 || u16::from_be_bytes([reply[0], reply[1]]) != id {
                    continue;
                }
                return parse_ns_reply(reply);
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue;
            }
            Err(e) => return Err(e).with_context(|| format!("asking {resolver} about {name}")),
        }
    }
    bail!("DNS ({resolver}) did not answer about {name}")
}

fn encode_name(out: &mut Vec<u8>, name: &str) -> anyhow::Result<()> {
    for label in name.trim_end_matches('.').split('.') {
        if label.is_empty() || label.len() > 63 {
            bail!("{name:?} is not a domain name");
        }
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    Ok(())
}

/// A standard query (recursion desired) for the NS records of `name`.
pub fn encode_query(id: u16, name: &str) -> anyhow::Result<Vec<u8>> {
    let mut q = Vec::with_capacity(64);
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    encode_name(&mut q, name)?;
    q.extend_from_slice(&[0, 2, 0, 1]);
    Ok(q)
}

/// Reads a possibly compressed name at `pos`; returns it and the position
/// after it in the original stream.
fn read_name(msg: &[u8], mut pos: usize) -> anyhow::Result<(String, usize)> {
    let mut labels = vec![];
    let mut end = None;
    for _ in 0..64 {
        let len = *msg.get(pos).context("truncated DNS name")? as usize;
        if len == 0 {
            return Ok((labels.join("."), end.unwrap_or(pos + 1)));
        }
        if len & 0xC0 == 0xC0 {
            let low = *msg.get(pos + 1).context("truncated DNS pointer")? as usize;
            end.get_or_insert(pos + 2);
            pos = ((len & 0x3F) << 8) | low;
            continue;
        }
        let label = msg
            .get(pos + 1..pos + 1 + len)
            .context("truncated DNS label")?;
        labels.push(String::from_utf8_lossy(label).to_ascii_lowercase());
        pos += 1 + len;
    }
    bail!("a DNS name with too many labels or a pointer loop")
}

/// The NS names in a reply's answer section (empty for NXDOMAIN or none).
pub fn parse_ns_reply(msg: &[u8]) -> anyhow::Result<Vec<String>> {
    if msg.len() < 12 {
        bail!("a DNS reply shorter than its header");
    }
    let rcode = msg[3] & 0x0F;
    if rcode == 3 {
        return Ok(vec![]);
    }
    if rcode != 0 {
        bail!("DNS answered with error code {rcode}");
    }
    let questions = u16::from_be_bytes([msg[4], msg[5]]);
    let answers = u16::from_be_bytes([msg[6], msg[7]]);
    let mut pos = 12;
    for _ in 0..questions {
        pos = read_name(msg, pos)?.1 + 4;
    }
    let mut out = vec![];
    for _ in 0..answers {
        pos = read_name(msg, pos)?.1;
        let fixed = msg.get(pos..pos + 10).context("truncated DNS record")?;
        let kind = u16::from_be_bytes([fixed[0], fixed[1]]);
        let len = u16::from_be_bytes([fixed[8], fixed[9]]) as usize;
        let data = pos + 10;
        if kind == 2 {
            out.push(read_name(msg, data)?.0);
        }
        pos = data + len;
    }
    Ok(out)
}

/// The reply to an NS `query` given the delegations known (zone → name
/// servers): its NS records, an empty answer for a name inside a known zone,
/// NXDOMAIN otherwise. For the lab's loopback DNS.
pub fn answer(query: &[u8], zones: &dyn Fn(&str) -> Option<Vec<String>>) -> Option<Vec<u8>> {
    if query.len() < 12 {
        return None;
    }
    let (name, end) = read_name(query, 12).ok()?;
    let question = query.get(12..end + 4)?;
    let mut reply = Vec::with_capacity(128);
    reply.extend_from_slice(&query[..2]);
    let records = zones(&name);
    let inside_known = name
        .char_indices()
        .filter(|(_, c)| *c == '.')
        .any(|(i, _)| zones(&name[i + 1..]).is_some());
    let rcode = if records.is_some() || inside_known {
        0
    } else {
        3
    };
    let records = records.unwrap_or_default();
    reply.extend_from_slice(&[0x81, 0x80 | rcode, 0, 1]);
    reply.extend_from_slice(&(records.len() as u16).to_be_bytes());
    reply.extend_from_slice(&[0, 0, 0, 0]);
    reply.extend_from_slice(question);
    for ns in records {
        reply.extend_from_slice(&[0xC0, 0x0C, 0, 2, 0, 1, 0, 0, 0x01, 0x2C]);
        let mut data = vec![];
        encode_name(&mut data, &ns).ok()?;
        reply.extend_from_slice(&(data.len() as u16).to_be_bytes());
        reply.extend_from_slice(&data);
    }
    Some(reply)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zones(name: &str) -> Option<Vec<String>> {
        match name {
            "example.com" => Some(DIGITALOCEAN.iter().map(|s| s.to_string()).collect()),
            "elsewhere.net" => Some(vec!["ns.registrar.test".into()]),
            _ => None,
        }
    }

    #[test]
    fn queries_and_replies_round_trip() {
        let q = encode_query(7, "example.com").unwrap();
        let reply = answer(&q, &zones).unwrap();
        assert_eq!(&reply[..2], &7u16.to_be_bytes());
        let mut ns = parse_ns_reply(&reply).unwrap();
        ns.sort();
        assert_eq!(ns, DIGITALOCEAN);
        let inside = answer(&encode_query(8, "shop.example.com").unwrap(), &zones).unwrap();
        assert_eq!(inside[3] & 0x0F, 0, "a name inside a known zone exists");
        assert!(parse_ns_reply(&inside).unwrap().is_empty());
        let unknown = answer(&encode_query(9, "nowhere.org").unwrap(), &zones).unwrap();
        assert_eq!(unknown[3] & 0x0F, 3, "NXDOMAIN");
        assert!(encode_query(1, "a..b").is_err());
    }

    #[test]
    fn compressed_names_and_pointer_loops() {
        // Header, question example.com NS, one answer whose data is
        // "ns1" + a pointer to "example.com" in the question.
        let mut msg = vec![0, 1, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0];
        encode_name(&mut msg, "example.com").unwrap();
        msg.extend_from_slice(&[0, 2, 0, 1]);
        msg.extend_from_slice(&[0xC0, 0x0C, 0, 2, 0, 1, 0, 0, 0, 60, 0, 6]);
        msg.extend_from_slice(&[3, b'n', b's', b'1', 0xC0, 0x0C]);
        assert_eq!(parse_ns_reply(&msg).unwrap(), ["ns1.example.com"]);
        let looping = [0, 1, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 12];
        assert!(parse_ns_reply(&looping).is_err());
        assert!(parse_ns_reply(&[0, 1]).is_err());
    }

    #[test]
    fn the_note_says_what_to_do() {
        let d = Delegation {
            zone: "elsewhere.net".into(),
            nameservers: vec!["ns.registrar.test".into()],
            to_digitalocean: false,
        };
        assert!(d.note("shop.elsewhere.net").contains("at the registrar"));
    }
}
