"""The benchmark's Bolt for Python contender, doing what tallyfy-slack does on the two
measured paths: `/task help` answered at once, `/task` opening a "New task" form through
views.open after the acknowledgement. Slack's Web API is the benchmark's local stand-in.

uvicorn app:api --host 127.0.0.1 --port 3002
"""

import json
import logging
import os
import time

from slack_bolt.adapter.asgi.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

logging.basicConfig(level=logging.ERROR)

token = os.environ["SLACK_BOT_TOKEN"]
app = AsyncApp(
    signing_secret=os.environ["SLACK_SIGNING_SECRET"],
    token=token,
    client=AsyncWebClient(token=token, base_url=os.environ["SLACK_API_URL"]),
)

HELP = "*/task* opens a form for a new Tallyfy task. `/task Title @person friday` fills it in."


def task_view(command):
    """The same blocks tallyfy-slack's form has (bench/form.js is the JavaScript twin)."""
    deadline = int(time.time()) + 86400
    options = [
        {"text": {"type": "plain_text", "text": v.capitalize()}, "value": v}
        for v in ["task", "approval", "expiring", "email"]
    ]
    return {
        "type": "modal",
        "callback_id": "task_create",
        "title": {"type": "plain_text", "text": "New task"},
        "submit": {"type": "plain_text", "text": "Create task"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "private_metadata": json.dumps({"c": command["channel_id"], "r": command.get("response_url")}),
        "blocks": [
            {"type": "input", "block_id": "title", "label": {"type": "plain_text", "text": "Title"},
             "element": {"type": "plain_text_input", "action_id": "value", "focus_on_load": True}},
            {"type": "input", "block_id": "assignees", "label": {"type": "plain_text", "text": "Assignees"},
             "element": {"type": "multi_users_select", "action_id": "value",
                         "placeholder": {"type": "plain_text", "text": "Who should do it?"}}},
            {"type": "input", "block_id": "deadline", "label": {"type": "plain_text", "text": "Deadline"},
             "element": {"type": "datetimepicker", "action_id": "value", "initial_date_time": deadline}},
            {"type": "input", "block_id": "summary", "optional": True,
             "label": {"type": "plain_text", "text": "Summary"},
             "element": {"type": "plain_text_input", "action_id": "value", "multiline": True, "max_length": 3000}},
            {"type": "input", "block_id": "task_type", "label": {"type": "plain_text", "text": "Task type"},
             "element": {"type": "static_select", "action_id": "value", "initial_option": options[0],
                         "options": options}},
        ],
    }


@app.command("/task")
async def task(command, ack, client):
    if command["text"].strip() == "help":
        await ack(response_type="ephemeral", text=HELP)
        return
    await ack()
    try:
        await client.views_open(trigger_id=command["trigger_id"], view=task_view(command))
    except Exception as e:  # noqa: BLE001 - a failed open is counted by the stand-in
        logging.error("views.open failed: %s", e)


api = AsyncSlackRequestHandler(app)
