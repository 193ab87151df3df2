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

/// Text cut to at most `max` characters before it is escaped, ending in `…` when cut: how
/// a long title is shown in a message (Tallyfy has the whole of it).
pub fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let kept: String = text.chars().take(max.saturating_sub(1)).collect();
    format!("{}…", kept.trim_end())
}

/// Escaped mrkdwn cut to at most `max` characters, as Slack counts them, without cutting
/// an entity (`&amp;`) or a token (`<@U1>`, `<url|label>`, `<!date^…>`) in two; ends in
/// `…` when cut.
pub fn clip(mrkdwn: &str, max: usize) -> String {
    if mrkdwn.chars().count() <= max {
        return mrkdwn.to_string();
    }
    let mut out = String::new();
    let mut count = 0;
    let mut chars = mrkdwn.chars().peekable();
    while let Some(c) = chars.next() {
        // A whole unit: one character, or an entity or token up to its end.
        let mut unit = String::from(c);
        let close = match c {
            '&' => Some(';'),
            '<' => Some('>'),
            _ => None,
        };
        if let Some(close) = close {
            while let Some(&next) = chars.peek() {
                unit.push(next);
                chars.next();
                if next == close {
                    break;
                }
            }
        }
        let len = unit.chars().count();
        if count + len > max - 1 {
            break;
        }
        out.push_str(&unit);
        count += len;
    }
    out.push('…');
    out
}

/// Lines joined into as few texts as hold them, each at most `max` characters (a line
/// longer than that is clipped): one text per section block.
pub fn pack(lines: &[String], max: usize) -> Vec<String> {
    let mut texts: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut count = 0;
    for line in lines {
        let line = clip(line, max);
        let len = line.chars().count();
        if !current.is_empty() && count + 1 + len > max {
            texts.push(std::mem::take(&mut current));
            count = 0;
        }
        if !current.is_empty() {
            current.push('\n');
            count += 1;
        }
        current.push_str(&line);
        count += len;
    }
    if !current.is_empty() {
        texts.push(current);
    }
    texts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clipping_never_cuts_an_entity_or_a_token() {
        let text = format!("{} <@U123> &amp; tail", "a".repeat(10));
        assert_eq!(clip(&text, 100), text);
        assert_eq!(clip(&text, 12), "aaaaaaaaaa …");
        assert_eq!(clip(&text, 19), "aaaaaaaaaa <@U123>…");
        assert_eq!(clip(&text, 22), "aaaaaaaaaa <@U123> …");
        assert_eq!(clip(&text, 25), "aaaaaaaaaa <@U123> &amp;…");
        assert!(clip(&"&amp;".repeat(1000), 3000).chars().count() <= 3000);
    }

    #[test]
    fn lines_are_packed_into_texts_that_fit() {
        let lines: Vec<String> = (0..40)
            .map(|i| format!("{i:02} {}", "x".repeat(97)))
            .collect();
        let texts = pack(&lines, 3000);
        assert!(texts.iter().all(|t| t.chars().count() <= 3000));
        assert_eq!(
            texts.join("\n"),
            lines.join("\n"),
            "nothing lost, order kept"
        );
        assert_eq!(texts.len(), 2);
        assert_eq!(shorten("abcdef", 4), "abc…");
        assert_eq!(shorten("abc", 4), "abc");
    }

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
