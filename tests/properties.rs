//! Every parser of outside input, fed arbitrary input: it never panics and never hangs.
//! Slack's command bodies and texts, interaction payloads, text typed into forms, date
//! phrases, signature headers and Tallyfy's answers all come from outside the service.

use std::sync::mpsc;
use std::time::Duration;

use jiff::Zoned;
use proptest::prelude::*;
use serde_json::Value;
use tallyfy_slack::config::Secret;
use tallyfy_slack::deadline;
use tallyfy_slack::slack::command::{parse_body, parse_text, parse_typed};
use tallyfy_slack::slack::interaction::parse_payload;
use tallyfy_slack::slack::signature::Verifier;
use tallyfy_slack::tallyfy::model::{CreatedTask, Data, ListedTask, Member, OneOrFirst, Page, Run};

/// Runs `f` on another thread and fails if it takes longer than a second: a parser that
/// loops on some input would otherwise hang the run instead of failing it.
fn within_a_second<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(1))
        .expect("the parser answered within a second")
}

/// Text with a good share of the characters Slack's markup is made of.
fn slackish_text() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            any::<char>().prop_map(String::from),
            Just("<".to_string()),
            Just(">".to_string()),
            Just("|".to_string()),
            Just("@".to_string()),
            Just("&amp;".to_string()),
            Just("&lt;".to_string()),
            Just("<@U123>".to_string()),
            Just("<!here>".to_string()),
            Just("<#C1|general>".to_string()),
            Just(" ".to_string()),
            Just("\n".to_string()),
        ],
        0..60,
    )
    .prop_map(|parts| parts.concat())
}

/// Date phrases, and the words they are made of, in any order.
fn phrase() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            any::<String>(),
            Just("in".to_string()),
            Just("next".to_string()),
            Just("friday".to_string()),
            Just("tomorrow".to_string()),
            Just("at".to_string()),
            Just("5pm".to_string()),
            Just("17:00".to_string()),
            Just("dec".to_string()),
            Just("31st".to_string()),
            Just("2026-02-30".to_string()),
            any::<i64>().prop_map(|n| n.to_string()),
            Just("days".to_string()),
            Just("weeks".to_string()),
            Just("hours".to_string()),
        ],
        0..8,
    )
    .prop_map(|words| words.join(" "))
}

/// Arbitrary JSON, nested a few levels deep.
fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            proptest::collection::btree_map(
                prop_oneof![
                    any::<String>(),
                    Just("data".to_string()),
                    Just("id".to_string()),
                    Just("run".to_string()),
                    Just("owners".to_string()),
                    Just("meta".to_string()),
                    Just("type".to_string()),
                    Just("view".to_string()),
                    Just("user".to_string()),
                ],
                inner,
                0..8
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn command_text_never_breaks(text in slackish_text()) {
        let parsed = within_a_second(move || parse_text(&text));
        prop_assert!(parsed.mentions.iter().all(|m| !m.as_str().contains('>')));
    }

    #[test]
    fn typed_text_keeps_what_was_typed(text in slackish_text()) {
        let copy = text.clone();
        let typed = within_a_second(move || parse_typed(&copy));
        prop_assert!(typed.text.chars().count() <= text.chars().count());
        for word in typed.text.split_whitespace() {
            prop_assert!(text.contains(word));
        }
    }

    #[test]
    fn command_bodies_never_break(body in proptest::collection::vec(any::<u8>(), 0..400)) {
        within_a_second(move || { let _ = parse_body(&body); });
    }

    #[test]
    fn interaction_payload_text_never_breaks(text in any::<String>()) {
        within_a_second(move || { let _ = parse_payload(&text); });
    }

    #[test]
    fn interaction_payloads_never_break(payload in json(), kind in prop_oneof![
        Just("view_submission"), Just("block_actions"), Just("shortcut"),
        Just("message_action"), Just("view_closed"), Just("other"),
    ]) {
        let mut payload = payload;
        if let Value::Object(map) = &mut payload {
            map.insert("type".into(), kind.into());
        }
        let text = payload.to_string();
        within_a_second(move || { let _ = parse_payload(&text); });
    }

    #[test]
    fn date_phrases_never_break_or_hang(text in phrase()) {
        let now: Zoned = "2026-11-25T10:00:00-05:00[America/New_York]".parse().unwrap();
        let (title, when) = within_a_second(move || deadline::split_phrase(&text, &now));
        prop_assert!(when.is_some() || !title.is_empty() || title.is_empty());
        let now: Zoned = "2026-11-25T10:00:00-05:00[America/New_York]".parse().unwrap();
        let phrase = title.clone();
        within_a_second(move || deadline::parse_phrase(&phrase, &now));
    }

    #[test]
    fn tallyfy_answers_never_break(answer in json()) {
        let raw = serde_json::to_vec(&answer).unwrap();
        within_a_second(move || {
            let _ = serde_json::from_slice::<Data<OneOrFirst<CreatedTask>>>(&raw);
            let _ = serde_json::from_slice::<Page<ListedTask>>(&raw);
            let _ = serde_json::from_slice::<Page<Member>>(&raw);
            let _ = serde_json::from_slice::<Data<Run>>(&raw);
        });
    }

    #[test]
    fn signature_headers_never_break_and_only_a_fresh_signature_passes(
        ts in prop_oneof![any::<i64>(), Just(i64::MIN), Just(i64::MAX), -400i64..400],
        now in prop_oneof![any::<i64>(), Just(i64::MIN), Just(i64::MAX), Just(0i64)],
        junk in any::<String>(),
        body in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let verifier = Verifier::new(Secret::new("signing-secret"));
        let stamp = ts.to_string();
        let signed = verifier.sign(&stamp, &body);
        let fresh = now.checked_sub(ts).is_some_and(|d| d.unsigned_abs() <= 300);
        let good = verifier.verify_at(Some(&stamp), Some(&signed), &body, now);
        prop_assert_eq!(good.is_ok(), fresh);
        // Whatever the headers hold, an answer comes back, and it is not a pass.
        prop_assert!(verifier.verify_at(Some(&junk), Some(&signed), &body, now).is_err() || junk.trim() == stamp);
        prop_assert!(verifier.verify_at(Some(&stamp), Some(&junk), &body, now).is_err() || junk.trim() == signed);
    }
}
