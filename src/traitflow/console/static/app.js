// The traitflow console: plain JavaScript over the admin API, no build step, no network
// beyond the worker that served it. Every value from the API is written with textContent.
"use strict";

const HEADERS = { "X-Traitflow-Console": "1" };
const $ = (id) => document.getElementById(id);
let feed = null;         // the live EventSource, open while the live page is shown
let refresher = null;    // refreshes the segments table while that page is shown
const REFRESH_MS = 5000;
let membersCursor = null;
let shownSegment = null;

class Unauthorized extends Error {}

async function api(path, options = {}) {
  const response = await fetch(path, {
    credentials: "same-origin",
    ...options,
    headers: { ...HEADERS, ...(options.headers || {}) },
  });
  const body = await response.json().catch(() => ({}));
  if (response.status === 401) throw new Unauthorized(body.message || "sign in");
  if (!response.ok) throw new Error(body.message || `${response.status} ${response.statusText}`);
  return body;
}

function element(tag, text, attributes = {}) {
  const made = document.createElement(tag);
  if (text !== undefined && text !== null) made.textContent = String(text);
  for (const [name, value] of Object.entries(attributes)) made.setAttribute(name, value);
  return made;
}

function fill(list, items, render) {
  list.replaceChildren(...items.map(render));
}

function row(cells) {
  const tr = element("tr");
  cells.forEach((cell) => tr.append(cell instanceof Node ? wrap(cell) : element("td", cell)));
  return tr;
}

function wrap(node) {
  const td = element("td");
  td.append(node);
  return td;
}

// --- pages ---------------------------------------------------------------------------

const PAGES = ["segments", "editor", "person", "live", "dead-letters"];

async function show() {
  const wanted = location.hash.slice(1).split("/")[0] || "segments";
  const page = PAGES.includes(wanted) ? wanted : "segments";
  for (const name of PAGES) $(name).hidden = name !== page;
  document.querySelectorAll("nav a").forEach((link) => {
    if (link.getAttribute("href") === `#${page}`) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  });
  if (page !== "live" && feed) { feed.close(); feed = null; }
  clearInterval(refresher);
  if (page === "segments") refresher = setInterval(() => loadCounts().catch(failed), REFRESH_MS);
  try {
    await LOADERS[page]();
    $("sign-in-page").hidden = true;
    $("nav").hidden = false;
  } catch (error) {
    if (!(error instanceof Unauthorized)) throw error;
    signInPage();
  }
}

function signInPage() {
  clearInterval(refresher);
  for (const name of PAGES) $(name).hidden = true;
  $("nav").hidden = true;
  $("sign-in-page").hidden = false;
  $("token").focus();
}

const LOADERS = {
  "segments": loadSegments,
  "editor": async () => { await api("/admin/backfills"); checkSoon(); },
  "person": async () => {
    await api("/admin/backfills");
    const asked = decodeURIComponent(location.hash.split("/")[1] || "");
    if (asked) { $("person-id").value = asked; await lookUp(asked); }
  },
  "live": openFeed,
  "dead-letters": loadDeadLetters,
};

// --- segments ------------------------------------------------------------------------

async function loadSegments() {
  await loadCounts();
  if (shownSegment) await openSegment(shownSegment);
}

async function loadCounts() {
  const counts = await api("/admin/segments");
  const body = $("segment-table").tBodies[0];
  const focused = body.contains(document.activeElement) ? document.activeElement.dataset.key : null;
  fill(body, counts.segments, (segment) => {
    const tr = row([segment.key, segment.name, segment.members, segment.rev]);
    tr.className = "selectable";
    tr.tabIndex = 0;
    tr.dataset.key = segment.key;
    tr.addEventListener("click", () => openSegment(segment.key));
    tr.addEventListener("keydown", (e) => { if (e.key === "Enter") openSegment(segment.key); });
    return tr;
  });
  if (!counts.segments.length) body.append(row(["no live segments yet: write one in the editor", "", "", ""]));
  const refocus = [...body.rows].find((tr) => tr.dataset.key === focused);
  if (refocus) refocus.focus();  // a refresh keeps the keyboard's place
  if (shownSegment) drawSizes((await api(`/admin/segments/${encodeURIComponent(shownSegment)}/sizes`)).points);
  const missing = counts.partitions.missing;
  $("counts-note").textContent = missing.length
    ? `Counts leave out partitions ${missing.join(", ")}: no worker answered for them.`
    : `Counted over all ${counts.partitions.counted.length} partitions.`;
  const backfills = await api("/admin/backfills");
  const behind = backfills.partitions.filter((p) => p.version < backfills.version || !p.finished);
  $("backfills").textContent = behind.length
    ? `Backfill running on partitions ${behind.map((p) => p.partition).join(", ")} (definitions v${backfills.version}).`
    : `Every partition is decided at definitions v${backfills.version}.`;
}

async function openSegment(key) {
  shownSegment = key;
  const path = `/admin/segments/${encodeURIComponent(key)}`;
  const [segment, sizes, history] = await Promise.all([
    api(path), api(`${path}/sizes`), api(`${path}/history`),
  ]);
  $("segment-detail").hidden = false;
  $("detail-title").textContent = `${segment.name} (${segment.key})`;
  drawSizes(sizes.points);
  fill($("history-list"), history.changes, (change) =>
    element("li", `${change.at} ${change.action} rev ${change.revision || "-"} (v${change.version}) by ${change.by}`));
  $("member-list").replaceChildren();
  membersCursor = "";
  await moreMembers();
  $("edit-segment").onclick = () => { $("definition").value = segment.yaml; location.hash = "#editor"; };
  $("delete-segment").onclick = () => deleteSegment(key);
}

async function moreMembers() {
  const path = `/admin/segments/${encodeURIComponent(shownSegment)}/members`;
  const page = await api(`${path}?limit=50&cursor=${encodeURIComponent(membersCursor || "")}`);
  for (const person of page.members) {
    const link = element("a", person, { href: `#person/${encodeURIComponent(person)}` });
    const item = element("li");
    item.append(link);
    $("member-list").append(item);
  }
  membersCursor = page.next;
  $("more-members").hidden = !page.next;
}

function drawSizes(points) {
  const svg = $("size-chart");
  svg.replaceChildren();
  if (!points.length) {
    svg.append(svgNode("text", { x: 10, y: 80 }, "no samples yet (one a minute)"));
    return;
  }
  const top = Math.max(1, ...points.map((p) => p.members));
  const first = points[0].at_ms, span = Math.max(1, points[points.length - 1].at_ms - first);
  const xy = points.map((p) => [10 + 580 * (p.at_ms - first) / span, 150 - 130 * p.members / top]);
  if (xy.length === 1) xy.push([590, xy[0][1]]);
  svg.append(svgNode("polyline", { points: xy.map((p) => p.join(",")).join(" ") }));
  svg.append(svgNode("text", { x: 10, y: 14 }, `${top} members`));
  const last = points[points.length - 1];
  $("size-caption").textContent =
    `Members over time: ${last.members} now; ${points.length} ${points.length === 1 ? "sample" : "samples"} since ${new Date(first).toISOString()}`;
}

function svgNode(tag, attributes, text) {
  const made = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [name, value] of Object.entries(attributes)) made.setAttribute(name, value);
  if (text) made.textContent = text;
  return made;
}

async function deleteSegment(key) {
  if (!confirm(`Delete segment ${key}? Its members exit.`)) return;
  await api(`/admin/segments/${encodeURIComponent(key)}`, { method: "DELETE" });
  shownSegment = null;
  $("segment-detail").hidden = true;
  await waitFor(async () => !(await api("/admin/segments")).segments.some((s) => s.key === key));
  await loadSegments();
}

async function waitFor(test, seconds = 20) {
  for (let i = 0; i < seconds * 4; i++) {
    if (await test()) return;
    await new Promise((done) => setTimeout(done, 250));
  }
}

// --- editor --------------------------------------------------------------------------

let checkTimer = null;
function checkSoon() {
  clearTimeout(checkTimer);
  checkTimer = setTimeout(check, 300);
}

async function check() {
  const result = $("check-result");
  try {
    const checked = await api("/admin/definitions/check", { method: "POST", body: $("definition").value });
    result.className = "ok";
    result.textContent = "Valid: " + checked.definitions
      .map((d) => `${d.kind} ${d.key} (${d.change})`).join(", ");
    return true;
  } catch (error) {
    if (error instanceof Unauthorized) return signInPage();
    result.className = "error";
    result.textContent = error.message;
    return false;
  }
}

async function preview() {
  if (!(await check())) return;
  const found = await api("/admin/definitions/preview", { method: "POST", body: $("definition").value });
  $("preview-result").hidden = false;
  const sampled = found.fraction < 1 ? ` (a sample: ${Math.round(found.fraction * 100)}% of ${found.profiles} profiles)` : "";
  const unknown = found.new_features.length
    ? ` Not counted yet: ${found.new_features.join(", ")}; applying replays their history.` : "";
  $("preview-summary").textContent =
    `${found.members.count} members of ${found.scanned} profiles read${sampled}; ` +
    `${found.entering.count} would enter, ${found.exiting.count} would exit.${unknown}`;
  const people = (id, tally) => fill($(id), tally.sample, (person) => element("li", person));
  people("preview-members", found.members);
  people("preview-entering", found.entering);
  people("preview-exiting", found.exiting);
}

async function apply() {
  if (!(await check())) return;
  const applied = await api("/admin/definitions", { method: "POST", body: $("definition").value });
  const replay = applied.replay ? ` History is replayed from ${applied.replay.history_from}.` : "";
  $("apply-result").className = "ok";
  $("apply-result").textContent =
    `Applied ${applied.definitions.map((d) => d.key).join(", ")} as definitions v${applied.version}.${replay}`;
}

// --- person --------------------------------------------------------------------------

async function lookUp(person) {
  $("person-error").textContent = "";
  let profile;
  try {
    profile = await api(`/admin/profiles/${encodeURIComponent(person)}`);
  } catch (error) {
    if (error instanceof Unauthorized) throw error;
    $("person-detail").hidden = true;
    $("person-error").textContent = error.message;
    return;
  }
  $("person-detail").hidden = false;
  const merged = profile.requested ? ` (asked for ${profile.requested}, merged into this person)` : "";
  $("person-title").textContent = `${profile.person}${merged}`;
  const segments = Object.keys(profile.memberships).sort();
  fill($("membership-table").tBodies[0], segments, (key) => {
    const membership = profile.memberships[key];
    const why = element("button", "Explain", { type: "button" });
    why.addEventListener("click", () => explain(profile.person, key));
    return row([key, membership.member ? "yes" : "no", new Date(membership.since_ms).toISOString(),
                membership.version, why]);
  });
  $("explanation").textContent = "";
  $("traits").textContent = JSON.stringify(profile.traits, null, 2);
  $("computed").textContent = JSON.stringify(profile.computed, null, 2);
  fill($("activity"), profile.activity, (a) =>
    element("li", `${a.types.join("/")} ${a.event ?? "(any)"}: ${a.count}, latest ${a.recent.join(", ") || "-"}`));
}

async function explain(person, segment) {
  const found = await api(`/admin/profiles/${encodeURIComponent(person)}/segments/${encodeURIComponent(segment)}`);
  const verdict = found.member ? "is a member of" : "is not a member of";
  $("explanation").textContent = [`${person} ${verdict} ${segment}`, ...found.lines].join("\n");
}

// --- live events and dead letters ----------------------------------------------------

async function openFeed() {
  const recent = await api("/admin/membership?limit=20");
  fill($("live-events"), recent.events.slice().reverse(), eventLine);
  if (feed) return;
  feed = new EventSource("/admin/membership/live");
  feed.onopen = () => { $("live-status").textContent = "Connected: new events appear at the top."; };
  feed.onerror = () => {  // a refusal (401, or 503: too many feeds open) is not retried
    $("live-status").textContent = feed.readyState === EventSource.CLOSED
      ? "The worker refused the feed: the session ended, or too many live feeds are open " +
        "(TRAITFLOW_ADMIN_MAX_LIVE_FEEDS). Close other tabs and open this page again."
      : "Connection lost; retrying.";
  };
  feed.onmessage = (message) => {
    $("live-events").prepend(eventLine(JSON.parse(message.data)));
    while ($("live-events").children.length > 200) $("live-events").lastChild.remove();
  };
}

function eventLine(event) {
  const entered = event.type === "audience.entered";
  const who = event.user_id || `anon:${event.anonymous_id}`;
  const item = element("li", `${event.at || ""} ${entered ? "entered" : "exited"} ${event.segment} ${who} (v${event.version})`);
  item.className = entered ? "entered" : "exited";
  return item;
}

async function loadDeadLetters() {
  const found = await api("/admin/dead-letters?limit=100");
  const body = $("dead-letter-table").tBodies[0];
  fill(body, found.dead_letters, (d) => row([d.at, d.reason, d.source, d.preview.slice(0, 120)]));
  if (!found.dead_letters.length) body.append(row(["none", "", "", ""]));
}

// --- wiring --------------------------------------------------------------------------

function failed(error) {
  if (error instanceof Unauthorized) return signInPage();
  const shown = document.querySelector("section.page:not([hidden]) .error") || $("apply-result");
  shown.className = "error";
  shown.textContent = error.message;
}

function on(id, event, handler) {
  $(id).addEventListener(event, (e) => { Promise.resolve(handler(e)).catch(failed); });
}

document.addEventListener("DOMContentLoaded", () => {
  on("sign-in", "submit", async (e) => {
    e.preventDefault();
    try {
      await api("/console/session", { method: "POST", body: JSON.stringify({ token: $("token").value }) });
    } catch (error) {
      $("sign-in-error").textContent = error.message;
      return;
    }
    $("token").value = "";
    $("sign-in-error").textContent = "";
    await show();
  });
  on("sign-out", "click", async () => {
    await fetch("/console/session", { method: "DELETE", headers: HEADERS });
    if (feed) { feed.close(); feed = null; }
    signInPage();
  });
  on("definition", "input", checkSoon);
  on("preview", "click", preview);
  on("apply", "click", apply);
  on("more-members", "click", moreMembers);
  on("person-form", "submit", async (e) => {
    e.preventDefault();
    location.hash = `#person/${encodeURIComponent($("person-id").value.trim())}`;
  });
  window.addEventListener("hashchange", () => show().catch(failed));
  show().catch(failed);
});
