//! The in-process store: one replica, lost on restart, and bounded.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::contract::{Store, StoreError};
use super::send_schedule::{Reservation, SendSchedule};

/// The most keys the in-process store keeps of each sort (values, lists, schedules).
pub const MEMORY_CAPACITY: usize = 10_000;

/// A store kept in this process: one replica only, and lost on restart. Bounded: past
/// its capacity, expired keys go first, then those closest to expiring (as Redis's
/// `volatile-ttl` does).
pub struct MemoryStore {
    capacity: usize,
    entries: Mutex<HashMap<String, (String, Instant)>>,
    lists: Mutex<HashMap<String, (Vec<String>, Instant)>>,
    schedules: Mutex<HashMap<String, SendSchedule>>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::with_capacity(MEMORY_CAPACITY)
    }
}

/// Makes room in `map` for `key`: nothing to do when it is there already or the map is
/// under `capacity`; else expired entries go, then those closest to expiring. Room is made
/// for a sixty-fourth of the capacity at once, so that a full store looks over its keys
/// once per that many new keys rather than once per key.
fn make_room<V>(map: &mut HashMap<String, (V, Instant)>, key: &str, capacity: usize) {
    if map.contains_key(key) || map.len() < capacity {
        return;
    }
    let now = Instant::now();
    map.retain(|_, (_, expires)| *expires > now);
    let keep = capacity.saturating_sub(1 + capacity / 64);
    if map.len() <= keep {
        return;
    }
    let mut expiries: Vec<Instant> = map.values().map(|(_, expires)| *expires).collect();
    let evict = map.len() - keep;
    let (_, last_evicted, _) = expiries.select_nth_unstable(evict - 1);
    let last_evicted = *last_evicted;
    let mut left = evict;
    map.retain(|_, (_, expires)| {
        if left > 0 && *expires <= last_evicted {
            left -= 1;
            false
        } else {
            true
        }
    });
}

impl MemoryStore {
    /// A store keeping at most `capacity` keys of each sort.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            capacity,
            entries: Mutex::default(),
            lists: Mutex::default(),
            schedules: Mutex::default(),
        }
    }

    fn put(&self, key: &str, value: String, ttl: Duration) {
        let mut entries = self.entries.lock().unwrap();
        make_room(&mut entries, key, self.capacity);
        entries.insert(key.to_string(), (value, Instant::now() + ttl));
    }

    fn live(entries: &HashMap<String, (String, Instant)>, key: &str) -> Option<String> {
        entries
            .get(key)
            .filter(|(_, expires)| *expires > Instant::now())
            .map(|(v, _)| v.clone())
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(Self::live(&self.entries.lock().unwrap(), key))
    }

    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<String>>, StoreError> {
        let entries = self.entries.lock().unwrap();
        Ok(keys.iter().map(|k| Self::live(&entries, k)).collect())
    }

    async fn set(&self, key: &str, value: &str, ttl: Duration) -> Result<(), StoreError> {
        self.put(key, value.to_string(), ttl);
        Ok(())
    }

    async fn set_if_absent(
        &self,
        key: &str,
        value: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let mut entries = self.entries.lock().unwrap();
        if Self::live(&entries, key).is_some() {
            return Ok(false);
        }
        make_room(&mut entries, key, self.capacity);
        entries.insert(key.to_string(), (value.to_string(), Instant::now() + ttl));
        Ok(true)
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.entries.lock().unwrap().remove(key);
        self.lists.lock().unwrap().remove(key);
        Ok(())
    }

    async fn expire(&self, key: &str, ttl: Duration) -> Result<bool, StoreError> {
        let mut entries = self.entries.lock().unwrap();
        if Self::live(&entries, key).is_none() {
            return Ok(false);
        }
        if let Some(entry) = entries.get_mut(key) {
            entry.1 = Instant::now() + ttl;
        }
        Ok(true)
    }

    async fn incr(&self, key: &str, ttl: Duration) -> Result<i64, StoreError> {
        let mut entries = self.entries.lock().unwrap();
        let current = match Self::live(&entries, key) {
            None => 0,
            Some(v) => v
                .parse::<i64>()
                .map_err(|_| StoreError::Backend("value is not an integer".into()))?,
        };
        make_room(&mut entries, key, self.capacity);
        entries.insert(
            key.to_string(),
            ((current + 1).to_string(), Instant::now() + ttl),
        );
        Ok(current + 1)
    }

    async fn push_recent(
        &self,
        key: &str,
        value: &str,
        keep: usize,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let mut lists = self.lists.lock().unwrap();
        let now = Instant::now();
        make_room(&mut lists, key, self.capacity);
        let entry = lists
            .entry(key.to_string())
            .or_insert_with(|| (Vec::new(), now));
        if entry.1 <= now {
            entry.0.clear();
        }
        entry.0.insert(0, value.to_string());
        entry.0.truncate(keep);
        entry.1 = now + ttl;
        Ok(())
    }

    async fn recent(&self, key: &str) -> Result<Vec<String>, StoreError> {
        let lists = self.lists.lock().unwrap();
        Ok(lists
            .get(key)
            .filter(|(_, expires)| *expires > Instant::now())
            .map(|(l, _)| l.clone())
            .unwrap_or_default())
    }

    async fn reserve(
        &self,
        key: &str,
        limit: u32,
        window: Duration,
        within: Duration,
    ) -> Result<Reservation, StoreError> {
        let now = tokio::time::Instant::now();
        let mut schedules = self.schedules.lock().unwrap();
        if !schedules.contains_key(key) && schedules.len() >= self.capacity {
            // A schedule whose last send is past and a window old holds nothing to keep.
            schedules.retain(|_, s| s.last().is_some_and(|t| t + window > now));
            if schedules.len() >= self.capacity {
                if let Some(any) = schedules.keys().next().cloned() {
                    schedules.remove(&any);
                }
            }
        }
        let booked = schedules
            .entry(key.to_string())
            .or_default()
            .book(now, limit, window, within);
        Ok(match booked {
            Ok((at, id)) => Reservation::Booked {
                wait: at - now,
                id: id.to_string(),
            },
            Err(at) => Reservation::Full { wait: at - now },
        })
    }

    async fn unbook(&self, key: &str, id: &str) -> Result<(), StoreError> {
        if let (Some(schedule), Ok(id)) = (self.schedules.lock().unwrap().get_mut(key), id.parse())
        {
            schedule.unbook(id);
        }
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }

    fn kind(&self) -> &'static str {
        "memory"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_memory_store_keeps_at_most_its_capacity_of_each_sort() {
        let store = MemoryStore::with_capacity(3);
        let long = Duration::from_secs(60);
        store
            .set("soon", "x", Duration::from_secs(5))
            .await
            .unwrap();
        store.set("a", "1", long).await.unwrap();
        store.set("b", "2", long).await.unwrap();
        // Full: the key closest to expiring makes room.
        assert!(store.set_if_absent("c", "3", long).await.unwrap());
        assert_eq!(store.get("soon").await.unwrap(), None);
        store.incr("n", long).await.unwrap();
        assert_eq!(store.entries.lock().unwrap().len(), 3);
        // Writing a key that is there takes no room.
        store.set("n", "5", long).await.unwrap();
        assert_eq!(store.entries.lock().unwrap().len(), 3);
        for i in 0..10 {
            store
                .push_recent(&format!("list-{i}"), "v", 10, long)
                .await
                .unwrap();
            store
                .reserve(
                    &format!("rate-{i}"),
                    10,
                    Duration::from_millis(1),
                    Duration::from_secs(1),
                )
                .await
                .unwrap();
        }
        assert_eq!(store.lists.lock().unwrap().len(), 3);
        assert!(store.schedules.lock().unwrap().len() <= 3);
        assert_eq!(store.recent("list-9").await.unwrap(), vec!["v".to_string()]);
    }

    #[tokio::test]
    async fn a_full_memory_store_lets_the_keys_closest_to_expiring_go_first() {
        let store = MemoryStore::with_capacity(640);
        for i in 0..640u64 {
            store
                .set(&format!("k{i}"), "v", Duration::from_secs(1000 + i))
                .await
                .unwrap();
        }
        store
            .set("new", "v", Duration::from_secs(10))
            .await
            .unwrap();
        let len = store.entries.lock().unwrap().len();
        assert!(len <= 640, "{len} keys kept");
        // Room is made for a few at once, and only the soonest to expire give it.
        let gone = (0..640)
            .take_while(|i| {
                store
                    .entries
                    .lock()
                    .unwrap()
                    .get(&format!("k{i}"))
                    .is_none()
            })
            .count();
        assert!(gone > 1, "{gone} went");
        assert_eq!(len, 640 - gone + 1);
        assert_eq!(store.get("new").await.unwrap().as_deref(), Some("v"));
        assert_eq!(store.get("k639").await.unwrap().as_deref(), Some("v"));
        // The next new keys fit in the room made, with nothing else going.
        for i in 1..gone {
            store
                .set(&format!("more{i}"), "v", Duration::from_secs(5000))
                .await
                .unwrap();
        }
        assert_eq!(
            store.get(&format!("k{gone}")).await.unwrap().as_deref(),
            Some("v")
        );
    }

    #[tokio::test]
    async fn memory_store_expires_entries_and_claims_once() {
        let store = MemoryStore::default();
        assert!(store
            .set_if_absent("k", "1", Duration::from_millis(40))
            .await
            .unwrap());
        assert!(!store
            .set_if_absent("k", "2", Duration::from_secs(1))
            .await
            .unwrap());
        assert_eq!(store.get("k").await.unwrap().as_deref(), Some("1"));
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert_eq!(store.get("k").await.unwrap(), None);
        assert!(store
            .set_if_absent("k", "3", Duration::from_secs(1))
            .await
            .unwrap());
        store
            .set("other", "x", Duration::from_secs(1))
            .await
            .unwrap();
        assert_eq!(
            store
                .get_many(&["k".into(), "missing".into(), "other".into()])
                .await
                .unwrap(),
            vec![Some("3".into()), None, Some("x".into())]
        );
    }
}
