//! Block Kit's limits, checked as Slack checks them (sources in the module above).

use serde_json::Value;

/// The checks Slack makes on a modal before opening it.
pub(super) fn check_view(view: &Value) -> Result<(), &'static str> {
    let text_len = |v: &Value| v["text"].as_str().map(|t| t.chars().count()).unwrap_or(0);
    if view["type"] != "modal" || text_len(&view["title"]) == 0 || text_len(&view["title"]) > 24 {
        return Err("invalid_arguments");
    }
    if text_len(&view["submit"]) > 24 || text_len(&view["close"]) > 24 {
        return Err("invalid_arguments");
    }
    let blocks = view["blocks"].as_array().ok_or("invalid_arguments")?;
    if blocks.len() > 100 || view["private_metadata"].as_str().map(str::len).unwrap_or(0) > 3000 {
        return Err("invalid_arguments");
    }
    check_blocks(blocks).map_err(|_| "invalid_arguments")?;
    for block in blocks {
        if block["type"] == "input" {
            let element = &block["element"];
            if element["type"] == "plain_text_input"
                && element["initial_value"]
                    .as_str()
                    .map(|v| v.chars().count())
                    .unwrap_or(0)
                    > 3000
            {
                return Err("invalid_arguments");
            }
            if text_len(&block["label"]) == 0
                || block["block_id"].as_str().map(str::len).unwrap_or(0) > 255
            {
                return Err("invalid_arguments");
            }
        }
    }
    Ok(())
}

/// The checks Slack makes on an App Home view before publishing it
/// (api.slack.com/methods/views.publish, .../reference/surfaces/views): its type is
/// `home`, it holds at most 100 blocks, each within the limits any view's blocks keep.
pub(super) fn check_home(view: &Value) -> Result<(), &'static str> {
    if view["type"] != "home" {
        return Err("invalid_arguments");
    }
    let blocks = view["blocks"].as_array().ok_or("invalid_arguments")?;
    if blocks.len() > 100 || chars(&view["private_metadata"]) > 3000 {
        return Err("invalid_arguments");
    }
    check_blocks(blocks).map_err(|_| "invalid_arguments")
}

/// The checks Slack makes on a message (posted, ephemeral, or through a `response_url`).
pub(super) fn check_message(message: &Value) -> Result<(), &'static str> {
    if chars(&message["text"]) > 40_000 {
        return Err("msg_too_long");
    }
    // Form-encoded posts carry `blocks` as a JSON string.
    let blocks = match &message["blocks"] {
        Value::String(raw) => serde_json::from_str(raw).map_err(|_| "invalid_blocks")?,
        other => other.clone(),
    };
    match blocks {
        Value::Null => Ok(()),
        Value::Array(blocks) if blocks.len() <= 50 => check_blocks(&blocks),
        _ => Err("invalid_blocks"),
    }
}

pub(super) fn chars(v: &Value) -> usize {
    v.as_str().map(|t| t.chars().count()).unwrap_or(0)
}

/// Block Kit's per-block limits (the module's documentation gives the sources).
pub(super) fn check_blocks(blocks: &[Value]) -> Result<(), &'static str> {
    let over = |v: &Value, max: usize| chars(v) > max;
    for block in blocks {
        if over(&block["block_id"], 255) || !dispatch_fits(block) {
            return Err("invalid_blocks");
        }
        let fine = match block["type"].as_str() {
            Some("section") => {
                let fields = block["fields"].as_array().map(Vec::as_slice).unwrap_or(&[]);
                !over(&block["text"]["text"], 3000)
                    && fields.len() <= 10
                    && fields.iter().all(|f| !over(&f["text"], 2000))
                    && (block["accessory"].is_null() || check_element(&block["accessory"]))
            }
            Some("header") => !over(&block["text"]["text"], 150),
            Some("context") => block["elements"].as_array().is_some_and(|e| e.len() <= 10),
            Some("actions") => block["elements"]
                .as_array()
                .is_some_and(|e| e.len() <= 25 && e.iter().all(check_element)),
            _ => true,
        };
        if !fine {
            return Err("invalid_blocks");
        }
    }
    Ok(())
}

/// `dispatch_action` belongs to input blocks only, as a boolean: "A boolean that indicates
/// whether or not the use of elements in this block should dispatch a block_actions
/// payload. Defaults to false." (docs.slack.dev/reference/block-kit/blocks/input-block; no
/// other block lists the field, and Slack refuses a block with fields its type lacks).
fn dispatch_fits(block: &Value) -> bool {
    match block.get("dispatch_action") {
        None => true,
        Some(flag) => block["type"] == "input" && flag.is_boolean(),
    }
}

pub(super) fn check_element(element: &Value) -> bool {
    let over = |v: &Value, max: usize| chars(v) > max;
    !over(&element["action_id"], 255)
        && (element["type"] != "button"
            || (!over(&element["text"]["text"], 75)
                && !over(&element["value"], 2000)
                && !over(&element["url"], 3000)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn modal(blocks: Value) -> Value {
        json!({"type": "modal", "title": {"type": "plain_text", "text": "New task"}, "blocks": blocks})
    }

    fn picker(dispatch: Value) -> Value {
        json!({"type": "input", "block_id": "assignees", "dispatch_action": dispatch,
               "label": {"type": "plain_text", "text": "Assignees"},
               "element": {"type": "multi_users_select", "action_id": "value"}})
    }

    #[test]
    fn dispatch_action_is_a_boolean_of_input_blocks_only() {
        assert!(check_view(&modal(json!([picker(json!(true))]))).is_ok());
        assert!(check_view(&modal(json!([picker(json!(false))]))).is_ok());
        assert_eq!(
            check_view(&modal(json!([picker(json!("yes"))]))),
            Err("invalid_arguments")
        );
        let section = json!({"type": "section", "dispatch_action": true,
                             "text": {"type": "mrkdwn", "text": "Hi"}});
        assert_eq!(
            check_view(&modal(json!([section.clone()]))),
            Err("invalid_arguments")
        );
        assert_eq!(
            check_message(&json!({"text": "Hi", "blocks": [section]})),
            Err("invalid_blocks")
        );
    }
}
