"""Where the simulated clusters come from: the fleet CSV, the controller's API, or made up."""

import http.server
import json
import threading

import pytest

from firmware_sim.roster import (
    ClusterSpec,
    RosterError,
    load_api,
    load_credentials,
    load_csv,
    parse_shard,
    shard_of,
    synthesize,
)


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
    with pytest.raises(RosterError, match="flask --app wsgi pa create-token USER"):
        load_api(api, "wrong")


def test_credentials_are_read_with_or_without_a_header(tmp_path):
    path = tmp_path / "credentials.csv"
    path.write_text("cid,password\nom-cvl-001,s3cret\n\nom-cvl-002,a,b-c\n")
    with pytest.raises(RosterError, match="line 4"):
        load_credentials(path)
    path.write_text('om-cvl-001,s3cret\nom-cvl-002,"p,w"\n')
    assert load_credentials(path) == {"om-cvl-001": "s3cret", "om-cvl-002": "p,w"}


def test_a_missing_credentials_file_says_which_file(tmp_path):
    with pytest.raises(RosterError, match="nope.csv"):
        load_credentials(tmp_path / "nope.csv")


@pytest.mark.parametrize("text", ["4/4", "-1/2", "1", "a/b", "1/0"])
def test_a_shard_must_be_k_of_n(text):
    with pytest.raises(RosterError, match="0 <= K < N"):
        parse_shard(text)


def test_shard_k_of_n_takes_every_nth_cluster_from_the_kth():
    clusters = synthesize(10)
    assert [c.cid for c in shard_of(clusters, parse_shard("1/4"))] == ["sim-000002", "sim-000006", "sim-000010"]
    assert sum(len(shard_of(clusters, (k, 3))) for k in range(3)) == 10 and shard_of(clusters, None) == clusters
