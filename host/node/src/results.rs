//! Results delivered to a buyer over iroh.
//!
//! The chain settles digests, not outputs: once a node has revealed, it
//! sends the output and its signed receipt to the task's providers (the
//! buyer's endpoint, typically) on ALPN [`RESULTS_ALPN`]. One delivery is
//! one bidirectional stream: a `u32` big-endian header length, the header
//! as JSON ([`DeliveryHeader`]), then the output bytes; the buyer answers
//! `ok` or why not. A buyer trusts none of it until it has checked the
//! sender against the committee, the receipt's signature and the output's
//! digest against the one that won on chain.

use std::time::Duration;

use clusterai_store::Provider;
use clusterai_types::SignedReceipt;
use iroh::endpoint::Connection;
use iroh::protocol::{AcceptError, ProtocolHandler};
use iroh::{Endpoint, EndpointId};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

/// The ALPN of result delivery.
pub const RESULTS_ALPN: &[u8] = b"clusterai/result/1";

/// The largest header a buyer reads.
const MAX_HEADER_BYTES: usize = 64 << 10;

/// How long one delivery may take, dial included.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(20);

/// What comes with an output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryHeader {
    /// The chain the task lives on.
    pub chain_id: String,
    /// The task market's id of the task.
    pub task_id: u64,
    /// The output's content type.
    pub content_type: String,
    /// The canonical form the node voted with (`exact`, `round-N`,
    /// `top-K`), as the plugin declares it.
    #[serde(default = "exact")]
    pub canonical: String,
    /// The node's signed receipt of the run.
    pub receipt: SignedReceipt,
}

fn exact() -> String {
    "exact".into()
}

/// A delivery as the buyer received it: unverified.
#[derive(Debug, Clone)]
pub struct Received {
    /// The sender's iroh node id (authenticated by the connection).
    pub from: EndpointId,
    /// What it said about the output.
    pub header: DeliveryHeader,
    /// The output.
    pub output: Vec<u8>,
}

/// The buyer's side: accepts deliveries and hands them on, unverified.
#[derive(Debug, Clone)]
pub struct Inbox {
    tx: mpsc::Sender<Received>,
    max_output_bytes: usize,
}

impl Inbox {
    /// An inbox taking outputs up to `max_output_bytes`, and the receiver
    /// its deliveries arrive on (a full receiver refuses deliveries).
    pub fn new(max_output_bytes: usize) -> (Self, mpsc::Receiver<Received>) {
        let (tx, rx) = mpsc::channel(64);
        (
            Inbox {
                tx,
                max_output_bytes,
            },
            rx,
        )
    }

    /// Reads one delivery; the answer to send back.
    async fn receive(&self, conn: &Connection) -> Result<String, String> {
        let (mut send, mut recv) = conn.accept_bi().await.map_err(|e| e.to_string())?;
        let limit = 4 + MAX_HEADER_BYTES + self.max_output_bytes;
        let answer = match recv.read_to_end(limit).await {
            Err(e) => format!("unreadable: {e}"),
            Ok(bytes) => match parse(&bytes) {
                Err(why) => why,
                Ok((header, output)) => {
                    let received = Received {
                        from: conn.remote_id(),
                        header,
                        output: output.to_vec(),
                    };
                    match self.tx.try_send(received) {
                        Ok(()) => "ok".into(),
                        Err(_) => "busy: the buyer is not taking deliveries".into(),
                    }
                }
            },
        };
        send.write_all(answer.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        send.finish().map_err(|e| e.to_string())?;
        Ok(answer)
    }
}

impl ProtocolHandler for Inbox {
    async fn accept(&self, conn: Connection) -> Result<(), AcceptError> {
        let peer = conn.remote_id();
        match tokio::time::timeout(DELIVERY_TIMEOUT, self.receive(&conn)).await {
            Ok(Ok(answer)) if answer == "ok" => tracing::debug!(%peer, "delivery received"),
            Ok(Ok(answer)) => tracing::warn!(%peer, %answer, "delivery refused"),
            Ok(Err(e)) => tracing::warn!(%peer, error = %e, "delivery failed"),
            Err(_) => tracing::warn!(%peer, "delivery timed out"),
        }
        // Let the answer reach the sender before the connection drops.
        tokio::time::timeout(Duration::from_secs(2), conn.closed())
            .await
            .ok();
        Ok(())
    }
}

/// Splits a delivery into its header and output.
fn parse(bytes: &[u8]) -> Result<(DeliveryHeader, &[u8]), String> {
    let (len, rest) = bytes
        .split_first_chunk::<4>()
        .ok_or("malformed: shorter than its length prefix")?;
    let len = u32::from_be_bytes(*len) as usize;
    if len > MAX_HEADER_BYTES || len > rest.len() {
        return Err(format!(
            "malformed: a {len}-byte header (at most {MAX_HEADER_BYTES}, {} bytes sent)",
            rest.len()
        ));
    }
    let (header, output) = rest.split_at(len);
    let header = serde_json::from_slice(header).map_err(|e| format!("malformed header: {e}"))?;
    Ok((header, output))
}

/// Encodes a delivery.
fn encode(header: &DeliveryHeader, output: &[u8]) -> Vec<u8> {
    let header = serde_json::to_vec(header).expect("a header serialises");
    let mut bytes = Vec::with_capacity(4 + header.len() + output.len());
    bytes.extend_from_slice(&(header.len() as u32).to_be_bytes());
    bytes.extend_from_slice(&header);
    bytes.extend_from_slice(output);
    bytes
}

/// Sends a delivery to `to` from `endpoint`; `Ok` once the buyer said `ok`.
pub async fn deliver(
    endpoint: &Endpoint,
    to: &Provider,
    header: &DeliveryHeader,
    output: &[u8],
) -> Result<(), String> {
    let send = async {
        let conn = endpoint
            .connect(to.addr.clone(), RESULTS_ALPN)
            .await
            .map_err(|e| format!("cannot reach {to}: {e}"))?;
        let (mut send, mut recv) = conn.open_bi().await.map_err(|e| e.to_string())?;
        send.write_all(&encode(header, output))
            .await
            .map_err(|e| e.to_string())?;
        send.finish().map_err(|e| e.to_string())?;
        let answer = recv.read_to_end(1024).await.map_err(|e| e.to_string())?;
        conn.close(0u32.into(), b"done");
        match String::from_utf8_lossy(&answer).as_ref() {
            "ok" => Ok(()),
            other => Err(format!("{to} refused the delivery: {other}")),
        }
    };
    tokio::time::timeout(DELIVERY_TIMEOUT, send)
        .await
        .map_err(|_| format!("delivering to {to} timed out"))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_frames_are_named() {
        assert!(parse(b"ab").unwrap_err().contains("length prefix"));
        let mut huge = (u32::MAX).to_be_bytes().to_vec();
        huge.extend_from_slice(b"{}");
        assert!(parse(&huge).unwrap_err().contains("header"));
        let mut short = 10u32.to_be_bytes().to_vec();
        short.extend_from_slice(b"{}");
        assert!(parse(&short).unwrap_err().contains("2 bytes sent"));
        let mut junk = 2u32.to_be_bytes().to_vec();
        junk.extend_from_slice(b"{}output");
        assert!(parse(&junk).unwrap_err().contains("malformed header"));
    }
}
