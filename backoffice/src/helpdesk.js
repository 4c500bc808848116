// The help-desk page: signs in, then follows /helpdesk/events and redraws the table.
// Everything an installation or a help desk wrote is shown through textContent, never as
// HTML.
"use strict";

let events = null;

// What the badges mean, shown as their tooltips.
const VPN_MEANING = "connected to the back office now";
const RDP_MEANING = "remote assistance allowed, TeamViewer ID known";

function cell(row, className, text) {
  const td = document.createElement("td");
  td.className = className;
  td.textContent = text || "";
  row.appendChild(td);
  return td;
}

// An RFC 3339 time in the browser's local time.
function localTime(text) {
  return text ? new Date(text).toLocaleString() : "";
}

function badge(name, meaning) {
  const span = document.createElement("span");
  span.className = "badge badge-" + name.toLowerCase();
  span.textContent = name;
  span.title = meaning;
  return span;
}

function allowedText(installation) {
  return installation.allowed_until ? "allowed until " + localTime(installation.allowed_until) : "not allowed";
}

function sessionText(installation) {
  const session = installation.remote_session;
  return session ? "remote session by " + session.help_desk_user + " since " + localTime(session.started_at) : "";
}

function assistanceText(assistance) {
  if (!assistance) return "";
  switch (assistance.answer) {
    case null:
    case undefined:
      return "waiting for the answer";
    case "accepted":
      return "accepted: connect to TeamViewer ID " + assistance.teamviewer_id +
        " (allowed until " + localTime(assistance.until) + ")";
    case "denied":
      return "denied";
    case "no-answer":
      return "no answer";
    case "not-allowed":
      return "not allowed";
    default:
      return assistance.answer;
  }
}

// Why the request button is disabled, or what it does.
function requestTitle(installation) {
  if (!installation.vpn) return "the installation is not connected to the back office now";
  if (!installation.allowed_until) return "remote assistance is not allowed on this installation";
  if (!installation.teamviewer_id) return "the installation has not reported its TeamViewer ID yet";
  return "ask the installation's user to allow a remote session";
}

function draw(installations) {
  const body = document.querySelector("#installations tbody");
  body.replaceChildren();
  for (const installation of installations) {
    const row = document.createElement("tr");
    row.dataset.serial = installation.serial_number;
    cell(row, "serial", installation.serial_number);
    cell(row, "host", installation.hostname);
    const state = cell(row, "state", installation.online ? "online" : "offline");
    state.classList.add(installation.online ? "state-online" : "state-offline");
    cell(row, "last-seen", installation.last_seen ? localTime(installation.last_seen) : "never");
    const connect = cell(row, "connect", "");
    if (installation.rdp) connect.appendChild(badge("RDP", RDP_MEANING));
    if (installation.vpn) connect.appendChild(badge("VPN", VPN_MEANING));
    if (installation.online) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "request-assistance";
      button.textContent = "Request remote assistance";
      button.disabled = !installation.rdp;
      button.title = requestTitle(installation);
      button.addEventListener("click", () => requestAssistance(installation.serial_number));
      connect.appendChild(button);
    }
    cell(row, "allowed", allowedText(installation));
    cell(row, "session", sessionText(installation));
    const assistance = cell(row, "assistance", assistanceText(installation.assistance));
    if (installation.assistance) {
      assistance.title = "requested by " + installation.assistance.help_desk_user + " at " +
        localTime(installation.assistance.requested_at);
    }
    body.appendChild(row);
  }
}

function follow() {
  if (events) events.close();
  events = new EventSource("/helpdesk/events");
  const live = document.getElementById("live");
  events.addEventListener("installations", (event) => {
    live.textContent = "live";
    draw(JSON.parse(event.data));
  });
  events.addEventListener("error", () => { live.textContent = "reconnecting…"; });
}

async function requestAssistance(serial) {
  const problem = document.getElementById("desk-error");
  problem.textContent = "";
  const message = "The help desk would like to connect to help you.";
  const answer = await fetch("/helpdesk/installations/" + encodeURIComponent(serial) + "/assistance", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ message }),
  });
  if (!answer.ok) {
    const refusal = await answer.json().catch(() => ({ message: answer.statusText }));
    problem.textContent = refusal.message;
  }
}

async function signIn(event) {
  event.preventDefault();
  const error = document.getElementById("sign-in-error");
  error.textContent = "";
  const user = document.getElementById("user").value;
  const answer = await fetch("/helpdesk/sign-in", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ user, password: document.getElementById("password").value }),
  });
  if (!answer.ok) {
    const problem = await answer.json().catch(() => ({ message: "sign-in failed" }));
    error.textContent = problem.message;
    return;
  }
  document.getElementById("password").value = "";
  document.getElementById("sign-in").hidden = true;
  document.getElementById("desk").hidden = false;
  document.getElementById("who").textContent = user;
  follow();
}

async function signOut() {
  if (events) events.close();
  await fetch("/helpdesk/sign-out", { method: "POST" });
  document.getElementById("desk").hidden = true;
  document.getElementById("sign-in").hidden = false;
}

document.getElementById("sign-in").addEventListener("submit", signIn);
document.getElementById("sign-out").addEventListener("click", signOut);
