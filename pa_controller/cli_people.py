"""`flask pa users …` and `flask pa tokens …`: people and their API tokens, for whoever runs the server."""

import functools

import click
from flask.cli import AppGroup

from pa_controller import clock
from pa_controller.domain import Role, Scope
from pa_controller.errors import ServiceError
from pa_controller.services import logins, people, tokens

users = AppGroup("users", help="People: list, create, role and wards, deactivate, passwords.")
tokens_group = AppGroup("tokens", help="API tokens: create, list, revoke.")
ROLES = click.Choice([r.value for r in Role])
SCOPES = click.Choice([s.value for s in Scope])


def plainly(command):
    """Say a service's refusal as a command-line error (exit code 1), not a traceback."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except ServiceError as exc:
            raise click.ClickException(str(exc.message)) from None

    return wrapper


def _reach(role: Role, wards: tuple[str, ...], district: bool) -> list[str] | None:
    """The wards given, [] for --district, None for "as they are"; an approver or viewer must say which."""
    if wards and district:
        raise click.UsageError("give --ward or --district, not both")
    if role in (Role.APPROVER, Role.VIEWER) and not (wards or district):
        raise click.UsageError(f"a {role.value} works for some wards or the district: give --ward … or --district")
    return [] if district else list(wards) or None


def _describe(user) -> str:
    reach = ",".join(sorted(user.ward_ids)) or ("-" if user.role.needs_wards else "district")
    return f"{user.username} {user.role.value} {reach} {'active' if user.active else 'inactive'}"


def create_user(username: str, role: str, wards: tuple[str, ...], district: bool, password: str) -> None:
    """Add a user (`users create` and the older `create-user`)."""
    role = Role(role)
    people.create_user(username, password, role, wards=_reach(role, wards, district) or [])
    click.echo(f"created {role.value} {username}")


ward_option = click.option("--ward", "wards", multiple=True, help="A ward of theirs (repeat for several).")
district_option = click.option("--district", is_flag=True, help="The whole district (an approver or a viewer).")


@users.command("list")
def list_users():
    """List users: name, role, wards (or district), active."""
    for user in people.list_users():
        click.echo(_describe(user))


@users.command("create")
@click.argument("username")
@click.option("--role", type=ROLES, required=True)
@ward_option
@district_option
@click.password_option()
@plainly
def create(username: str, role: str, wards: tuple[str, ...], district: bool, password: str):
    """Add a user."""
    create_user(username, role, wards, district, password)


@users.command("set-role")
@click.argument("username")
@click.argument("role", type=ROLES)
@ward_option
@district_option
@plainly
def set_role(username: str, role: str, wards: tuple[str, ...], district: bool):
    """Give a user another role (and wards): their rights change at their next request."""
    role = Role(role)
    user = people.assign(people.named_user(username), role, _reach(role, wards, district))
    click.echo(_describe(user))


@users.command("set-wards")
@click.argument("username")
@click.argument("wards", nargs=-1)
@district_option
@plainly
def set_wards(username: str, wards: tuple[str, ...], district: bool):
    """Give a user other wards, or with --district the whole district."""
    if not wards and not district:
        raise click.UsageError("name the wards, or give --district")
    user = people.named_user(username)
    click.echo(_describe(people.assign(user, user.role, _reach(user.role, wards, district))))


@users.command("deactivate")
@click.argument("username")
@plainly
def deactivate(username: str):
    """Lock a user out: their sessions end, their tokens and calendar links stop working."""
    click.echo(_describe(people.set_active(people.named_user(username), False)))


@users.command("activate")
@click.argument("username")
@plainly
def activate(username: str):
    """Let a deactivated user sign in again (their old tokens stay revoked)."""
    click.echo(_describe(people.set_active(people.named_user(username), True)))


@users.command("emergencies")
@click.argument("username")
@click.option("--allow/--deny", required=True, help="Whether their emergencies go out at once, reviewed afterwards.")
@plainly
def emergencies(username: str, allow: bool):
    """Let a user send emergencies before approval (reviewed afterwards), or take that right away."""
    user = people.set_emergencies(people.named_user(username), allow)
    click.echo(f"{user.username} {'may' if user.may_send_emergencies else 'may not'} send emergencies before approval")


@users.command("unlock")
@click.argument("username")
@plainly
def unlock(username: str):
    """End a login lock on an account now (its refused logins are forgotten; the address limit stays)."""
    forgotten = logins.unlock(username)
    click.echo(f"{username}: {forgotten} refused logins forgotten; they may sign in again")


@users.command("set-password")
@click.argument("username")
@click.password_option()
@plainly
def set_password(username: str, password: str):
    """Give a user a new password; every session of theirs ends."""
    people.set_password(people.named_user(username), password)
    click.echo(f"new password set for {username}; their sessions have ended")


def create_token(username: str, name: str, scopes: tuple[str, ...], days: int | None) -> None:
    """Print a new API token (`tokens create` and the older `create-token`)."""
    token, secret = tokens.issue(people.named_user(username), name, scopes, days)
    click.echo(secret)
    click.echo(f"token {token.id} of {username}: {token.scopes}, expires {token.expires_at:%Y-%m-%d %H:%M} UTC",
               err=True)


@tokens_group.command("create")
@click.argument("username")
@click.option("--name", default="cli", show_default=True, help="What the token is for.")
@click.option("--scope", "scopes", type=SCOPES, multiple=True, help="Repeat for several; default: all the role has.")
@click.option("--days", type=int, help=f"Lifetime in days (default {tokens.DEFAULT_DAYS}, at most {tokens.MAX_DAYS}).")
@plainly
def create_token_command(username: str, name: str, scopes: tuple[str, ...], days: int | None):
    """Print a new API token for a user (stdout: the token alone)."""
    create_token(username, name, scopes, days)


@tokens_group.command("list")
@click.argument("username", required=False)
@plainly
def list_tokens(username: str | None):
    """List tokens (a user's, or everyone's): id, user, name, scopes, expiry, last use, state."""
    now = clock.now()
    for token in tokens.list_for(people.named_user(username) if username else None):
        used = f"{token.last_used_at:%Y-%m-%dT%H:%M}Z" if token.last_used_at else "never"
        click.echo(f"{token.id} {token.user.username} {token.name!r} {token.scopes.replace(' ', ',')} "
                   f"expires {token.expires_at:%Y-%m-%dT%H:%M}Z used {used} {tokens.state(token, now)}")


@tokens_group.command("revoke")
@click.argument("token_id", type=int)
@plainly
def revoke_token(token_id: int):
    """Revoke a token by its id (`tokens list`)."""
    token = tokens.revoke(tokens.get(token_id))
    click.echo(f"revoked token {token.id} ({token.name!r} of {token.user.username})")
