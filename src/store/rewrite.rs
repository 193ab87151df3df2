//! Rewriting every value under the store's prefix in place (the values kept before
//! they were signed): a scan of the one server, or of each primary of a cluster.

use redis::AsyncCommands;

use super::{RedisStore, StoreError};

impl RedisStore {
    /// Rewrites the values under the prefix that `rewrite` (given each key without the
    /// prefix, and a value) answers a new value for: strings, and each entry of a list.
    /// A value is replaced only if it is still the one read (a script compares and sets),
    /// and keeps its time to live. Answers how many keys were rewritten.
    pub(crate) async fn rewrite_values(
        &self,
        rewrite: &(dyn Fn(&str, &str) -> Option<String> + Send + Sync),
    ) -> Result<usize, StoreError> {
        let pattern = format!("{}*", self.prefix);
        let mut rewritten = 0usize;
        // A cluster's keys are spread over its primaries: each is scanned in turn.
        let mut conn = self.conn.clone();
        let primaries = self.bounded(conn.every_primary()).await?;
        for at in &primaries {
            let mut cursor = 0u64;
            loop {
                let mut scan = redis::cmd("SCAN");
                scan.arg(cursor)
                    .arg("MATCH")
                    .arg(&pattern)
                    .arg("COUNT")
                    .arg(500);
                let mut conn = self.conn.clone();
                let (next, keys): (u64, Vec<String>) =
                    self.bounded(conn.query_at(at.as_ref(), &scan)).await?;
                for full in keys {
                    let key = full.strip_prefix(&self.prefix).unwrap_or(&full).to_string();
                    if self.rewrite_one(&full, &key, rewrite).await? {
                        rewritten += 1;
                    }
                }
                cursor = next;
                if cursor == 0 {
                    break;
                }
            }
        }
        Ok(rewritten)
    }

    async fn rewrite_one(
        &self,
        full: &str,
        key: &str,
        rewrite: &(dyn Fn(&str, &str) -> Option<String> + Send + Sync),
    ) -> Result<bool, StoreError> {
        let mut conn = self.conn.clone();
        let kind: String = self
            .bounded(async { redis::cmd("TYPE").arg(full).query_async(&mut conn).await })
            .await?;
        match kind.as_str() {
            "string" => {
                let Some(old): Option<String> =
                    self.bounded(async { conn.get(full).await }).await?
                else {
                    return Ok(false);
                };
                let Some(new) = rewrite(key, &old) else {
                    return Ok(false);
                };
                let script = redis::Script::new(REWRITE_STRING);
                let done: i64 = self
                    .bounded(async {
                        script
                            .key(full)
                            .arg(&old)
                            .arg(&new)
                            .invoke_async(&mut conn)
                            .await
                    })
                    .await?;
                Ok(done == 1)
            }
            "list" => {
                let old: Vec<String> = self
                    .bounded(async { conn.lrange(full, 0, -1).await })
                    .await?;
                let new: Vec<String> = old
                    .iter()
                    .map(|v| rewrite(key, v).unwrap_or_else(|| v.clone()))
                    .collect();
                if new == old {
                    return Ok(false);
                }
                let script = redis::Script::new(REWRITE_LIST);
                let mut call = script.key(full);
                call.arg(old.len()).arg(&old).arg(&new);
                let done: i64 = self
                    .bounded(async { call.invoke_async(&mut conn).await })
                    .await?;
                Ok(done == 1)
            }
            _ => Ok(false),
        }
    }
}

/// Replaces a string with ARGV[2] if it is still ARGV[1], keeping its time to live.
const REWRITE_STRING: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
  return 1
end
return 0
";

/// Replaces a list's ARGV[1] entries (ARGV[2..n+1]) with ARGV[n+2..2n+1] if it still holds
/// exactly those, keeping its time to live.
const REWRITE_LIST: &str = r"
local n = tonumber(ARGV[1])
if redis.call('LLEN', KEYS[1]) ~= n then return 0 end
for i = 1, n do
  if redis.call('LINDEX', KEYS[1], i - 1) ~= ARGV[1 + i] then return 0 end
end
for i = 1, n do
  redis.call('LSET', KEYS[1], i - 1, ARGV[1 + n + i])
end
return 1
";
