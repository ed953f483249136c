//! The lab's DNS server: authoritative answers for every domain of the
//! fake API (A, AAAA, CNAME, TXT, MX, SRV, NS and a synthesized SOA, over
//! UDP and TCP), read from the API's state on each query, so a record
//! created through the API answers at once; plus the name servers set with
//! `/_lab/delegations/{zone}` (the registrar's side of a domain, which DO's
//! API does not manage). A name outside those zones is REFUSED: no
//! recursion, no forwarding, nothing leaves the machine. It listens on
//! loopback for the host and on the bridge for the droplets, whose
//! resolver it is. Built on hickory-server; not a DNS client (that is
//! `pond::delegation`).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use hickory_server::Server;
use hickory_server::net::runtime::Time;
use hickory_server::proto::op::ResponseCode;
use hickory_server::proto::op::{Edns, Header, HeaderCounts, MessageType, Metadata, OpCode};
use hickory_server::proto::rr::rdata::{A, AAAA, CNAME, MX, NS, SOA, SRV, TXT};
use hickory_server::proto::rr::{DNSClass, Name, RData, Record, RecordType};
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponseBuilder;

use super::api::state::{self, Domain};
use super::runtime::Lab;

/// The port droplets ask on the bridge address (their `nameserver`).
pub const DROPLET_PORT: u16 = 53;

/// DigitalOcean's first name server, the SOA's primary.
const DIGITALOCEAN_NS: &str = "ns1.digitalocean.com";

/// TTL of the NS answers for delegations.
const DELEGATION_TTL: u32 = 300;

/// The longest CNAME chain followed inside the lab's zones.
const MAX_CHAIN: usize = 8;

/// What the server answers to one question.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub code: ResponseCode,
    /// Whether the lab is the authority for the name (false when refused).
    pub authoritative: bool,
    pub answers: Vec<Record>,
    /// The zone's SOA for a name or type that does not exist.
    pub authority: Vec<Record>,
}

impl Answer {
    fn refused() -> Answer {
        Answer {
            code: ResponseCode::Refused,
            authoritative: false,
            answers: vec![],
            authority: vec![],
        }
    }
}

/// Answers `name`/`kind` from the API's domains and the delegations
/// (zone → name servers). Pure: the server calls it with the state locked.
pub fn lookup(
    domains: &[Domain],
    delegations: &BTreeMap<String, Vec<String>>,
    name: &Name,
    kind: RecordType,
) -> Answer {
    let wanted = plain(name);
    // The registrar's NS for a delegated zone is what the world sees.
    if matches!(kind, RecordType::NS | RecordType::ANY)
        && let Some((_, servers)) = delegations
            .iter()
            .find(|(zone, _)| zone.eq_ignore_ascii_case(&wanted))
    {
        let answers = servers
            .iter()
            .filter_map(|s| fqdn(s))
            .map(|s| Record::from_rdata(name.clone(), DELEGATION_TTL, RData::NS(NS(s))))
            .collect();
        return Answer {
            code: ResponseCode::NoError,
            authoritative: true,
            answers,
            authority: vec![],
        };
    }
    if zone_of(domains, &wanted).is_none() {
        // Inside a delegated zone the lab has no data for: the name may
        // exist; outside every zone the lab knows: not ours to answer.
        let delegated = delegations
            .keys()
            .any(|z| within(&wanted, &z.to_ascii_lowercase()));
        return if delegated {
            Answer {
                code: ResponseCode::NoError,
                authoritative: true,
                answers: vec![],
                authority: vec![],
            }
        } else {
            Answer::refused()
        };
    }

    let mut answers = vec![];
    let mut owner = name.clone();
    for _ in 0..MAX_CHAIN {
        let current = plain(&owner);
        let Some(zone) = zone_of(domains, &current) else {
            // A CNAME out of the lab's zones: the client follows it.
            break;
        };
        let origin = zone.name.to_ascii_lowercase();
        let rel = relative(&current, &origin);
        let Some(at) = records_at(zone, &rel) else {
            return Answer {
                code: ResponseCode::NXDomain,
                authoritative: true,
                answers,
                authority: soa(zone).into_iter().collect(),
            };
        };
        let mut found: Vec<Record> = at
            .iter()
            .filter(|r| kind == RecordType::ANY || r.kind.eq_ignore_ascii_case(&kind.to_string()))
            .filter_map(|r| to_record(r, &owner, &origin))
            .collect();
        if rel == "@" && matches!(kind, RecordType::SOA | RecordType::ANY) {
            found.extend(soa(zone));
        }
        if !found.is_empty() {
            answers.extend(found);
            break;
        }
        let alias = at.iter().find(|r| r.kind.eq_ignore_ascii_case("CNAME"));
        match alias.and_then(|r| Some((to_record(r, &owner, &origin)?, host(&r.data, &origin)?))) {
            Some((record, target)) if kind != RecordType::CNAME => {
                answers.push(record);
                owner = target;
            }
            _ => {
                let authority = if answers.is_empty() {
                    soa(zone).into_iter().collect()
                } else {
                    vec![]
                };
                return Answer {
                    code: ResponseCode::NoError,
                    authoritative: true,
                    answers,
                    authority,
                };
            }
        }
    }
    Answer {
        code: ResponseCode::NoError,
        authoritative: true,
        answers,
        authority: vec![],
    }
}

/// A name in lower case without the root's trailing dot.
fn plain(name: &Name) -> String {
    name.to_ascii()
        .to_ascii_lowercase()
        .trim_end_matches('.')
        .to_string()
}

fn within(name: &str, zone: &str) -> bool {
    name == zone || name.ends_with(&format!(".{zone}"))
}

/// The most specific API domain holding `name`.
fn zone_of<'a>(domains: &'a [Domain], name: &str) -> Option<&'a Domain> {
    domains
        .iter()
        .filter(|d| within(name, &d.name.to_ascii_lowercase()))
        .max_by_key(|d| d.name.len())
}

/// `name` relative to `origin`, as DO names records (`@` for the apex).
fn relative(name: &str, origin: &str) -> String {
    if name == origin {
        "@".into()
    } else {
        name[..name.len() - origin.len() - 1].to_string()
    }
}

/// The records at `rel` (a wildcard's if only a wildcard covers it); an
/// empty list for a name that exists without records (the apex, or a
/// name with records below it); None for a name that does not exist.
fn records_at<'a>(zone: &'a Domain, rel: &str) -> Option<Vec<&'a state::Record>> {
    let named = |n: &str| -> Vec<&'a state::Record> {
        zone.records
            .iter()
            .filter(|r| r.name.eq_ignore_ascii_case(n))
            .collect()
    };
    let exists = |n: &str| {
        n == "@"
            || zone.records.iter().any(|r| {
                let r = r.name.to_ascii_lowercase();
                r == n || r.ends_with(&format!(".{n}"))
            })
    };
    let exact = named(rel);
    if !exact.is_empty() || exists(rel) {
        return Some(exact);
    }
    // RFC 4592: the wildcard at the closest existing ancestor, if any.
    let labels: Vec<&str> = rel.split('.').collect();
    let encloser = (1..=labels.len())
        .map(|i| {
            if i == labels.len() {
                "@".to_string()
            } else {
                labels[i..].join(".")
            }
        })
        .find(|a| exists(a))?;
    let wildcard = if encloser == "@" {
        "*".to_string()
    } else {
        format!("*.{encloser}")
    };
    let covered = named(&wildcard);
    (!covered.is_empty()).then_some(covered)
}

fn fqdn(host: &str) -> Option<Name> {
    let host = host.trim_end_matches('.');
    Name::from_ascii(format!("{host}.")).ok()
}

/// A record's target host: `@` is the zone's apex; other names are
/// absolute, as the lab's `zone_file` writes them.
fn host(data: &str, origin: &str) -> Option<Name> {
    if data == "@" {
        fqdn(origin)
    } else {
        fqdn(data)
    }
}

/// One API record as a DNS record owned by `owner` (None for a type the
/// server does not serve, such as CAA, or data that does not parse).
fn to_record(r: &state::Record, owner: &Name, origin: &str) -> Option<Record> {
    let number = |v: Option<u32>| u16::try_from(v.unwrap_or(0)).ok();
    let data = match r.kind.to_ascii_uppercase().as_str() {
        "A" => RData::A(A(r.data.parse().ok()?)),
        "AAAA" => RData::AAAA(AAAA(r.data.parse().ok()?)),
        "CNAME" => RData::CNAME(CNAME(host(&r.data, origin)?)),
        "NS" => RData::NS(NS(host(&r.data, origin)?)),
        "MX" => RData::MX(MX::new(number(r.priority)?, host(&r.data, origin)?)),
        "SRV" => RData::SRV(SRV::new(
            number(r.priority)?,
            number(r.weight)?,
            number(r.port)?,
            host(&r.data, origin)?,
        )),
        // A TXT value is one string of at most 255 bytes per chunk.
        "TXT" => RData::TXT(TXT::from_bytes(if r.data.is_empty() {
            vec![&[][..]]
        } else {
            r.data.as_bytes().chunks(255).collect()
        })),
        _ => return None,
    };
    Some(Record::from_rdata(owner.clone(), r.ttl, data))
}

/// The zone's SOA, with DigitalOcean's name server and timers; the serial
/// is the newest record's id, so it grows with every record created.
fn soa(zone: &Domain) -> Option<Record> {
    let origin = fqdn(&zone.name)?;
    let serial = zone.records.iter().map(|r| r.id).max().unwrap_or(1) as u32;
    let data = SOA::new(
        fqdn(DIGITALOCEAN_NS)?,
        fqdn(&format!("hostmaster.{}", zone.name))?,
        serial,
        10800,
        3600,
        604800,
        1800,
    );
    Some(Record::from_rdata(origin, zone.ttl, RData::SOA(data)))
}

/// The request handler: each query reads the lab's state afresh.
struct Authority {
    lab: Arc<Lab>,
    /// Queries answered at once; more are refused rather than queued, so a
    /// droplet flooding the DNS cannot starve the API of the state lock.
    in_flight: Arc<tokio::sync::Semaphore>,
}

/// At most this many queries are answered at the same time.
const MAX_IN_FLIGHT: usize = 64;

/// Whether `ip` may ask: loopback (the host) or the lab's own subnet.
fn may_ask(lab: &Lab, ip: std::net::IpAddr) -> bool {
    match ip {
        std::net::IpAddr::V4(v4) => {
            v4.is_loopback() || v4.octets()[..3] == lab.net.host_address().octets()[..3]
        }
        std::net::IpAddr::V6(v6) => v6.is_loopback(),
    }
}

impl Authority {
    async fn answer(&self, request: &Request) -> Result<Answer, ResponseCode> {
        if request.metadata.message_type != MessageType::Query
            || request.metadata.op_code != OpCode::Query
        {
            return Err(ResponseCode::NotImp);
        }
        if !may_ask(&self.lab, request.src().ip()) {
            return Err(ResponseCode::Refused);
        }
        let Ok(_permit) = self.in_flight.clone().try_acquire_owned() else {
            return Err(ResponseCode::Refused);
        };
        let info = request.request_info().map_err(|_| ResponseCode::FormErr)?;
        if info.query.query_class() != DNSClass::IN {
            return Err(ResponseCode::Refused);
        }
        let state = self.lab.state.lock().await;
        let delegations = self.lab.delegations.lock().expect("delegations lock");
        Ok(lookup(
            &state.domains,
            &delegations,
            info.query.original().name(),
            info.query.query_type(),
        ))
    }
}

#[async_trait::async_trait]
impl RequestHandler for Authority {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        mut response: R,
    ) -> ResponseInfo {
        let edns = request.edns.as_ref().map(|asked| {
            let mut e = Edns::new();
            e.set_max_payload(asked.max_payload().max(512));
            e
        });
        let builder = MessageResponseBuilder::new(&request.queries, edns.as_ref());
        let mut metadata = Metadata::response_from_request(&request.metadata);
        let answer = match self.answer(request).await {
            Ok(a) => a,
            Err(code) => Answer {
                code,
                ..Answer::refused()
            },
        };
        metadata.response_code = answer.code;
        metadata.authoritative = answer.authoritative;
        let message = builder.build(
            metadata,
            answer.answers.iter(),
            answer.authority.iter(),
            std::iter::empty(),
            std::iter::empty(),
        );
        match response.send_response(message).await {
            Ok(info) => info,
            Err(e) => {
                eprintln!("lab DNS: sending a reply: {e}");
                metadata.response_code = ResponseCode::ServFail;
                ResponseInfo::from(Header {
                    metadata,
                    counts: HeaderCounts::default(),
                })
            }
        }
    }
}

/// The running server; it answers until dropped.
pub struct Dns {
    _server: Server<Authority>,
    /// Where it answers (UDP and TCP on each).
    pub addrs: Vec<SocketAddr>,
}

/// Starts answering on each of `addrs`, over UDP and TCP on the same port
/// (port 0: one free port for both). Must run inside the lab's runtime.
pub async fn serve(lab: Arc<Lab>, addrs: &[SocketAddr]) -> anyhow::Result<Dns> {
    let mut server = Server::new(Authority {
        lab,
        in_flight: Arc::new(tokio::sync::Semaphore::new(MAX_IN_FLIGHT)),
    });
    let mut bound = vec![];
    for addr in addrs {
        let tcp = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("TCP {addr} for the lab's DNS is taken"))?;
        let addr = tcp.local_addr()?;
        let udp = tokio::net::UdpSocket::bind(addr)
            .await
            .with_context(|| format!("UDP {addr} for the lab's DNS is taken"))?;
        server.register_socket(udp);
        server.register_listener(tcp, Duration::from_secs(10), 32);
        bound.push(addr);
    }
    Ok(Dns {
        _server: server,
        addrs: bound,
    })
}

#[cfg(test)]
mod tests;
