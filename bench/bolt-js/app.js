// The benchmark's Bolt for JavaScript contender, doing what tallyfy-slack does on the three
// measured paths: `/task help` answered at once, `/task` opening a "New task" form through
// views.open after the acknowledgement, and the form submitted: acknowledged (the form
// closes), the view's values read, the task created in Tallyfy, the card posted to the
// channel. Slack's Web API and Tallyfy are the benchmark's local stand-in (over HTTPS when
// the benchmark runs with TLS: NODE_EXTRA_CA_CERTS names its certificate authority).
const { App, LogLevel } = require('@slack/bolt');
const { taskView, taskCard } = require('../form');

const port = Number(process.env.PORT || 3001);
const app = new App({
  signingSecret: process.env.SLACK_SIGNING_SECRET,
  token: process.env.SLACK_BOT_TOKEN,
  clientOptions: { slackApiUrl: process.env.SLACK_API_URL },
  logLevel: LogLevel.ERROR,
});

const HELP = '*/task* opens a form for a new Tallyfy task. `/task Title @person friday` fills it in.';

app.command('/task', async ({ command, ack, client }) => {
  if (command.text.trim() === 'help') {
    await ack({ response_type: 'ephemeral', text: HELP });
    return;
  }
  await ack();
  try {
    await client.views.open({ trigger_id: command.trigger_id, view: taskView(command) });
  } catch (e) {
    console.error('views.open failed', e.message);
  }
});

// Tallyfy's API (the stand-in's): who each Slack user is in Tallyfy, looked up once
// (users.info's email, then Tallyfy's member search) and kept, as tallyfy-slack keeps them.
const TALLYFY = process.env.TALLYFY_API_URL;
const ORG = process.env.TALLYFY_ORG_ID;
const tallyfyHeaders = {
  authorization: `Bearer ${process.env.TALLYFY_ACCESS_TOKEN}`,
  'x-tallyfy-client': 'APIClient',
  accept: 'application/json',
  'content-type': 'application/json',
};
const members = new Map();
async function memberId(client, user) {
  if (!members.has(user)) {
    const info = await client.users.info({ user });
    const email = info.user.profile.email;
    const res = await fetch(`${TALLYFY}/organizations/${ORG}/users?q=${encodeURIComponent(email)}`,
      { headers: tallyfyHeaders });
    const found = (await res.json()).data.find((m) => m.email.toLowerCase() === email.toLowerCase());
    members.set(user, found.id);
  }
  return members.get(user);
}

app.view('task_create', async ({ ack, view, body, client }) => {
  const v = view.state.values;
  const title = (v.title.value.value || '').trim();
  if (!title) {
    await ack({ response_action: 'errors', errors: { title: 'Give the task a title.' } });
    return;
  }
  await ack();
  try {
    const meta = JSON.parse(view.private_metadata || '{}');
    const assignees = v.assignees.value.selected_users;
    const users = await Promise.all(assignees.map((u) => memberId(client, u)));
    const deadline = new Date(v.deadline.value.selected_date_time * 1000);
    const res = await fetch(`${TALLYFY}/organizations/${ORG}/tasks`, {
      method: 'POST',
      headers: tallyfyHeaders,
      body: JSON.stringify({
        title,
        summary: v.summary.value.value || undefined,
        task_type: v.task_type.value.selected_option.value,
        owners: { users, guests: [], groups: [] },
        deadline: deadline.toISOString().slice(0, 19).replace('T', ' '),
      }),
    });
    if (res.status !== 201) throw new Error(`Tallyfy answered ${res.status}`);
    const task = (await res.json()).data;
    await client.chat.postMessage({
      channel: meta.c,
      ...taskCard({ task, title, requester: body.user.id, assignees, deadline }),
    });
  } catch (e) {
    console.error('task not created', e.message);
  }
});

(async () => {
  await app.start({ port, host: '127.0.0.1' });
  console.log(`bolt-js listening on ${port}`);
})();
