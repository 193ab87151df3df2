//! The "Tasks" field of the project modal: one task per line, each with its own optional
//! `@people`, `#tags` and date phrase (`Draft contract @alice #legal friday`).

use jiff::Zoned;

use crate::deadline;
use crate::modals::quick_text;
use crate::slack::command::parse_typed;
use crate::tallyfy::model::{Tag, TagId};

/// One line of the tasks field, as typed.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Line {
    /// 1-based, counting only lines with something on them.
    pub number: usize,
    /// The line as typed (trimmed), for naming it in messages.
    pub source: String,
    pub title: String,
    /// `@names` typed as plain text, without the `@`.
    pub handles: Vec<String>,
    /// `<@U123>` mentions, when the text carried real ones.
    pub mentions: Vec<crate::slack::ids::UserId>,
    pub deadline: Option<Zoned>,
    /// The organization's tags the line names with `#tag-name`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<TagId>,
}

/// Splits the field into lines; blank lines are skipped, list bullets are removed. `#tags`
/// are matched to the organization's `tags`.
pub fn parse(text: &str, now: &Zoned, tags: &[Tag]) -> Vec<Line> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .enumerate()
        .map(|(i, raw)| parse_line(i + 1, raw, now, tags))
        .collect()
}

fn parse_line(number: usize, raw: &str, now: &Zoned, tags: &[Tag]) -> Line {
    let without_bullet = strip_bullet(raw);
    let parsed = parse_typed(without_bullet);
    let mut handles = Vec::new();
    let mut words = Vec::new();
    for word in parsed.text.split_whitespace() {
        match word.strip_prefix('@') {
            Some(handle) => {
                let handle = handle.trim_end_matches([',', ';', '.', ':', '!', '?']);
                if !handle.is_empty()
                    && !handles
                        .iter()
                        .any(|h: &String| h.eq_ignore_ascii_case(handle))
                {
                    handles.push(handle.to_string());
                }
            }
            None => words.push(word),
        }
    }
    let (rest, line_tags) = quick_text::take_tags(&words.join(" "), tags);
    // A line that is only a date phrase keeps it as its title: split_phrase never empties it.
    let (title, deadline) = deadline::split_phrase(&rest, now);
    Line {
        number,
        source: raw.to_string(),
        title,
        handles,
        mentions: parsed.mentions,
        deadline,
        tags: line_tags,
    }
}

fn strip_bullet(line: &str) -> &str {
    for bullet in ['-', '*', '•', '–'] {
        if let Some(rest) = line.strip_prefix(bullet) {
            if rest.starts_with(char::is_whitespace) {
                return rest.trim_start();
            }
        }
    }
    // "1." or "2)" numbering
    let digits = line.chars().take_while(char::is_ascii_digit).count();
    if digits > 0 && matches!(line[digits..].chars().next(), Some('.') | Some(')')) {
        return line[digits + 1..].trim_start();
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Zoned {
        "2026-11-25T10:00:00-05:00[America/New_York]"
            .parse()
            .unwrap()
    }

    #[test]
    fn each_line_carries_its_own_people_and_date() {
        let lines = parse(
            "Draft contract @alice friday\n\n- Review it @bob, @Alice\n3. Sign",
            &now(),
            &[],
        );
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0].title, "Draft contract");
        assert_eq!(lines[0].handles, vec!["alice"]);
        assert_eq!(
            lines[0]
                .deadline
                .as_ref()
                .unwrap()
                .strftime("%a %H:%M")
                .to_string(),
            "Fri 17:00"
        );
        assert_eq!(lines[1].number, 2);
        assert_eq!(lines[1].title, "Review it");
        assert_eq!(lines[1].handles, vec!["bob", "Alice"]);
        assert_eq!(lines[1].deadline, None);
        assert_eq!(lines[2].title, "Sign");
        assert_eq!(lines[2].source, "3. Sign");
    }

    #[test]
    fn real_mentions_are_kept_as_ids() {
        let lines = parse("Ship <@U123> tomorrow", &now(), &[]);
        assert_eq!(lines[0].mentions, vec!["U123"]);
        assert_eq!(lines[0].title, "Ship");
    }

    #[test]
    fn text_that_only_looks_like_a_bullet_is_left_alone() {
        assert_eq!(parse("2026 budget", &now(), &[])[0].title, "2026 budget");
        assert_eq!(
            parse("-5 degrees test", &now(), &[])[0].title,
            "-5 degrees test"
        );
    }

    #[test]
    fn a_line_takes_the_tags_it_names() {
        let tags = [Tag {
            id: TagId("t1".into()),
            title: "Legal".into(),
        }];
        let lines = parse(
            "Draft contract #legal @bob friday\nSign #later",
            &now(),
            &tags,
        );
        assert_eq!(lines[0].title, "Draft contract");
        assert_eq!(lines[0].tags, vec![TagId("t1".into())]);
        assert_eq!(lines[0].handles, vec!["bob"]);
        assert!(lines[0].deadline.is_some());
        assert_eq!(lines[1].title, "Sign #later");
        assert!(lines[1].tags.is_empty());
    }
}
