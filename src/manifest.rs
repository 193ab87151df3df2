//! `tallyfy-slack manifest`: the Slack app manifest in `manifests/slack-app.yaml`, with
//! this installation's public URL filled in (or, for Socket Mode, without URLs at all).

const TEMPLATE: &str = include_str!("../manifests/slack-app.yaml");
const PLACEHOLDER: &str = "https://YOUR-PUBLIC-URL";

/// The manifest for `public_url` (e.g. `https://slack.example.com`). With `socket_mode`,
/// Slack needs no request URLs, so `public_url` may be absent.
pub fn render(public_url: Option<&str>, socket_mode: bool) -> Result<String, String> {
    let base = match public_url {
        Some(url) => {
            let parsed = url::Url::parse(url).map_err(|_| format!("{url:?} is not a URL"))?;
            if parsed.scheme() != "https" {
                return Err(
                    "Slack only calls https:// URLs: give the address behind your TLS proxy".into(),
                );
            }
            Some(url.trim_end_matches('/').to_string())
        }
        None if socket_mode => None,
        None => {
            return Err(
                "give --public-url https://your.host (or set PUBLIC_URL), or use --socket-mode"
                    .into(),
            )
        }
    };
    let mut out = String::with_capacity(TEMPLATE.len());
    for line in TEMPLATE.lines() {
        if line.trim_start().starts_with('#') {
            continue;
        }
        let line = match (&base, line.contains(PLACEHOLDER)) {
            (Some(base), true) => line.replace(PLACEHOLDER, base),
            (None, true) => continue,
            (_, false) => line.to_string(),
        };
        if socket_mode && line.trim() == "socket_mode_enabled: false" {
            out.push_str(&line.replace("false", "true"));
        } else {
            out.push_str(&line);
        }
        out.push('\n');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_public_url_replaces_every_placeholder() {
        let manifest = render(Some("https://slack.example.com/"), false).unwrap();
        assert!(!manifest.contains("YOUR-PUBLIC-URL"));
        assert!(manifest.contains("url: https://slack.example.com/slack/commands"));
        assert!(manifest.contains("request_url: https://slack.example.com/slack/interactions"));
        assert!(manifest.contains("socket_mode_enabled: false"));
        assert!(manifest.contains("request_url: https://slack.example.com/slack/events"));
    }

    #[test]
    fn socket_mode_needs_no_urls() {
        let manifest = render(None, true).unwrap();
        assert!(!manifest.contains("url:"), "{manifest}");
        assert!(manifest.contains("socket_mode_enabled: true"));
        assert!(manifest.contains("command: /task"));
        // The Home tab's event still comes, over the socket.
        assert!(manifest.contains("- app_home_opened"));
        assert!(manifest.contains("home_tab_enabled: true"));
    }

    #[test]
    fn plain_http_and_missing_urls_are_refused() {
        assert!(render(Some("http://slack.example.com"), false)
            .unwrap_err()
            .contains("https"));
        assert!(render(None, false).is_err());
    }
}
