//! Quick-text marks typed after a command: `#tag-name` picks one of the organization's
//! tags, and `!approval` (or `!task`, `!expiring`, `!email`, `!expiring_email`) the task
//! type. A mark that matches nothing stays in the text as typed.

use crate::tallyfy::model::{Tag, TagId, TaskType};

/// What a word means without the punctuation a sentence may put after it.
fn bare(word: &str) -> &str {
    word.trim_end_matches([',', '.', ';', ':', '?', '!'])
}

/// How a tag name compares: case, spaces, hyphens and underscores aside.
fn fold(name: &str) -> String {
    name.chars()
        .filter(|c| !c.is_whitespace() && *c != '-' && *c != '_')
        .flat_map(char::to_lowercase)
        .collect()
}

/// Takes the `#tags` that name the organization's `tags` out of `text`.
pub fn take_tags(text: &str, tags: &[Tag]) -> (String, Vec<TagId>) {
    let mut found: Vec<TagId> = Vec::new();
    let mut kept: Vec<&str> = Vec::new();
    for word in text.split_whitespace() {
        let tag = bare(word)
            .strip_prefix('#')
            .filter(|name| !name.is_empty())
            .and_then(|name| tags.iter().find(|t| fold(&t.title) == fold(name)));
        match tag {
            Some(tag) => {
                if !found.contains(&tag.id) {
                    found.push(tag.id.clone());
                }
            }
            None => kept.push(word),
        }
    }
    (kept.join(" "), found)
}

/// Takes a `!type` mark out of `text`; the last one counts.
pub fn take_task_type(text: &str) -> (String, Option<TaskType>) {
    let mut chosen = None;
    let mut kept: Vec<&str> = Vec::new();
    for word in text.split_whitespace() {
        let kind = bare(word)
            .strip_prefix('!')
            .map(|name| name.to_lowercase().replace('-', "_"))
            .and_then(|name| TaskType::parse(&name));
        match kind {
            Some(kind) => chosen = Some(kind),
            None => kept.push(word),
        }
    }
    (kept.join(" "), chosen)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(id: &str, title: &str) -> Tag {
        Tag {
            id: TagId(id.into()),
            title: title.into(),
        }
    }

    #[test]
    fn known_tags_are_taken_and_unknown_ones_kept() {
        let tags = [tag("t1", "Urgent"), tag("t2", "Q4 review")];
        let (text, found) = take_tags("Pay #urgent the #q4-review, #nope invoice #URGENT", &tags);
        assert_eq!(text, "Pay the #nope invoice");
        assert_eq!(found, vec![TagId("t1".into()), TagId("t2".into())]);
    }

    #[test]
    fn a_type_mark_sets_the_type() {
        let (text, kind) = take_task_type("Sign off !approval the budget");
        assert_eq!(text, "Sign off the budget");
        assert_eq!(kind, Some(TaskType::Approval));
        let (text, kind) = take_task_type("Send !expiring-email now! !bogus");
        assert_eq!(text, "Send now! !bogus");
        assert_eq!(kind, Some(TaskType::ExpiringEmail));
    }
}
