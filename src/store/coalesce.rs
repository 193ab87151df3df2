//! One server's connection on which single commands that many tasks send at about the same
//! moment go to Redis together, as one pipeline: one write and one read for the lot
//! instead of one each. Under load that is most of what a command costs, for the service
//! and for Redis alike; alone, a command waits only for the tasks that were already ready
//! to run (one turn of the scheduler) before it is sent.
//!
//! Each command keeps its own answer, errors included (a pipeline that is not a
//! transaction answers each command on its own). When the connection fails, every command
//! of the batch gets that error, as each would have alone. Pipelines and transactions are
//! sent as they are, never mixed with others.

use std::sync::{Arc, OnceLock};

use redis::aio::{ConnectionLike, ConnectionManager};
use redis::{Cmd, Pipeline, RedisFuture, RedisResult, Value};
use tokio::sync::{mpsc, oneshot};

/// The most commands sent as one pipeline.
const MOST_AT_ONCE: usize = 64;

/// A command waiting for its batch, and where its answer goes.
struct Queued {
    cmd: Cmd,
    answer: oneshot::Sender<RedisResult<Value>>,
}

/// A [`ConnectionManager`] whose single commands are sent in batches.
#[derive(Clone)]
pub struct Coalescing {
    conn: ConnectionManager,
    /// Started with the first command, on the runtime that sends it; `None` on a
    /// connection that waits on blocking reads, where every command goes alone.
    queue: Option<Arc<OnceLock<mpsc::UnboundedSender<Queued>>>>,
}

impl Coalescing {
    /// Commands sent in batches.
    pub fn new(conn: ConnectionManager) -> Self {
        Self {
            conn,
            queue: Some(Arc::new(OnceLock::new())),
        }
    }

    /// Each command sent alone: for a connection that blocks on reads.
    pub fn alone(conn: ConnectionManager) -> Self {
        Self { conn, queue: None }
    }

    async fn send(&mut self, cmd: &Cmd) -> RedisResult<Value> {
        let Some(queue) = &self.queue else {
            return self.conn.req_packed_command(cmd).await;
        };
        let queue = queue.get_or_init(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(gather(self.conn.clone(), rx));
            tx
        });
        let (answer, answered) = oneshot::channel();
        let queued = Queued {
            cmd: cmd.clone(),
            answer,
        };
        if queue.send(queued).is_err() {
            // The runtime that gathered batches is gone (it shut down): send it alone.
            return self.conn.req_packed_command(cmd).await;
        }
        // A batch dropped with its runtime may have been sent: its answer is lost, as with
        // a dropped connection, and the caller treats the command as in doubt rather than
        // have it sent twice.
        answered.await.unwrap_or_else(|_| {
            Err(redis::RedisError::from(std::io::Error::new(
                std::io::ErrorKind::ConnectionAborted,
                "the batch was dropped before its answer came",
            )))
        })
    }
}

/// Takes the commands waiting, after the tasks ready to run have had their turn (and so
/// their chance to add theirs), and sends them together.
async fn gather(conn: ConnectionManager, mut rx: mpsc::UnboundedReceiver<Queued>) {
    while let Some(first) = rx.recv().await {
        tokio::task::yield_now().await;
        let mut batch = vec![first];
        while batch.len() < MOST_AT_ONCE {
            match rx.try_recv() {
                Ok(queued) => batch.push(queued),
                Err(_) => break,
            }
        }
        tokio::spawn(send_batch(conn.clone(), batch));
    }
}

async fn send_batch(mut conn: ConnectionManager, batch: Vec<Queued>) {
    if batch.len() == 1 {
        let Queued { cmd, answer } = batch.into_iter().next().expect("one");
        let _ = answer.send(conn.req_packed_command(&cmd).await);
        return;
    }
    let mut pipeline = Pipeline::with_capacity(batch.len());
    let mut answers = Vec::with_capacity(batch.len());
    for Queued { cmd, answer } in batch {
        pipeline.add_command(cmd);
        answers.push(answer);
    }
    let count = answers.len();
    let answered = conn
        .req_packed_commands(&pipeline, 0, count)
        .await
        .and_then(|values| {
            if values.len() == count {
                Ok(values)
            } else {
                Err(redis::RedisError::from((
                    redis::ErrorKind::Client,
                    "a batch of commands got the wrong number of answers",
                    format!("{} for {count}", values.len()),
                )))
            }
        });
    match answered {
        Ok(values) => {
            for (answer, value) in answers.into_iter().zip(values) {
                let _ = answer.send(Ok(value));
            }
        }
        Err(e) => {
            for answer in answers {
                let _ = answer.send(Err(e.clone()));
            }
        }
    }
}

impl ConnectionLike for Coalescing {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(self.send(cmd))
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        self.conn.req_packed_commands(pipeline, offset, count)
    }

    fn get_db(&self) -> i64 {
        self.conn.get_db()
    }
}
