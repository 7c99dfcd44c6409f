"""Starts the whole local stack: embedded AWS (moto), resources from template.yaml, a
local model endpoint, a warm worker pool per function, the event source mappings that
feed functions from queues, and the gateway in front."""

from __future__ import annotations

import asyncio
import fcntl
import json
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from aiohttp import web
from botocore.config import Config as BotoConfig

from local_stack.ai_upstream.provider_server import MODEL_NAME, ProviderServer, Scenario
from local_stack.api_gateway.api_model import api_model
from local_stack.api_gateway.console_site import ConsoleSite
from local_stack.api_gateway.gateway import Gateway, Limits
from local_stack.event_sources.sqs_mapping import MappingSpec, SqsEventSource
from local_stack.lambda_runtime.workers import FunctionSpec, Invocation, WorkerPool
from local_stack.log_view import configure_gateway_log, readable
from local_stack.provisioning.embedded_aws import EmbeddedAws
from local_stack.provisioning.intrinsics import Resolver
from local_stack.provisioning.provision import DemoUser, LocalResources, provision, sign_in
from local_stack.provisioning.template import (
    TEMPLATE,
    BadParameter,
    Template,
    load_template,
    parameter_overrides,
)

__all__ = [
    "AlreadyRunning",
    "BadSetting",
    "PortInUse",
    "StackConfig",
    "function_specs",
    "local_environment",
    "mapping_specs",
    "run",
    "sam_env_vars",
]

ROOT = TEMPLATE.parent
LAYER = ROOT / "layers" / "realtime_chat"
log = logging.getLogger("local_stack")


class PortInUse(Exception):
    pass


class BadSetting(ValueError):
    """An environment variable of ``make run`` that is not what it must be."""


class AlreadyRunning(Exception):
    """Another stack runs with the same state directory."""


@dataclass
class StackConfig:
    ws_port: int = 3001
    aws_port: int = 4566
    model_port: int = 0
    region: str = "us-east-1"
    stack_name: str = "local"
    state_dir: Path = ROOT / ".local"
    limits: Limits = field(default_factory=Limits)
    ai_base_url: str | None = None
    ai_api_key: str | None = None
    ai_model: str | None = None
    model_token_delay: float = 0.03
    model_tokens: int = 40  # words of the built-in model's answer after its echo
    max_workers: int = 32  # per function, like Lambda's concurrency limit
    parameter_overrides: str = ""  # "LogLevel=DEBUG ChatMessagesPerMinute=5"
    readable_logs: bool = True  # LOG_FORMAT=json: the functions' raw JSON and EMF
    demo_user: DemoUser = field(
        default_factory=lambda: DemoUser("demo@example.com", "Demo-pass-1234", "demo@example.com")
    )

    @classmethod
    def from_env(cls, env: dict[str, str]) -> StackConfig:
        """The settings ``make run`` takes from its environment; ``BadSetting`` names
        the first one that is not a number of its kind."""

        def number(name: str, default: float) -> float:
            try:
                value = float(env[name]) if env.get(name) else default
            except ValueError:
                raise BadSetting(f"{name}={env[name]} is not a number.") from None
            if not value >= 0:
                raise BadSetting(f"{name}={env[name]} must be 0 or more.")
            return value

        def whole(name: str, default: int, lowest: int = 1, highest: int = 1 << 31) -> int:
            value = number(name, default)
            if value != int(value) or not lowest <= value <= highest:
                raise BadSetting(
                    f"{name}={env[name]} must be a whole number from {lowest} to {highest}."
                )
            return int(value)

        return cls(
            ws_port=whole("WS_PORT", 3001, highest=65535),
            aws_port=whole("AWS_PORT", 4566, highest=65535),
            model_port=whole("MODEL_PORT", 0, lowest=0, highest=65535),
            state_dir=Path(env.get("LOCAL_STATE_DIR") or ROOT / ".local"),
            limits=Limits(
                idle_seconds=number("IDLE_TIMEOUT_SECONDS", 600),
                max_seconds=number("MAX_CONNECTION_SECONDS", 7200),
                integration_seconds=number("INTEGRATION_TIMEOUT_SECONDS", 29),
            ),
            ai_base_url=env.get("AI_BASE_URL") or None,
            ai_api_key=env.get("AI_API_KEY") or None,
            ai_model=env.get("AI_MODEL") or None,
            model_token_delay=number("MODEL_TOKEN_DELAY", 0.03),
            model_tokens=whole("MODEL_TOKENS", 40, lowest=0),
            max_workers=whole("MAX_WORKERS", 32),
            parameter_overrides=env.get("PARAMETER_OVERRIDES", ""),
            readable_logs=readable(env),
        )


def _check_port(port: int, variable: str) -> None:
    with socket.socket() as probe:
        # As the servers themselves bind: sockets left in TIME_WAIT by a stack that just
        # stopped do not hold the port, only a live listener does.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            raise PortInUse(
                f"Port {port} on 127.0.0.1 is in use. Stop whatever holds it, or choose "
                f"another port with {variable}=<port> (e.g. `{variable}={port + 1} make run`)."
            ) from None


def local_environment(state: dict[str, Any]) -> dict[str, str]:
    """What every function gets on top of the template's own variables."""
    aws = state["awsEndpointUrl"]
    gateway = state["websocketUrl"].replace("ws://", "http://", 1)
    extra = {
        "AWS_REGION": state["region"],
        "AWS_DEFAULT_REGION": state["region"],
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_ENDPOINT_URL": aws,
        "AWS_ENDPOINT_URL_LAMBDA": gateway,
        "WEBSOCKET_CALLBACK_URL": f"{gateway}/{state['stage']}",
        # moto signs tokens with the real Cognito issuer but serves the keys locally.
        "JWKS_URL": f"{aws}/{state['userPoolId']}/.well-known/jwks.json",
        "AI_BASE_URL": state.get("aiBaseUrl") or "",
        "AI_MODEL": state.get("aiModel") or "",
        # boto3's bedrock-runtime client goes to the local model's ConverseStream side.
        "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": state.get("bedrockEndpointUrl") or "",
        "PYTHONUNBUFFERED": "1",
    }
    return {k: v for k, v in extra.items() if v}


def function_specs(
    template: Template, resolver: Resolver, extra: dict[str, str], *, readable_logs: bool = False
) -> list[FunctionSpec]:
    """Each function of the template with its resolved environment, timeout and code."""
    globals_ = template.globals.get("Function", {})
    shared_env = resolver.resolve(globals_.get("Environment", {}).get("Variables", {}))
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_"))}
    # POWERTOOLS_* set where `make run` runs (POWERTOOLS_LOG_LEVEL=DEBUG, ...) win over
    # the template's, as a developer setting one expects.
    powertools = {k: v for k, v in os.environ.items() if k.startswith("POWERTOOLS_")}
    specs = []
    for logical_id, resource in template.of_type("AWS::Serverless::Function").items():
        props = resource["Properties"]
        name = str(
            resolver.resolve(
                props.get("FunctionName") or f"{resolver.values['AWS::StackName']}-{logical_id}"
            )
        )
        timeout = float(resolver.resolve(props.get("Timeout", globals_.get("Timeout", 3))))
        memory = int(resolver.resolve(props.get("MemorySize", globals_.get("MemorySize", 128))))
        own_env = resolver.resolve(props.get("Environment", {}).get("Variables", {}))
        environment = {
            **base,
            **{k: str(v) for k, v in shared_env.items()},
            **{k: str(v) for k, v in own_env.items()},
            **extra,
            **powertools,
            "AWS_LAMBDA_FUNCTION_NAME": name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory),
            "AWS_LAMBDA_FUNCTION_TIMEOUT": str(int(timeout)),
        }
        specs.append(
            FunctionSpec(
                logical_id=logical_id,
                name=name,
                code_dir=ROOT / str(props["CodeUri"]).rstrip("/"),
                handler=str(props["Handler"]),
                timeout=timeout,
                memory=memory,
                environment=environment,
                python_path=(str(LAYER),),
                readable_logs=readable_logs,
            )
        )
    return specs


def mapping_specs(template: Template, resolver: Resolver) -> list[MappingSpec]:
    """Each ``AWS::Lambda::EventSourceMapping`` of an SQS queue, resolved: the function
    it invokes (an alias counts as its function), batch size, concurrency cap and
    whether the function reports batch item failures."""
    specs = []
    for logical_id, resource in template.of_type("AWS::Lambda::EventSourceMapping").items():
        props = resource["Properties"]
        target = props["FunctionName"]
        name = target.get("Ref") or target.get("Fn::GetAtt", [""])[0]
        function = str(name).split(".", 1)[0]  # ReplyFunction.Alias: the function
        arn = str(resolver.resolve(props["EventSourceArn"]))
        scaling = resolver.resolve(props.get("ScalingConfig")) or {}
        specs.append(
            MappingSpec(
                logical_id=logical_id,
                function=function,
                queue_url=str(resolver.values[_queue_of(template, resolver, arn)]),
                queue_arn=arn,
                batch_size=int(resolver.resolve(props.get("BatchSize", 10))),
                max_concurrency=int(scaling["MaximumConcurrency"])
                if scaling.get("MaximumConcurrency")
                else None,
                report_item_failures="ReportBatchItemFailures"
                in props.get("FunctionResponseTypes", []),
            )
        )
    return specs


def _queue_of(template: Template, resolver: Resolver, arn: str) -> str:
    """The logical id of the queue whose ARN is ``arn``."""
    for logical_id in template.of_type("AWS::SQS::Queue"):
        if resolver.attributes.get(f"{logical_id}.Arn") == arn:
            return logical_id
    raise KeyError(f"template.yaml: no queue of the template has the ARN {arn}")


def sam_env_vars(template: Template, specs: list[FunctionSpec]) -> dict[str, dict[str, str]]:
    """``sam local invoke --env-vars`` for each function: the variables the template
    declares (SAM sets no others), with the values that reach this local stack."""
    declared_globally = template.globals.get("Function", {}).get("Environment", {})
    shared = set(declared_globally.get("Variables", {}))
    env_vars = {}
    for spec in specs:
        own = template.properties(spec.logical_id).get("Environment", {}).get("Variables", {})
        values = {
            **spec.environment,
            "LOCAL_AWS_ENDPOINT_URL": spec.environment.get("AWS_ENDPOINT_URL", ""),
        }
        env_vars[spec.logical_id] = {k: values[k] for k in sorted(shared | set(own)) if k in values}
    return env_vars


class _Running:
    def __init__(self) -> None:
        self.aws: EmbeddedAws | None = None
        self.model: ProviderServer | None = None
        self.pools: dict[str, WorkerPool] = {}
        self.executors: list[ThreadPoolExecutor] = []
        self.mappings: list[SqsEventSource] = []

    def stop(self) -> None:
        """Every function's workers at once, then the model and the embedded AWS at
        once: one after another they took 1.7 s of the 3 s a Ctrl-C may take under load
        (the embedded AWS alone 0.7 s to exit). The embedded AWS stops after the
        workers, so no worker's last request meets it gone."""
        for mapping in self.mappings:  # no new invocation starts
            mapping.close()
        pools = list(self.pools.values())
        with ThreadPoolExecutor(max_workers=max(1, len(pools))) as stopping:
            list(stopping.map(WorkerPool.close, pools))
        for executor in self.executors:
            executor.shutdown(wait=False, cancel_futures=True)
        with ThreadPoolExecutor(max_workers=2) as stopping:
            stops = [stopping.submit(s.stop) for s in (self.model, self.aws) if s is not None]
        for stop in stops:
            stop.result()  # an error stopping either is still raised


def run(config: StackConfig) -> None:
    parameters = parameter_overrides(config.parameter_overrides, load_template())
    with _the_only_stack_in(config.state_dir):
        _check_port(config.ws_port, "WS_PORT")
        _check_port(config.aws_port, "AWS_PORT")
        if config.model_port:
            _check_port(config.model_port, "MODEL_PORT")
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        configure_gateway_log(readable_view=config.readable_logs)
        running = _Running()
        try:
            asyncio.run(_serve(config, running, parameters))
        finally:
            running.stop()
            # Tools read this file to find the stack: it must not outlive it.
            (config.state_dir / "stack.json").unlink(missing_ok=True)
            (config.state_dir / "sam-env.json").unlink(missing_ok=True)


@contextmanager
def _the_only_stack_in(state_dir: Path) -> Iterator[None]:
    """Hold ``state_dir`` for this stack, or raise ``AlreadyRunning``: a second stack
    must not overwrite the first one's ``stack.json``, nor delete it when it stops.
    The lock is the operating system's, so a stack killed with ``kill -9`` holds it
    no longer."""
    state_dir.mkdir(parents=True, exist_ok=True)
    with (state_dir / "stack.lock").open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise AlreadyRunning(
                f"another local stack is running with its state in {state_dir}. Stop it "
                "first, or give this one a state directory of its own "
                "(LOCAL_STATE_DIR=.local/second WS_PORT=3002 AWS_PORT=4567 make run)."
            ) from None
        yield


async def _serve(config: StackConfig, running: _Running, parameters: dict[str, str]) -> None:
    started = time.monotonic()
    running.aws = await asyncio.to_thread(EmbeddedAws(config.aws_port).start)
    aws = running.aws.url

    template = load_template()
    if config.ai_base_url is None:
        # A visible pace, so streaming can be watched; tests use their own scenarios.
        pace = Scenario(tokens=config.model_tokens, delay=config.model_token_delay)
        running.model = ProviderServer(port=config.model_port, scenario=pace).start()
    ai_base_url = config.ai_base_url or (running.model.url if running.model else "")
    resources = provision(
        template,
        endpoint=aws,
        region=config.region,
        stack_name=config.stack_name,
        api_key=config.ai_api_key or "local-model-accepts-any-key",
        demo_user=config.demo_user,
    )
    # Resources without a local counterpart (integrations, roles, ...) stand for themselves.
    resolver = Resolver(
        template,
        region=config.region,
        stack_name=config.stack_name,
        resources={**{k: k for k in template.resources}, **resources.refs},
        attributes=resources.attributes,
        parameters=parameters,
    )
    model = api_model(template, resolver)
    ws_url = f"ws://127.0.0.1:{config.ws_port}"
    state = _state(
        config,
        resources,
        ws_url,
        aws,
        model.stage,
        ai_base_url,
        config.ai_model or (MODEL_NAME if running.model else ""),
    )
    state["parameters"] = parameters
    state["bedrockEndpointUrl"] = running.model.bedrock_url if running.model else ""
    specs = function_specs(
        template, resolver, local_environment(state), readable_logs=config.readable_logs
    )
    running.pools = {
        spec.logical_id: WorkerPool(spec, max_workers=config.max_workers) for spec in specs
    }
    warm = list(running.pools.values())
    with ThreadPoolExecutor(max_workers=len(warm)) as warmers:
        list(warmers.map(lambda pool: pool.warm(), warm))

    # Queues feed their functions as Lambda's pollers do, invoking the same pools.
    sqs = boto3.client(
        "sqs",
        endpoint_url=aws,
        region_name=config.region,
        aws_access_key_id="local",
        aws_secret_access_key="local",  # noqa: S106 (the embedded AWS takes any)
        config=BotoConfig(max_pool_connections=256),  # a long poll holds one each
    )
    running.mappings = [
        SqsEventSource(
            spec,
            sqs=sqs,
            invoke=running.pools[spec.function].invoke,
            region=config.region,
            local_cap=config.max_workers,
        ).start()
        for spec in mapping_specs(template, resolver)
    ]

    loop = asyncio.get_running_loop()
    # Threads per pool: its workers' callers plus as many waiting for a worker.
    executors = {
        pool: ThreadPoolExecutor(
            max_workers=2 * config.max_workers, thread_name_prefix=f"invoke-{pool.spec.logical_id}"
        )
        for pool in warm
    }
    running.executors = list(executors.values())

    async def invoke(logical_id: str, event: dict[str, Any]) -> Invocation:
        pool = running.pools[logical_id]
        return await loop.run_in_executor(executors[pool], pool.invoke, event)

    gateway = Gateway(
        model,
        invoke,
        limits=config.limits,
        function_names={s.name: s.logical_id for s in specs},
        console=ConsoleSite(_console_config(state)),
    )
    runner = web.AppRunner(gateway.app(), handle_signals=False, access_log=None)
    await runner.setup()
    # On stop, requests in flight (an @connections post, an invoke: milliseconds each)
    # get half a second. Measured under load: a post caught mid-request waits in its
    # body's read for the whole timeout, which was 2 s, and stopping then took 3.7 s.
    site = web.TCPSite(runner, "127.0.0.1", config.ws_port, shutdown_timeout=0.5)
    await site.start()

    tokens = sign_in(
        endpoint=aws,
        region=config.region,
        client_id=resources.user_pool_client_id,
        username=config.demo_user.username,
        password=config.demo_user.password,
    )
    _write_json(config.state_dir / "sam-env.json", sam_env_vars(template, specs))
    _write_state(config, state)  # last: tools take it as "the stack is ready"
    _banner(
        config,
        resources,
        ws_url,
        aws,
        ai_base_url,
        tokens["idToken"],
        time.monotonic() - started,
        parameters,
    )

    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    print("\nStopping the local stack...", flush=True)
    await runner.cleanup()


def _state(
    config: StackConfig,
    resources: LocalResources,
    ws_url: str,
    aws: str,
    stage: str,
    ai_base_url: str,
    ai_model: str,
) -> dict[str, Any]:
    return {
        "websocketUrl": ws_url,
        "awsEndpointUrl": aws,
        "region": config.region,
        "userPoolId": resources.user_pool_id,
        "userPoolClientId": resources.user_pool_client_id,
        "connectionsTable": resources.connections_table,
        "chatTable": resources.chat_table,
        "secretId": resources.secret_id,
        "demoUser": {
            "username": resources.demo_user.username,
            "password": resources.demo_user.password,
            "email": resources.demo_user.email,
        },
        "stackName": config.stack_name,
        "stage": stage,
        "aiBaseUrl": ai_base_url,
        "aiModel": ai_model,
        "resources": resources.refs,
    }


def _console_config(state: dict[str, Any]) -> dict[str, Any]:
    """What the browser console needs to sign in and connect (see console/)."""
    return {
        "websocketUrl": state["websocketUrl"],
        "region": state["region"],
        "cognitoEndpoint": state["awsEndpointUrl"] + "/",
        "userPoolClientId": state["userPoolClientId"],
        "demoUser": {k: state["demoUser"][k] for k in ("username", "password")},
    }


def _write_state(config: StackConfig, state: dict[str, Any]) -> None:
    _write_json(config.state_dir / "stack.json", state)


def _write_json(path: Path, document: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(document, indent=2) + "\n")
    temporary.replace(path)  # readers never see half a file


def _banner(
    config: StackConfig,
    resources: LocalResources,
    ws_url: str,
    aws: str,
    ai_base_url: str,
    id_token: str,
    seconds: float,
    parameters: dict[str, str],
) -> None:
    user = resources.demo_user
    overrides = " ".join(f"{k}={v}" for k, v in parameters.items())
    console_url = ws_url.replace("ws://", "http://", 1) + "/"
    print(
        f"""
Local stack ready in {seconds:.1f} s (state in {config.state_dir / "stack.json"})
  WebSocket     {ws_url}
  embedded AWS  {aws}   (DynamoDB, SQS, Secrets Manager, Cognito)
  AI upstream   {ai_base_url}
  demo user     {user.username} / {user.password}
  scale-out     up to {config.max_workers} workers per function (MAX_WORKERS)
  parameters    {overrides or "the template's defaults (PARAMETER_OVERRIDES to change)"}

Data lives in memory: conversations, users and tokens are gone when the stack stops.

Connect:
  open {console_url:<38} # the browser console
  make chat                                   # interactive client, signed in as the demo user
  wscat -c "{ws_url}?token=$(make -s token)"
  then send {{"action":"chat_message","data":{{"message":"Hello"}}}}

An ID token for the demo user (valid 1 hour):
{id_token}

Ctrl-C stops everything.""",
        flush=True,
    )


def main() -> int:
    try:
        config = StackConfig.from_env(dict(os.environ))
    except BadSetting as err:
        print(f"make run: {err}", file=sys.stderr)
        return 2
    if config.ai_base_url and not config.ai_api_key:
        print(
            "make run: AI_BASE_URL is set without AI_API_KEY: the local secret gets a "
            "placeholder key, which a real provider will refuse (AI_NOT_CONFIGURED). "
            "Set AI_API_KEY too.",
            file=sys.stderr,
        )
    try:
        run(config)
    except (PortInUse, BadParameter, AlreadyRunning) as err:
        print(f"make run: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        pass
    return 0
