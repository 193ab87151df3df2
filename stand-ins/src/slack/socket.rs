//! Socket Mode: the WebSocket Slack opens to the app.

use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::response::Response;
use serde_json::{json, Value};

use super::*;

pub(super) async fn socket(
    ws: axum::extract::ws::WebSocketUpgrade,
    State(inner): State<Arc<Mutex<Inner>>>,
) -> Response {
    use axum::extract::ws::Message as Ws;
    use futures::{SinkExt, StreamExt};
    ws.on_upgrade(move |socket| async move {
        let (mut sink, mut stream) = socket.split();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Option<String>>();
        {
            let mut s = inner.lock().unwrap();
            if let Some(old) = s.socket.replace(tx) {
                s.retired.push(old);
            }
        }
        let hello = json!({"type": "hello", "num_connections": 1, "debug_info": {"host": "fake"}, "connection_info": {"app_id": "A0TEST"}});
        if sink.send(Ws::Text(hello.to_string().into())).await.is_err() {
            return;
        }
        loop {
            tokio::select! {
                out = rx.recv() => match out {
                    Some(Some(text)) if text == FREEZE => {
                        // Hold the socket open and never touch it again.
                        let _held = (sink, stream);
                        std::future::pending::<()>().await;
                        return;
                    }
                    Some(Some(text)) => {
                        if sink.send(Ws::Text(text.into())).await.is_err() {
                            break;
                        }
                    }
                    // Dropped by the test.
                    _ => break,
                },
                frame = stream.next() => match frame {
                    Some(Ok(Ws::Text(text))) => {
                        if let Ok(ack) = serde_json::from_str::<Value>(text.as_str()) {
                            inner.lock().unwrap().acks.push(ack);
                        }
                    }
                    Some(Ok(Ws::Close(_))) | None | Some(Err(_)) => break,
                    _ => {}
                },
            }
        }
    })
}
