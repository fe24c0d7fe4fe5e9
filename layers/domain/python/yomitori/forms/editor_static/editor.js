"use strict";
// The template editor: draw boxes (mm on the reference page) and describe the fields.
(() => {
  const csrf = document.querySelector('meta[name="csrf"]').content;
  const $ = (id) => document.getElementById(id);
  const img = $("ref"), overlay = $("overlay"), status = $("status"), mode = $("mode");
  let form = null, pageMm = [210, 297], selected = -1, drag = null;
  const KEYS = { n: "field", o: "option", y: "year", m: "month", d: "day", e: "era", u: "office" };

  const say = (text, bad) => { status.textContent = text; status.className = bad ? "error" : ""; };
  const pxPerMm = () => img.clientWidth / pageMm[0];
  const r1 = (v) => Math.round(v * 2) / 2; // half millimetres
  const field = () => (selected >= 0 ? form.fields[selected] : null);

  function toMm(ev) {
    const rect = overlay.getBoundingClientRect();
    return [(ev.clientX - rect.left) / pxPerMm(), (ev.clientY - rect.top) / pxPerMm()];
  }

  function place(el, b) {
    const k = pxPerMm();
    el.style.left = `${b.x * k}px`; el.style.top = `${b.y * k}px`;
    el.style.width = `${b.w * k}px`; el.style.height = `${b.h * k}px`;
  }

  function boxEl(b, cls, tag, onPick) {
    const el = document.createElement("div");
    el.className = `box ${cls}`;
    place(el, b);
    if (tag) { const t = document.createElement("span"); t.className = "tag"; t.textContent = tag; el.appendChild(t); }
    // a click picks the field; a drag that starts on it still draws (an option inside a field)
    if (onPick) el.addEventListener("mousedown", () => onPick());
    overlay.appendChild(el);
    return el;
  }

  function render() {
    overlay.replaceChildren();
    form.fields.forEach((f, i) => {
      const sel = i === selected ? " selected" : "";
      boxEl(f.box, `field${sel}`, `${f.label} (${f.type})`, () => select(i));
      (f.options || []).forEach((o) => boxEl(o.box, `option${sel}`, o.value, () => select(i)));
      if (f.parts) for (const [k, b] of Object.entries(f.parts)) if (b) boxEl(b, `part${sel}`, k, () => select(i));
    });
    (form.office_use || []).forEach((a) => boxEl(a.box, "office", a.name));
    const list = $("fields");
    list.replaceChildren(...form.fields.map((f, i) => {
      const li = document.createElement("li");
      li.textContent = `${f.name} — ${f.label} (${f.type})`;
      if (i === selected) li.className = "selected";
      li.addEventListener("click", () => select(i));
      return li;
    }));
    $("offices").replaceChildren(...(form.office_use || []).map((a) => {
      const li = document.createElement("li"); li.textContent = a.name; return li;
    }));
    fillProps();
  }

  function fillProps() {
    const f = field();
    $("props").hidden = !f;
    if (!f) return;
    $("p-name").value = f.name; $("p-label").value = f.label; $("p-type").value = f.type;
    $("p-cells").value = f.cells ?? ""; $("p-required").checked = !!f.required;
    $("p-sensitivity").value = f.sensitivity || "normal"; $("p-threshold").value = f.threshold ?? "";
    $("p-validators").value = (f.validators || []).map((v) => (typeof v === "string" ? v : v.name)).join(", ");
    $("p-charset").value = f.charset ?? ""; $("p-unit").value = f.unit ?? ""; $("p-hint").value = f.hint ?? "";
    $("p-marking").value = f.marking || "tick"; $("p-eras").value = (f.eras || []).join(", ");
    $("p-era-in-year").checked = !!(f.parts && f.parts.era_in_year);
    $("p-options").value = (f.options || []).map((o) => o.value).join(", ");
    const b = f.box; $("p-box").value = `x ${b.x}, y ${b.y}, w ${b.w}, h ${b.h}`;
  }

  function select(i) { selected = i; render(); }

  const setOrDrop = (f, key, v) => { if (v === "" || v === null || v === undefined) delete f[key]; else f[key] = v; };

  function readProps() {
    const f = field();
    if (!f) return;
    f.name = $("p-name").value.trim(); f.label = $("p-label").value.trim(); f.type = $("p-type").value;
    setOrDrop(f, "cells", $("p-cells").value === "" ? "" : Number($("p-cells").value));
    f.required = $("p-required").checked;
    f.sensitivity = $("p-sensitivity").value;
    setOrDrop(f, "threshold", $("p-threshold").value === "" ? "" : Number($("p-threshold").value));
    const old = Object.fromEntries((f.validators || []).filter((v) => typeof v === "object").map((v) => [v.name, v]));
    f.validators = $("p-validators").value.split(",").map((s) => s.trim()).filter(Boolean)
      .map((name) => old[name] || { name, args: {} });
    setOrDrop(f, "charset", $("p-charset").value);
    setOrDrop(f, "unit", $("p-unit").value.trim());
    setOrDrop(f, "hint", $("p-hint").value.trim());
    f.marking = $("p-marking").value;
    if ($("p-era-in-year").checked) { f.parts = f.parts || {}; f.parts.era_in_year = true; }
    else if (f.parts) delete f.parts.era_in_year;
    const eras = $("p-eras").value.split(",").map((s) => s.trim()).filter(Boolean);
    if (eras.length) f.eras = eras; else delete f.eras;
    const values = $("p-options").value.split(",").map((s) => s.trim());
    (f.options || []).forEach((o, k) => { if (values[k]) { o.value = values[k]; o.label = values[k]; } });
    render();
  }

  function added(box) {
    const what = mode.value, f = field();
    if (what === "field") {
      const n = form.fields.length + 1;
      form.fields.push({ name: `field_${n}`, label: `項目${n}`, type: "text", box, required: false,
                         sensitivity: "normal", validators: [] });
      selected = form.fields.length - 1;
    } else if (what === "office") {
      form.office_use = form.office_use || [];
      form.office_use.push({ name: `office_${form.office_use.length + 1}`, box });
    } else if (!f) {
      return say("Select a field first (click it), then draw its parts.", true);
    } else if (what === "option") {
      f.options = f.options || [];
      const v = `option_${f.options.length + 1}`;
      f.options.push({ value: v, label: v, box });
      if (f.type !== "date") { f.type = "choice"; f.marking = "circle"; }
    } else {
      if (f.type !== "date") f.type = "date";
      f.parts = f.parts || {};
      f.parts[what] = box;
    }
    render();
  }

  overlay.addEventListener("mousedown", (ev) => {
    if (ev.button !== 0) return;
    const [x, y] = toMm(ev);
    drag = { x, y, el: boxEl({ x, y, w: 0.1, h: 0.1 }, "rubber", "") };
    ev.preventDefault();
  });
  window.addEventListener("mousemove", (ev) => {
    if (!drag) return;
    const [x, y] = toMm(ev);
    place(drag.el, { x: Math.min(x, drag.x), y: Math.min(y, drag.y), w: Math.abs(x - drag.x), h: Math.abs(y - drag.y) });
  });
  window.addEventListener("mouseup", (ev) => {
    if (!drag) return;
    const [x, y] = toMm(ev);
    const d = drag; drag = null; d.el.remove();
    const box = { x: r1(Math.max(0, Math.min(x, d.x))), y: r1(Math.max(0, Math.min(y, d.y))),
                  w: r1(Math.abs(x - d.x)), h: r1(Math.abs(y - d.y)) };
    if (box.w >= 1 && box.h >= 1) added(box);
  });

  function nudge(dx, dy, resize) {
    const f = field();
    if (!f) return;
    const b = { ...f.box };
    if (resize) { b.w = Math.max(1, r1(b.w + dx)); b.h = Math.max(1, r1(b.h + dy)); }
    else { b.x = Math.max(0, r1(b.x + dx)); b.y = Math.max(0, r1(b.y + dy)); }
    f.box = b;
    render();
  }

  async function save() {
    readProps();
    say("saving…");
    const res = await fetch("/api/save", { method: "POST", headers: { "Content-Type": "application/json", "X-Yomitori-CSRF": csrf },
                                           body: JSON.stringify({ form }) });
    const out = await res.json();
    if (res.ok) say(`saved (${out.fields} fields)`);
    else say(`not saved: ${out.message}`, true);
  }

  document.addEventListener("keydown", (ev) => {
    const typing = ["INPUT", "SELECT", "TEXTAREA"].includes(document.activeElement.tagName);
    if ((ev.ctrlKey || ev.metaKey) && ev.key.toLowerCase() === "s") { ev.preventDefault(); save(); return; }
    if (typing) { if (ev.key === "Escape") document.activeElement.blur(); return; }
    const k = ev.key.toLowerCase();
    if (KEYS[k] && !ev.ctrlKey && !ev.altKey) { mode.value = KEYS[k]; say(`draw: ${mode.selectedOptions[0].textContent}`); }
    else if (ev.key === "Delete" || ev.key === "Backspace") { if (field()) { form.fields.splice(selected, 1); selected = -1; render(); } }
    else if (ev.key === "[" && form.fields.length) select((selected - 1 + form.fields.length) % form.fields.length);
    else if (ev.key === "]" && form.fields.length) select((selected + 1) % form.fields.length);
    else if (ev.key === "Escape") select(-1);
    else if (ev.key.startsWith("Arrow")) {
      const s = 0.5, d = { ArrowLeft: [-s, 0], ArrowRight: [s, 0], ArrowUp: [0, -s], ArrowDown: [0, s] }[ev.key];
      nudge(d[0], d[1], ev.shiftKey); ev.preventDefault();
    } else return;
    ev.preventDefault();
  });

  $("props").addEventListener("change", readProps);
  $("save").addEventListener("click", save);

  async function start() {
    const res = await fetch("/api/form");
    const data = await res.json();
    form = data.form; pageMm = data.page_mm;
    $("title").textContent = `${form.title} (${form.id})`;
    $("p-type").replaceChildren(...data.types.map((t) => new Option(t, t)));
    $("p-sensitivity").replaceChildren(...data.sensitivities.map((t) => new Option(t, t)));
    $("validator-names").replaceChildren(...data.validators.map((t) => new Option(t, t)));
    img.addEventListener("load", () => { document.body.dataset.ready = "1"; render(); });
    img.src = "/api/reference";
  }
  start();
})();
