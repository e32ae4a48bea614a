"""The ``tswarm`` command: run, master, worker, demo, report, compare, secret and target.

Only option parsing lives here; each command hands a ``RunOptions`` to the module that runs it
(``run``, ``master`` and ``demo`` through :mod:`tswarm.cli.modes`, which picks their run mode). This
module imports neither gevent nor Textual: ``run`` and ``worker`` patch with gevent before they import
anything that opens sockets. The top of the command line: no other cli module imports it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from typer._click import exceptions as click_errors  # typer >= 0.29 vendors click

from tswarm._version import __version__
from tswarm.cli.config import COMMANDS, find_config_path, load_config, suggest
from tswarm.cli.locust_cli import LocustCommandLine, translate_locust_command_line
from tswarm.cli.locust_config import LocustConfig, read_locust_config
from tswarm.cli.options import CommandContext, RunOptions
from tswarm.exceptions import UsageError

EXTRA_ARGS = {"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": ["-h", "--help"]}

app = typer.Typer(
    name="tswarm",
    help="A terminal-first distributed load tester with Locust's test-file API.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _env(name: str) -> str:
    return f"TSWARM_{name.upper()}"


def _version_callback(value: bool) -> None:
    if value:
        print(f"tswarm {__version__}")
        raise typer.Exit(0)


# The options every command that loads a test file shares. Defaults are Locust's.
Locustfile = Annotated[
    str,
    typer.Option(
        "-f",
        "--locustfile",
        envvar=_env("locustfile"),
        help="Test file(s): a .py file, a directory or a comma-separated list; '-' on a worker fetches it from the master.",
    ),
]
Host = Annotated[
    str | None,
    typer.Option(
        "-H",
        "--host",
        envvar=_env("host"),
        help="Base URL of the system under test, e.g. http://127.0.0.1:8080",
    ),
]
Users = Annotated[
    int, typer.Option("-u", "--users", envvar=_env("users"), help="Peak number of concurrent users.")
]
SpawnRate = Annotated[
    float,
    typer.Option(
        "-r", "--spawn-rate", envvar=_env("spawn_rate"), help="Users started (or stopped) per second."
    ),
]
RunTime = Annotated[
    str | None,
    typer.Option("-t", "--run-time", envvar=_env("run_time"), help="Stop after this long: 300s, 20m, 1h30m."),
]
Headless = Annotated[
    bool,
    typer.Option(
        "--headless", envvar=_env("headless"), help="No TUI: a live table on stderr, then a summary."
    ),
]
StopTimeout = Annotated[
    str,
    typer.Option(
        "--stop-timeout",
        "-s",
        envvar=_env("stop_timeout"),
        help="Let users finish their task for up to this long when stopping (0 = stop at once).",
    ),
]
Tags = Annotated[
    list[str] | None,
    typer.Option(
        "-T", "--tags", envvar=_env("tags"), help="Only run tasks with these tags (repeat or comma-separate)."
    ),
]
ExcludeTags = Annotated[
    list[str] | None,
    typer.Option(
        "-E", "--exclude-tags", envvar=_env("exclude_tags"), help="Do not run tasks with these tags."
    ),
]
Csv = Annotated[
    str | None,
    typer.Option(
        "--csv",
        envvar=_env("csv"),
        help="Write PREFIX_stats.csv, _stats_history.csv, _failures.csv, _exceptions.csv.",
    ),
]
CsvFullHistory = Annotated[
    bool,
    typer.Option(
        "--csv-full-history",
        envvar=_env("csv_full_history"),
        help="Every entry in _stats_history.csv, not only the aggregate.",
    ),
]
Json = Annotated[
    str | None,
    typer.Option(
        "--json",
        envvar=_env("json"),
        help="Write tswarm's JSON report to FILE ('-' for stdout). --json with no FILE (last, or before"
        " another option) is Locust's flag: its statistics list on stdout.",
    ),
]
# Locust's options for its own JSON list and its User classes (see tswarm.cli.locust_cli)
LocustJson = Annotated[
    bool,
    typer.Option(
        "--locust-json",
        hidden=True,  # what a bare --json (Locust's flag) becomes; see rewrite_json_flag
        help="Print Locust's statistics list as JSON on stdout at the end.",
    ),
]
JsonFile = Annotated[
    str | None,
    typer.Option(
        "--json-file",
        envvar=_env("json_file"),
        help="Write Locust's statistics list (as Locust's --json-file) to NAME.json at the end.",
    ),
]
ShowTaskRatio = Annotated[
    bool,
    typer.Option("--show-task-ratio", help="Print the task ratio of each User class and in total, and exit."),
]
ShowTaskRatioJson = Annotated[
    bool, typer.Option("--show-task-ratio-json", help="Print the task ratios as JSON, and exit.")
]
EqualWeights = Annotated[
    bool,
    typer.Option(
        "--equal-weights", help="Give every User class and every task the same weight (Locust's option)."
    ),
]
ConfigUsers = Annotated[
    list[str] | None,
    typer.Option(
        "--config-users",
        help="Set attributes of User classes: a JSON object (or array, or a .json file) with user_class_name"
        ' and the attributes, e.g. \'{"user_class_name": "Shop", "weight": 3}\' (repeatable).',
    ),
]
Profile = Annotated[
    str | None,
    typer.Option("--profile", envvar=_env("profile"), help="A label that groups runs; kept in the reports."),
]
Html = Annotated[
    str | None,
    typer.Option(
        "--html",
        envvar=_env("html"),
        help="Write a self-contained HTML report to FILE at the end ({u}, {r}, {t}: users, spawn rate, run time).",
    ),
]
Markdown = Annotated[
    str | None,
    typer.Option(
        "--markdown",
        envvar=_env("markdown"),
        help="Write a short Markdown summary to FILE at the end (e.g. $GITHUB_STEP_SUMMARY).",
    ),
]
Check = Annotated[
    list[str] | None,
    typer.Option(
        "--check",
        help="A pass/fail check like p95<300ms or 'GET /cart: fail_ratio<1%' (repeat; also TSWARM_CHECK).",
    ),
]
CheckAbort = Annotated[
    bool,
    typer.Option(
        "--check-abort", envvar=_env("check_abort"), help="Stop the test at the first breached check."
    ),
]
CheckGrace = Annotated[
    str,
    typer.Option(
        "--check-grace", envvar=_env("check_grace"), help="--check-abort waits this long first: 10s, 1m."
    ),
]
Junit = Annotated[
    str | None,
    typer.Option("--junit", envvar=_env("junit"), help="Write the checks and failures as JUnit XML to FILE."),
]
ResetStats = Annotated[
    bool,
    typer.Option(
        "--reset-stats", envvar=_env("reset_stats"), help="Reset the stats once all users are spawned."
    ),
]
OnlySummary = Annotated[
    bool,
    typer.Option(
        "--only-summary", envvar=_env("only_summary"), help="No live table, only the final summary."
    ),
]
PrintStats = Annotated[
    bool,
    typer.Option(
        "--print-stats",
        envvar=_env("print_stats"),
        help="Accepted for Locust command lines; nothing to do here: headless runs print the live table"
        " anyway (unless --only-summary), and the TUI shows it in its Statistics view.",
    ),
]
LogLevel = Annotated[
    str,
    typer.Option(
        "--loglevel", "-L", envvar=_env("loglevel"), help="DEBUG, INFO, WARNING, ERROR or CRITICAL."
    ),
]
LogFile = Annotated[
    str | None,
    typer.Option("--logfile", envvar=_env("logfile"), help="Write the log to this file instead of stderr."),
]
ExitCodeOnError = Annotated[
    int,
    typer.Option(
        "--exit-code-on-error",
        envvar=_env("exit_code_on_error"),
        help="Exit code when a request failed or user code raised.",
    ),
]
ListClasses = Annotated[
    bool, typer.Option("-l", "--list", help="List the User classes of the test file and exit.")
]
Config = Annotated[
    str | None,
    typer.Option(
        "--config",
        help="Config file: TOML (default: ./tswarm.toml, else [tool.tswarm] in ./pyproject.toml), or"
        " any other name in Locust's key = value format.",
    ),
]
Processes = Annotated[
    str | None,
    typer.Option(
        "--processes",
        envvar=_env("processes"),
        help="Run N local worker processes (or 'auto': one per core).",
    ),
]
Autostart = Annotated[
    bool,
    typer.Option("--autostart", envvar=_env("autostart"), help="TUI: start the test at once with -u and -r."),
]
Percentiles = Annotated[
    str | None,
    typer.Option(
        "--percentiles",
        envvar=_env("percentiles"),
        help="TUI: the percentile columns of the statistics, e.g. 50,95,99.9 (default 50,90,95,99).",
    ),
]
Autoquit = Annotated[
    float,
    typer.Option(
        "--autoquit",
        envvar=_env("autoquit"),
        help="TUI: quit this many seconds after the test ended (-1 = stay).",
    ),
]
HeartbeatInterval = Annotated[
    float,
    typer.Option(
        "--heartbeat-interval", envvar=_env("heartbeat_interval"), help="Seconds between heartbeats."
    ),
]
HeartbeatTimeout = Annotated[
    float,
    typer.Option(
        "--heartbeat-timeout",
        envvar=_env("heartbeat_timeout"),
        help="Seconds of silence before a worker is marked missing (3: three missed beats, as in Locust).",
    ),
]
MasterTimeout = Annotated[
    float,
    typer.Option(
        "--master-timeout",
        envvar=_env("master_timeout"),
        help="Seconds of silence before a worker exits (its users stop once it misses the master's beats).",
    ),
]
BindHost = Annotated[
    str,
    typer.Option(
        "--master-bind-host", envvar=_env("master_bind_host"), help="Interface the master binds to."
    ),
]
BindPort = Annotated[
    int, typer.Option("--master-bind-port", envvar=_env("master_bind_port"), help="Port the master binds to.")
]
ExpectWorkers = Annotated[
    int,
    typer.Option(
        "--expect-workers",
        envvar=_env("expect_workers"),
        help="Headless: wait for this many workers before starting.",
    ),
]
ExpectWorkersMaxWait = Annotated[
    float,
    typer.Option(
        "--expect-workers-max-wait",
        envvar=_env("expect_workers_max_wait"),
        help="Headless: give up after this many seconds (0 = wait forever).",
    ),
]
SecretFile = Annotated[
    str | None,
    typer.Option(
        "--secret-file",
        envvar=_env("secret_file"),
        help="A file with the cluster's shared secret (`tswarm secret FILE` makes one; or set "
        "TSWARM_SECRET): master and workers authenticate each other and encrypt every frame.",
    ),
]
MasterHost = Annotated[
    str, typer.Option("--master-host", envvar=_env("master_host"), help="Host of the master to connect to.")
]
MasterPort = Annotated[
    int, typer.Option("--master-port", envvar=_env("master_port"), help="Port of the master to connect to.")
]


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", "-V", callback=_version_callback, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    """tswarm: load tests from the terminal."""


@app.command(context_settings=EXTRA_ARGS)
def run(
    ctx: typer.Context,
    locustfile: Locustfile = "locustfile.py",
    host: Host = None,
    users: Users = 1,
    spawn_rate: SpawnRate = 1.0,
    run_time: RunTime = None,
    headless: Headless = False,
    stop_timeout: StopTimeout = "0",
    tags: Tags = None,
    exclude_tags: ExcludeTags = None,
    csv: Csv = None,
    csv_full_history: CsvFullHistory = False,
    json: Json = None,
    locust_json: LocustJson = False,
    json_file: JsonFile = None,
    html: Html = None,
    markdown: Markdown = None,
    check: Check = None,
    check_abort: CheckAbort = False,
    check_grace: CheckGrace = "10s",
    junit: Junit = None,
    show_task_ratio: ShowTaskRatio = False,
    show_task_ratio_json: ShowTaskRatioJson = False,
    equal_weights: EqualWeights = False,
    config_users: ConfigUsers = None,
    profile: Profile = None,
    reset_stats: ResetStats = False,
    only_summary: OnlySummary = False,
    print_stats: PrintStats = False,
    loglevel: LogLevel = "INFO",
    logfile: LogFile = None,
    exit_code_on_error: ExitCodeOnError = 1,
    list_classes: ListClasses = False,
    config: Config = None,
    processes: Processes = None,
    autostart: Autostart = False,
    autoquit: Autoquit = -1.0,
    percentiles: Percentiles = None,
    heartbeat_interval: HeartbeatInterval = 1.0,
    heartbeat_timeout: HeartbeatTimeout = 3.0,
) -> None:
    """Run a test on this machine: [USER_CLASS ...] picks the User classes to run."""
    options = RunOptions.from_params(ctx, "run", locals())
    from tswarm.cli.modes import launch

    raise typer.Exit(launch(options))


@app.command(context_settings=EXTRA_ARGS)
def master(
    ctx: typer.Context,
    locustfile: Locustfile = "locustfile.py",
    host: Host = None,
    users: Users = 1,
    spawn_rate: SpawnRate = 1.0,
    run_time: RunTime = None,
    headless: Headless = False,
    stop_timeout: StopTimeout = "0",
    tags: Tags = None,
    exclude_tags: ExcludeTags = None,
    csv: Csv = None,
    csv_full_history: CsvFullHistory = False,
    json: Json = None,
    locust_json: LocustJson = False,
    json_file: JsonFile = None,
    html: Html = None,
    markdown: Markdown = None,
    check: Check = None,
    check_abort: CheckAbort = False,
    check_grace: CheckGrace = "10s",
    junit: Junit = None,
    show_task_ratio: ShowTaskRatio = False,
    show_task_ratio_json: ShowTaskRatioJson = False,
    equal_weights: EqualWeights = False,
    config_users: ConfigUsers = None,
    profile: Profile = None,
    reset_stats: ResetStats = False,
    only_summary: OnlySummary = False,
    print_stats: PrintStats = False,
    loglevel: LogLevel = "INFO",
    logfile: LogFile = None,
    exit_code_on_error: ExitCodeOnError = 1,
    list_classes: ListClasses = False,
    config: Config = None,
    autostart: Autostart = False,
    autoquit: Autoquit = -1.0,
    percentiles: Percentiles = None,
    master_bind_host: BindHost = "*",
    master_bind_port: BindPort = 5557,
    expect_workers: ExpectWorkers = 1,
    expect_workers_max_wait: ExpectWorkersMaxWait = 0.0,
    heartbeat_interval: HeartbeatInterval = 1.0,
    heartbeat_timeout: HeartbeatTimeout = 3.0,
    secret_file: SecretFile = None,
) -> None:
    """Hold a distributed test: workers connect here and run the users; no users run on the master."""
    options = RunOptions.from_params(ctx, "master", locals())
    from tswarm.cli.modes import launch

    raise typer.Exit(launch(options))


@app.command(context_settings=EXTRA_ARGS)
def worker(
    ctx: typer.Context,
    locustfile: Locustfile = "locustfile.py",
    master_host: MasterHost = "127.0.0.1",
    master_port: MasterPort = 5557,
    processes: Processes = None,
    loglevel: LogLevel = "INFO",
    logfile: LogFile = None,
    config: Config = None,
    heartbeat_interval: HeartbeatInterval = 1.0,
    master_timeout: MasterTimeout = 60.0,
    secret_file: SecretFile = None,
    equal_weights: EqualWeights = False,
    config_users: ConfigUsers = None,
    linked_local: Annotated[bool, typer.Option("--linked-local", hidden=True)] = False,
) -> None:
    """Run users for a master: connect to --master-host and report to it."""
    options = RunOptions.from_params(ctx, "worker", locals())
    from tswarm.cli.worker import run_worker

    raise typer.Exit(run_worker(options))


@app.command(context_settings=EXTRA_ARGS)
def demo(
    ctx: typer.Context,
    users: Users = 20,
    spawn_rate: SpawnRate = 10.0,
    run_time: RunTime = None,
    headless: Headless = False,
    csv: Csv = None,
    json: Json = None,
    html: Html = None,
    markdown: Markdown = None,
    check: Check = None,
    check_abort: CheckAbort = False,
    check_grace: CheckGrace = "10s",
    junit: Junit = None,
    only_summary: OnlySummary = False,
    loglevel: LogLevel = "INFO",
    exit_code_on_error: ExitCodeOnError = 0,
    config: Config = None,
    processes: Processes = None,
    autoquit: Autoquit = -1.0,
    percentiles: Percentiles = None,
) -> None:
    """Show tswarm off: the bundled example test against a built-in target server on 127.0.0.1."""
    options = RunOptions.from_params(ctx, "demo", locals())
    from tswarm.cli.demo import run_demo

    raise typer.Exit(run_demo(options))


@app.command()
def secret(
    file: Annotated[
        Path | None,
        typer.Argument(help="Write the secret to this new file (mode 600) instead of printing it."),
    ] = None,
) -> None:
    """Make a new random shared secret for a cluster (for --secret-file or TSWARM_SECRET)."""
    from tswarm.secret import new_secret, write_secret_file

    value = new_secret()
    if file is None:
        print(value)
        return
    write_secret_file(file, value)
    print(
        f"Wrote a new secret to {file} (readable by you only); give it to master and workers with --secret-file"
    )


@app.command()
def report(
    result: Annotated[
        str, typer.Argument(metavar="RESULT.json", help="The JSON report of a run (its --json FILE).")
    ],
    html: Annotated[
        str | None,
        typer.Option(
            "--html", help="Write the self-contained HTML report to FILE ({u}, {r}, {t} as on a run)."
        ),
    ] = None,
    markdown: Annotated[
        str | None,
        typer.Option("--markdown", help="Write the short Markdown summary to FILE ('-' for stdout)."),
    ] = None,
    junit: Annotated[
        str | None,
        typer.Option(
            "--junit",
            help="Write the JUnit XML of the checks and failing endpoints to FILE ('-' for stdout).",
        ),
    ] = None,
) -> None:
    """Render the reports of a finished run later, from its JSON report (local or distributed)."""
    from tswarm.cli.report import render_reports

    for path in render_reports(result, html=html, markdown=markdown, junit=junit):
        if path != "-":
            print(f"tswarm: wrote {path}", file=sys.stderr)


@app.command()
def compare(
    baseline: Annotated[
        str, typer.Argument(metavar="BASELINE.json", help="The JSON report of the reference run.")
    ],
    candidate: Annotated[
        str, typer.Argument(metavar="CANDIDATE.json", help="The JSON report of the run to judge.")
    ],
    check: Annotated[
        list[str] | None,
        typer.Option(
            "--check",
            help="A limit, repeatable: a change against the baseline (p95<+10%, rps>-5%, fail_ratio<+0.5pp) or an absolute one on the candidate (p95<300ms), optionally scoped ('GET /cart: p99<+20%'). Exit 3 when one is breached.",
        ),
    ] = None,
    markdown: Annotated[
        str | None,
        typer.Option("--markdown", help="Write the comparison as Markdown to FILE ('-' for stdout)."),
    ] = None,
    json_out: Annotated[
        str | None,
        typer.Option(
            "--json", help="Write the comparison as JSON to FILE ('-' for stdout; docs/compare.md)."
        ),
    ] = None,
) -> None:
    """Compare two runs' JSON reports per endpoint: requests/s, fail ratio, p50/p95/p99 and their change."""
    from tswarm.cli.compare import run_compare

    code = run_compare(baseline, candidate, checks=check or [], markdown=markdown, json_path=json_out)
    if code:
        raise typer.Exit(code)


@app.command()
def target(
    host: Annotated[
        str, typer.Option("--host", help="Address to listen on (loopback by default).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", "-p", help="Port (0 = any free port).")] = 8089,
) -> None:
    """Serve the built-in HTTP target (the demo's and the test suite's) until Ctrl+C."""
    from tswarm.exceptions import ConfigError
    from tswarm.target.server import serve

    if not 0 <= port <= 65535:
        raise ConfigError(f"--port must be a port from 0 to 65535, not {port}")
    try:
        serve(host, port, ready=lambda h, p: print(f"tswarm target listening on http://{h}:{p}", flush=True))
    except OSError as e:  # the port is taken, or the address is not this machine's
        raise ConfigError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None


def _long_option_names(command: Any) -> set[str]:
    """The ``--long`` names of ``command``'s options."""
    names: set[str] = set()
    for param in command.params:
        if getattr(param, "param_type_name", "") == "option":
            names.update(o for o in param.opts if o.startswith("--"))
    return names


#: the commands that read Locust's configuration too (the demo brings its own test)
LOCUST_CONFIGURED_COMMANDS = ("run", "master", "worker")


def _command_context(command: Any, args: list[str]) -> tuple[CommandContext, dict[str, Any], list[str]]:
    """Read the config files: typer's ``default_map`` (each command's built-in options), what the
    commands get besides (the keys that may be the test file's own options), and the notice lines
    about Locust settings the command leaves aside.

    Precedence, lowest first: Locust's sources (see :mod:`tswarm.cli.locust_config`), then tswarm's
    config file, both through ``default_map``; click puts TSWARM_* and the command line above."""
    config_path = find_config_path(args)
    config = load_config(config_path)
    invoked = args[0] if args and args[0] in LOCUST_CONFIGURED_COMMANDS else None
    asks_for_help = any(a in ("-h", "--help") for a in args)
    if asks_for_help:
        invoked = None  # help is shown whatever the configuration says, as in Locust
    locust = LocustConfig()
    if invoked is not None:
        # ./pyproject.toml is read as Locust's own default file already
        explicit = config_path if config_path is not None and config_path != Path("pyproject.toml") else None
        locust = read_locust_config(explicit_config=explicit, environ=os.environ)
    subcommands: dict[str, Any] = command.commands
    option_keys = {name: {p.name for p in subcommands[name].params if p.name} for name in COMMANDS}
    every_option_key = set().union(*option_keys.values())
    default_map: dict[str, Any] = {}
    extras: dict[str, dict[str, Any]] = {}
    locust_sources: dict[str, dict[str, str]] = {}
    extra_sources: dict[str, dict[str, str]] = {}
    for name, known in option_keys.items():
        values = config.get(name, {})
        own = {k: v for k, v in values.items() if k in known}
        # one file serves run, master and worker: a key of another command's option is that
        # command's; the others may be the test file's own options, checked once it is loaded
        own_extras = {k: v for k, v in values.items() if k not in every_option_key}
        from_locust: dict[str, Any] = {}
        labels: dict[str, str] = {}
        locust_extras: dict[str, Any] = {}
        locust_extra_sources: dict[str, str] = {}
        if name in LOCUST_CONFIGURED_COMMANDS:
            for key, value in locust.values.items():
                if key in known and key not in own:
                    from_locust[key] = value
                    labels[key] = locust.origins[key].label()
            for key, value in locust.extras.items():
                setting = locust.extra_origins[key]
                if key in known and key not in own:  # a tswarm option Locust lacks (heartbeat-timeout)
                    from_locust[key] = value
                    labels[key] = setting.label()
                elif key not in every_option_key and key not in own_extras:
                    locust_extras[key] = value
                    locust_extra_sources[key] = setting.source
        default_map[name] = {**from_locust, **own}
        extras[name] = {**locust_extras, **own_extras}
        locust_sources[name] = labels
        extra_sources[name] = locust_extra_sources
    context = CommandContext(
        config_path=str(config_path) if config_path else None,
        config_extras=extras,
        builtin_option_names=frozenset(n for sub in subcommands.values() for n in _long_option_names(sub)),
        locust_sources=locust_sources,
        config_extra_sources=extra_sources,
    )
    quiet = invoked in (None, "worker") or "--linked-local" in args
    return context, default_map, [] if quiet else locust.notices(invoked or "")


def _from_locust_command_line(command: Any, args: list[str]) -> LocustCommandLine:
    """``args`` as tswarm's command line: with no subcommand, a Locust command line (see
    :func:`tswarm.cli.locust_cli.translate_locust_command_line`); a bare ``--json`` is Locust's flag."""
    role_from_config = None
    is_locust_line = (
        bool(args) and args[0].startswith("-") and args[0] not in ("-h", "--help", "-V", "--version")
    )
    if is_locust_line and "--master" not in args and "--worker" not in args:
        # Locust's config sources may pick the role: master = true in locust.conf, LOCUST_MODE_WORKER
        path = find_config_path(args)
        explicit = path if path is not None and path != Path("pyproject.toml") else None
        locust = read_locust_config(explicit_config=explicit, environ=os.environ)
        roles = [role for role in ("master", "worker") if locust.values.get(role)]
        if len(roles) == 2:
            raise UsageError("Locust's configuration asks for both a master and a worker")
        role_from_config = roles[0] if roles else None
    worker_names = {o for p in command.commands["worker"].params for o in getattr(p, "opts", [])}
    return translate_locust_command_line(
        args,
        subcommands=command.commands,
        worker_option_names=worker_names,
        role_from_config=role_from_config,
    )


def main(argv: list[str] | None = None) -> None:
    """Entry point: parse, run, and turn a user's mistake into one line and exit code 1."""
    # no arguments at all: tswarm's help (Locust would look for ./locustfile.py; a subcommand says which)
    args = list(sys.argv[1:] if argv is None else argv) or ["--help"]
    command = typer.main.get_command(app)
    context: CommandContext | None = None
    try:
        locust_line = _from_locust_command_line(command, args)
        args = locust_line.args
        context, default_map, notices = _command_context(command, args)
        for line in [*locust_line.notices, *notices]:
            print(f"tswarm: note: {line}", file=sys.stderr)
        result = command.main(
            args=args, prog_name="tswarm", standalone_mode=False, default_map=default_map, obj=context
        )
        code = result if isinstance(result, int) else 0
    except click_errors.NoSuchOption as e:
        sub = command.commands.get(args[0]) if hasattr(command, "commands") and args else None
        hint = suggest(e.option_name, _long_option_names(sub)) if sub else ""
        _fail(f"unknown option {e.option_name}{hint}")
    except typer.Exit as e:
        code = e.exit_code
    except typer.Abort:
        code = 130
    except click_errors.BadParameter as e:
        _fail(_bad_parameter_message(e, context))
    except click_errors.ClickException as e:
        _fail(e.format_message().replace("\n", " "))
    except UsageError as e:
        _fail(str(e), e.exit_code)
    except KeyboardInterrupt:
        code = 130
    except SystemExit:
        raise
    except Exception:
        import traceback

        traceback.print_exc()
        print(
            "tswarm: internal error (the traceback above is a bug in tswarm; please report it)",
            file=sys.stderr,
        )
        code = 2
    sys.exit(code)


def _bad_parameter_message(error: Any, context: CommandContext | None) -> str:
    """Click's message for a value it could not convert, unless the value came from a config file
    or a Locust setting: then the file and its key (or the LOCUST_* variable) are named, not an
    environment variable that nobody set."""
    param = getattr(error, "param", None)
    ctx = getattr(error, "ctx", None)
    config_path = context.config_path if context else None
    if param is not None and ctx is not None and param.name:
        source = ctx.get_parameter_source(param.name)
        kind = getattr(source, "name", "")
        locust_label = context.locust_sources.get(ctx.info_name, {}).get(param.name) if context else None
        if kind == "DEFAULT_MAP" and locust_label:
            return f"invalid {locust_label}: {error.message}"
        if kind == "DEFAULT_MAP":
            return f"invalid {param.name.replace('_', '-')} in {config_path or 'the config file'}: {error.message}"
        if kind == "ENVIRONMENT" and getattr(param, "envvar", None):
            return f"invalid {param.envvar}: {error.message}"
        if kind == "COMMANDLINE":
            return f"invalid value for {' / '.join(param.opts)}: {error.message}"
    return str(error.format_message()).replace("\n", " ")


def _fail(message: str, code: int = 1) -> None:
    print(f"tswarm: error: {message}", file=sys.stderr)
    sys.exit(code)
