// Live validation of the campaign form against its purpose (same rules as saving).
(function () {
  "use strict";
  var form = document.getElementById("campaign-form");
  if (!form) { return; }
  var box = document.getElementById("problems");
  var token = document.querySelector('meta[name="csrf-token"]').content;
  var timer = null;
  function data() {
    var f = new FormData(form), audience = [];
    for (var i = 0; i < 5; i++) {
      var field = f.get("cond_" + i + "_field");
      if (!field) { continue; }
      var op = f.get("cond_" + i + "_op"), raw = String(f.get("cond_" + i + "_value") || "");
      var value = (op === "in" || op === "between")
        ? raw.split(/[,、]/).map(function (s) { return s.trim(); }).filter(Boolean) : raw.trim();
      audience.push({ field: field, op: op, value: value });
    }
    var at = f.get("schedule_at");
    return {
      name: f.get("name") || "-", purpose: f.get("purpose") || "", channels: f.getAll("channels"),
      audience: audience, subject_template: f.get("subject_template") || "-",
      text_template: f.get("text_template") || "-", html_template: f.get("html_template") || "",
      advertising: f.get("advertising") === "on", schedule_at: at ? at : null,
      recurrence: f.get("recurrence") || null, rate_per_second: Number(f.get("rate_per_second") || 10)
    };
  }
  function show(problems) {
    box.textContent = "";
    if (!problems.length) {
      var ok = document.createElement("p"); ok.className = "notice"; ok.textContent = "利用目的に照らして問題ありません。";
      box.appendChild(ok); return;
    }
    var ul = document.createElement("ul");
    problems.forEach(function (p) { var li = document.createElement("li"); li.textContent = (p.label || "入力") + "：" + p.message; ul.appendChild(li); });
    box.appendChild(ul);
  }
  function check() {
    fetch(form.dataset.validate, {
      method: "POST", credentials: "same-origin",
      headers: { "content-type": "application/json", "x-csrf-token": token },
      body: JSON.stringify(data())
    }).then(function (r) { return r.json(); }).then(function (j) { show(j.problems || []); })
      .catch(function () {});
  }
  // Offer only the audience fields the chosen purpose allows.
  function offer() {
    var chosen = form.querySelector("input[name=purpose]:checked");
    var purpose = chosen ? chosen.value : "";
    form.querySelectorAll("option[data-purposes]").forEach(function (o) {
      var ok = o.dataset.purposes.split(" ").indexOf(purpose) >= 0;
      o.hidden = !ok;
      o.disabled = !ok && !o.selected;
    });
  }
  offer();
  form.addEventListener("change", offer);
  form.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(check, 400); });
}());
