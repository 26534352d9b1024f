//! Following the market's transactions over CometBFT's websocket.
//!
//! Events only say "look now": whoever follows them still reads the state
//! it needs with queries. After every (re)connect the follower is woken as
//! well, so that it catches up by polling on what happened while the
//! socket was down: no assigned task is missed, whatever the socket lost.

use std::sync::Weak;
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio::sync::Notify;
use tokio_websockets::{ClientBuilder, Message};

/// The longest wait between two connection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// The websocket URL of a CometBFT RPC at `rpc_url` (`http://host:port`).
pub fn websocket_url(rpc_url: &str) -> String {
    let rest = rpc_url
        .strip_prefix("https://")
        .map(|r| format!("wss://{r}"))
        .or_else(|| rpc_url.strip_prefix("http://").map(|r| format!("ws://{r}")))
        .unwrap_or_else(|| rpc_url.to_owned());
    format!("{}/websocket", rest.trim_end_matches('/'))
}

/// Wakes `wake` on every transaction of `contract` and after every
/// (re)connect, until `wake` is dropped. Reconnects with backoff.
pub(crate) async fn follow(ws_url: String, contract: String, wake: Weak<Notify>) {
    let mut backoff = Duration::from_millis(250);
    loop {
        let Some(w) = wake.upgrade() else {
            return;
        };
        drop(w);
        match session(&ws_url, &contract, &wake).await {
            Ok(()) => return,
            Err(e) => {
                tracing::debug!(url = %ws_url, error = %e, "chain events: connection lost");
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// One connection: subscribes, then wakes on each event. `Ok` only when
/// nobody listens any more.
async fn session(ws_url: &str, contract: &str, wake: &Weak<Notify>) -> Result<(), String> {
    let uri = ws_url
        .parse()
        .map_err(|e| format!("bad websocket URL {ws_url}: {e}"))?;
    let (mut socket, _) = ClientBuilder::from_uri(uri)
        .connect()
        .await
        .map_err(|e| e.to_string())?;
    let query = format!("tm.event='Tx' AND wasm._contract_address='{contract}'");
    let subscribe =
        json!({"jsonrpc": "2.0", "id": 1, "method": "subscribe", "params": {"query": query}});
    socket
        .send(Message::text(subscribe.to_string()))
        .await
        .map_err(|e| e.to_string())?;
    tracing::debug!(url = %ws_url, "chain events: subscribed");
    // Whatever happened while the socket was down is caught up by a poll.
    match wake.upgrade() {
        Some(w) => w.notify_one(),
        None => return Ok(()),
    }
    while let Some(message) = socket.next().await {
        let message = message.map_err(|e| e.to_string())?;
        let Some(text) = message.as_text() else {
            continue;
        };
        let Ok(v) = serde_json::from_str::<Value>(text) else {
            continue;
        };
        if let Some(error) = v.get("error") {
            return Err(format!("the chain refused the subscription: {error}"));
        }
        // The subscription's own answer has an empty result; events carry
        // `result.events`.
        if v["result"].get("events").is_some() {
            match wake.upgrade() {
                Some(w) => w.notify_one(),
                None => return Ok(()),
            }
        }
    }
    Err("the chain closed the connection".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn websocket_urls_follow_the_rpc_scheme() {
        assert_eq!(
            websocket_url("http://127.0.0.1:26657"),
            "ws://127.0.0.1:26657/websocket"
        );
        assert_eq!(
            websocket_url("https://rpc.example/"),
            "wss://rpc.example/websocket"
        );
    }
}
