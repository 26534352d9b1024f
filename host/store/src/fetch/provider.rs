//! A place to fetch from: a [`Provider`] parsed from a ticket or a node
//! address.

use std::fmt;
use std::str::FromStr;

use clusterai_types::ContentHash;
use iroh::{EndpointAddr, EndpointId, TransportAddr};
use iroh_blobs::BlobFormat;
use iroh_blobs::ticket::BlobTicket;

use super::FetchError;
use crate::store::from_iroh;

/// A place to fetch from: a ticket or a node address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provider {
    /// The node and its addresses.
    pub addr: EndpointAddr,
    /// The content named by the ticket, if it was one.
    pub ticket_content: Option<(ContentHash, BlobFormat)>,
}

impl Provider {
    /// A provider at `addr`.
    pub fn new(addr: EndpointAddr) -> Self {
        Self {
            addr,
            ticket_content: None,
        }
    }

    /// The provider's node id.
    pub fn node_id(&self) -> EndpointId {
        self.addr.id
    }
}

impl From<EndpointAddr> for Provider {
    fn from(addr: EndpointAddr) -> Self {
        Self::new(addr)
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.addr.id)?;
        let ips: Vec<String> = self.addr.ip_addrs().map(|a| a.to_string()).collect();
        if !ips.is_empty() {
            write!(f, "@{}", ips.join(","))?;
        }
        Ok(())
    }
}

impl FromStr for Provider {
    type Err = FetchError;

    /// Accepts a blob ticket (`blob...`), `NODE_ID@IP:PORT[,IP:PORT...]`, or a
    /// bare `NODE_ID` (dialable only with discovery enabled).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let malformed = |reason: String, source: Box<dyn std::error::Error + Send + Sync>| {
            FetchError::MalformedProvider {
                input: s.to_string(),
                reason,
                source,
            }
        };
        if s.starts_with("blob") {
            let ticket =
                BlobTicket::from_str(s).map_err(|e| malformed("bad ticket".into(), e.into()))?;
            let (addr, hash, format) = ticket.into_parts();
            return Ok(Self {
                addr,
                ticket_content: Some((from_iroh(hash), format)),
            });
        }
        let (id, addrs) = match s.split_once('@') {
            Some((id, addrs)) => (id, Some(addrs)),
            None => (s, None),
        };
        let id = EndpointId::from_str(id).map_err(|e| {
            malformed(
                format!("not a ticket, and {id:?} is not a node id"),
                e.into(),
            )
        })?;
        let mut addr = EndpointAddr::new(id);
        if let Some(addrs) = addrs {
            for a in addrs.split(',') {
                let sock = a
                    .parse::<std::net::SocketAddr>()
                    .map_err(|e| malformed(format!("bad socket address {a:?}"), e.into()))?;
                addr.addrs.insert(TransportAddr::Ip(sock));
            }
        }
        Ok(Self::new(addr))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_node_addresses_and_names_bad_input() {
        let id = iroh::SecretKey::generate().public();
        let p: Provider = format!("{id}@127.0.0.1:4000,127.0.0.1:4001")
            .parse()
            .unwrap();
        assert_eq!(p.node_id(), id);
        assert_eq!(p.addr.ip_addrs().count(), 2);
        let bare: Provider = id.to_string().parse().unwrap();
        assert_eq!(bare.addr.ip_addrs().count(), 0);
        for bad in ["blobnotaticket", "xyz", &format!("{id}@notasocket")] {
            let err = bad.parse::<Provider>().unwrap_err();
            assert!(
                matches!(err, FetchError::MalformedProvider { .. }),
                "{bad}: {err}"
            );
            // The parser's error is kept as the source.
            assert!(std::error::Error::source(&err).is_some(), "{bad}: {err}");
        }
    }
}
