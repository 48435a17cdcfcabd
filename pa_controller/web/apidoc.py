"""The declared API: flask-smorest blueprints whose schemas validate requests and write /api/v1/openapi.json."""

from collections import ChainMap

import flask_smorest
import marshmallow as ma
from flask_smorest.spec.plugins import FlaskPlugin
from webargs.flaskparser import FlaskParser

from pa_controller.errors import ValidationFailed
from pa_controller.web.schemas.common import NOT_AN_OBJECT, ErrorSchema

PREFIX = "/api/v1"
SPEC = {
    "title": "LoaNet API", "version": "1", "openapi_version": "3.1.0",
    "info": {"description": "Schedule announcements on a loudspeaker network and see who played them. "
                            "Times in requests: RFC 3339, without an offset meaning Asia/Ho_Chi_Minh; "
                            "in responses: RFC 3339 UTC. A province's information system reads /upward/v1/… "
                            "(format loanet.upward/1, docs/upward-api.md) with a token of scope `report`."},
    "servers": [{"url": PREFIX}],
    "security": [{"bearer": []}],
    "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
}


def flat_fields(messages, prefix: str = "") -> dict[str, str]:
    """marshmallow's nested {field: [message]} as API.md's {"a.b": "message"}, first message of each."""
    if isinstance(messages, list):
        return flat_fields(messages[0], prefix) if messages else {}
    if not isinstance(messages, dict):  # one message (a lazy string is not a str, so marshmallow keeps it bare)
        return {prefix or "_schema": str(messages)}
    found = {}
    for key, value in messages.items():  # a nested object's own "_schema" message is about the field itself
        name = str(key) if not prefix else prefix if key == "_schema" else f"{prefix}.{key}"
        found.update(flat_fields(value, name))
    return found


def refused(error: ma.ValidationError) -> ValidationFailed:
    """A schema's refusal as API.md's 422: the first message, and a message for each field at fault."""
    fields = flat_fields(error.normalized_messages())
    if set(fields) == {"_schema"}:  # the body as a whole: not an object
        return ValidationFailed(fields["_schema"])
    return ValidationFailed(next(iter(fields.values())), fields=fields)


def load(schema: ma.Schema, data) -> dict:
    """Read what a page's form sends through the API's schema for it, or raise ValidationFailed."""
    try:
        return schema.load(data)
    except ma.ValidationError as error:
        raise refused(error) from None


class Parser(FlaskParser):
    """webargs, answering in API.md's error shape: 422 with a message per field."""

    def handle_error(self, error, req, schema, *, error_status_code, error_headers):
        # webargs nests the messages under the location ("json", "query"); the fields are what a person fixes
        raise refused(ma.ValidationError(dict(ChainMap(*error.normalized_messages().values()))))

    def _handle_invalid_json_error(self, error, req, *args, **kwargs):
        raise ValidationFailed(NOT_AN_OBJECT)

    def load_json(self, req, schema):
        try:
            body = super().load_json(req, schema)
        except RecursionError:  # "[[[[…" a hundred thousand deep
            raise ValidationFailed(NOT_AN_OBJECT) from None
        if body is ma.missing:  # no body at all: never "change nothing" or, for PUT, "reset everything"
            raise ValidationFailed(NOT_AN_OBJECT)
        return body


class Blueprint(flask_smorest.Blueprint):
    ARGUMENTS_PARSER = Parser()


class Plugin(FlaskPlugin):
    """Paths relative to the server URL /api/v1, as the document has always had them."""

    @staticmethod
    def flaskpath2openapi(path):
        return FlaskPlugin.flaskpath2openapi(path.removeprefix(PREFIX))


class Api(flask_smorest.Api):
    """flask-smorest without its error handler: web/errors.py is the one place that shapes errors."""

    ERROR_SCHEMA = ErrorSchema

    def _register_error_handlers(self):
        pass


def enum_choices(converter, field, ret, **kwargs) -> dict:
    """An enum field narrowed by OneOf (schemas.common.choice) documents only the members it takes."""
    if not isinstance(field, ma.fields.Enum) or "enum" not in ret:
        return {}
    for validator in field.validators:
        if isinstance(validator, ma.validate.OneOf):
            taken = {field.field._serialize(m.value if field.by_value else m.name, None, None)
                     for m in validator.choices}
            return {"enum": [value for value in ret["enum"] if value in taken or value is None]}
    return {}


def init_api(app, blueprints) -> Api:
    """Register the API blueprints and build their document."""
    api = Api(app, spec_kwargs={**SPEC, "flask_plugin": Plugin()})
    api.ma_plugin.converter.add_attribute_function(enum_choices)
    for blueprint in blueprints:
        api.register_blueprint(blueprint)
    for key, name in api.ma_plugin.converter.refs.items():  # what a schema checks across its fields
        if extra := getattr(key[0], "OPENAPI", None):
            api.spec.components.schemas[name].update(extra)
    return api


def document(app) -> dict:
    return app.extensions["flask-smorest"]["apis"][""]["ext_obj"].spec.to_dict()
