// Tributary's dataset browser: the few things pages do beyond links and htmx swaps.
// Every change is a call to the JSON API (same origin; Airflow's login cookie goes with
// it, no token is ever read or put in a URL). Text from the server is always set with
// textContent, never as HTML.
"use strict";

(function () {
  const body = document.body;
  const API = body.dataset.api;
  const AIRFLOW = body.dataset.airflow || "";

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function toast(message, bad, link) {
    const box = document.getElementById("toast");
    if (!box) return;
    box.replaceChildren(el("span", {}, message));
    if (link) {
      box.append(" ");
      box.append(el("a", { href: link.href, target: "_top" }, link.text));
    }
    box.className = bad ? "shown bad" : "shown";
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => { box.className = ""; }, bad ? 12000 : 5000);
  }

  async function call(method, url, payload, headers) {
    const options = { method, credentials: "same-origin", headers: headers || {} };
    if (payload !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(payload);
    }
    const answer = await fetch(url, options);
    let data = null;
    try { data = await answer.json(); } catch (e) { data = null; }
    if (!answer.ok) {
      const detail = data && data.detail ? data.detail : `HTTP ${answer.status}`;
      const error = new Error(detail);
      error.status = answer.status;
      error.data = data;
      throw error;
    }
    return data;
  }

  function runLink(answer) {
    if (!answer || !answer.dag_id || !answer.dag_run_id) return null;
    const href = `${AIRFLOW}/dags/${encodeURIComponent(answer.dag_id)}/runs/${encodeURIComponent(answer.dag_run_id)}`;
    return { href, text: `Airflow run ${answer.dag_run_id}` };
  }

  // -- buttons: Sync, Dry run, Preprocess, Check now, Delete, Restore ------------------

  document.addEventListener("click", async (event) => {
    const button = event.target.closest("[data-action]");
    if (!button) return;
    event.preventDefault();
    const { action, url, done, reload } = button.dataset;
    if (button.dataset.confirm && !window.confirm(button.dataset.confirm)) return;
    button.disabled = true;
    try {
      const payload = button.dataset.body ? JSON.parse(button.dataset.body) : {};
      const method = action === "delete" ? "DELETE" : "POST";
      const answer = await call(method, url, method === "DELETE" ? undefined : payload);
      let message = done || "Done";
      if (answer && answer.bucket_file) message += ` (bucket file: ${answer.bucket_file})`;
      toast(message, false, runLink(answer));
      if (reload) setTimeout(() => window.location.reload(), 900);
      if (button.dataset.watch) watchProgress(button.dataset.watch, button.dataset.progress);
    } catch (error) {
      toast(error.message, true);
    } finally {
      button.disabled = false;
    }
  });

  // A sync just asked for shows up once Airflow runs it: look again a few times (the
  // fragment then polls itself while the sync runs).
  function watchProgress(dataset, url) {
    for (const delay of [3000, 8000, 15000, 30000]) {
      setTimeout(() => {
        const target = document.getElementById(`progress-${dataset}`);
        if (target && window.htmx && !target.hasAttribute("hx-trigger")) {
          window.htmx.ajax("GET", url, { target, swap: "outerHTML" });
        }
      }, delay);
    }
  }

  // Which card's panel is open.
  document.addEventListener("click", (event) => {
    const card = event.target.closest(".card");
    if (!card) return;
    for (const other of document.querySelectorAll(".card.selected")) other.classList.remove("selected");
    card.classList.add("selected");
  });

  // -- the item panel: user metadata and description, move ----------------------------

  function metaRow(key, value) {
    const row = el("tr");
    const keyCell = el("td");
    keyCell.append(el("input", { class: "meta-key", "aria-label": "key" }));
    keyCell.firstChild.value = key || "";
    const valueCell = el("td");
    valueCell.append(el("input", { class: "meta-value", "aria-label": "value" }));
    valueCell.firstChild.value = value || "";
    const removeCell = el("td");
    removeCell.append(el("button", { type: "button", class: "meta-remove", title: "remove" }, "✕"));
    row.append(keyCell, valueCell, removeCell);
    return row;
  }

  function parseValue(text) {
    try { return JSON.parse(text); } catch (e) { return text; }
  }

  function reloadPanel(item) {
    if (window.htmx && document.getElementById("panel")) {
      window.htmx.ajax("GET", item.dataset.panelUrl, { target: "#panel" });
    } else {
      window.location.reload();
    }
  }

  document.addEventListener("click", (event) => {
    if (event.target.id === "meta-add") {
      document.getElementById("meta-rows").append(metaRow("", ""));
    } else if (event.target.classList.contains("meta-remove")) {
      event.target.closest("tr").remove();
    }
  });

  document.addEventListener("submit", async (event) => {
    const form = event.target;
    if (form.id === "meta-editor") {
      event.preventDefault();
      const item = document.getElementById("item");
      const metadata = {};
      for (const row of form.querySelectorAll("#meta-rows tr")) {
        const key = row.querySelector(".meta-key").value.trim();
        if (key) metadata[key] = parseValue(row.querySelector(".meta-value").value);
      }
      const description = document.getElementById("description").value;
      try {
        await call("PATCH", item.dataset.apiItem, {
          metadata, replace: true, description: description.trim() ? description : null,
        });
        toast("Saved");
        reloadPanel(item);
      } catch (error) {
        toast(error.message, true);
      }
    } else if (form.id === "move-form") {
      event.preventDefault();
      const item = document.getElementById("item");
      try {
        const moved = await call("POST", `${item.dataset.apiItem}/move`, {
          path: document.getElementById("move-path").value,
        });
        toast(`Moved to ${moved.path}`);
        setTimeout(() => window.location.reload(), 900);
      } catch (error) {
        toast(error.message, true);
      }
    } else if (form.id === "driver-form") {
      event.preventDefault();
      createDriver(form);
    } else if (form.id === "csv-form") {
      event.preventDefault();
      importCsv();
    }
  });

  // -- Create Driver: the probe's report, kept or not ---------------------------------

  function probeTable(check) {
    const table = el("table", { class: "kv" });
    for (const [name, result] of Object.entries((check && check.permissions) || {})) {
      const row = el("tr");
      row.append(el("th", {}, name));
      row.append(el("td", { class: result.ok ? "ok" : (result.required ? "bad" : "muted") },
        `${result.ok ? "✔" : "✘"} ${result.message || ""}`));
      table.append(row);
    }
    return table;
  }

  async function createDriver(form) {
    const data = new FormData(form);
    const payload = {};
    for (const [key, value] of data.entries()) if (value !== "" && key !== "allow_delete") payload[key] = value;
    payload.allow_delete = data.get("allow_delete") === "on";
    const out = document.getElementById("driver-result");
    out.replaceChildren(el("p", { class: "muted" }, "Probing the bucket…"));
    try {
      const driver = await call("POST", form.dataset.url, payload);
      out.replaceChildren(el("p", { class: "ok" }, `Driver ${driver.name} created: every required permission holds.`),
        probeTable(driver.last_check));
      setTimeout(() => window.location.reload(), 2500);
    } catch (error) {
      const check = error.data && error.data.check;
      out.replaceChildren(el("p", { class: "error-line" }, `Not created: ${error.message}`));
      if (check) out.append(probeTable(check));
    }
  }

  // -- Upload: files and folders, one streamed PUT each --------------------------------

  const upload = document.getElementById("upload");
  if (upload) setUpUpload(upload);

  function setUpUpload(section) {
    const filesUrl = section.dataset.filesUrl;
    const list = section.querySelector("#upload-list tbody");
    const totalBar = document.getElementById("total-progress");
    const totalText = document.getElementById("total-text");
    const queue = [];
    const jobs = [];
    let running = 0;
    const PARALLEL = 3;

    function encodePath(path) {
      return path.split("/").filter(Boolean).map(encodeURIComponent).join("/");
    }

    function target(relative) {
      let folder = document.getElementById("upload-folder").value.trim() || "/";
      folder = "/" + folder.replace(/^\/+|\/+$/g, "");
      return (folder === "/" ? "" : folder) + "/" + relative.replace(/^\/+/, "");
    }

    function human(bytes) {
      const units = ["B", "KB", "MB", "GB", "TB"];
      let size = bytes, unit = 0;
      while (size >= 1024 && unit < units.length - 1) { size /= 1024; unit += 1; }
      return unit ? `${size.toFixed(1)} ${units[unit]}` : `${size} B`;
    }

    function updateTotal() {
      const total = jobs.reduce((sum, job) => sum + job.file.size, 0);
      const sent = jobs.reduce((sum, job) => sum + job.sent, 0);
      const finished = jobs.filter((job) => job.done).length;
      const failed = jobs.filter((job) => job.failed).length;
      totalBar.max = Math.max(total, 1);
      totalBar.value = sent;
      totalText.textContent = `${finished} of ${jobs.length} files done` +
        (failed ? `, ${failed} not uploaded` : "") + ` · ${human(sent)} of ${human(total)}`;
    }

    function add(file, relative) {
      const path = target(relative || file.name);
      const row = el("tr");
      const bar = el("progress", { max: Math.max(file.size, 1), value: 0 });
      const result = el("td", { class: "result" }, "queued");
      const progressCell = el("td");
      progressCell.append(bar);
      row.append(el("td", { class: "path" }, path), el("td", {}, human(file.size)), progressCell, result);
      list.append(row);
      const job = { file, path, bar, result, row, sent: 0, done: false, failed: false };
      jobs.push(job);
      queue.push(job);
      updateTotal();
    }

    function send(job) {
      running += 1;
      job.result.textContent = "sending";
      const overwrite = document.getElementById("upload-overwrite").checked;
      const xhr = new XMLHttpRequest();
      xhr.open("PUT", `${filesUrl}/${encodePath(job.path)}${overwrite ? "?overwrite=true" : ""}`);
      xhr.withCredentials = true;
      xhr.setRequestHeader("Content-Type", job.file.type || "application/octet-stream");
      xhr.upload.onprogress = (event) => {
        job.sent = event.loaded;
        job.bar.value = event.loaded;
        updateTotal();
      };
      xhr.onload = () => {
        let data = null;
        try { data = JSON.parse(xhr.responseText); } catch (e) { data = null; }
        if (xhr.status >= 200 && xhr.status < 300) {
          job.sent = job.file.size;
          job.bar.value = job.bar.max;
          job.result.textContent = data && data.status ? data.status : "done";
          job.row.className = `upload-${data && data.status}`;
        } else {
          job.failed = true;
          const detail = data && data.detail ? data.detail : `HTTP ${xhr.status}`;
          job.result.textContent = xhr.status === 409 ? `conflict: ${detail}` : detail;
          job.row.className = xhr.status === 409 ? "upload-conflict" : "upload-failed";
        }
        finish(job);
      };
      xhr.onerror = () => {
        job.failed = true;
        job.result.textContent = "the connection failed";
        job.row.className = "upload-failed";
        finish(job);
      };
      xhr.send(job.file);  // the browser streams the file from disk
    }

    function finish(job) {
      job.done = true;
      running -= 1;
      updateTotal();
      pump();
    }

    function pump() {
      while (running < PARALLEL && queue.length) send(queue.shift());
    }

    async function entries(entry, prefix) {
      if (entry.isFile) {
        const file = await new Promise((resolve, reject) => entry.file(resolve, reject));
        add(file, prefix + file.name);
        return;
      }
      const reader = entry.createReader();
      for (;;) {  // readEntries hands out a folder's entries in chunks of about 100
        const chunk = await new Promise((resolve, reject) => reader.readEntries(resolve, reject));
        if (!chunk.length) break;
        for (const child of chunk) await entries(child, `${prefix}${entry.name}/`);
      }
    }

    document.getElementById("pick-files").addEventListener("change", (event) => {
      for (const file of event.target.files) add(file, file.name);
      event.target.value = "";
      pump();
    });
    document.getElementById("pick-folder").addEventListener("change", (event) => {
      for (const file of event.target.files) add(file, file.webkitRelativePath || file.name);
      event.target.value = "";
      pump();
    });
    const zone = document.getElementById("dropzone");
    zone.addEventListener("dragover", (event) => { event.preventDefault(); zone.classList.add("over"); });
    zone.addEventListener("dragleave", () => zone.classList.remove("over"));
    zone.addEventListener("drop", async (event) => {
      event.preventDefault();
      zone.classList.remove("over");
      const items = [...(event.dataTransfer.items || [])];
      const found = items.map((item) => (item.webkitGetAsEntry ? item.webkitGetAsEntry() : null));
      if (found.some(Boolean)) {
        for (const entry of found) if (entry) await entries(entry, "");
      } else {
        for (const file of event.dataTransfer.files) add(file, file.name);
      }
      pump();
    });
  }

  // -- CSV import with its report -------------------------------------------------------

  async function importCsv() {
    const section = document.getElementById("csv-import");
    const input = document.getElementById("csv-file");
    const out = document.getElementById("csv-report");
    const file = input.files[0];
    if (!file) { toast("Choose a CSV file first", true); return; }
    out.replaceChildren(el("p", { class: "muted" }, `Sending ${file.name}…`));
    let record;
    try {
      const answer = await fetch(`${section.dataset.importsUrl}?name=${encodeURIComponent(file.name)}`, {
        method: "POST", credentials: "same-origin", headers: { "Content-Type": "text/csv" }, body: file,
      });
      record = await answer.json();
      if (!answer.ok) throw new Error(record.detail || `HTTP ${answer.status}`);
    } catch (error) {
      out.replaceChildren(el("p", { class: "error-line" }, error.message));
      return;
    }
    for (let round = 0; round < 600; round += 1) {
      showImport(out, record, section.dataset.importsUrl);
      if (!["pending", "running", "queued"].includes(record.status)) return;
      await new Promise((resolve) => setTimeout(resolve, 2000));
      try { record = await call("GET", `${section.dataset.importsUrl}/${record.id}`); } catch (e) { return; }
    }
  }

  function showImport(out, record, base) {
    const table = el("table", { class: "kv", id: "csv-result" });
    const rows = [["import", `#${record.id} ${record.file_name}`], ["status", record.status],
      ["rows", record.rows], ["valid", record.valid], ["created", record.created],
      ["updated", record.updated], ["skipped", record.skipped], ["failed", record.failed]];
    if (record.error) rows.push(["error", record.error]);
    if (record.run && record.run.error) rows.push(["run", record.run.error]);
    for (const [key, value] of rows) {
      const row = el("tr");
      row.append(el("th", {}, key), el("td", {}, value === null || value === undefined ? "—" : value));
      table.append(row);
    }
    out.replaceChildren(table);
    for (const warning of record.warnings || []) out.append(el("p", { class: "muted" }, warning));
    if (record.failed) out.append(el("a", { href: `${base}/${record.id}/errors.csv` }, "Rejected rows (CSV)"));
    const link = runLink({ dag_id: "tributary_csv_ingest", dag_run_id: record.dag_run_id || (record.run && record.run.dag_run_id) });
    if (link) { out.append(" · "); out.append(el("a", { href: link.href, target: "_top" }, link.text)); }
  }
})();
