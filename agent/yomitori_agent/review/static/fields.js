// yomitori review page: field-by-field mode (項目単位). The same field of many documents in a
// column of crops with their values, for checking one kind of field fast. F3 switches between
// this and document by document. Every document shown is leased to this reviewer by the server
// (documents others hold are left out); a decision that settles its document is submitted
// through the same /api/submit as the document view; a document with other fields left keeps
// the decision as this tab's draft (restored when it is opened) and goes back to the queue.
// My Number fields are not offered here. Values go into the page as text only.
"use strict";

(function () {
  const R = window.yomitoriReview;
  if (!R) return;
  const $ = (id) => document.getElementById(id);
  const el = R.el;
  const timings = { columnShown: [] };
  window.columnTimings = timings;

  let on = false;
  let col = null; // the column from the server
  let rows = []; // {row: server row, li, input, era, mark, refused, settled, illegible, orig, fromSuggestion, saved}
  let current = -1;
  let saving = false;

  function say(text, kind) {
    const m = $("column-message");
    m.textContent = text || "";
    m.className = kind || "";
  }

  function fail(e, retry) {
    // the same Japanese errors as the document view, with the button that does the next step
    const data = (e && e.data) || {};
    const m = $("column-message");
    m.className = "error";
    m.replaceChildren(el("span", null, data.message_ja || "処理できませんでした。まだ保存されていません。"),
                      el("span", null, " " + (data.action_ja || "")));
    const b = el("button", "err-button", data.next === "reconnect" ? "再接続" : "読み込み直す");
    b.type = "button";
    b.addEventListener("click", () => (data.next === "reconnect" && retry ? retry() : location.reload()));
    m.append(b);
    b.focus();
  }

  async function enter() {
    // leave the document view (its draft is kept) and pick a field
    try {
      if (!(await R.suspend())) return;
    } catch (e) { R.showError(e); return; }
    on = true;
    $("column").hidden = false;
    $("doc-title").textContent = "項目単位で確認";
    say("読み込んでいます…");
    try {
      const r = await R.api("/api/column-fields", {});
      const sel = $("column-field");
      sel.replaceChildren();
      for (const f of r.fields) {
        const o = el("option", null, f.label + "（" + f.count + " 件）");
        o.value = f.name;
        sel.append(o);
      }
      $("column-info").textContent = r.busy ? "他の確認者・別の画面で作業中 " + r.busy + " 件は除きます" : "";
      if (!r.fields.length) {
        say("項目単位で確認できる項目はありません。F3 で帳票単位に戻ります。", "warn");
        sel.focus();
        return;
      }
      say("項目を選んで Enter。F3 で帳票単位に戻ります。");
      sel.focus();
    } catch (e) { fail(e, enter); }
  }

  async function leave() {
    // give back every document of the column not saved, then document by document again
    await releaseRest();
    on = false;
    col = null;
    rows = [];
    $("column-rows").replaceChildren();
    $("column").hidden = true;
    await R.resume();
  }

  async function releaseRest() {
    const open = rows.filter((x) => !x.saved);
    await Promise.all(open.map((x) => R.api("/api/leave", { batch_id: x.row.batch_id, document_id: x.row.document_id }).catch(() => {})));
    for (const x of open) x.saved = "left";
  }

  async function load(field) {
    const t0 = performance.now();
    say("読み込んでいます…");
    await releaseRest();
    try {
      col = await R.api("/api/column", { field, skip: drafted(field) });
    } catch (e) { fail(e, () => load(field)); return; }
    const list = $("column-rows");
    list.replaceChildren();
    rows = col.rows.map((r, i) => rowFor(r, i));
    for (const x of rows) list.append(x.li);
    $("column-info").textContent = col.label + " · " + rows.length + " 件"
      + (col.busy ? "（他の確認者・別の画面で作業中 " + col.busy + " 件は除く）" : "");
    if (!rows.length) { say("この項目で確認が必要な帳票はありません。F3 で帳票単位に戻ります。", "warn"); return; }
    say("Enter で確認して次へ、入力で修正、F2 候補、F4 保留、Ctrl+Enter で保存。最後の行の Enter で保存します。");
    focusRow(0);
    timings.columnShown.push(Math.round(performance.now() - t0));
    R.refreshQueue();
  }

  function drafted(field) {
    // documents whose decision on this field waits in this tab's draft: not shown again
    const out = [];
    for (let i = 0; i < sessionStorage.length; i++) {
      const key = sessionStorage.key(i);
      if (!key.startsWith("yomitori-draft:")) continue;
      try { if (field in (JSON.parse(sessionStorage.getItem(key)) || {})) out.push(key.slice(15)); } catch (e) { /* not ours */ }
    }
    return out;
  }

  function rowFor(r, i) {
    const li = el("li", "crow " + r.status);
    li.dataset.document = r.document_id;
    li.append(el("div", "cdoc", r.document_id));
    const crop = el("img", "ccrop");
    crop.alt = col.label + "（" + r.document_id + "）の切り出し";
    crop.hidden = true;
    li.append(crop);
    const side = el("div", "cside");
    const input = el("input", "value");
    input.id = "c-" + i;
    input.value = col.type === "checkbox" ? R.boxText(r.value) : r.value;
    input.readOnly = col.type === "checkbox";
    input.spellcheck = false;
    input.autocomplete = "off";
    input.setAttribute("aria-label", col.label + "（" + r.document_id + "）");
    if (r.status === "invalid") input.setAttribute("aria-invalid", "true");
    side.append(input);
    const described = [];
    let era = null;
    if (col.type === "date") {
      era = el("select", "era");
      era.tabIndex = -1;
      era.setAttribute("aria-label", col.label + " の元号（年だけ入力したとき）");
      for (const e of ["令和", "平成", "昭和", "大正", "明治", "西暦"]) { const o = el("option", null, e); o.value = e; era.append(o); }
      era.value = r.era || "令和";
      side.append(era);
      if (r.written) { const w = el("span", "cnote", "記入: " + r.written); w.id = "cw-" + i; described.push(w.id); side.append(w); }
    }
    const mark = el("span", "mark");
    side.append(mark);
    if (r.reasons.length) {
      const ul = el("ul", "reasons");
      ul.id = "cr-" + i;
      described.push(ul.id);
      for (const x of r.reasons) { const l = el("li", null, x.text); l.title = x.code; ul.append(l); }
      side.append(ul);
    }
    if (r.suggestion) {
      const s = el("div", "suggest");
      s.id = "cs-" + i;
      described.push(s.id);
      s.append(el("kbd", null, "F2"), el("span", "sv", r.suggestion.value), el("span", "st", r.suggestion.text));
      side.append(s);
    }
    if (r.others.length) {
      const n = el("div", "cnote", "この帳票には他に " + r.others.length + " 項目の確認が残っています（下書きとして保存）");
      n.id = "co-" + i;
      described.push(n.id);
      side.append(n);
    }
    const refused = el("ul", "refused");
    refused.id = "cx-" + i;
    described.push(refused.id);
    side.append(refused);
    input.setAttribute("aria-describedby", described.join(" "));
    li.append(side);
    const x = { row: r, li, input, era, mark, refused, crop, settled: false, illegible: null, orig: input.value, saved: false };
    input.addEventListener("focus", () => setCurrent(i));
    input.addEventListener("input", (e) => {
      x.settled = false; x.illegible = null; x.fromSuggestion = false; updateMark(x);
      // a digits field of a fixed length moves on when all its digits are typed (as in the document view)
      if (col.length && e.inputType && e.inputType.startsWith("insert") && input.value !== x.orig
          && input.value.length === col.length && /^[0-9]+$/.test(input.value)) {
        x.settled = true; updateMark(x); advance();
      }
    });
    li.addEventListener("mousedown", (e) => { if (e.target !== input) { e.preventDefault(); focusRow(i); } });
    if (r.has_box) loadCrop(x);
    return x;
  }

  async function loadCrop(x) {
    try {
      const r = await fetch("/api/crop?b=" + encodeURIComponent(x.row.batch_id) + "&d=" + encodeURIComponent(x.row.document_id)
        + "&f=" + encodeURIComponent(col.field));
      if (!r.ok) return;
      const u = URL.createObjectURL(await r.blob());
      x.crop.src = u;
      x.crop.hidden = false;
    } catch (e) { /* the value is still there */ }
  }

  function setCurrent(i) {
    if (rows[current]) rows[current].li.classList.remove("current");
    current = i;
    rows[i].li.classList.add("current");
    rows[i].li.scrollIntoView({ block: "nearest" });
  }

  function focusRow(i) {
    const x = rows[i];
    if (!x) return;
    x.input.focus();
    x.input.select();
  }

  function updateMark(x) {
    let text = "", cls = "mark";
    if (x.saved === true) { text = "保存済み"; cls += " ok"; }
    else if (x.saved === "draft") { text = "下書き（帳票で残りを確認）"; cls += " fix"; }
    else if (x.illegible) { text = "保留: " + (R.ILLEGIBLE_REASONS.find((r) => r[0] === x.illegible) || [0, "保留"])[1]; cls += " ill"; }
    else if (x.input.value !== x.orig) { text = x.settled ? "修正" : "修正中"; cls += " fix"; }
    else if (x.settled) { text = "確認（未保存）"; cls += " ok"; }
    x.mark.textContent = text;
    x.mark.className = cls;
    if (x.settled || x.illegible) { x.refused.replaceChildren(); x.input.removeAttribute("aria-invalid"); }
  }

  function advance() {
    // the next row still to decide; when none is left, save
    for (let k = 1; k <= rows.length; k++) {
      const i = (current + k) % rows.length, x = rows[i];
      if (!x.saved && !x.settled && !x.illegible) { focusRow(i); return; }
    }
    save();
  }

  function correction(x) {
    if (x.illegible) return { field: col.field, action: "illegible", reason: x.illegible };
    if (x.input.value === x.orig) return { field: col.field, action: "confirm" };
    const value = col.type === "checkbox" ? R.boxValue(x.input.value) : x.input.value;
    const c = { field: col.field, action: "correct", value };
    if (x.era) c.era = x.era.value;
    if (x.fromSuggestion && x.row.suggestion && x.input.value === x.row.suggestion.value) c.suggestion = true;
    return c;
  }

  function keepDraft(x) {
    // the document's other fields are still to decide: the decision waits in this tab's draft,
    // in the document view's format, and is restored when the document is opened
    const key = R.draftKey(x.row);
    let draft = {};
    try { draft = JSON.parse(sessionStorage.getItem(key) || "{}") || {}; } catch (e) { draft = {}; }
    draft[col.field] = { value: x.input.value, settled: !!x.settled, illegible: x.illegible, era: x.era ? x.era.value : null };
    sessionStorage.setItem(key, JSON.stringify(draft));
  }

  async function save() {
    if (saving || !col) return;
    saving = true;
    say("保存しています…");
    let stored = 0, drafts = 0, refused = 0, first = null;
    try {
      for (const x of rows) {
        if (x.saved || !(x.settled || x.illegible)) continue;
        const d = { batch_id: x.row.batch_id, document_id: x.row.document_id };
        if (x.row.others.length) {
          keepDraft(x);
          await R.api("/api/leave", d);
          x.saved = "draft";
          drafts++;
        } else {
          const res = await R.api("/api/submit", Object.assign({ corrections: [correction(x)] }, d));
          if (res.ok) { x.saved = true; stored++; sessionStorage.removeItem(R.draftKey(x.row)); }
          else {
            refused++;
            x.settled = false;
            x.refused.replaceChildren();
            for (const r of Object.values(res.refused).flat()) { const l = el("li", null, r.text); l.title = r.code; x.refused.append(l); }
            x.input.setAttribute("aria-invalid", "true");
            if (first === null) first = rows.indexOf(x);
          }
        }
        updateMark(x);
        x.li.classList.toggle("saved", !!x.saved);
      }
    } catch (e) {
      saving = false;
      fail(e, save);
      return;
    }
    saving = false;
    const left = rows.filter((x) => !x.saved).length;
    let text = "保存 " + stored + " 件";
    if (drafts) text += "、下書き " + drafts + " 件（他の項目が残る帳票）";
    if (refused) text += "、受け付けられなかった " + refused + " 件（理由を見て直してください）";
    if (first !== null) { say(text + "。", "error"); focusRow(first); return; }
    if (left) { say(text + "。残り " + left + " 件を確認してください。"); advance(); return; }
    say(text + "。Enter で次の " + (col.label || "") + "、F3 で帳票単位に戻ります。");
    R.refreshQueue();
    $("column-field").focus();
  }

  function toggleValue(x) {
    let values = null;
    if (col.type === "checkbox") values = ["✓", "空欄"];
    if (col.type === "choice") values = col.options.map((o) => o.value);
    if (!values) return false;
    const i = values.indexOf(x.input.value);
    x.input.value = values[(i + 1) % values.length];
    x.settled = false;
    updateMark(x);
    return true;
  }

  function onKey(e) {
    if (e.isComposing || e.keyCode === 229) return;
    const k = e.key;
    if (k === "F3") {
      e.preventDefault();
      e.stopImmediatePropagation();
      if (on) leave(); else enter();
      return;
    }
    if (!on) return;
    const inSelect = document.activeElement === $("column-field");
    if (inSelect && k === "Enter") { e.preventDefault(); load($("column-field").value); return; }
    const x = rows[current];
    if (!x || document.activeElement !== x.input) return;
    if (k === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); save(); return; }
    if (k === "Enter") { e.preventDefault(); if (!x.saved) { x.settled = true; updateMark(x); } advance(); return; }
    if (k === "F2") {
      e.preventDefault();
      if (!x.row.suggestion) { say("この行に候補はありません。", "warn"); return; }
      x.input.value = x.row.suggestion.value;
      x.fromSuggestion = true; x.illegible = null; x.settled = true;
      updateMark(x);
      advance();
      return;
    }
    if (k === "F4") {
      e.preventDefault();
      const codes = R.ILLEGIBLE_REASONS.map((r) => r[0]);
      const i = x.illegible ? codes.indexOf(x.illegible) : -1;
      x.illegible = i + 1 < codes.length ? codes[i + 1] : null;
      x.settled = false;
      updateMark(x);
      if (x.illegible === codes[0]) advance();
      return;
    }
    if (k === "Escape") { e.preventDefault(); x.input.value = x.orig; x.settled = false; x.illegible = null; updateMark(x); x.input.select(); return; }
    if (k === " " && (col.type === "checkbox" || col.type === "choice")) { e.preventDefault(); toggleValue(x); }
  }

  // keep the leases of the column's documents while the clerk works (they expire after 15 minutes)
  setInterval(() => {
    if (!on) return;
    for (const x of rows) {
      if (!x.saved) R.api("/api/renew", { batch_id: x.row.batch_id, document_id: x.row.document_id }).catch((e) => fail(e));
    }
  }, 5 * 60 * 1000);

  document.addEventListener("keydown", onKey, true);
  const button = el("button", "column-toggle", "項目単位 (F3)");
  button.type = "button";
  button.tabIndex = -1;
  button.addEventListener("click", () => (on ? leave() : enter()));
  $("bar").append(button);
})();
