//! Slack's ids as types of their own, so a channel id can never be passed where a user id
//! is expected. Each is the id exactly as Slack sends it, and reads and writes as a plain
//! string in JSON (stored jobs keep their shape).

use serde::{Deserialize, Serialize};

macro_rules! slack_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn new(id: impl Into<String>) -> Self {
                Self(id.into())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<String> for $name {
            fn from(id: String) -> Self {
                Self(id)
            }
        }

        impl From<&str> for $name {
            fn from(id: &str) -> Self {
                Self(id.to_string())
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
    };
}

slack_id!(
    /// A workspace: `T…`.
    TeamId
);
slack_id!(
    /// A person (or a bot): `U…` or `W…`.
    UserId
);
slack_id!(
    /// A channel, a private channel or a direct message: `C…`, `G…`, `D…`; a user id
    /// where a direct message is meant.
    ChannelId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_read_and_write_as_plain_strings() {
        let user: UserId = serde_json::from_str("\"U123\"").unwrap();
        assert_eq!(user, "U123");
        assert_eq!(serde_json::to_string(&user).unwrap(), "\"U123\"");
        assert_eq!(format!("<@{user}>"), "<@U123>");
    }
}
