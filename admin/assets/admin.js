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
    const field = (name) => form.elements.namedItem(name);
    const schedule = field("schedule");
    const zone = field("timezone");
    const start = field("start");
    const end = field("end");
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
        if (p.runs.length === 0) {
          line("words", "None: the end comes before the next run.");
        } else {
          const list = document.createElement("ol");
          for (const run of p.runs) {
            const item = document.createElement("li");
            item.textContent = run;
            list.appendChild(item);
          }
          parts.push(list);
        }
      } else {
        line("words", "Type a schedule to see its next runs.");
      }
      out.replaceChildren(...parts);
    };
    const update = () => {
      const n = ++asked;
      const query = new URLSearchParams({
        schedule: schedule.value,
        timezone: zone.value,
        start: start.value,
        end: end.value,
      });
      // An edit that changes the zone but not the dates keeps their instants: they are
      // read in the zone the form showed.
      const shown = (name) => {
        const input = field("shown-" + name);
        return input ? input.value.trim() : null;
      };
      const kept = (input, name) => shown(name) !== null && input.value.trim() === shown(name);
      if (kept(start, "start") && kept(end, "end") && !kept(zone, "timezone")) {
        query.set("dates_zone", shown("timezone"));
      }
      fetch("/preview?" + query, { credentials: "same-origin" })
        .then((r) => (r.ok ? r.json() : Promise.reject(r.status)))
        .then((p) => {
          if (n === asked) draw(p);
        })
        .catch(() => {});
    };
    // After a pause in typing, one request; an answer to an older one is dropped.
    const later = () => {
      clearTimeout(timer);
      timer = setTimeout(update, 500);
    };
    for (const input of [schedule, zone, start, end]) {
      input.addEventListener("input", later);
      input.addEventListener("change", later);
    }
  }

  const running = document.querySelector("[data-poll]");
  if (running) {
    const url = running.getAttribute("data-poll");
    const ask = () => {
      fetch(url, { credentials: "same-origin" })
        .then((r) => {
          // Signed out, or the execution is gone: stop; the Refresh link remains.
          if (r.status >= 400 && r.status < 500) return null;
          return r.ok ? r.json() : Promise.reject(r.status);
        })
        .then((s) => {
          if (s === null) return;
          if (s.finished) location.reload();
          else setTimeout(ask, 1000);
        })
        .catch(() => setTimeout(ask, 3000));
    };
    setTimeout(ask, 1000);
  }
})();
