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

/// Why a command body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    #[error("missing field `{0}`")]
    Missing(&'static str),
    #[error("duplicate field `{0}`")]
    Duplicate(&'static str),
}

/// The fields of a command this service reads, by their key as Slack sends it.
const FIELDS: [&str; 9] = [
    "team_id",
    "enterprise_id",
    "channel_id",
    "user_id",
    "command",
    "text",
    "response_url",
    "trigger_id",
    "api_app_id",
];

pub fn parse_body(body: &[u8]) -> Result<CommandBody, BodyError> {
    // Keys and the check's `1` are plain ASCII in Slack's forms: they are compared as sent,
    // and only the values kept are decoded, each once.
    if raw_fields(body).any(|(k, v)| k == b"ssl_check" && v == b"1")
        && !raw_fields(body).any(|(k, _)| k == b"command")
    {
        return Ok(CommandBody::SslCheck);
    }
    let mut values: [Option<String>; 9] = Default::default();
    for (key, value) in raw_fields(body) {
        let Some(at) = FIELDS.iter().position(|f| f.as_bytes() == key) else {
            continue;
        };
        if values[at].is_some() {
            return Err(BodyError::Duplicate(FIELDS[at]));
        }
        values[at] = Some(decode(value));
    }
    let [team_id, enterprise_id, channel_id, user_id, command, text, response_url, trigger_id, api_app_id] =
        values;
    let required = |value: Option<String>, at: usize| value.ok_or(BodyError::Missing(FIELDS[at]));
    Ok(CommandBody::Command(Box::new(SlashCommand {
        team_id: TeamId::from(required(team_id, 0)?),
        enterprise_id,
        channel_id: ChannelId::from(required(channel_id, 2)?),
        user_id: UserId::from(required(user_id, 3)?),
        command: required(command, 4)?,
        text: text.unwrap_or_default(),
        response_url: required(response_url, 6)?,
        trigger_id: required(trigger_id, 7)?,
        api_app_id,
    })))
}

/// A form value decoded as `application/x-www-form-urlencoded` says (`+` is a space,
/// `%XX` a byte; bytes that are not UTF-8 become U+FFFD). Most of Slack's values need no
/// decoding, and are copied as they are.
fn decode(raw: &[u8]) -> String {
    if !raw.iter().any(|b| matches!(b, b'%' | b'+')) {
        if let Ok(plain) = std::str::from_utf8(raw) {
            return plain.to_string();
        }
    }
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut bytes = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' => bytes.push(b' '),
            b'%' => match (
                raw.get(i + 1).and_then(|b| hex(*b)),
                raw.get(i + 2).and_then(|b| hex(*b)),
            ) {
                (Some(high), Some(low)) => {
                    bytes.push(high << 4 | low);
                    i += 2;
                }
                // A `%` not followed by two hex digits is kept as it is.
                _ => bytes.push(b'%'),
            },
            b => bytes.push(b),
        }
        i += 1;
    }
    match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
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
    fn values_are_decoded_as_forms_are() {
        assert_eq!(decode(b"plain.value_1"), "plain.value_1");
        assert_eq!(
            decode(b"Review+the+%3C%40U1%7Calice%3E"),
            "Review the <@U1|alice>"
        );
        assert_eq!(decode(b"caf%C3%A9+%E2%9C%85"), "café ✅");
        // Broken escapes stay as sent; bytes that are not UTF-8 become U+FFFD.
        assert_eq!(decode(b"100%+sure%2"), "100% sure%2");
        assert_eq!(decode(b"%FFok"), "\u{FFFD}ok");
    }

    #[test]
    fn a_field_sent_twice_is_an_error() {
        let body = b"team_id=T1&channel_id=C1&user_id=U1&command=/task&text=a&text=b&response_url=u&trigger_id=t";
        assert_eq!(parse_body(body).unwrap_err(), BodyError::Duplicate("text"));
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
