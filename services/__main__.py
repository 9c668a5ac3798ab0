"""Platform command line: ``python -m services <command>``.

* ``migrate [--revision head] [service…]`` / ``downgrade [--revision base] service…``
* ``seed``: migrate every service to head, then load the demo data (development only, idempotent)
* ``run``: migrate, seed, start the four services and the gateway, stop them all cleanly on Ctrl-C / SIGTERM. A
  process that exits meanwhile is started again after a back-off (``--restart-delay``, 1 s, doubling to 30 s while
  it keeps failing; ``services/supervisor.py``); the others go on.
  ``run --replicas N`` (or ``--replicas SERVICE=N``, repeatable): N processes of each (or that) service, replica k
  on the service's port + 100·k (records: 8003, 8103, 8203 …); the gateway is given all of them.
  ``run --production``: the same processes in production mode on one machine — secrets from the environment, no
  VNeID stand-in, no demo data: migrate, bootstrap (the services' clients), start.
* ``bootstrap [--admin-username NAME --admin-password-file PATH|-] [--disable-development-secrets]``: migrate
  identity, then register the services' own machine clients from ``<SVC>_CLIENT_ID`` / ``<SVC>_CLIENT_SECRET`` and
  create the first platform administrator (the password from a file, or standard input with ``-``; read only when
  the account is created). Idempotent. In production, refuses while development secrets are stored
  (``services/identity/bootstrap.py``).
* ``backup DEST`` / ``restore SRC [--replace]``: every service database (``pg_dump -Fc`` / SQLite's online backup
  API) and every object store, with a manifest of checksums and schema revisions (``services/common/backup.py``).
* ``outbox stats [service…]``: pending and dead events and the lag of the oldest pending one, per service
* ``outbox redrive [service…] [--type T] [--receiver URL] [--since TIME]``: dead events matching the filter become
  pending again (the running services send them at their next poll)
* ``credentials-restatus [--batch-size N] [--max-batches N]``: migrate credentials, then sign again, in the
  foreground, the documents issued with a two-entry ``credentialStatus`` (the credentials service also does it in
  the background; resumable, idempotent: ``services/credentials/issuing/restatus.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import httpx

from services.common.migrations import downgrade, upgrade
from services.registry import GATEWAY_PORT, SERVICES
from services.supervisor import Supervisor

#: replica k of a service listens on its port + k × this
REPLICA_PORT_STEP = 100


def replica_ports(ports: dict[str, int], replicas: dict[str, int]) -> dict[str, list[int]]:
    """Each service's ports, one per replica: its own port, then + 100, + 200 … Refuses a port used twice."""
    plan = {name: [port + REPLICA_PORT_STEP * k for k in range(replicas.get(name, 1))] for name, port in ports.items()}
    used = [p for ps in plan.values() for p in ps]
    clashes = sorted({p for p in used if used.count(p) > 1})
    if clashes:
        raise ValueError(f"replicas would share port(s) {', '.join(map(str, clashes))}: choose other --port values")
    return plan


def process_plan(ports: dict[str, list[int]], gateway_port: int) -> list[tuple[str, str, int]]:
    """``(process name, ASGI factory, port)`` of every process: ``records``, ``records-2`` … then ``gateway``."""
    plan = [(name if k == 0 else f"{name}-{k + 1}", SERVICES[name].app_factory, port)
            for name in SERVICES for k, port in enumerate(ports[name])]
    plan.append(("gateway", "gateway.app:create_app", gateway_port))
    return plan


def platform_env(host: str, ports: dict[str, int], gateway_port: int, var_dir: Path, *, production: bool = False,
                 replicas: dict[str, list[int]] | None = None) -> dict[str, str]:
    """Environment that wires the processes together; values already in the environment win.

    ``replicas``: every service's ports when it runs several processes (:func:`replica_ports`): every URL naming a
    service lists them all, comma-separated — the gateway's ``GATEWAY_<SVC>_URL``, the services' ``<SVC>_IDENTITY_URL``
    and each receiver in ``<SVC>_EVENT_ROUTES`` (their calls go round robin and fail over:
    ``services/common/replicas.py``). Identifiers stay one URL: the token issuer, the VNeID stand-in's issuer.

    ``production``: every process in production mode (``<SVC>_ENVIRONMENT``, ``GATEWAY_ENVIRONMENT``: that one is
    forced), no development VNeID stand-in (configure ``IDENTITY_VNEID_*`` for the real provider); databases and
    the object store still default to ``var_dir`` unless the environment names PostgreSQL and S3."""
    urls = {name: [f"http://{host}:{port}" for port in (replicas or {}).get(name, [ports[name]])] for name in SERVICES}
    identity = urls["identity"][0]
    gateway = f"http://{host}:{gateway_port}"
    objects = f"file://{var_dir / 'objects'}"

    def receiver(name: str) -> str:
        """One receiver of events: its replicas' ``/v1/events``, comma-separated."""
        return ",".join(f"{url}/v1/events" for url in urls[name])

    env: dict[str, str] = {}
    for name, spec in SERVICES.items():
        p = spec.env_prefix
        env[p + "DATABASE_URL"] = f"sqlite+aiosqlite:///{var_dir / (name + '.db')}"
        env[p + "OBJECT_STORE_URL"] = objects
        env[p + "IDENTITY_URL"] = ",".join(urls["identity"])
        env[p + "JWT_ISSUER"] = identity
        env[p + "PUBLIC_BASE_URL"] = gateway
        env["GATEWAY_" + name.upper() + "_URL"] = ",".join(urls[name])
    env["GATEWAY_JWT_ISSUER"] = identity
    env["LEARNING_RECORDS_URL"] = ",".join(urls["records"])  # gradebooks read programmes and send grades there
    # SCORM / cmi5 packages run in sandboxed frames (an opaque origin: their requests say ``Origin: null``) and
    # report to the xAPI endpoints with the launch's own credentials, never cookies
    env["GATEWAY_CORS_ORIGINS"] = '["null"]'
    if not production:
        # development-only stand-in for VNeID, served by identity itself, reached by browsers through the gateway
        env["IDENTITY_DEV_OIDC_ENABLED"] = "true"
        env["IDENTITY_VNEID_ISSUER"] = f"{identity}/dev-oidc"
        env["IDENTITY_VNEID_CLIENT_ID"] = "vet-platform-dev"
        env["IDENTITY_VNEID_CLIENT_SECRET"] = "dev-only-vneid-client-secret"
        env["IDENTITY_VNEID_REDIRECT_URI"] = f"{gateway}/api/identity/v1/auth/vneid/callback"
    env["RECORDS_EVENT_ROUTES"] = json.dumps({"vn.vet.records.*": [receiver("credentials")]})
    env["LEARNING_EVENT_ROUTES"] = json.dumps({"vn.vet.learning.*": [receiver("credentials")]})
    env["RECORDS_LEARNING_URL"] = urls["learning"][0]  # national oversight pulls learning's activity (one replica)
    env["RECORDS_CREDENTIALS_URL"] = urls["credentials"][0]  # credit transfer verifies presented diplomas there
    env["CREDENTIALS_EVENT_ROUTES"] = json.dumps({"vn.vet.credentials.*": [receiver("records"), receiver("learning")]})
    wired = {k: os.environ.get(k, v) for k, v in env.items()}
    if production:
        wired |= {spec.env_prefix + "ENVIRONMENT": "production" for spec in SERVICES.values()} | {"GATEWAY_ENVIRONMENT": "production"}
    return wired


def production_problems() -> list[str]:
    """What keeps a process from starting in production (each settings class's own refusal: development or
    empty secrets, the stand-in), checked before anything starts."""
    from pydantic import ValidationError

    problems = []
    for name in SERVICES:
        try:
            _settings(name)
        except ValidationError as exc:
            problems += [f"{name}: {err['msg'].removeprefix('Value error, ')}" for err in exc.errors()]
    return problems


def _settings(name: str):  # noqa: ANN202 - returns the service's own settings class
    return SERVICES[name].settings_class()()


async def migrate_all(names: list[str], revision: str) -> None:
    for name in names:
        await upgrade(name, _settings(name).database_url, revision)
        print(f"migrated {name} to {revision}", flush=True)


async def seed_all() -> list[str]:
    from services.identity.seed import seed

    service_clients, services = {}, {}
    for name in ("learning", "records", "credentials"):
        s = _settings(name)
        service_clients[s.client_id] = s.client_secret
        services[s.client_id] = name
    created = await seed(_settings("identity"), service_clients, services)
    from services.learning.seed import seed as seed_learning
    from services.records.seed import seed as seed_records

    return created + await seed_learning(_settings("learning")) + await seed_records(_settings("records"))


def _die_with_parent() -> None:
    """Children get SIGTERM if the runner dies without cleaning up (Linux)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def start_process(host: str, name: str, factory: str, port: int, log_level: str) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "uvicorn", "--factory", factory, "--host", host, "--port", str(port),
           "--log-level", log_level, "--no-access-log"]
    if name == "gateway":  # its own server settings: header timeout, no uvicorn X-Forwarded-For handling
        cmd = [sys.executable, "-m", "gateway", "--host", host, "--port", str(port), "--log-level", log_level]
    return subprocess.Popen(cmd, env=os.environ.copy(), start_new_session=True, preexec_fn=_die_with_parent)


def start_processes(host: str, plan: list[tuple[str, str, int]], log_level: str) -> dict[str, subprocess.Popen[bytes]]:
    procs: dict[str, subprocess.Popen[bytes]] = {}
    for name, factory, port in plan:
        procs[name] = start_process(host, name, factory, port, log_level)
        print(f"started {name} on port {port} (pid {procs[name].pid})", flush=True)
    return procs


def _serving(host: str, port: int) -> bool:
    try:
        return httpx.get(f"http://{host}:{port}/healthz", timeout=0.5).status_code == 200
    except httpx.HTTPError:
        return False


def stop_processes(procs: dict[str, subprocess.Popen[bytes]], timeout: float = 10.0) -> None:
    """The gateway first (no new requests reach the services), then the services; SIGKILL after ``timeout``."""
    order = [procs[n] for n in ("gateway",) if n in procs] + [p for n, p in procs.items() if n != "gateway"]
    for group in (order[:1], order[1:]):
        for proc in group:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for proc in group:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def wait_ready(host: str, plan: list[tuple[str, str, int]], procs: dict[str, subprocess.Popen[bytes]], timeout: float = 60.0) -> None:
    pending = {name: port for name, _, port in plan}
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        for name, port in list(pending.items()):
            if procs[name].poll() is not None:
                raise RuntimeError(f"{name} exited with code {procs[name].returncode} during start-up")
            try:
                if httpx.get(f"http://{host}:{port}/healthz", timeout=1.0).status_code == 200:
                    del pending[name]
            except httpx.HTTPError:
                pass
        time.sleep(0.2)
    if pending:
        raise RuntimeError(f"not healthy after {timeout:.0f}s: {', '.join(pending)}")


def cmd_run(args: argparse.Namespace) -> int:
    ports = {name: spec.port for name, spec in SERVICES.items()}
    for item in args.port or []:
        name, _, value = item.partition("=")
        ports[name] = int(value)
    counts: dict[str, int] = {}
    for name, count in args.replicas or []:
        counts.update({n: count for n in SERVICES} if name is None else {name: count})
    try:
        replicas = replica_ports(ports, counts)
    except ValueError as exc:
        print(f"run: {exc}", file=sys.stderr, flush=True)
        return 2
    plan = process_plan(replicas, args.gateway_port)
    var_dir = Path(args.var).resolve()
    var_dir.mkdir(parents=True, exist_ok=True)
    os.environ.update(platform_env(args.host, ports, args.gateway_port, var_dir, production=args.production,
                                   replicas=replicas))
    if args.production:
        problems = production_problems()
        if problems:
            print("refusing to start in production:\n  " + "\n  ".join(problems), file=sys.stderr, flush=True)
            return 1

    asyncio.run(migrate_all(list(SERVICES), "head"))
    if args.production:
        # the services' own clients from the environment, and the refusal of stored development secrets
        if cmd_bootstrap(argparse.Namespace(admin_username=None, admin_full_name="", admin_password_file=None,
                                            disable_development_secrets=False)) != 0:
            return 1
    elif not args.no_seed:
        for line in asyncio.run(seed_all()):
            print(f"demo data: {line}", flush=True)

    stopping = False

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    procs = start_processes(args.host, plan, args.log_level)
    try:
        wait_ready(args.host, plan, procs)
        base = f"http://{args.host}:{args.gateway_port}"
        if args.production:
            print(f"\nVET platform is up (production).\n  gateway: {base}  "
                  + "  ".join(f"{n}: http://{args.host}:{p}" for n, _, p in plan if n != "gateway")
                  + "\nPress Ctrl-C to stop.", flush=True)
        else:
            print(
                f"\nVET platform is up.\n  API docs (all services): {base}/docs\n  gateway: {base}  "
                + "  ".join(f"{n}: http://{args.host}:{p}" for n, _, p in plan if n != "gateway")
                + "\n  demo machine client: demo-school-sis / dev-only-demo-school-secret"
                + f"\n  token: curl -u demo-school-sis:dev-only-demo-school-secret -d grant_type=client_credentials {base}/api/identity/oauth/token"
                + "\nPress Ctrl-C to stop.",
                flush=True,
            )
        # a process that exits is started again after a back-off; the other replicas carry its work meanwhile
        entries = {name: (factory, port) for name, factory, port in plan}
        supervisor = Supervisor(
            procs, spawn=lambda name: start_process(args.host, name, *entries[name], args.log_level),
            healthy=lambda name: _serving(args.host, entries[name][1]),
            log=lambda line: print(line, file=sys.stderr, flush=True), first_delay=args.restart_delay,
        )
        while not stopping:
            supervisor.tick()
            time.sleep(0.3)
        return 0
    except RuntimeError as exc:
        print(f"start-up failed: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        stop_processes(procs)
        print("all processes stopped", flush=True)


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive whole number")
    return number


def cmd_credentials_restatus(args: argparse.Namespace) -> int:
    from services.common.db import Database
    from services.credentials.issuing import restatus
    from services.credentials.issuing.signing import BatchSigner
    from services.credentials.proofs.keys import MasterKeyProtector, SigningKeys

    settings = _settings("credentials")

    async def go() -> restatus.Summary:
        await upgrade("credentials", settings.database_url, "head")
        db = Database(settings.database_url)
        signer = BatchSigner(settings.signing_processes)
        try:
            return await restatus.run(db, SigningKeys(MasterKeyProtector(settings.key_encryption_key)),
                                      batch_size=args.batch_size, max_batches=args.max_batches, signer=signer,
                                      progress=lambda s: print(f"credentials-restatus: {s.line()}", flush=True))
        finally:
            signer.close()
            await db.dispose()

    summary = asyncio.run(go())
    print(f"credentials-restatus done: {summary.line()}", flush=True)
    return 0


BOOTSTRAP_SERVICES = ("learning", "records", "credentials")


def service_clients_from_env() -> list:  # noqa: ANN201 - list[ServiceClient]
    """The services' own client ids and secrets as their environment gives them (the settings' defaults
    otherwise: the development values, refused in production)."""
    from services.identity.bootstrap import ServiceClient

    clients = []
    for name in BOOTSTRAP_SERVICES:
        spec = SERVICES[name]
        fields = spec.settings_class().model_fields
        client_id = os.environ.get(spec.env_prefix + "CLIENT_ID") or fields["client_id"].default
        secret = os.environ.get(spec.env_prefix + "CLIENT_SECRET") or fields["client_secret"].default
        clients.append(ServiceClient(name, client_id, secret))
    return clients


def read_password(source: str | None) -> str:
    """The first administrator's password: a file's content, or standard input for ``-`` (one trailing line
    break dropped), or typed twice at a terminal. Never an argument or an environment variable (they end up in
    process listings, shell history and logs)."""
    if source == "-":
        return sys.stdin.read().removesuffix("\n").removesuffix("\r")
    if source:
        return Path(source).read_text(encoding="utf-8").removesuffix("\n").removesuffix("\r")
    if not sys.stdin.isatty():
        raise SystemExit("bootstrap: give the administrator's password with --admin-password-file PATH (or - for standard input)")
    import getpass

    first = getpass.getpass("password for the platform administrator: ")
    if getpass.getpass("again: ") != first:
        raise SystemExit("bootstrap: the two passwords differ")
    return first


def cmd_bootstrap(args: argparse.Namespace) -> int:
    from services.identity.bootstrap import BootstrapRefused, FirstAdmin, bootstrap

    settings = _settings("identity")
    admin = None
    if args.admin_username:
        admin = FirstAdmin(args.admin_username, args.admin_full_name, lambda: read_password(args.admin_password_file))
    try:
        asyncio.run(upgrade("identity", settings.database_url, "head"))
        report = asyncio.run(bootstrap(settings, service_clients_from_env(), admin,
                                       disable_development_secrets=args.disable_development_secrets,
                                       new_signing_key=getattr(args, "new_signing_key", False)))
    except BootstrapRefused as exc:
        print(f"bootstrap refused: {exc}", file=sys.stderr, flush=True)
        return 2
    for line in report.lines:
        print(f"bootstrap: {line}", flush=True)
    print("bootstrap: done" + ("" if report.changed else " (nothing changed)"), flush=True)
    return 0


def backup_targets() -> list:  # noqa: ANN201 - list[ServiceTarget]
    """Every service's database and object store, as the environment configures the services."""
    from services.common.backup import ServiceTarget, store_address
    from services.common.storage import open_store

    targets = []
    for name in SERVICES:
        s = _settings(name)

        def opener(s=s):  # noqa: ANN001, ANN202
            return open_store(s.object_store_url, s3_endpoint=s.s3_endpoint, s3_access_key=s.s3_access_key,
                              s3_secret_key=s.s3_secret_key, s3_secure=s.s3_secure, s3_region=s.s3_region,
                              secret_key=s.secret_key, public_base_url=s.public_service_url)

        targets.append(ServiceTarget(name, s.database_url, store_address(s.object_store_url, s.s3_endpoint), opener))
    return targets


def cmd_backup_restore(args: argparse.Namespace) -> int:
    from services.common import backup

    targets = backup_targets()

    def progress(line: str) -> None:
        print(f"{args.command}: {line}", flush=True)

    async def go() -> None:
        try:
            if args.command == "backup":
                await backup.backup(Path(args.dest), targets, progress=progress)
            else:
                await backup.restore(Path(args.src), targets, replace=args.replace, progress=progress)
        finally:
            for target in targets:
                await target.aclose()

    try:
        asyncio.run(go())
    except backup.BackupError as exc:
        print(f"{args.command} refused: {exc}", file=sys.stderr, flush=True)
        return 2
    print(f"{args.command}: done", flush=True)
    return 0


def _replicas(value: str) -> tuple[str | None, int]:
    """``N`` (every service) or ``SERVICE=N``."""
    name, _, count = value.rpartition("=")
    if name and name not in SERVICES:
        raise argparse.ArgumentTypeError(f"{name} is not a service ({', '.join(SERVICES)})")
    if not count.isdigit() or not 1 <= int(count) <= 20:
        raise argparse.ArgumentTypeError(f"{value}: replicas must be a whole number from 1 to 20")
    return name or None, int(count)


def _service(value: str) -> str:
    if value not in SERVICES:
        raise argparse.ArgumentTypeError(f"{value} is not a service ({', '.join(SERVICES)})")
    return value


def _aware(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value} is not an RFC 3339 time") from None
    if parsed.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{value} has no UTC offset (e.g. 2026-12-01T00:00:00+07:00)")
    return parsed


def cmd_outbox(args: argparse.Namespace) -> int:
    """Each service's outbox, in its own database (the services may be running: one short transaction each)."""
    from services.common.db import Database
    from services.common.outbox import outbox_stats, redrive

    async def go() -> None:
        for name in args.services:
            db = Database(_settings(name).database_url)
            try:
                async with db.session(write=args.outbox_command == "redrive") as session:
                    if args.outbox_command == "redrive":
                        count = await redrive(session, type=args.type, receiver=args.receiver, since=args.since)
                        print(f"{name}: {count} dead event(s) re-driven", flush=True)
                    else:
                        s = await outbox_stats(session)
                        oldest = s.oldest_pending_at.isoformat() if s.oldest_pending_at else "-"
                        print(f"{name}: pending {s.pending}, dead {s.dead}, oldest pending {oldest}, "
                              f"lag {s.lag_seconds:.0f} s", flush=True)
            finally:
                await db.dispose()

    asyncio.run(go())
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p_mig = sub.add_parser("migrate", help="upgrade databases")
    p_mig.add_argument("services", nargs="*", default=list(SERVICES))
    p_mig.add_argument("--revision", default="head")
    p_down = sub.add_parser("downgrade", help="downgrade databases")
    p_down.add_argument("services", nargs="+")
    p_down.add_argument("--revision", default="base")
    sub.add_parser("seed", help="migrate, then load demo data (development only)")
    p_run = sub.add_parser("run", help="migrate, seed, start everything")
    p_run.add_argument("--host", default="127.0.0.1")
    p_run.add_argument("--gateway-port", type=int, default=GATEWAY_PORT)
    p_run.add_argument("--port", action="append", metavar="SERVICE=PORT")
    p_run.add_argument("--var", default="var", help="folder for SQLite files and the object store")
    p_run.add_argument("--no-seed", action="store_true")
    p_run.add_argument("--production", action="store_true",
                       help="every process in production mode: secrets from the environment (refused if development "
                            "ones), no VNeID stand-in, no demo data; migrate, then bootstrap the services' clients")
    p_run.add_argument("--log-level", default="info")
    p_run.add_argument("--replicas", action="append", type=_replicas, metavar="N|SERVICE=N",
                       help="processes per service (all, or one service; repeatable): replica k on the service's "
                            f"port + {REPLICA_PORT_STEP}·k, the gateway round-robins over them. Several processes "
                            "of a service are meant for PostgreSQL (<SVC>_DATABASE_URL): on SQLite they take turns writing one file")
    p_run.add_argument("--restart-delay", type=float, default=1.0, metavar="SECONDS",
                       help="a process that exits is started again after this long, doubling (up to 30 s) while it "
                            "keeps exiting within a minute of starting")
    p_boot = sub.add_parser("bootstrap", help="first start: the services' machine clients and the first platform administrator")
    p_boot.add_argument("--admin-username", help="the first platform administrator (created only if none exists)")
    p_boot.add_argument("--admin-full-name", default="Platform administrator")
    p_boot.add_argument("--admin-password-file", metavar="PATH", help="file holding the password, or - for standard input")
    p_boot.add_argument("--disable-development-secrets", action="store_true",
                        help="in production, disable the clients and accounts whose stored secret is a development value")
    p_boot.add_argument("--new-signing-key", action="store_true",
                        help="start a new token signing key (after IDENTITY_KEY_ENCRYPTION_SECRET was lost)")
    p_backup = sub.add_parser("backup", help="back up every service database and object store into a new folder")
    p_backup.add_argument("dest", help="a new (or empty) folder")
    p_restore = sub.add_parser("restore", help="restore a backup made by `backup` into empty databases and stores")
    p_restore.add_argument("src", help="the backup's folder")
    p_restore.add_argument("--replace", action="store_true",
                           help="drop what the databases hold and overwrite objects of the same key (destructive)")
    p_restatus = sub.add_parser("credentials-restatus",
                                help="sign again the credentials issued with a two-entry credentialStatus (resumable)")
    p_restatus.add_argument("--batch-size", type=_positive, default=100, help="credentials per transaction")
    p_restatus.add_argument("--max-batches", type=_positive, default=None, help="stop after this many batches")
    p_outbox = sub.add_parser("outbox", help="outbox stats, and re-drive of dead events in bulk")
    outbox_sub = p_outbox.add_subparsers(dest="outbox_command", required=True)
    p_stats = outbox_sub.add_parser("stats", help="pending and dead events, lag of the oldest pending one")
    p_redrive = outbox_sub.add_parser("redrive", help="dead events matching the filter become pending again")
    for p in (p_stats, p_redrive):
        p.add_argument("services", nargs="*", type=_service, default=list(SERVICES), metavar="service",
                       help=f"default: all ({', '.join(SERVICES)})")
    p_redrive.add_argument("--type", help="event type, or a prefix ending in *")
    p_redrive.add_argument("--receiver", help="destination URL or its beginning (http://credentials:8004)")
    p_redrive.add_argument("--since", type=_aware, help="written at or after this RFC 3339 time")
    args = parser.parse_args(argv)

    if args.command == "migrate":
        asyncio.run(migrate_all(args.services, args.revision))
    elif args.command == "downgrade":
        async def go() -> None:
            for name in args.services:
                await downgrade(name, _settings(name).database_url, args.revision)
                print(f"downgraded {name} to {args.revision}")
        asyncio.run(go())
    elif args.command == "seed":
        # the seeds write to identity's and learning's tables, so a fresh checkout migrates first
        asyncio.run(migrate_all(list(SERVICES), "head"))
        for line in asyncio.run(seed_all()):
            print(f"demo data: {line}")
    elif args.command == "run":
        return cmd_run(args)
    elif args.command in ("backup", "restore"):
        return cmd_backup_restore(args)
    elif args.command == "bootstrap":
        return cmd_bootstrap(args)
    elif args.command == "credentials-restatus":
        return cmd_credentials_restatus(args)
    elif args.command == "outbox":
        return cmd_outbox(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
