// The benchmark's Bolt for JavaScript contender, doing what tallyfy-slack does on the two
// measured paths: `/task help` answered at once, `/task` opening a "New task" form through
// views.open after the acknowledgement. Slack's Web API is the benchmark's local stand-in.
const { App, LogLevel } = require('@slack/bolt');
const { taskView } = require('../form');

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

(async () => {
  await app.start({ port, host: '127.0.0.1' });
  console.log(`bolt-js listening on ${port}`);
})();
