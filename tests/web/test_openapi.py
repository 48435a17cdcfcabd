"""The OpenAPI document is generated from the routes: every /api/v1 route is in it, with its answers."""

import re

PREFIX = "/api/v1"
DOCUMENTED_METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE"}


def routes(app) -> set[tuple[str, str]]:
    """Every (OpenAPI path, method) the URL map serves under /api/v1."""
    found = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(PREFIX + "/"):
            path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule.removeprefix(PREFIX))
            found |= {(path, method.lower()) for method in rule.methods & DOCUMENTED_METHODS}
    return found


def test_every_api_route_is_in_the_document_with_its_responses(app, client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    served = routes(app)
    assert len(served) >= 30
    missing = sorted(route for route in served if route[1] not in paths.get(route[0], {}))
    assert not missing, f"routes missing from /api/v1/openapi.json: {missing}"
    for path, method in served:
        responses = paths[path][method]["responses"]
        assert any(code.startswith("2") for code in responses), (path, method)
        assert "default" in responses, (path, method)  # the error shape of API.md


def test_the_document_has_no_operation_the_app_does_not_serve(app, client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    documented = {(path, method) for path, operations in paths.items() for method in operations
                  if method.upper() in DOCUMENTED_METHODS}
    assert documented == routes(app)


def test_errors_are_documented_in_the_shape_of_api_md(client):
    document = client.get("/api/v1/openapi.json").get_json()
    error = document["components"]["schemas"]["Error"]
    assert error["required"] == ["error"]
    detail = document["components"]["schemas"][error["properties"]["error"]["$ref"].rsplit("/", 1)[1]]
    assert {"code", "message"} <= set(detail["required"])
    # and what some errors carry besides: the conflicts of a 409, the broken rules, a fleet import's bad rows,
    # the scope a token lacks, when a token expired
    assert set(detail["properties"]) == {"code", "message", "fields", "conflicts", "violations", "errors",
                                         "required_scope", "token_scopes", "expired_at"}


def test_enums_in_the_document_are_the_python_enums(client):
    from pa_protocol import Priority, RunState

    document = client.get("/api/v1/openapi.json").get_json()
    runs = {p["name"]: p for p in document["paths"]["/runs"]["get"]["parameters"]}
    assert runs["state"]["schema"]["enum"] == [s.value for s in RunState]
    priority = document["components"]["schemas"]["BroadcastRequest"]["properties"]["priority"]
    assert priority["enum"] == [p.value for p in Priority]


def test_the_document_says_what_the_schemas_check(client):
    """Valid by the document means accepted by the schema: lengths after stripping, choices, shapes."""
    schemas = client.get("/api/v1/openapi.json").get_json()["components"]["schemas"]
    reason = schemas["StopRequest"]["properties"]["reason"]
    assert reason["minLength"] == 1 and re.search(reason["pattern"], "x") and not re.search(reason["pattern"], "  ")
    override = schemas["BroadcastRequest"]["properties"]["override_reason"]["pattern"]
    assert re.search(override, " abc ") and not re.search(override, " ab ") and not re.search(override, "ab\x00c")
    assert schemas["CommandRequest"]["properties"]["type"]["enum"] == ["set_volume", "test_tone", "reboot"]
    assert schemas["Targets"]["properties"]["all"]["enum"] == [True]
    start = schemas["BroadcastRequest"]["properties"]["start_at"]["pattern"]
    assert all(re.search(start, v) for v in ("now", "2027-01-05T05:30", "2027-01-05T05:30:00+07:00"))
    assert not any(re.search(start, v) for v in ("", "later", "2027-13-05T05:30"))
    stream = schemas["BroadcastRequest"]["properties"]["stream_url"]["pattern"]
    assert re.search(stream, "rtsp://cam.example/live") and not re.search(stream, "ftp://x") and not re.search(
        stream, "http:///x")
    assert re.search(schemas["QuietHours"]["properties"]["start"]["pattern"], "21:30")
    assert re.search(reason["pattern"], "\x1c x") and not re.search(reason["pattern"], "\x1c\x1f")  # as strip() does
    name = schemas["ClusterNew"]["properties"]["name"]["pattern"]
    assert re.search(name, " Khu 1 ") and not any(re.search(name, v) for v in ("=SUM(A1)", "a\x07b", " "))
    assert schemas["CommandRequest"]["oneOf"] == [{"required": ["clusters"]}, {"required": ["ward"]}]
    assert {"maxProperties": 1, "required": ["all"]} in schemas["Targets"]["oneOf"]


def test_a_query_the_schema_refuses_is_422_with_a_message_for_the_field(client, admin_auth):
    answer = client.get("/api/v1/runs?state=weird&broadcast_id=x", headers=admin_auth)
    assert answer.status_code == 422
    error = answer.get_json()["error"]
    assert error["code"] == "invalid" and set(error["fields"]) == {"state", "broadcast_id"}
    assert error["fields"]["state"] == "Phải là một trong: scheduled, dispatched, finished, cancelled, missed."
    assert error["message"] in error["fields"].values()


def test_schema_messages_are_english_when_english_is_asked_for(client, admin_auth):
    answer = client.get("/api/v1/commands?limit=0", headers={**admin_auth, "Accept-Language": "en"})
    assert answer.get_json()["error"]["fields"] == {"limit": "It must be a whole number from 1 to 1000."}


def test_a_method_a_route_does_not_take_is_405_with_the_methods_it_does(client, admin_auth):
    answer = client.open("/api/v1/wards", method="TRACE", headers=admin_auth)
    assert answer.status_code == 405 and answer.get_json()["error"]["code"] == "method_not_allowed"
    assert "GET" in answer.headers["Allow"]


def test_a_cluster_never_heard_from_answers_what_the_document_says(client, admin_auth):
    """Every reading of its latest heartbeat is null, and the documented schema allows that."""
    from pa_controller.web.schemas.responses import ClusterDetail

    answer = client.get("/api/v1/clusters/om-tho-001", headers=admin_auth).get_json()
    assert answer["seq"] is None and answer["boot_id"] is None
    assert ClusterDetail(unknown="include").validate(answer) == {}
