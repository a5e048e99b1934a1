// The review page's script (exclusion/review_html.py inlines this file): the decisions -> the edited files.
//
// The list: every line as generate wrote it, except the id line of a take decided on: "keep" and
// "relabel" turn it into "# <id>  <note>", a comment line whose first word is the id, which the
// toolkit reads as "commented out by hand" and never lists again (datasets/exclusions.py).
// The relabel file: every line as generate wrote it, except the takes on the page: a take to
// relabel gets the line "<id>  <angle>  # stored <A>; <note>" (replacing its suggestion), every
// other take's line is commented out, so that train.py --relabel-file relabels exactly the takes
// relabelled here (datasets/relabels.py reads it).
"use strict";
(function () {
  const data = JSON.parse(document.getElementById("review-data").textContent);
  const urls = {};

  function oneLine(text) {
    return text.replace(/[\r\n]+/g, " ").trim();
  }

  function decisions() {
    return data.takes.map(function (take, i) {
      const k = i + 1;
      const checked = document.querySelector('input[name="decision-' + k + '"]:checked');
      const angle = document.querySelector('select[name="angle-' + k + '"]');
      const note = document.querySelector('input[name="note-' + k + '"]');
      return {
        id: take.id,
        stored: take.stored,
        decision: checked ? checked.value : "exclude",
        angle: angle && angle.value !== "" ? Number(angle.value) : null,
        note: note ? oneLine(note.value) : "",
      };
    });
  }

  function listNote(d) {
    if (d.decision === "relabel") {
      return "relabelled to " + d.angle + " in " + data.relabelName + (d.note ? "; " + d.note : "");
    }
    return d.note || "kept: fine on listening (review page)";
  }

  function lines(text) {
    const out = text.replace(/\r\n/g, "\n").split("\n");
    if (out.length && out[out.length - 1] === "") {
      out.pop();
    }
    return out;
  }

  function editedList(all) {
    const byId = {};
    all.forEach(function (d) { byId[d.id] = d; });
    return lines(data.listText).map(function (line) {
      const text = line.trim();
      if (!text || text.startsWith("#")) {
        return line;
      }
      const d = byId[text.split("#")[0].trim()];
      return d && d.decision !== "exclude" ? "# " + d.id + "  " + listNote(d) : line;
    }).join("\n") + "\n";
  }

  function relabelId(line) {
    const fields = line.trim().replace(/^#+/, "").split("#")[0].trim().split(/\s+/);
    return fields.length === 2 && /^-?\d+$/.test(fields[1]) ? fields[0] : null;
  }

  function editedRelabels(all) {
    const out = data.relabelText ? lines(data.relabelText) : [
      "# Relabelled on the review page of " + data.listName + ": one '<sample id> <angle>' per line.",
      "# train.py --relabel-file <this file> trains with these angles.",
    ];
    all.forEach(function (d) {
      const found = [];
      out.forEach(function (line, i) { if (relabelId(line) === d.id) { found.push(i); } });
      if (d.decision === "relabel" && d.angle !== null) {
        const line = d.id + "  " + d.angle + "  # stored " + d.stored + "; relabelled on the review page" +
          (d.note ? "; " + d.note : "");
        if (found.length) {
          out[found[0]] = line;
        } else {
          out.push(line);
        }
        found.slice(1).forEach(function (i) { if (!out[i].trim().startsWith("#")) { out[i] = "# " + out[i]; } });
      } else {
        found.forEach(function (i) { if (!out[i].trim().startsWith("#")) { out[i] = "# " + out[i]; } });
      }
    });
    return out.join("\n") + "\n";
  }

  function summarize(all) {
    const counts = { exclude: 0, keep: 0, relabel: 0 };
    all.forEach(function (d) { counts[d.decision] += 1; });
    document.getElementById("summary").textContent =
      counts.exclude + " to exclude, " + counts.keep + " to keep, " + counts.relabel + " to relabel.";
  }

  function offer(key, text) {
    document.getElementById(key + "-out").value = text;
    const link = document.getElementById("download-" + key);
    if (urls[key]) {
      URL.revokeObjectURL(urls[key]);
    }
    urls[key] = URL.createObjectURL(new Blob([text], { type: "text/plain;charset=utf-8" }));
    link.href = urls[key];
    document.getElementById("status-" + key).textContent = "";
  }

  function giveBack() {
    const all = decisions();
    summarize(all);
    offer("list", editedList(all));
    offer("relabel", editedRelabels(all));
    document.getElementById("outputs").hidden = false;
  }

  function copy(key) {
    const area = document.getElementById(key + "-out");
    const status = document.getElementById("status-" + key);
    function byHand() {
      area.focus();
      area.select();
      let done = false;
      try {
        done = document.execCommand("copy");
      } catch (err) {
        done = false;
      }
      status.textContent = done ? "copied" : "selected: press Ctrl+C (Cmd+C) to copy";
    }
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(area.value).then(function () { status.textContent = "copied"; }, byHand);
    } else {
      byHand();
    }
  }

  document.getElementById("make-files").addEventListener("click", giveBack);
  document.getElementById("copy-list").addEventListener("click", function () { copy("list"); });
  document.getElementById("copy-relabel").addEventListener("click", function () { copy("relabel"); });
  document.querySelectorAll("fieldset.decision").forEach(function (box) {
    const select = box.querySelector("select");
    const relabel = box.querySelector('input[value="relabel"]');
    if (select && relabel) {
      select.addEventListener("change", function () { relabel.checked = true; });
    }
    box.addEventListener("change", function () {
      const all = decisions();
      summarize(all);
      if (!document.getElementById("outputs").hidden) {
        giveBack();
      }
    });
  });
  summarize(decisions());
})();
