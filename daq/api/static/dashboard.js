// jx-daq dashboard: live progress by polling the JSON API (with the session cookie), and the
// job buttons (through the API, with the page's CSRF token). Pages work without it, minus
// the live updates and buttons.
"use strict";

(() => {
  const body = document.body;
  const API = body.dataset.api;
  const BASE = body.dataset.base;
  const CSRF = body.dataset.csrf;
  const POLL_MS = 2000;
  const FINAL = new Set(["completed", "failed", "cancelled"]);

  // Same wording as the server's duration filter.
  function duration(seconds) {
    if (seconds === null || seconds === undefined) return "—";
    const s = Math.round(seconds);
    const pad = (n) => String(n).padStart(2, "0");
    if (s < 60) return `${s} s`;
    if (s < 3600) return `${Math.floor(s / 60)} min ${pad(s % 60)} s`;
    if (s < 86400) return `${Math.floor(s / 3600)} h ${pad(Math.floor((s % 3600) / 60))} min`;
    return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
  }

  function set(root, field, text) {
    for (const el of root.querySelectorAll(`[data-field="${field}"]`)) el.textContent = text;
  }

  async function api(method, path) {
    const headers = { Accept: "application/json" };
    if (method !== "GET") headers["X-CSRF-Token"] = CSRF;
    const answer = await fetch(API + path, { method, headers, credentials: "same-origin" });
    if (answer.status === 401) window.location.reload(); // the session ended: log in again
    const data = await answer.json().catch(() => ({}));
    if (!answer.ok) {
      const detail = typeof data.detail === "string" ? data.detail : `error ${answer.status}`;
      throw new Error(detail);
    }
    return data;
  }

  function showProgress(root, job) {
    const p = job.progress;
    root.dataset.state = job.state;
    for (const bar of root.querySelectorAll('[data-field="bar"]')) {
      bar.max = Math.max(p.count, 1);
      bar.value = p.done;
      bar.textContent = `${Math.round(p.fraction * 100)} %`;
    }
    set(root, "state", job.state);
    set(root, "done", p.done);
    set(root, "count", p.count);
    set(root, "percent", `${Math.round(p.fraction * 100)} %`);
    set(root, "captured", p.captured);
    set(root, "failed", p.failed);
    set(root, "rate", `${p.rate_per_s.toFixed(2)} takes/s`);
    set(root, "eta", duration(p.eta_s));
  }

  function every(ms, step) {
    let timer = null;
    const tick = async () => {
      let again = true;
      try {
        again = (await step()) !== false;
      } catch (error) {
        console.warn("dashboard refresh failed:", error);
      }
      if (again) timer = window.setTimeout(tick, ms);
    };
    timer = window.setTimeout(tick, ms);
    return () => window.clearTimeout(timer);
  }

  // -- the jobs page: each active row follows its job ----------------------------------------
  function jobsPage() {
    every(POLL_MS, async () => {
      const rows = [...document.querySelectorAll("tr[data-job]")].filter(
        (row) => !FINAL.has(row.dataset.state),
      );
      for (const row of rows) showProgress(row, await api("GET", `/jobs/${row.dataset.job}`));
      return rows.length > 0;
    });
  }

  // -- a job's page: progress, rigs, buttons, new takes ------------------------------------
  function jobPage(main) {
    const id = main.dataset.job;
    const takes = main.querySelector('[data-field="takes"]');
    const more = main.querySelector('[data-field="more"]');
    let done = -1;

    function showRigs(rigs) {
      const tbody = main.querySelector('[data-field="rigs"]');
      const rows = rigs.map((rig) => {
        const tr = document.createElement("tr");
        for (const text of [rig.rig, `${rig.rate_per_s.toFixed(2)} takes/s`, rig.claimed]) {
          const td = document.createElement("td");
          td.textContent = text;
          tr.append(td);
        }
        return tr;
      });
      if (rows.length) tbody.replaceChildren(...rows);
    }

    function showButtons(state) {
      const visible = {
        pause: state === "queued" || state === "running",
        resume: state === "paused",
        cancel: !FINAL.has(state),
      };
      for (const button of main.querySelectorAll("button[data-action]")) {
        button.hidden = !visible[button.dataset.action];
      }
    }

    async function appendTakes() {
      const limit = Number(takes.dataset.limit) - takes.rows.length;
      if (limit <= 0 || !more.hidden) return;
      const query = new URLSearchParams({ limit });
      if (takes.dataset.cursor) query.set("cursor", takes.dataset.cursor);
      const answer = await fetch(`${BASE}/jobs/${id}/takes?${query}`, { credentials: "same-origin" });
      if (answer.redirected) window.location.reload(); // to the login page: the session ended
      if (!answer.ok || answer.redirected) throw new Error(`takes: error ${answer.status}`);
      takes.insertAdjacentHTML("beforeend", await answer.text()); // rendered and escaped by the server
      takes.dataset.cursor = answer.headers.get("X-Next-Cursor") || "";
      if (answer.headers.get("X-More") === "1" || takes.rows.length >= Number(takes.dataset.limit)) {
        more.href = `${BASE}/jobs/${id}?cursor=${encodeURIComponent(takes.dataset.cursor)}`;
        more.hidden = false;
      }
    }

    async function refresh() {
      const job = await api("GET", `/jobs/${id}`);
      showProgress(main, job);
      set(main, "reason", job.state_reason || "");
      showRigs(job.progress.rigs);
      showButtons(job.state);
      if (job.progress.captured !== done) {
        done = job.progress.captured;
        await appendTakes();
      }
      if (FINAL.has(job.state) && job.finished_at) {
        set(main, "finished", new Date(job.finished_at).toISOString().replace("T", " ").slice(0, 19) + " UTC");
      }
      return !FINAL.has(job.state);
    }

    for (const button of main.querySelectorAll("button[data-action]")) {
      button.addEventListener("click", async () => {
        const action = button.dataset.action;
        if (action === "cancel" && !window.confirm(`Cancel job ${id} for good?`)) return;
        try {
          await api("POST", `/jobs/${id}/${action}`);
          set(main, "message", "");
          if (await refresh()) poll(); // a resumed job is followed again
        } catch (error) {
          set(main, "message", error.message);
        }
      });
    }
    let stop = () => {};
    const poll = () => {
      stop();
      stop = every(POLL_MS, refresh);
    };
    if (!FINAL.has(main.dataset.state)) poll();
  }

  // -- rigs: status, heartbeat, latency -------------------------------------------------------
  function rigsPage() {
    every(5000, async () => {
      for (const rig of await api("GET", "/rigs")) {
        const row = document.querySelector(`tr[data-rig="${CSS.escape(rig.name)}"]`);
        if (!row) continue;
        const status = row.querySelector('[data-field="status"]');
        status.className = `status status-${rig.status}`;
        set(row, "status", rig.status);
        set(row, "reason", rig.status_reason || "");
        set(row, "age", rig.heartbeat_age_s === null ? "" : `${duration(rig.heartbeat_age_s)} ago`);
        set(row, "latency", rig.latency_s === null ? "—" : `${(rig.latency_s * 1000).toFixed(1)} ms`);
        set(row, "drift", rig.drift && rig.drift.value !== null ? `${rig.drift.value.toFixed(2)} dB` : "—");
      }
    });
  }

  const main = document.querySelector("main");
  const page = main.dataset.page;
  if (page === "jobs") jobsPage();
  else if (page === "job") jobPage(main);
  else if (page === "rigs") rigsPage();
})();
