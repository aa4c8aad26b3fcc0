// Draws the dashboard's charts from the JSON the page carries (no inline script: the page's CSP allows only files
// of the service itself). Chart is the vendored Chart.js (static/vendor).
"use strict";
(function () {
  const data = JSON.parse(document.getElementById("dashboard-data").textContent);
  // Distinct, dark enough on white (WCAG non-text contrast >= 3:1).
  const colours = ["#0b4f9c", "#b35900", "#1d7a3a", "#8e2a8c", "#a4161a", "#3d5a80", "#6b4500", "#00707a"];
  // One colour per topic on every chart.
  const colour = (topic) => colours[Math.max(0, data.topics.indexOf(topic)) % colours.length];
  const series = (list, fill) => list.map((s) => ({
    label: s.topic, data: s.data, borderColor: colour(s.topic), backgroundColor: colour(s.topic), fill: fill,
  }));
  const common = { animation: false, responsive: true, maintainAspectRatio: false,
                   plugins: { legend: { position: "bottom" } } };
  const percent = { min: 0, max: 1, ticks: { callback: (v) => Math.round(v * 100) + " %" } };
  // Bars, not lines: a rate of one week is still readable, and a gap (no card shown) stays a gap.
  new Chart(document.getElementById("acceptance"), {
    type: "bar", data: { labels: data.weeks, datasets: series(data.acceptance, true) },
    options: { ...common, scales: { y: percent } },
  });
  new Chart(document.getElementById("override"), {
    type: "bar", data: { labels: data.weeks, datasets: series(data.override, true) },
    options: { ...common, scales: { y: percent } },
  });
  new Chart(document.getElementById("reasons"), {
    type: "bar", data: { labels: data.reasons, datasets: series(data.reasons_by_topic, true) },
    options: { ...common, indexAxis: "y", scales: { x: { stacked: true, beginAtZero: true, ticks: { precision: 0 } },
                                                     y: { stacked: true } } },
  });
  new Chart(document.getElementById("per-day"), {
    type: "bar", data: { labels: data.days, datasets: series(data.shown_per_day, true) },
    options: { ...common, scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true,
                                                                ticks: { precision: 0 } } } },
  });
})();
