use super::*;
use std::collections::HashMap;

fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name| map.get(name).cloned()
}

const MINIMAL: &[(&str, &str)] = &[
    ("SLACK_SIGNING_SECRET", "signing-secret-value"),
    ("SLACK_BOT_TOKEN", "xoxb-bot-token-value"),
    ("TALLYFY_ORG_ID", "abc123"),
    ("TALLYFY_ACCESS_TOKEN", "tallyfy-token-value"),
];

#[test]
fn minimal_configuration_takes_the_documented_defaults() {
    let config = Config::from_lookup(lookup(MINIMAL)).unwrap();
    assert_eq!(config.slack.api_url.as_str(), "https://slack.com/api/");
    assert_eq!(
        config.slack.response_url_base.as_str(),
        "https://hooks.slack.com/"
    );
    assert!(!config.slack.allow_guests);
    assert_eq!(
        config.tallyfy.api_url.as_str(),
        "https://go.tallyfy.com/api/"
    );
    assert_eq!(config.tallyfy.web_url, "https://go.tallyfy.com");
    assert_eq!(config.port, 3000);
    assert_eq!(config.host.to_string(), "0.0.0.0");
    assert!(config.store.redis.is_none());
    assert_eq!(config.log_format, LogFormat::Text);
    assert_eq!(config.tallyfy.rate_limit, 600);
    assert_eq!(config.tallyfy.rate_window, Duration::from_secs(60));
    assert_eq!(config.jobs.claim_after, Duration::from_secs(30));
    assert_eq!(config.jobs.concurrency, 16);
    assert_eq!(config.jobs.retry_for, Duration::from_secs(600));
    assert_eq!(config.jobs.drain, Duration::from_secs(20));
    assert_eq!(config.http.header_timeout, Duration::from_secs(10));
    assert_eq!(config.http.body_timeout, Duration::from_secs(10));
    assert_eq!(config.http.max_connections, 1024);
    assert_eq!(config.http.max_in_flight, 256);
    assert_eq!(config.http.max_stranger_connections, 256);
    assert_eq!(config.http.body_bytes_in_flight, 32 * 1024 * 1024);
    assert_eq!(config.http.max_header_bytes, 16 * 1024);
}

#[test]
fn budget_and_job_settings_must_be_whole_numbers_above_zero() {
    let mut vars = MINIMAL.to_vec();
    vars.extend([
        ("TALLYFY_RATE_LIMIT", "0"),
        ("TALLYFY_RATE_WINDOW_SECS", "a minute"),
        ("JOB_CLAIM_TIMEOUT_SECS", "-1"),
        ("JOB_CONCURRENCY", "0"),
        ("TALLYFY_RETRY_FOR_SECS", "1.5"),
        ("SHUTDOWN_DRAIN_SECS", ""),
    ]);
    let errors = Config::from_lookup(lookup(&vars)).unwrap_err();
    let text = errors.to_string();
    for name in [
        "TALLYFY_RATE_LIMIT",
        "TALLYFY_RATE_WINDOW_SECS",
        "JOB_CLAIM_TIMEOUT_SECS",
        "JOB_CONCURRENCY",
        "TALLYFY_RETRY_FOR_SECS",
    ] {
        assert!(
            text.lines().any(|l| l.starts_with(name)),
            "no line about {name} in:\n{text}"
        );
    }
    // An empty value is no value: the default.
    assert_eq!(errors.0.len(), 5, "{text}");
}

#[test]
fn every_problem_is_reported_on_its_own_line() {
    let errors = Config::from_lookup(lookup(&[
        ("PORT", "eighty"),
        ("SLACK_BOT_TOKEN", "xoxp-user"),
    ]))
    .unwrap_err();
    let text = errors.to_string();
    for needle in [
        "SLACK_SIGNING_SECRET",
        "SLACK_BOT_TOKEN must be a bot token",
        "TALLYFY_ORG_ID",
        "TALLYFY_ACCESS_TOKEN",
        "PORT",
    ] {
        assert!(
            text.lines().any(|l| l.contains(needle)),
            "no line about {needle} in:\n{text}"
        );
    }
    assert_eq!(errors.0.len(), 5, "{text}");
}

#[test]
fn secrets_never_appear_in_debug_output() {
    let mut vars = MINIMAL.to_vec();
    vars.push(("REDIS_URL", "redis://:hunter2@localhost:6379"));
    vars.push(("JOB_SIGNING_KEY", JOB_KEY));
    vars.push(("STORE_ENCRYPTION_KEY", STORE_KEY));
    let config = Config::from_lookup(lookup(&vars)).unwrap();
    assert!(config.tallyfy.token_key.is_some());
    let debug = format!("{config:?}");
    for secret in [
        "signing-secret-value",
        "xoxb-bot-token-value",
        "tallyfy-token-value",
        "hunter2",
        JOB_KEY,
        STORE_KEY,
        "a1b2",
    ] {
        assert!(!debug.contains(secret), "{secret} leaked into {debug}");
    }
}

const JOB_KEY: &str = "a1b2a1b2a1b2a1b2a1b2a1b2a1b2a1b2a1b2a1b2a1b2a1b2a1b2a1b2a1b2a1b2";
const STORE_KEY: &str = "c3d4c3d4c3d4c3d4c3d4c3d4c3d4c3d4c3d4c3d4c3d4c3d4c3d4c3d4c3d4c3d4";

#[test]
fn without_keys_of_their_own_the_job_and_store_keys_are_derived_from_the_slack_secret() {
    let mut vars = MINIMAL.to_vec();
    vars.extend([
        ("REDIS_URL", "redis://localhost:6379"),
        ("TALLYFY_TOKEN_URL", "https://go.tallyfy.com/oauth/token"),
        ("TALLYFY_CLIENT_ID", "c"),
        ("TALLYFY_CLIENT_SECRET", "s"),
        ("TALLYFY_REFRESH_TOKEN", "r"),
    ]);
    // The previous release's settings: no keys of their own.
    let config = Config::from_lookup(lookup(&vars)).unwrap();
    let (jobs, tokens) = (
        config.store.job_signing_key.clone().unwrap(),
        config.tallyfy.token_key.clone().unwrap(),
    );
    assert_ne!(jobs, tokens, "one key for each purpose");
    let again = Config::from_lookup(lookup(&vars)).unwrap();
    assert_eq!(
        again.store.job_signing_key,
        Some(jobs.clone()),
        "every replica derives the same"
    );
    let mut other = vars.clone();
    other.retain(|(k, _)| *k != "SLACK_SIGNING_SECRET");
    other.push(("SLACK_SIGNING_SECRET", "another-signing-secret"));
    let other = Config::from_lookup(lookup(&other)).unwrap();
    assert_ne!(other.store.job_signing_key, Some(jobs.clone()));
    // Keys of their own replace the derived ones.
    let mut own = vars.clone();
    own.extend([
        ("JOB_SIGNING_KEY", JOB_KEY),
        ("STORE_ENCRYPTION_KEY", STORE_KEY),
    ]);
    let own = Config::from_lookup(lookup(&own)).unwrap();
    assert_eq!(own.store.job_signing_key, crate::seal::Key::parse(JOB_KEY));
    assert_eq!(own.tallyfy.token_key, crate::seal::Key::parse(STORE_KEY));
    vars.extend([("JOB_SIGNING_KEY", "short"), ("STORE_ENCRYPTION_KEY", "x")]);
    let errors = Config::from_lookup(lookup(&vars)).unwrap_err();
    assert_eq!(errors.0.len(), 2, "{errors}");
    assert!(
        errors.0.iter().all(|l| l.contains("must be 32 bytes")),
        "{errors}"
    );
    // Without Redis neither is needed: nothing leaves the process.
    let mut alone = MINIMAL.to_vec();
    alone.push(("TALLYFY_REFRESH_TOKEN", "r"));
    alone.extend([
        ("TALLYFY_TOKEN_URL", "https://go.tallyfy.com/oauth/token"),
        ("TALLYFY_CLIENT_ID", "c"),
        ("TALLYFY_CLIENT_SECRET", "s"),
    ]);
    assert!(Config::from_lookup(lookup(&alone)).is_ok());
}

#[test]
fn partial_refresh_settings_are_an_error() {
    let mut vars = MINIMAL.to_vec();
    vars.push(("TALLYFY_REFRESH_TOKEN", "r"));
    let text = Config::from_lookup(lookup(&vars)).unwrap_err().to_string();
    assert!(
        text.contains("missing: TALLYFY_TOKEN_URL, TALLYFY_CLIENT_ID, TALLYFY_CLIENT_SECRET"),
        "{text}"
    );
}

#[test]
fn base_urls_gain_a_trailing_slash() {
    let mut vars = MINIMAL.to_vec();
    vars.push(("SLACK_API_URL", "http://127.0.0.1:9000/api"));
    let config = Config::from_lookup(lookup(&vars)).unwrap();
    assert_eq!(
        config.slack.api_url.join("views.open").unwrap().as_str(),
        "http://127.0.0.1:9000/api/views.open"
    );
}

fn with(extra: &[(&'static str, &'static str)]) -> Result<Config, ConfigErrors> {
    let mut vars = MINIMAL.to_vec();
    vars.extend_from_slice(extra);
    Config::from_lookup(lookup(&vars))
}

#[test]
fn redis_is_one_server_behind_sentinel_or_a_cluster() {
    let one = with(&[("REDIS_URL", "redis://redis:6379")]).unwrap();
    assert!(matches!(one.store.redis, Some(RedisTarget::Server(_))));

    let sentinel = with(&[
        ("REDIS_URL", "rediss://:pw@ignored:6379/2"),
        ("REDIS_SENTINELS", "s1:26379, s2:26379,s3:26379"),
    ])
    .unwrap();
    match sentinel.store.redis {
        Some(RedisTarget::Sentinel {
            sentinels,
            master,
            server,
            password,
            username,
        }) => {
            assert_eq!(sentinels, ["s1:26379", "s2:26379", "s3:26379"]);
            assert_eq!(master, DEFAULT_SENTINEL_MASTER);
            assert!(server.is_some() && password.is_none() && username.is_none());
        }
        other => panic!("{other:?}"),
    }
    let named = with(&[
        ("REDIS_SENTINELS", "s1:26379"),
        ("REDIS_SENTINEL_MASTER", "primary"),
    ])
    .unwrap();
    assert!(
        matches!(named.store.redis, Some(RedisTarget::Sentinel { master, .. }) if master == "primary")
    );

    let cluster = with(&[("REDIS_CLUSTER_NODES", "n1:7000,n2:7000,redis://n3:7000")]).unwrap();
    assert!(
        matches!(cluster.store.redis, Some(RedisTarget::Cluster { nodes, .. }) if nodes.len() == 3)
    );
}

#[test]
fn redis_settings_that_cannot_work_are_reported() {
    let both = with(&[
        ("REDIS_SENTINELS", "s1:26379"),
        ("REDIS_CLUSTER_NODES", "n1:7000"),
    ])
    .unwrap_err();
    assert!(both.to_string().contains("set one"), "{both}");
    let bad = with(&[("REDIS_CLUSTER_NODES", "n1,n2:7000")]).unwrap_err();
    assert!(
        bad.to_string()
            .contains("REDIS_CLUSTER_NODES must list host:port"),
        "{bad}"
    );
    let bad = with(&[("REDIS_SENTINELS", "s1:notaport")]).unwrap_err();
    assert!(bad.to_string().contains("REDIS_SENTINELS"), "{bad}");
}

#[test]
fn the_redis_passwords_are_not_printed() {
    let config = with(&[
        ("REDIS_URL", "redis://:hunter2hunter2@x:6379"),
        ("REDIS_SENTINELS", "s1:26379"),
        ("REDIS_SENTINEL_PASSWORD", "sentinel-secret-42"),
    ])
    .unwrap();
    let printed = format!("{config:?}");
    assert!(!printed.contains("hunter2hunter2") && !printed.contains("sentinel-secret-42"));
}

#[test]
fn client_credentials_alone_act_as_each_person_without_an_access_token() {
    let mut vars: Vec<(&str, &str)> = MINIMAL
        .iter()
        .copied()
        .filter(|(k, _)| *k != "TALLYFY_ACCESS_TOKEN")
        .collect();
    assert!(
        Config::from_lookup(lookup(&vars))
            .unwrap_err()
            .to_string()
            .contains("TALLYFY_ACCESS_TOKEN is not set"),
        "neither a token nor client credentials"
    );
    vars.push(("TALLYFY_CLIENT_ID", "c"));
    let text = Config::from_lookup(lookup(&vars)).unwrap_err().to_string();
    assert!(
        text.contains("need both TALLYFY_CLIENT_ID and TALLYFY_CLIENT_SECRET"),
        "{text}"
    );
    vars.push(("TALLYFY_CLIENT_SECRET", "s"));
    let config = Config::from_lookup(lookup(&vars)).unwrap();
    let grant = config
        .tallyfy
        .client_grant
        .expect("client credentials mode");
    assert_eq!(
        grant.token_url.as_str(),
        "https://go.tallyfy.com/oauth/token"
    );
    assert!(config.tallyfy.access_token.is_none() && config.tallyfy.refresh.is_none());
    assert!(
        !format!("{grant:?}").contains("\"s\""),
        "the secret is not in Debug output"
    );

    // With a refresh token the same two renew one access token instead.
    vars.push(("TALLYFY_ACCESS_TOKEN", "t"));
    vars.push(("TALLYFY_REFRESH_TOKEN", "r"));
    vars.push(("TALLYFY_TOKEN_URL", "https://go.tallyfy.com/oauth/token"));
    let config = Config::from_lookup(lookup(&vars)).unwrap();
    assert!(config.tallyfy.client_grant.is_none() && config.tallyfy.refresh.is_some());
}
