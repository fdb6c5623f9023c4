"""`python -m local run` serves the whole application; `python -m local invoke FN --event FILE` runs one handler."""

from __future__ import annotations

import argparse
import json
import logging
import os
import secrets
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from local import functions, postgres, topic, triggers
from local.containers import Containers, Invoker
from local.template import LOCAL_DIR, ROOT, Schedule, Template, env_name, load, parameter_values, resolve

log = logging.getLogger("local")
TOKEN_FILE = LOCAL_DIR / "admin-token"
sys.path.insert(0, str(ROOT / "layers" / "common"))


def _admin_token() -> str:
    """ADMIN_TOKEN, or one generated once and kept under .local/ so run and invoke agree."""
    if os.environ.get("ADMIN_TOKEN"):
        return os.environ["ADMIN_TOKEN"]
    if TOKEN_FILE.exists():
        return TOKEN_FILE.read_text().strip()
    TOKEN_FILE.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(24)
    TOKEN_FILE.write_text(token)
    TOKEN_FILE.chmod(0o600)
    return token


def _environment(template: Template) -> None:
    """What Lambda's environment would hold, with local stand-ins for the AWS-only parts."""
    values = parameter_values(template, dict(os.environ))
    for name, value in values.items():
        os.environ.setdefault(env_name(name), value)
    for fn in template.functions.values():
        for name, value in fn.environment.items():
            resolved = resolve(value, values)
            if resolved is not None and not name.endswith("_ARN"):
                os.environ.setdefault(name, str(resolved))
    os.environ["ADMIN_TOKEN"] = _admin_token()
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "INFO")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")


def _database() -> Any:
    """Uses DATABASE_URL, or starts the embedded server; applies the migrations either way."""
    from resilience.store.migrations import migrate

    server = None
    if not os.environ.get("DATABASE_URL"):
        uri, server = postgres.start()
        os.environ["DATABASE_URL"] = uri
    applied = migrate(os.environ["DATABASE_URL"])
    if applied:
        log.info("applied migrations: %s", ", ".join(applied))
    return server


def _schedule_expressions(template: Template) -> list[tuple[Schedule, str]]:
    values = parameter_values(template, dict(os.environ))
    found = []
    for schedule in template.schedules:
        expression = resolve(schedule.expression, values)
        if expression:
            found.append((schedule, str(expression)))
    return found


def _queues(template: Template) -> Any:
    """With INGEST_MODE=queued, the template's queues in process (local/queue.py), their URLs in the environment."""
    if os.environ.get("INGEST_MODE", "direct") != "queued":
        return None
    from local.queue import LocalQueues

    queues = LocalQueues(template)
    queues.export()
    return queues


def run(port: int, demo: bool = False) -> int:
    import uvicorn

    from local.scheduler import Scheduler
    from local.server import KEEP_ALIVE_SECONDS, LocalApi

    template = load()
    given_token = bool(os.environ.get("ADMIN_TOKEN"))
    _environment(template)
    server = _database()
    os.environ.setdefault("DASHBOARD_URL", f"http://127.0.0.1:{port}/dashboard")
    topic.install(template)
    queues = _queues(template)
    # LOCAL_CONCURRENCY=N: each HTTP function scales out to N containers; an SQS event source's
    # function to its MaximumConcurrency. Unset: everything in this process (local/containers.py).
    concurrency = int(os.environ.get("LOCAL_CONCURRENCY") or 0)
    invoker = Invoker(template, {fn.logical_id: concurrency for fn in template.functions.values() if fn.routes})
    sources = queues.sources(invoker) if queues else []
    if concurrency:
        for source in sources:
            invoker.pools[source.source.function] = Containers(source.source.function, source.concurrency)

    def run_schedule(schedule: Schedule) -> None:
        result = functions.invoke(template.functions[schedule.function], triggers.scheduled(schedule.name))
        log.info("%s (%s): %s", schedule.function, schedule.name, json.dumps(result, default=str)[:300])

    scheduler = Scheduler(_schedule_expressions(template), run_schedule)
    # No lifespan: the API has nothing to start or stop, and a second Ctrl-C would cancel it mid-wait.
    config = uvicorn.Config(
        LocalApi(template, invoker=invoker),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="off",
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
    )
    http = uvicorn.Server(config)
    base = f"http://127.0.0.1:{port}"

    def _stop(signum: int, _frame: Any) -> None:
        http.should_exit = True

    # Installed before the banner, so a signal sent as soon as it appears is handled.
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)

    schedules = ", ".join(f"{s.function} {e}" for s, e in _schedule_expressions(template))
    ingest = (
        "queued: POST answers 202; "
        + ", ".join(f"{s.source.function}: batches of {s.source.batch_size}, {s.concurrency} at once" for s in sources)
        if queues
        else "direct: POST stores and answers 200"
    )
    issuer = os.environ.get("JWT_ISSUER")
    user_reads = f"JWTs of {issuer}" if issuer else "closed (set JWT_ISSUER and JWT_AUDIENCE to open it)"
    token_source = "from ADMIN_TOKEN" if given_token else f"generated, kept in {TOKEN_FILE}"
    # The current token: during a rotation ADMIN_TOKEN holds the new one first, then the old.
    current_token = os.environ["ADMIN_TOKEN"].split(",")[0].strip()

    def announce() -> None:
        # The banner appears once the port accepts connections, so its URLs work when shown.
        while not http.started and not http.should_exit:
            time.sleep(0.05)
        if http.started:
            print(
                "\nResilience Telemetry is running locally\n"
                f"  API          {base}/v1  (POST {base}/v1/telemetry)\n"
                f"  Dashboard    {base}/dashboard\n"
                f"  API docs     {base}/docs\n"
                f"  Health       {base}/v1/health\n"
                f"  Own events   {base}/v1/me/telemetry: {user_reads}\n"
                f"  Admin token  {current_token}  ({token_source})\n"
                f"  Database     {f'embedded, data in {LOCAL_DIR}/pgdata' if server else 'DATABASE_URL'}\n"
                f"  Schedules    {schedules or 'none'}\n"
                f"  Ingest       {ingest}\n"
                "Ctrl-C stops everything.\n",
                flush=True,
            )

    threading.Thread(target=announce, daemon=True).start()
    scheduler.start()
    for source in sources:
        source.start()
    feeder = None
    if demo:
        from local.demo import Demo

        def run_schedules() -> None:
            for schedule, _ in _schedule_expressions(template):
                run_schedule(schedule)

        feeder = Demo(base, lambda: http.started, run_schedules)
        feeder.start()
    try:
        http.run()
    finally:
        scheduler.stop()
        if feeder is not None:
            feeder.stop()
        for source in sources:
            source.stop()
        invoker.stop()
        if queues is not None:
            queues.stop()
        if server is not None:
            postgres.stop(server)
        print("stopped", flush=True)
    return 0


def invoke(logical_id: str, event_path: str | None) -> int:
    template = load()
    if logical_id not in template.functions:
        print(f"unknown function {logical_id}; template.yaml has: {', '.join(template.functions)}", file=sys.stderr)
        return 2
    _environment(template)
    server = _database()
    os.environ.setdefault("DASHBOARD_URL", f"http://127.0.0.1:{os.environ.get('PORT', '3000')}/dashboard")
    topic.install(template)
    queues = _queues(template)
    try:
        # ${ADMIN_TOKEN} and other variables in an event file are filled in from the environment.
        event = json.loads(os.path.expandvars(Path(event_path).read_text())) if event_path else {}
        result = functions.invoke(template.functions[logical_id], event)
        print(json.dumps(result, indent=2, default=str))
        if queues is not None:
            # The queue lives as long as this process: its writer stores what the invocation queued.
            for source in queues.sources(lambda fn, e: functions.invoke(template.functions[fn], e)):
                log.info("%s stored the queue's events in %d invocation(s)", source.source.function, source.drain())
            queues.stop()
    finally:
        if server is not None:
            postgres.stop(server)
    return 0


def main(argv: list[str] | None = None) -> int:
    # The whole process logs at the functions' level: POWERTOOLS_LOG_LEVEL=DEBUG shows the libraries' debug too.
    level = os.environ.get("POWERTOOLS_LOG_LEVEL", "INFO").upper()
    logging.basicConfig(level=level, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    parser = argparse.ArgumentParser(prog="python -m local", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run_cmd = commands.add_parser("run", help="serve the API, run the schedules, deliver alerts")
    run_cmd.add_argument("--port", type=int, default=int(os.environ.get("PORT", "3000")))
    run_cmd.add_argument(
        "--demo",
        action="store_true",
        default=os.environ.get("DEMO", "").lower() in ("1", "yes", "true"),
        help="fill the database with 30 days of realistic traffic (a regression included) and keep it coming",
    )
    invoke_cmd = commands.add_parser("invoke", help="run one function's handler on an event file")
    invoke_cmd.add_argument("function", help="logical id in template.yaml, e.g. IngestFunction")
    invoke_cmd.add_argument("--event", help="path of the event JSON, e.g. events/ingest.json")
    args = parser.parse_args(argv)
    if args.command == "run":
        return run(args.port, args.demo)
    return invoke(args.function, args.event)


if __name__ == "__main__":
    sys.exit(main())
