"""Private MariaDB and Redis for ``make run`` and the tests, from the machine's own server binaries.

Developers' machines and CI have Debian's ``mariadb-server`` and ``redis-server`` installed but
not running (no systemd, nothing starts them), and Debian's MariaDB lets root in only over its
unix socket, so the system instances cannot serve the default settings (root, empty password,
over TCP). When nothing answers at the configured address, these functions start a private
instance of each, in a data dir of our own, on the configured loopback port, and hand back its
process; a server that already answers is used as it is. Data is kept across restarts: the
MariaDB data dir is initialised once, Redis writes an append-only file.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Callable
from urllib.parse import unquote, urlsplit

import pymysql  # aiomysql's own driver (a dependency of it); the checks here are synchronous
import redis

from config.settings import Settings

__all__ = ["StoreUnavailable", "ensure_mysql", "ensure_redis", "stop_store", "find_binary"]

#: Where the server binaries are looked for after ``PATH`` (``/usr/sbin`` is often not on it).
SEARCH_DIRS: tuple[str, ...] = ("/usr/sbin", "/usr/bin")
#: Longest wait for a started server to let us in.
READY_TIMEOUT = 60.0
#: Timeout of one probe (connect, and reading the greeting: a listener that never speaks must not hang us).
PROBE_TIMEOUT = 2.0
#: MariaDB's "Access denied for user" error: the server is up and says no, waiting will not help.
_ACCESS_DENIED = 1045
#: Longest unix socket path the kernel takes is 107 bytes; beyond this one goes to the temp dir.
_MAX_SOCKET_PATH = 100


class StoreUnavailable(RuntimeError):
    """No usable MySQL/Redis at the configured address, and none could be started here."""


def find_binary(name: str) -> str | None:
    """``name`` on ``PATH``, else in :data:`SEARCH_DIRS`; ``None`` when it is not installed."""
    found = shutil.which(name)
    if found:
        return found
    for folder in SEARCH_DIRS:
        candidate = Path(folder) / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


# --- MariaDB ---------------------------------------------------------------------------------


def ensure_mysql(settings: Settings, data_dir: Path, log: Path) -> subprocess.Popen[bytes] | None:
    """Make the configured MySQL account usable; start a private MariaDB in ``data_dir`` if needed.

    ``None`` when a server already lets ``mysql_user`` in at ``mysql_host:mysql_port`` (it is not
    ours to stop); otherwise the started ``mariadbd``, to be ended with :func:`stop_store`.
    """
    host, port, user = settings.mysql_host, settings.mysql_port, settings.mysql_user
    where = f"{host}:{port}"
    refusal = _mysql_refusal(settings)
    if refusal is None:
        return None
    if not _is_loopback(host):
        raise StoreUnavailable(f"MySQL at {where} does not let {user!r} in ({refusal}); "
                               f"a private MariaDB is started only on a loopback MYSQL_HOST")
    if _port_open(host, port):
        raise StoreUnavailable(f"something answers at {where} but {user!r} cannot log in ({refusal}); "
                               f"set MYSQL_USER/MYSQL_PASSWORD to match it or free the port")
    mariadbd = _require("mariadbd", "mariadb-server")
    install_db = _require("mariadb-install-db", "mariadb-server")

    data_dir = data_dir.absolute()
    _initialise_mysql(install_db, data_dir, log)
    sock = _socket_path(data_dir)
    cmd = [mariadbd, "--no-defaults", f"--datadir={data_dir}", f"--socket={sock}", f"--port={port}",
           f"--bind-address={_bind_host(host)}", "--skip-log-bin"]
    if os.geteuid() == 0:
        cmd.append("--user=root")  # mariadbd refuses to run as root without being told to
    proc = _spawn(cmd, log)
    try:
        admin: list[pymysql.connections.Connection] = []

        def admin_ready() -> bool:
            conn = _admin_connection(sock, settings, data_dir)
            if conn is not None:
                admin.append(conn)
            return conn is not None

        _wait_until(proc, log, f"MariaDB in {data_dir}", admin_ready)
        with admin[0] as conn:
            if user != "root" or settings.mysql_password:
                _ensure_account(conn, settings)
        refusal = _mysql_refusal(settings)
        if refusal is not None:
            raise StoreUnavailable(f"the private MariaDB at {where} is up but {user!r} cannot log in over TCP "
                                   f"({refusal}); see {log}")
    except BaseException:
        stop_store(proc)
        raise
    return proc


def _mysql_refusal(settings: Settings) -> str | None:
    """``None`` when the configured account logs in over TCP and runs a query, else why not.

    A real login, not a TCP connect: a port that accepts says nothing about the account.
    """
    try:
        conn = pymysql.connect(host=settings.mysql_host, port=settings.mysql_port, user=settings.mysql_user,
                               password=settings.mysql_password, connect_timeout=PROBE_TIMEOUT,
                               read_timeout=PROBE_TIMEOUT, write_timeout=PROBE_TIMEOUT)
    except (pymysql.MySQLError, OSError) as exc:
        return _one_line(exc)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1")
    except (pymysql.MySQLError, OSError) as exc:
        return _one_line(exc)
    finally:
        conn.close()
    return None


def _initialise_mysql(install_db: str, data_dir: Path, log: Path) -> None:
    """Create the system tables once; a data dir that has them keeps its data across restarts.

    It is built next to ``data_dir`` and renamed into place when complete, so an interrupted
    initialisation never leaves a half-made data dir that looks finished.
    """
    if (data_dir / "mysql").is_dir():
        return
    if data_dir.exists() and any(data_dir.iterdir()):
        raise StoreUnavailable(f"{data_dir} is neither empty nor a MariaDB data dir; remove it or use another")
    staging = data_dir.with_name(data_dir.name + ".initialising")
    shutil.rmtree(staging, ignore_errors=True)
    staging.parent.mkdir(parents=True, exist_ok=True)
    log.parent.mkdir(parents=True, exist_ok=True)
    # normal root authentication: root@localhost/127.0.0.1/::1 with an empty password, over TCP too
    cmd = [install_db, "--no-defaults", f"--datadir={staging}", "--auth-root-authentication-method=normal",
           "--skip-test-db"]
    with log.open("ab") as out:
        done = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                              timeout=300, check=False)
    if done.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        raise StoreUnavailable(f"mariadb-install-db failed (exit {done.returncode}) for {data_dir}; "
                               f"last lines of {log}:\n{_tail(log)}")
    if data_dir.exists():
        data_dir.rmdir()
    staging.rename(data_dir)


def _socket_path(data_dir: Path) -> Path:
    """The private server's socket, in its data dir unless that path is too long for a socket."""
    sock = data_dir / "mysqld.sock"
    if len(os.fsencode(sock)) <= _MAX_SOCKET_PATH:
        return sock
    digest = hashlib.sha1(os.fsencode(data_dir)).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"mariadb-{digest}.sock"


def _admin_connection(sock: Path, settings: Settings, data_dir: Path) -> pymysql.connections.Connection | None:
    """root over the private server's unix socket, or ``None`` while the server is not up yet.

    The socket is the way in that does not depend on the configured account. root's password
    is empty unless the configured account is root with a password (set on an earlier start).
    """
    passwords = [""]
    if settings.mysql_user == "root" and settings.mysql_password:
        passwords.append(settings.mysql_password)
    denied: pymysql.MySQLError | None = None
    for password in passwords:
        try:
            return pymysql.connect(unix_socket=str(sock), user="root", password=password,
                                   connect_timeout=PROBE_TIMEOUT, read_timeout=30, write_timeout=30)
        except pymysql.MySQLError as exc:
            if not exc.args or exc.args[0] != _ACCESS_DENIED:
                return None  # socket not there yet, or the server still starting
            denied = exc
    raise StoreUnavailable(f"the private MariaDB in {data_dir} is up but refuses root over {sock} "
                           f"({_one_line(denied)}); remove the data dir to start afresh")


def _ensure_account(conn: pymysql.connections.Connection, settings: Settings) -> None:
    """Create (or reset the password of) the configured account, with every privilege, for loopback hosts.

    Every loopback host name: a TCP client from 127.0.0.1 may be matched as ``localhost``.
    """
    user, password = settings.mysql_user, settings.mysql_password
    with conn.cursor() as cur:
        for host in ("127.0.0.1", "::1", "localhost"):
            cur.execute("CREATE USER IF NOT EXISTS %s@%s IDENTIFIED BY %s", (user, host, password))
            cur.execute("ALTER USER %s@%s IDENTIFIED BY %s", (user, host, password))
            cur.execute("GRANT ALL PRIVILEGES ON *.* TO %s@%s WITH GRANT OPTION", (user, host))
    conn.commit()


# --- Redis -----------------------------------------------------------------------------------


def ensure_redis(settings: Settings, data_dir: Path, log: Path) -> subprocess.Popen[bytes] | None:
    """Make ``redis_url`` answer; start a private Redis with its append-only file in ``data_dir`` if needed.

    ``None`` when a Redis already answers PING there; otherwise the started ``redis-server``,
    to be ended with :func:`stop_store`. Append-only, so carts survive a restart of ``make run``.
    """
    url = settings.redis_url
    refusal = _redis_refusal(url)
    if refusal is None:
        return None
    parts = urlsplit(url)
    host, port = parts.hostname, parts.port or 6379
    where = f"{host}:{port}"
    if parts.scheme != "redis" or not host:
        raise StoreUnavailable(f"no Redis answers at {url} ({refusal}); a private Redis is started only "
                               f"for a redis://host:port URL")
    if not _is_loopback(host):
        raise StoreUnavailable(f"no Redis answers at {where} ({refusal}); a private Redis is started only "
                               f"on a loopback REDIS_URL host")
    if _port_open(host, port):
        raise StoreUnavailable(f"something listens at {where} but does not answer PING ({refusal}); "
                               f"fix REDIS_URL or free the port")
    if parts.username and unquote(parts.username) != "default":
        raise StoreUnavailable(f"a private Redis has only the default user; drop {parts.username!r} from REDIS_URL")
    redis_server = _require("redis-server", "redis-server")

    data_dir = data_dir.absolute()
    data_dir.mkdir(parents=True, exist_ok=True)
    cmd = [redis_server, "--port", str(port), "--bind", _bind_host(host), "--dir", str(data_dir),
           "--appendonly", "yes", "--save", "", "--daemonize", "no"]
    if parts.password:
        cmd += ["--requirepass", unquote(parts.password)]
    proc = _spawn(cmd, log)
    try:
        _wait_until(proc, log, f"Redis in {data_dir}", lambda: _redis_ready(url))
    except BaseException:
        stop_store(proc)
        raise
    return proc


def _redis_refusal(url: str) -> str | None:
    """``None`` when a Redis answers PING at ``url``, else why not."""
    client = redis.Redis.from_url(url, socket_connect_timeout=PROBE_TIMEOUT, socket_timeout=PROBE_TIMEOUT)
    try:
        client.ping()
    except (redis.RedisError, OSError) as exc:
        return _one_line(exc)
    finally:
        client.close()
    return None


def _redis_ready(url: str) -> bool:
    """PING answered; a server that is up but refuses us (auth) fails at once instead of at the timeout."""
    client = redis.Redis.from_url(url, socket_connect_timeout=PROBE_TIMEOUT, socket_timeout=PROBE_TIMEOUT)
    try:
        return bool(client.ping())
    except (redis.exceptions.AuthenticationError, redis.exceptions.ResponseError) as exc:
        raise StoreUnavailable(f"the private Redis at {url} is up but refuses us: {_one_line(exc)}") from exc
    except (redis.RedisError, OSError):
        return False  # not listening yet, or still loading its append-only file
    finally:
        client.close()


# --- processes -------------------------------------------------------------------------------


def stop_store(proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """SIGTERM the server's process group and wait (both servers flush and exit cleanly on it);
    SIGKILL if it is still there after ``timeout`` seconds."""
    if proc.poll() is not None:
        return
    _signal(proc, signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        _signal(proc, signal.SIGKILL)
        proc.wait()


def _signal(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    """Signal the process group the server leads; only the process if it leads none (never our own group)."""
    try:
        if os.getpgid(proc.pid) == proc.pid:
            os.killpg(proc.pid, sig)
        else:
            proc.send_signal(sig)
    except ProcessLookupError:
        pass


def _spawn(cmd: list[str], log: Path) -> subprocess.Popen[bytes]:
    """Start a server in its own session (a Ctrl-C meant for the launcher does not cut it mid-write)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)


def _wait_until(proc: subprocess.Popen[bytes], log: Path, what: str, ready: Callable[[], bool],
                timeout: float = READY_TIMEOUT) -> None:
    """Poll ``ready`` until it holds; fail at once, with the log's tail, if the server exits."""
    deadline = time.monotonic() + timeout
    while not ready():
        code = proc.poll()
        if code is not None:
            raise StoreUnavailable(f"{what} exited with code {code} before it was ready; "
                                   f"last lines of {log}:\n{_tail(log)}")
        if time.monotonic() > deadline:
            raise StoreUnavailable(f"{what} not ready after {timeout:.0f}s; last lines of {log}:\n{_tail(log)}")
        time.sleep(0.1)


# --- helpers ---------------------------------------------------------------------------------


def _require(name: str, package: str) -> str:
    found = find_binary(name)
    if found is None:
        raise StoreUnavailable(f"{name} not found (PATH, {', '.join(SEARCH_DIRS)}): "
                               f"install it with `apt-get install -y {package}`")
    return found


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _bind_host(host: str) -> str:
    """An address to bind: the servers want one, clients of ``localhost`` fall back to 127.0.0.1."""
    return "127.0.0.1" if host == "localhost" else host


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _one_line(exc: BaseException | None) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _tail(log: Path, lines: int = 15) -> str:
    try:
        with log.open("rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 8192))
            text = f.read().decode(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])
