"""The demo profile: the user's spec model with fast settings, pointed at the demo world.

Production defaults stay in the spec and in what `globalmon generate` writes (15 s scrape and
evaluation, alerts after minutes, Alertmanager waits of 10 s to 1 min). The local stack trades
them for speed so that a fault shows end to end in seconds, by changing the spec model before
anything is generated (the generated files are never edited after):

- scrape and rule evaluation every 1 s; heartbeats stale after 10 s;
- ``global.time_scale: 15``, as the scrape interval went from 15 s to 1 s: every window of the
  generated rules and of the verify checks is 15 times shorter (``rate(x[5m])`` reads 20 s, still
  20 samples), so a fault shows and clears in seconds;
- the `for` of the alerts the scenarios trip shortened (``FAST_FOR``), RegionFailed's
  ``keep_firing_for`` set for agents that start seconds apart (``FAST_KEEP_FIRING``);
- ``global.notification_waits``: group_wait 1 s, group_interval 2 s on every route;
- forecasts read 10 minutes of history (a fresh stack has no days to read), with no season asked
  for;
- receivers point at the demo world (its receivers and SMTP server), secrets come from files the
  stack writes, recovery actions call the world's ``/recover`` (they never touch the host), and
  every service of a region is scraped from the world.
"""

from __future__ import annotations

from globalmon.conventions import AlertName
from globalmon.spec import Spec
from globalmon.spec.alerting import AlertOverride
from globalmon.spec.model import Credentials, NotificationWaits
from globalmon.spec.notify import (
    EmailReceiver,
    PagerDutyReceiver,
    Receiver,
    SlackReceiver,
    WebhookReceiver,
)
from globalmon.spec.recovery import HttpAction, RecoveryAction
from globalmon.spec.services import Service, ServiceScrape, ServiceTargets
from globalmon.spec.types import SecretRef

SCRAPE_INTERVAL = "1s"
FAST_FOR = {
    AlertName.AGENT_DOWN: "3s",
    AlertName.PROCESS_GROUP_DOWN: "5s",
    AlertName.PROBE_FAILED: "10s",
    AlertName.REGION_DEGRADED: "5s",
    # before any AgentDown of the region fires: the inhibition holds those back from the start
    AlertName.REGION_FAILED: "0s",
    AlertName.PLUGIN_MEMORY_LEAK: "5s",
    AlertName.SERVICE_ERROR_RATE_HIGH: "5s",
    AlertName.SERVICE_RESPONSE_TIME_HIGH: "5s",
    AlertName.SLO_ERROR_BUDGET_BURN_FAST: "10s",
    AlertName.EXPORTER_DOWN: "10s",
    AlertName.WEBHOOK_DOWN: "10s",
}
# Two 1 s intervals of each would be 4 s, but the agents of a region restarted together are
# Python processes starting on a busy machine: seconds apart, not a scrape apart as hosts whose
# network comes back are. Long enough for them to be scraped up under the inhibition.
FAST_KEEP_FIRING = {AlertName.REGION_FAILED: "10s"}
TIME_SCALE = 15
ACTION_COOLDOWN = "30s"
VERIFY_INTERVAL = "1s"
FORECAST_HISTORY = "10m"
WAITS = NotificationWaits(group_wait="1s", group_interval="2s")
TOKENS = ("GLOBALMON_WEBHOOK_TOKEN", "GLOBALMON_INGEST_TOKEN", "GLOBALMON_REGISTRY_TOKEN")


def demo_spec(spec: Spec, world_url: str, smtp_port: int, *, production: bool = False) -> Spec:
    """``spec`` with the demo's settings (a new model; the input is not changed).

    ``production``: only the plumbing (the world, the tokens), none of the timing: the stack
    then runs the spec's own production settings (what bench/e2e_latency measures them on).
    """
    credentials = Credentials(
        webhook_token=SecretRef(env=TOKENS[0]),
        ingest_token=SecretRef(env=TOKENS[1]),
        registry_token=SecretRef(env=TOKENS[2]),
    )
    plumbing = {
        "services": [_scraped(s, [r.id for r in spec.regions], world_url) for s in spec.services],
        "receivers": [_receiver(r, world_url, smtp_port) for r in spec.receivers],
        "recovery_actions": [_action(a, world_url) for a in spec.recovery_actions],
    }
    if production:
        g = spec.global_.model_copy(update={"credentials": credentials})
        return spec.model_copy(update={"global_": g, **plumbing})
    g = spec.global_.model_copy(
        update={
            "scrape_interval": SCRAPE_INTERVAL,
            "evaluation_interval": SCRAPE_INTERVAL,
            "time_scale": TIME_SCALE,
            "notification_waits": WAITS,
            "credentials": credentials,
        }
    )
    d = spec.defaults
    alerts = dict(d.alerts)
    for name, for_ in FAST_FOR.items():
        old = alerts.get(name)
        alerts[name] = (old or AlertOverride()).model_copy(update={"for_": for_})
    for name, keep in FAST_KEEP_FIRING.items():
        old = alerts.get(name)
        alerts[name] = (old or AlertOverride()).model_copy(update={"keep_firing_for": keep})
    defaults = d.model_copy(
        update={
            "thresholds": d.thresholds.model_copy(update={"heartbeat_stale_after": "10s"}),
            "alerts": alerts,
        }
    )
    return spec.model_copy(
        update={
            "global_": g,
            "defaults": defaults,
            **plumbing,
            # a fresh stack has minutes of history, not days: forecasts read the last 10 minutes,
            # in which no daily or weekly season can be asked for (the spec check refuses it)
            "forecasts": [
                f.model_copy(update={"history": FORECAST_HISTORY, "seasonality": "auto"})
                for f in spec.forecasts
            ],
        }
    )


def receiver_env(spec: Spec, world_url: str) -> dict[str, str]:
    """Values of the secrets the demo receivers name (all point at the world)."""
    env = {}
    for r in spec.receivers:
        if isinstance(r, SlackReceiver):
            env[_secret_env(r.name)] = f"{world_url}/receivers/{r.name}"
        elif isinstance(r, PagerDutyReceiver | WebhookReceiver):
            env[_secret_env(r.name)] = f"demo-{r.name}-key"
    return env


def _secret_env(name: str) -> str:
    return "GLOBALMON_DEMO_" + name.upper().replace("-", "_")


def _scraped(s: Service, regions: list[str], world_url: str) -> Service:
    """Each service scraped, in each region it runs in, from the world's stand-in for it."""
    host = world_url.removeprefix("http://")
    runs_in = [r for r in regions if s.regions is None or r in s.regions]
    targets = {
        r: ServiceTargets(static=[host], metrics_path=f"/services/{r}/{s.name}/metrics")
        for r in runs_in
    }
    return s.model_copy(update={"scrape": ServiceScrape(regions=targets)})


def _receiver(r: Receiver, world_url: str, smtp_port: int) -> Receiver:
    secret = SecretRef(env=_secret_env(r.name))
    if isinstance(r, WebhookReceiver):
        return r.model_copy(
            update={"url": f"{world_url}/receivers/{r.name}", "bearer_token": secret}
        )
    if isinstance(r, SlackReceiver):
        return r.model_copy(update={"webhook_url": secret})
    if isinstance(r, PagerDutyReceiver):
        return r.model_copy(
            update={"url": f"{world_url}/receivers/{r.name}", "routing_key": secret}
        )
    assert isinstance(r, EmailReceiver)
    return r.model_copy(
        update={
            "smarthost": f"127.0.0.1:{smtp_port}",
            "starttls": False,
            "username": None,
            "password": None,
        }
    )


def _action(a: RecoveryAction, world_url: str) -> RecoveryAction:
    """Every action becomes an HTTP call to the world's /recover, keeping its matchers and
    guardrails (the demo never restarts a container or a unit on the host)."""
    guardrails = a.guardrails.model_copy(
        update={"require_approval": False, "precondition": None, "cooldown": ACTION_COOLDOWN}
    )  # nobody approves in a demo
    verify = a.verify.model_copy(update={"interval": VERIFY_INTERVAL}) if a.verify else None
    return HttpAction(
        type="http",
        name=a.name,
        matchers=a.matchers,
        run_on=a.run_on,
        guardrails=guardrails,
        verify=verify,  # its windows on the demo's time scale by global.time_scale
        method="POST",
        url=f"{world_url}/recover",
        # alertname and region: the labels every generated alert has (the template is strict)
        body=(
            '{"action": "' + a.name + '", "alert": "{{ labels.alertname }}", '
            '"region": "{{ labels.region }}"}'
        ),
    )
