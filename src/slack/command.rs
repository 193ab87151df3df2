//! Slash commands: the signed form Slack posts, and the command text (`<@U123>` mentions,
//! `<#C1|name>` channels, `<url|label>` links and `&amp;`-style entities) made plain.

use serde::Deserialize;

use super::ids::{ChannelId, TeamId, UserId};

/// The form body of a slash command. Unknown fields are ignored.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct SlashCommand {
    pub team_id: TeamId,
    #[serde(default)]
    pub enterprise_id: Option<String>,
    pub channel_id: ChannelId,
    pub user_id: UserId,
    pub command: String,
    #[serde(default)]
    pub text: String,
    pub response_url: String,
    pub trigger_id: String,
    #[serde(default)]
    pub api_app_id: Option<String>,
}

/// What a command body turned out to be.
#[derive(Debug, PartialEq, Eq)]
pub enum CommandBody {
    /// Slack checking the certificate (`ssl_check=1`): answer 200, do nothing.
    SslCheck,
    Command(Box<SlashCommand>),
}

pub fn parse_body(body: &[u8]) -> Result<CommandBody, serde_urlencoded::de::Error> {
    // Keys and the check's `1` are plain ASCII in Slack's forms: they are compared as sent,
    // and only the command itself is decoded, once.
    if raw_fields(body).any(|(k, v)| k == b"ssl_check" && v == b"1")
        && !raw_fields(body).any(|(k, _)| k == b"command")
    {
        return Ok(CommandBody::SslCheck);
    }
    serde_urlencoded::from_bytes(body).map(|cmd| CommandBody::Command(Box::new(cmd)))
}

/// A form body's fields as sent, neither key nor value decoded.
pub fn raw_fields(body: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    body.split(|b| *b == b'&')
        .filter(|field| !field.is_empty())
        .map(|field| match field.iter().position(|b| *b == b'=') {
            Some(at) => (&field[..at], &field[at + 1..]),
            None => (field, &b""[..]),
        })
}

/// The command text, split into the people it mentions and the rest as plain text.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct CommandText {
    /// Slack user ids mentioned, in order, without repeats.
    pub mentions: Vec<UserId>,
    /// The text with mentions removed, markup resolved and entities decoded.
    pub text: String,
}

pub fn parse_text(raw: &str) -> CommandText {
    let mut out = CommandText::default();
    let mut plain = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(start) = rest.find('<') {
        plain.push_str(&rest[..start]);
        let Some(len) = rest[start..].find('>') else {
            plain.push_str(&rest[start..]);
            rest = "";
            break;
        };
        let inner = &rest[start + 1..start + len];
        let (target, label) = match inner.split_once('|') {
            Some((t, l)) => (t, Some(l)),
            None => (inner, None),
        };
        if let Some(user) = target.strip_prefix('@') {
            if !out.mentions.iter().any(|m| m == user) {
                out.mentions.push(UserId::from(user));
            }
        } else if let Some(channel) = target.strip_prefix('#') {
            plain.push('#');
            plain.push_str(label.unwrap_or(channel));
        } else if let Some(special) = target.strip_prefix('!') {
            // <!here>, <!channel>, <!subteam^S1|@team>: keep as words, never as a ping.
            plain.push_str(label.unwrap_or(special));
        } else {
            plain.push_str(label.unwrap_or(target));
        }
        rest = &rest[start + len + 1..];
    }
    plain.push_str(rest);
    // Removing a mention can leave punctuation standing alone ("ask <@U1>?"): rejoin it.
    let mut words: Vec<String> = Vec::new();
    for word in decode_entities(&plain).split_whitespace() {
        match words.last_mut() {
            // Only punctuation: a word after it (`!approval`) is a word of its own.
            Some(last)
                if word.starts_with([',', '.', '?', '!', ';', ':'])
                    && !word[1..].starts_with(char::is_alphanumeric) =>
            {
                last.push_str(word)
            }
            // Punctuation left at the very start belonged to removed mentions.
            None if word
                .chars()
                .all(|c| matches!(c, ',' | '.' | '?' | '!' | ';' | ':')) => {}
            _ => words.push(word.to_string()),
        }
    }
    out.text = words.join(" ");
    out
}

/// Text typed into a form's plain text input. Slack sends it as typed, with no entities
/// and no markup, so `<`, `>` and `&` are the person's own; only mentions written out as
/// `<@U…>` are read as people. Whitespace is folded as in [`parse_text`].
pub fn parse_typed(raw: &str) -> CommandText {
    let mut out = CommandText::default();
    let mut plain = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(start) = rest.find("<@") {
        let mention = rest[start + 2..]
            .find('>')
            .map(|len| &rest[start + 2..start + 2 + len])
            .map(|inner| inner.split('|').next().unwrap_or(inner))
            .filter(|id| !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric()));
        match mention {
            Some(user) => {
                plain.push_str(&rest[..start]);
                // The mention leaves a space: the words on either side stay apart.
                plain.push(' ');
                if !out.mentions.iter().any(|m| m == user) {
                    out.mentions.push(UserId::from(user));
                }
                let end = start + 2 + rest[start + 2..].find('>').unwrap_or(0) + 1;
                rest = &rest[end..];
            }
            None => {
                plain.push_str(&rest[..start + 2]);
                rest = &rest[start + 2..];
            }
        }
    }
    plain.push_str(rest);
    out.text = plain.split_whitespace().collect::<Vec<_>>().join(" ");
    out
}

/// Like [`parse_text`], but keeps line breaks and mentions as `@name` where Slack gave a
/// name: for a message used as a task's summary.
pub fn parse_text_keep_lines(raw: &str) -> String {
    raw.lines()
        .map(|line| parse_text(line).text)
        .collect::<Vec<_>>()
        .join("\n")
        .trim()
        .to_string()
}

/// Slack sends `&`, `<` and `>` typed by the user as entities.
fn decode_entities(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// Is this command text a request for help?
pub fn is_help(text: &str) -> bool {
    matches!(
        text.trim().to_ascii_lowercase().as_str(),
        "help" | "-h" | "--help" | "?"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_slacks_own_example_body() {
        let body = "token=gIkuvaNzQIHg97ATvDxqgjtO&team_id=T0001&team_domain=example&enterprise_id=E0001&enterprise_name=Globular%20Construct%20Inc&channel_id=C2147483705&channel_name=test&user_id=U2147483697&user_name=Steve&command=/weather&text=94070&response_url=https://hooks.slack.com/commands/1234/5678&trigger_id=13345224609.738474920.8088930838d88f008e0&api_app_id=A123456";
        let CommandBody::Command(cmd) = parse_body(body.as_bytes()).unwrap() else {
            panic!("not a command")
        };
        assert_eq!(cmd.team_id, "T0001");
        assert_eq!(cmd.enterprise_id.as_deref(), Some("E0001"));
        assert_eq!(cmd.command, "/weather");
        assert_eq!(cmd.text, "94070");
        assert_eq!(cmd.trigger_id, "13345224609.738474920.8088930838d88f008e0");
    }

    #[test]
    fn ssl_checks_are_recognised() {
        assert_eq!(
            parse_body(b"ssl_check=1&token=abc").unwrap(),
            CommandBody::SslCheck
        );
    }

    #[test]
    fn bodies_without_required_fields_are_errors() {
        assert!(parse_body(b"command=/task&text=hi").is_err());
    }

    #[test]
    fn mentions_are_collected_and_removed() {
        let parsed = parse_text("Review the Q4 report <@U123> <@U456|bob> friday 5pm <@U123>");
        assert_eq!(parsed.mentions, vec!["U123", "U456"]);
        assert_eq!(parsed.text, "Review the Q4 report friday 5pm");
    }

    #[test]
    fn markup_becomes_plain_text() {
        let parsed = parse_text(
            "Ask <#C012|design> about <https://x.io/a|the spec> &amp; <!here> &lt;b&gt;",
        );
        assert_eq!(parsed.text, "Ask #design about the spec & here <b>");
        assert!(parsed.mentions.is_empty());
    }

    #[test]
    fn punctuation_after_a_removed_mention_stays_attached() {
        assert_eq!(
            parse_text("Can you check this <@U1>?").text,
            "Can you check this?"
        );
        assert_eq!(
            parse_text("<@U1>, <@U2>: review the plan").text,
            "review the plan"
        );
    }

    #[test]
    fn unclosed_brackets_are_kept() {
        assert_eq!(parse_text("a < b").text, "a < b");
    }

    #[test]
    fn help_words() {
        assert!(is_help(" Help "));
        assert!(!is_help("help the team"));
    }

    #[test]
    fn typed_text_keeps_its_own_brackets_and_ampersands() {
        let typed = parse_typed("Check <terms> & R&D &amp; <@U123|ann>  with <@U456>");
        assert_eq!(typed.text, "Check <terms> & R&D &amp; with");
        assert_eq!(
            typed.mentions,
            vec![UserId::from("U123"), UserId::from("U456")]
        );
        assert_eq!(parse_typed("a <@ b").text, "a <@ b");
    }
}
