// yomitori ベリファイ: the second, blind entry of fields marked `verify`, and the third person's
// decision where two entries differ. Keyboard only: type what the crop shows, Enter, next.
// No third-party code; values are put into the page with textContent / .value only.
"use strict";

(function () {
  const CSRF = document.querySelector('meta[name="yomitori-csrf"]').content;
  const $ = (id) => document.getElementById(id);
  let cur = null; // the field open now (from the server)
  let busy = false;
  let cropUrl = null;

  async function call(path, body) {
    const opts = body === undefined ? {} : {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-Yomitori-CSRF": CSRF },
      body: JSON.stringify(body),
    };
    let r;
    try {
      r = await fetch(path, opts);
    } catch (e) {
      return { error: "network", message_ja: "確認サーバーに接続できません。", action_ja: "確認コマンドが動いていることを確かめてください。" };
    }
    const data = await r.json().catch(() => ({ error: "internal_error" }));
    if (!r.ok && !data.error) data.error = "http_" + r.status;
    return data;
  }

  function say(text, cls) {
    const m = $("v-message");
    m.textContent = text || "";
    m.className = cls || "";
  }

  function progress(s) {
    $("v-who").textContent = s.who + "（" + s.roles.join("・") + "）";
    $("v-progress").textContent = "あなたの残り: 2回目入力 " + s.second + " 件・判定 " + s.decide
      + " 件（全体の未完了 " + s.open + " 件）";
  }

  async function show(field) {
    cur = field;
    $("v-refused").textContent = "";
    if (!field) {
      $("v-work").hidden = true;
      $("v-done").hidden = false;
      $("v-title").textContent = "完了";
      const s = await call("/api/verify/state");
      if (!s.error) {
        progress(s);
        $("v-done-text").textContent = s.blocked_same_person
          ? "あなたが1回目を入力した項目が " + s.blocked_same_person + " 件あります。他の担当者に2回目の入力を依頼してください。"
          : (s.open ? "残りの " + s.open + " 件は確認待ちか、他の担当者の作業中です。" : "このバッチのベリファイはすべて終わりました。");
      }
      return;
    }
    $("v-done").hidden = true;
    $("v-work").hidden = false;
    $("v-title").textContent = field.document_id;
    $("v-label").textContent = field.label;
    const decide = field.kind === "decide";
    $("v-kind").textContent = decide
      ? "判定: 1回目と2回目の入力が食い違いました。画像を見て正しい値を入力するか、F1/F2 で採用してください。"
      : "2回目の入力: 画像だけを見て入力してください（読み取った値は表示しません）。";
    $("v-entries").hidden = !decide;
    $("v-first").textContent = decide ? field.first : "";
    $("v-second").textContent = decide ? field.second : "";
    $("v-unit").textContent = field.unit || "";
    $("v-hint").textContent = field.hint || (field.cells ? field.cells + " 桁" : "");
    const input = $("v-input");
    input.value = "";
    input.inputMode = field.type === "digits" ? "numeric" : "text";
    if (cropUrl) URL.revokeObjectURL(cropUrl);
    cropUrl = null;
    $("v-crop").removeAttribute("src");
    input.focus();
    const r = await fetch("/api/verify/crop?b=" + encodeURIComponent(field.batch_id) + "&d="
      + encodeURIComponent(field.document_id) + "&f=" + encodeURIComponent(field.field));
    if (r.ok && cur === field) {
      cropUrl = URL.createObjectURL(await r.blob());
      $("v-crop").src = cropUrl;
    }
  }

  async function next(after) {
    busy = true;
    const out = await call("/api/verify/next", after ? {
      batch_id: after.batch_id, document_id: after.document_id, field: after.field,
    } : {});
    busy = false;
    if (out.error) {
      say((out.message_ja || "処理できませんでした。") + " " + (out.action_ja || ""), "error");
      $("v-title").textContent = "";
      return;
    }
    progress(out.state);
    await show(out.field);
  }

  async function submit() {
    if (!cur || busy) return;
    busy = true;
    const field = cur;
    const out = await call("/api/verify/submit", {
      batch_id: field.batch_id, document_id: field.document_id, field: field.field, value: $("v-input").value,
    });
    busy = false;
    if (out.error) {
      say((out.message_ja || "処理できませんでした。") + " " + (out.action_ja || ""), "error");
      return;
    }
    if (!out.ok) {
      say("この値は保存できません。", "error");
      const ul = $("v-refused");
      ul.textContent = "";
      for (const r of out.refused || []) {
        const li = document.createElement("li");
        li.textContent = r.text;
        ul.appendChild(li);
      }
      $("v-input").focus();
      return;
    }
    // blind: the verifier is not told whether the entries matched
    say(field.kind === "decide" ? "判定を保存しました。" : "入力しました。", "ok");
    window.verifyDone = (window.verifyDone || 0) + 1;
    await next(field);
  }

  document.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.isComposing) {
      e.preventDefault();
      submit();
    } else if ((e.key === "F1" || e.key === "F2") && cur && cur.kind === "decide") {
      e.preventDefault();
      $("v-input").value = e.key === "F1" ? cur.first : cur.second;
      $("v-input").focus();
    } else if (e.key === "Escape" && cur && !busy) {
      // stop here: the field goes back to the queue for someone else
      e.preventDefault();
      const field = cur;
      cur = null;
      call("/api/verify/leave", { batch_id: field.batch_id, document_id: field.document_id, field: field.field });
      $("v-work").hidden = true;
      say("中断しました。この項目は他の担当者が入力できます。続けるには画面を読み込み直してください。", "ok");
    } else if (e.key === "F9" && cur && !busy) {
      e.preventDefault();
      next(cur);
    }
  });

  next(null);
})();
