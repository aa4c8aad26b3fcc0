// The concentration-time page: asks the dosing API for the estimate and the trough of the regimen tried, and draws
// the curves with the vendored Chart.js. No inline script (the page's CSP allows only the service's own files).
"use strict";
(function () {
  const data = JSON.parse(document.getElementById("pk-data").textContent);
  const base = data.request;
  const tau = base.regimen.interval_hours;
  const given = base.regimen.doses_given || 1;
  const epoch = Date.parse(base.regimen.first_dose);
  const hoursOf = (iso) => (Date.parse(iso) - epoch) / 3.6e6;
  const levels = base.levels.map((l) => ({ x: hoursOf(l.time) / 24, y: toNg(l.value, l.unit) }));
  const switchAt = given * tau; // the next dose after the history: where the regimen tried starts
  const doseSelect = document.getElementById("dose");
  const intervalSelect = document.getElementById("interval");
  const output = document.getElementById("alternative-trough");

  function toNg(value, unit) {
    const u = unit.replace("\u03bc", "u").replace("\u00b5", "u").toLowerCase();
    return u === "mg/l" ? value * 1000 : u === "umol/l" ? value * 493.603 : value;
  }

  for (const mg of data.doses) {
    const option = document.createElement("option");
    option.value = String(mg);
    option.textContent = String(mg);
    doseSelect.appendChild(option);
  }

  // Superposition of one-compartment oral doses (the model the API fits), ng/mL at time t (h).
  function concentration(t, doses, cl, v) {
    const ka = data.ka, ke = cl / v, f = data.bioavailability;
    let c = 0;
    for (const [at, mg] of doses) {
      const dt = t - at;
      if (dt > 0) c += mg * 1000 * f * ka / (v * (ka - ke)) * (Math.exp(-ke * dt) - Math.exp(-ka * dt));
    }
    return c;
  }

  function doseTimes(altDose, altTau, until) {
    const history = [];
    for (let k = 0; k < given; k++) history.push([k * tau, base.regimen.dose_mg]);
    const current = history.slice(), tried = history.slice();
    for (let t = switchAt; t <= until; t += tau) current.push([t, base.regimen.dose_mg]);
    for (let t = switchAt; t <= until; t += altTau) tried.push([t, altDose]);
    return { current, tried };
  }

  let chart = null;
  function draw(answer, altDose, altTau) {
    const est = answer.a_posteriori || answer.a_priori;
    const from = Math.max(0, switchAt - 7 * 24), until = switchAt + 10 * 24;
    const { current, tried } = doseTimes(altDose, altTau, until);
    const currentCurve = [], triedCurve = [];
    for (let t = from; t <= until; t += 0.5) {
      currentCurve.push({ x: t / 24, y: concentration(t, current, est.clearance_l_per_h, est.volume_l) });
      if (t >= switchAt) triedCurve.push({ x: t / 24, y: concentration(t, tried, est.clearance_l_per_h, est.volume_l) });
    }
    const low = answer.target_ng_per_ml * data.window[0], high = answer.target_ng_per_ml * data.window[1];
    const band = (y) => [{ x: from / 24, y }, { x: until / 24, y }];
    const datasets = [
      { label: "Target window (low)", data: band(low), borderColor: "rgba(29,122,58,0.6)", pointRadius: 0,
        borderWidth: 1, fill: false },
      { label: "Target window", data: band(high), borderColor: "rgba(29,122,58,0.6)", pointRadius: 0,
        borderWidth: 1, backgroundColor: "rgba(29,122,58,0.15)", fill: "-1" },
      { label: `Current: ${base.regimen.dose_mg} mg every ${tau} h`, data: currentCurve, borderColor: "#0b4f9c",
        pointRadius: 0, borderWidth: 2, fill: false },
      { label: `Tried: ${altDose} mg every ${altTau} h`, data: triedCurve, borderColor: "#b35900", pointRadius: 0,
        borderWidth: 2, borderDash: [6, 3], fill: false },
      { label: "Measured levels", data: levels.filter((p) => p.x * 24 >= from), type: "scatter",
        backgroundColor: "#a4161a", borderColor: "#a4161a", pointRadius: 5 },
    ];
    const options = {
      animation: false, responsive: true, maintainAspectRatio: false, parsing: false,
      plugins: { legend: { position: "bottom", labels: { filter: (item) => item.text !== "Target window (low)" } } },
      scales: { x: { type: "linear", title: { display: true, text: "days from the first dose" } },
                y: { beginAtZero: true, title: { display: true, text: "imatinib (ng/mL)" } } },
    };
    if (chart) {
      chart.data.datasets = datasets;
      chart.update();
    } else {
      chart = new Chart(document.getElementById("concentration"), { type: "line", data: { datasets }, options });
    }
    document.body.dataset.drawn = `${altDose}/${altTau}`;
  }

  async function redraw() {
    const altDose = Number(doseSelect.value), altTau = Number(intervalSelect.value);
    output.textContent = "…";
    const response = await fetch(data.api, {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ ...base, alternative: { dose_mg: altDose, interval_hours: altTau } }),
    });
    const answer = await response.json();
    if (!response.ok) {
      output.textContent = answer.issue ? answer.issue[0].diagnostics : "the dosing API refused the request";
      return;
    }
    output.textContent = Math.round(answer.alternative.trough_ng_per_ml);
    draw(answer, altDose, altTau);
  }

  doseSelect.addEventListener("change", redraw);
  intervalSelect.addEventListener("change", redraw);
  // Start on the model's proposal.
  doseSelect.value = String(data.proposal.dose_mg);
  intervalSelect.value = String(data.proposal.interval_hours);
  redraw();
})();
