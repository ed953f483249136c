//! Whether a domain's name servers are DigitalOcean's: the DNS records
//! Pond makes on DigitalOcean only reach visitors when the domain (or the
//! zone it is in) is delegated to ns1/ns2/ns3.digitalocean.com. One NS
//! query per label to a resolver, walking up from the domain to the zone
//! that has NS records. Messages are built and read by hickory-proto; a
//! reply truncated over UDP is asked again over TCP. The resolver is
//! `POND_DNS_RESOLVER` (`ADDR:PORT`) or the first `nameserver` of
//! /etc/resolv.conf. The lab's DNS server answers the same queries.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use hickory_proto::op::{Edns, Message, MessageType, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};

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
/// until some are found. Blocking (a few round trips).
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

/// The NS names of `name` (lower case, no trailing dot); empty when the
/// name does not exist or has none.
fn query_ns(name: &str, resolver: SocketAddr) -> anyhow::Result<Vec<String>> {
    let reply = query(resolver, name, RecordType::NS, Transport::Udp)?;
    match reply.metadata.response_code {
        ResponseCode::NoError => Ok(reply
            .answers
            .iter()
            .filter_map(|r| match &r.data {
                RData::NS(ns) => Some(ns.0.to_ascii().trim_end_matches('.').to_ascii_lowercase()),
                _ => None,
            })
            .collect()),
        ResponseCode::NXDomain => Ok(vec![]),
        ResponseCode::Refused => bail!(
            "DNS ({resolver}) refused to answer about {name} (a server that is neither a resolver nor an authority for it)"
        ),
        code => bail!("DNS ({resolver}) answered {code} about {name}"),
    }
}

/// How [`query`] reaches the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// UDP, asking again over TCP when the reply is truncated.
    Udp,
    Tcp,
}

/// How long one attempt waits for a reply.
const WAIT: Duration = Duration::from_secs(2);

/// Asks `resolver` one question, recursion desired (as a stub resolver
/// does), and returns its reply, whatever its response code. Blocking:
/// over UDP up to three tries of [`WAIT`] each.
pub fn query(
    resolver: SocketAddr,
    name: &str,
    kind: RecordType,
    transport: Transport,
) -> anyhow::Result<Message> {
    let fqdn = format!("{}.", name.trim_end_matches('.'));
    let parsed = Name::from_ascii(&fqdn)
        .ok()
        .filter(|n| n.iter().all(|l| !l.is_empty() && l.len() <= 63))
        .filter(|_| !name.trim_end_matches('.').is_empty())
        .with_context(|| format!("{name:?} is not a domain name"))?;
    let mut message = Message::query();
    message.metadata.recursion_desired = true;
    message.add_query(Query::query(parsed, kind));
    let mut edns = Edns::new();
    edns.set_max_payload(1232);
    message.set_edns(edns);
    let bytes = message.to_vec()?;
    let id = message.metadata.id;
    let reply = match transport {
        Transport::Tcp => over_tcp(resolver, &bytes, id),
        Transport::Udp => match over_udp(resolver, &bytes, id)? {
            reply if reply.metadata.truncation => over_tcp(resolver, &bytes, id),
            reply => Ok(reply),
        },
    };
    reply.with_context(|| format!("asking {resolver} about {name}"))
}

fn reply_to(bytes: &[u8], id: u16) -> Option<Message> {
    let reply = Message::from_vec(bytes).ok()?;
    (reply.metadata.id == id && reply.metadata.message_type == MessageType::Response)
        .then_some(reply)
}

fn over_udp(resolver: SocketAddr, query: &[u8], id: u16) -> anyhow::Result<Message> {
    let bind: SocketAddr = if resolver.is_ipv4() {
        "0.0.0.0:0".parse()?
    } else {
        "[::]:0".parse()?
    };
    let socket = UdpSocket::bind(bind)?;
    socket.connect(resolver)?;
    let mut buf = [0u8; 4096];
    for _ in 0..3 {
        socket.send(query)?;
        let deadline = Instant::now() + WAIT;
        // Replies to other queries (a late one of an earlier try) are skipped.
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            socket.set_read_timeout(Some(left.max(Duration::from_millis(1))))?;
            match socket.recv(&mut buf) {
                Ok(n) => {
                    if let Some(reply) = reply_to(&buf[..n], id) {
                        return Ok(reply);
                    }
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    break;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
    bail!("no answer over UDP within {} s", 3 * WAIT.as_secs())
}

/// DNS over TCP: each message preceded by its length in two bytes.
fn over_tcp(resolver: SocketAddr, query: &[u8], id: u16) -> anyhow::Result<Message> {
    let mut stream = TcpStream::connect_timeout(&resolver, WAIT)?;
    stream.set_write_timeout(Some(WAIT))?;
    let len = u16::try_from(query.len())?;
    let mut framed = len.to_be_bytes().to_vec();
    framed.extend_from_slice(query);
    stream.write_all(&framed)?;
    // One deadline for the whole reply: a resolver trickling bytes cannot
    // keep the check waiting longer than WAIT.
    let deadline = Instant::now() + WAIT;
    let mut read_exact = |buf: &mut [u8]| -> anyhow::Result<()> {
        let mut filled = 0;
        while filled < buf.len() {
            let left = deadline
                .checked_duration_since(Instant::now())
                .context("no full TCP reply in time")?;
            stream.set_read_timeout(Some(left.max(Duration::from_millis(1))))?;
            match stream.read(&mut buf[filled..])? {
                0 => bail!("the resolver closed the connection mid-reply"),
                n => filled += n,
            }
        }
        Ok(())
    };
    let mut len = [0u8; 2];
    read_exact(&mut len)?;
    let mut reply = vec![0u8; usize::from(u16::from_be_bytes(len))];
    read_exact(&mut reply)?;
    reply_to(&reply, id).context("a TCP reply that does not answer the query")
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::rr::Record;
    use hickory_proto::rr::rdata::NS;

    /// A stand-in resolver on loopback (UDP and TCP on one port), built
    /// with the same library: NS for two zones, one that only fits over
    /// TCP, one it refuses, NXDOMAIN for the rest.
    fn resolver() -> SocketAddr {
        let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = tcp.local_addr().unwrap();
        let udp = UdpSocket::bind(addr).unwrap();
        let reply = |query: &[u8], over_udp: bool| -> Vec<u8> {
            let q = Message::from_vec(query).unwrap();
            let question = q.queries[0].clone();
            let name = question.name().to_ascii();
            let mut r = Message::response(q.metadata.id, q.metadata.op_code);
            r.add_query(question.clone());
            let servers: Vec<&str> = match name.as_str() {
                "example.com." => DIGITALOCEAN.to_vec(),
                "elsewhere.net." => vec!["NS2.Registrar.test.", "ns1.registrar.test."],
                "big.test." => vec!["ns1.big.test."],
                "refused.test." => {
                    r.metadata.response_code = ResponseCode::Refused;
                    vec![]
                }
                _ => {
                    r.metadata.response_code = ResponseCode::NXDomain;
                    vec![]
                }
            };
            if name == "big.test." && over_udp {
                r.metadata.truncation = true;
            } else {
                for s in servers {
                    let ns = NS(Name::from_ascii(format!("{}.", s.trim_end_matches('.'))).unwrap());
                    r.add_answer(Record::from_rdata(
                        question.name().clone(),
                        60,
                        RData::NS(ns),
                    ));
                }
            }
            r.to_vec().unwrap()
        };
        std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            while let Ok((n, from)) = udp.recv_from(&mut buf) {
                let _ = udp.send_to(&reply(&buf[..n], true), from);
            }
        });
        std::thread::spawn(move || {
            for mut stream in tcp.incoming().flatten() {
                let mut len = [0u8; 2];
                stream.read_exact(&mut len).unwrap();
                let mut query = vec![0u8; usize::from(u16::from_be_bytes(len))];
                stream.read_exact(&mut query).unwrap();
                let answer = reply(&query, false);
                let mut framed = (answer.len() as u16).to_be_bytes().to_vec();
                framed.extend(answer);
                stream.write_all(&framed).unwrap();
            }
        });
        addr
    }

    #[test]
    fn walks_up_to_the_zone_with_name_servers() {
        let dns = resolver();
        let d = check("shop.example.com", dns).unwrap();
        assert_eq!(d.zone, "example.com");
        assert_eq!(d.nameservers, DIGITALOCEAN);
        assert!(d.to_digitalocean);
        let d = check("www.shop.elsewhere.net.", dns).unwrap();
        assert_eq!(d.zone, "elsewhere.net");
        assert_eq!(d.nameservers, ["ns1.registrar.test", "ns2.registrar.test"]);
        assert!(!d.to_digitalocean);
        let err = check("nowhere.org", dns).unwrap_err().to_string();
        assert!(
            err.contains("knows no name servers for nowhere.org"),
            "{err}"
        );
    }

    #[test]
    fn truncated_replies_are_asked_again_over_tcp() {
        let dns = resolver();
        let udp_only = query(dns, "big.test", RecordType::NS, Transport::Udp).unwrap();
        assert!(!udp_only.metadata.truncation, "the TCP reply replaced it");
        assert_eq!(udp_only.answers.len(), 1);
        assert_eq!(check("www.big.test", dns).unwrap().zone, "big.test");
    }

    #[test]
    fn refusals_and_bad_names_are_errors() {
        let dns = resolver();
        let err = check("shop.refused.test", dns).unwrap_err().to_string();
        assert!(
            err.contains("refused to answer about refused.test"),
            "{err}"
        );
        for bad in ["a..b", "", &"x".repeat(64)] {
            let err = query(dns, bad, RecordType::NS, Transport::Udp).unwrap_err();
            assert!(
                err.to_string().contains("is not a domain name"),
                "{bad}: {err}"
            );
        }
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
