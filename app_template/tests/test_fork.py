"""A fork that follows the README's "add a resource" steps stays green, and `make run` fails clearly.

The second resource (widgets) is written the way the README says: a model, a schema, a revision made
with `alembic revision`, and routes on app.records. Its files are the README's own example; the fork
must then pass the lint (ruff, mypy strict) and serve the new resource with its cache and routing.
"""

import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import httpx

from tests.servers import APP_DIR, AppServer, running

MODEL = """

class Widget(Base):
    __tablename__ = "widgets"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    label: Mapped[str] = mapped_column(String(100))
"""
SCHEMAS = """

class WidgetIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: Name


class WidgetOut(BaseModel):
    id: int
    label: str
"""
ROUTES = '''"""Widgets: the second resource of the README's walk-through."""

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response, status

from app.api.deps import services_of, wrote_recently
from app.models import Widget
from app.records import Records, found, not_found, written
from app.schemas import MAX_ID, WidgetIn, WidgetOut

router = APIRouter(prefix="/api/widgets", tags=["widgets"])
widgets = Records(Widget, columns=(Widget.id, Widget.label), to_json=lambda row: row._asdict())
WidgetId = Annotated[int, Path(ge=1, le=MAX_ID)]


@router.post("", status_code=status.HTTP_201_CREATED, response_model=WidgetOut)
async def create_widget(body: WidgetIn, request: Request) -> Response:
    services = services_of(request)
    _, payload = await widgets.create(services, body.model_dump())
    return written(payload, status.HTTP_201_CREATED, services.settings)


@router.get("/{widget_id}", response_model=WidgetOut)
async def read_widget(widget_id: WidgetId, request: Request) -> Response:
    services = services_of(request)
    payload = await widgets.get(services, widget_id, wrote_recently=wrote_recently(request))
    return not_found("widget") if payload is None else found(payload, services.settings)
'''
UPGRADE = """def upgrade() -> None:
    op.create_table(
        "widgets",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
        sa.Column("label", sa.String(100), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("widgets")
"""


def make_fork(root: Path) -> Path:
    fork = root / "fork"
    shutil.copytree(
        APP_DIR,
        fork,
        # mypy's cache is kept: the fork's lint then checks only what changed, as in a working copy.
        ignore=shutil.ignore_patterns(".venv", "data", "__pycache__", ".pytest_cache", ".ruff_cache"),
    )
    return fork


def run(fork: Path, *argv: str) -> str:
    done = subprocess.run(argv, cwd=fork, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, f"{argv}: {done.stdout[-3000:]}{done.stderr[-3000:]}"
    return done.stdout + done.stderr


def add_widgets(fork: Path) -> None:
    """The README's steps, literally: model, schema, `alembic revision`, routes, register the router."""
    with open(fork / "app" / "models.py", "a") as models:
        models.write(MODEL)
    with open(fork / "app" / "schemas.py", "a") as schemas:
        schemas.write(SCHEMAS)
    before = set((fork / "app" / "migrations" / "versions").glob("*.py"))
    run(fork, str(Path(sys.executable).parent / "alembic"), "revision", "-m", "add widgets")
    (revision,) = set((fork / "app" / "migrations" / "versions").glob("*.py")) - before
    lint(fork)  # the revision as generated passes the lint
    text = revision.read_text()
    text = text.replace("from collections.abc import Sequence\n", "from collections.abc import Sequence\n\n"
                        "import sqlalchemy as sa\nfrom alembic import op\n")  # fmt: skip
    text = re.sub(r"def upgrade\(\) -> None:.*", UPGRADE, text, flags=re.DOTALL)
    revision.write_text(text)
    (fork / "app" / "api" / "widgets.py").write_text(ROUTES)
    main = (fork / "app" / "main.py").read_text()
    main = main.replace(
        "from app.api import health, items, tags", "from app.api import health, items, tags, widgets"
    )
    registered = "    app.include_router(tags.router)\n"
    main = main.replace(registered, registered + "    app.include_router(widgets.router)\n")
    (fork / "app" / "main.py").write_text(main)


def lint(fork: Path) -> None:
    bin_dir = Path(sys.executable).parent
    run(fork, str(bin_dir / "ruff"), "format", ".")  # the README's step: format what you wrote
    run(fork, str(bin_dir / "ruff"), "check", ".")
    run(fork, str(bin_dir / "mypy"), "--cache-dir", str(fork / ".mypy_cache"))


def test_second_resource_from_the_readme_passes_lint_and_serves(tmp_path: Path) -> None:
    fork = make_fork(tmp_path)
    add_widgets(fork)
    lint(fork)
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'fork.db'}"}
    with running(AppServer(env, tmp_path / "fork.log", workers=1, app_dir=fork)) as server:
        created = httpx.post(f"{server.url}/api/widgets", json={"label": "sprocket"})
        assert created.status_code == 201, created.text
        widget = created.json()
        assert widget["label"] == "sprocket"
        assert created.headers["cache-control"] == "no-store" and "ryw=" in created.headers["set-cookie"]
        read = httpx.get(f"{server.url}/api/widgets/{widget['id']}")
        assert read.json() == widget and "s-maxage" in read.headers["cache-control"]
        assert httpx.get(f"{server.url}/api/widgets/999").status_code == 404


def test_alembic_upgrade_says_how_to_migrate_and_how_to_make_a_revision() -> None:
    done = subprocess.run(
        [str(Path(sys.executable).parent / "alembic"), "upgrade", "head"],
        cwd=APP_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "alembic revision -m" in done.stderr and "make migrate" in done.stderr


def test_a_taken_port_stops_the_server_with_one_clear_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = AppServer({"DATABASE_URL": f"sqlite:///{tmp_path / 'app.db'}"}, tmp_path / "app.log")
        server.env["PORT"] = str(port)
        done = subprocess.run(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "app.main:app"],
            cwd=APP_DIR,
            env=server.env,
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert done.returncode != 0
    assert f"port {port} on 127.0.0.1 is already in use" in done.stderr


def test_start_up_log_names_the_address(embedded_app: AppServer) -> None:
    assert any(
        f"Listening at: http://127.0.0.1:{embedded_app.port}" in line for line in embedded_app.log_lines()
    )
