// The "New task" form the Bolt contenders open: the same blocks tallyfy-slack's form has
// (title, assignees, deadline, summary, task type), so every contender sends a like view.
function taskView(command) {
  const deadline = Math.floor(Date.now() / 1000) + 86400;
  return {
    type: 'modal',
    callback_id: 'task_create',
    title: { type: 'plain_text', text: 'New task' },
    submit: { type: 'plain_text', text: 'Create task' },
    close: { type: 'plain_text', text: 'Cancel' },
    private_metadata: JSON.stringify({ c: command.channel_id, r: command.response_url }),
    blocks: [
      { type: 'input', block_id: 'title', label: { type: 'plain_text', text: 'Title' },
        element: { type: 'plain_text_input', action_id: 'value', focus_on_load: true } },
      { type: 'input', block_id: 'assignees', label: { type: 'plain_text', text: 'Assignees' },
        element: { type: 'multi_users_select', action_id: 'value',
                   placeholder: { type: 'plain_text', text: 'Who should do it?' } } },
      { type: 'input', block_id: 'deadline', label: { type: 'plain_text', text: 'Deadline' },
        element: { type: 'datetimepicker', action_id: 'value', initial_date_time: deadline } },
      { type: 'input', block_id: 'summary', optional: true, label: { type: 'plain_text', text: 'Summary' },
        element: { type: 'plain_text_input', action_id: 'value', multiline: true, max_length: 3000 } },
      { type: 'input', block_id: 'task_type', label: { type: 'plain_text', text: 'Task type' },
        element: { type: 'static_select', action_id: 'value',
                   initial_option: { text: { type: 'plain_text', text: 'Task' }, value: 'task' },
                   options: ['task', 'approval', 'expiring', 'email'].map((v) => (
                     { text: { type: 'plain_text', text: v[0].toUpperCase() + v.slice(1) }, value: v })) } },
    ],
  };
}

// The card posted once a task is created: what tallyfy-slack's card says (who asked whom,
// by when, a link to the task) and its buttons.
function escape(text) {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
function taskCard({ task, title, requester, assignees, deadline }) {
  const link = `https://go.tallyfy.com/${process.env.TALLYFY_ORG_ID}/tasks/${task.id}`;
  const who = assignees.map((u) => `<@${u}>`).join(' and ');
  const when = Math.floor(deadline.getTime() / 1000);
  const text = `<@${requester}> asked ${who} to *<${link}|${escape(title)}>* by <!date^${when}^{date_short_pretty} at {time}|${deadline.toISOString()}>`;
  return {
    text,
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text } },
      { type: 'actions', block_id: 'task_actions', elements: [
        { type: 'button', action_id: 'complete', text: { type: 'plain_text', text: 'Complete' }, value: task.id, style: 'primary' },
        { type: 'button', action_id: 'comment', text: { type: 'plain_text', text: 'Comment' }, value: task.id },
        { type: 'button', action_id: 'open', text: { type: 'plain_text', text: 'Open in Tallyfy' }, url: link },
      ] },
    ],
  };
}

module.exports = { taskView, taskCard };
