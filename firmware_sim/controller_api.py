"""GET from the controller's HTTP API with a bearer token; every way it can fail is one message a person can act on."""

from pathlib import Path

import requests

from firmware_sim.defaults import TOKEN_NAME


class ControllerError(Exception):
    """The controller could not be asked, or did not answer 200 with JSON; `status` is its HTTP status, if any."""

    def __init__(self, message: str, url: str, status: int | None = None):
        super().__init__(message)
        self.url, self.status = url, status


def get_json(base_url: str, path: str, token: str, timeout: float, token_hint: str):
    """Return the JSON answer of `GET {base_url}{path}`; `token_hint` says what to do about a refused token."""
    url = base_url.rstrip("/") + path
    try:
        answer = requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=timeout)
    except requests.RequestException as exc:
        raise ControllerError(f"cannot reach the controller at {url}: {exc} (is it running there?)", url) from exc
    status = answer.status_code
    if status in (401, 403):
        raise ControllerError(f"{url} refused the API token (HTTP {status}): {token_hint}", url, status)
    if status != 200:
        raise ControllerError(f"{url} answered HTTP {status}: {answer.text[:200]}", url, status)
    try:
        return answer.json()
    except ValueError as exc:
        raise ControllerError(f"{url} did not answer JSON; is that the controller's address?", url, status) from exc


class TokenFileError(Exception):
    """The API token file is missing, unreadable or empty; `path` is the file."""

    def __init__(self, message: str, path: Path):
        super().__init__(message)
        self.path = path


def read_token_file(path: Path) -> str:
    """Return the bearer token kept in a file (as `make run` writes $PA_INSTANCE_DIR/bootstrap-token)."""
    try:
        token = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise TokenFileError(
            f"cannot read the API token from {path} ({exc.strerror}): pass --token or --token-file "
            f"(`make run` writes $PA_INSTANCE_DIR/{TOKEN_NAME}; `flask --app wsgi pa create-token USER` makes one)",
            path,
        ) from exc
    if not token:
        raise TokenFileError(f"{path} is empty: pass --token or --token-file", path)
    return token
