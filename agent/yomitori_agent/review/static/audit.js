// The supervisor's audit page: read-only. Builds every cell with textContent (no HTML from data).
"use strict";

const $ = (id) => document.getElementById(id);

function cell(row, text, cls) {
  const td = document.createElement("td");
  td.textContent = text == null ? "" : String(text);
  if (cls) td.className = cls;
  row.appendChild(td);
}

function localTime(iso) {
  const d = new Date(iso);
  return isNaN(d) ? iso : d.toLocaleString("ja-JP", { hour12: false });
}

function showStatus(verdicts) {
  const status = $("status"), list = $("breaks");
  list.textContent = "";
  const broken = verdicts.filter((v) => !v.ok);
  if (!verdicts.length) {
    status.className = "";
    status.textContent = "監査ログはまだありません";
    return;
  }
  if (broken.length) {
    status.className = "broken";
    status.textContent = `改ざんの疑いがあります: ${broken.length} バッチ（検証 ${verdicts.length} バッチ）`;
    for (const v of broken) {
      for (const b of v.breaks) {
        const li = document.createElement("li");
        li.textContent = `${v.batch_id} の seq ${b.seq}: ${b.kind_ja}（${b.kind}） ${b.detail}`;
        list.appendChild(li);
      }
    }
  } else {
    const n = verdicts.reduce((s, v) => s + v.records, 0);
    status.className = "ok";
    status.textContent = `検証済み: 改ざんなし（${verdicts.length} バッチ、${n} 件）`;
  }
}

function showBatches(batches) {
  const sel = $("batch"), keep = sel.value;
  while (sel.options.length > 1) sel.remove(1);
  for (const b of batches) {
    const o = document.createElement("option");
    o.value = b;
    o.textContent = b;
    sel.appendChild(o);
  }
  sel.value = keep;
}

function showRecords(data) {
  const body = document.querySelector("#records tbody");
  body.textContent = "";
  for (const r of data.records) {
    const tr = document.createElement("tr");
    tr.dataset.seq = r.seq == null ? "" : r.seq;
    cell(tr, localTime(r.at));
    cell(tr, r.batch_id, "code");
    cell(tr, r.seq == null ? "-" : r.seq);
    cell(tr, r.reviewer);
    cell(tr, r.role);
    cell(tr, `${r.action_ja}（${r.action}）`);
    cell(tr, r.document_id, "code");
    cell(tr, r.field, "code");
    cell(tr, r.old_status || r.new_status ? `${r.old_status || ""} → ${r.new_status || ""}` : "");
    cell(tr, (r.reasons || []).join(", "), "code");
    cell(tr, r.purpose);
    body.appendChild(tr);
  }
  $("count").textContent = `${data.records.length} 件${data.truncated ? "（新しいものから表示。すべてはコマンド yomitori audit export で）" : ""}`;
}

let loads = 0; // the latest load wins: an older answer arriving after it is not shown

async function load() {
  const seq = ++loads;
  const params = new URLSearchParams();
  for (const k of ["since", "who", "batch"]) {
    const v = $(k).value.trim();
    if (v) params.set(k, v);
  }
  $("status").className = "";
  $("status").textContent = "確認中…";
  const res = await fetch(`/api/audit?${params}`, { credentials: "same-origin" });
  const data = await res.json();
  if (seq !== loads) return;
  if (!res.ok) {
    $("status").className = "broken";
    $("status").textContent = res.status === 403
      ? "監査ログを見られるのは監督者（supervisor）だけです"
      : `読み込めませんでした: ${data.message || res.status}`;
    return;
  }
  showBatches(data.batches);
  showStatus(data.verify);
  showRecords(data);
}

$("filters").addEventListener("submit", (e) => {
  e.preventDefault();
  load();
});
load();
