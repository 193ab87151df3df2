//! Slack mrkdwn: text typed by users is escaped before it is posted, so that it can never
//! turn into a mention, a broadcast (`<!channel>`) or a link.

/// Escapes the three control characters of mrkdwn.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// A link whose label is user text: `<url|label>`, with the label escaped. A `|` in the
/// label is harmless (Slack splits on the first one), but a newline would break the link.
pub fn link(url: &str, label: &str) -> String {
    format!("<{}|{}>", url, escape(&label.replace(['\n', '\r'], " ")))
}

/// A mention of a Slack user: `<@U123>`. Ids come from Slack itself, never from text.
pub fn mention(user_id: &str) -> String {
    format!("<@{user_id}>")
}

/// A date Slack renders in each reader's own timezone, with a UTC fallback for clients
/// that cannot.
pub fn date(unix_seconds: i64, fallback: &str) -> String {
    format!(
        "<!date^{unix_seconds}^{{date_short_pretty}} at {{time}}|{}>",
        escape(fallback)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(
            escape("<!channel> & <https://x|y>"),
            "&lt;!channel&gt; &amp; &lt;https://x|y&gt;"
        );
    }

    #[test]
    fn escaped_text_contains_no_markup_openers() {
        let hostile = "<@U123> <!here> <#C1|general> <https://evil|click>";
        let escaped = escape(hostile);
        assert!(
            !escaped.contains('<') && !escaped.contains('>'),
            "{escaped}"
        );
    }

    #[test]
    fn link_labels_are_escaped_and_single_line() {
        assert_eq!(
            link("https://t/x", "a <b>\nc"),
            "<https://t/x|a &lt;b&gt; c>"
        );
    }

    #[test]
    fn dates_use_slack_date_formatting() {
        assert_eq!(
            date(1764349200, "2025-11-28 17:00 UTC"),
            "<!date^1764349200^{date_short_pretty} at {time}|2025-11-28 17:00 UTC>"
        );
    }
}
