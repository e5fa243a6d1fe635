// Small behaviours on top of server-rendered pages: bulk selection that
// survives live refreshes, keyboard shortcuts, and kanban drag and drop.
(function () {
  "use strict";

  function csrfToken() {
    const headers = document.body.getAttribute("hx-headers");
    try { return JSON.parse(headers)["X-CSRFToken"]; } catch (e) { return ""; }
  }

  // ---- buttons that ask first (data-confirm; no inline handlers: CSP) --
  document.addEventListener("click", (event) => {
    const button = event.target.closest("[data-confirm]");
    if (button && !window.confirm(button.dataset.confirm)) event.preventDefault();
  });

  // ---- ticket: images from other sites load only when asked -------
  document.addEventListener("click", (event) => {
    const button = event.target.closest("[data-load-remote-images]");
    if (!button) return;
    const body = button.closest(".msg-body");
    body.querySelectorAll("img[data-remote-src]").forEach((image) => {
      // Resolved as the browser resolves any address (tabs and newlines
      // dropped, "\\" read as "/"), and loaded only when it is a web address.
      let url = null;
      try { url = new URL(image.dataset.remoteSrc, document.baseURI); } catch (e) { url = null; }
      if (url && (url.protocol === "http:" || url.protocol === "https:")) image.src = url.href;
      image.removeAttribute("data-remote-src");
    });
    button.closest(".remote-images").remove();
  });

  // ---- queue: bulk bar and selection --------------------------------
  function selectedNumbers() {
    return Array.from(document.querySelectorAll('#queue-rows input[name="numbers"]:checked'))
      .map((box) => box.value);
  }

  function updateBulkBar() {
    const bar = document.getElementById("bulk-bar");
    if (!bar) return;
    const count = selectedNumbers().length;
    bar.classList.toggle("has-selection", count > 0);
    document.getElementById("bulk-count").textContent = count + " selected";
    if (count > 0) document.getElementById("bulk-hint").textContent = "";
  }

  // "Apply" with nothing ticked says so instead of doing nothing.
  document.addEventListener("submit", (event) => {
    if (event.target.id !== "bulk-form" || selectedNumbers().length > 0) return;
    event.preventDefault();
    document.getElementById("bulk-hint").textContent = "Tick the tickets to change first.";
  });

  function showActionValue() {
    const action = document.getElementById("bulk-action");
    if (!action) return;
    document.querySelectorAll("#bulk-bar [data-action]").forEach((span) => {
      span.hidden = span.dataset.action !== action.value;
    });
  }

  document.addEventListener("change", (event) => {
    if (event.target.classList.contains("select-all")) {
      document.querySelectorAll('#queue-rows input[name="numbers"]').forEach((box) => {
        box.checked = event.target.checked;
      });
    }
    if (event.target.id === "bulk-action") showActionValue();
    updateBulkBar();
  });

  // ---- live regions ----------------------------------------------------
  // One polite region (#announcer in base.html) for news that arrives
  // without a page load. Emptied first so the same words are read again.
  function announce(text) {
    const region = document.getElementById("announcer");
    if (!region || !text) return;
    region.textContent = "";
    setTimeout(() => { region.textContent = text; }, 50);
  }
  window.helpdeskAnnounce = announce;
  // An htmx answer can ask for words to be read out: HX-Trigger: {"announce": "Saved."}.
  document.addEventListener("announce", (event) => {
    const detail = event.detail || {};
    announce(typeof detail === "string" ? detail : detail.value);
  });

  // A form sent back with errors: its summary has focus (autofocus) and
  // the page's title says so, for pages whose template does not already.
  const summary = document.querySelector("[data-error-summary]");
  if (summary) {
    if (!/^Error:/.test(document.title)) document.title = "Error: " + document.title;
    if (!document.activeElement || document.activeElement === document.body) summary.focus();
  }

  // A live refresh replaces rows, cards and lists: keep what the agent had
  // ticked and where their focus was (every focusable part has an id), and
  // say how many tickets are new.
  let keptSelection = [];
  let keptFocus = null;
  let keptRow = null;
  let knownNumbers = null;
  function rowNumbers() {
    return new Set(Array.from(document.querySelectorAll("#queue-rows tr[data-number]")).map((row) => row.dataset.number));
  }
  function rememberFocus(target) {
    const active = document.activeElement;
    if (!active || active === document.body || !target || !target.contains(active)) return;
    keptFocus = active.id || null;
    keptRow = active.closest("[data-number]") ? active.closest("[data-number]").dataset.number : null;
  }
  document.addEventListener("htmx:beforeSwap", (event) => {
    const target = event.detail.target;
    if (target.id === "queue-rows") {
      keptSelection = selectedNumbers();
      knownNumbers = rowNumbers();
    }
    rememberFocus(target);
  });
  document.addEventListener("htmx:oobBeforeSwap", (event) => rememberFocus(event.detail.target));
  function restoreFocus() {
    if (!keptFocus && !keptRow) return;
    const active = document.activeElement;
    if (active && active !== document.body && document.contains(active)) { keptFocus = keptRow = null; return; }
    let element = keptFocus && document.getElementById(keptFocus);
    // The element itself is gone (the row left the queue): its row's neighbour, or the list.
    if (!element && keptRow) element = document.querySelector('[data-number="' + keptRow + '"]');
    if (element) element.focus({ preventScroll: true });
    keptFocus = keptRow = null;
  }
  document.addEventListener("htmx:afterSettle", (event) => {
    keptSelection.forEach((number) => {
      const box = document.querySelector('#queue-rows input[name="numbers"][value="' + number + '"]');
      if (box) box.checked = true;
    });
    keptSelection = [];
    restoreFocus();
    if (knownNumbers && document.getElementById("queue-rows")) {
      const fresh = Array.from(rowNumbers()).filter((number) => !knownNumbers.has(number)).length;
      if (fresh) announce(fresh === 1 ? "1 new ticket" : fresh + " new tickets");
    }
    knownNumbers = null;
    // A message an htmx answer brought (a saved change, a refusal) is read out.
    const flash = event.detail.elt && event.detail.elt.querySelector && event.detail.elt.querySelector(".flash");
    if (flash) announce(flash.textContent.trim());
    updateBulkBar();
  });

  // ---- pause live updates (WCAG 2.2.2) --------------------------------
  // Remembered in the browser, for every page that refreshes itself.
  function livePaused() {
    try { return window.localStorage.getItem("helpdesk.live") === "paused"; } catch (e) { return false; }
  }
  function showLiveState() {
    const paused = livePaused();
    document.querySelectorAll("[data-live-toggle]").forEach((button) => {
      button.setAttribute("aria-pressed", paused ? "true" : "false");
      button.textContent = paused ? "Resume live updates" : "Pause live updates";
    });
    document.querySelectorAll("[data-live-state]").forEach((note) => {
      note.textContent = paused ? "Live updates paused." : "";
    });
  }
  document.addEventListener("click", (event) => {
    const button = event.target.closest("[data-live-toggle]");
    if (!button) return;
    const paused = !livePaused();
    try { window.localStorage.setItem("helpdesk.live", paused ? "paused" : "on"); } catch (e) { /* private mode */ }
    showLiveState();
    announce(paused ? "Live updates paused." : "Live updates resumed.");
    // Resuming catches up at once.
    const live = document.querySelector("[data-live]");
    if (!paused && live && window.htmx) htmx.trigger(live, "refresh");
  });
  document.addEventListener("htmx:beforeRequest", (event) => {
    const elt = event.detail.elt;
    if (elt && elt.hasAttribute && elt.hasAttribute("data-live") && livePaused() && !event.detail.requestConfig.triggeringEvent?.type?.startsWith("refresh")) {
      event.preventDefault();
    }
  });
  showLiveState();

  // ---- keyboard -------------------------------------------------------
  // Single-key shortcuts act only when the member has them on and focus is
  // on nothing that takes keys itself: not a field, link, button or menu
  // (WCAG 2.1.4). A queue row or board card focused by j/k is fine.
  function shortcutsOn() {
    return document.body.dataset.shortcuts !== "off";
  }
  function interactive(target) {
    if (!target || target === document.body || !target.closest) return false;
    if (target.isContentEditable) return true;
    return Boolean(target.closest("a[href], button, input, select, textarea, summary, dialog, [role=menu], [role=button]"));
  }
  window.helpdeskShortcutsAllowed = (event) =>
    shortcutsOn() && !event.metaKey && !event.ctrlKey && !event.altKey && !interactive(event.target);

  // j/k move real focus through the rows (a roving tabindex: the current
  // row is the one Tab stop among them), so screen readers follow.
  function queueRows() {
    return Array.from(document.querySelectorAll("#queue-rows tbody tr[data-number]"));
  }
  function focusRow(row) {
    queueRows().forEach((other) => {
      other.classList.toggle("is-focused", other === row);
      other.tabIndex = other === row ? 0 : -1;
    });
    row.focus();
    row.scrollIntoView({ block: "nearest" });
  }
  function moveFocus(step) {
    const rows = queueRows();
    if (!rows.length) return;
    const current = rows.findIndex((row) => row === document.activeElement || row.classList.contains("is-focused"));
    const next = current === -1 ? 0 : Math.min(rows.length - 1, Math.max(0, current + step));
    focusRow(rows[next]);
  }
  // A row that gets focus another way (Tab, a click) becomes the current one.
  document.addEventListener("focusin", (event) => {
    const row = event.target.closest && event.target.closest("#queue-rows tr[data-number]");
    if (row && !row.classList.contains("is-focused")) {
      queueRows().forEach((other) => { other.classList.toggle("is-focused", other === row); other.tabIndex = other === row ? 0 : -1; });
    }
  });

  document.addEventListener("keydown", (event) => {
    const row = event.target.closest && event.target.closest("#queue-rows tr[data-number]");
    // Enter on a focused row opens it (a row is not a link, so this is no shortcut).
    if (event.key === "Enter" && row && event.target === row) {
      event.preventDefault();
      window.location = row.dataset.href;
      return;
    }
    if (!window.helpdeskShortcutsAllowed(event)) return;
    const focused = document.querySelector("#queue-rows tr.is-focused");
    if (event.key === "?") {
      const help = document.getElementById("shortcuts");
      if (help && !help.open) { event.preventDefault(); help.showModal(); }
    } else if (event.key === "/") {
      const box = document.getElementById("search-box");
      if (box) { event.preventDefault(); box.focus(); }
    } else if (event.key === "j") {
      moveFocus(1);
    } else if (event.key === "k") {
      moveFocus(-1);
    } else if (event.key === "o" && focused) {
      window.location = focused.dataset.href;
    } else if (event.key === "x" && focused) {
      const box = focused.querySelector('input[name="numbers"]');
      box.checked = !box.checked;
      updateBulkBar();
    } else if (event.key === "r") {
      const reply = document.querySelector("#composer textarea");
      if (reply) { event.preventDefault(); reply.focus(); }
    }
  });

  document.addEventListener("click", (event) => {
    if (event.target.closest("[data-open-shortcuts]")) {
      const help = document.getElementById("shortcuts");
      if (help && !help.open) help.showModal();
    }
  });

  document.addEventListener("click", (event) => {
    if (event.target.closest("[data-close-dialog]")) event.target.closest("dialog").close();
  });

  // ---- kanban -----------------------------------------------------------
  let dragged = null;
  let draggedFrom = null;

  function flash(text) {
    const box = document.getElementById("board-message");
    if (!box) return;
    box.textContent = text;
    box.hidden = false;
    clearTimeout(box._timer);
    box._timer = setTimeout(() => { box.hidden = true; }, 6000);
  }

  document.addEventListener("dragstart", (event) => {
    const card = event.target.closest && event.target.closest(".card-ticket");
    if (!card) return;
    dragged = card;
    draggedFrom = card.parentElement;
    card.classList.add("dragging");
    document.body.classList.add("is-dragging");
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", card.dataset.number);
  });
  document.addEventListener("dragend", () => {
    if (dragged) dragged.classList.remove("dragging");
    document.body.classList.remove("is-dragging");
    document.querySelectorAll(".column.drop-target").forEach((c) => c.classList.remove("drop-target"));
  });
  document.addEventListener("dragover", (event) => {
    const column = event.target.closest && event.target.closest(".column");
    if (!column || !dragged) return;
    event.preventDefault();
    column.classList.add("drop-target");
  });
  document.addEventListener("dragleave", (event) => {
    const column = event.target.closest && event.target.closest(".column");
    if (column && !column.contains(event.relatedTarget)) column.classList.remove("drop-target");
  });
  // A card to another column, by drop or by its "Move to…" menu: moved at
  // once, sent back with the server's reason if the move is refused.
  async function moveCard(card, column, { keepFocus }) {
    const from = card.parentElement;
    const list = column.querySelector(".cards");
    if (list === from) return;
    const reference = card.dataset.reference || card.dataset.number;
    list.prepend(card);
    const body = new URLSearchParams({ status: column.dataset.status, version: card.dataset.version });
    let response;
    try {
      response = await fetch(card.dataset.moveUrl, {
        method: "POST",
        headers: { "X-CSRFToken": csrfToken(), "HX-Request": "true" },
        body: body,
      });
    } catch (e) {
      from.prepend(card);
      flash("Could not reach the server; the card went back.");
      return;
    }
    const text = await response.text();
    if (response.ok) {
      const id = card.id;
      card.outerHTML = text;
      const moved = document.getElementById(id);
      if (keepFocus && moved) moved.focus();
      announce(reference + " moved to " + column.getAttribute("aria-label") + ".");
    } else {
      from.prepend(card);
      if (keepFocus) card.focus();
      flash(text || "That move is not allowed.");
      // Someone changed the ticket meanwhile: show the board as it is now.
      if (response.status === 409 && window.htmx) htmx.trigger("#board", "refresh");
    }
  }

  document.addEventListener("drop", (event) => {
    const column = event.target.closest && event.target.closest(".column");
    if (!column || !dragged) return;
    event.preventDefault();
    column.classList.remove("drop-target");
    moveCard(dragged, column, { keepFocus: false });
  });

  // The keyboard way: each card's "Move to…" menu posts the same move.
  document.addEventListener("submit", (event) => {
    const form = event.target.closest(".card-move");
    if (!form) return;
    event.preventDefault();
    const status = event.submitter && event.submitter.value;
    const column = document.querySelector('.column[data-status="' + status + '"]');
    const card = form.closest(".card-ticket");
    if (!column || !card) { form.submit(); return; }
    form.closest("details").open = false;
    moveCard(card, column, { keepFocus: true });
  });

  // The board refreshes itself, but not in the middle of a drag (a filter
  // in hx-trigger would need eval, which the Content-Security-Policy forbids).
  document.addEventListener("htmx:beforeRequest", (event) => {
    if (event.detail.elt.id === "board" && (document.body.classList.contains("is-dragging") || document.querySelector(".card-move-menu[open]"))) {
      event.preventDefault();
    }
  });
})();

// Ticket page: tell the server we are here (and whether we are typing a
// reply), show who else is; insert canned responses into the reply box;
// the composer's reply/note modes and Ctrl+Enter; previous/next ticket;
// a live refresh that never touches a panel the agent is editing.
(function () {
  "use strict";
  const presence = document.getElementById("presence");
  const reply = document.querySelector("#composer textarea");

  function csrfToken() {
    try { return JSON.parse(document.body.getAttribute("hx-headers"))["X-CSRFToken"]; } catch (e) { return ""; }
  }

  async function report() {
    if (!presence) return;
    const replying = reply && reply.value.trim() ? "1" : "0";
    try {
      const response = await fetch(presence.dataset.url, {
        method: "POST",
        headers: { "X-CSRFToken": csrfToken() },
        body: new URLSearchParams({ replying: replying }),
      });
      // Only a change is written: the region is live, and the same words
      // every beat would be read out every beat.
      if (response.ok) {
        const html = (await response.text()).trim();
        if (html !== presence.dataset.shown) {
          presence.innerHTML = html;
          presence.dataset.shown = html;
        }
      }
    } catch (e) { /* offline for a moment: try again next beat */ }
  }
  if (presence) {
    report();
    setInterval(report, 8000);
    if (reply) reply.addEventListener("input", () => {
      clearTimeout(reply._beat);
      reply._beat = setTimeout(report, 800);
    });
  }

  document.addEventListener("change", async (event) => {
    const select = event.target;
    if (!select.classList || !select.classList.contains("canned-select") || !select.value) return;
    const response = await fetch(select.value);
    if (response.ok && reply) {
      const text = await response.text();
      const at = reply.selectionStart || reply.value.length;
      reply.value = reply.value.slice(0, at) + text + reply.value.slice(at);
      reply.focus();
      reply.dispatchEvent(new Event("input"));
    }
    select.value = "";
  });

  // ---- composer: reply or internal note, unmistakably -----------------
  const composer = document.getElementById("composer");

  function showComposerMode() {
    if (!composer) return;
    const checked = composer.querySelector('input[name="kind"]:checked');
    const note = Boolean(checked && checked.value === "note");
    composer.classList.toggle("is-note", note);
    [document.getElementById("composer-title"), document.getElementById("composer-send")]
      .forEach((element) => {
        if (element) element.textContent = note ? element.dataset.noteLabel : element.dataset.replyLabel;
      });
  }
  document.addEventListener("change", (event) => {
    if (event.target.name === "kind" && event.target.closest("#composer")) showComposerMode();
  });
  // The browser may restore a ticked "Internal note" on reload or back.
  showComposerMode();

  // Ctrl+Enter (Cmd+Enter on a Mac) sends from anywhere in the composer.
  const isMac = /Mac|iPhone|iPad/.test(
    (navigator.userAgentData && navigator.userAgentData.platform) || navigator.platform || ""
  );
  document.querySelectorAll("[data-modifier-key]").forEach((key) => {
    if (isMac) key.textContent = "⌘";
  });
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Enter" || !(event.ctrlKey || event.metaKey)) return;
    const form = event.target.closest && event.target.closest("#composer form");
    if (!form) return;
    event.preventDefault();
    form.requestSubmit(document.getElementById("composer-send"));
  });
  // One send per click or key press: a second would meet the version the
  // first one changed and show the draft as refused.
  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (!form.closest("#composer")) return;
    if (form.dataset.sending) { event.preventDefault(); return; }
    form.dataset.sending = "1";
  });
  window.addEventListener("pageshow", () => {
    document.querySelectorAll("#composer form[data-sending]").forEach((form) => {
      delete form.dataset.sending;
    });
  });

  // ---- previous / next ticket of the queue the agent came from ---------
  document.addEventListener("keydown", (event) => {
    if (!window.helpdeskShortcutsAllowed || !window.helpdeskShortcutsAllowed(event)) return;
    const which = { n: "next", p: "previous" }[event.key];
    const link = which && document.querySelector('a[data-ticket-nav="' + which + '"]');
    if (link) { event.preventDefault(); window.location = link.href; }
  });

  // ---- live refresh ------------------------------------------------------
  // The Details panel is replaced with the current values only while the
  // agent has not touched it: a half-made edit stays, and saving it merges.
  function selectChanged(select) {
    const options = Array.from(select.options);
    const chosen = options.findIndex((option) => option.defaultSelected);
    return options.some((option, index) => option.selected !== (chosen === -1 ? index === 0 : option.defaultSelected));
  }
  function formIsDirty(form) {
    if (form.hasAttribute("data-pending") || form.contains(document.activeElement)) return true;
    return Array.from(form.elements).some((field) => {
      if (!field.name || field.type === "hidden" || field.type === "submit") return false;
      if (field.type === "checkbox" || field.type === "radio") return field.checked !== field.defaultChecked;
      if (field.tagName === "SELECT") return selectChanged(field);
      return field.value !== field.defaultValue;
    });
  }
  document.addEventListener("htmx:oobBeforeSwap", (event) => {
    const target = event.detail.target;
    if (!target || target.id !== "details-panel") return;
    const form = target.querySelector("form");
    if (form && formIsDirty(form)) event.detail.shouldSwap = false;
  });
})();

// Composer: "@" and the start of a name in an internal note lists matching
// colleagues (the server's member_mentions, JSON). The textarea follows the
// combobox pattern as far as a textarea may (a textbox takes no
// aria-expanded): aria-autocomplete, aria-controls and
// aria-activedescendant on it, a listbox of options beside it; Arrow keys
// move, Enter or Tab chooses, Escape closes; a status line says how many.
(function () {
  "use strict";
  const box = document.querySelector("[data-mentions-url]");
  const area = box && box.querySelector("textarea");
  if (!area) return;
  const composer = document.getElementById("composer");
  const list = document.createElement("ul");
  list.id = "mention-list";
  list.className = "mention-list";
  list.setAttribute("role", "listbox");
  list.setAttribute("aria-label", "Colleagues to mention");
  list.hidden = true;
  const status = document.createElement("p");
  status.className = "visually-hidden";
  status.setAttribute("role", "status");
  box.append(list, status);
  area.setAttribute("aria-autocomplete", "list");
  area.setAttribute("aria-controls", list.id);

  let members = [];
  let active = -1;
  let token = null;
  let timer = null;
  let asked = 0;

  function noteMode() { return !composer || composer.classList.contains("is-note"); }

  // The "@name" being typed just before the caret, if any.
  function tokenAtCaret() {
    if (area.selectionStart !== area.selectionEnd) return null;
    const before = area.value.slice(0, area.selectionStart);
    const match = before.match(/(^|[^\w@.+-])@([\w.+-]{0,40})$/);
    if (!match) return null;
    return { start: area.selectionStart - match[2].length - 1, end: area.selectionStart, query: match[2] };
  }

  function close() {
    list.hidden = true;
    list.replaceChildren();
    members = [];
    active = -1;
    area.removeAttribute("aria-activedescendant");
  }

  function highlight(index) {
    active = index;
    Array.from(list.children).forEach((item, position) => {
      item.setAttribute("aria-selected", position === index ? "true" : "false");
    });
    if (index >= 0) area.setAttribute("aria-activedescendant", `mention-${index}`);
    else area.removeAttribute("aria-activedescendant");
  }

  function show(found) {
    members = found;
    list.replaceChildren(...found.map((member, index) => {
      const item = document.createElement("li");
      item.id = `mention-${index}`;
      item.setAttribute("role", "option");
      item.dataset.index = String(index);
      item.textContent = member.name;
      const handle = document.createElement("small");
      handle.textContent = `@${member.username}`;
      item.append(handle);
      return item;
    }));
    if (!found.length) {
      close();
      status.textContent = "No colleague by that name.";
      return;
    }
    list.hidden = false;
    highlight(0);
    status.textContent = `${found.length} colleague${found.length === 1 ? "" : "s"}: up and down to choose, Enter to mention.`;
  }

  async function lookUp() {
    const ask = ++asked;
    const url = `${box.dataset.mentionsUrl}?q=${encodeURIComponent(token.query)}`;
    try {
      const response = await fetch(url, { headers: { Accept: "application/json" } });
      if (!response.ok || ask !== asked || !token) return;
      show((await response.json()).members || []);
    } catch (e) { /* offline for a moment: no list */ }
  }

  function choose(index) {
    const member = members[index];
    if (!member || !token) return;
    const text = `@${member.username} `;
    area.value = area.value.slice(0, token.start) + text + area.value.slice(token.end);
    const caret = token.start + text.length;
    area.setSelectionRange(caret, caret);
    close();
    token = null;
    status.textContent = `${member.name} will be notified.`;
    area.dispatchEvent(new Event("input"));
  }

  area.addEventListener("input", () => {
    token = noteMode() ? tokenAtCaret() : null;
    clearTimeout(timer);
    if (!token) { close(); return; }
    timer = setTimeout(lookUp, 150);
  });
  area.addEventListener("keydown", (event) => {
    if (list.hidden) return;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      const step = event.key === "ArrowDown" ? 1 : -1;
      highlight((active + step + members.length) % members.length);
    } else if ((event.key === "Enter" && !event.ctrlKey && !event.metaKey) || event.key === "Tab") {
      if (active < 0) return;
      event.preventDefault();
      choose(active);
    } else if (event.key === "Escape") {
      event.preventDefault();
      event.stopPropagation();
      close();
      token = null;
    }
  });
  area.addEventListener("blur", () => { setTimeout(close, 150); });
  // mousedown, not click: the textarea keeps its focus and caret.
  list.addEventListener("mousedown", (event) => {
    const item = event.target.closest("li[role=option]");
    if (!item) return;
    event.preventDefault();
    choose(Number(item.dataset.index));
  });
})();

// The bell's count (helpdesk/_bell.html, polled by htmx): a poll that was
// sent to the sign-in page (the session ended) leaves the bell as it is.
document.addEventListener("htmx:beforeSwap", (event) => {
  const target = event.detail.target;
  if (!target || target.id !== "bell") return;
  const url = event.detail.xhr && event.detail.xhr.responseURL;
  if (!url || !new URL(url).pathname.endsWith("/notifications/bell/")) event.detail.shouldSwap = false;
});
// ---- settings: a filter box narrows a long select (the time zones) ----
(function () {
  "use strict";
  document.addEventListener("input", (event) => {
    const box = event.target.closest("input[data-filters]");
    if (!box) return;
    const select = document.getElementById(box.dataset.filters);
    if (!select) return;
    const words = box.value.trim().toLowerCase().replace(/[\s_]+/g, " ");
    let firstShown = null;
    for (const option of select.options) {
      const shown = !words || option.selected || option.text.toLowerCase().includes(words);
      option.hidden = !shown;
      if (shown && !option.selected && firstShown === null) firstShown = option;
    }
    // One match left: choose it, so Enter saves what was found.
    const visible = Array.from(select.options).filter((option) => !option.hidden);
    if (words && visible.length === 2 && firstShown) firstShown.selected = true;
  });
})();

// Dispatcher review queue (#review-rows): its live refresh keeps a choice
// the dispatcher is making (a changed or focused agent list is not
// replaced until they act), keeps focus (app-wide, by id) and says how
// many recommendations arrived.
(function () {
  "use strict";
  let known = null;
  function reviewIds() {
    return new Set(Array.from(document.querySelectorAll("#review-rows [data-review]")).map((row) => row.dataset.review));
  }
  function choosing(region) {
    return Array.from(region.querySelectorAll("select")).some((select) => {
      if (select === document.activeElement) return true;
      const chosen = Array.from(select.options).findIndex((option) => option.defaultSelected);
      return select.selectedIndex !== (chosen === -1 ? 0 : chosen);
    });
  }
  document.addEventListener("htmx:beforeSwap", (event) => {
    const target = event.detail.target;
    if (!target || target.id !== "review-rows") return;
    if (choosing(target)) { event.detail.shouldSwap = false; return; }
    known = reviewIds();
  });
  document.addEventListener("htmx:afterSettle", () => {
    if (!known || !document.getElementById("review-rows")) return;
    const fresh = Array.from(reviewIds()).filter((id) => !known.has(id)).length;
    known = null;
    if (fresh && window.helpdeskAnnounce) {
      window.helpdeskAnnounce(fresh === 1 ? "1 new recommendation" : fresh + " new recommendations");
    }
  });
})();
