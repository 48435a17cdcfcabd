"""Where the simulated clusters come from: the fleet CSV, the controller's API, or made up."""

import http.server
import json
import threading

import pytest

from firmware_sim.roster import ClusterSpec, RosterError, load_api, load_csv, synthesize


def test_the_fleet_csv_gives_the_first_n_clusters_with_their_speakers():
    clusters = load_csv(limit=3)
    assert [c.cid for c in clusters] == ["om-cvl-001", "om-cvl-002", "om-cvl-003"]
    assert clusters[0].speakers == 2 and clusters[0].ward == "chau-van-liem"
    assert len(load_csv()) == 456


def test_a_missing_fleet_csv_says_which_file(tmp_path):
    with pytest.raises(RosterError, match="nope.csv"):
        load_csv(tmp_path / "nope.csv")


def test_a_cluster_id_outside_the_protocol_alphabet_is_refused():
    with pytest.raises(RosterError, match="Bad/Id"):
        ClusterSpec("Bad/Id")


def test_synthetic_clusters_have_protocol_ids():
    assert [c.cid for c in synthesize(2, start=457)] == ["sim-000457", "sim-000458"]


@pytest.fixture
def api():
    """A stand-in for GET /api/v1/clusters that wants the bearer token `t0k`."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if self.headers.get("Authorization") != "Bearer t0k":
                self.send_error(401)
                return
            body = json.dumps([{"id": "om-cvl-001", "ward": "chau-van-liem", "speakers": 3, "name": "x"},
                               {"id": "om-cvl-002", "ward": {"id": "thoi-an"}, "speakers": 1}]).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_the_controller_api_gives_the_clusters_with_a_bearer_token(api):
    clusters = load_api(api, "t0k")
    assert [(c.cid, c.speakers, c.ward) for c in clusters] == [("om-cvl-001", 3, "chau-van-liem"),
                                                              ("om-cvl-002", 1, "thoi-an")]


def test_a_refused_token_says_how_to_get_one(api):
    with pytest.raises(RosterError, match="flask pa tokens"):
        load_api(api, "wrong")
