//! Black-box tests: the real application on port 0 against local fakes of Slack and
//! Tallyfy and a real Redis on 127.0.0.1:6379.

mod app_home;
mod block_limits;
mod body_limit;
mod card_actions;
mod card_owners;
mod cli;
mod completions;
mod directory;
mod durable_redis;
mod fair_use;
mod fake_slack;
mod fake_tallyfy;
mod hardening;
mod helpers;

mod log_privacy;
mod manifest;
mod messages_once;
mod monitoring_port;
mod one_url;
mod ops;
mod permissions;
mod picking;
mod project;
mod queue;
mod rate_budget;
mod redis_soak;
mod reliability;
mod replay;
mod response_urls;
mod secured_redis;
mod signed_values;
mod signing;
mod slow_slack;
mod socket_mode;
mod store;
mod strangers;
mod tallyfy_rules;
mod task_command;
mod task_options;
mod task_submission;
mod token_refresh;
mod upgrade;
mod visibility;
mod workspace;
