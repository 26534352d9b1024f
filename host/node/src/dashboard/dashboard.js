// The node's dashboard: polls the API every two seconds and draws what it
// finds. Plain JavaScript, no build step; every figure comes from the node.
"use strict";

const $ = (id) => document.getElementById(id);
let token = localStorage.getItem("clusterai-token") || "";

async function api(path) {
  const headers = token ? { Authorization: "Bearer " + token } : {};
  const r = await fetch(path, { headers });
  if (r.status === 401) {
    $("auth").style.display = "block";
    throw new Error("unauthorized");
  }
  if (!r.ok) throw new Error(path + ": " + r.status);
  return r.json();
}

function cell(text, cls) {
  const td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  return td;
}

function rows(tbody, items, toCells) {
  tbody.replaceChildren(...items.map((item) => {
    const tr = document.createElement("tr");
    tr.append(...toCells(item));
    return tr;
  }));
}

function short(hash) {
  return hash ? hash.slice(0, 12) + "…" : "";
}

function ago(ms) {
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  return s < 60 ? s + " s" : Math.round(s / 60) + " min";
}

function line(svg, series, colors) {
  const max = Math.max(1e-9, ...series.flat());
  const n = Math.max(2, ...series.map((s) => s.length));
  svg.replaceChildren(...series.map((s, k) => {
    const p = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
    p.setAttribute("points", s.map((v, i) => (i * 400 / (n - 1)).toFixed(1) + "," + (135 - v / max * 125).toFixed(1)).join(" "));
    p.setAttribute("fill", "none");
    p.setAttribute("stroke", colors[k]);
    p.setAttribute("stroke-width", "2");
    return p;
  }));
}

// The output a running task streams (tokens of a generation, say), shown as
// it comes: the newest running task is followed over its event stream (a
// fetch, not an EventSource, so that the token travels in a header).
let following = null;

async function follow(id) {
  following = id;
  $("stream-task").textContent = short(id);
  $("stream-text").textContent = "";
  const headers = token ? { Authorization: "Bearer " + token } : {};
  const r = await fetch("/v1/tasks/" + id + "/events", { headers });
  if (!r.ok || !r.body) return;
  const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done || following !== id) break;
    buf += value;
    let end;
    while ((end = buf.indexOf("\n\n")) >= 0) {
      const frame = buf.slice(0, end);
      buf = buf.slice(end + 2);
      const data = frame.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trim()).join("");
      if (!data) continue;
      const e = JSON.parse(data);
      if (e.event === "output" && e.text !== undefined) {
        const pre = $("stream-text");
        pre.textContent += e.text;
        pre.scrollTop = pre.scrollHeight;
      }
    }
  }
}

async function refresh() {
  try {
    const [node, stats, running, queued, plugins, models] = await Promise.all([
      api("/v1/node"), api("/v1/stats"),
      api("/v1/tasks?state=running&limit=20"), api("/v1/tasks?state=queued&limit=20"),
      api("/v1/plugins"), api("/v1/models"),
    ]);
    $("auth").style.display = "none";
    $("node-id").textContent = node.node_id;
    $("version").textContent = node.version;
    $("provider").textContent = node.execution_provider;
    $("ready").textContent = node.ready ? "yes" : "no";
    $("ready").className = node.ready ? "ok" : "bad";
    $("uptime").textContent = node.uptime_secs + " s";
    $("iroh").textContent = node.iroh_addr;
    $("count-queued").textContent = stats.queued;
    $("count-running").textContent = stats.running;
    $("count-succeeded").textContent = stats.succeeded;
    $("count-failed").textContent = stats.failed;
    $("count-cancelled").textContent = stats.cancelled;
    const pts = stats.points;
    line($("chart-throughput"), [pts.map((p) => p.per_second)], ["#3b63d8"]);
    line($("chart-latency"), [pts.map((p) => p.p50_ms), pts.map((p) => p.p99_ms)], ["#1f8a4c", "#c0392b"]);
    const last = pts[pts.length - 1] || { per_second: 0, p50_ms: 0, p99_ms: 0 };
    $("throughput-now").textContent = last.per_second.toFixed(1);
    $("latency-p50").textContent = last.p50_ms.toFixed(1);
    $("latency-p99").textContent = last.p99_ms.toFixed(1);
    const newest = running.tasks[0];
    if (newest && newest.id !== following) follow(newest.id);
    rows($("live"), running.tasks.concat(queued.tasks), (t) => [
      cell(short(t.id), "mono"), cell(t.plugin_name), cell(t.state), cell(ago(t.started_ms || t.created_ms)),
    ]);
    rows($("plugins"), plugins, (p) => [
      cell(p.name), cell(p.version), cell(short(p.hash), "mono"), cell(p.models.length),
    ]);
    rows($("models"), models, (m) => [
      cell(short(m.hash), "mono"), cell(m.size), cell(m.inputs.map((i) => i.name + " " + i.dtype).join(", ")), cell(m.execution_provider),
    ]);
    rows($("failures"), stats.recent_failures, (f) => [
      cell(short(f.id), "mono"), cell(f.plugin), cell(f.kind, "bad"), cell(f.message),
    ]);
  } catch (e) {
    console.log(e.message);
  }
}

$("save-token").addEventListener("click", () => {
  token = $("token").value.trim();
  localStorage.setItem("clusterai-token", token);
  refresh();
});
refresh();
setInterval(refresh, 2000);
