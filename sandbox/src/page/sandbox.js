// The sandbox page: a Slack channel drawn from the application's real messages and modals,
// and the stand-in Tallyfy's records. Every action goes to the sandbox's small JSON API,
// which sends it to the application as Slack would.
"use strict";

const page = {
  state: null,
  user: localStorage.getItem("sandbox.user") || "U0SAM",
  channel: localStorage.getItem("sandbox.channel") || "C0PROJECTS",
  drawn: "",
  modal: null, // {id, hash, errors}
  appTab: "home", // in the app's own space: "home" or "messages"
};

const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "html") node.innerHTML = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

async function call(path, body) {
  const res = await fetch(path, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const answer = await res.json().catch(() => ({ ok: false, error: `HTTP ${res.status}` }));
  $("status").textContent = answer.ok ? "" : answer.error || "something went wrong";
  return answer;
}

// --- mrkdwn --------------------------------------------------------------------------------

function escapeHtml(s) {
  return s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

function decodeSlack(s) {
  return s.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
}

function personName(id) {
  const p = (page.state?.people || []).find((x) => x.id === id);
  return p ? p.name : id;
}

function sameDay(a, b) {
  return a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate();
}

// Slack's `<!date^ts^format|fallback>`, in the browser's timezone.
function formatDate(ts, format) {
  const d = new Date(ts * 1000);
  const now = new Date();
  const pretty = (fallback) => {
    const day = 86400000;
    if (sameDay(d, now)) return "today";
    if (sameDay(d, new Date(now.getTime() + day))) return "tomorrow";
    if (sameDay(d, new Date(now.getTime() - day))) return "yesterday";
    return fallback;
  };
  const parts = {
    date_num: d.toLocaleDateString(undefined, { year: "numeric", month: "2-digit", day: "2-digit" }),
    date: d.toLocaleDateString(undefined, { year: "numeric", month: "long", day: "numeric" }),
    date_short: d.toLocaleDateString(undefined, { year: "numeric", month: "short", day: "numeric" }),
    date_long: d.toLocaleDateString(undefined, { weekday: "long", year: "numeric", month: "long", day: "numeric" }),
    time: d.toLocaleTimeString(undefined, { hour: "numeric", minute: "2-digit" }),
    time_secs: d.toLocaleTimeString(undefined, { hour: "numeric", minute: "2-digit", second: "2-digit" }),
  };
  parts.date_pretty = pretty(parts.date);
  parts.date_short_pretty = pretty(parts.date_short);
  parts.date_long_pretty = pretty(parts.date_long);
  return format.replace(/\{(\w+)\}/g, (m, k) => parts[k] ?? m);
}

function inline(text) {
  let s = escapeHtml(decodeSlack(text));
  s = s.replace(/```([\s\S]*?)```/g, (m, c) => `<pre>${c}</pre>`);
  s = s.replace(/`([^`\n]+)`/g, (m, c) => `<code>${c}</code>`);
  s = s.replace(/(^|[\s(])\*([^*\n]+)\*(?=$|[\s).,!?:;])/g, "$1<b>$2</b>");
  s = s.replace(/(^|[\s(])_([^_\n]+)_(?=$|[\s).,!?:;])/g, "$1<i>$2</i>");
  s = s.replace(/(^|[\s(])~([^~\n]+)~(?=$|[\s).,!?:;])/g, "$1<s>$2</s>");
  return s;
}

const EMOJI = {
  arrows_counterclockwise: "\u{1F504}", file_folder: "\u{1F4C1}", hourglass_flowing_sand: "\u{23F3}",
  tada: "\u{1F389}", warning: "\u{26A0}\u{FE0F}", white_check_mark: "\u{2705}", x: "\u{274C}",
};

// One `<...>` token of Slack's mrkdwn, as HTML.
function token(body) {
  const [target, label] = body.split("|");
  if (target.startsWith("@")) return `<span class="mention">@${escapeHtml(personName(target.slice(1)))}</span>`;
  if (target.startsWith("#")) {
    const channel = (page.state?.channels || []).find((c) => c.id === target.slice(1));
    return `<span class="mention">#${escapeHtml(decodeSlack(label || channel?.name || target.slice(1)))}</span>`;
  }
  if (target.startsWith("!date^")) {
    const [, ts, format] = target.split("^");
    return escapeHtml(formatDate(Number(ts), format || "{date_short}"));
  }
  if (target.startsWith("!")) return `<span class="mention">@${escapeHtml(target.slice(1))}</span>`;
  const href = decodeSlack(target);
  const safe = /^(https?:|mailto:|\/)/.test(href) ? href : "#";
  return `<a href="${escapeHtml(safe)}" target="_blank" rel="noopener">${escapeHtml(decodeSlack(label || target))}</a>`;
}

// Slack's mrkdwn (or plain text) to HTML: `<...>` tokens are set aside, the text is
// formatted around them, then they are put back.
function mrkdwn(text, plain) {
  if (!text) return "";
  if (plain) return escapeHtml(text).replace(/\n/g, "<br>");
  const tokens = [];
  const marked = text.replace(/<([^<>]+)>/g, (m, body) => {
    tokens.push(token(body));
    return `\u0000${tokens.length - 1}\u0000`;
  });
  let html = inline(marked).replace(/:([a-z0-9_+-]+):/g, (m, name) => EMOJI[name] || m);
  html = html.replace(/\u0000(\d+)\u0000/g, (m, i) => tokens[Number(i)]);
  return html
    .split("\n")
    .map((line) => (line.startsWith("&gt;") ? `<span class="quote">${line.slice(4)}</span>` : line))
    .join("<br>");
}

function textObject(t) {
  if (!t) return "";
  return mrkdwn(t.text || "", t.type === "plain_text");
}

// --- Block Kit in messages -----------------------------------------------------------------

function button(element, onPress) {
  const style = element.style ? ` ${element.style}` : "";
  return el("button", {
    type: "button",
    class: `btn${style}`,
    "data-action": element.action_id,
    html: textObject(element.text),
    onclick: () => {
      if (element.url) window.open(element.url, "_blank", "noopener");
      onPress(element);
    },
  });
}

// An overflow menu: a "more" button that opens its options; choosing one is the action.
function overflow(element, onPress) {
  const menu = el(
    "div",
    { class: "menu", hidden: true },
    (element.options || []).map((o) =>
      el("button", {
        type: "button",
        class: "menu-item",
        "data-value": o.value,
        html: textObject(o.text),
        onclick: () => {
          menu.hidden = true;
          onPress({ ...element, selected_option: { text: o.text.text, value: o.value } });
        },
      }),
    ),
  );
  const more = el("button", { type: "button", class: "btn overflow", "data-action": element.action_id, "aria-label": "More actions", onclick: () => { menu.hidden = !menu.hidden; } }, "\u22EF");
  return el("span", { class: "overflow-wrap" }, more, menu);
}

// A select menu on a message: choosing an option is the action.
function menu(element, onPress) {
  const select = el(
    "select",
    {
      class: "message-select",
      "data-action": element.action_id,
      onchange: (e) => {
        const o = options(element).find((x) => x.value === e.target.value);
        if (o) onPress({ ...element, selected_option: { text: o.text.text, value: o.value } });
      },
    },
    el("option", { value: "" }, element.placeholder?.text || "Choose…"),
    options(element).map((o) => el("option", { value: o.value }, o.text.text)),
  );
  return select;
}

// A menu whose options the app gives as one types (`external_select`, in a modal): Slack
// asks the app with a `block_suggestion` payload; choosing one is the action.
function external(element, onPress, block) {
  const found = [];
  const select = el(
    "select",
    {
      class: "message-select",
      "data-action": element.action_id,
      onchange: (e) => {
        const o = found.find((x) => x.value === e.target.value);
        if (o) onPress({ ...element, selected_option: { text: o.text.text, value: o.value } });
      },
    },
    el("option", { value: "" }, element.placeholder?.text || "Choose…"),
  );
  const load = async (typed) => {
    if (!page.modal || typed.length < (element.min_query_length ?? 3)) return;
    const answer = await call("/api/modal/suggest", { user: page.user, view_id: page.modal.id, block_id: block?.block_id, action_id: element.action_id, value: typed });
    found.splice(0, found.length, ...options(answer.answer || {}));
    select.replaceChildren(el("option", { value: "" }, element.placeholder?.text || "Choose…"), ...found.map((o) => el("option", { value: o.value }, o.text.text)));
  };
  const search = el("input", { type: "search", class: "suggest", "data-suggest": element.action_id, placeholder: element.placeholder?.text || "Search", oninput: (e) => load(e.target.value) });
  setTimeout(() => load(""), 0);
  return el("span", { class: "external-select" }, search, select);
}

function element(e, onPress, block) {
  if (e.type === "button") return button(e, onPress);
  if (e.type === "overflow") return overflow(e, onPress);
  if (e.type === "static_select") return menu(e, onPress);
  if (e.type === "external_select") return external(e, onPress, block);
  return null;
}

function messageBlocks(blocks, onPress) {
  return blocks.map((block) => {
    switch (block.type) {
      case "section": {
        const body = el("div", {});
        if (block.text) body.append(el("div", { html: textObject(block.text) }));
        if (block.fields) body.append(el("div", { class: "fields" }, block.fields.map((f) => el("div", { html: textObject(f) }))));
        const accessory = block.accessory ? element(block.accessory, (e) => onPress(e, block)) : null;
        return el("div", { class: "block section" }, accessory ? el("div", { class: "section-with-accessory" }, body, accessory) : body);
      }
      case "context":
        return el("div", { class: "block context" }, (block.elements || []).map((e) => el("span", { html: e.type === "image" ? "" : textObject(e) })));
      case "actions":
        return el("div", { class: "block actions" }, (block.elements || []).map((e) => element(e, (x) => onPress(x, block), block)));
      case "header":
        return el("div", { class: "block header", html: textObject(block.text) });
      case "divider":
        return el("hr", { class: "block divider" });
      default:
        return el("div", { class: "block" }, block.text ? el("span", { html: textObject(block.text) }) : null);
    }
  });
}

// --- the channel -------------------------------------------------------------------------------

function timeOf(ts) {
  return new Date(Number(ts) * 1000).toLocaleTimeString(undefined, { hour: "numeric", minute: "2-digit" });
}

function lineVisible(line) {
  if ((line.kind === "ephemeral" || line.kind === "typed") && line.user !== page.user) return false;
  if (page.channel === "") return line.channel === page.user; // the app's direct messages
  return line.channel === page.channel;
}

function drawLine(line, replies) {
  const fromApp = line.kind === "app" || line.kind === "ephemeral";
  const author = fromApp ? "Tallyfy" : personName(line.user);
  const blocks = Array.isArray(line.blocks) ? line.blocks : [];
  const onPress = (element, block) =>
    call("/api/press", { user: page.user, channel: line.channel, ts: line.ts, action: actionOf(element, block) });
  const body = blocks.length ? messageBlocks(blocks, onPress) : [el("div", { html: mrkdwn(line.text || "", false) })];
  const meta = el(
    "div",
    { class: "meta" },
    el("span", { class: "author" }, author),
    fromApp ? el("span", { class: "tag" }, "APP") : null,
    el("span", { class: "time" }, timeOf(line.ts)),
  );
  const shortcut =
    line.kind === "said"
      ? el("a", { href: "#", class: "shortcut", onclick: (e) => { e.preventDefault(); call("/api/shortcut", { user: page.user, channel: line.channel, ts: line.ts, text: line.text }); } }, "Create a Tallyfy task")
      : null;
  const note = line.kind === "ephemeral" || line.kind === "typed" ? el("div", { class: "ephemeral-note" }, "Only visible to you") : null;
  const thread = replies && replies.length
    ? el("div", { class: "thread" }, el("div", { class: "replies-title" }, `${replies.length} ${replies.length === 1 ? "reply" : "replies"}`), replies.map((r) => drawLine(r, null)))
    : null;
  return el(
    "div",
    { class: `message ${line.kind}${replies === null ? " reply" : ""}`, "data-ts": line.ts },
    el("div", { class: `avatar${fromApp ? " app" : ""}` }, author.slice(0, 1).toUpperCase()),
    el("div", {}, shortcut, meta, note, el("div", { class: "body" }, body), thread),
  );
}

function actionOf(element, block) {
  return {
    type: element.type,
    action_id: element.action_id,
    block_id: block.block_id || "",
    value: element.value || "",
    text: element.text?.text || "",
    selected_option: element.selected_option || null,
  };
}

// The app's Home tab, as it last published it for the person at the browser.
function drawHome() {
  const view = page.state.homes?.[page.user];
  const onPress = (element, block) => call("/api/home/press", { user: page.user, action: actionOf(element, block) });
  const body = view ? messageBlocks(view.blocks || [], onPress) : [el("p", { class: "muted" }, "Opening the Home tab…")];
  $("timeline").replaceChildren(el("div", { class: "home", id: "home" }, body));
}

function openHome() {
  call("/api/home", { user: page.user }).then(refresh);
}

function drawTabs() {
  const tabs = $("app-tabs");
  tabs.hidden = page.channel !== "";
  for (const [id, tab] of [["tab-home", "home"], ["tab-messages", "messages"]]) {
    $(id).className = page.appTab === tab ? "active" : "";
  }
}

function drawChannel() {
  const s = page.state;
  drawTabs();
  const home = page.channel === "" && page.appTab === "home";
  $("composer-form").hidden = home;
  if (home) {
    $("channel-name").textContent = "Tallyfy";
    return drawHome();
  }
  const name = page.channel === "" ? "Tallyfy" : `# ${s.channels.find((c) => c.id === page.channel)?.name || page.channel}`;
  $("channel-name").textContent = name;
  $("composer").placeholder = page.channel === "" ? "Message Tallyfy" : `Message ${name.replace("# ", "#")} — try /task Review the Q4 report @alice friday 5pm`;
  const lines = s.lines.filter(lineVisible);
  const replies = {};
  for (const l of lines) if (l.thread_ts && l.thread_ts !== l.ts) (replies[l.thread_ts] ||= []).push(l);
  const timeline = $("timeline");
  const atBottom = timeline.scrollHeight - timeline.scrollTop - timeline.clientHeight < 40;
  timeline.replaceChildren(...lines.filter((l) => !l.thread_ts || l.thread_ts === l.ts).map((l) => drawLine(l, replies[l.ts] || [])));
  if (atBottom) timeline.scrollTop = timeline.scrollHeight;
}

function drawSidebar() {
  const s = page.state;
  const person = $("person");
  if (!person.options.length) {
    for (const p of s.people) person.append(el("option", { value: p.id }, `${p.full_name} (@${p.name})${p.member ? "" : " – not in Tallyfy"}`));
    person.value = page.user;
  }
  $("channels").replaceChildren(
    ...s.channels.map((c) =>
      el("li", {}, el("a", { href: "#", class: c.id === page.channel ? "active" : "", onclick: (e) => { e.preventDefault(); go(c.id); } }, `# ${c.name}`)),
    ),
  );
  $("app-dm").className = page.channel === "" ? "active" : "";
}

function go(channel, tab) {
  page.channel = channel;
  page.appTab = tab || "home";
  localStorage.setItem("sandbox.channel", channel);
  page.drawn = "";
  draw();
  if (channel === "" && page.appTab === "home") openHome();
}

// --- the stand-in Tallyfy --------------------------------------------------------------------

function memberName(id) {
  const m = (page.state?.tallyfy.members || []).find((x) => x.id === id);
  return m ? m.name : `member ${id}`;
}

function drawTallyfy() {
  const { runs, members } = page.state.tallyfy;
  const me = page.state.people.find((p) => p.id === page.user);
  const list = runs.slice().reverse().map((run) => {
    const first = run.tasks[0] || {};
    const title = run.oneoff ? "One-off task" : `Process: ${first.run?.name || first.title}`;
    return el(
      "div",
      { class: "run", id: `run-${run.id}` },
      el("h3", {}, title),
      run.tasks.map((t) => {
        const owners = [
          ...(t.owners?.users || []).map(memberName),
          ...(t.owners?.groups || []).map((g) => `group ${g.slice(0, 6)}`),
          ...(t.owners?.guests || []),
        ];
        const done = t.status === "completed";
        const by = el("select", { "aria-label": "as" }, members.map((m) => el("option", { value: m.id }, m.name)));
        by.value = String((t.owners?.users || [])[0] ?? me?.member ?? members[0]?.id);
        const act = (complete) => call("/api/tallyfy/complete", { task_id: t.id, member: Number(by.value), done: complete });
        return el(
          "div",
          { class: `task${done ? " done" : ""}`, "data-task": t.id },
          el("div", { class: "title" }, t.title),
          el("div", { class: "details" }, `${done ? "completed" : t.status} · owners: ${owners.join(", ") || "nobody"} · due ${new Date(t.deadline).toLocaleString()} · position ${t.position}`),
          el("div", { class: "details people" },
            `started by ${t.starter_id ? memberName(t.starter_id) : "nobody known"}${done && t.completer_id ? ` · completed by ${memberName(t.completer_id)}` : ""}`),
          (t.comments || []).map((c) => el("div", { class: "comment" }, el("span", { class: "muted" }, `Comment by ${c.author?.full_name || "someone"}: `), c.content)),
          el(
            "div",
            { class: "controls" },
            done
              ? el("button", { type: "button", class: "btn reopen", onclick: () => act(false) }, "Reopen")
              : el("button", { type: "button", class: "btn primary complete", onclick: () => act(true) }, "Complete"),
            "as",
            by,
          ),
        );
      }),
    );
  });
  $("tallyfy-runs").replaceChildren(...(list.length ? list : [el("p", { class: "muted", style: "padding: 0 16px" }, "Nothing created yet.")]));
}

// --- the loop ---------------------------------------------------------------------------------

function draw() {
  if (!page.state) return;
  drawSidebar();
  drawChannel();
  drawTallyfy();
  drawModalFromState();
}

async function refresh() {
  try {
    const res = await fetch("/api/state");
    const text = await res.text();
    const key = `${text}|${page.user}|${page.channel}`;
    if (key === page.drawn) return;
    page.drawn = key;
    page.state = JSON.parse(text);
    draw();
  } catch (err) {
    $("status").textContent = "The sandbox is not answering.";
  }
}

$("composer-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const text = $("composer").value.trim();
  if (!text) return;
  $("composer").value = "";
  const channel = page.channel || page.user;
  await call("/api/say", { user: page.user, channel, text });
  refresh();
});
$("person").addEventListener("change", (e) => {
  page.user = e.target.value;
  localStorage.setItem("sandbox.user", page.user);
  page.modal = null;
  page.drawn = "";
  draw();
  if (page.channel === "" && page.appTab === "home") openHome();
});
$("app-dm").addEventListener("click", (e) => { e.preventDefault(); go("", "home"); });
$("tab-home").addEventListener("click", (e) => { e.preventDefault(); go("", "home"); });
$("tab-messages").addEventListener("click", (e) => { e.preventDefault(); go("", "messages"); });
$("modal-form").addEventListener("submit", submitModal);
$("modal-close").addEventListener("click", closeModal);
$("modal-x").addEventListener("click", closeModal);

refresh().then(() => { if (page.channel === "") openHome(); });
setInterval(refresh, 600);
