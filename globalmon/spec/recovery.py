"""Recovery actions the alert webhook may run, and the guardrails around them.

Actions are matched on alert labels with Alertmanager's matcher syntax. Label values are untrusted:
commands are argv lists (never a shell) and templates render in a sandbox.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, Literal

from jinja2 import TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment
from pydantic import AfterValidator, Field

from globalmon.spec.types import Duration, Expect, Id, PromQL, StrictModel, Url

# Alertmanager's matcher form: name, operator, double-quoted value (quotes optional when plain).
_MATCHER_RE = re.compile(
    r'^\s*(?P<name>[a-zA-Z_][a-zA-Z0-9_]*)\s*(?P<op>=~|!~|!=|=)\s*(?P<value>"(?:[^"\\]|\\.)*"|[^"\s]*)\s*$'
)


def _check_matcher(value: str) -> str:
    m = _MATCHER_RE.fullmatch(value)
    if not m:
        raise ValueError(
            'an Alertmanager matcher such as alertname="HostCpuHigh" or service=~"api|web"'
        )
    if m["op"] in ("=~", "!~"):
        raw = m["value"]
        pattern = raw[1:-1].encode().decode("unicode_escape") if raw.startswith('"') else raw
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"a matcher with a valid regular expression ({exc})") from None
    return value


Matcher = Annotated[str, AfterValidator(_check_matcher)]

_JINJA = SandboxedEnvironment(autoescape=False)


def _check_template(value: str) -> str:
    try:
        _JINJA.parse(value)
    except TemplateSyntaxError as exc:
        reason = (exc.message or "syntax error").rstrip(".")
        raise ValueError(f"a valid Jinja template ({reason})") from None
    return value


Template = Annotated[str, AfterValidator(_check_template), Field(min_length=1)]


def json_strings(value: Any) -> list[str]:
    """Every string in a JSON value, keys included: the templates of a JSON body."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (k, *json_strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in json_strings(v)]
    return []


def _check_json_template(value: str) -> str:
    # The body is data: its templates render inside JSON strings, one by one, and the body is
    # encoded after, so a label value can never close a string or add a key.
    try:
        parsed = json.loads(value)
    except ValueError as exc:
        raise ValueError(
            "a JSON body whose templates stand inside JSON strings, such as "
            f'\'{{"service": "{{{{ labels.service }}}}"}}\' (not JSON: {exc.args[0]})'
        ) from None
    for text in json_strings(parsed):
        _check_template(text)
    return value


JsonTemplate = Annotated[str, AfterValidator(_check_json_template), Field(min_length=1)]


class Guardrails(StrictModel):
    """Limits that keep an automatic action from making an incident worse."""

    cooldown: Duration = Field(
        "10m", description="Minimum time between runs per (action, target).", examples=["15m"]
    )
    max_attempts: int = Field(
        3, ge=1, le=100, description="Runs per incident before giving up.", examples=[2]
    )
    max_concurrent: int = Field(
        1, ge=1, le=100, description="Runs of this action at the same time.", examples=[1]
    )
    max_per_region: int = Field(
        2,
        ge=1,
        le=1000,
        description="Blast radius: runs at the same time within one region.",
        examples=[2],
    )
    precondition: PromQL | None = Field(
        None,
        description="PromQL that must return a result just before the action runs.",
        examples=['up{job="docker"} == 1'],
    )
    timeout: Duration = Field(
        "60s", description="Kill the action after this long.", examples=["30s"]
    )
    dry_run: bool = Field(False, description="Log what would run, run nothing.", examples=[True])
    require_approval: bool = Field(
        False, description="Hold the action until approved through the API.", examples=[True]
    )
    silence: bool = Field(
        False,
        description="Silence the alert in Alertmanager while the action runs.",
        examples=[True],
    )


class Verify(StrictModel):
    """A PromQL post-check polled until it returns a result, within a deadline."""

    expr: PromQL = Field(
        description="Holds when it returns a non-empty result.",
        examples=["histogram_quantile(0.95, sum by (le) (rate(x_bucket[1m]))) < 0.5"],
    )
    within: Duration = Field("5m", description="Deadline for the check.", examples=["2m"])
    interval: Duration = Field("10s", description="Poll interval.", examples=["5s"])


AlertStatus = Literal["firing", "resolved"]
_FIRING_ONLY: tuple[AlertStatus, ...] = ("firing",)


class _ActionBase(StrictModel):
    name: Id = Field(description="Action name.", examples=["restart-api"])
    matchers: list[Matcher] = Field(
        min_length=1,
        description="Alertmanager matchers on the alert's labels; all must match.",
        examples=[['alertname="ServiceResponseTimeHigh"', 'service="api"']],
    )
    run_on: list[AlertStatus] = Field(
        default_factory=lambda: list(_FIRING_ONLY),
        min_length=1,
        description="Alert states that trigger the action; resolved must be asked for.",
        examples=[["firing"]],
    )
    guardrails: Guardrails = Field(
        default_factory=Guardrails,
        description="Safety limits.",
        examples=[{"cooldown": "15m", "dry_run": True}],
    )
    verify: Verify | None = Field(
        None,
        description="Post-check; the incident is escalated at once when it fails.",
        examples=[{"expr": 'up{job="api"} == 1', "within": "2m"}],
    )


class HttpAction(_ActionBase):
    """Call an HTTP endpoint (a runbook automation, a feature flag, a scaler)."""

    type: Literal["http"] = Field(description="Action kind.", examples=["http"])
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = Field(
        "POST", description="HTTP method.", examples=["POST"]
    )
    url: Url = Field(description="Endpoint.", examples=["http://autoscaler:8080/scale-up"])
    body: JsonTemplate | None = Field(
        None,
        description="JSON body; each of its strings is a sandboxed Jinja template with `labels` "
        "and `annotations` set, rendered as data (a label value cannot change the JSON's shape).",
        examples=['{"service": "{{ labels.service }}"}'],
    )


class CommandAction(_ActionBase):
    """Run a program; alert labels and annotations arrive as GLOBALMON_* environment variables."""

    type: Literal["command"] = Field(description="Action kind.", examples=["command"])
    argv: Annotated[
        list[Template], Expect("a list: the program, then its arguments (no shell)")
    ] = Field(
        min_length=1,
        description="Program and arguments, run without a shell.",
        examples=[["/usr/local/bin/flush-cache", "--region", "{{ labels.region }}"]],
    )


class DockerRestartAction(_ActionBase):
    """Restart a container through the Docker API."""

    type: Literal["docker_restart"] = Field(description="Action kind.", examples=["docker_restart"])
    container: Template = Field(
        description="Sandboxed template of the container name.",
        examples=["{{ labels.service }}-{{ labels.region }}"],
    )
    docker_host: str | None = Field(
        None,
        description="Docker API address; the local socket when omitted.",
        examples=["unix:///var/run/docker.sock"],
    )


class SystemdRestartAction(_ActionBase):
    """Restart a systemd unit."""

    type: Literal["systemd_restart"] = Field(
        description="Action kind.", examples=["systemd_restart"]
    )
    unit: Template = Field(
        description="Sandboxed template of the unit name.",
        examples=["globalmon-{{ labels.service }}.service"],
    )


RecoveryAction = Annotated[
    HttpAction | CommandAction | DockerRestartAction | SystemdRestartAction,
    Field(discriminator="type"),
]
