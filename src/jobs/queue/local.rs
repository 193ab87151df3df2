//! The in-process job queue: what runs jobs without Redis, and a replica's own jobs when
//! Redis could not take them. Nothing in it survives the process.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{mpsc, Mutex};

use super::{Delivery, Queue};
use crate::store::StoreError;

/// The most jobs the in-process queue keeps waiting; far above any real backlog of one
/// replica, it keeps a flood of submissions from taking all memory.
pub const LOCAL_CAPACITY: u64 = 10_000;

/// The in-process queue: one replica, nothing survives the process.
pub struct LocalQueue {
    capacity: u64,
    sender: mpsc::UnboundedSender<(String, u32)>,
    receiver: Mutex<mpsc::UnboundedReceiver<(String, u32)>>,
    next_id: AtomicU64,
    /// Jobs not handed out yet: in the channel, or waiting out a `retry_later` pause.
    /// Counted apart from the channel so `depth` never waits for the reader's lock.
    waiting: Arc<AtomicU64>,
    /// Jobs handed out and not yet acknowledged, released or put back.
    taken: AtomicU64,
}

impl Default for LocalQueue {
    fn default() -> Self {
        Self::with_capacity(LOCAL_CAPACITY)
    }
}

impl LocalQueue {
    /// A queue that refuses a job while `capacity` are waiting.
    pub fn with_capacity(capacity: u64) -> Self {
        let (sender, receiver) = mpsc::unbounded_channel();
        Self {
            capacity,
            sender,
            receiver: Mutex::new(receiver),
            next_id: AtomicU64::new(0),
            waiting: Arc::new(AtomicU64::new(0)),
            taken: AtomicU64::new(0),
        }
    }
}

#[async_trait]
impl Queue for LocalQueue {
    async fn push(&self, payload: &str) -> Result<(), StoreError> {
        let capacity = self.capacity;
        self.waiting
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < capacity).then_some(n + 1)
            })
            .map_err(|_| StoreError::Backend("the local queue is full".into()))?;
        self.sender.send((payload.to_string(), 1)).map_err(|_| {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            StoreError::Backend("the local queue is closed".into())
        })
    }

    async fn next(&self, wait: Duration) -> Result<Option<Delivery>, StoreError> {
        let mut receiver = self.receiver.lock().await;
        match tokio::time::timeout(wait, receiver.recv()).await {
            Ok(Some((payload, deliveries))) => {
                self.taken.fetch_add(1, Ordering::SeqCst);
                self.waiting.fetch_sub(1, Ordering::SeqCst);
                Ok(Some(Delivery {
                    id: format!("local-{}", self.next_id.fetch_add(1, Ordering::Relaxed)),
                    payload,
                    deliveries,
                }))
            }
            Ok(None) | Err(_) => Ok(None),
        }
    }

    async fn touch(&self, _id: &str) -> Result<(), StoreError> {
        Ok(())
    }

    async fn release(&self, _id: &str) -> Result<(), StoreError> {
        self.taken.fetch_sub(1, Ordering::SeqCst);
        Ok(())
    }

    async fn ack(&self, _id: &str) -> Result<(), StoreError> {
        self.taken.fetch_sub(1, Ordering::SeqCst);
        Ok(())
    }

    async fn depth(&self) -> Result<(u64, u64), StoreError> {
        Ok((
            self.waiting.load(Ordering::SeqCst),
            self.taken.load(Ordering::SeqCst),
        ))
    }

    async fn retry_later(&self, delivery: &Delivery, after: Duration) {
        let sender = self.sender.clone();
        let again = (delivery.payload.clone(), delivery.deliveries + 1);
        self.waiting.fetch_add(1, Ordering::SeqCst);
        self.taken.fetch_sub(1, Ordering::SeqCst);
        let waiting = self.waiting.clone();
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            if sender.send(again).is_err() {
                waiting.fetch_sub(1, Ordering::SeqCst);
            }
        });
    }

    fn kind(&self) -> &'static str {
        "memory"
    }
}
