// yomitori review page. No third-party code; served from 127.0.0.1 under a strict CSP.
// Values read from forms are put into the page with textContent / .value only, never as HTML.
"use strict";

(function () {
  const CSRF = document.querySelector('meta[name="yomitori-csrf"]').content;
  const STATUS_JA = {
    needs_review: "要確認", invalid: "エラー", accepted: "受理", corrected: "修正済み", illegible: "保留",
  };
  const ILLEGIBLE_REASONS = [
    ["illegible", "判読不能"], ["not_written", "記入なし"], ["needs_inquiry", "要問合せ"],
  ];
  // Timings for the speed measurements (read by the browser test; never sent anywhere).
  const timings = { firstFieldFocused: null, nextDocument: [] };
  window.reviewTimings = timings;

  const $ = (id) => document.getElementById(id);
  // tick boxes are shown as ✓ / 空欄 (stored as true / false)
  const BOX_ON = "✓", BOX_OFF = "空欄";
  const boxText = (v) => (v === "true" ? BOX_ON : v === "false" || v === "" ? BOX_OFF : v);
  const boxValue = (t) => (t === BOX_ON ? "true" : t === BOX_OFF ? "false" : t);
  const el = (tag, cls, text) => {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  };

  let doc = null; // the open document (from the server)
  let state = {}; // field name -> {orig, settled, illegible, row, input, box, crop}
  let order = []; // field names in tab order (needing fields first)
  let current = null;
  let showAccepted = false;
  let urls = []; // object URLs to revoke when the document changes
  let scan = { w: 1, h: 1 };
  let view = { scale: 1, x: 0, y: 0 };
  // the document whose scan is shown and laid out (fitted, centred): until then a zoom would be
  // undone by the fit, so Alt+Z pressed while the scan loads is kept and done once it is shown
  let scanShown = null, zoomPending = false;
  let busy = false;
  let pendingTiming = null;
  let me = null; // who is logged in: {name, roles, purposes} (from the server)
  let purposeOpen = false; // the reveal's purpose dialog is open
  let lastPurpose = null; // preselected the next time (the clerk still confirms it)
  const canReveal = () => !!(me && me.roles && me.roles.indexOf("number_viewer") >= 0);

  // this window (browser tab): a second window of the same person gets its own document
  // (kept across reloads of this tab in sessionStorage, so a reload keeps the tab's document)
  const WINDOW = sessionStorage.getItem("yomitori-window")
    || ((window.crypto && crypto.randomUUID) ? crypto.randomUUID() : String(Math.random()).slice(2));
  sessionStorage.setItem("yomitori-window", WINDOW);

  // Drafts: what was typed into a document, kept in this tab's sessionStorage (gone when the tab
  // closes; never a My Number) so a reload, a skip or going back loses nothing.
  const draftKey = (d) => "yomitori-draft:" + d.batch_id + "/" + d.document_id;
  function saveDraft() {
    if (!doc) return;
    const fields = {};
    for (const n of order) {
      const st = state[n];
      if (!st || st.field.my_number) continue;
      if (st.input.value !== st.orig || st.settled || st.illegible) {
        fields[n] = { value: st.input.value, settled: st.settled, illegible: st.illegible, era: st.era ? st.era.value : null };
      }
    }
    if (Object.keys(fields).length) sessionStorage.setItem(draftKey(doc), JSON.stringify(fields));
    else sessionStorage.removeItem(draftKey(doc));
  }
  function restoreDraft() {
    let fields = null;
    try { fields = JSON.parse(sessionStorage.getItem(draftKey(doc)) || "null"); } catch (e) { fields = null; }
    if (!fields) return false;
    for (const [n, v] of Object.entries(fields)) {
      const st = state[n];
      if (!st || st.field.my_number) continue;
      st.input.value = v.value;
      st.settled = !!v.settled;
      st.illegible = v.illegible || null;
      if (st.era && v.era) st.era.value = v.era;
      updateMark(n);
    }
    return true;
  }

  async function api(path, body) {
    if (body !== undefined) body = Object.assign({ window: WINDOW }, body);
    const opts = body === undefined ? {} : {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-Yomitori-CSRF": CSRF },
      body: JSON.stringify(body),
    };
    let r;
    try {
      r = await fetch(path, opts);
    } catch (e) {
      // the server cannot be reached: the only error the server cannot word itself
      const err = new Error(NETWORK.message_ja);
      err.data = NETWORK;
      throw err;
    }
    const data = await r.json().catch(() => ({}));
    if (!r.ok) {
      if (!data.message_ja) Object.assign(data, r.status === 403 ? NO_SESSION : OTHER_ERROR);
      const err = new Error(data.message_ja);
      err.data = data;
      throw err;
    }
    return data;
  }

  const NETWORK = {
    error: "network", next: "reconnect",
    message_ja: "確認サーバーに接続できません。まだ保存されていません。",
    action_ja: "確認コマンドが動いていることを確かめて「再接続」を押してください。",
  };
  const NO_SESSION = {
    error: "no_session", next: "login",
    message_ja: "ログインが切れました。まだ保存されていません。",
    action_ja: "「ログインし直す」を押してください。開けないときは確認コマンドをもう一度起動してください。",
  };
  const OTHER_ERROR = {
    error: "error", next: "reload",
    message_ja: "処理できませんでした。まだ保存されていません。",
    action_ja: "「読み込み直す」で画面を開き直してください。",
  };
  const NEXT_LABEL = { next: "次の帳票へ", lease_again: "もう一度開く", reconnect: "再接続", login: "ログインし直す", reload: "読み込み直す", close: "閉じる" };

  // An error in Japanese: what happened, what to do, and a button that does it. ``retry`` is
  // what "再接続" repeats; "もう一度開く" leases the open document again (typed values stay).
  function showError(e, retry) {
    const data = (e && e.data) || OTHER_ERROR;
    const m = $("message");
    m.className = "error";
    m.replaceChildren(el("span", "err-text", data.message_ja || OTHER_ERROR.message_ja),
                      el("span", "err-action", " " + (data.action_ja || "")));
    const nxt = data.next || "reload";
    const b = el("button", "err-button", NEXT_LABEL[nxt] || NEXT_LABEL.reload);
    b.type = "button";
    b.dataset.next = nxt;
    b.addEventListener("click", () => recover(nxt, retry));
    m.append(b);
    b.focus();
  }

  async function recover(nxt, retry) {
    if (nxt === "login" || nxt === "reload") { location.reload(); return; }
    if (nxt === "close") { say(""); if (current) focusField(current); return; }
    try {
      if (nxt === "next") { say(""); await openNext(doc ? { batch_id: doc.batch_id, document_id: doc.document_id } : null); return; }
      if (nxt === "lease_again") {
        if (!doc) { location.reload(); return; }
        await api("/api/open", { batch_id: doc.batch_id, document_id: doc.document_id });
        say("もう一度開きました。入力した値はそのままです。Ctrl+Enter で提出してください。");
        if (current) focusField(current);
        return;
      }
      say("再接続しています…");
      if (retry) await retry(); else await refreshQueue();
      if ($("message").textContent === "再接続しています…") say("再接続しました。");
    } catch (e) {
      showError(e, retry);
    }
  }

  function say(text, kind) {
    const m = $("message");
    m.textContent = text || "";
    m.className = kind || "";
  }

  // -- queue -----------------------------------------------------------------------------
  async function refreshQueue() {
    const q = await api("/api/queue");
    // the person's name (the server strips os: and shows an assumed role's session name); never an ARN
    $("who").textContent = "確認者: " + (q.name || q.reviewer);
    $("logout").hidden = !(me && me.login_required);
    const list = $("queue-list");
    list.replaceChildren();
    for (const item of q.documents) {
      const li = el("li");
      const b = el("button", "pick", item.document_id);
      b.type = "button";
      b.tabIndex = -1;
      b.addEventListener("click", () => pick(item));
      li.append(b);
      if (doc && item.document_id === doc.document_id && item.batch_id === doc.batch_id) li.className = "open";
      else if (item.busy) { li.className = "busy"; li.title = "他の確認者が作業中"; b.disabled = true; }
      list.append(li);
    }
    $("progress").textContent = "残り " + q.documents.length + " 件";
    // submitted documents can be opened again until the batch is released
    const sub = $("submitted-list");
    sub.replaceChildren();
    for (const item of q.submitted || []) {
      const li = el("li");
      const b = el("button", "pick reopen", item.document_id);
      b.type = "button";
      b.tabIndex = -1;
      b.title = "開き直す（バッチが次の工程に進むまで）";
      b.addEventListener("click", () => reopenDoc(item));
      li.append(b);
      sub.append(li);
    }
    $("submitted").hidden = !(q.submitted && q.submitted.length);
    return q;
  }

  // -- document ----------------------------------------------------------------------------
  async function leaveCurrent() {
    // give the open document back to the queue; what was typed stays as a draft in this tab
    if (!doc) return;
    saveDraft();
    const d = doc;
    await api("/api/leave", { batch_id: d.batch_id, document_id: d.document_id });
  }

  async function pick(item) {
    // open any document of the queue (a click on it, or back/skip)
    if (busy) return;
    if (doc && item.batch_id === doc.batch_id && item.document_id === doc.document_id) return;
    try {
      await leaveCurrent();
      const res = await api("/api/open", { batch_id: item.batch_id, document_id: item.document_id });
      render(res.document);
      refreshQueue().catch(() => {});
    } catch (e) {
      showError(e, () => pick(item));
    }
  }

  let lastSubmitted = null; // what this tab submitted last (Alt+R opens it again)

  async function reopenDoc(item) {
    // a submitted document, opened again until the batch is released (audited as reopen)
    if (busy || !item) return;
    try {
      await leaveCurrent();
      const res = await api("/api/reopen", { batch_id: item.batch_id, document_id: item.document_id });
      render(res.document);
      say("提出済みの帳票を開き直しました。直したら Ctrl+Enter で提出し直してください（提出し直すまで前の内容のままです）。", "warn");
      refreshQueue().catch(() => {});
    } catch (e) {
      showError(e, () => reopenDoc(item));
    }
  }

  async function skip() {
    // Alt+PageDown: leave this document for later and open the next one
    if (!doc || busy) return;
    const d = doc;
    try {
      await leaveCurrent();
      await openNext({ batch_id: d.batch_id, document_id: d.document_id });
    } catch (e) { showError(e, skip); }
  }

  async function back() {
    // Alt+PageUp: the document before this one in the queue
    if (!doc || busy) return;
    try {
      const q = await api("/api/queue");
      const free = q.documents.filter((x) => !x.busy);
      const i = free.findIndex((x) => x.batch_id === doc.batch_id && x.document_id === doc.document_id);
      const prev = free[(i - 1 + free.length) % free.length];
      if (prev) await pick(prev);
    } catch (e) { showError(e, back); }
  }

  async function openNext(after) {
    const res = await api("/api/next", after ? { batch_id: after.batch_id, document_id: after.document_id } : {});
    // true when this handled the screen (a document, or everything left open elsewhere)
    if (!res.document && res.elsewhere) { pendingTiming = null; showElsewhere(res.elsewhere); return true; }
    if (!res.document) { showDone(); return false; }
    render(res.document);
    refreshQueue().catch(() => {});
    return true;
  }

  function showNext(res) {
    // the next document came with the submission's answer
    if (!res.document && res.elsewhere) { pendingTiming = null; showElsewhere(res.elsewhere); return true; }
    if (!res.document) return false; // the done screen, with the submission's outcome
    render(res.document);
    refreshQueue().catch(() => {});
    return true;
  }

  function showDone(outcome) {
    doc = null;
    for (const u of urls) URL.revokeObjectURL(u);
    urls = [];
    $("viewer").hidden = true;
    $("panel").hidden = true;
    $("done").hidden = false;
    $("doc-title").textContent = "完了";
    let text = "このバッチで確認が必要な帳票はすべて処理されました。";
    if (outcome && outcome.released) text += " 確認ゲートを解除し、バッチは次の工程に進みました。";
    else if (outcome && outcome.double_entry_open > 0) {
      // the review is done, but the batch goes on only after the second entries (ベリファイ)
      text += " このバッチは、ベリファイ（別の人による2回目の入力）待ちの項目が " + outcome.double_entry_open
        + " 件あります。検証者がベリファイ画面で入力すると、次の工程に進みます。";
    }
    $("done-text").textContent = text;
    // the count from the last submission's answer: the one-machine server may already have
    // stopped, and an older count (残り 1 件) must not stay on the done screen
    if (outcome && typeof outcome.remaining === "number") $("progress").textContent = "残り " + outcome.remaining + " 件";
    if (outcome && outcome.held) showHeld(outcome.held);
    else api("/api/held").then((r) => showHeld(r.held)).catch(() => {});
    refreshQueue().catch(() => {});
  }

  function showElsewhere(n) {
    // everything left is open in another window of this reviewer: say so, with a way forward
    doc = null;
    $("viewer").hidden = true;
    $("panel").hidden = true;
    $("done").hidden = false;
    $("doc-title").textContent = "別の画面で作業中";
    $("done-text").textContent = "残りの " + n + " 件は、同じ確認者の別の画面（タブ）で開いています。"
      + "その画面で続けてください。";
    const b = el("button", "err-button", "読み込み直す");
    b.type = "button";
    b.addEventListener("click", () => location.reload());
    $("done-text").append(" ", b);
    b.focus();
    refreshQueue().catch(() => {});
  }

  function showHeld(held) {
    // the fields held (判読不能, 要問合せ ...) in this session: what someone must follow up
    const body = $("held-table").querySelector("tbody");
    body.replaceChildren();
    for (const h of held || []) {
      const tr = el("tr", "held-row");
      tr.append(el("td", null, h.document_id), el("td", null, h.label), el("td", null, h.text));
      body.append(tr);
    }
    $("held").hidden = !(held && held.length);
  }

  function render(d) {
    for (const u of urls) URL.revokeObjectURL(u);
    urls = [];
    $("hires").hidden = true;
    hiresSeq++;
    $("crop-big").hidden = true;
    scanShown = null;
    zoomPending = false;
    doc = d;
    state = {};
    order = [];
    current = null;
    $("doc-title").textContent = d.form_title + " · " + d.document_id + " (要確認 " + d.needs_person + " 項目)";
    const fields = $("fields"), accepted = $("accepted");
    fields.replaceChildren();
    accepted.replaceChildren();
    $("boxes").replaceChildren();
    const accCount = d.fields.filter((f) => !f.needs_person).length;
    $("accepted-toggle").textContent = "受理済みの項目 " + accCount + " 件を" + (showAccepted ? "隠す" : "表示") + " (F6)";
    for (const f of d.fields) {
      const row = fieldRow(f);
      (f.needs_person ? fields : accepted).append(row.row);
      state[f.name] = row;
      if (f.needs_person) order.push(f.name);
      if (f.box) state[f.name].box = boxFor(f);
    }
    for (const f of d.fields) if (!f.needs_person) order.push(f.name);
    sessionStorage.setItem("yomitori-current", JSON.stringify({ batch_id: d.batch_id, document_id: d.document_id }));
    say("");
    if (restoreDraft()) say("前回入力した値を復元しました（まだ提出されていません）。");
    setAcceptedVisible(showAccepted);
    loadScan(d);
    for (const f of d.fields) if (f.needs_person && !f.masked && f.box) loadCrop(f.name);
    const first = order.find((n) => state[n].field.needs_person) || order[0];
    if (first) focusField(first);
    if (timings.firstFieldFocused === null) timings.firstFieldFocused = performance.now();
    if (pendingTiming) {
      pendingTiming.focused = performance.now() - pendingTiming.t0;
      if (pendingTiming.image !== undefined) finishTiming();
    }
  }

  function fieldRow(f) {
    const row = el("div", "field " + f.status + (f.needs_person ? " needs" : ""));
    row.dataset.name = f.name;
    const head = el("div", "head");
    const label = el("label", "label", f.label);
    label.htmlFor = "f-" + f.name;
    const status = el("span", "status s-" + f.status, STATUS_JA[f.status] || f.status);
    const conf = el("span", "conf", "確信度 " + Math.round(f.confidence * 100) + "%");
    head.append(label, status, conf);
    row.append(head);
    const described = []; // what a screen reader reads with the input (aria-describedby)
    if (f.reasons.length) {
      const ul = el("ul", "reasons");
      ul.id = "r-" + f.name;
      described.push(ul.id);
      for (const r of f.reasons) { const li = el("li", null, r.text); li.title = r.code; ul.append(li); }
      row.append(ul);
    }
    const crop = el("img", "crop");
    crop.alt = f.label + " の切り出し";
    crop.hidden = true;
    crop.title = "クリックまたは F9 で拡大";
    crop.addEventListener("click", () => { focusField(f.name); toggleBigCrop(true); });
    row.append(crop);
    const line = el("div", "line");
    const input = el("input", "value");
    input.id = "f-" + f.name;
    input.name = f.name;
    input.value = f.type === "checkbox" ? boxText(f.value) : f.value;
    if (f.type === "checkbox") input.readOnly = true; // Space ticks: ✓ / 空欄
    if (f.status === "invalid") input.setAttribute("aria-invalid", "true");
    input.spellcheck = false;
    input.autocomplete = "off";
    input.dataset.type = f.type;
    if (f.masked) { input.readOnly = true; input.classList.add("masked"); }
    if (!f.needs_person) input.tabIndex = -1;
    line.append(input);
    let era = null, written = null;
    if (f.type === "date") {
      // the date as written (和暦 with era) beside the ISO value; typed 令和8年9月8日, R8.9.8,
      // 8/9/8 (with the era chosen here) or 西暦 are read by the server (the domain's parser)
      era = el("select", "era");
      era.id = "era-" + f.name;
      era.tabIndex = -1;
      era.setAttribute("aria-label", f.label + " の元号（年だけ入力したとき）");
      for (const e of ["令和", "平成", "昭和", "大正", "明治", "西暦"]) {
        const o = el("option", null, e); o.value = e; era.append(o);
      }
      era.value = f.era || "令和";
      written = el("span", "written", f.written || "");
      written.id = "w-" + f.name;
      described.push(written.id);
      line.append(era, written);
    }
    const mark = el("span", "mark");
    line.append(mark);
    row.append(line);
    const hint = (cls, text) => {
      const h = el("div", cls, text);
      h.id = "h-" + f.name + "-" + described.length;
      described.push(h.id);
      row.append(h);
    };
    if (f.type === "checkbox") hint("hint", "Space で ✓ / 空欄 を切り替え");
    if (f.type === "choice") hint("hint", "Space で切り替え: " + f.options.map((o) => o.value + "=" + o.label).join(" / "));
    if (f.my_number && f.masked) {
      hint("hint mn", canReveal()
        ? "個人番号は伏せてあります。F8 で表示（目的を選びます。表示は監査記録に残ります）"
        : "個人番号は伏せてあります。表示と確認には番号閲覧者の権限が必要です");
    }
    // a revealed My Number is masked again as soon as the focus leaves it (or after 60 s)
    if (f.my_number) input.addEventListener("blur", () => { if (!purposeOpen) remask(f.name); });
    let sug = null;
    if (f.suggestion) {
      sug = el("div", "suggest");
      sug.id = "s-" + f.name;
      described.push(sug.id);
      sug.append(el("kbd", null, "F2"), el("span", "sv", f.suggestion.value), el("span", "st", f.suggestion.text));
      row.append(sug);
    }
    const refused = el("ul", "refused");
    refused.id = "x-" + f.name;
    described.push(refused.id);
    input.setAttribute("aria-describedby", described.join(" "));
    row.append(refused);
    const s = { field: f, orig: input.value, settled: false,
                // a reopened document: a field held before stays held unless the clerk decides otherwise
                illegible: f.reviewed && f.status === "illegible" && f.reasons.length ? f.reasons[0].code : null, row, input, crop, mark, refused, era, written,
                maskedText: f.masked ? f.value : null };
    if (s.illegible) { mark.textContent = "保留: " + illegibleText(s.illegible); mark.className = "mark ill"; input.classList.add("ill"); }
    input.addEventListener("focus", () => setCurrent(f.name));
    input.addEventListener("input", (e) => {
      s.settled = false; s.illegible = null; s.fromSuggestion = false; updateMark(f.name);
      if (written) previewDate(s);
      // a digits field of a fixed length (postal code, bank code ...): when every digit is typed,
      // it is settled and the page moves on by itself (no Enter needed)
      if (f.length && e.inputType && e.inputType.startsWith("insert") && input.value !== s.orig
          && input.value.length === f.length && /^[0-9]+$/.test(input.value) && !f.masked) {
        if (confirmField(f.name)) advance();
      }
    });
    if (era) era.addEventListener("change", () => previewDate(s));
    row.addEventListener("mousedown", (e) => { if (e.target !== input) { e.preventDefault(); focusField(f.name); } });
    return s;
  }

  let previewSeq = 0;
  async function previewDate(s) {
    const seq = ++previewSeq, text = s.input.value;
    if (!text) { s.written.textContent = ""; return; }
    try {
      const r = await api("/api/date", { text, era: s.era.value });
      if (seq !== previewSeq) return;
      s.written.textContent = r.iso ? r.written + "（" + r.iso + "）" : "日付として読めません";
      s.written.classList.toggle("bad", !r.iso);
    } catch (e) { /* the submission reports it */ }
  }

  function boxFor(f) {
    const b = el("div", "box " + f.status + (f.my_number ? " mn" : ""));
    b.dataset.name = f.name;
    b.title = f.label;
    $("boxes").append(b);
    return b;
  }

  function placeBoxes() {
    for (const name of Object.keys(state)) {
      const s = state[name], f = s.field;
      if (!s.box || !f.box) continue;
      const [l, t, r, btm] = f.box;
      Object.assign(s.box.style, {
        left: (100 * l / scan.w) + "%", top: (100 * t / scan.h) + "%",
        width: (100 * (r - l) / scan.w) + "%", height: (100 * (btm - t) / scan.h) + "%",
      });
    }
  }

  async function loadScan(d) {
    const img = $("scan");
    try {
      const r = await fetch("/api/page?b=" + encodeURIComponent(d.batch_id) + "&d=" + encodeURIComponent(d.document_id));
      if (!r.ok) throw new Error("HTTP " + r.status);
      const size = (r.headers.get("X-Scan-Size") || "1x1").split("x").map(Number);
      const blob = await r.blob();
      if (doc !== d) return;
      const u = URL.createObjectURL(blob);
      urls.push(u);
      scan = { w: size[0], h: size[1] };
      img.src = u;
      await img.decode().catch(() => {});
      if (doc !== d) return;
      placeBoxes();
      if (view.fitted !== true) fit();
      centreOn(current);
      scanShown = d;
      if (zoomPending) { zoomPending = false; zoomField(); }
      if (pendingTiming) {
        pendingTiming.image = performance.now() - pendingTiming.t0;
        if (pendingTiming.focused !== undefined) finishTiming();
      }
    } catch (e) {
      say("スキャン画像を読み込めませんでした (" + e.message + ")", "error");
    }
  }

  function finishTiming() {
    const t = pendingTiming;
    // from the key press: submit (validation round trip), then the next document's first field
    // focused and its scan shown; "after_submit" is the move itself, without the validation
    timings.nextDocument.push({
      submit_ms: Math.round(t.submitted), focused_ms: Math.round(t.focused), image_ms: Math.round(t.image),
      after_submit_focused_ms: Math.round(t.focused - t.submitted),
      after_submit_image_ms: Math.round(t.image - t.submitted),
    });
    pendingTiming = null;
  }

  async function loadCrop(name) {
    const s = state[name], d = doc;
    try {
      const r = await fetch("/api/crop?b=" + encodeURIComponent(d.batch_id) + "&d=" + encodeURIComponent(d.document_id) + "&f=" + encodeURIComponent(name));
      if (!r.ok) return;
      const blob = await r.blob();
      if (doc !== d) return;
      const u = URL.createObjectURL(blob);
      urls.push(u);
      s.crop.src = u;
      s.crop.hidden = false;
    } catch (e) { /* the page image still shows the field */ }
  }

  // -- focus and movement -----------------------------------------------------------------
  function setCurrent(name) {
    if (current && current !== name && state[current] && state[current].field.my_number) remask(current);
    if (current && state[current]) {
      state[current].row.classList.remove("current");
      if (state[current].box) state[current].box.classList.remove("current");
    }
    current = name;
    const s = state[name];
    s.row.classList.add("current");
    if (s.box) s.box.classList.add("current");
    s.row.scrollIntoView({ block: "nearest" });
    centreOn(name);
  }

  function focusField(name) {
    const s = state[name];
    if (!s) return;
    if (!s.field.needs_person && !showAccepted) setAcceptedVisible(true);
    s.input.focus();
    s.input.select();
  }

  function tabOrder() {
    return order.filter((n) => state[n].field.needs_person || showAccepted);
  }

  function move(step) {
    const names = tabOrder();
    const i = names.indexOf(current);
    const next = names[i + step];
    if (next) { focusField(next); return true; }
    return false;
  }

  function setAcceptedVisible(on) {
    showAccepted = on;
    $("accepted").hidden = !on;
    for (const n of order) if (!state[n].field.needs_person) state[n].input.tabIndex = on ? 0 : -1;
    const accCount = doc ? doc.fields.filter((f) => !f.needs_person).length : 0;
    $("accepted-toggle").textContent = "受理済みの項目 " + accCount + " 件を" + (on ? "隠す" : "表示") + " (F6)";
    document.body.classList.toggle("show-accepted", on);
  }

  // -- settling fields ---------------------------------------------------------------------
  const illegibleText = (code) => (ILLEGIBLE_REASONS.find((r) => r[0] === code) || [code, "保留"])[1];

  function updateMark(name) {
    const s = state[name];
    let text = "", cls = "mark";
    if (s.illegible) { text = "保留: " + illegibleText(s.illegible); cls += " ill"; }
    else if (s.field.masked && s.secret !== undefined ? s.secret !== s.origSecret : s.input.value !== s.orig) {
      text = s.settled ? "修正" : "修正中"; cls += " fix";
    }
    // 確認済み is the server's word: a field settled here is only 確認 until the submission is stored
    else if (s.settled) { text = "確認（未提出）"; cls += " ok"; }
    s.mark.textContent = text;
    s.mark.className = cls;
    if (s.settled || s.illegible || s.input.value !== s.orig) {
      s.refused.replaceChildren(); // an earlier refusal no longer describes what is there
      s.row.classList.remove("refused-row");
      if (s.field.status !== "invalid" || s.settled || s.illegible) s.input.removeAttribute("aria-invalid");
      if (!document.querySelector(".refused-row") && $("message").className === "error") say("");
    }
    s.row.classList.toggle("settled", s.settled || !!s.illegible);
    saveDraft();
    s.input.classList.toggle("ill", !!s.illegible);
  }

  function confirmField(name) {
    const s = state[name];
    if (s.field.masked && !canReveal()) {
      say("個人番号の確認には番号閲覧者の権限が必要です。この帳票は Alt+PageDown で飛ばし、権限のある職員に任せてください。", "warn");
      return false;
    }
    if (s.field.masked) { say("個人番号は F8 で表示してから確認してください（表示は監査記録に残ります）。", "warn"); return false; }
    s.settled = true;
    updateMark(name);
    return true;
  }

  function advance() {
    // to the next field that still needs a decision; when none is left, submit
    const names = tabOrder();
    const i = names.indexOf(current);
    for (const n of names.slice(i + 1).concat(names.slice(0, i + 1))) {
      const s = state[n];
      if (s.field.needs_person && !s.settled && !s.illegible) { focusField(n); return; }
    }
    submit();
  }

  function acceptSuggestion(name) {
    const s = state[name];
    if (!s.field.suggestion) { say("この項目に候補はありません。", "warn"); return; }
    if (s.field.masked) { say("個人番号は F8 で表示してから候補を採用してください。", "warn"); return; }
    s.input.value = s.field.suggestion.value;
    s.fromSuggestion = true;
    s.illegible = null;
    s.settled = true;
    updateMark(name);
    advance();
  }

  function markIllegible(name) {
    const s = state[name];
    const codes = ILLEGIBLE_REASONS.map((r) => r[0]);
    if (!s.illegible) s.illegible = codes[0];
    else {
      const i = codes.indexOf(s.illegible);
      s.illegible = i + 1 < codes.length ? codes[i + 1] : null;
    }
    s.settled = false;
    updateMark(name);
    if (s.illegible === codes[0]) advance();
  }

  function revert(name) {
    const s = state[name];
    s.input.value = s.orig;
    s.settled = false;
    s.illegible = null;
    updateMark(name);
    s.input.select();
  }

  // My Number: shown grouped 4-4-4, masked again after 60 s or when the clerk leaves the field
  const MASK_AFTER_MS = 60 * 1000;
  const group4 = (v) => (/^\d{12}$/.test(v) ? v.replace(/(\d{4})(?=\d)/g, "$1 ") : v);

  function remask(name) {
    const s = state[name];
    if (!s || !s.field.my_number || s.field.masked) return;
    clearTimeout(s.maskTimer);
    s.secret = s.input.value; // kept in this page only, for the submission
    s.origSecret = s.orig;
    s.field.masked = true;
    s.orig = s.maskedText;
    s.input.value = s.maskedText;
    s.input.readOnly = true;
    s.input.classList.add("masked");
    s.input.classList.remove("grouped");
    s.crop.hidden = true;
    if (!$("crop-big").hidden) toggleBigCrop(false);
    applyView(); // the zoomed part is fetched again with the number painted over
    const hint = s.row.querySelector(".hint.mn");
    if (hint) hint.textContent = "個人番号を再び伏せました。F8 でもう一度表示（表示は監査記録に残ります）";
    updateMark(name);
  }

  async function reveal(name) {
    let target = name && state[name] && state[name].field.my_number ? name : order.find((n) => state[n].field.my_number);
    if (!target) { say("この帳票に個人番号の項目はありません。", "warn"); return; }
    const s = state[target];
    if (!s.field.masked) { focusField(target); return; }
    if (purposeOpen) return;
    // a number viewer says why (audited); anyone else asks anyway and hears why not (403)
    let purpose = null;
    if (canReveal()) {
      purpose = await askPurpose();
      if (!purpose) { say("個人番号は表示しませんでした。"); focusField(target); return; }
      lastPurpose = purpose;
    }
    try {
      const r = await api("/api/reveal", { batch_id: doc.batch_id, document_id: doc.document_id, field: target, purpose });
      s.field.masked = false;
      s.orig = group4(r.value);
      // shown again after a re-mask: what the clerk had typed before comes back
      s.input.value = s.secret !== undefined ? s.secret : s.orig;
      s.secret = undefined;
      s.input.readOnly = false;
      s.input.classList.remove("masked");
      s.input.classList.add("grouped");
      clearTimeout(s.maskTimer);
      s.maskTimer = setTimeout(() => remask(target), MASK_AFTER_MS);
      if (r.suggestion && s.field.suggestion) s.field.suggestion.value = r.suggestion;
      const sv = s.row.querySelector(".suggest .sv");
      if (sv && r.suggestion) sv.textContent = r.suggestion;
      const hint = s.row.querySelector(".hint.mn");
      if (hint) hint.textContent = "個人番号を表示しました（監査記録に記録済み）";
      loadCrop(target);
      applyView();
      updateMark(target);
      focusField(target);
    } catch (e) {
      showError(e, () => reveal(name));
    }
  }

  // The purpose of a reveal, from the configured list: Enter shows the number, Esc does not.
  function askPurpose() {
    return new Promise((resolve) => {
      const box = el("div", "purpose-box");
      box.id = "purpose-box";
      box.setAttribute("role", "dialog");
      box.setAttribute("aria-modal", "true");
      box.setAttribute("aria-labelledby", "purpose-title");
      const title = el("h3", null, "個人番号を表示する目的");
      title.id = "purpose-title";
      const sel = el("select");
      sel.id = "purpose";
      sel.setAttribute("aria-labelledby", "purpose-title");
      sel.setAttribute("aria-describedby", "purpose-note");
      for (const p of (me && me.purposes) || []) { const o = el("option", null, p.label); o.value = p.code; sel.append(o); }
      if (lastPurpose) sel.value = lastPurpose;
      const note = el("p", "hint", "選んだ目的は監査記録に残ります。Enter で表示、Esc でやめます。表示は 60 秒か、項目を離れると再び伏せます。");
      note.id = "purpose-note";
      const ok = el("button", null, "表示する (Enter)");
      ok.type = "button";
      const cancel = el("button", null, "やめる (Esc)");
      cancel.type = "button";
      const done = (v) => { box.remove(); purposeOpen = false; resolve(v); };
      ok.addEventListener("click", () => done(sel.value));
      cancel.addEventListener("click", () => done(null));
      box.addEventListener("keydown", (e) => {
        if (e.key === "Enter") {
          e.preventDefault(); e.stopPropagation();
          done(document.activeElement === cancel ? null : sel.value);
        }
        else if (e.key === "Escape") { e.preventDefault(); e.stopPropagation(); done(null); }
        else if (e.key === "Tab") {
          // the keyboard stays in the dialog until it is answered
          e.preventDefault();
          const stops = [sel, ok, cancel];
          const i = stops.indexOf(document.activeElement);
          stops[(i + (e.shiftKey ? stops.length - 1 : 1)) % stops.length].focus();
        }
      });
      box.append(title, sel, note, ok, cancel);
      purposeOpen = true;
      document.body.append(box);
      sel.focus();
    });
  }

  function toggleValue(name) {
    const s = state[name], f = s.field;
    let values = null;
    if (f.type === "checkbox") values = [BOX_ON, BOX_OFF];
    if (f.type === "choice") values = f.options.map((o) => o.value);
    if (!values) return false;
    const i = values.indexOf(s.input.value);
    s.input.value = values[(i + 1) % values.length];
    s.settled = false;
    updateMark(name);
    return true;
  }

  // -- submit --------------------------------------------------------------------------------
  function corrections() {
    const out = [];
    for (const n of order) {
      const s = state[n];
      if (s.illegible) out.push({ field: n, action: "illegible", reason: s.illegible });
      else if (s.field.masked && s.secret !== undefined) {
        // a My Number masked again: what was typed while it was shown still counts
        if (s.secret !== s.origSecret) out.push({ field: n, action: "correct", value: s.secret });
        else if (s.settled) out.push({ field: n, action: "confirm" });
      }
      else if (!s.field.masked && s.input.value !== s.orig) {
        const c = { field: n, action: "correct", value: s.field.type === "checkbox" ? boxValue(s.input.value) : s.input.value };
        if (s.era) c.era = s.era.value;
        if (s.fromSuggestion && s.field.suggestion && s.input.value === s.field.suggestion.value) c.suggestion = true;
        out.push(c);
      }
      else if (s.settled) out.push({ field: n, action: "confirm" });
    }
    return out;
  }

  async function submit() {
    if (!doc || busy) return;
    busy = true;
    const t0 = performance.now();
    const d = doc;
    for (const n of order) { state[n].refused.replaceChildren(); state[n].row.classList.remove("refused-row"); }
    say("検証しています…");
    try {
      const res = await api("/api/submit", { batch_id: d.batch_id, document_id: d.document_id, corrections: corrections(), then_next: true });
      if (!res.ok) {
        const names = Object.keys(res.refused);
        let first = null, firstReal = false;
        for (const n of order) {
          if (!res.refused[n]) continue;
          const s = state[n];
          s.settled = false;
          updateMark(n);
          s.row.classList.add("refused-row");
          s.input.setAttribute("aria-invalid", "true");
          for (const r of res.refused[n]) { const li = el("li", null, r.text); li.title = r.code; s.refused.append(li); }
          // the first field with a validator's reason; else the first one left unsettled
          const real = res.refused[n].some((r) => r.code !== "not_settled");
          if (real && (!first || !firstReal)) { first = n; firstReal = true; }
          else if (!first) first = n;
        }
        say(names.length + " 項目が受け付けられませんでした。理由を確認して直してください。", "error");
        if (first) focusField(first);
        return;
      }
      say("");
      sessionStorage.removeItem(draftKey(d));
      sessionStorage.removeItem("yomitori-current");
      lastSubmitted = { batch_id: d.batch_id, document_id: d.document_id };
      pendingTiming = { t0, submitted: performance.now() - t0 };
      const opened = res.next ? showNext(res.next) : await openNext({ batch_id: d.batch_id, document_id: d.document_id });
      if (!opened) {
        pendingTiming = null;
        showDone(res);
      }
    } catch (e) {
      showError(e, submit);
    } finally {
      busy = false;
    }
  }

  // -- viewer: zoom and pan -------------------------------------------------------------------
  function applyView() {
    $("stage").style.transform = "translate(" + view.x + "px," + view.y + "px) scale(" + view.scale + ")";
    clearTimeout(hiresTimer);
    hiresTimer = setTimeout(loadHires, 120);
  }

  // Zoom at the scan's full resolution: where the reduced display image is enlarged, the part
  // in view is fetched from the full scan (/api/region) and laid over it.
  let hiresTimer = null, hiresSeq = 0;
  async function loadHires() {
    const img = $("scan"), v = $("viewer"), hi = $("hires"), d = doc;
    if (!d || !img.naturalWidth || view.scale <= 1.05) { hi.hidden = true; return; }
    const f = scan.w / img.naturalWidth; // scan pixels per display pixel
    const sx0 = -view.x / view.scale, sy0 = -view.y / view.scale;
    const sw = v.clientWidth / view.scale, sh = v.clientHeight / view.scale;
    const pad = 0.2;
    const x0 = Math.max(0, Math.floor((sx0 - pad * sw) * f)), y0 = Math.max(0, Math.floor((sy0 - pad * sh) * f));
    const x1 = Math.min(scan.w, Math.ceil((sx0 + (1 + pad) * sw) * f)), y1 = Math.min(scan.h, Math.ceil((sy0 + (1 + pad) * sh) * f));
    if (x1 <= x0 || y1 <= y0) return;
    const hidden = order.filter((n) => state[n].field.my_number && state[n].field.masked).join(",");
    const seq = ++hiresSeq;
    try {
      const r = await fetch("/api/region?b=" + encodeURIComponent(d.batch_id) + "&d=" + encodeURIComponent(d.document_id)
        + "&x0=" + x0 + "&y0=" + y0 + "&x1=" + x1 + "&y1=" + y1 + "&hide=" + encodeURIComponent(hidden));
      if (!r.ok) return;
      const blob = await r.blob();
      if (seq !== hiresSeq || doc !== d) return;
      const u = URL.createObjectURL(blob);
      const next = new Image();
      next.src = u;
      await next.decode().catch(() => {});
      if (seq !== hiresSeq || doc !== d) { URL.revokeObjectURL(u); return; }
      if (hi.dataset.url) URL.revokeObjectURL(hi.dataset.url);
      hi.dataset.url = u;
      hi.src = u;
      hi.dataset.region = [x0, y0, x1, y1].join(",");
      Object.assign(hi.style, { left: (x0 / f) + "px", top: (y0 / f) + "px", width: ((x1 - x0) / f) + "px", height: ((y1 - y0) / f) + "px" });
      hi.hidden = false;
    } catch (e) { /* the display image still shows the page */ }
  }

  function zoomField() {
    // Alt+Z: the current field at the scan's full resolution (one scan pixel per screen pixel,
    // less when the field is wider than the viewer), centred
    const img = $("scan"), v = $("viewer");
    if (!current || !state[current].field.box) return;
    if (scanShown !== doc || !img.naturalWidth) { zoomPending = true; return; } // (see scanShown)
    const [l, t, r, b] = state[current].field.box;
    const f = scan.w / img.naturalWidth;
    const margin = 24;
    view.scale = Math.min(f, (v.clientWidth - 2 * margin) / ((r - l) / f));
    view.fitted = false;
    view.x = v.clientWidth / 2 - ((l + r) / 2 / f) * view.scale;
    view.y = v.clientHeight / 2 - ((t + b) / 2 / f) * view.scale;
    applyView();
  }

  function pan(dx, dy) {
    view.x += dx;
    view.y += dy;
    applyView();
  }

  function toggleBigCrop(open) {
    // F9 (or a click on the crop): the current field's full-resolution crop, large
    const big = $("crop-big");
    const on = open === undefined ? big.hidden : open;
    if (on) {
      const s = current && state[current];
      if (!s || s.crop.hidden || !s.crop.src) { say("この項目には拡大できる切り出しがありません。", "warn"); return; }
      big.querySelector("img").src = s.crop.src;
      big.querySelector("img").alt = s.field.label + " の切り出し（拡大）";
    }
    big.hidden = !on;
  }

  function fit() {
    const v = $("viewer"), img = $("scan");
    const w = img.naturalWidth || 1;
    $("stage").style.width = w + "px";
    view.scale = v.clientWidth / w;
    view.x = 0; view.y = 0; view.fitted = true;
    applyView();
  }

  function zoom(factor, cx, cy) {
    const v = $("viewer");
    cx = cx === undefined ? v.clientWidth / 2 : cx;
    cy = cy === undefined ? v.clientHeight / 2 : cy;
    const s = Math.min(8, Math.max(0.2, view.scale * factor));
    view.x = cx - (cx - view.x) * (s / view.scale);
    view.y = cy - (cy - view.y) * (s / view.scale);
    view.scale = s;
    applyView();
  }

  function centreOn(name) {
    if (!name || !state[name] || !state[name].field.box) return;
    const img = $("scan"), v = $("viewer");
    if (!img.naturalWidth) return;
    const [l, t, r, b] = state[name].field.box;
    const k = img.naturalWidth / scan.w * view.scale;
    // keep the page's left edge (the printed labels) in view unless the box needs the room
    const margin = 16;
    view.x = Math.min(0, v.clientWidth - margin - r * k);
    if ((r - l) * k > v.clientWidth - 2 * margin) view.x = margin - l * k;
    view.y = Math.min(0, v.clientHeight / 3 - ((t + b) / 2) * k);
    applyView();
  }

  function setupViewer() {
    const v = $("viewer");
    v.addEventListener("wheel", (e) => {
      e.preventDefault();
      const rect = v.getBoundingClientRect();
      zoom(e.deltaY < 0 ? 1.15 : 1 / 1.15, e.clientX - rect.left, e.clientY - rect.top);
    }, { passive: false });
    let drag = null;
    v.addEventListener("mousedown", (e) => { drag = { x: e.clientX - view.x, y: e.clientY - view.y }; e.preventDefault(); });
    window.addEventListener("mousemove", (e) => { if (drag) { view.x = e.clientX - drag.x; view.y = e.clientY - drag.y; applyView(); } });
    window.addEventListener("mouseup", () => { drag = null; if (current) state[current] && state[current].input.focus(); });
    window.addEventListener("resize", () => { fit(); centreOn(current); });
  }

  // -- keyboard --------------------------------------------------------------------------------
  function onKey(e) {
    if (!doc || e.isComposing || e.keyCode === 229) return; // the IME is composing Japanese
    if (purposeOpen) return; // the purpose dialog has the keyboard
    const name = current;
    const k = e.key;
    if (k === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); submit(); return; }
    if (k === "F2") { e.preventDefault(); if (name) acceptSuggestion(name); return; }
    if (k === "F4") { e.preventDefault(); if (name) markIllegible(name); return; }
    if (k === "F8") { e.preventDefault(); reveal(name); return; }
    if (k === "F6") { e.preventDefault(); setAcceptedVisible(!showAccepted); return; }
    if (e.altKey && k === "PageDown") { e.preventDefault(); skip(); return; }
    if (e.altKey && k === "PageUp") { e.preventDefault(); back(); return; }
    if (e.altKey && (k === "r" || k === "R")) { e.preventDefault(); reopenDoc(lastSubmitted); return; }
    if (e.altKey && (k === "+" || k === "=" || k === ";")) { e.preventDefault(); zoom(1.25); return; }
    if (e.altKey && k === "-") { e.preventDefault(); zoom(0.8); return; }
    if (e.altKey && k === "0") { e.preventDefault(); fit(); centreOn(current); return; }
    if (e.altKey && (k === "z" || k === "Z")) { e.preventDefault(); zoomField(); return; }
    if (e.altKey && k.startsWith("Arrow")) {
      e.preventDefault(); // Alt+← would go back in the browser's history
      const step = 80;
      pan(k === "ArrowLeft" ? step : k === "ArrowRight" ? -step : 0, k === "ArrowUp" ? step : k === "ArrowDown" ? -step : 0);
      return;
    }
    if (k === "F9") { e.preventDefault(); toggleBigCrop(); return; }
    if (k === "Escape" && !$("crop-big").hidden) { e.preventDefault(); toggleBigCrop(false); return; }
    if (!name || document.activeElement !== state[name].input) return;
    if (k === "Enter" && !e.shiftKey && !e.altKey) {
      e.preventDefault();
      if (confirmField(name)) advance();
      return;
    }
    if (k === "Escape") { e.preventDefault(); revert(name); return; }
    if (k === "Tab" && !e.altKey && !e.ctrlKey) {
      // Tab past the last field comes back to the first (focus never leaves the fields)
      const names = tabOrder();
      const i = names.indexOf(name);
      if (!e.shiftKey && i === names.length - 1) { e.preventDefault(); focusField(names[0]); return; }
      if (e.shiftKey && i === 0) { e.preventDefault(); focusField(names[names.length - 1]); return; }
    }
    if (k === " " && (state[name].field.type === "checkbox" || state[name].field.type === "choice")) {
      e.preventDefault();
      toggleValue(name);
    }
  }

  // keep the lease while the reviewer works on a document (it expires after 15 minutes)
  function renewLease() {
    if (!doc) return;
    api("/api/renew", { batch_id: doc.batch_id, document_id: doc.document_id }).catch((e) => showError(e, renewLease));
  }

  // -- login (with a users file: the person says who they are) --------------------------------
  function showLogin() {
    return new Promise((resolve) => {
      $("main").hidden = true;
      $("login").hidden = false;
      const form = $("login-form"), msg = $("login-message");
      form.addEventListener("submit", async (e) => {
        e.preventDefault();
        msg.textContent = "確認しています…";
        try {
          const r = await fetch("/api/login", {
            method: "POST",
            headers: { "Content-Type": "application/json", "X-Yomitori-CSRF": CSRF },
            body: JSON.stringify({ name: $("login-name").value, passphrase: $("login-pass").value }),
          });
          const data = await r.json().catch(() => ({}));
          $("login-pass").value = "";
          if (!r.ok) {
            msg.textContent = (data.message_ja || "ログインできませんでした。") + " " + (data.action_ja || "");
            $("login-pass").focus();
            return;
          }
          msg.textContent = "";
          $("login").hidden = true;
          $("main").hidden = false;
          resolve(data);
        } catch (err) {
          msg.textContent = NETWORK.message_ja + " " + NETWORK.action_ja;
        }
      });
      $("login-name").focus();
    });
  }

  async function logout() {
    try { await leaveCurrent(); } catch (e) { /* the lease runs out by itself */ }
    try { await api("/api/logout", {}); } catch (e) { /* the reload shows the login anyway */ }
    sessionStorage.removeItem("yomitori-current");
    location.reload();
  }

  // For field-by-field mode (static/fields.js): what it needs of this page, and nothing else.
  window.yomitoriReview = {
    api, el, say, showError, draftKey, boxText, boxValue, STATUS_JA, ILLEGIBLE_REASONS,
    // leave the open document (its draft kept) and hide the document view
    async suspend() {
      if (busy) return false;
      await leaveCurrent();
      for (const u of urls) URL.revokeObjectURL(u);
      urls = [];
      doc = null;
      sessionStorage.removeItem("yomitori-current");
      $("viewer").hidden = true;
      $("panel").hidden = true;
      $("done").hidden = true;
      return true;
    },
    // back to document by document: the next document (drafts are restored when it opens)
    async resume() {
      $("viewer").hidden = false;
      $("panel").hidden = false;
      $("done").hidden = true;
      try { await openNext(null); } catch (e) { showError(e, () => window.yomitoriReview.resume()); }
    },
    refreshQueue: () => refreshQueue().catch(() => {}),
  };

  async function start() {
    try {
      me = await api("/api/me");
      if (me.login_required && !me.logged_in) me = Object.assign(me, await showLogin());
      // without the reviewer role: a verifier works on the verifier's view, a supervisor on the
      // audit trail (/audit; the decisions of double entry are on /verify)
      const roles = me.roles || [];
      if (roles.indexOf("reviewer") < 0 && roles.indexOf("verifier") >= 0) { location.href = "/verify"; return; }
      if (roles.indexOf("reviewer") < 0 && roles.indexOf("supervisor") >= 0) { location.href = "/audit"; return; }
    } catch (e) {
      showError(e, () => location.reload());
      return;
    }
    $("logout").addEventListener("click", logout);
    setInterval(renewLease, 5 * 60 * 1000);
    document.addEventListener("keydown", onKey, true);
    $("accepted-toggle").addEventListener("click", () => setAcceptedVisible(!showAccepted));
    setupViewer();
    try {
      // the queue list loads beside the first document, not before it (the first field is
      // focused one round trip sooner)
      refreshQueue().catch(() => {});
      // after a reload: the document this tab had open, if it is still free for it
      let last = null;
      try { last = JSON.parse(sessionStorage.getItem("yomitori-current") || "null"); } catch (e) { last = null; }
      let opened = false;
      if (last) {
        try {
          const res = await api("/api/open", last);
          render(res.document);
          opened = true;
        } catch (e) { sessionStorage.removeItem("yomitori-current"); }
      }
      if (!opened) await openNext(null);
    } catch (e) {
      showError(e, async () => { await refreshQueue(); await openNext(null); });
    }
  }

  start();
})();
