// The run report follows its run: every 2 s it asks how far the run has got and redraws, until the run is over.
(function () {
  var root = document.getElementById("run-live");
  if (!root || root.dataset.final === "1") return;

  function part(name) { return root.querySelector('[data-live="' + name + '"]'); }

  // `names`: the indexes of cells that hold Vietnamese names (data, marked so, whatever the page's language)
  function row(cells, className, names) {
    var tr = document.createElement("tr");
    if (className) tr.className = className;
    cells.forEach(function (text, i) {
      var td = document.createElement("td");
      td.textContent = text;
      if (names && names.indexOf(i) >= 0) td.lang = "vi";
      tr.appendChild(td);
    });
    return tr;
  }

  function draw(d) {
    part("state").textContent = d.state_label;
    part("headline").textContent = d.headline;
    var bar = part("bar");
    bar.max = Math.max(d.total, 1);
    bar.value = d.done;
    part("counts").replaceChildren.apply(part("counts"), d.counts.map(function (c) {
      var li = document.createElement("li"), n = document.createElement("b");
      n.textContent = c.n;
      li.append(n, " " + c.label);
      return li;
    }));
    part("by_ward").replaceChildren.apply(part("by_ward"), d.by_ward.map(function (w) {
      return row([w.name, w.done, w.total], "", [0]);
    }));
    part("clusters").replaceChildren.apply(part("clusters"), d.clusters.map(function (c) {
      return row([c.id + " · " + c.name, c.ward, c.state_label, c.reason, c.shown_time], c.not_played ? "not-played" : "", [0, 1]);
    }));
    part("cluster_summary").textContent = d.cluster_summary;
  }

  function poll() {
    if (document.hidden) { setTimeout(poll, 2000); return; }  // a tab in the background asks nothing
    fetch(root.dataset.url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (answer) {
        // refused, gone, or sent to the login page: asking again will not help
        if (answer.redirected || (answer.status >= 400 && answer.status < 500)) return null;
        if (!answer.ok) throw new Error(answer.status);
        return answer.json();
      })
      .then(function (d) {
        if (!d) return;
        draw(d);
        if (d.next_poll_ms) setTimeout(poll, d.next_poll_ms);
      })
      .catch(function () { setTimeout(poll, 10000); });  // the network or the server hiccupped: try again, slower
  }

  setTimeout(poll, 2000);
})();
