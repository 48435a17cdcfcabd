// The broadcast form's targets: a map where a ward's name or a cluster's dot ticks its box in the lists below,
// a search over the clusters, and a line saying how far the choice reaches, kept current as it changes.
(function () {
  var line = document.getElementById("target-count");
  if (!line) return;
  var form = line.closest("form");
  var map = document.getElementById("target-map");
  var filter = document.getElementById("cluster-filter");
  var asked = 0;

  function box(name, value) {
    var found = null;
    form.querySelectorAll('input[name="' + name + '"]').forEach(function (input) {
      if (input.value === value) found = input;
    });
    return found;
  }

  function ticked(name) {
    return Array.prototype.filter.call(form.querySelectorAll('input[name="' + name + '"]'), function (input) {
      return input.checked || input.type === "hidden";
    }).map(function (input) { return input.value; });
  }

  function paint() {
    if (!map) return;
    var wards = ticked("wards"), clusters = ticked("clusters"), groups = ticked("groups");
    var all = ticked("all").length > 0;
    map.querySelectorAll("[data-cluster]").forEach(function (dot) {
      var grouped = dot.dataset.groups.split(" ").some(function (id) { return groups.indexOf(id) >= 0; });
      var on = all || grouped || wards.indexOf(dot.dataset.ward) >= 0 || clusters.indexOf(dot.dataset.cluster) >= 0;
      dot.classList.toggle("chosen", on);
    });
    map.querySelectorAll("text[data-ward]").forEach(function (name) {
      name.classList.toggle("chosen", all || wards.indexOf(name.dataset.ward) >= 0);
    });
  }

  function count() {
    var query = new URLSearchParams();
    ["all", "wards", "groups", "clusters"].forEach(function (name) {
      ticked(name).forEach(function (value) { query.append(name, value); });
    });
    if (!query.toString()) { line.textContent = line.dataset.empty; return; }
    var mine = ++asked;  // only the answer to the latest choice is shown
    fetch(line.dataset.url + "?" + query.toString(), {credentials: "same-origin", headers: {Accept: "application/json"}})
      .then(function (answer) { return answer.json(); })
      .then(function (data) {
        if (mine !== asked) return;
        line.textContent = data.text || (data.error && data.error.message) || line.dataset.empty;
      })
      .catch(function () { /* the Kiểm tra button still says it */ });
  }

  form.addEventListener("change", function (event) {
    if (!event.target.name || ["all", "wards", "groups", "clusters"].indexOf(event.target.name) < 0) return;
    paint();
    count();
  });

  if (map) {
    map.hidden = false;
    map.addEventListener("click", function (event) {
      var dot = event.target.closest("[data-cluster]");
      var place = dot ? box("clusters", dot.dataset.cluster) : null;
      var ward = event.target.closest("text[data-ward]");
      if (!place && ward) place = box("wards", ward.dataset.ward);
      if (!place || place.type !== "checkbox") return;
      place.checked = !place.checked;
      place.dispatchEvent(new Event("change", {bubbles: true}));
    });
    paint();
  }

  if (filter) {
    filter.addEventListener("input", function () {
      var words = filter.value.trim().toLowerCase();
      form.querySelectorAll("label[data-find]").forEach(function (label) {
        label.hidden = words !== "" && label.dataset.find.indexOf(words) < 0;
      });
    });
  }
  count();
})();
