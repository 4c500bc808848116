// The help-desk page: signs in, then follows /helpdesk/events and redraws the table.
"use strict";

let events = null;

function cell(row, className, text) {
  const td = document.createElement("td");
  td.className = className;
  td.textContent = text || "";
  row.appendChild(td);
  return td;
}

function assistanceText(assistance) {
  if (!assistance) return "";
  if (!assistance.answer) return "requested by " + assistance.help_desk_user + ", waiting for the answer";
  if (assistance.answer === "accepted") {
    return "accepted: TeamViewer ID " + assistance.teamviewer_id + (assistance.until ? " until " + assistance.until : "");
  }
  return "denied";
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
    cell(row, "last-seen", installation.last_seen ? new Date(installation.last_seen).toLocaleString() : "never");
    const connect = cell(row, "connect", "");
    if (installation.online) {
      for (const name of ["RDP", "VPN"]) {
        const badge = document.createElement("span");
        badge.className = "badge";
        badge.textContent = name;
        connect.appendChild(badge);
      }
      const button = document.createElement("button");
      button.type = "button";
      button.className = "request-assistance";
      button.textContent = "Request assistance";
      button.addEventListener("click", () => requestAssistance(installation.serial_number));
      connect.appendChild(button);
    }
    cell(row, "assistance", assistanceText(installation.assistance));
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
  const message = "The help desk would like to connect to help you.";
  const answer = await fetch("/helpdesk/installations/" + encodeURIComponent(serial) + "/assistance", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ message }),
  });
  if (!answer.ok) {
    const problem = await answer.json().catch(() => ({ message: answer.statusText }));
    alert(problem.message);
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
