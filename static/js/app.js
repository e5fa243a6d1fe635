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

  // A live refresh replaces the rows: keep what the agent had ticked and focused.
  let keptSelection = [];
  let keptFocus = null;
  document.addEventListener("htmx:beforeSwap", (event) => {
    if (event.detail.target.id === "queue-rows") {
      keptSelection = selectedNumbers();
      const focused = document.querySelector("#queue-rows tr.is-focused");
      keptFocus = focused ? focused.dataset.number : null;
    }
  });
  document.addEventListener("htmx:afterSettle", () => {
    keptSelection.forEach((number) => {
      const box = document.querySelector('#queue-rows input[name="numbers"][value="' + number + '"]');
      if (box) box.checked = true;
    });
    if (keptFocus) {
      const row = document.querySelector('#queue-rows tr[data-number="' + keptFocus + '"]');
      if (row) row.classList.add("is-focused");
    }
    updateBulkBar();
  });

  // ---- keyboard -------------------------------------------------------
  function typing(target) {
    return ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName) || target.isContentEditable;
  }

  function moveFocus(step) {
    const rows = Array.from(document.querySelectorAll("#queue-rows tbody tr[data-number]"));
    if (!rows.length) return;
    const current = rows.findIndex((row) => row.classList.contains("is-focused"));
    const next = Math.min(rows.length - 1, Math.max(0, current + step));
    rows.forEach((row) => row.classList.remove("is-focused"));
    rows[next].classList.add("is-focused");
    rows[next].scrollIntoView({ block: "nearest" });
  }

  document.addEventListener("keydown", (event) => {
    if (event.metaKey || event.ctrlKey || event.altKey || typing(event.target)) return;
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
    } else if ((event.key === "Enter" || event.key === "o") && focused) {
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
  document.addEventListener("drop", async (event) => {
    const column = event.target.closest && event.target.closest(".column");
    if (!column || !dragged) return;
    event.preventDefault();
    column.classList.remove("drop-target");
    const card = dragged;
    const from = draggedFrom;
    const list = column.querySelector(".cards");
    if (list === from) return;
    list.prepend(card);  // move now; snap back if the server refuses
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
      card.outerHTML = text;
    } else {
      from.prepend(card);
      flash(text || "That move is not allowed.");
      // Someone changed the ticket meanwhile: show the board as it is now.
      if (response.status === 409 && window.htmx) htmx.trigger("#board", "refresh");
    }
  });

  // The board refreshes itself, but not in the middle of a drag (a filter
  // in hx-trigger would need eval, which the Content-Security-Policy forbids).
  document.addEventListener("htmx:beforeRequest", (event) => {
    if (event.detail.elt.id === "board" && document.body.classList.contains("is-dragging")) {
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
      if (response.ok) presence.innerHTML = await response.text();
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
  function typing(target) {
    return ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName) || target.isContentEditable;
  }
  document.addEventListener("keydown", (event) => {
    if (event.metaKey || event.ctrlKey || event.altKey || typing(event.target)) return;
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
