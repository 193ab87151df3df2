//! One server's connection on which single commands that many tasks send at about the same
//! moment go to Redis together, as one pipeline: one write and one read for the lot
//! instead of one each. Under load that is most of what a command costs, for the service
//! and for Redis alike; alone, a command waits only for the tasks that were already ready
//! to run (one turn of the scheduler) before it is sent.
//!
//! Each command keeps its own answer, errors included (a pipeline that is not a
//! transaction answers each command on its own). When the connection fails, every command
//! of the batch gets that error, as each would have alone. A caller's pipeline or
//! transaction joins a batch whole, its commands one after the other and a transaction
//! between its own `MULTI` and `EXEC`, so it stays as atomic as it was sent alone.

use std::sync::{Arc, OnceLock};

use redis::aio::{ConnectionLike, ConnectionManager};
use redis::{Cmd, Pipeline, RedisFuture, RedisResult, Value};
use tokio::sync::{mpsc, oneshot};

/// The most commands sent as one pipeline.
const MOST_AT_ONCE: usize = 64;

/// A command, or a caller's pipeline, waiting for its batch, and where its answer goes.
struct Queued {
    /// A pipeline's commands, a transaction's between its `MULTI` and `EXEC`.
    cmds: Vec<Cmd>,
    /// `None` for a single command, whose one answer is its caller's.
    share: Option<Share>,
    answer: oneshot::Sender<RedisResult<Vec<Value>>>,
}

/// Which of a pipeline's answers its caller asked for.
#[derive(Clone, Copy)]
struct Share {
    transaction: bool,
    offset: usize,
    count: usize,
}

impl Share {
    /// The caller's answer out of its pipeline's answers: what the connection would have
    /// answered had it been sent alone.
    fn answer(share: Option<Share>, values: Vec<Value>) -> RedisResult<Vec<Value>> {
        let Some(Share {
            transaction,
            offset,
            count,
        }) = share
        else {
            return Ok(values);
        };
        if transaction {
            // A command refused as it was queued aborts the transaction.
            if let Some(refused) = values[..offset].iter().find_map(|v| match v {
                Value::ServerError(e) => Some(e.clone()),
                _ => None,
            }) {
                return Err(refused.into());
            }
        }
        Ok(values.into_iter().skip(offset).take(count).collect())
    }
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
        if self.queue.is_none() {
            return self.conn.req_packed_command(cmd).await;
        }
        let mut values = self.enqueue(vec![cmd.clone()], None).await?;
        values.pop().ok_or_else(|| {
            redis::RedisError::from((redis::ErrorKind::Client, "a command got no answer"))
        })
    }

    async fn send_pipeline(
        &mut self,
        pipeline: &Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisResult<Vec<Value>> {
        if self.queue.is_none() {
            return self.conn.req_packed_commands(pipeline, offset, count).await;
        }
        let transaction = pipeline.is_transaction();
        let mut cmds = Vec::with_capacity(pipeline.len() + 2);
        if transaction {
            cmds.push(redis::cmd("MULTI"));
        }
        cmds.extend(pipeline.cmd_iter().cloned());
        if transaction {
            cmds.push(redis::cmd("EXEC"));
        }
        let share = Share {
            transaction,
            offset,
            count,
        };
        self.enqueue(cmds, Some(share)).await
    }

    /// Hands `cmds` to the gathering task and waits for their answer.
    async fn enqueue(&mut self, cmds: Vec<Cmd>, share: Option<Share>) -> RedisResult<Vec<Value>> {
        let queue = self.queue.as_ref().expect("a gathering connection");
        let queue = queue.get_or_init(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(gather(self.conn.clone(), rx));
            tx
        });
        let (answer, answered) = oneshot::channel();
        if let Err(mpsc::error::SendError(queued)) = queue.send(Queued {
            cmds,
            share,
            answer,
        }) {
            // The runtime that gathered batches is gone (it shut down): send it alone.
            let mut conn = self.conn.clone();
            let (_, result) = send_batch_now(&mut conn, vec![queued])
                .await
                .pop()
                .expect("one answer");
            return result;
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
        let mut commands = first.cmds.len();
        let mut batch = vec![first];
        while commands < MOST_AT_ONCE {
            match rx.try_recv() {
                Ok(queued) => {
                    commands += queued.cmds.len();
                    batch.push(queued);
                }
                Err(_) => break,
            }
        }
        tokio::spawn(send_batch(conn.clone(), batch));
    }
}

async fn send_batch(mut conn: ConnectionManager, batch: Vec<Queued>) {
    let answers = send_batch_now(&mut conn, batch).await;
    for (answer, result) in answers {
        let _ = answer.send(result);
    }
}

/// Sends `batch` as one pipeline (a lone command as itself) and pairs each request's
/// answer with where it goes.
async fn send_batch_now(
    conn: &mut ConnectionManager,
    batch: Vec<Queued>,
) -> Vec<(
    oneshot::Sender<RedisResult<Vec<Value>>>,
    RedisResult<Vec<Value>>,
)> {
    if let [Queued {
        cmds, share: None, ..
    }] = batch.as_slice()
    {
        let result = conn.req_packed_command(&cmds[0]).await.map(|v| vec![v]);
        let Queued { answer, .. } = batch.into_iter().next().expect("one");
        return vec![(answer, result)];
    }
    let count: usize = batch.iter().map(|q| q.cmds.len()).sum();
    let mut pipeline = Pipeline::with_capacity(count);
    let mut requests = Vec::with_capacity(batch.len());
    for Queued {
        cmds,
        share,
        answer,
    } in batch
    {
        requests.push((cmds.len(), share, answer));
        for cmd in cmds {
            pipeline.add_command(cmd);
        }
    }
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
            let mut values = values.into_iter();
            requests
                .into_iter()
                .map(|(len, share, answer)| {
                    let own: Vec<Value> = values.by_ref().take(len).collect();
                    (answer, Share::answer(share, own))
                })
                .collect()
        }
        Err(e) => requests
            .into_iter()
            .map(|(_, _, answer)| (answer, Err(e.clone())))
            .collect(),
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
        Box::pin(self.send_pipeline(pipeline, offset, count))
    }

    fn get_db(&self) -> i64 {
        self.conn.get_db()
    }
}
