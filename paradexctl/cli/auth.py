"""``paradexctl auth tokens ...``: read-only API tokens for automation (least privilege).

A cron job that only reconciles or streams needs no trading rights: give it a read-only
token (``PARADEX_API_TOKEN_FILE``, or a profile's ``token_file`` / ``token_command``) instead
of a key. Creating and revoking tokens needs the account's main key.
"""

# No ``from __future__ import annotations``: typer would have to evaluate every string
# annotation of the commands below at start-up.

from pathlib import Path
from typing import Annotated, Any

import typer

from paradexctl.cli.context import OutputOpt, get_ctx
from paradexctl.errors import UsageError

auth_app = typer.Typer(help="Read-only API tokens for automation (create, list, revoke).")
tokens_app = typer.Typer(
    help="Read-only API tokens: GET calls and WebSocket subscriptions only, no trading."
)
auth_app.add_typer(tokens_app, name="tokens")

#: ``ApiToken`` fields shown (times in ns since the epoch, as the exchange gives them)
TOKEN_COLUMNS = ["lookup_id", "name", "kind", "created_at", "expiry_at", "revoked_at"]


def register(app: typer.Typer) -> None:
    app.add_typer(auth_app, name="auth")


@tokens_app.command("list")
def tokens_list(output: OutputOpt = None) -> None:
    """The account's API tokens (GET /account/tokens); never the tokens themselves."""
    from paradexctl.cli._session import open_session
    from paradexctl.paradex.rest import expect_rows

    out = get_ctx().output(output)
    with open_session() as sess:
        rows = expect_rows(sess.client.get("/account/tokens", private=True), "GET /account/tokens")
    out.emit([{k: r.get(k) for k in TOKEN_COLUMNS} for r in rows], columns=TOKEN_COLUMNS)


@tokens_app.command("create")
def tokens_create(
    save_to: Annotated[
        Path,
        typer.Option(
            "--save-to",
            metavar="FILE",
            dir_okay=False,
            help="Write the token to FILE (mode 0600; it is never printed).",
        ),
    ],
    read_only: Annotated[
        bool,
        typer.Option("--read-only", help="A read-only token (the only kind there is; required)."),
    ] = False,
    name: Annotated[
        str, typer.Option("--name", metavar="NAME", help="A name to recognise it by.")
    ] = "paradexctl",
    expires_in: Annotated[
        int,
        typer.Option(
            "--expires-in",
            metavar="SECONDS",
            min=60,
            max=365 * 86_400,
            help="Lifetime in seconds, 60 to 31536000 (30 days).",
        ),
    ] = 30 * 86_400,
    output: OutputOpt = None,
) -> None:
    """Create a read-only API token (POST /account/tokens) and save it to --save-to FILE.

    The token is written to FILE (created with mode 0600, never overwritten) and never
    printed: point PARADEX_API_TOKEN_FILE, or a profile's token_file, at it. What is printed
    is its lookup_id, name and expiry. paradexctl uses it for reads only, whatever the
    exchange would allow it.
    """
    from paradexctl.cli._session import open_session
    from paradexctl.errors import LocalFileError, UnexpectedAnswer
    from paradexctl.paradex.rest import describe_json, expect_object

    ctx = get_ctx()
    out = ctx.output(output)
    if not read_only:
        raise UsageError("only read-only tokens can be created: pass --read-only")
    target = save_to.expanduser()
    if target.exists():
        raise UsageError(f"--save-to {save_to}: the file exists; give a new path")
    if not target.parent.is_dir():
        raise UsageError(f"--save-to {save_to}: no such directory {target.parent}")
    if not name.strip():
        raise UsageError("--name must not be empty")
    body: dict[str, Any] = {"name": name, "token_type": "api_key", "expiry_duration": expires_in}
    with open_session() as sess:
        sess.private_key()  # a key is needed (a token cannot make tokens): exit 3 first
        answer = expect_object(
            sess.client.post("/account/tokens", body, idempotent=False), "POST /account/tokens"
        )
    token = answer.get("token")
    meta = answer.get("api_token")
    if not isinstance(token, str) or not token or any(c.isspace() for c in token):
        raise UnexpectedAnswer(
            "POST /account/tokens", "an object with a 'token' string", describe_json(token)
        )
    meta = meta if isinstance(meta, dict) else {}
    lookup = meta.get("lookup_id")
    try:
        _create_private(target, token + "\n")
    except FileExistsError:
        raise LocalFileError(
            f"--save-to {save_to}: the file appeared meanwhile and was left alone; the token "
            f"{lookup} was created but not saved: revoke it with 'paradexctl auth tokens "
            "revoke ID'"
        ) from None
    except OSError as err:
        raise LocalFileError(
            f"--save-to {save_to}: {err.strerror or err}; the token {lookup} was created but "
            "not saved: revoke it with 'paradexctl auth tokens revoke ID'"
        ) from None
    shown = {k: meta.get(k) for k in TOKEN_COLUMNS}
    out.emit({**shown, "saved_to": str(target)})
    out.info(f"token {lookup} saved to {target} (mode 0600); it is not shown anywhere")


def _create_private(path: Path, text: str) -> None:
    """Write ``text`` to a new file ``path``, mode 0600 from its creation; never replaces an
    existing file (``FileExistsError``). A failed write removes the file."""
    import os

    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        path.unlink(missing_ok=True)
        raise


@tokens_app.command("revoke")
def tokens_revoke(
    token_id: Annotated[
        str, typer.Argument(metavar="ID", help="The token's lookup_id (auth tokens list).")
    ],
    output: OutputOpt = None,
) -> None:
    """Revoke an API token by its lookup_id (DELETE /account/tokens/{id}); at once, for good."""
    from paradexctl.cli._session import open_session
    from paradexctl.paradex.rest import path_segment

    out = get_ctx().output(output)
    with open_session() as sess:
        sess.private_key()
        sess.client.request(
            "DELETE", f"/account/tokens/{path_segment(token_id)}", private=True, idempotent=True
        )
    out.emit({"lookup_id": token_id, "revoked": True})
    out.info(f"token {token_id} revoked")
