// The psu-sched admin's one script, served from the binary (script-src 'self'). Every page
// works without it; it only adds:
// - the schedule preview as you type (the form's Preview button does the same on a reload);
// - an execution that is still running reloads its page once the run has ended;
// - a form shown again with errors moves the focus to their list.
"use strict";

(function () {
  const summary = document.querySelector(".error-summary[tabindex]");
  if (summary) summary.focus();

  const form = document.querySelector("form[data-preview]");
  const out = document.getElementById("preview");
  if (form && out) {
    const schedule = form.elements.namedItem("schedule");
    const zone = form.elements.namedItem("timezone");
    let timer = 0;
    let asked = 0;
    const draw = (p) => {
      const parts = [];
      const line = (cls, text) => {
        const el = document.createElement("p");
        el.className = cls;
        el.textContent = text;
        parts.push(el);
      };
      if (p.error) {
        line("field-error", p.error);
      } else if (p.reading) {
        line("words", p.reading + ", in " + p.zone + ". Next runs:");
        const list = document.createElement("ol");
        for (const run of p.runs) {
          const item = document.createElement("li");
          item.textContent = run;
          list.appendChild(item);
        }
        parts.push(list);
      } else {
        line("words", "Type a schedule to see its next runs.");
      }
      out.replaceChildren(...parts);
    };
    const update = () => {
      const n = ++asked;
      const query = new URLSearchParams({ schedule: schedule.value, timezone: zone.value });
      fetch("/preview?" + query, { credentials: "same-origin" })
        .then((r) => (r.ok ? r.json() : Promise.reject(r.status)))
        .then((p) => {
          if (n === asked) draw(p);
        })
        .catch(() => {});
    };
    const later = () => {
      clearTimeout(timer);
      timer = setTimeout(update, 250);
    };
    schedule.addEventListener("input", later);
    zone.addEventListener("input", later);
    zone.addEventListener("change", later);
  }

  const running = document.querySelector("[data-poll]");
  if (running) {
    const url = running.getAttribute("data-poll");
    const ask = () => {
      fetch(url, { credentials: "same-origin" })
        .then((r) => (r.ok ? r.json() : Promise.reject(r.status)))
        .then((s) => {
          if (s.finished) location.reload();
          else setTimeout(ask, 1000);
        })
        .catch(() => setTimeout(ask, 3000));
    };
    setTimeout(ask, 1000);
  }
})();
