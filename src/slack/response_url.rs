//! Which response URLs the app posts to: only those under `SLACK_RESPONSE_URL_BASE`
//! (`https://hooks.slack.com/`). A response URL comes in a request's body, or back out of
//! a stored job; one that points anywhere else (another host, another scheme or port, a
//! path outside the base, credentials in the address) is not posted to.

use url::Url;

/// Whether `candidate` lies under `base` (which ends in `/`).
pub fn is_under(base: &Url, candidate: &str) -> bool {
    let Ok(url) = Url::parse(candidate) else {
        return false;
    };
    url.scheme() == base.scheme()
        && url.host_str() == base.host_str()
        && url.port_or_known_default() == base.port_or_known_default()
        && url.username().is_empty()
        && url.password().is_none()
        && url.path().starts_with(base.path())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_addresses_under_the_base_pass() {
        let base = Url::parse("https://hooks.slack.com/").unwrap();
        for good in [
            "https://hooks.slack.com/commands/T1/397700885554/96rGlfmibIGlgcZRskXaIFfN",
            "https://hooks.slack.com:443/actions/T1/1/abc",
        ] {
            assert!(is_under(&base, good), "{good}");
        }
        for bad in [
            "http://hooks.slack.com/commands/T1/1/abc",
            "https://hooks.slack.com.evil.test/commands/T1/1/abc",
            "https://evil.test/https://hooks.slack.com/",
            "https://hooks.slack.com:8443/commands/T1/1/abc",
            "https://user:pw@hooks.slack.com/commands/T1/1/abc",
            "http://127.0.0.1:6379/",
            "not a url",
        ] {
            assert!(!is_under(&base, bad), "{bad}");
        }
        let local = Url::parse("http://127.0.0.1:9000/hooks/").unwrap();
        assert!(is_under(&local, "http://127.0.0.1:9000/hooks/abc"));
        assert!(!is_under(
            &local,
            "http://127.0.0.1:9000/api/chat.postMessage"
        ));
        assert!(!is_under(&local, "http://127.0.0.1:9000/hooks/../api/x"));
        assert!(!is_under(&local, "http://127.0.0.1:9001/hooks/abc"));
    }
}
