//! Deadlines: the default (seven days ahead at 17:00 in the user's timezone), the date
//! phrases people type after a command (`friday 5pm`, `in 3 days`, `dec 1 17:00`), and the
//! `YYYY-MM-DD HH:MM:SS` UTC form Tallyfy expects.

use jiff::civil::{Date, Time, Weekday};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan, Zoned};

/// The hour a deadline falls at when a phrase names a day but no time.
const DEFAULT_HOUR: i8 = 17;
/// A phrase is at most this many words (`next friday at 5:30 pm` is five).
const MAX_PHRASE_WORDS: usize = 6;
/// Words that join a title to its date phrase: `Send invoice by friday`.
const CONNECTORS: &[&str] = &["by", "due", "on", "before", "until", "at"];

/// A user's timezone by its IANA name, falling back to UTC for unknown names.
pub fn timezone(name: Option<&str>) -> TimeZone {
    name.and_then(|n| TimeZone::get(n).ok())
        .unwrap_or(TimeZone::UTC)
}

/// Seven days from now at 17:00 in the timezone of `now`.
pub fn default_deadline(now: &Zoned) -> Zoned {
    at_day(
        now,
        now.date().saturating_add(7.days()),
        Time::constant(DEFAULT_HOUR, 0, 0, 0),
    )
}

/// The deadline as Tallyfy takes it: `YYYY-MM-DD HH:MM:SS`, in UTC.
pub fn tallyfy_format(ts: Timestamp) -> String {
    ts.strftime("%Y-%m-%d %H:%M:%S").to_string()
}

/// A readable UTC rendering, for clients that cannot show Slack's date formatting.
pub fn utc_label(ts: Timestamp) -> String {
    ts.strftime("%Y-%m-%d %H:%M UTC").to_string()
}

/// Splits a trailing date phrase off `text`: `"Review the report by friday 5pm"` gives
/// `("Review the report", Some(friday at 17:00))`. At least one word of title is kept.
pub fn split_phrase(text: &str, now: &Zoned) -> (String, Option<Zoned>) {
    let words: Vec<&str> = text.split_whitespace().collect();
    let longest = MAX_PHRASE_WORDS.min(words.len().saturating_sub(1));
    for len in (1..=longest).rev() {
        let (head, tail) = words.split_at(words.len() - len);
        if let Some(when) = parse_phrase(&tail.join(" "), now) {
            let mut head = head.to_vec();
            while head.len() > 1
                && head
                    .last()
                    .is_some_and(|w| CONNECTORS.contains(&w.to_ascii_lowercase().as_str()))
            {
                head.pop();
            }
            return (head.join(" "), Some(when));
        }
    }
    (words.join(" "), None)
}

/// Parses a whole date phrase relative to `now` (whose timezone is the user's).
pub fn parse_phrase(phrase: &str, now: &Zoned) -> Option<Zoned> {
    let lowered = phrase.to_ascii_lowercase();
    let words: Vec<&str> = lowered
        .split_whitespace()
        .map(|w| w.trim_end_matches([',', '.', '!', '?', ';']))
        .filter(|w| !w.is_empty())
        .collect();
    if words.is_empty() {
        return None;
    }

    // "in 2 hours" is the one phrase that is not a day plus a time of day.
    if let ["in", n, unit] = words.as_slice() {
        let n = count(n)?;
        let date = now.date();
        return match unit.trim_end_matches('s') {
            "minute" | "min" => now.checked_add(n.minutes()).ok(),
            "hour" | "hr" => now.checked_add(n.hours()).ok(),
            "day" => Some(at_day(
                now,
                date.checked_add(n.days()).ok()?,
                default_time(),
            )),
            "week" | "wk" => Some(at_day(
                now,
                date.checked_add((7 * n).days()).ok()?,
                default_time(),
            )),
            _ => None,
        };
    }

    let (day, rest) = match parse_day(&words, now) {
        Some((day, used)) => (Some(day), &words[used..]),
        None => (None, &words[..]),
    };
    let rest = match rest {
        ["at", tail @ ..] if !tail.is_empty() => tail,
        other => other,
    };
    let time = if rest.is_empty() {
        None
    } else {
        Some(parse_time(rest)?)
    };

    match (day, time) {
        (Some(Day::Fixed(date)), time) => {
            Some(at_day(now, date, time.unwrap_or_else(default_time)))
        }
        (Some(Day::Weekday(wd)), time) => {
            let time = time.unwrap_or_else(default_time);
            let mut date = now.date();
            let ahead =
                (wd.to_monday_zero_offset() - date.weekday().to_monday_zero_offset()).rem_euclid(7);
            date = date.checked_add((ahead as i64).days()).ok()?;
            let when = at_day(now, date, time);
            if when.timestamp() <= now.timestamp() {
                Some(at_day(now, date.checked_add(7.days()).ok()?, time))
            } else {
                Some(when)
            }
        }
        (Some(Day::OfMonth { month, day }), time) => {
            let time = time.unwrap_or_else(default_time);
            let this_year = Date::new(now.year(), month, day).ok()?;
            let when = at_day(now, this_year, time);
            if when.timestamp() < now.timestamp() {
                Some(at_day(
                    now,
                    Date::new(now.year() + 1, month, day).ok()?,
                    time,
                ))
            } else {
                Some(when)
            }
        }
        (None, Some(time)) => {
            // A bare time means the next time the clock shows it.
            let today = at_day(now, now.date(), time);
            if today.timestamp() <= now.timestamp() {
                Some(at_day(now, now.date().checked_add(1.days()).ok()?, time))
            } else {
                Some(today)
            }
        }
        (None, None) => None,
    }
}

enum Day {
    Fixed(Date),
    Weekday(Weekday),
    /// A month and day with no year: this year's, or next year's once it has passed.
    OfMonth {
        month: i8,
        day: i8,
    },
}

/// Reads the day part at the start of `words`; returns it and how many words it used.
fn parse_day(words: &[&str], now: &Zoned) -> Option<(Day, usize)> {
    let today = now.date();
    let first = *words.first()?;
    match first {
        "today" | "tonight" | "eod" => return Some((Day::Fixed(today), 1)),
        "tomorrow" | "tmrw" | "tmr" => {
            return Some((Day::Fixed(today.checked_add(1.days()).ok()?), 1))
        }
        _ => {}
    }
    if first == "next" || first == "this" {
        if words.get(1) == Some(&"week") && first == "next" {
            return Some((Day::Fixed(today.checked_add(7.days()).ok()?), 2));
        }
        let wd = weekday(words.get(1)?)?;
        return Some((Day::Weekday(wd), 2));
    }
    if let Some(wd) = weekday(first) {
        return Some((Day::Weekday(wd), 1));
    }
    if let Ok(date) = first.parse::<Date>() {
        if first.len() == 10 {
            return Some((Day::Fixed(date), 1));
        }
    }
    // "dec 1", "december 1st", "dec 1 2026", "1 dec", "1 december 2026"
    let (month, day) = match (month(first), words.get(1)) {
        (Some(m), Some(d)) => (m, day_of_month(d)?),
        (None, Some(m)) => (month(m)?, day_of_month(first)?),
        _ => return None,
    };
    if let Some(year) = words
        .get(2)
        .and_then(|y| y.parse::<i16>().ok())
        .filter(|y| (2000..=2999).contains(y))
    {
        return Some((Day::Fixed(Date::new(year, month, day).ok()?), 3));
    }
    Date::new(2000, month, day).ok()?; // rejects "feb 31" (2000 is a leap year, so feb 29 passes)
    Some((Day::OfMonth { month, day }, 2))
}

/// Reads a time of day from the remaining words: `5pm`, `5 pm`, `5:30pm`, `17:00`, `noon`.
fn parse_time(words: &[&str]) -> Option<Time> {
    let joined = words.concat();
    match joined.as_str() {
        "noon" | "midday" => return Some(Time::constant(12, 0, 0, 0)),
        "midnight" => return Some(Time::constant(23, 59, 0, 0)),
        _ => {}
    }
    let (clock, meridiem) = if let Some(c) = joined.strip_suffix("am") {
        (c, Some(false))
    } else if let Some(c) = joined.strip_suffix("pm") {
        (c, Some(true))
    } else {
        (joined.as_str(), None)
    };
    let (hour, minute) = match clock.split_once(':') {
        Some((h, m)) if m.len() == 2 => (h.parse::<i8>().ok()?, m.parse::<i8>().ok()?),
        Some(_) => return None,
        // A bare number is a time only with am/pm: "chapter 5" is not five o'clock.
        None if meridiem.is_some() => (clock.parse::<i8>().ok()?, 0),
        None => return None,
    };
    let hour = match meridiem {
        Some(pm) if (1..=12).contains(&hour) => (hour % 12) + if pm { 12 } else { 0 },
        Some(_) => return None,
        None => hour,
    };
    Time::new(hour, minute, 0, 0).ok()
}

fn default_time() -> Time {
    Time::constant(DEFAULT_HOUR, 0, 0, 0)
}

/// `date` at `time` in the timezone of `now`; a time skipped by a DST change moves forward.
fn at_day(now: &Zoned, date: Date, time: Time) -> Zoned {
    date.to_datetime(time)
        .to_zoned(now.time_zone().clone())
        .unwrap_or_else(|_| now.clone())
}

fn count(word: &str) -> Option<i64> {
    match word {
        "a" | "an" | "one" => Some(1),
        "two" => Some(2),
        "three" => Some(3),
        n => n.parse::<i64>().ok().filter(|n| (1..=3650).contains(n)),
    }
}

fn weekday(word: &str) -> Option<Weekday> {
    Some(match word {
        "mon" | "monday" => Weekday::Monday,
        "tue" | "tues" | "tuesday" => Weekday::Tuesday,
        "wed" | "weds" | "wednesday" => Weekday::Wednesday,
        "thu" | "thur" | "thurs" | "thursday" => Weekday::Thursday,
        "fri" | "friday" => Weekday::Friday,
        "sat" | "saturday" => Weekday::Saturday,
        "sun" | "sunday" => Weekday::Sunday,
        _ => return None,
    })
}

fn month(word: &str) -> Option<i8> {
    const MONTHS: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    const FULL: [&str; 12] = [
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ];
    let word = if word == "sept" { "sep" } else { word };
    MONTHS
        .iter()
        .zip(FULL)
        .position(|(short, full)| word == *short || word == full)
        .map(|i| i as i8 + 1)
}

fn day_of_month(word: &str) -> Option<i8> {
    let digits = word.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let suffix = &word[digits.len()..];
    if !matches!(suffix, "" | "st" | "nd" | "rd" | "th") {
        return None;
    }
    digits.parse::<i8>().ok().filter(|d| (1..=31).contains(d))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Wednesday 2026-11-25 10:00 in New York.
    fn now() -> Zoned {
        "2026-11-25T10:00:00-05:00[America/New_York]"
            .parse()
            .unwrap()
    }

    fn local(phrase: &str) -> String {
        parse_phrase(phrase, &now())
            .unwrap_or_else(|| panic!("{phrase:?} did not parse"))
            .strftime("%a %Y-%m-%d %H:%M")
            .to_string()
    }

    #[test]
    fn default_is_a_week_ahead_at_five_pm_local() {
        let d = default_deadline(&now());
        assert_eq!(
            d.strftime("%Y-%m-%d %H:%M %Z").to_string(),
            "2026-12-02 17:00 EST"
        );
        assert_eq!(tallyfy_format(d.timestamp()), "2026-12-02 22:00:00");
    }

    #[test]
    fn relative_days() {
        assert_eq!(local("today"), "Wed 2026-11-25 17:00");
        assert_eq!(local("tomorrow 5pm"), "Thu 2026-11-26 17:00");
        assert_eq!(local("tomorrow at 9:30am"), "Thu 2026-11-26 09:30");
        assert_eq!(local("in 3 days"), "Sat 2026-11-28 17:00");
        assert_eq!(local("in a week"), "Wed 2026-12-02 17:00");
        assert_eq!(local("in 2 hours"), "Wed 2026-11-25 12:00");
        assert_eq!(local("next week"), "Wed 2026-12-02 17:00");
    }

    #[test]
    fn weekdays_mean_the_next_one_still_ahead() {
        assert_eq!(local("friday"), "Fri 2026-11-27 17:00");
        assert_eq!(local("Fri 5pm"), "Fri 2026-11-27 17:00");
        assert_eq!(local("wednesday 3pm"), "Wed 2026-11-25 15:00");
        assert_eq!(local("wednesday 9am"), "Wed 2026-12-02 09:00");
        assert_eq!(local("next monday"), "Mon 2026-11-30 17:00");
    }

    #[test]
    fn calendar_dates() {
        assert_eq!(local("2026-12-01"), "Tue 2026-12-01 17:00");
        assert_eq!(local("dec 1 17:00"), "Tue 2026-12-01 17:00");
        assert_eq!(local("December 3rd at noon"), "Thu 2026-12-03 12:00");
        assert_eq!(local("1 jan"), "Fri 2027-01-01 17:00");
        assert_eq!(
            local("nov 1"),
            "Mon 2027-11-01 17:00",
            "a passed date without a year means next year"
        );
        assert_eq!(local("mar 3 2027 8am"), "Wed 2027-03-03 08:00");
    }

    #[test]
    fn bare_times_mean_the_next_occurrence() {
        assert_eq!(local("5pm"), "Wed 2026-11-25 17:00");
        assert_eq!(local("9am"), "Thu 2026-11-26 09:00");
    }

    #[test]
    fn things_that_are_not_dates() {
        for phrase in [
            "report",
            "5",
            "chapter 5",
            "feb 31",
            "13pm",
            "in 3 parsecs",
            "25:00",
            "friday report",
        ] {
            assert!(parse_phrase(phrase, &now()).is_none(), "{phrase:?} parsed");
        }
    }

    #[test]
    fn splitting_a_title_from_its_phrase() {
        let (title, when) = split_phrase("Review the Q4 report friday 5pm", &now());
        assert_eq!(title, "Review the Q4 report");
        assert_eq!(
            when.unwrap().strftime("%Y-%m-%d %H:%M").to_string(),
            "2026-11-27 17:00"
        );

        let (title, when) = split_phrase("Send the invoice by tomorrow", &now());
        assert_eq!(title, "Send the invoice");
        assert!(when.is_some());

        let (title, when) = split_phrase("Fix bug 42", &now());
        assert_eq!((title.as_str(), when), ("Fix bug 42", None));

        let (title, when) = split_phrase("tomorrow", &now());
        assert_eq!(
            (title.as_str(), when),
            ("tomorrow", None),
            "a lone phrase stays the title"
        );
    }

    #[test]
    fn tallyfy_format_is_utc() {
        let ts: Timestamp = "2026-12-01T17:00:00-05:00".parse().unwrap();
        assert_eq!(tallyfy_format(ts), "2026-12-01 22:00:00");
    }

    #[test]
    fn unknown_timezones_fall_back_to_utc() {
        assert_eq!(timezone(Some("Mars/Olympus")), TimeZone::UTC);
        assert_eq!(timezone(None), TimeZone::UTC);
        assert_ne!(timezone(Some("Europe/Berlin")), TimeZone::UTC);
    }
}
