// Polls a running run's progress once a second and moves the bar; reloads the page once the
// run is over, so the stages, the error and the issues show their final state.
(function () {
  var bar = document.getElementById("progress");
  if (!bar || bar.dataset.finished === "true") return;
  var fill = bar.querySelector(".fill"), label = bar.querySelector(".label");
  function show(p) {
    if (p.percent !== null) {
      bar.setAttribute("aria-valuenow", p.percent);
      fill.style.width = p.percent + "%";
      fill.removeAttribute("data-indeterminate");
    }
    label.textContent = p.label + (p.percent !== null ? " · " + p.percent + " %" : "");
  }
  function poll() {
    fetch(bar.dataset.url, {credentials: "same-origin", headers: {Accept: "application/json"}})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (p) {
        if (!p) return setTimeout(poll, 3000);
        show(p);
        if (p.finished) setTimeout(function () { location.reload(); }, 800);
        else setTimeout(poll, 1000);
      })
      .catch(function () { setTimeout(poll, 3000); });
  }
  setTimeout(poll, 500);
})();
