//! What the organization offers every form: its Tallyfy groups and tags, each listed once
//! and cached for ten minutes. When Tallyfy refuses or fails to list them, it is not asked
//! again for a minute, and the forms open without them meanwhile.

use std::future::Future;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{Directory, DirectoryError};
use crate::tallyfy::model::{Group, Tag};
use crate::tallyfy::TallyfyError;

/// How long a list is kept.
const LIST_TTL: Duration = Duration::from_secs(600);
/// How long a refusal or failure to list is kept.
const FAILURE_TTL: Duration = Duration::from_secs(60);

impl Directory {
    /// The organization's Tallyfy groups.
    pub async fn groups(&self) -> Result<Vec<Group>, DirectoryError> {
        self.cached_list("groups", self.tallyfy.list_groups()).await
    }

    /// The organization's Tallyfy tags.
    pub async fn tags(&self) -> Result<Vec<Tag>, DirectoryError> {
        self.cached_list("tags", self.tallyfy.list_tags()).await
    }

    async fn cached_list<T: Serialize + DeserializeOwned>(
        &self,
        key: &str,
        list: impl Future<Output = Result<Vec<T>, TallyfyError>>,
    ) -> Result<Vec<T>, DirectoryError> {
        let failed = format!("{key}:failed");
        if let Ok(Some(raw)) = self.store.get(key).await {
            if let Ok(found) = serde_json::from_str(&raw) {
                return Ok(found);
            }
        }
        if let Ok(Some(_)) = self.store.get(&failed).await {
            return Ok(Vec::new());
        }
        let found = match list.await {
            Ok(found) => found,
            Err(e) => {
                tracing::warn!(error = %e, list = key, "could not list them in Tallyfy; forms leave them out for a minute");
                let _ = self.store.set(&failed, "1", FAILURE_TTL).await;
                return Err(e.into());
            }
        };
        if let Ok(raw) = serde_json::to_string(&found) {
            let _ = self.store.set(key, &raw, LIST_TTL).await;
        }
        Ok(found)
    }
}
