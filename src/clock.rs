//! What time it is, for what the app does at a time of day (the morning digest): the
//! system's clock, unless a test has set it.

use std::sync::{Arc, Mutex};

use jiff::Timestamp;

/// The app's clock. Cheap to clone; every clone reads the same time.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    set: Arc<Mutex<Option<Timestamp>>>,
}

impl Clock {
    /// Now: the time set, else the system's.
    pub fn now(&self) -> Timestamp {
        self.set.lock().unwrap().unwrap_or_else(Timestamp::now)
    }

    /// Makes it `at` from now on, for a test that cannot wait for a time of day.
    pub fn set(&self, at: Timestamp) {
        *self.set.lock().unwrap() = Some(at);
    }
}
