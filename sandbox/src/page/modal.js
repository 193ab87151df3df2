// The sandbox page's modals: the application's forms drawn from their Block Kit, their
// state read back as Slack shapes `view.state.values`, and what a person does in them
// (submit, close, pick people, choose in a menu). Loaded before sandbox.js, whose
// helpers (`el`, `call`, `page`, `messageBlocks`) these use once the page runs.

// --- modals -------------------------------------------------------------------------------------

function options(element) {
  if (element.option_groups) return element.option_groups.flatMap((g) => g.options);
  return element.options || [];
}

function localDateTime(unix) {
  const d = new Date(unix * 1000);
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

function inputElement(block) {
  const e = block.element;
  const id = `in-${block.block_id}`;
  const data = { id, "data-block": block.block_id, "data-action": e.action_id, "data-type": e.type };
  switch (e.type) {
    case "plain_text_input":
      return e.multiline
        ? el("textarea", { ...data, placeholder: e.placeholder?.text }, e.initial_value || "")
        : el("input", { ...data, type: "text", placeholder: e.placeholder?.text, value: e.initial_value || "" });
    case "multi_users_select":
    case "users_select": {
      const chosen = e.initial_users || (e.initial_user ? [e.initial_user] : []);
      const onchange = block.dispatch_action === true ? () => picked(block) : null;
      return el(
        "select",
        { ...data, multiple: e.type === "multi_users_select", onchange },
        e.type === "users_select" ? el("option", { value: "" }, "") : null,
        page.state.people.map((p) => el("option", { value: p.id, selected: chosen.includes(p.id) }, `${p.full_name} (@${p.name})`)),
      );
    }
    case "email_text_input":
      return el("input", { ...data, type: "email", placeholder: e.placeholder?.text, value: e.initial_value || "" });
    case "datetimepicker":
      return el("input", { ...data, type: "datetime-local", value: e.initial_date_time ? localDateTime(e.initial_date_time) : "" });
    case "datepicker":
      return el("input", { ...data, type: "date", value: e.initial_date || "" });
    case "timepicker":
      return el("input", { ...data, type: "time", value: e.initial_time || "" });
    case "static_select":
    case "multi_static_select": {
      const multi = e.type === "multi_static_select";
      const chosen = multi ? (e.initial_options || []).map((o) => o.value) : [e.initial_option?.value];
      return el(
        "select",
        { ...data, multiple: multi },
        multi ? null : el("option", { value: "" }, e.placeholder?.text || ""),
        options(e).map((o) => el("option", { value: o.value, selected: chosen.includes(o.value) }, o.text.text)),
      );
    }
    case "checkboxes":
    case "radio_buttons": {
      const chosen = e.type === "checkboxes" ? (e.initial_options || []).map((o) => o.value) : [e.initial_option?.value];
      return el(
        "div",
        { ...data },
        options(e).map((o) =>
          el("label", { class: "checkbox" }, el("input", { type: e.type === "checkboxes" ? "checkbox" : "radio", name: id, value: o.value, checked: chosen.includes(o.value) }), " ", o.text.text),
        ),
      );
    }
    default:
      return el("div", { class: "hint" }, `(${e.type})`);
  }
}

// A choice in a menu of a modal's `actions` block: Slack sends it to the app at once.
function chooseInModal(action, block) {
  if (!page.modal) return;
  call("/api/modal/choose", { user: page.user, view_id: page.modal.id, action: { ...action, block_id: block.block_id }, values: modalValues() }).then(refresh);
}

// A pick in the people picker of an input block with `dispatch_action`: Slack sends it to
// the app at once, with the form's state so far.
function picked(block) {
  if (!page.modal) return;
  call("/api/pick", { user: page.user, view_id: page.modal.id, block_id: block.block_id, values: modalValues() });
}

// One input's state, as Slack puts it in `view.state.values`.
function stateOf(node) {
  const type = node.dataset.type;
  const selected = () => [...node.selectedOptions].map((o) => o.value).filter((v) => v);
  const option = (v) => {
    const text = [...node.querySelectorAll("option, label")].find((o) => (o.value ?? o.querySelector("input")?.value) === v)?.textContent.trim();
    return { text: { type: "plain_text", text: text || v }, value: v };
  };
  switch (type) {
    case "plain_text_input":
    case "email_text_input":
      return { type, value: node.value === "" ? null : node.value };
    case "multi_users_select":
      return { type, selected_users: selected() };
    case "users_select":
      return { type, selected_user: node.value || null };
    case "datetimepicker":
      return { type, selected_date_time: node.value ? Math.floor(new Date(node.value).getTime() / 1000) : null };
    case "datepicker":
      return { type, selected_date: node.value || null };
    case "timepicker":
      return { type, selected_time: node.value || null };
    case "static_select":
      return { type, selected_option: node.value ? option(node.value) : null };
    case "multi_static_select":
      return { type, selected_options: selected().map(option) };
    case "checkboxes":
      return { type, selected_options: [...node.querySelectorAll("input:checked")].map((i) => option(i.value)) };
    case "radio_buttons": {
      const v = node.querySelector("input:checked")?.value;
      return { type, selected_option: v ? option(v) : null };
    }
    default:
      return { type };
  }
}

function modalValues() {
  const values = {};
  for (const node of $("modal-blocks").querySelectorAll("[data-block]")) {
    (values[node.dataset.block] ||= {})[node.dataset.action] = stateOf(node);
  }
  return values;
}

function drawModal(view, errors) {
  const keep = page.modal && page.modal.id === view.id ? modalValues() : null;
  $("modal-title").textContent = view.title?.text || "";
  $("modal-submit").textContent = view.submit?.text || "Submit";
  $("modal-close").textContent = view.close?.text || "Cancel";
  $("modal-submit").hidden = !view.submit;
  const blocks = (view.blocks || []).map((block) => {
    if (block.type !== "input") return messageBlocks([block], chooseInModal)[0];
    const error = errors?.[block.block_id];
    return el(
      "div",
      { class: `input${error ? " has-error" : ""}`, "data-input": block.block_id },
      el("label", { for: `in-${block.block_id}` }, block.label?.text || "", block.optional ? el("span", { class: "optional" }, " (optional)") : null),
      inputElement(block),
      block.hint ? el("div", { class: "hint", html: textObject(block.hint) }) : null,
      error ? el("div", { class: "error" }, error) : null,
    );
  });
  $("modal-blocks").replaceChildren(...blocks);
  if (keep) restore(keep);
  page.modal = { id: view.id, hash: view.hash, errors };
  $("modal-layer").hidden = false;
}

// Puts back what the person had typed when the app updated the modal under them.
function restore(values) {
  for (const node of $("modal-blocks").querySelectorAll("[data-block]")) {
    const v = values[node.dataset.block]?.[node.dataset.action];
    if (!v) continue;
    if ("value" in v && v.value !== null) node.value = v.value;
    if (v.selected_date_time) node.value = localDateTime(v.selected_date_time);
    if (v.selected_users) for (const o of node.options) o.selected = v.selected_users.includes(o.value);
  }
}

function hideModal() {
  page.modal = null;
  $("modal-layer").hidden = true;
}

function drawModalFromState() {
  const mine = page.state.modals.find((m) => m.user === page.user);
  if (!mine) return hideModal();
  if (page.modal && page.modal.id === mine.view.id && page.modal.hash === mine.view.hash) return;
  drawModal(mine.view, page.modal?.id === mine.view.id ? page.modal.errors : null);
}

async function submitModal(e) {
  e.preventDefault();
  if (!page.modal) return;
  const id = page.modal.id;
  const answer = await call("/api/submit", { user: page.user, view_id: id, values: modalValues() });
  if (!answer.ok) return;
  const action = answer.answer?.response_action;
  if (action === "errors") {
    const mine = page.state.modals.find((m) => m.view.id === id);
    if (mine) drawModal(mine.view, answer.answer.errors);
  } else {
    hideModal();
  }
  refresh();
}

async function closeModal() {
  if (!page.modal) return;
  await call("/api/close", { view_id: page.modal.id });
  hideModal();
  refresh();
}
